#!/bin/bash
# A mount over many donors (issue 15): CNM_MANY_DONORS donor processes
# (default 1,000 when the host has 12 GiB available, else 300; 4 MiB
# each, 1 MiB slabs, about 7 MiB of memory per donor process),
# --replicas 2; a verified
# workload spreads over them, a tenth of the donors is drained one after
# the other while the data stays readable, and every byte, both copies of
# every slab on distinct donors and the drained donors' emptiness are
# checked at the end. The mount's serving process must stay under
# CNM_MOUNT_THREADS_MAX threads (64) however many donors it has: over TCP
# a few shared event loops and connector threads serve every donor (see
# docs/design.md). One donor per process: locked memory, not the code,
# bounds how many this machine runs (each donor process runs three
# threads with --threads 1, whatever its connections).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"

avail_kib=$(awk '/^MemAvailable/ {print $2}' /proc/meminfo)
n=${CNM_MANY_DONORS:-$((avail_kib > 12 << 20 ? 1000 : 300))}
pids=()
cleanup() {
	local rc=$?
	set +e
	cnm_fs_cleanup
	# all at once: cnm_cleanup stops donors one by one (0.3 s each)
	[ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
	for p in "${pids[@]}"; do
		cnm_wait_pid "$p" 5 || kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities
[ -x "$CNM_CTL_BIN" ] || cnm_skip "cnetmemctl not built"

args=()
for ((i = 0; i < n; i++)); do
	cnm_start_donor "d$i" --memory 4M --threads 1 >/dev/null 2>&1 ||
		fail "donor $i did not start"
	pids+=("$(cnm_donor_pid "d$i")")
	args+=(--donor "127.0.0.1:$(cnm_donor_port "d$i")")
done
cnm_log "$n donors started"
mnt=$CNM_TMP/mnt
cnm_mount m "$mnt" "${args[@]}" --transport tcp --replicas 2 \
	--slab-size 1M --size $((n * 2))M --ctl-timeout-ms 20000
[ "$(cnm_stat_json "$mnt" 'len(s["donors"])')" = "$n" ] ||
	fail "the mount does not know all $n donors"
# the threads of the serving process do not grow with the donors
check_threads() {
	local pid nthr
	pid=$(cnm_fs_server_pid m)
	nthr=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)
	cnm_log "serving process $pid: $nthr threads, $n donors ($1)"
	[ "$nthr" -lt "${CNM_MOUNT_THREADS_MAX:-64}" ] ||
		fail "the mount runs $nthr threads for $n donors ($1)"
}
check_threads "mounted"

# a MiB per donor of patterned data: about n slabs, two copies each
verify() {
	python3 - "$mnt" "$n" "$1" <<'PY'
import os, sys
mnt, n, write = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "write"
for f in range(n // 10):
    name = f"{mnt}/f{f}"
    blk = [(f"{f}:{k}:".encode() * (1 << 20))[:1 << 20] for k in range(10)]
    if write:
        with open(name, "wb") as o:
            for b in blk:
                o.write(b)
    with open(name, "rb") as i:
        for k, b in enumerate(blk):
            assert i.read(1 << 20) == b, f"file {f} MiB {k}"
PY
}
verify write || fail "written data does not read back"

# drain a tenth of the donors, one after the other, data read meanwhile
for ((i = 0; i < n / 10; i++)); do
	a=127.0.0.1:$(cnm_donor_port "d$i")
	timeout 120 "$CNM_CTL_BIN" donor-drain "$mnt" "$a" --timeout 100 \
		>/dev/null || fail "drain of $a"
	((i % 10 == 9)) && { verify read || fail "data after $((i + 1)) drains"; }
done
verify read || fail "data after the drains"
check_threads "after the workload and the drains"

python3 - "$mnt/.cnetmem-stats" "$((n / 10))" <<'PY' || fail "placement"
import json, sys
s = json.load(open(sys.argv[1]))
d, ndrain = s["donors"], int(sys.argv[2])
drained = [x for x in d if x["state"] == "drained"]
holding = [x for x in d if x["slabs"]]
print(f"# {len(d)} donors, {len(drained)} drained, {len(holding)} hold "
      f"slabs, {s['slabs']} slabs, degraded {s['degraded_slabs']}")
assert len(drained) == ndrain
assert all(x["slabs"] == 0 for x in drained)
assert sum(x["slabs"] for x in d) == 2 * s["slabs"]
assert max(x["slabs"] for x in d) <= s["slabs"]
assert s["degraded_slabs"] == 0
assert len(holding) >= len(d) // 2, "data not spread"
PY
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
