#!/bin/bash
# The e2e scenarios, run in dom0 under real Xen by /init:
#
#   scenarios.sh oxenstored|xenstored
#
# Prints one line per scenario for the host to collect:
#   E2E-RESULT|<daemon>|<n>|<title>|PASS or FAIL|<evidence>
# and, for a failure, the logs that show why (lines starting with "  | ").
#
# "stock" is Debian's own, unpatched libxenlight (kept in /opt/e2e/stock and
# selected with LD_LIBRARY_PATH); everything else runs the patched libxl,
# which loads the library from its default path, where `make install` put it.
set -u
DAEMON=$1
. /e2e/lib.sh

# ---- helpers (and /e2e/lib.sh) --------------------------------------------

# Restores SAVEFILE as domain "e2e" with the patched libxl; checks that the
# records reached xenstore before QEMU started and are there afterwards,
# identical to EXPECTED (a listing), and that the guest runs.
restore_and_check() {   # NAME SAVEFILE EXPECTED [env assignments...]
    local name=$1 file=$2 expected=$3
    shift 3
    run "$name" env "$@" xl -vvv restore "$file"
    [ $RC = 0 ] || fail "$name: xl restore exited $RC" "$LOG" || return 1
    NEW=$(domid_of e2e)
    [ -n "$NEW" ] || fail "$name: no domain e2e after the restore" "$LOG" || return 1
    arrived_as_saved "$name" "$NEW" "$expected"
}

# A new guest "e2e" with the two named records that the scenarios carry
# (its domain id in A).
new_guest() {
    run create xl create /e2e/guest.cfg
    [ $RC = 0 ] || fail "xl create exited $RC" "$LOG" || return 1
    A=$(domid_of e2e)
    running "$A" || fail "the new guest $A does not run" "$LOG" || return 1
    write_record "$A" f0000000 f0000000 800000 vga.vram &&
        write_record "$A" fc000000 fc000000 10000 vga.rom ||
        fail "writing the records as QEMU would failed" || return 1
}

# After a scenario, whatever it did: the guest kept aside is back as "e2e",
# and there is a running "e2e" for the next scenario (a new one if a failure
# lost it), so one failure does not hide the results of the others.
settle() {
    local keep
    keep=$(domid_of e2e-keep)
    if [ -n "$keep" ]; then
        [ -z "$(domid_of e2e)" ] || xl destroy e2e
        xl rename e2e-keep e2e
    fi
    if ! running "$(domid_of e2e)"; then
        [ -z "$(domid_of e2e)" ] || xl destroy e2e
        echo "E2E-NOTE|$DAEMON|no running guest after this scenario: creating a new one"
        new_guest
    fi
}

# ---- 0: set-up -------------------------------------------------------------
s0() {
    local pid exe
    pid=$(cat /run/xenstore.pid 2>/dev/null)
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
    [ "$(basename "$exe")" = "$DAEMON" ] ||
        fail "xenstore daemon is '$exe' (pid '$pid'), expected $DAEMON" /tmp/xen-start.log ||
        return 1
    local pkg
    for pkg in libphysmap-hooks1 physmap-inspect; do
        [ "$(dpkg-query -W -f='${Status}' $pkg 2>/dev/null)" = "install ok installed" ] ||
            fail "dpkg -i of the $pkg package failed" /tmp/dpkg-install.log || return 1
    done
    dpkg-query -S "$LIB" 2>/dev/null | grep -qx "libphysmap-hooks1\(:amd64\)\?: $LIB" &&
        [ -f "$(readlink -f "$LIB")" ] ||
        fail "$LIB is not libphysmap-hooks1's" /tmp/dpkg-install.log || return 1
    grep -qaF "$LIB" /usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0 ||
        fail "the installed libxenlight is not the patched one (no '$LIB' in it)" || return 1
    ! grep -qaF LIBXL_PHYSMAP_PLUGIN $STOCK/libxenlight.so.4.17 ||
        fail "$STOCK/libxenlight.so.4.17 is not Debian's stock libxl" || return 1
    new_guest || return 1
    EVIDENCE="$exe (pid $pid); xen $(xl info xen_version 2>/dev/null); libphysmap-hooks1 $(dpkg-query -W -f='${Version}' libphysmap-hooks1) installed by dpkg; patched libxl looks for $LIB; guest e2e = domain $A (xl create ${SECS} s) with 2 records"
}

