# Shared by the e2e scripts: paths, the cache, the Debian mirror and versions.
# Sourced, not run.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_CACHE=${PHYSMAP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/physmap-hooks/e2e}
E2E_OUT=${PHYSMAP_E2E_OUT:-$E2E_ROOT/target/e2e}

# The suite every Xen package of the test comes from.  Debian 12's newest Xen
# (bookworm-security, 4.17.7+13-...) has binaries but its source answers 404
# on the mirrors reachable here, while bookworm's 4.17.5+72-g01140da4e8-1 has
# both.  The patched libxl must match the Xen libraries beside it exactly, so
# dom0 is installed from bookworm alone and libxl is built from that source.
E2E_SUITE=bookworm
E2E_XEN_VERSION=4.17.5+72-g01140da4e8-1

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# The host's own mirror for $E2E_SUITE/main, from its apt configuration
# (deb822 or one-line format alike).
e2e_mirror() {
    local m
    m=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' \
            'Identifier: Packages' 2>/dev/null |
        awk -v s="$E2E_SUITE" '$2 == s && $3 == "main" { print $1; exit }')
    [ -n "$m" ] || die "no '$E2E_SUITE main' in the host's apt sources (apt-get update first?)"
    printf '%s\n' "$m"
}

# sha256 of the named files' contents (not their paths: every clone shares the
# cache) and of any extra strings, for cache keys.
e2e_key() {
    { for f in "$@"; do
          if [ -f "$f" ]; then sha256sum <"$f"; else printf '%s\n' "$f"; fi
      done; } | sha256sum | cut -c1-16
}

# Installs those of the named Debian packages that are missing (quietly
# nothing when all are there).  Others may hold apt's lock: wait for it.
e2e_install() {
    local what=$1 p missing=()
    shift
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
            missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing $what: ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 -q update >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install \
        -y -q --no-install-recommends "${missing[@]}" >&2
}

# Packs a dom0 tree as an uncompressed newc cpio (cached next to it, remade
# when the tree is newer) and prints its path.  Kernel modules other than
# Xen's and e1000's (the two-host test's link), documentation and apt's
# caches are left out.  The kernel's unpacker makes no missing parent
# directory, so the kept modules' directories are listed too.
e2e_pack_tree() {
    local tree=$1 base=$1.cpio
    if [ -f "$base" ] && [ "$base" -nt "$tree/.e2e-stamp" ]; then
        printf '%s\n' "$base"; return 0
    fi
    log "packing $(basename "$tree")"
    (cd "$tree" && {
        find . \( -path ./boot -o -path ./usr/share/doc -o -path ./usr/share/man \
            -o -path ./usr/share/locale -o -path ./usr/share/info -o -path ./var/cache/apt \
            -o -path ./var/lib/apt/lists -o -path './usr/lib/modules/*/kernel' \) -prune \
            -o ! -name .e2e-stamp ! -name .e2e-packages -print
        local m
        for m in ./usr/lib/modules/*/kernel; do
            printf '%s\n' "$m" "$m/drivers" "$m/drivers/net" "$m/drivers/net/ethernet" \
                "$m/drivers/net/ethernet/intel"
            find "$m/drivers/xen" "$m/drivers/net/ethernet/intel/e1000" -print
        done
    } | LC_ALL=C sort -u | cpio -o -H newc --quiet) >"$base.tmp" || die "packing $tree failed"
    mv "$base.tmp" "$base"
    printf '%s\n' "$base"
}
