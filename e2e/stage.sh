# What goes into dom0's overlay, for e2e/run.sh (one host) and
# e2e/run-fleet.sh (two-host test).  Sourced after common.sh, from the
# top of the tree; each function fills the overlay directory STAGE.

# The library and physmap-inspect as Debian packages, in STAGE/e2e/debs:
# dom0 installs them with dpkg -i, so they land where the distribution puts
# them.  Every host gets make deb's Debian 12 backport (DIST=bookworm, into
# target/debian/bookworm/, version <changelog's>~bpo12+1 as
# scripts/build-deb.sh names it; the Makefile's e2e targets build it first):
# the Debian 12 hosts' own, and the one the Debian 13 host of the fleet
# installs physmap-inspect from.
e2e_stage_debs() {   # STAGE
    local stage=$1 dir=target/debian/bookworm version p deb
    version=$(sed -n 's/^physmap-hooks (\([^)]*\)).*/\1/p' debian/changelog | head -n 1)~bpo12+1
    install -d "$stage/e2e/debs"
    for p in libphysmap-hooks1 physmap-inspect; do
        deb=$dir/${p}_${version}_amd64.deb
        [ -f "$deb" ] || die "$deb is missing: run make deb DIST=bookworm (make e2e does)"
        [ "$deb" -nt debian/changelog ] || die "$deb is older than debian/changelog: run make deb"
        install -m 0644 "$deb" "$stage/e2e/debs/"
    done
}

# libxenlight (Debian 12 hosts): the patched one where Debian's was,
# stripped as dh_strip strips Debian's, and a copy in /opt/e2e/patched;
# Debian's own kept aside in /opt/e2e/stock for the scenarios that compare
# with stock libxl or make a host stock (hostctl become).
e2e_stage_libxl() {   # STAGE TREE LIBXL_DIR
    local stage=$1 tree=$2 libxl=$3
    local stock_libxl=$tree/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0
    local patched_libxl=$stage/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0
    install -d "$(dirname "$patched_libxl")"
    strip --strip-unneeded -o "$patched_libxl" "$libxl/libxenlight.so.4.17.0"
    chmod 0644 "$patched_libxl"
    install -D -m 0644 "$patched_libxl" "$stage/opt/e2e/patched/libxenlight.so.4.17.0"
    install -D -m 0644 "$stock_libxl" "$stage/opt/e2e/stock/libxenlight.so.4.17"

    # Where libxl's two record functions start, for the uprobes of
    # e2e/dom0/libxl-probes: their offsets in the unstripped build, which
    # must hold the same code in the stripped copy dom0 runs.
    local fn offset text_addr text_off
    read -r text_addr text_off < <(readelf -SW "$libxl/libxenlight.so.4.17.0" |
        awk '$2 == ".text" { print $4, $5 }')
    install -d "$stage/e2e"
    : >"$stage/e2e/libxl-probes.offsets"
    for fn in save restore; do
        offset=$(nm "$libxl/libxenlight.so.4.17.0" |
            awk -v f="libxl__${fn}_emulator_xenstore_data" '$3 == f { print $1 }')
        [ -n "$offset" ] || die "no libxl__${fn}_emulator_xenstore_data in the patched build"
        offset=$((0x$offset - 0x$text_addr + 0x$text_off))
        cmp -s <(tail -c +$((offset + 1)) "$libxl/libxenlight.so.4.17.0" | head -c 64) \
            <(tail -c +$((offset + 1)) "$patched_libxl" | head -c 64) ||
            die "stripping moved libxl__${fn}_emulator_xenstore_data"
        printf '%s 0x%x\n' "$fn" "$offset" >>"$stage/e2e/libxl-probes.offsets"
    done

    # The patched libxenlight must be a drop-in for Debian's: the same libraries...
    needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' '; }
    [ "$(needed "$patched_libxl")" = "$(needed "$stock_libxl")" ] ||
        die "the patched libxenlight links other libraries than Debian's:
  patched: $(needed "$patched_libxl")
  Debian:  $(needed "$stock_libxl")"
    # ... and configured with Debian's paths: every absolute path compiled into
    # it is one Debian's has, and the only new ones are the plugin's default
    # and the /proc/self/fd/N through which libxl loads the file it checked.
    paths() { strings -a "$1" | grep -E '^/[a-z]' | LC_ALL=C sort -u; }
    local new_paths lost_paths expected_new
    new_paths=$(LC_ALL=C comm -13 <(paths "$stock_libxl") <(paths "$patched_libxl"))
    lost_paths=$(LC_ALL=C comm -23 <(paths "$stock_libxl") <(paths "$patched_libxl"))
    expected_new=$(printf '%s\n' /proc/self/fd/%d /usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1)
    [ "$new_paths" = "$expected_new" ] && [ -z "$lost_paths" ] ||
        die "the patched libxenlight's compiled-in paths differ from Debian's:
  only in the patched one: ${new_paths:-none}
  only in Debian's: ${lost_paths:-none}"
}

# The scenarios, dom0's /init, the guest's firmware and the test plugins.
e2e_stage_fixtures() {   # STAGE
    local stage=$1
    install -D -m 0755 e2e/dom0/init "$stage/init"
    install -d "$stage/e2e"
    install -m 0755 e2e/dom0/scenarios.sh e2e/dom0/fleet.sh e2e/dom0/hostctl \
        e2e/dom0/fleet-host-setup e2e/dom0/qemu-wrapper e2e/dom0/emulator-record.py \
        e2e/dom0/libxl-probes "$stage/e2e/"
    install -m 0644 e2e/dom0/lib.sh e2e/dom0/guest.cfg e2e/dom0/guest.xml "$stage/e2e/"
    local cflags=(-Wall -Wextra -Werror -std=gnu11 -O2 -shared -fPIC)
    gcc "${cflags[@]}" -o "$stage/e2e/timing-plugin.so" e2e/timing-plugin.c -ldl
    gcc "${cflags[@]}" -DBROKEN_ABI -o "$stage/e2e/broken-abi.so" tests/c/broken_plugin.c
    chmod 0644 "$stage/e2e/"*.so
    # Guest firmware: one that halts at once, one that asks Xen for a soft reset.
    local bios
    for bios in halt-bios soft-reset-bios; do
        gcc -c -o "$stage.$bios.o" "e2e/dom0/$bios.S"
        objcopy -O binary -j .text "$stage.$bios.o" "$stage/e2e/$bios.bin"
        rm -f "$stage.$bios.o"
        [ "$(stat -c %s "$stage/e2e/$bios.bin")" = 65536 ] || die "$bios.bin is not 64 KiB"
    done
}
