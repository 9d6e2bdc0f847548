"""The PyTorch side of the comparison, run by compare.py in a process of its
own per engine: `python3 torch_engines.py SPEC.json`. SPEC names the engine
and the run; the result goes to the file SPEC names, rewritten after every
step so a run cut off by its timeout still reports the steps it made.

Engines:
- pytorch-gpu: HF LlamaForCausalLM entirely on the GPU, fp32 master weights
  under bf16 autocast, activation checkpointing, fused AdamW on the GPU.
- pytorch-gpu-fast: the same model, data and optimizer in one configuration
  the spec names: torch.compile(model) or not, activation checkpointing or
  not. compare.py runs one process per configuration, fastest first, until
  one trains (fastest_config.py).
- pytorch-fsdp2-offload: FSDP2 (fully_shard per decoder layer and at the
  root) with CPUOffloadPolicy and MixedPrecisionPolicy(bf16 params, fp32
  reduce) on one GPU, activation checkpointing, AdamW on the CPU (fused
  where this PyTorch supports it on CPU DTensors, else foreach).
- torch-adamw-cpu: torch.optim.AdamW(fused=True) stepping one flat fp32
  tensor on the CPU, against bench_optimizer.

Both training engines build the model on the meta device and then
materialize it where it lives, filling the weights from a seeded random pool
(one pass of copies, not PyTorch's serial CPU random generator), so a
14B-parameter probe does not spend minutes in initialization.
"""
import json
import os
import socket
import statistics
import sys
import time
import traceback


def write_result(path, result):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- model construction -------------------------------------------------------------------------------------------

def llama_config(spec):
    import transformers
    from transformers import LlamaConfig
    kwargs = dict(spec["hf_config"])
    theta = kwargs.pop("rope_theta")
    if int(transformers.__version__.split(".")[0]) >= 5:
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": theta}
    else:
        kwargs["rope_theta"] = theta
    config = LlamaConfig(**kwargs)
    config.use_cache = False
    try:
        config._attn_implementation = "sdpa"
    except (AttributeError, ValueError):
        pass  # the library's default, reported with the result
    return config


def oom_error():
    import torch
    return getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError


def random_pool(device, seed, size=1 << 24):
    import torch
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(size, generator=g) * 0.02).to(device)


def fill_from_pool(t, pool, offset):
    """Copies the pool into the contiguous tensor t, starting at `offset` in the pool and wrapping around."""
    flat, n, done = t.view(-1), t.numel(), 0
    offset %= pool.numel()
    while done < n:
        k = min(n - done, pool.numel() - offset)
        flat[done:done + k].copy_(pool[offset:offset + k])
        done += k
        offset = 0


def local_tensor(p):
    """The tensor that holds p's values: its local shard for a DTensor (all of it at world size 1)."""
    return p.to_local() if hasattr(p, "to_local") else p


def fill_parameters(model, seed):
    """Norm weights 1, every other weight a slice of a random N(0, 0.02) pool, each from its own offset."""
    import torch
    pools = {}
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            t = local_tensor(p)
            if name.endswith("norm.weight"):
                t.fill_(1.0)
                continue
            pool = pools.get(t.device)
            if pool is None:
                pool = pools[t.device] = random_pool(t.device, seed)
            fill_from_pool(t, pool, i * 7919 * 1009)


def rebuild_rotary(model, config, device):
    """to_empty() leaves buffers uninitialized: the rotary inverse frequencies are rebuilt on the compute device."""
    for name, module in list(model.named_modules()):
        if name.rpartition(".")[2] != "rotary_emb":
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        fresh = type(module)(config=config).to(device)
        setattr(parent, "rotary_emb", fresh)
    leftover = [n for n, b in model.named_buffers() if "rotary_emb" not in n]
    return leftover


def enable_checkpointing(model):
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()


def compile_model(model, run):
    """torch.compile in its default mode (Inductor, no CUDA graphs): "reduce-overhead" would keep static copies
    of every activation for its graphs, memory the larger models do not have, and buys little at steps of
    hundreds of milliseconds; "max-autotune" spends many minutes benchmarking GEMM variants against cuBLAS. The
    compilation itself happens in the first warm-up steps."""
    import torch
    run.result["compile"] = "torch.compile(model), default mode"
    return torch.compile(model)


