#!/usr/bin/env bash
# Runs a breakout regression suite on any Debian machine, as root: installs the
# runtimes, builds breakout, runs the scenarios and leaves JUnit, SARIF, Markdown, JSON
# and HTML (report.html, a page to review) reports in $OUT (default: breakout-reports/).
#
#   bash ci/breakout-ci.sh [SCENARIO_PATH...]        default: scenarios/
#
# Environment:
#   BREAKOUT            a breakout binary to use instead of building one; then no Rust
#                       toolchain is needed, so this script can run under sudo (which
#                       resets PATH, HOME and RUSTUP_HOME) after a build as another user
#   BREAKOUT_PARTITION  K/N: run partition K of N (a CI matrix of N machines)
#   BREAKOUT_BASELINE   a previous suite.json: report changes, fail only on new escapes
#   OUT                 where reports go
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BREAKOUT:-}" ]; then
  bash ci/setup.sh --fix-cgroups
  cargo build --release --locked
  BREAKOUT=target/x86_64-unknown-linux-gnu/release/breakout
else
  bash ci/setup.sh --fix-cgroups --no-toolchain
  [ -x "$BREAKOUT" ] || { echo "breakout-ci: BREAKOUT=$BREAKOUT is not an executable file" >&2; exit 2; }
fi
OUT=${OUT:-breakout-reports}
mkdir -p "$OUT"
args=(test "$@" --junit "$OUT/junit.xml" --sarif "$OUT/breakout.sarif" --markdown "$OUT/summary.md" --json "$OUT/suite.json" --html "$OUT/report.html")
[ -n "${BREAKOUT_PARTITION:-}" ] && args+=(--partition "$BREAKOUT_PARTITION")
[ -n "${BREAKOUT_BASELINE:-}" ] && args+=(--baseline "$BREAKOUT_BASELINE")
set +e
"$BREAKOUT" "${args[@]}"
status=$?
set -e
echo "breakout-ci: reports in $OUT (exit $status)"
exit "$status"
