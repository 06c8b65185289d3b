#!/bin/bash
# Builds (or reuses from the cache) libxenlight from Debian's own xen source
# package with xl-patches/4.17 applied on top of Debian's patches, configured
# exactly as debian/rules configures it.  Prints the directory holding the
# built libxenlight.so.4.17.0.
#
# The source comes from the host's mirror through a private apt
# configuration (a deb-src line for $E2E_SUITE), so the host's apt setup is
# not changed.  apt checks the files against the signed index on every run,
# including when they are already in the cache.
set -euo pipefail
. "$(dirname "$0")/common.sh"

series=$E2E_ROOT/xl-patches/4.17
# The part of Debian's Build-Depends that configure and tools/libs need.
build_deps=(libyajl-dev libzstd-dev bison flex acpica-tools libglib2.0-dev
            libpixman-1-dev uuid-dev libncurses-dev zlib1g-dev liblzma-dev
            libbz2-dev python3-dev python3-setuptools quilt dpkg-dev gcc make
            pkg-config autoconf automake)

key=$(e2e_key "$0" "$E2E_ROOT/e2e/common.sh" "$series"/*.patch "$E2E_XEN_VERSION" \
      "$(gcc -dumpfullversion)" "$(dpkg-query -W -f='${Version}' libc6-dev 2>/dev/null)")
out=$E2E_CACHE/libxl-$key
lib=libxenlight.so.4.17.0

if [ "$(cat "$out/.e2e-stamp" 2>/dev/null)" = "$key" ] && [ -f "$out/$lib" ]; then
    log "libxl: cached $out"
    echo "$out"; exit 0
fi

e2e_install "libxl's build dependencies" "${build_deps[@]}"

# Download (or re-verify) Debian's source package.
mirror=$(e2e_mirror)
apt_dir=$E2E_CACHE/apt-src
src_dir=$E2E_CACHE/src
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src_dir"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $E2E_SUITE main" \
    >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$src_dir" && apt-get "${apt_opts[@]}" source --download-only "xen=$E2E_XEN_VERSION" \
    >"$apt_dir/source.log" 2>&1) ||
    { cat "$apt_dir/source.log" >&2; die "apt-get source xen=$E2E_XEN_VERSION failed"; }
dsc=$src_dir/xen_$E2E_XEN_VERSION.dsc
[ -f "$dsc" ] || die "apt-get source did not produce $dsc"

work=$E2E_CACHE/libxl-build
rm -rf "$work" "$E2E_CACHE"/libxl-*.tmp
mkdir -p "$work"
log "libxl: extracting xen $E2E_XEN_VERSION (Debian's patches applied)"
# (dpkg-source cannot check the uploader's signature without debian-keyring;
# apt has already checked every file against the signed Sources index.)
dpkg-source -x "$dsc" "$work/xen" >"$work/extract.log" 2>&1 ||
    { cat "$work/extract.log" >&2; die "dpkg-source -x failed"; }
cd "$work/xen"

# Our series after Debian's, exactly as xl-patches/README.md tells packagers.
mkdir -p debian/patches/physmap-hooks
cp "$series"/*.patch debian/patches/physmap-hooks/
(cd debian/patches && ls physmap-hooks/*.patch) >>debian/patches/series
QUILT_PATCHES=debian/patches quilt push -a --fuzz=0 >"$work/quilt.log" 2>&1 ||
    { cat "$work/quilt.log" >&2; die "xl-patches/4.17 does not apply to Debian's source"; }
if grep -E 'offset|fuzz' "$work/quilt.log" >&2; then
    die "xl-patches/4.17 applies to Debian's source only with offset or fuzz"
fi
log "libxl: xl-patches/4.17 applied: $(grep -c '^Applying' "$work/quilt.log") patches, no offset or fuzz"

# debian/rules' override_dh_auto_configure and make_args_tools, for amd64.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
make_args=(CC=gcc XEN_COMPILE_ARCH=x86_64 XEN_TARGET_ARCH=x86_64
           "EXTRA_CFLAGS_XEN_TOOLS=$cflags" "PREPEND_LDFLAGS_XEN_TOOLS=$ldflags")
# Debian's source ships no generated configure: debhelper's dh_autoreconf
# makes it (autoreconf -f -i), and so do we.
cp /usr/share/misc/config.sub /usr/share/misc/config.guess .
autoreconf -f -i >"$work/autoreconf.log" 2>&1 ||
    { cat "$work/autoreconf.log" >&2; die "autoreconf failed"; }
# debian/rules' upstream_version: major.minor of the upstream version (4.17).
upstream=$(echo "${E2E_XEN_VERSION%-*}" | sed 's/\(\.[0-9]*\)\..*/\1/')
start=$SECONDS
# libnl is not in Debian's Build-Depends, so Debian's libxl has no Remus
# network buffering and does not link libnl; when the host happens to have
# libnl's -dev packages, configure must not see them either.
cat >"$work/pkg-config" <<'PC'
#!/bin/sh
case " $* " in *libnl*) exit 1 ;; esac
exec pkg-config "$@"
PC
chmod +x "$work/pkg-config"
log "libxl: configure (Debian's options)"
env WGET=/bin/false GIT=/bin/false PKG_CONFIG="$work/pkg-config" "${make_args[@]}" \
    ./configure \
    --disable-stubdom --prefix=/usr --includedir=/usr/include \
    --libdir="/usr/lib/$arch" --with-libexec-libdir-suffix="/$arch" \
    --host="$arch" --mandir=/usr/share/man --infodir=/usr/share/info \
    --sysconfdir=/etc --localstatedir=/var \
    --with-libexec-leaf-dir="xen-$upstream" \
    --disable-blktap1 --disable-blktap2 \
    --disable-qemu-traditional --disable-rombios \
    --with-system-qemu=/usr/libexec/xen-qemu-system-i386 \
    --enable-ovmf --with-system-ovmf=/usr/share/ovmf/OVMF.fd \
    --with-system-seabios=/usr/share/seabios/bios-256k.bin \
    --disable-ocamltools --disable-docs \
    >"$work/configure.log" 2>&1 ||
    { tail -30 "$work/configure.log" >&2; die "configure failed ($work/configure.log)"; }

