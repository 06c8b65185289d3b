#!/usr/bin/python3
# The one EMULATOR_XENSTORE_DATA record of an xl savefile:
#
#   emulator-record.py data FILE OUT         write its data (the physmap
#                                            section, after the 8-byte
#                                            emulator sub-header) to OUT
#   emulator-record.py replace IN OUT DATA   copy IN to OUT with the data
#                                            replaced by the bytes of DATA
#
# `replace` fixes the record's length and padding, so the stream stays valid
# and only the section is hostile.  The record is located with
# `physmap-inspect savefile --records --json`, which also checks that the
# file is a valid savefile; libxl record headers are little-endian
# (physmap-inspect refuses big-endian streams).
import json
import struct
import subprocess
import sys

REC_EMULATOR_XENSTORE_DATA = 2


def locate(path):
    walk = json.loads(subprocess.check_output(
        ["physmap-inspect", "savefile", "--records", "--json", path]))
    recs = [r for r in walk["records"] if r["stream"] == "libxl"
            and r["type"] == REC_EMULATOR_XENSTORE_DATA]
    if len(recs) != 1:
        sys.exit(f"{path}: {len(recs)} EMULATOR_XENSTORE_DATA records, expected 1")
    return recs[0]["offset"], recs[0]["length"]


def padded(n):
    return (n + 7) & ~7


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "data" and len(argv) == 4:
        off, length = locate(argv[2])
        with open(argv[2], "rb") as f:
            f.seek(off + 16)
            data = f.read(length - 8)
        with open(argv[3], "wb") as f:
            f.write(data)
        return
    if cmd == "replace" and len(argv) == 5:
        src, dst, data_file = argv[2:5]
        off, length = locate(src)
        with open(src, "rb") as f:
            blob = f.read()
        with open(data_file, "rb") as f:
            data = f.read()
        if struct.unpack_from("<II", blob, off) != (REC_EMULATOR_XENSTORE_DATA, length):
            sys.exit(f"{src}: no record header at byte {off}")
        body = blob[off + 8:off + 16] + data        # emulator id, index, new data
        record = struct.pack("<II", REC_EMULATOR_XENSTORE_DATA, len(body)) + body
        record += b"\0" * (padded(len(body)) - len(body))
        with open(dst, "wb") as f:
            f.write(blob[:off] + record + blob[off + 8 + padded(length):])
        print(f"{dst}: EMULATOR_XENSTORE_DATA at byte {off}, "
              f"{len(data)} bytes of data at byte {off + 16}")
        return
    sys.exit(__doc__ or "usage: emulator-record.py data FILE OUT | replace IN OUT DATA")


main(sys.argv)
