# shellcheck shell=bash
# A qemu guest booting a Debian kernel from a busybox initramfs: shared by
# the rdma suite (tests/rdma/rdmavm.sh) and the cgroup2 suite
# (tests/cgroup2/cgroup2vm.sh). This machine's kernel has no soft RDMA and
# binds the memory controller to cgroup v1; the guest has both.
#
#   guest_kernel                 KVER and K (the unpacked kernel, with an
#                                uncompressed vmlinux qemu boots through
#                                PVH); downloads the image package with
#                                `apt-get download` into a cache once (never
#                                installs it). Debian 12's 6.1 by default
#                                (exit 77 when it cannot be had); with
#                                GUEST_KERNEL=uring a kernel with
#                                FUSE-over-io_uring (below), where any
#                                failure is an error (exit 1), not a skip
#   guest_root DIR               a busybox root in DIR (GUEST_ROOT)
#   guest_copy_elf FILE...       FILE and its shared-library closure
#   guest_modules [?]MODULE...   the modules and their dependencies, in
#                                load order, uncompressed, listed in
#                                /modules.list; a module built into the
#                                kernel is left out; a missing one is an
#                                error unless written ?MODULE
#   guest_boot INIT TIMEOUT MEM  pack GUEST_ROOT with INIT as /init, boot
#                                it (TCG) with MEM MiB, serial console to
#                                $GUEST_WORK/serial.log; returns qemu's rc
#   guest_cleanup                kill qemu, remove GUEST_WORK (kept when
#                                CNM_KEEP=1)
#
# GUEST_KERNEL=uring: Debian 12's 6.1 has no FUSE-over-io_uring, so the
# io_uring pass boots the newest plain amd64 6.x image (not -rt nor
# -cloud) of trixie-backports at 6.14 or later whose package carries the
# kernel itself (from 6.19 the image is a metapackage over linux-binary-*
# and linux-modules-*, not handled here: 6.18.15 when this was written),
# found and fetched through a private apt configuration
# (its own source list, lists and cache under GUEST_WORK: the system's
# sources are never touched, as in .ci/build-libfuse), cached beside the
# 6.1, and checked for CONFIG_FUSE_IO_URING=y.
#
# Env: CNM_RDMAVM_CACHE (default /var/cache/cnetmem-rdmavm, else
# $BUILD_ROOT/rdmavm), KVER (default: newest 6.1 amd64 image apt knows, or
# under GUEST_KERNEL=uring the newest one cached, else as above),
# GUEST_KERNEL (empty or uring).

GUEST_WORK=${GUEST_WORK:-$(mktemp -d /tmp/cnm-guest.XXXXXX)}
GUEST_ROOT=

guest_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

guest_cleanup() {
	local pid
	pid=$(cat "$GUEST_WORK/qemu.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ "${CNM_KEEP:-0}" = 1 ]; then
		echo "# work dir kept: $GUEST_WORK" >&2
	else
		rm -rf "$GUEST_WORK"
	fi
}

guest_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# guest_uring_apt ARGS...: apt-get (or apt-cache with the first argument
# "cache") on the private configuration naming trixie-backports only
guest_uring_apt() {
	local d=$GUEST_WORK/apt tool=apt-get
	if [ ! -d "$d" ]; then
		mkdir -p "$d/lists/partial" "$d/cache/archives/partial" \
			"$d/etc/preferences.d" "$d/etc/sources.list.d"
		echo "deb http://deb.debian.org/debian trixie-backports main" \
			>"$d/etc/sources.list"
	fi
	[ "$1" != cache ] || { tool=apt-cache && shift; }
	"$tool" -o "Dir::Etc::sourcelist=$d/etc/sources.list" \
		-o "Dir::Etc::sourceparts=$d/etc/sources.list.d" \
		-o "Dir::Etc::preferencesparts=$d/etc/preferences.d" \
		-o "Dir::State::lists=$d/lists" -o "Dir::Cache=$d/cache" \
		-o "APT::Sandbox::User=root" "$@"
}

# guest_uring_kver CACHE: KVER of the io_uring guest: the newest cached,
# else the newest trixie-backports offers (see the header)
guest_uring_kver() {
	local cache=$1 v dep
	[ -z "${KVER:-}" ] || return 0
	KVER=$(cd "$cache/debs" && ls linux-image-6.*+deb*-amd64_*.deb 2>/dev/null |
		sed -n 's/^linux-image-\(6\.[0-9.]*+deb[0-9]*-amd64\)_.*/\1/p' |
		sort -V | tail -1 || true)
	[ -z "$KVER" ] || return 0
	guest_uring_apt update -qq >&2 ||
		guest_fail "apt-get update of the private trixie-backports list failed"
	for v in $(guest_uring_apt cache search --names-only \
		'^linux-image-6\.[0-9.]+\+deb[0-9]+-amd64$' | awk '{print $1}' |
		sed 's/^linux-image-//' | sort -rV); do
		# 6.14 brought FUSE-over-io_uring
		[ "$(printf '%s\n' 6.14 "${v%%+*}" | sort -V | head -1)" = 6.14 ] ||
			break
		# a metapackage over linux-binary-* holds no kernel
		dep=$(guest_uring_apt cache show "linux-image-$v" | sed -n 's/^Depends: //p')
		case $dep in
		*linux-binary-*) ;;
		*)
			KVER=$v
			break
			;;
		esac
	done
	[ -n "$KVER" ] ||
		guest_fail "no linux-image of 6.14 or later carrying its kernel in trixie-backports"
}

