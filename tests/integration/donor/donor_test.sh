#!/bin/bash
# Integration tests of cnetmem-donor against real donors on 127.0.0.1.
# Usage: donor_test.sh CASE [ARG]   (run by meson with env: test_env)
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

TC=$BUILD_ROOT/tests/integration/donor/cnm_testclient
CTL=$CNM_CTL_BIN

# tc NAME ARGS...: the test client against donor NAME (with $CNM_KEY
# unless ARGS choose a key or --insecure)
tc() {
	local name=$1 keys=()
	shift
	cnm_has_key_arg "$@" || keys=(--key-file "$CNM_KEY")
	"$TC" "127.0.0.1:$(cnm_donor_port "$name")" "${keys[@]}" "$@"
}

# qval NAME KEY [tc options]: one field of QUERY
qval() {
	local name=$1 key=$2
	shift 2
	tc "$name" "$@" query | sed -n "s/^$key=//p"
}

# expect_rc WANT CMD...: run CMD, fail unless it exits with WANT
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" || rc=$?
	if [ "$rc" != "$want" ]; then
		cnm_log "'$*' exited $rc, want $want"
		return 1
	fi
}

make_key() {
	cnm_make_key "$1"
}

finish() {
	local name
	for name in "$@"; do
		cnm_stop_donor "$name"
		cnm_fail_on_log_errors "$(cnm_donor_log "$name")"
	done
}

case_pipelined_io() {
	cnm_start_donor d --memory 64M
	tc d stress 4 3000
	[ "$(qval d bytes_written)" -gt 0 ]
	[ "$(qval d bytes_read)" -gt 0 ]
	finish d
}

# every attack against a single serving thread: nobody blocks it
case_attack() {
	cnm_start_donor d --memory 64M --threads 1
	tc d --log "$(cnm_donor_log d)" attack "$1"
	finish d
}

case_silent_client_is_dropped() {
	cnm_start_donor d --handshake-timeout 1
	tc d --log "$(cnm_donor_log d)" attack silent
	finish d
}

case_right_key_works() {
	make_key "$CNM_TMP/key"
	cnm_start_donor d --key-file "$CNM_TMP/key"
	tc d --key-file "$CNM_TMP/key" stress 1 200
	# CAP_AUTH (1) is set
	[ $(($(qval d caps --key-file "$CNM_TMP/key") & 1)) = 1 ]
	finish d
}

case_wrong_key_refused() {
	make_key "$CNM_TMP/key"
	make_key "$CNM_TMP/other"
	cnm_start_donor d --key-file "$CNM_TMP/key"
	local out
	out=$(tc d --key-file "$CNM_TMP/other" hello) && exit 1
	# the donor proves its key first, so the client is the one to refuse
	grep -q 'donor failed to prove the key' <<<"$out"
	cnm_wait_for_log "$(cnm_donor_log d)" 'closed during the handshake'
	# a client whose proof is wrong is refused by the donor
	tc d --key-file "$CNM_TMP/key" --log "$(cnm_donor_log d)" \
		attack wrong-proof
	finish d
}

case_client_without_key_refused() {
	make_key "$CNM_TMP/key"
	cnm_start_donor d --key-file "$CNM_TMP/key"
	expect_rc 2 tc d --insecure hello
	grep -q 'no key, or an identity we do not know' "$(cnm_donor_log d)"
	finish d
}

case_donor_without_key_refused_by_client() {
	make_key "$CNM_TMP/key"
	cnm_start_donor d --insecure
	local out
	out=$(tc d --key-file "$CNM_TMP/key" hello) && exit 1
	grep -q 'refused identity' <<<"$out"
	finish d
}

