#!/bin/bash
# Run one of Debian's real xenstore daemons (12: 4.17, 13: 4.20) without a hypervisor, for
# humans, `make demo` and the benchmarks: the C xenstored (default) or oxenstored
# (XENSTORE_DAEMON=oxenstored), the one Debian's init script starts by default.
# Everything the daemon writes stays under DIR, so any number of sandboxes can
# run side by side.
#
#   xenstored-sandbox.sh start DIR [-M N] [-T FILE] [more xenstored args]
#       eval "$(xenstored-sandbox.sh start /tmp/xs)"   # sets XENSTORED_PATH
#   xenstored-sandbox.sh stop DIR
#
# -M N: longest path (oxenstored: quota-path-max); -T FILE: log every request
# (oxenstored: its access log, another format than C's trace). Other arguments
# are for the C daemon only.
#
# Env: XENSTORE_DAEMON (xenstored or oxenstored), XENSTORED / OXENSTORED (daemon
# binaries), OXENSTORED_EXTRA (lines appended to oxenstored's configuration, e.g.
# "test-eagain = true"), SHIM (prebuilt or wanted path of the shim, default
# DIR/xenstored-shim.so), CC (default gcc).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
daemon=${XENSTORE_DAEMON:-xenstored}
# Debian's daemons: /usr/lib/xen-<version>/bin/ (4.17 on Debian 12, 4.20 on 13); the
# newest installed unless XENSTORED / OXENSTORED name one.
newest() { ls -d /usr/lib/xen-*/bin/"$1" 2>/dev/null | sort -V | tail -n 1; }
case $daemon in
xenstored) xenstored=${XENSTORED:-$(newest xenstored)} ;;
oxenstored) xenstored=${OXENSTORED:-$(newest oxenstored)} ;;
*) echo "XENSTORE_DAEMON=$daemon: expected xenstored or oxenstored" >&2; exit 2 ;;
esac

usage() { echo "usage: $0 start DIR [xenstored args...] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

case $cmd in
start)
    for f in "$xenstored" "$(command -v xenstore-exists || echo xenstore-exists)"; do
        [ -x "$f" ] || { echo "$f not found: run scripts/bootstrap.sh" >&2; exit 1; }
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)   # the socket path must be absolute for clients
    pidfile=$dir/xenstored.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "a daemon is already running in $dir (pid $(cat "$pidfile"))" >&2
        exit 1
    fi
    shim=${SHIM:-$dir/xenstored-shim.so}
    if [ ! -f "$shim" ] || [ "$here/xenstored-shim.c" -nt "$shim" ]; then
        "${CC:-gcc}" -shared -fPIC -Wall -Wextra -Werror -O2 -o "$shim.tmp.$$" \
            "$here/xenstored-shim.c" -ldl
        mv -f "$shim.tmp.$$" "$shim"
    fi
    rm -f "$dir/socket" "$pidfile"
    if [ "$daemon" = oxenstored ]; then
        # oxenstored takes no options for these: its configuration file does.
        # Start from Debian's, so that quotas and conflict limits are the real
        # ones; move every path into DIR. The socket path is compiled in
        # (/var/run/xenstored): the shim moves it to $XENSTORED_RUNDIR.
        # Never /dev/null for a log file: oxenstored rotates its logs by
        # renaming the file (to /dev/null.1, ...) and creating a new regular
        # one, which destroys the host's /dev/null.
        conf=$dir/oxenstored.conf
        cat /etc/xen/oxenstored.conf >"$conf"
        head -c 4096 /dev/zero >"$dir/xsd_kva"
        printf 1 >"$dir/xsd_port"     # no newline: int_of_string refuses one
        cat >>"$conf" <<EOF
# xenstored-sandbox.sh
pid-file = $dir/xenstored.pid
persistent = false
xenstored-log-file = $dir/oxenstored.log
xenstored-kva = $dir/xsd_kva
xenstored-port = $dir/xsd_port
access-log-file = $dir/access.log
EOF
        while [ $# -gt 0 ]; do
            case $1 in
            -M) echo "quota-path-max = $2" >>"$conf"; shift 2 ;;
            -T) cat >>"$conf" <<EOF
access-log-file = $2
access-log-read-ops = true
access-log-transactions-ops = true
access-log-special-ops = true
access-log-nb-chars = 8192
access-log-nb-lines = 1000000000
EOF
                shift 2 ;;
            *) echo "oxenstored sandbox: unsupported argument $1" >&2; exit 2 ;;
            esac
        done
        [ -z "${OXENSTORED_EXTRA:-}" ] || printf '%s\n' "$OXENSTORED_EXTRA" >>"$conf"
        set -- --no-fork --config-file "$conf"
    else
        # -N: stay in the foreground, so $! is the daemon's pid.
        # -F: without it there is no pid file; with it, it goes into DIR.
        # XENSTORED_RUNDIR puts the socket in DIR; the database is in memory
        # by default (-I on), so nothing is written to /var/lib/xenstored.
        set -- -N -F "$pidfile" "$@"
    fi
    # The daemon gets an environment of its own: the C xenstored takes its socket
    # path from XENSTORED_PATH as clients do, so one left over in the caller's shell
    # (from an earlier `eval "$(... start ...)"`) would make it listen there.
    env -u XENSTORED_PATH XENSTORED_RUNDIR="$dir" LD_PRELOAD="$shim" "$xenstored" "$@" \
        </dev/null >"$dir/xenstored.log" 2>&1 &
    pid=$!
    # Ready when a client gets an answer (the socket exists a moment before
    # xenstored listens on it).
    ready() { XENSTORED_PATH=$dir/socket xenstore-exists / 2>/dev/null; }
    up=
    for _ in $(seq 100); do              # up to 10 s
        if ready; then up=1; break; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$daemon exited at start-up; log:" >&2
            cat "$dir/xenstored.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "$daemon did not answer on $dir/socket within 10 s" >&2
        kill -9 "$pid" 2>/dev/null || true
        exit 1
    fi
    echo "$pid" >"$pidfile"
    echo "export XENSTORED_PATH=$dir/socket"
    ;;
stop)
    pidfile=$dir/xenstored.pid
    [ -f "$pidfile" ] || { echo "no $pidfile: not running" >&2; exit 0; }
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do               # up to 5 s, then SIGKILL
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile" "$dir/socket"
    ;;
*) usage ;;
esac
