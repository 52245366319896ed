#!/bin/bash
# Swapped pages are sealed (issue 13): a workload in a memory cgroup puts a
# marker in every page of its working set, which goes out to swap on a
# cnetmem file whose donor sits behind a recording proxy
# (tests/lib/pageproxy.py). The pages come back intact, and the marker is
# nowhere in the donor's memory (tests/lib/procmem.py) nor in the capture.
# A first run with --insecure-plaintext-pages must find it in both, or the
# search proves nothing.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
trap 'proxy_stop; cnm_fs_all_cleanup' EXIT

# small: every page crosses a Python proxy, twice (plaintext, then sealed)
ws_mib=${CNM_SWAP_WS_MIB:-96}
limit=$((ws_mib * 1024 * 1024 / 4))
cnm_swap_facilities
[ -x "$CNM_PAGETOUCH" ] || cnm_skip "no $CNM_PAGETOUCH"
LIB=$SOURCE_ROOT/tests/lib
MARK=cnetmem-swap-marker-$$-c0de
mnt=$CNM_TMP/mnt
PROXY_PID=

proxy_stop() {
	[ -n "$PROXY_PID" ] || return 0
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
}

# one_run NAME [MOUNT ARGS...]: donor NAME behind a proxy, swap, workload;
# sets N (marker in the donor's memory) and W (captured lines with it).
# Not in a subshell: the EXIT trap must see what it set up.
one_run() {
	local name=$1 dir=$CNM_TMP/proxy-$1 out0
	shift
	mkdir -p "$dir"
	cnm_start_donor "$name" --memory 512M
	python3 "$LIB/pageproxy.py" "$(cnm_donor_port "$name")" \
		"$dir.port" "$dir" 2>>"$dir.log" &
	PROXY_PID=$!
	cnm_wait_for_file "$dir.port" 10 "$PROXY_PID" ||
		fail "proxy did not start"
	cnm_mount "$name-m" "$mnt" --donor "127.0.0.1:$(cat "$dir.port")" \
		--transport tcp --size 512M --slab-size 16M "$@"
	cnm_swap_on "$mnt/swap0" 256M 100
	cnm_cgroup_make "cnm-test-$$" "$limit"
	out0=$(cnm_vmstat pswpout)
	cnm_cgroup_start "$CNM_TMP/$name.out" "$CNM_PAGETOUCH" \
		--size "${ws_mib}M" --marker "$MARK" \
		--phases seq_write,seq_read,verify
	cnm_cgroup_wait || {
		cat "$CNM_TMP/$name.out" >&2
		fail "$name: the workload found pages that did not come back"
	}
	cnm_log "$name: pswpout +$(($(cnm_vmstat pswpout) - out0)) pages"
	N=$(python3 "$LIB/procmem.py" count "$(cnm_donor_pid "$name")" "$MARK")
	W=$(cat "$dir"/cap-* | grep -c -a -F "$MARK" || true)
	cnm_swap_cleanup
	cnm_umount "$name-m"
	proxy_stop
	cnm_stop_donor "$name"
	cnm_fail_on_log_errors "$(cnm_fs_log "$name-m")"
}

one_run plain --insecure-plaintext-pages
cnm_log "plaintext control: marker $N times in donor memory, on $W captured lines"
[ "$N" -gt 0 ] && [ "$W" -gt 0 ] || fail "the search finds nothing"
one_run sealed
cnm_log "sealed: marker $N times in donor memory, on $W captured lines"
[ "$N" = 0 ] || fail "the marker is in the donor's memory"
[ "$W" = 0 ] || fail "the marker went over the wire"
echo "ok: swapped pages sealed"
