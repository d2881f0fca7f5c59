#!/usr/bin/python3
"""Train a small multi-exit BERT-style encoder from scratch on one GLUE task
and export it in the layout of docs/CHECKPOINTS.md.

  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 recipes/train_glue.py \
      --task sst2 --epochs 3 --seed 1234 --out models/glue-sst2-multiexit

Stages (see recipes/README.md):
  1. tokenise the train split with the full bert-base-uncased vocabulary,
     prune the vocabulary, check dev tokenises the same with the pruned one;
  2. hold out 5% of train (validation, for epoch selection only);
  3. train backbone + all exit heads jointly with the PABEE weighted loss
     (--variant pabee) or backbone + final head only (--variant deebert);
  4. on the frozen backbone, from cached [CLS] states of the held-out 5%:
     DeeBERT stage 2 (deebert variant, on the training 95%), PALBERT lambda
     layers, BERxiT learn-to-exit, JEI-DNN gates + inference modules;
  5. export, re-evaluate the exported files with eval_reference.py, and
     report dev metrics (dev is read only here, at the end).

Needs only Debian's python3 with torch and numpy; no network."""

import argparse
import copy
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import components  # noqa: E402
import eval_reference  # noqa: E402
import glue_data  # noqa: E402
import safetensors_io  # noqa: E402
from multiexit_model import Cfg, MultiExitBert  # noqa: E402
from wordpiece import SPECIALS, WordPiece, basic_tokenize, load_vocab  # noqa: E402

T0 = time.time()
LABEL_NAMES = {
    "sst2": ["negative", "positive"],
    "mrpc": ["not_equivalent", "equivalent"],
    "rte": ["entailment", "not_entailment"],
    "cola": ["unacceptable", "acceptable"],
}


def log(msg):
    print("[%7.1fs] %s" % (time.time() - T0, msg), flush=True)


# ---- vocabulary -----------------------------------------------------------

def prune_vocab(full_tokens, used_ids):
    """Specials + every id used on train + all single characters and their
    ## forms, in the original order. Returns the kept token list."""
    keep = set(used_ids)
    for i, t in enumerate(full_tokens):
        core = t[2:] if t.startswith("##") else t
        if t in SPECIALS or len(core) == 1:
            keep.add(i)
    return [full_tokens[i] for i in sorted(keep)]


def tokenise_rows(wp, rows, max_len):
    return [wp.encode(a, b, max_len) for a, b, _ in rows]


def check_dev(full_wp, pruned_wp, rows):
    """Compare dev token strings (untruncated) under both vocabularies."""
    diff_tok = diff_ex = total = unk_full = unk_pruned = 0
    for a, b, _ in rows:
        differs = False
        for text in (a, b) if b is not None else (a,):
            for w in basic_tokenize(text):
                f = [full_wp.tokens[i] for i in full_wp.word_ids(w)]
                p = [pruned_wp.tokens[i] for i in pruned_wp.word_ids(w)]
                total += len(f)
                unk_full += f.count("[UNK]")
                unk_pruned += p.count("[UNK]")
                if f != p:
                    differs = True
                    diff_tok += max(len(f), len(p))
        diff_ex += differs
    return dict(dev_tokens=total, differing_tokens=diff_tok, differing_examples=diff_ex,
                examples=len(rows), unk_full=unk_full, unk_pruned=unk_pruned)


# ---- batching ---------------------------------------------------------------

def make_batches(n_items, lengths, bs, rng, bucket=50):
    """Random batches with less padding: shuffle, sort by length within
    chunks of `bucket` batches, shuffle the batch order."""
    perm = rng.permutation(n_items)
    batches = []
    chunk = bs * bucket
    for s in range(0, n_items, chunk):
        part = sorted(perm[s:s + chunk], key=lambda i: lengths[i])
        batches.extend(part[j:j + bs] for j in range(0, len(part), bs))
    rng.shuffle(batches)
    return batches


