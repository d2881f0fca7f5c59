#!/usr/bin/python3
"""unigram_ref.py OUTDIR -- generated SentencePiece-unigram tokenizer.json
files and reference tokenizations for tests/unit/test_unigram.c.

The Hugging Face `tokenizers` library is not installed here, so this
re-implements, in plain Python on unicodedata, what its Rust code does for
the parts workers/text/unigram.c supports (see unigram.h for the list and
the deliberate differences): the normalizers, WhitespaceSplit + Metaspace,
and the Unigram model's Viterbi (encode_optimized: best sum of piece
scores over UTF-8 byte positions, an unknown character costs min score -
10, earliest split wins ties, consecutive unks fuse) and tokenize (byte
fallback to <0xXX> pieces, else unk).

For each variant V it writes OUTDIR/V/tokenizer.json and OUTDIR/V/cases.tsv,
one line per string: HEX(text) <TAB> ids (space-separated) <TAB>
HEX(normalized text).
"""
import json
import os
import random
import sys
import unicodedata

REPL = "\u2581"
WS = set([chr(c) for c in range(0x9, 0xE)] + [" ", "\x85", "\xa0", "\u1680"]
         + [chr(c) for c in range(0x2000, 0x200B)]
         + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"])
UNK_PENALTY = 10.0

WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "dog", "runs", "fast",
         "movie", "film", "not", "very", "good", "bad", "unbelievable", "player",
         "house", "tree", "green", "red", "blue", "sky", "running", "played",
         "cafe", "naive", "resume", "angstrom", "fiance", "zurich", "uber", "an",
         "is", "was", "it", "of", "and", "to", "in", "that", "this", "with"]


# ---- the reference tokenizer ---------------------------------------------------

def normalize(steps, s):
    for st in steps:
        t = st["type"]
        if t == "Lowercase":
            s = "".join(c.lower() for c in s)
        elif t in ("NFD", "NFKD"):
            s = unicodedata.normalize(t, s)
        elif t == "StripAccents":
            s = "".join(c for c in s if unicodedata.category(c) not in ("Mn", "Mc", "Me"))
        elif t == "Replace":
            s = s.replace(st["pattern"]["String"], st["content"])
        elif t == "Strip":
            if st.get("strip_left"):
                while s and s[0] in WS:
                    s = s[1:]
            if st.get("strip_right"):
                while s and s[-1] in WS:
                    s = s[:-1]
        elif t == "Prepend":
            if s:
                s = st["prepend"] + s
        elif t == "Precompiled":
            pass
        else:
            raise ValueError(t)
    return s


def flatten(node, key):
    if node is None:
        return []
    if node["type"] == "Sequence":
        return [x for sub in node[key] for x in flatten(sub, key)]
    return [node]


def pre_tokenize(steps, s):
    pieces = [(s, 0)]          # (text, offset in the normalized string)
    for st in steps:
        out = []
        if st["type"] == "WhitespaceSplit":
            for p, o in pieces:
                i = 0
                while i < len(p):
                    while i < len(p) and p[i] in WS:
                        i += 1
                    a = i
                    while i < len(p) and p[i] not in WS:
                        i += 1
                    if i > a:
                        out.append((p[a:i], o + a))
        elif st["type"] == "Metaspace":
            repl = st.get("replacement", REPL)
            scheme = st.get("prepend_scheme")
            if scheme is None:
                scheme = "always" if st.get("add_prefix_space", True) else "never"
            split = st.get("split", True)
            for p, o in pieces:
                if not p:
                    continue
                p = p.replace(" ", repl)
                if not p.startswith(repl) and (scheme == "always"
                                               or (scheme == "first" and o == 0)):
                    p = repl + p
                if not split:
                    out.append((p, o))
                    continue
                a = 0
                for k in range(1, len(p) + 1):
                    if k == len(p) or p[k] == repl:
                        out.append((p[a:k], o))
                        a = k
        else:
            raise ValueError(st["type"])
        pieces = out
    return [p for p, _ in pieces]


class Unigram:
    def __init__(self, model):
        self.vocab = [(p, float(s)) for p, s in model["vocab"]]
        self.ids = {}
        for i, (p, _) in enumerate(self.vocab):
            self.ids[p.encode()] = i
        self.unk = model.get("unk_id")
        self.byte_fallback = model.get("byte_fallback", False)
        self.unk_score = min(s for _, s in self.vocab) - UNK_PENALTY
        self.max_len = max(len(p.encode()) for p, _ in self.vocab)

    def encode(self, piece):
        b = piece.encode()
        n = len(b)
        best = [None] * (n + 1)          # (score, start, id)
        best[0] = (0.0, 0, -1)
        at = 0
        while at < n:
            base = best[at][0]
            mblen = len(chr_at(b, at).encode())
            single = False
            end = at
            while end < n:
                end += len(chr_at(b, end).encode())
                if end - at > self.max_len:
                    break
                i = self.ids.get(b[at:end])
                if i is not None:
                    sc = base + self.vocab[i][1]
                    if best[end] is None or sc > best[end][0]:
                        best[end] = (sc, at, i)
                    if end - at == mblen:
                        single = True
            if not single:
                sc = base + self.unk_score
                end = at + mblen
                if best[end] is None or sc > best[end][0]:
                    best[end] = (sc, at, self.unk)
            at += mblen
        strings, fused = [], []
        end = n
        while end > 0:
            _, st, i = best[end]
            if self.unk is not None and i == self.unk:
                fused.append(b[st:end])
            else:
                if fused:
                    strings.append(b"".join(reversed(fused)))
                    fused = []
                strings.append(b[st:end])
            end = st
        if fused:
            strings.append(b"".join(reversed(fused)))
        strings.reverse()
        out = []
        for s in strings:
            i = self.ids.get(s)
            if i is not None:
                out.append(i)
                continue
            if self.byte_fallback:
                bs = [self.ids.get(("<0x%02X>" % x).encode()) for x in s]
                if all(x is not None for x in bs):
                    out.extend(bs)
                    continue
            out.append(self.unk)
        return out


