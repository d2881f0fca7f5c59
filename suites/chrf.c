/*  chrf.c -- chrF / chrF++ as sacreBLEU 2.4.3 computes it (see
    mt_metrics.h). References "chrf.py:N" are to sacrebleu/metrics/chrf.py
    at tag v2.4.3, "helpers.py:N" to sacrebleu/metrics/helpers.py. */
#include "mt_metrics.h"
#include "mt_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ofr_chrf_opts
ofr_chrf_default_opts (void)
{
    /* chrf.py:72-79 and 86-92 */
    return (ofr_chrf_opts) { .char_order = 6, .word_order = 0, .beta = 2,
                             .lowercase = false, .whitespace = false,
                             .eps_smoothing = false };
}

int
ofr_chrf_nstats (const ofr_chrf_opts *o)
{
    if (!o || o->char_order < 0 || o->char_order > OFR_CHRF_MAX_CHAR_ORDER
        || o->word_order < 0 || o->word_order > OFR_CHRF_MAX_WORD_ORDER
        || o->char_order + o->word_order == 0 || o->beta < 0 || o->beta > 1000)
        return -1;
    return 3 * (o->char_order + o->word_order);
}

/*  chrf.py:82 string.punctuation, ASCII only. */
static bool
is_ascii_punct (uint32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40)
        || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* One segment as chrF sees it: characters and (for chrF++) words. */
typedef struct {
    ofr_ucs  text;
    ofr_tok *chars;            /* one code point per entry                  */
    size_t   nchars;
    ofr_tok *split;            /* str.split() words                         */
    size_t   nsplit, split_cap;
    ofr_tok *words;            /* after _remove_punctuation                 */
    size_t   nwords;
} segment;

static void
segment_free (segment *s)
{
    ofr_ucs_free (&s->text);
    free (s->chars);
    free (s->split);
    free (s->words);
    memset (s, 0, sizeof *s);
}

/*  chrf.py:131-150: a word longer than one character loses a trailing
    punctuation mark, or else a leading one, as a separate word. */
static int
remove_punctuation (segment *s)
{
    s->words = ofr_calloc (2 * s->nsplit + 1, sizeof *s->words);
    if (!s->words)
        return -1;
    for (size_t i = 0; i < s->nsplit; i++) {
        ofr_tok w = s->split[i];
        if (w.len > 1 && is_ascii_punct (w.p[w.len - 1])) {
            s->words[s->nwords++] = (ofr_tok) { w.p, w.len - 1 };
            s->words[s->nwords++] = (ofr_tok) { w.p + w.len - 1, 1 };
        }
        else if (w.len > 1 && is_ascii_punct (w.p[0])) {
            s->words[s->nwords++] = (ofr_tok) { w.p, 1 };
            s->words[s->nwords++] = (ofr_tok) { w.p + 1, w.len - 1 };
        }
        else
            s->words[s->nwords++] = w;
    }
    return 0;
}

static int
segment_load (segment *s, const char *str, const char *what,
              const ofr_chrf_opts *o, char *err, size_t errlen)
{
    if (!str)
        return ofr_errf (err, errlen, "%s: missing (NULL)", what);
    if (ofr_mt_decode (str, what, &s->text, err, errlen) != 0)
        return -1;
    /* chrf.py:152-158: lower() only, no rstrip */
    if (o->lowercase && ofr_ucs_lower (&s->text) != 0)
        return ofr_errf (err, errlen, "%s: out of memory", what);
    /* helpers.py:60-63: ''.join(line.split()) unless whitespace is kept */
    s->chars = ofr_calloc (s->text.len + 1, sizeof *s->chars);
    if (!s->chars)
        return ofr_errf (err, errlen, "%s: out of memory", what);
    for (size_t i = 0; i < s->text.len; i++)
        if (o->whitespace || !ofr_uc_isspace (s->text.v[i]))
            s->chars[s->nchars++] = (ofr_tok) { s->text.v + i, 1 };
    if (o->word_order > 0
        && (ofr_ucs_split (&s->text, &s->split, &s->nsplit, &s->split_cap) != 0
            || remove_punctuation (s) != 0))
        return ofr_errf (err, errlen, "%s: out of memory", what);
    return 0;
}

static size_t
ngram_count (size_t len, size_t n)
{
    return len >= n ? len - n + 1 : 0;
}

/*  chrf.py:109-129 for every order (chars 1..nc, then words 1..nw, as in
    chrf.py:262-277): [hyp count, or 0 when the reference has no n-gram of
    that order; ref count; clipped matches]. */
