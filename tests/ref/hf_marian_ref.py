#!/usr/bin/python3
"""Generated Hugging Face Marian checkpoints and their reference outputs (tests only).

  hf_marian_ref.py make DIR [--seed S] [--dim D] [--ffn F] [--enc L] [--dec L]
                   [--heads H] [--max-pos P] [--act A] [--no-scale]
                   [--lm-head] [--model-type T] [--drop TENSOR]
                   [--bad-shape TENSOR] [--vocab V] [--numpy] [--bad-positions]
      writes DIR/config.json, DIR/model.safetensors (random weights, written
      by hand: stdlib only), DIR/vocab.json and DIR/source.spm +
      DIR/target.spm (a sentencepiece ModelProto encoded by hand: control
      pieces <s> </s>, <unk>, and the NORMAL pieces of PIECES). Ids: </s> 0,
      <unk> 1, the pieces, fillers, <pad> last (= decoder start, banned by
      bad_words_ids as opus-mt configs do). --drop / --bad-shape break the
      checkpoint on purpose (--bad-positions: embed_positions in
      CTranslate2's schedule instead of Marian's). --vocab V (default 40) and --numpy (fast
      random weights, other values) make benchmark-sized models, e.g.
      opus-mt-en-de's shape: --dim 512 --ffn 2048 --enc 6 --dec 6 --heads 8
      --vocab 58101 --max-pos 512.

  hf_marian_ref.py run DIR STEPS ID...
      needs torch: modeling_marian's MarianMTModel written out in float64
      (transformers is not installed): embeddings * sqrt(d) (scale_embedding),
      MarianSinusoidalPositionalEmbedding (out[:, :d/2] = sin(p / 1e4^(2j/d)),
      out[:, d/2:] = cos(...), positions from 0), post-norm encoder layers
      (x = LN(x + SA(x)); x = LN(x + fc2(act(fc1(x))))), decoder layers with
      causal self-attention and cross-attention likewise, q scaled by
      head_dim^-0.5 after the projection bias, no final norms, logits =
      x @ lm_head^T (model.shared when tied) + final_logits_bias, bad words
      -inf. Greedy from decoder_start_token_id for STEPS steps or until eos,
      every step recomputed from scratch (no cache). Prints
        enc N D / N*D floats, then per step "step T TOKEN" / V floats,
        then "greedy ID...".
"""
import argparse
import json
import math
import os
import random
import struct
import sys

SP = "\u2581"
# NORMAL pieces of the .spm with their scores (hand-checked splits in
# tests/unit/test_hf_marian.c rely on these numbers).
PIECES = [(SP + "the", -2.0), (SP, -3.0), ("t", -4.0), ("h", -4.0), ("e", -4.0),
          (SP + "c", -5.0), ("a", -4.0), (SP + "cat", -3.0), (SP + "sat", -6.0),
          ("s", -4.0), (SP + "s", -5.0), ("at", -3.0), (SP + "on", -3.5), ("o", -4.5),
          ("n", -4.5), (SP + "mat", -3.5), ("m", -4.5), (".", -3.0)]
VOCAB = 40


def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def spm_proto(model_type=1):
    out = b""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)] \
        + [(p, s, 1) for p, s in PIECES]
    for p, s, t in pieces:
        body = field_bytes(1, p.encode()) + varint(2 << 3 | 5) + struct.pack("<f", s) \
            + field_varint(3, t)
        out += field_bytes(1, body)
    out += field_bytes(2, field_varint(3, model_type))           # trainer_spec.model_type
    out += field_bytes(3, field_bytes(1, b"nmt_nfkc") + field_varint(3, 1))
    return out


def vocab():
    v = {"</s>": 0, "<unk>": 1}
    for p, _ in PIECES:
        v[p] = len(v)
    while len(v) < VOCAB - 1:
        v["x%d" % len(v)] = len(v)
    v["<pad>"] = VOCAB - 1
    return v


