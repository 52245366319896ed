#!/usr/bin/env bash
# A donor killed (SIGKILL) under pipelined load: every pending request
# completes with an error, no hang, EV_DOWN; a donor restarted on the same
# port: the client reconnects by itself (EV_UP) and works again.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
itest=
cleanup() {
	local rc=$?
	set +e
	[ -z "$itest" ] || kill -KILL "$itest" 2>/dev/null
	(exit "$rc")
	cnm_cleanup
}
trap cleanup EXIT

cnm_start_donor d1 --memory 256M --grace-period 2
port=$CNM_PORT
mark=$CNM_TMP/restart-now
"$BUILD_ROOT/tests/integration/xport/xport_itest" kill 127.0.0.1 "$port" \
	"$(cnm_donor_pid d1)" "$mark" &
itest=$!
if ! cnm_wait_for_file "$mark" 60 "$itest"; then
	wait "$itest" || true
	itest=
	exit 1
fi
# the killed donor's port is free again: restart on the same one
cnm_start_donor d2 --memory 256M --grace-period 2 --listen "127.0.0.1:$port"
rc=0
wait "$itest" || rc=$?
itest=
[ "$rc" = 0 ] || exit "$rc"
cnm_stop_donor d2
cnm_fail_on_log_errors "$(cnm_donor_log d2)"
