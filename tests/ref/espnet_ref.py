#!/usr/bin/python3
"""espnet_ref.py -- numerical reference for tests/unit/test_espnet.c.

Builds ESPNet (the training-time definition of sacmehta/ESPNet, decoder conv
with 19 + classes inputs) in PyTorch, functionally, from the tensors of an
imported model directory (model.safetensors read with plain numpy), runs it on
a crop of one CamVid image preprocessed here independently of the C code
(its own PNG decoder, zlib + numpy; BGR, (x - mean) / std with the train
statistics, / 255), and
writes every block output, float32, in block order, to --out. --skip lists
residual ESP blocks ("level3.5") run as BR(x) instead of BR(x + ESP(x)).

If --c-input is given (the C runtime's preprocessed input for the same crop),
it is compared with this script's own input first (exit 3 if they differ).

Run with Debian's /usr/bin/python3 (python3-torch, numpy; PIL is not needed).
Exit 0 ok.
"""
import argparse
import json
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-3
MEAN = np.array([110.33102643, 108.40886315, 105.03319369], dtype=np.float32)  # BGR
STD = np.array([72.12571015, 72.69074534, 69.90434816], dtype=np.float32)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", k
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy()
        out[k] = torch.from_numpy(arr)
    return out


class Ref:
    def __init__(self, weights, p, q):
        self.w, self.p, self.q = weights, p, q

    def bn(self, x, prefix):
        w = self.w
        return F.batch_norm(x, w[prefix + "running_mean"], w[prefix + "running_var"],
                            w[prefix + "weight"], w[prefix + "bias"], False, 0.0, EPS)

    def prelu(self, x, name):
        return F.prelu(x, self.w[name])

    def br(self, x, prefix):
        return self.prelu(self.bn(x, prefix + "bn."), prefix + "act.weight")

    def conv(self, x, name, stride=1, dil=1):
        w = self.w[name]
        pad = (w.shape[-1] - 1) // 2 * dil
        return F.conv2d(x, w, None, stride, pad, dil)

    def up(self, x, name):
        return F.conv_transpose2d(x, self.w[name], None, stride=2)

    def esp(self, x, prefix, down, residual):
        r = self.conv(x, prefix + "c1.conv.weight", stride=2 if down else 1)
        d = [self.conv(r, prefix + "d%d.conv.weight" % k, dil=k) for k in (1, 2, 4, 8, 16)]
        s2 = d[1]
        s3 = s2 + d[2]
        s4 = s3 + d[3]
        s5 = s4 + d[4]
        y = torch.cat([d[0], s2, s3, s4, s5], 1)
        if residual:
            y = x + y
        if down:
            return self.prelu(self.bn(y, prefix + "bn."), prefix + "act.weight")
        return self.br(y, prefix + "bn.")

    def skipped(self, x, prefix):
        """A skipped residual ESP block: BR(x), i.e. BR(x + ESP(x)) without
        the branch ESP(x); the BR after the residual add is kept."""
        return self.br(x, prefix + "bn.")

    def blocks(self, x, skip):
        """Block outputs in the C runtime's order (workers/models/espnet.h)."""
        out = []
        f0 = self.prelu(self.bn(self.conv(x, "encoder.level1.conv.weight", 2),
                                "encoder.level1.bn."), "encoder.level1.act.weight")
        inp1 = F.avg_pool2d(x, 3, 2, 1)
        inp2 = F.avg_pool2d(inp1, 3, 2, 1)
        cat0 = self.br(torch.cat([f0, inp1], 1), "encoder.b1.")
        out.append(cat0)
        l2_0 = self.esp(cat0, "encoder.level2_0.", True, False)
        out.append(l2_0)
        l2 = l2_0
        for i in range(self.p):
            if "level2.%d" % i in skip:
                l2 = self.skipped(l2, "encoder.level2.%d." % i)
            else:
                l2 = self.esp(l2, "encoder.level2.%d." % i, False, True)
            out.append(l2)
        cat1 = self.br(torch.cat([l2, l2_0, inp2], 1), "encoder.b2.")
        l3_0 = self.esp(cat1, "encoder.level3_0.", True, False)
        out.append(l3_0)
        l3 = l3_0
        for i in range(self.q):
            if "level3.%d" % i in skip:
                l3 = self.skipped(l3, "encoder.level3.%d." % i)
            else:
                l3 = self.esp(l3, "encoder.level3.%d." % i, False, True)
            out.append(l3)
        cat2 = self.br(torch.cat([l3_0, l3], 1), "encoder.b3.")
        scores8 = self.bn(self.conv(cat2, "encoder.classifier.conv.weight"), "br.")
        d3 = self.up(scores8, "up_l3.0.weight")
        out.append(d3)
        proj = self.conv(cat1, "level3_C.conv.weight")
        comb = self.esp(self.br(torch.cat([proj, d3], 1), "combine_l2_l3.0."),
                        "combine_l2_l3.1.", False, False)
        d2 = self.br(self.up(comb, "up_l2.0.weight"), "up_l2.1.")
        out.append(d2)
        c = self.prelu(self.bn(self.conv(torch.cat([d2, cat0], 1), "conv.conv.weight"),
                               "conv.bn."), "conv.act.weight")
        out.append(self.up(c, "classifier.weight"))
        return out


