#!/bin/bash
# Health of a mount as cnetmemctl reports it, one case per run:
#   healthy            `list` shows the mount "ok" with its donor up,
#                      `stats` exits 0 and says "health: ok"
#   lost-pages         the only donor (R=1) is killed and started again
#                      empty: the mount counts lost pages, `stats` and
#                      `list` exit 3 naming them
#   degraded-too-long  the only donor dies and stays away: degraded within
#                      the grace (exit 0), past it exit 3
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
CTL=$CNM_CTL_BIN

# ctl_rc ARGS...: cnetmemctl's exit status (output in $CNM_TMP/ctl.out)
ctl_rc() {
	local rc=0
	"$CTL" "$@" >"$CNM_TMP/ctl.out" 2>&1 || rc=$?
	sed 's/^/# /' "$CNM_TMP/ctl.out" >&2
	echo "$rc"
}

mount_on_d1() {
	cnm_start_donor d1 --memory 256M --grace-period 60
	# shellcheck disable=SC2046
	# --cache direct: reads must reach the donor, not the page cache
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
		--slab-size 4M --size 256M --io-timeout-ms 2000 --cache direct
	head -c $((8 << 20)) /dev/urandom >"$mnt/data"
	sync
}

case ${1:?usage: fuse_health.sh healthy|lost-pages|degraded-too-long} in
healthy)
	mount_on_d1
	[ "$(ctl_rc stats "$mnt")" = 0 ] || fail "stats of a healthy mount"
	grep -q 'health: ok' "$CNM_TMP/ctl.out" || fail "no 'health: ok'"
	# the whole host's list has it (other mounts may be there too) ...
	ctl_rc list >/dev/null
	grep -Eq "^$mnt +ok +" "$CNM_TMP/ctl.out" || fail "list misses $mnt"
	# ... and the list of just this one exits 0
	[ "$(ctl_rc list "$mnt")" = 0 ] || fail "list with a healthy mount"
	grep -Eq "^$mnt +ok +.* 1/1 " "$CNM_TMP/ctl.out" ||
		fail "list does not show $mnt ok with 1/1 donor up"
	[ "$(cnm_stat_json "$mnt" 's["lost_pages"]')" = 0 ]
	cnm_umount m
	cnm_fail_on_log_errors "$(cnm_fs_log m)"
	;;
lost-pages)
	mount_on_d1
	port=$(cnm_donor_port d1)
	# older than the restarted one will be when the mount asks it
	sleep 3
	cnm_kill_donor d1
	cnm_start_donor d1 --memory 256M --listen "127.0.0.1:$port"
	for ((i = 0; i < 200; i++)); do
		[ "$(cnm_stat_json "$mnt" 's["lost_pages"]')" -gt 0 ] && break
		sleep 0.1
	done
	lost=$(cnm_stat_json "$mnt" 's["lost_pages"]')
	[ "$lost" = 2048 ] || fail "lost_pages is $lost, want 2048 (8 MiB)"
	[ "$(ctl_rc stats "$mnt")" = 3 ] || fail "stats exits 0 with lost pages"
	grep -q '2048 pages lost' "$CNM_TMP/ctl.out" || fail "no reason given"
	[ "$(ctl_rc stats "$mnt" --json)" = 3 ] || fail "stats --json exits 0"
	[ "$(ctl_rc list "$mnt")" = 3 ] ||
		fail "list does not exit 3 with lost pages"
	grep -Eq "^$mnt +lost-pages " "$CNM_TMP/ctl.out" ||
		fail "list does not show lost-pages"
	[ "$(cnm_stat_json "$mnt" 's["donors"][0]["restarts"]')" = 1 ] ||
		fail "the donor's restart is not counted"
	# reading them is an error, never other bytes
	if cat "$mnt/data" >/dev/null 2>&1; then
		fail "lost pages read back"
	fi
	rm -f "$mnt/data"
	cnm_umount m
	;;
degraded-too-long)
	mount_on_d1
	cnm_kill_donor d1
	for ((i = 0; i < 100; i++)); do
		[ "$(cnm_stat_json "$mnt" 's["degraded_slabs"]')" -gt 0 ] && break
		sleep 0.1
	done
	[ "$(ctl_rc stats "$mnt" --grace 60)" = 0 ] ||
		fail "degraded within the grace is not yet unhealthy"
	grep -q 'health: degraded' "$CNM_TMP/ctl.out" || fail "not degraded"
	sleep 2.5
	[ "$(ctl_rc stats "$mnt" --grace 1)" = 3 ] ||
		fail "degraded past the grace exits 0"
	grep -q 'health: degraded-too-long' "$CNM_TMP/ctl.out" ||
		fail "not degraded-too-long"
	[ "$(ctl_rc list --grace 1 "$mnt")" = 3 ] || fail "list exits 0"
	grep -Eq "^$mnt +degraded-too-long +.* 0/1 " "$CNM_TMP/ctl.out" ||
		fail "list does not show degraded-too-long with 0/1 up"
	cnm_umount m
	;;
esac
echo "ok: $1"