# ---- 1: two records through save and restore ------------------------------
s1() {
    listing "$(domid_of e2e)" >"$W/original"
    # Two directories, three nodes in each.
    [ "$(grep -c '' "$W/original")" = 8 ] ||
        fail "expected 8 nodes, listed $(grep -c '' "$W/original")" "$W/original" || return 1

    # Stock libxl saves them: the reference bytes.
    run stock-save env LD_LIBRARY_PATH=$STOCK xl -vvv save e2e "$W/stock.save"
    [ $RC = 0 ] || fail "stock xl save exited $RC" "$LOG" || return 1
    ! grep -q "physmap plugin" "$LOG" ||
        fail "stock libxl mentions a physmap plugin" "$LOG" || return 1
    section_of "$W/stock.save" "$W/stock.section" ||
        fail "no EMULATOR_XENSTORE_DATA in the stock savefile" || return 1

    # The library restores what stock libxl saved...
    restore_and_check restore-stock-file "$W/stock.save" "$W/original" || return 1
    expect_lines "$LOG" "$LOADED" "physmap: debug: domain $NEW: restored 2 physmap records from kv" ||
        return 1
    local restore_secs=$SECS

    # ...saves the same bytes...
    run save xl -vvv save e2e "$W/plugin.save"
    [ $RC = 0 ] || fail "xl save exited $RC" "$LOG" || return 1
    expect_lines "$LOG" "$LOADED" "physmap: debug: domain $NEW: saved 2 physmap records as kv" ||
        return 1
    local save_secs=$SECS inspect
    # The plugin is loaded when the save starts, not in the guest's downtime.
    local loaded_at suspended_at
    loaded_at=$(grep -n -m1 "$LOADED" "$LOG" | cut -d: -f1)
    suspended_at=$(grep -n -m1 "guest has suspended" "$LOG" | cut -d: -f1)
    [ -n "$suspended_at" ] && [ "$loaded_at" -lt "$suspended_at" ] ||
        fail "the plugin was not loaded before the guest was suspended (log lines $loaded_at, ${suspended_at:-none})" "$LOG" ||
        return 1
    inspect=$(records_in "$W/plugin.save")
    [ "$inspect" = "2 records, emulator id 2" ] ||
        fail "physmap-inspect savefile: '$inspect'" || return 1
    section_of "$W/plugin.save" "$W/plugin.section" &&
        cmp -s "$W/plugin.section" "$W/stock.section" ||
        fail "the section differs from stock libxl's ($(stat -c %s "$W/plugin.section") vs $(stat -c %s "$W/stock.section") bytes)" ||
        return 1

    # ...and restores its own file.
    restore_and_check restore "$W/plugin.save" "$W/original" || return 1
    expect_lines "$LOG" "$LOADED" "restored 2 physmap records from kv" || return 1
    EVIDENCE="xl save ${save_secs} s: $inspect, section $(stat -c %s "$W/plugin.section") bytes = stock libxl's; xl restore ${SECS} s (of stock's file ${restore_secs} s): 8 nodes (2 directories, 6 values) and their permissions identical at QEMU's start and after; domain $NEW running"
}

