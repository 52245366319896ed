# shellcheck shell=bash
# Swap on a cnetmem file and a memory-limited workload: shared by
# tests/swap/ and ./demo. Source after tests/lib/common.sh and fs.sh.
#
#   cnm_swap_on FILE SIZE [PRIORITY]    fallocate, losetup --direct-io=on,
#                                       mkswap, swapon
#   cnm_cgroup_make NAME LIMIT_BYTES    a cgroup v1 memory cgroup
#   cnm_cgroup_run CMD...               CMD alone inside it (a wrapper
#                                       writes its own pid, then execs)
#   cnm_swap_cleanup                    kill workload, swapoff, losetup -d,
#                                       remove cgroup (in that order)
#
# Only the workload goes into the cgroup: never this shell, never a daemon.

CNM_SWAP_LOOP=
CNM_CGROUP=
CNM_WORKLOAD_PID=
CNM_CGROUP_ROOT=${CNM_CGROUP_ROOT:-/sys/fs/cgroup/memory}
CNM_PAGETOUCH=${CNM_PAGETOUCH:-$BUILD_ROOT/bench/pagetouch}

# cnm_swap_facilities: exit 77 when swap on loop or memory cgroups are
# missing (or we are not root).
cnm_swap_facilities() {
	[ "$(id -u)" = 0 ] || cnm_skip "needs root"
	[ -c /dev/fuse ] || cnm_skip "no /dev/fuse"
	[ -w "$CNM_CGROUP_ROOT" ] || cnm_skip "no cgroup v1 memory controller"
	command -v losetup >/dev/null || cnm_skip "no losetup"
	command -v swapon >/dev/null || cnm_skip "no swapon"
	losetup -f >/dev/null 2>&1 || cnm_skip "no free loop device"
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

cnm_cgroup_make() {
	local name=$1 limit=$2
	CNM_CGROUP=$CNM_CGROUP_ROOT/$name
	mkdir "$CNM_CGROUP"
	echo "$limit" >"$CNM_CGROUP/memory.limit_in_bytes"
	echo 100 >"$CNM_CGROUP/memory.swappiness" 2>/dev/null || true
}

# cnm_cgroup_run CMD...: runs CMD in the cgroup, in the foreground.
cnm_cgroup_run() {
	# shellcheck disable=SC2016
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CNM_CGROUP" "$@"
}

# cnm_cgroup_start OUTFILE CMD...: the same in the background; sets
# CNM_WORKLOAD_PID; collect it with cnm_cgroup_wait.
cnm_cgroup_start() {
	local out=$1
	shift
	# shellcheck disable=SC2016
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CNM_CGROUP" "$@" \
		>"$out" 2>&1 &
	CNM_WORKLOAD_PID=$!
}

cnm_cgroup_wait() {
	local rc=0
	wait "$CNM_WORKLOAD_PID" || rc=$?
	CNM_WORKLOAD_PID=
	return "$rc"
}

cnm_cgroup_remove() {
	local i pid
	[ -n "$CNM_CGROUP" ] && [ -d "$CNM_CGROUP" ] || return 0
	for ((i = 0; i < 100; i++)); do
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done <"$CNM_CGROUP/cgroup.procs"
		rmdir "$CNM_CGROUP" 2>/dev/null && break
		sleep 0.1
	done
	[ -d "$CNM_CGROUP" ] && return 1
	CNM_CGROUP=
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
