/*  glue.c -- the six GLUE suite classes (see glue.h). One table describes
    each task's file layout; loading, examples and scoring are shared, and
    each class only binds its table to the suite.h callbacks. */
#include "glue.h"
#include "tsv.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A label spelling and the class it stands for. */
typedef struct {
    const char *text;
    int         cls;
} glue_label;

typedef struct {
    const char *name;            /* "sst2"                                    */
    const char *dir;             /* "glue/sst2"                               */
    const char *splits[3];       /* NULL terminated                           */
    bool        header;
    int         n_fields;        /* without header: fixed layout             */
    /* Columns by header name, or by position (col_*) without header. */
    const char *text_a, *text_b, *label, *id;
    int         col_a, col_b, col_label;
    const glue_label *labels;    /* NULL: label is a regression score        */
    double      score_lo, score_hi;
    /* HF CSV export (our RTE files): a field containing a quote is wrapped
       in quotes with inner quotes doubled; the GLUE originals quote nothing. */
    bool        quoted;
} glue_task;

static const glue_label k_binary[] = { { "0", 0 }, { "1", 1 }, { NULL, 0 } };
static const glue_label k_entail[] = {
    { "entailment", 0 }, { "not_entailment", 1 }, { "0", 0 }, { "1", 1 }, { NULL, 0 }
};

static const glue_task k_sst2 = {
    "sst2", "glue/sst2", { "dev", "train" }, true, 0,
    "sentence", NULL, "label", NULL, -1, -1, -1, k_binary, 0, 0, false };
static const glue_task k_mrpc = {
    "mrpc", "glue/mrpc", { "dev", "train" }, true, 0,
    "#1 String", "#2 String", "Quality", NULL, -1, -1, -1, k_binary, 0, 0, false };
static const glue_task k_rte = {
    "rte", "glue/rte", { "dev", "train" }, true, 0,
    "sentence1", "sentence2", "label", "idx", -1, -1, -1, k_entail, 0, 0, true };
static const glue_task k_qnli = {
    "qnli", "glue/qnli", { "dev" }, true, 0,
    "question", "sentence", "label", "index", -1, -1, -1, k_entail, 0, 0, false };
static const glue_task k_stsb = {
    "stsb", "glue/stsb", { "dev", "train" }, true, 0,
    "sentence1", "sentence2", "score", "index", -1, -1, -1, NULL, 0, 5, false };
static const glue_task k_cola = {
    "cola", "glue/cola", { "dev", "train" }, false, 4,
    NULL, NULL, NULL, NULL, 3, -1, 1, k_binary, 0, 0, false };

/* One loaded split. Strings point into the TSV table. */
typedef struct {
    const glue_task *task;
    ofr_tsv         *tsv;
    int              n;
    const char     **a, **b, **id;
    int             *label;
    double          *target;
    char           (*rowid)[16];   /* ids made from row numbers */
    char           **unquoted;     /* [2n] texts of a quoted task, or NULL */
} glue_data;

static void
glue_free (void *data)
{
    glue_data *d = data;
    if (!d)
        return;
    ofr_tsv_destroy (&d->tsv);
    free (d->a);
    free (d->b);
    free (d->id);
    free (d->label);
    free (d->target);
    free (d->rowid);
    for (int i = 0; d->unquoted && i < 2 * d->n; i++)
        free (d->unquoted[i]);
    free (d->unquoted);
    free (d);
}

static int
check_split (const glue_task *t, const char *split, char *err, size_t errlen)
{
    char avail[64] = "";
    for (int i = 0; t->splits[i]; i++) {
        if (split && strcmp (split, t->splits[i]) == 0)
            return 0;
        size_t len = strlen (avail);
        snprintf (avail + len, sizeof avail - len, "%s%s", i ? ", " : "", t->splits[i]);
    }
    return ofr_errf (err, errlen, "suite %s: unknown split '%s' (available: %s)",
                     t->name, split ? split : "(null)", avail);
}

