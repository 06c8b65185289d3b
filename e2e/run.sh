#!/bin/bash
# make e2e: real `xl save` / `xl restore` / `xl migrate` of an HVM guest under
# Debian 12's Xen 4.17, booted in QEMU (TCG), once with each xenstore daemon
# Debian ships, with libxl built from Debian's source plus xl-patches/4.17 and
# this library installed as a distribution would install it.
#
#   e2e/run.sh [oxenstored] [xenstored]      (default: both)
#
# Prints a table of scenario -> PASS/FAIL with the evidence, keeps the serial
# logs under target/e2e/, and exits non-zero if any scenario fails or is
# missing.  Needs root (debootstrap, chroot, apt-get).  The dom0 tree and the
# patched libxl are cached (e2e/common.sh: E2E_CACHE), keyed by their inputs.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$E2E_ROOT"

daemons=("$@")
[ ${#daemons[@]} -gt 0 ] || daemons=(oxenstored xenstored)
for d in "${daemons[@]}"; do
    case $d in oxenstored | xenstored) ;; *) die "unknown daemon '$d'" ;; esac
done
# Scenarios every boot must report (e2e/dom0/scenarios.sh).
scenarios=(0 1 2 3 4 5 6 7 8)
BOOT_TIMEOUT=${PHYSMAP_E2E_BOOT_TIMEOUT:-1500}   # seconds per boot, generous for TCG

[ "$(id -u)" -eq 0 ] || die "make e2e needs root (debootstrap, chroot, apt-get)"
total_start=$SECONDS

# Host packages: QEMU to boot Xen, debootstrap and cpio for dom0's tree.
# Note: qemu-system-x86 (7.2 in bookworm) may replace a newer qemu-utils.
host_packages=(qemu-system-x86 debootstrap cpio binutils gcc libc6-dev make)
e2e_install "the host's packages for make e2e" "${host_packages[@]}"

mkdir -p "$E2E_OUT"
rm -f "$E2E_OUT"/serial-*.log "$E2E_OUT"/results.txt

tree=$(e2e/build-dom0.sh)
libxl=$(e2e/build-libxl.sh)

# The library and physmap-inspect as Debian packages (make deb; the Makefile's
# e2e target builds them first): dom0's /init installs them with dpkg -i, so
# they land where the distribution puts them.
stage=$E2E_OUT/overlay
rm -rf "$stage"
install -d "$stage/e2e/debs"
for p in libphysmap-hooks1 physmap-inspect; do
    # make deb's Debian 12 backport (<version>~bpo12+1).
    deb=$(ls target/debian/bookworm/"${p}"_*_amd64.deb 2>/dev/null | head -n 1)
    deb=${deb:-target/debian/bookworm/${p}_amd64.deb}
    [ -f "$deb" ] || die "$deb is missing: run make deb (make e2e does)"
    [ "$deb" -nt debian/changelog ] || die "$deb is older than debian/changelog: run make deb"
    install -m 0644 "$deb" "$stage/e2e/debs/"
done

# libxenlight: the patched one where Debian's was, stripped as dh_strip
# strips Debian's; Debian's own kept aside for the scenarios that compare
# with stock libxl.
stock_libxl=$tree/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0
patched_libxl=$stage/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0
install -d "$(dirname "$patched_libxl")"
strip --strip-unneeded -o "$patched_libxl" "$libxl/libxenlight.so.4.17.0"
chmod 0644 "$patched_libxl"
install -D -m 0644 "$stock_libxl" "$stage/opt/e2e/stock/libxenlight.so.4.17"

# The patched libxenlight must be a drop-in for Debian's: the same libraries...
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' '; }
[ "$(needed "$patched_libxl")" = "$(needed "$stock_libxl")" ] ||
    die "the patched libxenlight links other libraries than Debian's:
  patched: $(needed "$patched_libxl")
  Debian:  $(needed "$stock_libxl")"
