#!/usr/bin/env python3
"""One DPO step in Horizon against TRL's DPO loss written in PyTorch.

Usage:
  dpo_check.py make OUT_DIR                      tiny random Llamas (policy, reference) + prefs.jsonl
  dpo_check.py compare OUT_DIR GRADS [--beta B --loss-type sigmoid|ipo --label-smoothing X --tolerance T]

`make` writes OUT_DIR/policy and OUT_DIR/reference (transformers LlamaConfig,
random init with different seeds, saved in bfloat16 so both engines start from
the same bits; vocab 256 = Horizon's byte-level tokenizer) and a preference
JSONL file. GRADS is `horizon gradients OUT_DIR/policy --data prefs.jsonl
--objective dpo --reference-weights OUT_DIR/reference ...`. `compare` widens
both models to float64, computes every sequence's log-probability as TRL's
DPOTrainer does (log_softmax of the logits gathered at the labels, summed over
the response tokens; IPO: their mean), TRL's loss
    sigmoid: -logsigmoid(beta z) (1 - ls) - logsigmoid(-beta z) ls
    ipo:     (z - 1/(2 beta))^2,  z = (pi_c - pi_r) - (ref_c - ref_r)
its reward metrics and every gradient, and compares them with Horizon's.
TRL itself is not needed. Exits 1 if anything is over the tolerance.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

PAIRS = [
    ("The capital of France is ", "Paris.", "Berlin, I think."),
    ("2 + 2 = ", "4", "5, obviously"),
    ("Translate 'cat' to German: ", "Katze", "Hund"),
    ("Write a haiku about rain: ", "Soft rain on the roof / the gutters hum a low song / puddles hold the sky",
     "Rain is wet."),
]


def make(args):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      bos_token_id=None, eos_token_id=None, pad_token_id=None)
    for name, seed in (("policy", 0), ("reference", 1)):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
        model.save_pretrained(os.path.join(args.out, name), safe_serialization=True)
    with open(os.path.join(args.out, "prefs.jsonl"), "w") as f:
        for prompt, chosen, rejected in PAIRS:
            f.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
    print(f"wrote {args.out}/policy, {args.out}/reference and {args.out}/prefs.jsonl")


def sequence_logps(model, tokens, targets, average):
    logits = model(input_ids=tokens).logits
    mask = targets >= 0
    labels = targets.clamp(min=0)
    per_token = torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(2)).squeeze(2)
    logps = (per_token * mask).sum(-1)
    return logps / mask.sum(-1) if average else logps


def trl_dpo(pc, pr, rc, rr, beta, loss_type, smoothing):
    z = (pc - pr) - (rc - rr)
    if loss_type == "ipo":
        losses = (z - 1 / (2 * beta)) ** 2
    else:
        losses = -F.logsigmoid(beta * z) * (1 - smoothing) - F.logsigmoid(-beta * z) * smoothing
    chosen = beta * (pc - rc).detach()
    rejected = beta * (pr - rr).detach()
    metrics = {"rewards/chosen": chosen.mean().item(), "rewards/rejected": rejected.mean().item(),
               "rewards/accuracies": (chosen > rejected).double().mean().item(),
               "rewards/margins": (chosen - rejected).mean().item()}
    return losses.mean(), metrics


def compare(args):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM
    with safe_open(args.grads, "pt") as f:
        meta = f.metadata()
        ours = {k: f.get_tensor(k).double() for k in f.keys()}
    B, S = int(meta["batch"]), int(meta["seq"])
    tokens = torch.tensor([int(t) for t in meta["tokens"].split(",")]).view(B, S)
    targets = torch.tensor([int(t) for t in meta["targets"].split(",")]).view(B, S)

    # The rows are TRL's sequences: prompt bytes + response bytes (byte-level, no EOS), loss on the response.
    worst, rows = 0.0, []
    for k, (prompt, chosen, rejected) in enumerate(PAIRS[: B // 2]):
        for r, response in ((2 * k, chosen), (2 * k + 1, rejected)):
            want = list((prompt + response).encode())
            got = tokens[r, : len(want)].tolist()
            trained = [i for i in range(S) if targets[r, i] >= 0]
            ok = got == want and trained == list(range(len(prompt.encode()) - 1, len(want) - 1))
            if not ok:
                print(f"row {r}: tokens or loss mask differ from TRL's sequence")
                return 1

    policy = AutoModelForCausalLM.from_pretrained(os.path.join(args.dir, "policy"), attn_implementation="eager").double()
    reference = AutoModelForCausalLM.from_pretrained(os.path.join(args.dir, "reference"),
                                                     attn_implementation="eager").double()
    average = args.loss_type == "ipo"
    with torch.no_grad():
        ref = sequence_logps(reference, tokens, targets, average)
    pol = sequence_logps(policy, tokens, targets, average)
    loss, metrics = trl_dpo(pol[0::2], pol[1::2], ref[0::2], ref[1::2], args.beta, args.loss_type,
                            args.label_smoothing)
    loss.backward()

    def check(name, err):
        nonlocal worst
        rows.append((name, err))
        worst = max(worst, err)

    check("loss", abs(loss.item() - float(meta["loss"])) / max(abs(loss.item()), 1e-3))
    ours_ref = torch.tensor([float(v) for v in meta["reference_logps"].split(",")], dtype=torch.float64)
    check("reference log-probs", ((ours_ref - ref).norm() / ref.norm()).item())
    # Rewards are beta times log-ratios: relative error, on a scale of at least 0.1 (bf16 GEMMs on the GPU
    # move a 100-token log-probability by ~1e-2, a reward by ~1e-3).
    for name, value in metrics.items():
        check(name, abs(value - float(meta[name])) / max(abs(value), 0.1))
    ours_pol = torch.tensor([float(v) for v in meta["policy_logps"].split(",")], dtype=torch.float64)
    check("policy log-probs", ((ours_pol - pol.detach()).norm() / pol.detach().norm()).item())
    seen = set()
    for name, p in policy.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if name not in ours:
            print(f"Horizon wrote no gradient for {name}")
            return 1
        g = p.grad
        check(name, ((ours[name] - g).norm() / (g.norm() + 1e-30)).item())
    for name, err in rows:
        print(f"{name:60s} {err:.2e}")
    print(f"loss {loss.item():.6f} (Horizon {float(meta['loss']):.6f}); worst relative error {worst:.2e}, "
          f"tolerance {args.tolerance:g}: {'OK' if worst <= args.tolerance else 'FAIL'}")
    return 0 if worst <= args.tolerance else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("grads")
    c.add_argument("--beta", type=float, default=0.1)
    c.add_argument("--loss-type", default="sigmoid", choices=["sigmoid", "ipo"])
    c.add_argument("--label-smoothing", type=float, default=0.0)
    c.add_argument("--tolerance", type=float, default=2e-2)
    args = ap.parse_args()
    if args.cmd == "make":
        os.makedirs(args.out, exist_ok=True)
        make(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