def build_on_meta(config):
    import torch
    from transformers import LlamaForCausalLM
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return model.to(torch.float32)  # fp32 master weights whatever dtype the library defaults to


# --- optimizer ----------------------------------------------------------------------------------------------------

def make_adamw(params, spec, impl):
    import torch
    kwargs = dict(lr=spec["lr"], betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    if impl == "fused":
        return torch.optim.AdamW(params, fused=True, **kwargs)
    return torch.optim.AdamW(params, foreach=True, **kwargs)


# --- data ---------------------------------------------------------------------------------------------------------

def load_tokens(spec):
    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from token_file import HEADER, read_header
    width, count, vocab = read_header(spec["data"])
    if vocab > spec["hf_config"]["vocab_size"]:
        raise ValueError(f"{spec['data']}: vocab {vocab} exceeds the model's {spec['hf_config']['vocab_size']}")
    dtype = np.uint16 if width == 2 else np.uint32
    return np.fromfile(spec["data"], dtype=dtype, count=count, offset=HEADER.size)


def batches(tokens, batch, seq, seed, device):
    """Endless (inputs, targets) of B random windows of S+1 tokens, targets the next token of each input."""
    import numpy as np
    import torch
    rng = np.random.default_rng(seed)
    if len(tokens) < seq + 1:
        raise ValueError(f"the token file holds {len(tokens)} tokens; --seq {seq} needs at least {seq + 1}")
    while True:
        starts = rng.integers(0, len(tokens) - seq, size=batch)
        windows = np.stack([tokens[s:s + seq + 1] for s in starts]).astype(np.int64)
        w = torch.from_numpy(windows)
        if device == "cuda":
            w = w.pin_memory().to(device, non_blocking=True)
        yield w[:, :-1], w[:, 1:]


# --- training engines ---------------------------------------------------------------------------------------------

class Run:
    """The result record of one run, saved after every phase and step."""

    def __init__(self, spec):
        self.spec = spec
        self.result = {"engine": spec["engine"], "status": "running", "phase": "start", "steps": [], "notes": []}

    def phase(self, name):
        self.result["phase"] = name
        log(name)
        self.save()

    def note(self, text):
        self.result["notes"].append(text)
        log("note: " + text)

    def save(self):
        write_result(self.spec["result"], self.result)


def build_pytorch_gpu(spec, run, config, checkpointing=True):
    import torch
    run.phase("build")
    try:
        model = build_on_meta(config)
        model.to_empty(device="cuda")
        leftover = rebuild_rotary(model, config, "cuda")
        if leftover:
            run.note(f"buffers left uninitialized by to_empty: {leftover}")
    except Exception as e:  # an API this transformers lacks: build the usual way
        if isinstance(e, oom_error()):
            raise
        run.note(f"meta-device build failed ({type(e).__name__}: {e}); built directly on the GPU")
        from transformers import LlamaForCausalLM
        with torch.device("cuda"):
            model = LlamaForCausalLM(config).to(torch.float32)
    fill_parameters(model, spec["seed"])
    if checkpointing:
        enable_checkpointing(model)
    else:
        model.train()
    run.result["optimizer"] = "torch.optim.AdamW(fused=True) on the GPU, fp32 state"
    return model, make_adamw(model.parameters(), spec, "fused"), "fused"


def init_single_rank_process_group():
    import torch
    import torch.distributed as dist
    for key, value in (("NCCL_NVLS_ENABLE", "0"), ("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")):
        os.environ.setdefault(key, value)
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    for key, value in (("MASTER_ADDR", "127.0.0.1"), ("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        os.environ.setdefault(key, value)
    torch.cuda.set_device(0)
    dist.init_process_group(backend="cpu:gloo,cuda:nccl")


def build_fsdp2_offload(spec, run, config):
    import torch
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard
    run.phase("process group")
    init_single_rank_process_group()
    run.phase("build")
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    offload = CPUOffloadPolicy(pin_memory=True)

    def shard(model):
        enable_checkpointing(model)
        for layer in model.model.layers:
            fully_shard(layer, mp_policy=mp, offload_policy=offload)
        fully_shard(model, mp_policy=mp, offload_policy=offload)

    try:
        model = build_on_meta(config)
        shard(model)
        model.to_empty(device="cpu")
        leftover = rebuild_rotary(model, config, "cuda")
        if leftover:
            run.note(f"buffers left uninitialized by to_empty: {leftover}")
    except Exception as e:  # an API this transformers or torch lacks: build on the CPU the usual way
        if isinstance(e, oom_error()):
            raise
        run.note(f"meta-device build failed ({type(e).__name__}: {e}); built on the CPU, then sharded")
        from transformers import LlamaForCausalLM
        model = LlamaForCausalLM(config).to(torch.float32)
        shard(model)
        rebuild_rotary(model, config, "cuda")
    fill_parameters(model, spec["seed"])
    try:
        optimizer, impl = make_adamw(model.parameters(), spec, "fused"), "fused"
    except (RuntimeError, ValueError, TypeError) as e:
        run.note(f"fused CPU AdamW refused ({e}); foreach instead")
        optimizer, impl = make_adamw(model.parameters(), spec, "foreach"), "foreach"
    return model, optimizer, impl


def run_steps(model, optimizer, impl, data, spec, run, autocast, device="cuda"):
    """Warm-up and timed steps: forward, loss, backward, clipping, AdamW; each timed from a synchronized start
    to a synchronized end, so the CPU optimizer of the offload engine is inside the step."""
    import torch
    import torch.nn.functional as F
    r = run.result
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    clip = spec["clip"]
    total = spec["warmup"] + spec["steps"]
    params = list(model.parameters())
    for step in range(1, total + 1):
        x, y = next(data)
        sync()
        start = time.perf_counter()
        r["phase"] = f"step {step} forward"
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        del logits
        r["phase"] = f"step {step} backward"
        loss.backward()
        r["phase"] = f"step {step} optimizer"
        if clip > 0:
            try:
                torch.nn.utils.clip_grad_norm_(params, clip)
            except Exception as e:
                if isinstance(e, oom_error()):
                    raise
                run.note(f"gradient clipping failed ({type(e).__name__}: {e}); from step {step} on unclipped")
                clip = 0
        try:
            optimizer.step()
        except RuntimeError as e:
            if isinstance(e, oom_error()) or impl != "fused" or step != 1:
                raise
            run.note(f"fused AdamW failed at its first step ({e}); foreach instead")
            optimizer, impl = make_adamw(params, spec, "foreach"), "foreach"
            r["optimizer_impl"] = impl
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        seconds = time.perf_counter() - start
        r["steps"].append({"step": step, "ms": seconds * 1e3, "loss": loss.item()})
        if device == "cuda":
            r["gpu_peak_bytes"] = torch.cuda.max_memory_allocated()
            r["gpu_reserved_peak_bytes"] = torch.cuda.max_memory_reserved()
        log(f"step {step}/{total}: {seconds * 1e3:.1f} ms, loss {loss.item():.4f}, "
            f"GPU peak {(r.get('gpu_peak_bytes') or 0) / 2**30:.2f} GiB")
        run.save()


def train(spec):
    import torch
    import torch.distributed
    import transformers
    run = Run(spec)
    r = run.result
    r["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": sys.version.split()[0]}
    try:
        r["device"] = torch.cuda.get_device_name(0)
        config = llama_config(spec)
        if spec["engine"] == "pytorch-gpu":
            model, optimizer, impl = build_pytorch_gpu(spec, run, config)
            autocast = True
        elif spec["engine"] == "pytorch-gpu-fast":
            r["configuration"] = spec["configuration"]
            model, optimizer, impl = build_pytorch_gpu(spec, run, config, checkpointing=spec["checkpointing"])
            autocast = True
        elif spec["engine"] == "pytorch-fsdp2-offload":
            model, optimizer, impl = build_fsdp2_offload(spec, run, config)
            autocast = False  # MixedPrecisionPolicy casts the parameters
        else:
            raise ValueError(f"unknown engine {spec['engine']}")
        r["optimizer_impl"] = impl
        r["params"] = sum(p.numel() for p in model.parameters())
        r["attn_implementation"] = getattr(config, "_attn_implementation", None)
        log(f"{r['params']:,} parameters; optimizer {impl}")
        if spec.get("compile"):
            model = compile_model(model, run)  # after counting: the compiled wrapper shares the parameters
        run.phase("data")
        data = batches(load_tokens(spec), spec["batch"], spec["seq"], spec["seed"], "cuda")
        run_steps(model, optimizer, impl, data, spec, run, autocast)
        timed = [s["ms"] for s in r["steps"][spec["warmup"]:]]
        r["median_ms"] = statistics.median(timed)
        r["status"] = "ok"
        r["phase"] = "done"
    except BaseException as e:
        fail(r, e)
    finally:
        if torch.cuda.is_initialized():
            r["gpu_peak_bytes"] = torch.cuda.max_memory_allocated()
            r["gpu_reserved_peak_bytes"] = torch.cuda.max_memory_reserved()
        run.save()
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return r["status"] == "ok"


def fail(r, e):
    oom = isinstance(e, oom_error()) or (
        isinstance(e, RuntimeError) and ("out of memory" in str(e) or "can't allocate memory" in str(e)))
    oom = oom or isinstance(e, MemoryError)
    r["status"] = "oom" if oom else "error"
    r["message"] = f"{type(e).__name__}: {e}"[:4000]
    r["traceback"] = traceback.format_exc()[-4000:]
    log(f"{r['status']} in {r.get('phase')}: {r['message'][:500]}")


# --- CPU optimizer ------------------------------------------------------------------------------------------------

def optimizer_bench(spec):
    import torch
    r = {"engine": spec["engine"], "status": "running", "notes": []}
    try:
        threads = spec.get("threads") or os.cpu_count()
        torch.set_num_threads(threads)
        n = spec["params"]
        r.update(params=n, threads=torch.get_num_threads(), versions={"torch": torch.__version__})
        param = torch.nn.Parameter(torch.empty(n, dtype=torch.float32))
        param.grad = torch.empty_like(param)
        pool = random_pool("cpu", spec["seed"])
        with torch.no_grad():
            fill_from_pool(param, pool, 0)
            fill_from_pool(param.grad, pool, pool.numel() // 3)
        impl = "fused"
        try:
            optimizer = make_adamw([param], spec, "fused")
            optimizer.step()  # warm-up: allocates and zeroes m and v
        except (RuntimeError, TypeError, ValueError) as e:
            if isinstance(e, oom_error()):
                raise
            r["notes"].append(f"fused CPU AdamW unavailable ({e}); foreach instead")
            impl = "foreach"
            optimizer = make_adamw([param], spec, "foreach")
            optimizer.step()
        times = []
        for _ in range(spec["iters"]):
            start = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - start)
        median_s = statistics.median(times)
        # Reads param, grad, exp_avg, exp_avg_sq; writes param, exp_avg, exp_avg_sq: 7 x 4 bytes.
        r.update(status="ok", optimizer_impl=impl, bytes_per_param=28, steps=len(times), median_ms=median_s * 1e3,
                 fastest_ms=min(times) * 1e3, gparams_per_s=n / median_s / 1e9, gb_per_s=28 * n / median_s / 1e9)
        log(f"AdamW({impl}) on {n:,} fp32 params, {r['threads']} threads: median {median_s * 1e3:.1f} ms, "
            f"{r['gparams_per_s']:.3f} Gparam/s")
    except BaseException as e:
        fail(r, e)
    write_result(spec["result"], r)
    return r["status"] == "ok"


def main(argv):
    if len(argv) != 2:
        print("usage: torch_engines.py SPEC.json (written by compare.py)", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    if spec["engine"] == "torch-adamw-cpu":
        return 0 if optimizer_bench(spec) else 1
    return 0 if train(spec) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
