#!/usr/bin/python3
"""Pretrain a small multi-exit BERT backbone on the unlabelled text of the
train splits (masked LM + a self-supervised pair-overlap objective), for
recipes/train_glue.py --init.

  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 recipes/pretrain_mlm.py \
      --minutes 30 --seed 1234 --out recipes/work/mlm-backbone

Text: sentences of ../shared/data/glue/{sst2,cola,mrpc,rte,stsb}/train.tsv
(labels are never read) and ../shared/data/translation/multi30k/train.en.
No dev or test file is opened.

Vocabulary: bert-base-uncased WordPiece restricted to the specials, every
single character seen in the corpus (both forms) and the --vocab-size most
frequent corpus tokens, so an embedding table for a <= 8 MB checkpoint.

Inputs mix single sentences, the natural (a, b) pairs of MRPC/RTE/STS-B
train (either order), random sentence pairs and (a, corrupted a) pairs, so
segment embeddings and cross-segment attention are trained ([SEP]/segment
layout of the GLUE pairs). Objectives:
  * MLM, 15% of non-special positions (80% [MASK], 10% random, 10% kept);
  * for pairs, regression of the word-type Jaccard overlap of a and b from
    the [CLS] state of every layer (PABEE-style weights), a pretraining head
    that is not exported: MRPC/RTE respond to lexical overlap.
Export: config.json, model.safetensors (bert.* only), vocab.txt."""

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import glue_data  # noqa: E402
import safetensors_io  # noqa: E402
from multiexit_model import Cfg, MultiExitBert  # noqa: E402
from wordpiece import SPECIALS, WordPiece, basic_tokenize, build_inputs, load_vocab  # noqa: E402

T0 = time.time()
PAIR_TASKS = ("mrpc", "rte", "stsb")
SINGLE_TASKS = ("sst2", "cola")


def log(msg):
    print("[%7.1fs] %s" % (time.time() - T0, msg), flush=True)


def read_corpus(glue_dir, mt_en):
    singles, pairs = [], []
    for task in SINGLE_TASKS + PAIR_TASKS:
        for a, b, _ in glue_data.read_split(glue_dir, task, "train"):
            singles.append(a)
            if b is not None:
                singles.append(b)
                pairs.append((a, b))
    with open(mt_en, encoding="utf-8") as f:
        singles.extend(line.strip() for line in f if line.strip())
    seen, uniq = set(), []
    for s in singles:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq, pairs


def build_vocab(full_tokens, sentences, size):
    full_wp = WordPiece(full_tokens)
    freq = Counter()
    for s in sentences:
        freq.update(full_wp.encode_text(s))
    keep = {full_wp.ids[t] for t in SPECIALS}
    chars = set()
    for s in sentences:
        for w in basic_tokenize(s):
            chars.update(w)
    for ch in chars:
        for t in (ch, "##" + ch):
            if t in full_wp.ids:
                keep.add(full_wp.ids[t])
    for i, _ in freq.most_common():
        if len(keep) >= size:
            break
        keep.add(i)
    return [full_tokens[i] for i in sorted(keep)], len(freq)


def words(s):
    return set(basic_tokenize(s))


def jaccard(a, b):
    u = a | b
    return len(a & b) / len(u) if u else 0.0


def corrupt(text, rng, other):
    """Replace or drop a random fraction of the words of text."""
    ws = text.split()
    rate = rng.uniform(0.1, 0.9)
    donor = other.split() or ["the"]
    out = []
    for w in ws:
        r = rng.random()
        if r < rate / 2:
            continue
        out.append(donor[rng.randrange(len(donor))] if r < rate else w)
    if rng.random() < 0.3:
        rng.shuffle(out)
    return " ".join(out) or donor[0]


class MlmHead(nn.Module):
    def __init__(self, c, word_emb):
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.hidden)
        self.ln = nn.LayerNorm(c.hidden, eps=c.eps)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.word_emb = word_emb

    def forward(self, h):
        return F.linear(self.ln(F.gelu(self.dense(h))), self.word_emb.weight, self.bias)


