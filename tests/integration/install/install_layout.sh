#!/bin/bash
# `meson install --destdir` puts binaries, systemd units, man pages,
# example configs and docs where they belong, and every path the units
# name (ExecStart=, --config, Documentation=) is in the installed tree;
# `systemd-analyze verify` finds nothing to say about the units.
set -euo pipefail
. "$SOURCE_ROOT/tests/lib/common.sh"
trap cnm_cleanup EXIT
dest=$CNM_TMP/dest

meson install -C "$BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet \
	>"$CNM_TMP/install.log" 2>&1 || {
	cat "$CNM_TMP/install.log" >&2
	fail "meson install"
}
opt() {
	meson introspect "$BUILD_ROOT" --buildoptions |
		python3 -c 'import json,sys
print({o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]])' "$1"
}
prefix=$(opt prefix)
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
bindir=$(abs "$(opt bindir)")
sbindir=$(abs "$(opt sbindir)")
sysconfdir=$(abs "$(opt sysconfdir)")
mandir=$(abs "$(opt mandir)")
docdir=$(abs "$(opt datadir)")/doc/cnetmem
unitdir=$(dirname "$(find "$dest" -name 'cnetmem-donor.service' | head -1)")
[ -n "$unitdir" ] && [ "$unitdir" != . ] || fail "no unit installed"
cnm_log "prefix $prefix, units in ${unitdir#"$dest"}"

for f in "$bindir/cnetmem" "$bindir/cnetmemctl" "$sbindir/cnetmem-donor"; do
	[ -x "$dest$f" ] || fail "$f is not installed executable"
done
for f in "$sysconfdir/cnetmem/cnetmem-donor.conf" \
	"$docdir/examples/cnetmem.conf" "$docdir/README.md" \
	"$docdir/design.md" "$docdir/mount.md" "$docdir/donor.md" \
	"$mandir/man8/cnetmem.8" "$mandir/man8/cnetmem-donor.8" \
	"$mandir/man8/cnetmemctl.8" "$mandir/man5/cnetmem.conf.5" \
	"${unitdir#"$dest"}/cnetmem@.service"; do
	[ -s "$dest$f" ] || fail "$f is not installed"
done
# the man pages render
for m in "$dest$mandir"/man*/*; do
	MANWIDTH=80 man -l "$m" 2>&1 >/dev/null | grep . && fail "man -l $m"
	grep -q '^\.SH DESCRIPTION\|^\.SH COMMANDS' "$m" || fail "$m: no body"
done
# the installed binaries run
"$dest$sbindir/cnetmem-donor" --version | grep -q '^cnetmem-donor '

# every absolute path a unit names exists: ours in the installed tree,
# system tools on the host
for u in "$unitdir"/*.service; do
	grep -Eo '(^Exec[A-Za-z]*=|--config |LoadCredential=key:|file://)[^ ]+' \
		"$u" | sed -E 's/^(Exec[A-Za-z]*=|--config |LoadCredential=key:|file:\/\/)//' |
		while read -r p; do
			case $p in
			*%i*) p=$(dirname "$p") ;;
			*/key) continue ;; # made by the operator
			esac
			if [ "${p#"$prefix"/}" != "$p" ]; then
				[ -e "$dest$p" ] ||
					fail "$(basename "$u"): $p is not installed"
			else
				[ -e "$p" ] || fail "$(basename "$u"): $p missing"
			fi
		done
done

# systemd's own check, on copies pointing into the installed tree (it
# looks for the binaries on this host's paths)
if command -v systemd-analyze >/dev/null; then
	mkdir "$CNM_TMP/verify"
	sed "s|$prefix/|$dest$prefix/|g" "$unitdir/cnetmem-donor.service" \
		>"$CNM_TMP/verify/cnetmem-donor.service"
	sed "s|$prefix/|$dest$prefix/|g" "$unitdir/cnetmem@.service" \
		>"$CNM_TMP/verify/cnetmem@run-cnetmem-ctr42.service"
	systemd-analyze verify --man=no "$CNM_TMP/verify/"*.service \
		>"$CNM_TMP/verify.out" 2>&1 || true
	if [ -s "$CNM_TMP/verify.out" ]; then
		sed 's/^/# /' "$CNM_TMP/verify.out" >&2
		fail "systemd-analyze verify has something to say"
	fi
fi
echo "ok"
