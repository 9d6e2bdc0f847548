"""The comparison's output: one Markdown table of the training runs (the
"largest trainable" rows included), one of the CPU optimizers, the notes
that belong to particular rows, and the section appended to bench/RESULTS.md.
Rows are the dicts compare.py builds (see its `row()`); nothing here runs
anything.
"""
from fastest_config import ENGINE as FAST_ENGINE, MIN_WARMUP
from measurements import format_bytes

HORIZON = "horizon"


def _num(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _params(n):
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def outcome_cell(row):
    """tokens/s for a run that trained; otherwise what stopped it."""
    status = row["status"]
    if status == "ok":
        return _num(row["tokens_per_s"])
    if status == "oom":
        return row.get("detail") or "OOM"
    if status == "not run":
        return "not run"
    return f"{status}: {row.get('detail', '')}".rstrip(": ")


def ratio_cell(row, horizon_row, largest=False):
    """Horizon's figure over this engine's: tokens/s for shapes, parameters for the largest model."""
    if row["engine"] == HORIZON:
        return "—"
    if horizon_row is None or horizon_row["status"] != "ok":
        return "—"
    if row["status"] != "ok":
        return "Horizon trains it, this engine does not" if row["status"] in ("oom", "killed") else "—"
    if largest:
        return f"{horizon_row['params'] / row['params']:.2f}× params"
    return f"{horizon_row['tokens_per_s'] / row['tokens_per_s']:.2f}×"


def gpu_used_cell(row):
    if row.get("gpu_used_bytes") is not None:
        return format_bytes(row["gpu_used_bytes"])
    note = row.get("gpu_used_note")
    return f"n/a ({note})" if note else "n/a"


def engine_cell(row):
    """The engine, with the PyTorch configuration that ran where the row names one."""
    if row.get("configuration"):
        return f"{row['engine']} ({row['configuration']})"
    return row["engine"]


def model_cell(row):
    if row["kind"] == "largest":
        if row["status"] != "ok":
            return f"largest trainable ({row['model']} width)"
        return f"largest trainable: {row['layers']} layers, {_params(row['params'])} ({row['model']} width)"
    return row["model"]


def training_table(rows):
    """Markdown table of the training rows, grouped by model and shape, Horizon first."""
    header = ("| model | B × S | engine | tokens/s | model TFLOPS | GPU peak | GPU used (nvidia-smi) | host peak RSS "
              "| Horizon ÷ engine |\n|---|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    groups = {}
    for r in rows:
        groups.setdefault((r["kind"], r["model"], r["batch"], r["seq"]), []).append(r)
    for (kind, _, _, _), group in groups.items():
        horizon_row = next((r for r in group if r["engine"] == HORIZON), None)
        group = sorted(group, key=lambda r: r["engine"] != HORIZON)
        for r in group:
            tflops = _num(r.get("tflops"), 1) if r["status"] == "ok" else "—"
            gpu_peak = format_bytes(r.get("gpu_peak_bytes"))
            lines.append(f"| {model_cell(r)} | {r['batch']} × {r['seq']} | {engine_cell(r)} | {outcome_cell(r)} "
                         f"| {tflops} "
                         f"| {gpu_peak} | {gpu_used_cell(r)} | {format_bytes(r.get('host_rss_bytes'))} "
                         f"| {ratio_cell(r, horizon_row, largest=kind == 'largest')} |")
    return "\n".join(lines)


def row_notes(rows):
    """One bullet per row with something to say (optimizer used, fallbacks, errors, probes)."""
    out = []
    for r in rows:
        notes = list(r.get("notes", []))
        if notes:
            label = r.get("label") or f"{model_cell(r)} {r['batch']} × {r['seq']}, {r['engine']}"
            out.append(f"- {label}: " + "; ".join(notes))
    return "\n".join(out)


def optimizer_table(rows):
    header = ("| CPU AdamW | state | bytes/param | threads | median step | Gparam/s | GB/s | Horizon ÷ this |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    horizon_row = next((r for r in rows if r["engine"] == HORIZON and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['label']} | {r.get('state', '')} | — | — | {r['status']}: {r.get('detail', '')} "
                         "| — | — | — |")
            continue
        ratio = "—" if r["engine"] == HORIZON or horizon_row is None else \
            f"{horizon_row['gparams_per_s'] / r['gparams_per_s']:.2f}×"
        lines.append(f"| {r['label']} | {r['state']} | {r['bytes_per_param']} | {r.get('threads', '—')} "
                     f"| {r['median_ms']:.1f} ms | {r['gparams_per_s']:.3f} | {r['gb_per_s']:.1f} | {ratio} |")
    return "\n".join(lines)


METHOD = (
    "Each engine ran in its own process: {warmup} warm-up step(s), then the median of {steps} timed steps "
    "(synchronize + wall clock for PyTorch, `step_ms` of Horizon's metrics.jsonl), random tokens from one "
    "seeded token file. Model TFLOPS = (6·N + 12·L·hidden·S) · tokens/s for every engine (N = the model's "
    "parameters, recompute not counted). GPU peak: `torch.cuda.max_memory_allocated` for PyTorch, the device "
    "memory Horizon reports allocating; GPU used: the largest `used_memory` nvidia-smi listed for the "
    "process, polled every second (CUDA context and allocator cache included); host peak RSS: `ru_maxrss` "
    "of the engine's process. Same optimizer settings everywhere: AdamW lr {lr:g} constant, betas (0.9, "
    "0.95), no weight decay, global-norm clipping at {clip:g}{clip_off}. Horizon keeps its default state "
    "(split fp32 master, bf16 moments: 8 B/param); the PyTorch engines keep fp32 weights and moments.")


FAST = (
    " pytorch-gpu-fast ran the first of torch.compile(model) without checkpointing, no compile without "
    "checkpointing, compile with checkpointing, no compile with checkpointing (pytorch-gpu's) that trained, each "
    "in a process of its own, after at least {min_warmup} warm-up steps so compilation is not timed; its row "
    "names the configuration, its notes the attempts that failed.")


def method_text(settings, rows=()):
    text = METHOD.format(clip_off=" (0: off)" if not settings["clip"] else "", **settings)
    if any(r["engine"] == FAST_ENGINE for r in rows):
        text += FAST.format(min_warmup=MIN_WARMUP)
    return text


def section(meta, settings, rows, optimizer_rows, title_suffix=""):
    """The Markdown appended to bench/RESULTS.md for one run of compare.py."""
    parts = [f"## {meta['date']} — side-by-side comparison{title_suffix} (commit {meta['commit']})", ""]
    gpu = meta.get("gpu") or {}
    machine = (f"Machine: {gpu.get('name', 'unknown GPU')} ({gpu.get('memory', '?')}, driver "
               f"{gpu.get('driver', '?')}), {meta.get('cpu', 'unknown CPU')} ({meta.get('cores', '?')} cores), "
               f"{meta.get('host_ram', '?')} RAM.")
    if meta.get("versions"):
        machine += " " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "."
    parts += [machine, "", f"Command: `{meta['command']}`", ""]
    if rows:
        parts += [method_text(settings, rows), "", training_table(rows), ""]
        notes = row_notes(rows)
        if notes:
            parts += [notes, ""]
    if optimizer_rows:
        parts += ["CPU optimizer, same parameter count, one flat range, medians of timed steps:", "",
                  optimizer_table(optimizer_rows), ""]
        notes = row_notes(optimizer_rows)
        if notes:
            parts += [notes, ""]
    return "\n".join(parts)
