#!/usr/bin/env bash
# Three donors, R=2: the first is killed (SIGKILL) after the data is
# written; reads go on without an error, and once the donor has been down
# past the grace every slab gets its second copy back on the survivors
# (the time it took is printed); each survivor alone holds every page.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

donors=()
for d in d1 d2 d3; do
	cnm_start_donor "$d" --memory 256M --grace-period 2
	donors+=("127.0.0.1:$CNM_PORT")
done
"$BUILD_ROOT/tests/integration/placement/pstore_itest" kill-one \
	--replicas 2 --threads 4 --pages 4096 --kill "$(cnm_donor_pid d1)" \
	"${donors[@]}" >"$CNM_TMP/itest.out" 2>"$CNM_TMP/itest.err" || {
	cat "$CNM_TMP/itest.out" "$CNM_TMP/itest.err"
	exit 1
}
head -1 "$CNM_TMP/itest.out"
cnm_fail_on_log_errors "$CNM_TMP/itest.err"
cnm_kill_donor d1
for d in d2 d3; do
	cnm_stop_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