def tensor_specs(a):
    d, f = a.dim, a.ffn
    specs = [("model.shared.weight", [VOCAB, d], "e"), ("final_logits_bias", [1, VOCAB], "b"),
             ("model.encoder.embed_positions.weight", [a.max_pos, d], "p"),
             ("model.decoder.embed_positions.weight", [a.max_pos, d], "p")]
    if a.lm_head:
        specs.append(("lm_head.weight", [VOCAB, d], "e"))

    def attn(p):
        return [(p + "." + n + "." + k, [d, d] if k == "weight" else [d], "w" if k == "weight" else "b")
                for n in ("k_proj", "v_proj", "q_proj", "out_proj") for k in ("weight", "bias")]

    def ln(p):
        return [(p + ".weight", [d], "n"), (p + ".bias", [d], "b")]

    def ff(p):
        return [(p + ".fc1.weight", [f, d], "w"), (p + ".fc1.bias", [f], "b"),
                (p + ".fc2.weight", [d, f], "w"), (p + ".fc2.bias", [d], "b")]

    for side, n in (("encoder", a.enc), ("decoder", a.dec)):
        for i in range(n):
            p = "model.%s.layers.%d" % (side, i)
            specs += attn(p + ".self_attn") + ln(p + ".self_attn_layer_norm")
            if side == "decoder":
                specs += attn(p + ".encoder_attn") + ln(p + ".encoder_attn_layer_norm")
            specs += ff(p) + ln(p + ".final_layer_norm")
    return specs


