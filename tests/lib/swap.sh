# shellcheck shell=bash
# Swap on a cnetmem file and a memory-limited workload: shared by
# tests/swap/ and ./demo. Source after tests/lib/common.sh and fs.sh.
#
#   cnm_swap_on FILE SIZE [PRIORITY]    fallocate, losetup --direct-io=on,
#                                       mkswap, swapon
#   cnm_swap_cleanup                    kill workload, swapoff, losetup -d,
#                                       remove cgroup (in that order)
#
# The memory cgroup helpers (cnm_cgroup_make, _run, _start ..., cgroup v2
# or v1) are in tests/lib/cgroup.sh, sourced here. Only the workload goes
# into the cgroup: never this shell, never a daemon.

CNM_SWAP_LOOP=
# shellcheck source=tests/lib/cgroup.sh
. "${BASH_SOURCE[0]%/*}/cgroup.sh"
CNM_PAGETOUCH=${CNM_PAGETOUCH:-$BUILD_ROOT/bench/pagetouch}

# cnm_swap_facilities: exit 77 when swap on loop or memory cgroups are
# missing (or we are not root).
cnm_swap_facilities() {
	[ "$(id -u)" = 0 ] || cnm_skip "needs root"
	[ -c /dev/fuse ] || cnm_skip "no /dev/fuse"
	cnm_cgroup_usable || cnm_skip "no memory cgroup controller (v2 or v1)"
	command -v losetup >/dev/null || cnm_skip "no losetup"
	command -v swapon >/dev/null || cnm_skip "no swapon"
	losetup -f >/dev/null 2>&1 || cnm_skip "no free loop device"
}

# cnm_swap_test_begin: the opening of a swap test, after sourcing
# common.sh, fs.sh and swap.sh: workload, swap, mounts and donors cleaned
# up on exit (in that order), a skip (77) without swap on loop devices or
# memory cgroups, and $mnt, the test's mount point in $CNM_TMP.
cnm_swap_test_begin() {
	trap cnm_fs_all_cleanup EXIT
	cnm_swap_facilities
	mnt=$CNM_TMP/mnt
}

# cnm_vmstat FIELD: a counter from /proc/vmstat.
cnm_vmstat() {
	awk -v f="$1" '$1 == f { print $2 }' /proc/vmstat
}

cnm_swap_on() {
	local file=$1 size=$2 prio=${3:-100}
	fallocate -l "$size" "$file"
	CNM_SWAP_LOOP=$(losetup --direct-io=on -f --show "$file")
	mkswap "$CNM_SWAP_LOOP" >/dev/null
	swapon -p "$prio" "$CNM_SWAP_LOOP"
	cnm_log "swap on $CNM_SWAP_LOOP ($file, $size, priority $prio)"
}

cnm_swap_off() {
	if [ -n "$CNM_SWAP_LOOP" ]; then
		if grep -q "^$CNM_SWAP_LOOP " /proc/swaps; then
			swapoff "$CNM_SWAP_LOOP" || return 1
		fi
		losetup -d "$CNM_SWAP_LOOP" 2>/dev/null || true
		CNM_SWAP_LOOP=
	fi
}

cnm_swap_cleanup() {
	local rc=0
	if [ -n "$CNM_WORKLOAD_PID" ]; then
		kill -KILL "$CNM_WORKLOAD_PID" 2>/dev/null || true
		wait "$CNM_WORKLOAD_PID" 2>/dev/null || true
		CNM_WORKLOAD_PID=
	fi
	cnm_swap_off || rc=1
	cnm_cgroup_remove || rc=1
	return "$rc"
}
