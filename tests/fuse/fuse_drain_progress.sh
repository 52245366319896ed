#!/bin/bash
# cnetmemctl donor-drain shows a progress line on a terminal (slabs moved
# of those the donor held) and none when stderr is not a terminal; the
# data stays readable after the drain.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
command -v script >/dev/null || cnm_skip "no script(1) for a terminal"
CTL=$CNM_CTL_BIN

cnm_start_donor d1 --memory 256M
cnm_start_donor d2 --memory 256M
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp --size 128M \
	--slab-size 1M
head -c $((24 << 20)) /dev/urandom >"$CNM_TMP/src"
cp "$CNM_TMP/src" "$mnt/data"
held=$(cnm_stat_json "$mnt" 's["donors"][0]["slabs"]')
[ "$held" -gt 0 ] || fail "d1 holds no slab to drain"
a1=127.0.0.1:$(cnm_donor_port d1)
script -qec "$CTL donor-drain $mnt $a1" "$CNM_TMP/typescript" \
	>"$CNM_TMP/tty.out" </dev/null
sed 's/^/# /' "$CNM_TMP/tty.out" | tr '\r' '\n' >&2
grep -aq "donor $a1: draining: 0 of $held slabs moved" "$CNM_TMP/tty.out" ||
	fail "no progress line on the terminal"
grep -aq "donor $a1: drained and disconnected" "$CNM_TMP/tty.out" ||
	fail "no final line"
cmp "$CNM_TMP/src" "$mnt/data" || fail "data changed by the drain"
# not a terminal: only the result
"$CTL" donor-add "$mnt" "$a1" >/dev/null
cp "$CNM_TMP/src" "$mnt/data2"
"$CTL" donor-drain "$mnt" "$a1" >"$CNM_TMP/out" 2>"$CNM_TMP/err"
[ ! -s "$CNM_TMP/err" ] || fail "progress written to a non-terminal"
cmp "$CNM_TMP/src" "$mnt/data2" || fail "data2 changed by the drain"
cnm_umount m
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo ok
