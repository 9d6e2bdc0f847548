"""The arithmetic and parsing behind every number in the comparison: one
FLOP formula for all engines, medians of timed steps, Horizon's
metrics.jsonl, out-of-memory messages, sizes, and bench_optimizer's output.
Pure functions, tested by test_compare.py without a GPU or PyTorch.
"""
import json
import re
import statistics

UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 10**3, "MB": 10**6, "GB": 10**9,
         "TB": 10**12}


def flops_per_token(params, layers, hidden, seq):
    """Model FLOPs per trained token, the formula Horizon's trainer and planner use: 6 per parameter (forward
    and backward) plus attention's 12 * layers * hidden * seq. Recompute is not counted."""
    return 6.0 * params + 12.0 * layers * hidden * seq


def model_tflops(params, layers, hidden, seq, tokens_per_s):
    return flops_per_token(params, layers, hidden, seq) * tokens_per_s / 1e12


def tokens_per_second(batch, seq, step_seconds):
    return batch * seq / step_seconds


def median(values):
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def parse_size(text):
    """'1.95 GiB' -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)\s*", text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(round(float(m.group(1)) * UNITS[m.group(2)]))


def format_bytes(n):
    """Binary units, two decimals, like Horizon's format_bytes; '—' for an unknown size."""
    if n is None:
        return "—"
    value, unit = float(n), "B"
    for u in ("KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            break
        value /= 1024
        unit = u
    return f"{value:.0f} B" if unit == "B" else f"{value:.2f} {unit}"


def parse_metrics_jsonl(text):
    """Records of Horizon's metrics.jsonl (cli/progress.cpp writes one per step). A last line without its
    newline may still be being written and is skipped; any other bad line is an error naming it."""
    records = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                break
            raise ValueError(f"metrics.jsonl line {i + 1}: not JSON ({e}): {line[:120]}")
        if not isinstance(record, dict) or "step" not in record or "step_ms" not in record:
            raise ValueError(f"metrics.jsonl line {i + 1}: no 'step' and 'step_ms' fields: {line[:120]}")
        records.append(record)
    return records


def timed_records(records, warmup, steps):
    """The records of steps warmup+1 .. warmup+steps (1-based, as Horizon counts), in order. Raises if any is
    missing, naming the steps that are."""
    by_step = {int(r["step"]): r for r in records}
    wanted = range(warmup + 1, warmup + steps + 1)
    missing = [s for s in wanted if s not in by_step]
    if missing:
        raise ValueError(f"metrics.jsonl lacks steps {missing} (has {sorted(by_step)})")
    return [by_step[s] for s in wanted]


class OutOfMemory:
    """What an engine said when it ran out of memory: where ('gpu', 'host' or 'plan' for a step Horizon refused
    before allocating), the size of the allocation that failed or the total the step needs, and the line."""

    def __init__(self, where, bytes_, what, line):
        self.where, self.bytes, self.what, self.line = where, bytes_, what, line

    def describe(self):
        size = f"{self.what} {format_bytes(self.bytes)}" if self.bytes is not None else "size not reported"
        if self.where == "plan":
            return f"OOM, refused before allocating ({size})"
        return f"{self.where.upper()} OOM ({size})"

    def as_dict(self):
        return {"where": self.where, "bytes": self.bytes, "what": self.what, "line": self.line}


_SIZE = r"([0-9]+(?:\.[0-9]+)?\s*(?:[KMGT]i?B|B))"


def parse_oom(text):
    """OutOfMemory if `text` (an exception message or a log tail) reports running out of memory, else None.
    Recognized: PyTorch's CUDA allocator ('Tried to allocate 1.95 GiB'), its CPU allocator ('you tried to
    allocate 123 bytes'), Horizon's refusal ('the step needs 91.20 GiB') and plain CUDA/host errors."""
    if not text:
        return None
    line_of = lambda m: text[text.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0].strip()
    m = re.search(r"Tried to allocate " + _SIZE, text)
    if m:
        return OutOfMemory("gpu", parse_size(m.group(1)), "tried to allocate", line_of(m))
    m = re.search(r"[Yy]ou tried to allocate ([0-9]+) bytes", text)
    if m:
        return OutOfMemory("host", int(m.group(1)), "tried to allocate", line_of(m))
    m = re.search(r"(GPU|host) memory: the step needs " + _SIZE, text)
    if m:
        return OutOfMemory("plan", parse_size(m.group(2)), f"{m.group(1)} memory needed", line_of(m))
    m = re.search(r"CUDA out of memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY|CUBLAS_STATUS_ALLOC_FAILED",
                  text)
    if m:
        return OutOfMemory("gpu", None, "", line_of(m))
    m = re.search(r"std::bad_alloc|Cannot allocate memory|can't allocate memory|MemoryError", text)
    if m:
        return OutOfMemory("host", None, "", line_of(m))
    m = re.search(r"out of memory", text, re.IGNORECASE)
    if m:
        line = line_of(m)
        return OutOfMemory("gpu" if re.search(r"cuda|gpu|device", line, re.IGNORECASE) else "host", None, "", line)
    return None


def parse_compute_apps(text, pid):
    """GPU memory in bytes that `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`
    lists for `pid` (MiB in the output), or None where it lists none or says [N/A]."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit() or int(parts[0]) != pid:
            continue
        if parts[1].isdigit():
            return int(parts[1]) * 2**20
    return None


def parse_horizon_device_memory(text):
    """The device memory Horizon's CUDA backend allocates, from its 'cuda: ... | device memory 12.34 GiB' line."""
    m = re.search(r"device memory " + _SIZE, text)
    return parse_size(m.group(1)) if m else None


def parse_bench_optimizer(text):
    """The figures of build/bench_optimizer's report (bench/optimizer.cpp)."""
    out = {}
    m = re.search(r"AdamW, JIT (\S+), (\S+) moments: ([0-9]+) params, ([0-9]+) threads", text)
    if m:
        out.update(isa=m.group(1), moments=m.group(2), params=int(m.group(3)), threads=int(m.group(4)))
    m = re.search(r"bytes per param: ([0-9]+)", text)
    if m:
        out["bytes_per_param"] = int(m.group(1))
    m = re.search(r"median of ([0-9]+) steps: ([0-9.]+) ms \(fastest ([0-9.]+)\)\s*->\s*([0-9.]+) Gparam/s, ([0-9.]+) GB/s",
                  text)
    if not m:
        raise ValueError("bench_optimizer printed no 'median of N steps: ... Gparam/s' line")
    out.update(steps=int(m.group(1)), median_ms=float(m.group(2)), fastest_ms=float(m.group(3)),
               gparams_per_s=float(m.group(4)), gb_per_s=float(m.group(5)))
    m = re.search(r"same traffic as AdamW, no math: ([0-9.]+) GB/s", text)
    if m:
        out["same_traffic_gb_per_s"] = float(m.group(1))
    return out


def parse_count(text):
    """'256M' -> 256000000: decimal multiples k, M, G, as bench_optimizer reads --params."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kMG]?)\s*", str(text))
    if not m:
        raise ValueError(f"not a count: {text!r} (e.g. 1G, 256M, 1000000)")
    value = int(round(float(m.group(1)) * {"": 1, "k": 10**3, "M": 10**6, "G": 10**9}[m.group(2)]))
    if value < 1:
        raise ValueError(f"not a positive count: {text!r}")
    return value
