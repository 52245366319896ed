#!/bin/bash
# The mount's own network goes away for longer than the client's 3 s grace,
# with donors in network namespaces. Usage: outage.sh CASE, CASE one of
#   all-links-cut    every donor's link is down for 12 s (R=2 over three
#                    donors) while nothing is read or written: the last
#                    copy of each slab is kept, not given up, so a file
#                    written before reads back whole once the links are up
#   io-waits         every donor's link is down until the mount has
#                    dropped every connection (io timeout 15 s); a read
#                    and a write started then wait for a donor instead of
#                    failing at once, and are right once the links are up
#   one-link-cut     one donor's link is down for 12 s (R=2 over three
#                    donors): its copies are rebuilt elsewhere, and the
#                    ones dropped meanwhile are freed there once it is back
#                    (its session survived), so nothing leaks on it
#   session-expired  one donor (R=1, grace period 1 s) sees its connection
#                    reset during a cut and drops our session: the
#                    client must tell, so pages it held read EIO and never
#                    the data of a file written after the links came back
set -euo pipefail
. "$SOURCE_ROOT/tests/faults/lib.sh"

case=${1:?usage: outage.sh all-links-cut|io-waits|one-link-cut|session-expired}
FAULTS_MNT=$CNM_TMP/mnt
faults_facilities

fail() {
	cnm_log "FAIL: $*"
	exit 1
}
links() { # links up|down DONOR...
	local state=$1 d
	shift
	for d in "$@"; do
		ip link set "$(faults_veth "$d")" "$state"
	done
}
all_up() {
	local d
	for d in "$@"; do
		[ "$(faults_donor_field "$d" state)" = up ] || return 1
	done
}
# a file of random bytes on the mount, and its reference copy
write_file() { # write_file NAME MIB
	head -c "$2M" /dev/urandom >"$CNM_TMP/$1.ref"
	timeout 60 dd if="$CNM_TMP/$1.ref" of="$FAULTS_MNT/$1" bs=1M \
		oflag=direct status=none
}

case $case in
all-links-cut)
	donors=(d1 d2 d3)
	cut=(d1 d2 d3)
	replicas=2
	;;
io-waits)
	donors=(d1 d2 d3)
	cut=(d1 d2 d3)
	replicas=2
	;;
one-link-cut)
	donors=(d1 d2 d3)
	cut=(d1)
	replicas=2
	;;
session-expired)
	donors=(d1)
	cut=(d1)
	replicas=1
	;;
*)
	echo "unknown case $case" >&2
	exit 2
	;;
esac
donor_args=()
for d in "${donors[@]}"; do
	faults_net_add "$d"
	faults_donor_start "$d" --grace-period 1
	donor_args+=(--donor "$(faults_addr "$d")")
done
io_ms=2000
[ "$case" != io-waits ] || io_ms=15000
cnm_mount m "$FAULTS_MNT" "${donor_args[@]}" --key-file "$FAULTS_KEY" \
	--transport tcp --replicas "$replicas" --slab-size 4M --size 256M \
	--io-timeout-ms "$io_ms" --ctl-timeout-ms 2000
write_file a 48
timeout 60 cmp "$CNM_TMP/a.ref" "$FAULTS_MNT/a" || fail "a: bad before the cut"
cnm_log "a: 48 MiB written on $(faults_stat 's["slabs"]') slabs"

# what donor d1 holds for us, against what we think it holds (MiB)
donor_used() {
	timeout 10 "$CNM_CTL_BIN" donor "$(faults_addr d1)" \
		--key-file "$FAULTS_KEY" |
		python3 -c 'import json,sys; d = json.load(sys.stdin); print((d["total_bytes"] - d["free_bytes"]) >> 20)'
}
we_use() { echo $(($(faults_donor_field d1 slabs) * 4)); }
no_leak() { [ "$(donor_used)" = "$(we_use)" ]; }
cnm_log "before the cut: d1 holds $(donor_used) MiB, we use $(we_use) MiB there"

