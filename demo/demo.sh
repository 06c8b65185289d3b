#!/usr/bin/env bash
# `make demo`: what the hooks do for `xl save` / `xl restore`, on a sandboxed real
# xenstore daemon (Debian's 4.17 under tests/sandbox/'s shim, no hypervisor): the C
# xenstored, or oxenstored (Debian's default) with XENSTORE_DAEMON=oxenstored.
set -euo pipefail
cd "$(dirname "$0")/.."
# The library and physmap-inspect of one build: `make demo` passes the library from
# where cargo put it (CARGO_TARGET_DIR honoured); the tool is next to it.
lib=${1:-$(scripts/cargo-target-dir.sh)/release/libphysmap_hooks.so}
inspect=$(dirname "$lib")/physmap-inspect
sandbox=tests/sandbox/xenstored-sandbox.sh

work=$(mktemp -d)
trap '"$sandbox" stop "$work/xs" >/dev/null 2>&1; rm -rf "$work"' EXIT
gcc -Wall -Wextra -Werror -Iinclude -o "$work/driver" demo/driver.c \
    -ldl -lxenstore -lxentoollog
eval "$("$sandbox" start "$work/xs")"
driver() { "$work/driver" "$lib" "$@"; }
# Headings in bold on a terminal only, and never with NO_COLOR set (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

domid=7
dm=/local/domain/0/device-model/$domid
daemon=${XENSTORE_DAEMON:-xenstored}
echo "$daemon sandbox: pid $(cat "$work/xs/xenstored.pid"), socket $XENSTORED_PATH"
echo "library: $lib"

step "1. QEMU maps guest $domid's VGA framebuffer and records it (xen_save_physmap)"
xenstore-write "$dm/physmap/f0000000/start_addr" f1000000 \
               "$dm/physmap/f0000000/size" 800000 \
               "$dm/physmap/f0000000/name" vga.vram \
               "$dm/physmap/1000/start_addr" a0000 \
               "$dm/physmap/1000/size" 20000
xenstore-ls -f "$dm" | tee "$work/before"

step "2. xl save: libxl calls physmap_save_hook (EMULATOR_XENSTORE_DATA, Xen >= 4.6)"
driver save "$domid" kv "$work/section.kv"
od -A d -t x1z -v "$work/section.kv"
"$inspect" section "$work/section.kv"

step "   ... and the same records as a Xen 4.2-4.5 toolstack chunk (LEGACY_V1)"
driver save "$domid" legacy "$work/section.legacy"
od -A d -t x1z -v "$work/section.legacy"

step "3. The guest is gone on this host: its device-model tree is removed"
xenstore-rm "$dm"
xenstore-ls -f /local/domain/0 || true

step "4. xl restore: libxl calls physmap_restore_hook before QEMU starts"
driver restore "$domid" "$work/section.kv"
xenstore-ls -f "$dm" >"$work/after"
# Side by side, relative to $dm and sorted: the C xenstored lists children in creation
# order (oxenstored sorts them), and
# QEMU created them as the guest mapped them while restore creates them in phys_offset
# order. Nodes and values must be the same.
short() { sed "s|^$dm/||" "$1" | sort; }
echo "under $dm:"
pr -m -t -w 96 <(echo "BEFORE SAVE"; short "$work/before") <(echo "AFTER RESTORE"; short "$work/after")
if diff <(sort "$work/before") <(sort "$work/after") >/dev/null; then
    echo "=> the same nodes and values as before the save"
else
    echo "=> DIFFERENT from before the save" && exit 1
fi

step "5. A damaged section is refused before anything is written"
xenstore-rm "$dm"
sed 's/800000/8000z0/' "$work/section.kv" >"$work/bad.kv"
driver restore "$domid" "$work/bad.kv" || true
xenstore-exists "$dm" && { echo "=> written anyway!"; exit 1; }
echo "=> nothing written under $dm"

step "Stopping $daemon"
"$sandbox" stop "$work/xs"
echo "stopped; sandbox removed"
