"""Minimal safetensors writer/reader (F32 only), so the recipe needs no
package beyond torch and numpy. Format: 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}} (plus "__metadata__",
string values only), then the raw little-endian tensor bytes."""

import json
import struct

import numpy as np


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy-convertible array; written as F32 in
    sorted name order, header padded with spaces to a multiple of 8."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)


def load(path):
    """(dict name -> float32 numpy array, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short for a safetensors header" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d exceeds file size" % (path, n))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: tensor %s has dtype %s, only F32 is read"
                             % (path, name, info["dtype"]))
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if e - b != 4 * count or base + e > len(data):
            raise ValueError("%s: tensor %s has bad data_offsets" % (path, name))
        out[name] = np.frombuffer(data, dtype="<f4", count=count,
                                  offset=base + b).reshape(info["shape"]).copy()
    return out, meta
