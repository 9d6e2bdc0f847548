"""What the comparison needs from a native model file (models/*.json): the
parameter count Horizon trains (the N of the FLOP formula), the Hugging Face
Llama configuration that builds the same model in transformers, and copies
of the model at another depth for the largest-model search.

Only plain Llama models (RMSNorm, SwiGLU, RoPE, no biases, no sliding window,
no rope scaling) are accepted: those are the ones LlamaForCausalLM rebuilds
with the same parameters, so every engine trains the same model.
"""
import copy
import json
import math

# The block parameters of a plain Llama layer, by their native names.
LLAMA_BLOCK_PARAMS = frozenset({
    "input_layernorm", "q_proj", "k_proj", "v_proj", "o_proj", "post_attention_layernorm", "gate_proj", "up_proj",
    "down_proj",
})
REQUIRED_CONFIG = ("vocab", "hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate")


class ModelError(ValueError):
    """A model file the comparison cannot use; the message names the file and the fix."""


def load_model(path):
    try:
        with open(path) as f:
            model = json.load(f)
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file ({e.strerror}); pass models/NAME.json or a model name")
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not JSON ({e})")
    if model.get("format") != "horizon-model" or not isinstance(model.get("config"), dict):
        raise ModelError(f"{path}: not a native Horizon model file (format 'horizon-model' with a config block)")
    model.setdefault("name", path)
    return model


def dimension(expr, config, where):
    """Value of a shape entry: an integer, a config key, or a product of them ("heads*head_dim")."""
    if isinstance(expr, int):
        return expr
    value = 1
    for factor in str(expr).split("*"):
        factor = factor.strip()
        if factor.isdigit():
            value *= int(factor)
        elif factor in config and isinstance(config[factor], (int, float)):
            value *= int(config[factor])
        else:
            raise ModelError(f"{where}: shape entry '{expr}' uses '{factor}', which is no number and no config key")
    return value


def parameter_count(model):
    """Parameters Horizon trains: each checkpoint name counted once (tied weights share one), repeated stages
    once per instance."""
    config = model["config"]
    seen = set()
    total = 0
    for stage in model.get("stages", []):
        repeat = stage.get("repeat")
        instances = 1 if repeat is None else dimension(repeat, config, f"{model['name']}: stage {stage['name']}")
        for p in stage.get("params", []):
            where = f"{model['name']}: stage {stage['name']}, param {p['name']}"
            numel = math.prod(dimension(d, config, where) for d in p["shape"])
            name = p.get("checkpoint", f"{stage['name']}.{p['name']}")
            per_instance = repeat is not None and "{i}" in name
            if name in seen:
                continue
            seen.add(name)
            total += numel * (instances if per_instance else 1)
    return total


def check_plain_llama(model):
    """Raises ModelError unless LlamaForCausalLM builds exactly this model."""
    name, config = model["name"], model["config"]
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise ModelError(f"{name}: config misses {', '.join(missing)}; the comparison needs a Llama-family model")
    for key in ("rope_scaling_factor", "window"):
        if config.get(key):
            raise ModelError(f"{name}: config has '{key}'; the comparison supports plain Llama models only")
    blocks = [s for s in model.get("stages", []) if s.get("repeat")]
    if len(blocks) != 1:
        raise ModelError(f"{name}: expected one repeated block stage, found {len(blocks)}")
    params = {p["name"] for p in blocks[0].get("params", [])}
    if params != LLAMA_BLOCK_PARAMS:
        extra, absent = sorted(params - LLAMA_BLOCK_PARAMS), sorted(LLAMA_BLOCK_PARAMS - params)
        raise ModelError(f"{name}: block parameters differ from a plain Llama layer (extra {extra}, missing {absent}); "
                         "biases, GPT-2 layers and the like are not compared")
    for stage in model.get("stages", []):
        for op in stage.get("ops", []):
            if op.get("op") == "attention" and op.get("window"):
                raise ModelError(f"{name}: sliding-window attention is not compared")


def hf_llama_config(model):
    """LlamaConfig keyword arguments for the same model, the fields frontend/hf_export.cpp writes for a Llama.
    rope_theta stays a top-level key; the worker moves it to rope_parameters for transformers 5."""
    check_plain_llama(model)
    c = model["config"]
    return {
        "vocab_size": int(c["vocab"]),
        "hidden_size": int(c["hidden"]),
        "intermediate_size": int(c["intermediate"]),
        "num_hidden_layers": int(c["layers"]),
        "num_attention_heads": int(c["heads"]),
        "num_key_value_heads": int(c["kv_heads"]),
        "head_dim": int(c["head_dim"]),
        "max_position_embeddings": int(c.get("max_seq", 2048)),
        "rms_norm_eps": float(c.get("rms_eps", 1e-5)),
        "rope_theta": float(c.get("rope_theta", 10000.0)),
        "initializer_range": float(c.get("init_std", 0.02)),
        "tie_word_embeddings": bool(c.get("tie_embeddings", False)),
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "use_cache": False,
    }


def with_layers(model, layers):
    """The same model at another depth, named after its layer count."""
    deeper = copy.deepcopy(model)
    deeper["config"]["layers"] = int(layers)
    deeper["name"] = f"{model['name']}-{layers}L"
    return deeper


def flops_shape(model):
    """(layers, hidden) for the attention term of the FLOP formula."""
    c = model["config"]
    return int(c["layers"]), int(c["hidden"])
