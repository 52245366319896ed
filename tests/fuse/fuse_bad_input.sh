#!/bin/bash
# Bad input and faults around a mount, one case per run:
#   bad-mountpoint     missing or non-directory mountpoint, bad options or
#                      config file: clear error (file:line), exit 1
#   unreachable-donor  error names the donor, non-zero exit (foreground and
#                      daemon forms), nothing mounted
#   bad-key            a key the donor does not share: clear error, nothing
#                      mounted
#   donor-full         writes past the donor's memory fail with ENOSPC, the
#                      data written before stays intact
#   donor-dies         a donor killed mid-write: EIO on the affected requests
#                      (from close for a cached writer), no hang, the mount
#                      and the daemon stay up
#   replica-survives   with --replicas 2 a killed donor loses no data
#   backup-serves-reads  with --backup the only donor can die
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
trap cnm_fs_all_cleanup EXIT
cnm_fuse_facilities
mnt=$CNM_TMP/mnt
mkdir -p "$mnt"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_mount_fails LOGNAME REGEX ARGS...: cnetmem must exit non-zero,
# print REGEX on stderr and leave nothing mounted.
expect_mount_fails() {
	local log=$CNM_TMP/$1.err re=$2 rc=0
	shift 2
	timeout 30 "$CNM_FS_BIN" "$@" 2>"$log" || rc=$?
	sed 's/^/# /' "$log"
	[ "$rc" != 0 ] || fail "cnetmem $* succeeded"
	[ "$rc" != 124 ] || fail "cnetmem $* hung"
	grep -Eq -- "$re" "$log" || fail "no message matching '$re'"
	! mountpoint -q "$mnt" || fail "something is mounted on $mnt"
}

case $1 in
bad-mountpoint)
	expect_mount_fails missing "$CNM_TMP/nonexistent.*No such file" \
		"$CNM_TMP/nonexistent" --local-memory -f
	: >"$CNM_TMP/afile"
	expect_mount_fails notdir "afile: not a directory" \
		"$CNM_TMP/afile" --local-memory -f
	expect_mount_fails nodonor "no donor given" "$mnt" -f
	expect_mount_fails badsize "size.*not a size" "$mnt" --local-memory \
		--size lots
	printf 'local-memory = true;\nsize = "lots";\n' >"$CNM_TMP/bad.conf"
	expect_mount_fails badconf "bad.conf:2: size" --config \
		"$CNM_TMP/bad.conf" "$mnt" -f
	;;
unreachable-donor)
	# a port nobody listens on: take one and close it
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	expect_mount_fails unreach-fg "127\.0\.0\.1:$port" "$mnt" \
		--donor "127.0.0.1:$port" --transport tcp -f
	expect_mount_fails unreach-bg "127\.0\.0\.1:$port" "$mnt" \
		--donor "127.0.0.1:$port" --transport tcp
	;;
bad-key)
	head -c 32 /dev/urandom >"$CNM_TMP/key1"
	head -c 32 /dev/urandom >"$CNM_TMP/key2"
	chmod 600 "$CNM_TMP/key1" "$CNM_TMP/key2"
	cnm_start_donor d1 --key-file "$CNM_TMP/key1"
	expect_mount_fails wrongkey "127\.0\.0\.1:$CNM_PORT.*(key|auth|EACCES|denied)" \
		"$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp \
		--key-file "$CNM_TMP/key2" -f
	expect_mount_fails nokey "127\.0\.0\.1:$CNM_PORT" \
		"$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp -f
	chmod 644 "$CNM_TMP/key2"
	expect_mount_fails openkey "key" "$mnt" --donor \
		"127.0.0.1:$CNM_PORT" --transport tcp --key-file "$CNM_TMP/key2" -f
	# the right key mounts
	cnm_mount m "$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp \
		--key-file "$CNM_TMP/key1" --size 64M
	echo hello >"$mnt/f"
	[ "$(cat "$mnt/f")" = hello ] || fail "data through an authenticated donor"
	cnm_umount m
	cnm_stop_donor d1
	;;
