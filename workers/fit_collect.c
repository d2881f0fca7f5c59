/*  fit_collect.c -- see fit_collect.h. */
#include "fit_collect.h"
#include "../common/ofr_common.h"

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

/* Everything of rows [start, start + cnt) after layer l goes into *d. */
static int
collect_layer (ofr_model *model, ofr_mbatch *mb, int l, int start, int cnt,
               ofr_fit_data *d, char *err, size_t errlen)
{
    const ofr_model_ops *ops = model->ops;
    int L = d->n_layers, K = d->n_outputs, D = d->feat_dim;
    for (int r = 0; r < cnt; r++) {
        size_t at = (size_t) (start + r) * L + l;
        float *p = d->probs + at * K;
        if (ops->exit_probs (mb, l, r, p) != 0)
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
               int cnt, ofr_example *ex, int *rows, const uint8_t *lowp, ofr_fit_data *d,
               char *err, size_t errlen)
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
            rc = collect_layer (model, mb, l, start, cnt, d, err, errlen);
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
    if (n < 1 || d.n_layers < 1 || d.n_outputs < 1 || d.feat_dim < 1)
        return ofr_errf (err, errlen, "fit: nothing to collect (%d examples, model %s: "
                         "%d layers, %d outputs, hidden %d)", n, model->name, d.n_layers,
                         d.n_outputs, d.feat_dim);
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
        if (collect_batch (model, suite, sdata, start, cnt, ex, rows, lowp, &d,
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
    free (ex);
    free (rows);
    free (lowp);
    return rc;
}
