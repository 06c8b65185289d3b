#!/bin/bash
# make deb: builds the Debian source and binary packages of this tree as a distribution
# would, into target/debian/ (nothing else is written).
#
#   1. installs what is missing (as root): dpkg-dev, lintian, and the Build-Depends of
#      debian/control (Debian's rustc-web/cargo-web, debhelper, libxen-dev);
#   2. writes the orig tarball (the tracked files of the tree, debian/ excepted) and the
#      orig-vendor component tarball (`cargo vendor` of Cargo.lock: the only step that
#      needs the network), and unpacks both with debian/ into the build tree;
#   3. runs `dpkg-buildpackage -us -uc` (source and binary) in a network namespace with no
#      interface but a down loopback (`unshare -n`): the build is offline;
#   4. runs lintian on the .changes; fails on any error.
#
# Results: target/debian/physmap-hooks_<version>{.dsc,.debian.tar.xz,_amd64.changes,...},
# target/debian/{libphysmap-hooks1,libphysmap-hooks-dev,physmap-inspect}_<version>_<arch>.deb,
# target/debian/lintian.txt, target/debian/build.log.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/debian
source=physmap-hooks
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${deb_version%-*}
if [ "$upstream" != "$crate_version" ]; then
    echo "make deb: debian/changelog is at $deb_version, Cargo.toml at $crate_version;" \
        "add a changelog entry (dch -v $crate_version-1)" >&2
    exit 1
fi

# 1. Packages.
need=(dpkg-dev lintian)
missing=()
for p in "${need[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || ! dpkg-checkbuilddeps debian/control 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "make deb: as root, run: apt-get install ${missing[*]} && apt-get build-dep ./" >&2
        dpkg-checkbuilddeps debian/control
        exit 1
    fi
    echo "== installing ${missing[*]} and the build dependencies"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
    apt-get -o DPkg::Lock::Timeout=600 build-dep -y ./
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

echo "== $out/${source}_$upstream.orig-vendor.tar.xz (cargo vendor of Cargo.lock)"
vendor="$out/vendor"
"${CARGO:-cargo}" vendor --locked --quiet "$vendor" >/dev/null
# Every vendored crate needs its stanza in debian/copyright (scripts/deb-copyright-vendor.py).
for d in "$vendor"/*/; do
    d=$(basename "$d")
    grep -qx "Files: vendor/$d/\*" debian/copyright || {
        echo "make deb: debian/copyright has no stanza for vendor/$d;" \
            "see scripts/deb-copyright-vendor.py" >&2
        exit 1
    }
done
for f in $(sed -n 's,^Files: vendor/\([^/]*\)/\*$,\1,p' debian/copyright); do
    [ -d "$vendor/$f" ] || { echo "make deb: debian/copyright names vendor/$f, which" \
        "cargo vendor did not write" >&2; exit 1; }
done
tar "${tar_opts[@]}" -C "$out" -cf - vendor | xz -T1 -6 >"$out/${source}_$upstream.orig-vendor.tar.xz"
rm -rf "$vendor"

tree="$out/$source-$upstream"
tar -C "$out" -xf "$out/${source}_$upstream.orig.tar.xz"
mkdir "$tree/vendor"
tar -C "$tree/vendor" --strip-components=1 -xf "$out/${source}_$upstream.orig-vendor.tar.xz"
cp -a debian "$tree/"

# 3. Build, offline.
echo "== dpkg-buildpackage -us -uc in $tree, without network (log: $out/build.log)"
start=$(date +%s)
if ! unshare -n true 2>/dev/null; then
    echo "make deb: cannot create a network namespace (unshare -n); run as root" >&2
    exit 1
fi
# The namespace has only a loopback interface, down. The top of build.log shows that, and
# that the crates.io index, which answers from here (checked just before), does not answer
# from inside; the build stops if either is not so.
addr=$(getent ahostsv4 index.crates.io | awk 'NR == 1 {print $1}')
probe="exec 3<>/dev/tcp/${addr:-0.0.0.0}/443"
if [ -n "$addr" ] && timeout 5 bash -c "$probe" 2>/dev/null; then
    outside="index.crates.io ($addr:443) answers outside the build namespace"
else
    outside="index.crates.io does not answer from here either"
fi
if ! (cd "$tree" && OUTSIDE="$outside" PROBE="$probe" unshare -n -- bash -c '
        echo "$OUTSIDE"
        ifaces=$(tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")
        echo "build namespace: network interfaces: $ifaces"
        [ "$ifaces" = "lo " ] || { echo "not an empty network namespace"; exit 1; }
        if timeout 5 bash -c "$PROBE" 2>/dev/null; then
            echo "build namespace: a TCP connection succeeded"; exit 1
        fi
        echo "build namespace: the same TCP connection fails: the build is offline"
        exec nice -n 10 dpkg-buildpackage -us -uc') >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "make deb: dpkg-buildpackage failed; see $out/build.log" >&2
    exit 1
fi
head -n 4 "$out/build.log"
echo "built in $(( $(date +%s) - start )) s:"
(cd "$out" && ls -1 -- *.dsc *.deb *.changes)

# 4. lintian.
changes=$(ls "$out"/*.changes)
echo "== lintian $changes"
nice -n 10 lintian --display-info --tag-display-limit 0 "$changes" >"$out/lintian.txt" 2>&1 || true
cat "$out/lintian.txt"
if grep -q '^E: ' "$out/lintian.txt"; then
    echo "make deb: lintian reports errors" >&2
    exit 1
fi
echo "make deb: $(grep -c '^E: ' "$out/lintian.txt") lintian errors," \
    "$(grep -c '^W: ' "$out/lintian.txt") warnings; packages in $out/"
