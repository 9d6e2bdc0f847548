#!/usr/bin/env bash
# The evidence for `--grad-offload bf16` (docs/bf16-gradient-offload.md,
# issue 14) on the GPU box, with binaries built elsewhere and carried
# (build/horizon, build/libhorizon.so):
#   gradients  every gradient of one CUDA step with bf16 slabs (what the CPU
#              optimizer reads) against transformers in float64, within 2e-2,
#              as bench/gpu_checks.sh checks the fp32 ones;
#   curves     50-step loss curves of Horizon with bf16 slabs (every layer
#              streamed) against PyTorch on the GPU, within 2 %, as
#              bench/gpu_checks.sh runs them with fp32 slabs;
#   long       a 1000-step run of a small model with validation loss, fp32
#              slabs against bf16 slabs, same seed and data; prints the
#              relative difference of the final validation loss (target:
#              within 0.5 %).
# Usage (repo root): bash bench/grad_offload/run.sh [gradients|curves|long]...
# Environment: OUT (logs, default /tmp/horizon-grad-offload), MODELS (for
# gradients, default "tiny-qwen3 tiny-qwen tiny"), MODEL (for long, default
# models/tiny-qwen3.json), STEPS (1000), DATA (a text file or folder; default
# the fortunes corpus if installed, else this repository's docs and sources),
# DEVICE (cuda; cpu runs `long` on the emulated device, a dry run of the script).
set -uo pipefail
out=${OUT:-/tmp/horizon-grad-offload}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(gradients curves long)
models=${MODELS:-tiny-qwen3 tiny-qwen tiny}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
free -g | head -2 | tee "$out/host.txt"

data=${DATA:-}
if [ -z "$data" ]; then
  if [ -e /usr/share/games/fortunes ]; then
    data=/usr/share/games/fortunes
  else
    data="$out/corpus.txt"
    git ls-files '*.md' '*.cpp' '*.h' '*.py' | xargs cat >"$data"
  fi
fi
python3 -c "import random; r=random.Random(0); w='the host store streams weights through slots while the optimizer updates each layer'.split(); print('\n'.join(' '.join(r.choice(w) for _ in range(12)) for _ in range(400)))" >"$out/words.txt"

status=0
for part in "${parts[@]}"; do
  case $part in
    gradients)
      for m in $models; do
        for steps in 0 30; do
          dir="$out/grad-$m-$steps"
          ./build/horizon train "models/$m.json" --data "$out/words.txt" --steps "$steps" --save "$dir" --overwrite \
            --device cpu >"$dir.train.log" 2>&1
          ./build/horizon gradients "models/$m.json" --weights "$dir" --text "$(head -c 2100 "$out/words.txt")" \
            --batch 4 --seq 512 --out "$dir/cuda-bf16.safetensors" --device cuda --grad-offload bf16 >"$dir.grad.log" 2>&1
          echo "== $m after $steps steps: CUDA gradients through bf16 slabs vs transformers float64"
          python3 bench/pytorch/compare_gradients.py "$dir" "$dir/cuda-bf16.safetensors" --tolerance 2e-2 2>&1 | tail -4
          [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
        done
      done ;;
    curves)
      for m in $models; do
        echo "== $m: 50 steps, Horizon on the GPU with bf16 slabs vs PyTorch on the GPU"
        python3 bench/pytorch/compare_loss_curve.py "models/$m.json" --steps 50 --batch 8 --seq 256 \
          --grad-offload bf16 --resident 0 --work "$out/curve-$m" >"$out/curve-$m.log" 2>&1
        rc=$?
        echo "exit $rc"; tail -8 "$out/curve-$m.log"
        [ $rc -eq 0 ] || status=1
      done ;;
    long)
      model=${MODEL:-models/tiny-qwen3.json}
      steps=${STEPS:-1000}
      declare -A val
      device_flags="--device cuda --resident 0"  # every layer streams: every gradient crosses as bf16
      [ "${DEVICE:-cuda}" = cpu ] && device_flags="--stream"
      for offload in fp32 bf16; do
        log="$out/long-$offload.log"
        ./build/horizon train "$model" --data "$data" $device_flags --grad-offload "$offload" --steps "$steps" \
          --batch 8 --seq 256 --lr 1e-3 --warmup 50 --schedule cosine --seed 3 --eval-every 250 --eval-batches 16 \
          >"$log" 2>&1 || { echo "train --grad-offload $offload failed: tail of $log"; tail -5 "$log"; status=1; continue; }
        val[$offload]=$(grep -o 'validation [0-9.]*' "$log" | tail -1 | cut -d' ' -f2)
        echo "$offload slabs: $(tail -1 "$log")"
      done
      if [ -n "${val[fp32]:-}" ] && [ -n "${val[bf16]:-}" ]; then
        python3 -c "
a, b = ${val[fp32]}, ${val[bf16]}
rel = (b - a) / a
print(f'final validation loss: fp32 slabs {a:.4f}, bf16 slabs {b:.4f}, relative difference {100 * rel:+.3f} % (target within 0.5 %)')
raise SystemExit(0 if abs(rel) <= 0.005 else 1)" || status=1
      fi ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
exit $status
