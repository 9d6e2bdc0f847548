#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer:
# builds build-sanitize/ (gcc, -DHORIZON_SANITIZE=ON), then runs ctest there.
# Slow (the build is a full one; tests run ~2-3x slower): on a 2-core machine
# run it in the background, e.g. `nice scripts/sanitize.sh > sanitize.log 2>&1 &`.
#   scripts/sanitize.sh [CTEST_ARGS...]     e.g. scripts/sanitize.sh -R 'Checkpoint|Resume'
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Warnings are not errors here: sanitizer instrumentation changes what gcc's
# flow analysis reports; the normal build keeps -Werror.
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Release -DHORIZON_SANITIZE=ON -DHORIZON_WERROR=OFF \
  "${launcher[@]}" >/dev/null
ninja -C build-sanitize horizon horizon_tests
scripts/fetch_test_data.sh build-sanitize/test-data >/dev/null || echo "note: no test data; tests that need it skip"
# protect_shadow_gap=0: the CUDA runtime maps memory where ASan keeps its gap.
# The JIT and LLVM keep process-lifetime allocations; leaks are still reported.
export ASAN_OPTIONS="${ASAN_OPTIONS:-protect_shadow_gap=0:detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd build-sanitize
ctest -j2 --timeout 1800 --output-on-failure "$@"
