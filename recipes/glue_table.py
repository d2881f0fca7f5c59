#!/usr/bin/python3
"""Markdown table of every method at matched relative FLOPs from the JSON
of `offramp report --format json` (plans/compare-exits*.yaml).

  ./build/offramp report --db mrpc.sqlite --format json > mrpc.json
  python3 recipes/glue_table.py mrpc.json [--targets 0.3,0.5,0.7] [--tol 0.1]

For each method and target r, the sweep point whose relative FLOPs are
closest to r (within --tol, else "-"); each cell shows its metrics, the
Wilson 95% interval of the accuracy (n = the cell's examples) and its
actual relative FLOPs. Plain python3, no torch."""

import argparse
import json
import math


def wilson(p, n, z=1.959964):
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (c - h), 100 * (c + h)


def cell_text(c, keys):
    m = c["metrics"]
    lo, hi = wilson(m["accuracy"] / 100, c["n"])
    parts = ["%.1f [%.1f, %.1f]" % (m["accuracy"], lo, hi)]
    parts += ["F1 %.1f" % m[k] for k in keys if k == "f1"]
    return " / ".join(parts) + " @%.2f" % c["rel_flops"]


def label(c):
    p = ",".join("%s=%s" % kv for kv in sorted(c["params"].items()))
    return c["method"] + (":" + p if p else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report")
    ap.add_argument("--targets", default="0.3,0.5,0.7")
    ap.add_argument("--tol", type=float, default=0.1)
    args = ap.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    cells = [c for c in json.load(open(args.report))["cells"] if c["status"] == "done"]
    keys = [k for k in cells[0]["metrics"] if k != "accuracy"]
    full = [c for c in cells if c["method"] == "full"]
    head = "| method | " + " | ".join("~%.1f rel. FLOPs" % t for t in targets) + " |"
    print(head)
    print("|---" * (len(targets) + 1) + "|")
    if full:
        print("| full (1.00) | " + " | ".join([cell_text(full[0], keys)] * len(targets)) + " |")
    methods = []
    for c in cells:
        if c["method"] not in methods and c["method"] != "full":
            methods.append(c["method"])
    for name in methods:
        row = []
        for t in targets:
            cand = [c for c in cells if c["method"] == name and abs(c["rel_flops"] - t) <= args.tol]
            if not cand:
                row.append("-")
                continue
            best = min(cand, key=lambda c: abs(c["rel_flops"] - t))
            row.append("%s (%s)" % (cell_text(best, keys), label(best).split(":", 1)[-1]))
        print("| %s | %s |" % (name, " | ".join(row)))


if __name__ == "__main__":
    main()
