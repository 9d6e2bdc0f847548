#!/usr/bin/env bash
# Builds the libFuzzer binaries (one per fuzz/*_fuzz.cpp, with AddressSanitizer and
# UndefinedBehaviorSanitizer) with Debian's clang in build-fuzz/, then runs each for
# SECONDS (default 60) on a working copy of its corpus (fuzz/corpus/<name>/ stays as
# committed) and reports executions, corpus growth and crashes per target.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# PARALLEL=1 runs the targets at once (wall time SECONDS instead of SECONDS x targets).
# Crash inputs are left in build-fuzz/crashes/<name>/; reproduce with
#   build-fuzz/fuzz_<name> build-fuzz/crashes/<name>/crash-...
set -euo pipefail
# Parsers that read files get them in a scratch folder: on tmpfs, fsync costs nothing.
[[ -d /dev/shm && -w /dev/shm ]] && export TMPDIR="${TMPDIR:-/dev/shm}"
seconds="${1:-60}"
shift || true
cd "$(dirname "$0")/.."
cxx="${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}"
[[ -n "$cxx" ]] || { echo "scripts/fuzz.sh needs clang++ (apt-get install clang)"; exit 1; }
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DHORIZON_FUZZ=ON \
  -DHORIZON_TESTS=OFF >/dev/null
ninja -C build-fuzz >/dev/null
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in fuzz/*_fuzz.cpp; do n="$(basename "$f" _fuzz.cpp)"; targets+=("$n"); done
fi

run_one() {
  local name="$1" work="build-fuzz/corpus/$1" crashes="build-fuzz/crashes/$1" log="build-fuzz/$1.log"
  mkdir -p "$work" "$crashes"
  cp -n "fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
  # -rss_limit_mb and -timeout: a parser that allocates or loops without bound is a finding too.
  "build-fuzz/fuzz_$name" "$work" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$crashes/" >"$log" 2>&1 || true
}

for n in "${targets[@]}"; do
  [[ -x "build-fuzz/fuzz_$n" ]] || { echo "no fuzz target $n"; exit 1; }
  if [[ "${PARALLEL:-0}" == 1 ]]; then run_one "$n" & else run_one "$n"; fi
done
wait

status=0
printf "%-24s %14s %10s %8s\n" target executions corpus crashes
for n in "${targets[@]}"; do
  log="build-fuzz/$n.log"
  execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)"
  corpus="$(ls "build-fuzz/corpus/$n" | wc -l)"
  crashes="$(ls "build-fuzz/crashes/$n" | wc -l)"
  printf "%-24s %14s %10s %8s\n" "$n" "${execs:-?}" "$corpus" "$crashes"
  if [[ "$crashes" != 0 ]] || grep -q "ERROR: \(AddressSanitizer\|libFuzzer\)\|runtime error:" "$log"; then
    status=1
    grep -m3 "ERROR\|runtime error" "$log" | sed "s/^/  $n: /"
  fi
done
exit $status
