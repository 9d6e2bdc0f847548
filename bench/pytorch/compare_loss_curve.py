#!/usr/bin/env python3
"""Trains one model with Horizon and with PyTorch on the same batches and
compares the loss curves step by step.

Usage: compare_loss_curve.py MODEL.json [--data TOKENS] [--steps 50] [--batch 8] [--seq 128] ...

1. Initial weights: `horizon train MODEL --steps 0 --save WORK/init` writes
   bf16 weights and a Hugging Face config.json; both engines start from them
   (Horizon through --init, so its fp32 master starts at the same values).
2. Horizon trains with every hyperparameter given explicitly (--device cuda
   by default, fp32 moments by default so both optimizers keep the same
   state; --moments bf16 measures Horizon's 8-byte default) and --save
   writes metrics.jsonl, one line per step.
3. PyTorch trains AutoModelForCausalLM from WORK/init on the GPU: fp32
   weights, torch.autocast bf16, torch.optim.AdamW with Horizon's betas, eps
   (1e-8), weight decay and no-decay set (read from the model file), the
   same LR schedule and clipping (global L2 norm of the mean gradient), on
   exactly Horizon's batches: horizon_ports.py ports the sampler, the
   train/validation split and the schedule, which must follow the C++.
4. Prints step / lr / losses / gradient norms / relative loss difference and
   exits 1 if any step differs by more than --tolerance (default 0.02).

Without --data the script writes a token file of a seeded order-1 Markov
chain (four successors per token), so the loss falls well below ln(vocab).
Horizon's reported learning rates are checked against the port on the way.
The GPU engines differ by design in small ways this tolerance absorbs: Horizon
computes with the bf16 weights of its split master (rounded to nearest, ties
away from zero, where autocast rounds ties to even) and runs its own fused
kernels. `--horizon-weights` makes PyTorch compute with exactly those
weights (AdamW still updates an fp32 master); on the CPU (`--device cpu
--torch-device cpu --no-autocast --horizon-weights`) the two curves then
agree closely over 50 steps, which checks the ports, the optimizer and the
clipping without a GPU.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile

import horizon_ports as ports

EPS = 1e-8  # runtime/optimizer.h AdamWConfig::eps; horizon train has no flag for it


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="native model file (models/*.json); `horizon import` converts an HF config")
    ap.add_argument("--data", help="token file (docs/token-file.md); default: a generated Markov-chain stream")
    ap.add_argument("--generate-tokens", type=int, default=200_000, help="length of the generated stream")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--micro-batches", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--schedule", default="cosine", choices=["constant", "cosine", "linear"])
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0, help="global-norm threshold, 0 to disable")
    ap.add_argument("--seed", type=int, default=1, help="Horizon's data seed (and the generated stream's)")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--moments", default="f32", choices=["f32", "bf16"], help="Horizon's optimizer moment storage")
    ap.add_argument("--device", default="cuda", help="Horizon's --device")
    ap.add_argument("--grad-offload", default="fp32", choices=["fp32", "bf16"],
                    help="Horizon's --grad-offload (docs/bf16-gradient-offload.md); use with --resident 0")
    ap.add_argument("--resident", default="auto", help="Horizon's --resident (0: every layer streams)")
    ap.add_argument("--torch-device", default="cuda")
    ap.add_argument("--no-autocast", action="store_true", help="PyTorch in fp32 throughout")
    ap.add_argument("--horizon-weights", action="store_true",
                    help="PyTorch computes with the bf16 weights Horizon streams (support/bf16.h split_master)")
    ap.add_argument("--horizon", default=os.environ.get("HORIZON_BINARY", "build/horizon"), help="the horizon binary")
    ap.add_argument("--work", help="directory for the token file, weights and metrics (default: a new temp dir)")
    ap.add_argument("--tolerance", type=float, default=0.02, help="largest relative loss difference of any step")
    return ap.parse_args()


def markov_tokens(n, vocab, seed):
    rng = random.Random(seed)
    successors = [[rng.randrange(vocab) for _ in range(4)] for _ in range(vocab)]
    out, t = [], rng.randrange(vocab)
    for _ in range(n):
        out.append(t)
        t = successors[t][rng.randrange(4)]
    return out


def run_horizon(args, argv, what):
    cmd = [args.horizon] + [str(a) for a in argv]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"horizon failed {what} (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def read_metrics(path, steps):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if [r["step"] for r in rows] != list(range(1, steps + 1)):
        sys.exit(f"{path}: expected steps 1..{steps}, found {[r['step'] for r in rows]}; use a fresh --work")
    return rows


def train_pytorch(args, init_dir, train_tokens, decay, vocab):
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    dev = torch.device(args.torch_device)
    model = AutoModelForCausalLM.from_pretrained(init_dir, torch_dtype=torch.float32).to(dev)
    model.train()
    params, decays, seen = [], [], set()
    for name, p in model.named_parameters():
        if id(p) in seen:  # tied embeddings: one tensor, as in Horizon's store
            continue
        seen.add(id(p))
        if name not in decay:
            sys.exit(f"{args.model}: no parameter has the checkpoint name {name} that transformers uses")
        params.append(p)
        decays.append(decay[name])
    # --horizon-weights: the model computes with the master rounded to bf16
    # as Horizon's split master does (ties away from zero; finite weights
    # only) while AdamW updates the fp32 master.
    masters = [p.detach().clone() for p in params] if args.horizon_weights else params

    def load_horizon_weights():
        with torch.no_grad():
            for p, m in zip(params, masters):
                p.copy_(((m.view(torch.int32) + 0x8000) & -65536).view(torch.float32))

    groups = {d: [m for m, md in zip(masters, decays) if md == d] for d in (True, False)}
    opt = torch.optim.AdamW([{"params": groups[True], "weight_decay": args.weight_decay},
                             {"params": groups[False], "weight_decay": 0.0}],
                            lr=args.lr, betas=(args.beta1, args.beta2), eps=EPS)
    sampler = ports.BatchSampler(train_tokens, args.batch, args.seq, args.seed)
    M, rows = args.micro_batches, args.batch // args.micro_batches
    losses, norms = [], []
    if args.horizon_weights:
        load_horizon_weights()
    for step in range(args.steps):
        tokens, targets = sampler.next()
        x = torch.tensor(tokens, dtype=torch.long, device=dev)
        y = torch.tensor(targets, dtype=torch.long, device=dev)
        opt.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)  # with --horizon-weights the model's tensors are not the optimizer's
        loss_sum = 0.0
        for m in range(M):  # Horizon's micro-batches: consecutive rows, each loss a mean over its tokens
            xs, ys = x[m * rows:(m + 1) * rows], y[m * rows:(m + 1) * rows]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=not args.no_autocast):
                logits = model(input_ids=xs).logits
            loss = F.cross_entropy(logits.float().reshape(-1, vocab), ys.reshape(-1), ignore_index=-1)
            (loss / M).backward()
            loss_sum += loss.item()
        norm = torch.stack([p.grad.double().pow(2).sum() for p in params if p.grad is not None]).sum().sqrt().item()
        factor = ports.clip_factor(norm, args.clip)
        if factor != 1.0:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(factor)
        lr = ports.lr_at(step, args.schedule, args.lr, args.warmup, args.steps, args.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        if args.horizon_weights:
            for p, m in zip(params, masters):
                m.grad = p.grad
        opt.step()
        if args.horizon_weights:
            load_horizon_weights()
        losses.append(loss_sum / M)
        norms.append(norm)
    return losses, norms


def main():
    args = parse_args()
    if args.batch % args.micro_batches:
        sys.exit(f"--batch {args.batch} is not divisible by --micro-batches {args.micro_batches}")
    model_json = ports.load_model_json(args.model)
    decay = ports.decay_by_name(model_json)
    vocab = int(model_json["config"]["vocab"])
    work = args.work or tempfile.mkdtemp(prefix="horizon-loss-curve-")
    os.makedirs(work, exist_ok=True)
    for sub in ("init", "horizon"):
        if os.path.exists(os.path.join(work, sub)):
            sys.exit(f"{work}/{sub} exists (metrics.jsonl appends); use a fresh --work")

    data = args.data
    if data:
        tokens, _ = ports.read_token_file(data)
        if tokens and max(tokens) >= vocab:
            sys.exit(f"{data}: token {max(tokens)} is outside the model's vocab [0, {vocab}); use tokens of this model")
    else:
        data = os.path.join(work, "markov.tokens")
        tokens = markov_tokens(args.generate_tokens, vocab, args.seed)
        ports.write_token_file(data, tokens, vocab)
    train = ports.split_train(tokens, args.val_fraction)
    if len(tokens) - len(train) < args.seq + 1:
        sys.exit(f"{data}: the validation split has {len(tokens) - len(train)} tokens, Horizon needs {args.seq + 1}; "
                 "raise --val-fraction or --generate-tokens")

    init = os.path.join(work, "init")
    common = ["--data", data, "--batch", args.batch, "--seq", args.seq, "--seed", args.seed,
              "--val-fraction", args.val_fraction]
    run_horizon(args, ["train", args.model, *common, "--steps", 0, "--device", "cpu", "--save", init],
                "writing the initial weights")
    if not os.path.exists(os.path.join(init, "config.json")):
        sys.exit(f"{init}: no config.json; only Llama-family models have a Hugging Face config")
    out = os.path.join(work, "horizon")
    run_horizon(args, ["train", args.model, *common, "--steps", args.steps, "--micro-batches", args.micro_batches,
                       "--lr", args.lr, "--schedule", args.schedule, "--warmup", args.warmup,
                       "--min-lr-ratio", args.min_lr_ratio, "--beta1", args.beta1, "--beta2", args.beta2,
                       "--weight-decay", args.weight_decay, "--clip", args.clip, "--moments", args.moments,
                       "--eval-batches", 1, "--device", args.device, "--init", os.path.join(init, "model.safetensors"),
                       *(["--grad-offload", args.grad_offload] if args.grad_offload != "fp32" else []),
                       *(["--resident", args.resident] if args.resident != "auto" else []),
                       "--save", out], "training")
    metrics = read_metrics(os.path.join(out, "metrics.jsonl"), args.steps)
    for r in metrics:  # the schedule port, checked against the C++ on every run
        want = ports.lr_at(r["step"] - 1, args.schedule, args.lr, args.warmup, args.steps, args.min_lr_ratio)
        if abs(r["lr"] - want) > 1e-5 * want + 1e-12:
            sys.exit(f"step {r['step']}: Horizon used lr {r['lr']}, the port gives {want}; "
                     "bring horizon_ports.lr_at in line with runtime/lr_schedule.cpp")

    losses, norms = train_pytorch(args, init, train, decay, vocab)
    worst = 0.0
    print(f"{'step':>5} {'lr':>10} {'horizon':>10} {'pytorch':>10} {'rel diff':>9} {'norm H':>9} {'norm PT':>9}")
    for r, loss, norm in zip(metrics, losses, norms):
        rel = abs(r["loss"] - loss) / abs(loss)
        worst = max(worst, rel) if math.isfinite(rel) else math.inf
        print(f"{r['step']:5d} {r['lr']:10.3e} {r['loss']:10.5f} {loss:10.5f} {rel:9.2e} "
              f"{r['grad_norm']:9.4f} {norm:9.4f}")
    print(json.dumps({"model": args.model, "steps": args.steps, "worst_relative_difference": worst,
                      "tolerance": args.tolerance, "horizon_final": metrics[-1]["loss"], "pytorch_final": losses[-1],
                      "work": work}))
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
