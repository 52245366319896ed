#!/bin/bash
# A serving process that keeps dying (issue 14): killed five times, each
# within a second of being ready, the supervisor backs off between starts
# and then gives up with an error naming the mount, exits 1, and the mount
# behaves as after a crash before there was a supervisor (ENOTCONN) until
# fusermount3 -u.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/restart.sh"
trap cnm_fs_all_cleanup EXIT
cnm_fuse_facilities

mnt=$CNM_TMP/mnt
cnm_mount m "$mnt" --local-memory --size 64M
echo data >"$mnt/f"
sup=$(cnm_fs_pid m)
for ((k = 1; k <= 5; k++)); do
	pid=$(cnm_fs_server_pid m) || fail "no serving process before kill $k"
	kill -KILL "$pid"
	[ "$k" = 5 ] && break
	cnm_restart_wait m "$pid" >/dev/null || fail "no successor after kill $k"
done
cnm_wait_pid "$sup" 10 || fail "the supervisor did not give up"
rc=0
wait "$sup" || rc=$?
[ "$rc" = 1 ] || fail "the supervisor exited with $rc, not 1"
log=$(cnm_fs_log m)
grep -q "error: mount $mnt: serving process killed by signal 9; giving up after 5 quick deaths" "$log" ||
	fail "no error saying the supervisor gave up"
grep -q "successor in 800 ms" "$log" || fail "no backoff between quick deaths"
if cat "$mnt/f" 2>"$CNM_TMP/err"; then
	fail "the mount still answers after the supervisor gave up"
fi
grep -q "not connected\|connection abort" "$CNM_TMP/err" ||
	fail "the mount says $(cat "$CNM_TMP/err"), not ENOTCONN"
fusermount3 -u "$mnt" || umount -l "$mnt"
echo "ok: gave up after 5 quick deaths, mount dead as before issue 14"
