#!/usr/bin/env bash
# A serving process (fs over the page store, in a state arena) writes a
# direct file from four threads and is SIGKILLed at a random moment, four
# times (R=1 on one donor, then R=2 on three); each successor finds the
# file under the same nodeid, resumes the donors' sessions and reads every
# page as last acknowledged (a write never acknowledged: old, new or EIO,
# then redone and read back).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

itest=$BUILD_ROOT/tests/integration/fs/fs_resume_itest

cnm_start_donor f1 --memory 128M --grace-period 10
donors=("127.0.0.1:$CNM_PORT")
cnm_kill_rounds R=1 "$itest" --replicas 1 "${donors[@]}"
! grep -q 'grace period over, freeing [1-9]' "$(cnm_donor_log f1)" ||
	fail "R=1: the donor freed a session's slabs"

for d in f2 f3; do
	cnm_start_donor "$d" --memory 128M --grace-period 10
	donors+=("127.0.0.1:$CNM_PORT")
done
cnm_kill_rounds R=2 "$itest" --replicas 2 "${donors[@]}"
for d in f1 f2 f3; do
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
