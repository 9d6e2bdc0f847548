#!/bin/sh
# Weight loading rate and peak RSS for a model directory of MODEL's shapes.
#   bench/model_load.sh [MODEL] [DIR] [SHARD_SIZE]
# Defaults: models/llama2-7b.json (13.5 GB of bf16, 3 shards of at most 5GB)
# into /tmp/horizon-llama2-7b. Needs about 54 GB of RAM for the host store
# plus 13.5 GB of disk. Build first: ninja -C build bench_model_load
set -eu
model=${1:-models/llama2-7b.json}
dir=${2:-/tmp/horizon-$(basename "$model" .json)}
shard=${3:-5GB}
bin=${BENCH_BIN:-build/bench_model_load}
[ -f "$dir/config.json" ] || "$bin" write "$model" "$dir" "$shard"
# A fresh process: its peak RSS is the store plus what loading adds.
"$bin" load "$dir" 3
