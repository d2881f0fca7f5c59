#!/usr/bin/python3
"""Generated Hugging Face T5 checkpoints and their reference outputs (tests only).

  hf_t5_ref.py make DIR [--seed S] [--dim D] [--ffn F] [--enc L] [--dec L]
               [--heads H] [--buckets B] [--max-distance M] [--ff PROJ]
               [--untied] [--drop TENSOR] [--dkv K] [--vocab V] [--numpy]
      writes DIR/config.json, DIR/model.safetensors (random weights, stdlib
      only) and DIR/tokenizer.json (a Unigram model: <pad> 0, </s> 1,
      <unk> 2, the pieces of hf_marian_ref.PIECES, fillers up to the
      vocabulary less two rows; Metaspace pre-tokenizer). --vocab V
      (default 36) and --numpy (fast random weights) make benchmark-sized
      models (t5-small: --dim 512 --dkv 64 --heads 8 --ffn 2048 --enc 6
      --dec 6 --vocab 32128 --buckets 32 --max-distance 128).

  hf_t5_ref.py run DIR STEPS ID...
      needs torch: modeling_t5's T5ForConditionalGeneration written out in
      float64 (transformers is not installed): T5LayerNorm (x * rsqrt(mean
      x^2 + eps) * w), attention without 1/sqrt(d) scaling plus
      compute_bias of block 0 (_relative_position_bucket: bidirectional in
      the encoder, causal in the decoder; buckets computed in float32 as HF
      does), none in cross-attention, DenseReluDense (relu) or gated
      (act(wi_0 x) * wi_1 x, gated-gelu = gelu tanh), final norms, tied
      head scaled by d_model^-0.5. Greedy from decoder_start_token_id, every
      step recomputed from scratch. Output as hf_marian_ref.py run.
"""
import argparse
import json
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_marian_ref import PIECES, SP, load_st  # noqa: E402

VOCAB = 36


