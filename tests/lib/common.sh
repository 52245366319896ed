# shellcheck shell=bash
# Shared helpers for shell tests. Source it from a test run by meson with
# `env: test_env` (BUILD_ROOT and SOURCE_ROOT set):
#
#   set -euo pipefail
#   . "$SOURCE_ROOT/tests/lib/common.sh"
#   trap cnm_cleanup EXIT
#   cnm_start_donor d1 --memory 256M --grace-period 2
#   echo "donor on 127.0.0.1:$CNM_PORT_d1"       # also $CNM_PORT (last one)
#   ...
#   cnm_stop_donor d1                 # fails if it does not exit in 10 s
#   cnm_fail_on_log_errors "$(cnm_donor_log d1)"
#
# Every donor runs in the foreground, on 127.0.0.1 with an ephemeral port
# (--port-file), logging to $CNM_TMP/NAME.log. cnm_cleanup kills whatever
# is still running and removes $CNM_TMP (kept when CNM_KEEP=1).
#
# Keys: nothing runs keyless unless a test says --insecure. $CNM_KEY (the
# client identity "default") and $CNM_OPKEY (the operator) are made once
# per test; cnm_start_donor passes both unless the test gives a key option
# or --insecure itself, and cnm_mount (tests/lib/fs.sh) passes $CNM_KEY.

: "${BUILD_ROOT:?run through meson test (BUILD_ROOT unset)}"
: "${SOURCE_ROOT:?run through meson test (SOURCE_ROOT unset)}"

# A test meson stops (its timeout, or meson told to stop) gets SIGTERM and,
# 0.5 s later, SIGKILL for its whole process group: too soon for a cleanup
# that stops postgres, swap, mounts and donors (a memory cgroup of
# ws_postgres.sh was left so). On SIGTERM the EXIT trap therefore runs in a
# process group of its own (job control on), which that SIGKILL does not
# reach. Once meson is gone a write to its pipe must fail, not end the
# cleanup by SIGPIPE: `trap : PIPE` (a handled signal is reset in the
# programs the test runs, so they keep the default).
cnm_on_term() {
	local cmd
	cmd=$(trap -p EXIT)
	trap - EXIT TERM
	[ -n "$cmd" ] || exit 143
	cmd=${cmd#trap -- }
	eval "cmd=${cmd% EXIT}"
	set -m
	(
		set +e
		trap : PIPE
		(exit 143)
		eval "$cmd"
	) &
	wait $! 2>/dev/null
	exit 143
}
trap cnm_on_term TERM
trap : PIPE

CNM_DONOR_BIN=${CNM_DONOR_BIN:-$BUILD_ROOT/donor/cnetmem-donor}
CNM_CTL_BIN=${CNM_CTL_BIN:-$BUILD_ROOT/ctl/cnetmemctl}
CNM_TMP=${CNM_TMP:-$(mktemp -d /tmp/cnm-test.XXXXXX)}
export CNM_TMP
CNM_DONORS=()

# cnm_make_key FILE: a fresh key file, mode 0600.
cnm_make_key() {
	(umask 077 && head -c 32 /dev/urandom | base64 >"$1")
}

CNM_KEY=${CNM_KEY:-$CNM_TMP/key}
CNM_OPKEY=${CNM_OPKEY:-$CNM_TMP/operator.key}
[ -s "$CNM_KEY" ] || cnm_make_key "$CNM_KEY"
[ -s "$CNM_OPKEY" ] || cnm_make_key "$CNM_OPKEY"
export CNM_KEY CNM_OPKEY

# cnm_has_key_arg ARGS...: true when ARGS choose keys (or none) already.
cnm_has_key_arg() {
	local a
	for a in "$@"; do
		case $a in
		--key-file | --key-file=* | --client | --client=* | \
			--operator-key-file | --operator-key-file=* | \
			--insecure | --local-memory) return 0 ;;
		esac
	done
	return 1
}

cnm_log() {
	echo "# $*" >&2
}

