#!/bin/bash
# Swap on a cnetmem file through a --direct-io loop device: a workload in a
# memory cgroup at 25 % of its working set writes every page, reads every
# page back and verifies it; the pages must have gone out to swap and come
# back (pswpout/pswpin), the donors (or the local-memory backend) must
# hold them, none of the swap file may sit in the host page cache, and the
# teardown must leave no swap, loop device, mount or cgroup.
#
# usage: swap_workload.sh donors|local-memory   (run by meson, suite swap)
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
trap cnm_fs_all_cleanup EXIT

backend=${1:-donors}
ws_mib=${CNM_SWAP_WS_MIB:-512}
limit=$((ws_mib * 1024 * 1024 / 4))
cnm_swap_facilities
[ -x "$CNM_PAGETOUCH" ] || cnm_skip "no $CNM_PAGETOUCH"

mnt=$CNM_TMP/mnt
case $backend in
donors)
	cnm_start_donor d1 --memory 512M
	cnm_start_donor d2 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp \
		--size 1200M ;;
local-memory)
	cnm_mount m "$mnt" --local-memory --size 1200M ;;
*)
	echo "unknown backend $backend" >&2
	exit 2 ;;
esac

cnm_swap_on "$mnt/swap0" 1G 100
cnm_cgroup_make "cnm-test-$$" "$limit"

out0=$(cnm_vmstat pswpout)
in0=$(cnm_vmstat pswpin)
cnm_log "workload: ${ws_mib} MiB working set, cgroup limit $((limit >> 20)) MiB"
cnm_cgroup_start "$CNM_TMP/workload.out" "$CNM_PAGETOUCH" \
	--size "${ws_mib}M" --phases seq_write,seq_read,verify
if ! cnm_cgroup_wait; then
	cat "$CNM_TMP/workload.out" >&2
	echo "FAIL: the workload found pages that did not come back intact" >&2
	exit 1
fi
sed 's/^/# /' "$CNM_TMP/workload.out"
dout=$(($(cnm_vmstat pswpout) - out0))
din=$(($(cnm_vmstat pswpin) - in0))
cnm_log "pswpout +$dout pages, pswpin +$din pages"

# at least half of what does not fit the cgroup must have gone out and in
need=$(((ws_mib * 1024 * 1024 - limit) / 4096 / 2))
[ "$dout" -ge "$need" ] || {
	echo "FAIL: pswpout grew by $dout pages, expected >= $need" >&2
	exit 1
}
[ "$din" -ge "$need" ] || {
	echo "FAIL: pswpin grew by $din pages, expected >= $need" >&2
	exit 1
}

# the page store got the swapped pages
written=$(cnm_stat_json "$mnt" 's["bytes_written"]')
[ "$written" -ge $((need * 4096)) ] || {
	echo "FAIL: the mount wrote $written bytes, expected >= $((need * 4096))" >&2
	exit 1
}
if [ "$backend" = donors ]; then
	held=0
	for d in d1 d2; do
		port=$(cnm_donor_port $d)
		if [ -x "$CNM_CTL_BIN" ]; then
			# the donor's own account, by its QUERY
			"$CNM_CTL_BIN" donor "127.0.0.1:$port" \
				--key-file "$CNM_KEY" >"$CNM_TMP/$d.query"
			sed "s/^/# donor $d query: /" "$CNM_TMP/$d.query"
			w=$(python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["bytes_written"])' "$CNM_TMP/$d.query")
		else
			w=$(cnm_stat_json "$mnt" \
				"[d['bytes_written'] for d in s['donors'] if d['addr'].endswith(':$port')][0]")
		fi
		cnm_log "donor $d: $w bytes written to it"
		held=$((held + w))
	done
	[ "$held" -ge $((need * 4096)) ] || {
		echo "FAIL: donors received $held bytes, expected >= $((need * 4096))" >&2
		exit 1
	}
fi

# nothing of the swap file in the host page cache
cached=$(fincore --bytes --noheadings --output RES "$mnt/swap0" | tr -d ' ')
cnm_log "fincore: $cached bytes of the swap file cached"
[ "$cached" = 0 ] || {
	echo "FAIL: $cached bytes of the swap file are in the page cache" >&2
	exit 1
}

# teardown in order, then nothing may be left
cnm_swap_cleanup
cnm_fs_test_end m
left=$(grep -F "$mnt" /proc/swaps || true)
left+=$(losetup -a | grep -F "$mnt" || true)
left+=$(grep -F " $mnt " /proc/mounts || true)
left+=$(ls -d "$CNM_CGROUP_ROOT/cnm-test-$$" 2>/dev/null || true)
[ -z "$left" ] || {
	echo "FAIL: left behind: $left" >&2
	exit 1
}
echo "ok: swap through cnetmem ($backend): $dout pages out, $din in, all verified"
