#!/usr/bin/python3
"""Reference for tests/unit/test_wordpiece.c: Hugging Face BertTokenizer's
algorithm (tokenization_bert.py: BasicTokenizer + WordpieceTokenizer,
build_inputs_with_special_tokens, longest_first truncation), written again
in plain Python on top of unicodedata, since `transformers` is not
installed here. Special-token strings in the text are plain text, as in
the C tokenizer.

    wordpiece_ref.py VOCAB INPUT [cased]

INPUT has one case per line: HEX_A <TAB> HEX_B|- <TAB> MAX_LEN, the texts
as hex of their UTF-8 bytes (decoded with errors="replace"). Output, one
line per case: ids of tokenize(a) <TAB> encoded ids <TAB> token type ids,
each space-separated.
"""
import sys
import unicodedata


def load_vocab(path):
    vocab = {}
    with open(path, encoding='utf-8') as f:
        for i, line in enumerate(f.readlines()):
            vocab[line.rstrip('\n')] = i
    return vocab


def is_whitespace(ch):
    return ch in ' \t\n\r' or unicodedata.category(ch) == 'Zs'


def is_control(ch):
    if ch in '\t\n\r':
        return False
    return unicodedata.category(ch).startswith('C')


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith('P')


def is_chinese(cp):
    return any(lo <= cp <= hi for lo, hi in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def basic_tokenize(text, lower):
    out = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
            continue
        if is_whitespace(ch):
            out.append(' ')
        elif is_chinese(ord(ch)):
            out.append(' ' + ch + ' ')
        else:
            out.append(ch)
    pieces = []
    for word in ''.join(out).split():
        if lower:
            word = word.lower()
            word = ''.join(c for c in unicodedata.normalize('NFD', word)
                           if unicodedata.category(c) != 'Mn')
        cur = ''
        for ch in word:
            if is_punctuation(ch):
                if cur:
                    pieces.append(cur)
                pieces.append(ch)
                cur = ''
            else:
                cur += ch
        if cur:
            pieces.append(cur)
    return ' '.join(pieces).split()


def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return [vocab['[UNK]']]
    ids, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            sub = ('##' if start else '') + word[start:end]
            if sub in vocab:
                ids.append(vocab[sub])
                start = end
                break
        else:
            return [vocab['[UNK]']]
    return ids


def tokenize(text, vocab, lower):
    ids = []
    for w in basic_tokenize(text, lower):
        ids.extend(wordpiece(w, vocab))
    return ids


def encode(a, b, max_len, vocab, lower):
    ia = tokenize(a, vocab, lower)
    ib = tokenize(b, vocab, lower) if b is not None else None
    budget = max_len - (3 if ib is not None else 2)
    # longest_first as the older transformers loop: one token at a time
    # from the longer sequence, from the pair when equally long.
    while len(ia) + len(ib or []) > budget:
        if ib is None or len(ia) > len(ib):
            ia = ia[:-1]
        else:
            ib = ib[:-1]
    cls, sep = vocab['[CLS]'], vocab['[SEP]']
    ids = [cls] + ia + [sep]
    types = [0] * len(ids)
    if ib is not None:
        ids += ib + [sep]
        types += [1] * (len(ib) + 1)
    return ids, types


def main():
    vocab = load_vocab(sys.argv[1])
    lower = not (len(sys.argv) > 3 and sys.argv[3] == 'cased')
    with open(sys.argv[2], encoding='ascii') as f:
        for line in f:
            ha, hb, ml = line.rstrip('\n').split('\t')
            a = bytes.fromhex(ha).decode('utf-8', errors='replace')
            b = None if hb == '-' else bytes.fromhex(hb).decode('utf-8', errors='replace')
            ids, types = encode(a, b, int(ml), vocab, lower)
            print(' '.join(map(str, tokenize(a, vocab, lower))), ' '.join(map(str, ids)),
                  ' '.join(map(str, types)), sep='\t')


main()
