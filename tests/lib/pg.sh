# shellcheck shell=bash
# A private PostgreSQL 15 cluster (Debian's postgresql-15) for tests and
# bench/ws: shared by tests/swap/ws_postgres.sh and bench/ws.
#
#   cnm_pg_facilities                skip (77) without postgresql-15
#   cnm_pg_init DIR                  initdb DIR/data as the postgres user
#   cnm_pg_start DIR CGROUP [-c NAME=VALUE...]
#                                    the server, alone in memory cgroup
#                                    CGROUP (a directory with cgroup.procs),
#                                    its socket in DIR, port CNM_PG_PORT
#   cnm_pg_sql DIR SQL               psql -qAt as postgres, SQL on stdin;
#                                    prints the results
#   cnm_pg_tablespace DIR NAME PATH  a tablespace at PATH (made, chowned)
#   cnm_pg_stop DIR                  pg_ctl stop -m fast (and kill -9 after
#                                    30 s); safe to call when not running
#   cnm_pg_query_sort N, cnm_pg_query_join  the two spilling queries
#
# Only the server (and its backends) is in the cgroup, never the caller.
# DIR and its parents must be searchable by postgres.

CNM_PG_BIN=${CNM_PG_BIN:-/usr/lib/postgresql/15/bin}
CNM_PG_PORT=${CNM_PG_PORT:-}

cnm_pg_facilities() {
	[ -x "$CNM_PG_BIN/postgres" ] || cnm_skip "no postgresql-15"
	id postgres >/dev/null 2>&1 || cnm_skip "no postgres user"
	command -v runuser >/dev/null || cnm_skip "no runuser"
}

cnm_pg_init() {
	local dir=$1
	mkdir -p "$dir"
	chown postgres: "$dir"
	runuser -u postgres -- "$CNM_PG_BIN/initdb" -D "$dir/data" -A trust \
		-U postgres --no-sync >"$dir/initdb.log" 2>&1 || {
		sed 's/^/# /' "$dir/initdb.log" >&2
		return 1
	}
}

cnm_pg_start() {
	local dir=$1 cg=$2 i
	shift 2
	# a free port: the socket's name (the server listens on no TCP port)
	CNM_PG_PORT=${CNM_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
	# shellcheck disable=SC2016
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" \
		runuser -u postgres -- "$CNM_PG_BIN/postgres" -D "$dir/data" \
		-k "$dir" -p "$CNM_PG_PORT" -c listen_addresses= -c fsync=off \
		-c max_parallel_workers_per_gather=0 -c work_mem=4MB \
		-c wal_level=minimal -c max_wal_senders=0 "$@" \
		>>"$dir/server.log" 2>&1 &
	echo $! >"$dir/server.pid"
	for ((i = 0; i < 600; i++)); do
		runuser -u postgres -- "$CNM_PG_BIN/pg_isready" -q -h "$dir" \
			-p "$CNM_PG_PORT" && return 0
		kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/# /' "$dir/server.log" >&2
	return 1
}

cnm_pg_sql() {
	printf '%s\n' "$2" |
		runuser -u postgres -- "$CNM_PG_BIN/psql" -h "$1" \
			-p "$CNM_PG_PORT" -d postgres -X -qAt -v ON_ERROR_STOP=1
}

cnm_pg_tablespace() {
	local dir=$1 name=$2 path=$3
	mkdir -p "$path"
	chown postgres: "$path"
	cnm_pg_sql "$dir" "CREATE TABLESPACE $name LOCATION '$path'" >/dev/null
}

cnm_pg_stop() {
	local dir=$1 pid
	[ -f "$dir/server.pid" ] || return 0
	pid=$(cat "$dir/server.pid")
	if kill -0 "$pid" 2>/dev/null; then
		runuser -u postgres -- "$CNM_PG_BIN/pg_ctl" -D "$dir/data" \
			-m fast -t 30 stop >/dev/null 2>&1 ||
			kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/server.pid"
}

# cnm_pg_load DIR SORT_ROWS JOIN_ROWS: tables s (sort) and a, b (join) in
# the default tablespace; values are a fixed permutation, so every run of
# the queries has one right answer. Logged tables (wal_level minimal makes
# them cheap to load): an unlogged one is emptied by the crash recovery
# that follows a backend killed by the OOM killer (tmpfs).
cnm_pg_load() {
	cnm_pg_sql "$1" "
CREATE TABLE s AS SELECT (g::bigint * 7919) % $2 AS v,
	md5(g::text) AS pad FROM generate_series(1, $2) g;
CREATE TABLE a AS SELECT (g::bigint * 7919) % $3 AS k, g AS v
	FROM generate_series(1, $3) g;
CREATE TABLE b AS SELECT (g::bigint * 104729) % $3 AS k, g AS w
	FROM generate_series(1, $3) g;
ANALYZE s, a, b;" >/dev/null
}

# The sort: every row ranked by an ORDER BY that spills (work_mem 4MB).
cnm_pg_query_sort() {
	echo "SELECT sum(rn * v), sum(rn * hashtext(pad)), count(*) FROM (SELECT v, pad, row_number() OVER
	(ORDER BY v, pad) AS rn FROM s) x"
}

# The hash join: batches spill to temp files.
cnm_pg_query_join() {
	echo "SET enable_mergejoin = off; SET enable_nestloop = off;
SELECT count(*), sum(a.v::bigint * b.w) FROM a JOIN b USING (k)"
}