# ---- 2: a record without a name --------------------------------------------
s2() {
    local id
    id=$(domid_of e2e)
    write_record "$id" f2000000 f2000000 1000 || fail "writing the record failed" || return 1
    listing "$id" >"$W/unnamed.original"
    run unnamed-stock-save env LD_LIBRARY_PATH=$STOCK xl -vvv save e2e "$W/unnamed-stock.save"
    local stock_rc=$RC
    [ $stock_rc != 0 ] || fail "stock libxl saved a record without name (expected: it fails)" ||
        return 1
    running "$id" || fail "the guest does not run after stock's failed save" "$LOG" || return 1
    run unnamed-save xl -vvv save e2e "$W/unnamed.save"
    [ $RC = 0 ] || fail "xl save exited $RC" "$LOG" || return 1
    expect_lines "$LOG" "saved 3 physmap records" || return 1
    restore_and_check unnamed-restore "$W/unnamed.save" "$W/unnamed.original" || return 1
    expect_lines "$LOG" "restored 3 physmap records" || return 1
    grep -q "physmap/f2000000/size" "$W/unnamed-restore.after" &&
        ! grep -q "physmap/f2000000/name" "$W/unnamed-restore.after" ||
        fail "the unnamed record is not restored as it was" "$W/unnamed-restore.after" ||
        return 1
    EVIDENCE="stock libxl: xl save exited $stock_rc, guest resumed; library: saved and restored 3 records, f2000000 without name; domain $NEW running"
}

# ---- 3: hostile savefiles ---------------------------------------------------
# Each keeps the stream valid and replaces only the section.
hostile_sections() {
    local good='physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/size\0800000\0physmap/f0000000/name\0vga.vram\0'
    printf "${good}foo/bar\\0planted\\0" >"$W/hostile-key.data"
    printf 'physmap/f0000000/start_addr\0zzz\0physmap/f0000000/size\0800000\0' \
        >"$W/hostile-number.data"
    printf 'physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/size\0800' \
        >"$W/hostile-truncated.data"
}

# Restores FILE with the given environment while watching the device-model
# directory; sets RC, WRITTEN (physmap or planted keys written under any
# domain's device-model directory) and LEFT (the domain, if it exists).
watched_restore() {   # NAME FILE [env assignments...]
    local name=$1 file=$2
    shift 2
    xenstore-watch "$DM" >"$W/$name.watch" 2>&1 &
    local watch=$!
    sleep 1
    run "$name" env "$@" xl -vvv restore "$file"
    sleep 1
    kill $watch 2>/dev/null
    wait $watch 2>/dev/null
    WRITTEN=$(grep -oE "device-model/[0-9]+/(physmap|foo)[^ ]*" "$W/$name.watch" |
        sort -u | tr '\n' ' ')
    LEFT=$(domid_of e2e)
}

