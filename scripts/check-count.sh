#!/bin/bash
# make check's bookkeeping: runs one test command, shows its output as it comes, and adds
# what it passed and failed to $CHECK_RESULTS (one line per command: SUITE PASSED FAILED),
# which `make check` totals at the end (scripts/check-totals.sh).
#
#   scripts/check-count.sh SUITE COMMAND [ARGS...]
#
# Counts come from the command's standard output (its stderr passes untouched): cargo's
# `test result: ... N passed; M failed` lines, and lines ending in `N passed, M failed`
# (the C test programs, fuzz/run.sh). A command that prints neither is one test: passed if
# it exits 0. A command that exits non-zero counts at least one failure, whatever it
# printed. The exit status is the command's. Without CHECK_RESULTS (a test target run on its own), it only runs COMMAND.
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: $0 SUITE COMMAND [ARGS...]" >&2; exit 2; }
suite=$1
shift
[ -n "${CHECK_RESULTS:-}" ] || exec "$@"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" | tee "$out"
status=${PIPESTATUS[0]}

read -r passed failed counted < <(awk '
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed;?$/) p += $(i - 1)
            if ($(i) ~ /^failed;?$/) f += $(i - 1)
        }
        n++
        next
    }
    / [0-9]+ passed, [0-9]+ failed$/ { p += $(NF - 3); f += $(NF - 1); n++ }
    END { print p + 0, f + 0, n + 0 }' "$out")

if [ "$counted" -eq 0 ]; then
    if [ "$status" -eq 0 ]; then passed=1; else failed=1; fi
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
printf '%s\t%s\t%s\n' "$suite" "$passed" "$failed" >>"$CHECK_RESULTS"
exit "$status"
