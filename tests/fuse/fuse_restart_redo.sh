#!/bin/bash
# A namespace change the serving process did but never answered (issue
# 14): with CNETMEM_TEST_KILL_BEFORE_REPLY=OP the first serving process
# SIGKILLs itself once, after an OP took effect and before its reply; the
# kernel resends the request to the successor (FUSE_NOTIFY_RESEND), which
# must answer what the first execution did: the caller sees success, not
# EEXIST or ENOENT, and the change is there once.
#
#   fuse_restart_redo.sh OP   (mkdir, create, rename, unlink, rmdir, link,
#                              symlink, mknod)
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/restart.sh"
cnm_restart_needs_dev_fuse
op=${1:?usage: fuse_restart_redo.sh OP}
cnm_fs_test_begin
ulimit -c 0

# the serving process started now dies in its first reply to an $op
export CNETMEM_TEST_KILL_BEFORE_REPLY=$op
cnm_mount m "$mnt" --local-memory --size 64M
unset CNETMEM_TEST_KILL_BEFORE_REPLY
first=$(cnm_fs_server_pid m)

# what the change needs, made by other operations than $op
case $op in
rename | unlink | link) echo data >"$mnt/f" ;;
rmdir) mkdir "$mnt/e" ;;
esac
[ "$(cnm_restart_count m)" = 0 ] || fail "a restart before the $op"

# the change: its caller must see success
case $op in
mkdir) mkdir "$mnt/d" ;;
create) python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
os.write(fd, b"data\n")
os.close(fd)' "$mnt/f" ;;
rename) mv -T "$mnt/f" "$mnt/g" ;;
unlink) rm "$mnt/f" ;;
rmdir) rmdir "$mnt/e" ;;
link) ln "$mnt/f" "$mnt/g" ;;
symlink) ln -s f "$mnt/s" ;;
mknod) mkfifo "$mnt/p" ;;
*) fail "no such operation: $op" ;;
esac || fail "$op failed across the restart"

# the serving process was killed in the reply, and the change is there
new=$(cnm_fs_server_pid m)
[ "$new" != "$first" ] || fail "the serving process was not killed by the $op"
[ "$(cnm_restart_count m)" = 1 ] ||
	fail "stats count $(cnm_restart_count m) restarts, not 1"
grep -q "killed after $op took effect" "$(cnm_fs_log m)" ||
	fail "the hook did not fire for $op"
case $op in
mkdir) [ -d "$mnt/d" ] ;;
create) [ "$(cat "$mnt/f")" = data ] && [ "$(stat -c %a "$mnt/f")" = 640 ] ;;
rename) [ ! -e "$mnt/f" ] && [ "$(cat "$mnt/g")" = data ] ;;
unlink) [ ! -e "$mnt/f" ] ;;
rmdir) [ ! -e "$mnt/e" ] ;;
link) [ "$(stat -c %h "$mnt/f")" = 2 ] && [ "$(cat "$mnt/g")" = data ] ;;
symlink) [ "$(readlink "$mnt/s")" = f ] ;;
mknod) [ -p "$mnt/p" ] ;;
esac || fail "after the restart the $op is not there"
# once: the directory lists each name once
dups=$(ls -a "$mnt" | sort | uniq -d)
[ -z "$dups" ] || fail "names listed twice: $dups"

cnm_fs_test_end m
echo "ok: $op redone by the successor answered success"
