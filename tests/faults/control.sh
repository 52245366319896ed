#!/bin/bash
# The control channel of a running mount (MOUNTPOINT/.cnetmem-stats opened
# read-write, fs/ctl.c) refuses what it must: a non-root caller, a line that
# is not a command, a donor already in use, an unreachable donor, a drain of
# a donor that is not in use; and a read-only open still gets the stats.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
trap cnm_fs_all_cleanup EXIT

cnm_fuse_facilities
[ -x "$CNM_CTL_BIN" ] || cnm_skip "cnetmemctl not built"
command -v setpriv >/dev/null || cnm_skip "no setpriv"

cnm_start_donor d1 --memory 64M
cnm_start_donor d2 --memory 64M
mnt=$CNM_TMP/mnt
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --slab-size 4M \
	--size 32M --ctl-timeout-ms 1000

expect_fail() { # expect_fail WHAT PATTERN COMMAND...
	local what=$1 re=$2 out rc=0
	shift 2
	out=$(timeout 30 "$@" 2>&1) || rc=$?
	if [ "$rc" = 0 ] || ! grep -Eq -- "$re" <<<"$out"; then
		echo "FAIL: $what: exit $rc, said: $out" >&2
		exit 1
	fi
	cnm_log "$what: refused ($out)"
}

a1=127.0.0.1:$(cnm_donor_port d1)
a2=127.0.0.1:$(cnm_donor_port d2)
expect_fail "non-root caller" "root only|Permission denied" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$CNM_CTL_BIN" donor-add "$mnt" "$a2"
expect_fail "a donor already in use" "already in use" \
	"$CNM_CTL_BIN" donor-add "$mnt" "$a1"
expect_fail "an unreachable donor" "." \
	"$CNM_CTL_BIN" donor-add "$mnt" 127.0.0.1:1
expect_fail "draining a donor not in use" "not in use" \
	"$CNM_CTL_BIN" donor-drain "$mnt" "$a2"
expect_fail "a line that is not a command" "Invalid argument" \
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"format-all-disks now\n")' "$mnt/.cnetmem-stats"

# what works: read-only stats, then an add and a drain of the added donor
[ "$(cnm_stat_json "$mnt" 'len(s["donors"])')" = 1 ]
timeout 30 "$CNM_CTL_BIN" donor-add "$mnt" "$a2"
echo data >"$mnt/f"
timeout 60 "$CNM_CTL_BIN" donor-drain "$mnt" "$a1" --timeout 30
[ "$(cat "$mnt/f")" = data ]
[ "$(cnm_stat_json "$mnt" '[d["state"] for d in s["donors"]]')" = "['drained', 'up']" ]

cnm_umount m
cnm_stop_donor d1
cnm_stop_donor d2
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "PASS"
