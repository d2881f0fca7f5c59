/*  mt_tokenize.c -- BLEU's segment preprocessing and tokenizers, rule for
    rule as in sacreBLEU 2.4.3 (file:line references are to that tag).

    Every tokenizer is a sequence of passes over code points. A regex
    substitution `re.sub(r'(A)(B)', ...)` scans left to right, and after a
    match resumes right after the consumed pair, so a character consumed as
    the second half of a match is never the first half of the next one;
    each pass below reproduces that scan exactly. */
#include "mt_metrics.h"
#include "mt_text.h"

#include <stdlib.h>
#include <string.h>

typedef bool (*cp_pred) (uint32_t cp);

static void
swap_ucs (ofr_ucs *a, ofr_ucs *b)
{
    ofr_ucs t = *a;
    *a = *b;
    *b = t;
}

static bool
match_ascii (const ofr_ucs *s, size_t i, const char *pat, size_t plen)
{
    if (s->len - i < plen)
        return false;
    for (size_t k = 0; k < plen; k++)
        if (s->v[i + k] != (unsigned char) pat[k])
            return false;
    return true;
}

/* str.replace(pat, rep): non-overlapping, left to right, output not rescanned. */
static void
replace_all (const ofr_ucs *in, const char *pat, const char *rep, ofr_ucs *out)
{
    size_t plen = strlen (pat);
    out->len = 0;
    for (size_t i = 0; i < in->len;) {
        if (match_ascii (in, i, pat, plen)) {
            ofr_ucs_push_ascii (out, rep);
            i += plen;
        }
        else
            ofr_ucs_push (out, in->v[i++]);
    }
}

static bool
is_digit (uint32_t c)             /* [0-9] in a Python regex class: ASCII */
{
    return c >= '0' && c <= '9';
}

static bool
is_dot_comma (uint32_t c)
{
    return c == '.' || c == ',';
}

/*  tokenizer_re.py:15, r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 ': ASCII
    0x20-0x26, 0x28-0x2B, 0x2F, 0x3A-0x40, 0x5B-0x60, 0x7B-0x7E, i.e. every
    ASCII punctuation mark but ' , - . (and the space itself). */
static bool
is_13a_punct (uint32_t c)
{
    return (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B) || c == 0x2F
        || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
        || (c >= 0x7B && c <= 0x7E);
}

/* r'(X)' -> r' \1 ' for every X with pred. */
static void
pass_single (const ofr_ucs *in, cp_pred pred, ofr_ucs *out)
{
    out->len = 0;
    for (size_t i = 0; i < in->len; i++) {
        if (pred (in->v[i])) {
            ofr_ucs_push (out, ' ');
            ofr_ucs_push (out, in->v[i]);
            ofr_ucs_push (out, ' ');
        }
        else
            ofr_ucs_push (out, in->v[i]);
    }
}

/*  r'(A)(B)' with A = first (negated if neg_first), B = second (negated if
    neg_second); replacement r'\1 \2 ' (space_before == false) or
    r' \1 \2' (space_before == true). */
static void
pass_pair (const ofr_ucs *in, cp_pred first, bool neg_first, cp_pred second,
           bool neg_second, bool space_before, ofr_ucs *out)
{
    out->len = 0;
    size_t i = 0;
    while (i < in->len) {
        if (i + 1 < in->len && first (in->v[i]) != neg_first
            && second (in->v[i + 1]) != neg_second) {
            if (space_before)
                ofr_ucs_push (out, ' ');
            ofr_ucs_push (out, in->v[i]);
            ofr_ucs_push (out, ' ');
            ofr_ucs_push (out, in->v[i + 1]);
            if (!space_before)
                ofr_ucs_push (out, ' ');
            i += 2;
        }
        else
            ofr_ucs_push (out, in->v[i++]);
    }
}

static bool
is_dash (uint32_t c)
{
    return c == '-';
}

/*  tokenizer_13a.py:23-34 then tokenizer_re.py:13-38. */
static void
tokenize_13a (ofr_ucs *s, ofr_ucs *tmp)
{
    static const char *const repl[][2] = {
        { "<skipped>", "" }, { "-\n", "" }, { "\n", " " },
        /* only done when '&' occurs, which changes nothing: each pattern
           contains '&'. Order matters: "&amp;lt;" becomes "<". */
        { "&quot;", "\"" }, { "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" },
    };
    for (size_t k = 0; k < sizeof repl / sizeof repl[0]; k++) {
        replace_all (s, repl[k][0], repl[k][1], tmp);
        swap_ucs (s, tmp);
    }
    /* f' {line} ' (tokenizer_13a.py:34) */
    tmp->len = 0;
    ofr_ucs_push (tmp, ' ');
    for (size_t i = 0; i < s->len; i++)
        ofr_ucs_push (tmp, s->v[i]);
    ofr_ucs_push (tmp, ' ');
    swap_ucs (s, tmp);
    /* tokenizer_re.py:15 */
    pass_single (s, is_13a_punct, tmp);
    swap_ucs (s, tmp);
    /* :17 r'([^0-9])([\.,])' -> r'\1 \2 ' */
    pass_pair (s, is_digit, true, is_dot_comma, false, false, tmp);
    swap_ucs (s, tmp);
    /* :19 r'([\.,])([^0-9])' -> r' \1 \2' */
    pass_pair (s, is_dot_comma, false, is_digit, true, true, tmp);
    swap_ucs (s, tmp);
    /* :21 r'([0-9])(-)' -> r'\1 \2 ' */
    pass_pair (s, is_digit, false, is_dash, false, false, tmp);
    swap_ucs (s, tmp);
    /* :38 ' '.join(line.split()) is left to ofr_ucs_split. */
}

