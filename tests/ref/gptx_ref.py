#!/usr/bin/python3
"""Generated GPT-2 / GPT-NeoX checkpoints, a SentencePiece-style tokenizer,
and their float64 torch reference (tests only; needs torch + numpy).

  gptx_ref.py make DIR --family gpt2|gpt_neox [--seed S] [--sequential]
              [--drop TENSOR] [--model-type T] [--tok-extra N] [--vocab V]
              [--n-positions P]
      DIR/config.json, model.safetensors (random weights in HF's names and
      layouts: GPT-2's Conv1D weights [in][out], NeoX's query_key_value
      rows per head [q | k | v]) and tokenizer.json (byte-level BPE:
      the 256 byte characters, <|endoftext|> = 256, a few merges, N extra
      entries). --sequential: NeoX without the parallel residual (and with
      the tanh GELU). The other flags break the checkpoint on purpose.

  gptx_ref.py sptok DIR [--extra N]
      DIR/tokenizer.json: a Llama-style SentencePiece BPE (<unk> <s> </s>,
      <0x00>..<0xFF> = 3..258, then pieces and merges; Prepend "▁" +
      Replace " " -> "▁" normalizer, byte_fallback, fuse_unk).

  gptx_ref.py run DIR N TOKEN...
      HF's GPT2LMHeadModel / GPTNeoXForCausalLM math by hand in float64:
      prints "H l p v..." (the residual stream after layer l at position
      p), "L p v..." (logits at p), then "G t..." (greedy continuation of
      up to N tokens by full recomputation, stopping before eos / bos).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "recipes"))


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


def write_bl_tokenizer(path, extra):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    vocab["<|endoftext|>"] = 256
    merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("\u0120", "a"), ("o", "n"),
              ("i", "n"), ("\u0120", "s")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for i in range(extra):
        vocab["<extra_%d>" % i] = len(vocab)
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 256, "content": "<|endoftext|>", "special": True,
                          "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                          "trim_offsets": True, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    return len(vocab)


def write_sp_tokenizer(path, extra):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = 3 + b
    for ch in "\u2581abcdefghijklmnopqrstuvwxyzTO.,":
        vocab[ch] = len(vocab)
    merges = [("\u2581", "t"), ("h", "e"), ("\u2581t", "he"), ("c", "a"), ("ca", "t"),
              ("\u2581", "a"), ("o", "n"), ("\u2581", "cat"), ("i", "n"), ("a", "a")]
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    for i in range(extra):
        vocab["<extra_%d>" % i] = len(vocab)
    added = [{"id": i, "content": c, "special": True, "single_word": False,
              "lstrip": False, "rstrip": False, "normalized": False}
             for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    return len(vocab)


D, L, H, HID = 32, 3, 4, 48


def make(a):
    import torch
    import safetensors_io
    os.makedirs(a.dir, exist_ok=True)
    torch.manual_seed(a.seed)
    ntok = write_bl_tokenizer(os.path.join(a.dir, "tokenizer.json"), a.tok_extra)
    V = a.vocab

    def w(*shape):
        return (torch.randn(*shape) * 0.2).numpy()

    def g(n):
        return (1 + 0.1 * torch.randn(n)).numpy()

    def b(n):
        return (0.1 * torch.randn(n)).numpy()

    t = {}
    if a.family == "gpt2":
        cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
               "n_embd": D, "n_layer": L, "n_head": H, "n_inner": HID,
               "n_positions": a.n_positions, "vocab_size": V, "layer_norm_epsilon": 1e-5,
               "activation_function": "gelu_new", "bos_token_id": 256,
               "eos_token_id": 256, "tie_word_embeddings": True}
        p = "transformer."
        t[p + "wte.weight"] = w(V, D)
        t[p + "wpe.weight"] = w(a.n_positions, D)
        for l in range(L):
            q = p + "h.%d." % l
            t[q + "ln_1.weight"], t[q + "ln_1.bias"] = g(D), b(D)
            t[q + "attn.c_attn.weight"], t[q + "attn.c_attn.bias"] = w(D, 3 * D), b(3 * D)
            t[q + "attn.c_proj.weight"], t[q + "attn.c_proj.bias"] = w(D, D), b(D)
            t[q + "ln_2.weight"], t[q + "ln_2.bias"] = g(D), b(D)
            t[q + "mlp.c_fc.weight"], t[q + "mlp.c_fc.bias"] = w(D, HID), b(HID)
            t[q + "mlp.c_proj.weight"], t[q + "mlp.c_proj.bias"] = w(HID, D), b(D)
        t[p + "ln_f.weight"], t[p + "ln_f.bias"] = g(D), b(D)
    else:
        cfg = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
               "hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H,
               "intermediate_size": HID, "max_position_embeddings": a.n_positions,
               "rotary_pct": 0.5, "rotary_emb_base": 10000, "layer_norm_eps": 1e-5,
               "use_parallel_residual": not a.sequential,
               "hidden_act": "gelu_new" if a.sequential else "gelu",
               "vocab_size": V, "bos_token_id": 256, "eos_token_id": 256,
               "tie_word_embeddings": False}
        p = "gpt_neox."
        t[p + "embed_in.weight"] = w(V, D)
        for l in range(L):
            q = p + "layers.%d." % l
            t[q + "input_layernorm.weight"], t[q + "input_layernorm.bias"] = g(D), b(D)
            t[q + "post_attention_layernorm.weight"] = g(D)
            t[q + "post_attention_layernorm.bias"] = b(D)
            t[q + "attention.query_key_value.weight"] = w(3 * D, D)
            t[q + "attention.query_key_value.bias"] = b(3 * D)
            t[q + "attention.dense.weight"], t[q + "attention.dense.bias"] = w(D, D), b(D)
            t[q + "mlp.dense_h_to_4h.weight"], t[q + "mlp.dense_h_to_4h.bias"] = \
                w(HID, D), b(HID)
            t[q + "mlp.dense_4h_to_h.weight"], t[q + "mlp.dense_4h_to_h.bias"] = \
                w(D, HID), b(D)
        t[p + "final_layer_norm.weight"], t[p + "final_layer_norm.bias"] = g(D), b(D)
        t["embed_out.weight"] = w(V, D)
    if a.model_type:
        cfg["model_type"] = a.model_type
    t.pop(a.drop, None)
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    safetensors_io.save(os.path.join(a.dir, "model.safetensors"), t)
    print(ntok)


def forward(cfg, t, ids):
    """Residual stream after each layer [L][T][D] and logits [T][V]."""
    import torch
    f = {k: torch.tensor(v, dtype=torch.float64) for k, v in t.items()}
    T = len(ids)
    idx = torch.tensor(ids)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def ln(x, w, b, eps):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * w + b

    def gelu_tanh(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    def gelu_erf(x):
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def attend(q, k, v):          # [H][T][hs]
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask
        return (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, -1)

    hidden = []
    if cfg["model_type"] == "gpt2":
        nh, eps = cfg["n_head"], cfg["layer_norm_epsilon"]
        p = "transformer."
        x = f[p + "wte.weight"][idx] + f[p + "wpe.weight"][torch.arange(T)]
        for l in range(cfg["n_layer"]):
            q = p + "h.%d." % l
            h = ln(x, f[q + "ln_1.weight"], f[q + "ln_1.bias"], eps)
            qkv = h @ f[q + "attn.c_attn.weight"] + f[q + "attn.c_attn.bias"]
            qq, kk, vv = [z.reshape(T, nh, -1).transpose(0, 1) for z in qkv.split(D, -1)]
            o = attend(qq, kk, vv) @ f[q + "attn.c_proj.weight"] + f[q + "attn.c_proj.bias"]
            x = x + o
            h = ln(x, f[q + "ln_2.weight"], f[q + "ln_2.bias"], eps)
            m = gelu_tanh(h @ f[q + "mlp.c_fc.weight"] + f[q + "mlp.c_fc.bias"])
            x = x + m @ f[q + "mlp.c_proj.weight"] + f[q + "mlp.c_proj.bias"]
            hidden.append(x)
        x = ln(x, f[p + "ln_f.weight"], f[p + "ln_f.bias"], eps)
        return hidden, x @ f[p + "wte.weight"].T
    nh, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hs = cfg["hidden_size"] // nh
    rot = int(hs * cfg["rotary_pct"])
    inv = 1.0 / (cfg["rotary_emb_base"] ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    fr = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
    emb = torch.cat([fr, fr], -1)
    cos, sin = emb.cos(), emb.sin()
    act = gelu_erf if cfg["hidden_act"] == "gelu" else gelu_tanh

    def rope(z):
        zr, zp = z[..., :rot], z[..., rot:]
        half = torch.cat([-zr[..., rot // 2:], zr[..., :rot // 2]], -1)
        return torch.cat([zr * cos + half * sin, zp], -1)

    p = "gpt_neox."
    x = f[p + "embed_in.weight"][idx]
    for l in range(cfg["num_hidden_layers"]):
        q = p + "layers.%d." % l

        def mlp(h):
            u = act(h @ f[q + "mlp.dense_h_to_4h.weight"].T + f[q + "mlp.dense_h_to_4h.bias"])
            return u @ f[q + "mlp.dense_4h_to_h.weight"].T + f[q + "mlp.dense_4h_to_h.bias"]

        h = ln(x, f[q + "input_layernorm.weight"], f[q + "input_layernorm.bias"], eps)
        qkv = h @ f[q + "attention.query_key_value.weight"].T \
            + f[q + "attention.query_key_value.bias"]
        qkv = qkv.reshape(T, nh, 3 * hs).transpose(0, 1)
        qq, kk, vv = rope(qkv[..., :hs]), rope(qkv[..., hs:2 * hs]), qkv[..., 2 * hs:]
        o = attend(qq, kk, vv) @ f[q + "attention.dense.weight"].T \
            + f[q + "attention.dense.bias"]
        ln2 = (f[q + "post_attention_layernorm.weight"], f[q + "post_attention_layernorm.bias"])
        if cfg["use_parallel_residual"]:
            x = x + o + mlp(ln(x, ln2[0], ln2[1], eps))
        else:
            x = x + o
            x = x + mlp(ln(x, ln2[0], ln2[1], eps))
        hidden.append(x)
    x = ln(x, f[p + "final_layer_norm.weight"], f[p + "final_layer_norm.bias"], eps)
    return hidden, x @ f["embed_out.weight"].T


def run(a):
    import safetensors_io
    with open(os.path.join(a.dir, "config.json")) as fp:
        cfg = json.load(fp)
    t, _ = safetensors_io.load(os.path.join(a.dir, "model.safetensors"))
    ids = [int(x) for x in a.tokens]
    hidden, logits = forward(cfg, t, ids)
    out = []
    for l, hl in enumerate(hidden):
        for p in range(len(ids)):
            out.append("H %d %d " % (l, p) + " ".join("%.9e" % v for v in hl[p].tolist()))
    for p in range(len(ids)):
        out.append("L %d " % p + " ".join("%.9e" % v for v in logits[p].tolist()))
    npos = cfg.get("n_positions", cfg.get("max_position_embeddings"))
    stop = {cfg["eos_token_id"], cfg["bos_token_id"]}
    seq, gen = list(ids), []
    while len(gen) < a.n and len(seq) < npos:
        _, lg = forward(cfg, t, seq)
        nxt = int(lg[-1].argmax())
        if nxt in stop:
            break
        gen.append(nxt)
        seq.append(nxt)
    out.append("G" + "".join(" %d" % x for x in gen))
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--family", required=True, choices=["gpt2", "gpt_neox"])
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--sequential", action="store_true")
    m.add_argument("--drop", default="")
    m.add_argument("--model-type", default="")
    m.add_argument("--tok-extra", type=int, default=0)
    m.add_argument("--vocab", type=int, default=272)
    m.add_argument("--n-positions", type=int, default=24)
    s = sub.add_parser("sptok")
    s.add_argument("dir")
    s.add_argument("--extra", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("n", type=int)
    r.add_argument("tokens", nargs="+")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a)
    elif a.cmd == "sptok":
        print(write_sp_tokenizer(os.path.join(a.dir, "tokenizer.json"), a.extra))
    else:
        run(a)


if __name__ == "__main__":
    main()
