# shellcheck shell=bash
# Memory cgroups on cgroup v2 or v1, whichever this host has: shared by
# tests/lib/swap.sh (the swap, faults and cgroup2 suites), ./demo and
# bench/run. Needs nothing else from tests/lib.
#
#   cnm_cgroup_detect                 sets CNM_CGROUP_VERSION (2 or 1) and
#                                     CNM_CGROUP_ROOT; returns 1 when no
#                                     memory controller is usable
#   cnm_cgroup_make NAME LIMIT [SWAP] a memory cgroup: LIMIT bytes of memory
#                                     (v2 memory.max, v1 limit_in_bytes)
#                                     and, if given, SWAP bytes of swap (v2
#                                     memory.swap.max; v1 memsw where the
#                                     kernel accounts swap)
#   cnm_cgroup_limit LIMIT [SWAP]     change the limits of that cgroup
#   cnm_cgroup_run CMD...             CMD alone inside it (a wrapper writes
#                                     its own pid, then execs)
#   cnm_cgroup_start OUT CMD...       the same in the background
#                                     (CNM_WORKLOAD_PID; cnm_cgroup_wait)
#   cnm_cgroup_oom_kills              OOM kills in the cgroup so far
#   cnm_cgroup_remove                 kill what is left in it, rmdir
#
# v2 is used where a cgroup2 hierarchy has the memory controller (a current
# distribution, the cgroup2 suite's guest); v1 where the memory controller
# is bound to a v1 hierarchy (this project's development machine). On v2
# the cgroup is made directly under the cgroup2 root, whose
# cgroup.subtree_control gets +memory if it lacks it (the root cgroup is
# exempt from the no-internal-processes rule). Only the workload goes into
# the cgroup: never this shell, never a daemon.

CNM_CGROUP=
CNM_CGROUP_VERSION=
CNM_WORKLOAD_PID=
CNM_CGROUP_ROOT=${CNM_CGROUP_ROOT:-}

cnm_cgroup_detect() {
	local mnt type opts rest
	[ -n "$CNM_CGROUP_VERSION" ] && return 0
	if [ -n "$CNM_CGROUP_ROOT" ]; then
		# given by the caller: its kind decides
		if [ -e "$CNM_CGROUP_ROOT/cgroup.controllers" ]; then
			CNM_CGROUP_VERSION=2
		else
			CNM_CGROUP_VERSION=1
		fi
		return 0
	fi
	while read -r _ mnt type opts rest; do
		if [ "$type" = cgroup2 ] &&
			grep -qw memory "$mnt/cgroup.controllers" 2>/dev/null; then
			CNM_CGROUP_VERSION=2 CNM_CGROUP_ROOT=$mnt
			return 0
		fi
	done </proc/mounts
	while read -r _ mnt type opts rest; do
		if [ "$type" = cgroup ] && [[ ,$opts, == *,memory,* ]]; then
			CNM_CGROUP_VERSION=1 CNM_CGROUP_ROOT=$mnt
			return 0
		fi
	done </proc/mounts
	return 1
}

# cnm_cgroup_usable: detected, and we may make cgroups there
cnm_cgroup_usable() {
	cnm_cgroup_detect && [ -w "$CNM_CGROUP_ROOT" ]
}

cnm_cgroup_make() {
	local name=$1 limit=$2 swap=${3:-}
	cnm_cgroup_detect || {
		echo "no memory cgroup controller (neither cgroup v2 nor v1)" >&2
		return 1
	}
	if [ "$CNM_CGROUP_VERSION" = 2 ] &&
		! grep -qw memory "$CNM_CGROUP_ROOT/cgroup.subtree_control"; then
		echo +memory >"$CNM_CGROUP_ROOT/cgroup.subtree_control"
	fi
	CNM_CGROUP=$CNM_CGROUP_ROOT/$name
	mkdir "$CNM_CGROUP"
	# a test killed before its trap could run (meson sends SIGKILL 0.5 s
	# after a timeout's SIGTERM) cannot remove it: a watcher in a session
	# of its own does, once this shell is gone
	# shellcheck disable=SC2016
	setsid -f sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
		for i in 1 2 3 4 5 6 7 8 9 10; do
			[ -d "$0" ] || exit 0
			xargs -r kill -KILL <"$0/cgroup.procs"
			rmdir "$0" && exit 0
			sleep 0.5
		done' "$CNM_CGROUP" "$$" >/dev/null 2>&1 </dev/null
	[ "$CNM_CGROUP_VERSION" = 1 ] &&
		{ echo 100 >"$CNM_CGROUP/memory.swappiness"; } 2>/dev/null
	cnm_cgroup_limit "$limit" "$swap"
}

cnm_cgroup_limit() {
	local limit=$1 swap=${2:-}
	if [ "$CNM_CGROUP_VERSION" = 2 ]; then
		echo "$limit" >"$CNM_CGROUP/memory.max"
		echo "${swap:-max}" >"$CNM_CGROUP/memory.swap.max"
		return 0
	fi
	# v1: memsw (memory + swap) must stay >= limit_in_bytes, so it is
	# raised first and lowered last
	if [ -e "$CNM_CGROUP/memory.memsw.limit_in_bytes" ]; then
		echo -1 >"$CNM_CGROUP/memory.memsw.limit_in_bytes"
		echo "$limit" >"$CNM_CGROUP/memory.limit_in_bytes"
		[ -z "$swap" ] ||
			echo $((limit + swap)) >"$CNM_CGROUP/memory.memsw.limit_in_bytes"
		return 0
	fi
	echo "$limit" >"$CNM_CGROUP/memory.limit_in_bytes"
	if [ -n "$swap" ]; then
		echo "cgroup v1 without swap accounting: swap limit $swap ignored" >&2
	fi
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

cnm_cgroup_oom_kills() {
	local f=$CNM_CGROUP/memory.events
	[ "$CNM_CGROUP_VERSION" = 2 ] || f=$CNM_CGROUP/memory.oom_control
	awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' "$f"
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
