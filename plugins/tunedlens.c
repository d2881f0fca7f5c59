/*  tunedlens.c -- CALM-style per-token early exit (Schuster et al. 2022)
    read through tuned-lens translators (Belrose et al. 2023, "Eliciting
    Latent Predictions from Transformers with the Tuned Lens"): after layer
    l the token's hidden state h goes through a per-layer affine map
    A_l h + b_l fitted to the model's final pre-norm state, then the
    model's own final norm and LM head; the token exits when that
    distribution's top1 - top2 probability reaches CALM's decaying
    threshold (0.9 lambda + 0.1 exp (-tau t / N)), predicting from it.

    fit(): `offramp fit --suite tinystories_gen --split train` hands it,
    for every position of the model's text after the train openings, the
    hidden state after each layer; A_l, b_l are ridge regression in closed
    form (host->fit_ridge, OpenBLAS) from layer l's states to the last
    layer's, one artifact "lens" [magic, L, d, then (A_l [d][d], b_l [d])
    for l < L-1]. The fit logs, per layer, the mean squared distance to
    the final state of the raw state and of the translated one.

    Charged per layer asked: the map 2 d^2 + d, the head 4 d + 2 d V +
    5 V (norm, classifier, softmax), the top-2 scan 2 V. Layers above an
    exit: kv=copy_up (default), recompute or mask, as calm. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LENS_MAGIC 0x534e454cu   /* "LENS" */

typedef struct {
    uint32_t magic;
    int32_t  n_layers, dim;
} lens_header;

typedef struct {
    const ofr_host *host;
    double lambda, tau, horizon, l2;
    int    kv;
    /* Loaded at the first begin. */
    const float *maps;     /* (A_l, b_l) for l < L-1, inside the artifact  */
    const float *norm, *cls;
    float  eps;
    int    L, d, V;
    float *h, *z, *p;      /* [d], [d], [V]                                */
} lens_state;

static const ofr_param_decl s_params[] = {
    { "lambda", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "base confidence threshold lambda (exit when top1 - top2 >= lambda_t)" },
    { "tau", OFR_PARAM_FLOAT, "4", 0.0, 1000.0, "decay rate of the threshold (0 = constant)" },
    { "horizon", OFR_PARAM_FLOAT, "64", 1.0, 1e9, "N of the decay exp(-tau t / N)" },
    { "l2", OFR_PARAM_FLOAT, "1", 0.0, 1e9, "fit: ridge penalty on the maps" },
    { "kv", OFR_PARAM_STRING, "copy_up", 1, 0,
      "K/V of the layers above an exit: copy_up, recompute or mask" },
};

static int
lens_create (const ofr_host *host, const ofr_value *values, void **state, char *err,
             size_t errlen)
{
    const char *kv = values[4].s ? values[4].s : "copy_up";
    int policy = !strcmp (kv, "copy_up") ? OFR_KV_COPY_UP
               : !strcmp (kv, "recompute") ? OFR_KV_RECOMPUTE
               : !strcmp (kv, "mask") ? OFR_KV_MASK : -1;
    if (policy < 0) {
        snprintf (err, errlen, "tunedlens: kv '%s': want copy_up, recompute or mask", kv);
        return -1;
    }
    lens_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "tunedlens: out of memory");
        return -1;
    }
    s->host = host;
    s->lambda = values[0].f;
    s->tau = values[1].f;
    s->horizon = values[2].f;
    s->l2 = values[3].f;
    s->kv = policy;
    *state = s;
    return 0;
}

static void
lens_destroy (void *state)
{
    lens_state *s = state;
    if (!s)
        return;
    free (s->h);
    free (s->z);
    free (s->p);
    free (s);
}

static int
lens_kv_policy (void *state)
{
    return ((const lens_state *) state)->kv;
}

static double
sq_dist (const float *a, const float *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += ((double) a[j] - b[j]) * ((double) a[j] - b[j]);
    return s;
}