# libxenlight and the libraries it links; nothing else of the tree.
log "libxl: building tools/include and tools/libs"
{ make -C tools/include -j2 "${make_args[@]}" WGET=/bin/false GIT=/bin/false &&
  make -C tools/libs -j2 "${make_args[@]}" WGET=/bin/false GIT=/bin/false; } \
    >"$work/make.log" 2>&1 ||
    { tail -40 "$work/make.log" >&2; die "building libxl failed ($work/make.log)"; }
built=tools/libs/light/$lib
[ -f "$built" ] || die "no $built after the build"
strings -a "$built" | grep -c "/usr/lib/$arch/libphysmap_hooks.so.1" >/dev/null ||
    die "$built does not carry the default plugin path /usr/lib/$arch/libphysmap_hooks.so.1"

mkdir -p "$out.tmp"
cp "$built" "$out.tmp/"
cp "$work/quilt.log" "$work/configure.log" "$out.tmp/"
grep -c ' warning: ' "$work/make.log" >"$out.tmp/warnings" || true
echo "$((SECONDS - start))" >"$out.tmp/build-seconds"
echo "$key" >"$out.tmp/.e2e-stamp"
for old in "$E2E_CACHE"/libxl-*/; do         # results of older keys
    if [ "$old" != "$out.tmp/" ] && [ -f "$old.e2e-stamp" ]; then rm -rf "$old"; fi
done
mv "$out.tmp" "$out"
rm -rf "$work"
log "libxl: built in $((SECONDS - start)) s: $out"
echo "$out"
