#!/usr/bin/env python3
"""Benchmarks Horizon against the engines users would pick instead, on one
GPU box, with the same model shapes and the same random tokens, in one
sitting so the machine's drift cancels.

    python3 bench/compare/compare.py                      # llama-1b 8x2048, llama2-7b 4x2048, CPU AdamW
    python3 bench/compare/compare.py --largest --record   # + the deepest model each engine trains; append to RESULTS
    python3 bench/compare/compare.py --dry-run            # print every command, run nothing

Engines: horizon (build/horizon train --device cuda), pytorch-gpu (HF
LlamaForCausalLM on the GPU, bf16 autocast over fp32 weights, activation
checkpointing, fused AdamW) and pytorch-fsdp2-offload (FSDP2 with
CPUOffloadPolicy on one GPU, CPU AdamW). Each runs in a process of its own;
see bench/compare/README.md for what is measured and how.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from child_process import log_tail, run_child  # noqa: E402
from depth_search import DepthSearch  # noqa: E402
from measurements import (format_bytes, median, model_tflops, parse_bench_optimizer, parse_count,  # noqa: E402
                          parse_horizon_device_memory, parse_metrics_jsonl, parse_oom, timed_records,
                          tokens_per_second)
from model_config import (ModelError, flops_shape, hf_llama_config, load_model, parameter_count,  # noqa: E402
                          with_layers)
import report  # noqa: E402
from token_file import ensure_random_token_file  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
ENGINES = ("horizon", "pytorch-gpu", "pytorch-fsdp2-offload")
DEFAULT_MODELS = "llama-1b:8x2048,llama2-7b:4x2048"
DEFAULT_SHAPES = {"llama-1b": (8, 2048), "llama2-7b": (4, 2048)}
TORCH_WORKER = os.path.join(HERE, "torch_engines.py")


class CompareError(Exception):
    """A problem with the command line or the setup, reported in one line."""


# --- what to run --------------------------------------------------------------------------------------------------

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


# --- one training run ---------------------------------------------------------------------------------------------

def row(kind, entry, engine, batch, seq):
    return {"kind": kind, "model": entry.name, "engine": engine, "batch": batch, "seq": seq, "status": "not run",
            "params": entry.params, "layers": entry.layers, "hidden": entry.hidden, "tokens_per_s": None,
            "tflops": None, "median_ms": None, "step_ms": [], "gpu_peak_bytes": None, "gpu_peak_source": None,
            "gpu_used_bytes": None, "gpu_used_note": "", "host_rss_bytes": None, "detail": "", "notes": [],
            "log": ""}


def finish_timing(r, step_ms, batch, seq):
    r["step_ms"] = step_ms
    r["median_ms"] = median(step_ms)
    r["tokens_per_s"] = tokens_per_second(batch, seq, r["median_ms"] / 1e3)
    r["tflops"] = model_tflops(r["params"], r["layers"], r["hidden"], seq, r["tokens_per_s"])


def take_outcome(r, outcome):
    r["host_rss_bytes"] = outcome.max_rss_bytes
    r["gpu_used_bytes"] = outcome.gpu_used_bytes
    r["gpu_used_note"] = outcome.gpu_used_note
    r["log"] = outcome.log_path
    r["wall_s"] = round(outcome.wall_s, 1)


def failure(r, outcome, text):
    """Status and detail of a run that did not deliver its steps."""
    oom = parse_oom(text)
    if oom is not None:
        r["status"], r["detail"], r["oom"] = "oom", oom.describe(), oom.as_dict()
    elif outcome.timed_out:
        r["status"], r["detail"] = "timeout", outcome.describe_end()
    elif outcome.signal is not None:
        r["status"], r["detail"] = "killed", outcome.describe_end()
    else:
        r["status"] = "error"
        last = [l for l in text.strip().splitlines() if l.strip()]
        r["detail"] = f"{outcome.describe_end()}: {last[-1][:200] if last else 'no output'}"


class Runner:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work_dir)
        self.data_files = {}

    def data_file(self, vocab, batch, seq):
        path = os.path.join(self.work, "data", f"random-v{vocab}-seed{self.args.seed}.tokens")
        count = max(self.data_files.get(path, 0), token_count(batch, seq))
        if not self.args.dry_run and self.data_files.get(path) != count:
            ensure_random_token_file(path, count, vocab, self.args.seed)
        self.data_files[path] = count
        return path

    def binary_env(self, binary):
        env = dict(os.environ)
        lib = os.path.dirname(os.path.abspath(binary))
        env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env

    def show(self, argv, what):
        print(f"[dry-run] {what}:\n  {' '.join(shlex.quote(str(a)) for a in argv)}")

    # Horizon: `horizon train`, per-step figures from DIR/metrics.jsonl; stopped once warm-up + timed steps are
    # in, so the extra last step (its validation pass) and the checkpoint write never run.
    def horizon(self, kind, entry, model_path, batch, seq, warmup, steps, run_dir, timeout):
        r = row(kind, entry, "horizon", batch, seq)
        a = self.args
        save = os.path.join(run_dir, "save")
        metrics = os.path.join(save, "metrics.jsonl")
        data = self.data_file(entry.vocab, batch, seq)
        argv = [a.horizon, "train", model_path, "--device", a.horizon_device, "--data", data, "--batch", str(batch),
                "--seq", str(seq), "--steps", str(warmup + steps + 1), "--save", save, "--lr", str(a.lr),
                "--schedule", "constant", "--clip", str(a.clip), "--seed", str(a.seed), "--eval-batches", "1",
                "--val-fraction", "0.01"]
        if a.dry_run:
            self.show(argv, f"{entry.name} {batch}x{seq} horizon")
            return r
        if not os.access(a.horizon, os.X_OK):
            r["status"], r["detail"] = "error", f"no executable {a.horizon} (build it, or pass --horizon PATH)"
            return r
        os.makedirs(run_dir, exist_ok=True)
        if os.path.exists(metrics):
            os.remove(metrics)  # the trainer appends

        def delivered():
            try:
                with open(metrics) as f:
                    return len(parse_metrics_jsonl(f.read())) >= warmup + steps
            except (OSError, ValueError):
                return False

        outcome = run_child(argv, os.path.join(run_dir, "log.txt"), timeout, env=self.binary_env(a.horizon),
                            stop_when=delivered, gpu_poll=a.horizon_device != "cpu")
        take_outcome(r, outcome)
        log = log_tail(outcome.log_path, 400)
        try:
            with open(metrics) as f:
                records = timed_records(parse_metrics_jsonl(f.read()), warmup, steps)
        except (OSError, ValueError) as e:
            failure(r, outcome, log)
            if r["status"] == "error" and outcome.ok:
                r["detail"] = f"no timed steps in {metrics}: {e}"
            return r
        r["status"] = "ok"
        finish_timing(r, [float(x["step_ms"]) for x in records], batch, seq)
        r["metrics_rss_max_bytes"] = max(int(x.get("rss_bytes", 0)) for x in records)
        device_bytes = parse_horizon_device_memory(log)
        if device_bytes is not None:
            r["gpu_peak_bytes"], r["gpu_peak_source"] = device_bytes, "Horizon's 'device memory' line"
        elif a.horizon_device != "cpu":
            r["notes"].append("Horizon printed no 'device memory' line: GPU peak not available")
        if a.horizon_device == "cpu":
            r["notes"].append("ran with --device cpu (plumbing test, not a GPU figure)")
        return r

    # PyTorch engines: torch_engines.py in a process of its own, its result in a JSON file.
    def torch_engine(self, kind, entry, hf_config, engine, batch, seq, warmup, steps, run_dir, timeout):
        r = row(kind, entry, engine, batch, seq)
        a = self.args
        spec_path, result_path = os.path.join(run_dir, "spec.json"), os.path.join(run_dir, "result.json")
        spec = {"engine": engine, "model": entry.name, "hf_config": hf_config, "batch": batch, "seq": seq,
                "warmup": warmup, "steps": steps, "data": self.data_file(entry.vocab, batch, seq), "seed": a.seed,
                "lr": a.lr, "clip": a.clip, "result": result_path}
        argv = [a.python, TORCH_WORKER, spec_path]
        if a.dry_run:
            self.show(argv, f"{entry.name} {batch}x{seq} {engine} (spec: {json.dumps({k: v for k, v in spec.items() if k != 'hf_config'})})")
            return r
        os.makedirs(run_dir, exist_ok=True)
        for stale in (result_path,):
            if os.path.exists(stale):
                os.remove(stale)
        with open(spec_path, "w") as f:
            json.dump(spec, f, indent=1)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        outcome = run_child(argv, os.path.join(run_dir, "log.txt"), timeout, env=env)
        take_outcome(r, outcome)
        try:
            with open(result_path) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {}
        r["notes"] += result.get("notes", [])
        for key in ("optimizer_impl", "versions", "device", "attn_implementation"):
            if key in result:
                r[key] = result[key]
        if result.get("gpu_peak_bytes") is not None:
            r["gpu_peak_bytes"], r["gpu_peak_source"] = result["gpu_peak_bytes"], "torch.cuda.max_memory_allocated"
        if result.get("params") is not None and result["params"] != entry.params:
            r["notes"].append(f"PyTorch counts {result['params']:,} parameters, Horizon's model {entry.params:,}")
        if engine == "pytorch-fsdp2-offload" and result.get("optimizer_impl"):
            r["notes"].append(f"CPU AdamW: {result['optimizer_impl']}")
        if result.get("status") == "ok":
            r["status"] = "ok"
            finish_timing(r, [s["ms"] for s in result["steps"][warmup:]], batch, seq)
            return r
        text = result.get("message", "") or log_tail(outcome.log_path, 60)
        failure(r, outcome, text)
        if r["status"] in ("oom", "error") and result.get("phase") not in (None, "start"):
            r["detail"] += f" in {result['phase']}"
        if r["status"] in ("timeout", "killed") and result.get("steps"):
            r["detail"] += f" after {len(result['steps'])} steps"
        return r

    def train(self, kind, entry, engine, batch, seq, warmup, steps, run_dir, timeout):
        """One run of one engine. An entry without a path (a depth probe) is written to RUN_DIR/model.json."""
        if engine == "horizon":
            model_path = entry.path
            if model_path is None:
                model_path = os.path.join(run_dir, "model.json")
                if not self.args.dry_run:
                    os.makedirs(run_dir, exist_ok=True)
                    with open(model_path, "w") as f:
                        json.dump(entry.model, f, indent=1)
            return self.horizon(kind, entry, model_path, batch, seq, warmup, steps, run_dir, timeout)
        return self.torch_engine(kind, entry, entry.hf_config, engine, batch, seq, warmup, steps, run_dir, timeout)


def describe(r):
    head = f"[{r['model']} {r['batch']}x{r['seq']} / {r['engine']}]"
    if r["status"] == "ok":
        return (f"{head} {r['tokens_per_s']:,.0f} tokens/s, {r['tflops']:.1f} TFLOPS (median {r['median_ms']:.1f} ms "
                f"of {len(r['step_ms'])} steps), GPU peak {format_bytes(r['gpu_peak_bytes'])}, "
                f"host peak RSS {format_bytes(r['host_rss_bytes'])}")
    return f"{head} {r['status']}: {r['detail']}" + (f"  (log: {r['log']})" if r.get("log") else "")


# --- the largest model each engine trains ---------------------------------------------------------------------------

FITS_NOT = ("oom", "killed")  # outcomes that mean "too big"; timeouts and errors stop the search


def largest(runner, engine, base):
    a = runner.args
    batch, seq = base.batch, base.seq
    search = DepthSearch(a.largest_start, a.largest_max, a.largest_resolution)
    best, probes = None, []
    while (layers := search.next_probe()) is not None:
        model = with_layers(base.model, layers)
        entry = ModelEntry(base.name, None, model, batch, seq)
        run_dir = os.path.join(runner.work, "largest", f"{engine}-{layers}L")
        r = runner.train("largest", entry, engine, batch, seq, 1, 1, run_dir, a.probe_timeout)
        if a.dry_run:
            print(f"[dry-run] ... then more probes: double the depth while it fits, then bisect "
                  f"(start {a.largest_start}, at most {a.largest_max} layers)")
            return r
        print(f"  probe {engine} {layers} layers ({entry.params / 1e9:.2f}B params): "
              + ("fits" if r["status"] == "ok" else f"{r['status']}: {r['detail']}"), flush=True)
        probes.append(f"{layers}:{'fit' if r['status'] == 'ok' else r['status']}")
        fits = r["status"] == "ok"
        too_big = r["status"] in FITS_NOT or (r["status"] == "timeout" and a.probe_timeout_fits_not)
        if fits:
            best = r
        elif not too_big:
            result = best or r
            result["notes"].append(f"search stopped by a {r['status']} at {layers} layers: {r['detail']}")
            result["notes"].append("probes " + ", ".join(probes))
            return result
        search.record(layers, fits)
    result = best or r
    if best is None:
        result["status"], result["detail"] = "oom", search.describe()
    result["notes"].append(search.describe() + "; probes " + ", ".join(probes))
    return result


# --- CPU optimizer ----------------------------------------------------------------------------------------------

def optimizer_rows(runner):
    a = runner.args
    n, threads = a.optimizer_params, a.optimizer_threads or os.cpu_count()
    rows = []
    h = {"engine": "horizon", "label": "Horizon `bench_optimizer` (JIT)", "state": "split fp32 master, bf16 moments",
         "status": "not run", "notes": []}
    argv = [a.bench_optimizer, "--params", str(n), "--threads", str(threads), "--iters", str(a.optimizer_iters)]
    t = {"engine": "torch", "label": "`torch.optim.AdamW(fused=True)`, CPU", "state": "fp32 param and moments",
         "status": "not run", "notes": []}
    run_dir = os.path.join(runner.work, "optimizer")
    spec_path = os.path.join(run_dir, "spec.json")
    spec = {"engine": "torch-adamw-cpu", "params": n, "threads": threads, "iters": a.optimizer_iters, "lr": a.lr,
            "seed": a.seed, "result": os.path.join(run_dir, "torch-result.json")}
    torch_argv = [a.python, TORCH_WORKER, spec_path]
    if a.dry_run:
        runner.show(argv, "CPU optimizer, Horizon")
        runner.show(torch_argv, f"CPU optimizer, PyTorch (spec: {json.dumps(spec)})")
        return []
    os.makedirs(run_dir, exist_ok=True)
    if os.access(a.bench_optimizer, os.X_OK):
        outcome = run_child(argv, os.path.join(run_dir, "bench_optimizer.txt"), a.timeout,
                            env=runner.binary_env(a.bench_optimizer), gpu_poll=False)
        text = log_tail(outcome.log_path, 100)
        try:
            h.update(parse_bench_optimizer(text), status="ok")
            h["label"] = f"Horizon `bench_optimizer` (JIT {h.get('isa', '?')})"
        except ValueError as e:
            failure(h, outcome, text)
            h["detail"] = h["detail"] or str(e)
    else:
        h["status"], h["detail"] = "error", f"no executable {a.bench_optimizer}"
    rows.append(h)
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    if os.path.exists(spec["result"]):
        os.remove(spec["result"])
    outcome = run_child(torch_argv, os.path.join(run_dir, "torch.txt"), a.timeout,
                        env=dict(os.environ, PYTHONUNBUFFERED="1"), gpu_poll=False)
    try:
        with open(spec["result"]) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"status": "error", "message": log_tail(outcome.log_path, 20)}
    t["notes"] += result.get("notes", [])
    if result.get("status") == "ok":
        t.update({k: result[k] for k in ("median_ms", "gparams_per_s", "gb_per_s", "bytes_per_param", "threads",
                                         "optimizer_impl", "versions")}, status="ok")
        t["label"] = f"`torch.optim.AdamW({'fused=True' if result['optimizer_impl'] == 'fused' else 'foreach=True'})`, CPU"
    else:
        failure(t, outcome, result.get("message", ""))
    rows.append(t)
    for r in rows:
        print(f"[CPU AdamW / {r['engine']}] " + (f"{r['gparams_per_s']:.3f} Gparam/s, median {r['median_ms']:.1f} ms"
                                                   if r["status"] == "ok" else f"{r['status']}: {r.get('detail')}"))
    return rows


# --- the machine and the record -------------------------------------------------------------------------------------

def command_output(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info():
    info = {"host": platform.node(), "cores": os.cpu_count()}
    smi = command_output(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    if smi:
        name, memory, driver = ([p.strip() for p in smi.splitlines()[0].split(",")] + ["?", "?"])[:3]
        info["gpu"] = {"name": name, "memory": memory, "driver": driver, "count": len(smi.splitlines())}
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["host_ram"] = format_bytes(kib * 1024)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(l for l in f if l.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    return info


def git_commit():
    commit = command_output(["git", "rev-parse", "--short", "HEAD"], cwd=REPO) or "unknown"
    if commit != "unknown" and command_output(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO):
        commit += " with uncommitted changes"
    return commit


def append_record(path, text):
    with open(path, "a") as f:
        f.write("\n" + text.rstrip() + "\n")


# --- command line ---------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma list of {', '.join(ENGINES)} (default: all)")
    p.add_argument("--models", default=DEFAULT_MODELS,
                   help="comma list of NAME[:BxS] (models/NAME.json) or PATH.json:BxS (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    p.add_argument("--steps", type=int, default=10, help="timed steps; the median is reported (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per engine run (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate, constant (default: %(default)s)")
    p.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clipping, 0: off (default: 1.0)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random tokens and weights (default: 1)")
    p.add_argument("--largest", action="store_true", help="also find the deepest model each engine trains")
    p.add_argument("--largest-width", default="llama2-7b", help="model whose width the search keeps (default: llama2-7b)")
    p.add_argument("--largest-shape", default=None, help="BxS of the probes (default: that model's shape, 4x2048)")
    p.add_argument("--largest-start", type=int, default=8, help="first layer count tried (default: %(default)s)")
    p.add_argument("--largest-max", type=int, default=1024, help="deepest layer count tried (default: %(default)s)")
    p.add_argument("--largest-resolution", type=int, default=1, help="stop bisecting at this gap in layers (default: 1)")
    p.add_argument("--probe-timeout", type=float, default=1200, help="seconds per probe (default: %(default)s)")
    p.add_argument("--probe-timeout-fits-not", action="store_true",
                   help="count a probe that times out as too big instead of stopping the search")
    p.add_argument("--optimizer-params", default="1G", help="CPU AdamW comparison size, e.g. 256M; 0 skips it (default: 1G)")
    p.add_argument("--optimizer-threads", type=int, default=0, help="threads for both optimizers (default: all cores)")
    p.add_argument("--optimizer-iters", type=int, default=7, help="timed optimizer steps, at least 5 (default: 7)")
    p.add_argument("--optimizer-only", action="store_true", help="run only the CPU optimizer comparison")
    p.add_argument("--horizon", default=os.path.join(REPO, "build", "horizon"), help="the horizon binary")
    p.add_argument("--horizon-device", default="cuda", choices=("cuda", "cpu"),
                   help="--device for horizon train; cpu only to test the plumbing on a small model")
    p.add_argument("--bench-optimizer", default=os.path.join(REPO, "build", "bench_optimizer"))
    p.add_argument("--python", default=sys.executable, help="interpreter with PyTorch for the PyTorch engines")
    p.add_argument("--work-dir", default=os.path.join(REPO, "build", "compare"), help="data, logs and run folders")
    p.add_argument("--out", help="also write results.json and report.md here")
    p.add_argument("--record", action="store_true", help="append the run to bench/RESULTS.md")
    p.add_argument("--results-file", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--title", default="", help="words added to the RESULTS.md heading, e.g. 'partial run: peers only'")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)
    if args.warmup < 0 or args.steps < 1:
        raise CompareError("--warmup must be >= 0 and --steps >= 1")
    if args.optimizer_iters < 5:
        raise CompareError("--optimizer-iters must be at least 5 (bench_optimizer's minimum)")
    try:
        args.optimizer_params = 0 if str(args.optimizer_params).strip() == "0" else parse_count(args.optimizer_params)
    except ValueError as e:
        raise CompareError(f"--optimizer-params: {e}")
    args.engines = parse_engines(args.engines)
    args.horizon = os.path.abspath(args.horizon)
    args.bench_optimizer = os.path.abspath(args.bench_optimizer)
    return args


def main(argv):
    args = parse_args(argv)
    runner = Runner(args)
    models = [] if args.optimizer_only else [resolve_model(m) for m in args.models.split(",") if m.strip()]
    base = None
    if args.largest and not args.optimizer_only:
        base = resolve_model(args.largest_width + (":" + args.largest_shape if args.largest_shape else ""))
    meta = machine_info()
    meta.update(date=datetime.date.today().isoformat(), commit=git_commit(),
                command="python3 bench/compare/compare.py " + " ".join(shlex.quote(a) for a in argv))
    if not args.dry_run:
        gpu = meta.get("gpu", {})
        print(f"{gpu.get('name', 'no GPU found by nvidia-smi')} (driver {gpu.get('driver', '?')}), "
              f"{meta.get('cpu', '?')} x {meta['cores']}, {meta.get('host_ram', '?')} RAM; commit {meta['commit']}",
              flush=True)

    rows = []
    for entry in models:
        for engine in args.engines:
            run_dir = os.path.join(runner.work, "runs", f"{entry.name}-{entry.batch}x{entry.seq}-{engine}")
            r = runner.train("shape", entry, engine, entry.batch, entry.seq, args.warmup, args.steps, run_dir,
                             args.timeout)
            if not args.dry_run:
                print(describe(r), flush=True)
            rows.append(r)
    if base is not None:
        for engine in args.engines:
            r = largest(runner, engine, base)
            if not args.dry_run:
                print(describe(r), flush=True)
            rows.append(r)
    opt_rows = optimizer_rows(runner) if args.optimizer_params else []
    if args.dry_run:
        return 0

    versions = next((r["versions"] for r in rows + opt_rows if r.get("versions")), None)
    if versions:
        meta["versions"] = {"PyTorch": versions.get("torch"), "transformers": versions.get("transformers"),
                            "Python": versions.get("python")}
        meta["versions"] = {k: v for k, v in meta["versions"].items() if v}
    settings = {"warmup": args.warmup, "steps": args.steps, "lr": args.lr, "clip": args.clip}
    title = f" ({args.title})" if args.title else ""
    text = report.section(meta, settings, rows, opt_rows, title)
    print("\n" + text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"meta": meta, "settings": settings, "rows": rows, "optimizer": opt_rows}, f, indent=1)
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(text)
    if args.record:
        append_record(args.results_file, text)
        print(f"appended to {args.results_file}")
    failed = [r for r in rows + opt_rows if r["status"] not in ("ok", "oom")]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (CompareError, ModelError) as e:
        print(f"compare.py: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
