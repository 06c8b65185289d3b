#!/bin/bash
# Run Debian 12's real C xenstored (4.17) without a hypervisor, for humans and
# `make demo`.  Everything the daemon writes stays under DIR, so any number of
# sandboxes can run side by side.
#
#   xenstored-sandbox.sh start DIR [extra xenstored args, e.g. -M 60 -T DIR/trace]
#       eval "$(xenstored-sandbox.sh start /tmp/xs)"   # sets XENSTORED_PATH
#   xenstored-sandbox.sh stop DIR
#
# Env: XENSTORED (daemon binary), SHIM (prebuilt or wanted path of the shim,
# default DIR/xenstored-shim.so), CC (default gcc).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
xenstored=${XENSTORED:-/usr/lib/xen-4.17/bin/xenstored}

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
        echo "xenstored already running in $dir (pid $(cat "$pidfile"))" >&2
        exit 1
    fi
    shim=${SHIM:-$dir/xenstored-shim.so}
    if [ ! -f "$shim" ] || [ "$here/xenstored-shim.c" -nt "$shim" ]; then
        "${CC:-gcc}" -shared -fPIC -Wall -Wextra -Werror -O2 -o "$shim.tmp.$$" \
            "$here/xenstored-shim.c" -ldl
        mv -f "$shim.tmp.$$" "$shim"
    fi
    rm -f "$dir/socket" "$pidfile"
    # -N: stay in the foreground, so $! is the daemon's pid.
    # -F: without it there is no pid file; with it, it goes into DIR.
    # XENSTORED_RUNDIR puts the socket in DIR; the database is in memory
    # by default (-I on), so nothing is written to /var/lib/xenstored.
    XENSTORED_RUNDIR=$dir LD_PRELOAD=$shim \
        "$xenstored" -N -F "$pidfile" "$@" \
        </dev/null >"$dir/xenstored.log" 2>&1 &
    pid=$!
    # Ready when a client gets an answer (the socket exists a moment before
    # xenstored listens on it).
    ready() { XENSTORED_PATH=$dir/socket xenstore-exists / 2>/dev/null; }
    up=
    for _ in $(seq 100); do              # up to 10 s
        if ready; then up=1; break; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "xenstored exited at start-up; log:" >&2
            cat "$dir/xenstored.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$up" ]; then
        echo "xenstored did not answer on $dir/socket within 10 s" >&2
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
