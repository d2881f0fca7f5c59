#!/usr/bin/python3
"""bench_encoder_torch.py MODEL_DIR IDS_FILE BATCHES THREADS REPEAT

The python3-torch side of `offramp bench encoder`: times the full forward of
the encoder checkpoint in MODEL_DIR with tests/ref/encoder_ref.py (the plain
torch re-implementation that test_encoder checks the C runtime against, 1e-4)
on the same weights, inputs and thread count, and prints one JSON object:

  {"torch": VERSION, "threads": N, "results": [{"batch": B, "ms": [...]}, ...],
   "logits": [[...], ...]}      (logits: every row of the largest batch)

IDS_FILE: little-endian int32 n_rows, n_tokens, then ids[n_rows][n_tokens].
BATCHES: comma-separated batch sizes (the first rows of IDS_FILE). Each batch
is run once to warm up, then REPEAT times. An offline reference measurement,
never part of an evaluation.
"""
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "ref"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import encoder_ref as ref  # noqa: E402

PREFIXES = ("bert.", "roberta.", "electra.", "albert.", "distilbert.", "")


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base, out = 8 + n, {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] != "F32":
            raise SystemExit("%s: %s is %s, want F32" % (path, name, spec["dtype"]))
        a, b = spec["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=base + a)
        out[name] = torch.from_numpy(arr.reshape(spec["shape"]).copy())
    return out


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    t = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    cfg["prefix"] = next(p for p in PREFIXES if p + "embeddings.word_embeddings.weight" in t)
    cfg.setdefault("layer_norm_eps", 1e-12)
    cfg.setdefault("hidden_act", "gelu")
    cfg.setdefault("pad_token_id", 1 if cfg["model_type"] == "roberta" else 0)
    cfg.setdefault("type_vocab_size", 2)
    ref.MAXPOS = cfg.get("max_position_embeddings", 512)
    return cfg, t


def forward(cfg, t, ids):
    """Embeddings, every block, the last layer's head: what the C bench times."""
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    x = ref.embeddings(cfg, t, ids, types, mask)
    n_layers = ref.dims(cfg)[1]
    for li in range(n_layers):
        for base in ref.layer_blocks(cfg, li):
            x = ref.block(cfg, t, base, x, mask)
    last = n_layers - 1
    if ("exits.%d.pooler.dense.weight" % last) in t:
        return ref.head(t, "exits.%d.pooler.dense" % last, "exits.%d.classifier" % last,
                        "tanh", x)
    return ref.head(t, *ref.final_head_names(cfg["model_type"], cfg["prefix"]), x)


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    model_dir, ids_file = sys.argv[1], sys.argv[2]
    batches = [int(b) for b in sys.argv[3].split(",")]
    threads, repeat = int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    cfg, t = load(model_dir)
    with open(ids_file, "rb") as f:
        raw = f.read()
    n_rows, n_tok = struct.unpack("<2i", raw[:8])
    ids = torch.from_numpy(np.frombuffer(raw, dtype="<i4", offset=8,
                                         count=n_rows * n_tok).astype(np.int64)
                           .reshape(n_rows, n_tok))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    with torch.inference_mode():
        for b in batches:
            x = ids[:b].contiguous()
            logits = forward(cfg, t, x)
            ms = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                logits = forward(cfg, t, x)
                ms.append((time.perf_counter() - t0) * 1e3)
            out["results"].append({"batch": b, "ms": ms})
            if b == max(batches):
                out["logits"] = logits.tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
