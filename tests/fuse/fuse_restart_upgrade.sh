#!/bin/bash
# cnetmemctl restart runs the binary now on disk (issue 14): a mount
# started from a copy of cnetmem; the copy is replaced by a new file (an
# upgrade: new inode, same path); `cnetmemctl restart` must leave a serving
# process running the new file, the supervisor unchanged, the files intact
# and the stats counting one restart.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_restart_needs_dev_fuse
cnm_fs_test_begin
[ -x "$CNM_CTL_BIN" ] || cnm_skip "cnetmemctl not built"

mkdir -p "$CNM_TMP/bin"
cp "$BUILD_ROOT/fs/cnetmem" "$CNM_TMP/bin/cnetmem"
CNM_FS_BIN=$CNM_TMP/bin/cnetmem
cnm_start_donor d1 --memory 128M --grace-period 30
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 256M
head -c $((5 << 20)) /dev/urandom >"$CNM_TMP/f"
cp "$CNM_TMP/f" "$mnt/f"
old=$(cnm_fs_server_pid m)
sup=$(cnm_fs_pid m)

# the upgrade: a new file at the same path
cp "$BUILD_ROOT/fs/cnetmem" "$CNM_TMP/bin/cnetmem.new"
mv "$CNM_TMP/bin/cnetmem.new" "$CNM_TMP/bin/cnetmem"
want=$(stat -c %i "$CNM_TMP/bin/cnetmem")
[ "$(stat -L -c %i "/proc/$old/exe")" != "$want" ] ||
	fail "the old serving process already runs the new inode"

"$CNM_CTL_BIN" restart "$mnt" || fail "cnetmemctl restart failed"
new=$(cnm_fs_server_pid m)
[ "$new" != "$old" ] || fail "the serving process was not replaced"
[ "$(stat -L -c %i "/proc/$new/exe")" = "$want" ] ||
	fail "the new serving process does not run the binary now on disk"
{ [ "$(cnm_fs_pid m)" = "$sup" ] && kill -0 "$sup"; } || fail "the supervisor changed"
cmp -s "$CNM_TMP/f" "$mnt/f" || fail "the file differs after the upgrade"
[ "$(cnm_stat_json "$mnt" "s['daemon']['restarts']")" = 1 ] ||
	fail "stats do not count one restart"
cnm_umount m
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: cnetmemctl restart runs the binary now on disk"