static int
parse_label (const glue_task *t, const ofr_tsv *tsv, int row, const char *s,
             int *cls, char *err, size_t errlen)
{
    for (int i = 0; t->labels[i].text; i++)
        if (strcmp (s, t->labels[i].text) == 0) {
            *cls = t->labels[i].cls;
            return 0;
        }
    char names[96] = "";
    for (int i = 0; t->labels[i].text; i++) {
        size_t len = strlen (names);
        snprintf (names + len, sizeof names - len, "%s%s", i ? ", " : "", t->labels[i].text);
    }
    return ofr_errf (err, errlen, "%s:%d: label '%s' is not one of %s",
                     ofr_tsv_path (tsv), ofr_tsv_line (tsv, row), s, names);
}

static int
parse_score (const glue_task *t, const ofr_tsv *tsv, int row, const char *s,
             double *v, char *err, size_t errlen)
{
    if (ofr_parse_double (s, v) != 0 || !isfinite (*v) || *v < t->score_lo || *v > t->score_hi)
        return ofr_errf (err, errlen, "%s:%d: score '%s' is not a number in [%g, %g]",
                         ofr_tsv_path (tsv), ofr_tsv_line (tsv, row), s,
                         t->score_lo, t->score_hi);
    return 0;
}

/* Resolve a column: by header name, else the fixed position. */
static int
column (const glue_data *d, const char *name, int pos, int *col, char *err, size_t errlen)
{
    *col = -1;
    if (d->task->header && name) {
        *col = ofr_tsv_column (d->tsv, name, err, errlen);
        return *col < 0 ? -1 : 0;
    }
    *col = d->task->header ? -1 : pos;
    return 0;
}

static int
alloc_rows (glue_data *d, char *err, size_t errlen)
{
    size_t n = (size_t) d->n;
    d->a = ofr_calloc (n, sizeof *d->a);
    d->b = ofr_calloc (n, sizeof *d->b);
    d->id = ofr_calloc (n, sizeof *d->id);
    d->label = ofr_calloc (n, sizeof *d->label);
    d->target = ofr_calloc (n, sizeof *d->target);
    d->rowid = ofr_calloc (n, sizeof *d->rowid);
    if (d->task->quoted)
        d->unquoted = ofr_calloc (2 * n, sizeof *d->unquoted);
    if (!d->a || !d->b || !d->id || !d->label || !d->target || !d->rowid
        || (d->task->quoted && !d->unquoted))
        return ofr_errf (err, errlen, "suite %s: out of memory", d->task->name);
    return 0;
}

/* *out = s itself, or (quoted task, s wrapped in quotes) its inside with
   doubled quotes halved, owned by d->unquoted[slot]. -1: out of memory. */
static int
unquote (glue_data *d, size_t slot, const char *s, const char **out)
{
    size_t len = s ? strlen (s) : 0;
    *out = s;
    if (!d->task->quoted || len < 2 || s[0] != '"' || s[len - 1] != '"')
        return 0;
    char *o = ofr_calloc (len - 1, 1);
    if (!o)
        return -1;
    size_t k = 0;
    for (size_t j = 1; j + 1 < len; j++) {
        o[k++] = s[j];
        if (s[j] == '"' && s[j + 1] == '"' && j + 2 < len)
            j++;
    }
    o[k] = '\0';
    d->unquoted[slot] = o;
    *out = o;
    return 0;
}

