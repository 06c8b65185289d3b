#!/bin/bash
# make check's last lines: what each suite passed and failed (from the results file that
# scripts/check-count.sh fills), then the totals, `make check: N passed, M failed`.
#
#   scripts/check-totals.sh RESULTS STATUS SUITE...
#
# STATUS is the exit status of the run; SUITE... the suites (make targets) the run was
# meant to count. Each suite's target ends by writing `SUITE done` to RESULTS; one that
# counted no command is one test (passed when done). A suite that did not get to its end
# (a command failed, or make skipped it because something it needs failed) and counted
# no failure is given one. Exits with STATUS, or 1 when STATUS is 0 but something failed.
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: $0 RESULTS STATUS SUITE..." >&2; exit 2; }
results=$1 status=$2
shift 2
touch "$results"

echo
echo "make check: results"
total_passed=0 total_failed=0
for suite in "$@"; do
    read -r passed failed counted done < <(awk -F '\t' -v s="$suite" '
        $1 == s && $2 == "done" { d = 1; next }
        $1 == s { p += $2; f += $3; n++ }
        END { print p + 0, f + 0, n + 0, d + 0 }' "$results")
    note=
    if [ "$counted" -eq 0 ] && [ "$done" -eq 1 ]; then
        passed=1
    elif [ "$done" -eq 0 ] && [ "$failed" -eq 0 ]; then
        failed=1 note="  (did not finish: see the errors above)"
    fi
    printf '  %-28s %5d passed, %d failed%s\n' "$suite" "$passed" "$failed" "$note"
    total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
done
echo "make check: $total_passed passed, $total_failed failed"
if [ "$status" -eq 0 ] && [ "$total_failed" -ne 0 ]; then status=1; fi
exit "$status"
