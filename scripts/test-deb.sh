#!/bin/bash
# make test-deb: installs the three packages of `make deb` (target/debian/) into a
# throw-away Debian 12 root, checks that every file lands where a patched libxl and a
# C program look for it and works there, then purges them and checks that the root is
# as it was. Needs root (chroot); run `make deb` first.
#
# The root: `debootstrap --variant=minbase bookworm` from the host's own Debian mirror,
# with the packages' run-time dependencies (bookworm's libxenstore4 and libxentoollog1,
# as in e2e's dom0) and pkg-config; cached under ~/.cache/physmap-hooks-deb/
# (PHYSMAP_DEB_CACHE), keyed by the suite, the mirror and the package list. Each run works on an
# overlay of it (or a copy where overlayfs is not available) in a private mount
# namespace: the cached tree is never changed and nothing stays mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/debian
suite=bookworm
cache=${PHYSMAP_DEB_CACHE:-$HOME/.cache/physmap-hooks-deb}
extra=(pkg-config libxenstore4 libxentoollog1)
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

mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 'Identifier: Packages' |
    awk -v s="$suite" '$2 == s && $1 ~ /^https?:/ {print $1; exit}')
[ -n "$mirror" ] || { echo "make test-deb: no $suite mirror in the host's apt sources" >&2; exit 1; }
key=$(printf '%s\n' "debootstrap minbase" "$arch" "$mirror" "$suite" "${extra[*]}" |
    sha256sum | cut -c1-16)
root=$cache/root-$key
if [ ! -e "$root/.complete" ]; then
    echo "== debootstrap --variant=minbase $suite from $mirror into $root (once)"
    rm -rf "$cache"/root-*
    mkdir -p "$cache"
    tmp=$cache/tmp-$key
    rm -rf "$tmp"
    include=$(IFS=,; echo "${extra[*]}")
    if ! unshare --mount --propagation private -- nice -n 10 debootstrap \
        --variant=minbase --arch="$arch" --include="$include" \
        "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log" >&2
        echo "make test-deb: debootstrap failed; see $cache/debootstrap.log" >&2
        exit 1
    fi
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    touch "$tmp/.complete"
    mv "$tmp" "$root"
fi

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
    /usr/share/doc/libphysmap-hooks1/copyright; do
    [ -f "\$f" ] || fail "missing \$f"
done
# (with merged /usr, ldconfig names /lib/<multiarch>, the same directory)
ldconfig -p | grep -q "libphysmap_hooks.so.1 .*=> \\(/usr\\)\\?/lib/$multiarch/libphysmap_hooks.so.1\$" ||
    fail "not in ld.so.cache"
echo "files: \$lib -> libphysmap_hooks.so.1.0.0 (in ld.so.cache), .so link, header," \\
    "pkg-config file, physmap-inspect and its man page"

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
echo "make test-deb: passed in $(( $(date +%s) - start )) s"
