#!/usr/bin/env bash
# pstore_open fails at once with a sentence naming the donor and the
# reason: a closed port (refused), a wrong key, fewer donors than replicas.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT
itest=$BUILD_ROOT/tests/integration/placement/pstore_itest

umask 077
head -c 32 /dev/urandom >"$CNM_TMP/key"
head -c 32 /dev/urandom >"$CNM_TMP/bad"
cnm_start_donor d1 --memory 64M --key-file "$CNM_TMP/key"
good=127.0.0.1:$CNM_PORT

# a port nobody listens on: take one from the kernel and close it
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$itest" open-error "127.0.0.1:$closed: connection refused" \
	--replicas 1 "127.0.0.1:$closed"
"$itest" open-error "$good: authentication failed" \
	--replicas 1 --key "$CNM_TMP/bad" "$good"
"$itest" open-error "1 of 2 donors reachable, 2 needed" \
	--replicas 2 --key "$CNM_TMP/key" "$good" "127.0.0.1:$closed"
cnm_stop_donor d1
# refused handshakes are warnings for the donor, not errors
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
