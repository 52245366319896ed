#!/bin/bash
# A mount under a Type=notify unit (-f with NOTIFY_SOCKET) tells systemd
# READY=1 once mounted, STATUS= while a donor drains, STOPPING=1 when it
# is unmounted.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
sock=$CNM_TMP/notify
msgs=$CNM_TMP/notify.msgs

python3 "$SOURCE_ROOT/tests/lib/notify_socket.py" "$sock" "$msgs" &
echo "$!" >"$CNM_TMP/notify.pid"
echo notify >>"$CNM_TMP/.donors"
cnm_wait_for_file "$msgs" 10 "$(cat "$CNM_TMP/notify.pid")"

cnm_start_donor d1 --memory 64M
cnm_start_donor d2 --memory 64M
# shellcheck disable=SC2046
NOTIFY_SOCKET=$sock cnm_mount m "$mnt" $(cnm_donor_args d1 d2) \
	--transport tcp --size 64M --slab-size 1M
cnm_wait_for_log "$msgs" "^READY=1 \| STATUS=mounted $mnt\$"
head -c $((4 << 20)) /dev/urandom >"$mnt/data"
"$CNM_CTL_BIN" donor-drain "$mnt" "127.0.0.1:$(cnm_donor_port d1)" >/dev/null
cnm_wait_for_log "$msgs" "^STATUS=draining donor 127.0.0.1:"
cnm_wait_for_log "$msgs" "^STATUS=drained donor 127.0.0.1:"
cnm_umount m
cnm_wait_for_log "$msgs" '^STOPPING=1'
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo ok
