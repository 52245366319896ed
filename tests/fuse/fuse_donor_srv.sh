#!/bin/bash
# Donors found through DNS SRV records (issue 15): a real dnsmasq on
# loopback (its own port) publishes _cnetmem._tcp.test; a mount with
# --donor-srv follows it while a verified workload runs: donors that
# appear are added, donors that vanish are drained, and nothing is lost.
# A DNS server that stops answering, or answers NXDOMAIN, drains nothing.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"

dns_pid=
work_pid=
cleanup() {
	local rc=$?
	set +e # cleanup goes on whatever fails (and the (exit) below fails)
	[ -n "$work_pid" ] && kill "$work_pid" 2>/dev/null
	dns_stop
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities
command -v dnsmasq >/dev/null || cnm_skip "no dnsmasq"

name=_cnetmem._tcp.test
# a free UDP port; dnsmasq binds TCP on it too, which another test may
# hold: before the mount, dns() picks again when it is taken
pick_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
dns_port=$(pick_port)
mounted=0

# dns DONOR...: (re)start dnsmasq publishing those donors; none: NXDOMAIN
dns() {
	local d a=()
	dns_stop
	for d in "$@"; do
		a+=("--srv-host=$name,127.0.0.1,$(cnm_donor_port "$d")")
	done
	local i try
	for ((try = 0; try < 5; try++)); do
		dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
			--no-hosts --local=/test/ --listen-address=127.0.0.1 \
			--bind-interfaces --port="$dns_port" --local-ttl=1 \
			"${a[@]}" >>"$CNM_TMP/dnsmasq.log" 2>&1 &
		dns_pid=$!
		# answering only once its port is bound: a query before that
		# is refused at once (the mount would find no donor)
		for ((i = 0; i < 100; i++)); do
			[ -n "$(ss -Hlun "sport = :$dns_port")" ] && break 2
			kill -0 "$dns_pid" 2>/dev/null || break
			sleep 0.1
		done
		[ "$i" -lt 100 ] || fail "dnsmasq did not bind port $dns_port in 10 s"
		wait "$dns_pid" 2>/dev/null || true
		dns_pid=
		[ "$mounted" = 0 ] && dns_port=$(pick_port)
		sleep 0.2
	done
	[ -n "$dns_pid" ] || fail "dnsmasq exited: $(cat "$CNM_TMP/dnsmasq.log")"
	cnm_log "dns: $name -> ${*:-NXDOMAIN}"
}
dns_stop() {
	if [ -n "$dns_pid" ]; then
		kill "$dns_pid" 2>/dev/null || true
		wait "$dns_pid" 2>/dev/null || true
		dns_pid=
	fi
}

for d in d1 d2 d3 d4; do cnm_start_donor "$d" --memory 96M; done
addr() { echo "127.0.0.1:$(cnm_donor_port "$1")"; }
mnt=$CNM_TMP/mnt
dns d1 d2
cnm_mount m "$mnt" --donor-srv "$name" --donor-srv-server "127.0.0.1:$dns_port" \
	--transport tcp --replicas 2 --slab-size 1M --size 256M
mounted=1

# state DONOR: its state in the mount's stats, newest slot ("": unknown)
state() {
	cnm_stat_json "$mnt" \
		"([d['state'] for d in s['donors'] if d['addr'] == '$(addr "$1")'] or [''])[-1]"
}
# wait_state DONOR STATE: up to 40 s
wait_state() {
	local i t0=$SECONDS
	for ((i = 0; i < 400; i++)); do
		[ "$(state "$1")" = "$2" ] && {
			cnm_log "donor $1: $2 after $((SECONDS - t0)) s"
			return 0
		}
		sleep 0.1
	done
	fail "donor $1 is '$(state "$1")', not '$2'"
}
{ [ "$(state d1)" = up ] && [ "$(state d2)" = up ]; } || fail "initial donors"

# the workload: 64 files of 1 MiB rewritten and verified until told to stop
python3 - "$mnt" "$CNM_TMP/stop" >"$CNM_TMP/work.log" 2>&1 <<'PY' &
import os, sys
mnt, stop = sys.argv[1], sys.argv[2]
gen = [0] * 64
def blk(i, g):
    return (f"{i}:{g}:".encode() * (1 << 20))[:1 << 20]
n = 0
while True:
    done = os.path.exists(stop)
    i = n % 64
    gen[i] += 1
    with open(f"{mnt}/w{i}", "wb") as f:
        f.write(blk(i, gen[i]))
    with open(f"{mnt}/w{i}", "rb") as f:
        assert f.read() == blk(i, gen[i]), f"w{i} gen {gen[i]}"
    n += 1
    if done and n >= 64:
        break
for i in range(64):
    with open(f"{mnt}/w{i}", "rb") as f:
        assert f.read() == blk(i, gen[i]), f"final w{i}"
print(f"ok {n} files written and verified")
PY
work_pid=$!

dns d1 d2 d3
wait_state d3 up
dns d2 d3 d4
wait_state d4 up
wait_state d1 drained
dns d3 d4
wait_state d2 drained
# DNS gone, then NXDOMAIN: both change nothing
dns_stop
sleep 12
{ [ "$(state d3)" = up ] && [ "$(state d4)" = up ]; } ||
	fail "drained without DNS"
dns
sleep 12
{ [ "$(state d3)" = up ] && [ "$(state d4)" = up ]; } ||
	fail "drained on NXDOMAIN"
dns d3 d4 d1
wait_state d1 up # back: a new slot, used again

touch "$CNM_TMP/stop"
wait "$work_pid" || { cat "$CNM_TMP/work.log" >&2; fail "workload"; }
work_pid=
sed 's/^/# /' "$CNM_TMP/work.log"
python3 - "$mnt/.cnetmem-stats" <<'PY' || fail "placement"
import json, sys
s = json.load(open(sys.argv[1]))
d = s["donors"]
print("# " + ", ".join(f"{x['addr']} {x['state']} {x['slabs']}" for x in d))
assert all(x["slabs"] == 0 for x in d if x["state"] == "drained")
assert sum(x["slabs"] for x in d) == 2 * s["slabs"]
assert s["degraded_slabs"] == 0
PY
grep -q "is gone from DNS: draining" "$(cnm_fs_log m)" || fail "no drain logged"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
for d in d1 d2 d3 d4; do cnm_fail_on_log_errors "$(cnm_donor_log "$d")"; done
