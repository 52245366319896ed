#!/bin/bash
# `mount -t fuse.cnetmem` and an fstab line work through the mount.fuse3
# helper, with cnetmem settings inside -o; the daemon goes to the
# background only once mounted, and a bad setting fails the mount command.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
link=/usr/local/sbin/cnetmem
made_link=0
cleanup() {
	local rc=$?
	set +e
	umount "$CNM_TMP/mnt" 2>/dev/null || true
	[ "$made_link" = 0 ] || rm -f "$link"
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities
command -v mount.fuse3 >/dev/null || cnm_skip "no mount.fuse3"
# mount(8) runs helpers without our PATH; mount.fuse3 then runs
# "cnetmem SOURCE MOUNTPOINT -o ..." with the shell's default path, which
# has /usr/local/sbin: put the built binary there for this test only
if ln -s "$CNM_FS_BIN" "$link" 2>/dev/null; then
	made_link=1
elif [ "$(readlink "$link")" != "$CNM_FS_BIN" ]; then
	cnm_skip "$link exists (an installed cnetmem is in the way)"
fi

mnt=$CNM_TMP/mnt
mkdir -p "$mnt"
cnm_start_donor d1 --memory 128M

check_mounted() {
	mountpoint -q "$mnt" || fail "$1: not mounted"
	grep " $mnt fuse.cnetmem " /proc/mounts | sed 's/^/# /'
	grep -q " $mnt fuse.cnetmem " /proc/mounts ||
		fail "$1: /proc/mounts does not say fuse.cnetmem"
	[ "$(stat -f -c '%b' "$mnt")" = $((96 << 20 >> 12)) ] ||
		fail "$1: statfs does not report size=96M"
	echo "via $1" >"$mnt/f"
	[ "$(cat "$mnt/f")" = "via $1" ] || fail "$1: data"
	[ "$(cnm_stat_json "$mnt" 's["donors"][0]["addr"]')" = \
		"127.0.0.1:$CNM_PORT" ] || fail "$1: not on the donor"
}

# wait until the daemon behind $mnt exits after umount
umount_and_wait() {
	local pid
	pid=$(pgrep -f "cnetmem .*$mnt" | head -n 1 || true)
	umount "$mnt"
	[ -z "$pid" ] || cnm_wait_pid "$pid" 10 || fail "daemon $pid did not exit"
}

# 1. mount -t fuse.cnetmem
mount -t fuse.cnetmem -o "donor=127.0.0.1:$CNM_PORT,size=96M,transport=tcp,key_file=$CNM_KEY" \
	cnetmem "$mnt"
check_mounted "mount -t"
umount_and_wait

# 2. an fstab line (mount -T reads it instead of /etc/fstab), holding a
# PM QoS CPU latency limit while mounted (other holders may ask for less)
qos() { od -An -t d4 /dev/cpu_dma_latency | tr -d ' '; }
cat >"$CNM_TMP/fstab" <<EOT
cnetmem $mnt fuse.cnetmem donor=127.0.0.1:$CNM_PORT,size=96M,transport=tcp,key_file=$CNM_KEY,cpu_latency=3,nofail 0 0
EOT
mount -T "$CNM_TMP/fstab" "$mnt"
check_mounted "fstab"
[ "$(qos)" -le 3 ] || fail "cpu_latency=3 not in force while mounted: $(qos)"
umount_and_wait

# 3. the mount command fails when cnetmem cannot mount
if mount -t fuse.cnetmem -o "donor=127.0.0.1:1,size=96M,transport=tcp,key_file=$CNM_KEY" \
	cnetmem "$mnt" 2>"$CNM_TMP/err"; then
	fail "mount with an unreachable donor succeeded"
fi
sed 's/^/# /' "$CNM_TMP/err"
grep -q "127.0.0.1:1" "$CNM_TMP/err" || fail "error does not name the donor"
! mountpoint -q "$mnt" || fail "mounted anyway"
cnm_stop_donor d1
echo "ok: mount -t fuse.cnetmem and fstab"
