#!/usr/bin/env bash
# Three donors, R=2, a disk backup: 4 writers with 32 requests in flight
# each write random pages; every page reads back; every slab sits on two
# distinct donors, no donor holds more than an even share + 1 slab of the
# copies, ops per post > 1; then every donor is killed (SIGKILL) and every
# page reads back byte for byte from the backup.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/integration/placement/lib.sh"
trap cnm_cleanup EXIT

itest_donors 3
pids=()
for d in d1 d2 d3; do
	pids+=("$(cnm_donor_pid "$d")")
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done

# no copy is ever lost: the client logs no error
itest_run 6 spread --replicas 2 --threads 4 --pages 8192 \
	--backup "$CNM_TMP/backup" --kill "$(IFS=,; echo "${pids[*]}")" \
	"${donors[@]}"
# the donors are dead: reap them so cleanup does not report them
for d in d1 d2 d3; do
	cnm_kill_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
