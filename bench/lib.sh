# shellcheck shell=bash
# bench/lib.sh - set up and tear down one swap backend for bench/run and
# bench/ws. Donors, mounts and swap on a loop device come from the helpers
# the tests use (tests/lib/common.sh, fs.sh, swap.sh, with $WORK as their
# CNM_TMP and the keys they make there); only zram and the backend table
# are the bench's own. Needs: BUILD, SRC, WORK, LOG, say(). Teardown order
# as design.md says: swapoff, losetup -d, unmount, stop donors.

BUILD_ROOT=$BUILD SOURCE_ROOT=$SRC CNM_TMP=$WORK
export BUILD_ROOT SOURCE_ROOT CNM_TMP
# shellcheck source=tests/lib/common.sh
. "$SRC/tests/lib/common.sh"
# shellcheck source=tests/lib/fs.sh
. "$SRC/tests/lib/fs.sh"
# shellcheck source=tests/lib/swap.sh
. "$SRC/tests/lib/swap.sh"

B_MNT='' B_ZRAM='' B_PORTS=() B_NDONORS=0 B_EXTRA=()
SWAP_BYTES=${SWAP_BYTES:-2G}
# above any other swap device (tests of other engineers use 100): swap is
# global, the kernel fills the highest priority first, so every page of the
# workload goes to the backend under test
SWAP_PRIO=${SWAP_PRIO:-32000}

hold_cpu_latency() { # hold_cpu_latency US: a PM QoS CPU latency limit, held
	# while this shell keeps the descriptor open
	[[ $1 =~ ^[0-9]+$ ]] || { echo "--cpu-latency: '$1' is not a number of microseconds" >&2; return 2; }
	exec {BENCH_QOS_FD}>/dev/cpu_dma_latency
	# the device takes exactly 4 bytes, a binary s32
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))" >&"$BENCH_QOS_FD"
}

wait_for() { # wait_for SECONDS CMD...
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

start_donors() { # start_donors N: donors bench1..benchN, ports in B_PORTS
	local i
	for i in $(seq 1 "$1"); do
		B_NDONORS=$i
		cnm_start_donor "bench$i" --memory 3G 2>>"$LOG" ||
			{ say "donor $i did not start"; return 1; }
		B_PORTS+=("$(cnm_donor_port "bench$i")")
	done
}

mount_cnetmem() { # mount_cnetmem ARGS...: on $WORK/mnt, 4G unless ARGS say
	B_MNT=$WORK/mnt
	cnm_mount bench "$B_MNT" --size 4G "$@" "${B_EXTRA[@]}" 2>>"$LOG" ||
		{ say "mount did not come up"; return 1; }
}

swap_on_file() { # swap_on_file FILE
	cnm_swap_on "$1" "$SWAP_BYTES" "$SWAP_PRIO" 2>>"$LOG"
}

# bench_setup BACKEND[+OPTION=VALUE...]: the options after a + go to the
# mount too (tcp-r1-uring+ring-batch=1: the same backend with --ring-batch 1)
bench_setup() {
	local args=() p o
	B_EXTRA=()
	IFS=+ read -r -a o <<<"$1"
	for p in "${o[@]:1}"; do B_EXTRA+=("--${p%%=*}" "${p#*=}"); done
	set -- "${o[0]}"
	case $1 in
	disk)
		swap_on_file "$WORK/disk-swap" ;;
	zram)
		B_ZRAM=$(cat /sys/class/zram-control/hot_add)
		echo lz4 >"/sys/block/zram$B_ZRAM/comp_algorithm" 2>/dev/null || true
		echo "$SWAP_BYTES" >"/sys/block/zram$B_ZRAM/disksize"
		mkswap "/dev/zram$B_ZRAM" >/dev/null
		swapon -p "$SWAP_PRIO" "/dev/zram$B_ZRAM" ;;
	local)
		mount_cnetmem --local-memory --fuse-transport dev
		swap_on_file "$B_MNT/swap0" ;;
	local-uring)
		# the same over FUSE-over-io_uring (bench/run sets enable_uring)
		mount_cnetmem --local-memory --fuse-transport uring
		bench_check_uring
		swap_on_file "$B_MNT/swap0" ;;
	tcp-r1|tcp-r2|tcp-r1-uring)
		start_donors 2
		for p in "${B_PORTS[@]}"; do args+=(--donor "127.0.0.1:$p"); done
		p=${1%-uring}
		if [ "$p" != "$1" ]; then args+=(--fuse-transport uring)
		else args+=(--fuse-transport dev); fi
		mount_cnetmem "${args[@]}" --replicas "${p#tcp-r}" --transport tcp
		[ "$p" = "$1" ] || bench_check_uring
		swap_on_file "$B_MNT/swap0" ;;
	tcp-r1-plain)
		# tcp-r1 without page sealing: what the encryption costs
		start_donors 2
		for p in "${B_PORTS[@]}"; do args+=(--donor "127.0.0.1:$p"); done
		mount_cnetmem "${args[@]}" --replicas 1 --transport tcp \
			--insecure-plaintext-pages
		swap_on_file "$B_MNT/swap0" ;;
	*)
		say "unknown backend $1"; return 1 ;;
	esac
}

