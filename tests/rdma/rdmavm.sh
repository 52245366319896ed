#!/bin/bash
# rdmavm.sh - the rdma suite: real verbs under Soft-RoCE in a qemu guest.
#
# This machine has no RDMA hardware and its kernel no soft RDMA, so the
# test boots Debian's own kernel (linux-image-$KVER, fetched with
# `apt-get download` into a cache and unpacked, never installed) under qemu
# (TCG) from a busybox initramfs that carries rdma-core's userspace, the
# rxe provider, the kernel modules and the project's binaries
# (cnetmem-donor, tests/rdma/rdma_client), and runs guest-init.sh there.
#
# Output: one line per check, "ok <check>" or "FAIL <check>", then the
# verdict. Passes only when every check passed AND the guest printed its
# final RDMATEST-DONE line. Exit 77 only when qemu or the kernel package
# cannot be had. Timeouts: per check in the guest, QEMU_TIMEOUT for the
# whole guest here.
#
# Env: CNM_RDMAVM_CACHE (default /var/cache/cnetmem-rdmavm, else
# $BUILD_ROOT/rdmavm), KVER (default: newest 6.1 amd64 image apt knows),
# QEMU_TIMEOUT (150), CNM_KEEP=1 keeps the work dir.
set -euo pipefail

: "${BUILD_ROOT:?run through meson test (BUILD_ROOT unset)}"
: "${SOURCE_ROOT:?run through meson test (SOURCE_ROOT unset)}"
QEMU_TIMEOUT=${QEMU_TIMEOUT:-150}
DONOR_BIN=$BUILD_ROOT/donor/cnetmem-donor
CLIENT_BIN=$BUILD_ROOT/tests/rdma/rdma_client
LIBDIR=/usr/lib/x86_64-linux-gnu
WORK=$(mktemp -d /tmp/cnm-rdmavm.XXXXXX)

cleanup() {
	local pid
	pid=$(cat "$WORK/qemu.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ "${CNM_KEEP:-0}" = 1 ]; then
		echo "# work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
die() {
	echo "FAIL: $*" >&2
	exit 1
}

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
for t in busybox cpio depmod modprobe dpkg xz ldd; do
	command -v "$t" >/dev/null || die "$t not installed (see .ci/packages)"
done
[ -x "$DONOR_BIN" ] || die "$DONOR_BIN not built"
[ -x "$CLIENT_BIN" ] || die "$CLIENT_BIN not built"
[ -e "$LIBDIR/libibverbs/librxe-rdmav34.so" ] ||
	die "rxe provider missing (ibverbs-providers)"
[ -e /etc/libibverbs.d/rxe.driver ] || die "/etc/libibverbs.d/rxe.driver missing"
command -v rdma >/dev/null || die "rdma tool missing (iproute2)"

# ---- the kernel package, cached across runs
CACHE=${CNM_RDMAVM_CACHE:-/var/cache/cnetmem-rdmavm}
mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ] || CACHE=$BUILD_ROOT/rdmavm
mkdir -p "$CACHE/debs"
if [ -z "${KVER:-}" ]; then
	KVER=$(cd "$CACHE/debs" && ls linux-image-6.1.0-*-amd64_*.deb 2>/dev/null |
		sed 's/^linux-image-\(6\.1\.0-[0-9]*-amd64\)_.*/\1/' |
		sort -t- -k2 -n | tail -1 || true)
fi
if [ -z "${KVER:-}" ]; then
	KVER=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
		awk '{print $1}' | sed 's/^linux-image-//' | sort -t- -k2 -n |
		tail -1 || true)
