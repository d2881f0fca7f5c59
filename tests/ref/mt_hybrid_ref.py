"""Reference for the seq2seq driver on the Multi30k layouts (issue 8): a
tiny random-weight hybrid model (encoder width 32, 4 heads, FFN 64 ->
projection -> decoder width 16, 2 heads, FFN 32) and a plain one, exported
with recipes/train_mt.py's own exporter (model.bin v6 with aliases,
shared_vocabulary.txt, bpe_merges.txt, config.json), and their torch greedy
outputs (recipes' greedy = `offramp translate --beam 1`, 256 steps) on the
first N lines of multi30k test, detokenised.

    /usr/bin/python3 tests/ref/mt_hybrid_ref.py OUT_DIR N
writes OUT_DIR/{hybrid,plain}/ (model dirs), OUT_DIR/{hybrid,plain}.de, and
OUT_DIR/bpe.txt + bpe.pieces (Multi30k test and val lines, both languages,
and their BPE pieces under the models' merges).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "recipes"))
import mt_bpe  # noqa: E402
import train_mt as T  # noqa: E402

DATA = os.environ.get("MT_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data",
                                              "translation", "multi30k"))


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(7)
    torch.set_num_threads(1)
    train = T.read_lines(os.path.join(DATA, "val.en"))[:300] + T.read_lines(os.path.join(DATA, "val.de"))[:300]
    merges, vocab = mt_bpe.learn(train, 300, log=lambda *a: None)
    tok2id = {t: i for i, t in enumerate(vocab)}
    bpe = mt_bpe.BPE(merges)
    src = [T.ids(bpe, tok2id, l) for l in T.read_lines(os.path.join(DATA, "test_2016_flickr.en"))[:n]]
    V = len(vocab)
    enc = T.Encoder(V, 2, 32, 4, 64, 0.0, torch.nn.Embedding(V, 32))
    models = {
        "hybrid": (T.Seq2Seq(V, 0, 3, 16, 2, 32, 0.0, enc=enc, d_enc=32), 4, 2),
        "plain": (T.Seq2Seq(V, 2, 3, 16, 2, 32, 0.0), 2, 2),
    }
    for name, (model, he, hd) in models.items():
        with torch.no_grad():
            model.dec.proj_bias.normal_(0, 0.2)
            model.dec.proj_bias[T.EOS] = 1.0     # outputs of a few tokens
        model.eval()
        T.export(model, os.path.join(out, name), vocab, merges, he, hd, {"test": name})
        with torch.no_grad():
            hy = T.greedy(model, src, vocab, max_len=256)
        with open(os.path.join(out, name + ".de"), "w", encoding="utf-8") as f:
            f.write("".join(mt_bpe.decode(h) + "\n" for h in hy))
        with open(os.path.join(out, name + ".pieces"), "w", encoding="utf-8") as f:
            f.write("".join(" ".join(h) + "\n" for h in hy))
    # The BPE of every test and val line (both languages), for the C tokenizer.
    with open(os.path.join(out, "bpe.txt"), "w", encoding="utf-8") as f, \
         open(os.path.join(out, "bpe.pieces"), "w", encoding="utf-8") as g:
        for part in ("test_2016_flickr.en", "test_2016_flickr.de", "val.en", "val.de"):
            for l in open(os.path.join(DATA, part), encoding="utf-8").read().split("\n")[:-1]:
                f.write(l + "\n")
                g.write(" ".join(bpe.encode(l)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
