"""What a comparison runs: the engines, the models and their shapes from the
command line (NAME[:BxS] or PATH.json:BxS), each model's parameter count and
Hugging Face config, and how many random tokens its shape needs.
"""
import os

from model_config import ModelError, flops_shape, hf_llama_config, load_model, parameter_count

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ENGINES = ("horizon", "pytorch-gpu", "pytorch-gpu-fast", "pytorch-fsdp2-offload")
# The fast engine's last resort is pytorch-gpu's configuration, so the deepest model it trains is pytorch-gpu's
# (or a little deeper where compile + checkpointing keeps less); probing it would run up to four processes of at
# least four steps per probe to learn little. `--largest` leaves it out.
LARGEST_SKIPS = ("pytorch-gpu-fast",)
DEFAULT_MODELS = "llama-1b:8x2048,llama2-7b:4x2048"
DEFAULT_SHAPES = {"llama-1b": (8, 2048), "llama2-7b": (4, 2048)}


class CompareError(Exception):
    """A problem with the command line or the setup, reported in one line."""


class ModelEntry:
    def __init__(self, name, path, model, batch, seq):
        self.name, self.path, self.model, self.batch, self.seq = name, path, model, batch, seq
        self.params = parameter_count(model)
        self.layers, self.hidden = flops_shape(model)
        self.hf_config = hf_llama_config(model)
        self.vocab = int(model["config"]["vocab"])


def parse_shape(text, where):
    try:
        b, s = text.lower().split("x")
        batch, seq = int(b), int(s)
    except ValueError:
        raise CompareError(f"{where}: shape '{text}' is not BxS, e.g. 8x2048")
    if batch < 1 or seq < 1:
        raise CompareError(f"{where}: batch and sequence length must be positive, got {text}")
    return batch, seq


def resolve_model(text):
    """'llama-1b', 'llama-1b:8x2048' or 'path/to/model.json:4x128' -> ModelEntry."""
    name, _, shape = text.partition(":")
    path = name if name.endswith(".json") or os.sep in name else os.path.join(REPO, "models", name + ".json")
    short = os.path.splitext(os.path.basename(path))[0]
    if shape:
        batch, seq = parse_shape(shape, f"--models {text}")
    elif short in DEFAULT_SHAPES:
        batch, seq = DEFAULT_SHAPES[short]
    else:
        raise CompareError(f"--models {text}: no default shape for '{short}'; write it as {short}:BxS")
    try:
        model = load_model(path)
        return ModelEntry(short, path, model, batch, seq)
    except ModelError as e:
        raise CompareError(str(e))


def parse_engines(text):
    engines = [e.strip() for e in text.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise CompareError(f"--engines: unknown {unknown or 'empty list'}; choose from {', '.join(ENGINES)}")
    return engines


def token_count(batch, seq):
    """Enough random tokens for distinct windows and a validation split of at least one window at 1%."""
    return max(1 << 20, 32 * (batch * seq + 1), 200 * (seq + 1))
