#!/usr/bin/python3
"""Numerical reference for tests/unit/test_bleu.c: an independent Python
restatement of sacreBLEU 2.4.3's BLEU and chrF (there is no sacrebleu
package on these machines). It uses Python's own `re`, str.lower(),
str.split() and unicodedata, i.e. the very primitives sacreBLEU runs on, so
it checks the C code's re-implementation of them.

    /usr/bin/python3 mt_reference.py CASES.json

CASES.json (written by the C test) holds
  {"cases": [{"hyp": str, "refs": [str], "c": {...C results...}}, ...],
   "corpus": [{"what": str, "sum": [...], "opts": {...}, "c": {...}}, ...]}
Every C result is recomputed here and compared; exit status 1 with the first
mismatches printed if any differ.
"""
import json
import math
import re
import sys
import unicodedata
from collections import Counter

# ---- tokenizers (tokenizer_13a.py, tokenizer_re.py, tokenizer_intl.py) ----
RE_13A = [
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),
]


def tok_13a(line):
    line = line.replace('<skipped>', '').replace('-\n', '').replace('\n', ' ')
    if '&' in line:
        line = (line.replace('&quot;', '"').replace('&amp;', '&')
                .replace('&lt;', '<').replace('&gt;', '>'))
    line = f' {line} '
    for r, rep in RE_13A:
        line = r.sub(rep, line)
    return ' '.join(line.split())


def _class(prefix):
    """A regex character class of all code points whose category starts
    with `prefix` (the `regex` module's \\p{N}, \\p{P}, \\p{S})."""
    parts, start, prev = [], None, None
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        if unicodedata.category(chr(c)).startswith(prefix):
            if start is None or c != prev + 1:
                if start is not None:
                    parts.append((start, prev))
                start = c
            prev = c
    parts.append((start, prev))
    return ''.join('\\U%08x-\\U%08x' % (a, b) for a, b in parts)


N, P, S = _class('N'), _class('P'), _class('S')
RE_INTL = [
    (re.compile('([^%s])([%s])' % (N, P)), r'\1 \2 '),
    (re.compile('([%s])([^%s])' % (P, N)), r' \1 \2'),
    (re.compile('([%s])' % S), r' \1 '),
]


def tok_intl(line):
    for r, rep in RE_INTL:
        line = r.sub(rep, line)
    return ' '.join(line.split())


TOKENIZERS = {'13a': tok_13a, 'intl': tok_intl, 'none': lambda s: s}


def bleu_pre(s, tok, lc):
    if lc:
        s = s.lower()
    return TOKENIZERS[tok](s.rstrip())


# ---- BLEU (bleu.py) ----
def word_ngrams(line, max_order=4):
    toks = line.split()
    c = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(toks) - n + 1):
            c[tuple(toks[i:i + n])] += 1
    return c, len(toks)


def bleu_stats(hyp, refs, tok, lc):
    """In the C layout: matches[4], totals[4], hyp_len, ref_len."""
    refs = [bleu_pre(r, tok, lc) for r in refs]
    merged, lens = Counter(), []
    for r in refs:
        c, n = word_ngrams(r)
        lens.append(n)
        for g, k in c.items():
            merged[g] = max(merged[g], k)
    hc, hl = word_ngrams(bleu_pre(hyp, tok, lc))
    best = None
    for rl in lens:
        if best is None or abs(hl - rl) < abs(hl - best) or \
                (abs(hl - rl) == abs(hl - best) and rl < best):
            best = rl
    match, total = [0] * 4, [0] * 4
    for g, k in hc.items():
        total[len(g) - 1] += k
        match[len(g) - 1] += min(k, merged.get(g, 0))
    return match + total + [hl, best]


def bleu_compute(st, smooth, value, eff):
    correct, total = list(st[0:4]), list(st[4:8])
    sys_len, ref_len = st[8], st[9]
    if value is None or value < 0:
        value = {'floor': 0.1, 'add-k': 1}.get(smooth)
    bp = (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0) \
        if sys_len < ref_len else 1.0
    prec = [0.0] * 4
    if not any(correct):
        return 0.0, prec, bp
    m, order = 1.0, 4
    for n in range(1, 5):
        if smooth == 'add-k' and n > 1:
            correct[n - 1] += value
            total[n - 1] += value
        if total[n - 1] == 0:
            break
        if eff:
            order = n
        if correct[n - 1] == 0:
            if smooth == 'exp':
                m *= 2
                prec[n - 1] = 100. / (m * total[n - 1])
            elif smooth == 'floor':
                prec[n - 1] = 100. * value / total[n - 1]
        else:
            prec[n - 1] = 100. * correct[n - 1] / total[n - 1]
    logs = 0
    for p in prec[:order]:
        logs = logs + (math.log(p) if p != 0.0 else -9999999999)
    return bp * math.exp(logs / order), prec, bp


# ---- chrF (chrf.py, helpers.py) ----
PUNCTS = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')


def chrf_words(s):
    out = []
    for w in s.split():
        if len(w) == 1:
            out.append(w)
        elif w[-1] in PUNCTS:
            out += [w[:-1], w[-1]]
        elif w[0] in PUNCTS:
            out += [w[0], w[1:]]
        else:
            out.append(w)
    return out


