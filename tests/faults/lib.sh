# shellcheck shell=bash
# Helpers of the faults suite: a test sources this file alone, which
# sources tests/lib/{common,fs,swap}.sh and sets faults_cleanup as the EXIT
# trap. It holds:
# donors each in their own network namespace with their own address on a
# veth pair to a bridge in the root namespace (where the mount runs), and
# the two verifying workloads (pagetouch through swap in a memory cgroup,
# fio with crc32c verify on working-set files), each looped until told to
# stop.
#
# Addresses come from 198.18.0.0/24 (the benchmarking range), on a bridge
# and namespaces this test makes and deletes: no traffic leaves the machine.

. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
trap faults_cleanup EXIT

FAULTS_ID=$(($$ % 100000))
FAULTS_BR=cnfb$FAULTS_ID
FAULTS_NS=()     # namespaces made, for cleanup
FAULTS_LINKS=()  # root-side veth ends made, for cleanup
FAULTS_LOOPS=()  # workload loop subshells
FAULTS_PORT=7700
FAULTS_MNT=${FAULTS_MNT:-} # set by the test

faults_facilities() {
	cnm_swap_facilities
	[ -x "$CNM_PAGETOUCH" ] || cnm_skip "no $CNM_PAGETOUCH"
	command -v ip >/dev/null || cnm_skip "no ip (iproute2)"
	command -v nsenter >/dev/null || cnm_skip "no nsenter"
	command -v fio >/dev/null || cnm_skip "no fio"
	[ -x "$CNM_CTL_BIN" ] || cnm_skip "cnetmemctl not built"
	ip netns add "cnf$FAULTS_ID-probe" 2>/dev/null ||
		cnm_skip "cannot make network namespaces"
	ip netns del "cnf$FAULTS_ID-probe"
	ip link add "$FAULTS_BR" type bridge 2>/dev/null ||
		cnm_skip "cannot make a bridge"
	ip addr add 198.18.0.1/24 dev "$FAULTS_BR"
	# the key tests/lib/common.sh made (nothing runs keyless)
	FAULTS_KEY=$CNM_KEY
	ip link set "$FAULTS_BR" up
}

faults_ns() { echo "cnf$FAULTS_ID-$1"; }
faults_veth() { echo "cnf${FAULTS_ID}v${1#d}"; }
# donor dN has address 198.18.0.(10+N)
faults_addr() { echo "198.18.0.$((10 + ${1#d})):$FAULTS_PORT"; }

# faults_net_add NAME: a namespace for donor NAME (d1, d2, ...) and its link.
faults_net_add() {
	local name=$1 ns veth
	ns=$(faults_ns "$name")
	veth=$(faults_veth "$name")
	ip netns add "$ns"
	FAULTS_NS+=("$ns")
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	FAULTS_LINKS+=("$veth")
	ip link set "$veth" master "$FAULTS_BR" up
	ip -n "$ns" addr add "$(faults_addr "$name" | cut -d: -f1)/24" dev eth0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
}

# faults_donor_start NAME [ARGS]: the donor in its namespace, on its address.
faults_donor_start() {
	local name=$1 pid
	shift
	rm -f "$CNM_TMP/$name.port"
	# nsenter, not "ip netns exec": that one makes a mount namespace too,
	# and a copy of the mount in it would outlive our unmount
	nsenter --net="/run/netns/$(faults_ns "$name")" -- \
		"$CNM_DONOR_BIN" --foreground \
		--listen "$(faults_addr "$name")" \
		--port-file "$CNM_TMP/$name.port" --memory 512M \
		--key-file "$FAULTS_KEY" --operator-key-file "$CNM_OPKEY" \
		--grace-period 5 "$@" >>"$CNM_TMP/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$CNM_TMP/$name.pid"
	echo "$name" >>"$CNM_TMP/.donors"
	if ! cnm_wait_for_file "$CNM_TMP/$name.port" 20 "$pid"; then
		cnm_log "donor $name did not start; its log:"
		sed 's/^/#   /' "$CNM_TMP/$name.log" >&2
		return 1
	fi
	cnm_log "donor $name: pid $pid, $(faults_addr "$name") in $(faults_ns "$name")"
}

# faults_stat EXPR: a Python expression over the stats JSON s.
faults_stat() {
	timeout 10 python3 -c 'import json,sys
s = json.load(open(sys.argv[1] + "/.cnetmem-stats"))
print(eval(sys.argv[2]))' "$FAULTS_MNT" "$1"
}

faults_donor_field() {
	faults_stat "[d['$2'] for d in s['donors'] if d['addr'] == '$(faults_addr "$1")'][0]"
}

