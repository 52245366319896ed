#!/bin/bash
# rdmavm.sh - the rdma suite: real verbs under Soft-RoCE in a qemu guest.
#
# This machine has no RDMA hardware and its kernel no soft RDMA, so the
# test boots a Debian kernel (linux-image-$KVER: Debian 12's 6.1, or with
# CNM_FUSE_TRANSPORT=uring trixie-backports' newest, which has
# FUSE-over-io_uring; see tests/lib/guest.sh; fetched with
# `apt-get download` into a cache and unpacked, never installed) under qemu
# (TCG) from a busybox initramfs that carries rdma-core's userspace, the
# rxe provider, the kernel modules and the project's binaries
# (cnetmem-donor, tests/rdma/rdma_client, the cnetmem mount), and runs
# guest-init.sh there.
#
# Output: one line per check, "ok <check>" or "FAIL <check>", then the
# verdict. Passes only when every check passed AND the guest printed its
# final RDMATEST-DONE line. Exit 77 only when qemu or the kernel package
# cannot be had. Timeouts: per check in the guest, QEMU_TIMEOUT for the
# whole guest here.
#
# Env: CNM_RDMAVM_CACHE (default /var/cache/cnetmem-rdmavm, else
# $BUILD_ROOT/rdmavm), KVER and GUEST_KERNEL (tests/lib/guest.sh),
# CNM_FUSE_TRANSPORT (uring: GUEST_KERNEL=uring, and every mount in the
# guest must run on io_uring), QEMU_TIMEOUT (150), CNM_KEEP=1 keeps the
# work dir.
set -euo pipefail

: "${BUILD_ROOT:?run through meson test (BUILD_ROOT unset)}"
: "${SOURCE_ROOT:?run through meson test (SOURCE_ROOT unset)}"
QEMU_TIMEOUT=${QEMU_TIMEOUT:-150}
DONOR_BIN=$BUILD_ROOT/donor/cnetmem-donor
CLIENT_BIN=$BUILD_ROOT/tests/rdma/rdma_client
FS_BIN=$BUILD_ROOT/fs/cnetmem
LIBDIR=/usr/lib/x86_64-linux-gnu
. "$SOURCE_ROOT/tests/lib/guest.sh"
WORK=$GUEST_WORK
trap guest_cleanup EXIT

die() {
	echo "FAIL: $*" >&2
	exit 1
}

command -v qemu-system-x86_64 >/dev/null || guest_skip "qemu-system-x86_64 not installed"
for t in busybox cpio depmod modprobe dpkg xz ldd; do
	command -v "$t" >/dev/null || die "$t not installed (see .ci/packages)"
done
[ -x "$DONOR_BIN" ] || die "$DONOR_BIN not built"
[ -x "$CLIENT_BIN" ] || die "$CLIENT_BIN not built"
[ -x "$FS_BIN" ] || die "$FS_BIN not built"
[ -e "$LIBDIR/libibverbs/librxe-rdmav34.so" ] ||
	die "rxe provider missing (ibverbs-providers)"
[ -e /etc/libibverbs.d/rxe.driver ] || die "/etc/libibverbs.d/rxe.driver missing"
command -v rdma >/dev/null || die "rdma tool missing (iproute2)"

# ---- the kernel package, cached across runs: Debian 12's 6.1 (the
# /dev/fuse fallback of an old kernel), or under with-fuse-uring a kernel
# with FUSE-over-io_uring
if [ "${CNM_FUSE_TRANSPORT:-}" = uring ]; then
	export GUEST_KERNEL=${GUEST_KERNEL:-uring}
	# trixie's kernels are zstd inside their bzImage
	command -v zstd >/dev/null || die "zstd not installed (see .ci/packages)"
fi
guest_kernel

# ---- initramfs
guest_root "$WORK/root"
R=$GUEST_ROOT
mkdir -p "$R/etc/libibverbs.d"
# libibverbs dlopens its provider and glibc dlopens libgcc_s: ldd lists
# neither
guest_copy_elf "$(command -v rdma)" "$(command -v ibv_devices)" \
	"$LIBDIR/libibverbs/librxe-rdmav34.so" /lib/x86_64-linux-gnu/libgcc_s.so.1
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
guest_copy_elf "$DONOR_BIN" "$CLIENT_BIN" "$FS_BIN"
mv "$R$DONOR_BIN" "$R/usr/bin/cnetmem-donor"
mv "$R$CLIENT_BIN" "$R/usr/bin/rdma_client"
mv "$R$FS_BIN" "$R/usr/bin/cnetmem"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/key.op"
chmod 600 "$R/key" "$R/key.op"
# under tests/lib/with-fuse-uring the guest's mounts run on io_uring too,
# and guest-init.sh fails every mount that does not (see guest_kernel)
[ -z "${CNM_FUSE_TRANSPORT:-}" ] || echo "$CNM_FUSE_TRANSPORT" >"$R/fuse-transport"
# 6.1's rxe needs crc32_generic loaded explicitly (its ICRC shash); from
# 6.15 crc32 is library code and the module is gone
# fuse: the marker checks mount cnetmem over verbs (built in from 6.16)
guest_modules '?crc32_generic' rdma_ucm rdma_rxe dummy fuse

# ---- boot
LOG=$WORK/serial.log
set +e
guest_boot "$SOURCE_ROOT/tests/rdma/guest-init.sh" "$QEMU_TIMEOUT" 512
qrc=$?
set -e
# the guest's own output, for the test log
sed -n '/^RDMATEST\|^  \|^guest:\|rxe\|ok:\|fail:/p' "$LOG" | tr -d '\r' >&2 || true
grep -h 'figure\|chained posts\|in donor memory' "$LOG" | tr -d '\r' | sed 's/^ *[a-z-]*| /# /' || true
guest_verdicts RDMATEST "$qrc" || exit 1
echo "rdma suite: all checks passed"
