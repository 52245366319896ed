#!/bin/bash
# Working-set files through the page cache (the default --cache writeback).
# usage: fuse_pagecache.sh CASE
#   mmap-shared            MAP_SHARED mmap writes reach the donors (msync)
#                          and read()/write() see the same bytes as the map
#   swap-file-never-cached a file written buffered and then opened O_DIRECT
#                          (losetup --direct-io=on does) leaves the page
#                          cache and stays out of it for later buffered
#                          opens; a working-set file next to it is cached;
#                          pages still dirty in an open buffered handle
#                          are what the O_DIRECT open reads
#   append-two-processes   O_APPEND from two processes at once: no record
#                          lost or torn
#   fsync-reaches-donors   data is on the donor when fsync returns, in
#                          requests far larger than a page
#   donor-loss-reported    with its only donor killed, a cached writer
#                          gets EIO from fsync, another from close: never
#                          dropped
#   fio-verify             fio buffered randwrite and write with crc32c
#                          verify, 4 jobs, over two TCP donors
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin

# cached_pages FILE: pages of FILE in the page cache.
cached_pages() {
	fincore -n -b -o PAGES "$1" | tr -d ' '
}

# donor_written NAME...: bytes the mount wrote to its donors (its stats).
donor_written() {
	cnm_stat_json "$mnt" 'sum(d["bytes_written"] for d in s["donors"])'
}

case $1 in
mmap-shared)
	cnm_mount m "$mnt" --local-memory --size 256M
	python3 - "$mnt/map" <<'PY' || fail "MAP_SHARED mmap"
import mmap, os, sys
path = sys.argv[1]
n = 16 << 20
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, n)
m = mmap.mmap(fd, n, mmap.MAP_SHARED)
pat = bytes(range(251)) * (n // 251 + 1)
m[:] = pat[:n]
m.flush()                      # msync: written back
os.pwrite(fd, b"via write", 8192)
assert m[8192:8201] == b"via write", "write() not seen through the map"
m[12288:12295] = b"via map"
assert os.pread(fd, 7, 12288) == b"via map", "map not seen by read()"
m.close()
os.fsync(fd)
# drop the cached pages: what is read now comes from the daemon
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
want = bytearray(pat[:n])
want[8192:8201] = b"via write"
want[12288:12295] = b"via map"
got = b"".join(os.pread(fd, 1 << 20, o) for o in range(0, n, 1 << 20))
assert got == bytes(want), "mapped data did not reach the page store"
os.close(fd)
PY
	;;
swap-file-never-cached)
	cnm_mount m "$mnt" --local-memory --size 256M
	head -c $((16 << 20)) /dev/urandom >"$CNM_TMP/src"
	cp "$CNM_TMP/src" "$mnt/swapfile"
	cp "$CNM_TMP/src" "$mnt/workfile"
	[ "$(cached_pages "$mnt/swapfile")" -gt 0 ] ||
		fail "a buffered write left nothing cached (writeback off?)"
	# the open losetup --direct-io=on makes
	python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT))' \
		"$mnt/swapfile"
	[ "$(cached_pages "$mnt/swapfile")" = 0 ] ||
		fail "an O_DIRECT open left the file in the page cache"
	cmp "$CNM_TMP/src" "$mnt/swapfile" || fail "swap file data"
	[ "$(cached_pages "$mnt/swapfile")" = 0 ] ||
		fail "a buffered read after the O_DIRECT open was cached"
	cmp "$CNM_TMP/src" "$mnt/workfile" || fail "working-set file data"
	[ "$(cached_pages "$mnt/workfile")" -gt 0 ] ||
		fail "the working-set file next to it is not cached"
	# dirty pages of a buffered handle still open are written back first
	python3 - "$mnt/swap2" <<'PY' || fail "dirty pages lost at an O_DIRECT open"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
data = os.urandom(4 << 20)
os.write(fd, data)  # dirty in the page cache, handle kept open
fd2 = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4 << 20)
assert os.preadv(fd2, [buf], 0) == 4 << 20 and buf[:] == data
os.close(fd2)
os.close(fd)
PY
	;;
append-two-processes)
	cnm_mount m "$mnt" --local-memory --size 256M
	python3 - "$mnt/log" <<'PY' || fail "O_APPEND from two processes"
import os, sys
path, n, rec = sys.argv[1], 4000, 100
def writer(tag):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for i in range(n):
        line = ("%s %06d " % (tag, i)).encode()
        os.write(fd, line + b"x" * (rec - len(line) - 1) + b"\n")
    os.close(fd)
