# shellcheck shell=bash
# A mount's serving process killed and replaced (issue 14), for the
# restart tests of the swap, faults and fuse suites and bench/. Source
# after tests/lib/fs.sh:
#
#   cnm_restart_kill NAME SIGNAL      kill NAME's serving process with
#                                     SIGNAL, wait for its successor to
#                                     serve (20 s); prints the new pid
#   cnm_restart_count NAME            "restarts" of NAME's stats
#
# The supervisor (cnm_fs_pid) is never killed here: only what it runs.

# cnm_restart_wait NAME OLDPID: until the stats name a serving process
# other than OLDPID (a stats read blocks while none serves).
cnm_restart_wait() {
	local name=$1 old=$2 i pid
	for ((i = 0; i < 200; i++)); do
		pid=$(timeout 20 cat "$(cnm_fs_mnt "$name")/.cnetmem-stats" \
			2>/dev/null | python3 -c 'import json,sys
print(json.load(sys.stdin)["daemon"]["pid"])' 2>/dev/null || true)
		if [ -n "$pid" ] && [ "$pid" != "$old" ]; then
			echo "$pid"
			return 0
		fi
		kill -0 "$(cnm_fs_pid "$name")" 2>/dev/null || {
			cnm_log "mount $name: its supervisor exited"
			return 1
		}
		sleep 0.1
	done
	cnm_log "mount $name: no successor of serving process $old"
	return 1
}

cnm_restart_kill() {
	local name=$1 sig=$2 old
	old=$(cnm_fs_server_pid "$name") || return 1
	kill "-$sig" "$old" || return 1
	cnm_restart_wait "$name" "$old"
}

cnm_restart_count() {
	cnm_stat_json "$(cnm_fs_mnt "$1")" "s['daemon']['restarts']"
}
