#!/bin/bash
# A serving process that cannot start again (issue 14): the mount runs from
# a copy of cnetmem, which is then replaced by a program that fails at
# once; after the serving process is killed every successor dies before it
# is ready. The supervisor must back off between starts, give up after
# five quick deaths with an error naming the mount, exit 1, and leave the
# mount as a crash did before there was a supervisor (ENOTCONN until
# fusermount3 -u).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_restart_needs_dev_fuse
cnm_fs_test_begin

mkdir -p "$CNM_TMP/bin"
cp "$BUILD_ROOT/fs/cnetmem" "$CNM_TMP/bin/cnetmem"
CNM_FS_BIN=$CNM_TMP/bin/cnetmem
cnm_mount m "$mnt" --local-memory --size 64M
echo data >"$mnt/f"
sup=$(cnm_fs_pid m)
pid=$(cnm_fs_server_pid m)

printf '#!/bin/sh\nexit 1\n' >"$CNM_TMP/bin/cnetmem.new"
chmod +x "$CNM_TMP/bin/cnetmem.new"
mv "$CNM_TMP/bin/cnetmem.new" "$CNM_TMP/bin/cnetmem"
kill -KILL "$pid"
cnm_wait_pid "$sup" 20 || fail "the supervisor did not give up"
rc=0
wait "$sup" || rc=$?
[ "$rc" = 1 ] || fail "the supervisor exited with $rc, not 1"
log=$(cnm_fs_log m)
grep -q "error: mount $mnt: serving process exited with status 1; giving up after 5 quick deaths" "$log" ||
	fail "no error saying the supervisor gave up"
for ms in 100 200 400 800; do
	grep -q "successor in $ms ms" "$log" || fail "no backoff of $ms ms"
done
if cat "$mnt/f" 2>"$CNM_TMP/err"; then
	fail "the mount still answers after the supervisor gave up"
fi
grep -q "not connected\|connection abort" "$CNM_TMP/err" ||
	fail "the mount says $(cat "$CNM_TMP/err"), not ENOTCONN"
fusermount3 -u "$mnt" || umount -l "$mnt"
echo "ok: gave up after 5 quick deaths, mount dead as before issue 14"
