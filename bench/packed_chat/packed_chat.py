"""Packed, loss-masked chat data against transformers (issue: post-training data).

Horizon packs several conversations into each row (positions restart at 0 per
document, attention never crosses a document) and trains only on assistant
tokens. transformers has no packed attention in its eager path, so the
reference runs every document of a row as its own sequence, with Horizon's
position_ids and labels (-100 where Horizon's target is -1): for causal
attention that is exactly what a block-diagonal mask computes, with no mask
semantics to trust. The loss is the sum over all documents of the step
divided by the count of trained tokens, as Horizon's (and transformers' with
num_items_in_batch) is.

  chat   --out FILE [--rows N]          seeded conversations (system or not, 1-3 turns) as JSONL
  grads  --model DIR --grads FILE       Horizon's `gradients --data` output vs float64 transformers
  curve  --model DIR --batches FILE --metrics FILE [...]
                                        PyTorch AdamW on Horizon's recorded batches vs Horizon's losses
  speed  --packed METRICS --random METRICS
                                        median step time of two runs at one shape
"""
import argparse
import json
import math
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pytorch"))
import horizon_ports as ports  # noqa: E402

WORDS = ("the host store streams weights through slots while the optimizer updates each layer as soon as its "
         "gradient lands and the planner decides which layers stay resident on the card because memory is "
         "what users pick an engine by").split()


