#!/usr/bin/env bash
# A page store kept in a state arena (fs/state.h) is SIGKILLed mid-write
# three times at random moments (R=1 on one donor, then R=2 on three with
# a disk backup); each successor attaches to the arena, resumes the
# donors' sessions (RESUME within their grace period), and reads every
# page as acknowledged (a write never acknowledged reads as old, new or
# EIO, and is then redone and reads back right).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

itest=$BUILD_ROOT/tests/integration/placement/pstore_resume_itest

cnm_start_donor r1 --memory 64M --grace-period 10
one=127.0.0.1:$CNM_PORT
cnm_kill_rounds R=1 "$itest" --replicas 1 "$one"
# the successors resumed the session: no grace period ran out on slabs
! grep -q 'grace period over, freeing [1-9]' "$(cnm_donor_log r1)" ||
	fail "R=1: the donor freed a session's slabs"
cnm_fail_on_log_errors "$(cnm_donor_log r1)"

donors=("$one")
for d in r2 r3; do
	cnm_start_donor "$d" --memory 64M --grace-period 10
	donors+=("127.0.0.1:$CNM_PORT")
done
cnm_kill_rounds R=2 "$itest" --replicas 2 --backup "$CNM_TMP/backup" "${donors[@]}"
for d in r1 r2 r3; do
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