/*  tokenizer_intl.py:36-50 (regex module's \p{N}, \p{P}, \p{S}). No
    padding and no entity unescaping, unlike 13a. */
static void
tokenize_intl (ofr_ucs *s, ofr_ucs *tmp)
{
    /* r'(\P{N})(\p{P})' -> r'\1 \2 ' */
    pass_pair (s, ofr_uc_is_number, true, ofr_uc_is_punct, false, false, tmp);
    swap_ucs (s, tmp);
    /* r'(\p{P})(\P{N})' -> r' \1 \2' */
    pass_pair (s, ofr_uc_is_punct, false, ofr_uc_is_number, true, true, tmp);
    swap_ucs (s, tmp);
    /* r'(\p{S})' -> r' \1 ' */
    pass_single (s, ofr_uc_is_symbol, tmp);
    swap_ucs (s, tmp);
}

int
ofr_mt_decode (const char *text, const char *what, ofr_ucs *out,
               char *err, size_t errlen)
{
    out->len = 0;
    size_t bad = 0;
    if (ofr_utf8_decode (text, strlen (text), out, &bad) != 0)
        return ofr_errf (err, errlen, "%s: invalid UTF-8 at byte %zu", what, bad + 1);
    if (out->oom)
        return ofr_errf (err, errlen, "%s: out of memory", what);
    return 0;
}

/*  bleu.py:294-301: `sent.lower()` if lowercase, then
    `self.tokenizer(sent.rstrip())`. */
int
ofr_mt_preprocess (ofr_ucs *s, int tokenizer, bool lowercase)
{
    if (lowercase && ofr_ucs_lower (s) != 0)
        return -1;
    ofr_ucs_rstrip (s);
    if (tokenizer == OFR_TOK_NONE)      /* tokenizer_none.py:9-10 */
        return 0;
    ofr_ucs tmp;
    ofr_ucs_init (&tmp);
    if (tokenizer == OFR_TOK_INTL)
        tokenize_intl (s, &tmp);
    else
        tokenize_13a (s, &tmp);
    bool oom = s->oom || tmp.oom;
    ofr_ucs_free (&tmp);
    return oom ? -1 : 0;
}

const char *
ofr_mt_tokenizer_name (ofr_mt_tokenizer tok)
{
    switch (tok) {
    case OFR_TOK_13A:  return "13a";
    case OFR_TOK_NONE: return "none";
    case OFR_TOK_INTL: return "intl";
    }
    return "?";
}

int
ofr_mt_tokenizer_parse (const char *name, ofr_mt_tokenizer *tok)
{
    static const ofr_mt_tokenizer all[] = { OFR_TOK_13A, OFR_TOK_NONE, OFR_TOK_INTL };
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp (name, ofr_mt_tokenizer_name (all[i])) == 0) {
            *tok = all[i];
            return 0;
        }
    return -1;
}

static void
append_utf8 (ofr_buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (unsigned char) cp, n = 1;
    else if (cp < 0x800)
        u[0] = (unsigned char) (0xC0 | (cp >> 6)), n = 2;
    else if (cp < 0x10000)
        u[0] = (unsigned char) (0xE0 | (cp >> 12)), n = 3;
    else
        u[0] = (unsigned char) (0xF0 | (cp >> 18)), n = 4;
    for (size_t k = 1; k < n; k++)
        u[k] = (unsigned char) (0x80 | ((cp >> (6 * (n - 1 - k))) & 0x3F));
    ofr_buf_append (b, u, n);
}

int
ofr_mt_tokenize (const char *text, ofr_mt_tokenizer tok, bool lowercase,
                 char **out, char *err, size_t errlen)
{
    ofr_ucs s;
    ofr_ucs_init (&s);
    ofr_tok *toks = NULL;
    size_t n = 0, cap = 0;
    ofr_buf b;
    ofr_buf_init (&b);
    int rc = ofr_mt_decode (text, "text", &s, err, errlen);
    if (rc == 0 && (ofr_mt_preprocess (&s, tok, lowercase) != 0
                    || ofr_ucs_split (&s, &toks, &n, &cap) != 0))
        rc = ofr_errf (err, errlen, "text: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            ofr_buf_puts (&b, " ");
        for (size_t k = 0; k < toks[i].len; k++)
            append_utf8 (&b, toks[i].p[k]);
    }
    if (rc == 0 && !b.data)
        ofr_buf_puts (&b, "");
    if (rc == 0 && b.oom)
        rc = ofr_errf (err, errlen, "text: out of memory");
    free (toks);
    ofr_ucs_free (&s);
    if (rc != 0) {
        ofr_buf_free (&b);
        return -1;
    }
    *out = b.data;
    return 0;
}