def chr_at(b, i):
    c = b[i]
    n = 1 if c < 0x80 else 2 if c < 0xE0 else 3 if c < 0xF0 else 4
    return b[i:i + n].decode()


def tokenize(tj, text):
    norm = normalize(flatten(tj["normalizer"], "normalizers"), text)
    model = Unigram(tj["model"])
    ids = []
    for p in pre_tokenize(flatten(tj["pre_tokenizer"], "pretokenizers"), norm):
        if p:
            ids.extend(model.encode(p))
    return ids, norm


# ---- generated tokenizers -------------------------------------------------------

def make_vocab(rng, specials, extra_chars, byte_pieces, drop):
    pieces = list(specials)
    chars = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-()" if c not in drop]
    chars += list(extra_chars)
    pieces += chars + [REPL]
    for w in WORDS:
        pieces.append(REPL + w)
        for _ in range(3):
            a = rng.randrange(len(w))
            b = rng.randrange(a + 1, len(w) + 1)
            pieces.append(w[a:b])
            pieces.append(REPL + w[a:b])
    seen, uniq = set(), []
    for p in pieces:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    vocab = [[p, 0.0] for p in uniq[:len(specials)]]
    for p in uniq[len(specials):]:
        vocab.append([p, round(-rng.uniform(1.0, 12.0), 6)])
    if byte_pieces:
        for x in range(256):
            if x not in (0xF0, 0x9F):          # emoji bytes: no full fallback
                vocab.append(["<0x%02X>" % x, -20.0])
    vocab.append([REPL + "the", -0.5])           # a duplicate: the last id wins
    return vocab


def template(cls, sep):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": cls, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": sep, "type_id": 0}}],
            "pair": [],
            "special_tokens": {cls: {"id": cls, "ids": [2], "tokens": [cls]},
                               sep: {"id": sep, "ids": [3], "tokens": [sep]}}}


def variants(rng):
    albert = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
            {"type": "Replace", "pattern": {"String": "''"}, "content": "\""},
            {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
            {"type": "Precompiled", "precompiled_charsmap": ""}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": REPL, "add_prefix_space": True}]},
        "post_processor": template("[CLS]", "[SEP]"),
        "decoder": {"type": "Metaspace", "replacement": REPL, "add_prefix_space": True},
        "model": {"type": "Unigram", "unk_id": 1,
                  "vocab": make_vocab(rng, ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
                                      "\u4e2d\u6587", False, "qz")},
    }
    byte = {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": REPL,
                          "prepend_scheme": "first", "split": True},
        "post_processor": None,
        "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True,
                  "vocab": make_vocab(rng, ["<unk>", "<s>", "</s>"], "\u00e9\u00c5Hc",
                                      True, "xq")},
    }
    nosplit = {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "NFD"}, {"type": "Lowercase"}, {"type": "Prepend", "prepend": REPL}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": REPL,
                          "prepend_scheme": "always", "split": False},
        "post_processor": None,
        "model": {"type": "Unigram", "unk_id": 2,
                  "vocab": make_vocab(rng, ["<pad>", "</s>", "<unk>"], "\u0301\u0308",
                                      False, "j")},
    }
    return {"albert": albert, "bytes": byte, "nosplit": nosplit}


POOL = (WORDS + ["The", "CAT", "Hello", "WORLD", "caf\u00e9", "na\u00efve", "r\u00e9sum\u00e9",
                 "\u00c5ngstr\u00f6m", "fianc\u00e9e", "Z\u00fcrich", "\u00fcber",
                 "e\u0301", "a\u0327\u0301", "o\u0301\u0327", "\ufb01ne", "\uff21\uff22c",
                 "x\u00b2", "\u2460", "\u210c", "\u00bd", "\u4e2d\u6587\u5b57",
                 "\U0001F600", "\u03a3\u0391\u03a3", "\u0130stanbul", "``q''", "''",
                 "qz", "zzq", "don't", "$5.00", "x", "\u2581", "\u2581\u2581a",
                 "<unk>", "[CLS]", "\uac00\ud7a3", "jj", "x\u00e9x", "\u00c5", "Hc"])
SPACES = [" ", " ", " ", "  ", "\t", "\n", " \t ", "\u00a0", "\u3000", "\u2003", "   ",
          "\x1c", ""]
FIXED = ["", " ", "   \t\n ", "\u2581", "hello", " hello  world ", "qqq", "\u00a0x\u00a0",
         "\U0001F600\U0001F600", "\u00e9\u00e9", "the the", "unbelievable"]


def strings(rng, n):
    out = list(FIXED)
    while len(out) < n:
        k = rng.randrange(1, 9)
        s = rng.choice(["", " ", "\t"]) if rng.random() < 0.2 else ""
        for i in range(k):
            s += rng.choice(POOL)
            if i + 1 < k:
                s += rng.choice(SPACES)
        if rng.random() < 0.2:
            s += rng.choice(SPACES)
        out.append(s)
    return out


def main():
    out = sys.argv[1]
    rng = random.Random(4)
    texts = strings(random.Random(7), 400)
    for name, tj in variants(rng).items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, indent=1)
        with open(os.path.join(d, "cases.tsv"), "w") as f:
            for t in texts:
                ids, norm = tokenize(tj, t)
                f.write("%s\t%s\t%s\n" % (t.encode().hex(), " ".join(map(str, ids)),
                                          norm.encode().hex()))


if __name__ == "__main__":
    main()
