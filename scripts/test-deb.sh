#!/bin/bash
# make test-deb [DIST=bookworm|trixie|sid]: tests the packages of `make deb DIST=...`
# (target/debian/DIST/) in a throw-away root of that suite, in two parts:
#
#  1. the install test: installs the three packages with dpkg -i, checks that every file
#     lands where a patched libxl and a C program look for it and works there, then purges
#     them and checks that the root is as it was;
#  2. the package's autopkgtests (debian/tests/control), run by `autopkgtest` with its
#     chroot backend on another throw-away copy of the root, as Debian's CI runs them:
#     the installed library and physmap-inspect against the suite's real xenstore daemons,
#     and the installed files (man page, completions).
#
# The root: `debootstrap --variant=minbase DIST` from the host's own mirror with the
# packages' run-time dependencies and the tests' Depends (the suite's Xen daemons,
# libxen-dev, gcc, ...), made once by scripts/deb-root.sh and cached under
# ~/.cache/physmap-hooks-deb (PHYSMAP_DEB_CACHE), keyed by its content. Each part works on
# an overlay of it in a private mount namespace: the cached tree is never changed and
# nothing stays mounted. Needs root; run `make deb DIST=...` first.
set -euo pipefail
cd "$(dirname "$0")/.."

dist=${1:-${DIST:-}}
[ -n "$dist" ] || dist=$(. /etc/os-release && echo "${VERSION_CODENAME:-sid}")
[ "$dist" = unstable ] && dist=sid
out=target/debian/$dist
suite=$dist
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
start=$(date +%s)

[ "$(id -u)" -eq 0 ] || { echo "make test-deb: needs root (chroot)" >&2; exit 1; }
debs=()
for p in libphysmap-hooks1 libphysmap-hooks-dev physmap-inspect; do
    f=$(ls "$out/${p}_"*"_$arch.deb" 2>/dev/null | head -n 1)
    [ -n "$f" ] || { echo "make test-deb: no $out/${p}_*_$arch.deb; run make deb" >&2; exit 1; }
    debs+=("$f")
done

root=$(scripts/deb-test-root.sh "$suite")

# The test programs are built here against the packaged header (gcc is not in the root):
# the pkg-config program links the library by its soname; the other dlopen()s libxl's
# default path.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/upper" "$work/ovl" "$work/merged"
cp "${debs[@]}" "$work/debs/"
dpkg-deb -x "$out"/libphysmap-hooks-dev_*_"$arch".deb "$work/dev"
dpkg-deb -x "$out"/libphysmap-hooks1_*_"$arch".deb "$work/dev"
cflags=(-Wall -Wextra -Werror -std=gnu11 -I"$work/dev/usr/include")
gcc "${cflags[@]}" -o "$work/debs/pkgconfig_test" tests/c/pkgconfig_test.c \
    -L"$work/dev$libdir" -lphysmap_hooks
gcc "${cflags[@]}" -o "$work/debs/installed_test" tests/c/installed_test.c -ldl

cat >"$work/debs/test.sh" <<TEST
#!/bin/bash
# Runs inside the root.
set -euo pipefail
fail() { echo "FAIL: \$*" >&2; exit 1; }
cd /tmp/debs
listing() {
    find / -xdev \\( -path /proc -o -path /tmp -o -path /var/lib/dpkg -o -path /var/log \\
        -o -path /var/cache/debconf -o -path /etc/ld.so.cache \\) -prune -o -print | sort
}
listing >/tmp/before
dpkg -i ./libphysmap-hooks1_*.deb ./libphysmap-hooks-dev_*.deb ./physmap-inspect_*.deb \\
    >/tmp/dpkg-install.log 2>&1 || { cat /tmp/dpkg-install.log; fail "dpkg -i"; }
echo "dpkg -i: installed" \$(dpkg-query -W -f='\${Package} \${Version};' \\
    libphysmap-hooks1 libphysmap-hooks-dev physmap-inspect) "with" \\
    \$(dpkg-query -W -f='\${Package} \${Version};' libxenstore4 libxentoollog1)

# Where libxl looks: $libdir/libphysmap_hooks.so.1 -> the real file, with that soname.
lib=$libdir/libphysmap_hooks.so.1
[ -L "\$lib" ] && [ "\$(readlink "\$lib")" = libphysmap_hooks.so.1.0.0 ] || fail "\$lib link"
[ -f $libdir/libphysmap_hooks.so.1.0.0 ] || fail "real file"
[ "\$(stat -c %a $libdir/libphysmap_hooks.so.1.0.0)" = 644 ] || fail "mode of the library"
[ "\$(readlink $libdir/libphysmap_hooks.so)" = libphysmap_hooks.so.1 ] || fail ".so link"
for f in /usr/include/physmap_hooks.h $libdir/pkgconfig/physmap-hooks.pc \\
    /usr/bin/physmap-inspect /usr/share/man/man1/physmap-inspect.1.gz \\
    /usr/share/bash-completion/completions/physmap-inspect \\
    /usr/share/zsh/vendor-completions/_physmap-inspect \\
    /usr/share/fish/vendor_completions.d/physmap-inspect.fish \\
    /usr/share/doc/libphysmap-hooks1/copyright; do
    [ -f "\$f" ] || fail "missing \$f"