def read_png_rgb8(path):
    """8-bit RGB, non-interlaced PNG -> uint8 [h][w][3] (what CamVid ships),
    decoded here with zlib and the five PNG row filters, independently of
    the libpng decoding of the C side."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("espnet_ref: %s: not a PNG" % path)
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype != 2 or interlace:
        raise SystemExit("espnet_ref: %s: only 8-bit RGB non-interlaced PNGs" % path)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride, bpp = 3 * w, 3
    raw = raw.reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        elif ft in (1, 3, 4):
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                if ft == 1:
                    pred = a
                elif ft == 3:
                    pred = (a + b) >> 1
                else:
                    c = prev[x - bpp] if x >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) & 255
        else:
            raise SystemExit("espnet_ref: %s: bad PNG filter %d" % (path, ft))
        out[y], prev = cur, cur
    return out.astype(np.uint8).reshape(h, w, 3)


def preprocess(png, y0, x0, h, w):
    rgb = read_png_rgb8(png)[y0:y0 + h, x0:x0 + w]
    bgr = rgb[:, :, ::-1].astype(np.float32)
    x = (bgr - MEAN) / STD
    x = x.transpose(2, 0, 1) / np.float32(255.0)
    return np.ascontiguousarray(x, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--crop", nargs=4, type=int, required=True, metavar=("Y0", "X0", "H", "W"))
    ap.add_argument("--downscale", type=int, default=1, choices=(1, 2),
                    help="2: average 2x2 pixels of the preprocessed crop")
    ap.add_argument("--c-input")
    ap.add_argument("--skip", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = json.load(open(args.model + "/config.json"))
    ref = Ref(read_safetensors(args.model + "/model.safetensors"), cfg["p"], cfg["q"])
    y0, x0, h, w = args.crop
    x = preprocess(args.image, y0, x0, h, w)
    if args.downscale == 2:
        # Same float32 operation order as the C test: (a + b) + (c + d), * 0.25.
        x = ((x[:, 0::2, 0::2] + x[:, 0::2, 1::2]) + (x[:, 1::2, 0::2] + x[:, 1::2, 1::2])) \
            * np.float32(0.25)
        x = np.ascontiguousarray(x, dtype=np.float32)
        h, w = h // 2, w // 2
    if args.c_input:
        cx = np.fromfile(args.c_input, dtype="<f4")
        if cx.size != x.size or np.abs(cx - x.ravel()).max() > 1e-6:
            diff = "size %d vs %d" % (cx.size, x.size) if cx.size != x.size \
                else "max abs diff %g" % np.abs(cx - x.ravel()).max()
            sys.stderr.write("espnet_ref: C preprocessing differs from the reference: %s\n" % diff)
            sys.exit(3)
    skip = set(s for s in args.skip.split(",") if s)
    with torch.no_grad():
        outs = ref.blocks(torch.from_numpy(x)[None], skip)
    with open(args.out, "wb") as f:
        for o in outs:
            f.write(o[0].numpy().astype("<f4").tobytes())
    print("espnet_ref: %d blocks, input %dx%d" % (len(outs), h, w))


if __name__ == "__main__":
    main()
