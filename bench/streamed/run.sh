#!/usr/bin/env bash
# The streamed regime at the seed's scale (issue 18): a Llama-70B-width model
# of 8 blocks with every layer streamed (--resident 0), batch 16 x 2048 in 4
# micro-batches, on the GPU box: measured step, GPU compute busy and H2D rate
# from the last step's trace, against `horizon plan` on the same machine file,
# with activations kept (auto) and every block recomputed (0).
# Usage (repo root, build/ carried): bash bench/streamed/run.sh [steps]
set -uo pipefail
steps=${1:-5}
out=${OUT:-/tmp/horizon-streamed}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
model=/tmp/llama-70b-width-8.json
python3 - "$model" <<'PY'
import json, sys
m = json.load(open("models/llama-70b.json"))
m["name"] = "llama-70b-width-8"
m["config"]["layers"] = 8
json.dump(m, open(sys.argv[1], "w"), indent=1)
PY
tokens=/tmp/horizon-streamed-tokens.bin
python3 bench/random_tokens.py "$tokens" $((8 << 20))
for keep in ${KEEP:-auto 0}; do
  log="$out/train-keep-$keep.log"
  ./build/horizon train "$model" --device cuda --data "$tokens" --resident 0 --batch 16 --seq 2048 \
    --micro-batches 4 --steps "$steps" --lr 1e-4 --eval-batches 1 --keep-activations "$keep" \
    --trace "$out/trace-keep-$keep.json" >"$log" 2>&1
  echo "keep $keep: exit $?"
  grep -E "^schedule:|device memory" "$log" | cut -c1-220
  grep -o '[0-9]* ms/step' "$log" | tail -3 | tr '\n' ' '; echo
  ./build/horizon plan "$model" --resident 0 --batch 16 --seq 2048 --micro-batches 4 \
    --machine machines/h200-1tb.json --keep-activations "$keep" 2>&1 | grep -E "step time|GPU busy|PCIe|model TFLOPS|bottleneck"
  python3 - "$out/trace-keep-$keep.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
ev = ev["traceEvents"] if isinstance(ev, dict) else ev
names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e["name"] == "thread_name"}
spans = [e for e in ev if e.get("ph") == "X"]
t0 = min(e["ts"] for e in spans); t1 = max(e["ts"] + e["dur"] for e in spans)
print(f"  trace of the last step: {(t1 - t0) / 1e3:.1f} ms")
for tid in sorted({e["tid"] for e in spans}):
    busy = sum(e["dur"] for e in spans if e["tid"] == tid and not e["name"].startswith("wait"))
    print(f"  {names.get(tid, tid):16s} busy {busy / 1e3:8.1f} ms ({100 * busy / (t1 - t0):5.1f} %)")
PY
done
