"""Multi30k en->de Transformers with decoder exit heads, exported as
CTranslate2 model.bin directories offramp's C runtime reads
(workers/models/ct2.c, seq2seq_load.c; layout: docs/TRANSLATION.md).

    /usr/bin/python3 recipes/train_mt.py --model large  --out models/mt-multi30k-large
    /usr/bin/python3 recipes/train_mt.py --model small  --out models/mt-multi30k-small
    /usr/bin/python3 recipes/train_mt.py --model hybrid --out models/mt-multi30k-hybrid \
        --large models/mt-multi30k-large --small models/mt-multi30k-small

What it does (each run is deterministic for a seed, 2 threads):
- learns a joint BPE vocabulary (recipes/mt_bpe.py) on train.en + train.de;
- trains a pre-norm Transformer (CTranslate2's computation: embeddings x
  sqrt(d) + sinusoids from position 1, LayerNorm eps 1e-5, fused QKV, ReLU;
  source without BOS/EOS, target <s> ... </s>), all embeddings and the
  output projection tied;
- exits: the shared final decoder LayerNorm + projection applied after every
  decoder layer, loss = sum_l w_l CE_l with w_l = l / sum(1..L) (CALM-style
  weighted average; intermediate layers on a random --exit-frac of target
  positions to save the 8k-way softmax);
- selects the epoch with the best greedy val BLEU (torch decode), exports it;
- hybrid: the large model's encoder (frozen) + a learned linear projection
  d_large -> d_small + the small model's decoder (fine-tuned, initialised
  from the small checkpoint), read back from the exported model.bin files.
"""
import argparse
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_io  # noqa: E402
import mt_bpe  # noqa: E402

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SIZES = {   # n_enc, n_dec, d, heads, ffn
    "large": (3, 3, 128, 4, 512),
    "small": (2, 2, 64, 4, 256),
}


# ---------------------------------------------------------------- model

def sinusoids(n, d):
    """CTranslate2's generate_sinusoidal_position_encoding, rows for
    positions 1..n (seq2seq.c sinusoids)."""
    half = d // 2
    inc = math.log(10000.0) / (half - 1)
    t = torch.arange(1, n + 1, dtype=torch.float32)[:, None] * torch.exp(
        -inc * torch.arange(half, dtype=torch.float32))[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], 1)


class Attn(nn.Module):
    def __init__(self, d, h, cross, drop):
        super().__init__()
        self.h, self.cross, self.drop = h, cross, drop
        if cross:
            self.q, self.kv = nn.Linear(d, d), nn.Linear(d, 2 * d)
        else:
            self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x, mem=None, mask=None):
        B, T, d = x.shape
        if self.cross:
            q = self.q(x)
            k, v = self.kv(mem).chunk(2, -1)
        else:
            q, k, v = self.qkv(x).chunk(3, -1)
        h, dh = self.h, d // self.h
        sh = lambda t: t.view(B, -1, h, dh).transpose(1, 2)  # noqa: E731
        q, k, v = sh(q), sh(k), sh(v)
        s = (q / math.sqrt(dh)) @ k.transpose(-1, -2)
        if mask is not None:
            s = s.masked_fill(mask, float("-inf"))
        p = F.dropout(torch.softmax(s, -1), self.drop, self.training)
        return self.out((p @ v).transpose(1, 2).reshape(B, T, d))


class Layer(nn.Module):
    def __init__(self, d, h, ffn, dec, drop):
        super().__init__()
        self.dec, self.drop = dec, drop
        self.sa_ln, self.sa = nn.LayerNorm(d, eps=1e-5), Attn(d, h, False, drop)
        if dec:
            self.ca_ln, self.ca = nn.LayerNorm(d, eps=1e-5), Attn(d, h, True, drop)
        self.ff_ln = nn.LayerNorm(d, eps=1e-5)
        self.ff0, self.ff1 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x, self_mask, mem=None, mem_mask=None):
        dp = lambda t: F.dropout(t, self.drop, self.training)  # noqa: E731
        x = x + dp(self.sa(self.sa_ln(x), mask=self_mask))
        if self.dec:
            x = x + dp(self.ca(self.ca_ln(x), mem=mem, mask=mem_mask))
        return x + dp(self.ff1(torch.relu(self.ff0(self.ff_ln(x)))))


