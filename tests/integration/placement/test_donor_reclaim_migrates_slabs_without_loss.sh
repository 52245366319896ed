#!/usr/bin/env bash
# Three donors, R=2: donor 1 is asked (RECLAIM) for half the slabs the
# mount holds there; the client moves each to another donor (never one
# that already holds the slab) and frees it, while writes go on; every
# page then reads back from each surviving replica.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

donors=()
for d in d1 d2 d3; do
	cnm_start_donor "$d" --memory 256M --grace-period 2 --evict-wait 30
	donors+=("127.0.0.1:$CNM_PORT")
done
"$BUILD_ROOT/tests/integration/placement/pstore_itest" evict \
	--replicas 2 --threads 4 --pages 4096 "${donors[@]}" \
	>"$CNM_TMP/itest.out" 2>"$CNM_TMP/itest.err" || {
	cat "$CNM_TMP/itest.out" "$CNM_TMP/itest.err"
	exit 1
}
head -1 "$CNM_TMP/itest.out"
cnm_fail_on_log_errors "$CNM_TMP/itest.err"
for d in d1 d2 d3; do
	cnm_stop_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
