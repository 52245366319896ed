#!/usr/bin/env bash
# Pipelined random reads and writes of random data from several threads on
# several connections to a real donor, verified byte for byte; the stats
# show chains of more than one operation under that load.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

cnm_start_donor d1 --memory 256M --grace-period 2
"$BUILD_ROOT/tests/integration/xport/xport_itest" data 127.0.0.1 "$CNM_PORT"
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
