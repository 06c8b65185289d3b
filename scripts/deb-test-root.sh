#!/bin/bash
# Prints the path of the cached test root of a suite (made once by scripts/deb-root.sh):
# `debootstrap --variant=minbase DIST` with the packages' run-time dependencies,
# pkgconf, dpkg-dev, and the Depends of debian/tests/control but the packages under test (the
# suite's Xen daemons, xenstore-utils, libxen-dev, gcc, ...). make test-deb installs and
# autopkgtests the packages on overlays of it; make check-daemons-trixie runs make check's
# daemon tests in it.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$1
test_deps=$(python3 -c '
import re
deps = []
for para in open("debian/tests/control").read().split("\n\n"):
    m = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", para, re.M)
    if m:
        text = re.sub(r"#.*", "", m.group(1))
        deps += [d.strip() for d in text.split(",") if d.strip()]
ours = ("libphysmap-hooks1", "libphysmap-hooks-dev", "physmap-inspect", "@")
print(", ".join(sorted({d for d in deps if d not in ours})))')
echo "== $dist test root: minbase + pkgconf, libxenstore4, libxentoollog1, $test_deps" >&2
# dpkg-dev: autopkgtest installs it into the testbed to handle the source otherwise.
exec scripts/deb-root.sh "$dist" test minbase "pkgconf, libxenstore4, libxentoollog1, dpkg-dev" \
    "$test_deps"
