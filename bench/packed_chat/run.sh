#!/usr/bin/env bash
# Packed, loss-masked chat data on the GPU box (issue: post-training data):
# 1. the loss and every gradient of one CUDA step on a packed batch of chat
#    conversations (Qwen3 template, assistant-only loss, positions restarting
#    per document) against float64 transformers, document by document: 2e-2;
# 2. a 50-step loss curve against PyTorch AdamW on the batches Horizon
#    recorded (--record-batches): 2 %;
# 3. step time on packed chat data against random tokens at the same shape
#    (a Qwen3-0.6B-shape model, batch 8 x 2048): at most 5 % slower.
# Usage (repo root, binaries in build/): bash bench/packed_chat/run.sh TOKENIZERS [part...]
#   TOKENIZERS: a folder with qwen3/tokenizer.json + tokenizer_config.json; parts: grads curve speed
set -uo pipefail
tokenizers=$1
shift
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(grads curve speed)
out=${OUT:-/tmp/packed-chat}
work=${WORK:-/tmp/packed-chat-work}
mkdir -p "$out" "$work"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
py="python3 bench/packed_chat/packed_chat.py"
make="python3 bench/hf_interop/hf_interop.py make"
status=0
[ -f "$work/chat.jsonl" ] || $py chat --out "$work/chat.jsonl" --rows 3000 | tee -a "$out/summary.txt"
[ -d "$work/small" ] || $make qwen3-small --tokenizer "$tokenizers/qwen3" --out "$work/small" 2>&1 | tail -1 | tee -a "$out/summary.txt"
common=(--data "$work/chat.jsonl" --cache-dir "$work/cache")
for part in "${parts[@]}"; do
  case $part in
    grads)
      ./build/horizon data "$work/small" "${common[@]}" --seq 512 --show 2 >"$out/data-show.txt" 2>&1
      ./build/horizon gradients "$work/small" "${common[@]}" --batch 4 --seq 512 --device cuda \
        --out "$work/grads.safetensors" >"$out/gradients.log" 2>&1
      echo "gradients: exit $? $(tail -1 "$out/gradients.log")" | tee -a "$out/summary.txt"
      $py grads --model "$work/small" --grads "$work/grads.safetensors" >"$out/grads.txt" 2>&1 || status=1
      tail -1 "$out/grads.txt" | tee -a "$out/summary.txt" ;;
    curve)
      rm -rf "$work/run" "$work/batches.jsonl"
      ./build/horizon train "$work/small" "${common[@]}" --steps 50 --batch 8 --seq 512 --lr 1e-4 --warmup 5 \
        --moments f32 --eval-batches 0 --device cuda --record-batches "$work/batches.jsonl" --save "$work/run" \
        >"$out/curve-train.log" 2>&1
      echo "curve train: exit $?" | tee -a "$out/summary.txt"
      grep -E "sampler|packed|loss .* ->" "$out/curve-train.log" | head -5 | tee -a "$out/summary.txt"
      $py curve --model "$work/small" --batches "$work/batches.jsonl" --metrics "$work/run/metrics.jsonl" \
        --steps 50 --lr 1e-4 --warmup 5 >"$out/curve.txt" 2>&1 || status=1
      tail -1 "$out/curve.txt" | tee -a "$out/summary.txt" ;;
    speed)
      [ -d "$work/q06" ] || $make qwen3 --tokenizer "$tokenizers/qwen3" --out "$work/q06" 2>&1 | tail -1 | tee -a "$out/summary.txt"
      python3 -c "
import numpy as np, struct, sys
t = np.random.default_rng(1).integers(0, 151936, size=8 << 20, dtype=np.uint32)
f = open(sys.argv[1], 'wb'); f.write(b'HZTOKENS' + struct.pack('<IIQQ', 1, 4, t.size, 151936)); f.write(t.tobytes())" \
        "$work/random.tokens"
      for kind in packed random; do
        data="$work/chat.jsonl"; [ $kind = random ] && data="$work/random.tokens"
        rm -rf "$work/speed-$kind"
        ./build/horizon train "$work/q06" --data "$data" --cache-dir "$work/cache" --steps 12 --batch 8 --seq 2048 \
          --lr 1e-5 --eval-batches 0 --device cuda --save "$work/speed-$kind" >"$out/speed-$kind.log" 2>&1
        echo "speed $kind: exit $? $(grep -E 'sampler' "$out/speed-$kind.log" | head -1)" | tee -a "$out/summary.txt"
      done
      $py speed --packed "$work/speed-packed/metrics.jsonl" --random "$work/speed-random/metrics.jsonl" \
        2>&1 | tee -a "$out/summary.txt" || status=1 ;;
    *) echo "unknown part $part"; exit 2 ;;
  esac
done
exit $status
