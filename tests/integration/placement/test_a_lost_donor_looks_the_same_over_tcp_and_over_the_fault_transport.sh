#!/usr/bin/env bash
# The same fault, two ways: three donors, R=2, each lost in turn. Over TCP
# the donor is killed (SIGKILL: the connection is reset); over the fault
# transport wrapping local memory (rdma/fault.h) the connection is broken
# with ECONNRESET. The reader and the store's stats must see the same in
# both: no read error while a copy is left, the donor down, the copies it
# held repaired on the others past the grace, every slab degraded once one
# donor is left, and EIO once none is (pstore_itest lose-each prints it).
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT

itest="$BUILD_ROOT/tests/integration/placement/pstore_itest"
# every copy out of reach: the reads of the last step log that, nothing else
allowed='every copy failed a read'

donors=() pids=()
for d in d1 d2 d3; do
	cnm_start_donor "$d" --memory 256M --grace-period 30
	donors+=("127.0.0.1:$CNM_PORT")
	pids+=("$(cnm_donor_pid "$d")")
done
"$itest" lose-each --replicas 2 --threads 2 --pages 512 \
	--kill "$(IFS=,; echo "${pids[*]}")" "${donors[@]}" \
	>"$CNM_TMP/tcp.out" 2>"$CNM_TMP/tcp.err" || {
	cat "$CNM_TMP/tcp.out" "$CNM_TMP/tcp.err"
	fail "lose-each over tcp"
}
for d in d1 d2 d3; do
	cnm_kill_donor "$d"
done
cnm_fail_on_log_errors "$CNM_TMP/tcp.err" "$allowed" ||
	fail "unexpected errors over tcp"

"$itest" lose-each --mem --replicas 2 --threads 2 --pages 512 \
	fault:d1 fault:d2 fault:d3 \
	>"$CNM_TMP/fault.out" 2>"$CNM_TMP/fault.err" || {
	cat "$CNM_TMP/fault.out" "$CNM_TMP/fault.err"
	fail "lose-each over the fault transport"
}
cnm_fail_on_log_errors "$CNM_TMP/fault.err" "$allowed" ||
	fail "unexpected errors over the fault transport"

cat "$CNM_TMP/tcp.out"
diff -u --label tcp --label fault "$CNM_TMP/tcp.out" "$CNM_TMP/fault.out" ||
	fail "the fault transport and a real tcp donor disagree"
# and what they agree on is what it should be
grep -qx 'donor 0 lost: 0 of 512 pages fail to read' "$CNM_TMP/tcp.out" ||
	fail "reads failed with one donor lost"
grep -qx 'full replication again: one slab repaired for each slab the donor held' \
	"$CNM_TMP/tcp.out" || fail "not repaired"
grep -qx 'donor 2 lost: 512 of 512 pages fail to read: Input/output error' \
	"$CNM_TMP/tcp.out" || fail "no EIO with every donor lost"
