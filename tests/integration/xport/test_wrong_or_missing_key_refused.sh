#!/usr/bin/env bash
# A donor with a key: the right key works, a wrong key and no key are
# refused with -EACCES at once (no hang, no spin).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

umask 077
head -c 32 /dev/urandom >"$CNM_TMP/key"
head -c 32 /dev/urandom >"$CNM_TMP/bad"
cnm_start_donor d1 --memory 256M --grace-period 2 --key-file "$CNM_TMP/key"
"$BUILD_ROOT/tests/integration/xport/xport_itest" auth 127.0.0.1 \
	"$CNM_PORT" "$CNM_TMP/key" "$CNM_TMP/bad"
cnm_stop_donor d1
# the donor logs the refused handshakes as warnings, never as errors
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
