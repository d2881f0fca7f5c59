/*  bleu.c -- corpus BLEU as sacreBLEU 2.4.3 computes it (see mt_metrics.h).
    References "bleu.py:N" are to sacrebleu/metrics/bleu.py at tag v2.4.3,
    "utils.py:N" to sacrebleu/utils.py, "base.py:N" to metrics/base.py. */
#include "mt_metrics.h"
#include "mt_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ofr_bleu_opts
ofr_bleu_default_opts (void)
{
    /* bleu.py:154-162 */
    return (ofr_bleu_opts) { .tokenize = OFR_TOK_13A, .smooth = OFR_SMOOTH_EXP,
                             .smooth_value = -1, .lowercase = false,
                             .effective_order = false };
}

const char *
ofr_bleu_smooth_name (ofr_bleu_smooth s)
{
    switch (s) {
    case OFR_SMOOTH_EXP:   return "exp";
    case OFR_SMOOTH_FLOOR: return "floor";
    case OFR_SMOOTH_ADD_K: return "add-k";
    case OFR_SMOOTH_NONE:  return "none";
    }
    return "?";
}

int
ofr_bleu_smooth_parse (const char *name, ofr_bleu_smooth *s)
{
    static const ofr_bleu_smooth all[] = { OFR_SMOOTH_EXP, OFR_SMOOTH_FLOOR,
                                           OFR_SMOOTH_ADD_K, OFR_SMOOTH_NONE };
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp (name, ofr_bleu_smooth_name (all[i])) == 0) {
            *s = all[i];
            return 0;
        }
    return -1;
}

/*  SMOOTH_DEFAULTS, bleu.py:128-137: floor 0.1, add-k 1; the others take no
    value (returns -1 then). */
static double
smooth_value (const ofr_bleu_opts *o)
{
    if (o->smooth == OFR_SMOOTH_FLOOR)
        return o->smooth_value >= 0 ? o->smooth_value : 0.1;
    if (o->smooth == OFR_SMOOTH_ADD_K)
        return o->smooth_value >= 0 ? o->smooth_value : 1.0;
    return -1;
}

/*  bleu.py:326-344: the reference length closest to the hypothesis length;
    on a tie the shorter reference. */
static size_t
closest_ref_len (size_t hyp_len, const size_t *ref_lens, int nrefs)
{
    size_t best = ref_lens[0];
    size_t best_diff = hyp_len > best ? hyp_len - best : best - hyp_len;
    for (int k = 1; k < nrefs; k++) {
        size_t r = ref_lens[k];
        size_t diff = hyp_len > r ? hyp_len - r : r - hyp_len;
        if (diff < best_diff || (diff == best_diff && r < best)) {
            best_diff = diff;
            best = r;
        }
    }
    return best;
}

/* One segment's words after BLEU preprocessing; owns its code points. */
typedef struct {
    ofr_ucs  text;
    ofr_tok *toks;
    size_t   n, cap;
} words;

static int
words_load (words *w, const char *s, const char *what, const ofr_bleu_opts *o,
            char *err, size_t errlen)
{
    if (!s)
        return ofr_errf (err, errlen, "%s: missing (NULL)", what);
    if (ofr_mt_decode (s, what, &w->text, err, errlen) != 0)
        return -1;
    /* helpers.py:17 tokens = line.split() on the tokenized line */
    if (ofr_mt_preprocess (&w->text, (int) o->tokenize, o->lowercase) != 0
        || ofr_ucs_split (&w->text, &w->toks, &w->n, &w->cap) != 0)
        return ofr_errf (err, errlen, "%s: out of memory", what);
    return 0;
}

static void
words_free (words *w)
{
    ofr_ucs_free (&w->text);
    free (w->toks);
    w->toks = NULL;
}

static int
check_opts (const ofr_bleu_opts *o, int nrefs, char *err, size_t errlen)
{
    if (!o)
        return ofr_errf (err, errlen, "BLEU: no options");
    if (nrefs < 1)
        return ofr_errf (err, errlen, "BLEU: need at least one reference (got %d)", nrefs);
    if ((unsigned) o->tokenize > OFR_TOK_INTL || (unsigned) o->smooth > OFR_SMOOTH_NONE)
        return ofr_errf (err, errlen, "BLEU: unknown tokenizer or smoothing method");
    return 0;
}

/*  bleu.py:373-408 (_compute_segment_statistics) with the reference side of
    bleu.py:346-371 (_extract_reference_info). */
static int
segment_stats (words *h, words *r, int nrefs, double *stats)
{
    const ofr_tok **rt = ofr_calloc ((size_t) nrefs, sizeof *rt);
    size_t *rn = ofr_calloc ((size_t) nrefs, sizeof *rn);
    int rc = (rt && rn) ? 0 : -1;
    for (int k = 0; rc == 0 && k < nrefs; k++) {
        rt[k] = r[k].toks;
        rn[k] = r[k].n;
    }
    for (size_t n = 1; rc == 0 && n <= OFR_BLEU_ORDER; n++) {
        rc = ofr_ngram_matches (h->toks, h->n, rt, rn, nrefs, n,
                                &stats[OFR_BLEU_MATCH + n - 1]);
        stats[OFR_BLEU_TOTAL + n - 1] = h->n >= n ? (double) (h->n - n + 1) : 0;
    }
    if (rc == 0) {
        stats[OFR_BLEU_HYP_LEN] = (double) h->n;
        stats[OFR_BLEU_REF_LEN] = (double) closest_ref_len (h->n, rn, nrefs);
    }
    free (rt);
    free (rn);
    return rc;
}

