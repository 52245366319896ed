#!/bin/bash
# PostgreSQL 15 with its server in a memory cgroup and temp_tablespaces on
# a cnetmem mount (two TCP donors): a sort and a hash join that spill give
# the same results as with their temp files on local disk, and the daemon
# got the spill in requests of 64 KiB or more on average.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
. "$SOURCE_ROOT/tests/lib/swap.sh"
. "$SOURCE_ROOT/tests/lib/pg.sh"
pg=$CNM_TMP/pg
cleanup() {
	local rc=$?
	set +e
	cnm_pg_stop "$pg"
	(exit "$rc")
	cnm_fs_all_cleanup
}
trap cleanup EXIT
cnm_swap_facilities
cnm_pg_facilities

chmod 755 "$CNM_TMP" # postgres reaches its directories through it
mnt=$CNM_TMP/mnt
cnm_start_donor d1 --memory 1G
cnm_start_donor d2 --memory 1G
# shellcheck disable=SC2046
cnm_mount m "$mnt" $(cnm_donor_args d1 d2) --transport tcp --size 2G
cnm_cgroup_make "cnm-pg-$$" $((320 << 20))
cnm_pg_init "$pg"
cnm_pg_start "$pg" "$CNM_CGROUP" -c shared_buffers=32MB
cnm_pg_load "$pg" 3000000 1500000
cnm_pg_tablespace "$pg" disk "$CNM_TMP/pgdisk"
cnm_pg_tablespace "$pg" ws "$mnt/pgtmp"

for q in sort join; do
	for ts in disk ws; do
		t0=$(date +%s.%N)
		cnm_pg_sql "$pg" "SET temp_tablespaces = $ts; SET log_temp_files = 0;
$(cnm_pg_query_$q)" >"$CNM_TMP/$q.$ts" || fail "$q with temp files on $ts"
		cnm_log "$q, temp on $ts: $(cat "$CNM_TMP/$q.$ts") in $(echo "$(date +%s.%N) - $t0" | bc) s"
	done
	cmp -s "$CNM_TMP/$q.disk" "$CNM_TMP/$q.ws" ||
		fail "$q: $(cat "$CNM_TMP/$q.ws") on cnetmem, $(cat "$CNM_TMP/$q.disk") on disk"
done
grep -q 'temporary file: path "pg_tblspc/' "$pg/server.log" ||
	fail "no temp file in a tablespace: the queries did not spill"
s=$(cnm_stat_json "$mnt" '"%d %d" % (s["working_set"]["writes"], s["working_set"]["write_bytes"])')
read -r n bytes <<<"$s"
[ "$n" -gt 0 ] || fail "no temp file reached the mount"
cnm_log "working-set writes $n, $((bytes / n / 1024)) KiB average"
[ $((bytes / n)) -ge $((64 << 10)) ] || fail "requests average $((bytes / n)) bytes"
cnm_pg_stop "$pg"
cnm_swap_cleanup
[ -z "$(ls -A "$mnt/pgtmp")" ] || true
cnm_umount m
cnm_stop_donors d1 d2
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: PostgreSQL spills to cnetmem with the results of local disk"
