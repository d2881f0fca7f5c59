/*  mt_suites.c -- the translation suites (see mt_suites.h). The files are
    the ones shared/README.md describes: one segment per line, source and
    reference aligned. */
#include "mt_suites.h"
#include "mt_lines.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *suite, *split, *subdir, *src, *ref;
} mt_split;

/* First row of a suite is its default split. */
static const mt_split s_splits[] = {
    { "wmt22_en_de", "test", "translation/wmt22",
      "generaltest2022.en-de.src.en", "generaltest2022.en-de.ref.A.de" },
    { "wmt22_de_en", "test", "translation/wmt22",
      "generaltest2022.de-en.src.de", "generaltest2022.de-en.ref.A.en" },
    { "multi30k_en_de", "test", "translation/multi30k",
      "test_2016_flickr.en", "test_2016_flickr.de" },
    { "multi30k_en_de", "val", "translation/multi30k", "val.en", "val.de" },
    { "multi30k_en_de", "train", "translation/multi30k", "train.en", "train.de" },
};
#define N_SPLITS (sizeof s_splits / sizeof s_splits[0])

int
ofr_mt_suite_files (const char *suite, const char *split, const char **subdir,
                    const char **src, const char **ref, char *err, size_t errlen)
{
    char avail[64] = "";
    bool known = false;
    for (size_t i = 0; suite && i < N_SPLITS; i++) {
        if (strcmp (s_splits[i].suite, suite) != 0)
            continue;
        if (!split || strcmp (split, s_splits[i].split) == 0) {
            *subdir = s_splits[i].subdir;
            *src = s_splits[i].src;
            *ref = s_splits[i].ref;
            return 0;
        }
        size_t len = strlen (avail);
        snprintf (avail + len, sizeof avail - len, "%s%s", known ? ", " : "", s_splits[i].split);
        known = true;
    }
    if (known)
        return ofr_errf (err, errlen, "suite %s: unknown split '%s' (available: %s)",
                         suite, split, avail);
    return ofr_errf (err, errlen, "unknown suite '%s' "
                     "(translation suites: wmt22_en_de, wmt22_de_en, multi30k_en_de)",
                     suite ? suite : "(null)");
}

/* One loaded split. */
typedef struct {
    ofr_mt_lines src, ref;
    int          n;
    char       (*id)[16];
} mt_data;

static void
mt_free (void *data)
{
    mt_data *d = data;
    if (!d)
        return;
    ofr_mt_lines_free (&d->src);
    ofr_mt_lines_free (&d->ref);
    free (d->id);
    free (d);
}

static int
read_pair (mt_data *d, const char *data_dir, const char *subdir, const char *src,
           const char *ref, char *err, size_t errlen)
{
    ofr_buf ps, pr;
    ofr_buf_init (&ps);
    ofr_buf_init (&pr);
    ofr_buf_printf (&ps, "%s/%s/%s", data_dir ? data_dir : ".", subdir, src);
    ofr_buf_printf (&pr, "%s/%s/%s", data_dir ? data_dir : ".", subdir, ref);
    int rc = ps.oom || pr.oom ? ofr_errf (err, errlen, "out of memory") : 0;
    if (rc == 0)
        rc = ofr_mt_lines_read (ps.data, &d->src, err, errlen);
    if (rc == 0)
        rc = ofr_mt_lines_read (pr.data, &d->ref, err, errlen);
    /* An unaligned pair would silently score every segment against the
       wrong reference. */
    if (rc == 0 && d->src.n != d->ref.n)
        rc = ofr_errf (err, errlen, "%s has %zu lines but %s has %zu lines",
                       ps.data, d->src.n, pr.data, d->ref.n);
    if (rc == 0 && d->src.n > (size_t) INT32_MAX)
        rc = ofr_errf (err, errlen, "%s: too many lines", ps.data);
    ofr_buf_free (&ps);
    ofr_buf_free (&pr);
    return rc;
}

