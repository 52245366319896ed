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
#   bad-files          a FIFO as key or config file, a directory as config
#                      file: a clear error naming the file, no hang
#   relative-paths     a relative --key-file and --backup still work in the
#                      daemon form (resolved before it changes to /)
#   already-mounted    mounting on a cnetmem mount again is refused
#   evict-flood        a hostile donor (keyless, --insecure) floods EVICTs:
#                      the mount's log stays small and its data readable
#   fake-donor         whoever takes a dead donor's port (an unprivileged
#                      user, keyless or with a key of its own) is refused by
#                      the mount: no page goes to it, reads fail with EIO
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
mkdir -p "$mnt"

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
		--donor "127.0.0.1:$port" --transport tcp --key-file "$CNM_KEY" -f
	expect_mount_fails unreach-bg "127\.0\.0\.1:$port" "$mnt" \
		--donor "127.0.0.1:$port" --transport tcp --key-file "$CNM_KEY"
	;;
bad-key)
	head -c 32 /dev/urandom >"$CNM_TMP/key1"
	head -c 32 /dev/urandom >"$CNM_TMP/key2"
	chmod 600 "$CNM_TMP/key1" "$CNM_TMP/key2"
	cnm_start_donor d1 --key-file "$CNM_TMP/key1"
	expect_mount_fails wrongkey "127\.0\.0\.1:$CNM_PORT.*(key|auth|EACCES|denied)" \
		"$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp \
		--key-file "$CNM_TMP/key2" -f
	# no key: refused before anything connects, unless --insecure ...
	expect_mount_fails nokey "key-file: required" \
		"$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp -f
	# ... and a keyed donor refuses an --insecure mount
	expect_mount_fails insecure "127\.0\.0\.1:$CNM_PORT" \
		"$mnt" --donor "127.0.0.1:$CNM_PORT" --transport tcp --insecure -f
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
bad-files)
	mkfifo "$CNM_TMP/fifo"
	expect_mount_fails fifokey "fifo: not a regular file" "$mnt" \
		--donor 127.0.0.1:1 --key-file "$CNM_TMP/fifo" -f
	expect_mount_fails fifokey-bg "fifo: not a regular file" "$mnt" \
		--donor 127.0.0.1:1 --key-file "$CNM_TMP/fifo"
	expect_mount_fails fifoconf "fifo.*not a regular file" --config \
		"$CNM_TMP/fifo" "$mnt" --local-memory -f
	mkdir "$CNM_TMP/confdir"
	expect_mount_fails dirconf "confdir.*not a regular file" --config \
		"$CNM_TMP/confdir" "$mnt" --local-memory -f
	printf 'donor = 5;\n' >"$CNM_TMP/num.conf"
	expect_mount_fails numdonor "num.conf:1: donor.*string" --config \
		"$CNM_TMP/num.conf" "$mnt" --insecure -f
	;;
relative-paths)
	cnm_start_donor d1
	cp "$CNM_KEY" "$CNM_TMP/relkey"
	# the cleanup unmounts it, and the daemon then exits by itself
	echo "$mnt" >"$CNM_TMP/fs-rel.mnt"
	CNM_FS_MOUNTS+=(rel)
	# the daemon form (no -f) changes to /: the paths must hold anyway
	(cd "$CNM_TMP" && "$CNM_FS_BIN" "$mnt" --donor "127.0.0.1:$CNM_PORT" \
		--transport tcp --size 64M --key-file relkey \
		--backup relbackup.img) 2>"$CNM_TMP/rel.err" ||
		{ cat "$CNM_TMP/rel.err"; fail "relative paths refused"; }
	mountpoint -q "$mnt" || fail "not mounted"
	echo hello >"$mnt/f"
	sync
	[ -f "$CNM_TMP/relbackup.img" ] || fail "the backup is not where asked"
	[ ! -e /relbackup.img ] || fail "the backup went to /"
	fusermount3 -u "$mnt"
	cnm_stop_donor d1
	;;
