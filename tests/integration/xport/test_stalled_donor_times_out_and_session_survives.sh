#!/usr/bin/env bash
# A donor that stops answering (SIGSTOP): a request completes with
# -ETIMEDOUT after io_timeout_ms and the connection is reset; once the
# donor runs again the client reconnects under the same session id and
# finds its slab's data (within the donor's grace period).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
# a stopped donor would ignore SIGTERM: continue it before the cleanup
cleanup() {
	local rc=$? pid
	set +e
	pid=$(cnm_donor_pid d1 2>/dev/null)
	[ -z "$pid" ] || kill -CONT "$pid" 2>/dev/null
	(exit "$rc")
	cnm_cleanup
}
trap cleanup EXIT

cnm_start_donor d1 --memory 256M --grace-period 30
"$BUILD_ROOT/tests/integration/xport/xport_itest" stall 127.0.0.1 \
	"$CNM_PORT" "$(cnm_donor_pid d1)"
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
