"""Write MODEL_DIR/README.md from its config.json, the training log and the
output of recipes/eval_mt.sh (Debian python3: needs numpy).

    /usr/bin/python3 recipes/mt_readme.py models/mt-multi30k-large recipes/logs/train_mt_large.log /tmp/eval-mt-multi30k-large/eval.txt
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct2_io  # noqa: E402

DESC = {
    "large": "the \"large\" Transformer en->de",
    "small": "the \"small\" Transformer en->de",
    "hybrid": "the hybrid: mt-multi30k-large's encoder (frozen) + a learned projection 128 -> 64 + "
              "mt-multi30k-small's decoder fine-tuned to read it",
}


def main(mdir, logp, evalp):
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    off = cfg["offramp"]
    kind = "hybrid" if "hybrid" in off else ("large" if "large" in mdir else "small")
    m = ct2_io.read(os.path.join(mdir, "model.bin"))
    nparam = sum(v.size for v in m["variables"].values() if v.dtype.kind == "f")
    size = os.path.getsize(os.path.join(mdir, "model.bin"))
    log = open(logp, encoding="utf-8").read().split("\n")
    runs = [i for i, l in enumerate(log) if l.startswith("==== ")]
    last = log[runs[-1]:]
    sps = [float(x) for x in re.findall(r"\(([\d.]+) s/step\)", "\n".join(last))]
    stop = [l for l in last if l.startswith("stopping at")]
    evals = [l for l in last if l.startswith("eval ") or l.startswith("projection")]
    ev = open(evalp, encoding="utf-8").read()
    res = {}
    for who, split, block in re.findall(r"== (c|torch) (\S+)\n(BLEU = .*\n(?:.*\n)*?chrF2 = [\d.]+)", ev):
        b = re.search(r"BLEU = ([\d.]+)", block).group(1)
        c = re.search(r"chrF2 = ([\d.]+)", block).group(1)
        res[(who, split)] = (b, c, block.split("\n")[0])
    agree = dict(re.findall(r"== (\S+): C and torch identical on (\d+ / \d+) lines", ev))
    step = re.search(r"--max-steps (\d+)", stop[0]).group(1) if stop else "?"
    cmd = off["recipe"]
    repro = re.sub(r"--time-budget \S+", "--time-budget 0", cmd) + " --max-steps " + step \
        if "--max-steps" not in cmd else cmd
    rows = []
    for split in ("val", "test_2016_flickr"):
        for who, name in (("c", "C runtime (`offramp translate --beam 1 --max-length 100`)"),
                          ("torch", "torch greedy (recipes/mt_eval_torch.py, same model.bin)")):
            if (who, split) in res:
                b, c, _ = res[(who, split)]
                rows.append("| %s | %s | %s | %s |" % (split, name, b, c))
    out = []
    out.append("# mt-multi30k-%s\n" % kind)
    out.append("Multi30k (task 1) English->German, %s: trained offline by `recipes/train_mt.py` "
               "because no published Multi30k checkpoint is available here. CTranslate2 `model.bin` "
               "(binary version 6, float32, embeddings tied through aliases) that `offramp translate` "
               "loads%s; layout in docs/TRANSLATION.md.\n" % (
                   DESC[kind], "" if kind != "hybrid" else
                   " once the hybrid loading of docs/TRANSLATION.md \"Hybrid layout\" exists (the "
                   "current loader refuses it: encoder and decoder widths differ)"))
    out.append("- dims: `%s`, vocabulary %d (joint BPE, `bpe_merges.txt`), %d float parameters, "
               "model.bin %.1f MB" % (json.dumps(off["dims"]), len(open(os.path.join(mdir, "shared_vocabulary.txt"),
                                                                      encoding="utf-8").read().split("\n")) - 1,
                                      nparam, size / 1e6))
    out.append("- exits: every decoder layer (the shared final decoder LayerNorm + projection); %s" % off["exit_loss"])
    out.append("- data: `shared/data/translation/multi30k/train.{en,de}` (29,000 pairs); selection: greedy "
               "BLEU on a 100-sentence subset of val every 200 steps and at the end")
    out.append("- seed %d; 1 training thread (%s); median %.2f s/step; stopped at step %s by the time "
               "budget, selected step %s" % (off["seed"], "OPENBLAS_CORETYPE=SkylakeX, torch 1.13 CPU",
                                             sorted(sps)[len(sps) // 2] if sps else 0.0, step,
                                             off["selected_step"]))
    out.append("\n## Scores (offramp's own scorer, `offramp score --suite multi30k_en_de`)\n")
    out.append("| split | decoder | BLEU | chrF2 |\n|---|---|---|---|")
    out.extend(rows)
    out.append("")
    for split, a in agree.items():
        out.append("- %s: C and torch outputs identical on %s lines" % (split, a))
    out.append("\nA from-scratch Transformer trained to convergence on Multi30k reaches roughly 35 BLEU on "
               "test_2016_flickr; this one had a ~14-minute single-core budget.\n")
    out.append("## Exact commands\n")
    out.append("```\ncd /work/main   # project root; Debian's python3 with torch 1.13")
    out.append("export OPENBLAS_CORETYPE=SkylakeX")
    if kind == "hybrid":
        out.append("# needs models/mt-multi30k-large and models/mt-multi30k-small first")
    out.append("# as run (time-budgeted):\n" + cmd)
    out.append("# deterministic re-run of the same number of steps:\n" + repro)
    out.append("/usr/bin/python3 recipes/ct2_io.py rewrite %s/model.bin   # attributes as rank-0 scalars "
               "(the run above used a writer that stored them as [1]; same tensors)" % mdir
               if kind != "hybrid" else "")
    out.append("sh recipes/eval_mt.sh %s build-mtr      # scores above" % mdir)
    out.append("```\n")
    out.append("## Translating\n")
    out.append("```\npython3 recipes/mt_bpe.py encode %s < input.en > input.bpe" % mdir)
    out.append("offramp translate --model %s --input input.bpe --beam 1 | python3 recipes/mt_bpe.py decode" % mdir)
    out.append("```\n")
    out.append("## Training log (evaluations)\n\n```")
    out.extend(evals)
    out.append("```")
    open(os.path.join(mdir, "README.md"), "w", encoding="utf-8").write(
        "\n".join(l for l in out if l is not None) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
