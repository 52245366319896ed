#!/bin/bash
# Concurrent writers of records that share pages (read-modify-write of the
# same pages at once) lose nothing, on a donor-backed mount.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin
cnm_start_donor d1 --memory 128M
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 64M
python3 "$SOURCE_ROOT/tests/fuse/concurrent_writes.py" "$mnt/records"
rmw=$(cnm_stat_json "$mnt" 's["rmw_reads"]')
cnm_log "partial-page writes that read the old page: $rmw"
# direct files: the daemon merges partial pages itself; cached ones are
# merged in the page cache, and the daemon sees whole pages (or none)
if [ "$(cnm_stat_json "$mnt" 's["cache"]')" = direct ]; then
	[ "$rmw" -gt 0 ] || { echo "FAIL: no read-modify-write happened" >&2; exit 1; }
fi
cnm_umount m
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
cnm_fail_on_log_errors "$(cnm_fs_log m)"