case_key_file_mode_0644_refused() {
	make_key "$CNM_TMP/key"
	chmod 644 "$CNM_TMP/key"
	local rc=0
	"$CNM_DONOR_BIN" --foreground --listen 127.0.0.1:0 --memory 8M \
		--key-file "$CNM_TMP/key" 2>"$CNM_TMP/out" || rc=$?
	[ "$rc" != 0 ]
	grep -q 'readable by group or others' "$CNM_TMP/out"
	grep -q 'chmod 600' "$CNM_TMP/out"
}

case_memory_over_host_available_refused() {
	local rc=0
	printf 'MemAvailable: 100000 kB\n' >"$CNM_TMP/meminfo"
	"$CNM_DONOR_BIN" --foreground --listen 127.0.0.1:0 --memory 256M \
		--key-file "$CNM_KEY" --meminfo-file "$CNM_TMP/meminfo" \
		2>"$CNM_TMP/out" || rc=$?
	[ "$rc" != 0 ]
	grep -q 'memory: 256M asked for, but the host has only' "$CNM_TMP/out"
}

case_config_file_sets_every_flag() {
	local conf=$CNM_TMP/donor.conf rc=0
	cat >"$conf" <<EOF
listen = "127.0.0.1:0";
memory = "8M";
grace-period = 7;
max-clients = 3;
log-level = "debug";
cpu-latency = 4;
EOF
	# the command line wins over the file (memory; the helper's own
	# --grace-period 2), the file over the defaults (log-level)
	cnm_start_donor d --config "$conf" --memory 16M
	grep -q 'serving 16M of memory on 127.0.0.1:.*grace period 2s' \
		"$(cnm_donor_log d)"
	tc d hello
	cnm_wait_for_log "$(cnm_donor_log d)" \
		'debug: client 127.0.0.1:[0-9]+: authenticated'
	# the PM QoS limit is held (other holders may ask for less)
	[ "$(od -An -t d4 /dev/cpu_dma_latency | tr -d ' ')" -le 4 ]
	finish d
	# a bad value names the file and line
	printf 'listen = "127.0.0.1:0";\nmemory = "12Q";\n' >"$conf"
	"$CNM_DONOR_BIN" --config "$conf" --foreground 2>"$CNM_TMP/out" ||
		rc=$?
	[ "$rc" != 0 ]
	grep -q "$conf:2: memory: '12Q' is not a size" "$CNM_TMP/out"
}

case_no_key_needs_insecure_even_on_loopback() {
	local rc=0
	"$CNM_DONOR_BIN" --foreground --listen 127.0.0.1:0 --memory 8M \
		2>"$CNM_TMP/out" || rc=$?
	[ "$rc" != 0 ]
	grep -q 'no key: give --key-file' "$CNM_TMP/out"
	# --insecure serves, and says so loudly; only a keyless client gets in
	cnm_start_donor d --insecure
	grep -q 'INSECURE' "$(cnm_donor_log d)"
	tc d --insecure hello
	expect_rc 2 tc d hello
	finish d
}

case_restart_loses_data_cleanly() {
	local sess=00112233445566778899aabbccddeeff port slab
	cnm_start_donor d --grace-period 60
	port=$(cnm_donor_port d)
	slab=$(tc d --session-file "$CNM_TMP/sess.$sess" fill 5 1)
	tc d --session-file "$CNM_TMP/sess.$sess" verify 5 "$slab"
	# a connected client sees a clean reset when the donor goes away
	tc d --session-file "$CNM_TMP/sess.$sess" watch 9 >"$CNM_TMP/watch" &
	local wpid=$!
	cnm_wait_for_file "$CNM_TMP/watch" 10 "$wpid"
	# a second connection of the same session sees the same slab
	tc d --session-file "$CNM_TMP/sess.$sess" verify 9 "$(sed -n 's/^ready //p' "$CNM_TMP/watch")"
	cnm_stop_donor d
	wait "$wpid"
	grep -q 'connection ended' "$CNM_TMP/watch"
	cnm_fail_on_log_errors "$(cnm_donor_log d)"
	# same port, same session: the slab is gone, and the client is told
	cnm_start_donor d2 --listen "127.0.0.1:$port" --grace-period 60
	expect_rc 4 "$TC" "127.0.0.1:$port" --key-file "$CNM_KEY" --session-file "$CNM_TMP/sess.$sess" verify 5 "$slab"
	# a new slab reads back as zeros
	slab=$("$TC" "127.0.0.1:$port" --key-file "$CNM_KEY" --session-file "$CNM_TMP/sess.$sess" alloc 1)
	"$TC" "127.0.0.1:$port" --key-file "$CNM_KEY" --session-file "$CNM_TMP/sess.$sess" verify 0 "$slab"
	finish d2
}

