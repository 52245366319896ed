#!/bin/bash
# swapon --discard through the loop device punches holes in the swap file:
# the pages swap frees go back to the page store (used_bytes falls to
# nothing after swapoff), and the data swapped meanwhile is intact.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
cnm_swap_test_begin
[ -x "$CNM_PAGETOUCH" ] || cnm_skip "no $CNM_PAGETOUCH"

cnm_mount m "$mnt" --local-memory --size 512M
fallocate -l 256M "$mnt/swap0"
CNM_SWAP_LOOP=$(losetup --direct-io=on -f --show "$mnt/swap0")
mkswap "$CNM_SWAP_LOOP" >/dev/null
swapon --discard -p 5 "$CNM_SWAP_LOOP"
cnm_cgroup_make "cnm-test-$$" $((64 << 20))
out0=$(cnm_vmstat pswpout)
cnm_cgroup_run "$CNM_PAGETOUCH" --size 192M --phases seq_write,seq_read,verify |
	sed 's/^/# /'
[ $(($(cnm_vmstat pswpout) - out0)) -gt 16384 ] || fail "too little swapped"
punches=$(cnm_stat_json "$mnt" 's["ops"]["fallocate"]["count"]')
[ "$punches" -gt 1 ] || fail "no discard reached the mount"
cnm_swap_cleanup
used=$(cnm_stat_json "$mnt" 's["used_bytes"]')
cnm_log "after swapoff: $punches fallocate calls, $used bytes used"
# Swap discards whole clusters (1 MiB) once free, so a few partly used
# clusters may stay; without discard, all >= 128 MiB swapped would remain.
[ "$used" -le $((8 << 20)) ] || fail "$used bytes still used after swapoff"
[ "$(cnm_stat_json "$mnt" 's["ops"]["fallocate"]["errors"]')" = 0 ] ||
	fail "discards failed"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: swap discard gives pages back"
