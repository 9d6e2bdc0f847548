"""Python ports of what a PyTorch run must reproduce exactly to follow a
Horizon training run step for step: the batches, the learning rate, the
clipping factor and which tensors are weight-decayed.

Each piece follows its C++ source line by line; a change there must be made
here too (bench/pytorch/test_ports.py holds values the C++ produced and
fails when the two drift apart):

  BatchSampler, split_train    data/batch_sampler.cpp, data/token_dataset.cpp
  read/write_token_file        data/token_file.cpp (docs/token-file.md)
  lr_at                        runtime/lr_schedule.cpp
  clip_factor                  runtime/trainer.cpp (gradient_scale)
  decay_by_name                frontend/model_json.cpp (the "decay" default)

Standard library only, so the tests run where numpy and torch are missing.
"""
import array
import json
import math
import os
import struct
import sys

MASK64 = (1 << 64) - 1
TOKEN_MAGIC = b"HZTOKENS"


class BatchSampler:
    """data::BatchSampler: B windows of S+1 tokens per batch, starts drawn by
    SplitMix64 and a rejection-sampled bounded draw from one 64-bit state."""

    def __init__(self, tokens, batch, seq, seed):
        if len(tokens) < seq + 1:
            raise ValueError(f"the split has {len(tokens)} tokens, but --seq {seq} needs windows of {seq + 1}")
        self.tokens, self.batch, self.seq = tokens, batch, seq
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound):
        threshold = ((1 << 64) - bound) % bound  # C++: (0 - bound) % bound in uint64
        while True:
            x = self.next_u64()
            if x >= threshold:
                return x % bound

    def next(self):
        """(tokens, targets), each a list of `batch` rows of `seq` ints."""
        starts = len(self.tokens) - self.seq
        rows, targets = [], []
        for _ in range(self.batch):
            s = self.below(starts)
            rows.append(list(self.tokens[s:s + self.seq]))
            targets.append(list(self.tokens[s + 1:s + self.seq + 1]))
        return rows, targets


def split_train(tokens, val_fraction):
    """data::TokenDataset: the training split is everything before the last
    floor(n * val_fraction) tokens."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    n = len(tokens)
    return tokens[:n - int(math.floor(n * val_fraction))]


def lr_at(step, kind, peak, warmup, total, min_ratio):
    """runtime::LrSchedule::at for 0-based `step`."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    if kind == "constant":
        return peak
    span = max(1, total - warmup - 1)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    floor = peak * min_ratio
    if kind == "linear":
        return peak - (peak - floor) * progress
    if kind != "cosine":
        raise ValueError(f"--schedule must be constant, cosine or linear, got '{kind}'")
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(3.141592653589793 * progress))


def clip_factor(norm, clip):
    """runtime::gradient_scale for M = 1: the factor on the mean gradient."""
    factor = 1.0
    if clip > 0 and norm > clip:
        factor = clip / norm
    if not math.isfinite(norm):
        factor = 0.0
    return factor


def write_token_file(path, tokens, vocab):
    """data::write_token_file: uint16 when vocab <= 65536, else uint32; written
    to PATH.tmp and renamed, so an interrupted write leaves no partial file."""
    if not 1 <= vocab < 2**31:
        raise ValueError(f"{path}: vocab must be in [1, 2^31), got {vocab}")
    width = 2 if vocab <= 65536 else 4
    for i, t in enumerate(tokens):
        if not 0 <= t < vocab:
            raise ValueError(f"{path}: token {i} is {t}, outside [0, {vocab})")
    body = array.array(_typecode(width), tokens)
    if sys.byteorder != "little":
        body.byteswap()
    with open(path + ".tmp", "wb") as f:
        f.write(TOKEN_MAGIC + struct.pack("<IIQQ", 1, width, len(tokens), vocab))
        body.tofile(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def read_token_file(path):
    """(tokens, vocab) of a token file; ValueError naming the file and the problem."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != TOKEN_MAGIC:
        raise ValueError(f"{path}: not a token file (no HZTOKENS magic); see docs/token-file.md, or omit --data "
                         "to let the script generate tokens")
    version, width, count, vocab = struct.unpack_from("<IIQQ", data, 8)
    if version != 1 or width not in (2, 4):
        raise ValueError(f"{path}: version {version}, {width} bytes per token; this script reads version 1, "
                         "2 or 4 bytes per token")
    if len(data) != 32 + count * width:
        raise ValueError(f"{path}: the header promises {count} tokens of {width} bytes, the file has "
                         f"{len(data) - 32} bytes after it")
    tokens = array.array(_typecode(width))
    tokens.frombytes(data[32:])
    if sys.byteorder != "little":
        tokens.byteswap()
    return tokens, vocab


def _typecode(width):
    """The array typecode of unsigned integers `width` bytes wide."""
    for code in ("H", "I", "L"):
        if array.array(code).itemsize == width:
            return code
    raise ValueError(f"no unsigned {width}-byte array type on this machine")


def decay_by_name(model):
    """{checkpoint name: whether AdamW decays it} for a native model file
    (parsed JSON): "decay" where given, else rank >= 2 (norms and biases are
    not decayed); a block's "{i}" expands to every instance. A tied tensor
    (two stages naming one checkpoint) must agree with itself."""
    config = model.get("config", {})
    out = {}
    for stage in model["stages"]:
        repeat = stage.get("repeat", 1)
        instances = int(config[repeat]) if isinstance(repeat, str) else int(repeat)
        for p in stage.get("params", []):
            decay = p["decay"] if "decay" in p else len(p["shape"]) >= 2
            for i in range(instances):
                name = p["checkpoint"].replace("{i}", str(i))
                if out.get(name, decay) != decay:
                    raise ValueError(f"{name}: stages disagree on its weight decay; give both the same \"decay\"")
                out[name] = decay
    return out


def load_model_json(path):
    with open(path) as f:
        model = json.load(f)
    if model.get("format") != "horizon-model":
        raise ValueError(f"{path}: not a native model file (\"format\": \"horizon-model\"); convert a Hugging Face "
                         "config with `horizon import CONFIG --output MODEL.json` first")
    return model
