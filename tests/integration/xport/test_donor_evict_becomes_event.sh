#!/usr/bin/env bash
# A reclaim request makes the donor ask for the client's slab back: the
# EVICT message arrives as XPORT_EV_EVICT naming that slab, the connection
# stays up and the slab can be freed.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

cnm_start_donor d1 --memory 256M --grace-period 2 --evict-wait 30
"$BUILD_ROOT/tests/integration/xport/xport_itest" evict 127.0.0.1 "$CNM_PORT"
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
