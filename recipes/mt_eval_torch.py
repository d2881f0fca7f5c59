"""Torch greedy decode of an exported Multi30k model directory (plain or
hybrid), read back from its model.bin -- the reference the C runtime's
`offramp translate --beam 1 --max-length N` output is compared with.

    /usr/bin/python3 recipes/mt_eval_torch.py models/mt-multi30k-large test_2016_flickr OUT.de \
        [--max-length 100] [--exit-layer L]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_io  # noqa: E402
import mt_bpe  # noqa: E402
import train_mt as T  # noqa: E402


def load(dirpath):
    m = ct2_io.read(os.path.join(dirpath, "model.bin"))
    var = m["variables"]
    n = lambda side: sum(1 for k in var if k.startswith(side + "/layer_") and k.endswith("/ffn/linear_0/weight"))  # noqa: E731
    V, dE = var["encoder/embeddings/weight"].shape
    fE = var["encoder/layer_0/ffn/linear_0/weight"].shape[0]
    fD = var["decoder/layer_0/ffn/linear_0/weight"].shape[0]
    hE, hD = int(var["encoder/num_heads"]), int(var["decoder/num_heads"])
    if "hybrid/projection/weight" in var:
        dD = var["hybrid/projection/weight"].shape[0]
        enc = T.Encoder(V, n("encoder"), dE, hE, fE, 0.0, nn.Embedding(V, dE))
        model = T.Seq2Seq(V, 0, n("decoder"), dD, hD, fD, 0.0, enc=enc, d_enc=dE)
        model.proj.weight.data.copy_(torch.from_numpy(var["hybrid/projection/weight"]))
        model.proj.bias.data.copy_(torch.from_numpy(var["hybrid/projection/bias"]))
    else:
        model = T.Seq2Seq(V, n("encoder"), n("decoder"), dE, hE, fE, 0.0)
    path = os.path.join(dirpath, "model.bin")
    T.load_ct2(model, path, "encoder")
    T.load_ct2(model, path, "decoder")
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("split")
    ap.add_argument("out")
    ap.add_argument("--data", default="/work/shared/data/translation/multi30k")
    ap.add_argument("--max-length", type=int, default=100)
    ap.add_argument("--exit-layer", type=int, help="0-based decoder layer whose exit is used for every token")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load(a.model)
    vocab = open(os.path.join(a.model, "shared_vocabulary.txt"), encoding="utf-8").read().split("\n")[:-1]
    tok2id = {t: i for i, t in enumerate(vocab)}
    bpe = mt_bpe.BPE(mt_bpe.load_merges(os.path.join(a.model, "bpe_merges.txt")))
    src = [T.ids(bpe, tok2id, l) for l in T.read_lines("%s/%s.en" % (a.data, a.split))]
    t = time.time()
    hy = T.greedy(model, src, vocab, max_len=a.max_length, exit_layer=a.exit_layer)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("".join(mt_bpe.decode(h) + "\n" for h in hy))
    refs = T.read_lines("%s/%s.de" % (a.data, a.split))
    print("%s %s: %d lines in %.0fs, recipe BLEU %.2f" % (a.model, a.split, len(hy), time.time() - t,
                                                         T.bleu([mt_bpe.decode(h) for h in hy], refs)))


if __name__ == "__main__":
    main()
