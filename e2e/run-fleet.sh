#!/bin/bash
# make e2e-fleet: migration between hosts.  Three emulated Xen hosts boot
# side by side in QEMU (TCG) and `xl migrate GUEST HOST` runs between them
# over ssh, as operators run it:
#
#   hosta  Debian 12, Xen 4.17: drives the scenarios (e2e/dom0/fleet.sh)
#   hostb  Debian 12, Xen 4.17
#   hostc  Debian 13, Xen 4.20, stock (Debian's libxl, no library)
#
# The Debian 12 hosts run the patched libxl (xl-patches/4.17, built by
# e2e/build-libxl.sh) with the library from make deb's packages, or, switched
# at run time (hostctl become), Debian's own libxl without the library.
# hosta has a link to hostb and one to hostc; each is a QEMU `-netdev stream`
# over a unix socket under target/e2e/, with no host network interface: the
# dom0s talk over IPv6 link-local addresses made from fixed MACs, and nothing
# reaches the host's network.  ssh keys (the hosts' and root's) are made for
# each run.
#
#   e2e/run-fleet.sh [1] [2]      the boots to run (default: both)
#   E2E_FLEET_SCENARIOS="N ..."   only these scenarios (set-up and clean-up
#                                 always run)
#
# Boot 1 runs oxenstored on hosta, xenstored on hostb, oxenstored on hostc;
# boot 2 the other daemon on each, so that every scenario runs with each
# daemon on each side.  Prints the table of boot, scenario, PASS/FAIL and
# evidence, then the migration times and downtimes as distributions over
# the boots (never a threshold), keeps every host's serial log under
# target/e2e/, and exits non-zero if any scenario failed or is missing.
set -euo pipefail
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/stage.sh"
cd "$E2E_ROOT"

