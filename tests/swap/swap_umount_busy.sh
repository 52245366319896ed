#!/bin/bash
# Unmounting while a swap file of the mount is active must fail with EBUSY
# and leave the daemon running (a SIGTERM is refused too: exiting would
# lose every swapped page); after swapoff and losetup -d the unmount works
# and the daemon exits cleanly.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
cnm_swap_test_begin

cnm_mount m "$mnt" --local-memory --size 256M
cnm_swap_on "$mnt/swap0" 64M 10
pid=$(cnm_fs_pid m)

if fusermount3 -u "$mnt" 2>"$CNM_TMP/umount.err"; then
	echo "FAIL: fusermount3 -u succeeded while swap was active" >&2
	exit 1
fi
cnm_log "fusermount3 -u: $(cat "$CNM_TMP/umount.err")"
grep -qi "busy" "$CNM_TMP/umount.err" || {
	echo "FAIL: expected a 'busy' error from fusermount3" >&2
	exit 1
}
mountpoint -q "$mnt" || { echo "FAIL: mount is gone" >&2; exit 1; }
kill -0 "$pid" || { echo "FAIL: daemon died" >&2; exit 1; }

kill -TERM "$pid"
sleep 0.5
kill -0 "$pid" || { echo "FAIL: daemon exited on SIGTERM with swap active" >&2; exit 1; }
mountpoint -q "$mnt" || { echo "FAIL: mount is gone after SIGTERM" >&2; exit 1; }
grep -q "files are still open" "$(cnm_fs_log m)" || {
	echo "FAIL: the daemon did not say why it stays" >&2
	exit 1
}
# the swap device still works
swapon --show=NAME --noheadings | grep -qF "$CNM_SWAP_LOOP"

cnm_swap_cleanup
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: unmount refused while swap was active, clean after swapoff"
