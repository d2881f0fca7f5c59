/*  mt_text.c -- see mt_text.h. */
#include "mt_text.h"
#include "../common/ofr_common.h"

#include <stdlib.h>
#include <string.h>

void
ofr_ucs_init (ofr_ucs *s)
{
    memset (s, 0, sizeof *s);
}

void
ofr_ucs_free (ofr_ucs *s)
{
    free (s->v);
    ofr_ucs_init (s);
}

void
ofr_ucs_push (ofr_ucs *s, uint32_t cp)
{
    if (s->oom)
        return;
    if (ofr_grow ((void **) &s->v, &s->cap, s->len + 1, sizeof *s->v) != 0) {
        s->oom = true;
        return;
    }
    s->v[s->len++] = cp;
}

void
ofr_ucs_push_ascii (ofr_ucs *s, const char *ascii)
{
    for (; *ascii; ascii++)
        ofr_ucs_push (s, (unsigned char) *ascii);
}

/*  One strict UTF-8 sequence at p[0..len): returns its length (1..4) and the
    code point, or 0 if it is not a well-formed sequence. The ranges of the
    second byte are Table 3-7 of the Unicode standard, which is exactly what
    Python's decoder accepts. */
static size_t
decode_one (const unsigned char *p, size_t len, uint32_t *cp)
{
    unsigned char b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        n = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;          /* no UTF-16 surrogates */
    }
    else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;          /* nothing above U+10FFFF */
    }
    else
        return 0;
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    uint32_t v = b & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    *cp = v;
    return n;
}

int
ofr_utf8_decode (const char *s, size_t len, ofr_ucs *out, size_t *bad_off)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = decode_one (p + i, len - i, &cp);
        if (n == 0) {
            if (bad_off)
                *bad_off = i;
            return -1;
        }
        ofr_ucs_push (out, cp);
        i += n;
    }
    return 0;
}

int
ofr_utf8_check (const char *s, size_t len, size_t *bad_off)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = decode_one (p + i, len - i, &cp);
        if (n == 0 || cp == 0) {
            if (bad_off)
                *bad_off = i;
            return -1;
        }
        i += n;
    }
    return 0;
}

size_t
ofr_utf8_rstrip_len (const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0, keep = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = decode_one (p + i, len - i, &cp);
        if (n == 0)
            n = 1, cp = 0xFFFD;            /* not whitespace: keep it */
        i += n;
        if (!ofr_uc_isspace (cp))
            keep = i;
    }
    return keep;
}

static bool
in_ranges (const ofr_uc_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool
ofr_uc_isspace (uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return in_ranges (ofr_uc_space, ofr_uc_space_n, cp);
}

bool
ofr_uc_is_number (uint32_t cp)
{
    return in_ranges (ofr_uc_cat_n, ofr_uc_cat_n_n, cp);
}

bool
ofr_uc_is_punct (uint32_t cp)
{
    return in_ranges (ofr_uc_cat_p, ofr_uc_cat_p_n, cp);
}

bool
ofr_uc_is_symbol (uint32_t cp)
{
    return in_ranges (ofr_uc_cat_s, ofr_uc_cat_s_n, cp);
}

static uint32_t
lower_simple (uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    size_t lo = 0, hi = ofr_uc_lower_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ofr_uc_lower[mid].cp == cp)
            return ofr_uc_lower[mid].lower;
        if (ofr_uc_lower[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return cp;
}

/*  CPython's handle_capital_sigma (Objects/unicodeobject.c): U+03A3 becomes
    final sigma when a cased letter precedes it and none follows, skipping
    case-ignorable characters on both sides. */
static uint32_t
lower_sigma (const uint32_t *v, size_t len, size_t i)
{
    size_t j = i;
    while (j > 0 && in_ranges (ofr_uc_case_ignorable, ofr_uc_case_ignorable_n, v[j - 1]))
        j--;
    if (j == 0 || !in_ranges (ofr_uc_cased, ofr_uc_cased_n, v[j - 1]))
        return 0x3C3;
    j = i + 1;
    while (j < len && in_ranges (ofr_uc_case_ignorable, ofr_uc_case_ignorable_n, v[j]))
        j++;
    if (j < len && in_ranges (ofr_uc_cased, ofr_uc_cased_n, v[j]))
        return 0x3C3;
    return 0x3C2;
}

int
ofr_ucs_lower (ofr_ucs *s)
{
    ofr_ucs out;
    ofr_ucs_init (&out);
    for (size_t i = 0; i < s->len; i++) {
        uint32_t c = s->v[i];
        if (c == 0x130) {                   /* the one 1:2 mapping */
            ofr_ucs_push (&out, 0x69);
            ofr_ucs_push (&out, 0x307);
        }
        else if (c == 0x3A3)
            ofr_ucs_push (&out, lower_sigma (s->v, s->len, i));
        else
            ofr_ucs_push (&out, lower_simple (c));
    }
    if (out.oom) {
        ofr_ucs_free (&out);
        return -1;
    }
    ofr_ucs_free (s);
    *s = out;
    return 0;
}

void
ofr_ucs_rstrip (ofr_ucs *s)
{
    while (s->len > 0 && ofr_uc_isspace (s->v[s->len - 1]))
        s->len--;
}

int
ofr_ucs_split (const ofr_ucs *s, ofr_tok **toks, size_t *n, size_t *cap)
{
    *n = 0;
    size_t i = 0;
    while (i < s->len) {
        while (i < s->len && ofr_uc_isspace (s->v[i]))
            i++;
        if (i == s->len)
            break;
        size_t start = i;
        while (i < s->len && !ofr_uc_isspace (s->v[i]))
            i++;
        if (ofr_grow ((void **) toks, cap, *n + 1, sizeof **toks) != 0)
            return -1;
        (*toks)[*n].p = s->v + start;
        (*toks)[*n].len = i - start;
        (*n)++;
    }
    return 0;
}