boots=("$@")
[ ${#boots[@]} -gt 0 ] || boots=(1 2)
# (joined by '+': a comma would split QEMU's -initrd list)
declare -A daemons=([1]=oxenstored+xenstored+oxenstored [2]=xenstored+oxenstored+xenstored)
for b in "${boots[@]}"; do [ -n "${daemons[$b]:-}" ] || die "unknown boot '$b' (1 or 2)"; done
# Scenario 10 (libvirt) runs only when asked for (E2E_FLEET_SCENARIOS=10):
# libvirtd cannot start on these emulated hosts (e2e/dom0/fleet.sh says why).
scenarios=(0 1 2 3 4 5 6 7 8 9 11)   # e2e/dom0/fleet.sh
# E2E_FLEET_SCENARIOS="6 10": only those (with set-up and clean-up), to work
# on them; a run so limited is no verdict on the rest.
only=${E2E_FLEET_SCENARIOS:-}
if [ -n "$only" ]; then
    for n in $only; do
        [[ " ${scenarios[*]} 10 " == *" $n "* ]] && [ "$n" != 0 ] && [ "$n" != 11 ] ||
            die "E2E_FLEET_SCENARIOS: no scenario '$n' to choose (1-10)"
    done
    read -r -a scenarios <<<"0 $only 11"
fi
BOOT_TIMEOUT=${PHYSMAP_E2E_FLEET_TIMEOUT:-3600}   # seconds per boot of three hosts

[ "$(id -u)" -eq 0 ] || die "make e2e-fleet needs root (debootstrap, chroot, apt-get)"
total_start=$SECONDS
e2e_install "the host's packages for make e2e-fleet" \
    qemu-system-x86 debootstrap cpio binutils gcc libc6-dev make openssh-client

out=$E2E_OUT/fleet
rm -rf "$out"
mkdir -p "$out"

d12=$(e2e/build-dom0.sh bookworm)
d13=$(e2e/build-dom0.sh trixie)
libxl=$(e2e/build-libxl.sh)

# ssh: one key per host, root's key, and known_hosts naming the hosts by
# the aliases that root's ssh config gives them (fleet-host-setup).
keys=$out/keys
mkdir -p "$keys"
ssh-keygen -q -t ed25519 -N '' -C e2e-root -f "$keys/root"
for h in hosta hostb hostc; do
    ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$keys/$h"
    echo "$h $(cut -d' ' -f1,2 "$keys/$h.pub")"
done >"$keys/known_hosts"

# MACs and the IPv6 link-local addresses the kernel derives from them.
declare -A mac=([ab-a]=52:54:00:00:01:01 [ab-b]=52:54:00:00:01:02
                [ac-a]=52:54:00:00:02:01 [ac-c]=52:54:00:00:02:03)
ll() {
    local IFS=: b
    b=($1)
    printf 'fe80::%x:%x:%x:%x\n' $(((0x${b[0]} ^ 2) << 8 | 0x${b[1]})) $((0x${b[2]} << 8 | 0xff)) \
        $((0xfe << 8 | 0x${b[3]})) $((0x${b[4]} << 8 | 0x${b[5]}))
}

# One overlay per host: the fixtures, the packages, its keys, its peers.
overlay() {   # HOST TREE
    local host=$1 tree=$2 stage=$out/overlay-$1
    e2e_stage_fixtures "$stage"
    e2e_stage_debs "$stage"
    [ "$tree" != "$d12" ] || e2e_stage_libxl "$stage" "$tree" "$libxl"
    install -d -m 0700 "$stage/root/.ssh"
    install -m 0600 "$keys/root" "$stage/root/.ssh/id_ed25519"
    install -m 0644 "$keys/root.pub" "$stage/root/.ssh/id_ed25519.pub"
    install -m 0644 "$keys/root.pub" "$stage/root/.ssh/authorized_keys"
    install -m 0644 "$keys/known_hosts" "$stage/root/.ssh/known_hosts"
    install -D -m 0600 "$keys/$host" "$stage/etc/ssh/ssh_host_ed25519_key"
    install -m 0644 "$keys/$host.pub" "$stage/etc/ssh/ssh_host_ed25519_key.pub"
    install -D -m 0644 /dev/stdin "$stage/etc/ssh/sshd_config.d/e2e.conf" <<'SSHD'
# The e2e hosts: root by key only, this host's own key, and a dead peer
# noticed within ~10 s (what ends a receiver whose link was cut).
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
ClientAliveInterval 3
ClientAliveCountMax 3
SSHD
    install -d "$stage/e2e/fleet"
    case $host in
    hosta) printf '%s %s %s\n' hostb "$(ll "${mac[ab-b]}")" "${mac[ab-a]}" \
               hostc "$(ll "${mac[ac-c]}")" "${mac[ac-a]}" ;;
    hostb) printf '%s %s %s\n' hosta "$(ll "${mac[ab-a]}")" "${mac[ab-b]}" ;;
    hostc) printf '%s %s %s\n' hosta "$(ll "${mac[ac-a]}")" "${mac[ac-c]}" ;;
    esac >"$stage/e2e/fleet/peers"
    (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out/overlay-$host.cpio"
    cat "$(e2e_pack_tree "$tree")" "$out/overlay-$host.cpio" >"$out/$host.cpio"
    rm -rf "$stage" "$out/overlay-$host.cpio"
}
overlay hosta "$d12"
overlay hostb "$d12"
overlay hostc "$d13"
for t in "$d12" "$d13"; do
    gunzip -c "$t"/boot/xen-4.*-amd64.gz >"$out/xen-$(basename "$t")"   # QEMU loads only a plain multiboot image
done
log "fleet: hosta/hostb $(basename "$d12") ($(du -m "$out/hosta.cpio" | cut -f1) MB), hostc $(basename "$d13") ($(du -m "$out/hostc.cpio" | cut -f1) MB)"
setup_secs=$((SECONDS - total_start))

