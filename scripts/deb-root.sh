#!/bin/bash
# A clean Debian root of SUITE with the named packages, made once and cached; prints its
# path. Used by make deb (build roots), make test-deb and check-deb (test roots), and
# make check-xen420 (trixie's xenstore daemons).
#
#   scripts/deb-root.sh SUITE NAME VARIANT [PACKAGE... | 'DEPENDENCY STRING'...]
#
# VARIANT is debootstrap's: buildd (build-essential, what Debian's build daemons start
# from) or minbase. The arguments after it go to one `apt-get satisfy` (without
# recommends): packages, dependency strings such as debian/control's reduced
# Build-Depends, and "Conflicts: ..." strings. The root's apt sources are SUITE, SUITE-updates and SUITE-security
# (no updates/security for sid) on the mirrors the host's apt configuration uses for
# Debian and its security archive (the only network this uses). Roots live in
# PHYSMAP_DEB_CACHE (default ~/.cache/physmap-hooks-deb) as SUITE-NAME-KEY, KEY a hash of
# the architecture, mirrors, suite, variant, the arguments and the recipe's version; a newer key
# for the same SUITE-NAME replaces the older root. Callers work on an overlay of it: the
# cached tree is never changed after it is complete.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 SUITE NAME VARIANT [PACKAGE...]" >&2; exit 2; }
suite=$1 name=$2 variant=$3
shift 3
die() { echo "deb-root: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot)"

cache=${PHYSMAP_DEB_CACHE:-$HOME/.cache/physmap-hooks-deb}
arch=$(dpkg --print-architecture)
# The host's mirrors: the site of any Debian main suite, and of a -security suite.
targets=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 'Identifier: Packages')
mirror=$(awk '$2 !~ /-(security|updates|backports)$/ && $3 == "main" && $1 ~ /^https?:/ {print $1; exit}' <<<"$targets")
security=$(awk '$2 ~ /-security$/ && $1 ~ /^https?:/ {print $1; exit}' <<<"$targets")
[ -n "$mirror" ] || die "no Debian mirror in the host's apt sources (apt-get update first?)"
[ -n "$security" ] || security=${mirror%/debian}/debian-security

sources="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
if [ "$suite" = sid ] || [ "$suite" = unstable ]; then
    # unstable's Release file is valid for a week only; the mirror here serves one that
    # expired a month ago (its sid is not updated), which apt refuses without this.
    sources="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] $mirror $suite main"
else
    sources+=$'\n'"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite-updates main"
    sources+=$'\n'"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security $suite-security main"
fi
# The recipe's version: raise it when the way a root is made changes.
recipe=1
key=$(printf '%s\n' "recipe $recipe" "$arch" "$suite" "$variant" "$sources" "$@" |
    sha256sum | cut -c1-16)
root=$cache/$suite-$name-$key
if [ -e "$root/.complete" ]; then
    echo "$root"
    exit 0
fi

mkdir -p "$cache"
log=$cache/$suite-$name.log
echo "deb-root: debootstrap --variant=$variant $suite from $mirror, then ${*:-nothing}" \
    "into $root (once; log: $log)" >&2
rm -rf "$cache/$suite-$name"-*
tmp=$cache/tmp-$suite-$name-$key
start=$SECONDS
if ! {
    unshare --mount --propagation private -- nice -n 10 debootstrap --variant="$variant" \
        --arch="$arch" "$suite" "$tmp" "$mirror" &&
    printf '%s\n' "$sources" >"$tmp/etc/apt/sources.list" &&
    unshare --mount --propagation private -- bash -c '
        set -e
        r=$1; shift
        mount -t proc proc "$r/proc"
        cp /etc/resolv.conf "$r/etc/resolv.conf"
        in_root() {
            chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
                DEBIAN_FRONTEND=noninteractive "$@"
        }
        in_root apt-get -q update
        in_root apt-get -q -y dist-upgrade
        [ $# -eq 0 ] || in_root apt-get -q -y --no-install-recommends satisfy "$@"
        in_root apt-get clean
    ' bash "$tmp" "$@"
} >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -rf "$tmp"
    die "making the $suite root failed; see $log"
fi
rm -f "$tmp/var/cache/apt/archives/"*.deb
touch "$tmp/.complete"
mv "$tmp" "$root"
echo "deb-root: $root made in $((SECONDS - start)) s" >&2
echo "$root"
