"""Hugging Face interop on the GPU box, end to end (issue: HF models in and out).

transformers writes a random-initialized model with a real tokenizer, sharded
(`make`); Horizon fine-tunes it and saves; transformers loads the result and
computes the loss of held-out tokens that transformers tokenized (`loss`),
which must equal Horizon's validation loss on the same tokens; `tokens`
writes those held-out tokens as a Horizon token file; `tokenize-check`
compares `horizon tokenize --jsonl` output with the transformers tokenizer.
"""
import argparse
import json
import os
import struct
import sys


def make(args):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    if args.kind == "qwen3-small":  # Qwen3's layout at 4 layers: quick float64 references
        cfg = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=512, intermediate_size=1536,
                   num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=128,
                   vocab_size=151936, max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6,
                   tie_word_embeddings=True, hidden_act="silu", attention_bias=False,
                   bos_token_id=151643, eos_token_id=151645)
    elif args.kind == "qwen3":  # Qwen3-0.6B's shape, random weights
        cfg = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=1024, intermediate_size=3072,
                   num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                   vocab_size=151936, max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6,
                   tie_word_embeddings=True, hidden_act="silu", attention_bias=False,
                   bos_token_id=151643, eos_token_id=151645)
    else:  # a Llama-3.1-style model: 128k vocabulary, llama3 rope scaling
        cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=1024, intermediate_size=3584,
                   num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=8, vocab_size=128256,
                   max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=8192),
                   tie_word_embeddings=False, hidden_act="silu", bos_token_id=128000, eos_token_id=128001)
    config = AutoConfig.for_model(**cfg)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(args.out, max_shard_size=args.max_shard_size)
    tok.save_pretrained(args.out)
    n = sum(p.numel() for p in model.parameters())
    shards = sorted(f for f in os.listdir(args.out) if f.endswith(".safetensors"))
    print(f"make {args.kind}: {n / 1e6:.1f}M parameters in {len(shards)} shard(s) -> {args.out}")


def write_token_file(path, ids, vocab):
    with open(path, "wb") as f:
        width = 2 if vocab <= 65536 else 4
        f.write(b"HZTOKENS" + struct.pack("<IIQQ", 1, width, len(ids), vocab))
        f.write(struct.pack("<%d%s" % (len(ids), "H" if width == 2 else "I"), *ids))


def tokens(args):
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    vocab = AutoConfig.from_pretrained(args.model).vocab_size
    ids = tok(open(args.text, encoding="utf-8").read(), add_special_tokens=False)["input_ids"]
    if len(ids) < args.seq + 1:
        sys.exit(f"{args.text}: {len(ids)} tokens, need {args.seq + 1}")
    ids = ids[: args.seq + 1]  # one window: Horizon's validation split is exactly this window
    write_token_file(args.out, ids, vocab)
    json.dump(ids, open(args.out + ".json", "w"))
    print(f"tokens: {len(ids)} held-out tokens -> {args.out}")


def loss(args):
    import torch
    from transformers import AutoModelForCausalLM

    ids = json.load(open(args.tokens + ".json"))
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).to("cuda").float()
    x = torch.tensor([ids], device="cuda")
    with torch.no_grad():
        ref = model(input_ids=x, labels=x).loss.item()
    val = None
    for line in open(os.path.join(args.run, "metrics.jsonl")):
        m = json.loads(line)
        if m.get("val_loss") is not None:
            val = m["val_loss"]
    rel = abs(val - ref) / abs(ref)
    print(f"loss: transformers {ref:.5f} on the saved model, Horizon validation {val:.5f}, relative {rel:.2e} "
          f"({'PASS' if rel <= 1e-2 else 'FAIL'} at 1e-2)")
    return 0 if rel <= 1e-2 else 1


def tokenize_check(args):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    lines = [json.loads(l) for l in open(args.texts, encoding="utf-8")]
    ours = [json.loads(l) for l in open(args.ids, encoding="utf-8")]
    bad = 0
    for text, got in zip(lines, ours):
        want = tok(text, add_special_tokens=False)["input_ids"]
        if want != got:
            bad += 1
            if bad <= 3:
                print(f"  differs: {text[:60]!r}: {got[:12]} vs {want[:12]}")
    n = len(lines)
    print(f"tokenize: {n - bad}/{n} texts identical to transformers ({'PASS' if bad == 0 and n == len(ours) else 'FAIL'})")
    return 0 if bad == 0 and n == len(ours) else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make"); m.add_argument("kind", choices=["qwen3", "qwen3-small", "llama3"]); m.add_argument("--tokenizer", required=True)
    m.add_argument("--out", required=True); m.add_argument("--max-shard-size", default="500MB")
    t = sub.add_parser("tokens"); t.add_argument("--model", required=True); t.add_argument("--text", required=True)
    t.add_argument("--seq", type=int, default=512); t.add_argument("--out", required=True)
    l = sub.add_parser("loss"); l.add_argument("--model", required=True); l.add_argument("--tokens", required=True)
    l.add_argument("--run", required=True)
    k = sub.add_parser("tokenize-check"); k.add_argument("--model", required=True); k.add_argument("--texts", required=True)
    k.add_argument("--ids", required=True)
    args = p.parse_args()
    sys.exit({"make": make, "tokens": tokens, "loss": loss, "tokenize-check": tokenize_check}[args.cmd](args) or 0)


if __name__ == "__main__":
    main()