static int
pair_stats (const segment *h, const segment *r, const ofr_chrf_opts *o, double *st)
{
    int order = o->char_order + o->word_order;
    for (int i = 0; i < order; i++) {
        bool chars = i < o->char_order;
        size_t n = chars ? (size_t) i + 1 : (size_t) (i - o->char_order) + 1;
        const ofr_tok *hs = chars ? h->chars : h->words;
        const ofr_tok *rs = chars ? r->chars : r->words;
        size_t hn = chars ? h->nchars : h->nwords;
        size_t rn = chars ? r->nchars : r->nwords;
        double match;
        if (ofr_ngram_matches (hs, hn, &rs, &rn, 1, n, &match) != 0)
            return -1;
        size_t ref_count = ngram_count (rn, n);
        st[3 * i]     = ref_count ? (double) ngram_count (hn, n) : 0;
        st[3 * i + 1] = (double) ref_count;
        st[3 * i + 2] = match;
    }
    return 0;
}

/*  chrf.py:160-203 (_compute_f_score), operation for operation. */
static double
f_score (const double *st, const ofr_chrf_opts *o)
{
    const double eps = 1e-16;
    int order = o->char_order + o->word_order;
    double factor = (double) o->beta * o->beta;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int effective_order = 0;
    for (int i = 0; i < order; i++) {
        double n_hyp = st[3 * i], n_ref = st[3 * i + 1], n_match = st[3 * i + 2];
        double prec = n_hyp > 0 ? n_match / n_hyp : eps;
        double rec = n_ref > 0 ? n_match / n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += prec;
            avg_rec += rec;
            effective_order++;
        }
    }
    if (o->eps_smoothing)
        return 100 * score / order;
    if (effective_order == 0)
        avg_prec = avg_rec = 0.0;
    else {
        avg_prec /= effective_order;
        avg_rec /= effective_order;
    }
    if (avg_prec + avg_rec != 0) {
        score = (1 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        return 100 * score;
    }
    return 0.0;
}

double
ofr_chrf_compute (const double *sum, const ofr_chrf_opts *opts)
{
    if (ofr_chrf_nstats (opts) < 0)
        return 0.0;
    return f_score (sum, opts);
}

/*  chrf.py:246-284: with several references keep the statistics of the
    one with the highest segment chrF; strict '>' keeps the first on ties. */
static int
best_stats (const segment *h, const segment *r, int nrefs,
            const ofr_chrf_opts *o, double *stats)
{
    double cur[OFR_CHRF_MAX_NSTATS];
    double best_f = -1.0;
    int nst = ofr_chrf_nstats (o);
    for (int k = 0; k < nrefs; k++) {
        if (pair_stats (h, &r[k], o, cur) != 0)
            return -1;
        double f = f_score (cur, o);
        if (f > best_f) {
            best_f = f;
            memcpy (stats, cur, (size_t) nst * sizeof *stats);
        }
    }
    return 0;
}

int
ofr_chrf_segment_stats (const char *hyp, const char *const *refs, int nrefs,
                        const ofr_chrf_opts *opts, double *stats,
                        char *err, size_t errlen)
{
    if (ofr_chrf_nstats (opts) < 0)
        return ofr_errf (err, errlen, "chrF: options out of range");
    if (nrefs < 1 || !refs)
        return ofr_errf (err, errlen, "chrF: need at least one reference (got %d)", nrefs);
    segment h = { 0 };
    segment *r = ofr_calloc ((size_t) nrefs, sizeof *r);
    if (!r)
        return ofr_errf (err, errlen, "chrF: out of memory");
    int rc = segment_load (&h, hyp, "hypothesis", opts, err, errlen);
    for (int k = 0; rc == 0 && k < nrefs; k++) {
        char what[32];
        snprintf (what, sizeof what, "reference %d", k + 1);
        rc = segment_load (&r[k], refs[k], what, opts, err, errlen);
    }
    if (rc == 0 && best_stats (&h, r, nrefs, opts, stats) != 0)
        rc = ofr_errf (err, errlen, "chrF: out of memory");
    segment_free (&h);
    for (int k = 0; k < nrefs; k++)
        segment_free (&r[k]);
    free (r);
    return rc;
}

void
ofr_chrf_name (const ofr_chrf_opts *opts, ofr_buf *b)
{
    /* chrf.py:50-51 */
    ofr_buf_printf (b, "chrF%d", opts->beta);
    for (int i = 0; i < opts->word_order; i++)
        ofr_buf_puts (b, "+");
}

void
ofr_chrf_signature (const ofr_chrf_opts *opts, int nrefs, ofr_buf *b)
{
    /* chrf.py:11-33, base.py:159-178 */
    ofr_buf_printf (b, "nrefs:%d|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:%s",
                    nrefs, opts->lowercase ? "lc" : "mixed",
                    opts->eps_smoothing ? "no" : "yes", opts->char_order,
                    opts->word_order, opts->whitespace ? "yes" : "no",
                    OFR_MT_VERSION);
}