donor-full)
	cnm_start_donor d1 --memory 32M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 4M --size 256M
	head -c $((64 << 20)) /dev/urandom >"$CNM_TMP/src"
	rc=0
	dd if="$CNM_TMP/src" of="$mnt/f" bs=1M 2>"$CNM_TMP/dd.err" || rc=$?
	sed 's/^/# /' "$CNM_TMP/dd.err"
	[ "$rc" != 0 ] || fail "64M fit on a 32M donor"
	grep -q "No space left on device" "$CNM_TMP/dd.err" ||
		fail "a full donor is not ENOSPC"
	size=$(stat -c %s "$mnt/f")
	cnm_log "$size bytes written before ENOSPC"
	[ "$size" -ge $((16 << 20)) ] || fail "only $size bytes fit on the donor"
	cmp -n "$size" "$CNM_TMP/src" "$mnt/f" ||
		fail "the data written before ENOSPC is corrupted"
	rm "$mnt/f"
	# the space came back: the same amount fits again
	head -c $((16 << 20)) "$CNM_TMP/src" >"$mnt/g"
	cmp -n $((16 << 20)) "$CNM_TMP/src" "$mnt/g"
	cnm_umount m
	cnm_stop_donor d1
	;;
donor-dies)
	cnm_start_donor d1 --memory 1G
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 4M --size 2G --io-timeout-ms 3000
	head -c $((32 << 20)) /dev/urandom >"$CNM_TMP/src"
	cp "$CNM_TMP/src" "$mnt/before"
	( while :; do cat "$CNM_TMP/src"; done ) |
		timeout 60 dd of="$mnt/during" bs=256K count=2048 \
			iflag=fullblock 2>"$CNM_TMP/dd.err" &
	ddpid=$!
	# kill the donor once the write is well under way
	for ((i = 0; i < 600; i++)); do
		[ "$(stat -c %s "$mnt/during" 2>/dev/null || echo 0)" -lt \
			$((64 << 20)) ] || break
		sleep 0.05
	done
	cnm_kill_donor d1
	rc=0
	wait "$ddpid" || rc=$?
	sed 's/^/# /' "$CNM_TMP/dd.err"
	[ "$rc" != 124 ] || fail "a write hung after the donor died"
	[ "$rc" != 0 ] || fail "writing 512M succeeded with the donor dead"
	grep -q "Input/output error" "$CNM_TMP/dd.err" ||
		fail "the failed write is not EIO"
	rc=0
	# O_DIRECT: from the donor, not from what the page cache still holds
	timeout 60 dd if="$mnt/before" of=/dev/null bs=1M iflag=direct \
		2>"$CNM_TMP/cat.err" || rc=$?
	[ "$rc" != 124 ] || fail "a read hung after the donor died"
	grep -q "Input/output error" "$CNM_TMP/cat.err" ||
		fail "reading pages of a dead donor is not EIO"
	# the mount and the daemon are still up and answer
	kill -0 "$(cnm_fs_pid m)" || fail "cnetmem exited"
	mountpoint -q "$mnt" || fail "the mount went away"
	mkdir "$mnt/still-here"
	ls "$mnt" >/dev/null
	state=$(cnm_stat_json "$mnt" 's["donors"][0]["state"]')
	cnm_log "donor state in stats: $state"
	[ "$state" != up ] || fail "the dead donor is still 'up' in stats"
	errs=$(cnm_stat_json "$mnt" 's["ops"]["write"]["errors"] + s["ops"]["read"]["errors"]')
	[ "$errs" -gt 0 ] || fail "stats count no I/O errors"
	rm -f "$mnt/during" "$mnt/before"
	cnm_umount m
	;;
replica-survives)
	# with --replicas 2, losing one donor loses no data
	cnm_start_donor d1 --memory 256M
	cnm_start_donor d2 --memory 256M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp \
		--replicas 2 --slab-size 4M --size 128M
	head -c $((48 << 20)) /dev/urandom >"$CNM_TMP/src"
	cp "$CNM_TMP/src" "$mnt/f"
	cnm_kill_donor d1
	timeout 60 cmp "$CNM_TMP/src" "$mnt/f" ||
		fail "data lost with one of two replicas left"
	[ "$(cnm_stat_json "$mnt" '[d["state"] for d in s["donors"]]')" != \
		"['up', 'up']" ] || fail "the killed donor is still up in stats"
	cnm_umount m
	cnm_stop_donor d2
	;;
backup-serves-reads)
	# --backup: with the only donor gone, reads come from the local copy
	cnm_start_donor d1 --memory 256M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--backup "$CNM_TMP/backup" --size 128M
	head -c $((24 << 20)) /dev/urandom >"$CNM_TMP/src"
	cp "$CNM_TMP/src" "$mnt/f"
	cnm_kill_donor d1
	timeout 60 cmp "$CNM_TMP/src" "$mnt/f" ||
		fail "the backup did not serve the reads"
	[ "$(cnm_stat_json "$mnt" 's["backup"]["path"]')" = "$CNM_TMP/backup" ] ||
		fail "stats do not show the backup"
	cnm_umount m
	;;
*)
	echo "unknown case $1" >&2
	exit 2
	;;
esac
echo "ok: $1"