# qemu HOST TREE DAEMON LABEL NETDEV...: boots one host in the background,
# its serial log in $out/BOOT-HOST.log; sets QPID.
qemu() {
    local host=$1 tree=$2 daemon=$3 label=$4
    shift 4
    local vmlinuz
    vmlinuz=$(ls "$tree"/boot/vmlinuz-* | head -n 1)
    timeout --kill-after=10 "$BOOT_TIMEOUT" qemu-system-x86_64 \
        -accel tcg,thread=multi -cpu qemu64,+svm,+npt -smp 2 -m 2560 \
        -display none -monitor none -no-reboot -serial "file:$out/$label-$host.log" \
        -nic none "$@" \
        -kernel "$out/xen-$(basename "$tree")" \
        -append "console=com1 com1=115200,8n1 dom0_mem=1280M,max:1280M dom0_max_vcpus=2 loglvl=warning guest_loglvl=warning" \
        -initrd "$vmlinuz console=hvc0 rdinit=/init quiet loglevel=4 e2e_xenstored=$daemon e2e_host=$host e2e_label=$label e2e_daemons=${daemons[${label#boot}]} e2e_only=${only// /+},$out/$host.cpio" \
        </dev/null >"$out/$label-$host.qemu.log" 2>&1 &
    QPID=$!
}

# One boot: hostb and hostc first (each serves its end of a link), then hosta.
boot() {
    local b=$1 label=boot$1 start=$SECONDS pa pb pc rc=0 d
    IFS=+ read -r -a d <<<"${daemons[$b]}"
    local ab=$out/$label-ab.sock ac=$out/$label-ac.sock
    rm -f "$ab" "$ac"
    log "fleet boot $b: hosta ${d[0]}, hostb ${d[1]}, hostc ${d[2]} (serial logs: $out/$label-host*.log)"
    qemu hostb "$d12" "${d[1]}" "$label" \
        -netdev "stream,id=ab,server=on,addr.type=unix,addr.path=$ab" \
        -device "e1000,netdev=ab,mac=${mac[ab-b]}"
    pb=$QPID
    qemu hostc "$d13" "${d[2]}" "$label" \
        -netdev "stream,id=ac,server=on,addr.type=unix,addr.path=$ac" \
        -device "e1000,netdev=ac,mac=${mac[ac-c]}"
    pc=$QPID
    for _ in $(seq 60); do [ -S "$ab" ] && [ -S "$ac" ] && break; sleep 1; done
    qemu hosta "$d12" "${d[0]}" "$label" \
        -netdev "stream,id=ab,server=off,addr.type=unix,addr.path=$ab" \
        -device "e1000,netdev=ab,mac=${mac[ab-a]}" \
        -netdev "stream,id=ac,server=off,addr.type=unix,addr.path=$ac" \
        -device "e1000,netdev=ac,mac=${mac[ac-a]}"
    pa=$QPID
    wait "$pa" || rc=$?
    # hosta stops the others at its end; a hosta that died leaves them
    # waiting: give them two minutes, then end them.
    for _ in $(seq 120); do kill -0 "$pb" 2>/dev/null || kill -0 "$pc" 2>/dev/null || break; sleep 1; done
    kill "$pb" "$pc" 2>/dev/null || true
    wait "$pb" "$pc" 2>/dev/null || true
    rm -f "$ab" "$ac"
    echo "$((SECONDS - start))" >"$out/$label.seconds"
    [ $rc = 0 ] || log "hosta's QEMU exited $rc after $((SECONDS - start)) s ($([ $rc = 124 ] && echo "timeout ${BOOT_TIMEOUT} s" || cat "$out/$label-hosta.qemu.log"))"
}

for b in "${boots[@]}"; do boot "$b"; done

