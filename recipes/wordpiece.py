"""Uncased BERT WordPiece tokenizer (the behaviour of Hugging Face's slow
BertTokenizer for bert-base-uncased), used by the GLUE recipe to build and
check the pruned vocabularies.

Kept in recipes/ so the recipe runs with no package beyond Debian's python3;
train_glue.py cross-checks it against tests/ref/wordpiece_ref.py when that
reference exists.
"""

import unicodedata

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def load_vocab(path):
    """Token list in file order (one token per line, index = id)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    # HF counts \t \n \r as whitespace, not control, even though they are Cc.
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    # ASCII symbols such as ^ $ ` are not Unicode "P" but BERT splits them.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF
            or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    """Clean, split CJK, lower-case, strip accents, split punctuation."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out))
    words = []
    for tok in text.split():
        tok = tok.lower()
        tok = "".join(c for c in unicodedata.normalize("NFD", tok)
                      if unicodedata.category(c) != "Mn")
        cur = []
        for ch in tok:
            if _is_punctuation(ch):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
    return words


class WordPiece:
    """Greedy longest-match-first WordPiece over a token -> id table."""

    def __init__(self, tokens, max_chars_per_word=100):
        self.tokens = list(tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.max_chars = max_chars_per_word
        self.unk = self.ids["[UNK]"]
        self.cls = self.ids["[CLS]"]
        self.sep = self.ids["[SEP]"]
        self.pad = self.ids["[PAD]"]
        self._cache = {}

    def word_ids(self, word):
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        if len(word) > self.max_chars:
            res = [self.unk]
        else:
            res = []
            start = 0
            while start < len(word):
                end = len(word)
                found = None
                while start < end:
                    piece = word[start:end]
                    if start > 0:
                        piece = "##" + piece
                    if piece in self.ids:
                        found = self.ids[piece]
                        break
                    end -= 1
                if found is None:
                    res = [self.unk]
                    break
                res.append(found)
                start = end
        self._cache[word] = res
        return res

    def encode_text(self, text):
        ids = []
        for w in basic_tokenize(text):
            ids.extend(self.word_ids(w))
        return ids

    def encode(self, a, b=None, max_len=64):
        """[CLS] a [SEP] (b [SEP]) with HF longest-first truncation; returns
        (input_ids, token_type_ids)."""
        ia = self.encode_text(a)
        ib = self.encode_text(b) if b is not None else None
        return build_inputs(ia, ib, self.cls, self.sep, max_len)


def build_inputs(ia, ib, cls_id, sep_id, max_len):
    ia = list(ia)
    if ib is None:
        ia = ia[:max_len - 2]
        ids = [cls_id] + ia + [sep_id]
        return ids, [0] * len(ids)
    ib = list(ib)
    excess = len(ia) + len(ib) + 3 - max_len
    # One token at a time from the longer side; ties trim the second
    # sequence (HF "longest_first").
    while excess > 0:
        if len(ia) > len(ib):
            ia.pop()
        else:
            ib.pop()
        excess -= 1
    ids = [cls_id] + ia + [sep_id] + ib + [sep_id]
    types = [0] * (len(ia) + 2) + [1] * (len(ib) + 1)
    return ids, types
