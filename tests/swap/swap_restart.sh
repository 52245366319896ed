#!/bin/bash
# A mount's serving process dies three times while swap runs through it
# (issue 14): the verifying page workload (bench/pagetouch) in a memory
# cgroup at 25 % of its working set swaps through a cnetmem file on a
# --direct-io loop device; at random moments the serving process gets
# SIGNAL (or `cnetmemctl restart` replaces it). The workload must finish
# with every page verified, nothing may be OOM-killed, and the stats must
# count three restarts. "burst" kills during the first burst of swap-out
# writes (as soon as pswpout moves) instead of at random.
#
# usage: swap_restart.sh KILL|SEGV|ABRT|ctl|burst REPLICAS
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
. "$SOURCE_ROOT/tests/lib/restart.sh"
cnm_restart_needs_dev_fuse
trap cnm_fs_all_cleanup EXIT

how=${1:?KILL|SEGV|ABRT|ctl|burst}
replicas=${2:-1}
ws_mib=${CNM_SWAP_WS_MIB:-384}
limit=$((ws_mib * 1024 * 1024 / 4))
cnm_swap_facilities
ulimit -c 0 # SEGV, ABRT: no core of a locked daemon
[ -x "$CNM_PAGETOUCH" ] || cnm_skip "no $CNM_PAGETOUCH"

mnt=$CNM_TMP/mnt
donors=(d1 d2)
[ "$replicas" -ge 2 ] && donors=(d1 d2 d3)
for d in "${donors[@]}"; do cnm_start_donor "$d" --memory 512M; done
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args "${donors[@]}") --transport tcp \
	--replicas "$replicas" --size 1200M
cnm_swap_on "$mnt/swap0" 1G 100
cnm_cgroup_make "cnm-test-$$" "$limit"

cnm_log "workload: ${ws_mib} MiB working set, cgroup limit $((limit >> 20)) MiB; 3 x $how, R=$replicas"
out0=$(cnm_vmstat pswpout)
cnm_cgroup_start "$CNM_TMP/workload.out" "$CNM_PAGETOUCH" \
	--size "${ws_mib}M" --phases seq_write,seq_read,rand,verify
work=$CNM_WORKLOAD_PID

kills=0
for ((k = 0; k < 3; k++)); do
	if [ "$how" = burst ]; then
		# the next burst of swap-out writes: pswpout moving fast
		b0=$(cnm_vmstat pswpout)
		for ((i = 0; i < 300; i++)); do
			[ $(($(cnm_vmstat pswpout) - b0)) -ge 256 ] && break
			sleep 0.01
		done
	else
		sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 1.5), 2))')"
	fi
	kill -0 "$work" 2>/dev/null || break
	old=$(cnm_fs_server_pid m)
	case $how in
	ctl)
		"$CNM_CTL_BIN" restart "$mnt" >>"$CNM_TMP/ctl.out" ||
			fail "cnetmemctl restart failed: $(cat "$CNM_TMP/ctl.out")" ;;
	burst)
		kill -KILL "$old" ;;
	*)
		kill "-$how" "$old" ;;
	esac
	new=$(cnm_restart_wait m "$old") || fail "no successor after kill $((k + 1))"
	kills=$((k + 1))
	cnm_log "kill $kills ($how): serving process $old -> $new, pswpout +$(($(cnm_vmstat pswpout) - out0))"
done

if ! cnm_cgroup_wait; then
	sed 's/^/# workload: /' "$CNM_TMP/workload.out" >&2
	fail "the workload failed: pages lost or not intact across restarts"
fi
sed 's/^/# /' "$CNM_TMP/workload.out"
[ "$kills" = 3 ] || fail "the workload finished after $kills kills (make it longer)"
dout=$(($(cnm_vmstat pswpout) - out0))
need=$(((ws_mib * 1024 * 1024 - limit) / 4096 / 2))
[ "$dout" -ge "$need" ] || fail "pswpout grew by $dout pages, expected >= $need"
oom=$(cnm_cgroup_oom_kills)
[ "$oom" = 0 ] || fail "$oom OOM kills in the workload's cgroup"
restarts=$(cnm_restart_count m)
[ "$restarts" = 3 ] || fail "stats count $restarts restarts, not 3"

cnm_swap_cleanup
cnm_umount m
for d in "${donors[@]}"; do
	cnm_stop_donor "$d"
	cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
done
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: 3 x $how (R=$replicas) under swap: $dout pages out, all verified, no OOM kill"
