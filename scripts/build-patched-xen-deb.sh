#!/bin/bash
# Rebuilds Debian 12's xen source package with xl-patches/4.17 added to its quilt series,
# so that its libxenlight (in libxenmisc4.17) loads libphysmap_hooks.so.1 from
# /usr/lib/<multiarch>/. These are the steps of xl-patches/README.md ("Debian"), written
# out. Run as root on Debian 12 (it installs devscripts, quilt and xen's Build-Depends).
#
#   scripts/build-patched-xen-deb.sh [--prepare-only] [WORKDIR]
#
# WORKDIR (default target/xen-deb) receives the source package, the patched tree
# xen-<version>/ and, after the build, the .debs (../*.deb of the tree). --prepare-only
# stops before `apt-get build-dep` and the build: download, patch, changelog entry.
#
# The source comes from the host's own Debian mirror through a private apt configuration
# (a deb-src line in WORKDIR/apt), so the host's apt setup is not changed; apt checks the
# files against the signed Sources index. XEN_VERSION (default 4.17.5+72-g01140da4e8-1)
# is the bookworm version whose source the mirror serves: the newer bookworm-security one
# (4.17.7+13-g2445b30a44-0+deb12u1) answered 404 here.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

prepare_only=
if [ "${1:-}" = --prepare-only ]; then prepare_only=y; shift; fi
work=${1:-target/xen-deb}
version=${XEN_VERSION:-4.17.5+72-g01140da4e8-1}
suite=${XEN_SUITE:-bookworm}
series=$top/xl-patches/4.17
log() { echo "== $*"; }
die() { echo "build-patched-xen-deb: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get build-dep, package installs)"
missing=()
for p in devscripts quilt dpkg-dev; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}"
fi

# 1. apt-get source xen, through a private apt configuration.
mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' \
        'Identifier: Packages' | awk -v s="$suite" '$2 == s && $3 == "main" {print $1; exit}')
[ -n "$mirror" ] || die "no '$suite main' in the host's apt sources"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
work=$(cd "$work" && pwd)
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
    >"$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
log "apt-get source xen=$version (deb-src $mirror $suite main)"
apt-get "${apt_opts[@]}" -qq update
rm -rf "$work"/xen-*/
(cd "$work" && apt-get "${apt_opts[@]}" source "xen=$version")
tree=$(ls -d "$work"/xen-*/ | head -n 1)
[ -d "$tree" ] || die "apt-get source did not unpack a tree"
cd "$tree"

# 2. Our series after Debian's (Debian's own patches were applied on extraction), without
#    4.17/configure/: Debian deletes tools/configure and regenerates it (dh_autoreconf).
log "adding xl-patches/4.17 to debian/patches/series"
mkdir -p debian/patches/physmap-hooks
cp "$series"/*.patch debian/patches/physmap-hooks/
(cd debian/patches && ls physmap-hooks/*.patch) >>debian/patches/series
export QUILT_PATCHES=debian/patches
quilt push -a --fuzz=0 | tee "$work/quilt.log"
if grep -E 'offset|fuzz' "$work/quilt.log"; then
    die "xl-patches/4.17 applies only with offset or fuzz"
fi

# 3. A local version (<version>+physmap1), so that apt sees the rebuilt packages as newer.
DEBFULLNAME=${DEBFULLNAME:-physmap-hooks} DEBEMAIL=${DEBEMAIL:-physmap-hooks@localhost} \
    dch --local +physmap "libxl: load libphysmap_hooks for physmap save/restore (xl-patches/4.17)."
log "version $(dpkg-parsechangelog -S Version)"
if [ -n "$prepare_only" ]; then
    log "prepared $tree (--prepare-only: no build)"
    exit 0
fi

# 4. Build dependencies, then the binary packages.
log "apt-get build-dep ./"
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 build-dep -y -q ./
# -j sets MAKEFLAGS, which debian/rules' $(MAKE) calls (hypervisor, tools, docs) inherit;
# without it the build is serial. JOBS overrides the default of one job per CPU.
jobs=${JOBS:-$(nproc)}
log "dpkg-buildpackage -b -uc -us -j$jobs (log: $work/build.log)"
start=$SECONDS
nice -n 15 dpkg-buildpackage -b -uc -us -j"$jobs" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; die "dpkg-buildpackage failed; see $work/build.log"; }
log "built in $((SECONDS - start)) s:"
ls -1 "$work"/*.deb
echo "Install the patched libxenlight with: dpkg -i $work/libxenmisc4.17_*+physmap*.deb"
