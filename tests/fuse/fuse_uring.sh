#!/bin/bash
# FUSE transports under load, run on /dev/fuse by default and over
# io_uring under tests/lib/with-fuse-uring (CNM_FUSE_TRANSPORT=uring, which
# tests/run-all uses): then the mount must really use io_uring (when the
# kernel offers it), every ring thread must answer with its own context, and
# no ring request may fall back to the shared pool.
#   contexts-donor, contexts-local  far more concurrent direct I/O (4 jobs x
#                  depth 32, 4 KiB to 1 MiB) than the mount has request
#                  contexts (--requests 2): every byte verified, no hang; on
#                  /dev/fuse the pool ran dry (request_waits > 0)
#   rings-full     every CPU's ring kept full (2 jobs per CPU, depth 16, twice
#                  libfuse's queue depth) for a minute over a TCP donor, with
#                  verify: no hang, the daemon answers, a clean unmount
#   batch-donor    4 fio jobs on CPU 0 (O_DIRECT reads and writes, 4 KiB to
#                  256 KiB, verify) over a TCP donor for 20 s, while two more
#                  processes on CPU 0 read one file and truncate it (a
#                  truncate waits for the file's I/O, which may sit in its
#                  own ring thread's batch): no hang, every byte right, and
#                  over io_uring ring threads left requests in flight to
#                  the end of their batch (fuse_rings.batched > 0)
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"
bg=()
trap '[ ${#bg[@]} = 0 ] || kill "${bg[@]}" 2>/dev/null; cnm_fs_all_cleanup' EXIT
cnm_fuse_facilities
command -v fio >/dev/null || cnm_skip "no fio"
mnt=$CNM_TMP/mnt

# check_transport: the transport the stats show is the one asked for
check_transport() {
	local t param=/sys/module/fuse/parameters/enable_uring
	t=$(cnm_stat_json "$mnt" 's["fuse_transport"]')
	cnm_log "fuse transport: $t, rings: $(cnm_stat_json "$mnt" 's["fuse_rings"]')"
	if [ "${CNM_FUSE_TRANSPORT:-}" = uring ] && [ "$(cat $param 2>/dev/null)" = Y ]; then
		[ "$t" = io_uring ] || fail "asked for io_uring, got $t"
		[ "$(cnm_stat_json "$mnt" 's["fuse_rings"]["overflow"]')" = 0 ] ||
			fail "ring requests used the shared pool"
	fi
}

# run_fio NAME TIMEOUT ARGS...: fio under a timeout; a hang fails
run_fio() {
	local name=$1 t=$2 rc=0
	shift 2
	timeout "$t" fio --name="$name" --directory="$mnt" --direct=1 \
		--ioengine=libaio --thread --verify=crc32c --verify_fatal=1 \
		--verify_state_save=0 --output="$CNM_TMP/fio-$name.txt" "$@" ||
		rc=$?
	[ "$rc" != 124 ] || fail "fio $name hung (killed after $t s)"
	[ "$rc" = 0 ] || { sed 's/^/# /' "$CNM_TMP/fio-$name.txt" >&2; fail "fio $name: $rc"; }
	grep -E "WRITE:|READ:" "$CNM_TMP/fio-$name.txt" | sed "s/^/# $name /"
}

case $1 in
contexts-donor | contexts-local)
	if [ "$1" = contexts-donor ]; then
		cnm_start_donor d1 --memory 512M
		# shellcheck disable=SC2046
		cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp \
			--size 256M --slab-size 4M --requests 2
	else
		cnm_mount m "$mnt" --local-memory --size 256M --requests 2
	fi
	run_fio ctx 120 --rw=randwrite --bsrange=4k-1m --bs_unaligned=0 \
		--size=24M --numjobs=4 --iodepth=32 --do_verify=1
	check_transport
	waits=$(cnm_stat_json "$mnt" 's["request_waits"]')
	cnm_log "request waits (the shared pool ran dry): $waits"
	if [ "$(cnm_stat_json "$mnt" 's["fuse_transport"]')" = dev_fuse ]; then
		[ "$waits" -gt 0 ] || fail "the request pool never ran dry"
	fi
	cnm_umount m
	;;
rings-full)
	cnm_start_donor d1 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 256M \
		--slab-size 4M
	ncpu=$(nproc)
	run_fio full 150 --rw=randrw --bs=4k --size=16M \
		--numjobs=$((2 * ncpu)) --iodepth=16 --time_based --runtime=60 \
		--verify_backlog=256 --cpus_allowed="0-$((ncpu - 1))" \
		--cpus_allowed_policy=split
	timeout 10 cat "$mnt/.cnetmem-stats" >/dev/null ||
		fail "the daemon does not answer after a minute of full rings"
	check_transport
	if [ "$(cnm_stat_json "$mnt" 's["fuse_transport"]')" = io_uring ]; then
		used=$(cnm_stat_json "$mnt" 's["fuse_rings"]["threads"]')
		[ "$used" = "$(getconf _NPROCESSORS_CONF)" ] ||
			fail "$used ring threads served requests, not every CPU's"
	fi
	cnm_umount m
	;;
batch-donor)
	cnm_start_donor d1 --memory 512M
	# shellcheck disable=SC2046
	cnm_mount m "$mnt" $(cnm_donor_args d1) --transport tcp --size 256M \
		--slab-size 4M
	dd if=/dev/urandom of="$mnt/t" bs=64k count=16 oflag=direct status=none
	taskset -c 0 bash -c 'while :; do dd if="$1" of=/dev/null bs=4k \
		count=256 iflag=direct status=none 2>/dev/null; done' - "$mnt/t" &
	bg+=($!)
	taskset -c 0 bash -c 'while :; do truncate -s 512k "$1" &&
		truncate -s 1M "$1" || exit 1; done' - "$mnt/t" &
	bg+=($!)
	run_fio batch 120 --rw=randrw --bsrange=4k-256k --bs_unaligned=0 \
		--size=16M --numjobs=4 --iodepth=1 --time_based --runtime=20 \
		--verify_backlog=64 --cpus_allowed=0
	kill -0 "${bg[1]}" || fail "a truncate of the read file failed"
	kill "${bg[@]}"
	wait "${bg[@]}" 2>/dev/null || true
	bg=()
	check_transport
	if [ "$(cnm_stat_json "$mnt" 's["fuse_transport"]')" = io_uring ]; then
		n=$(cnm_stat_json "$mnt" 's["fuse_rings"]["batched"]')
		cnm_log "requests left in flight to the end of a batch: $n"
		[ "$n" -gt 0 ] || fail "no ring thread batched a request"
	fi
	cnm_umount m
	;;
*)
	fail "unknown case $1"
	;;
esac
cnm_fail_on_log_errors "$(cnm_fs_log m)"
echo "ok: $1"
