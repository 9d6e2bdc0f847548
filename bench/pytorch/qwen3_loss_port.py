#!/usr/bin/env python3
"""Horizon's loss on a Qwen3 model against a float64 port of transformers'
Qwen3ForCausalLM forward (modeling_qwen3.py, eager attention), in pure
Python so it runs where torch is missing (tiny models only: seconds for
tiny-qwen3 at --seq 16).

Usage: qwen3_loss_port.py MODEL_DIR GRADS.safetensors [--tolerance 1e-6]

MODEL_DIR is what `horizon train --save` wrote (config.json, bf16
model.safetensors); GRADS is `horizon gradients` output for those weights
(its metadata holds the tokens, targets and Horizon's loss). The port follows
the transformers order: q/k projection, RMSNorm of each head_dim slice
(q_norm/k_norm), rotate-half rope, causal GQA softmax attention, o_proj,
SwiGLU MLP. Exits 1 when the relative loss difference exceeds the tolerance.
"""
import json, struct, math, sys
def load(path):
    data = open(path,'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    hdr = json.loads(data[8:8+n]); base = 8+n
    meta = hdr.pop('__metadata__', {})
    out = {}
    for k, v in hdr.items():
        a, b = v['data_offsets']; raw = data[base+a:base+b]
        if v['dtype'] == 'BF16':
            vals = [struct.unpack('<f', struct.pack('<I', u << 16))[0] for u in struct.unpack('<%dH' % (len(raw)//2), raw)]
        elif v['dtype'] == 'F32':
            vals = list(struct.unpack('<%df' % (len(raw)//4), raw))
        else: raise SystemExit(v['dtype'])
        out[k] = (v['shape'], vals)
    return out, meta
args = [a for a in sys.argv[1:] if not a.startswith('--')]
tolerance = float(sys.argv[sys.argv.index('--tolerance') + 1]) if '--tolerance' in sys.argv else 1e-6
if '--tolerance' in sys.argv: args.remove(str(sys.argv[sys.argv.index('--tolerance') + 1]))
if len(args) != 2: raise SystemExit(__doc__)
W, _ = load(args[0] + '/model.safetensors')
G, meta = load(args[1])
cfg = json.load(open(args[0] + '/config.json'))
if cfg.get('model_type') != 'qwen3' or cfg.get('attention_bias'): raise SystemExit(f"{args[0]}: a Qwen3 config without attention biases is expected")
H, NH, KV, D, I, L, V = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['intermediate_size'], cfg['num_hidden_layers'], cfg['vocab_size']
eps, theta = cfg['rms_norm_eps'], cfg['rope_theta']
def mat(name):
    shape, v = W[name]; r, c = shape
    return [v[i*c:(i+1)*c] for i in range(r)]
def vec(name): return W[name][1]
def linear(x, w): return [sum(a*b for a, b in zip(x, row)) for row in w]
def rms(x, w):
    r = 1/math.sqrt(sum(a*a for a in x)/len(x) + eps)
    return [a*r*g for a, g in zip(x, w)]
def rope(x, pos):
    half = D//2; out = list(x)
    for i in range(half):
        f = pos * (1.0 / theta ** (2*i/D))
        c, s = math.cos(f), math.sin(f)
        a, b = x[i], x[i+half]
        out[i] = a*c - b*s; out[i+half] = b*c + a*s
    return out
tokens = [int(t) for t in meta['tokens'].split(',')]; targets = [int(t) for t in meta['targets'].split(',')]
S = int(meta['seq']); assert int(meta['batch']) == 1
emb = mat('model.embed_tokens.weight')
h = [list(emb[t]) for t in tokens]
for l in range(L):
    p = f'model.layers.{l}.'
    x = [rms(t, vec(p+'input_layernorm.weight')) for t in h]
    q = [linear(t, mat(p+'self_attn.q_proj.weight')) for t in x]
    k = [linear(t, mat(p+'self_attn.k_proj.weight')) for t in x]
    v = [linear(t, mat(p+'self_attn.v_proj.weight')) for t in x]
    qn, kn = vec(p+'self_attn.q_norm.weight'), vec(p+'self_attn.k_norm.weight')
    qh = [[rope(rms(q[s][n*D:(n+1)*D], qn), s) for n in range(NH)] for s in range(S)]
    kh = [[rope(rms(k[s][n*D:(n+1)*D], kn), s) for n in range(KV)] for s in range(S)]
    vh = [[v[s][n*D:(n+1)*D] for n in range(KV)] for s in range(S)]
    attn = []
    for s in range(S):
        row = []
        for n in range(NH):
            kv = n // (NH//KV)
            sc = [sum(a*b for a, b in zip(qh[s][n], kh[t][kv]))/math.sqrt(D) for t in range(s+1)]
            m = max(sc); e = [math.exp(a-m) for a in sc]; z = sum(e)
            row += [sum(e[t]/z*vh[t][kv][d] for t in range(s+1)) for d in range(D)]
        attn.append(row)
    o = [linear(a, mat(p+'self_attn.o_proj.weight')) for a in attn]
    h = [[a+b for a, b in zip(hh, oo)] for hh, oo in zip(h, o)]
    x = [rms(t, vec(p+'post_attention_layernorm.weight')) for t in h]
    gate = [linear(t, mat(p+'mlp.gate_proj.weight')) for t in x]
    up = [linear(t, mat(p+'mlp.up_proj.weight')) for t in x]
    mid = [[g/(1+math.exp(-g))*u for g, u in zip(gg, uu)] for gg, uu in zip(gate, up)]
    dn = [linear(t, mat(p+'mlp.down_proj.weight')) for t in mid]
    h = [[a+b for a, b in zip(hh, dd)] for hh, dd in zip(h, dn)]
x = [rms(t, vec('model.norm.weight')) for t in h]
lm = emb if cfg['tie_word_embeddings'] else mat('lm_head.weight')
tot, n = 0.0, 0
for s in range(S):
    if targets[s] < 0: continue
    lg = linear(x[s], lm); m = max(lg); lse = m + math.log(sum(math.exp(a-m) for a in lg))
    tot += lse - lg[targets[s]]; n += 1
rel = abs(tot / n - float(meta['loss'])) / (tot / n)
print(json.dumps({"loss_port_float64": tot / n, "loss_horizon": float(meta['loss']), "relative_error": rel,
                  "tolerance": tolerance}))
sys.exit(0 if rel <= tolerance else 1)