def tensor_specs(a):
    d, f, nb, H = a.dim, a.ffn, a.buckets, a.heads
    inner = a.heads * (a.dkv or a.dim // a.heads)
    specs = [("shared.weight", [VOCAB, d], "e")]
    if a.untied:
        specs.append(("lm_head.weight", [VOCAB, d], "e"))

    def attn(p, rel):
        s = [(p + "." + n + ".weight", [inner, d] if n != "o" else [d, inner], "w")
             for n in ("q", "k", "v", "o")]
        if rel:
            s.append((p + ".relative_attention_bias.weight", [nb, H], "r"))
        return s

    def ff(p):
        if a.ff.startswith("gated-"):
            s = [(p + ".DenseReluDense.wi_0.weight", [f, d], "w"),
                 (p + ".DenseReluDense.wi_1.weight", [f, d], "w")]
        else:
            s = [(p + ".DenseReluDense.wi.weight", [f, d], "w")]
        return s + [(p + ".DenseReluDense.wo.weight", [d, f], "w"), (p + ".layer_norm.weight", [d], "n")]

    for side, n in (("encoder", a.enc), ("decoder", a.dec)):
        for i in range(n):
            p = "%s.block.%d.layer" % (side, i)
            specs += attn(p + ".0.SelfAttention", i == 0) + [(p + ".0.layer_norm.weight", [d], "n")]
            if side == "decoder":
                specs += attn(p + ".1.EncDecAttention", False) \
                    + [(p + ".1.layer_norm.weight", [d], "n")]
            specs += ff(p + (".2" if side == "decoder" else ".1"))
        specs.append(("%s.final_layer_norm.weight" % side, [d], "n"))
    return specs


def make(a):
    global VOCAB
    VOCAB = a.vocab
    os.makedirs(a.dir, exist_ok=True)
    rng = random.Random(a.seed)
    dkv = a.dkv or a.dim // a.heads
    cfg = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
           "d_model": a.dim, "d_kv": dkv, "d_ff": a.ffn, "num_layers": a.enc,
           "num_decoder_layers": a.dec, "num_heads": a.heads,
           "relative_attention_num_buckets": a.buckets,
           "relative_attention_max_distance": a.max_distance, "layer_norm_epsilon": 1e-6,
           "feed_forward_proj": a.ff, "tie_word_embeddings": not a.untied,
           "vocab_size": VOCAB, "pad_token_id": 0, "eos_token_id": 1,
           "decoder_start_token_id": 0, "is_encoder_decoder": True}
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    vocab = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]] + [[p, s] for p, s in PIECES]
    while len(vocab) < VOCAB - 2:          # two rows past the tokenizer, as T5 has
        vocab.append(["x%d" % len(vocab), -9.0])
    tok = {"version": "1.0", "normalizer": None,
           "pre_tokenizer": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "always",
                             "split": True},
           "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab}}
    with open(os.path.join(a.dir, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    header, blobs, off = {}, [], 0
    for name, shape, kind in tensor_specs(a):
        if name == a.drop:
            continue
        n = 1
        for s in shape:
            n *= s
        scale = {"e": 1.0, "w": 0.35, "r": 1.0}.get(kind, 0)
        if a.numpy:
            import numpy as np
            g = np.random.default_rng(a.seed + len(blobs))
            v = 1.0 + 0.2 * (g.random(n) - 0.5) if kind == "n" else scale * (2 * g.random(n) - 1)
            raw = v.astype("<f4").tobytes()
        else:
            vals = [1.0 + 0.2 * (rng.random() - 0.5) if kind == "n"
                    else scale * (2 * rng.random() - 1) for _ in range(n)]
            raw = struct.pack("<%df" % n, *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(a.dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bucket(torch, rel, bidirectional, nb, maxd):
    out = torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        out += (rel > 0).to(torch.long) * nb
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    exact = nb // 2
    small = rel < exact
    large = exact + (torch.log(rel.float() / exact) / math.log(maxd / exact)
                     * (nb - exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, nb - 1))
    return out + torch.where(small, rel, large)


def run(a):
    import torch
    cfg = json.load(open(os.path.join(a.dir, "config.json")))
    w = load_st(os.path.join(a.dir, "model.safetensors"))
    d, H, dkv = cfg["d_model"], cfg["num_heads"], cfg["d_kv"]
    nb, maxd, eps = cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"], \
        cfg["layer_norm_epsilon"]
    ff = cfg["feed_forward_proj"]
    gated = ff.startswith("gated-")
    actname = ff[6:] if gated else ff
    act = {"relu": torch.relu,
           "gelu": (lambda x: torch.nn.functional.gelu(x, approximate="tanh")) if gated
           else torch.nn.functional.gelu,
           "gelu_new": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}[actname]
    emb = w["shared.weight"]

    def norm(x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[name]

    def bias(side, tq, tk, bidir):
        q = torch.arange(tq)[:, None] + (tk - tq if not bidir else 0)
        k = torch.arange(tk)[None, :]
        b = bucket(torch, k - q, bidir, nb, maxd)
        t = w["%s.block.0.layer.0.SelfAttention.relative_attention_bias.weight" % side]
        return t[b].permute(2, 0, 1)          # [H, tq, tk]

    def mha(x, mem, p, pb, causal):
        q = (x @ w[p + ".q.weight"].T).view(-1, H, dkv).transpose(0, 1)
        k = (mem @ w[p + ".k.weight"].T).view(-1, H, dkv).transpose(0, 1)
        v = (mem @ w[p + ".v.weight"].T).view(-1, H, dkv).transpose(0, 1)
        s = q @ k.transpose(1, 2)
        if pb is not None:
            s = s + pb
        if causal:
            tq, tk = s.shape[1], s.shape[2]
            s = s.masked_fill(torch.triu(torch.ones(tq, tk, dtype=torch.bool), 1), float("-inf"))
        o = torch.softmax(s, -1) @ v
        return o.transpose(0, 1).reshape(x.shape[0], H * dkv) @ w[p + ".o.weight"].T

    def dense(x, p):
        if gated:
            h = act(x @ w[p + ".DenseReluDense.wi_0.weight"].T) * (x @ w[p + ".DenseReluDense.wi_1.weight"].T)
        else:
            h = act(x @ w[p + ".DenseReluDense.wi.weight"].T)
        return h @ w[p + ".DenseReluDense.wo.weight"].T

    src = [int(t) for t in a.ids]
    x = emb[src]
    pb = bias("encoder", len(src), len(src), True)
    for i in range(cfg["num_layers"]):
        p = "encoder.block.%d.layer" % i
        x = x + mha(norm(x, p + ".0.layer_norm.weight"), norm(x, p + ".0.layer_norm.weight"),
                    p + ".0.SelfAttention", pb, False)
        x = x + dense(norm(x, p + ".1.layer_norm.weight"), p + ".1")
    mem = norm(x, "encoder.final_layer_norm.weight")
    print("enc %d %d" % (len(src), d))
    print(" ".join("%.9e" % v for v in mem.reshape(-1).tolist()))
    tgt = [cfg["decoder_start_token_id"]]
    out = []
    for step in range(int(a.steps)):
        y = emb[tgt]
        pbd = bias("decoder", len(tgt), len(tgt), False)
        for i in range(cfg["num_decoder_layers"]):
            p = "decoder.block.%d.layer" % i
            h = norm(y, p + ".0.layer_norm.weight")
            y = y + mha(h, h, p + ".0.SelfAttention", pbd, True)
            y = y + mha(norm(y, p + ".1.layer_norm.weight"), mem, p + ".1.EncDecAttention",
                        None, False)
            y = y + dense(norm(y, p + ".2.layer_norm.weight"), p + ".2")
        y = norm(y, "decoder.final_layer_norm.weight")
        if cfg["tie_word_embeddings"]:
            logits = (y[-1] * d ** -0.5) @ emb.T
        else:
            logits = y[-1] @ w["lm_head.weight"].T
        tok = int(torch.argmax(logits))
        print("step %d %d" % (step, tok))
        print(" ".join("%.9e" % v for v in logits.tolist()))
        if tok == cfg["eos_token_id"]:
            break
        out.append(tok)
        tgt.append(tok)
    print("greedy " + " ".join(str(t) for t in out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--dim", type=int, default=16)
    m.add_argument("--ffn", type=int, default=32)
    m.add_argument("--enc", type=int, default=2)
    m.add_argument("--dec", type=int, default=3)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--dkv", type=int, default=0)
    m.add_argument("--buckets", type=int, default=8)
    m.add_argument("--max-distance", type=int, default=20)
    m.add_argument("--ff", default="relu")
    m.add_argument("--untied", action="store_true")
    m.add_argument("--drop")
    m.add_argument("--vocab", type=int, default=36)
    m.add_argument("--numpy", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("steps")
    r.add_argument("ids", nargs="+")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a)
    else:
        run(a)


if __name__ == "__main__":
    sys.exit(main())