def collate(enc, idx):
    t = max(len(enc[i][0]) for i in idx)
    ids = torch.zeros(len(idx), t, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, i in enumerate(idx):
        a, ty = enc[i]
        ids[r, :len(a)] = torch.tensor(a)
        types[r, :len(ty)] = torch.tensor(ty)
        mask[r, :len(a)] = 1
    return ids, types, mask


def label_tensor(labels, idx, regression):
    y = [labels[i] for i in idx]
    return torch.tensor(y, dtype=torch.float32 if regression else torch.long)


# ---- training ---------------------------------------------------------------

def exit_losses(logits, y, regression):
    return [components.per_exit_loss(lg, y, regression).mean() for lg in logits]


def objective(losses, variant):
    """pabee: sum_i i * L_i / sum_i i (1-based i); deebert stage 1: final only."""
    if variant == "deebert":
        return losses[-1]
    w = [i + 1 for i in range(len(losses))]
    return sum(wi * li for wi, li in zip(w, losses)) / sum(w)


def evaluate(model, enc, labels, idx, task, regression, bs=256):
    """Per-exit metric dicts and the [CLS] states (list per layer)."""
    model.eval()
    L = model.cfg.layers
    hs = [[] for _ in range(L)]
    order = sorted(idx, key=lambda i: len(enc[i][0]))
    with torch.no_grad():
        for s in range(0, len(order), bs):
            b = order[s:s + bs]
            for li, h in enumerate(model.cls_states(*collate(enc, b))):
                hs[li].append(h)
    pos = {i: p for p, i in enumerate(order)}
    sel = torch.tensor([pos[i] for i in idx])  # back to idx order
    hs = [torch.cat(h, 0)[sel] for h in hs]
    gold = [labels[i] for i in idx]
    with torch.no_grad():
        logits = [model.exits[i](hs[i]) for i in range(L)]
    ms = [eval_reference.metrics(task, eval_reference.predictions(task, lg), gold) for lg in logits]
    return ms, hs, logits


def primary(task, m):
    return {"stsb": "pearson", "cola": "mcc"}.get(task, "accuracy"), \
        m[{"stsb": "pearson", "cola": "mcc"}.get(task, "accuracy")]


def train_backbone(model, enc, labels, tr_idx, va_idx, args, task, regression):
    rng = np.random.RandomState(args.seed)
    lengths = [len(e[0]) for e in enc]
    steps_per_epoch = math.ceil(len(tr_idx) / args.batch)
    total = steps_per_epoch * args.epochs
    warm = max(1, int(args.warmup * total))
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if n.endswith(".bias") or "LayerNorm" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    log("training %s: %d train / %d held-out, %d steps/epoch, %d epochs, warmup %d"
        % (args.variant, len(tr_idx), len(va_idx), steps_per_epoch, args.epochs, warm))
    best = (-1e9, None, -1)
    history = []
    step = 0
    t_start = time.time()
    for ep in range(args.epochs):
        model.train()
        tr_arr = np.array(tr_idx)
        batches = make_batches(len(tr_arr), [lengths[i] for i in tr_arr], args.batch, rng)
        run_loss, t_ep = 0.0, time.time()
        for bi, bpos in enumerate(batches):
            idx = tr_arr[bpos].tolist()
            ids, types, mask = collate(enc, idx)
            y = label_tensor(labels, idx, regression)
            losses = exit_losses(model(ids, types, mask), y, regression)
            loss = objective(losses, args.variant)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run_loss += loss.item()
            if step % args.log_every == 0:
                log("epoch %d step %d/%d loss %.4f lr %.2e %.3f s/step"
                    % (ep + 1, step, total, run_loss / (bi + 1), sched.get_last_lr()[0],
                       (time.time() - t_start) / step))
            if args.measure_steps and step >= args.measure_steps:
                log("measured %d steps: %.3f s/step (batch %d)"
                    % (step, (time.time() - t_start) / step, args.batch))
                return None
        ms, _, _ = evaluate(model, enc, labels, va_idx, task, regression)
        key, val = primary(task, ms[-1])
        history.append({"epoch": ep + 1, "train_loss": run_loss / len(batches),
                        "heldout": ms, "seconds": time.time() - t_ep})
        log("epoch %d done in %.0fs, train loss %.4f; held-out per exit: %s"
            % (ep + 1, time.time() - t_ep, run_loss / len(batches),
               " | ".join("%.4f" % primary(task, m)[1] for m in ms)))
        if val > best[0]:
            best = (val, copy.deepcopy(model.state_dict()), ep + 1)
    model.load_state_dict(best[1])
    log("selected epoch %d (held-out last-exit %s %.4f)" % (best[2], key, best[0]))
    return {"history": history, "best_epoch": best[2],
            "s_per_step": (time.time() - t_start) / max(1, step), "steps": step,
            "train_seconds": time.time() - t_start}


# ---- export -----------------------------------------------------------------

def export(model, comps, vocab_tokens, out_dir, args, task, regression):
    os.makedirs(out_dir, exist_ok=True)
    L = model.cfg.layers
    T = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    # HF BertForSequenceClassification names for the final head too, so the
    # file also loads there; identical to exits.{L-1}.
    T["bert.pooler.dense.weight"] = T["exits.%d.pooler.dense.weight" % (L - 1)]
    T["bert.pooler.dense.bias"] = T["exits.%d.pooler.dense.bias" % (L - 1)]
    T["classifier.weight"] = T["exits.%d.classifier.weight" % (L - 1)]
    T["classifier.bias"] = T["exits.%d.classifier.bias" % (L - 1)]
    names = []
    if "palbert" in comps:
        W, b = comps["palbert"]
        for i in range(L):
            T["palbert.lambda.%d.weight" % i] = W[i:i + 1].numpy()
            T["palbert.lambda.%d.bias" % i] = b[i:i + 1].numpy()
        names.append("palbert")
    if "berxit" in comps:
        w, b = comps["berxit"]
        T["berxit.lte.weight"] = w.numpy()
        T["berxit.lte.bias"] = b.numpy()
        names.append("berxit")
    if "jei" in comps:
        W, b, ims = comps["jei"]
        for i in range(L):
            T["jei.gate.%d.weight" % i] = W[i:i + 1].numpy()
            T["jei.gate.%d.bias" % i] = b[i:i + 1].numpy()
            T["jei.exits.%d.pooler.dense.weight" % i] = ims[i].pooler.dense.weight.detach().numpy()
            T["jei.exits.%d.pooler.dense.bias" % i] = ims[i].pooler.dense.bias.detach().numpy()
            T["jei.exits.%d.classifier.weight" % i] = ims[i].classifier.weight.detach().numpy()
            T["jei.exits.%d.classifier.bias" % i] = ims[i].classifier.bias.detach().numpy()
        names.append("jei")
    c = model.cfg
    cmd = "OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 recipes/train_glue.py " + " ".join(
        a for a in sys.argv[1:])
    cfg = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": c.hidden, "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads, "intermediate_size": c.intermediate,
        "max_position_embeddings": c.max_pos, "type_vocab_size": c.type_vocab,
        "vocab_size": c.vocab_size, "layer_norm_eps": c.eps, "hidden_act": "gelu",
        "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.dropout,
        "initializer_range": 0.02, "pad_token_id": 0, "position_embedding_type": "absolute",
        "num_labels": c.num_labels,
        "problem_type": "regression" if regression else "single_label_classification",
        "torch_dtype": "float32",
    }
    if not regression:
        cfg["id2label"] = {str(i): n for i, n in enumerate(LABEL_NAMES[task])}
        cfg["label2id"] = {n: i for i, n in enumerate(LABEL_NAMES[task])}
    cfg["offramp"] = {
        "exits": "per_layer",
        "task": task,
        "trained_on": "glue/%s train (%.0f%% held out for selection and components)"
                      % (task, 100 * args.holdout),
        "recipe": cmd,
        "objective": "pabee-weighted" if args.variant == "pabee" else "deebert-two-stage",
        "components": names,
        "max_seq_len": args.max_len,
        "truncation": "longest_first",
        "tokenizer": "bert-base-uncased WordPiece (lower case, strip accents), pruned vocab.txt",
        "seed": args.seed,
        "init": args.init_rel,
        "pooled_state": "exits.{i}: tanh(exits.{i}.pooler.dense(h_cls)); "
                        "palbert/berxit read this pooled state",
    }
    if "palbert" in comps:
        cfg["offramp"]["palbert"] = {
            "halting": "lambda_i = sigmoid(palbert.lambda.{i} . pooled_i); p_i = lambda_i prod_{j<i}(1-lambda_j); "
                       "lambda of the last layer is 1 (weight 0, bias 30)",
            "prior": "geometric", "prior_lambda": args.palbert_prior, "beta": args.palbert_beta,
            "exit_rule": "Q-exit: first layer where sum_{j<=i} p_j > q (q = 0.5 in eval_reference)"}
    if "berxit" in comps:
        cfg["offramp"]["berxit"] = {
            "certainty": "sigmoid(berxit.lte . pooled_i), trained with BCE on "
                         + ("exp(-(y_hat_i - y)^2)" if regression else "[exit i is correct]"),
            "exit_rule": "exit at the first layer with certainty >= threshold"}
    if "jei" in comps:
        cfg["offramp"]["jei"] = {
            "inference_modules": "jei.exits.{i}.pooler.dense + jei.exits.{i}.classifier (fine-tuned copies of exits.{i})",
            "gate_input": "[tanh(jei.exits.{i}.pooler.dense(h_cls)) ; "
                          + ("predicted score ; 0" if regression else "softmax(jei.exits.{i} logits) ; entropy (nats)")
                          + "]",
            "gate": "g_i = sigmoid(jei.gate.{i} . input); last gate = 1 (weight 0, bias 30)",
            "objective": "E_x sum_i P_i [L_i + lambda c_i], P_i = g_i prod_{j<i}(1-g_j), c_i = (i+1)/L",
            "lambda": args.jei_lambda,
            "exit_rule": "exit at the first layer with g_i >= 0.5 and predict with jei.exits.{i}"}
    meta = {"format": "pt", "offramp_recipe": "recipes/train_glue.py", "task": task}
    safetensors_io.save(os.path.join(out_dir, "model.safetensors"), T, meta)
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        for t in vocab_tokens:
            f.write(t + "\n")
    n_params = sum(int(np.prod(v.shape)) for v in T.values())
    return cmd, n_params, T


