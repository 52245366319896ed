#!/bin/bash
# Heartbeat: an idle mount notices a donor that went silent (its link cut,
# no request in flight to time out): the donor is marked suspect, then
# down, and its copies are rebuilt on the others (degraded_slabs back to
# 0) while the link is still down; the data reads back intact.
set -euo pipefail
. "$SOURCE_ROOT/tests/faults/lib.sh"

FAULTS_MNT=$CNM_TMP/mnt
faults_facilities
donor_args=()
for d in d1 d2 d3; do
	faults_net_add "$d"
	faults_donor_start "$d"
	donor_args+=(--donor "$(faults_addr "$d")")
done
cnm_mount m "$FAULTS_MNT" "${donor_args[@]}" --key-file "$FAULTS_KEY" \
	--transport tcp --replicas 2 --slab-size 4M --size 128M \
	--ctl-timeout-ms 1000
head -c 48M /dev/urandom >"$CNM_TMP/ref"
timeout 60 cp "$CNM_TMP/ref" "$FAULTS_MNT/f"
faults_wait_until 30 "every slab replicated" faults_fully_replicated
[ "$(faults_donor_field d1 slabs)" -gt 0 ] || {
	echo "FAIL: nothing on d1 to lose" >&2
	exit 1
}

t0=$(date +%s.%N)
ip link set "$(faults_veth d1)" down # silent, and nothing asks it anything
faults_wait_until 30 "the silent donor counted down (degraded)" \
	faults_is_degraded
cnm_wait_for_log "$(cnm_fs_log m)" "donor $(faults_addr d1): suspect" 1
gone() { [ "$(faults_donor_field d1 slabs)" = 0 ]; }
faults_wait_until 60 "no copy left on the silent donor" gone
faults_wait_until 60 "full replication restored" faults_fully_replicated
cnm_log "recovery: silent donor: full replication" \
	"$(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }') s" \
	"after the cut"
timeout 60 cmp "$CNM_TMP/ref" "$FAULTS_MNT/f"
ip link set "$(faults_veth d1)" up

cnm_umount m
for d in d1 d2 d3; do
	cnm_stop_donor "$d"
done
cnm_fail_on_log_errors "$(cnm_fs_log m)" "timed out|connection|reset"
echo PASS
