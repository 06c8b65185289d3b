#!/bin/bash
# make deb [DIST=bookworm|trixie|sid]: builds the Debian source and binary packages of this
# tree for one suite, as Debian's build daemons would, into target/debian/DIST/ (nothing
# else is written). DIST defaults to the host's suite.
#
#   1. a clean build root of DIST (`debootstrap --variant=buildd` plus the Build-Depends
#      of debian/control for that suite, and lintian), made once and cached by
#      scripts/deb-root.sh under ~/.cache/physmap-hooks-deb, keyed by its content;
#   2. the orig tarball (the tracked files of the tree, debian/ excepted) and, for the
#      Debian 12 backport only, the orig-vendor component tarball (`cargo vendor` of
#      Cargo.lock, run on the host: the only step that needs crates.io), unpacked with
#      debian/ into the build tree. The backport gets its changelog entry
#      (<version>~bpo12+1, as `dch --bpo` writes it) and the vendored crates' stanzas
#      (debian/vendor-copyright) in that tree only;
#   3. `dpkg-buildpackage -us -uc` (source and binary; bookworm: with the build profile
#      pkg.physmap-hooks.vendored) on an overlay of the root, in a network namespace with
#      no interface but a down loopback (`unshare -n`): the build is offline;
#   4. the suite's lintian on the .changes, in the same root; fails on any error.
#
# Results: target/debian/DIST/physmap-hooks_<version>{.dsc,.debian.tar.xz,_amd64.changes,...},
# {libphysmap-hooks1,libphysmap-hooks-dev,physmap-inspect}_<version>_<arch>.deb,
# lintian.txt, build.log.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "make deb: $*" >&2; exit 1; }
host_suite() {
    local c
    c=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    # Debian unstable's os-release names trixie's successor or nothing at all.
    if grep -q '/sid$' /etc/debian_version 2>/dev/null || [ -z "$c" ]; then c=sid; fi
    echo "$c"
}
dist=${1:-${DIST:-}}
[ -n "$dist" ] || dist=$(host_suite)
[ "$dist" = unstable ] && dist=sid
case $dist in
bookworm) profile=pkg.physmap-hooks.vendored bpo="~bpo12+1" ;;
trixie | sid) profile= bpo= ;;
*) die "DIST=$dist: expected bookworm, trixie or sid" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, unshare -n)"

out=target/debian/$dist
source=physmap-hooks
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${deb_version%-*}
if [ "$upstream" != "$crate_version" ]; then
    die "debian/changelog is at $deb_version, Cargo.toml at $crate_version;" \
        "add a changelog entry (dch -v $crate_version-1)"
fi
version=$deb_version$bpo
start=$SECONDS

# 1. The build root.
missing=()
for p in debootstrap dpkg-dev xz-utils; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}"
fi
# Build-Depends and Build-Conflicts for this suite's profile, as apt-get satisfy takes them.
field() {
    perl -MDpkg::Control::Info -MDpkg::Deps -e '
        my $src = Dpkg::Control::Info->new("debian/control")->get_source;
        my $f = $src->{$ARGV[0]} // "";
        print deps_parse($f, build_dep => 1, reduce_arch => 1, union => ($ARGV[0] =~ /Conflicts/ ? 1 : 0),
            reduce_profiles => 1, build_profiles => [grep { length } $ARGV[1]]), "\n"' "$1" "$profile"
}
deps=$(field Build-Depends)
conflicts=$(field Build-Conflicts)
echo "== $dist build root: buildd + ${profile:+(profile $profile) }$deps${conflicts:+, without $conflicts}, lintian"
root=$(scripts/deb-root.sh "$dist" build buildd "$deps" ${conflicts:+"Conflicts: $conflicts"} lintian)
if [ -z "$profile" ]; then
    # Debian's build: the suite's own rustc and cargo packages, nothing that provides them.
    for t in rustc cargo; do
        p=$(chroot "$root" dpkg -S "/usr/bin/$t" 2>/dev/null | cut -d: -f1)
        [ "$p" = "$t" ] || die "the $dist root's /usr/bin/$t comes from '$p', not the $t package"
    done
