#!/usr/bin/env bash
# One GPU-box session with binaries built elsewhere (the box has no LLVM):
# the GPU tests (unless NO_TESTS=1), then `horizon train --device cuda` at
# the benchmark shapes with and without clipping; logs and traces under $OUT.
# Usage (repo root, build/ carried): bash bench/gpu_session.sh [steps] [model...]
#   models: llama-1b (8 x 2048, the default) and/or llama2-7b (4 x 2048)
set -uo pipefail
steps=${1:-6}
shift || true
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(llama-1b)
out=${OUT:-/tmp/horizon-gpu}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build HORIZON_SOURCE_DIR=$PWD HORIZON_BINARY=$PWD/build/horizon
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
if [ "${NO_TESTS:-0}" != 1 ]; then
  ./build/horizon_tests --gtest_brief=1 >"$out/tests.log" 2>&1
  grep -E "FAILED|PASSED|SKIPPED|tests ran" "$out/tests.log" | tail -8
fi

# 64M random tokens of a 32000 vocabulary in the documented token-file format.
tokens=/tmp/horizon-gpu-tokens.bin
python3 bench/random_tokens.py "$tokens" $((64 << 20))
for model in "${models[@]}"; do
  batch=8; [ "$model" = llama2-7b ] && batch=4
  for clip in on off; do
    extra=""; [ "$clip" = off ] && extra="--clip 0"
    ./build/horizon train "models/$model.json" --device cuda --data "$tokens" --batch "$batch" --seq 2048 \
      --steps "$steps" --lr 1e-4 --eval-batches 1 --trace "$out/trace-$model-clip-$clip.json" $extra \
      >"$out/train-$model-clip-$clip.log" 2>&1
    echo "$model clip $clip: exit $?"; tail -4 "$out/train-$model-clip-$clip.log"
  done
done
