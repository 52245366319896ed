#!/bin/sh
# /init of the rdma suite's qemu guest (busybox sh): brings up Soft-RoCE
# (rdma_rxe on a dummy netdev), runs a real cnetmem-donor and the
# rdma_client checks over it, prints one line per check on the serial
# console and powers off:
#   RDMATEST <check> PASS|FAIL <seconds>
#   RDMATEST-DONE pass=N fail=M          (always the last line)
# Then a cnetmem mount over --transport rdma to that donor: a marker
# written to a file is nowhere in the donor's memory (/proc/PID/mem), and
# is there with --insecure-plaintext-pages (the control). When the host
# asks for io_uring (/fuse-transport holds "uring"), enable_uring must be
# there to set (check fuse-uring-enabled) and every mount must show
# fuse_transport "io_uring" in its stats after its i/o, or its check fails.
# Every check runs under its own timeout; the host bounds the whole run.
export PATH=/usr/bin:/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /dev/shm && mount -t tmpfs tmpfs /tmp
up() { cut -d' ' -f1 /proc/uptime; }
NPASS=0 NFAIL=0
IP=192.168.77.1
CHECK_TIMEOUT=60

result() { # name rc t_start
	t=$(awk -v a="$3" -v b="$(up)" 'BEGIN{printf "%.1f", b-a}')
	if [ "$2" = 0 ]; then
		echo "RDMATEST $1 PASS ${t}s"; NPASS=$((NPASS + 1))
	else
		echo "RDMATEST $1 FAIL rc=$2 ${t}s"; NFAIL=$((NFAIL + 1))
	fi
}

finish() {
	echo "RDMATEST-DONE pass=$NPASS fail=$NFAIL"
	sync
	poweroff -f
}

for m in $(cat /modules.list); do
	insmod /lib/modules/$m || echo "guest: insmod $m failed"
done
ip link set lo up
# the dummy module may have made dummy0 already (numdummies)
[ -e /sys/class/net/dummy0 ] || ip link add dummy0 type dummy
ip link set dummy0 up
ip addr add $IP/24 dev dummy0
ts=$(up)
rdma link add rxe0 type rxe netdev dummy0
rc=$?
result rxe-link $rc "$ts"
[ $rc = 0 ] || finish
ibv_devices

DONOR_PID=
start_donor() { # log
	rm -f /tmp/port
	cnetmem-donor --listen $IP:0 --memory 96M --key-file /key \
		--operator-key-file /key.op \
		--transport rdma --port-file /tmp/port --foreground \
		> "$1" 2>&1 &
	DONOR_PID=$!
	n=0
	while [ ! -s /tmp/port ] && [ $n -lt 100 ]; do
		kill -0 $DONOR_PID 2>/dev/null || break
		sleep 0.1; n=$((n + 1))
	done
	[ -s /tmp/port ] && PORT=$(cat /tmp/port)
}

# check <name> <rdma_client check>: one client run under a timeout
check() {
	ts=$(up)
	timeout $CHECK_TIMEOUT rdma_client $IP "$PORT" /key $2 \
		> /tmp/$1.log 2>&1
	rc=$?
	sed "s/^/  $1| /" /tmp/$1.log
	result "$1" $rc "$ts"
}

ts=$(up)
start_donor /tmp/donor1.log
[ -s /tmp/port ]
result donor-start $? "$ts"
if [ -n "$PORT" ]; then
	# first, while its slab is the only one: the donor picks the least
	# recently used slab of any session to ask back
	check evict evict
	check alloc alloc
	check pipelined-rw rw
	check latency lat
	check control-credits ctl
	check wrong-psk badkey
	check foreign-rkey foreign
	# issue 17: the thread that posted an io reaps the CQ itself
	check poll-collects-its-own-completion poll-own
	check poll-racing-the-loop-loses-no-completion poll-race
	check poll-through-a-link-error-completes-every-io poll-teardown
	# issue 15: the donor's threads and descriptors do not grow with
	# its RDMA connections
	check connections-cost-no-thread-nor-descriptor "conns $DONOR_PID"
	# the RDMA loop's deadline: a connection that never says HELLO is
	# closed at the donor's --handshake-timeout (10 s), and says why
	check handshake-deadline-closes-a-silent-connection silent
	ts=$(up)
	grep -q 'closing: handshake timed out' /tmp/donor1.log
	result handshake-deadline-logged $? "$ts"
fi

