#!/usr/bin/python3
"""encoder_ref.py OUTDIR -- tiny random multi-exit encoder checkpoints and
their reference activations, for tests/unit/test_encoder.c.

For each family (bert, roberta, electra, albert, distilbert) this writes
OUTDIR/<family>/{config.json, model.safetensors, vocab.txt, ref.bin}. The
forward pass below re-implements, in plain torch, what the transformers
modules of the same names compute (BertEmbeddings/BertLayer/BertPooler,
RobertaEmbeddings' position ids, ElectraEmbeddings + embeddings_project,
AlbertTransformer's shared layer groups, DistilBERT's Embeddings and
TransformerBlock, the classification heads), on a *padded* batch with an
attention mask, as HF would run it. The C runtime runs rows ragged and must
agree on every real token.

Two more configurations cover what the five defaults do not: albert_inner
(two groups of two inner layers each over four layers) and
distilbert_learned (learned position embeddings, not sinusoids).

Tokenizer files (text in, ids checked by the C test): OUTDIR/albert_tj is
the albert checkpoint with a SentencePiece-unigram tokenizer.json instead
of vocab.txt, and text_cases.tsv, the expected encodings computed with
tests/ref/unigram_ref.py (one line per example: HEX(a) <TAB> HEX(b) or "-"
<TAB> max tokens <TAB> ids <TAB> type ids); OUTDIR/bert_tj is the bert
checkpoint with its vocabulary as a WordPiece tokenizer.json.

It also writes broken checkpoints for the error tests:
OUTDIR/bad_missing (a tensor dropped), OUTDIR/bad_shape (a tensor with
the wrong shape), OUTDIR/bad_vocab (vocab.txt one token short of
vocab_size), OUTDIR/bad_tokjson (only a byte-level BPE tokenizer.json) and
OUTDIR/bad_notok (no tokenizer file at all).

ref.bin (little-endian):
  int32 magic 0x52434e45, n_seq, n_layers, hidden, num_labels
  per sequence: int32 len, int32 ids[len], int32 types[len]
  per sequence, per stage s = 0..L (0 = embeddings, s = after layer s-1):
      float32 [len][hidden]
  per sequence, per layer 0..L-1: int32 has_head, float32 logits[num_labels]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unigram_ref  # noqa: E402

MAGIC = 0x52434E45
VOCAB = 100
MAXPOS = 40

WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "dog", "runs", "fast",
         "a", "an", "is", "was", "good", "bad", "movie", "film", "not", "very",
         "##s", "##ing", "##ed", "##ly", "un", "##believ", "##able", ",", ".", "!",
         "?", "'", "play", "##er", "house", "tree", "green", "red", "blue", "sky"]


def vocab_tokens(family):
    if family == "roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    toks = specials + WORDS
    toks += ["tok%d" % i for i in range(len(toks), VOCAB)]
    return toks


# ---- families --------------------------------------------------------------

FAMILIES = {
    # name: config overrides and head layout
    "bert": dict(model_type="bert", hidden_size=32, num_hidden_layers=3,
                 num_attention_heads=4, intermediate_size=48, num_labels=3,
                 hidden_act="gelu", layer_norm_eps=1e-12, type_vocab_size=2,
                 pad_token_id=0, exits="all", prefix="bert."),
    "roberta": dict(model_type="roberta", hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=37, num_labels=2,
                    hidden_act="gelu", layer_norm_eps=1e-5, type_vocab_size=1,
                    pad_token_id=1, exits="all_but_last", prefix=""),
    "electra": dict(model_type="electra", hidden_size=32, embedding_size=16,
                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                    num_labels=2, hidden_act="gelu", layer_norm_eps=1e-12,
                    type_vocab_size=2, pad_token_id=0, exits="all_but_last",
                    prefix="electra."),
    "albert": dict(model_type="albert", hidden_size=32, embedding_size=16,
                   num_hidden_layers=3, num_hidden_groups=2, inner_group_num=1,
                   num_attention_heads=4, intermediate_size=40, num_labels=2,
                   hidden_act="gelu_new", layer_norm_eps=1e-12, type_vocab_size=2,
                   pad_token_id=0, exits="all", prefix="albert."),
    "distilbert": dict(model_type="distilbert", dim=32, n_layers=2, n_heads=4,
                       hidden_dim=48, num_labels=1, problem_type="regression",
                       activation="gelu", sinusoidal_pos_embds=True, pad_token_id=0,
                       exits="all_but_last", prefix="distilbert."),
    "albert_inner": dict(model_type="albert", hidden_size=32, embedding_size=24,
                         num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
                         num_attention_heads=2, intermediate_size=40, num_labels=2,
                         hidden_act="gelu_new", layer_norm_eps=1e-12, type_vocab_size=2,
                         pad_token_id=0, exits="all", prefix=""),
    "distilbert_learned": dict(model_type="distilbert", dim=32, n_layers=3, n_heads=2,
                               hidden_dim=40, num_labels=3, activation="relu",
                               sinusoidal_pos_embds=False, pad_token_id=0, exits="all",
                               prefix="distilbert."),
}


class Ckpt:
    """A state dict being generated, plus how to read it back."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.t = {}

    def randn(self, *shape, std=1.0):
        return torch.randn(*shape, generator=self.g) * std

    def linear(self, name, n, k):
        self.t[name + ".weight"] = self.randn(n, k, std=1.0 / math.sqrt(k))
        self.t[name + ".bias"] = self.randn(n, std=0.1)

    def norm(self, name, n):
        self.t[name + ".weight"] = 1.0 + self.randn(n, std=0.1)
        self.t[name + ".bias"] = self.randn(n, std=0.1)

    def emb(self, name, n, k):
        self.t[name] = self.randn(n, k)