static int
lens_fit (void *state, const ofr_fit_ctx *ctx, char *err, size_t errlen)
{
    lens_state *s = state;
    int n = ctx->n_examples, L = ctx->n_layers, d = ctx->feat_dim;
    if (!ctx->features || n < 2 || L < 2 || d < 1 || !s->host->fit_ridge) {
        snprintf (err, errlen, "tunedlens: needs hidden states of >= 2 positions and "
                  "layers (got %d positions, %d layers, dim %d) and the host's ridge fit",
                  n, L, d);
        return -1;
    }
    size_t per = (size_t) d * d + d, nd = (size_t) n * d;
    size_t size = sizeof (lens_header) + (size_t) (L - 1) * per * sizeof (float);
    unsigned char *blob = calloc (1, size);
    float *X = malloc (nd * sizeof (float)), *Y = malloc (nd * sizeof (float));
    int rc = -1;
    if (!blob || !X || !Y) {
        snprintf (err, errlen, "tunedlens: out of memory (%zu bytes of maps, %zu of "
                  "states)", size, 2 * nd * sizeof (float));
        goto out;
    }
    lens_header hd = { LENS_MAGIC, L, d };
    memcpy (blob, &hd, sizeof hd);
    float *maps = (float *) (blob + sizeof hd);
    for (int i = 0; i < n; i++)
        memcpy (Y + (size_t) i * d, ctx->features + ((size_t) i * L + L - 1) * d,
                (size_t) d * sizeof (float));
    for (int l = 0; l < L - 1; l++) {
        for (int i = 0; i < n; i++)
            memcpy (X + (size_t) i * d, ctx->features + ((size_t) i * L + l) * d,
                    (size_t) d * sizeof (float));
        float *A = maps + (size_t) l * per, *b = A + (size_t) d * d;
        if (s->host->fit_ridge (X, Y, n, d, d, s->l2, A, b) != 0) {
            snprintf (err, errlen, "tunedlens: ridge fit of layer %d failed (%d positions, "
                      "dim %d, l2 %g)", l + 1, n, d, s->l2);
            goto out;
        }
        double raw = 0, lens = 0;
        for (int i = 0; i < n; i++) {
            const float *x = X + (size_t) i * d, *y = Y + (size_t) i * d;
            raw += sq_dist (x, y, d);
            double e = 0;
            for (int j = 0; j < d; j++) {
                double t = b[j];
                for (int k = 0; k < d; k++)
                    t += (double) x[k] * A[(size_t) k * d + j];
                e += (t - y[j]) * (t - y[j]);
            }
            lens += e;
        }
        s->host->log (ctx->host_ctx, OFR_LOG_INFO, "tunedlens: layer %d: mean squared "
                      "distance to the final state %.4g raw, %.4g translated (%s)", l + 1,
                      raw / n, lens / n, ctx->split_desc ? ctx->split_desc : "?");
    }
    if (s->host->artifact_save (ctx->host_ctx, "lens", blob, size) != 0) {
        snprintf (err, errlen, "tunedlens: saving the artifact failed");
        goto out;
    }
    rc = 0;
out:
    free (blob);
    free (X);
    free (Y);
    return rc;
}

/* The artifact and the head's weights, once per cell. */
static int
lens_load (lens_state *s, const ofr_batch *batch)
{
    size_t size = 0, nn = 0, nc = 0, ne = 0;
    const unsigned char *blob = s->host->artifact_load (batch->host_ctx, "lens", &size);
    lens_header hd;
    int d = 0;
    if (!s->host->hidden_state (batch->host_ctx, 0, &d) || !blob || size < sizeof hd) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "tunedlens: no fitted artifact "
                      "\"lens\" (run offramp fit --method tunedlens --suite "
                      "tinystories_gen --split train)");
        return -1;
    }
    memcpy (&hd, blob, sizeof hd);
    size_t want = sizeof hd + (size_t) (batch->n_layers - 1)
                * ((size_t) d * d + d) * sizeof (float);
    if (hd.magic != LENS_MAGIC || hd.n_layers != batch->n_layers || hd.dim != d
        || size != want) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "tunedlens: artifact \"lens\" is for "
                      "%d layers x %d (%zu bytes), the model has %d x %d", hd.n_layers,
                      hd.dim, size, batch->n_layers, d);
        return -1;
    }
    s->norm = s->host->model_tensor (batch->host_ctx, "lm.final_norm", &nn);
    s->cls = s->host->model_tensor (batch->host_ctx, "lm.classifier", &nc);
    const float *eps = s->host->model_tensor (batch->host_ctx, "lm.norm_eps", &ne);
    if (!s->norm || !s->cls || !eps || nn != (size_t) d || ne != 1
        || nc != (size_t) d * batch->n_outputs) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "tunedlens: the model exposes no "
                      "RMSNorm LM head (lm.final_norm, lm.classifier, lm.norm_eps)");
        return -1;
    }
    s->h = calloc ((size_t) d, sizeof (float));
    s->z = calloc ((size_t) d, sizeof (float));
    s->p = calloc ((size_t) batch->n_outputs, sizeof (float));
    if (!s->h || !s->z || !s->p)
        return -1;
    s->eps = eps[0];
    s->maps = (const float *) (blob + sizeof hd);
    s->L = batch->n_layers;
    s->d = d;
    s->V = batch->n_outputs;
    return 0;
}

