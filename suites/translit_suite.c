/*  translit_suite.c -- `aren_translit`: Arabic -> English name
    transliteration, the known outputs of the real CTranslate2 model
    shared/models/ct2-aren-transliteration (CTranslate2's own test
    expectations, shared/README.md and docs/TRANSLATION.md): آتزمون ->
    atzmon, آتشيسون -> achison, آزا -> azza. Kind OFR_KIND_SEQ2SEQ.

    The data are these three pairs, built in (no data directory), split
    "test" (also reachable as "dev", a plan's default split). The
    source a model sees is the word's characters separated by spaces (the
    model is character level and CTranslate2 takes tokens); the prediction
    is compared with its spaces removed. Per example: exact match (0/1),
    the output length in characters, then chrF2 statistics (nc 6, nw 0;
    OFR_MT_SUITE_CHRF_STATS) pooled over the corpus: metrics exact_match
    (%, primary), chrf, chars (mean output length). */
#include "mt_suites.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_pairs[][2] = {
    { "آتزمون", "atzmon" },
    { "آتشيسون", "achison" },
    { "آزا", "azza" },
};
#define N_PAIRS ((int) (sizeof s_pairs / sizeof s_pairs[0]))
#define TL_NSTATS (2 + OFR_MT_SUITE_CHRF_STATS)

typedef struct {
    char *src[N_PAIRS];     /* spaced characters */
    char  id[N_PAIRS][8];
} tl_data;

static void
tl_free (void *data)
{
    tl_data *d = data;
    if (!d)
        return;
    for (int i = 0; i < N_PAIRS; i++)
        free (d->src[i]);
    free (d);
}

/* "abc" -> "a b c", per UTF-8 character. */
static char *
spaced (const char *w)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "");
    for (const unsigned char *p = (const unsigned char *) w; *p;) {
        size_t len = 1;
        while ((p[len] & 0xC0) == 0x80)
            len++;
        if (b.len)
            ofr_buf_puts (&b, " ");
        ofr_buf_append (&b, p, len);
        p += len;
    }
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static int
tl_load (const char *data_dir, const char *split, void **data, int *n, char *err,
         size_t errlen)
{
    (void) data_dir;
    *data = NULL;
    *n = 0;
    /* One split; "dev" (a plan's default split) names it too. */
    if (split && strcmp (split, "test") != 0 && strcmp (split, "dev") != 0)
        return ofr_errf (err, errlen, "suite aren_translit: unknown split '%s' "
                         "(available: test, alias dev)", split);
    tl_data *d = ofr_calloc (1, sizeof *d);
    if (!d)
        return ofr_errf (err, errlen, "suite aren_translit: out of memory");
    for (int i = 0; i < N_PAIRS; i++) {
        snprintf (d->id[i], sizeof d->id[i], "%d", i);
        if (!(d->src[i] = spaced (s_pairs[i][0]))) {
            tl_free (d);
            return ofr_errf (err, errlen, "suite aren_translit: out of memory");
        }
    }
    *data = d;
    *n = N_PAIRS;
    return 0;
}

static int
tl_example (void *data, int i, ofr_example *ex)
{
    tl_data *d = data;
    if (!d || i < 0 || i >= N_PAIRS)
        return -1;
    memset (ex, 0, sizeof *ex);
    ex->id = d->id[i];
    ex->text_a = d->src[i];
    ex->label = -1;
    return 0;
}

static int
tl_score (void *data, int i, const ofr_prediction *pred, double *stats)
{
    tl_data *d = data;
    if (!d || i < 0 || i >= N_PAIRS || !pred || !pred->text)
        return -1;
    char word[256];
    size_t k = 0;
    for (const char *p = pred->text; *p && k + 1 < sizeof word; p++)
        if (*p != ' ')
            word[k++] = *p;
    word[k] = 0;
    const char *ref = s_pairs[i][1];
    stats[0] = strcmp (word, ref) == 0 && strlen (pred->text) < sizeof word;
    stats[1] = (double) k;
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    char err[OFR_ERRLEN];
    if (ofr_chrf_segment_stats (word, &ref, 1, &co, stats + 2, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "aren_translit example %d: %s", i, err);
        return -1;
    }
    return 0;
}

static int
tl_metrics (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 3 || n < 0)
        return -1;
    double sum[TL_NSTATS] = { 0 };
    for (int i = 0; i < n; i++)
        for (int j = 0; j < TL_NSTATS; j++)
            sum[j] += stats[(size_t) i * TL_NSTATS + (size_t) j];
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    out[0] = (ofr_metric) { "exact_match", n ? 100.0 * sum[0] / n : 0 };
    out[1] = (ofr_metric) { "chrf", ofr_chrf_compute (sum + 2, &co) };
    out[2] = (ofr_metric) { "chars", n ? sum[1] / n : 0 };
    return 3;
}

const ofr_suite_class ofr_suite_aren_translit = {
    .name = "aren_translit",
    .summary = "Arabic->English name transliteration, the known outputs of "
               "ct2-aren-transliteration; exact match + chrF2; test 3",
    .kinds = OFR_KIND_SEQ2SEQ, .default_split = "test", .data_subdir = NULL,
    .n_classes = 0, .n_stats = TL_NSTATS, .primary = "exact_match",
    .load = tl_load, .free = tl_free, .example = tl_example, .score = tl_score,
    .metrics = tl_metrics,
};