# faults_wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every
# 0.1 s; fails past SECONDS (a bound meaning "hung", not a timing test).
faults_wait_until() {
	local t=$1 what=$2 end
	shift 2
	end=$((SECONDS + t))
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			cnm_log "FAIL: $what: not within $t s"
			return 1
		fi
		sleep 0.1
	done
}

faults_degraded() { faults_stat 's["degraded_slabs"]'; }
faults_is_degraded() { [ "$(faults_degraded)" -gt 0 ]; }
faults_fully_replicated() {
	[ "$(faults_degraded)" = 0 ] &&
		[ "$(faults_stat 's["slabs"] * s["replicas"] == sum(d["slabs"] for d in s["donors"])')" = True ]
}

# The swap workload: pagetouch in the memory cgroup, again and again
# (the loop shell stays outside the cgroup) until $CNM_TMP/stop exists.
faults_swap_workload_start() {
	local ws=$1
	(
		set +e
		i=0
		while [ ! -e "$CNM_TMP/stop" ]; do
			i=$((i + 1))
			cnm_cgroup_run "$CNM_PAGETOUCH" --size "${ws}M" \
				--threads 2 --seed "$i" --touches $((ws * 64)) \
				--phases seq_write,rand,verify \
				>>"$CNM_TMP/pagetouch.out" 2>&1
			rc=$?
			echo "pagetouch run $i: exit $rc" >>"$CNM_TMP/pagetouch.out"
			[ "$rc" = 0 ] || exit "$rc"
		done
	) &
	FAULTS_LOOPS+=($!)
	FAULTS_SWAP_LOOP=$!
}

# The working-set workload: fio writes and verifies (crc32c) two files of
# the mount, again and again until $CNM_TMP/stop exists.
faults_fio_workload_start() {
	(
		set +e
		i=0
		while [ ! -e "$CNM_TMP/stop" ]; do
			i=$((i + 1))
			fio --name=ws --directory="$FAULTS_MNT/ws" --size=32M \
				--numjobs=2 --rw=randwrite --bs=64k --direct=1 \
				--ioengine=psync --thread --verify=crc32c --do_verify=1 \
				--verify_fatal=1 --verify_state_save=0 --randseed="$i" \
				--output="$CNM_TMP/fio.$i.out" \
				>>"$CNM_TMP/fio.out" 2>&1 &
			echo $! >"$CNM_TMP/fio.pid"
			wait $!
			rc=$?
			echo "fio run $i: exit $rc" >>"$CNM_TMP/fio.out"
			[ "$rc" = 0 ] || {
				cat "$CNM_TMP/fio.$i.out" >>"$CNM_TMP/fio.out"
				exit "$rc"
			}
		done
	) &
	FAULTS_LOOPS+=($!)
	FAULTS_FIO_LOOP=$!
}

# Stops both loops after their current run and checks they found nothing
# wrong. Bounded: a run that does not end within $1 s is a hang.
faults_workloads_finish() {
	local t=$1 rc=0 pid
	touch "$CNM_TMP/stop"
	for pid in "$FAULTS_SWAP_LOOP" "$FAULTS_FIO_LOOP"; do
		if ! cnm_wait_pid "$pid" "$t"; then
			cnm_log "FAIL: a workload (pid $pid) hung"
			rc=1
			continue
		fi
		wait "$pid" || rc=$?
	done
	FAULTS_LOOPS=()
	sed 's/^/# /' "$CNM_TMP/pagetouch.out" >&2
	grep -h 'fio run' "$CNM_TMP/fio.out" | sed 's/^/# /' >&2
	if [ "$rc" != 0 ]; then
		cnm_log "FAIL: a workload found a bad page (exit $rc)"
		grep -E 'fio run|err=|error|verify|bad|crc' "$CNM_TMP/fio.out" |
			head -n 40 | sed 's/^/# /' >&2
		return 1
	fi
}

faults_cleanup() {
	local rc=$? pid i
	set +e
	for pid in "${FAULTS_LOOPS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	pid=$(cat "$CNM_TMP/fio.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	if [ -n "$CNM_CGROUP" ] && [ -d "$CNM_CGROUP" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null
		done <"$CNM_CGROUP/cgroup.procs"
	fi
	for pid in "${FAULTS_LOOPS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	(exit "$rc")
	cnm_fs_all_cleanup # swapoff, losetup -d, cgroup, unmount, donors
	rc=$?
	for i in "${FAULTS_NS[@]}"; do
		ip netns del "$i" 2>/dev/null
	done
	for i in "${FAULTS_LINKS[@]}"; do
		ip link del "$i" 2>/dev/null
	done
	ip link del "$FAULTS_BR" 2>/dev/null
	exit "$rc"
}
