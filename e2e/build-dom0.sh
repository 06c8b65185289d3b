#!/bin/bash
# Builds (or reuses from the cache) the Debian 12 tree that becomes dom0's
# initramfs: debootstrap minbase plus Xen 4.17, its xenstore daemons, QEMU
# for HVM guests and Debian's kernel.  Prints the tree's path.
#
# Cache key: this script, the package list, the mirror and the versions the
# mirror offers now for the packages that matter; a tree is used only if it
# carries a stamp with that key and the files the test needs.
set -euo pipefail
. "$(dirname "$0")/common.sh"

packages=(
    xen-hypervisor-4.17-amd64   # the hypervisor QEMU boots (its /boot/xen-*.gz)
    xen-utils-4.17              # xl, libxl, both xenstore daemons, xen-init-dom0
    xenstore-utils              # xenstore-ls/-write/-read/-chmod
    qemu-system-xen             # the HVM guest's device model
    seabios                     # the guest's BIOS (hvmloader loads it)
    linux-image-amd64           # dom0's kernel and its Xen modules
    kmod procps                 # modprobe; ps/pkill for the scenarios
)
keyed=(xen-utils-4.17 xen-hypervisor-4.17-amd64 qemu-system-xen linux-image-amd64 seabios)

mirror=$(e2e_mirror)
versions=$(for p in "${keyed[@]}"; do
    apt-cache madison "$p" | awk -v m="$mirror" -v s="$E2E_SUITE/main" \
        'index($0, m) && index($0, " " s " ") { print $1 "=" $3; exit }'
done)
key=$(e2e_key "$0" "$E2E_ROOT/e2e/common.sh" "$mirror" "${packages[*]}" "$versions")
tree=$E2E_CACHE/dom0-$key

required=(boot/xen-4.17-amd64.gz usr/sbin/xl usr/lib/xen-4.17/bin/oxenstored
          usr/lib/xen-4.17/bin/xenstored usr/bin/xenstore-ls
          usr/lib/xen-4.17/boot/hvmloader)
valid() {
    [ "$(cat "$1/.e2e-stamp" 2>/dev/null)" = "$key" ] || return 1
    local f
    for f in "${required[@]}"; do [ -e "$1/$f" ] || return 1; done
    ls "$1"/boot/vmlinuz-* >/dev/null 2>&1
}

if valid "$tree"; then
    log "dom0 tree: cached $tree"
    echo "$tree"; exit 0
fi

[ "$(id -u)" -eq 0 ] || die "building the dom0 tree needs root (debootstrap, chroot)"
e2e_install "debootstrap" debootstrap
mkdir -p "$E2E_CACHE"
rm -rf "$E2E_CACHE"/dom0-*.tmp
tmp=$tree.tmp
log "dom0 tree: debootstrap $E2E_SUITE from $mirror (a few minutes)"
start=$SECONDS
debootstrap --variant=minbase --arch=amd64 "$E2E_SUITE" "$tmp" "$mirror" \
    >"$E2E_CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$E2E_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }

# No daemon may start inside the chroot while packages are installed.
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"

log "dom0 tree: installing ${packages[*]}"
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
' _ "$tmp" "${packages[@]}" >"$E2E_CACHE/dom0-install.log" 2>&1 ||
    { tail -30 "$E2E_CACHE/dom0-install.log" >&2; die "installing dom0 packages failed"; }

got=$(chroot "$tmp" dpkg-query -W -f='${Version}' xen-utils-4.17)
[ "$got" = "$E2E_XEN_VERSION" ] ||
    die "dom0 got xen-utils-4.17 $got, the patched libxl is built from $E2E_XEN_VERSION"
chroot "$tmp" dpkg-query -W >"$tmp/.e2e-packages"
echo "$key" >"$tmp/.e2e-stamp"
for old in "$E2E_CACHE"/dom0-*/; do       # trees of older keys
    if [ "$old" != "$tmp/" ] && [ -f "$old.e2e-stamp" ]; then rm -rf "$old"; fi
done
mv "$tmp" "$tree"
log "dom0 tree: built in $((SECONDS - start)) s: $tree"
echo "$tree"
