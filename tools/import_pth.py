#!/usr/bin/python3
"""import_pth.py -- convert a PyTorch ESPNet state_dict (.pth) into the
offramp model layout: DIR/model.safetensors + DIR/config.json.

Run by `offramp import MODEL.pth --arch espnet-p2q8 --out DIR` with Debian's
/usr/bin/python3 (python3-torch reads the legacy pickle format). This is the
only place offramp uses Python at run time of a user command; the runtime
itself reads the files written here with C only.

The safetensors file is written with plain Python + numpy (no safetensors
package): 8-byte little-endian header length, a JSON header padded with
spaces to a multiple of 8 bytes, then the raw little-endian float32 data of
every tensor, contiguous, in header order. Tensor names are the state_dict
names unchanged (see docs/IMPORT.md); the set of names and every shape is
checked against the architecture before anything is written.

Exit status: 0 ok, 1 error (message on stderr), 2 usage.
"""
import argparse
import hashlib
import json
import os
import re
import struct
import sys
import tempfile


def fail(msg):
    sys.stderr.write("import_pth: %s\n" % msg)
    sys.exit(1)


def esp_shapes(prefix, n_in, n_out, down):
    """Parameter shapes of DownSamplerB (down) / DilatedParllelResidualBlockB."""
    n = n_out // 5
    n1 = n_out - 4 * n
    k = 3 if down else 1
    shapes = {prefix + "c1.conv.weight": (n, n_in, k, k),
              prefix + "d1.conv.weight": (n1, n, 3, 3)}
    for d in (2, 4, 8, 16):
        shapes[prefix + "d%d.conv.weight" % d] = (n, n, 3, 3)
    # DownSamplerB has bn/act directly, the ESP block a BR module named bn.
    br = prefix + ("" if down else "bn.")
    shapes.update(bn_shapes(br + "bn.", n_out))
    shapes[br + "act.weight"] = (n_out,)
    return shapes


def bn_shapes(prefix, c):
    return {prefix + s: (c,) for s in ("weight", "bias", "running_mean", "running_var")}


def br_shapes(prefix, c):
    s = bn_shapes(prefix + "bn.", c)
    s[prefix + "act.weight"] = (c,)
    return s


def espnet_shapes(p, q, classes):
    """Every tensor of the training-time ESPNet (sacmehta/ESPNet train/Model.py)
    whose decoder conv takes 19 + classes channels."""
    s = {"encoder.level1.conv.weight": (16, 3, 3, 3)}
    s.update(br_shapes("encoder.level1.", 16))
    s.update(br_shapes("encoder.b1.", 19))
    s.update(esp_shapes("encoder.level2_0.", 19, 64, True))
    for i in range(p):
        s.update(esp_shapes("encoder.level2.%d." % i, 64, 64, False))
    s.update(br_shapes("encoder.b2.", 131))
    s.update(esp_shapes("encoder.level3_0.", 131, 128, True))
    for i in range(q):
        s.update(esp_shapes("encoder.level3.%d." % i, 128, 128, False))
    s.update(br_shapes("encoder.b3.", 256))
    s["encoder.classifier.conv.weight"] = (classes, 256, 1, 1)
    s["level3_C.conv.weight"] = (classes, 131, 1, 1)
    s.update(bn_shapes("br.", classes))
    s["conv.conv.weight"] = (classes, 19 + classes, 3, 3)
    s.update(br_shapes("conv.", classes))
    s["up_l3.0.weight"] = (classes, classes, 2, 2)
    s.update(br_shapes("combine_l2_l3.0.", 2 * classes))
    s.update(esp_shapes("combine_l2_l3.1.", 2 * classes, classes, False))
    s["up_l2.0.weight"] = (classes, classes, 2, 2)
    s.update(br_shapes("up_l2.1.", classes))
    s["classifier.weight"] = (classes, classes, 2, 2)
    return s


def load_state_dict(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:          # torch < 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        fail("%s: cannot load: %s" % (path, e))
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        fail("%s: not a state_dict (got %s)" % (path, type(obj).__name__))
    sd = {}
    for k, v in obj.items():
        if not hasattr(v, "numpy"):
            fail("%s: entry '%s' is not a tensor" % (path, k))
        # Checkpoints saved from nn.DataParallel prefix every name.
        if k.startswith("module."):
            k = k[len("module."):]
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = v.detach().cpu()
    return sd


def check_against(sd, expected, path):
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    if missing or extra:
        fail("%s: does not match the architecture: missing %s; unexpected %s"
             % (path, missing[:5] + (["..."] if len(missing) > 5 else []),
                extra[:5] + (["..."] if len(extra) > 5 else [])))
    for k, shape in expected.items():
        if tuple(sd[k].shape) != shape:
            fail("%s: tensor '%s' has shape %s, expected %s"
                 % (path, k, tuple(sd[k].shape), shape))


def write_safetensors(path, tensors, metadata):
    import numpy as np
    header = {"__metadata__": metadata}
    blobs = []
    off = 0
    for name, t in tensors:
        a = np.ascontiguousarray(t.numpy().astype("<f4", copy=False))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(dest, writer):
    d = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix=".import-", dir=d)
    os.close(fd)
    # mkstemp creates 0600; give the file the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        writer(tmp)
        os.replace(tmp, dest)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description="convert a PyTorch ESPNet .pth to offramp's layout")
    ap.add_argument("model", help="state_dict file (.pth)")
    ap.add_argument("--arch", required=True, help="espnet-p<P>q<Q>, e.g. espnet-p2q8")
    ap.add_argument("--out", required=True, help="output directory (created)")
    args = ap.parse_args()

    m = re.fullmatch(r"espnet-p(\d+)q(\d+)", args.arch)
    if not m:
        sys.stderr.write("import_pth: --arch '%s': expected espnet-p<P>q<Q> (e.g. espnet-p2q8)\n" % args.arch)
        sys.exit(2)
    p, q = int(m.group(1)), int(m.group(2))
    if not os.path.isfile(args.model):
        fail("%s: no such file" % args.model)

    sd = load_state_dict(args.model)
    w = sd.get("classifier.weight")
    if w is None or w.dim() != 4:
        fail("%s: no 4-d 'classifier.weight': not an ESPNet (encoder + decoder) state_dict" % args.model)
    classes = int(w.shape[0])
    check_against(sd, espnet_shapes(p, q, classes), args.model)
    for k, v in sd.items():
        if not v.is_floating_point():
            fail("%s: tensor '%s' has dtype %s, expected floating point" % (args.model, k, v.dtype))

    os.makedirs(args.out, exist_ok=True)
    src_hash = sha256(args.model)
    meta = {"format": "pt", "source": os.path.basename(args.model), "source_sha256": src_hash}
    atomic_write(os.path.join(args.out, "model.safetensors"),
                 lambda t: write_safetensors(t, list(sd.items()), meta))
    config = {
        "architecture": "espnet",
        "variant": "train",          # decoder conv takes 19 + classes channels
        "p": p, "q": q, "classes": classes,
        "decoder_conv_in": 19 + classes,
        "bn_eps": 1e-3,
        "source": os.path.basename(args.model),
        "source_sha256": src_hash,
        "tensors": len(sd),
    }

    def write_config(t):
        with open(t, "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    atomic_write(os.path.join(args.out, "config.json"), write_config)
    print("imported %s: espnet p=%d q=%d classes=%d, %d tensors -> %s"
          % (args.model, p, q, classes, len(sd), args.out))


if __name__ == "__main__":
    main()
