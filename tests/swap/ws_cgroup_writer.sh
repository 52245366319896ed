#!/bin/bash
# A writer in a small memory cgroup writes a working-set file many times
# its limit through the page cache: reclaim writes the dirty pages back to
# the donors through the daemon (outside the cgroup), so the writer makes
# progress and finishes; every byte reads back right, and the daemon got
# the data in large requests.
# usage: ws_cgroup_writer.sh donors|local-memory
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
cnm_swap_test_begin

backend=${1:-donors}
limit=$((48 << 20))
total=$((768 << 20)) # 16 times the limit
if [ "$backend" = donors ]; then
	cnm_start_donor d1 --memory 1G
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 16M --size 1G
else
	cnm_mount m "$mnt" --local-memory --size 1G
fi
cnm_cgroup_make "cnm-ws-$$" "$limit"

# the writer: a pattern anyone can regenerate, hashed as it is written
gen='import hashlib, os, sys
path, total = sys.argv[1], int(sys.argv[2])
h = hashlib.sha256()
with open(path, "wb") as f:
    for i in range(total >> 20):
        b = hashlib.sha512(b"%d" % i).digest() * 16384
        h.update(b)
        f.write(b)
    f.flush()
    os.fsync(f.fileno())
print(h.hexdigest())'
cnm_cgroup_start "$CNM_TMP/writer.out" timeout 300 python3 -c "$gen" \
	"$mnt/big" "$total"
rc=0
cnm_cgroup_wait || rc=$?
[ "$rc" != 124 ] || fail "the writer made no progress in 300 s"
[ "$rc" = 0 ] || {
	sed 's/^/# /' "$CNM_TMP/writer.out" >&2
	fail "the writer failed ($rc)"
}
peak=$(cat "$CNM_CGROUP/memory.max_usage_in_bytes")
cnm_log "writer done, cgroup peak $((peak >> 20)) MiB of $((limit >> 20)) MiB"
want=$(cat "$CNM_TMP/writer.out")
# read back from the daemon, not from the page cache
got=$(dd if="$mnt/big" bs=1M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the file reads back different ($got, $want)"
cnm_stat_json "$mnt" '"# working-set writes %d, %.0f KiB average" % (s["working_set"]["writes"], s["working_set"]["write_bytes"] / s["working_set"]["writes"] / 1024)'
avg=$(cnm_stat_json "$mnt" 's["working_set"]["write_bytes"] // s["working_set"]["writes"]')
[ "$avg" -ge $((64 << 10)) ] || fail "writeback requests average $avg bytes"
rm -f "$mnt/big"
cnm_swap_cleanup
cnm_fs_test_end m
echo "ok: a writer at 16 times its cgroup limit finishes ($backend)"
