#!/usr/bin/python3
"""Generate workers/text/wordpiece_tables.c: the Unicode properties that
BERT's BasicTokenizer (Hugging Face transformers, tokenization_bert.py)
reads from Python's unicodedata and str methods, so that the C tokenizer
treats text exactly as the Python one does.

    /usr/bin/python3 tools/gen_wordpiece_tables.py > workers/text/wordpiece_tables.c

Developer tool only: the generated file is committed; nothing runs Python at
build or run time. The Unicode version is that of the Python used (written
into the output).

Tables and the Python primitive each one mirrors:
  space           str.isspace()   (whitespace_tokenize: str.split())
  zs              category Zs     (_is_whitespace)
  other           category C*     (_is_control: cat.startswith("C"))
  punct           category P*     (_is_punctuation, besides the ASCII ranges)
  mn              category Mn     (_run_strip_accents drops these)
  case_ignorable, cased
                  the context of str.lower()'s Final_Sigma rule for U+03A3,
                  measured by probing str.lower() itself (CPython does not
                  expose the two properties)
  lower           str.lower() of one code point, as runs (lo, hi, stride,
                  delta); U+0130 (two code points) is handled in the C code
  ccc             unicodedata.combining() (canonical ordering inside NFD)
  decomp          unicodedata.decomposition(c), canonical mappings only (one
                  level; NFD applies them recursively), except Hangul
                  syllables (decomposed arithmetically in C). The script
                  checks that recursion + canonical ordering reproduces
                  unicodedata.normalize("NFD", c) for every code point.
"""
import sys
import unicodedata

MAX = 0x110000


def chars():
    for c in range(MAX):
        if not 0xD800 <= c <= 0xDFFF:
            yield c


def ranges(pred):
    out, start, prev = [], None, None
    for c in range(MAX):
        if pred(c):
            if start is None:
                start = c
            prev = c
        elif start is not None:
            out.append((start, prev))
            start = None
    if start is not None:
        out.append((start, prev))
    return out


def sigma_probe(c):
    """(case_ignorable, cased) as str.lower()'s Final_Sigma rule sees c:
    a case-ignorable c is skipped, so 'A'+c+SIGMA is final but '1'+c+SIGMA
    is not; a cased (not ignorable) c makes both final."""
    ch = chr(c)
    t1 = ('A' + ch + '\u03a3').lower()[-1] == '\u03c2'
    t2 = ('1' + ch + '\u03a3').lower()[-1] == '\u03c2'
    return (t1 and not t2), t2


def emit_ranges(name, rs, what):
    print(f'/* {what} */')
    print(f'const ofr_wp_range {name}[] = {{')
    line = '   '
    for lo, hi in rs:
        item = f' {{0x{lo:X},0x{hi:X}}},'
        if len(line) + len(item) > 78:
            print(line)
            line = '   '
        line += item
    print(line)
    print('};')
    print(f'const int {name}_n = {len(rs)};\n')


def lower_runs():
    changed = []
    for c in chars():
        s = chr(c).lower()
        if s == chr(c):
            continue
        if len(s) != 1:
            if c != 0x130:
                sys.exit(f'unexpected multi-code-point lowercase of U+{c:04X}')
            continue
        changed.append((c, ord(s) - c))
    runs, i = [], 0
    while i < len(changed):
        lo, d = changed[i]
        stride, j = 1, i
        if i + 1 < len(changed) and changed[i + 1][1] == d and changed[i + 1][0] - lo in (1, 2):
            stride = changed[i + 1][0] - lo
            while (j + 1 < len(changed) and changed[j + 1][1] == d
                   and changed[j + 1][0] - changed[j][0] == stride):
                j += 1
        runs.append((lo, changed[j][0], stride, d))
        i = j + 1
    return runs


def ccc_ranges():
    out = []
    for c in range(MAX):
        v = unicodedata.combining(chr(c)) if not 0xD800 <= c <= 0xDFFF else 0
        if v == 0:
            continue
        if out and out[-1][1] == c - 1 and out[-1][2] == v:
            out[-1][1] = c
        else:
            out.append([c, c, v])
    return out