static int
mt_load (const char *suite, const char *data_dir, const char *split,
         void **data, int *n, char *err, size_t errlen)
{
    const char *subdir, *src, *ref;
    *data = NULL;
    *n = 0;
    if (ofr_mt_suite_files (suite, split, &subdir, &src, &ref, err, errlen) != 0)
        return -1;
    mt_data *d = ofr_calloc (1, sizeof *d);
    if (!d)
        return ofr_errf (err, errlen, "suite %s: out of memory", suite);
    int rc = read_pair (d, data_dir, subdir, src, ref, err, errlen);
    if (rc == 0) {
        d->n = (int) d->src.n;
        d->id = ofr_calloc (d->src.n ? d->src.n : 1, sizeof *d->id);
        if (!d->id)
            rc = ofr_errf (err, errlen, "suite %s: out of memory", suite);
    }
    for (int i = 0; rc == 0 && i < d->n; i++)
        snprintf (d->id[i], sizeof d->id[i], "%d", i);
    if (rc != 0) {
        mt_free (d);
        return -1;
    }
    *data = d;
    *n = d->n;
    return 0;
}

static int
mt_example (void *data, int i, ofr_example *ex)
{
    mt_data *d = data;
    if (!d || i < 0 || i >= d->n)
        return -1;
    memset (ex, 0, sizeof *ex);
    ex->id = d->id[i];
    ex->text_a = d->src.line[i];
    ex->label = -1;
    return 0;
}

/* BLEU (13a, exp) and chrF2 statistics of the output against the reference. */
static int
mt_score (void *data, int i, const ofr_prediction *pred, double *stats)
{
    mt_data *d = data;
    if (!d || i < 0 || i >= d->n || !pred || !pred->text)
        return -1;
    const char *ref = d->ref.line[i];
    ofr_bleu_opts bo = ofr_bleu_default_opts ();
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    char err[OFR_ERRLEN];
    if (ofr_bleu_segment_stats (pred->text, &ref, 1, &bo, stats, err, sizeof err) != 0
        || ofr_chrf_segment_stats (pred->text, &ref, 1, &co, stats + OFR_BLEU_NSTATS,
                                   err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "translation example %d: %s", i, err);
        return -1;
    }
    return 0;
}

static int
mt_metrics (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 3 || n < 0)
        return -1;
    double sum[OFR_MT_SUITE_NSTATS] = { 0 };
    for (int i = 0; i < n; i++)
        for (int j = 0; j < OFR_MT_SUITE_NSTATS; j++)
            sum[j] += stats[(size_t) i * OFR_MT_SUITE_NSTATS + (size_t) j];
    ofr_bleu_opts bo = ofr_bleu_default_opts ();
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    ofr_bleu_score sc;
    ofr_bleu_compute (sum, &bo, &sc);
    out[0] = (ofr_metric) { "bleu", sc.score };
    out[1] = (ofr_metric) { "chrf", ofr_chrf_compute (sum + OFR_BLEU_NSTATS, &co) };
    out[2] = (ofr_metric) { "bp", sc.bp };
    return 3;
}

#define MT_LOADER(name)                                                       \
    static int name##_load (const char *data_dir, const char *split,          \
                            void **data, int *n, char *err, size_t errlen)    \
    {                                                                         \
        return mt_load (#name, data_dir, split, data, n, err, errlen);        \
    }
MT_LOADER (wmt22_en_de)
MT_LOADER (wmt22_de_en)
MT_LOADER (multi30k_en_de)

#define MT_SUITE(nm, dir, text)                                                \
    const ofr_suite_class ofr_suite_##nm = {                                  \
        .name = #nm, .summary = text, .kinds = OFR_KIND_SEQ2SEQ,              \
        .default_split = "test", .data_subdir = dir, .n_classes = 0,          \
        .n_stats = OFR_MT_SUITE_NSTATS, .primary = "bleu",                    \
        .load = nm##_load, .free = mt_free, .example = mt_example,            \
        .score = mt_score, .metrics = mt_metrics,                             \
    }
MT_SUITE (wmt22_en_de, "translation/wmt22",
          "WMT22 general test en->de (ref A), BLEU 13a + chrF2; test 2037");
MT_SUITE (wmt22_de_en, "translation/wmt22",
          "WMT22 general test de->en (ref A), BLEU 13a + chrF2; test 1984");
MT_SUITE (multi30k_en_de, "translation/multi30k",
          "Multi30k task 1 en->de, BLEU 13a + chrF2; test_2016_flickr 1000 / val / train");