def hidden_states(model, ids, types, mask):
    add = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
    x = model.bert.embeddings(ids, types)
    out = []
    for layer in model.bert.encoder.layer:
        x = layer(x, add)
        out.append(x)
    return out


def make_item(rng, wp, singles, pairs, enc_cache, max_len):
    """(ids, types, overlap or nan)."""
    def enc(s):
        e = enc_cache.get(s)
        if e is None:
            e = enc_cache[s] = wp.encode_text(s)
        return e
    r = rng.random()
    if r < 0.35:
        s = singles[rng.randrange(len(singles))]
        ids, types = build_inputs(enc(s), None, wp.cls, wp.sep, max_len)
        return ids, types, float("nan")
    if r < 0.65:
        a, b = pairs[rng.randrange(len(pairs))]
        if rng.random() < 0.5:
            a, b = b, a
    elif r < 0.8:
        a = singles[rng.randrange(len(singles))]
        b = singles[rng.randrange(len(singles))]
    else:
        a = singles[rng.randrange(len(singles))]
        b = corrupt(a, rng, singles[rng.randrange(len(singles))])
        if rng.random() < 0.5:
            a, b = b, a
    ids, types = build_inputs(enc(a), enc(b), wp.cls, wp.sep, max_len)
    return ids, types, jaccard(words(a), words(b))


