#!/usr/bin/env bash
# Horizon's tensor-core attention against PyTorch's scaled_dot_product_attention
# (flash, cuDNN, efficient backends) on the same card, same shapes, one call:
# S = 2048 / 4096, D = 128, 32 query heads, 32 or 8 KV heads, causal.
# Usage (repo root, build/ carried): bash bench/attention/run.sh
set -uo pipefail
out=${OUT:-/tmp/horizon-attention}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build HORIZON_SOURCE_DIR=$PWD
HORIZON_CUDA_PERF=1 ./build/horizon_tests --gtest_filter='CudaAttentionTc.Perf' >"$out/horizon.log" 2>&1
grep "\[ perf \]" "$out/horizon.log"
python3 bench/attention/sdpa.py 2>&1 | tee "$out/sdpa.log"
