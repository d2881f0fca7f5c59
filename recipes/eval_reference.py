#!/usr/bin/python3
"""Reference evaluation of an exported multi-exit GLUE checkpoint with plain
torch, reading ONLY the exported directory (config.json, model.safetensors,
vocab.txt) by tensor name, as docs/CHECKPOINTS.md describes. Meant as the
numerical cross-check for the C runtime.

  /usr/bin/python3 recipes/eval_reference.py models/glue-sst2-multiexit \
      [--data /work/shared/data/glue] [--split dev] [--dump out.tsv] [--methods]

Prints the per-exit dev metric; --methods adds the PALBERT / BERxiT / JEI
decision rules at their default thresholds; --dump writes per-example
per-exit logits for a byte-level comparison."""

import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import glue_data  # noqa: E402
import safetensors_io  # noqa: E402
from wordpiece import WordPiece, load_vocab  # noqa: E402


def load_dir(path):
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    arrays, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    T = {}
    for k, v in arrays.items():
        T[k[5:] if k.startswith("bert.") else k] = torch.from_numpy(v)
    vocab = load_vocab(os.path.join(path, "vocab.txt"))
    return cfg, T, vocab


def _lin(T, name, x):
    return x @ T[name + ".weight"].t() + T[name + ".bias"]


def _ln(T, name, x, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], T[name + ".weight"],
                                          T[name + ".bias"], eps)


def cls_states(cfg, T, ids, types, mask):
    """HF BertModel forward; returns the [CLS] state after every layer."""
    eps = cfg["layer_norm_eps"]
    nh = cfg["num_attention_heads"]
    b, t = ids.shape
    x = (T["embeddings.word_embeddings.weight"][ids]
         + T["embeddings.position_embeddings.weight"][:t].unsqueeze(0)
         + T["embeddings.token_type_embeddings.weight"][types])
    x = _ln(T, "embeddings.LayerNorm", x, eps)
    h = x.shape[-1]
    d = h // nh
    add = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    out = []
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i

        def heads(y):
            return y.view(b, t, nh, d).transpose(1, 2)

        q = heads(_lin(T, p + "attention.self.query", x))
        k = heads(_lin(T, p + "attention.self.key", x))
        v = heads(_lin(T, p + "attention.self.value", x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + add, -1)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, h)
        a = _ln(T, p + "attention.output.LayerNorm",
                _lin(T, p + "attention.output.dense", ctx) + x, eps)
        inter = torch.nn.functional.gelu(_lin(T, p + "intermediate.dense", a))
        x = _ln(T, p + "output.LayerNorm", _lin(T, p + "output.dense", inter) + a, eps)
        out.append(x[:, 0])
    return out


def exit_head(T, prefix, h_cls):
    pooled = torch.tanh(_lin(T, prefix + "pooler.dense", h_cls))
    return pooled, _lin(T, prefix + "classifier", pooled)


def encode_split(cfg, vocab, data_dir, task, split):
    wp = WordPiece(vocab)
    max_len = cfg["offramp"]["max_seq_len"]
    rows = glue_data.read_split(data_dir, task, split)
    enc = [wp.encode(a, b, max_len) for a, b, _ in rows]
    return enc, [r[2] for r in rows]


def run(cfg, T, enc, batch=128):
    """Per-exit [CLS] states and logits over all examples (padded batches)."""
    L = cfg["num_hidden_layers"]
    hs = [[] for _ in range(L)]
    with torch.no_grad():
        for s in range(0, len(enc), batch):
            chunk = enc[s:s + batch]
            t = max(len(i) for i, _ in chunk)
            ids = torch.zeros(len(chunk), t, dtype=torch.long)
            types = torch.zeros_like(ids)
            mask = torch.zeros_like(ids)
            for r, (i, ty) in enumerate(chunk):
                ids[r, :len(i)] = torch.tensor(i)
                types[r, :len(ty)] = torch.tensor(ty)
                mask[r, :len(i)] = 1
            for li, h in enumerate(cls_states(cfg, T, ids, types, mask)):
                hs[li].append(h)
    hs = [torch.cat(h, 0) for h in hs]
    logits = [exit_head(T, "exits.%d." % i, hs[i])[1] for i in range(L)]
    return hs, logits