links down "${cut[@]}"
if [ "$case" = io-waits ]; then
	# every connection reset (a QUERY past the io timeout): reads now
	# fail at submit, they no longer wait on a TCP connection
	none_connected() {
		local d
		for d in "${donors[@]}"; do
			case $(faults_donor_field "$d" state) in
			down | connecting) ;;
			*) return 1 ;;
			esac
		done
	}
	faults_wait_until 60 "the mount dropping every connection" \
		none_connected
	timeout 60 dd if="$FAULTS_MNT/a" of="$CNM_TMP/a.back" bs=1M \
		iflag=direct status=none 2>"$CNM_TMP/a.err" &
	reader=$!
	# rewrites the first 4 MiB of a, in slabs that exist
	head -c 4M /dev/urandom >"$CNM_TMP/w.ref"
	timeout 60 dd if="$CNM_TMP/w.ref" of="$FAULTS_MNT/a" bs=1M count=4 \
		conv=notrunc oflag=direct status=none 2>"$CNM_TMP/w.err" &
	writer=$!
	sleep 2
	kill -0 "$reader" 2>/dev/null ||
		fail "the read did not wait: $(cat "$CNM_TMP/a.err")"
	kill -0 "$writer" 2>/dev/null ||
		fail "the write did not wait: $(cat "$CNM_TMP/w.err")"
	links up "${cut[@]}"
	wait "$writer" || fail "the write failed: $(cat "$CNM_TMP/w.err")"
	wait "$reader" || fail "the read failed: $(cat "$CNM_TMP/a.err")"
	# the read ran alongside the write: its first 4 MiB may be either
	cmp -i 4M "$CNM_TMP/a.ref" "$CNM_TMP/a.back" ||
		fail "the read returned bad data"
	timeout 60 cmp -n 4M "$CNM_TMP/w.ref" "$FAULTS_MNT/a" ||
		fail "the write did not land"
	timeout 60 cmp -i 4M "$CNM_TMP/a.ref" "$FAULTS_MNT/a" ||
		fail "the write spilled over"
	cnm_log "a read and a write started during the outage waited and are right"
fi
if [ "$case" = session-expired ]; then
	# the donor sees its end reset, detaches, and its 1 s grace runs out
	nsenter --net="/run/netns/$(faults_ns d1)" -- \
		ss -K state established sport = :"$FAULTS_PORT" >/dev/null
fi
if [ "$case" != io-waits ]; then
	sleep 12 # well past the client's 3 s grace and two 2 s QUERY timeouts
	links up "${cut[@]}"
fi
faults_wait_until 60 "every donor back up" all_up "${donors[@]}"
cnm_log "links up again, every donor reconnected"

case $case in
io-waits)
	faults_wait_until 120 "full replication restored" \
		faults_fully_replicated
	;;
one-link-cut)
	faults_wait_until 120 "full replication restored" \
		faults_fully_replicated
	faults_wait_until 30 "d1 holding only the slabs we use there" no_leak ||
		fail "d1 holds $(donor_used) MiB, we use $(we_use) MiB there"
	timeout 60 cmp "$CNM_TMP/a.ref" "$FAULTS_MNT/a" ||
		fail "a: not read back whole after the cut"
	;;
all-links-cut)
	timeout 60 cmp "$CNM_TMP/a.ref" "$FAULTS_MNT/a" ||
		fail "a: not read back whole after the outage"
	faults_wait_until 120 "full replication restored" \
		faults_fully_replicated
	;;
session-expired)
	grep -q "session .*grace period over" "$CNM_TMP/d1.log" ||
		fail "the donor did not drop the session (test setup)"
	# new slabs on the donor's new session take the freed ids first
	write_file b 48
	timeout 60 cmp "$CNM_TMP/b.ref" "$FAULTS_MNT/b" || fail "b: bad"
	if timeout 60 dd if="$FAULTS_MNT/a" of="$CNM_TMP/a.back" bs=1M \
		iflag=direct status=none 2>"$CNM_TMP/a.err"; then
		cmp -s "$CNM_TMP/a.back" "$CNM_TMP/b.ref" &&
			fail "a reads back b's data: the old slab ids aliased new slabs"
		fail "a read back without error after its donor lost it"
	fi
	grep -q "Input/output error" "$CNM_TMP/a.err" ||
		fail "a: $(cat "$CNM_TMP/a.err")"
	cnm_log "a: EIO, as its only copy is gone; b intact"
	;;
esac

cnm_umount m
for d in "${donors[@]}"; do
	cnm_stop_donor "$d"
done
# errors the outage explains are allowed in the mount's log
cnm_fail_on_log_errors "$(cnm_fs_log m)" \
	"timed out|connection|reset|refused|unreachable|No route|down|lost|Input/output|read failed|every copy failed"
echo "ok: $case"
