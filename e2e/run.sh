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
. "$(dirname "$0")/stage.sh"
cd "$E2E_ROOT"

daemons=("$@")
[ ${#daemons[@]} -gt 0 ] || daemons=(oxenstored xenstored)
for d in "${daemons[@]}"; do
    case $d in oxenstored | xenstored) ;; *) die "unknown daemon '$d'" ;; esac
done
# Scenarios every boot must report (e2e/dom0/scenarios.sh).
scenarios=(0 1 2 3 4 5 6 7 8 9)
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

# dom0's overlay (e2e/stage.sh): the project's packages, the patched
# libxenlight (checked against Debian's) and the scenarios with their fixtures.
stage=$E2E_OUT/overlay
rm -rf "$stage"
e2e_stage_debs "$stage"
e2e_stage_libxl "$stage" "$tree" "$libxl"
e2e_stage_fixtures "$stage"

# dom0's initramfs: the tree (cached as one cpio per tree, e2e_pack_tree),
# then the overlay; the kernel unpacks both, later files replacing earlier ones.
base=$(e2e_pack_tree "$tree")
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
