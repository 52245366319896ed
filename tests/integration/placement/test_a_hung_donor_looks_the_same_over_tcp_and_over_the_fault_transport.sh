#!/usr/bin/env bash
# The same fault, two ways: a donor that stays connected but stops
# answering. Over TCP the donor process is SIGSTOPped (its kernel still
# accepts and acknowledges, it never replies) and SIGCONTed once its io
# timeout declared it dead; over the fault transport wrapping local memory
# (rdma/fault.h) donor 0 is hung with xfault_hang() and then released.
# With R=2 over two donors a reader gets every page from the other copy;
# with R=1 over one donor it gets EIO; in both the donor goes down, its
# requests count as timed out, it comes back with one reconnect and every
# page reads back right (pstore_itest hang-one prints it).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"

stopped=()
cleanup() {
	local rc=$? pid
	# a stopped donor would not see the SIGTERM of the cleanup
	for pid in "${stopped[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
	done
	(exit "$rc")
	cnm_cleanup
}
trap cleanup EXIT

itest="$BUILD_ROOT/tests/integration/placement/pstore_itest"
# the R=1 reads while the only copy is out of reach log that
allowed='every copy failed a read'

# hang_both R NDONORS: the two runs, compared; the tcp output on stdout
hang_both() {
	local r=$1 n=$2 d names=() donors=() faults=()
	for ((d = 1; d <= n; d++)); do
		names+=("r${r}d$d")
		faults+=("fault:d$d")
	done
	for d in "${names[@]}"; do
		cnm_start_donor "$d" --memory 128M
		donors+=("127.0.0.1:$CNM_PORT")
	done
	stopped+=("$(cnm_donor_pid "${names[0]}")")
	"$itest" hang-one --replicas "$r" --threads 2 --pages 512 \
		--stop "$(cnm_donor_pid "${names[0]}")" "${donors[@]}" \
		>"$CNM_TMP/tcp$r.out" 2>"$CNM_TMP/tcp$r.err" || {
		cat "$CNM_TMP/tcp$r.out" "$CNM_TMP/tcp$r.err"
		fail "hang-one over tcp, R=$r"
	}
	for d in "${names[@]}"; do
		cnm_kill_donor "$d"
	done
	cnm_fail_on_log_errors "$CNM_TMP/tcp$r.err" "$allowed" ||
		fail "unexpected errors over tcp, R=$r"

	"$itest" hang-one --mem --replicas "$r" --threads 2 --pages 512 \
		"${faults[@]}" >"$CNM_TMP/fault$r.out" 2>"$CNM_TMP/fault$r.err" || {
		cat "$CNM_TMP/fault$r.out" "$CNM_TMP/fault$r.err"
		fail "hang-one over the fault transport, R=$r"
	}
	cnm_fail_on_log_errors "$CNM_TMP/fault$r.err" "$allowed" ||
		fail "unexpected errors over the fault transport, R=$r"

	cat "$CNM_TMP/tcp$r.out"
	diff -u --label tcp --label fault "$CNM_TMP/tcp$r.out" \
		"$CNM_TMP/fault$r.out" ||
		fail "R=$r: the fault transport and a stopped tcp donor disagree"
}

hang_both 2 2
out=$CNM_TMP/tcp2.out
grep -qx "donor 0 hung: 0 of 512 pages fail to write" "$out" &&
	grep -qx "donor 0 hung: 0 of 512 pages fail to read" "$out" ||
	fail "R=2: writes or reads failed while one copy was out of reach"

hang_both 1 1
out=$CNM_TMP/tcp1.out
grep -qx 'donor 0 hung: 512 of 512 pages fail to read: Input/output error' \
	"$out" || fail "R=1: no EIO while the only copy was out of reach"

# and what they agree on is what it should be
for r in 1 2; do
	out=$CNM_TMP/tcp$r.out
	grep -qx 'donor 0: requests timed out, errors counted' "$out" ||
		fail "R=$r: no timeout counted"
	grep -qx 'donor 0: state up, 1 reconnect(s)' "$out" ||
		fail "R=$r: not back with one reconnect"
	grep -qx 'donor 0 back: 0 of 512 pages fail to read' "$out" ||
		fail "R=$r: pages lost across the hang"
done
