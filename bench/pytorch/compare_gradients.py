#!/usr/bin/env python3
"""Checks Horizon's loss and gradients against Hugging Face transformers.

Usage: compare_gradients.py MODEL_DIR GRADS.safetensors [--tolerance 1e-4]

MODEL_DIR holds what `horizon train --save` wrote (config.json and
model.safetensors); GRADS is the output of `horizon gradients` on the same
weights. The model is loaded with AutoModelForCausalLM, widened to float64
(the bf16 weights are exact in it), and run on the same tokens and targets;
its loss (mean cross entropy over targets >= 0) and every parameter
gradient are compared with Horizon's by relative L2 error. Exits 1 if any
error is over the tolerance.
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("grads")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    with safe_open(args.grads, "pt") as f:
        meta = f.metadata()
        ours = {k: f.get_tensor(k).double() for k in f.keys()}
    B, S = int(meta["batch"]), int(meta["seq"])
    tokens = torch.tensor([int(t) for t in meta["tokens"].split(",")]).view(B, S)
    targets = torch.tensor([int(t) for t in meta["targets"].split(",")]).view(B, S)

    model_type = json.load(open(f"{args.model_dir}/config.json")).get("model_type")
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, attn_implementation="eager")
    except (KeyError, ValueError) as e:
        import transformers
        print(f"{args.model_dir}: transformers {transformers.__version__} cannot load model_type '{model_type}' ({e}); "
              "Qwen3 needs transformers >= 4.51")
        return 1
    model = model.double()
    logits = model(input_ids=tokens).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
    loss.backward()

    rows, worst = [], 0.0
    loss_err = abs(loss.item() - float(meta["loss"])) / abs(loss.item())
    rows.append(("loss", loss_err))
    worst = max(worst, loss_err)
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if name not in ours:
            print(f"missing gradient in {args.grads}: {name}")
            return 1
        ref = p.grad
        err = ((ours[name] - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        rows.append((name, err))
        worst = max(worst, err)
    for name, err in rows:
        print(f"{name:60s} {err:.3e}")
    print(json.dumps({"worst_relative_error": worst, "tensors": len(rows) - 1, "loss_horizon": float(meta["loss"]),
                      "loss_transformers": loss.item(), "tolerance": args.tolerance}))
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
