#!/usr/bin/python3
"""Numerical reference for workers/models/decoder.c (tests only, never at runtime).

Reads a llama2.c legacy checkpoint (7 int32 header, float32 tensors) on its own
and runs the whole token sequence at once with a causal mask in float64 torch,
following llama2.c's model.py: RMSNorm eps 1e-5, RoPE rotating pairs
(2i, 2i+1) of each head by pos * 10000^(-2i/head_size), grouped-query
attention (kv heads repeated), SwiGLU FFN, final RMSNorm and the classifier
(the token embedding when vocab_size > 0 in the header).

usage: llama_ref.py MODEL.bin [--exit-after L] [--drop-layer L ...] TOKEN...
Prints one line per position: the vocab_size logits ("%.9e", space separated)
predicting the next token. --exit-after L applies the final norm and
classifier after L layers (early exit); --drop-layer removes a layer at every
position (the identity a skipped layer is).
"""
import argparse
import struct
import sys

import numpy as np
import torch


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from("<7i", raw, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = n_kv * hs
    data = np.frombuffer(raw, dtype="<f4", offset=28)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = torch.from_numpy(data[off:off + n].astype(np.float64).reshape(shape))
        off += n
        return t

    w = {}
    w["emb"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, dim, dim)
    w["wk"] = take(n_layers, kv_dim, dim)
    w["wv"] = take(n_layers, kv_dim, dim)
    w["wo"] = take(n_layers, dim, dim)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)
    w["w2"] = take(n_layers, dim, hidden)
    w["w3"] = take(n_layers, hidden, dim)
    w["norm"] = take(dim)
    take(seq_len, hs // 2)  # legacy RoPE cos table, unused
    take(seq_len, hs // 2)  # legacy RoPE sin table, unused
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    assert off == data.size, "file size does not match the header"
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
               vocab=vocab, seq_len=seq_len, hs=hs)
    return cfg, w


def rmsnorm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * weight


def rope(x, pos):
    # x: [T, heads, hs]; rotate pairs (2i, 2i+1) like a complex multiply
    hs = x.shape[-1]
    freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    ang = torch.outer(pos.to(torch.float64), freqs)[:, None, :]
    xr, xi = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = xr * torch.cos(ang) - xi * torch.sin(ang)
    out[..., 1::2] = xr * torch.sin(ang) + xi * torch.cos(ang)
    return out


def forward(cfg, w, tokens, exit_after, dropped):
    T = len(tokens)
    H, KV, hs = cfg["n_heads"], cfg["n_kv"], cfg["hs"]
    x = w["emb"][torch.tensor(tokens)]
    pos = torch.arange(T)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(exit_after):
        if l in dropped:
            continue
        xn = rmsnorm(x, w["rms_att"][l])
        q = (xn @ w["wq"][l].T).view(T, H, hs)
        k = (xn @ w["wk"][l].T).view(T, KV, hs)
        v = (xn @ w["wv"][l].T).view(T, KV, hs)
        q, k = rope(q, pos), rope(k, pos)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / (hs ** 0.5) + mask
        att = torch.softmax(scores, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * hs)
        x = x + o @ w["wo"][l].T
        xn = rmsnorm(x, w["rms_ffn"][l])
        g = torch.nn.functional.silu(xn @ w["w1"][l].T) * (xn @ w["w3"][l].T)
        x = x + g @ w["w2"][l].T
    return rmsnorm(x, w["norm"]) @ w["cls"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--exit-after", type=int, default=None)
    ap.add_argument("--drop-layer", type=int, action="append", default=[])
    ap.add_argument("tokens", type=int, nargs="+")
    a = ap.parse_args()
    cfg, w = load(a.model)
    exit_after = cfg["n_layers"] if a.exit_after is None else a.exit_after
    with torch.no_grad():
        logits = forward(cfg, w, a.tokens, exit_after, set(a.drop_layer))
    out = sys.stdout
    for row in logits.numpy():
        out.write(" ".join("%.9e" % v for v in row))
        out.write("\n")


if __name__ == "__main__":
    main()
