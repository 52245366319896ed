#!/bin/bash
# The local-memory backend gives freed memory back and reuses freed space
# (issue 15): on a --local-memory mount the daemon's RSS grows by about
# the 1 GiB written, falls back once the files are removed, and writing
# 1 GiB again after rm holds about 1 GiB, not 2. Every byte is verified.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin

rss_mib() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }

cnm_mount m "$mnt" --local-memory --size 1200M --slab-size 16M
pid=$(cnm_fs_server_pid m)
base=$(rss_mib "$pid")

# one GiB in four files, a known pattern per file, then read back
write_gib() {
	python3 - "$mnt" "$1" <<'PY'
import os, sys
mnt, tag = sys.argv[1], sys.argv[2]
for f in range(4):
    blk = (f"{tag}{f}".encode() * (1 << 19))[:1 << 20]
    with open(f"{mnt}/{tag}{f}", "wb") as o:
        for _ in range(256):
            o.write(blk)
for f in range(4):
    blk = (f"{tag}{f}".encode() * (1 << 19))[:1 << 20]
    with open(f"{mnt}/{tag}{f}", "rb") as i:
        for k in range(256):
            assert i.read(1 << 20) == blk, f"{tag}{f} MiB {k}"
PY
}

# waits until the daemon's RSS is at most $1 MiB (slabs are given back
# by the page store's background thread)
wait_rss_below() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(rss_mib "$pid")" -le "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

write_gib a || fail "first GiB"
first=$(rss_mib "$pid")
echo "# RSS: $base MiB mounted, $first MiB with 1 GiB written"
[ "$first" -ge $((base + 900)) ] || fail "1 GiB written but RSS only $first MiB"
rm -f "$mnt"/a*
wait_rss_below $((base + 100)) ||
	fail "RSS $(rss_mib "$pid") MiB after rm (mounted: $base MiB)"
echo "# RSS after rm: $(rss_mib "$pid") MiB"
write_gib b || fail "second GiB"
second=$(rss_mib "$pid")
echo "# RSS with 1 GiB written again after rm: $second MiB"
[ "$second" -le $((first + 100)) ] ||
	fail "write, rm, write holds $second MiB (first write: $first MiB)"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
