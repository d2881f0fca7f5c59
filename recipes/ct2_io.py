"""CTranslate2 model.bin reader/writer (numpy only), the layout of
workers/models/ct2.h: little-endian u32 binary_version; u16 len + spec name
(NUL included); u32 revision; u32 count; per variable u16 len + name, u8
rank, u32 dims[rank], then (version >= 4) u8 dtype id + u32 byte count or
(version <= 3) u8 item size + u32 element count, raw data; (version >= 3)
u32 alias count + (alias, target) string pairs.

    python3 recipes/ct2_io.py list DIR/model.bin     # names, dims, dtypes
"""
import struct
import sys

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
IDS = {np.dtype(v): k for k, v in DTYPES.items()}


def _str(b, off):
    (n,) = struct.unpack_from("<H", b, off)
    s = b[off + 2:off + 2 + n]
    return s.rstrip(b"\0").decode("utf-8"), off + 2 + n


def read(path):
    b = open(path, "rb").read()
    (ver,) = struct.unpack_from("<I", b, 0)
    off = 4
    spec, off = _str(b, off)
    rev, n = struct.unpack_from("<II", b, off)
    off += 8
    var = {}
    for _ in range(n):
        name, off = _str(b, off)
        rank = b[off]
        off += 1
        dims = struct.unpack_from("<%dI" % rank, b, off)
        off += 4 * rank
        tag, cnt = struct.unpack_from("<BI", b, off)
        off += 5
        if ver >= 4:
            dt, nbytes = np.dtype(DTYPES[tag]), cnt
        else:
            dt = np.dtype({4: np.float32, 2: np.int16, 1: np.int8}[tag])
            nbytes = cnt * tag
        var[name] = np.frombuffer(b[off:off + nbytes], dtype=dt).reshape(dims).copy()
        off += nbytes
    aliases = {}
    if ver >= 3:
        (na,) = struct.unpack_from("<I", b, off)
        off += 4
        for _ in range(na):
            a, off = _str(b, off)
            t, off = _str(b, off)
            aliases[a] = t
    assert off == len(b), "%s: %d trailing bytes" % (path, len(b) - off)
    return {"version": ver, "spec": spec, "revision": rev, "variables": var, "aliases": aliases}


def _wstr(f, s):
    e = s.encode("utf-8") + b"\0"
    f.write(struct.pack("<H", len(e)))
    f.write(e)


def write(path, variables, aliases=None, spec="TransformerSpec", revision=3, version=6):
    """variables: ordered dict name -> numpy array (float32 tensors, int
    scalars as np.int8/np.int16 0-d arrays). aliases: alias -> target."""
    aliases = aliases or {}
    with open(path, "wb") as f:
        f.write(struct.pack("<I", version))
        _wstr(f, spec)
        f.write(struct.pack("<II", revision, len(variables)))
        for name, a in variables.items():
            a = np.asarray(a)             # (ascontiguousarray would make scalars rank 1)
            assert a.dtype in IDS, (name, a.dtype)
            _wstr(f, name)
            f.write(struct.pack("<B", a.ndim))
            f.write(struct.pack("<%dI" % a.ndim, *a.shape))
            f.write(struct.pack("<BI", IDS[a.dtype], a.nbytes))
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        f.write(struct.pack("<I", len(aliases)))
        for a, t in aliases.items():
            assert t in variables, t
            _wstr(f, a)
            _wstr(f, t)


def rewrite(path):
    """Re-serialise a model.bin with this writer (same tensors; attributes
    stored as rank-0 scalars)."""
    m = read(path)
    var = {k: (v.reshape(()) if v.ndim == 1 and v.size == 1 and v.dtype != np.float32 else v)
           for k, v in m["variables"].items()}
    write(path, var, m["aliases"], m["spec"], m["revision"], m["version"])


if __name__ == "__main__":
    if sys.argv[1] == "rewrite":
        rewrite(sys.argv[2])
        sys.exit(0)
    m = read(sys.argv[2])
    print("version %d spec %s revision %d, %d variables, %d aliases"
          % (m["version"], m["spec"], m["revision"], len(m["variables"]), len(m["aliases"])))
    for k, v in m["variables"].items():
        print("%-60s %-14s %s%s" % (k, v.dtype, list(v.shape), "" if v.ndim else " = %s" % v))
    for a, t in m["aliases"].items():
        print("%-60s -> %s" % (a, t))
