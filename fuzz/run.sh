#!/bin/bash
# Coverage-guided fuzzing of the three decoders with cargo-fuzz + libFuzzer on the STABLE
# toolchain (`-s none`: no sanitizer, which is the only nightly-only part of cargo-fuzz; the
# decoders are safe Rust, and debug assertions and overflow checks stay on).
#
#   fuzz/run.sh [SECONDS]      each target for SECONDS seconds (default 60)
#
# Environment:
#   FUZZ_TARGETS="decode_kv ..."   the targets to run (default: all three)
#   FUZZ_RUNS=N                    stop each target after N inputs instead of after SECONDS
#   FUZZ_SEED=N                    libFuzzer's random seed (default 1: same seed, same run)
#   FUZZ_KEEP_CORPUS=1             start from fuzz/corpus/<target> as left by an earlier run
#                                  (default: start afresh from the committed fuzz/seeds/<target>)
#
# Installs what is missing (cargo-fuzz from crates.io, ~1 min on 2 cores; through
# scripts/bootstrap.sh, Debian's libxen-dev, which the crate links against, and g++, which builds libFuzzer), builds the targets, runs each
# one, prints one summary line per target, and exits non-zero if any target crashed (the input
# is saved in fuzz/artifacts/<target>/; see fuzz/README.md to reproduce it).
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
case $SECONDS_PER_TARGET in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
TARGETS=${FUZZ_TARGETS:-decode_kv decode_legacy decode_auto}
SEED=${FUZZ_SEED:-1}
CARGO_FUZZ_VERSION=0.13.2

FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# --- what the build needs -------------------------------------------------------------
"$ROOT/scripts/bootstrap.sh"   # libxen-dev (the crate links libxenstore), g++ (libFuzzer)
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute)"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# --- build ----------------------------------------------------------------------------
echo "fuzz: building (release, debug assertions, sanitizer coverage, no sanitizer)"
cargo fuzz build -s none

# --- run ------------------------------------------------------------------------------
LOG_DIR="$FUZZ_DIR/target/logs"
mkdir -p "$LOG_DIR"
if [ -n "${FUZZ_RUNS:-}" ]; then bound=(-runs="$FUZZ_RUNS"); else bound=(-max_total_time="$SECONDS_PER_TARGET"); fi

failed=()
summaries=()
for t in $TARGETS; do
    corpus="$FUZZ_DIR/corpus/$t"
    [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
    mkdir -p "$corpus" "$FUZZ_DIR/artifacts/$t"
    dict=()
    case $t in decode_kv | decode_auto) dict=(-dict="$FUZZ_DIR/kv.dict") ;; esac
    log="$LOG_DIR/$t.log"
    echo "fuzz: running $t (${bound[*]}, seed $SEED; log: ${log#"$ROOT"/})"
    status=0
    # The first corpus directory receives new inputs; the seeds are only read.
    cargo fuzz run -s none "$t" "$corpus" "$FUZZ_DIR/seeds/$t" -- \
        "${bound[@]}" -seed="$SEED" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        failed+=("$t")
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        artifact=${artifact#"$ROOT"/}
        result="FAILED (exit $status; input: ${artifact:-see log}; log: ${log#"$ROOT"/})"
        echo "---- last lines of $log ----" >&2
        tail -40 "$log" >&2
    fi
    summaries+=("$(printf '%-14s %s: %s execs, %s exec/s, cov %s, features %s, corpus %s' \
        "$t" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
done

echo "fuzz: summary"
printf '  %s\n' "${summaries[@]}"
n_targets=$(wc -w <<<"$TARGETS")
echo "fuzz: $((n_targets - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}" >&2
    exit 1
fi
