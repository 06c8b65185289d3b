#!/bin/bash
# Builds (or reuses from the cache) the Debian tree that becomes dom0's
# initramfs: debootstrap minbase plus Xen, its xenstore daemons, QEMU for HVM
# guests, Debian's kernel and what the two-host test needs (sshd, ssh and
# scp for `xl migrate GUEST HOST`, iproute2 for the link, libvirt on Debian
# 12).  Prints the tree's path.
#
#   e2e/build-dom0.sh [bookworm|trixie]      (default: bookworm)
#
# bookworm is Debian 12 with Xen 4.17, pinned to $E2E_XEN_VERSION (the
# patched libxl is built from that source); trixie is Debian 13 with Xen
# 4.20, whatever trixie offers now (a stock host: nothing is built for it).
#
# Cache key: this script, the package list, the mirror and the versions the
# mirror offers now for the packages that matter (read through a private apt
# configuration, so that the host's sources need not list the suite); a tree
# is used only if it carries a stamp with that key and the files the test
# needs.
set -euo pipefail
. "$(dirname "$0")/common.sh"

suite=${1:-bookworm}
case $suite in
bookworm) xen=4.17 ;;
trixie) xen=4.20 ;;
*) die "build-dom0.sh: unknown suite '$suite' (bookworm or trixie)" ;;
esac

packages=(
    "xen-hypervisor-$xen-amd64" # the hypervisor QEMU boots (its /boot/xen-*.gz)
    "xen-utils-$xen"            # xl, libxl, both xenstore daemons, xen-init-dom0
    xenstore-utils              # xenstore-ls/-write/-read/-chmod
    qemu-system-xen             # the HVM guest's device model
    seabios                     # the guest's BIOS (hvmloader loads it)
    linux-image-amd64           # dom0's kernel and its Xen and e1000 modules
    kmod procps                 # modprobe; ps/pkill for the scenarios
    openssh-server openssh-client iproute2   # the two-host test's link
)
keyed=("xen-utils-$xen" "xen-hypervisor-$xen-amd64" qemu-system-xen linux-image-amd64
       seabios openssh-server)
# libvirt's libxl driver on the Debian 12 hosts, for the two-host test's
# virsh save / restore / migrate (Debian 12 has no split virtxend: libvirtd).
if [ "$suite" = bookworm ]; then
    packages+=(libvirt-daemon libvirt-daemon-driver-xen libvirt-clients)
    keyed+=(libvirt-daemon-driver-xen)
fi

mirror=$(e2e_mirror)
# The versions the mirror's $suite offers now, from its signed index.
apt_dir=$E2E_CACHE/apt-$suite
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
    >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update of $suite from $mirror failed"
versions=$(for p in "${keyed[@]}"; do
    apt-cache "${apt_opts[@]}" madison "$p" | awk '{ print $1 "=" $3; exit }'
done)
[ "$(echo "$versions" | grep -c .)" = ${#keyed[@]} ] ||
    die "$suite on $mirror lacks some of: ${keyed[*]} (found: $versions)"
key=$(e2e_key "$0" "$E2E_ROOT/e2e/common.sh" "$mirror" "$suite" "${packages[*]}" "$versions")
tree=$E2E_CACHE/dom0-$suite-$key

required=("boot/xen-$xen-amd64.gz" usr/sbin/xl "usr/lib/xen-$xen/bin/oxenstored"
          "usr/lib/xen-$xen/bin/xenstored" usr/bin/xenstore-ls
          "usr/lib/xen-$xen/boot/hvmloader" usr/sbin/sshd usr/bin/ssh usr/bin/scp)
[ "$suite" != bookworm ] || required+=(usr/sbin/libvirtd usr/bin/virsh
    usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_libxl.so)
valid() {
    [ "$(cat "$1/.e2e-stamp" 2>/dev/null)" = "$key" ] || return 1
    local f
    for f in "${required[@]}"; do [ -e "$1/$f" ] || return 1; done
    ls "$1"/boot/vmlinuz-* >/dev/null 2>&1
}

if valid "$tree"; then
    log "dom0 tree ($suite): cached $tree"
    echo "$tree"; exit 0
fi

[ "$(id -u)" -eq 0 ] || die "building the dom0 tree needs root (debootstrap, chroot)"
e2e_install "debootstrap" debootstrap
mkdir -p "$E2E_CACHE"
rm -rf "$E2E_CACHE/dom0-$suite-"*.tmp
tmp=$tree.tmp
log "dom0 tree ($suite): debootstrap from $mirror (a few minutes)"
start=$SECONDS
debootstrap --variant=minbase --arch=amd64 "$suite" "$tmp" "$mirror" \
    >"$E2E_CACHE/debootstrap-$suite.log" 2>&1 ||
    { tail -20 "$E2E_CACHE/debootstrap-$suite.log" >&2; die "debootstrap $suite failed"; }

# No daemon may start inside the chroot while packages are installed.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"

log "dom0 tree ($suite): installing ${packages[*]}"
# A private mount namespace: /proc and /dev exist for the package scripts and
# vanish with the namespace, so nothing stays mounted on the host.
# INITRD=No: the kernel's postinst hook builds no initramfs (dom0 boots from
# this tree as its initramfs).
unshare --mount --propagation private bash -euc '
    t=$1; shift
    mount -t proc proc "$t/proc"
    mount --rbind /dev "$t/dev"
    chroot "$t" env DEBIAN_FRONTEND=noninteractive INITRD=No \
        apt-get install -y -q --no-install-recommends "$@"
    chroot "$t" apt-get clean
' _ "$tmp" "${packages[@]}" >"$E2E_CACHE/dom0-install-$suite.log" 2>&1 ||
    { tail -30 "$E2E_CACHE/dom0-install-$suite.log" >&2; die "installing dom0 packages failed"; }
# openssh-server's postinst made host keys: every host built from this tree
# would share them.  The test gives each host its own (e2e/fleet.sh).
rm -f "$tmp"/etc/ssh/ssh_host_*

if [ "$suite" = bookworm ]; then
    got=$(chroot "$tmp" dpkg-query -W -f='${Version}' xen-utils-4.17)
    [ "$got" = "$E2E_XEN_VERSION" ] ||
        die "dom0 got xen-utils-4.17 $got, the patched libxl is built from $E2E_XEN_VERSION"
fi
chroot "$tmp" dpkg-query -W >"$tmp/.e2e-packages"
echo "$key" >"$tmp/.e2e-stamp"
for old in "$E2E_CACHE/dom0-$suite-"*/; do       # trees of older keys
    if [ "$old" != "$tmp/" ] && [ -f "$old.e2e-stamp" ]; then rm -rf "$old" "${old%/}.cpio"; fi
done
mv "$tmp" "$tree"
log "dom0 tree ($suite): built in $((SECONDS - start)) s: $tree"
echo "$tree"