static int
fill_rows (glue_data *d, char *err, size_t errlen)
{
    const glue_task *t = d->task;
    int ca, cb, cl, ci;
    if (column (d, t->text_a, t->col_a, &ca, err, errlen) != 0
        || column (d, t->text_b, t->col_b, &cb, err, errlen) != 0
        || column (d, t->label, t->col_label, &cl, err, errlen) != 0
        || column (d, t->id, -1, &ci, err, errlen) != 0
        || alloc_rows (d, err, errlen) != 0)
        return -1;
    for (int i = 0; i < d->n; i++) {
        if (unquote (d, 2 * (size_t) i, ofr_tsv_get (d->tsv, i, ca), &d->a[i]) != 0
            || unquote (d, 2 * (size_t) i + 1, cb >= 0 ? ofr_tsv_get (d->tsv, i, cb) : NULL,
                        &d->b[i]) != 0)
            return ofr_errf (err, errlen, "%s:%d: out of memory", ofr_tsv_path (d->tsv),
                             ofr_tsv_line (d->tsv, i));
        snprintf (d->rowid[i], sizeof d->rowid[i], "%d", i);
        d->id[i] = ci >= 0 ? ofr_tsv_get (d->tsv, i, ci) : d->rowid[i];
        const char *l = ofr_tsv_get (d->tsv, i, cl);
        d->label[i] = -1;
        int rc = t->labels ? parse_label (t, d->tsv, i, l, &d->label[i], err, errlen)
                           : parse_score (t, d->tsv, i, l, &d->target[i], err, errlen);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int
glue_load (const glue_task *t, const char *data_dir, const char *split,
           void **data, int *n, char *err, size_t errlen)
{
    *data = NULL;
    *n = 0;
    if (check_split (t, split, err, errlen) != 0)
        return -1;
    char *path = NULL;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/%s/%s.tsv", data_dir ? data_dir : ".", t->dir, split);
    path = b.data;
    glue_data *d = ofr_calloc (1, sizeof *d);
    int rc = -1;
    if (b.oom || !d)
        ofr_errf (err, errlen, "suite %s: out of memory", t->name);
    else if (ofr_tsv_read (path, t->header, t->n_fields, &d->tsv, err, errlen) == 0) {
        d->task = t;
        d->n = ofr_tsv_rows (d->tsv);
        rc = fill_rows (d, err, errlen);
    }
    ofr_buf_free (&b);
    if (rc != 0) {
        glue_free (d);
        return -1;
    }
    *data = d;
    *n = d->n;
    return 0;
}

static int
glue_example (void *data, int i, ofr_example *ex)
{
    glue_data *d = data;
    if (!d || i < 0 || i >= d->n)
        return -1;
    memset (ex, 0, sizeof *ex);
    ex->id = d->id[i];
    ex->text_a = d->a[i];
    ex->text_b = d->b[i];
    ex->label = d->label[i];
    ex->target = d->target[i];
    return 0;
}

/* Gold class and predicted class in {0, 1}, or -1. */
static int
classes (const glue_data *d, int i, const ofr_prediction *pred, int *gold)
{
    if (!d || i < 0 || i >= d->n || !pred || pred->cls < 0 || pred->cls > 1)
        return -1;
    *gold = d->label[i];
    return 0;
}

static int
score_correct (void *data, int i, const ofr_prediction *pred, double *stats)
{
    int gold;
    if (classes (data, i, pred, &gold) != 0)
        return -1;
    stats[0] = pred->cls == gold ? 1.0 : 0.0;
    return 0;
}

static int
score_confusion (void *data, int i, const ofr_prediction *pred, double *stats)
{
    int gold;
    if (classes (data, i, pred, &gold) != 0)
        return -1;
    stats[0] = gold == 1 && pred->cls == 1;       /* tp */
    stats[1] = gold == 0 && pred->cls == 1;       /* fp */
    stats[2] = gold == 1 && pred->cls == 0;       /* fn */
    stats[3] = gold == 0 && pred->cls == 0;       /* tn */
    return 0;
}

static int
score_regression (void *data, int i, const ofr_prediction *pred, double *stats)
{
    glue_data *d = data;
    if (!d || i < 0 || i >= d->n || !pred || !isfinite (pred->value))
        return -1;
    stats[0] = pred->value;
    stats[1] = d->target[i];
    return 0;
}

/* Column sums of stats [n][k] (k <= 4). */
static void
pool (const double *stats, int n, int k, double *sum)
{
    for (int j = 0; j < k; j++)
        sum[j] = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            sum[j] += stats[(size_t) i * (size_t) k + (size_t) j];
}

static int
metrics_accuracy (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 1 || n < 0)
        return -1;
    double correct;
    pool (stats, n, 1, &correct);
    out[0] = (ofr_metric) { "accuracy", n ? 100.0 * correct / n : 0.0 };
    return 1;
}

static int
metrics_mrpc (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 2 || n < 0)
        return -1;
    double s[4];
    pool (stats, n, 4, s);
    out[0] = (ofr_metric) { "accuracy", n ? 100.0 * (s[0] + s[3]) / n : 0.0 };
    out[1] = (ofr_metric) { "f1", 100.0 * ofr_glue_f1 (s[0], s[1], s[2]) };
    return 2;
}