def _rank(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def _pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else 0.0


def metrics(task, pred, gold):
    """Task metric dict from predictions (class ids, or scores for STS-B)."""
    if task == "stsb":
        return {"pearson": _pearson(pred, gold),
                "spearman": _pearson(_rank(pred), _rank(gold))}
    n = len(gold)
    tp = sum(1 for p, g in zip(pred, gold) if p == 1 and g == 1)
    tn = sum(1 for p, g in zip(pred, gold) if p == 0 and g == 0)
    fp = sum(1 for p, g in zip(pred, gold) if p == 1 and g == 0)
    fn = sum(1 for p, g in zip(pred, gold) if p == 0 and g == 1)
    m = {"accuracy": (tp + tn) / n}
    if task == "mrpc":
        m["f1"] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    if task == "cola":
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        m["mcc"] = (tp * tn - fp * fn) / den if den > 0 else 0.0
    return m


def predictions(task, logits):
    if task == "stsb":
        return logits.squeeze(-1).tolist()
    return logits.argmax(-1).tolist()


def fmt(m):
    return " ".join("%s %.4f" % (k, v) for k, v in m.items())


def method_rules(cfg, T, hs, regression):
    """Exit layer (0-based) and output per example for each shipped method
    component at its default threshold."""
    L = cfg["num_hidden_layers"]
    n = hs[0].shape[0]
    pooled, logits = zip(*[exit_head(T, "exits.%d." % i, hs[i]) for i in range(L)])
    stack = torch.stack(logits, 1)
    out = {}
    if "palbert.lambda.0.weight" in T:
        lam = torch.stack([torch.sigmoid(_lin(T, "palbert.lambda.%d" % i, pooled[i])).squeeze(-1)
                           for i in range(L)], 1)
        lam[:, L - 1] = 1.0
        surv = torch.cumprod(torch.cat([torch.ones(n, 1), 1 - lam[:, :L - 1]], 1), 1)
        cum = torch.cumsum(lam * surv, 1)
        layer = torch.argmax((cum > 0.5).int(), 1)
        out["palbert Q-exit q=0.5"] = (layer, stack[torch.arange(n), layer])
    if "berxit.lte.weight" in T:
        cert = torch.stack([torch.sigmoid(_lin(T, "berxit.lte", pooled[i])).squeeze(-1)
                            for i in range(L)], 1)
        ok = cert >= 0.5
        ok[:, L - 1] = True
        layer = torch.argmax(ok.int(), 1)
        out["berxit certainty>=0.5"] = (layer, stack[torch.arange(n), layer])
    if "jei.gate.0.weight" in T:
        gs, outs = [], []
        for i in range(L):
            p, o = exit_head(T, "jei.exits.%d." % i, hs[i])
            if regression:
                f = torch.cat([p, o, torch.zeros_like(o)], -1)
            else:
                pr = torch.softmax(o, -1)
                ent = -(pr * torch.log(pr.clamp_min(1e-30))).sum(-1, keepdim=True)
                f = torch.cat([p, pr, ent], -1)
            gs.append(torch.sigmoid(_lin(T, "jei.gate.%d" % i, f)).squeeze(-1))
            outs.append(o)
        ok = torch.stack(gs, 1) >= 0.5
        ok[:, L - 1] = True
        layer = torch.argmax(ok.int(), 1)
        out["jei gate>=0.5"] = (layer, torch.stack(outs, 1)[torch.arange(n), layer])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "glue"))
    ap.add_argument("--split", default="dev")
    ap.add_argument("--methods", action="store_true")
    ap.add_argument("--dump", help="write per-example per-exit logits (TSV)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, T, vocab = load_dir(args.model_dir)
    task = cfg["offramp"]["task"]
    regression = cfg.get("problem_type") == "regression"
    enc, gold = encode_split(cfg, vocab, args.data, task, args.split)
    hs, logits = run(cfg, T, enc)
    print("%s %s (%d examples), %s" % (task, args.split, len(gold), args.model_dir))
    for i, lg in enumerate(logits):
        print("exit %d (after layer %d): %s" % (i, i + 1, fmt(metrics(task, predictions(task, lg), gold))))
    if args.methods:
        for name, (layer, out) in method_rules(cfg, T, hs, regression).items():
            m = metrics(task, predictions(task, out), gold)
            print("%-22s %s  mean exit layer %.3f" % (name, fmt(m), layer.float().mean().item() + 1))
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for r in range(len(gold)):
                f.write("\t".join(" ".join("%.9g" % v for v in lg[r].tolist()) for lg in logits) + "\n")


if __name__ == "__main__":
    main()