def dims(cfg):
    if cfg["model_type"] == "distilbert":
        return cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["hidden_dim"]
    return (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
            cfg["intermediate_size"])


BERT_PARTS = dict(q="attention.self.query", k="attention.self.key",
                  v="attention.self.value", o="attention.output.dense",
                  ln1="attention.output.LayerNorm", fi="intermediate.dense",
                  fo="output.dense", ln2="output.LayerNorm")
ALBERT_PARTS = dict(q="attention.query", k="attention.key", v="attention.value",
                    o="attention.dense", ln1="attention.LayerNorm", fi="ffn",
                    fo="ffn_output", ln2="full_layer_layer_norm")
DISTIL_PARTS = dict(q="attention.q_lin", k="attention.k_lin", v="attention.v_lin",
                    o="attention.out_lin", ln1="sa_layer_norm", fi="ffn.lin1",
                    fo="ffn.lin2", ln2="output_layer_norm")


def parts_of(mt):
    return ALBERT_PARTS if mt == "albert" else DISTIL_PARTS if mt == "distilbert" \
        else BERT_PARTS


def block_bases(cfg, p):
    mt = cfg["model_type"]
    d, L, h, I = dims(cfg)
    if mt == "albert":
        G, inner = cfg["num_hidden_groups"], cfg["inner_group_num"]
        return ["%sencoder.albert_layer_groups.%d.albert_layers.%d." % (p, g, j)
                for g in range(G) for j in range(inner)]
    if mt == "distilbert":
        return ["%stransformer.layer.%d." % (p, i) for i in range(L)]
    return ["%sencoder.layer.%d." % (p, i) for i in range(L)]


def final_head_names(mt, p):
    """(dense, classifier, activation) of the family's own head."""
    if mt == "bert":
        return p + "pooler.dense", "classifier", "tanh"
    if mt == "albert":
        return p + "pooler", "classifier", "tanh"
    if mt == "distilbert":
        return "pre_classifier", "classifier", "relu"
    if mt == "electra":
        return "classifier.dense", "classifier.out_proj", "gelu"
    return "classifier.dense", "classifier.out_proj", "tanh"


def generate(cfg, seed):
    ck = Ckpt(seed)
    mt, p = cfg["model_type"], cfg["prefix"]
    d, L, h, I = dims(cfg)
    E = cfg.get("embedding_size", d)
    K = cfg["num_labels"]
    ck.emb(p + "embeddings.word_embeddings.weight", VOCAB, E)
    if not (mt == "distilbert" and cfg.get("sinusoidal_pos_embds")):
        ck.emb(p + "embeddings.position_embeddings.weight", MAXPOS, E)
    if mt != "distilbert":
        ck.emb(p + "embeddings.token_type_embeddings.weight", cfg["type_vocab_size"], E)
    ck.norm(p + "embeddings.LayerNorm", E)
    if mt == "albert":
        ck.linear(p + "encoder.embedding_hidden_mapping_in", d, E)
    if mt == "electra" and E != d:
        ck.linear(p + "embeddings_project", d, E)
    parts = parts_of(mt)
    for base in block_bases(cfg, p):
        for part in ("q", "k", "v", "o"):
            ck.linear(base + parts[part], d, d)
        ck.norm(base + parts["ln1"], d)
        ck.linear(base + parts["fi"], I, d)
        ck.linear(base + parts["fo"], d, I)
        ck.norm(base + parts["ln2"], d)
    n_exits = L if cfg["exits"] == "all" else L - 1
    for i in range(n_exits):
        ck.linear("exits.%d.pooler.dense" % i, d, d)
        ck.linear("exits.%d.classifier" % i, K, d)
    dense, cls, _ = final_head_names(mt, p)
    ck.linear(dense, d, d)
    ck.linear(cls, K, d)
    # Method components ride along; the runtime only exposes them.
    ck.linear("berxit.lte", 1, d)
    return ck.t


