#!/usr/bin/env bash
# Soak test of crash-safe training: Resume.SigkillAtRandomMomentsEndsWithTheBytesOfTheUncutRun
# with N SIGKILLs (default 50) at random moments (start-up, steps, checkpoint saves), each
# followed by --resume; passes when the final checkpoint has the bytes of the uncut run and
# metrics.jsonl every step once. The suite runs the same test with 5 fixed cuts.
#   scripts/kill_soak.sh [N] [BUILD_DIR]
set -euo pipefail
kills="${1:-50}"
build="${2:-build}"
cd "$(dirname "$0")/.."
[[ -x "$build/horizon_tests" ]] || { echo "build $build/horizon_tests first (ninja -C $build horizon horizon_tests)"; exit 1; }
HORIZON_KILL_SOAK="$kills" "$build/horizon_tests" --gtest_filter='Resume.SigkillAtRandomMomentsEndsWithTheBytesOfTheUncutRun'
