#!/bin/bash
# make test-xen-deb-version: scripts/build-patched-xen-deb.sh never builds a Xen older than
# the host's. Runs its version choice (--check-only: nothing downloaded, nothing built)
# against made-up dpkg databases (XEN_DPKG_ADMINDIR), then once for real up to the source
# download of a version whose source the mirror may not serve.
set -uo pipefail
cd "$(dirname "$0")/.."
script=scripts/build-patched-xen-deb.sh
new=4.17.7+13-g2445b30a44-0+deb12u1 old=4.17.5+72-g01140da4e8-1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# fake_db DIR VERSION PACKAGE...: a dpkg database where PACKAGE... (of source xen) are
# installed at VERSION, and one other package is.
fake_db() {
    local dir=$1 version=$2 p
    shift 2
    mkdir -p "$dir/info" "$dir/updates"
    { for p in "$@"; do
          printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nSource: xen\nVersion: %s\nDescription: made up\n\n' "$p" "$version"
      done
      printf 'Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 99\nDescription: made up\n\n'
    } >"$dir/status"
}
# run DB [VAR=VALUE...] -- ARGS: the script's exit status in $rc, its output in $out.
run() {
    local db=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    out=$(env -u XEN_VERSION "${envs[@]}" XEN_DPKG_ADMINDIR="$db" "$script" "$@" 2>&1); rc=$?
}

fake_db "$work/newer" "$new" libxenmisc4.17 xen-utils-4.17 libxenstore4
fake_db "$work/older" "$old" libxenmisc4.17 xen-utils-4.17
fake_db "$work/none" 1 # nothing of xen

# 1. A host with the security release: asking for the older bookworm version is refused,
#    before anything is downloaded, naming the packages it would downgrade.
run "$work/newer" XEN_VERSION=$old -- --check-only "$work/w1"
if [ $rc -ne 0 ] && grep -q "refusing to build xen $old+physmap1" <<<"$out" &&
    grep -q "libxenmisc4.17 $new" <<<"$out" && grep -q "xen-utils-4.17 $new" <<<"$out" &&
    [ ! -e "$work/w1" ]; then
    ok "XEN_VERSION=$old on a $new host: refused (exit $rc), nothing written"
else bad "XEN_VERSION=$old on a $new host: exit $rc: $out"; fi
# The same without --check-only: refused before any download or root check.
run "$work/newer" XEN_VERSION=$old -- "$work/w2"
if [ $rc -ne 0 ] && grep -q "refusing" <<<"$out" && [ ! -e "$work/w2" ]; then
    ok "the same for a real build: refused before anything (exit $rc)"
else bad "real build of $old on a $new host: exit $rc: $out"; fi

# 2. By default it builds what the host runs.
run "$work/newer" -- --check-only
if [ $rc -eq 0 ] && grep -q "== xen $new (what this host runs" <<<"$out"; then
    ok "default on a $new host: $new"
else bad "default on a $new host: exit $rc: $out"; fi
run "$work/older" -- --check-only
if [ $rc -eq 0 ] && grep -q "== xen $old (what this host runs" <<<"$out"; then
    ok "default on a $old host: $old"
else bad "default on a $old host: exit $rc: $out"; fi
# The installed version itself, or a newer one, is accepted.
run "$work/older" XEN_VERSION=$new -- --check-only
if [ $rc -eq 0 ] && grep -q "== xen $new (XEN_VERSION)" <<<"$out"; then
    ok "XEN_VERSION=$new on a $old host: accepted (an upgrade)"
else bad "XEN_VERSION=$new on a $old host: exit $rc: $out"; fi
# 3. No Xen installed: the newest of the host's apt sources.
candidate=$(apt-cache policy libxenmisc4.17 | sed -n 's/^ *Candidate: //p')
run "$work/none" -- --check-only
if [ $rc -eq 0 ] && grep -q "== xen $candidate (the newest libxenmisc4.17 of the host's apt sources" <<<"$out"; then
    ok "no Xen installed: the apt candidate $candidate"
else bad "no Xen installed: exit $rc (candidate $candidate): $out"; fi

# 4. For real, up to the download: the version the host runs, whose source the mirror
#    may not serve (bookworm-security's answered 404 here). Either the source comes, or
#    the script stops saying what to do; nothing else.
if [ "$(id -u)" -eq 0 ]; then
    run "$work/newer" -- --prepare-only "$work/w4"
    if [ $rc -ne 0 ] && grep -q "did not serve it\|lists the source" <<<"$out" &&
        grep -q "XEN_SOURCE_TREE=DIR" <<<"$out" && grep -q "snapshot.debian.org" <<<"$out"; then
        ok "the source of $new is not served: stopped (exit $rc) with what to do:" \
            "$(grep -m1 'xen_.*dsc' <<<"$out" | sed 's/^ *//')"
    elif [ $rc -eq 0 ] && grep -q "version $new+physmap1" <<<"$out"; then
        ok "the source of $new is served now: prepared $new+physmap1"
    else bad "--prepare-only of $new: exit $rc: $out"; fi
fi
echo "test-build-patched-xen-deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
