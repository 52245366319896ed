# shellcheck shell=bash
# What the placement integration tests share, after tests/lib/common.sh:
#
#   itest_donors N [ARGS...]   start donors d1..dN (256M, grace 2 s, then
#                              ARGS); their addresses in ${donors[@]}
#   itest_run LINES MODE ARGS  pstore_itest MODE ARGS: fails showing its
#                              output when it fails, else prints its first
#                              LINES lines; fails on error lines in its log

donors=()

itest_donors() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do
		cnm_start_donor "d$i" --memory 256M --grace-period 2 "$@"
		donors+=("127.0.0.1:$CNM_PORT")
	done
}

itest_run() {
	local lines=$1
	shift
	"$BUILD_ROOT/tests/integration/placement/pstore_itest" "$@" \
		>"$CNM_TMP/itest.out" 2>"$CNM_TMP/itest.err" || {
		cat "$CNM_TMP/itest.out" "$CNM_TMP/itest.err"
		exit 1
	}
	head -"$lines" "$CNM_TMP/itest.out"
	# donors going away are warnings for the client, not errors
	cnm_fail_on_log_errors "$CNM_TMP/itest.err"
}
