# Shell helpers of the e2e scenarios, sourced in dom0 by scenarios.sh (one
# host), fleet.sh (two-host test, on the host that drives it) and hostctl
# (what the driving host asks the others to do over ssh).  $DAEMON labels
# the boot in the result and trace lines.
LIB=/usr/lib/x86_64-linux-gnu/libphysmap_hooks.so.1
STOCK=/opt/e2e/stock
DM=/local/domain/0/device-model
W=/tmp/e2e
mkdir -p "$W"
unset LIBXL_PHYSMAP_PLUGIN

EVIDENCE=
# fail MESSAGE [LOG...]: the scenario's evidence is MESSAGE; the logs are
# printed after the result line.  Returns 1, for `|| return`.
fail() {
    EVIDENCE=$1
    shift
    FAIL_LOGS=("$@")
    return 1
}

scenario() {   # N TITLE FUNCTION
    EVIDENCE= FAIL_LOGS=()
    local status=PASS dog= t0=$SECONDS
    if [ -n "${WATCHDOG:-}" ]; then
        rm -f "$W/watchdog-$1"
        watchdog "$1" 2>/dev/null &
        dog=$!
    fi
    "$3" || status=FAIL
    if [ -n "$dog" ]; then
        pkill -P "$dog" sleep
        wait "$dog"
        if [ -f "$W/watchdog-$1" ]; then
            status=FAIL
            EVIDENCE="stopped by the watchdog after $WATCHDOG s (E2E-STUCK lines above): ${EVIDENCE:-no evidence}"
        fi
    fi
    echo "E2E-RESULT|$DAEMON|$1|$2|$status|$EVIDENCE"
    echo "E2E-DURATION|$DAEMON|$1|$((SECONDS - t0))"
    RESULT=$status
    if [ $status = FAIL ]; then
        local f
        for f in "${FAIL_LOGS[@]}"; do
            [ -f "$f" ] || continue
            echo "  | ---- $f"
            tail -n 60 "$f" | sed 's/^/  | /'
        done
        echo "  | ---- xl list"
        xl list 2>&1 | sed 's/^/  | /'
    fi
    [ "$1" = 0 ] || settle
}

# Scenario N's watchdog, when WATCHDOG (seconds) is set: a scenario still
# running after that long has a step that waits for good (every step is
# meant to be bounded; one complete fleet run stopped in scenario 8 with
# nothing in the log to say where).  Prints what each process waits on and
# the kernel stacks of those in uninterruptible sleep, then stops the
# scenario's commands so that the scenario fails and the boot goes on.
watchdog() {   # N
    sleep "$WATCHDOG" || return 0
    : >"$W/watchdog-$1"
    echo "E2E-STUCK|$DAEMON|$1|scenario $1 still runs after $WATCHDOG s; processes:"
    ps -eo pid,ppid,stat,etimes,wchan:32,args | sed 's/^/  | /'
    local pid
    for pid in $(ps -eo pid=,stat= | awk '$2 ~ /^D/ { print $1 }'); do
        echo "E2E-STUCK|$DAEMON|$1|kernel stack of $pid ($(tr '\0' ' ' </proc/$pid/cmdline)):"
        sed 's/^/  | /' "/proc/$pid/stack" 2>&1
    done
    echo "E2E-STUCK|$DAEMON|$1|kernel log, last lines:"
    dmesg | tail -n 30 | sed 's/^/  | /'
    # The scenario's commands are the descendants of the shell running it
    # (not this watchdog, nor its own children).
    local victims me=$BASHPID
    victims=$(ps -eo pid=,ppid= | awk -v top=$$ -v me="$me" '
        { parent[$1] = $2 }
        END { for (p in parent) {
                  q = parent[p]
                  while (q in parent && q != top && q != me && q > 1) q = parent[q]
                  if (q == top && p != me) print p } }')
    echo "E2E-STUCK|$DAEMON|$1|stopping $(echo $victims)"
    kill $victims 2>/dev/null
    sleep 10
    kill -9 $victims 2>/dev/null
    return 0
}

# run NAME CMD...: runs CMD (an xl command, with up to 10 minutes), its
# output in $W/NAME.log; sets RC and SECS.
run() {
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    timeout 600 "$@" >"$W/$name.log" 2>&1
    RC=$?
    t1=$(date +%s.%N)
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    LOG=$W/$name.log
    trace "$name: exit $RC after $SECS s"
}

domid_of() { xl domid "$1" 2>/dev/null; }

# A line in the serial log: what just happened, which domains exist
# (name:id:state) and dom0's available memory (its root file system and
# /tmp are in RAM), so that a failure can be followed step by step.
trace() {
    echo "E2E-TRACE|$DAEMON|$*|$(xl list 2>/dev/null | awk 'NR > 2 { printf "%s:%s:%s ", $1, $2, $5 }')|$(awk '/^MemAvailable:/ { printf "%d MB available", $2 / 1024 }' /proc/meminfo)"
}

# The domain is there, neither paused, shut down, crashed nor dying, and its
# device model is running.
running() {
    local id=$1 state
    state=$(xl list "$id" 2>/dev/null | awk 'NR == 2 { print $5 }')
    [ -n "$state" ] || return 1
    case $state in *p* | *s* | *c* | *d*) return 1 ;; esac
    pgrep -f -- "-xen-domid $id( |$)" >/dev/null
}