def write_model_readme(out_dir, task, args, cmd, res):
    spec = glue_data.TASKS[task]
    key = {"stsb": "pearson", "cola": "mcc"}.get(task, "accuracy")
    lines = [
        "# glue-%s multi-exit encoder (%s)" % (task, args.variant), "",
        ("Trained from scratch by this project's recipe (`recipes/train_glue.py`), no"
         if not res.get("init") else
         "Fine-tuned by this project's recipe (`recipes/train_glue.py`) from `%s`, no" % args.init_rel),
        "%s weights: %d layers, hidden %d, %d heads, intermediate %d, max %d"
        % ("downloaded" if res.get("init") else "pretrained", args.layers, args.hidden, args.heads, args.intermediate, args.max_len),
        "tokens, pruned bert-base-uncased WordPiece vocabulary (%d tokens)." % res["vocab_size"], "",
    ] + (["- Initialisation: %s." % res["init"]] if res.get("init") else []) + [
        "- Dropout %.2f, lr %g, batch %d, weight decay %g." % (args.dropout, args.lr, args.batch, args.weight_decay),
        "- Data: %s. Licence/terms: %s." % ("GLUE " + task + " train split from shared/data/glue", spec["licence"]),
        "- Exact command (from the repository root): `%s`" % cmd,
        "- Seed %d; torch %s, %d threads; OPENBLAS_CORETYPE=%s."
        % (args.seed, torch.__version__, args.threads, os.environ.get("OPENBLAS_CORETYPE", "(unset)")),
        "- Objective: %s; selected epoch %d of %d by the held-out %.0f%% of train "
        "(dev never used for any choice)." % (res["objective"], res["best_epoch"], args.epochs, 100 * args.holdout),
        "- Parameters (all tensors in the file): %d; model.safetensors %d bytes."
        % (res["n_params"], res["file_bytes"]),
        "- Wall time: backbone %.0f s (%.3f s/step, batch %d), total %.0f s."
        % (res["train_seconds"], res["s_per_step"], args.batch, res["total_seconds"]), "",
        "Measured dev %s per exit (exit i = head after layer i+1):" % key, "",
        "| exit | " + " | ".join(res["dev"][0].keys()) + " |",
        "|---|" + "---|" * len(res["dev"][0]),
    ]
    for i, m in enumerate(res["dev"]):
        lines.append("| %d | " % i + " | ".join("%.4f" % v for v in m.values()) + " |")
    if res.get("methods"):
        lines += ["", "Method components at default thresholds on dev (eval_reference.py --methods):", ""]
        for name, (m, mean_layer) in res["methods"].items():
            lines.append("- %s: %s, mean exit layer %.2f" % (name, eval_reference.fmt(m), mean_layer))
    lines += ["", "Vocabulary pruning check on dev: %s." % json.dumps(res["vocab_check"]), "",
              "Re-evaluate: `/usr/bin/python3 recipes/eval_reference.py %s --methods`"
              % os.path.relpath(out_dir, ROOT), ""]
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


