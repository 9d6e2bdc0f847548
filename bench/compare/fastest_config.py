"""The `pytorch-gpu-fast` engine's search for the fastest PyTorch
configuration that trains on the card: the configurations it tries, in
order, and the fallback from one that fails (out of memory, a compile that
breaks, a crash, a timeout) to the next. Each attempt is a process of its
own (engine_runs runs them), so a failed compile or an out-of-memory leaves
no allocator cache, compiled graph or half-freed model behind for the next.
Pure: the runs come from a callback, so the tests need neither a GPU nor
PyTorch.
"""

# torch.compile's first steps compile (Dynamo traces, Inductor generates and builds kernels) and can take
# minutes; at least this many untimed steps run first so no compilation lands in the timed steps.
MIN_WARMUP = 3

ENGINE = "pytorch-gpu-fast"
CHECKPOINTED = "no compile, checkpointing"  # what `pytorch-gpu` runs, and the fast engine's last resort


class Configuration:
    def __init__(self, name, compile, checkpointing):
        self.name, self.compile, self.checkpointing = name, compile, checkpointing

    @property
    def slug(self):
        """A folder name for this attempt's spec, log and result."""
        return ("compile" if self.compile else "eager") + ("-checkpointing" if self.checkpointing else "")

    def spec_fields(self):
        return {"configuration": self.name, "compile": self.compile, "checkpointing": self.checkpointing}


# Fastest first: keeping the activations saves the recompute (a third more forward work); compiling fuses the
# elementwise work around the GEMMs. Compiling also keeps fewer activations, so compile + checkpointing comes
# before plain checkpointing.
CONFIGURATIONS = (
    Configuration("compile, no checkpointing", compile=True, checkpointing=False),
    Configuration("no compile, no checkpointing", compile=False, checkpointing=False),
    Configuration("compile, checkpointing", compile=True, checkpointing=True),
    Configuration(CHECKPOINTED, compile=False, checkpointing=True),
)


def failure_phrase(row, limit=140):
    """One short phrase for why an attempt did not train: 'GPU OOM (tried to allocate 1.95 GiB) in step 1
    backward', 'timeout: timed out after 1800 s', 'error: BackendCompilerFailed: ...'."""
    if row["status"] == "oom":
        text = row.get("detail") or "out of memory"
    else:
        text = f"{row['status']}: {row.get('error_head') or row.get('detail') or 'no detail'}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def run_fastest(run_attempt, configurations=CONFIGURATIONS):
    """Runs run_attempt(configuration) -> row for each configuration in order until one trains (status 'ok').
    Returns that row, naming its configuration and the attempts that failed before it; when none trains, the
    last attempt's row (its status says why the slowest configuration failed) with every failure listed."""
    failed, attempts, r = [], [], None
    for configuration in configurations:
        r = run_attempt(configuration)
        attempts.append({"configuration": configuration.name, "status": r["status"], "detail": r.get("detail", ""),
                         "log": r.get("log", "")})
        if r["status"] == "ok":
            r["configuration"] = configuration.name
            break
        failed.append(f"{configuration.name}: {failure_phrase(r)}")
    else:
        r["configuration"] = None
    r["attempts"] = attempts
    if failed:
        lead = "tried first" if r["status"] == "ok" else "no configuration trained"
        r["notes"].append(f"{lead}: " + "; ".join(failed))
    return r