def sinus_rows(n, d, ct2_style=False):
    """MarianSinusoidalPositionalEmbedding (or, ct2_style, CTranslate2's
    schedule from position 1, to test the loader's check)."""
    rows = []
    for p in range(n):
        r = [0.0] * d
        for j in range(d // 2):
            if ct2_style:
                v = (p + 1) * math.exp(-j * math.log(10000) / (d // 2 - 1))
            else:
                v = p / math.pow(10000, 2 * j / d)
            r[j] = math.sin(v)
            r[d // 2 + j] = math.cos(v)
        rows.append(r)
    return rows


def make(a):
    global VOCAB
    VOCAB = a.vocab
    os.makedirs(a.dir, exist_ok=True)
    rng = random.Random(a.seed)
    cfg = {"architectures": ["MarianMTModel"], "model_type": a.model_type,
           "d_model": a.dim, "encoder_layers": a.enc, "decoder_layers": a.dec,
           "encoder_attention_heads": a.heads, "decoder_attention_heads": a.heads,
           "encoder_ffn_dim": a.ffn, "decoder_ffn_dim": a.ffn,
           "max_position_embeddings": a.max_pos, "vocab_size": VOCAB,
           "decoder_vocab_size": VOCAB, "activation_function": a.act,
           "scale_embedding": not a.no_scale, "normalize_before": False,
           "share_encoder_decoder_embeddings": True, "tie_word_embeddings": not a.lm_head,
           "pad_token_id": VOCAB - 1, "eos_token_id": 0, "decoder_start_token_id": VOCAB - 1,
           "bad_words_ids": [[VOCAB - 1]], "torch_dtype": "float32"}
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(a.dir, "vocab.json"), "w") as f:
        json.dump(vocab(), f, ensure_ascii=False)
    for leaf in ("source.spm", "target.spm"):
        with open(os.path.join(a.dir, leaf), "wb") as f:
            f.write(spm_proto())
    header, blobs, off = {}, [], 0
    for name, shape, kind in tensor_specs(a):
        if name == a.drop:
            continue
        if name == a.bad_shape:
            shape = [shape[0] + 1] + shape[1:]
        n = 1
        for s in shape:
            n *= s
        scale = {"e": 0.15, "w": 0.5, "b": 0.2}.get(kind, 0)
        if kind == "p":        # the sinusoid tables HF checkpoints carry
            vals = [v for row in sinus_rows(shape[0], shape[1], a.bad_positions) for v in row]
            raw = struct.pack("<%df" % n, *vals)
        elif a.numpy:
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
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(a.dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


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
        b, e = t["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(buf, dtype=torch.float32).to(torch.float64) \
            .reshape(t["shape"])
    return out


def run(a):
    import torch
    cfg = json.load(open(os.path.join(a.dir, "config.json")))
    w = load_st(os.path.join(a.dir, "model.safetensors"))
    d, H = cfg["d_model"], cfg["encoder_attention_heads"]
    dh = d // H
    act = {"swish": torch.nn.functional.silu, "silu": torch.nn.functional.silu,
           "relu": torch.relu, "gelu": torch.nn.functional.gelu}[cfg["activation_function"]]
    scale = math.sqrt(d) if cfg["scale_embedding"] else 1.0
    emb = w["model.shared.weight"]
    head = w.get("lm_head.weight", emb)

    def sinus(n):
        pe = torch.zeros(n, d, dtype=torch.float64)
        for p in range(n):
            for j in range(d):
                v = p / math.pow(10000, 2 * (j // 2) / d)
                if j % 2 == 0:
                    pe[p, j // 2] = math.sin(v)
                else:
                    pe[p, d // 2 + j // 2] = math.cos(v)
        return pe

    def lin(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (d,), w[p + ".weight"], w[p + ".bias"], 1e-5)

    def mha(x, mem, p, causal):
        q = lin(x, p + ".q_proj") * dh ** -0.5
        k, v = lin(mem, p + ".k_proj"), lin(mem, p + ".v_proj")
        tq, tk = x.shape[0], mem.shape[0]
        q = q.view(tq, H, dh).transpose(0, 1)
        k = k.view(tk, H, dh).transpose(0, 1)
        v = v.view(tk, H, dh).transpose(0, 1)
        s = q @ k.transpose(1, 2)
        if causal:
            s = s.masked_fill(torch.triu(torch.ones(tq, tk, dtype=torch.bool), 1), float("-inf"))
        o = torch.softmax(s, -1) @ v
        return lin(o.transpose(0, 1).reshape(tq, d), p + ".out_proj")

    src = [int(t) for t in a.ids]
    x = emb[src] * scale + sinus(len(src))
    for i in range(cfg["encoder_layers"]):
        p = "model.encoder.layers.%d" % i
        x = ln(x + mha(x, x, p + ".self_attn", False), p + ".self_attn_layer_norm")
        x = ln(x + lin(act(lin(x, p + ".fc1")), p + ".fc2"), p + ".final_layer_norm")
    mem = x
    print("enc %d %d" % (len(src), d))
    print(" ".join("%.9e" % v for v in mem.reshape(-1).tolist()))
    bias = w["final_logits_bias"][0].clone()
    for bad in cfg.get("bad_words_ids", []):
        if len(bad) == 1:
            bias[bad[0]] = float("-inf")
    tgt = [cfg["decoder_start_token_id"]]
    out = []
    for step in range(int(a.steps)):
        y = emb[tgt] * scale + sinus(len(tgt))
        for i in range(cfg["decoder_layers"]):
            p = "model.decoder.layers.%d" % i
            y = ln(y + mha(y, y, p + ".self_attn", True), p + ".self_attn_layer_norm")
            y = ln(y + mha(y, mem, p + ".encoder_attn", False), p + ".encoder_attn_layer_norm")
            y = ln(y + lin(act(lin(y, p + ".fc1")), p + ".fc2"), p + ".final_layer_norm")
        logits = y[-1] @ head.T + bias
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
    m.add_argument("--max-pos", type=int, default=24)
    m.add_argument("--act", default="swish")
    m.add_argument("--no-scale", action="store_true")
    m.add_argument("--lm-head", action="store_true")
    m.add_argument("--model-type", default="marian")
    m.add_argument("--drop")
    m.add_argument("--bad-shape")
    m.add_argument("--vocab", type=int, default=40)
    m.add_argument("--numpy", action="store_true")
    m.add_argument("--bad-positions", action="store_true")
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
