#!/usr/bin/env bash
# The GPU correctness checks of one session on the GPU box, with binaries
# built elsewhere and carried (build/horizon, build/horizon_tests,
# build/libhorizon.so): the whole test suite, compute-sanitizer memcheck and
# racecheck on a tiny model, every gradient of one CUDA step against
# transformers in float64, and 50-step loss curves against PyTorch on the
# GPU. Logs under $OUT (default /tmp/horizon-gpu-checks).
# Usage (repo root): bash bench/gpu_checks.sh [tests|sanitizers|gradients|curves]...
# MODELS="tiny-qwen3" limits gradients and curves to those models/*.json.
set -uo pipefail
out=${OUT:-/tmp/horizon-gpu-checks}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build HORIZON_SOURCE_DIR=$PWD HORIZON_BINARY=$PWD/build/horizon
parts=("$@")
models=${MODELS:-tiny-qwen3 tiny-qwen tiny}
[ ${#parts[@]} -eq 0 ] && parts=(tests sanitizers gradients curves)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

# A corpus of plain words for the byte-level gradient checks.
python3 -c "import random; r=random.Random(0); w='the host store streams weights through slots while the optimizer updates each layer'.split(); print('\n'.join(' '.join(r.choice(w) for _ in range(12)) for _ in range(400)))" >"$out/corpus.txt"

for part in "${parts[@]}"; do
  case $part in
    tests)
      timeout 420 ./build/horizon_tests --gtest_brief=1 >"$out/tests.log" 2>&1; echo "tests: exit $?"
      grep -E "FAILED|PASSED|SKIPPED|tests ran" "$out/tests.log" | tail -12
      grep -E "^\[ info" "$out/tests.log" | head -40 ;;
    sanitizers)
      # One small run each: racecheck keeps shadow state on the host (about
      # 30 GiB more per step here), so longer runs exhaust the box.
      for tool in memcheck racecheck; do
        timeout 150 compute-sanitizer --tool "$tool" ./build/horizon train models/tiny.json --device cuda \
          --data "$out/corpus.txt" --steps 2 --batch 1 --seq 32 --eval-batches 0 >"$out/sanitizer-$tool.log" 2>&1
        echo "compute-sanitizer $tool: exit $?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|hazard" "$out/sanitizer-$tool.log" | tail -3
      done ;;
    gradients)
      for m in $models; do
        for steps in 0 30; do
          dir="$out/grad-$m-$steps"
          ./build/horizon train "models/$m.json" --data "$out/corpus.txt" --steps "$steps" --save "$dir" --device cpu >"$dir.train.log" 2>&1
          ./build/horizon gradients "models/$m.json" --weights "$dir" --text "$(head -c 2100 "$out/corpus.txt")" \
            --batch 4 --seq 512 --out "$dir/cuda.safetensors" --device cuda >"$dir.grad.log" 2>&1
          echo "== $m after $steps steps: CUDA gradients vs transformers float64"
          python3 bench/pytorch/compare_gradients.py "$dir" "$dir/cuda.safetensors" --tolerance 2e-2 2>&1 | tail -4
        done
      done ;;
    curves)
      for m in $models; do
        echo "== $m: 50 steps, Horizon on the GPU vs PyTorch on the GPU"
        python3 bench/pytorch/compare_loss_curve.py "models/$m.json" --steps 50 --batch 8 --seq 256 \
          --work "$out/curve-$m" >"$out/curve-$m.log" 2>&1
        echo "exit $?"; tail -8 "$out/curve-$m.log"
      done ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