s3() {
    [ -f "$W/plugin.save" ] || fail "no savefile from scenario 1 to make hostile copies of" ||
        return 1
    hostile_sections
    local keep
    keep=$(domid_of e2e)
    xl rename e2e e2e-keep || fail "xl rename failed" || return 1
    local kind summary=
    for kind in key number truncated; do
        /e2e/emulator-record.py replace "$W/plugin.save" "$W/hostile-$kind.save" \
            "$W/hostile-$kind.data" >/dev/null ||
            fail "could not make the $kind savefile" || return 1
        watched_restore "hostile-$kind" "$W/hostile-$kind.save"
        [ $RC != 0 ] || fail "$kind: xl restore succeeded" "$LOG" || return 1
        [ -z "$WRITTEN" ] || fail "$kind: written during the refused restore: $WRITTEN" \
            "$W/hostile-$kind.watch" || return 1
        [ -z "$LEFT" ] || fail "$kind: domain $LEFT left behind" "$LOG" || return 1
        local why
        why=$(grep -oE "physmap: error: domain [0-9]+: .*" "$LOG" | head -n 1)
        echo "$why" | grep -q "byte offset [0-9]" ||
            fail "$kind: the library's error names no byte offset" "$LOG" || return 1
        # The same file through stock libxl.
        watched_restore "hostile-$kind-stock" "$W/hostile-$kind.save" LD_LIBRARY_PATH=$STOCK
        local stock="exit $RC, wrote: ${WRITTEN:-nothing}"
        [ -z "$LEFT" ] || { xl destroy "$LEFT"; stock="$stock, domain created"; }
        summary="$summary $kind: refused (${why#physmap: error: }), nothing written, no domain left; stock: $stock."
    done
    xl rename e2e-keep e2e || fail "xl rename back failed" || return 1
    running "$keep" || fail "the kept guest $keep stopped" || return 1
    EVIDENCE=${summary# }
}

# ---- 4: library absent ------------------------------------------------------
s4() {
    local absent=LIBXL_PHYSMAP_PLUGIN=/nonexistent/libphysmap_hooks.so.1
    # Back to the two named records (scenario 2 added a third).
    xenstore-rm "$DM/$(domid_of e2e)/physmap/f2000000"
    run absent-save env $absent xl -vvv save e2e "$W/absent.save"
    [ $RC = 0 ] || fail "xl save exited $RC" "$LOG" || return 1
    expect_lines "$LOG" "physmap plugin /nonexistent/libphysmap_hooks.so.1 not installed, using built-in code" ||
        return 1
    ! grep -q "loaded physmap plugin" "$LOG" || fail "a plugin was loaded" "$LOG" || return 1
    section_of "$W/absent.save" "$W/absent.section" &&
        cmp -s "$W/absent.section" "$W/stock.section" ||
        fail "the section differs from stock libxl's" || return 1
    restore_and_check absent-restore "$W/absent.save" "$W/original" $absent || return 1
    expect_lines "$LOG" "not installed, using built-in code" || return 1
    ! grep -q "physmap: " "$LOG" || fail "the library logged during the restore" "$LOG" ||
        return 1
    EVIDENCE="built-in code on save and restore ('not installed' logged), section = stock libxl's, nodes identical, domain $NEW running"
}

# ---- 5: broken library -------------------------------------------------------
s5() {
    echo "this is not an ELF file" >"$W/not-elf.so"
    chmod 0644 "$W/not-elf.so"
    local id summary= what plugin pattern
    declare -A plugins=([not-elf]=$W/not-elf.so [wrong-abi]=/e2e/broken-abi.so)
    declare -A errors=([not-elf]="cannot load physmap plugin .*not-elf.so: "
                       [wrong-abi]="has ABI version 999, libxl needs 1")
    id=$(domid_of e2e)
    for what in not-elf wrong-abi; do
        plugin=${plugins[$what]} pattern=${errors[$what]}
        run "broken-$what-save" env LIBXL_PHYSMAP_PLUGIN="$plugin" xl -vvv save e2e "$W/broken.save"
        [ $RC != 0 ] || fail "$what: xl save succeeded" "$LOG" || return 1
        expect_lines "$LOG" "$pattern" || return 1
        [ "$(domid_of e2e)" = "$id" ] && running "$id" ||
            fail "$what: guest $id not running after the failed save" "$LOG" || return 1
        ! grep -q "guest has suspended" "$LOG" ||
            fail "$what: the guest was suspended before the save failed" "$LOG" || return 1
        rm -f "$W/broken.save"
        summary="$summary save with $what plugin: exit $RC, '$(grep -oE -- "$pattern" "$LOG" | head -n 1)', guest $id never suspended, running;"
    done
    xl rename e2e e2e-keep || fail "xl rename failed" || return 1
    for what in not-elf wrong-abi; do
        plugin=${plugins[$what]}
        watched_restore "broken-$what-restore" "$W/plugin.save" LIBXL_PHYSMAP_PLUGIN="$plugin"
        [ $RC != 0 ] || fail "$what: xl restore succeeded" "$LOG" || return 1
        [ -z "$LEFT" ] || fail "$what: domain $LEFT left behind" "$LOG" || return 1
        [ -z "$WRITTEN" ] || fail "$what: written: $WRITTEN" || return 1
        summary="$summary restore with $what plugin: exit $RC, nothing written, no domain left;"
    done
    xl rename e2e-keep e2e || fail "xl rename back failed" || return 1
    EVIDENCE=${summary# }
}

# ---- 6: xl migrate to this host ---------------------------------------------
s6() {
    local id
    id=$(domid_of e2e)
    listing "$id" >"$W/migrate.original"
    # An empty -s makes xl run the "host" argument as the receiving command.
    run migrate xl -vvv migrate -s "" e2e "xl -vvv migrate-receive"
    [ $RC = 0 ] || fail "xl migrate exited $RC" "$LOG" || return 1
    NEW=$(domid_of e2e)
    [ -n "$NEW" ] && [ "$NEW" != "$id" ] ||
        fail "no new domain e2e after the migration (was $id, now '$NEW')" "$LOG" || return 1
    [ -z "$(domid_of e2e--migratedaway)" ] && ! xl list "$id" >/dev/null 2>&1 ||
        fail "the source domain $id is still there" "$LOG" || return 1
    expect_lines "$LOG" "physmap: debug: domain $id: saved 2 physmap records" \
        "physmap: debug: domain $NEW: restored 2 physmap records" || return 1
    arrived_as_saved migrate "$NEW" "$W/migrate.original" || return 1
    EVIDENCE="xl migrate ${SECS} s: domain $id -> $NEW, 2 records saved and restored by the library, nodes identical at QEMU's start and after, $NEW running"
}

# ---- 7: timing ----------------------------------------------------------------
s7() {
    local timing="LIBXL_PHYSMAP_PLUGIN=/e2e/timing-plugin.so E2E_REAL_PLUGIN=$LIB"
    run timing-save env $timing xl -vvv save e2e "$W/timing.save"
    [ $RC = 0 ] || fail "xl save exited $RC" "$LOG" || return 1
    local save_us load_us save_secs=$SECS
    save_us=$(sed -nE 's/.*e2e-timing: physmap_save_hook .* ([0-9]+) us$/\1/p' "$LOG")
    load_us=$(sed -nE 's/.*e2e-timing: load .* ([0-9]+) us$/\1/p' "$LOG")
    [ -n "$save_us" ] || fail "no timing line from the save hook" "$LOG" || return 1
    run timing-restore env $timing xl -vvv restore "$W/timing.save"
    [ $RC = 0 ] || fail "xl restore exited $RC" "$LOG" || return 1
    local restore_us
    restore_us=$(sed -nE 's/.*e2e-timing: physmap_restore_hook .* ([0-9]+) us$/\1/p' "$LOG")
    [ -n "$restore_us" ] || fail "no timing line from the restore hook" "$LOG" || return 1
    local saved restored
    saved=$(grep -oE "saved [0-9]+ physmap records.*" "$W/timing-save.log" | head -n 1)
    restored=$(grep -oE "restored [0-9]+ physmap records.*" "$LOG" | head -n 1)
    EVIDENCE="xl save ${save_secs} s, of which the save hook (in the guest's downtime) ${save_us} us: $saved; library load before the suspension ${load_us} us; xl restore ${SECS} s, of which the restore hook ${restore_us} us: $restored"
}

# ---- 8: soft reset ----------------------------------------------------------
# A guest that asks Xen for a soft reset (soft-reset-bios.S, on an NMI), as a
# kexec or kdump kernel does: xl's monitor process (the daemon of xl create)
# runs libxl's own soft-reset code, which saves the records before the reset
# and writes them back before the new QEMU starts.  libxl does that with its
# built-in code, never with the library (libxl_physmap_plugin.c says why), so
# a broken library, named by LIBXL_PHYSMAP_PLUGIN in the monitor's
# environment, must not make the soft reset fail.
SR_LOG=/var/log/xen/xl-e2e-sr.log

# soft_reset NAME [env assignments...]: a new guest "e2e-sr" with the two
# records, created with that environment; its soft reset; the checks; then
# the guest is destroyed.  Sets SR (a summary).
soft_reset() {
    local name=$1 id waited=0 t0
    shift
    sed -e 's/^name = .*/name = "e2e-sr"/' \
        -e 's#^bios_path_override = .*#bios_path_override = "/e2e/soft-reset-bios.bin"#' \
        /e2e/guest.cfg >"$W/soft-reset.cfg"
    echo 'on_soft_reset = "soft-reset"' >>"$W/soft-reset.cfg"
    rm -f "$SR_LOG"
    run "$name-create" env "$@" xl -vvv create "$W/soft-reset.cfg"
    [ $RC = 0 ] || fail "$name: xl create exited $RC" "$LOG" || return 1
    id=$(domid_of e2e-sr)
    running "$id" || fail "$name: the new guest $id does not run" "$LOG" || return 1
    write_record "$id" f0000000 f0000000 800000 vga.vram &&
        write_record "$id" fc000000 fc000000 10000 vga.rom ||
        fail "$name: writing the records as QEMU would failed" || return 1
    listing "$id" >"$W/$name.original"
    # The wrapper writes this listing again when libxl starts the new QEMU.
    rm -f "$W/spawn-$id.txt"
    t0=$SECONDS
    xl trigger "$id" nmi >"$W/$name-trigger.log" 2>&1 ||
        fail "$name: xl trigger $id nmi failed" "$W/$name-trigger.log" || return 1
    trace "$name: NMI sent to domain $id"
    until [ -s "$W/spawn-$id.txt" ] && running "$id"; do
        [ $waited -lt 300 ] ||
            fail "$name: domain $id not running with a new QEMU 300 s after the NMI" "$SR_LOG" ||
            return 1
        sleep 2
        waited=$((waited + 2))
    done
    local secs=$((SECONDS - t0))
    trace "$name: domain $id running with a new QEMU after $secs s"
    [ "$(domid_of e2e-sr)" = "$id" ] ||
        fail "$name: e2e-sr is domain '$(domid_of e2e-sr)', not $id" "$SR_LOG" || return 1
    grep -q "Action for shutdown reason code 5 is soft-reset" "$SR_LOG" ||
        fail "$name: xl's monitor did not handle a soft reset" "$SR_LOG" || return 1
    ! grep -qE "physmap plugin|physmap: " "$SR_LOG" ||
        fail "$name: the library was looked for or called in the soft reset" "$SR_LOG" ||
        return 1
    LOG=$SR_LOG
    arrived_as_saved "$name" "$id" "$W/$name.original" || return 1
    xl destroy "$id" || fail "$name: xl destroy $id failed" || return 1
    SR="domain $id reset by xl's monitor ${secs} s after the NMI, same domid, 8 nodes identical at the new QEMU's start and after, no physmap plugin line in its log"
}

s8() {
    local summary
    soft_reset soft-reset || return 1
    summary="library installed: $SR"
    soft_reset soft-reset-broken LIBXL_PHYSMAP_PLUGIN=/e2e/broken-abi.so || return 1
    EVIDENCE="$summary; LIBXL_PHYSMAP_PLUGIN=/e2e/broken-abi.so (ABI 999): $SR"
}

# ---- run ------------------------------------------------------------------------
scenario 0 "set-up: daemon, patched libxl, guest" s0
if [ "$RESULT" = PASS ]; then
    scenario 1 "two records: save, restore, same bytes as stock" s1
    scenario 2 "record without name" s2
    scenario 3 "hostile savefiles refused, nothing written" s3
    scenario 4 "library absent: built-in code" s4
    scenario 5 "broken library: save fails, guest runs" s5
    scenario 6 "xl migrate to this host" s6
    scenario 7 "timing of the hooks in xl save/restore" s7
    scenario 8 "soft reset: libxl's own code, never the library" s8
fi
xl destroy e2e 2>/dev/null
xl destroy e2e-sr 2>/dev/null
left=$(xl list | awk 'NR > 2 { print $1 }')
if [ -n "$left" ]; then
    echo "E2E-RESULT|$DAEMON|9|clean-up|FAIL|domains left: $left"
else
    echo "E2E-RESULT|$DAEMON|9|clean-up|PASS|only Domain-0 left"
fi
