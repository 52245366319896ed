#!/bin/bash
# /init of the cgroup2 suite's qemu guest (Debian's 6.1 kernel, cgroup2
# mounted with the memory controller, as on a fresh Debian 12 host): the
# swap workload on a cnetmem swap file, through the project's own helpers
# (tests/lib/cgroup.sh, swap.sh, fs.sh, common.sh, copied to /cnm), one
# line per check on the serial console, then power off:
#   CG2TEST <check> PASS|FAIL <detail>
#   CG2TEST-DONE pass=N fail=M          (always the last line)
# Every workload runs under its own timeout; the host bounds the whole run.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /dev/shm /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for m in $(cat /modules.list); do
	insmod "/lib/modules/$m" || echo "guest: insmod $m failed"
done
ip link set lo up
NPASS=0 NFAIL=0
WS_MIB=64
LIMIT=$((24 << 20))
TIMEOUT=150

result() { # name rc detail
	if [ "$2" = 0 ]; then
		echo "CG2TEST $1 PASS $3"
		NPASS=$((NPASS + 1))
	else
		echo "CG2TEST $1 FAIL rc=$2 $3"
		NFAIL=$((NFAIL + 1))
	fi
}

finish() {
	echo "CG2TEST-DONE pass=$NPASS fail=$NFAIL"
	sync
	poweroff -f
}

export BUILD_ROOT=/cnm SOURCE_ROOT=/cnm
. /cnm/tests/lib/common.sh
. /cnm/tests/lib/fs.sh
. /cnm/tests/lib/swap.sh

# pagetouch in the cgroup, under a timeout, while memory.swap.current is
# sampled (its highest value goes to SWAP_HIGH: this kernel has no
# memory.swap.peak); returns the workload's exit status
run_workload() { # name
	local rc=0 spid
	(
		high=0
		while :; do
			v=$(cat "$CNM_CGROUP/memory.swap.current") || break
			[ "$v" -gt "$high" ] && high=$v && echo "$high" >"/tmp/$1.high"
			sleep 0.05
		done
	) 2>/dev/null &
	spid=$!
	cnm_cgroup_start "/tmp/$1.out" timeout "$TIMEOUT" "$CNM_PAGETOUCH" \
		--size "${WS_MIB}M" --phases seq_write,seq_read,verify
	cnm_cgroup_wait || rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	SWAP_HIGH=$(cat "/tmp/$1.high" 2>/dev/null || echo 0)
	sed "s/^/  $1| /" "/tmp/$1.out"
	return "$rc"
}

# 1. the helper finds cgroup v2 with the memory controller
cnm_cgroup_detect
[ "$CNM_CGROUP_VERSION" = 2 ] && [ "$CNM_CGROUP_ROOT" = /sys/fs/cgroup ]
result detects-cgroup-v2 $? "version=$CNM_CGROUP_VERSION root=$CNM_CGROUP_ROOT"
[ "$CNM_CGROUP_VERSION" = 2 ] || finish

# 2. a donor in the guest, a mount on it over TCP, a swap file on the mount
rc=0
# shellcheck disable=SC2046
{
	cnm_start_donor d1 --memory 192M &&
		cnm_mount m /tmp/mnt $(cnm_donor_args d1) --transport tcp \
			--size 192M &&
		cnm_swap_on /tmp/mnt/swap0 128M 100
} >/tmp/setup.log 2>&1 || rc=$?
sed 's/^/  setup| /' /tmp/setup.log
grep -q "^$CNM_SWAP_LOOP " /proc/swaps || rc=1
result swap-on-cnetmem $rc "$(grep "^$CNM_SWAP_LOOP " /proc/swaps 2>/dev/null | tr -s ' ')"
[ "$rc" = 0 ] || finish

# 3. within memory.swap.max: every page comes back, nothing is OOM-killed,
# the pages went out to swap and in again
out0=$(cnm_vmstat pswpout)
in0=$(cnm_vmstat pswpin)
cnm_cgroup_make cnm-within $LIMIT $((96 << 20))
max=$(cat "$CNM_CGROUP/memory.max") smax=$(cat "$CNM_CGROUP/memory.swap.max")
rc=0
run_workload within || rc=$?
ooms=$(cnm_cgroup_oom_kills)
dout=$(($(cnm_vmstat pswpout) - out0))
din=$(($(cnm_vmstat pswpin) - in0))
need=$((((WS_MIB << 20) - LIMIT) / 4096 / 2))
detail="memory.max=$max memory.swap.max=$smax swap.current<=$SWAP_HIGH pswpout=+$dout pswpin=+$din oom_kill=$ooms"
# the pages went to swap from this cgroup (its own swap.current), within
# memory.swap.max, and every one came back
[ "$rc" = 0 ] && [ "$ooms" = 0 ] && [ "$dout" -ge "$need" ] &&
	[ "$din" -ge "$need" ] && [ "$smax" = $((96 << 20)) ] &&
	[ "$SWAP_HIGH" -ge $((need * 4096)) ] && [ "$SWAP_HIGH" -le "$smax" ]
result within-swap-max-every-page-verified $? "$detail rc=$rc"
cnm_cgroup_remove

# 4. the same workload with memory.swap.max far below what it needs: it
# must not get there (OOM-killed, or fails), and the kernel says it hit max
cnm_cgroup_make cnm-over $LIMIT $((8 << 20))
rc=0
run_workload over || rc=$?
ooms=$(cnm_cgroup_oom_kills)
smaxhits=$(awk '$1 == "max" { print $2 }' "$CNM_CGROUP/memory.swap.events")
detail="memory.swap.max=$(cat "$CNM_CGROUP/memory.swap.max") swap.current<=$SWAP_HIGH rc=$rc oom_kill=$ooms swap.events.max=$smaxhits"
# killed, having hit the limit, and never above it
[ "$rc" != 0 ] && [ "$ooms" -ge 1 ] && [ "${smaxhits:-0}" -ge 1 ] &&
	[ "$SWAP_HIGH" -le $((8 << 20)) ]
result over-swap-max-is-oom-killed $? "$detail"
cnm_cgroup_remove

# 5. teardown in order; the daemons exit cleanly and logged no error
rc=0
{
	cnm_swap_cleanup && cnm_umount m && cnm_stop_donor d1 &&
		cnm_fail_on_log_errors "$(cnm_fs_log m)" &&
		cnm_fail_on_log_errors "$(cnm_donor_log d1)"
} >/tmp/teardown.log 2>&1 || rc=$?
sed 's/^/  teardown| /' /tmp/teardown.log
[ "$rc" = 0 ] || tail -n 20 "$(cnm_fs_log m)" | sed 's/^/  fs-log| /'
result teardown-clean $rc ""
finish