class Encoder(nn.Module):
    def __init__(self, V, n, d, h, ffn, drop, emb=None):
        super().__init__()
        self.d, self.drop = d, drop
        self.emb = emb if emb is not None else nn.Embedding(V, d)
        self.layers = nn.ModuleList(Layer(d, h, ffn, False, drop) for _ in range(n))
        self.ln = nn.LayerNorm(d, eps=1e-5)
        self.register_buffer("pos", sinusoids(512, d), persistent=False)

    def forward(self, src):
        pad = (src == PAD)[:, None, None, :]
        x = self.emb(src) * math.sqrt(self.d) + self.pos[:src.shape[1]]
        x = F.dropout(x, self.drop, self.training)
        for L in self.layers:
            x = L(x, pad)
        return self.ln(x), pad


class Decoder(nn.Module):
    def __init__(self, V, n, d, h, ffn, drop, emb):
        super().__init__()
        self.d, self.drop = d, drop
        self.emb = emb
        self.layers = nn.ModuleList(Layer(d, h, ffn, True, drop) for _ in range(n))
        self.ln = nn.LayerNorm(d, eps=1e-5)
        self.proj_bias = nn.Parameter(torch.zeros(V))
        self.register_buffer("pos", sinusoids(512, d), persistent=False)

    def logits(self, hstate):
        return F.linear(self.ln(hstate), self.emb.weight, self.proj_bias)

    def forward(self, tgt_in, mem, mem_pad):
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)[None, None]
        mask = causal | (tgt_in == PAD)[:, None, None, :]
        x = self.emb(tgt_in) * math.sqrt(self.d) + self.pos[:T]
        x = F.dropout(x, self.drop, self.training)
        states = []
        for L in self.layers:
            x = L(x, mask, mem, mem_pad)
            states.append(x)
        return states


class Seq2Seq(nn.Module):
    """Plain model (enc d == dec d, shared embedding) or hybrid
    (foreign encoder + projection + decoder)."""

    def __init__(self, V, n_enc, n_dec, d, h, ffn, drop, enc=None, d_enc=None):
        super().__init__()
        emb = nn.Embedding(V, d)
        nn.init.normal_(emb.weight, 0, d ** -0.5)
        with torch.no_grad():
            emb.weight[PAD].zero_()
        self.enc = enc if enc is not None else Encoder(V, n_enc, d, h, ffn, drop, emb)
        self.dec = Decoder(V, n_dec, d, h, ffn, drop, emb)
        self.proj = nn.Linear(d_enc, d) if d_enc is not None else None

    def memory(self, src):
        mem, pad = self.enc(src)
        if self.proj is not None:
            mem = self.proj(mem)
        return mem, pad


# ---------------------------------------------------------------- data

def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [" ".join(l.split()) for l in f.read().split("\n")[:-1]]


def ids(bpe, tok2id, line):
    return [tok2id.get(p, UNK) for p in bpe.encode(line)]


def batches(pairs, max_tokens, rng):
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]) + rng.random(), len(pairs[i][1])))
    out, cur, mx = [], [], 0
    for i in order:
        m = max(mx, len(pairs[i][0]), len(pairs[i][1]) + 1)
        if cur and m * (len(cur) + 1) > max_tokens:
            out.append(cur)
            cur, m = [], max(len(pairs[i][0]), len(pairs[i][1]) + 1)
        cur.append(i)
        mx = m
    if cur:
        out.append(cur)
    return out


def pad_to(seqs, extra_front=None, extra_back=None):
    seqs = [([extra_front] if extra_front is not None else []) + s + ([extra_back] if extra_back is not None else [])
            for s in seqs]
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [PAD] * (T - len(s)) for s in seqs], dtype=torch.long)


