"""Joint byte-pair-encoding subwords for the Multi30k recipes (pure Python,
no torch: `python3 recipes/mt_bpe.py encode|decode` runs with any python3).

Pre-tokenisation (lossless, SentencePiece-style word marker U+2581 "▁"):
whitespace is collapsed; every space-separated word is cut into chunks --
a run of letters, one digit, or one other character -- and the first chunk
of each word gets the "▁" prefix. BPE merges never cross chunks.
Detokenisation: concatenate the pieces, "▁" -> " ", strip the leading space.

    encode: python3 recipes/mt_bpe.py encode MODEL_DIR < text > pieces
            (pieces separated by spaces: what `offramp translate` reads)
    decode: python3 recipes/mt_bpe.py decode < pieces > text
            (equivalently: sed 's/ //g; s/\u2581/ /g; s/^ //')

Files in MODEL_DIR: bpe_merges.txt ("#version: offramp-bpe 1" then one
"left right" merge per line, rank order) -- the C side needs only this
file and the rule above to tokenise.
"""
import heapq
import re
import sys
from collections import Counter, defaultdict

MARK = "\u2581"
CHUNK = re.compile(r"[^\W\d_]+|\d|\S", re.UNICODE)
SPECIALS = ["<blank>", "<s>", "</s>", "<unk>"]


def chunks(line):
    out = []
    for word in line.split():
        parts = CHUNK.findall(word)
        out.append(MARK + parts[0])
        out.extend(parts[1:])
    return out


def learn(lines, vocab_size, log=print):
    """Merges (list of (a, b)) and the vocabulary (specials, characters by
    frequency, then merge results in rank order; all distinct)."""
    freq = Counter()
    for line in lines:
        freq.update(chunks(line))
    words = [list(w) for w in freq]
    counts = [freq[w] for w in freq]
    chars = Counter()
    for w, c in zip(words, counts):
        for ch in w:
            chars[ch] += c
    vocab = list(SPECIALS) + [ch for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))]
    seen = set(vocab)
    pairs = defaultdict(int)
    where = defaultdict(set)
    for i, (w, c) in enumerate(zip(words, counts)):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += c
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < vocab_size and heap:
        negc, p = heapq.heappop(heap)
        if pairs.get(p, 0) != -negc or -negc < 2:
            continue                    # stale entry (a fresher one is queued)
        a, b = p
        ab = a + b
        merges.append(p)
        if ab not in seen:
            seen.add(ab)
            vocab.append(ab)
        changed = set()
        for i in list(where[p]):
            w, c = words[i], counts[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= c
                changed.add((x, y))
            nw, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    nw.append(ab)
                    k += 2
                else:
                    nw.append(w[k])
                    k += 1
            words[i] = nw
            for x, y in zip(nw, nw[1:]):
                pairs[(x, y)] += c
                where[(x, y)].add(i)
                changed.add((x, y))
        del pairs[p]
        where.pop(p, None)
        for q in changed:
            if q in pairs and pairs[q] >= 2:
                heapq.heappush(heap, (-pairs[q], q))
    log("bpe: %d characters, %d merges, %d tokens" % (len(chars), len(merges), len(vocab)))
    return merges, vocab


class BPE:
    def __init__(self, merges):
        self.rank = {}
        for i, m in enumerate(merges):
            self.rank.setdefault(tuple(m), i)
        self.cache = {}

    def piece(self, chunk):
        got = self.cache.get(chunk)
        if got is not None:
            return got
        w = list(chunk)
        while len(w) > 1:
            best, bi = None, -1
            for k in range(len(w) - 1):
                r = self.rank.get((w[k], w[k + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, k
            if best is None:
                break
            w[bi:bi + 2] = [w[bi] + w[bi + 1]]
        self.cache[chunk] = w
        return w

    def encode(self, line):
        out = []
        for c in chunks(line):
            out.extend(self.piece(c))
        return out


def decode(pieces):
    return "".join(pieces).replace(MARK, " ").strip()


def save_merges(path, merges):
    with open(path, "w", encoding="utf-8") as f:
        f.write("#version: offramp-bpe 1\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))


def load_merges(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0].startswith("#version"), path
    return [tuple(l.split(" ")) for l in lines[1:] if l]


def main(argv):
    if len(argv) >= 1 and argv[0] == "decode":
        for line in sys.stdin:
            sys.stdout.write(decode(line.split()) + "\n")
        return 0
    if len(argv) == 2 and argv[0] == "encode":
        bpe = BPE(load_merges(argv[1] + "/bpe_merges.txt"))
        for line in sys.stdin:
            sys.stdout.write(" ".join(bpe.encode(line)) + "\n")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