static int
metrics_cola (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 2 || n < 0)
        return -1;
    double s[4];
    pool (stats, n, 4, s);
    out[0] = (ofr_metric) { "mcc", 100.0 * ofr_glue_mcc (s[0], s[1], s[2], s[3]) };
    out[1] = (ofr_metric) { "accuracy", n ? 100.0 * (s[0] + s[3]) / n : 0.0 };
    return 2;
}

static int
metrics_stsb (const double *stats, int n, ofr_metric *out, int max_out)
{
    double p, s;
    if (max_out < 2 || n < 0 || ofr_glue_pearson (stats, n, &p) != 0
        || ofr_glue_spearman (stats, n, &s) != 0)
        return -1;
    out[0] = (ofr_metric) { "pearson", 100.0 * p };
    out[1] = (ofr_metric) { "spearman", 100.0 * s };
    return 2;
}

#define GLUE_LOADER(task)                                                     \
    static int task##_load (const char *data_dir, const char *split,          \
                            void **data, int *n, char *err, size_t errlen)    \
    {                                                                         \
        return glue_load (&k_##task, data_dir, split, data, n, err, errlen);  \
    }
GLUE_LOADER (sst2)
GLUE_LOADER (mrpc)
GLUE_LOADER (rte)
GLUE_LOADER (qnli)
GLUE_LOADER (stsb)
GLUE_LOADER (cola)

const ofr_suite_class ofr_suite_sst2 = {
    .name = "sst2", .summary = "GLUE SST-2 sentiment (binary), accuracy; dev 872 / train 67349",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/sst2",
    .n_classes = 2, .n_stats = 1, .primary = "accuracy",
    .load = sst2_load, .free = glue_free, .example = glue_example,
    .score = score_correct, .metrics = metrics_accuracy,
};

const ofr_suite_class ofr_suite_mrpc = {
    .name = "mrpc", .summary = "GLUE MRPC paraphrase pairs, F1 and accuracy; dev 408 / train 3668",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/mrpc",
    .n_classes = 2, .n_stats = 4, .primary = "f1",
    .load = mrpc_load, .free = glue_free, .example = glue_example,
    .score = score_confusion, .metrics = metrics_mrpc,
};

const ofr_suite_class ofr_suite_rte = {
    .name = "rte", .summary = "GLUE RTE entailment pairs, accuracy; dev 277 / train 2490",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/rte",
    .n_classes = 2, .n_stats = 1, .primary = "accuracy",
    .load = rte_load, .free = glue_free, .example = glue_example,
    .score = score_correct, .metrics = metrics_accuracy,
};

const ofr_suite_class ofr_suite_qnli = {
    .name = "qnli", .summary = "GLUE QNLI question/sentence entailment, accuracy; dev 5463",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/qnli",
    .n_classes = 2, .n_stats = 1, .primary = "accuracy",
    .load = qnli_load, .free = glue_free, .example = glue_example,
    .score = score_correct, .metrics = metrics_accuracy,
};

const ofr_suite_class ofr_suite_stsb = {
    .name = "stsb", .summary = "GLUE STS-B similarity 0-5 (regression), Spearman and Pearson; dev 1500 / train 5749",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/stsb",
    .n_classes = 0, .n_stats = 2, .primary = "spearman",
    .load = stsb_load, .free = glue_free, .example = glue_example,
    .score = score_regression, .metrics = metrics_stsb,
};

const ofr_suite_class ofr_suite_cola = {
    .name = "cola", .summary = "GLUE CoLA acceptability, Matthews correlation; dev 1043 / train 8551",
    .kinds = OFR_KIND_ENCODER, .default_split = "dev", .data_subdir = "glue/cola",
    .n_classes = 2, .n_stats = 4, .primary = "mcc",
    .load = cola_load, .free = glue_free, .example = glue_example,
    .score = score_confusion, .metrics = metrics_cola,
};
