/*  fit_collect.c -- see fit_collect.h. */
#include "fit_collect.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ofr_fit_data_clear (ofr_fit_data *d)
{
    free (d->probs);
    free (d->features);
    free (d->labels);
    memset (d, 0, sizeof *d);
}

static float *
alloc_floats (size_t a, size_t b, size_t c, const char *what, char *err, size_t errlen)
{
    float *p = NULL;
    if (a && b && c && a <= SIZE_MAX / b && a * b <= SIZE_MAX / c)
        p = ofr_calloc (a * b * c, sizeof (float));
    if (!p)
        ofr_errf (err, errlen, "fit: out of memory for the %s of %zu examples x %zu "
                  "layers x %zu (%.1f MB; use --limit)", what, a, b, c,
                  (double) a * b * c * sizeof (float) / 1e6);
    return p;
}

static bool
is_dense (const ofr_model *model)
{
    return model->ops->kind == OFR_KIND_CNN && model->ops->exit_labels;
}

/*  The dense summary of row r's exit at layer l (fit_collect.h) into out
    [n_stats + OFR_FIT_DENSE_BINS]; zeros where the layer has no exit. */
static int
dense_summary (ofr_model *model, const ofr_suite_class *suite, void *sdata, ofr_mbatch *mb,
               int l, int r, int example, float *scratch, float *out, char *err,
               size_t errlen)
{
    const ofr_model_ops *ops = model->ops;
    int n_stats = suite->n_stats, k = suite->n_classes;
    int n_out = ops->n_outputs (model);
    memset (out, 0, (size_t) (n_stats + OFR_FIT_DENSE_BINS) * sizeof *out);
    if (ops->exit_probs (mb, l, r, scratch) != 0)
        return 0;                               /* no exit at this layer */
    int n_pix = 0;
    ofr_prediction pred = { .cls = -1, .value = -1 };
    pred.labels = ops->exit_labels (mb, l, r, &n_pix);
    pred.n_labels = n_pix;
    double stats_small[256];
    double *stats = n_stats <= 256 ? stats_small : ofr_calloc ((size_t) n_stats, sizeof *stats);
    if (!stats)
        return ofr_errf (err, errlen, "fit: out of memory");
    int rc = !pred.labels || suite->score (sdata, example, &pred, stats) != 0 ? -1 : 0;
    for (int j = 0; rc == 0 && j < n_stats; j++)
        out[j] = (float) stats[j];
    if (stats != stats_small)
        free (stats);
    if (rc != 0)
        return ofr_errf (err, errlen, "fit: scoring the exit at layer %d of example %d "
                         "failed (suite %s)", l + 1, example, suite->name);
    size_t hw = (size_t) n_out / (size_t) k;
    float *hist = out + n_stats;
    for (size_t px = 0; px < hw; px++) {
        float mx = scratch[px];
        for (int c = 1; c < k; c++)
            mx = scratch[(size_t) c * hw + px] > mx ? scratch[(size_t) c * hw + px] : mx;
        int bin = (int) (mx * OFR_FIT_DENSE_BINS);
        hist[bin < 0 ? 0 : bin >= OFR_FIT_DENSE_BINS ? OFR_FIT_DENSE_BINS - 1 : bin] += 1.0f;
    }
    for (int j = 0; j < OFR_FIT_DENSE_BINS; j++)
        hist[j] /= (float) hw;
    return 0;
}

/* Everything of rows [start, start + cnt) after layer l goes into *d. */
static int
collect_layer (ofr_model *model, const ofr_suite_class *suite, void *sdata, ofr_mbatch *mb,
               int l, int start, int cnt, float *scratch, ofr_fit_data *d, char *err,
               size_t errlen)
{
    const ofr_model_ops *ops = model->ops;
    int L = d->n_layers, K = d->n_outputs, D = d->feat_dim;
    for (int r = 0; r < cnt; r++) {
        size_t at = (size_t) (start + r) * L + l;
        float *p = d->probs + at * K;
        if (scratch) {
            if (dense_summary (model, suite, sdata, mb, l, r, start + r, scratch, p,
                               err, errlen) != 0)
                return -1;
        }
        else if (ops->exit_probs (mb, l, r, p) != 0)
            for (int c = 0; c < K; c++)       /* no head at this layer */
                p[c] = 1.0f / K;
        const float *h = d->raw_state ? ops->raw_hidden (mb, r) : ops->hidden (mb, r);
        if (!h)
            return ofr_errf (err, errlen, "model %s: no %s state for example %d at layer %d",
                             model->name, d->raw_state ? "raw" : "hidden", start + r, l + 1);
        memcpy (d->features + at * D, h, (size_t) D * sizeof (float));
    }
    return 0;
}

