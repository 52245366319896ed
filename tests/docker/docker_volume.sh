#!/bin/bash
# `cnetmemctl serve docker` against a real Docker daemon (Debian's
# docker.io, its own data and exec roots, no network, an image imported
# from busybox-static: no registry): `docker volume create -d DRIVER -o
# size=256M -o replicas=2` makes one cnetmem mount on two donors; a
# container limited to 32 MiB writes 128 MiB to the volume and another
# reads it back, checksums equal on both sides and the donors hold both
# copies; the driver restarted finds the volume again; bad requests get
# JSON errors and the driver lives on; `docker volume rm` unmounts. The
# trap stops dockerd, the driver and the donors and leaves nothing
# mounted. Global (docker, cgroups, /run/docker/plugins): run serially,
# under the lock.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
. "$SOURCE_ROOT/tests/lib/fs.sh"

DRIVER=cnm-test-$$
PLUGSOCK=/run/docker/plugins/$DRIVER.sock
VOLROOT=$CNM_TMP/vols
DROOT=$CNM_TMP/d
DSOCK=$DROOT/docker.sock
CGPARENT=cnm-docker-$$
VOL=scratch$$
DRIVER_PID='' DOCKERD_PID=''
KEY_JSON_OURS=0
[ -e /etc/docker/key.json ] || KEY_JSON_OURS=1
RUN_DOCKER_OURS=0 # the driver makes /run/docker/plugins when missing
[ -e /run/docker ] || RUN_DOCKER_OURS=1

dk() { docker -H "unix://$DSOCK" "$@"; }

