"""One training run of one engine, measured from outside (child_process)
and from inside (Horizon's metrics.jsonl, or the result file of
torch_engines.py), turned into a row of the table; and the depth search
that runs such rows as probes to find the largest model an engine trains.
"""
import json
import os
import shlex

from child_process import log_tail, run_child
from depth_search import DepthSearch
from fastest_config import CHECKPOINTED, CONFIGURATIONS, ENGINE as FAST_ENGINE, MIN_WARMUP, run_fastest
from measurements import (format_bytes, median, model_tflops, parse_horizon_device_memory, parse_metrics_jsonl,
                          parse_oom, timed_records, tokens_per_second)
from model_config import with_layers
from run_setup import HERE, ModelEntry, token_count
from token_file import ensure_random_token_file

TORCH_WORKER = os.path.join(HERE, "torch_engines.py")


def row(kind, entry, engine, batch, seq):
    return {"kind": kind, "model": entry.name, "engine": engine, "batch": batch, "seq": seq, "status": "not run",
            "params": entry.params, "layers": entry.layers, "hidden": entry.hidden, "tokens_per_s": None,
            "tflops": None, "configuration": None, "median_ms": None, "step_ms": [], "gpu_peak_bytes": None,
            "gpu_peak_source": None,
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

    # PyTorch engines: torch_engines.py in a process of its own, its result in a JSON file. `configuration` (a
    # fastest_config.Configuration) picks compile and checkpointing for the fast engine's attempts.
    def torch_engine(self, kind, entry, hf_config, engine, batch, seq, warmup, steps, run_dir, timeout,
                     configuration=None):
        r = row(kind, entry, engine, batch, seq)
        if engine == "pytorch-gpu":
            r["configuration"] = CHECKPOINTED
        a = self.args
        spec_path, result_path = os.path.join(run_dir, "spec.json"), os.path.join(run_dir, "result.json")
        spec = {"engine": engine, "model": entry.name, "hf_config": hf_config, "batch": batch, "seq": seq,
                "warmup": warmup, "steps": steps, "data": self.data_file(entry.vocab, batch, seq), "seed": a.seed,
                "lr": a.lr, "clip": a.clip, "result": result_path}
        if configuration is not None:
            spec.update(configuration.spec_fields())
        argv = [a.python, TORCH_WORKER, spec_path]
        if a.dry_run:
            what = f"{entry.name} {batch}x{seq} {engine}" + (f", {configuration.name}" if configuration else "")
            self.show(argv, f"{what} (spec: {json.dumps({k: v for k, v in spec.items() if k != 'hf_config'})})")
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
            if configuration is not None and configuration.compile:
                warm = ", ".join(f"{s['ms'] / 1e3:,.1f}" for s in result["steps"][:warmup])
                r["notes"].append(f"warm-up steps {warm} s (torch.compile compiles in the first ones)")
            return r
        text = result.get("message", "") or log_tail(outcome.log_path, 60)
        failure(r, outcome, text)
        if result.get("message"):
            r["error_head"] = result["message"].strip().splitlines()[0]
        if r["status"] in ("oom", "error") and result.get("phase") not in (None, "start"):
            r["detail"] += f" in {result['phase']}"
        if r["status"] in ("timeout", "killed") and result.get("steps"):
            r["detail"] += f" after {len(result['steps'])} steps"
        return r

    def fastest_torch_engine(self, kind, entry, batch, seq, warmup, steps, run_dir, timeout):
        """pytorch-gpu-fast: one process per configuration, fastest first, until one trains; each attempt gets
        --timeout and a folder of its own under RUN_DIR, and at least MIN_WARMUP warm-up steps."""
        engine_warmup = max(warmup, MIN_WARMUP)

        def attempt(configuration):
            return self.torch_engine(kind, entry, entry.hf_config, FAST_ENGINE, batch, seq, engine_warmup, steps,
                                     os.path.join(run_dir, configuration.slug), timeout, configuration)

        if self.args.dry_run:
            for configuration in CONFIGURATIONS:
                r = attempt(configuration)
            print(f"[dry-run] ... {FAST_ENGINE} runs these in order until one trains "
                  f"({engine_warmup} warm-up steps: --warmup, at least {MIN_WARMUP})")
            return r
        r = run_fastest(attempt)
        if engine_warmup != warmup:
            r["notes"].append(f"{engine_warmup} warm-up steps (at least {MIN_WARMUP} for torch.compile)")
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
        if engine == FAST_ENGINE:
            return self.fastest_torch_engine(kind, entry, batch, seq, warmup, steps, run_dir, timeout)
        return self.torch_engine(kind, entry, entry.hf_config, engine, batch, seq, warmup, steps, run_dir, timeout)


def describe(r):
    engine = r["engine"] + (f", {r['configuration']}" if r.get("configuration") else "")
    head = f"[{r['model']} {r['batch']}x{r['seq']} / {engine}]"
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