def mask_batch(ids, special, vocab_size, gen, rate=0.15):
    labels = ids.clone()
    cand = ~special
    pick = (torch.rand(ids.shape, generator=gen) < rate) & cand
    labels[~pick] = -100
    x = ids.clone()
    u = torch.rand(ids.shape, generator=gen)
    x[pick & (u < 0.8)] = 4  # [MASK] id is fixed below
    rnd = pick & (u >= 0.8) & (u < 0.9)
    x[rnd] = torch.randint(5, vocab_size, ids.shape, generator=gen)[rnd]
    return x, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--glue", default=os.path.join(ROOT, "..", "shared", "data", "glue"))
    ap.add_argument("--mt-en", default=os.path.join(ROOT, "..", "shared", "data", "translation",
                                                    "multi30k", "train.en"))
    ap.add_argument("--vocab", default=os.path.join(ROOT, "models", "vocab", "bert-base-uncased-vocab.txt"))
    ap.add_argument("--out", default=os.path.join(HERE, "work", "mlm-backbone"))
    ap.add_argument("--vocab-size", type=int, default=7000)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=20000, help="schedule length")
    ap.add_argument("--minutes", type=float, default=30.0, help="stop (and export) after this; 0: no limit")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop (and export) after this many steps, the schedule still --steps long: "
                         "replays a --minutes run exactly (its log says how many steps it made)")
    ap.add_argument("--overlap-weight", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--measure-steps", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = random.Random(args.seed)
    log("OPENBLAS_CORETYPE=%s, torch %s, threads %d"
        % (os.environ.get("OPENBLAS_CORETYPE", "(unset)"), torch.__version__, args.threads))

    singles, pairs = read_corpus(args.glue, args.mt_en)
    full = load_vocab(args.vocab)
    vocab, distinct = build_vocab(full, singles, args.vocab_size)
    wp = WordPiece(vocab)
    assert wp.ids["[MASK]"] == 4 and wp.pad == 0, "specials must keep ids 0..4"
    log("corpus: %d distinct sentences, %d natural pairs; %d distinct full-vocab ids, vocab %d"
        % (len(singles), len(pairs), distinct, len(vocab)))

    c = Cfg(len(vocab), 1, hidden=args.hidden, layers=args.layers, heads=args.heads,
            intermediate=args.intermediate, max_pos=128, dropout=args.dropout)
    model = MultiExitBert(c)
    mlm = MlmHead(c, model.bert.embeddings.word_embeddings)
    mlm.apply(MultiExitBert._init)
    params = list(model.parameters()) + [p for n, p in mlm.named_parameters() if not n.startswith("word_emb")]
    log("backbone %d parameters" % sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, eps=1e-6)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.05, (args.steps - s) / (args.steps - warm)))
    L = args.layers
    w = torch.tensor([i + 1.0 for i in range(L)])
    w = w / w.sum()
    enc_cache = {}
    t_start = time.time()
    run = Counter()
    step = 0
    model.train()
    while (step < args.steps and (not args.max_steps or step < args.max_steps)
           and (not args.minutes or time.time() - t_start < 60 * args.minutes)):
        items = [make_item(rng, wp, singles, pairs, enc_cache, args.max_len) for _ in range(args.batch)]
        t = max(len(i[0]) for i in items)
        ids = torch.zeros(args.batch, t, dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for r, (a, ty, _) in enumerate(items):
            ids[r, :len(a)] = torch.tensor(a)
            types[r, :len(ty)] = torch.tensor(ty)
            mask[r, :len(a)] = 1
        ov = torch.tensor([i[2] for i in items])
        special = (ids == wp.cls) | (ids == wp.sep) | (ids == wp.pad)
        x, labels = mask_batch(ids, special, len(vocab), gen)
        hs = hidden_states(model, x, types, mask)
        sel = labels != -100
        loss_mlm = F.cross_entropy(mlm(hs[-1][sel]), labels[sel])
        has = ~torch.isnan(ov)
        loss_ov = torch.zeros(())
        if has.any():
            # the exits' pooler + a 1-output classifier, as a GLUE regression head
            per = torch.stack([F.mse_loss(torch.sigmoid(model.exits[i](h[has, 0]).squeeze(-1)), ov[has])
                               for i, h in enumerate(hs)])
            loss_ov = (w * per).sum()
        loss = loss_mlm + args.overlap_weight * loss_ov
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1
        run["mlm"] += loss_mlm.item()
        run["ov"] += loss_ov.item()
        run["acc"] += (mlm(hs[-1][sel]).argmax(-1) == labels[sel]).float().mean().item() if step % 50 == 0 else 0
        if step % args.log_every == 0:
            log("step %d mlm %.3f overlap-mse %.4f mlm-acc %.3f lr %.2e %.3f s/step"
                % (step, run["mlm"] / args.log_every, run["ov"] / args.log_every,
                   run["acc"] / (args.log_every / 50), sched.get_last_lr()[0], (time.time() - t_start) / step))
            run.clear()
        if args.measure_steps and step >= args.measure_steps:
            log("measured %d steps: %.3f s/step (batch %d)" % (step, (time.time() - t_start) / step, args.batch))
            return
    log("stopped after %d steps, %.0f s" % (step, time.time() - t_start))

    os.makedirs(args.out, exist_ok=True)
    T = {k: v.detach().numpy() for k, v in model.state_dict().items() if k.startswith("bert.")}
    safetensors_io.save(os.path.join(args.out, "model.safetensors"), T,
                        {"format": "pt", "offramp_recipe": "recipes/pretrain_mlm.py"})
    cfg = {"model_type": "bert", "hidden_size": c.hidden, "num_hidden_layers": c.layers,
           "num_attention_heads": c.heads, "intermediate_size": c.intermediate,
           "max_position_embeddings": c.max_pos, "type_vocab_size": c.type_vocab,
           "vocab_size": c.vocab_size, "layer_norm_eps": c.eps, "hidden_dropout_prob": c.dropout,
           "offramp_pretrain": {"recipe": "OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 recipes/pretrain_mlm.py "
                                + " ".join(sys.argv[1:]), "steps": step, "seed": args.seed,
                                "seconds": time.time() - t_start,
                                "s_per_step": (time.time() - t_start) / max(1, step),
                                "sentences": len(singles), "pairs": len(pairs)}}
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
