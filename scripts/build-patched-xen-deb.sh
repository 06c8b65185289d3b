#!/bin/bash
# Rebuilds Debian 12's xen source package with xl-patches/4.17 added to its quilt series,
# so that its libxenlight (in libxenmisc4.17) loads libphysmap_hooks.so.1 from
# /usr/lib/<multiarch>/. These are the steps of xl-patches/README.md ("Debian"), written
# out. Run as root on Debian 12.
#
#   scripts/build-patched-xen-deb.sh [--check-only | --prepare-only] [WORKDIR]
#
# WORKDIR (default target/xen-deb) receives the source package, the patched tree
# xen-<version>/ and, after the build, the .debs (../*.deb of the tree) and build.log.
# --prepare-only stops before the build: download, patch, changelog entry.
#
# The version: never one that would downgrade the host. By default the script builds the
# version of Xen the host runs (the newest version installed of any package built from
# the xen source), or, with no Xen installed, the newest its apt sources offer
# (XEN_SUITE, default bookworm, with its -updates and -security suites). XEN_VERSION
# chooses another, which must not be older than what is installed: the result,
# <version>+physmap1, replaces the host's packages, and an older libxenmisc4.17 would
# break the newer xen-utils-4.17 that depends on its own version (or take the host
# back below a security release). The script refuses before downloading anything.
# `--check-only` stops after choosing the version. XEN_DPKG_ADMINDIR reads another dpkg
# database than the host's (the tests use a made-up one).
#
# The source comes from the host's own Debian mirror through a private apt configuration
# (deb and deb-src lines in WORKDIR/apt), so the host's apt setup is not changed; apt
# checks the files against the signed indexes. When the mirror does not serve that
# version's source (bookworm-security's 4.17.7+13-g2445b30a44-0+deb12u1 answered 404
# here), the script stops and says what to do instead.
#
# The build runs as Debian's build daemons run it: in a clean root (`debootstrap
# --variant=buildd`, build-essential and nothing else) into which `apt-get build-dep`
# installs exactly the Build-Depends. What the host happens to have installed cannot
# leak in (a host build links libxenlight against libnl and libxenguest against libbz2
# when their -dev packages are there, dependencies Debian's packages do not have), and
# the host gets no build dependencies. The root is made once and cached under
# XEN_DEB_CACHE (default ~/.cache/physmap-hooks/xen-deb), keyed by the architecture,
# mirror and suite, next to the build dependencies' .debs (archives/); each build works on an overlay of it (a copy without overlayfs) in a
# private mount namespace, so the cache never changes and nothing stays mounted. At the
# end the script compares every rebuilt package's Depends with those of the archive's
# package of the same version, and fails if the package set differs.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

prepare_only= check_only=
case ${1:-} in
--prepare-only) prepare_only=y; shift ;;
--check-only) check_only=y; shift ;;
esac
work=${1:-target/xen-deb}
suite=${XEN_SUITE:-bookworm}
series=$top/xl-patches/4.17
log() { echo "== $*"; }
die() { echo "build-patched-xen-deb: $*" >&2; exit 1; }

# 0. The version to build, and the refusal to build one older than the host's.
admindir=${XEN_DPKG_ADMINDIR:-/var/lib/dpkg}
# Every installed package built from the xen source, with its version: "version package".
installed=$(dpkg-query --admindir="$admindir" -W \
        -f='${db:Status-Status} ${source:Package} ${Version} ${Package}\n' 2>/dev/null |
    awk '$1 == "installed" && $2 == "xen" {print $3, $4}' | sort -V -k1,1 || true)
newest_installed=$(tail -n 1 <<<"$installed" | cut -d' ' -f1)
if [ -n "${XEN_VERSION:-}" ]; then
    version=$XEN_VERSION
    why="XEN_VERSION"
elif [ -n "$newest_installed" ]; then
    version=$newest_installed
    why="what this host runs, e.g. $(tail -n 1 <<<"$installed" | cut -d' ' -f2)"
