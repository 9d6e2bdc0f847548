#!/usr/bin/env bash
# Regenerates the Llama-family model files in models/ from their Hugging Face
# shapes with `horizon import`, so the checked-in files are exactly what the
# importer produces. Usage: models/regenerate.sh [path/to/horizon]
set -euo pipefail
cd "$(dirname "$0")"
horizon=${1:-../build/horizon}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name arch hidden intermediate layers heads kv_heads vocab max_pos eps theta tie head_dim
# (head_dim "-": none given, so hidden / heads)
while read -r name arch hidden inter layers heads kv vocab maxpos eps theta tie head_dim; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  extra=""
  [[ "$head_dim" != "-" ]] && extra="\"head_dim\": $head_dim, "
  cat >"$tmp/config.json" <<JSON
{"architectures": ["$arch"], "hidden_act": "silu", "initializer_range": 0.02, "rope_scaling": null, $extra
 "hidden_size": $hidden, "intermediate_size": $inter, "num_hidden_layers": $layers,
 "num_attention_heads": $heads, "num_key_value_heads": $kv, "vocab_size": $vocab,
 "max_position_embeddings": $maxpos, "rms_norm_eps": $eps, "rope_theta": $theta, "tie_word_embeddings": $tie}
JSON
  "$horizon" import "$tmp/config.json" --name "$name" --output "$name.json"
done <<'TABLE'
# byte-level demo/test model, a few million parameters
tiny       LlamaForCausalLM  256  688   4  4  4  256   1024 1e-5 10000.0   false -
# Qwen2-style test model: q/k/v biases, grouped-query attention, tied embeddings
tiny-qwen  Qwen2ForCausalLM  128  344   2  4  2  256   1024 1e-6 1000000.0 true  -
# Qwen3-style test model, about 1M parameters: per-head q/k norms, grouped-query
# attention, heads * head_dim (256) wider than hidden (128), tied embeddings
tiny-qwen3 Qwen3ForCausalLM  128  384   4  4  2  256   1024 1e-6 1000000.0 true  64
llama-1b   LlamaForCausalLM  2048 5504  16 16 16 32000 4096 1e-5 10000.0   false -
llama2-7b  LlamaForCausalLM  4096 11008 32 32 32 32000 4096 1e-5 10000.0   false -
llama2-13b LlamaForCausalLM  5120 13824 40 40 40 32000 4096 1e-5 10000.0   false -
llama-70b  LlamaForCausalLM  8192 28672 80 64 8  32000 4096 1e-5 10000.0   false -
# a 120B Llama-style shape (grouped-query attention as llama-70b), for planning the largest boxes
llama-120b LlamaForCausalLM  12288 32768 78 96 8  32000 4096 1e-5 10000.0   false -
TABLE