# the mount really runs over io_uring (libfuse falls back silently)
bench_check_uring() {
	local t
	t=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fuse_transport"])' \
		"$B_MNT/.cnetmem-stats")
	[ "$t" = io_uring ] || { say "asked for io_uring, the mount runs on $t"; return 1; }
}

bench_stats() {
	[ -n "$B_MNT" ] && [ -r "$B_MNT/.cnetmem-stats" ] && cat "$B_MNT/.cnetmem-stats"
	echo
}

bench_teardown() {
	local i log
	cnm_swap_off || say "swapoff $CNM_SWAP_LOOP failed"
	if [ -n "$B_ZRAM" ]; then
		swapoff "/dev/zram$B_ZRAM" || say "swapoff /dev/zram$B_ZRAM failed"
		echo "$B_ZRAM" >/sys/class/zram-control/hot_remove || true
		B_ZRAM=
	fi
	if [ -n "$B_MNT" ]; then
		cnm_umount bench 2>>"$LOG" || { say "unmount of $B_MNT: see $LOG"; cnm_fs_cleanup; }
		B_MNT='' CNM_FS_MOUNTS=()
	fi
	for ((i = 1; i <= B_NDONORS; i++)); do
		cnm_stop_donor "bench$i" 2>>"$LOG" || say "donor $i did not stop cleanly: see $LOG"
	done
	B_NDONORS=0 B_PORTS=()
	# the daemons' logs go with the run's
	for log in "$WORK"/fs-bench.log "$WORK"/bench[0-9]*.log; do
		[ -f "$log" ] || continue
		sed "s|^|${log##*/}: |" "$log" >>"$LOG"
		rm -f "$log"
	done
	rm -f "$WORK/disk-swap"
}

# bench_files CSV: fio on a working-set file and GNU sort spilling to a
# directory, cnetmem (TCP, two donors) against tmpfs / local disk.
bench_files() {
	local csv=$1 dir rep t0 bw args=() p
	echo "test,where,rep,value,unit" >"$csv"
	start_donors 2
	for p in "${B_PORTS[@]}"; do args+=(--donor "127.0.0.1:$p"); done
	mount_cnetmem "${args[@]}" --replicas 1 --transport tcp
	mkdir -p "$WORK/tmpfs" "$WORK/disk" "$B_MNT/spill"
	mount -t tmpfs -o size=2G tmpfs "$WORK/tmpfs"
	seq 1 12000000 | awk '{print ($1 * 7919) % 10000019 " line " $1}' >"$WORK/disk/sort.in"
	for rep in $(seq 1 "$REPS"); do
		for dir in "$B_MNT/spill" "$WORK/tmpfs"; do
			[ "$dir" = "$WORK/tmpfs" ] && where=tmpfs || where=cnetmem
			for rw in randrw write; do
				say "fio $rw on $where, run $rep"
				bw=$(fio --name=ws --directory="$dir" --rw=$rw --bs=4k \
					--size=256M --numjobs=4 --direct=1 --ioengine=psync \
					--runtime=10 --time_based --group_reporting \
					--verify=crc32c --verify_fatal=1 --verify_state_save=0 --output-format=terse \
					--terse-version=3 2>>"$LOG" |
					awk -F';' '$1 == 3 {print ($7 + $48) / 1024}' | tail -n 1)
				echo "fio-$rw,$where,$rep,$bw,MiB/s" >>"$csv"
				rm -f "$dir"/ws.*
			done
		done
		for dir in "$B_MNT/spill" "$WORK/disk"; do
			[ "$dir" = "$WORK/disk" ] && where=disk || where=cnetmem
			say "sort -S 64M -T $where, run $rep"
			t0=$(date +%s.%N)
			sort -S 64M -T "$dir" "$WORK/disk/sort.in" | md5sum >"$WORK/sort.$where"
			echo "sort,$where,$rep,$(echo "$(date +%s.%N) - $t0" | bc),s" >>"$csv"
		done
		cmp -s "$WORK/sort.cnetmem" "$WORK/sort.disk" || say "sort outputs differ!"
	done
	umount "$WORK/tmpfs"
	bench_teardown
}