def chrf_ngrams(s, nc, nw, ws):
    line = s if ws else ''.join(s.split())
    out = [Counter(line[i:i + n] for i in range(len(line) - n + 1))
           for n in range(1, nc + 1)]
    words = chrf_words(s)
    out += [Counter(' '.join(words[i:i + n]) for i in range(len(words) - n + 1))
            for n in range(1, nw + 1)]
    return out


def chrf_f(st, beta, eps_smoothing=False):
    factor = beta ** 2
    eps, score, eff, ap, ar = 1e-16, 0.0, 0, 0.0, 0.0
    order = len(st) // 3
    for i in range(order):
        h, r, m = st[3 * i:3 * i + 3]
        p = m / h if h > 0 else eps
        rc = m / r if r > 0 else eps
        d = factor * p + rc
        score += ((1 + factor) * p * rc / d) if d > 0 else eps
        if h > 0 and r > 0:
            ap += p
            ar += rc
            eff += 1
    if eps_smoothing:
        return 100 * score / order
    if eff == 0:
        ap = ar = 0.0
    else:
        ap /= eff
        ar /= eff
    if ap + ar:
        score = (1 + factor) * ap * ar
        score /= (factor * ap) + ar
        return 100 * score
    return 0.0


def chrf_stats(hyp, refs, nc, nw, beta, lc, ws):
    if lc:
        hyp, refs = hyp.lower(), [r.lower() for r in refs]
    hn = chrf_ngrams(hyp, nc, nw, ws)
    best, best_f = None, -1.0
    for ref in refs:
        rn = chrf_ngrams(ref, nc, nw, ws)
        st = []
        for h, r in zip(hn, rn):
            m = sum(min(k, r[g]) for g, k in h.items() if g in r)
            st += [sum(h.values()) if r else 0, sum(r.values()), m]
        f = chrf_f(st, beta)
        if f > best_f:
            best, best_f = st, f
    return best


# ---- comparison ----
fails = []


def check(what, got, want, tol=0.0):
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            fails.append(f'{what}: C {got} != Python {want}')
            return
        for i, (g, w) in enumerate(zip(got, want)):
            check(f'{what}[{i}]', g, w, tol)
        return
    if isinstance(want, str):
        if got != want:
            fails.append(f'{what}: C {got!r} != Python {want!r}')
        return
    if not (abs(got - want) <= tol * max(1.0, abs(want))):
        fails.append(f'{what}: C {got!r} != Python {want!r}')


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        data = json.load(f)
    for i, case in enumerate(data.get('cases', [])):
        hyp, refs, c = case['hyp'], case['refs'], case['c']
        tag = f'case {i} {hyp!r} / {refs!r}'
        for key, val in c.items():
            kind, _, arg = key.partition(':')
            if kind == 'tok':                      # tok:13a:lc
                t, lc = arg.split(':')
                # the words BLEU sees, joined by single spaces
                check(f'{tag} {key}', val, ' '.join(bleu_pre(hyp, t, lc == 'lc').split()))
            elif kind == 'bleu':                   # bleu:13a:lc
                t, lc = arg.split(':')
                check(f'{tag} {key}', val, bleu_stats(hyp, refs, t, lc == 'lc'))
            elif kind == 'chrf':                   # chrf:nc:nw:lc:ws
                nc, nw, lc, ws = arg.split(':')
                check(f'{tag} {key}', val, chrf_stats(hyp, refs, int(nc), int(nw), 2,
                                                     lc == 'lc', ws == 'ws'))
            elif kind == 'sent':                   # sent:smooth -> [score, p1..p4, bp]
                st = bleu_stats(hyp, refs, '13a', False)
                sc, prec, bp = bleu_compute(st, arg, None, True)
                check(f'{tag} {key}', val, [sc] + prec + [bp], 1e-12)
    for corp in data.get('corpus', []):
        o = corp['opts']
        if o['metric'] == 'bleu':
            sc, prec, bp = bleu_compute(corp['sum'], o['smooth'], o.get('value'), o['eff'])
            check(f"{corp['what']}", corp['c'], [sc] + prec + [bp], 1e-12)
        else:
            check(f"{corp['what']}", corp['c'], chrf_f(corp['sum'], 2, o.get('eps', False)), 1e-12)
    for fc in data.get('files', []):
        # sacrebleu.py:351-353, 416-419 and utils.py:244-252
        def read(path):
            with open(path, encoding='utf-8', newline='\n') as f:
                return [line.rstrip() for line in f]
        hyps, refs = read(fc['hyp']), [read(r) for r in fc['refs']]
        o, total = fc['opts'], None
        for i, h in enumerate(hyps):
            rs = [r[i] for r in refs]
            if o['metric'] == 'bleu':
                st = bleu_stats(h, rs, o['tok'], o['lc'])
            else:
                st = chrf_stats(h, rs, 6, o['nw'], 2, o['lc'], False)
            total = st if total is None else [a + b for a, b in zip(total, st)]
        check(f"{fc['what']} summed stats", fc['c'], total)
    if fails:
        print(f'{len(fails)} mismatches between C and the Python reference:')
        for m in fails[:20]:
            print('  ' + m)
        return 1
    print(f"python reference: {len(data.get('cases', []))} cases, "
          f"{len(data.get('corpus', []))} corpus scores and "
          f"{len(data.get('files', []))} file pairs agree")
    return 0


sys.exit(main())
