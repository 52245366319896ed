# shellcheck shell=bash
# Helpers for tests (and ./demo) that mount cnetmem. Source after
# tests/lib/common.sh:
#
#   . "$SOURCE_ROOT/tests/lib/common.sh"
#   . "$SOURCE_ROOT/tests/lib/fs.sh"
#   trap cnm_fs_all_cleanup EXIT
#   cnm_start_donor d1 --memory 256M
#   cnm_mount m1 "$CNM_TMP/mnt" $(cnm_donor_args d1) --size 256M
#   ...
#   cnm_umount m1          # fails if the daemon does not exit cleanly
#
# Every mount runs in the foreground (-f) with its log in
# $CNM_TMP/fs-NAME.log; CNM_FS_CACHE=writeback|direct in the environment
# adds --cache to every mount (the fuse suite runs both modes);
# CNM_FUSE_TRANSPORT=auto|uring|dev adds --fuse-transport (tests/run-all runs
# suites again under tests/lib/with-fuse-uring). cnm_fs_all_cleanup unmounts what is left, kills
# the daemons, then runs swap cleanup (if tests/lib/swap.sh is loaded)
# first and cnm_cleanup (donors, $CNM_TMP) last, keeping the exit status.

CNM_FS_BIN=${CNM_FS_BIN:-$BUILD_ROOT/fs/cnetmem}
CNM_FS_MOUNTS=()

cnm_fs_pid() { cat "$CNM_TMP/fs-$1.pid"; } # the supervisor (fs/supervisor.h)
cnm_fs_log() { echo "$CNM_TMP/fs-$1.log"; }
cnm_fs_mnt() { cat "$CNM_TMP/fs-$1.mnt"; }

# cnm_donor_args NAME...: "--donor 127.0.0.1:PORT" for each started donor.
cnm_donor_args() {
	local n
	for n in "$@"; do
		printf -- '--donor 127.0.0.1:%s ' "$(cnm_donor_port "$n")"
	done
}

# Restarts (issue 14) keep their promise on /dev/fuse only: Linux does not
# resend a request a dead serving process held on an io_uring ring
# (fs/README.md), so the restart tests skip under CNM_FUSE_TRANSPORT=uring.
cnm_restart_needs_dev_fuse() {
	[ "${CNM_FUSE_TRANSPORT:-}" != uring ] ||
		cnm_skip "restarts strand ring requests over io_uring: /dev/fuse only"
}

# cnm_mount NAME MOUNTPOINT [ARGS...]: mount in the foreground (with
# --key-file $CNM_KEY unless ARGS choose) and wait until the mountpoint is
# live (20 s); fails if the daemon exits first.
cnm_mount() {
	local name=$1 mnt=$2 pid i keys=()
	shift 2
	mkdir -p "$mnt"
	cnm_has_key_arg "$@" || keys=(--key-file "$CNM_KEY")
	if [ -n "${CNM_FS_CACHE:-}" ]; then
		set -- --cache "$CNM_FS_CACHE" "$@"
	fi
	if [ -n "${CNM_FUSE_TRANSPORT:-}" ]; then
		set -- --fuse-transport "$CNM_FUSE_TRANSPORT" "$@"
	fi
	"$CNM_FS_BIN" "$mnt" -f "${keys[@]}" "$@" >>"$CNM_TMP/fs-$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$CNM_TMP/fs-$name.pid"
	echo "$mnt" >"$CNM_TMP/fs-$name.mnt"
	CNM_FS_MOUNTS+=("$name")
	for ((i = 0; i < 400; i++)); do
		mountpoint -q "$mnt" && {
			cnm_log "mount $name: pid $pid on $mnt"
			return 0
		}
		if ! kill -0 "$pid" 2>/dev/null; then
			cnm_log "mount $name: cnetmem exited; its log:"
			sed 's/^/#   /' "$CNM_TMP/fs-$name.log" >&2
			return 1
		fi
		sleep 0.05
	done
	cnm_log "mount $name: $mnt did not come up"
	return 1
}