fi

# 2. Source: orig tarballs and build tree.
rm -rf "$out"
mkdir -p "$out"
epoch=$(git log -1 --format=%ct)
tar_opts=(--sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "make deb: warning: the tree has uncommitted changes; the orig tarball takes the" \
        "files as they are now" >&2
fi
echo "== $out/${source}_$upstream.orig.tar.xz (tracked files, without debian/)"
git ls-files -z -- . ':!:debian' |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar "${tar_opts[@]}" --no-recursion --null -T - \
        --transform="s,^,$source-$upstream/," -cf - | xz -T1 -6 >"$out/${source}_$upstream.orig.tar.xz"
tree="$out/$source-$upstream"
tar -C "$out" -xf "$out/${source}_$upstream.orig.tar.xz"
cp -a debian "$tree/"

if [ -n "$profile" ]; then
    # cargo vendor's tarball depends on Cargo.lock alone: made once per Cargo.lock (and
    # cargo's version) and cached beside the roots, as the tarball of a release would be.
    cache=${PHYSMAP_DEB_CACHE:-$HOME/.cache/physmap-hooks-deb}
    vkey=$({ sha256sum <Cargo.lock; "${CARGO:-cargo}" --version; printf '%s\n' "${tar_opts[@]}"; } |
        sha256sum | cut -c1-16)
    cached=$cache/orig-vendor-$vkey.tar.xz
    vendor="$out/vendor"
    if [ -s "$cached" ]; then
        echo "== $out/${source}_$upstream.orig-vendor.tar.xz (cargo vendor of Cargo.lock: cached $cached)"
        mkdir "$vendor"
        tar -C "$vendor" --strip-components=1 -xf "$cached"
    else
        echo "== $out/${source}_$upstream.orig-vendor.tar.xz (cargo vendor of Cargo.lock)"
        "${CARGO:-cargo}" vendor --locked --quiet "$vendor" >/dev/null
    fi
    # Every vendored crate needs its stanza (scripts/deb-copyright-vendor.py).
    for d in "$vendor"/*/; do
        d=$(basename "$d")
        grep -qx "Files: vendor/$d/\*" debian/vendor-copyright ||
            die "debian/vendor-copyright has no stanza for vendor/$d; see scripts/deb-copyright-vendor.py"
    done
    for f in $(sed -n 's,^Files: vendor/\([^/]*\)/\*$,\1,p' debian/vendor-copyright); do
        [ -d "$vendor/$f" ] || die "debian/vendor-copyright names vendor/$f, which cargo vendor did not write"
    done
    if [ ! -s "$cached" ]; then
        mkdir -p "$cache"
        tar "${tar_opts[@]}" -C "$out" -cf - vendor | xz -T0 -6 >"$cached.tmp"
        rm -f "$cache"/orig-vendor-*.tar.xz
        mv "$cached.tmp" "$cached"
    fi
    cp "$cached" "$out/${source}_$upstream.orig-vendor.tar.xz"
    mv "$vendor" "$tree/vendor"
    # The backport's debian/: the vendored crates' Files stanzas after the tree's own,
    # their licences after those (debian/vendor-copyright holds both, in that order).
    awk '!done && /^License: / && prev == "" { while ((getline l < v) > 0) print l; print ""; done = 1 }
         { print; prev = $0 }' v=debian/vendor-copyright debian/copyright >"$tree/debian/copyright"
    # The backport's changelog entry, as `dch --bpo` writes it.
    { printf '%s (%s) %s-backports; urgency=medium\n\n' "$source" "$version" "$dist"
      printf '  * Rebuild for %s-backports: build profile pkg.physmap-hooks.vendored\n' "$dist"
      printf '    (rustc-web, and the crates of Cargo.lock vendored in the orig-vendor\n'
      printf '    component tarball: %s'"'"'s own crates are too old).\n\n' "$dist"
      printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l debian/changelog -S Maintainer)" \
          "$(date -R -d "@$epoch")"
      cat debian/changelog; } >"$tree/debian/changelog"
fi

# 3. Build, offline, in an overlay of the root.
echo "== dpkg-buildpackage -us -uc${profile:+ -P$profile} in a clean $dist root, without" \
    "network (log: $out/build.log)"
unshare -n true 2>/dev/null || die "cannot create a network namespace (unshare -n)"
# The namespace has only a loopback interface, down. The top of build.log shows that, and
# that the Debian mirror, which answers from here (checked just before), does not answer
# from inside; the build stops if either is not so.
host=$(grep -o 'https\?://[^/ ]*' "$root/etc/apt/sources.list" | head -n 1 | cut -d/ -f3)
addr=$(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}' || true)
probe="exec 3<>/dev/tcp/${addr:-0.0.0.0}/80"
if [ -n "$addr" ] && timeout 5 bash -c "$probe" 2>/dev/null; then
    outside="$host ($addr:80) answers outside the build namespace"
else
    outside="$host does not answer from here either"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/ovl" "$work/merged"
build_start=$SECONDS
if ! OUTSIDE="$outside" PROBE="$probe" unshare --net --mount --propagation private -- bash -c '
        set -e
        root=$1 work=$2 out=$3 tree=$4 profile=$5
        echo "$OUTSIDE"
        ifaces=$(tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")
        echo "build namespace: network interfaces: $ifaces"
        [ "$ifaces" = "lo " ] || { echo "not an empty network namespace"; exit 1; }
        if timeout 5 bash -c "$PROBE" 2>/dev/null; then
            echo "build namespace: a TCP connection succeeded"; exit 1
        fi
        echo "build namespace: the same TCP connection fails: the build is offline"
        m=$work/merged
        mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$m"
        mkdir -p "$m/build"
        mount --bind "$out" "$m/build"
        mount -t proc proc "$m/proc"
        mount -t tmpfs tmpfs "$m/tmp"
        in_root() {
            chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
                DEB_BUILD_OPTIONS="parallel=$(nproc)" "$@"
        }
        in_root sh -c "echo \"toolchain: \$(rustc --version), \$(cargo --version)\"; \
            dpkg-query -W -f '\''\${Package} \${Version}\n'\'' debhelper lintian libxen-dev"
        in_root sh -c "cd /build/$tree && nice -n 10 dpkg-buildpackage -us -uc ${profile:+-P$profile}"
    ' bash "$root" "$work" "$PWD/$out" "$(basename "$tree")" "$profile" >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "dpkg-buildpackage failed; see $out/build.log"
fi
head -n 3 "$out/build.log"
sed -n '/^toolchain: /p' "$out/build.log"
echo "built in $((SECONDS - build_start)) s:"
(cd "$out" && ls -1 -- *.dsc *.deb *.changes)

# 4. lintian of the suite, in the same root.
changes=$(cd "$out" && ls -- *.changes)
echo "== lintian $changes ($dist's lintian)"
rm -rf "$work"/{upper,ovl,merged} && mkdir -p "$work/upper" "$work/ovl" "$work/merged"
unshare --mount --propagation private -- bash -c '
    root=$1 work=$2 out=$3 changes=$4
    m=$work/merged
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$m"
    mkdir -p "$m/build" && mount --bind "$out" "$m/build"
    mount -t proc proc "$m/proc"
    mount -t tmpfs tmpfs "$m/tmp"
    chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
        sh -c "echo \"lintian \$(dpkg-query -W -f '\''\${Version}'\'' lintian)\"; cd /build && \
            nice -n 10 lintian --display-info --tag-display-limit 0 $changes"
' bash "$root" "$work" "$PWD/$out" "$changes" >"$out/lintian.txt" 2>&1 || true
cat "$out/lintian.txt"
grep -q '^lintian [0-9]' "$out/lintian.txt" || die "lintian did not run"
if grep -q '^E: ' "$out/lintian.txt"; then
    die "lintian reports errors"
fi
echo "make deb: DIST=$dist $version: $(grep -c '^E: ' "$out/lintian.txt") lintian errors," \
    "$(grep -c '^W: ' "$out/lintian.txt") warnings; packages in $out/;" \
    "$((SECONDS - start)) s in all"