def decompositions():
    """One level of canonical decomposition, (cp, a, b) with b = 0 for a
    singleton; checked against NFD: full recursive expansion followed by
    canonical ordering must give unicodedata.normalize('NFD', c)."""
    out = {}
    for c in chars():
        if 0xAC00 <= c <= 0xD7A3:
            continue
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith('<'):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) > 2:
            sys.exit(f'U+{c:04X}: canonical decomposition longer than 2')
        out[c] = (parts + [0])[:2]

    def expand(c):
        if c not in out:
            return [c]
        a, b = out[c]
        return expand(a) + (expand(b) if b else [])

    def reorder(s):
        s = list(s)
        for i in range(1, len(s)):
            j = i
            while (j > 0 and unicodedata.combining(chr(s[j])) != 0
                   and unicodedata.combining(chr(s[j - 1])) > unicodedata.combining(chr(s[j]))):
                s[j - 1], s[j] = s[j], s[j - 1]
                j -= 1
        return s

    for c in chars():
        if 0xAC00 <= c <= 0xD7A3:
            continue
        want = [ord(x) for x in unicodedata.normalize('NFD', chr(c))]
        if reorder(expand(c)) != want:
            sys.exit(f'U+{c:04X}: recursive decomposition differs from NFD')
    return sorted((c, a, b) for c, (a, b) in out.items())


def main():
    cat = {c: unicodedata.category(chr(c)) for c in chars()}
    catf = lambda c: cat.get(c, 'Cs')
    probes = {c: sigma_probe(c) for c in chars()}

    print('/*  wordpiece_tables.c -- GENERATED by tools/gen_wordpiece_tables.py from')
    print(f'    Python {sys.version.split()[0]} unicodedata (Unicode {unicodedata.unidata_version}). Do not edit.')
    print('    The properties of Unicode that BERT\'s BasicTokenizer uses; see the')
    print('    script for what each table mirrors. */')
    print('#include "wordpiece_tables.h"\n')
    print(f'const char ofr_wp_unicode_version[] = "{unicodedata.unidata_version}";\n')
    emit_ranges('ofr_wp_space', ranges(lambda c: c in probes and chr(c).isspace()),
                'str.isspace()')
    emit_ranges('ofr_wp_zs', ranges(lambda c: catf(c) == 'Zs'), 'category Zs')
    emit_ranges('ofr_wp_other', ranges(lambda c: catf(c)[0] == 'C'),
                'categories C* (Cc Cf Cn Co Cs)')
    emit_ranges('ofr_wp_punct', ranges(lambda c: catf(c)[0] == 'P'), 'categories P*')
    emit_ranges('ofr_wp_mn', ranges(lambda c: catf(c) == 'Mn'), 'category Mn')
    emit_ranges('ofr_wp_case_ignorable', ranges(lambda c: c in probes and probes[c][0]),
                'case-ignorable for str.lower()\'s Final_Sigma rule')
    emit_ranges('ofr_wp_cased', ranges(lambda c: c in probes and probes[c][1]),
                'cased (and not case-ignorable) for the Final_Sigma rule')

    runs = lower_runs()
    print('/* str.lower(): code points lo, lo+stride, ... <= hi map to cp + delta */')
    print('const ofr_wp_lower_run ofr_wp_lower_runs[] = {')
    for lo, hi, stride, d in runs:
        print(f'    {{ 0x{lo:04X}, 0x{hi:04X}, {stride}, {d} }},')
    print('};')
    print(f'const int ofr_wp_lower_n = {len(runs)};\n')

    cc = ccc_ranges()
    print('/* canonical combining class (non-zero only) */')
    print('const ofr_wp_ccc_range ofr_wp_ccc[] = {')
    line = '   '
    for lo, hi, v in cc:
        item = f' {{0x{lo:X},0x{hi:X},{v}}},'
        if len(line) + len(item) > 78:
            print(line)
            line = '   '
        line += item
    print(line)
    print('};')
    print(f'const int ofr_wp_ccc_n = {len(cc)};\n')

    dec = decompositions()
    print('/* canonical decomposition, one level: cp -> a b (b = 0: singleton);')
    print('   NFD applies it recursively to a and b, then orders by ccc */')
    print('const ofr_wp_decomp ofr_wp_decomp_map[] = {')
    line = '   '
    for c, a, b in dec:
        item = f' {{0x{c:X},0x{a:X},0x{b:X}}},'
        if len(line) + len(item) > 78:
            print(line)
            line = '   '
        line += item
    print(line)
    print('};')
    print(f'const int ofr_wp_decomp_n = {len(dec)};')


main()