case_grace_period_keeps_then_frees() {
	local sess=0f0e0d0c0b0a09080706050403020100 slabs total i
	cnm_start_donor d --memory 16M --grace-period 3
	total=$(qval d total_bytes)
	slabs=$(tc d --session-file "$CNM_TMP/sess.$sess" fill 11 3 | tr '\n' ' ')
	# reconnecting with the same session keeps the data
	# shellcheck disable=SC2086
	tc d --session-file "$CNM_TMP/sess.$sess" verify 11 $slabs
	[ "$(qval d session_slabs --session-file "$CNM_TMP/sess.$sess")" = 3 ]
	[ "$(qval d free_bytes)" = $((total - 3 * 1048576)) ]
	# after the grace period the slabs are free again
	for ((i = 0; i < 200; i++)); do
		[ "$(qval d free_bytes)" = "$total" ] && break
		sleep 0.1
	done
	[ "$(qval d free_bytes)" = "$total" ]
	# shellcheck disable=SC2086
	expect_rc 4 tc d --session-file "$CNM_TMP/sess.$sess" verify 11 $slabs
	# and whoever gets that memory next sees zeros
	sess=11111111111111111111111111111111
	slabs=$(tc d --session-file "$CNM_TMP/sess.$sess" alloc 16 | tr '\n' ' ')
	# shellcheck disable=SC2086
	tc d --session-file "$CNM_TMP/sess.$sess" verify 0 $slabs
	finish d
}

case_reclaim_asks_client_to_give_back() {
	cnm_start_donor d --memory 16M
	tc d expect-evict >"$CNM_TMP/ev" &
	local epid=$!
	cnm_wait_for_file "$CNM_TMP/ev" 10 "$epid"
	[ "$(qval d free_bytes)" = $((15 * 1048576)) ]
	"$CTL" donor-reclaim "127.0.0.1:$(cnm_donor_port d)" 1M \
		--key-file "$CNM_OPKEY"
	wait "$epid"
	grep -q '^evicted' "$CNM_TMP/ev"
	[ "$(qval d free_bytes)" = $((16 * 1048576)) ]
	[ "$(qval d evicting)" = 0 ]
	finish d
}

case_reclaim_keeps_slabs_not_handed_back() {
	local sess=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa slab
	cnm_start_donor d --memory 16M --evict-wait 1 --grace-period 30
	slab=$(tc d --session-file "$CNM_TMP/sess.$sess" fill 3 1)
	"$CTL" donor-reclaim "127.0.0.1:$(cnm_donor_port d)" 1M \
		--key-file "$CNM_OPKEY"
	cnm_wait_for_log "$(cnm_donor_log d)" \
		'not handed back by its deadline; keeping it'
	tc d --session-file "$CNM_TMP/sess.$sess" verify 3 "$slab"
	# a client coming back is told again
	tc d --session-file "$CNM_TMP/sess.$sess" await-evict "$slab"
	finish d
}