else
    version=$(apt-cache policy libxenmisc4.17 2>/dev/null | sed -n 's/^ *Candidate: //p')
    [ -n "$version" ] && [ "$version" != "(none)" ] ||
        die "no Xen installed and no libxenmisc4.17 in the host's apt sources: set XEN_VERSION"
    why="the newest libxenmisc4.17 of the host's apt sources (no Xen installed)"
fi
if [ -n "$newest_installed" ] && dpkg --compare-versions "$version+physmap1" lt "$newest_installed"; then
    older=$(while read -r iv ip; do
            if dpkg --compare-versions "$version+physmap1" lt "$iv"; then echo "  $ip $iv"; fi
        done <<<"$installed")
    die "refusing to build xen $version+physmap1: it is older than the Xen installed here:
$older
Installing it would downgrade these packages (xen-utils-4.17 depends on the libxenmisc4.17
of its own version: dpkg would leave the toolstack broken) and take the host below the
security release it runs. Build the version installed ($newest_installed): unset
XEN_VERSION, or set it to that version or a newer one."
fi
log "xen $version ($why); the patched packages will be $version+physmap1"
if [ -n "$check_only" ]; then
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, package installs)"
missing=()
for p in devscripts quilt dpkg-dev debootstrap; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}"
fi

# 1. apt-get source xen, through a private apt configuration.
targets=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 'Identifier: Packages')
mirror=$(awk -v s="$suite" '$2 == s && $3 == "main" {print $1; exit}' <<<"$targets")
security=$(awk -v s="$suite-security" '$2 == s && $3 == "main" {print $1; exit}' <<<"$targets")
[ -n "$mirror" ] || die "no '$suite main' in the host's apt sources"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
work=$(cd "$work" && pwd)
for type in deb deb-src; do
    echo "$type [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
    echo "$type [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite-updates main"
    [ -z "$security" ] ||
        echo "$type [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security $suite-security main"
done >"$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
log "apt-get source xen=$version (deb-src $mirror $suite main, -updates${security:+, $security $suite-security})"
apt-get "${apt_opts[@]}" -qq update
rm -rf "$work"/xen-*/
if [ -n "${XEN_SOURCE_TREE:-}" ]; then
    # A source tree unpacked elsewhere (dpkg-source -x), of exactly this version.
    got=$(dpkg-parsechangelog -l "$XEN_SOURCE_TREE/debian/changelog" -S Version 2>/dev/null) ||
        die "XEN_SOURCE_TREE=$XEN_SOURCE_TREE has no debian/changelog"
    [ "$got" = "$version" ] || die "XEN_SOURCE_TREE=$XEN_SOURCE_TREE is xen $got, not $version"
    log "using the source tree $XEN_SOURCE_TREE (xen $got)"
    cp -a "$XEN_SOURCE_TREE" "$work/xen-${version%-*}"
elif ! (cd "$work" && apt-get "${apt_opts[@]}" source "xen=$version") >"$work/source.log" 2>&1; then
    cat "$work/source.log" >&2
    if grep -q "Unable to find a source package\|Can not find version" "$work/source.log"; then
        what="none of the host's Debian mirrors lists the source of xen $version"
    else
        what="the mirror lists the source of xen $version but did not serve it"
    fi
    die "$what.
