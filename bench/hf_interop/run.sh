#!/usr/bin/env bash
# Hugging Face interop on the GPU box, end to end, for a Qwen3-style and a
# Llama-3.1-style model: transformers writes the model (random weights, the
# real tokenizer, sharded), `horizon train DIR` fine-tunes it 30 steps on a
# text corpus and saves, transformers loads the result and its loss on
# held-out tokens (tokenized by transformers) must equal Horizon's validation
# loss on the same tokens within 1e-2 relative; `horizon tokenize` must equal
# the transformers tokenizer on every line of the corpus.
# Usage (repo root, binaries in build/): bash bench/hf_interop/run.sh TOKENIZERS CORPUS [kind...]
#   TOKENIZERS: a folder with qwen3/ and llama3/ tokenizer.json + tokenizer_config.json
set -uo pipefail
tokenizers=$1 corpus=$2
shift 2
kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(qwen3 llama3)
out=${OUT:-/tmp/hf-interop}
work=${WORK:-/tmp/hf-interop-work}
mkdir -p "$out" "$work"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
py=bench/hf_interop/hf_interop.py

# Valid UTF-8 only (both tokenizers replace invalid bytes, but Python cannot read them as text).
python3 -c "import sys; open(sys.argv[2], 'w', encoding='utf-8').write(open(sys.argv[1], 'rb').read().decode('utf-8', 'ignore'))" \
  "$corpus" "$work/corpus.txt"
corpus="$work/corpus.txt"
# Held out: the last 200 lines; training: the rest.
total=$(wc -l <"$corpus")
head -n $((total - 200)) "$corpus" >"$work/train.txt"
tail -n 200 "$corpus" >"$work/heldout.txt"
python3 -c "import json,sys; [print(json.dumps(l.rstrip('\n'))) for l in open(sys.argv[1], encoding='utf-8')]" \
  "$corpus" >"$work/lines.jsonl"

status=0
for kind in "${kinds[@]}"; do
  model="$work/$kind-model" run="$work/$kind-run"
  rm -rf "$model" "$run"
  python3 $py make "$kind" --tokenizer "$tokenizers/$kind" --out "$model" 2>&1 | tail -1 | tee -a "$out/summary.txt"
  python3 $py tokens --model "$model" --text "$work/heldout.txt" --seq 512 --out "$work/$kind-heldout.tokens" | tee -a "$out/summary.txt"
  /usr/bin/time -v ./build/horizon train "$model" --data "$work/train.txt" --val-data "$work/$kind-heldout.tokens" \
    --steps 30 --batch 4 --seq 512 --lr 1e-4 --warmup 3 --eval-batches 1 --device cuda --save "$run" \
    >"$out/train-$kind.log" 2>&1
  echo "$kind train: exit $?" | tee -a "$out/summary.txt"
  grep -E "initialized from|sampler|loss .* ->|saved|Maximum resident" "$out/train-$kind.log" | tee -a "$out/summary.txt"
  ls "$run" | tr '\n' ' ' | tee -a "$out/summary.txt"; echo | tee -a "$out/summary.txt"
  python3 $py loss --model "$run" --tokens "$work/$kind-heldout.tokens" --run "$run" 2>&1 | tail -1 | tee -a "$out/summary.txt" || status=1
  /usr/bin/time -f "%e s" ./build/horizon tokenize "$model" --jsonl <"$work/lines.jsonl" >"$work/$kind-ids.jsonl" 2>"$out/tokenize-$kind.err"
  echo "$kind tokenize: exit $? $(tail -1 "$out/tokenize-$kind.err")" | tee -a "$out/summary.txt"
  python3 $py tokenize-check --model "$model" --texts "$work/lines.jsonl" --ids "$work/$kind-ids.jsonl" 2>&1 | tail -4 | tee -a "$out/summary.txt" || status=1
done
exit $status