# ---- initialisation from a pretrained or fine-tuned directory -----------------

def load_init(path, args):
    """config.json + model.safetensors + vocab.txt of recipes/pretrain_mlm.py
    or of an earlier train_glue.py export; its shape overrides the CLI's."""
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    args.hidden = cfg["hidden_size"]
    args.layers = cfg["num_hidden_layers"]
    args.heads = cfg["num_attention_heads"]
    args.intermediate = cfg["intermediate_size"]
    arrays, _ = safetensors_io.load(os.path.join(path, "model.safetensors"))
    if "offramp_pretrain" in cfg:
        p = cfg["offramp_pretrain"]
        desc = "MLM + pair-overlap pretraining, %d steps, seed %d (`%s`)" % (p["steps"], p["seed"], p["recipe"])
    else:
        desc = "fine-tuned on glue/%s (`%s`)" % (cfg["offramp"]["task"], cfg["offramp"]["recipe"])
    return {"vocab": load_vocab(os.path.join(path, "vocab.txt")), "tensors": arrays,
            "desc": desc, "cfg": cfg}


def apply_init(model, arrays, path):
    """Copies bert.* and the exit poolers; exit classifiers only when their
    shape matches (an STS-B regression head does not fit MRPC)."""
    sd = model.state_dict()
    loaded, skipped = 0, []
    for k, v in sd.items():
        src = arrays.get(k)
        if src is None or (k.startswith("exits.") and ".classifier." in k and tuple(src.shape) != tuple(v.shape)):
            skipped.append(k)
            continue
        if tuple(src.shape) != tuple(v.shape):
            raise ValueError("%s: tensor %s has shape %s, model needs %s"
                             % (path, k, tuple(src.shape), tuple(v.shape)))
        sd[k] = torch.from_numpy(np.array(src))
        loaded += 1
    if not any(k.startswith("bert.encoder.") for k in arrays):
        raise ValueError("%s: no bert.encoder.* tensors" % path)
    model.load_state_dict(sd)
    log("init: %d tensors loaded, %d fresh (%s)" % (loaded, len(skipped),
        ", ".join(sorted({k.split(".")[0] + "." + k.split(".")[-2] for k in skipped})) or "none"))


