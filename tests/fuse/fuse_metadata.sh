#!/bin/bash
# Metadata scales with what is stored (issue 15): on a 1G mount over a
# donor, 20,000 files of 4 KiB and one file with a page every 64 KiB
# across 1 GiB are written and read back right with no ENOSPC; then a
# mount with a small --metadata-max refuses creates with ENOSPC and counts
# them. Prints the daemon's memory per GiB stored (VmRSS growth while
# 1 GiB of dense files is written), for fs/README.md.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
trap cnm_fs_all_cleanup EXIT
cnm_fuse_facilities

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

mnt=$CNM_TMP/mnt
cnm_start_donor d1 --memory 1300M
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 1G

# memory per GiB stored: dense files on the fresh mount, after a first
# file has touched the request buffers and the connection's memory
pid=$(cnm_fs_pid m)
dd if=/dev/urandom of="$mnt/warm" bs=1M count=64 oflag=direct status=none ||
	fail "warm-up file"
before=$(rss_kib "$pid")
for i in 0 1 2 3; do
	dd if=/dev/urandom of="$mnt/dense$i" bs=1M count=240 oflag=direct \
		status=none || fail "dense file $i"
done
after=$(rss_kib "$pid")
meta=$(cnm_stat_json "$mnt" 's["metadata_bytes"]')
echo "# daemon VmRSS +$((after - before)) KiB for 960 MiB stored" \
	"(map and namespace: $((meta >> 10)) KiB)"
rm -f "$mnt"/dense* "$mnt/warm"

python3 - "$mnt" <<'PY' || fail "small and sparse files"
import os, sys
mnt = sys.argv[1]
os.mkdir(f"{mnt}/spill")
def page(tag, i):
    return (f"{tag}:{i:08d}:".encode() * 300)[:4096]
for i in range(20000):
    with open(f"{mnt}/spill/f{i}", "wb") as f:
        f.write(page("small", i))
fd = os.open(f"{mnt}/sparse", os.O_CREAT | os.O_RDWR, 0o644)
for i in range(16384):
    os.pwrite(fd, page("sparse", i), i * 65536)
os.close(fd)
for i in range(20000):
    with open(f"{mnt}/spill/f{i}", "rb") as f:
        assert f.read() == page("small", i), f"file {i}"
fd = os.open(f"{mnt}/sparse", os.O_RDONLY)
for i in range(16384):
    assert os.pread(fd, 4096, i * 65536) == page("sparse", i), f"page {i}"
    if i % 997 == 0:
        assert os.pread(fd, 4096, i * 65536 + 4096) == bytes(4096)
os.close(fd)
assert os.stat(f"{mnt}/sparse").st_size == 16383 * 65536 + 4096
PY
read -r used refused meta <<<"$(cnm_stat_json "$mnt" \
	'"%d %d %d" % (s["used_bytes"], s["metadata_enospc"], s["metadata_bytes"])')"
echo "# 20,000 x 4 KiB + 16,384 sparse pages: used $((used >> 20)) MiB," \
	"metadata $((meta >> 10)) KiB, metadata ENOSPC $refused"
[ "$refused" = 0 ] || fail "metadata refused $refused times"
rm -rf "$mnt/spill" "$mnt/sparse"

cnm_umount m

# a small budget: a clear ENOSPC, counted, and the mount goes on
cnm_mount b "$CNM_TMP/mb" --local-memory --size 64M --metadata-max 1M
python3 - "$CNM_TMP/mb" <<'PY' || fail "metadata budget"
import errno, os, sys, json, time
mnt = sys.argv[1]
n = 0
try:
    while n < 100000:
        open(f"{mnt}/e{n}", "w").close()
        n += 1
    raise SystemExit("no ENOSPC after 100,000 empty files")
except OSError as e:
    assert e.errno == errno.ENOSPC, e
s = json.load(open(f"{mnt}/.cnetmem-stats"))
print(f"# metadata-max 1M: ENOSPC after {n} empty files, "
      f"metadata_enospc {s['metadata_enospc']}")
assert s["metadata_enospc"] >= 1
assert s["metadata_bytes"] <= s["metadata_budget"]
os.unlink(f"{mnt}/e0")
# e0's inode is freed at its FORGET; over io_uring that comes through
# /dev/fuse, apart from this create's ring, and may come a little later
for t in range(50):
    try:
        open(f"{mnt}/again", "w").close()
        break
    except OSError as e:
        if e.errno != errno.ENOSPC or t == 49:
            raise
        time.sleep(0.1)
PY
cnm_umount b
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
cnm_fail_on_log_errors "$(cnm_fs_log m)"
