/*  wp_text.c -- Unicode primitives of BERT's BasicTokenizer (see wp_text.h).
    The tables are generated from Python's unicodedata, so that every
    decision here is the one the Python tokenizer makes. */
#include "wp_text.h"
#include "wordpiece_tables.h"
#include "utf8.h"
#include "../../common/ofr_common.h"

#include <stdlib.h>

void
ofr_wp_ucs_push (ofr_wp_ucs *s, uint32_t cp)
{
    if (s->oom)
        return;
    if (s->len == s->cap
        && ofr_grow ((void **) &s->v, &s->cap, s->len + 1, sizeof *s->v) != 0) {
        s->oom = true;
        return;
    }
    s->v[s->len++] = cp;
}

void
ofr_wp_ucs_push_utf8 (ofr_wp_ucs *s, const char *text, size_t len)
{
    const unsigned char *b = (const unsigned char *) text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += ofr_utf8_next (b + i, len - i, &cp);
        ofr_wp_ucs_push (s, cp);
    }
}

void
ofr_wp_ucs_free (ofr_wp_ucs *s)
{
    free (s->v);
    s->v = NULL;
    s->len = s->cap = 0;
    s->oom = false;
}

static bool
in_ranges (const ofr_wp_range *r, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid - 1;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool
ofr_wp_is_pyspace (uint32_t cp)
{
    return in_ranges (ofr_wp_space, ofr_wp_space_n, cp);
}

bool
ofr_wp_is_whitespace (uint32_t cp)
{
    return cp == '\t' || cp == '\n' || cp == '\r'
        || in_ranges (ofr_wp_zs, ofr_wp_zs_n, cp);
}

bool
ofr_wp_is_control (uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return false;
    return in_ranges (ofr_wp_other, ofr_wp_other_n, cp);
}

bool
ofr_wp_is_punctuation (uint32_t cp)
{
    /* BERT counts every non-alphanumeric printable ASCII character ("^",
       "$", "`" are symbols in Unicode) as punctuation. */
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64)
        || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return true;
    return cp >= 0x80 && in_ranges (ofr_wp_punct, ofr_wp_punct_n, cp);
}

bool
ofr_wp_is_chinese (uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)
        || (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F)
        || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static uint32_t
lower1 (uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    int lo = 0, hi = ofr_wp_lower_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const ofr_wp_lower_run *r = &ofr_wp_lower_runs[mid];
        if (cp < r->lo)
            hi = mid - 1;
        else if (cp > r->hi)
            lo = mid + 1;
        else
            return (cp - r->lo) % (uint32_t) r->stride == 0
                 ? (uint32_t) ((int32_t) cp + r->delta) : cp;
    }
    return cp;
}

/* CPython's handle_capital_sigma: U+03A3 at w[i] lowers to final sigma
   when a cased letter precedes it and none follows, skipping
   case-ignorable characters in both directions. */
static bool
final_sigma (const uint32_t *w, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && in_ranges (ofr_wp_case_ignorable, ofr_wp_case_ignorable_n, w[j - 1]))
        j--;
    if (j == 0 || !in_ranges (ofr_wp_cased, ofr_wp_cased_n, w[j - 1]))
        return false;
    for (j = i + 1; j < n; j++)
        if (!in_ranges (ofr_wp_case_ignorable, ofr_wp_case_ignorable_n, w[j]))
            return !in_ranges (ofr_wp_cased, ofr_wp_cased_n, w[j]);
    return true;
}

void
ofr_wp_lower (const uint32_t *w, size_t n, ofr_wp_ucs *out)
{
    for (size_t i = 0; i < n; i++) {
        if (w[i] == 0x130) {             /* the one two-code-point lowercase */
            ofr_wp_ucs_push (out, 0x69);
            ofr_wp_ucs_push (out, 0x307);
        } else if (w[i] == 0x3A3)
            ofr_wp_ucs_push (out, final_sigma (w, n, i) ? 0x3C2 : 0x3C3);
        else
            ofr_wp_ucs_push (out, lower1 (w[i]));
    }
}

static int
ccc (uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    int lo = 0, hi = ofr_wp_ccc_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < ofr_wp_ccc[mid].lo)
            hi = mid - 1;
        else if (cp > ofr_wp_ccc[mid].hi)
            lo = mid + 1;
        else
            return ofr_wp_ccc[mid].ccc;
    }
    return 0;
}

static const ofr_wp_decomp *
decomp_find (uint32_t cp)
{
    int lo = 0, hi = ofr_wp_decomp_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < ofr_wp_decomp_map[mid].cp)
            hi = mid - 1;
        else if (cp > ofr_wp_decomp_map[mid].cp)
            lo = mid + 1;
        else
            return &ofr_wp_decomp_map[mid];
    }
    return NULL;
}

/* Full canonical decomposition of one code point. The table's chains are
   at most four deep (checked by the generator against NFD). */
static void
decompose (uint32_t cp, ofr_wp_ucs *out)
{
    enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
           T_COUNT = 28, N_COUNT = 588, S_COUNT = 11172 };
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        ofr_wp_ucs_push (out, L_BASE + s / N_COUNT);
        ofr_wp_ucs_push (out, V_BASE + (s % N_COUNT) / T_COUNT);
        if (s % T_COUNT)
            ofr_wp_ucs_push (out, T_BASE + s % T_COUNT);
        return;
    }
    const ofr_wp_decomp *d = cp < 0xC0 ? NULL : decomp_find (cp);
    if (!d) {
        ofr_wp_ucs_push (out, cp);
        return;
    }
    decompose (d->a, out);
    if (d->b)
        decompose (d->b, out);
}

void
ofr_wp_strip_accents (const uint32_t *w, size_t n, ofr_wp_ucs *out)
{
    size_t base = out->len;
    for (size_t i = 0; i < n; i++)
        decompose (w[i], out);
    if (out->oom)
        return;
    /* Canonical ordering: a stable sort by combining class inside every
       run of non-starters. It must happen before Mn characters are dropped,
       because an Mn starter separates runs. */
    uint32_t *v = out->v;
    for (size_t i = base + 1; i < out->len; i++) {
        int c = ccc (v[i]);
        for (size_t j = i; c != 0 && j > base && ccc (v[j - 1]) > c; j--) {
            uint32_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    }
    size_t k = base;
    for (size_t i = base; i < out->len; i++)
        if (v[i] < 0x300 || !in_ranges (ofr_wp_mn, ofr_wp_mn_n, v[i]))
            v[k++] = v[i];
    out->len = k;
}