# ... and configured with Debian's paths: every absolute path compiled into
# it is one Debian's has, and the only new one is the plugin's default.
paths() { strings -a "$1" | grep -E '^/[a-z]' | LC_ALL=C sort -u; }
new_paths=$(LC_ALL=C comm -13 <(paths "$stock_libxl") <(paths "$patched_libxl"))
lost_paths=$(LC_ALL=C comm -23 <(paths "$stock_libxl") <(paths "$patched_libxl"))
[ "$new_paths" = /usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1 ] && [ -z "$lost_paths" ] ||
    die "the patched libxenlight's compiled-in paths differ from Debian's:
  only in the patched one: ${new_paths:-none}
  only in Debian's: ${lost_paths:-none}"

# The scenarios, the guest's firmware and the two test plugins they use.
install -D -m 0755 e2e/dom0/init "$stage/init"
install -d "$stage/e2e"
install -m 0755 e2e/dom0/scenarios.sh e2e/dom0/qemu-wrapper \
    e2e/dom0/emulator-record.py "$stage/e2e/"
install -m 0644 e2e/dom0/guest.cfg "$stage/e2e/"
cflags=(-Wall -Wextra -Werror -std=gnu11 -O2 -shared -fPIC)
gcc "${cflags[@]}" -o "$stage/e2e/timing-plugin.so" e2e/timing-plugin.c -ldl
gcc "${cflags[@]}" -DBROKEN_ABI -o "$stage/e2e/broken-abi.so" tests/c/broken_plugin.c
chmod 0644 "$stage/e2e/"*.so
gcc -c -o "$E2E_OUT/halt-bios.o" e2e/dom0/halt-bios.S
objcopy -O binary -j .text "$E2E_OUT/halt-bios.o" "$stage/e2e/halt-bios.bin"
[ "$(stat -c %s "$stage/e2e/halt-bios.bin")" = 65536 ] || die "halt-bios.bin is not 64 KiB"

# dom0's initramfs: the tree (cached as one cpio per tree), then the overlay;
# the kernel unpacks both, later files replacing earlier ones.  Kernel
# modules other than Xen's, documentation and apt's caches are left out.
base=${tree}.cpio
if [ ! -f "$base" ] || [ "$base" -ot "$tree/.e2e-stamp" ]; then
    log "packing dom0's tree"
    (cd "$tree" && find . \( -path ./boot -o -path ./usr/share/doc -o -path ./usr/share/man \
        -o -path ./usr/share/locale -o -path ./usr/share/info -o -path ./var/cache/apt \
        -o -path ./var/lib/apt/lists \
        -o \( -path './usr/lib/modules/*/kernel/*' ! -path './usr/lib/modules/*/kernel/drivers' \
              ! -path './usr/lib/modules/*/kernel/drivers/*' \) \
        -o \( -path './usr/lib/modules/*/kernel/drivers/*' \
              ! -path './usr/lib/modules/*/kernel/drivers/xen' \
              ! -path './usr/lib/modules/*/kernel/drivers/xen/*' \) \) -prune \
        -o ! -name .e2e-stamp ! -name .e2e-packages -print |
        LC_ALL=C sort | cpio -o -H newc --quiet) >"$base.tmp"
    mv "$base.tmp" "$base"
fi
for old in "$E2E_CACHE"/dom0-*.cpio; do     # packs of trees no longer cached
    if [ -f "$old" ] && [ ! -d "${old%.cpio}" ]; then rm -f "$old"; fi
done
cpio_file=$E2E_OUT/dom0.cpio
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$E2E_OUT/overlay.cpio"
cat "$base" "$E2E_OUT/overlay.cpio" >"$cpio_file"
xen=$E2E_OUT/xen
gunzip -c "$tree/boot/xen-4.17-amd64.gz" >"$xen"   # QEMU loads only a plain multiboot image
vmlinuz=$(ls "$tree"/boot/vmlinuz-* | head -n 1)
log "dom0: $(du -m "$cpio_file" | cut -f1) MB initramfs, $(basename "$vmlinuz"), xen $(sed -n 's/^xen-hypervisor-4.17-amd64\t//p' "$tree/.e2e-packages")"
setup_secs=$((SECONDS - total_start))