static int
lens_begin (void *state, const ofr_batch *batch)
{
    lens_state *s = state;
    if (s->maps)
        return s->L == batch->n_layers && s->V == batch->n_outputs ? 0 : -1;
    return lens_load (s, batch);
}

/* Translated state -> final norm -> head -> softmax into s->p. */
static void
lens_probs (lens_state *s, int layer, const float *x)
{
    int d = s->d, V = s->V;
    const float *A = s->maps + (size_t) layer * ((size_t) d * d + d), *b = A + (size_t) d * d;
    for (int j = 0; j < d; j++)
        s->h[j] = b[j];
    for (int k = 0; k < d; k++)
        for (int j = 0; j < d; j++)
            s->h[j] += x[k] * A[(size_t) k * d + j];
    float ss = 0;
    for (int j = 0; j < d; j++)
        ss += s->h[j] * s->h[j];
    float sc = 1.0f / sqrtf (ss / (float) d + s->eps);
    for (int j = 0; j < d; j++)
        s->z[j] = s->norm[j] * (sc * s->h[j]);
    float mx = -INFINITY, sum = 0;
    for (int c = 0; c < V; c++) {
        float t = 0;
        for (int j = 0; j < d; j++)
            t += s->cls[(size_t) c * d + j] * s->z[j];
        s->p[c] = t;
        mx = t > mx ? t : mx;
    }
    for (int c = 0; c < V; c++)
        sum += s->p[c] = expf (s->p[c] - mx);
    for (int c = 0; c < V; c++)
        s->p[c] /= sum;
}

static int
lens_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    lens_state *s = state;
    if (layer == batch->n_layers - 1 || !s->maps)
        return s->maps ? 0 : -1;
    double l = 0.9 * s->lambda + 0.1 * exp (-s->tau * (double) batch->step / s->horizon);
    double thr = l < 0 ? 0 : l > 1 ? 1 : l, d = s->d, V = s->V;
    for (int i = 0; i < batch->n_rows; i++) {
        int dim = 0;
        const float *x = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!x || dim != s->d)
            return -1;
        lens_probs (s, layer, x);
        s->host->charge_flops (batch->host_ctx, i, 2 * d * d + d + 4 * d + 2 * d * V
                                                   + 5 * V + 2 * V);
        float a = -1, b = -1;
        for (int c = 0; c < s->V; c++) {
            if (s->p[c] > a) {
                b = a;
                a = s->p[c];
            } else if (s->p[c] > b)
                b = s->p[c];
        }
        if (s->host->set_exit_probs (batch->host_ctx, i, layer, s->p) != 0)
            return -1;
        if ((double) a - (b < 0 ? 0 : b) >= thr)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_lens = {
    OFR_METHOD_HEADER,
    .name = "tunedlens",
    .version = "1.0",
    .summary = "CALM exit (top1 - top2 >= decaying threshold) on tuned-lens translated "
               "states (per-layer affine maps fitted by ridge regression, Belrose 2023)",
    .kinds = OFR_KIND_DECODER,
    .flags = OFR_METHOD_NEEDS_FIT,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = lens_create,
    .destroy = lens_destroy,
    .fit = lens_fit,
    .begin = lens_begin,
    .after_layer = lens_after_layer,
    .cell_kv_policy = lens_kv_policy,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_lens;
}