# ---- the reference forward pass (HF semantics, padded batch) ----------------

def act(name, x):
    if name == "gelu":
        return F.gelu(x)
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)
                                           * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return F.relu(x)
    if name in ("silu", "swish"):
        return F.silu(x)
    if name == "tanh":
        return torch.tanh(x)
    raise ValueError(name)


def lin(t, name, x):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def ln(t, name, x, eps):
    return F.layer_norm(x, (x.shape[-1],), t[name + ".weight"], t[name + ".bias"], eps)


def sinusoidal(n_pos, dim):
    enc = torch.tensor([[pos / (10000 ** (2 * (j // 2) / dim)) for j in range(dim)]
                        for pos in range(n_pos)], dtype=torch.float64)
    out = torch.zeros(n_pos, dim)
    out[:, 0::2] = torch.sin(enc[:, 0::2]).float()
    out[:, 1::2] = torch.cos(enc[:, 1::2]).float()
    return out


def embeddings(cfg, t, ids, types, mask):
    mt, p = cfg["model_type"], cfg["prefix"]
    eps = 1e-12 if mt == "distilbert" else cfg["layer_norm_eps"]
    B, n = ids.shape
    if mt == "roberta":
        pad = cfg["pad_token_id"]
        m = ids.ne(pad).int()
        pos = (torch.cumsum(m, dim=1).type_as(m) * m).long() + pad
    else:
        pos = torch.arange(n).unsqueeze(0).expand(B, n)
    x = t[p + "embeddings.word_embeddings.weight"][ids]
    if mt == "distilbert":
        if cfg.get("sinusoidal_pos_embds"):
            table = sinusoidal(MAXPOS, cfg["dim"])
        else:
            table = t[p + "embeddings.position_embeddings.weight"]
        x = x + table[pos]
    else:
        x = x + t[p + "embeddings.token_type_embeddings.weight"][types]
        x = x + t[p + "embeddings.position_embeddings.weight"][pos]
    x = ln(t, p + "embeddings.LayerNorm", x, eps)
    if mt == "electra" and (p + "embeddings_project.weight") in t:
        x = lin(t, p + "embeddings_project", x)
    if mt == "albert":
        x = lin(t, p + "encoder.embedding_hidden_mapping_in", x)
    return x


def block(cfg, t, base, x, mask):
    mt = cfg["model_type"]
    parts = parts_of(mt)
    d, L, h, I = dims(cfg)
    dh = d // h
    eps = 1e-12 if mt == "distilbert" else cfg["layer_norm_eps"]
    actname = cfg["activation"] if mt == "distilbert" else cfg["hidden_act"]
    B, n, _ = x.shape

    def heads(y):
        return y.view(B, n, h, dh).transpose(1, 2)

    q = heads(lin(t, base + parts["q"], x))
    k = heads(lin(t, base + parts["k"], x))
    v = heads(lin(t, base + parts["v"], x))
    if mt == "distilbert":
        q = q / math.sqrt(dh)
        s = q @ k.transpose(-1, -2)
        s = s.masked_fill((mask == 0).view(B, 1, 1, n), torch.finfo(s.dtype).min)
    else:
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        s = s + (1.0 - mask.float()).view(B, 1, 1, n) * torch.finfo(torch.float32).min
    pr = torch.softmax(s, dim=-1)
    ctx = (pr @ v).transpose(1, 2).reshape(B, n, d)
    a = ln(t, base + parts["ln1"], lin(t, base + parts["o"], ctx) + x, eps)
    f = act(actname, lin(t, base + parts["fi"], a))
    return ln(t, base + parts["ln2"], lin(t, base + parts["fo"], f) + a, eps)


def layer_blocks(cfg, li):
    """Block bases run by logical layer li (AlbertTransformer's grouping)."""
    bases = block_bases(cfg, cfg["prefix"])
    if cfg["model_type"] != "albert":
        return [bases[li]]
    L, G, inner = cfg["num_hidden_layers"], cfg["num_hidden_groups"], cfg["inner_group_num"]
    g = int(li / (L / G))
    return bases[g * inner:(g + 1) * inner]


def head(t, dense, cls, actname, x):
    return lin(t, cls, act(actname, lin(t, dense, x[:, 0])))


def forward(cfg, t, ids, types, mask):
    d, L, h, I = dims(cfg)
    states = [embeddings(cfg, t, ids, types, mask)]
    logits = []
    x = states[0]
    for li in range(L):
        for base in layer_blocks(cfg, li):
            x = block(cfg, t, base, x, mask)
        states.append(x)
        if ("exits.%d.pooler.dense.weight" % li) in t:
            logits.append(head(t, "exits.%d.pooler.dense" % li, "exits.%d.classifier" % li,
                               "tanh", x))
        elif li == L - 1:
            logits.append(head(t, *final_head_names(cfg["model_type"], cfg["prefix"]), x))
        else:
            logits.append(None)
    return states, logits


# ---- inputs -----------------------------------------------------------------

def sequences(cfg, seed):
    """Singles and pairs of random tokens, with the family's template."""
    g = torch.Generator().manual_seed(1000 + seed)
    mt = cfg["model_type"]
    pad = cfg["pad_token_id"]
    if mt == "roberta":
        cls, sep = 0, 2
    else:
        cls, sep = 2, 3

    def words(n):
        out = []
        while len(out) < n:
            w = int(torch.randint(5, VOCAB, (1,), generator=g))
            if w != pad:
                out.append(w)
        return out

    seqs = []
    for a, b in ((6, 0), (5, 7), (1, 0), (20, 14), (3, 4), (12, 0)):
        ids = [cls] + words(a) + [sep]
        types = [0] * len(ids)
        if b:
            second = ([sep] if mt == "roberta" else []) + words(b) + [sep]
            ids += second
            use_types = mt not in ("roberta", "distilbert")
            types += [1 if use_types else 0] * len(second)
        seqs.append((ids, types))
    return seqs


def pad_batch(seqs, pad):
    n = max(len(s[0]) for s in seqs)
    ids = torch.full((len(seqs), n), pad, dtype=torch.long)
    types = torch.zeros((len(seqs), n), dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, (a, b) in enumerate(seqs):
        ids[i, :len(a)] = torch.tensor(a)
        types[i, :len(b)] = torch.tensor(b)
        mask[i, :len(a)] = 1
    return ids, types, mask


# ---- files ------------------------------------------------------------------

def write_safetensors(path, tensors, truncate=0):
    header, blobs, off = {}, [], 0
    for name, ten in tensors.items():
        raw = ten.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(ten.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    data = struct.pack("<Q", len(hj)) + hj + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(data[:len(data) - truncate] if truncate else data)


def write_config(path, cfg):
    out = {k: v for k, v in cfg.items() if k not in ("exits", "prefix")}
    out["vocab_size"] = VOCAB
    out["max_position_embeddings"] = MAXPOS
    out["offramp"] = {"exits": "per_layer", "trained_on": "random (tests/ref/encoder_ref.py)"}
    with open(path, "w") as f:
        json.dump(out, f, indent=2)


def write_checkpoint(d, cfg, tensors):
    os.makedirs(d, exist_ok=True)
    write_config(os.path.join(d, "config.json"), cfg)
    write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab_tokens(cfg["model_type"])) + "\n")


# ---- tokenizer files ------------------------------------------------------------

def albert_tokenizer_json():
    rng = __import__("random").Random(11)
    tj = unigram_ref.variants(rng)["albert"]
    R = unigram_ref.REPL
    pieces = [R] + list("abcdefghijklmnoprstuvwy.,!'\"")          # no q, x, z
    pieces += [R + w for w in WORDS if w.isalpha()]
    pieces += ["ing", "ed", "ly", "er", "un", "able", "at", "an", "ie", "ve", R + "na",
               R + "ca", "fe", R + "un", "believ"]
    seen, uniq = set(), []
    for p in pieces:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    uniq = uniq[:VOCAB - len(specials)]
    uniq += ["%stok%d" % (R, i) for i in range(VOCAB - len(specials) - len(uniq))]
    tj["model"]["vocab"] = ([[t, 0.0] for t in specials]
                            + [[p, round(-rng.uniform(1.0, 10.0), 4)] for p in uniq])
    return tj


TEXT_CASES = [("Hello world, the cat sat on the mat.", None, 40),
              ("The movie was not very good!", "An unbelievable player", 40),
              ("qxz  zebra\tquiz", None, 40), ("Caf\u00e9 na\u00efve ``quoted''", "a", 40),
              ("", "   ", 40), ("", None, 40),
              ("the dog runs fast and the cat sat on a green tree", "blue sky red house",
               12),
              ("a", "the very very very good bad movie film", 9)]


def encode_unigram(tj, a, b, max_len):
    ia = unigram_ref.tokenize(tj, a)[0]
    ib = unigram_ref.tokenize(tj, b)[0] if b is not None else None
    budget = max_len - (3 if ib is not None else 2)
    while len(ia) + len(ib or []) > budget:       # longest_first, one at a time
        if ib is None or len(ia) > len(ib):
            ia = ia[:-1]
        else:
            ib = ib[:-1]
    ids = [2] + ia + [3]
    types = [0] * len(ids)
    if ib is not None:
        ids += ib + [3]
        types += [1] * (len(ib) + 1)
    return ids, types


def write_tokenizer_dirs(out, t_albert, t_bert):
    d = os.path.join(out, "albert_tj")
    write_checkpoint(d, FAMILIES["albert"], t_albert)
    os.remove(os.path.join(d, "vocab.txt"))
    tj = albert_tokenizer_json()
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(d, "text_cases.tsv"), "w") as f:
        for a, b, n in TEXT_CASES:
            ids, types = encode_unigram(tj, a, b, n)
            f.write("%s\t%s\t%d\t%s\t%s\n" % (
                a.encode().hex(), b.encode().hex() if b is not None else "-", n,
                " ".join(map(str, ids)), " ".join(map(str, types))))
    d = os.path.join(out, "bert_tj")
    write_checkpoint(d, FAMILIES["bert"], t_bert)
    os.remove(os.path.join(d, "vocab.txt"))
    toks = vocab_tokens("bert")
    wp = {"version": "1.0", "added_tokens": [],
          "normalizer": {"type": "BertNormalizer", "clean_text": True,
                         "handle_chinese_chars": True, "strip_accents": None,
                         "lowercase": True},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "post_processor": {"type": "TemplateProcessing"},
          "model": {"type": "WordPiece", "unk_token": "[UNK]",
                    "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                    "vocab": {t: i for i, t in enumerate(toks)}}}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(wp, f, ensure_ascii=False)
    # Broken tokenizer set-ups (the bert weights are fine).
    d = os.path.join(out, "bad_vocab")
    write_checkpoint(d, FAMILIES["bert"], t_bert)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(toks[:-1]) + "\n")
    d = os.path.join(out, "bad_tokjson")
    write_checkpoint(d, FAMILIES["bert"], t_bert)
    os.remove(os.path.join(d, "vocab.txt"))
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"model": {"type": "BPE", "vocab": {}, "merges": []}}, f)
    d = os.path.join(out, "bad_notok")
    write_checkpoint(d, FAMILIES["bert"], t_bert)
    os.remove(os.path.join(d, "vocab.txt"))


def write_ref(path, cfg, seqs, states, logits):
    d, L, h, I = dims(cfg)
    K = cfg["num_labels"]
    with open(path, "wb") as f:
        f.write(struct.pack("<5i", MAGIC, len(seqs), L, d, K))
        for ids, types in seqs:
            f.write(struct.pack("<i", len(ids)))
            f.write(struct.pack("<%di" % len(ids), *ids))
            f.write(struct.pack("<%di" % len(types), *types))
        for i, (ids, _) in enumerate(seqs):
            for s in states:
                f.write(s[i, :len(ids)].contiguous().numpy().astype("<f4").tobytes())
        for i in range(len(seqs)):
            for lg in logits:
                if lg is None:
                    f.write(struct.pack("<i", 0) + b"\0" * (4 * K))
                else:
                    f.write(struct.pack("<i", 1) + lg[i].numpy().astype("<f4").tobytes())


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    kept = {}
    for seed, (name, cfg) in enumerate(FAMILIES.items()):
        t = generate(cfg, seed)
        kept[name] = t
        write_checkpoint(os.path.join(out, name), cfg, t)
        seqs = sequences(cfg, seed)
        ids, types, mask = pad_batch(seqs, cfg["pad_token_id"])
        with torch.no_grad():
            states, logits = forward(cfg, t, ids, types, mask)
        write_ref(os.path.join(out, name, "ref.bin"), cfg, seqs, states, logits)
        if name == "bert":
            missing = dict(t)
            del missing["bert.encoder.layer.1.output.dense.weight"]
            write_checkpoint(os.path.join(out, "bad_missing"), cfg, missing)
            shaped = dict(t)
            shaped["bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(48, 31)
            write_checkpoint(os.path.join(out, "bad_shape"), cfg, shaped)
    write_tokenizer_dirs(out, kept["albert"], kept["bert"])


if __name__ == "__main__":
    main()
