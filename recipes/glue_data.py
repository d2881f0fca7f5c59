"""GLUE TSV readers for the files in shared/data/glue (see shared/README.md
for each file's layout)."""

import os

# name -> (text columns, label column, has header, csv-quoted, kind, licence)
TASKS = {
    "sst2": dict(a=0, b=None, y=1, header=True, quoted=False, kind="cls",
                 num_labels=2, metric="accuracy",
                 licence="SST-2 (GLUE; Socher et al. 2013, Stanford Sentiment Treebank): "
                         "no explicit licence published; GLUE refers users to "
                         "each source's own terms (research use)"),
    "mrpc": dict(a=3, b=4, y=0, header=True, quoted=False, kind="cls",
                 num_labels=2, metric="accuracy+f1",
                 licence="MRPC (GLUE; Dolan & Brockett 2005): Microsoft Research "
                         "Paraphrase Corpus under Microsoft's own terms (research use)"),
    "rte": dict(a=0, b=1, y=2, header=True, quoted=True, kind="cls",
                num_labels=2, metric="accuracy",
                licence="RTE (GLUE; PASCAL RTE 1, 2, 3, 5): the original "
                        "challenge terms (research use)"),
    "cola": dict(a=3, b=None, y=1, header=False, quoted=False, kind="cls",
                 num_labels=2, metric="mcc",
                 licence="CoLA (GLUE; Warstadt et al. 2019): sentences from "
                         "published linguistics literature; the authors' release "
                         "terms (research use)"),
    "stsb": dict(a=7, b=8, y=9, header=True, quoted=False, kind="reg",
                 num_labels=1, metric="pearson+spearman",
                 licence="STS-B (GLUE; Cer et al. 2017): news, caption and "
                         "forum sources under their own terms (research use)"),
}


def _unquote(field):
    # RTE is an HF CSV export: a field containing a quote is wrapped in
    # quotes with inner quotes doubled. The GLUE originals quote nothing.
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def read_split(data_dir, task, split):
    """List of (text_a, text_b or None, label) for task/split.tsv; label is
    int for classification, float for STS-B."""
    spec = TASKS[task]
    path = os.path.join(data_dir, task, split + ".tsv")
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = f.read().split("\n")
    if spec["header"]:
        lines = lines[1:]
    for lineno, line in enumerate(lines, start=2 if spec["header"] else 1):
        line = line.rstrip("\r")
        if not line:
            continue
        cols = line.split("\t")
        if spec["quoted"]:
            cols = [_unquote(c) for c in cols]
        need = max(c for c in (spec["a"], spec["b"], spec["y"]) if c is not None)
        if len(cols) <= need:
            raise ValueError("%s:%d: %d columns, need %d" % (path, lineno, len(cols), need + 1))
        a = cols[spec["a"]]
        b = cols[spec["b"]] if spec["b"] is not None else None
        y = float(cols[spec["y"]]) if spec["kind"] == "reg" else int(cols[spec["y"]])
        rows.append((a, b, y))
    return rows