# fail MESSAGE: the test fails with MESSAGE (its trap cleans up).
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# cnm_skip REASON: exit 77 (meson: skipped)
cnm_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# cnm_wait_for_file FILE SECONDS [PID]: wait until FILE is non-empty; fail
# early if PID dies.
cnm_wait_for_file() {
	local f=$1 t=$2 pid=${3:-} i
	for ((i = 0; i < t * 20; i++)); do
		[ -s "$f" ] && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			cnm_log "process $pid died while waiting for $f"
			return 1
		fi
		sleep 0.05
	done
	cnm_log "timed out waiting for $f"
	return 1
}

# cnm_wait_for_log LOG REGEX [SECONDS]: wait until LOG has a line matching
# REGEX (for lines a daemon writes after the event the test saw).
cnm_wait_for_log() {
	local log=$1 re=$2 t=${3:-10} i
	for ((i = 0; i < t * 20; i++)); do
		grep -Eq -- "$re" "$log" 2>/dev/null && return 0
		sleep 0.05
	done
	cnm_log "no line matching '$re' in $log"
	return 1
}

# cnm_wait_pid PID SECONDS: wait for a process that is not our child.
cnm_wait_pid() {
	local pid=$1 t=$2 i
	for ((i = 0; i < t * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# cnm_reap PID PIDFILE WHAT: the exit status of our child PID, which has
# exited; empties PIDFILE; fails, naming WHAT, unless the status is 0.
cnm_reap() {
	local rc=0
	wait "$1" 2>/dev/null || rc=$?
	: >"$2"
	if [ "$rc" != 0 ]; then
		cnm_log "$3 exited with status $rc"
		return 1
	fi
}

cnm_donor_pid() { cat "$CNM_TMP/$1.pid"; }
cnm_donor_log() { echo "$CNM_TMP/$1.log"; }
cnm_donor_port() { cat "$CNM_TMP/$1.port"; }

# cnm_start_donor NAME [ARGS...]: start a donor; later ARGS override the
# defaults (--memory 64M --grace-period 2, the keys above). Exports CNM_PORT_NAME (NAME with
# non-alphanumerics turned into _) and CNM_PORT.
cnm_start_donor() {
	local name=$1 pid var keys=()
	shift
	rm -f "$CNM_TMP/$name.port"
	cnm_has_key_arg "$@" ||
		keys=(--key-file "$CNM_KEY" --operator-key-file "$CNM_OPKEY")
	"$CNM_DONOR_BIN" --foreground --listen 127.0.0.1:0 \
		--port-file "$CNM_TMP/$name.port" --memory 64M \
		--grace-period 2 "${keys[@]}" "$@" >>"$CNM_TMP/$name.log" 2>&1 &
	pid=$!
	echo "$pid" >"$CNM_TMP/$name.pid"
	CNM_DONORS+=("$name")
	# a file, so donors started in subshells are cleaned up too
	echo "$name" >>"$CNM_TMP/.donors"
	if ! cnm_wait_for_file "$CNM_TMP/$name.port" 10 "$pid"; then
		cnm_log "donor $name did not start; its log:"
		sed 's/^/#   /' "$CNM_TMP/$name.log" >&2
		return 1
	fi
	var=CNM_PORT_${name//[^a-zA-Z0-9]/_}
	printf -v "$var" '%s' "$(cat "$CNM_TMP/$name.port")"
	export "${var?}"
	CNM_PORT=${!var}
	export CNM_PORT
	cnm_log "donor $name: pid $pid, 127.0.0.1:$CNM_PORT"
}

# cnm_stop_donor NAME: SIGTERM, fail if it does not exit within 10 s or
# exits with a non-zero status.
cnm_stop_donor() {
	local name=$1 pid
	pid=$(cnm_donor_pid "$name") || return 1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! cnm_wait_pid "$pid" 10; then
		cnm_log "donor $name (pid $pid) did not exit on SIGTERM"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		: >"$CNM_TMP/$name.pid"
		return 1
	fi
	cnm_reap "$pid" "$CNM_TMP/$name.pid" "donor $name"
}

# cnm_stop_donors NAME...: cnm_stop_donor each, and each log must have no
# error line.
cnm_stop_donors() {
	local d
	for d in "$@"; do
		cnm_stop_donor "$d"
		cnm_fail_on_log_errors "$(cnm_donor_log "$d")"
	done
}

# cnm_kill_donor NAME: SIGKILL (a crash, for restart tests).
cnm_kill_donor() {
	local pid
	pid=$(cnm_donor_pid "$1")
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	: >"$CNM_TMP/$1.pid"
}

# cnm_fail_on_log_errors LOG [ALLOWED_REGEX]: fail when LOG has "error:"
# lines other than those matching ALLOWED_REGEX.
cnm_fail_on_log_errors() {
	local log=$1 allowed=${2:-} bad
	[ -f "$log" ] || return 0
	bad=$(grep 'error:' "$log" || true)
	if [ -n "$allowed" ] && [ -n "$bad" ]; then
		bad=$(grep -Ev -- "$allowed" <<<"$bad" || true)
	fi
	if [ -n "$bad" ]; then
		cnm_log "unexpected errors in $log:"
		# shellcheck disable=SC2001
		sed 's/^/#   /' <<<"$bad" >&2
		return 1
	fi
	return 0
}

# cnm_kill_rounds TAG ITEST ARGS...: runs ITEST --rounds 3 ARGS, a program
# that SIGKILLs a serving process three times and checks what each
# successor reads; the test fails, naming TAG, when a page came back wrong
# or ITEST gave no "ok: 3 kills" verdict. Its output is in $CNM_TMP/TAG.out.
cnm_kill_rounds() {
	local tag=$1 itest=$2
	shift 2
	"$itest" --rounds 3 "$@" >"$CNM_TMP/$tag.out" 2>"$CNM_TMP/$tag.err" || {
		cat "$CNM_TMP/$tag.out" "$CNM_TMP/$tag.err"
		fail "$tag: a page came back wrong after a kill"
	}
	cat "$CNM_TMP/$tag.out"
	grep -q '^ok: 3 kills' "$CNM_TMP/$tag.out" || fail "$tag: no verdict"
}

# cnm_log_tail TITLE FILE [LINES]: the last LINES (30) lines of FILE, if it
# exists, on stderr under "TITLE:" (what a failed test shows of a log).
cnm_log_tail() {
	[ -f "$2" ] || return 0
	cnm_log "$1:"
	tail -n "${3:-30}" "$2" | sed 's/^/#   /' >&2
}

# cnm_log_problems TITLE FILE [LINES]: the first LINES (40) warnings and
# errors of FILE on stderr, what a failed test must show even when the end
# of the log is routine lines.
cnm_log_problems() {
	[ -f "$2" ] || return 0
	grep -qE '^(warning|error|crit|alert|emerg)' "$2" || return 0
	cnm_log "$1, warnings and errors:"
	grep -E '^(warning|error|crit|alert|emerg)' "$2" | head -n "${3:-40}" |
		sed 's/^/#   /' >&2
}

# cnm_cleanup: for `trap cnm_cleanup EXIT`; keeps the exit status.
cnm_cleanup() {
	local rc=$? name pid names=()
	[ -f "$CNM_TMP/.donors" ] && mapfile -t names < <(sort -u "$CNM_TMP/.donors")
	for name in "${names[@]}"; do
		pid=$(cat "$CNM_TMP/$name.pid" 2>/dev/null || true)
		[ -n "$pid" ] || continue
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		sleep 0.3
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" != 0 ]; then
		for name in "${names[@]}"; do
			cnm_log_tail "log of donor $name" "$CNM_TMP/$name.log"
		done
	fi
	if [ "${CNM_KEEP:-0}" = 1 ]; then
		cnm_log "kept $CNM_TMP"
	else
		rm -rf "$CNM_TMP"
	fi
	return "$rc"
}