# guest_vmlinux IMAGE OUT: the uncompressed ELF inside a bzImage (xz in
# 6.1, zstd in trixie's kernels), else the bzImage itself
guest_vmlinux() {
	local img=$1 out=$2 off
	off=$(LC_ALL=C grep -abo -P '\xfd7zXZ\x00' "$img" | head -1 | cut -d: -f1 || true)
	if [ -n "$off" ]; then
		tail -c +$((off + 1)) "$img" | xz -dcq >"$out" 2>/dev/null || true
	fi
	if [ "$(head -c 4 "$out" 2>/dev/null)" != $'\x7fELF' ]; then
		off=$(LC_ALL=C grep -abo -P '\x28\xb5\x2f\xfd' "$img" | head -1 | cut -d: -f1 || true)
		# zstd complains of the data after the frame: the ELF is whole
		[ -z "$off" ] || ! command -v zstd >/dev/null ||
			tail -c +$((off + 1)) "$img" | zstd -dcq >"$out" 2>/dev/null || true
	fi
	[ "$(head -c 4 "$out" 2>/dev/null)" = $'\x7fELF' ] || cp "$img" "$out"
}

guest_kernel() {
	local cache kdeb uring=0
	command -v qemu-system-x86_64 >/dev/null ||
		guest_skip "qemu-system-x86_64 not installed"
	case ${GUEST_KERNEL:-} in
	'') ;;
	uring) uring=1 ;;
	*) guest_fail "GUEST_KERNEL=$GUEST_KERNEL: expected empty or uring" ;;
	esac
	cache=${CNM_RDMAVM_CACHE:-/var/cache/cnetmem-rdmavm}
	mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=$BUILD_ROOT/rdmavm
	mkdir -p "$cache/debs"
	if [ $uring = 1 ]; then
		guest_uring_kver "$cache"
	fi
	if [ -z "${KVER:-}" ]; then
		KVER=$(cd "$cache/debs" && ls linux-image-6.1.0-*-amd64_*.deb 2>/dev/null |
			sed 's/^linux-image-\(6\.1\.0-[0-9]*-amd64\)_.*/\1/' |
			sort -t- -k2 -n | tail -1 || true)
	fi
	if [ -z "${KVER:-}" ]; then
		KVER=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
			awk '{print $1}' | sed 's/^linux-image-//' | sort -t- -k2 -n |
			tail -1 || true)
	fi
	[ -n "$KVER" ] || guest_skip "no Debian 6.1 kernel package known to apt"
	kdeb=$(ls "$cache"/debs/linux-image-"$KVER"_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$kdeb" ] && [ $uring = 1 ]; then
		[ -d "$GUEST_WORK/apt/lists" ] || guest_uring_apt update -qq >&2 ||
			guest_fail "apt-get update of the private trixie-backports list failed"
		(cd "$cache/debs" && guest_uring_apt download -q "linux-image-$KVER" >&2) ||
			guest_fail "cannot download linux-image-$KVER from trixie-backports"
		kdeb=$(ls "$cache"/debs/linux-image-"$KVER"_*.deb | head -1)
	elif [ -z "$kdeb" ]; then
		(cd "$cache/debs" && apt-get download -q "linux-image-$KVER" >&2) ||
			guest_skip "cannot download linux-image-$KVER"
		kdeb=$(ls "$cache"/debs/linux-image-"$KVER"_*.deb | head -1)
	fi
	K=$cache/kernel-$KVER
	if [ ! -s "$K/vmlinux" ]; then
		# a private temporary name: another suite may unpack it too
		local tmp=$K.tmp.$$
		rm -rf "$tmp" && mkdir -p "$tmp"
		dpkg -x "$kdeb" "$tmp"
		# trixie's packages keep the modules under /usr only
		if [ ! -d "$tmp/lib/modules" ] && [ -d "$tmp/usr/lib/modules" ]; then
			mkdir -p "$tmp/lib"
			ln -s ../usr/lib/modules "$tmp/lib/modules"
		fi
		depmod -b "$tmp" "$KVER"
		# qemu boots the uncompressed ELF through PVH: no decompression
		# under TCG
		guest_vmlinux "$tmp/boot/vmlinuz-$KVER" "$tmp/vmlinux"
		if [ ! -s "$K/vmlinux" ]; then
			rm -rf "$K" && mv "$tmp" "$K"
		fi
		rm -rf "$tmp"
	fi
	if [ $uring = 1 ] && ! grep -qx CONFIG_FUSE_IO_URING=y "$K/boot/config-$KVER"; then
		guest_fail "kernel $KVER has no FUSE-over-io_uring (CONFIG_FUSE_IO_URING=y missing from its config)"
	fi
	echo "# kernel $KVER from $cache" >&2
}

