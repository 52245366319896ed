# shellcheck shell=bash
# A qemu guest booting Debian's own 6.1 kernel from a busybox initramfs:
# shared by the rdma suite (tests/rdma/rdmavm.sh) and the cgroup2 suite
# (tests/cgroup2/cgroup2vm.sh). This machine's kernel has no soft RDMA and
# binds the memory controller to cgroup v1; the guest has both.
#
#   guest_kernel                 KVER and K (the unpacked kernel, with an
#                                uncompressed vmlinux qemu boots through
#                                PVH); downloads linux-image-$KVER with
#                                `apt-get download` into a cache once (never
#                                installs it); exit 77 when it cannot
#   guest_root DIR               a busybox root in DIR (GUEST_ROOT)
#   guest_copy_elf FILE...       FILE and its shared-library closure
#   guest_modules MODULE...      the modules and their dependencies, in
#                                load order, listed in /modules.list
#   guest_boot INIT TIMEOUT MEM  pack GUEST_ROOT with INIT as /init, boot
#                                it (TCG) with MEM MiB, serial console to
#                                $GUEST_WORK/serial.log; returns qemu's rc
#   guest_cleanup                kill qemu, remove GUEST_WORK (kept when
#                                CNM_KEEP=1)
#
# Env: CNM_RDMAVM_CACHE (default /var/cache/cnetmem-rdmavm, else
# $BUILD_ROOT/rdmavm), KVER (default: newest 6.1 amd64 image apt knows).

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

guest_kernel() {
	local cache kdeb img off
	command -v qemu-system-x86_64 >/dev/null ||
		guest_skip "qemu-system-x86_64 not installed"
	cache=${CNM_RDMAVM_CACHE:-/var/cache/cnetmem-rdmavm}
	mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=$BUILD_ROOT/rdmavm
	mkdir -p "$cache/debs"
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
	if [ -z "$kdeb" ]; then
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
		depmod -b "$tmp" "$KVER"
		# qemu boots the uncompressed ELF through PVH: no decompression
		# under TCG
		img=$tmp/boot/vmlinuz-$KVER
		off=$(LC_ALL=C grep -abo -P '\xfd7zXZ\x00' "$img" | head -1 | cut -d: -f1)
		tail -c +$((off + 1)) "$img" | xz -dcq >"$tmp/vmlinux" 2>/dev/null || true
		[ -s "$tmp/vmlinux" ] || cp "$img" "$tmp/vmlinux"
		if [ ! -s "$K/vmlinux" ]; then
			rm -rf "$K" && mv "$tmp" "$K"
		fi
		rm -rf "$tmp"
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

# no modprobe in the guest: the dependency closure is computed here
guest_modules() {
	local m ko
	for m in "$@"; do
		modprobe -d "$K" -S "$KVER" --show-depends "$m" | awk '$1=="insmod" {print $2}'
	done | awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$GUEST_ROOT/lib/modules/"
		basename "$ko" >>"$GUEST_ROOT/modules.list"
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
