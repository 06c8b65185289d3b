#!/bin/bash
# Installs the Debian 12 (bookworm) packages that building and testing
# physmap-hooks need; does nothing (one line of output) when all are present.
# Safe to run any number of times.
set -euo pipefail

packages=(
    gcc libc6-dev make pkg-config   # C shim, tests/sandbox; libc6-dev is only
                                    # a Recommends of gcc
    libxen-dev                      # xenstore.h, xenctrl.h, libxenstore.so
    xen-utils-4.17                  # the real daemons the tests run: C xenstored
                                    # and oxenstored
    xen-utils-common                # /etc/xen/oxenstored.conf, which the sandbox
                                    # starts oxenstored's configuration from
    xenstore-utils                  # xenstore-read/-write/-ls/-rm/-chmod
    cbindgen                        # generates the C header
    g++                             # builds libFuzzer for fuzz/run.sh
    python3                         # runs Xen's verify-stream-v2 in tests/inspect_cli.rs
    valgrind                        # leak checks of the C ABI
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "bootstrap: all ${#packages[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "bootstrap: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "bootstrap: installing ${missing[*]}"
# --no-install-recommends keeps xen-utils from pulling in the hypervisor,
# QEMU and GRUB; none of them is needed to run xenstored in the sandbox.
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
