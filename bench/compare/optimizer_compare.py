"""The CPU optimizer comparison: Horizon's bench_optimizer against
torch.optim.AdamW(fused=True) on CPU tensors of the same parameter count,
run in alternating rounds so drift of the machine hits both alike.
"""
import json
import os

from child_process import log_tail, run_child
from engine_runs import TORCH_WORKER, failure
from measurements import parse_bench_optimizer


def bench_optimizer_round(runner, argv, log_path):
    """One run of Horizon's bench_optimizer: its parsed figures, or a failure row."""
    a = runner.args
    r = {"status": "not run", "notes": []}
    if not os.access(a.bench_optimizer, os.X_OK):
        r["status"], r["detail"] = "error", f"no executable {a.bench_optimizer}"
        return r
    outcome = run_child(argv, log_path, a.timeout, env=runner.binary_env(a.bench_optimizer), gpu_poll=False)
    text = log_tail(outcome.log_path, 100)
    try:
        r.update(parse_bench_optimizer(text), status="ok")
    except ValueError as e:
        failure(r, outcome, text)
        r["detail"] = r["detail"] or str(e)
    return r


def torch_adamw_round(runner, argv, spec, log_path):
    """One run of torch.optim.AdamW on the CPU in torch_engines.py: its figures, or a failure row."""
    if os.path.exists(spec["result"]):
        os.remove(spec["result"])
    outcome = run_child(argv, log_path, runner.args.timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"), gpu_poll=False)
    try:
        with open(spec["result"]) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"status": "error", "message": log_tail(outcome.log_path, 20)}
    r = {"status": "not run", "notes": list(result.get("notes", []))}
    if result.get("status") == "ok":
        r.update({k: result[k] for k in ("median_ms", "gparams_per_s", "gb_per_s", "bytes_per_param", "threads",
                                         "optimizer_impl", "versions")}, status="ok")
    else:
        failure(r, outcome, result.get("message", ""))
    return r


def combine_rounds(base, rounds):
    """One optimizer row from its rounds: the round with the median Gparam/s (a failure if any round failed),
    every round's figure in the notes."""
    row = dict(base, notes=list(base.get("notes", [])))
    failed = next((r for r in rounds if r["status"] != "ok"), None)
    if failed is not None or not rounds:
        row.update(status=failed["status"] if failed else "not run", detail=(failed or {}).get("detail", ""))
        return row
    ranked = sorted(rounds, key=lambda r: r["gparams_per_s"])
    middle = ranked[(len(ranked) - 1) // 2]
    row.update({k: v for k, v in middle.items() if k != "notes"})
    for r in rounds:
        row["notes"] += [n for n in r.get("notes", []) if n not in row["notes"]]
    if len(rounds) > 1:
        row["notes"].append("rounds (Gparam/s, in run order): " + ", ".join(f"{r['gparams_per_s']:.3f}" for r in rounds)
                            + "; the median round is shown")
    return row


def optimizer_rows(runner):
    """Horizon's bench_optimizer and torch's CPU AdamW on the same parameter count, alternating for
    --optimizer-rounds rounds (the first runner of each round alternates too) so drift hits both alike."""
    a = runner.args
    n, threads = a.optimizer_params, a.optimizer_threads or os.cpu_count()
    run_dir = os.path.join(runner.work, "optimizer")
    argv = [a.bench_optimizer, "--params", str(n), "--threads", str(threads), "--iters", str(a.optimizer_iters)]
    spec_path = os.path.join(run_dir, "spec.json")
    spec = {"engine": "torch-adamw-cpu", "params": n, "threads": threads, "iters": a.optimizer_iters, "lr": a.lr,
            "seed": a.seed, "result": os.path.join(run_dir, "torch-result.json")}
    torch_argv = [a.python, TORCH_WORKER, spec_path]
    if a.dry_run:
        runner.show(argv, f"CPU optimizer, Horizon ({a.optimizer_rounds} rounds, alternating with PyTorch)")
        runner.show(torch_argv, f"CPU optimizer, PyTorch (spec: {json.dumps(spec)})")
        return []
    os.makedirs(run_dir, exist_ok=True)
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    rounds = {"horizon": [], "torch": []}
    for i in range(a.optimizer_rounds):
        for which in (("horizon", "torch") if i % 2 == 0 else ("torch", "horizon")):
            if which == "horizon":
                r = bench_optimizer_round(runner, argv, os.path.join(run_dir, f"bench_optimizer-{i + 1}.txt"))
            else:
                r = torch_adamw_round(runner, torch_argv, spec, os.path.join(run_dir, f"torch-{i + 1}.txt"))
            rounds[which].append(r)
            print(f"[CPU AdamW / {which}, round {i + 1}] " + (
                f"{r['gparams_per_s']:.3f} Gparam/s, median {r['median_ms']:.1f} ms" if r["status"] == "ok"
                else f"{r['status']}: {r.get('detail')}"), flush=True)
    h = combine_rounds({"engine": "horizon", "label": "Horizon `bench_optimizer` (JIT)",
                        "state": "split fp32 master, bf16 moments"}, rounds["horizon"])
    if h["status"] == "ok":
        h["label"] = f"Horizon `bench_optimizer` (JIT {h.get('isa', '?')})"
    t = combine_rounds({"engine": "torch", "label": "`torch.optim.AdamW(fused=True)`, CPU",
                        "state": "fp32 param and moments"}, rounds["torch"])
    if t["status"] == "ok" and t.get("optimizer_impl") != "fused":
        t["label"] = "`torch.optim.AdamW(foreach=True)`, CPU"
    return [h, t]
