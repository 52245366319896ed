#!/bin/bash
# POSIX spot checks (errno of directory operations, rename flags, links,
# sparse files, SEEK_DATA/SEEK_HOLE, fallocate modes, statfs = --size,
# ENOSPC at --size with the data before it intact, the stats file) on a
# mount backed by a TCP donor.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin

cnm_start_donor d1 --memory 256M
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --slab-size 4M \
	--size 64M
python3 "$SOURCE_ROOT/tests/fuse/posix_checks.py" "$mnt" $((64 << 20))
"$CNM_CTL_BIN" stats "$mnt" >"$CNM_TMP/stats.txt"
sed 's/^/# /' "$CNM_TMP/stats.txt"
grep -q "capacity 64M" "$CNM_TMP/stats.txt"
grep -q "127.0.0.1:$CNM_PORT .* up " "$CNM_TMP/stats.txt"
"$CNM_CTL_BIN" stats "$mnt" --json | python3 -c 'import json,sys; json.load(sys.stdin)'
cnm_umount m
cnm_stop_donor d1
cnm_fail_on_log_errors "$(cnm_donor_log d1)"
cnm_fail_on_log_errors "$(cnm_fs_log m)"
