#!/bin/bash
# The supervisor itself killed under systemd with an fd store (issue 14):
# tests/fuse/fdstore_systemd.py plays systemd (FileDescriptorStoreMax=2,
# KillMode=mixed, a restart with LISTEN_FDS); the new supervisor must take
# the live mount over, files intact, and end cleanly on fusermount3 -u.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_restart_needs_dev_fuse
cnm_fs_test_begin
grep -q "CNM_HAVE_SYSTEMD 1" "$BUILD_ROOT/cnm_config.h" ||
	cnm_skip "built without libsystemd"

mkdir -p "$mnt"
rc=0
python3 "$SOURCE_ROOT/tests/fuse/fdstore_systemd.py" "$CNM_TMP/notify" \
	"$mnt" "$CNM_TMP/fs.log" "$CNM_FS_BIN" --local-memory --size 64M || rc=$?
if mountpoint -q "$mnt"; then
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
fi
if [ "$rc" != 0 ]; then
	sed 's/^/#   /' "$CNM_TMP/fs.log" >&2
	fail "the mount did not come through"
fi
cnm_fail_on_log_errors "$CNM_TMP/fs.log"
grep -q "taken over from systemd" "$CNM_TMP/fs.log" || fail "the new supervisor mounted anew"
grep "taken over\|took over\|unmounted" "$CNM_TMP/fs.log" | sed "s/^/# /"
