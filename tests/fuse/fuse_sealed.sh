#!/bin/bash
# Pages are sealed end to end (issue 13): real mounts, real donors on
# loopback, a hostile network (tests/lib/pageproxy.py) and a hostile donor
# host (tests/lib/procmem.py, through /proc/PID/mem). One case per run:
#
#   marker        a marker written to a file is nowhere in the donor's
#                 memory nor on the wire; the same with
#                 --insecure-plaintext-pages finds it (so the search works)
#   donor-flip-r2 a byte flipped in every page a donor holds: with two
#                 copies every read is right, the donor's integrity
#                 failures are counted
#   donor-flip-r1 the same with one copy: reads fail with EIO, no wrong byte
#   wire-flip-r2 / wire-flip-r1     a byte flipped in every READ reply
#   wire-swap-r2 / wire-swap-r1     another page's ciphertext in a reply
#   wire-replay-r2 / wire-replay-r1 writes dropped on the way, the donor
#                 hands back the old version of the pages
#   backup        one donor copy and the backup: the backup holds no
#                 marker and serves when the donor's copy is bad; both
#                 bad: EIO
#
# With two copies, the attacked donor is the direct (fast) one and the
# other sits behind a proxy that delays replies, so reads try the
# attacked copy first.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
trap 'proxies_stop; cnm_fs_all_cleanup' EXIT
cnm_fuse_facilities

case=${1:?usage: fuse_sealed.sh CASE}
mnt=$CNM_TMP/mnt
MARK=cnetmem-sealed-marker-$$-5e1f
PROXIES=()
LIB=$SOURCE_ROOT/tests/lib

# proxy_start NAME DONOR: a pageproxy in front of donor DONOR; its control
# directory is $CNM_TMP/NAME, its port in $CNM_TMP/NAME.port
proxy_start() {
	local name=$1 dport
	dport=$(cnm_donor_port "$2")
	mkdir -p "$CNM_TMP/$name"
	python3 "$LIB/pageproxy.py" "$dport" "$CNM_TMP/$name.port" \
		"$CNM_TMP/$name" 2>>"$CNM_TMP/$name.log" &
	echo $! >"$CNM_TMP/$name.pid"
	PROXIES+=("$name")
	cnm_wait_for_file "$CNM_TMP/$name.port" 10 "$(cat "$CNM_TMP/$name.pid")" ||
		fail "proxy $name did not start"
}
proxy_port() { cat "$CNM_TMP/$1.port"; }
proxies_stop() {
	local p pid
	for p in "${PROXIES[@]}"; do
		pid=$(cat "$CNM_TMP/$p.pid" 2>/dev/null || true)
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PROXIES=()
}
# captured bytes of proxy NAME with MARKER in them, both directions
capture_count() {
	cat "$CNM_TMP/$1"/cap-* 2>/dev/null | grep -c -a -F "$2" || true
}
# integrity failures the mount counted for donor address ADDR
failures() {
	cnm_stat_json "$mnt" \
		"[d['integrity_failures'] for d in s['donors'] if d['addr'] == '$1'][0]"
}
# a file of random bytes (MiB) on the mount, its copy in $CNM_TMP/NAME.ref
write_file() {
	head -c "$2M" /dev/urandom >"$CNM_TMP/$1.ref"
	dd if="$CNM_TMP/$1.ref" of="$mnt/$1" bs=1M conv=notrunc status=none
}
# reads NAME back: "ok" (all right), "eio" (EIO and every byte that came
# before it right); anything else fails the test
read_back() {
	local name=$1 rc=0
	dd if="$mnt/$name" of="$CNM_TMP/$name.back" bs=1M \
		status=none 2>"$CNM_TMP/$name.err" || rc=$?
	if [ "$rc" = 0 ]; then
		cmp -s "$CNM_TMP/$name.ref" "$CNM_TMP/$name.back" ||
			fail "$name: read back WRONG BYTES without an error"
		echo ok
		return
	fi
	grep -q "Input/output error" "$CNM_TMP/$name.err" ||
		fail "$name: $(cat "$CNM_TMP/$name.err")"
	cmp -s -n "$(stat -c %s "$CNM_TMP/$name.back")" \
		"$CNM_TMP/$name.ref" "$CNM_TMP/$name.back" ||
		fail "$name: wrong bytes before the EIO"
	echo eio
}
expect_read() { # expect_read NAME ok|eio
	local got
	got=$(read_back "$1")
	[ "$got" = "$2" ] || fail "$1: read gave '$got', expected '$2'"
	cnm_log "$1: read back: $got"
}
mount_on() { # mount_on NAME ARGS...
	local name=$1
	shift
	# --cache direct: every read must reach a donor, not the page cache
	cnm_mount "$name" "$mnt" --transport tcp --size 64M --slab-size 4M \
		--io-timeout-ms 3000 --cache direct "$@"
	[ "$(cnm_stat_json "$mnt" "s['encryption']")" != off ] ||
		[[ " $* " == *" --insecure-plaintext-pages "* ]] ||
		fail "pages are not sealed"
}
finish() { # finish NAME: unmount; errors the attacks explain are fine
	cnm_umount "$1"
	cnm_fail_on_log_errors "$(cnm_fs_log "$1")" \
		'integrity check|every copy failed|faulty|no copy left|write: Input/output'
}
# two copies: d1 direct or through proxy p1 (attacked), d2 behind a slow
# proxy p2; one copy: d1 only, through p1 when $1 = proxy
setup() { # setup R direct|proxy [MOUNT ARGS...]
	local r=$1 via=$2 a1
	shift 2
	cnm_start_donor d1 --memory 64M
	a1=127.0.0.1:$(cnm_donor_port d1)
	if [ "$via" = proxy ]; then
		proxy_start p1 d1
		a1=127.0.0.1:$(proxy_port p1)
	fi
	ADDR1=$a1
	if [ "$r" = 2 ]; then
		cnm_start_donor d2 --memory 64M
		proxy_start p2 d2
		: >"$CNM_TMP/p2/DELAY"
		mount_on m --donor "$a1" \
			--donor "127.0.0.1:$(proxy_port p2)" --replicas 2 "$@"
	else
		mount_on m --donor "$a1" --replicas 1 "$@"
	fi
}
expect_of() { [ "$1" = 2 ] && echo ok || echo eio; }