# The physmap nodes of a domain with their permissions, the domain id
# replaced by D, sorted (the daemons list children in different orders).
listing() {
    xenstore-ls -f -p "$DM/$1/physmap" 2>/dev/null | normalize "$1"
}
normalize() { sed -E "s#/device-model/$1/#/device-model/D/#; s/\\br$1\\b/rD/g" | sort; }

# As QEMU does (xen-hvm.c, XEN_COMPAT_PHYSMAP): PRIx64 values, one node each.
write_record() {   # DOMID PHYS_OFFSET START SIZE [NAME]
    local p=$DM/$1/physmap/$2
    xenstore-write "$p/start_addr" "$3" "$p/size" "$4" || return 1
    [ $# -lt 5 ] || xenstore-write "$p/name" "$5"
}

# The domain ID that a restore or migration created has the nodes of
# EXPECTED (a listing) both when libxl started its QEMU (the wrapper's
# listing) and now, and runs.
arrived_as_saved() {   # NAME ID EXPECTED
    local name=$1 id=$2 expected=$3
    normalize "$id" <"$W/spawn-$id.txt" >"$W/$name.spawn"
    listing "$id" >"$W/$name.after"
    same_nodes "$name" "$expected" || return 1
    running "$id" || fail "$name: domain $id is not running" "$LOG" || return 1
}

# $W/NAME.spawn (the nodes at QEMU's start) and $W/NAME.after (the nodes
# now), listings made on this host or on HOST, both equal EXPECTED.
same_nodes() {   # NAME EXPECTED [HOST]
    local name=$1 expected=$2 on=${3:+ on $3}
    cmp -s "$W/$name.spawn" "$expected" ||
        fail "$name: nodes at QEMU's start$on differ from the saved ones" \
            "$W/$name.spawn" "$expected" "$LOG" || return 1
    cmp -s "$W/$name.after" "$expected" ||
        fail "$name: nodes$on afterwards differ from the saved ones" \
            "$W/$name.after" "$expected" || return 1
}

# The section (EMULATOR_XENSTORE_DATA data) of a savefile, to a file.
section_of() { /e2e/emulator-record.py data "$1" "$2" >/dev/null; }

records_in() {   # SAVEFILE -> "N records, emulator id I"
    physmap-inspect savefile --json "$1" | python3 -c '
import json, sys
emulators = json.load(sys.stdin)["emulator_xenstore_data"]
records = sum(len(e["records"]) for e in emulators)
ids = ",".join(str(e["emulator_id"]) for e in emulators)
print("%d records, emulator id %s" % (records, ids))'
}

# The library's own log lines, and libxl's line for loading it.
expect_lines() {   # LOG PATTERN...
    local log=$1 p
    shift
    for p in "$@"; do
        grep -qE -- "$p" "$log" || fail "no line matching '$p' in $(basename "$log")" "$log" ||
            return 1
    done
}
LOADED="loaded physmap plugin $LIB"