case_watermarks_refuse_then_offer_again() {
	local mi=$CNM_TMP/meminfo i
	set_avail() {
		printf 'MemTotal: 8000000 kB\nMemAvailable: %s kB\n' "$1" \
			>"$mi.tmp"
		mv "$mi.tmp" "$mi"
	}
	set_avail 4000000
	cnm_start_donor d --memory 16M --meminfo-file "$mi" \
		--low-watermark 1G --high-watermark 2G
	tc d expect-evict >"$CNM_TMP/ev" &
	local epid=$!
	cnm_wait_for_file "$CNM_TMP/ev" 10 "$epid"
	# the host runs short: the client is asked for its slab back ...
	set_avail 500000
	wait "$epid"
	grep -q '^evicted' "$CNM_TMP/ev"
	[ "$(qval d host_avail_bytes)" = $((500000 * 1024)) ]
	# ... and nobody gets a new one
	expect_rc 5 tc d alloc 1
	[ "$(qval d free_slabs)" = 0 ]
	grep -q 'below the low watermark' "$(cnm_donor_log d)"
	# plenty again: slabs are offered again
	set_avail 3000000
	for ((i = 0; i < 100; i++)); do
		tc d alloc 1 >/dev/null 2>&1 && break
		sleep 0.1
	done
	tc d alloc 1 >/dev/null
	grep -q 'above the high watermark' "$(cnm_donor_log d)"
	finish d
}

case_max_clients_refuses_the_next() {
	cnm_start_donor d --max-clients 1
	tc d watch 3 >"$CNM_TMP/watch" &
	local wpid=$! out
	cnm_wait_for_file "$CNM_TMP/watch" 10 "$wpid"
	out=$(tc d hello) && exit 1
	grep -qi 'too many users' <<<"$out"
	grep -q 'session refused: too many clients' "$(cnm_donor_log d)"
	cnm_stop_donor d
	wait "$wpid"
	cnm_fail_on_log_errors "$(cnm_donor_log d)"
}

case_ctl_donor_prints_json() {
	make_key "$CNM_TMP/key"
	cnm_start_donor d --memory 32M --key-file "$CNM_TMP/key" \
		--grace-period 60
	local addr
	addr=127.0.0.1:$(cnm_donor_port d)
	tc d --key-file "$CNM_TMP/key" fill 1 2 >/dev/null
	"$CTL" donor "$addr" --key-file "$CNM_TMP/key" >"$CNM_TMP/json"
	python3 - "$CNM_TMP/json" "$addr" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["address"] == sys.argv[2], d
assert d["total_bytes"] == 32 << 20, d
assert d["free_bytes"] == 30 << 20, d
assert d["total_slabs"] == 32 and d["free_slabs"] == 30, d
assert d["version"] == 2 and "auth" in d["caps"], d
assert d["bytes_written"] == 2 << 20, d
assert d["host_available_bytes"] > 0, d
for k in ("slab_size", "clients", "host_trend_bytes_per_s", "bytes_read",
          "uptime_ms", "evicting"):
    assert k in d, k
EOF
	# without the key the command fails with a clear message
	if "$CTL" donor "$addr" >"$CNM_TMP/out" 2>&1; then exit 1; fi
	grep -q 'key' "$CNM_TMP/out"
	finish d
}

