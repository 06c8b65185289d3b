#!/bin/bash
# Regenerates the seed inputs under fuzz/seeds/<target>/ from the golden encodings of one
# record { phys_offset 0xf0000000, start_addr 0xf1000000, size 0x800000, name "vga.vram" }
# (plus a few variants). The files are committed; run this only to change them.
set -euo pipefail
cd "$(dirname "$0")"

# Little-endian byte strings, as printf escapes.
le32() { local v=$1 i s=""; for i in 0 1 2 3; do s+=$(printf '\\x%02x' $(( (v >> (8*i)) & 0xff ))); done; printf '%s' "$s"; }
le64() { local v=$1 i s=""; for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(( (v >> (8*i)) & 0xff ))); done; printf '%s' "$s"; }

# kv_record OFF START SIZE [NAME]: one record, as libxl 4.17 writes it.
kv_record() {
    printf 'physmap/%s/start_addr\0%s\0physmap/%s/size\0%s\0' "$1" "$2" "$1" "$3"
    [ $# -lt 4 ] || printf 'physmap/%s/name\0%s\0' "$1" "$4"
}
# legacy_record PADDING OFF START SIZE [NAME]: one LEGACY_V1 record (PADDING: 4 for x86_64, 0 for 32-bit).
legacy_record() {
    local pad=$1; shift
    printf "$(le64 "$1")$(le64 "$2")$(le64 "$3")"
    if [ $# -ge 4 ]; then
        printf "$(le32 $(( ${#4} + 1 )))"
        printf '%s\0' "$4"
    else
        printf "$(le32 0)"
    fi
    head -c "$pad" /dev/zero
}
legacy_header() { printf "$(le32 1)$(le32 "$1")"; }

rm -rf seeds
mkdir -p seeds/decode_kv seeds/decode_legacy seeds/decode_auto

# XENSTORE_KV
kv_record f0000000 f1000000 800000 vga.vram >seeds/decode_kv/one-record
kv_record f0000000 f1000000 800000 >seeds/decode_kv/no-name
{ kv_record f0000000 f1000000 800000 vga.vram; kv_record 1000 fc000000 10000 vga.rom; } >seeds/decode_kv/two-records

# LEGACY_V1 (the decode_legacy target's first byte picks the layout: 0 = x86_64, 1 = 32-bit)
for layout in 64:4:0 32:0:1; do
    IFS=: read -r bits pad sel <<<"$layout"
    { legacy_header 1; legacy_record "$pad" 0xf0000000 0xf1000000 0x800000 vga.vram; } >seeds/decode_auto/legacy$bits-one-record
    { legacy_header 2; legacy_record "$pad" 0x1000 0xfc000000 0x10000;
      legacy_record "$pad" 0xf0000000 0xf1000000 0x800000 vga.vram; } >seeds/decode_auto/legacy$bits-two-records
    for f in one-record two-records; do
        { printf "\\x0$sel"; cat seeds/decode_auto/legacy$bits-$f; } >seeds/decode_legacy/x86_$bits-$f
    done
done
legacy_header 0 >seeds/decode_auto/legacy-empty
cp seeds/decode_kv/one-record seeds/decode_auto/kv-one-record
cp seeds/decode_kv/two-records seeds/decode_auto/kv-two-records

for d in seeds/*; do echo "$d: $(ls "$d" | wc -l) files"; done