# One boot per daemon.  QEMU has no network device; -no-reboot turns dom0's
# final reboot into QEMU's exit.
boot() {
    local daemon=$1 serial=$E2E_OUT/serial-$1.log
    log "booting Xen with $daemon (serial log: $serial)"
    local start=$SECONDS rc=0
    timeout --kill-after=10 "$BOOT_TIMEOUT" qemu-system-x86_64 \
        -accel tcg,thread=multi -cpu qemu64,+svm,+npt -smp 2 -m 3072 \
        -display none -monitor none -nic none -no-reboot -serial "file:$serial" \
        -kernel "$xen" \
        -append "console=com1 com1=115200,8n1 dom0_mem=1280M,max:1280M dom0_max_vcpus=2 loglvl=warning guest_loglvl=warning" \
        -initrd "$vmlinuz console=hvc0 rdinit=/init quiet loglevel=3 e2e_xenstored=$daemon,$cpio_file" \
        </dev/null >"$E2E_OUT/qemu-$daemon.log" 2>&1 || rc=$?
    echo "$((SECONDS - start))" >"$E2E_OUT/boot-$daemon.seconds"
    [ $rc = 0 ] || log "QEMU exited $rc after $((SECONDS - start)) s ($([ $rc = 124 ] && echo "timeout ${BOOT_TIMEOUT} s" || cat "$E2E_OUT/qemu-$daemon.log"))"
}

for d in "${daemons[@]}"; do boot "$d"; done

# Collect: every scenario of every boot must be there and PASS.
{
    printf '%-10s %-2s %-50s %-4s %s\n' daemon n scenario result evidence
    for d in "${daemons[@]}"; do
        serial=$E2E_OUT/serial-$d.log
        for n in "${scenarios[@]}"; do
            line=$(tr -d '\r' <"$serial" | grep -a "^E2E-RESULT|$d|$n|" | tail -n 1 || true)
            if [ -z "$line" ]; then
                printf '%-10s %-2s %-50s %-4s %s\n' "$d" "$n" "(not reported)" FAIL \
                    "no result line; the boot $(grep -aq "^E2E-END|$d" "$serial" && echo ended || echo "did not finish"): see $serial"
                continue
            fi
            IFS='|' read -r _ _ _ title result evidence <<<"$line"
            printf '%-10s %-2s %-50s %-4s %s\n' "$d" "$n" "$title" "$result" "$evidence"
        done
        echo "           boot with $d: $(cat "$E2E_OUT/boot-$d.seconds") s; serial log $serial"
    done
} | tee "$E2E_OUT/results.txt"
failed=$(grep -cE '^[a-z]+ +[0-9] .* FAIL ' "$E2E_OUT/results.txt" || true)
passed=$(grep -cE '^[a-z]+ +[0-9] .* PASS ' "$E2E_OUT/results.txt" || true)
echo "make e2e: set-up ${setup_secs} s, whole run $((SECONDS - total_start)) s"
if [ "$failed" -gt 0 ]; then
    for d in "${daemons[@]}"; do
        tr -d '\r' <"$E2E_OUT/serial-$d.log" | grep -aE -A200 '^E2E-RESULT\|[^|]*\|[0-9]\|[^|]*\|FAIL\|' |
            grep -a '^  | ' | head -n 150 || true
    done
    echo "e2e: the serial logs, with every failure's details:" \
        "$(for d in "${daemons[@]}"; do printf '%s ' "$E2E_OUT/serial-$d.log"; done)"
fi
# Nothing of the run may be left behind: chroot mounts die with their mount
# namespace, QEMU with its boot (timeout kills it at the latest).
if grep -qF "$E2E_CACHE" /proc/mounts || pgrep -f "qemu-system-x86_64.*$cpio_file" >/dev/null; then
    echo "e2e: something is left mounted under $E2E_CACHE or QEMU still runs"
    failed=$((failed + 1))
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