# cnm_umount NAME: fusermount3 -u, then the daemon must exit with status 0
# within 10 s.
cnm_umount() {
	local name=$1 mnt pid
	mnt=$(cnm_fs_mnt "$name")
	pid=$(cnm_fs_pid "$name")
	fusermount3 -u "$mnt" || {
		cnm_log "mount $name: fusermount3 -u $mnt failed"
		return 1
	}
	if ! cnm_wait_pid "$pid" 10; then
		cnm_log "mount $name: cnetmem (pid $pid) did not exit"
		# where it is stuck, for whoever reads the log
		if command -v gdb >/dev/null; then
			gdb -q -batch -p "$pid" -ex 'thread apply all bt' 2>&1 |
				grep -E '^(Thread|#)' | sed 's/^/#   /' >&2 || true
		fi
		return 1
	fi
	cnm_reap "$pid" "$CNM_TMP/fs-$name.pid" "mount $name: cnetmem"
}

# cnm_stat_json MOUNTPOINT PYTHON_EXPR: evaluates PYTHON_EXPR with `s` bound
# to the parsed stats file, prints the result.
cnm_stat_json() {
	python3 -c 'import json,sys
s = json.load(open(sys.argv[1] + "/.cnetmem-stats"))
print(eval(sys.argv[2]))' "$1" "$2"
}

# cnm_fs_server_pid NAME: the mount's serving process (the "daemon" object
# of its stats), where its memory and threads are.
cnm_fs_server_pid() { cnm_stat_json "$(cnm_fs_mnt "$1")" "s['daemon']['pid']"; }

cnm_fs_cleanup() {
	local name mnt pid
	for name in "${CNM_FS_MOUNTS[@]}"; do
		mnt=$(cat "$CNM_TMP/fs-$name.mnt" 2>/dev/null || true)
		pid=$(cat "$CNM_TMP/fs-$name.pid" 2>/dev/null || true)
		if [ -n "$mnt" ] && mountpoint -q "$mnt" 2>/dev/null; then
			fusermount3 -u "$mnt" 2>/dev/null ||
				umount -l "$mnt" 2>/dev/null || true
		fi
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			# its serving process first, or it would outlive it
			cnm_wait_pid "$pid" 5 || {
				kill -KILL $(cat "/proc/$pid/task/$pid/children" \
					2>/dev/null) "$pid" 2>/dev/null
			}
			wait "$pid" 2>/dev/null || true
		fi
	done
}

# For `trap cnm_fs_all_cleanup EXIT`: swap (if loaded), mounts, then donors.
cnm_fs_all_cleanup() {
	local rc=$? name
	set +e # cleanup goes on whatever fails
	if declare -F cnm_swap_cleanup >/dev/null; then
		cnm_swap_cleanup || true
	fi
	cnm_fs_cleanup
	if [ "$rc" != 0 ]; then
		for name in "${CNM_FS_MOUNTS[@]}"; do
			cnm_log_problems "log of mount $name" "$CNM_TMP/fs-$name.log"
			cnm_log_tail "log of mount $name" "$CNM_TMP/fs-$name.log"
		done
	fi
	(exit "$rc")
	cnm_cleanup
}

# cnm_fs_test_begin: the opening of a test that mounts, after sourcing
# common.sh and fs.sh: mounts, swap and donors cleaned up on exit, a skip
# (77) without FUSE, and $mnt, the test's mount point in $CNM_TMP.
cnm_fs_test_begin() {
	trap cnm_fs_all_cleanup EXIT
	cnm_fuse_facilities
	mnt=$CNM_TMP/mnt
}

# cnm_fs_test_end NAME: the close of such a test: unmount NAME, stop every
# donor the test started; fails when one does not stop cleanly or its log
# or the mount's has an error line.
cnm_fs_test_end() {
	cnm_umount "$1"
	cnm_stop_donors "${CNM_DONORS[@]}"
	cnm_fail_on_log_errors "$(cnm_fs_log "$1")"
}

# cnm_fuse_facilities: exit 77 unless we can mount FUSE filesystems.
cnm_fuse_facilities() {
	[ "$(id -u)" = 0 ] || cnm_skip "needs root"
	[ -c /dev/fuse ] || cnm_skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || cnm_skip "no fusermount3"
	[ -x "$CNM_FS_BIN" ] || cnm_skip "cnetmem not built"
}
