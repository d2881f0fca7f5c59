#!/usr/bin/python3
"""Generated Hugging Face Llama checkpoints and their reference logits (tests only).

  hf_llama_ref.py make DIR [--seed S] [--dim D] [--hidden H] [--layers L]
                  [--heads N] [--kv-heads K] [--vocab V] [--max-pos P]
                  [--theta T] [--eps E] [--tied] [--tokenizer]
                  [--drop TENSOR] [--bad-shape TENSOR] [--bf16 TENSOR]
                  [--arch NAME] [--model-type T] [--tok-vocab-extra N]
      writes DIR/config.json and DIR/model.safetensors (random weights; the
      safetensors file written by hand, stdlib only, so any python3 does),
      with --tokenizer also DIR/tokenizer.json (GPT-2-style byte-level BPE:
      the 256 byte characters, <s> = 256, </s> = 257, a few merges; padded
      with N extra vocabulary entries by --tok-vocab-extra). The other flags
      break the checkpoint on purpose for the bad-input tests.

  hf_llama_ref.py run DIR TOKEN...
      needs torch: HF's LlamaModel / LlamaForCausalLM math written out by
      hand in float64 (no transformers offline): RMSNorm (x * rsqrt(mean x^2
      + eps) * w), rotate-half RoPE with inv_freq = theta^(-arange(0, hs,
      2) / hs) applied as q * cos + rotate_half(q) * sin, repeat_kv (query
      head i uses kv head i // (heads / kv_heads)), causal softmax attention
      scaled by 1/sqrt(hs), SwiGLU (silu(gate) * up -> down), final norm,
      lm_head (the embedding when tie_word_embeddings). Prints one line of
      vocab_size logits ("%.9e") per position.
"""
import argparse
import json
import os
import random
import struct
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) \
        + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer(path, extra):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    vocab["<s>"] = 256
    vocab["</s>"] = 257
    merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("\u0120", "a"), ("o", "n"),
              ("i", "n"), ("\u0120", "s")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for i in range(extra):
        vocab["<extra_%d>" % i] = len(vocab)
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": 256, "content": "<s>", "special": True, "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False},
            {"id": 257, "content": "</s>", "special": True, "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    return len(vocab)


def tensor_specs(a):
    hs = a.dim // a.heads
    kv = a.kv_heads * hs
    specs = [("model.embed_tokens.weight", [a.vocab, a.dim], "w")]
    for l in range(a.layers):
        p = "model.layers.%d." % l
        specs += [(p + "input_layernorm.weight", [a.dim], "n"),
                  (p + "self_attn.q_proj.weight", [a.dim, a.dim], "w"),
                  (p + "self_attn.k_proj.weight", [kv, a.dim], "w"),
                  (p + "self_attn.v_proj.weight", [kv, a.dim], "w"),
                  (p + "self_attn.o_proj.weight", [a.dim, a.dim], "w"),
                  (p + "post_attention_layernorm.weight", [a.dim], "n"),
                  (p + "mlp.gate_proj.weight", [a.hidden, a.dim], "w"),
                  (p + "mlp.up_proj.weight", [a.hidden, a.dim], "w"),
                  (p + "mlp.down_proj.weight", [a.dim, a.hidden], "w")]
    specs.append(("model.norm.weight", [a.dim], "n"))
    if not a.tied:
        specs.append(("lm_head.weight", [a.vocab, a.dim], "w"))
    return specs


def make(a):
    os.makedirs(a.dir, exist_ok=True)
    rng = random.Random(a.seed)
    cfg = {"architectures": [a.arch], "model_type": a.model_type,
           "hidden_size": a.dim, "intermediate_size": a.hidden,
           "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
           "num_key_value_heads": a.kv_heads, "rms_norm_eps": a.eps,
           "rope_theta": a.theta, "max_position_embeddings": a.max_pos,
           "vocab_size": a.vocab, "tie_word_embeddings": a.tied,
           "hidden_act": "silu", "attention_bias": False, "rope_scaling": None,
           "torch_dtype": "float32", "bos_token_id": 256 if a.tokenizer else 1,
           "eos_token_id": 257 if a.tokenizer else 2}
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    header, blobs, off = {}, [], 0
    for name, shape, kind in tensor_specs(a):
        if name == a.drop:
            continue
        if name == a.bad_shape:
            shape = [shape[0] + 1] + shape[1:]
        n = 1
        for s in shape:
            n *= s
        scale = 0.5 if kind == "w" and name.endswith("embed_tokens.weight") else 0.3
        vals = [1.0 + 0.2 * (rng.random() - 0.5) if kind == "n"
                else scale * (2 * rng.random() - 1) for _ in range(n)]
        raw = struct.pack("<%df" % n, *vals)
        dtype = "F32"
        if name == a.bf16:
            raw = b"".join(raw[i + 2:i + 4] for i in range(0, len(raw), 4))
            dtype = "BF16"
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(a.dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    if a.tokenizer:
        write_tokenizer(os.path.join(a.dir, "tokenizer.json"), a.tok_vocab_extra)


def load_st(path):
    import torch
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<Q", raw, 0)[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        b, e = t["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(buf, dtype=torch.float32).to(torch.float64) \
            .reshape(t["shape"])
    return out


def run(a):
    import torch
    with open(os.path.join(a.dir, "config.json")) as f:
        cfg = json.load(f)
    w = load_st(os.path.join(a.dir, "model.safetensors"))
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    K = cfg.get("num_key_value_heads", H)
    hs = d // H
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    tok = torch.tensor([int(t) for t in a.tokens])
    T = tok.numel()

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def rotate_half(x):
        x1, x2 = x[..., :x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    inv_freq = 1.0 / (theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None], emb.sin()[None]          # [1, T, hs]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][tok]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, H, hs).transpose(0, 1)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, K, hs).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, K, hs).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // K, dim=0)
        v = v.repeat_interleave(H // K, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / (hs ** 0.5) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, d)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") \
        else w["lm_head.weight"]
    logits = x @ head.T
    out = sys.stdout
    for t in range(T):
        out.write(" ".join("%.9e" % v for v in logits[t].tolist()) + "\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--dim", type=int, default=32)
    m.add_argument("--hidden", type=int, default=48)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--kv-heads", type=int, default=2)
    m.add_argument("--vocab", type=int, default=300)
    m.add_argument("--max-pos", type=int, default=64)
    m.add_argument("--theta", type=float, default=10000.0)
    m.add_argument("--eps", type=float, default=1e-6)
    m.add_argument("--tied", action="store_true")
    m.add_argument("--tokenizer", action="store_true")
    m.add_argument("--tok-vocab-extra", type=int, default=0)
    m.add_argument("--drop")
    m.add_argument("--bad-shape")
    m.add_argument("--bf16")
    m.add_argument("--arch", default="LlamaForCausalLM")
    m.add_argument("--model-type", default="llama")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("tokens", nargs="+")
    a = ap.parse_args()
    make(a) if a.cmd == "make" else run(a)


if __name__ == "__main__":
    main()