done
# (with merged /usr, ldconfig names /lib/<multiarch>, the same directory)
ldconfig -p | grep -q "libphysmap_hooks.so.1 .*=> \\(/usr\\)\\?/lib/$multiarch/libphysmap_hooks.so.1\$" ||
    fail "not in ld.so.cache"
echo "files: \$lib -> libphysmap_hooks.so.1.0.0 (in ld.so.cache), .so link, header," \\
    "pkg-config file, physmap-inspect, its man page and bash/zsh/fish completions"

# pkg-config, and a program built with its flags, run here.
[ "\$(pkg-config --modversion physmap-hooks)" = 1.0.0 ] || fail "pkg-config --modversion"
[ "\$(pkg-config --variable=libdir physmap-hooks)" = $libdir ] || fail "pkg-config libdir"
flags=\$(echo \$(pkg-config --cflags --libs physmap-hooks))
[ "\$flags" = "-lphysmap_hooks" ] || fail "pkg-config --cflags --libs: \$flags"
echo "pkg-config --cflags --libs physmap-hooks: \$flags (version 1.0.0, libdir $libdir)"
./pkgconfig_test
./installed_test "\$lib"
physmap-inspect --help >/dev/null || fail "physmap-inspect --help"
[ "\$(physmap-inspect --version)" = "physmap-inspect 1.0.0" ] || fail "physmap-inspect --version"
echo "physmap-inspect --help, --version: OK"

dpkg --purge physmap-inspect libphysmap-hooks-dev libphysmap-hooks1 >/tmp/dpkg-purge.log 2>&1 ||
    { cat /tmp/dpkg-purge.log; fail "dpkg --purge"; }
for p in libphysmap-hooks1 libphysmap-hooks-dev physmap-inspect; do
    [ "\$(dpkg-query -W -f='\${db:Status-Status}' \$p 2>/dev/null)" != installed ] ||
        fail "\$p still installed"
done
ldconfig -p | grep -q libphysmap_hooks && fail "still in ld.so.cache"
listing >/tmp/after
diff -u /tmp/before /tmp/after || fail "the purge left files behind (or removed others)"
echo "dpkg --purge: the root's files are exactly those before the installation"
TEST
chmod +x "$work/debs/test.sh"

echo "== installing ${debs[*]##*/} into a copy of $root"
unshare --mount --propagation private -- bash -c '
    set -e
    root=$1 work=$2
    if mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" \
        "$work/merged" 2>/dev/null; then
        echo "(an overlay of the cached root)"
    else
        echo "(a copy of the cached root: overlayfs is not available)"
        cp -a "$root/." "$work/merged/"
    fi
    mkdir -p "$work/merged/tmp/debs"
    mount --bind "$work/debs" "$work/merged/tmp/debs"
    mount -t proc proc "$work/merged/proc"
    chroot "$work/merged" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        /tmp/debs/test.sh
' bash "$root" "$work"
echo "make test-deb: install test passed in $(( $(date +%s) - start )) s"

# 2. autopkgtest, chroot backend, on a fresh overlay of the root.
command -v autopkgtest >/dev/null || DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends autopkgtest
# The source package, unpacked here (the root has no dpkg-dev, which autopkgtest would
# otherwise install into it each time to unpack the .dsc).
dsc=$(ls "$out"/*.dsc)
dpkg-source --no-check -x "$dsc" "$work/source" >/dev/null
rm -rf "$work/upper" "$work/ovl" "$work/merged" "$out/autopkgtest"
mkdir -p "$work/upper" "$work/ovl" "$work/merged"
echo "== autopkgtest ${debs[*]##*/} (source: ${dsc##*/}) -- chroot (a copy of the $suite root)"
a_start=$(date +%s)
rc=0
unshare --mount --propagation private -- bash -c '
    set -e
    root=$1 work=$2 out=$3; shift 3
    m=$work/merged
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$m"
    mount -t proc proc "$m/proc"
    mount -t tmpfs tmpfs "$m/tmp"
    cp /etc/resolv.conf "$m/etc/resolv.conf"
    nice -n 10 autopkgtest --output-dir "$out/autopkgtest" --no-built-binaries "$@" -- chroot "$m"
' bash "$root" "$work" "$PWD/$out" "${debs[@]}" "$work/source/" >"$out/autopkgtest.log" 2>&1 || rc=$?
sed -n '/^[a-z-]* *\(PASS\|FAIL\|SKIP\|FLAKY\)/p' "$out/autopkgtest/summary" 2>/dev/null || true
grep -h -E '^(abi_test|physmap-inspect|library|completions|xenstore-daemons|FAIL)' \
    "$out"/autopkgtest/*-stdout 2>/dev/null || true
# 0: all passed; 2: at least one test skipped; anything else: a failure.
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$out/autopkgtest.log" >&2
    echo "make test-deb: autopkgtest exited $rc; see $out/autopkgtest.log" >&2
    exit 1
fi
echo "make test-deb: DIST=$suite: install test and autopkgtests passed" \
    "(autopkgtest $(( $(date +%s) - a_start )) s; $(( $(date +%s) - start )) s in all)"