# issue 13 over verbs: a marker written through a cnetmem mount over
# --transport rdma is nowhere in the donor's memory when pages are sealed
# (the default); the same with --insecure-plaintext-pages finds it there,
# so the scan can fail. Sealed first: the control leaves the marker behind.
MARK=cnetmem-verbs-marker-$$-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
MNT=/tmp/mnt
# scan_donor PID: lines holding MARK in PID's rw mappings of 1 MiB or more,
# read through /proc/PID/mem
scan_donor() {
	hits=0
	while read -r range perms _; do
		case $perms in rw*) ;; *) continue ;; esac
		s=$((0x${range%-*})) e=$((0x${range#*-}))
		[ $((e - s)) -ge 1048576 ] || continue
		c=$(dd if=/proc/$1/mem bs=4096 skip=$((s / 4096)) \
			count=$(((e - s) / 4096)) 2>/dev/null | grep -c -a -F "$MARK")
		hits=$((hits + c))
	done </proc/$1/maps
	echo $hits
}
# the host's tests/lib/with-fuse-uring asks for io_uring here too: the
# host boots a kernel that has it, and every mount below must really run
# on it (fuse_transport_ok)
FT=$(cat /fuse-transport 2>/dev/null)
if [ "$FT" = uring ]; then
	ts=$(up)
	echo Y >/sys/module/fuse/parameters/enable_uring &&
		[ "$(cat /sys/module/fuse/parameters/enable_uring)" = Y ]
	rc=$?
	[ $rc = 0 ] ||
		echo "guest: kernel $(uname -r) has no FUSE-over-io_uring (enable_uring)"
	result fuse-uring-enabled $rc "$ts"
fi
# fuse_transport_ok: after some i/o, prints the FUSE transport $MNT's
# stats show; under FT=uring fails unless it is io_uring
fuse_transport_ok() {
	t=$(grep -o '"fuse_transport":"[^"]*"' $MNT/.cnetmem-stats |
		sed 's/.*:"\(.*\)"/\1/')
	echo "fuse transport after the i/o: ${t:-?}"
	[ "$FT" != uring ] || [ "$t" = io_uring ]
}
# marker_run NAME [MOUNT ARGS...]: mount over rdma, write the marker file,
# sync, read it back (--cache direct: from the donor), unmount after the
# scan; prints the scan's count, fails when any step fails
marker_run() {
	name=$1
	shift
	mkdir -p $MNT
	cnetmem $MNT -f --key-file /key --donor $IP:$PORT --transport rdma \
		${FT:+--fuse-transport $FT} \
		--cache direct --size 16M --slab-size 4M --io-timeout-ms 5000 \
		"$@" >/tmp/$name.fs.log 2>&1 &
	FSPID=$!
	n=0
	until grep -q " $MNT fuse" /proc/mounts; do
		if ! kill -0 $FSPID 2>/dev/null || [ $n -ge 200 ]; then
			kill -KILL $FSPID 2>/dev/null
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
	# the stats say how pages go, and over which transport
	grep -o '"encryption":"[^"]*"\|"transport":"[^"]*"\|"fuse_transport":"[^"]*"' $MNT/.cnetmem-stats
	yes "$MARK" | head -c 1048576 >/tmp/secret.ref
	rc=0
	timeout $CHECK_TIMEOUT cp /tmp/secret.ref $MNT/secret &&
		timeout $CHECK_TIMEOUT sync &&
		timeout $CHECK_TIMEOUT cmp /tmp/secret.ref $MNT/secret &&
		fuse_transport_ok &&
		echo "marker $(scan_donor $DONOR_PID) times in donor memory" || rc=1
	umount $MNT || rc=1
	n=0
	while kill -0 $FSPID 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -0 $FSPID 2>/dev/null && rc=1 && kill -KILL $FSPID
	wait $FSPID || rc=1
	return $rc
}
# marker <check> <0|some> [MOUNT ARGS...]
marker() {
	name=$1 want=$2
	shift 2
	ts=$(up)
	rc=1
	if [ -n "$PORT" ]; then
		marker_run "$name" "$@" >/tmp/$name.log 2>&1 && rc=0
	fi
	sed "s/^/  $name| /" /tmp/$name.log /tmp/$name.fs.log 2>/dev/null | tail -n 20
	hits=$(sed -n 's/^marker \([0-9]*\) times.*/\1/p' /tmp/$name.log)
	if [ "$rc" = 0 ]; then
		grep -q '^"transport":"rdma"$' /tmp/$name.log || rc=1
		case $want in
		0)
			grep -q '^"encryption":"' /tmp/$name.log &&
				! grep -q '^"encryption":"off"$' /tmp/$name.log &&
				[ "$hits" = 0 ] || rc=1
			;;
		some) [ "${hits:-0}" -gt 0 ] || rc=1 ;;
		esac
	fi
	result "$name" $rc "$ts"
}
marker sealed-marker-not-in-donor-memory 0
marker plaintext-marker-in-donor-memory some --insecure-plaintext-pages
# issue 15: a mount's verbs connections cost no thread each. 7 more
# small donors beside the first; a mount over 1 of them and one over all
# 8, each, once every donor is up, counts its serving process's threads,
# then writes a file of patterned data and reads every byte back from
# the donors (--cache direct): the two counts must be equal.
EXTRA_PIDS= EXTRA_ARGS=
i=1
while [ $i -le 7 ] && [ -n "$PORT" ]; do
	rm -f /tmp/port$i
	cnetmem-donor --listen $IP:0 --memory 12M --key-file /key \
		--transport rdma --port-file /tmp/port$i --foreground \
		>/tmp/donor-x$i.log 2>&1 &
	EXTRA_PIDS="$EXTRA_PIDS $!"
	n=0
	while [ ! -s /tmp/port$i ] && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done
	[ -s /tmp/port$i ] && EXTRA_ARGS="$EXTRA_ARGS --donor $IP:$(cat /tmp/port$i)"
	i=$((i + 1))
