#!/usr/bin/env bash
# One GPU-box session with binaries built elsewhere (the box has no LLVM):
# the GPU tests, then `horizon train --device cuda` on llama-1b at the
# benchmark shape with and without clipping, logs and traces under $OUT.
# Usage (repo root, build/ carried): bash bench/gpu_session.sh [steps]
set -uo pipefail
steps=${1:-6}
out=${OUT:-/tmp/horizon-gpu}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build HORIZON_SOURCE_DIR=$PWD HORIZON_BINARY=$PWD/build/horizon
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
./build/horizon_tests --gtest_brief=1 >"$out/tests.log" 2>&1
grep -E "FAILED|PASSED|SKIPPED|tests ran" "$out/tests.log" | tail -8

# 64M random tokens of a 32000 vocabulary in the documented token-file format.
python3 - "$out/tokens.bin" <<'PY'
import struct, sys, numpy as np
toks = np.random.default_rng(1).integers(0, 32000, size=64 << 20, dtype=np.uint16)
with open(sys.argv[1], "wb") as f:
    f.write(b"HZTOKENS" + struct.pack("<IIQQ", 1, 2, toks.size, 32000))
    f.write(toks.tobytes())
PY
for clip in on off; do
  extra=""; [ "$clip" = off ] && extra="--clip 0"
  ./build/horizon train models/llama-1b.json --device cuda --data "$out/tokens.bin" --batch 8 --seq 2048 \
    --steps "$steps" --lr 1e-4 --eval-batches 1 --trace "$out/trace-1b-clip-$clip.json" $extra \
    >"$out/train-1b-clip-$clip.log" 2>&1
  echo "llama-1b clip $clip: exit $?"; tail -4 "$out/train-1b-clip-$clip.log"
done
