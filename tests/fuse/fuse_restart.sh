#!/bin/bash
# Files unchanged across restarts of the serving process (issue 14): a tree
# of working-set files, sparse files, directories, small files and a
# symlink is built step by step in a cnetmem mount (R=2) and in tmpfs; the
# serving process is SIGKILLed after each step and once while a writer
# runs, then the mount must equal tmpfs: names, modes, sizes, contents
# (read back past the page cache) and holes.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/restart.sh"
cnm_restart_needs_dev_fuse

ref=
cleanup() {
	local rc=$?
	set +e
	[ -n "$ref" ] && umount "$ref" 2>/dev/null
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities
ulimit -c 0

tree=$SOURCE_ROOT/tests/fuse/restart_tree.py
for d in d1 d2 d3; do cnm_start_donor "$d" --memory 256M; done
mnt=$CNM_TMP/mnt
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1 d2 d3) --transport tcp \
	--replicas 2 --size 512M
ref=$CNM_TMP/ref
mkdir -p "$ref"
mount -t tmpfs -o size=256M tmpfs "$ref"

# the comparison itself first: equal before any restart
python3 "$tree" build 0 "$ref" "$mnt"
python3 "$tree" compare "$ref" "$mnt" || fail "differs before any restart"

for step in 1 2 3; do
	new=$(cnm_restart_kill m KILL) || fail "no successor after kill $step"
	cnm_log "kill $step: serving process now $new"
	python3 "$tree" compare "$ref" "$mnt" ||
		fail "the mount differs from tmpfs after restart $step"
	python3 "$tree" build "$step" "$ref" "$mnt"
done

# a kill while a writer writes: its file is complete and right afterwards
head -c $((48 << 20)) /dev/urandom >"$ref/big"
dd if="$ref/big" of="$mnt/big" bs=1M conv=fsync status=none &
writer=$!
sleep 0.3
new=$(cnm_restart_kill m KILL) || fail "no successor after the kill mid-write"
wait "$writer" || fail "the writer failed across the restart"
python3 "$tree" compare "$ref" "$mnt" ||
	fail "the mount differs from tmpfs after the kill mid-write"
restarts=$(cnm_restart_count m)
[ "$restarts" = 4 ] || fail "stats count $restarts restarts, not 4"

umount "$ref"
ref=
cnm_umount m
for d in d1 d2 d3; do cnm_stop_donor "$d"; done
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: working-set, sparse files and directories unchanged across 4 restarts"
