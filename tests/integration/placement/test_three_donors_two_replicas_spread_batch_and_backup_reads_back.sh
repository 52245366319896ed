#!/usr/bin/env bash
# Three donors, R=2, a disk backup: 4 writers with 32 requests in flight
# each write random pages; every page reads back; every slab sits on two
# distinct donors, no donor holds more than an even share + 1 slab of the
# copies, ops per post > 1; then every donor is killed (SIGKILL) and every
# page reads back byte for byte from the backup.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

pids=()
donors=()
for d in d1 d2 d3; do
	cnm_start_donor "$d" --memory 256M --grace-period 2
	pids+=("$(cnm_donor_pid "$d")")
	donors+=("127.0.0.1:$CNM_PORT")
done
for d in d1 d2 d3; do
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done

"$BUILD_ROOT/tests/integration/placement/pstore_itest" spread \
	--replicas 2 --threads 4 --pages 8192 --backup "$CNM_TMP/backup" \
	--kill "$(IFS=,; echo "${pids[*]}")" "${donors[@]}" \
	>"$CNM_TMP/itest.out" 2>"$CNM_TMP/itest.err" || {
	cat "$CNM_TMP/itest.out" "$CNM_TMP/itest.err"
	exit 1
}
head -6 "$CNM_TMP/itest.out"
# donors going away are warnings for the client; no copy was ever lost
cnm_fail_on_log_errors "$CNM_TMP/itest.err"
# the donors are dead: reap them so cleanup does not report them
for d in d1 d2 d3; do
	cnm_kill_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
