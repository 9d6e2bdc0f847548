#!/usr/bin/env python3
"""Benchmarks Horizon against the engines users would pick instead, on one
GPU box, with the same model shapes and the same random tokens, in one
sitting so the machine's drift cancels.

    python3 bench/compare/compare.py                      # llama-1b 8x2048, llama2-7b 4x2048, CPU AdamW
    python3 bench/compare/compare.py --largest --record   # + the deepest model each engine trains; append to RESULTS
    python3 bench/compare/compare.py --dry-run            # print every command, run nothing

Engines: horizon (build/horizon train --device cuda), pytorch-gpu (HF
LlamaForCausalLM on the GPU, bf16 autocast over fp32 weights, activation
checkpointing, fused AdamW), pytorch-gpu-fast (the same model compiled and
without checkpointing where that trains, else the next fastest of four)
and pytorch-fsdp2-offload (FSDP2 with CPUOffloadPolicy on one GPU, CPU
AdamW). Each runs in a process of its own; see bench/compare/README.md for
what is measured and how.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine_runs import Runner, describe, largest  # noqa: E402
from measurements import format_bytes, parse_count  # noqa: E402
from model_config import ModelError  # noqa: E402
from optimizer_compare import optimizer_rows  # noqa: E402
import report  # noqa: E402
from run_setup import (DEFAULT_MODELS, ENGINES, LARGEST_SKIPS, REPO, CompareError, parse_engines,  # noqa: E402
                       resolve_model)


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
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds per engine run, per attempt for pytorch-gpu-fast (default: %(default)s)")
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
    p.add_argument("--optimizer-rounds", type=int, default=3,
                   help="alternating runs of each optimizer; the median round is reported (default: %(default)s)")
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
    p.add_argument("--commit", help="commit to record where this copy has no git history (default: git rev-parse)")
    p.add_argument("--title", default="", help="words added to the RESULTS.md heading, e.g. 'partial run: peers only'")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = p.parse_args(argv)
    if args.warmup < 0 or args.steps < 1:
        raise CompareError("--warmup must be >= 0 and --steps >= 1")
    if args.optimizer_rounds < 1:
        raise CompareError("--optimizer-rounds must be at least 1")
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
    meta.update(date=datetime.date.today().isoformat(), commit=args.commit or git_commit(),
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
            if engine in LARGEST_SKIPS:
                print(f"--largest: {engine} not searched (its last configuration is pytorch-gpu's)", flush=True)
                continue
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