fi
[ -n "$KVER" ] || skip "no Debian 6.1 kernel package known to apt"
KDEB=$(ls "$CACHE"/debs/linux-image-"$KVER"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$KDEB" ]; then
	(cd "$CACHE/debs" && apt-get download -q "linux-image-$KVER" >&2) ||
		skip "cannot download linux-image-$KVER"
	KDEB=$(ls "$CACHE"/debs/linux-image-"$KVER"_*.deb | head -1)
fi
K=$CACHE/kernel-$KVER
if [ ! -s "$K/vmlinux" ]; then
	rm -rf "$K.tmp" && mkdir -p "$K.tmp"
	dpkg -x "$KDEB" "$K.tmp"
	depmod -b "$K.tmp" "$KVER"
	# qemu boots the uncompressed ELF through PVH: no decompression
	# under TCG
	img=$K.tmp/boot/vmlinuz-$KVER
	off=$(LC_ALL=C grep -abo -P '\xfd7zXZ\x00' "$img" | head -1 | cut -d: -f1)
	tail -c +$((off + 1)) "$img" | xz -dcq > "$K.tmp/vmlinux" 2>/dev/null || true
	[ -s "$K.tmp/vmlinux" ] || cp "$img" "$K.tmp/vmlinux"
	rm -rf "$K" && mv "$K.tmp" "$K"
fi
echo "# kernel $KVER from $CACHE" >&2

# ---- initramfs
R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc/libibverbs.d,proc,sys,dev,tmp,lib/modules,usr/bin}
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
copy_elf() { # file...: the file and its shared-library closure
	local f lib
	for f in "$@"; do
		mkdir -p "$R$(dirname "$f")"
		cp -L "$f" "$R$f"
		for lib in $(ldd "$f" 2>/dev/null | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'); do
			[ -e "$R$lib" ] && continue
			mkdir -p "$R$(dirname "$lib")"
			cp -L "$lib" "$R$lib"
		done
	done
}
# libibverbs dlopens its provider and glibc dlopens libgcc_s: ldd lists
# neither
copy_elf "$(command -v rdma)" "$(command -v ibv_devices)" \
	"$LIBDIR/libibverbs/librxe-rdmav34.so" /lib/x86_64-linux-gnu/libgcc_s.so.1
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
copy_elf "$DONOR_BIN" "$CLIENT_BIN"
mv "$R$DONOR_BIN" "$R/usr/bin/cnetmem-donor"
mv "$R$CLIENT_BIN" "$R/usr/bin/rdma_client"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "127.0.0.1 localhost" > "$R/etc/hosts"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/key.op"
chmod 600 "$R/key" "$R/key.op"
# rxe needs crc32_generic loaded explicitly (its ICRC shash); no modprobe
# in the guest, so the dependency closure is computed here, in load order
: > "$R/modules.list"
for m in crc32_generic rdma_ucm rdma_rxe dummy; do
	modprobe -d "$K" -S "$KVER" --show-depends "$m" | awk '$1=="insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	cp "$ko" "$R/lib/modules/"
	basename "$ko" >> "$R/modules.list"
done
install -m755 "$SOURCE_ROOT/tests/rdma/guest-init.sh" "$R/init"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet) > "$WORK/initramfs.cpio"

# ---- boot
LOG=$WORK/serial.log
echo "# booting qemu (tcg) with a ${QEMU_TIMEOUT}s limit" >&2
set +e
timeout -k 5 "$QEMU_TIMEOUT" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 1 -m 384 \
	-kernel "$K/vmlinux" -initrd "$WORK/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init" \
	-nic none -display none -monitor none -serial "file:$LOG" \
	-no-reboot -pidfile "$WORK/qemu.pid" < /dev/null
qrc=$?
set -e
# the guest's own output, for the test log
sed -n '/^RDMATEST\|^  \|^guest:\|rxe\|ok:\|fail:/p' "$LOG" | tr -d '\r' >&2 || true

fail=0
while read -r _ name verdict rest; do
	if [ "$verdict" = PASS ]; then
		echo "ok $name ($rest)"
	else
		echo "FAIL $name ($rest)"
		fail=1
	fi
done < <(tr -d '\r' < "$LOG" | grep '^RDMATEST ' || true)
grep -h 'figure\|chained posts' "$LOG" | tr -d '\r' | sed 's/^ *[a-z-]*| /# /' || true
if ! tr -d '\r' < "$LOG" | grep -q '^RDMATEST-DONE pass=[0-9]* fail=0$'; then
	echo "FAIL: guest did not finish cleanly (qemu rc=$qrc; last lines below)"
	tail -n 20 "$LOG" | tr -d '\r'
	exit 1
fi
[ "$fail" = 0 ] || exit 1
echo "rdma suite: all checks passed"
