#!/usr/bin/env bash
# Three donors, R=2, a fourth added while open; the first is drained while
# writers go on: it ends holding nothing and disconnected, every slab has
# two replicas on distinct remaining donors, every page reads back from
# each of them.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/integration/placement/lib.sh"
trap cnm_cleanup EXIT

itest_donors 4
itest_run 1 drain --replicas 2 --threads 4 --pages 4096 \
	--add "${donors[3]}" "${donors[@]:0:3}"
cnm_stop_donors d1 d2 d3 d4