already-mounted)
	cnm_mount m "$mnt" --local-memory --size 64M
	rc=0
	timeout 30 "$CNM_FS_BIN" "$mnt" --local-memory -f \
		2>"$CNM_TMP/twice.err" || rc=$?
	sed 's/^/# /' "$CNM_TMP/twice.err"
	if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
		fail "a second mount: rc $rc"
	fi
	grep -q "already a cnetmem mount" "$CNM_TMP/twice.err" ||
		fail "no message saying it is mounted already"
	[ "$(awk -v m="$mnt" '$5 == m' /proc/self/mountinfo | wc -l)" = 1 ] ||
		fail "a second mount stacked on the first"
	cnm_umount m
	;;
evict-flood)
	python3 "$SOURCE_ROOT/tests/fuse/evict_flood_donor.py" \
		"$CNM_TMP/hostile.port" >"$CNM_TMP/hostile.log" 2>&1 &
	echo "$!" >"$CNM_TMP/hostile.pid"
	echo hostile >>"$CNM_TMP/.donors"
	cnm_wait_for_file "$CNM_TMP/hostile.port" 10 "$(cat "$CNM_TMP/hostile.pid")"
	cnm_mount m "$mnt" --donor "127.0.0.1:$(cat "$CNM_TMP/hostile.port")" \
		--insecure --transport tcp --size 64M --slab-size 1M
	grep -q 'INSECURE' "$(cnm_fs_log m)" || fail "--insecure not logged"
	printf 'still here\n' >"$mnt/f"
	sleep 4
	[ "$(cat "$mnt/f")" = "still here" ] || fail "data lost under the flood"
	n=$(wc -l <"$(cnm_fs_log m)")
	cnm_log "$n log lines after 4 s of EVICT flood"
	[ "$n" -lt 400 ] || fail "$n log lines: the flood is not rate-limited"
	cnm_umount m
	;;
fake-donor)
	cnm_start_donor d1 --grace-period 60
	port=$CNM_PORT
	# shellcheck disable=SC2046
	# --cache direct: the read must reach the donor, not the page cache
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 64M \
		--slab-size 1M --io-timeout-ms 2000 --cache direct
	printf 'the secret page\n' >"$mnt/f"
	sync
	cnm_kill_donor d1
	as=()
	if command -v setpriv >/dev/null; then
		as=(setpriv --reuid 65534 --regid 65534 --clear-groups)
		chmod 755 "$CNM_TMP"
	fi
	for fake in keyless keyed; do
		args=(--insecure)
		if [ $fake = keyed ]; then
			cnm_make_key "$CNM_TMP/fake.key"
			[ ${#as[@]} = 0 ] || chown 65534 "$CNM_TMP/fake.key"
			args=(--key-file "$CNM_TMP/fake.key")
		fi
		(exec "${as[@]}" "$CNM_DONOR_BIN" --foreground \
			--listen "127.0.0.1:$port" --memory 4M --log-level debug \
			"${args[@]}") \
			>"$CNM_TMP/fake-$fake.log" 2>&1 &
		echo "$!" >"$CNM_TMP/fake-$fake.pid"
		echo "fake-$fake" >>"$CNM_TMP/.donors"
		cnm_wait_for_log "$CNM_TMP/fake-$fake.log" 'serving' ||
			fail "the $fake fake donor did not start"
		# the mount keeps trying and keeps refusing it
		cnm_wait_for_log "$(cnm_fs_log m)" \
			"127\.0\.0\.1:$port.*(refused identity|failed to prove the key)" 20 ||
			fail "the mount did not refuse the $fake fake donor"
		rc=0
		timeout 30 cat "$mnt/f" >"$CNM_TMP/read" 2>"$CNM_TMP/cat.err" ||
			rc=$?
		[ "$rc" != 124 ] || fail "a read hung with a fake donor"
		grep -q "Input/output error" "$CNM_TMP/cat.err" ||
			fail "a read with only a fake donor is not EIO"
		! grep -q . "$CNM_TMP/read" || fail "a read returned bytes"
		cnm_stop_donor "fake-$fake"
		# the fake never saw an authenticated client, nor any page
		! grep -q 'authenticated as' "$CNM_TMP/fake-$fake.log" ||
			fail "the $fake fake donor got a client"
	done
	# "up" once, at mount: never again for a fake
	if [ "$(grep -Ec "127\.0\.0\.1:$port: (up|reconnected)" \
		"$(cnm_fs_log m)")" -gt 1 ]; then
		fail "the mount took a fake donor for the real one"
	fi
	cnm_umount m
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