def sentence(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def chat(args):
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for _ in range(args.rows):
            messages = []
            if rng.random() < 0.5:
                messages.append({"role": "system", "content": sentence(rng, 4, 12)})
            for _ in range(rng.randint(1, 3)):
                messages.append({"role": "user", "content": " ".join(sentence(rng, 3, 15) for _ in range(rng.randint(1, 3)))})
                messages.append({"role": "assistant",
                                 "content": " ".join(sentence(rng, 5, 25) for _ in range(rng.randint(1, 4)))})
            f.write(json.dumps({"messages": messages}) + "\n")
    print(f"chat: {args.rows} conversations -> {args.out}")


def documents(tokens, targets, positions, segments, B, S):
    """(row, start, end) of each run of one segment in a packed batch."""
    out = []
    for b in range(B):
        start = b * S
        for i in range(b * S + 1, (b + 1) * S + 1):
            if i == (b + 1) * S or segments[i] != segments[i - 1]:
                out.append((b, start, i))
                start = i
    return out


def packed_loss(model, batch, device, autocast):
    """Sum of cross entropy over trained targets, document by document, and their count."""
    import torch
    import torch.nn.functional as F

    tok, tgt, pos, seg = (batch[k] for k in ("tokens", "targets", "positions", "segments"))
    total, count = None, 0
    for _, a, e in documents(tok, tgt, pos, seg, batch["batch"], batch["seq"]):
        y = torch.tensor(tgt[a:e], device=device)
        if int((y >= 0).sum()) == 0:
            continue  # padding or a prompt-only piece: no loss, and no gradient either
        x = torch.tensor([tok[a:e]], device=device)
        p = torch.tensor([pos[a:e]], device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=x, position_ids=p).logits[0]
        part = F.cross_entropy(logits.float() if autocast else logits, y.masked_fill(y < 0, -100),
                               ignore_index=-100, reduction="sum")
        total = part if total is None else total + part
        count += int((y >= 0).sum())
    return total, count


def grads(args):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    with safe_open(args.grads, "pt") as f:
        meta = f.metadata()
        ours = {k: f.get_tensor(k).double() for k in f.keys()}
    if "segments" not in meta:
        sys.exit(f"{args.grads}: no segments in its metadata; write it with `horizon gradients --data` on packed data")
    batch = {k: [int(t) for t in meta[k].split(",")] for k in ("tokens", "targets", "positions", "segments")}
    batch.update(batch=int(meta["batch"]), seq=int(meta["seq"]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(args.model, attn_implementation="eager").double().to(device)
    total, count = packed_loss(model, batch, device, autocast=False)
    loss = total / count
    loss.backward()
    docs = documents(batch["tokens"], batch["targets"], batch["positions"], batch["segments"], batch["batch"], batch["seq"])
    restarts = sum(1 for i in range(1, len(batch["positions"])) if batch["positions"][i] == 0)
    rows, worst = [], 0.0
    loss_err = abs(loss.item() - float(meta["loss"])) / abs(loss.item())
    rows.append(("loss", loss_err))
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if name not in ours:
            sys.exit(f"missing gradient in {args.grads}: {name}")
        err = ((ours[name].to(device) - p.grad).norm() / p.grad.norm().clamp_min(1e-30)).item()
        rows.append((name, err))
    worst = max(e for _, e in rows)
    for name, err in rows:
        print(f"{name:60s} {err:.3e}")
    print(json.dumps({"worst_relative_error": worst, "tensors": len(rows) - 1, "documents": len(docs),
                      "position_restarts": restarts, "trained_tokens": count,
                      "tokens": len(batch["tokens"]), "loss_horizon": float(meta["loss"]),
                      "loss_transformers": loss.item(), "device": meta.get("device"), "tolerance": args.tolerance}))
    return 0 if worst <= args.tolerance else 1


def curve(args):
    import torch
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda")
    batches = [json.loads(l) for l in open(args.batches)]
    metrics = [json.loads(l) for l in open(args.metrics) if l.strip()]
    if len(batches) != len(metrics) or len(batches) != args.steps:
        sys.exit(f"{args.batches}: {len(batches)} batches, {args.metrics}: {len(metrics)} steps, expected {args.steps}")
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").to(device)
    model.train()
    params, seen = [], set()
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(args.beta1, args.beta2), eps=1e-8, weight_decay=0.0)
    worst, rows = 0.0, []
    for step, (batch, m) in enumerate(zip(batches, metrics)):
        lr = ports.lr_at(step, args.schedule, args.lr, args.warmup, args.steps, args.min_lr_ratio)
        if abs(m["lr"] - lr) > 1e-5 * lr + 1e-12:
            sys.exit(f"step {step + 1}: Horizon used lr {m['lr']}, the port gives {lr}")
        opt.zero_grad(set_to_none=True)
        total, count = packed_loss(model, batch, device, autocast=True)
        loss = total / count
        loss.backward()
        norm = torch.stack([p.grad.double().pow(2).sum() for p in params if p.grad is not None]).sum().sqrt().item()
        factor = ports.clip_factor(norm, args.clip)
        for p in params:
            if p.grad is not None:
                p.grad.mul_(factor)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        rel = abs(m["loss"] - loss.item()) / abs(loss.item())
        worst = max(worst, rel)
        rows.append((step + 1, lr, m["loss"], loss.item(), rel, m["grad_norm"], norm, count))
    print(f"{'step':>5} {'lr':>10} {'horizon':>10} {'pytorch':>10} {'rel diff':>9} {'norm H':>9} {'norm PT':>9} {'trained':>8}")
    for r in rows:
        print(f"{r[0]:5d} {r[1]:10.3e} {r[2]:10.5f} {r[3]:10.5f} {r[4]:9.2e} {r[5]:9.4f} {r[6]:9.4f} {r[7]:8d}")
    print(json.dumps({"steps": args.steps, "worst_relative_difference": worst, "tolerance": args.tolerance,
                      "horizon_first": rows[0][2], "horizon_final": rows[-1][2], "pytorch_final": rows[-1][3]}))
    return 0 if worst <= args.tolerance else 1


def median_step(path, skip):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    times = [r["step_ms"] / 1e3 for r in rows[skip:]]
    tokens = round(rows[0]["tokens_per_s"] * rows[0]["step_ms"] / 1e3)
    return statistics.median(times), tokens, len(times)


def speed(args):
    packed, tokens_p, n_p = median_step(args.packed, args.skip)
    random_, tokens_r, n_r = median_step(args.random, args.skip)
    if abs(tokens_p - tokens_r) > 0.01 * tokens_r:
        sys.exit(f"the runs differ in shape: {tokens_p} vs {tokens_r} tokens per step")
    ratio = packed / random_
    print(json.dumps({"tokens_per_step": tokens_p, "packed_chat_ms": round(packed * 1e3, 1),
                      "random_tokens_ms": round(random_ * 1e3, 1), "packed_over_random": round(ratio, 4),
                      "packed_tokens_per_s": round(tokens_p / packed), "random_tokens_per_s": round(tokens_r / random_),
                      "steps_measured": [n_p, n_r], "target": 1.05}))
    return 0 if ratio <= 1.05 else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("chat"); c.add_argument("--out", required=True); c.add_argument("--rows", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("grads"); g.add_argument("--model", required=True); g.add_argument("--grads", required=True)
    g.add_argument("--tolerance", type=float, default=2e-2)
    k = sub.add_parser("curve")
    for name in ("model", "batches", "metrics"):
        k.add_argument("--" + name, required=True)
    k.add_argument("--steps", type=int, default=50); k.add_argument("--lr", type=float, default=1e-4)
    k.add_argument("--schedule", default="cosine"); k.add_argument("--warmup", type=int, default=5)
    k.add_argument("--min-lr-ratio", type=float, default=0.1); k.add_argument("--beta1", type=float, default=0.9)
    k.add_argument("--beta2", type=float, default=0.95); k.add_argument("--clip", type=float, default=1.0)
    k.add_argument("--tolerance", type=float, default=0.02)
    s = sub.add_parser("speed"); s.add_argument("--packed", required=True); s.add_argument("--random", required=True)
    s.add_argument("--skip", type=int, default=3)
    args = p.parse_args()
    sys.exit({"chat": chat, "grads": grads, "curve": curve, "speed": speed}[args.cmd](args) or 0)


if __name__ == "__main__":
    main()