Building another version is not a way out: an older one would downgrade this host (see
above), and a newer one would not match the Xen libraries installed beside the patched
libxenlight. Instead:
  * fetch xen_$version.dsc and the files it names from a place that has them (another
    Debian mirror, or snapshot.debian.org: /package/xen/$version/), unpack them with
    \`dpkg-source -x xen_$version.dsc DIR\` (it checks their checksums; the signature
    needs debian-keyring), and run this script again with XEN_SOURCE_TREE=DIR; or
  * build on a host, VM or root whose Xen is a version the mirror serves the source of
    (bookworm's 4.17.5+72-g01140da4e8-1 here; make e2e does that in its own dom0)."
fi
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

# 4. The clean build root (cached), as Debian's buildds have it.
arch=$(dpkg --print-architecture)
cache=${XEN_DEB_CACHE:-$HOME/.cache/physmap-hooks/xen-deb}
key=$(printf '%s\n' "debootstrap buildd" "$arch" "$mirror" "$suite" | sha256sum | cut -c1-16)
root=$cache/root-$key
if [ ! -e "$root/.complete" ]; then
    log "debootstrap --variant=buildd $suite from $mirror into $root (once)"
    rm -rf "$cache"/root-* "$cache"/tmp-* "$cache"/archives
    mkdir -p "$cache"
    tmp=$cache/tmp-$key
    unshare --mount --propagation private -- debootstrap --variant=buildd --arch="$arch" \
        "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed; see $cache/debootstrap.log"; }
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    touch "$tmp/.complete"
    mv "$tmp" "$root"
fi
# Not trusted blindly: a root without its compiler or apt is made again next time.
for f in usr/bin/gcc usr/bin/dpkg-buildpackage usr/bin/apt-get; do
    [ -x "$root/$f" ] || { rm -f "$root/.complete"; die "$root lacks /$f; run again to remake it"; }
done

# 5. Inside an overlay of the root: apt-get build-dep (the only step that needs the
#    network), then dpkg-buildpackage -b. WORKDIR is /build there, so the .debs land in
#    WORKDIR. -j sets MAKEFLAGS, which debian/rules' $(MAKE) calls (hypervisor, tools,
#    docs) inherit; without it the build is serial. JOBS overrides one job per CPU.
jobs=${JOBS:-$(nproc)}
tree_name=$(basename "$tree")
rm -f "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/upper" "$scratch/ovl" "$scratch/merged"
log "apt-get build-dep and dpkg-buildpackage -b -uc -us -j$jobs in a clean $suite root" \
    "(log: $work/build.log)"
start=$SECONDS
unshare --mount --propagation private -- bash -c '
    set -e
    root=$1 scratch=$2 work=$3 tree=$4 jobs=$5 cache_archives=$6
    m=$scratch/merged
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$scratch/upper,workdir=$scratch/ovl" \
        "$m" 2>/dev/null || cp -a "$root/." "$m/"
    mkdir -p "$m/build"
    mount --bind "$work" "$m/build"
    mount -t proc proc "$m/proc"
    mount --rbind /dev "$m/dev"
    mount -t tmpfs tmpfs "$m/tmp"
    # The build dependencies downloaded once: apt checks each against the signed index.
    mkdir -p "$cache_archives/partial"
    mount --bind "$cache_archives" "$m/var/cache/apt/archives"
    cp /etc/resolv.conf "$m/etc/resolv.conf"
    in_root() {
        chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
            DEBIAN_FRONTEND=noninteractive "$@"
    }
    in_root apt-get -q update
    in_root apt-get -q -y -o APT::Get::Build-Dep-Automatic=true build-dep "/build/$tree"
    in_root sh -c "cd /build/$tree && nice -n 15 dpkg-buildpackage -b -uc -us -j$jobs"
' bash "$root" "$scratch" "$work" "$tree_name" "$jobs" "$cache/archives" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; die "the build failed; see $work/build.log"; }
log "built in $((SECONDS - start)) s (build dependencies included):"
ls -1 "$work"/*.deb

# 6. Each package's Depends against the archive's package of the same version (without
#    the +physmap1): the same package names, or the build differs from Debian's.
base_version=${version}
differ=0
for deb in "$work"/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    case $pkg in *-dbgsym) continue ;; esac
    ours=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//; s/[ (].*//' | sort -u)
    theirs=$(apt-cache "${apt_opts[@]}" show "$pkg=$base_version" 2>/dev/null |
        sed -n '0,/^Depends: /s/^Depends: //p' | tr ',' '\n' | sed 's/^ *//; s/[ (].*//' | sort -u)
    if [ "$ours" != "$theirs" ]; then
        echo "$pkg: Depends differ from the archive's $pkg $base_version:" >&2
        diff <(echo "$theirs") <(echo "$ours") >&2 || true
        differ=1
    fi
done
[ "$differ" -eq 0 ] || die "the rebuilt packages' dependencies differ from Debian's"
echo "Depends: every package depends on the same packages as the archive's $base_version"
echo "Install the patched libxenlight (an upgrade of the host's $version) with:"
echo "  apt-get install $work/libxenmisc4.17_${version#*:}+physmap1_$arch.deb"