done
# threads_run NDONORS MB [--donor ...]: prints "threads T donors N" once
# N donors are up, then writes MB MiB and compares them read back
threads_run() {
	want=$1 mb=$2
	shift 2
	mkdir -p $MNT
	cnetmem $MNT -f --key-file /key --donor $IP:$PORT --transport rdma \
		${FT:+--fuse-transport $FT} --cache direct --size 32M \
		--slab-size 4M --io-timeout-ms 5000 "$@" >/tmp/threads$want.fs.log 2>&1 &
	FSPID=$!
	n=0 rc=1 up=0
	while [ $n -lt 300 ] && kill -0 $FSPID 2>/dev/null; do
		if grep -q " $MNT fuse" /proc/mounts; then
			up=$(grep -o '"state":"up"' $MNT/.cnetmem-stats | wc -l)
			[ "$up" -ge "$want" ] && break
		fi
		sleep 0.1; n=$((n + 1))
	done
	if [ "$up" -ge "$want" ]; then
		pid=$(sed -n 's/.*"daemon":{"pid":\([0-9]*\).*/\1/p' $MNT/.cnetmem-stats)
		echo "threads $(ls /proc/$pid/task | wc -l) donors $up"
		head -c $((mb * 1048576)) /dev/urandom >/tmp/threads.ref
		timeout $CHECK_TIMEOUT cp /tmp/threads.ref $MNT/data &&
			timeout $CHECK_TIMEOUT sync &&
			timeout $CHECK_TIMEOUT cmp /tmp/threads.ref $MNT/data &&
			echo "$mb MiB read back" && fuse_transport_ok && rc=0
		echo "threads after the i/o: $(ls /proc/$pid/task | wc -l)"
	fi
	umount $MNT 2>/dev/null || rc=1
	n=0
	while kill -0 $FSPID 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done
	kill -0 $FSPID 2>/dev/null && rc=1 && kill -KILL $FSPID
	wait $FSPID || rc=1
	return $rc
}
ts=$(up)
rc=1
if [ -n "$PORT" ]; then
	threads_run 1 8 >/tmp/threads1.log 2>&1 &&
		threads_run 8 24 $EXTRA_ARGS >/tmp/threads8.log 2>&1 && rc=0
fi
sed "s/^/  mount-threads| /" /tmp/threads1.log /tmp/threads8.log 2>/dev/null
t1=$(sed -n 's/^threads \([0-9]*\) donors.*/\1/p' /tmp/threads1.log)
t8=$(sed -n 's/^threads \([0-9]*\) donors.*/\1/p' /tmp/threads8.log)
echo "figure: mount threads over 1 verbs donor ${t1:-?}, over 8 ${t8:-?}"
[ "$rc" = 0 ] && [ -n "$t1" ] && [ "$t1" = "$t8" ] || {
	rc=1
	tail -n 20 /tmp/threads1.fs.log /tmp/threads8.fs.log 2>/dev/null |
		sed "s/^/  mount-threads| /"
}
result mount-over-8-verbs-donors-has-the-threads-of-one $rc "$ts"
for p in $EXTRA_PIDS; do
	kill -TERM $p 2>/dev/null
done

# the donor exits on SIGTERM within 10 s and logged no unexpected error
ts=$(up)
kill -TERM $DONOR_PID 2>/dev/null
n=0
while kill -0 $DONOR_PID 2>/dev/null && [ $n -lt 100 ]; do
	sleep 0.1; n=$((n + 1))
done
! kill -0 $DONOR_PID 2>/dev/null
rc=$?
kill -KILL $DONOR_PID 2>/dev/null
sed 's/^/  donor1| /' /tmp/donor1.log | tail -n 30
if grep '^error:' /tmp/donor1.log; then
	rc=1
fi
result donor-sigterm $rc "$ts"

# a donor killed mid-transfer: every request completes with an error;
# then again under threads that poll for their completions (issue 17)
for mode in kill poll-kill; do
ts=$(up)
start_donor /tmp/donor2.log
rc=1
if [ -n "$PORT" ]; then
	rm -f /tmp/ready
	timeout $CHECK_TIMEOUT rdma_client $IP "$PORT" /key $mode /tmp/ready \
		> /tmp/kill.log 2>&1 &
	CPID=$!
	n=0
	while [ ! -e /tmp/ready ] && [ $n -lt 300 ]; do
		kill -0 $CPID 2>/dev/null || break
		sleep 0.1; n=$((n + 1))
	done
	kill -KILL $DONOR_PID
	wait $CPID
	rc=$?
	sed "s/^/  donor-$mode| /" /tmp/kill.log
fi
name=donor-killed
[ $mode = kill ] || name=donor-killed-under-pollers
result $name $rc "$ts"
done
finish