stop_pid() { # PID SECONDS: SIGTERM, then SIGKILL; 1 if it needed SIGKILL
	local pid=$1 t=$2
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! cnm_wait_pid "$pid" "$t"; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? m d
	set +e
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		dk ps -aq 2>/dev/null | xargs -r docker -H "unix://$DSOCK" rm -f >/dev/null 2>&1
		stop_pid "$DOCKERD_PID" 20
	fi
	# a containerd dockerd started and did not stop
	m=$(cat "$DROOT/exec/containerd/containerd.pid" 2>/dev/null)
	[ -n "$m" ] && stop_pid "$m" 5
	stop_pid "$DRIVER_PID" 5
	rm -f "$PLUGSOCK"
	if [ "$RUN_DOCKER_OURS" = 1 ]; then
		rmdir /run/docker/plugins /run/docker 2>/dev/null
	fi
	# volume mounts the driver made, then whatever dockerd left
	for m in $(awk -v r="$CNM_TMP" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for d in /sys/fs/cgroup/*/"$CGPARENT" /sys/fs/cgroup/"$CGPARENT"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	if [ "$KEY_JSON_OURS" = 1 ]; then
		rm -f /etc/docker/key.json
		rmdir /etc/docker 2>/dev/null
	fi
	if [ "$rc" != 0 ]; then
		for f in driver.log dockerd.log; do
			cnm_log_tail "$f" "$CNM_TMP/$f" 25
		done
	fi
	(exit "$rc")
	cnm_cleanup
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || cnm_skip "needs root"
[ -c /dev/fuse ] || cnm_skip "no /dev/fuse"
for t in dockerd docker containerd runc busybox curl; do
	command -v "$t" >/dev/null || cnm_skip "$t not installed (see .ci/packages)"
done
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
bb=$(command -v busybox)
file_is_static "$bb" || cnm_skip "busybox is not static (busybox-static)"

# --- donors and the driver
cnm_start_donor d1 --memory 384M
cnm_start_donor d2 --memory 384M
start_driver() {
	"$CNM_CTL_BIN" serve docker --donor "127.0.0.1:$(cnm_donor_port d1)" \
		--donor "127.0.0.1:$(cnm_donor_port d2)" --socket "$PLUGSOCK" \
		--root "$VOLROOT" --cnetmem "$CNM_FS_BIN" --key-file "$CNM_KEY" \
		-- --transport tcp \
		>>"$CNM_TMP/driver.log" 2>&1 &
	DRIVER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$PLUGSOCK" ] && return 0
		kill -0 "$DRIVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "the driver did not come up"
}
start_driver
cnm_log "driver $DRIVER: pid $DRIVER_PID on $PLUGSOCK"

# --- dockerd of our own
mkdir -p "$DROOT/data" "$DROOT/exec"
dockerd --bridge=none --iptables=false --ip6tables=false \
	--data-root "$DROOT/data" --exec-root "$DROOT/exec" \
	-H "unix://$DSOCK" --pidfile "$DROOT/dockerd.pid" \
	--storage-driver vfs --cgroup-parent "$CGPARENT" \
	--exec-opt native.cgroupdriver=cgroupfs \
	>"$CNM_TMP/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for ((i = 0; i < 300; i++)); do
	dk version >/dev/null 2>&1 && break
	kill -0 "$DOCKERD_PID" 2>/dev/null || fail "dockerd exited"
	sleep 0.1
done
dk version >/dev/null || fail "dockerd did not answer in 30 s"
cnm_log "dockerd: pid $DOCKERD_PID on $DSOCK"

# an image from busybox-static, no registry
mkdir -p "$CNM_TMP/img/bin"
cp "$bb" "$CNM_TMP/img/bin/busybox"
for a in sh dd sha256sum cat ls; do
	ln -s busybox "$CNM_TMP/img/bin/$a"
done
tar -C "$CNM_TMP/img" -c . | dk import - cnm-busybox:test >/dev/null
run() { # MEMORY CMD: a container limited to MEMORY with the volume
	dk run --rm --network none --memory "$1" -v "$VOL:/scratch" \
		cnm-busybox:test sh -c "$2"
}

# --- create: one cnetmem mount per volume, replicas from the options
dk volume create -d "$DRIVER" -o size=256M -o replicas=2 "$VOL" >/dev/null
mountpoint -q "$VOLROOT/$VOL" || fail "volume $VOL is not mounted at $VOLROOT/$VOL"
grep -q " $VOLROOT/$VOL fuse.cnetmem " /proc/mounts || fail "not a cnetmem mount"
[ "$(dk volume inspect -f '{{.Mountpoint}}' "$VOL")" = "$VOLROOT/$VOL" ] ||
	fail "docker volume inspect shows another mountpoint"
reps=$(cnm_stat_json "$VOLROOT/$VOL" 's["replicas"]')
[ "$reps" = 2 ] || fail "the mount has replicas=$reps, expected 2"

# --- a 32 MiB container writes 128 MiB; another reads it back
w0=$(cnm_stat_json "$VOLROOT/$VOL" 's["bytes_written"]')
# the container's own memory limit, as it sees it (cgroup v2 or v1)
lim=$(run 32m 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes')
[ "$lim" = $((32 << 20)) ] || fail "the container's memory limit is '$lim', expected 32 MiB"
h1=$(run 32m 'dd if=/dev/urandom of=/scratch/data bs=1M count=128 2>/dev/null && sha256sum /scratch/data' | awk '{print $1}')
[ -n "$h1" ] || fail "the writer container failed"
h2=$(sha256sum "$VOLROOT/$VOL/data" | awk '{print $1}')
h3=$(run 32m 'sha256sum /scratch/data' | awk '{print $1}')
cnm_log "sha256: in the writer $h1, on the host $h2, in a reader $h3"
[ "$h1" = "$h2" ] && [ "$h1" = "$h3" ] || fail "the data differs"
w=$(($(cnm_stat_json "$VOLROOT/$VOL" 's["bytes_written"]') - w0))
held=0
for d in d1 d2; do
	b=$("$CNM_CTL_BIN" donor "127.0.0.1:$(cnm_donor_port $d)" --key-file "$CNM_KEY" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_written"])')
	cnm_log "donor $d: $b bytes written"
	[ "$b" -ge $((128 << 20)) ] || fail "donor $d holds $b bytes, expected a full copy"
	held=$((held + b))
done
cnm_log "the mount wrote $w bytes; the donors got $held"

# --- the driver restarted finds its volume
stop_pid "$DRIVER_PID" 10 || fail "the driver did not exit on SIGTERM"
[ ! -e "$PLUGSOCK" ] || fail "the driver left its socket behind"
mountpoint -q "$VOLROOT/$VOL" || fail "the volume went away with the driver"
start_driver
grep -q "volume $VOL: found mounted" "$CNM_TMP/driver.log" ||
	fail "the restarted driver did not find $VOL"
dk volume ls --format '{{.Driver}} {{.Name}}' | grep -qx "$DRIVER $VOL" ||
	fail "docker volume ls does not show $VOL"
h4=$(run 32m 'sha256sum /scratch/data' | awk '{print $1}')
[ "$h4" = "$h1" ] || fail "after the driver restart the data differs"

# --- bad requests: JSON errors, no crash
post() { curl -s -o "$CNM_TMP/resp" -w '%{http_code}' --unix-socket "$PLUGSOCK" -X POST -d "$2" "http://plugin$1"; }
code=$(post /VolumeDriver.Create 'not json{')
[ "$code" = 400 ] && grep -q '"Err":"bad request' "$CNM_TMP/resp" ||
	fail "non-JSON: HTTP $code $(cat "$CNM_TMP/resp")"
code=$(post /VolumeDriver.Mount '{"Name":"../../etc"}')
[ "$code" = 400 ] && grep -q 'not a valid volume name' "$CNM_TMP/resp" ||
	fail "a bad name: HTTP $code $(cat "$CNM_TMP/resp")"
code=$(post /VolumeDriver.Nope '{}')
[ "$code" = 404 ] || fail "an unknown endpoint: HTTP $code"
head -c 200000 /dev/zero | tr '\0' 'x' >"$CNM_TMP/big"
code=$(post /VolumeDriver.Create "@$CNM_TMP/big")
[ "$code" = 413 ] || fail "a 200 kB body: HTTP $code"
if dk volume create -d "$DRIVER" -o bogus=1 bad$$ 2>"$CNM_TMP/bad.err"; then
	fail "a volume with an unknown option was created"
fi
grep -q "unknown volume option 'bogus'" "$CNM_TMP/bad.err" ||
	fail "docker did not pass the driver's error on: $(cat "$CNM_TMP/bad.err")"
kill -0 "$DRIVER_PID" || fail "the driver died on bad requests"

# --- removal unmounts, and the mount's daemon exits
dk volume rm "$VOL" >/dev/null
! mountpoint -q "$VOLROOT/$VOL" 2>/dev/null || fail "volume rm left $VOL mounted"
[ ! -d "$VOLROOT/$VOL" ] || fail "volume rm left $VOLROOT/$VOL"
for ((i = 0; i < 100; i++)); do
	pgrep -f "^$CNM_FS_BIN $VOLROOT/$VOL " >/dev/null || break
	sleep 0.1
done
! pgrep -f "^$CNM_FS_BIN $VOLROOT/$VOL " >/dev/null || fail "the mount's daemon outlived volume rm"

# --- teardown: each daemon exits on SIGTERM, nothing left mounted
stop_pid "$DOCKERD_PID" 20 || fail "dockerd did not exit on SIGTERM"
DOCKERD_PID=
stop_pid "$DRIVER_PID" 10 || fail "the driver did not exit on SIGTERM"
DRIVER_PID=
[ "$(grep -c 'signal 15: stopping' "$CNM_TMP/driver.log")" = 2 ] ||
	fail "the driver did not stop cleanly on SIGTERM both times"
[ ! -e "$PLUGSOCK" ] || fail "the driver left its socket behind"
if grep -E '^(error|warning):' "$CNM_TMP/driver.log" | grep -v "unknown volume option 'bogus'"; then
	fail "the driver logged an unexpected warning or error"
fi
cnm_stop_donor d1
cnm_stop_donor d2
for d in d1 d2; do
	cnm_fail_on_log_errors "$(cnm_donor_log $d)"
done
left=$(awk -v r="$CNM_TMP" 'index($2, r) == 1 { print $2 }' /proc/mounts)
[ -z "$left" ] || fail "left mounted: $left"
echo "ok: docker volume on cnetmem: 128 MiB through a 32 MiB container, R=2, verified; restart, bad requests, removal"
