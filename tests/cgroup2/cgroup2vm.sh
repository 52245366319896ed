#!/bin/bash
# cgroup2vm.sh - the cgroup2 suite: the swap workload on a cnetmem swap
# file in a cgroup v2 memory cgroup (memory.max, memory.swap.max), in a qemu
# guest booting Debian's own 6.1 kernel with cgroup2 mounted and the
# memory controller enabled, as a fresh Debian 12 host has it. This
# machine's memory controller is bound to cgroup v1, so v2 is proven there
# (tests/lib/guest.sh boots it; tests/cgroup2/guest-init.sh runs the checks
# with the project's own tests/lib helpers).
#
# Output: one line per check, "ok <check>" or "FAIL <check>", then the
# verdict. Passes only when every check passed AND the guest printed its
# final CG2TEST-DONE line. Exit 77 only when qemu or the kernel package
# cannot be had.
#
# Env: QEMU_TIMEOUT (360), CNM_KEEP=1 keeps the work dir, and those of
# tests/lib/guest.sh.
set -euo pipefail

: "${BUILD_ROOT:?run through meson test (BUILD_ROOT unset)}"
: "${SOURCE_ROOT:?run through meson test (SOURCE_ROOT unset)}"
QEMU_TIMEOUT=${QEMU_TIMEOUT:-360}
. "$SOURCE_ROOT/tests/lib/guest.sh"
trap guest_cleanup EXIT

die() {
	echo "FAIL: $*" >&2
	exit 1
}

command -v qemu-system-x86_64 >/dev/null || guest_skip "qemu-system-x86_64 not installed"
for t in busybox cpio depmod modprobe dpkg xz ldd bash losetup fallocate mountpoint \
	swapon swapoff mkswap \
	fusermount3; do
	command -v "$t" >/dev/null || die "$t not installed (see .ci/packages)"
done
for b in donor/cnetmem-donor fs/cnetmem bench/pagetouch; do
	[ -x "$BUILD_ROOT/$b" ] || die "$BUILD_ROOT/$b not built"
done

guest_kernel
guest_root "$GUEST_WORK/root"
R=$GUEST_ROOT
# the build layout under /cnm, so tests/lib finds the binaries as usual
guest_copy_elf "$(command -v bash)" "$(command -v losetup)" \
	"$(command -v fallocate)" "$(command -v fusermount3)" \
	"$(command -v mountpoint)" "$(command -v swapon)" "$(command -v swapoff)" \
	"$(command -v mkswap)" \
	"$BUILD_ROOT/donor/cnetmem-donor" "$BUILD_ROOT/fs/cnetmem" \
	"$BUILD_ROOT/bench/pagetouch" /lib/x86_64-linux-gnu/libgcc_s.so.1
# /init is a bash script: #!/bin/bash must resolve
[ -e "$R/bin/bash" ] || ln -s "$(command -v bash)" "$R/bin/bash"
for b in donor/cnetmem-donor fs/cnetmem bench/pagetouch; do
	mkdir -p "$R/cnm/$(dirname "$b")"
	mv "$R$BUILD_ROOT/$b" "$R/cnm/$b"
done
mkdir -p "$R/cnm/tests/lib"
cp "$SOURCE_ROOT"/tests/lib/{common,fs,swap,cgroup}.sh "$R/cnm/tests/lib/"
guest_modules fuse loop

LOG=$GUEST_WORK/serial.log
set +e
guest_boot "$SOURCE_ROOT/tests/cgroup2/guest-init.sh" "$QEMU_TIMEOUT" 640
qrc=$?
set -e
# the guest's own output, for the test log
tr -d '\r' <"$LOG" | grep -E '^(CG2TEST|  |guest:|# )' >&2 || true

guest_verdicts CG2TEST "$qrc" || exit 1
echo "cgroup2 suite: all checks passed"
