#!/bin/bash
# make check-daemons-trixie (DIST=trixie by default): the xenstore-facing tests of make check
# -- the library's tests/xenstore_hooks.rs, tests/reliability.rs, tests/sandbox_selftest.rs,
# physmap-inspect's tests/inspect_cli.rs, and tests/c/abi_test.c -- against the xenstore
# daemons of another Debian suite (trixie: Xen 4.20's xenstored and oxenstored), each
# test run once per daemon as make check runs them on the host's 4.17.
# (make check's physmap-inspect/tests/host_cli.rs is not run here: it checks
# `physmap-inspect host` against Debian 12's own xl and libxenlight 4.17.)
#
# The tests are built here, on the host, with the workspace's own toolchain and
# Cargo.lock (cargo test --no-run), and run inside a root of the suite: `debootstrap
# --variant=minbase` plus its Xen daemons, xenstore-utils, libxen-dev and gcc (for the
# sandbox's shim, built there against that Xen's xenctrl.h): make test-deb's root.
# The tree is bind-mounted at its own path, so the tests find their files as on the host.
# Each run works on an overlay of the root in a private mount namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
dist=${1:-${DIST:-trixie}}
die() { echo "test-debian-daemons: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (chroot)"
case $dist in
bookworm) xen=4.17 ;;
trixie | sid) xen=4.20 ;;
*) die "DIST=$dist: expected bookworm, trixie or sid" ;;
esac
start=$SECONDS

# The root of make test-deb (scripts/deb-test-root.sh): the suite's Xen daemons,
# xenstore-utils, libxen-dev and gcc are among the autopkgtests' Depends.
root=$(scripts/deb-test-root.sh "$dist")
[ -x "$root/usr/lib/xen-$xen/bin/xenstored" ] || die "no Xen $xen daemons in $root"

# The test programs, built on the host (the same binaries make check runs).
cargo=${CARGO:-cargo}
work=$(mktemp -d)
list=$work/tests
trap 'rm -rf "$work"' EXIT
echo "== building the tests (cargo test --no-run)"
for args in "-p physmap-hooks --test xenstore_hooks --test reliability --test sandbox_selftest" \
    "-p physmap-inspect --test inspect_cli"; do
    # shellcheck disable=SC2086
    "$cargo" test --locked --no-run --message-format=json $args 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' >>"$list"
done
[ "$(wc -l <"$list")" -eq 4 ] || { cat "$list" >&2; die "expected 4 test programs"; }
cp tests/c/abi_test.c tests/c/check.h include/physmap_hooks.h "$work/"
"$cargo" build --release --locked -p physmap-hooks >/dev/null 2>&1 || die "cargo build failed"
lib=$(CARGO="$cargo" scripts/cargo-target-dir.sh)/release/libphysmap_hooks.so

cat >"$work/run.sh" <<'RUN'
#!/bin/bash
# Inside the root: each daemon of the suite's Xen, every test program on it.
set -uo pipefail
work=$1 lib=$2 list=$3 top=$4
cd "$top"
gcc -shared -fPIC -Wall -Wextra -Werror -O2 -o "$work/shim.so" tests/sandbox/xenstored-shim.c -ldl ||
    exit 1
gcc -Wall -Wextra -Werror -std=gnu11 -I"$work" -o "$work/abi_test" "$work/abi_test.c" \
    -ldl -lxenstore -lxentoollog || exit 1
export PHYSMAP_SANDBOX_SHIM=$work/shim.so
failed=0 passed=0
for d in xenstored oxenstored; do
    bin=$(ls -d /usr/lib/xen-*/bin/$d | sort -V | tail -n 1)
    echo "== $bin ($(dpkg-query -W -f='${Package} ${Version}' "$(dpkg -S "$bin" | cut -d: -f1)"))"
    while read -r t; do
        name=$(basename "$t" | sed 's/-[0-9a-f]*$//')
        rc=0
        XENSTORE_DAEMON=$d "$t" --test-threads=2 >"$work/$name.$d.log" 2>&1 || rc=$?
        result=$(grep '^test result' "$work/$name.$d.log" | tail -n 1)
        p=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' <<<"$result")
        f=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' <<<"$result")
        # A program that died before its summary counts as one failure.
        [ "$rc" -eq 0 ] || [ "${f:-0}" -gt 0 ] || f=1
        passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0}))
        if [ "$rc" -eq 0 ]; then
            echo "$name on $d: $result"
        else
            echo "$name on $d: FAILED (exit $rc)"; grep -v ' \.\.\. ok$' "$work/$name.$d.log"
        fi
    done <"$list"
    dir=$(mktemp -d)
    env=$(XENSTORE_DAEMON=$d XENSTORED=$bin OXENSTORED=$bin SHIM=$work/shim.so \
        tests/sandbox/xenstored-sandbox.sh start "$dir") || { failed=$((failed + 1)); continue; }
    eval "$env"
    if "$work/abi_test" "$lib" 2>"$dir/stderr"; then
        echo "abi_test on $d: passed"; passed=$((passed + 1))
    else
        echo "abi_test on $d: FAILED"; cat "$dir/stderr"; failed=$((failed + 1))
    fi
    XENSTORE_DAEMON=$d tests/sandbox/xenstored-sandbox.sh stop "$dir" >/dev/null
    unset XENSTORED_PATH
done
echo "daemons of $(ls -d /usr/lib/xen-*/ | xargs -n1 basename | tr '\n' ' ')(tests and abi_test programs): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
RUN
chmod +x "$work/run.sh"

echo "== in a $dist root ($root): Xen $xen's xenstored and oxenstored"
mkdir -p "$work/upper" "$work/ovl" "$work/merged"
target=$(CARGO="$cargo" scripts/cargo-target-dir.sh)
unshare --mount --propagation private -- bash -c '
    set -e
    root=$1 work=$2 top=$3 target=$4 lib=$5 list=$6
    m=$work/merged
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$m"
    mount -t proc proc "$m/proc"
    mount --rbind /dev "$m/dev"
    mount -t tmpfs tmpfs "$m/tmp"
    for d in "$top" "$target" "$work"; do
        mkdir -p "$m$d" && mount --bind "$d" "$m$d"
    done
    chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
        TMPDIR=/tmp "$work/run.sh" "$work" "$lib" "$list" "$top"
' bash "$root" "$work" "$top" "$target" "$lib" "$list"
echo "test-debian-daemons: $dist in $((SECONDS - start)) s"
