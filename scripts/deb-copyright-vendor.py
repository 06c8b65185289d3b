#!/usr/bin/python3
"""Prints the debian/copyright stanzas of the crates in a `cargo vendor` directory.

Usage: scripts/deb-copyright-vendor.py VENDOR_DIR
Run it when Cargo.lock changes and paste its output over the vendor/ stanzas of
debian/copyright; `make deb` refuses a vendored crate without a stanza.
The holders are the crates' `authors` (or "the <crate> authors" where it has none);
the licence is the crate's SPDX expression, in the copyright format's syntax.
"""
import os
import sys
import tomllib

# The crates whose code ends up in the binary packages (on Linux): `cargo tree -e normal
# --target x86_64-unknown-linux-gnu`, without the proc-macro crates, which only run at
# build time.
IN_BINARIES = {
    "anstream", "anstyle", "anstyle-parse", "anstyle-query", "colorchoice", "env_filter",
    "env_logger", "is_terminal_polyfill", "libc", "log", "thiserror", "utf8parse",
}


def debian_licence(spdx):
    spdx = spdx.replace("MIT/Apache-2.0", "MIT OR Apache-2.0")
    if spdx == "(MIT OR Apache-2.0) AND Unicode-3.0":
        return "(Expat or Apache-2.0) and Unicode-3.0"
    spdx = spdx.replace("LGPL-2.1-or-later", "LGPL-2.1+")
    return spdx.replace("MIT", "Expat").replace(" OR ", " or ").replace(" AND ", " and ")


def main():
    vendor = sys.argv[1]
    for name in sorted(os.listdir(vendor)):
        with open(os.path.join(vendor, name, "Cargo.toml"), "rb") as f:
            pkg = tomllib.load(f)["package"]
        authors = pkg.get("authors") or [f"the {pkg['name']} authors"]
        where = "in the binary packages" if pkg["name"] in IN_BINARIES else \
            "build or test only, not in any binary package"
        print(f"Files: vendor/{name}/*")
        print("Copyright: " + "\n           ".join(authors))
        print(f"License: {debian_licence(pkg['license'])}")
        print(f"Comment: crate {pkg['name']} {pkg['version']}; {where}.")
        print()


main()
