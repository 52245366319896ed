#!/usr/bin/env bash
# Three donors, R=2, a fourth added while open; the first is drained while
# writers go on: it ends holding nothing and disconnected, every slab has
# two replicas on distinct remaining donors, every page reads back from
# each of them.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

donors=()
for d in d1 d2 d3 d4; do
	cnm_start_donor "$d" --memory 256M --grace-period 2
	donors+=("127.0.0.1:$CNM_PORT")
done
"$BUILD_ROOT/tests/integration/placement/pstore_itest" drain \
	--replicas 2 --threads 4 --pages 4096 --add "${donors[3]}" \
	"${donors[@]:0:3}" >"$CNM_TMP/itest.out" 2>"$CNM_TMP/itest.err" || {
	cat "$CNM_TMP/itest.out" "$CNM_TMP/itest.err"
	exit 1
}
head -1 "$CNM_TMP/itest.out"
cnm_fail_on_log_errors "$CNM_TMP/itest.err"
for d in d1 d2 d3 d4; do
	cnm_stop_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