# ---- main ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=sorted(glue_data.TASKS))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "glue"))
    ap.add_argument("--vocab", default=os.path.join(ROOT, "models", "vocab", "bert-base-uncased-vocab.txt"))
    ap.add_argument("--out", help="export directory (default models/glue-<task>-multiexit)")
    ap.add_argument("--variant", choices=["pabee", "deebert"], default="pabee")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--holdout", type=float, default=0.05)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--components", default="palbert,berxit,jei")
    ap.add_argument("--comp-epochs", type=int, default=30)
    ap.add_argument("--palbert-beta", type=float, default=0.01)
    ap.add_argument("--palbert-prior", type=float, default=0.2)
    ap.add_argument("--jei-lambda", type=float, default=0.5)
    ap.add_argument("--deebert-epochs", type=int, default=3)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--tag", help="name of recipes/results/<tag>.json (default <task>-<variant>)")
    ap.add_argument("--init", help="start from this directory (recipes/pretrain_mlm.py output or a "
                    "train_glue.py export): its vocabulary, shape, bert.* and exit poolers")
    ap.add_argument("--measure-steps", type=int, default=0,
                    help="time this many training steps, then stop (no export)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    task = args.task
    spec = glue_data.TASKS[task]
    regression = spec["kind"] == "reg"
    out_dir = args.out or os.path.join(ROOT, "models", "glue-%s-multiexit" % task)
    log("task %s, OPENBLAS_CORETYPE=%s, torch %s, threads %d"
        % (task, os.environ.get("OPENBLAS_CORETYPE", "(unset)"), torch.__version__, args.threads))

    # 1. vocabulary
    full = load_vocab(args.vocab)
    full_wp = WordPiece(full)
    train_rows = glue_data.read_split(args.data, task, "train")
    init = load_init(args.init, args) if args.init else None
    args.init_rel = os.path.relpath(os.path.abspath(args.init), ROOT) if args.init else None
    if init is not None:
        pruned = init["vocab"]
        log("init %s: %s; its vocabulary (%d tokens) is kept" % (args.init, init["desc"], len(pruned)))
    else:
        used = set()
        for a, b, _ in train_rows:
            for text in (a, b) if b is not None else (a,):
                used.update(full_wp.encode_text(text))
        pruned = prune_vocab(full, used)
        log("train %d rows; %d distinct full-vocab ids used; pruned vocab %d tokens"
            % (len(train_rows), len(used), len(pruned)))
    wp = WordPiece(pruned)

    # 2. split
    rng = np.random.RandomState(args.seed)
    perm = rng.permutation(len(train_rows))
    n_va = max(1, int(round(args.holdout * len(train_rows))))
    va_idx = sorted(perm[:n_va].tolist())
    tr_idx = sorted(perm[n_va:].tolist())
    enc = tokenise_rows(wp, train_rows, args.max_len)
    labels = [r[2] for r in train_rows]
    lens = np.array([len(e[0]) for e in enc])
    log("encoded: mean length %.1f, max %d, truncated %d"
        % (lens.mean(), lens.max(), int((lens >= args.max_len).sum())))

    # 3. backbone
    c = Cfg(len(pruned), spec["num_labels"], hidden=args.hidden, layers=args.layers,
            heads=args.heads, intermediate=args.intermediate, max_pos=128, dropout=args.dropout)
    model = MultiExitBert(c)
    if init is not None:
        apply_init(model, init["tensors"], args.init)
    log("model: %d trainable parameters" % sum(p.numel() for p in model.parameters()))
    tr = train_backbone(model, enc, labels, tr_idx, va_idx, args, task, regression)
    if tr is None:
        return
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()

    # 4. frozen-backbone stages
    heads = model.exits
    if args.variant == "deebert":
        log("DeeBERT stage 2: exit heads 0..%d on the frozen backbone (training 95%%)" % (args.layers - 2))
        _, hs_tr, _ = evaluate(model, enc, labels, tr_idx, task, regression)
        y_tr = label_tensor(labels, tr_idx, regression)
        components.fit_deebert_stage2(heads, hs_tr, y_tr, regression, args.deebert_epochs,
                                      1e-3, args.seed, log)
        del hs_tr
    ms_va, hs_va, _ = evaluate(model, enc, labels, va_idx, task, regression)
    log("held-out per exit: %s" % " | ".join(eval_reference.fmt(m) for m in ms_va))
    y_va = label_tensor(labels, va_idx, regression)
    comps = {}
    wanted = [s for s in args.components.split(",") if s]
    torch.manual_seed(args.seed)
    if "palbert" in wanted:
        log("PALBERT lambda layers (frozen backbone + exits, held-out %d examples)" % len(va_idx))
        comps["palbert"] = components.fit_palbert(heads, hs_va, y_va, regression, args.palbert_beta,
                                                  args.palbert_prior, args.comp_epochs, 5e-3, args.seed, log)
    if "berxit" in wanted:
        log("BERxiT learn-to-exit head")
        comps["berxit"] = components.fit_berxit(heads, hs_va, y_va, regression, args.comp_epochs,
                                                5e-3, args.seed, log)
    if "jei" in wanted:
        log("JEI-DNN gates + inference modules (lambda %.3f)" % args.jei_lambda)
        comps["jei"] = components.fit_jei(heads, hs_va, y_va, regression, args.jei_lambda,
                                          args.comp_epochs, 1e-3, 5e-3, args.seed, log)
    for name, (layer, out) in components.simulate(heads, hs_va, y_va, regression, comps).items():
        m = eval_reference.metrics(task, eval_reference.predictions(task, out), y_va.tolist())
        log("held-out %s: %s, mean exit layer %.2f" % (name, eval_reference.fmt(m), layer.float().mean() + 1))

    # 5. export + dev (first and only look at dev)
    cmd, n_params, _ = export(model, comps, pruned, out_dir, args, task, regression)
    dev_rows = glue_data.read_split(args.data, task, "dev")
    vcheck = check_dev(full_wp, wp, dev_rows)
    log("dev vocabulary check: %s" % vcheck)
    dev_enc = tokenise_rows(wp, dev_rows, args.max_len)
    dev_labels = [r[2] for r in dev_rows]
    ms_dev, _, logits_mod = evaluate(model, dev_enc, dev_labels, list(range(len(dev_rows))), task, regression)
    cfg_x, T_x, vocab_x = eval_reference.load_dir(out_dir)
    enc_x, gold_x = eval_reference.encode_split(cfg_x, vocab_x, args.data, task, "dev")
    hs_x, logits_x = eval_reference.run(cfg_x, T_x, enc_x)
    maxdiff = max((a - b).abs().max().item() for a, b in zip(logits_mod, logits_x))
    ms_x = [eval_reference.metrics(task, eval_reference.predictions(task, lg), gold_x) for lg in logits_x]
    log("exported-file re-evaluation: max |logit diff| vs training module %.3g" % maxdiff)
    if ms_x != ms_dev:
        log("WARNING: exported metrics differ from the training module's")
    methods = {}
    for name, (layer, out) in eval_reference.method_rules(cfg_x, T_x, hs_x, regression).items():
        m = eval_reference.metrics(task, eval_reference.predictions(task, out), gold_x)
        methods[name] = (m, layer.float().mean().item() + 1)
    for i, m in enumerate(ms_x):
        log("DEV exit %d: %s" % (i, eval_reference.fmt(m)))
    for name, (m, ml) in methods.items():
        log("DEV %s: %s, mean exit layer %.2f" % (name, eval_reference.fmt(m), ml))
    res = {
        "task": task, "variant": args.variant, "seed": args.seed, "vocab_size": len(pruned),
        "n_params": n_params, "file_bytes": os.path.getsize(os.path.join(out_dir, "model.safetensors")),
        "objective": cfg_x["offramp"]["objective"], "best_epoch": tr["best_epoch"],
        "s_per_step": tr["s_per_step"], "train_seconds": tr["train_seconds"], "steps": tr["steps"],
        "total_seconds": time.time() - T0, "history": tr["history"], "heldout_final": ms_va,
        "dev": ms_x, "methods": methods, "vocab_check": vcheck, "export_max_logit_diff": maxdiff,
        "command": cmd, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "init": init["desc"] if init is not None else None,
    }
    write_model_readme(out_dir, task, args, cmd, res)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    tag = args.tag or "%s-%s" % (task, args.variant)
    with open(os.path.join(HERE, "results", tag + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    log("wrote %s (%d bytes, %d parameters); total %.0f s"
        % (out_dir, res["file_bytes"], n_params, res["total_seconds"]))


if __name__ == "__main__":
    main()