# ---------------------------------------------------------------- BLEU (selection only)

def _tok13a(s):
    s = re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 ", " " + s + " ")
    s = re.sub(r"([^0-9])([\.,])", r"\1 \2 ", s)
    s = re.sub(r"([\.,])([^0-9])", r" \1 \2", s)
    s = re.sub(r"([0-9])(-)", r"\1 \2 ", s)
    return s.split()


def bleu(hyps, refs):
    """Corpus BLEU with a 13a-like tokeniser (the reported numbers come from
    `offramp score`; this one only picks the epoch)."""
    m, t = [0] * 4, [0] * 4
    hl = rl = 0
    for h, r in zip(hyps, refs):
        h, r = _tok13a(h), _tok13a(r)
        hl, rl = hl + len(h), rl + len(r)
        for n in range(1, 5):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            m[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            t[n - 1] += max(len(h) - n + 1, 0)
    if min(m) == 0:
        return 0.0
    lp = sum(math.log(m[i] / t[i]) for i in range(4)) / 4
    bp = 1.0 if hl > rl else math.exp(1 - rl / max(hl, 1))
    return 100 * bp * math.exp(lp)


# ---------------------------------------------------------------- decode

@torch.no_grad()
def greedy(model, srcs, id2tok, max_len=None, bsz=100, exit_layer=None):
    """Greedy search as `offramp translate --beam 1` (EOS forbidden at the
    first step, at most max_len steps, default 256)."""
    model.eval()
    out = [None] * len(srcs)
    order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
    for b0 in range(0, len(order), bsz):
        idx = order[b0:b0 + bsz]
        src = pad_to([srcs[i] for i in idx])
        mem, pad = model.memory(src)
        cap = max_len or 256
        ys = torch.full((len(idx), 1), BOS, dtype=torch.long)
        done = torch.zeros(len(idx), dtype=torch.bool)
        for step in range(cap):
            st = model.dec(ys, mem, pad)
            h = st[exit_layer if exit_layer is not None else -1][:, -1]
            lg = model.dec.logits(h)
            if step == 0:
                lg[:, EOS] = float("-inf")
            nxt = lg.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            ys = torch.cat([ys, nxt[:, None]], 1)
            done |= nxt == EOS
            if bool(done.all()):
                break
        for k, i in enumerate(idx):
            toks = []
            for t in ys[k, 1:].tolist():
                if t == EOS or t == PAD:
                    break
                toks.append(id2tok[t])
            out[i] = toks
    return out


# ---------------------------------------------------------------- export

def _lin(v, scope, lin):
    v[scope + "/weight"] = lin.weight.detach().numpy().astype(np.float32)
    v[scope + "/bias"] = lin.bias.detach().numpy().astype(np.float32)


def _ln(v, scope, ln):
    v[scope + "/gamma"] = ln.weight.detach().numpy().astype(np.float32)
    v[scope + "/beta"] = ln.bias.detach().numpy().astype(np.float32)


def _layer(v, s, L):
    _ln(v, s + "/self_attention/layer_norm", L.sa_ln)
    _lin(v, s + "/self_attention/linear_0", L.sa.qkv)
    _lin(v, s + "/self_attention/linear_1", L.sa.out)
    if L.dec:
        _ln(v, s + "/attention/layer_norm", L.ca_ln)
        _lin(v, s + "/attention/linear_0", L.ca.q)
        _lin(v, s + "/attention/linear_1", L.ca.kv)
        _lin(v, s + "/attention/linear_2", L.ca.out)
    _ln(v, s + "/ffn/layer_norm", L.ff_ln)
    _lin(v, s + "/ffn/linear_0", L.ff0)
    _lin(v, s + "/ffn/linear_1", L.ff1)


def export(model, out, vocab, merges, heads_enc, heads_dec, meta):
    os.makedirs(out, exist_ok=True)
    v, al = {}, {}
    v["encoder/num_heads"] = np.array(heads_enc, dtype=np.int16)
    v["encoder/pre_norm"] = np.array(1, dtype=np.int8)
    v["encoder/activation"] = np.array(0, dtype=np.int8)
    v["decoder/num_heads"] = np.array(heads_dec, dtype=np.int16)
    v["decoder/pre_norm"] = np.array(1, dtype=np.int8)
    v["decoder/activation"] = np.array(0, dtype=np.int8)
    v["encoder/embeddings/weight"] = model.enc.emb.weight.detach().numpy().astype(np.float32)
    for i, L in enumerate(model.enc.layers):
        _layer(v, "encoder/layer_%d" % i, L)
    _ln(v, "encoder/layer_norm", model.enc.ln)
    if model.proj is not None:
        _lin(v, "hybrid/projection", model.proj)
    if model.dec.emb is model.enc.emb:
        al["decoder/embeddings/weight"] = "encoder/embeddings/weight"
        al["decoder/projection/weight"] = "encoder/embeddings/weight"
    else:
        v["decoder/embeddings/weight"] = model.dec.emb.weight.detach().numpy().astype(np.float32)
        al["decoder/projection/weight"] = "decoder/embeddings/weight"
    for i, L in enumerate(model.dec.layers):
        _layer(v, "decoder/layer_%d" % i, L)
    _ln(v, "decoder/layer_norm", model.dec.ln)
    v["decoder/projection/bias"] = model.dec.proj_bias.detach().numpy().astype(np.float32)
    ct2_io.write(os.path.join(out, "model.bin"), v, al)
    with open(os.path.join(out, "shared_vocabulary.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    mt_bpe.save_merges(os.path.join(out, "bpe_merges.txt"), merges)
    cfg = {"add_source_bos": False, "add_source_eos": False, "bos_token": "<s>",
           "eos_token": "</s>", "unk_token": "<unk>", "decoder_start_token": "<s>",
           "layer_norm_epsilon": 1e-5, "offramp": meta}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def load_ct2(model, path, part):
    """Copy encoder ("encoder") or decoder ("decoder") weights of an exported
    model.bin into model (the inverse of export)."""
    m = ct2_io.read(path)
    var, al = m["variables"], m["aliases"]
    get = lambda n: torch.from_numpy(var[al.get(n, n)])  # noqa: E731

    def lin(s, l):
        l.weight.data.copy_(get(s + "/weight"))
        l.bias.data.copy_(get(s + "/bias"))

    def ln(s, l):
        l.weight.data.copy_(get(s + "/gamma"))
        l.bias.data.copy_(get(s + "/beta"))

    side = model.enc if part == "encoder" else model.dec
    side.emb.weight.data.copy_(get(part + "/embeddings/weight"))
    for i, L in enumerate(side.layers):
        s = "%s/layer_%d" % (part, i)
        ln(s + "/self_attention/layer_norm", L.sa_ln)
        lin(s + "/self_attention/linear_0", L.sa.qkv)
        lin(s + "/self_attention/linear_1", L.sa.out)
        if L.dec:
            ln(s + "/attention/layer_norm", L.ca_ln)
            lin(s + "/attention/linear_0", L.ca.q)
            lin(s + "/attention/linear_1", L.ca.kv)
            lin(s + "/attention/linear_2", L.ca.out)
        ln(s + "/ffn/layer_norm", L.ff_ln)
        lin(s + "/ffn/linear_0", L.ff0)
        lin(s + "/ffn/linear_1", L.ff1)
    ln(part + "/layer_norm", side.ln)
    if part == "decoder":
        side.proj_bias.data.copy_(get("decoder/projection/bias"))


def dims_of(path):
    """(n_enc, n_dec, d, heads, ffn) of an exported plain model.bin."""
    var = ct2_io.read(path)["variables"]
    n = lambda side: sum(1 for k in var if k.startswith(side + "/layer_") and k.endswith("/ffn/linear_0/weight"))  # noqa: E731
    return (n("encoder"), n("decoder"), var["encoder/embeddings/weight"].shape[1],
            int(var["encoder/num_heads"]), var["encoder/layer_0/ffn/linear_0/weight"].shape[0])


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["large", "small", "hybrid"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="/work/shared/data/translation/multi30k")
    ap.add_argument("--large", help="hybrid: exported large model dir (encoder source)")
    ap.add_argument("--small", help="hybrid: exported small model dir (decoder init)")
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--max-steps", type=int, default=0, help="0: until --time-budget")
    ap.add_argument("--time-budget", type=float, default=0, help="seconds of training (0: none)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--val-greedy", type=int, default=200, help="val sentences greedy-decoded at each eval")
    ap.add_argument("--max-tokens", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=80)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--exit-frac", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--proj-init", choices=["lstsq", "random"], default="lstsq")
    ap.add_argument("--proj-init-n", type=int, default=3000)
    ap.add_argument("--no-final-decode", action="store_true")
    ap.add_argument("--bench", type=int, default=0, help="time N steps and exit")
    ap.add_argument("--log", help="log file (default recipes/logs/train_mt_<model>.log)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    here = os.path.dirname(os.path.abspath(__file__))
    logp = args.log or os.path.join(here, "logs", "train_mt_%s.log" % args.model)
    os.makedirs(os.path.dirname(logp), exist_ok=True)
    logf = open(logp, "a" if args.bench == 0 else "w")

    def log(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    cmd = "/usr/bin/python3 " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    log("==== %s  %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), cmd))
    log("torch %s, threads %d, OPENBLAS_CORETYPE=%s" % (torch.__version__, torch.get_num_threads(),
                                                         os.environ.get("OPENBLAS_CORETYPE", "")))
    D = args.data
    tr_en, tr_de = read_lines(D + "/train.en"), read_lines(D + "/train.de")
    va_en, va_de = read_lines(D + "/val.en"), read_lines(D + "/val.de")
    t0 = time.time()
    merges, vocab = mt_bpe.learn(tr_en + tr_de, args.vocab_size, log=log)
    assert vocab[:4] == mt_bpe.SPECIALS
    log("bpe learned in %.1fs" % (time.time() - t0))
    bpe = mt_bpe.BPE(merges)
    tok2id = {t: i for i, t in enumerate(vocab)}
    V = len(vocab)
    train = [(ids(bpe, tok2id, e), ids(bpe, tok2id, g)) for e, g in zip(tr_en, tr_de)]
    train = [(s[:200], t[:200]) for s, t in train if s and t]
    va_src = [ids(bpe, tok2id, e) for e in va_en]
    va_pairs = [(s, ids(bpe, tok2id, g)) for s, g in zip(va_src, va_de)]

    if args.model == "hybrid":
        nL, _, dL, hL, fL = dims_of(os.path.join(args.large, "model.bin"))
        nE, nD, d, h, ffn = dims_of(os.path.join(args.small, "model.bin"))
        enc = Encoder(V, nL, dL, hL, fL, 0.0, nn.Embedding(V, dL))
        model = Seq2Seq(V, 0, nD, d, h, ffn, args.dropout, enc=enc, d_enc=dL)
        load_ct2(model, os.path.join(args.large, "model.bin"), "encoder")
        load_ct2(model, os.path.join(args.small, "model.bin"), "decoder")
        for p in model.enc.parameters():
            p.requires_grad_(False)
        if args.proj_init == "lstsq":
            # start from the least-squares map large-encoder states -> small-encoder
            # states (same tokens) on --proj-init-n training sources
            small_enc = Encoder(V, nE, d, h, ffn, 0.0, nn.Embedding(V, d))
            tmp = Seq2Seq(V, 0, 0, d, h, ffn, 0.0, enc=small_enc)
            load_ct2(tmp, os.path.join(args.small, "model.bin"), "encoder")
            xs, ys = [], []
            model.eval()
            tmp.eval()
            with torch.no_grad():
                for b0 in range(0, args.proj_init_n, 200):
                    src = pad_to([train[i][0] for i in range(b0, min(b0 + 200, args.proj_init_n))])
                    keep = (src != PAD).view(-1)
                    xs.append(model.enc(src)[0].reshape(-1, dL)[keep])
                    ys.append(tmp.enc(src)[0].reshape(-1, d)[keep])
            X = torch.cat([torch.cat(xs), torch.ones(sum(x.shape[0] for x in xs), 1)], 1).double()
            Y = torch.cat(ys).double()
            Wb = torch.linalg.solve(X.T @ X + 1e-3 * torch.eye(X.shape[1], dtype=X.dtype), X.T @ Y)
            model.proj.weight.data.copy_(Wb[:-1].T.float())
            model.proj.bias.data.copy_(Wb[-1].float())
            res = ((X @ Wb - Y) ** 2).mean() / Y.var(0).mean()
            log("projection: least-squares init on %d tokens, relative residual %.3f" % (X.shape[0], res.item()))
            del tmp, small_enc
        heads_enc, dims = hL, dict(n_enc=nL, d_enc=dL, n_dec=nD, d_dec=d, ffn_enc=fL, ffn_dec=ffn)
    else:
        nE, nD, d, h, ffn = SIZES[args.model]
        model = Seq2Seq(V, nE, nD, d, h, ffn, args.dropout)
        heads_enc, dims = h, dict(n_enc=nE, n_dec=nD, d=d, ffn=ffn)
    params = [p for p in model.parameters() if p.requires_grad]
    log("model %s %s heads %d/%d, vocab %d, trainable params %d, total %d" % (
        args.model, dims, heads_enc, h, V, sum(p.numel() for p in params),
        sum(p.numel() for p in model.parameters())))
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    nd = len(model.dec.layers)
    wsum = nd * (nd + 1) / 2
    wts = [(l + 1) / wsum for l in range(nd)]

    def step_loss(bidx, train_mode=True, data=None):
        data = data or train
        src = pad_to([data[i][0] for i in bidx])
        tin = pad_to([data[i][1] for i in bidx], extra_front=BOS)
        tout = pad_to([data[i][1] for i in bidx], extra_back=EOS)
        mem, pad = model.memory(src)
        states = model.dec(tin, mem, pad)
        valid = (tout != PAD).view(-1)
        tgt = tout.view(-1)[valid]
        losses = []
        for l, st in enumerate(states):
            hs = st.reshape(-1, st.shape[-1])[valid]
            tg = tgt
            if l < nd - 1 and train_mode and args.exit_frac < 1:
                keep = torch.rand(hs.shape[0]) < args.exit_frac
                hs, tg = hs[keep], tg[keep]
            losses.append(F.cross_entropy(model.dec.logits(hs), tg,
                                          label_smoothing=args.smoothing if train_mode else 0.0))
        return sum(w * x for w, x in zip(wts, losses)), losses, int(valid.sum())

    if args.bench:
        bs = batches(train, args.max_tokens, rng)
        model.train()
        ts = []
        for k in range(args.bench):
            t = time.time()
            loss, _, _ = step_loss(bs[rng.randrange(len(bs))])
            opt.zero_grad()
            loss.backward()
            opt.step()
            ts.append(time.time() - t)
        log("bench: %d batches/epoch, s/step %s -> median %.3f, epoch ~ %.0fs" % (
            len(bs), " ".join("%.2f" % x for x in ts), sorted(ts)[len(ts) // 2],
            sorted(ts)[len(ts) // 2] * len(bs)))
        return

    step, best, best_ep, t_start = 0, -1.0, -1, time.time()
    best_state, stop = None, False
    va_sub = list(range(0, len(va_src), max(1, len(va_src) // args.val_greedy)))[:args.val_greedy]

    def evaluate(tag):
        nonlocal best, best_ep, best_state
        model.eval()
        with torch.no_grad():
            vl, vn = [0.0] * nd, 0
            for vb in batches(va_pairs, 4000, random.Random(0)):
                _, ls, n = step_loss(vb, train_mode=False, data=va_pairs)
                vl = [a + b.item() * n for a, b in zip(vl, ls)]
                vn += n
        hy = [mt_bpe.decode(t) for t in greedy(model, [va_src[i] for i in va_sub], vocab, max_len=80)]
        b = bleu(hy, [va_de[i] for i in va_sub])
        log("eval %s step %d (%.0fs): val CE per exit %s, greedy BLEU on %d val sentences %.2f" % (
            tag, step, time.time() - t_start, " ".join("%.3f" % (x / vn) for x in vl), len(va_sub), b))
        if b > best:
            best, best_ep = b, step
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()

    ep = 0
    while not stop:
        ep += 1
        model.train()
        bs = batches(train, args.max_tokens, rng)
        rng.shuffle(bs)
        te, tl, tn = time.time(), 0.0, 0
        for k, bidx in enumerate(bs):
            step += 1
            lr = args.lr * min(step / args.warmup, math.sqrt(args.warmup / step))
            for g in opt.param_groups:
                g["lr"] = lr
            loss, losses, ntok = step_loss(bidx)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            tl, tn = tl + losses[-1].item() * ntok, tn + ntok
            if step % 10 == 0:
                log("ep %d step %d lr %.2e loss %.3f exits %s (%.2f s/step)" % (
                    ep, step, lr, loss.item(), " ".join("%.2f" % x.item() for x in losses),
                    (time.time() - te) / (k + 1)))
            out_of_time = args.time_budget > 0 and time.time() - t_start > args.time_budget
            if step == args.max_steps or out_of_time:
                stop = True
                log("stopping at step %d (%s); reproduce with --max-steps %d --time-budget 0" % (
                    step, "time budget" if out_of_time else "max steps", step))
                break
            if step % args.eval_every == 0:
                evaluate("ep%d" % ep)
        if not stop:
            log("epoch %d done in %.0fs, train CE %.3f" % (ep, time.time() - te, tl / tn))
    evaluate("final")
    log("best step %d (val-subset BLEU %.2f, recipe scorer); training %.0fs" % (best_ep, best, time.time() - t_start))
    model.load_state_dict(best_state)
    meta = {"recipe": cmd, "trained_on": "multi30k train (29,000 pairs), en->de", "seed": args.seed,
            "selected_step": best_ep, "steps": step, "max_tokens_per_batch": args.max_tokens, "val_bleu_recipe": round(best, 2),
            "exits": "per_decoder_layer: decoder/layer_norm + decoder/projection after every layer",
            "exit_loss": "sum_l l/sum(1..L) * CE_l, label smoothing %.2f" % args.smoothing,
            "tokenizer": "bpe_merges.txt (recipes/mt_bpe.py): input must be BPE pieces separated by spaces",
            "dims": dims}
    if args.model == "hybrid":
        meta["hybrid"] = {"encoder_from": os.path.basename(os.path.normpath(args.large)),
                          "decoder_from": os.path.basename(os.path.normpath(args.small)),
                          "projection": "hybrid/projection", "d_encoder": dims["d_enc"],
                          "d_decoder": dims["d_dec"], "encoder_num_heads": hL, "decoder_num_heads": h}
    export(model, args.out, vocab, merges, heads_enc, h, meta)
    log("exported %s (%d bytes model.bin)" % (args.out, os.path.getsize(os.path.join(args.out, "model.bin"))))
    # torch's own greedy decode of val and test, for comparison with the C runtime
    for split in ("val", "test_2016_flickr") if not args.no_final_decode else ():
        src = [ids(bpe, tok2id, e) for e in read_lines(D + "/%s.en" % split)]
        t = time.time()
        hy = [mt_bpe.decode(x) for x in greedy(model, src, vocab)]
        with open(os.path.join(args.out, "torch_greedy.%s.de" % split), "w", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in hy))
        log("torch greedy %s: recipe BLEU %.2f (%.0fs)" % (split, bleu(hy, read_lines(D + "/%s.de" % split)),
                                                            time.time() - t))


if __name__ == "__main__":
    main()