int
ofr_bleu_segment_stats (const char *hyp, const char *const *refs, int nrefs,
                        const ofr_bleu_opts *opts, double *stats,
                        char *err, size_t errlen)
{
    if (check_opts (opts, nrefs, err, errlen) != 0)
        return -1;
    if (!refs)
        return ofr_errf (err, errlen, "BLEU: no references");
    words h = { 0 };
    words *r = ofr_calloc ((size_t) nrefs, sizeof *r);
    if (!r)
        return ofr_errf (err, errlen, "BLEU: out of memory");
    int rc = words_load (&h, hyp, "hypothesis", opts, err, errlen);
    for (int k = 0; rc == 0 && k < nrefs; k++) {
        char what[32];
        snprintf (what, sizeof what, "reference %d", k + 1);
        rc = words_load (&r[k], refs[k], what, opts, err, errlen);
    }
    if (rc == 0 && segment_stats (&h, r, nrefs, stats) != 0)
        rc = ofr_errf (err, errlen, "BLEU: out of memory");
    words_free (&h);
    for (int k = 0; k < nrefs; k++)
        words_free (&r[k]);
    free (r);
    return rc;
}

/* utils.py:255-265: log floored at -9999999999 for a zero precision. */
static double
my_log (double x)
{
    return x == 0.0 ? -9999999999.0 : log (x);
}

/*  bleu.py:210-292 (compute_bleu); the arithmetic is written in the same
    order as the Python so that the doubles agree bit for bit. */
void
ofr_bleu_compute (const double *sum, const ofr_bleu_opts *opts, ofr_bleu_score *out)
{
    ofr_bleu_opts def = ofr_bleu_default_opts ();
    const ofr_bleu_opts *o = opts ? opts : &def;
    memset (out, 0, sizeof *out);
    double sys_len = sum[OFR_BLEU_HYP_LEN], ref_len = sum[OFR_BLEU_REF_LEN];
    out->hyp_len = sys_len;
    out->ref_len = ref_len;
    out->ratio = ref_len != 0 ? sys_len / ref_len : 0;       /* bleu.py:102 */
    if (sys_len < ref_len)                                   /* bleu.py:248 */
        out->bp = sys_len > 0 ? exp (1 - ref_len / sys_len) : 0.0;
    else
        out->bp = 1.0;
    bool any = false;
    for (int n = 0; n < OFR_BLEU_ORDER; n++) {
        out->counts[n] = sum[OFR_BLEU_MATCH + n];
        out->totals[n] = sum[OFR_BLEU_TOTAL + n];
        any |= out->counts[n] != 0;
    }
    if (!any)                                   /* bleu.py:256-258 (#141) */
        return;
    double sv = smooth_value (o);
    double smooth_mteval = 1.0;
    int eff_order = OFR_BLEU_ORDER;
    for (int n = 1; n <= OFR_BLEU_ORDER; n++) {
        double *c = &out->counts[n - 1], *t = &out->totals[n - 1];
        if (o->smooth == OFR_SMOOTH_ADD_K && n > 1) {
            *c += sv;
            *t += sv;
        }
        if (*t == 0)
            break;
        if (o->effective_order)
            eff_order = n;
        if (*c == 0) {
            if (o->smooth == OFR_SMOOTH_EXP) {
                smooth_mteval *= 2;
                out->precisions[n - 1] = 100. / (smooth_mteval * *t);
            }
            else if (o->smooth == OFR_SMOOTH_FLOOR)
                out->precisions[n - 1] = 100. * sv / *t;
        }
        else
            out->precisions[n - 1] = 100. * *c / *t;
    }
    double logs = 0;                            /* Python's sum(), in order */
    for (int n = 0; n < eff_order; n++)
        logs += my_log (out->precisions[n]);
    out->score = out->bp * exp (logs / eff_order);
}

void
ofr_bleu_format (const ofr_bleu_score *s, ofr_buf *b)
{
    /* bleu.py:101-107 and base.py:60 (width 2) */
    ofr_buf_printf (b, "%.2f ", s->score);
    for (int n = 0; n < OFR_BLEU_ORDER; n++)
        ofr_buf_printf (b, "%s%.1f", n ? "/" : "", s->precisions[n]);
    ofr_buf_printf (b, " (BP = %.3f ratio = %.3f hyp_len = %.0f ref_len = %.0f)",
                    s->bp, s->ratio, s->hyp_len, s->ref_len);
}

void
ofr_bleu_signature (const ofr_bleu_opts *opts, int nrefs, ofr_buf *b)
{
    /* bleu.py:40-75, base.py:159-178: nrefs first, version last. */
    ofr_buf_printf (b, "nrefs:%d|case:%s|eff:%s|tok:%s|smooth:%s", nrefs,
                    opts->lowercase ? "lc" : "mixed",
                    opts->effective_order ? "yes" : "no",
                    ofr_mt_tokenizer_name (opts->tokenize),
                    ofr_bleu_smooth_name (opts->smooth));
    double sv = smooth_value (opts);
    if (sv >= 0)
        ofr_buf_printf (b, "[%.2f]", sv);
    ofr_buf_puts (b, "|version:" OFR_MT_VERSION);
}

int
ofr_bleu_sentence (const char *hyp, const char *const *refs, int nrefs,
                   const ofr_bleu_opts *opts, ofr_bleu_score *out,
                   char *err, size_t errlen)
{
    double stats[OFR_BLEU_NSTATS] = { 0 };
    if (ofr_bleu_segment_stats (hyp, refs, nrefs, opts, stats, err, errlen) != 0)
        return -1;
    ofr_bleu_compute (stats, opts, out);
    return 0;
}
