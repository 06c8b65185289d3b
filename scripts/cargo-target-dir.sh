#!/bin/bash
# Prints the directory cargo builds this tree into: target/ unless CARGO_TARGET_DIR (or a
# cargo configuration's build.target-dir) says otherwise, as `cargo metadata` reports it.
# Used by the Makefile, demo/demo.sh and benches/run.sh. CARGO (default cargo) is the
# cargo to ask, with its options (debian/rules: /usr/bin/cargo --frozen).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086 # CARGO is a command line
${CARGO:-cargo} metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