static void
progress_line (int done, int n, double t0)
{
    double s = (ofr_now_ms () - t0) / 1000.0;
    double eta = done > 0 ? s * (n - done) / done : 0;
    fprintf (stderr, "offramp fit: features of %d/%d examples (%.0f%%), %.1f s, ETA %.0f s\n",
             done, n, 100.0 * done / n, s, eta);
}

static int
collect_batch (ofr_model *model, const ofr_suite_class *suite, void *sdata, int start,
               int cnt, ofr_example *ex, int *rows, const uint8_t *lowp, float *scratch,
               ofr_fit_data *d, char *err, size_t errlen)
{
    const ofr_model_ops *ops = model->ops;
    for (int r = 0; r < cnt; r++) {
        if (suite->example (sdata, start + r, &ex[r]) != 0)
            return ofr_errf (err, errlen, "suite %s: no example %d", suite->name, start + r);
        d->labels[start + r] = ex[r].label;
        rows[r] = r;
    }
    ofr_mbatch *mb = NULL;
    if (ops->batch_begin (model, ex, cnt, &mb, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (int l = 0; l < d->n_layers && rc == 0; l++) {
        rc = ops->run_layer (mb, l, rows, lowp, cnt, err, errlen);
        if (rc == 0)
            rc = collect_layer (model, suite, sdata, mb, l, start, cnt, scratch, d,
                                err, errlen);
    }
    ops->batch_end (mb);
    return rc;
}

int
ofr_fit_collect (ofr_model *model, const ofr_suite_class *suite, void *sdata, int n,
                 int batch_size, bool progress, ofr_fit_data *out, char *err, size_t errlen)
{
    const ofr_model_ops *ops = model->ops;
    ofr_fit_data d = { .n = n, .n_layers = ops->n_layers (model),
                       .n_outputs = ops->n_outputs (model),
                       .feat_dim = ops->hidden_dim (model),
                       .raw_state = ops->raw_hidden != NULL };
    memset (out, 0, sizeof *out);
    float *scratch = NULL;
    if (is_dense (model)) {
        int n_out = ops->n_outputs (model);
        if (suite->n_classes < 1 || suite->n_stats < 1 || n_out % suite->n_classes != 0)
            return ofr_errf (err, errlen, "fit: suite %s cannot summarise the dense exits "
                             "of model %s (%d classes, %d stats, %d outputs)", suite->name,
                             model->name, suite->n_classes, suite->n_stats, n_out);
        d.n_outputs = suite->n_stats + OFR_FIT_DENSE_BINS;
        if (!(scratch = ofr_calloc ((size_t) n_out, sizeof *scratch)))
            return ofr_errf (err, errlen, "fit: out of memory for an exit distribution "
                             "of %d floats", n_out);
    }
    if (n < 1 || d.n_layers < 1 || d.n_outputs < 1 || d.feat_dim < 1) {
        free (scratch);
        return ofr_errf (err, errlen, "fit: nothing to collect (%d examples, model %s: "
                         "%d layers, %d outputs, hidden %d)", n, model->name, d.n_layers,
                         d.n_outputs, d.feat_dim);
    }
    int bs = batch_size > 0 ? batch_size : 16;
    ofr_example *ex = ofr_calloc ((size_t) bs, sizeof *ex);
    int *rows = ofr_calloc ((size_t) bs, sizeof *rows);
    uint8_t *lowp = ofr_calloc ((size_t) bs, 1);
    d.labels = ofr_calloc ((size_t) n, sizeof *d.labels);
    int rc = -1;
    if (!ex || !rows || !lowp || !d.labels) {
        ofr_errf (err, errlen, "fit: out of memory");
        goto out;
    }
    if (!(d.probs = alloc_floats ((size_t) n, (size_t) d.n_layers, (size_t) d.n_outputs,
                                  "exit distributions", err, errlen))
        || !(d.features = alloc_floats ((size_t) n, (size_t) d.n_layers, (size_t) d.feat_dim,
                                        "features", err, errlen)))
        goto out;
    double t0 = ofr_now_ms (), last = t0;
    for (int start = 0; start < n; start += bs) {
        int cnt = n - start < bs ? n - start : bs;
        if (collect_batch (model, suite, sdata, start, cnt, ex, rows, lowp, scratch, &d,
                           err, errlen) != 0)
            goto out;
        if (progress && (ofr_now_ms () - last > 2000 || start + cnt == n)) {
            progress_line (start + cnt, n, t0);
            last = ofr_now_ms ();
        }
    }
    *out = d;
    memset (&d, 0, sizeof d);
    rc = 0;
out:
    ofr_fit_data_clear (&d);
    free (scratch);
    free (ex);
    free (rows);
    free (lowp);
    return rc;
}