# attack 2: after the donor restarts, whoever takes its port first (here an
# unprivileged user) must not become the donor for key holders
case_fake_donor_on_restarted_port_refused() {
	local port as=() out
	cnm_start_donor d
	port=$(cnm_donor_port d)
	tc d hello
	cnm_stop_donor d
	if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
		as=(setpriv --reuid 65534 --regid 65534 --clear-groups)
		chmod 755 "$CNM_TMP"
	fi
	# a keyless fake (it needs --insecure even on loopback) ...
	(exec "${as[@]}" "$CNM_DONOR_BIN" --foreground \
		--listen "127.0.0.1:$port" --memory 4M --insecure) \
		>"$CNM_TMP/fake.log" 2>&1 &
	echo "$!" >"$CNM_TMP/fake.pid"
	echo fake >>"$CNM_TMP/.donors"
	cnm_wait_for_log "$CNM_TMP/fake.log" 'serving'
	out=$("$TC" "127.0.0.1:$port" --key-file "$CNM_KEY" hello) && exit 1
	grep -q 'refused' <<<"$out"
	cnm_stop_donor fake
	# ... and one with a key of its own
	cnm_make_key "$CNM_TMP/fake.key"
	[ ${#as[@]} = 0 ] || chown 65534 "$CNM_TMP/fake.key"
	: >"$CNM_TMP/fake.log" # the wait below must not see the first fake
	(exec "${as[@]}" "$CNM_DONOR_BIN" --foreground \
		--listen "127.0.0.1:$port" --memory 4M \
		--key-file "$CNM_TMP/fake.key") >"$CNM_TMP/fake.log" 2>&1 &
	echo "$!" >"$CNM_TMP/fake.pid"
	cnm_wait_for_log "$CNM_TMP/fake.log" 'serving'
	out=$("$TC" "127.0.0.1:$port" --key-file "$CNM_KEY" hello) && exit 1
	grep -q 'donor failed to prove the key' <<<"$out"
	cnm_stop_donor fake
}

# attack 3: a session id seen on the wire opens nothing
case_sniffed_session_id_opens_nothing() {
	local sf=$CNM_TMP/victim.sess sess slab log web
	cnm_make_key "$CNM_TMP/web.key"
	cnm_make_key "$CNM_TMP/db.key"
	cnm_start_donor d --client "web:$CNM_TMP/web.key" \
		--client "db:$CNM_TMP/db.key" --operator-key-file "$CNM_OPKEY"
	log=$(cnm_donor_log d)
	web=(--key-file "$CNM_TMP/web.key" --key-name web)
	slab=$(tc d "${web[@]}" --session-file "$sf" fill 7 1)
	sess=$(cut -d' ' -f1 "$sf") # what a sniffer sees
	# another identity's key holder, claiming a secret it does not have
	expect_rc 2 tc d --key-file "$CNM_TMP/db.key" --key-name db \
		--session "$sess" --forge-resume hello
	grep -q 'session belongs to identity web, not db' "$log"
	# the same identity's key, from another process: no secret
	expect_rc 2 tc d "${web[@]}" --session "$sess" --forge-resume hello
	grep -q "no proof of the session's secret" "$log"
	# a peer without any key gets nowhere near the session
	expect_rc 2 tc d --insecure --session "$sess" hello
	# the victim's data is intact, and its EVICTs still reach it
	tc d "${web[@]}" --session-file "$sf" verify 7 "$slab"
	tc d "${web[@]}" --session-file "$sf" free "$slab"
	tc d "${web[@]}" --session-file "$sf" expect-evict >"$CNM_TMP/ev" &
	local epid=$!
	cnm_wait_for_file "$CNM_TMP/ev" 10 "$epid"
	expect_rc 2 tc d --insecure --session "$sess" hello
	expect_rc 2 tc d --key-file "$CNM_TMP/db.key" --key-name db \
		--session "$sess" --forge-resume hello
	"$CTL" donor-reclaim "127.0.0.1:$(cnm_donor_port d)" 64M \
		--key-file "$CNM_OPKEY"
	wait "$epid"
	grep -q '^evicted' "$CNM_TMP/ev"
	finish d
}

# attack 4a: one byte a second keeps no connection past the deadline
case_slowloris_dropped_at_the_absolute_deadline() {
	cnm_start_donor d --handshake-timeout 2
	tc d loris 4
	grep -Eq 'truncated header \(timed out\)|no hello within' \
		"$(cnm_donor_log d)"
	tc d hello
	finish d
}

# attack 4b: slow connections and a flood of them never keep a real
# client out
case_slow_connections_never_lock_out_clients() {
	cnm_start_donor d --max-startups 4 --max-clients 2 \
		--handshake-timeout 10
	tc d slow 24 4
	grep -q 'still authenticating (max-startups)' "$(cnm_donor_log d)"
	finish d
}

# issue 15: a fixed pool of threads serves any number of connections;
# 1,000 at once, each verified, and not one thread more than with none
case_thousand_connections_served_by_a_fixed_pool_of_threads() {
	local out pool=2
	cnm_start_donor d --threads $pool --transport tcp
	out=$(tc d many 1000 "$(cnm_donor_pid d)")
	cnm_log "$out"
	# main, housekeeping and the pool
	grep -qx "connections=1000 threads_before=$((pool + 2)) \
threads_open=$((pool + 2)) threads_after=$((pool + 2))" <<<"$out"
	finish d
}

# issue 15: a donor out of file descriptors does not spin on its listener
# (the queued connections keep it readable) and serves again once
# clients leave. --max-clients above the limit, so that the descriptors
# run out before the donor's own count refuses anyone.
case_out_of_descriptors_neither_spins_nor_stops_serving() {
	local pid out served pct spin
	cnm_start_donor d --threads 1 --transport tcp --max-clients 1000
	pid=$(cnm_donor_pid d)
	prlimit --pid "$pid" --nofile=40:40
	out=$(tc d fd-full "$pid" 3)
	cnm_log "$out"
	served=$(sed -n 's/^served=\([0-9]*\) .*/\1/p' <<<"$out")
	pct=$(sed -n 's/.* cpu_pct=\([0-9]*\) .*/\1/p' <<<"$out")
	spin=$(sed -n 's/.* spinner_pct=\([0-9]*\)$/\1/p' <<<"$out")
	# the limit, not --max-clients, stopped it
	[ "$served" -gt 10 ] && [ "$served" -lt 40 ]
	# a spinning loop burns a CPU (100 % of wall time), or on a loaded
	# machine about what the spinning process next to it gets
	[ "$pct" -lt 50 ] && [ $((pct * 2)) -lt "$spin" ]
	grep -q 'donor: accept: Too many open files with' "$(cnm_donor_log d)"
	grep -q 'donor: accepting again after' "$(cnm_donor_log d)"
	finish d
}

# attack 5: RECLAIM is the operator's
case_reclaim_needs_the_operator_key() {
	local addr out
	cnm_start_donor d --memory 16M
	addr=127.0.0.1:$(cnm_donor_port d)
	tc d expect-evict >"$CNM_TMP/ev" &
	local epid=$!
	cnm_wait_for_file "$CNM_TMP/ev" 10 "$epid"
	out=$("$CTL" donor-reclaim "$addr" 1M --key-file "$CNM_KEY" \
		--key-name default 2>&1) && exit 1
	grep -q "needs the operator's key" <<<"$out"
	grep -q 'reclaim refused: identity default is not the operator' \
		"$(cnm_donor_log d)"
	[ "$(qval d evicting)" = 0 ]
	"$CTL" donor-reclaim "$addr" 1M --key-file "$CNM_OPKEY"
	wait "$epid"
	grep -q '^evicted' "$CNM_TMP/ev"
	finish d
}

# attack 5: one client cannot take every slab
case_client_over_quota_refused_while_another_allocates() {
	local log
	cnm_make_key "$CNM_TMP/a.key"
	cnm_make_key "$CNM_TMP/b.key"
	cnm_start_donor d --memory 16M --client "a:$CNM_TMP/a.key:2M" \
		--client "b:$CNM_TMP/b.key" --grace-period 60
	log=$(cnm_donor_log d)
	tc d --key-file "$CNM_TMP/a.key" --key-name a --session-file \
		"$CNM_TMP/a1" fill 1 2 >/dev/null
	# the quota holds across the identity's sessions
	expect_rc 5 tc d --key-file "$CNM_TMP/a.key" --key-name a alloc 1
	grep -q 'identity a is at its quota of 2097152 bytes' "$log"
	tc d --key-file "$CNM_TMP/b.key" --key-name b alloc 8 >/dev/null
	finish d
}

# bg_donor NAME ARGS...: cnetmem-donor in the background (no --foreground),
# its stderr in NAME.log; registers the daemon's pid for the cleanup
bg_donor() {
	local name=$1 rc=0 pid
	shift
	"$CNM_DONOR_BIN" --listen 127.0.0.1:0 --port-file "$CNM_TMP/$name.port" \
		--key-file "$CNM_KEY" "$@" 2>>"$CNM_TMP/$name.log" || rc=$?
	echo "$name" >>"$CNM_TMP/.donors"
	pid=$(pgrep -f -- "--port-file $CNM_TMP/$name.port" || true)
	echo "$pid" >"$CNM_TMP/$name.pid"
	return "$rc"
}

case_background_start_fails_with_message_and_status_when_memory_is_short() {
	local rc=0
	printf 'MemAvailable: 100000 kB\n' >"$CNM_TMP/meminfo"
	bg_donor d --memory 256M --meminfo-file "$CNM_TMP/meminfo" || rc=$?
	[ "$rc" = 1 ] || { cnm_log "exit status $rc, want 1"; exit 1; }
	grep -q 'memory: 256M asked for, but the host has only' \
		"$(cnm_donor_log d)"
	[ -z "$(cnm_donor_pid d)" ] || { cnm_log "a process was left"; exit 1; }
}

case_background_start_fails_with_message_and_status_when_port_is_taken() {
	local rc=0
	cnm_start_donor d1
	"$CNM_DONOR_BIN" --listen "127.0.0.1:$(cnm_donor_port d1)" \
		--memory 16M --key-file "$CNM_KEY" 2>"$CNM_TMP/out" || rc=$?
	[ "$rc" = 1 ] || { cnm_log "exit status $rc, want 1"; exit 1; }
	grep -q 'Address already in use' "$CNM_TMP/out"
	finish d1
}

case_background_start_returns_once_serving_and_keeps_logging() {
	local pid i
	bg_donor d --memory 16M
	pid=$(cnm_donor_pid d)
	# the parent returned only once the child served: no waiting here
	[ -n "$pid" ] && kill -0 "$pid"
	[ -s "$CNM_TMP/d.port" ]
	tc d hello
	kill -TERM "$pid"
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	! kill -0 "$pid" 2>/dev/null
	: >"$CNM_TMP/d.pid"
	# without /dev/log the logs of the daemon stay on its stderr
	if [ ! -S /dev/log ]; then
		grep -q 'notice: donor: signal 15, shutting down' \
			"$(cnm_donor_log d)"
	fi
	cnm_fail_on_log_errors "$(cnm_donor_log d)"
}

case_journal_stream_gets_syslog_priority_prefixes() {
	local out=$CNM_TMP/journal rc=0
	: >"$out"
	printf 'MemAvailable: 100000 kB\n' >"$CNM_TMP/meminfo"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$out") "$CNM_DONOR_BIN" \
		--foreground --listen 127.0.0.1:0 --memory 256M \
		--key-file "$CNM_KEY" \
		--meminfo-file "$CNM_TMP/meminfo" 2>>"$out" || rc=$?
	[ "$rc" = 1 ]
	grep -q '^<3>error: donor: memory: 256M asked for' "$out"
	# a stderr that is not the journal's stream gets no prefix
	JOURNAL_STREAM=1:1 "$CNM_DONOR_BIN" --foreground \
		--listen 127.0.0.1:0 --memory 256M --key-file "$CNM_KEY" \
		--meminfo-file "$CNM_TMP/meminfo" 2>"$CNM_TMP/plain" || true
	grep -q '^error: donor: memory' "$CNM_TMP/plain"
}

case_sd_notify_ready_status_and_stopping() {
	local sock=$CNM_TMP/notify msgs=$CNM_TMP/notify.msgs lpid
	python3 "$SOURCE_ROOT/tests/lib/notify_socket.py" "$sock" "$msgs" &
	lpid=$!
	echo notify >>"$CNM_TMP/.donors"
	echo "$lpid" >"$CNM_TMP/notify.pid"
	cnm_wait_for_file "$msgs" 10 "$lpid"
	NOTIFY_SOCKET=$sock cnm_start_donor d --memory 16M
	cnm_wait_for_log "$msgs" '^READY=1 \| STATUS=serving 16M on 127.0.0.1:'
	grep -q '^STATUS=reserving memory: 16M' "$msgs"
	cnm_stop_donor d
	cnm_wait_for_log "$msgs" '^STOPPING=1'
	kill -TERM "$lpid"
	wait "$lpid" || true
	: >"$CNM_TMP/notify.pid"
	cnm_fail_on_log_errors "$(cnm_donor_log d)"
}

case_version_and_every_help_work() {
	local v sub
	v=$(sed -n "s/^[[:space:]]*version : '\(.*\)',/\1/p" \
		"$SOURCE_ROOT/meson.build")
	[ "$("$CNM_DONOR_BIN" --version)" = "cnetmem-donor $v" ]
	[ "$("$BUILD_ROOT/fs/cnetmem" --version)" = "cnetmem $v" ]
	[ "$("$CTL" --version)" = "cnetmemctl $v" ]
	"$CNM_DONOR_BIN" --help | grep -q -- '--log-level'
	"$BUILD_ROOT/fs/cnetmem" --help | grep -q -- '--log-level'
	for sub in $("$CTL" --help | sed -n 's/^  \([a-z-]*\).*/\1/p'); do
		"$CTL" "$sub" --help | grep -q "^usage: cnetmemctl $sub" || {
			cnm_log "cnetmemctl $sub --help failed"
			exit 1
		}
	done
}

case_metrics_endpoint_counts_what_clients_did() {
	local mport
	command -v promtool >/dev/null || cnm_skip "no promtool (prometheus)"
	cnm_start_donor d --memory 32M --metrics-listen 127.0.0.1:0
	mport=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/.*|\1|p' \
		"$(cnm_donor_log d)")
	[ -n "$mport" ] || { cnm_log "no metrics port logged"; exit 1; }
	tc d fill 1 2 >/dev/null
	curl -sf "http://127.0.0.1:$mport/metrics" >"$CNM_TMP/m.prom"
	promtool check metrics <"$CNM_TMP/m.prom"
	grep -q '^cnetmem_donor_memory_bytes 33554432$' "$CNM_TMP/m.prom"
	grep -q '^cnetmem_donor_written_bytes_total 2097152$' "$CNM_TMP/m.prom"
	grep -q '^cnetmem_donor_slab_allocations_total [1-9]' "$CNM_TMP/m.prom"
	grep -q '^cnetmem_donor_requests_total{op="write"} [1-9]' \
		"$CNM_TMP/m.prom"
	grep -q '^cnetmem_donor_request_duration_seconds_count [1-9]' \
		"$CNM_TMP/m.prom"
	# anything but GET /metrics is refused
	[ "$(curl -s -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$mport/")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
		"http://127.0.0.1:$mport/metrics")" = 405 ]
	finish d
}

case_metrics_listen_taken_fails_the_start() {
	local rc=0
	cnm_start_donor d1
	"$CNM_DONOR_BIN" --foreground --listen 127.0.0.1:0 --memory 16M \
		--key-file "$CNM_KEY" --metrics-listen "127.0.0.1:$(cnm_donor_port d1)" \
		2>"$CNM_TMP/out" || rc=$?
	[ "$rc" = 1 ]
	grep -q 'metrics-listen 127.0.0.1:[0-9]*: cannot serve' "$CNM_TMP/out"
	finish d1
}

case=$1
shift
"case_$case" "$@"
echo "ok: $case"
