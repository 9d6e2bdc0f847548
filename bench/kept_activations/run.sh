#!/usr/bin/env bash
# Selective recompute (passes/plan_kept_activations.h) on the GPU box: the
# step time of every block recomputed (--keep-activations 0) against blocks
# keeping their activations (auto), side by side in one call, at the
# benchmark shapes (llama-1b 8 x 2048, llama2-7b 4 x 2048, random tokens,
# clipping 1.0), with the planner's prediction for each. Median of the last
# 5 steps. Logs under $OUT. Usage (repo root, build/ carried):
#   bash bench/kept_activations/run.sh [steps] [model...]
set -uo pipefail
steps=${1:-10}
shift || true
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(llama-1b llama2-7b)
out=${OUT:-/tmp/horizon-kept}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
tokens=/tmp/horizon-kept-tokens.bin
python3 bench/random_tokens.py "$tokens" $((16 << 20))
median_ms() {  # median ms/step of the last 5 steps of a train log
  grep -o '[0-9.]* ms/step' "$1" | awk '{print $1}' | tail -5 | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "n/a")}'
}
for model in "${models[@]}"; do
  batch=8; [ "$model" = llama2-7b ] && batch=4
  for keep in 0 auto; do
    log="$out/train-$model-keep-$keep.log"
    ./build/horizon train "models/$model.json" --device cuda --data "$tokens" --batch "$batch" --seq 2048 \
      --steps "$steps" --lr 1e-4 --eval-batches 1 --keep-activations "$keep" >"$log" 2>&1
    rc=$?
    ./build/horizon plan "models/$model.json" --batch "$batch" --seq 2048 --machine machines/h200-1tb.json \
      --keep-activations "$keep" >"$out/plan-$model-keep-$keep.txt" 2>&1
    planned=$(grep -o 'step time *[0-9.e-]* s' "$out/plan-$model-keep-$keep.txt" | awk '{print $3}')
    echo "$model $batch x 2048 --keep-activations $keep: exit $rc, median $(median_ms "$log") ms/step, planned ${planned:-n/a} s"
    grep -o '[0-9]* of [0-9]* blocks keep activations' "$log" | head -1
    grep -i "device memory" "$log" | head -1
  done
done