case $case in
marker)
	# control: plaintext pages, the marker is there to find
	cnm_start_donor d0 --memory 64M
	proxy_start p0 d0
	mount_on c --donor "127.0.0.1:$(proxy_port p0)" \
		--insecure-plaintext-pages
	grep -q "UNENCRYPTED" "$(cnm_fs_log c)" ||
		fail "--insecure-plaintext-pages was not logged loudly"
	head -c 1M < <(yes "$MARK") >"$mnt/secret"
	n=$(python3 "$LIB/procmem.py" count "$(cnm_donor_pid d0)" "$MARK")
	w=$(capture_count p0 "$MARK")
	cnm_log "plaintext control: marker $n times in donor memory, on $w captured lines"
	[ "$n" -gt 0 ] && [ "$w" -gt 0 ] || fail "the search finds nothing"
	cnm_umount c
	cnm_stop_donor d0
	# sealed (the default)
	setup 1 proxy
	head -c 1M < <(yes "$MARK") >"$CNM_TMP/secret.ref"
	cp "$CNM_TMP/secret.ref" "$mnt/secret"
	expect_read secret ok
	n=$(python3 "$LIB/procmem.py" count "$(cnm_donor_pid d1)" "$MARK")
	w=$(capture_count p1 "$MARK")
	cnm_log "sealed: marker $n times in donor memory, on $w captured lines"
	[ "$n" = 0 ] || fail "the marker is in the donor's memory"
	[ "$w" = 0 ] || fail "the marker went over the wire"
	finish m
	;;
donor-flip-r[12])
	r=${case#donor-flip-r}
	setup "$r" direct
	write_file a 8
	n=$(python3 "$LIB/procmem.py" flip "$(cnm_donor_pid d1)" 32)
	cnm_log "flipped a byte in $n pages of d1's memory"
	[ "$n" -gt 0 ] || fail "nothing to flip"
	expect_read a "$(expect_of "$r")"
	[ "$(failures "$ADDR1")" -gt 0 ] || fail "no integrity failure counted"
	# the operator's table shows them too (column badpage)
	"$CNM_CTL_BIN" stats "$mnt" >"$CNM_TMP/table"
	sed 's/^/# /' "$CNM_TMP/table"
	awk -v a="$ADDR1" '$1 == a && $9 > 0 { ok = 1 } END { exit !ok }' \
		"$CNM_TMP/table" || fail "cnetmemctl stats shows no bad page"
	finish m
	;;
wire-flip-r[12] | wire-swap-r[12])
	r=${case: -1}
	attack=FLIP
	[[ $case == wire-swap* ]] && attack=SWAP
	setup "$r" proxy
	write_file a 8
	: >"$CNM_TMP/p1/$attack"
	expect_read a "$(expect_of "$r")"
	rm "$CNM_TMP/p1/$attack"
	grep -q "${attack,,}" "$CNM_TMP/p1/attacks" || fail "no attack made"
	[ "$(failures "$ADDR1")" -gt 0 ] || fail "no integrity failure counted"
	finish m
	;;
wire-replay-r[12])
	r=${case: -1}
	setup "$r" proxy
	write_file a 8
	cp "$CNM_TMP/a.ref" "$CNM_TMP/a.v1"
	# the second version never reaches d1: it keeps the first
	: >"$CNM_TMP/p1/DROP"
	write_file a 8
	rm "$CNM_TMP/p1/DROP"
	grep -q "drop write" "$CNM_TMP/p1/attacks" || fail "no write dropped"
	expect_read a "$(expect_of "$r")"
	cmp -s "$CNM_TMP/a.back" "$CNM_TMP/a.v1" &&
		fail "read back the old version"
	[ "$(failures "$ADDR1")" -gt 0 ] || fail "no integrity failure counted"
	finish m
	;;
backup)
	setup 1 direct --backup "$CNM_TMP/backup.img"
	head -c 4M < <(yes "$MARK") >"$CNM_TMP/a.ref"
	cp "$CNM_TMP/a.ref" "$mnt/a"
	! grep -q -a -F "$MARK" "$CNM_TMP/backup.img" ||
		fail "the marker is in the backup file"
	python3 "$LIB/procmem.py" flip "$(cnm_donor_pid d1)" 32 >/dev/null
	expect_read a ok
	[ "$(failures "$ADDR1")" -gt 0 ] || fail "no integrity failure counted"
	# now the backup's copy goes bad too: a byte in each of its pages
	python3 - "$CNM_TMP/backup.img" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    data = f.read(64 << 20)
    for off in range(0, len(data), 4096):
        if data[off:off + 4096].strip(b'\0'):
            f.seek(off + 99)
            f.write(bytes([data[off + 99] ^ 1]))
PY
	expect_read a eio
	[ "$(cnm_stat_json "$mnt" "s['backup']['integrity_failures']")" -gt 0 ] ||
		fail "no backup integrity failure counted"
	finish m
	;;
*)
	echo "unknown case $case" >&2
	exit 2
	;;
esac
proxies_stop
cnm_log "ok: $case"