# Collect: every scenario of every boot must be there and PASS.
results=$out/results.txt
{
    printf '%-6s %-32s %-2s %-46s %-4s %s\n' boot daemons n scenario result evidence
    for b in "${boots[@]}"; do
        serial=$out/boot$b-hosta.log
        for n in "${scenarios[@]}"; do
            line=$(tr -d '\r' <"$serial" | grep -a "^E2E-RESULT|[^|]*|$n|" | tail -n 1 || true)
            if [ -z "$line" ]; then
                printf '%-6s %-32s %-2s %-46s %-4s %s\n' "$b" "${daemons[$b]}" "$n" "(not reported)" FAIL \
                    "no result line; the boot $(grep -aq '^E2E-END|' "$serial" && echo ended || echo "did not finish"): see $serial"
                continue
            fi
            IFS='|' read -r _ _ _ title result evidence <<<"$line"
            printf '%-6s %-32s %-2s %-46s %-4s %s\n' "$b" "${daemons[$b]}" "$n" "$title" "$result" "$evidence"
        done
        echo "       boot $b: $(cat "$out/boot$b.seconds") s; serial logs $out/boot$b-host{a,b,c}.log"
    done
} | tee "$results"

# Timing, over every boot of this run: "n, min / median / max" of each kind.
lines_of() { for b in "${boots[@]}"; do tr -d '\r' <"$out/boot$b-hosta.log" | grep -a "^$1|" || true; done; }
stats='function stats(s,   a, n, i, j, x, m) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
    m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    if (n % 2 == 0 && m != int(m)) m = sprintf("%.2f", m)
    return sprintf("%d, %s / %s / %s", n, a[1], m, a[n])
}'
{
    echo "migrations (seconds; n, min / median / max of the whole xl migrate, then of the guest's downtime):"
    lines_of E2E-TIMING |
        awk -F'|' "$stats"'{ t[$3] = t[$3] " " $4; if ($5 != "?") d[$3] = d[$3] " " $5 }
            END { for (k in t) printf "  %-22s %-26s downtime %s\n", k, stats(t[k]), stats(d[k]) }' | sort
    lines_of E2E-HOOKS |
        awk -F'|' '{ printf "  hooks inside xl migrate (%s): save %d us on the sender, restore %d us on the receiver\n", $2, $3, $4 }'
    echo "scenarios (seconds each, in the order they ran; the boot of three hosts before them):"
    lines_of E2E-DURATION |
        awk -F'|' '!($2 in d) { order[++n] = $2; d[$2] = $3 " " $4; next } { d[$2] = d[$2] ", " $3 " " $4 }
            END { for (i = 1; i <= n; i++) printf "  %s: %s\n", order[i], d[order[i]] }'
    echo "libxl's record functions under uprobes on hosta (microseconds; n, min / median / max):"
    lines_of E2E-PROBE |
        awk -F'|' "$stats"'{ k = sprintf("%-7s %s", $4, $3 == "builtin" ? "built-in code (stock libxl)" : "library"); v[k] = v[k] " " $5 }
            END { for (k in v) printf "  %-36s %s\n", k, stats(v[k]) }' | sort -r
} | tee -a "$results"

failed=$(grep -cE '^[0-9]+ +[a-z+]+ +[0-9]+ .* FAIL ' "$results" || true)
passed=$(grep -cE '^[0-9]+ +[a-z+]+ +[0-9]+ .* PASS ' "$results" || true)
echo "make e2e-fleet: set-up ${setup_secs} s, whole run $((SECONDS - total_start)) s"
if [ "$failed" -gt 0 ]; then
    for b in "${boots[@]}"; do
        tr -d '\r' <"$out/boot$b-hosta.log" | grep -aE -A200 '^E2E-RESULT\|[^|]*\|[0-9]+\|[^|]*\|FAIL\|' |
            grep -a '^  | ' | head -n 150 || true
    done
fi
if pgrep -f "qemu-system-x86_64.*$out/host" >/dev/null; then
    echo "e2e-fleet: a QEMU of this run still runs"
    failed=$((failed + 1))
fi
echo "e2e-fleet: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
