#!/bin/bash
# The container case: a subdirectory of the mount bind-mounted into another
# mount namespace (as a container runtime does); a process there writes and
# reads back a working-set file, and the bytes land on the donor.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
command -v unshare >/dev/null || cnm_skip "no unshare"

cnm_start_donor d1 --memory 256M
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 256M
mkdir -p "$mnt/ctr42" "$CNM_TMP/scratch"
before=$(cnm_stat_json "$mnt" 's["donors"][0]["bytes_written"]')

# inside the namespace: write 32 MiB with a pattern, read it back, compare
# shellcheck disable=SC2016
unshare -m sh -c '
	set -e
	mount --make-rprivate /
	mount --bind "$1/ctr42" "$2"
	head -c 33554432 /dev/urandom >"$2/spill.src.tmp"
	md5=$(md5sum <"$2/spill.src.tmp" | cut -d" " -f1)
	mv "$2/spill.src.tmp" "$2/spill"
	[ "$(md5sum <"$2/spill" | cut -d" " -f1)" = "$md5" ]
	sort -T "$2" -S 1M "$2/spill" | tail -c 1 >/dev/null
	echo "$md5" >"$2/md5"
' sh "$mnt" "$CNM_TMP/scratch" || fail "the namespace's file did not read back"

# the bind mount stayed inside the namespace
! mountpoint -q "$CNM_TMP/scratch" || fail "bind mount leaked out"
[ -f "$mnt/ctr42/spill" ] || fail "the file is not on the mount"
[ "$(md5sum <"$mnt/ctr42/spill" | cut -d' ' -f1)" = "$(cat "$mnt/ctr42/md5")" ] ||
	fail "the file differs outside the namespace"
after=$(cnm_stat_json "$mnt" 's["donors"][0]["bytes_written"]')
cnm_log "donor bytes written: $before -> $after"
[ $((after - before)) -ge $((32 << 20)) ] || fail "the donor got $((after - before)) bytes"
# and the donor says so itself
"$CNM_CTL_BIN" donor "127.0.0.1:$CNM_PORT" --key-file "$CNM_KEY" | sed 's/^/# /'
rm -rf "${mnt:?}/ctr42"
cnm_umount m
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: a bind-mounted subdirectory in another mount namespace spills to the donor"
