#!/bin/sh
# /init of the rdma suite's qemu guest (busybox sh): brings up Soft-RoCE
# (rdma_rxe on a dummy netdev), runs a real cnetmem-donor and the
# rdma_client checks over it, prints one line per check on the serial
# console and powers off:
#   RDMATEST <check> PASS|FAIL <seconds>
#   RDMATEST-DONE pass=N fail=M          (always the last line)
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
fi
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

# a donor killed mid-transfer: every request completes with an error
ts=$(up)
start_donor /tmp/donor2.log
rc=1
if [ -n "$PORT" ]; then
	rm -f /tmp/ready
	timeout $CHECK_TIMEOUT rdma_client $IP "$PORT" /key kill /tmp/ready \
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
	sed 's/^/  donor-killed| /' /tmp/kill.log
fi
result donor-killed $rc "$ts"
finish
