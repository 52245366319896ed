#!/usr/bin/env bash
# Three donors, R=2: the first is killed (SIGKILL) after the data is
# written; reads go on without an error, and once the donor has been down
# past the grace every slab gets its second copy back on the survivors
# (the time it took is printed); each survivor alone holds every page.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/integration/placement/lib.sh"
trap cnm_cleanup EXIT

itest_donors 3
itest_run 1 kill-one --replicas 2 --threads 4 --pages 4096 \
	--kill "$(cnm_donor_pid d1)" "${donors[@]}"
cnm_kill_donor d1
cnm_stop_donors d2 d3
