#!/bin/bash
# A restart of the serving process while a donor is down (issue 14): files
# written with R=2 over three donors; one donor stops answering (SIGSTOP,
# its memory and session intact) or is gone (SIGKILL); then the serving
# process is SIGKILLed. The successor must take over without that donor
# (no hang: the other copies serve), every file must read back right, new
# writes must work, and once the stopped donor answers again everything
# still reads back right.
#
# usage: restart.sh stopped|killed
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/restart.sh"
cnm_restart_needs_dev_fuse

how=${1:?stopped|killed}
stopped=
cleanup() {
	local rc=$?
	set +e
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities
ulimit -c 0

for d in d1 d2 d3; do cnm_start_donor "$d" --memory 256M --grace-period 30; done
mnt=$CNM_TMP/mnt
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1 d2 d3) --transport tcp \
	--replicas 2 --size 512M --slab-size 4M --io-timeout-ms 3000 \
	--ctl-timeout-ms 3000 --cache direct

# files on every donor (4 MiB slabs, 96 MiB)
for i in $(seq 0 23); do
	head -c $((4 << 20)) /dev/urandom >"$CNM_TMP/f$i"
	cp "$CNM_TMP/f$i" "$mnt/f$i"
done
verify() {
	local i
	for i in $(seq 0 "$1"); do
		cmp -s "$CNM_TMP/f$i" "$mnt/f$i" || fail "f$i differs ($2)"
	done
}
verify 23 "before"

pid=$(cnm_donor_pid d2)
case $how in
stopped)
	kill -STOP "$pid"
	stopped=$pid ;;
killed)
	cnm_kill_donor d2 ;;
esac
cnm_log "donor d2 $how; now the serving process dies"
t0=$SECONDS
new=$(cnm_restart_kill m KILL) || fail "no successor while donor d2 is $how"
cnm_log "successor $new serving after $((SECONDS - t0)) s"
verify 23 "after the restart, d2 $how"
for i in 24 25; do
	head -c $((4 << 20)) /dev/urandom >"$CNM_TMP/f$i"
	cp "$CNM_TMP/f$i" "$mnt/f$i" || fail "write f$i with d2 $how"
done
verify 25 "new files, d2 $how"
if [ -n "$stopped" ]; then
	kill -CONT "$stopped"
	stopped=
	sleep 3
	verify 25 "d2 back"
fi
[ "$(cnm_restart_count m)" = 1 ] || fail "stats count $(cnm_restart_count m) restarts, not 1"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)" 'donor .*(timed out|down|reset|refused|connect)'
echo "ok: restart with donor d2 $how: every file right"
