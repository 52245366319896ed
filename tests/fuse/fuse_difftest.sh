#!/bin/bash
# The same seeded random file operations on tmpfs and on a cnetmem mount
# (two TCP donors, or the local-memory backend) give the same results and
# identical trees; removing everything gives every page back.
# usage: fuse_difftest.sh donors|local-memory
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
cleanup() {
	local rc=$?
	set +e
	umount "$CNM_TMP/ref" 2>/dev/null
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_fuse_facilities

backend=${1:-donors}
mnt=$CNM_TMP/mnt
ref=$CNM_TMP/ref
mkdir -p "$ref"
mount -t tmpfs -o size=512M tmpfs "$ref"
if [ "$backend" = donors ]; then
	cnm_start_donor d1 --memory 512M
	cnm_start_donor d2 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp \
		--slab-size 4M --size 512M
else
	cnm_mount m "$mnt" --local-memory --size 512M
fi

for seed in 1 2; do
	python3 "$SOURCE_ROOT/tests/fuse/difftest.py" "$ref" "$mnt" \
		--seed "$seed" --ops 1200
	if [ "$backend" = donors ]; then
		cnm_stat_json "$mnt" \
			'"# donors wrote: " + str([d["bytes_written"] for d in s["donors"]])'
	fi
	rm -rf "${ref:?}"/* "${mnt:?}"/*
done

# everything removed: no page, no inode but the root, no map node held
used=$(cnm_stat_json "$mnt" \
	'(s["used_bytes"], s["inodes"], s["map_nodes_used"], s["pages_used"])')
[ "$used" = "(0, 1, 0, 0)" ] || {
	echo "FAIL: after removing everything: (used, inodes, nodes, pages) = $used" >&2
	exit 1
}
cnm_fs_test_end m
echo "ok: cnetmem ($backend) behaves like tmpfs"