pids = []
for tag in "A", "B":
    pid = os.fork()
    if pid == 0:
        writer(tag)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    assert os.waitpid(pid, 0)[1] == 0
data = open(path, "rb").read()
assert len(data) == 2 * n * rec, "size %d" % len(data)
seen = {"A": [], "B": []}
for k in range(0, len(data), rec):
    r = data[k:k + rec]
    assert r.endswith(b"\n") and r.count(b"\n") == 1, "torn record at %d" % k
    tag, i = r.split()[:2]
    seen[tag.decode()].append(int(i))
for tag in seen:
    assert seen[tag] == list(range(n)), tag + " records lost or reordered"
PY
	;;
fsync-reaches-donors)
	cnm_start_donor d1 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 4M --size 256M
	python3 - "$mnt/f" "$mnt/.cnetmem-stats" <<'PY' || fail "fsync"
import json, os, sys
path, stats = sys.argv[1], sys.argv[2]
n = 64 << 20
written = lambda: sum(d["bytes_written"]
                      for d in json.load(open(stats))["donors"])
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
for o in range(0, n, 1 << 20):
    os.write(fd, os.urandom(1 << 20))
os.fsync(fd)
after = written()
assert after >= n, "fsync returned with %d of %d bytes on the donor" % (after, n)
os.close(fd)
s = json.load(open(stats))["working_set"]
avg = s["write_bytes"] / s["writes"]
print("# working-set writes: %d, %.0f KiB average" % (s["writes"], avg / 1024))
assert avg >= 64 << 10, "writeback requests average %.0f bytes" % avg
PY
	;;
donor-loss-reported)
	cnm_start_donor d1 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 4M --size 256M --io-timeout-ms 1000
	head -c $((8 << 20)) /dev/urandom >"$mnt/warm" # connect, first slab
	sync "$mnt/warm"
	cnm_kill_donor d1
	timeout 60 python3 - "$mnt" <<'PY' || fail "a donor loss was dropped"
import errno, os, sys
m = sys.argv[1]
def fill(name):
    fd = os.open(os.path.join(m, name), os.O_WRONLY | os.O_CREAT, 0o644)
    for _ in range(16):
        os.write(fd, os.urandom(1 << 20))   # into the page cache: succeeds
    return fd
def fails_eio(call, fd):
    try:
        call(fd)
    except OSError as e:
        assert e.errno == errno.EIO, "%s: %s" % (call.__name__, e)
        return
    raise SystemExit("%s succeeded with the only donor dead" % call.__name__)
fd = fill("a")
fails_eio(os.fsync, fd)
try:
    os.close(fd)
except OSError:
    pass  # reported again or not: fsync told
fails_eio(os.close, fill("b"))
PY
	kill -0 "$(cnm_fs_pid m)" || fail "cnetmem exited"
	rm -f "$mnt/a" "$mnt/b" "$mnt/warm"
	cnm_umount m
	exit 0 # the mount's log has the donor's errors
	;;
fio-verify)
	command -v fio >/dev/null || cnm_skip "no fio"
	cnm_start_donor d1 --memory 512M
	cnm_start_donor d2 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp \
		--size 1G --slab-size 4M
	for rw in randwrite write; do
		fio --name="ws-$rw" --directory="$mnt" --rw=$rw --bs=4k \
			--size=48M --numjobs=4 --ioengine=psync --thread \
			--direct=0 --fsync_on_close=1 --verify=crc32c \
			--do_verify=1 --verify_fatal=1 --verify_state_save=0 \
			--output="$CNM_TMP/fio-$rw.txt" ||
			{
				sed 's/^/# /' "$CNM_TMP/fio-$rw.txt" >&2
				fail "fio $rw"
			}
		grep -E "WRITE:|READ:" "$CNM_TMP/fio-$rw.txt" | sed "s/^/# $rw /"
		# again, from the donors: fio drops the cached pages first
		fio --name="ws-$rw" --directory="$mnt" --rw=$rw --bs=4k \
			--size=48M --numjobs=4 --ioengine=psync --thread \
			--direct=0 --invalidate=1 --verify=crc32c --verify_only=1 \
			--verify_fatal=1 --verify_state_save=0 \
			--output="$CNM_TMP/fio-$rw-again.txt" ||
			{
				sed 's/^/# /' "$CNM_TMP/fio-$rw-again.txt" >&2
				fail "fio $rw: verify from the donors"
			}
		rm -f "$mnt"/ws-*
	done
	;;
*)
	fail "unknown case $1"
	;;
esac
cnm_fs_test_end m
echo "ok: $1"
