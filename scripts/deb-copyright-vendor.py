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

# The crates whose code ends up in the binary packages (on Linux): `cargo tree --workspace
# -e normal,no-proc-macro --target x86_64-unknown-linux-gnu` (the proc-macro crates only
# run at build time). clap, clap_builder, clap_complete, clap_lex, strsim, serde, serde_core, serde_json,
# itoa, memchr and zmij are physmap-inspect's only; the library has the others.
IN_BINARIES = {
    "anstream", "anstyle", "anstyle-parse", "anstyle-query", "clap", "clap_builder", "clap_complete",
    "clap_lex", "colorchoice", "env_filter", "env_logger", "is_terminal_polyfill", "itoa",
    "libc", "log", "memchr", "serde", "serde_core", "serde_json", "strsim", "thiserror",
    "utf8parse", "zmij",
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