guest_root() {
	local a
	GUEST_ROOT=$1
	mkdir -p "$GUEST_ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules,usr/bin}
	cp "$(command -v busybox)" "$GUEST_ROOT/bin/busybox"
	for a in $("$GUEST_ROOT/bin/busybox" --list); do
		[ -e "$GUEST_ROOT/bin/$a" ] || ln -s busybox "$GUEST_ROOT/bin/$a"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$GUEST_ROOT/etc/passwd"
	echo "127.0.0.1 localhost" >"$GUEST_ROOT/etc/hosts"
	: >"$GUEST_ROOT/modules.list"
}

guest_copy_elf() {
	local f lib r=$GUEST_ROOT
	for f in "$@"; do
		mkdir -p "$r$(dirname "$f")"
		cp -L "$f" "$r$f"
		for lib in $(ldd "$f" 2>/dev/null | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'); do
			[ -e "$r$lib" ] && continue
			mkdir -p "$r$(dirname "$lib")"
			cp -L "$lib" "$r$lib"
		done
	done
}

# no modprobe in the guest: the dependency closure is computed here. A
# module built into the kernel (modprobe says "builtin": fuse in trixie's
# kernels) needs nothing; ?MODULE may be missing (crc32_generic, which
# 6.1's rxe needs loaded by name, is library code from 6.15 on).
guest_modules() {
	local m deps ko name
	: >"$GUEST_WORK/modules.ko"
	for m in "$@"; do
		if ! deps=$(modprobe -d "$K" -S "$KVER" --show-depends "${m#\?}" 2>&1); then
			case $m in
			\?*)
				echo "# module ${m#\?} not in kernel $KVER: not loaded" >&2
				continue
				;;
			esac
			guest_fail "module $m not in kernel $KVER: $deps"
		fi
		awk '$1=="insmod" {print $2}' <<<"$deps" >>"$GUEST_WORK/modules.ko"
	done
	# busybox insmod takes the plain ELF: trixie's modules are .ko.xz
	awk '!seen[$0]++' "$GUEST_WORK/modules.ko" | while read -r ko; do
		name=$(basename "$ko")
		case $ko in
		*.ko.xz) xz -dc "$ko" >"$GUEST_ROOT/lib/modules/${name%.xz}" ;;
		*.ko.zst) zstd -dcq "$ko" >"$GUEST_ROOT/lib/modules/${name%.zst}" ;;
		*) cp "$ko" "$GUEST_ROOT/lib/modules/" ;;
		esac
		echo "${name%.ko*}.ko" >>"$GUEST_ROOT/modules.list"
	done
}

guest_boot() {
	local init=$1 timeout=$2 mem=$3 qrc=0
	install -m755 "$init" "$GUEST_ROOT/init"
	(cd "$GUEST_ROOT" && find . -print0 | cpio --null -o -H newc --quiet) \
		>"$GUEST_WORK/initramfs.cpio"
	echo "# booting qemu (tcg) with a ${timeout}s limit" >&2
	timeout -k 5 "$timeout" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp 1 -m "$mem" \
		-kernel "$K/vmlinux" -initrd "$GUEST_WORK/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init" \
		-nic none -display none -monitor none \
		-serial "file:$GUEST_WORK/serial.log" \
		-no-reboot -pidfile "$GUEST_WORK/qemu.pid" </dev/null || qrc=$?
	return "$qrc"
}

# guest_verdicts TAG QRC: prints "ok NAME (...)" or "FAIL NAME (...)" for
# every "TAG NAME PASS|FAIL ..." line of the serial log; 0 only when every
# check passed and the guest reported "TAG-DONE pass=N fail=0".
guest_verdicts() {
	local tag=$1 qrc=$2 fail=0 name verdict rest log=$GUEST_WORK/serial.log
	while read -r _ name verdict rest; do
		if [ "$verdict" = PASS ]; then
			echo "ok $name ($rest)"
		else
			echo "FAIL $name ($rest)"
			fail=1
		fi
	done < <(tr -d '\r' <"$log" | grep "^$tag " || true)
	if ! tr -d '\r' <"$log" | grep -q "^$tag-DONE pass=[0-9]* fail=0\$"; then
		echo "FAIL: guest did not finish cleanly (qemu rc=$qrc; last lines below)"
		tail -n 20 "$log" | tr -d '\r'
		return 1
	fi
	return "$fail"
}
