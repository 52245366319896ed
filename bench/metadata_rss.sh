#!/bin/bash
# Metadata memory per GiB stored (fs/README.md, "Memory per GiB stored" and
# "Metadata memory with a state"): a 3200M mount over one TCP donor
# (sealed pages), 1, 2 and 3 GiB of dense files written with dd
# oflag=direct, then an fallocated 1 GiB swap-style file before and after
# it is written. Prints, at each step, the Rss of the memfd:cnetmem-state
# mappings in the serving process's smaps and the stats' metadata_bytes
# and map_nodes_used (the swap-style file on a fresh mount: pool memory,
# once touched, stays with the mount). Run as root from the top of a built tree:
#
#   bench/metadata_rss.sh [BUILD_DIR]       # default build
#
# CNM_FS_BIN=OTHER/fs/cnetmem measures another build's mount daemon. No
# timing: the figures are memory. On a loaded machine the donor may miss
# tests/lib's 10 s to reserve its 3.4G ("did not start"): run it again.
set -euo pipefail
SOURCE_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_ROOT=$(cd "${1:-$SOURCE_ROOT/build}" && pwd)
export SOURCE_ROOT BUILD_ROOT
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cnm_fs_test_begin

state_kib() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { on = /memfd:cnetmem-state/ }
	     on && /^Rss:/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps"
}

step() {
	local pid
	pid=$(cnm_fs_server_pid "$cur")
	printf '%-28s state_rss_kib %7d  metadata_kib %7d  map_nodes %6d\n' \
		"$1" "$(state_kib "$pid")" \
		"$(($(cnm_stat_json "$mnt" 's["metadata_bytes"]') >> 10))" \
		"$(cnm_stat_json "$mnt" 's["map_nodes_used"]')"
}

cnm_start_donor d1 --memory 3400M
cur=m
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 3200M
step "empty"
for g in 1 2 3; do
	dd if=/dev/urandom of="$mnt/dense$g" bs=1M count=1024 oflag=direct \
		status=none
	step "$g GiB dense"
done
rm -f "$mnt"/dense*
step "removed"
cnm_umount m
# a fresh mount: an fallocated 1 GiB swap-style file, then written
cur=m2
# shellcheck disable=SC2046
cnm_mount m2 "$mnt" $(cnm_donor_args d1) --transport tcp --size 3200M
step "fresh mount"
fallocate -l 1G "$mnt/swapfile"
step "1 GiB fallocated"
dd if=/dev/urandom of="$mnt/swapfile" bs=1M count=1024 oflag=direct \
	conv=notrunc status=none
step "1 GiB fallocated, written"
rm -f "$mnt/swapfile"
cnm_fs_test_end m2
