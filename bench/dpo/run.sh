#!/usr/bin/env bash
# One DPO step in Horizon against TRL's DPO loss in PyTorch (float64) on the
# same pairs: loss, reward metrics and every gradient within 2e-2, for the
# sigmoid loss, the sigmoid loss with label smoothing and IPO. transformers
# writes two tiny random Llamas (policy and reference); Horizon computes the
# reference log-probabilities from the second and the step from the first.
# Usage (repo root, binaries in build/): bash bench/dpo/run.sh [DEVICE]
#   DEVICE: cuda (default: the streamed step on the GPU, bf16 GEMMs) or cpu
#   (the unstreamed fp32 reference). The reference log-probabilities are
#   computed on the CPU either way (a tiny model).
set -uo pipefail
device=${1:-cuda}
work=${WORK:-/tmp/horizon-dpo-check}
rm -rf "$work" && mkdir -p "$work"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build
python3 bench/dpo/dpo_check.py make "$work" || exit 1
status=0
for variant in "sigmoid 0.1 0" "sigmoid 0.5 0.2" "ipo 0.1 0"; do
  read -r loss beta smoothing <<<"$variant"
  grads="$work/grads-$loss-$beta-$smoothing.safetensors"
  echo "== $loss beta $beta label smoothing $smoothing ($device)"
  ./build/horizon gradients "$work/policy" --data "$work/prefs.jsonl" --objective dpo \
    --reference-weights "$work/reference" --beta "$beta" --loss-type "$loss" --label-smoothing "$smoothing" \
    --batch 8 --seq 128 --cache-dir none --device "$device" --out "$grads" || { status=1; continue; }
  python3 bench/dpo/dpo_check.py compare "$work" "$grads" --beta "$beta" --loss-type "$loss" \
    --label-smoothing "$smoothing" >"$grads.log" 2>&1
  rc=$?
  tail -8 "$grads.log"
  [ $rc -eq 0 ] || status=1
done
exit $status
