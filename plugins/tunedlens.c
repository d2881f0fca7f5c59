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

    The head is the model's: RMSNorm (lm.final_norm) for Llama-family
    models, LayerNorm with bias (lm.final_layernorm, _bias) for GPT-2 /
    GPT-NeoX, then lm.classifier. Every matmul is OpenBLAS (the project's
    rule): the map and the head are one sgemm each over the batch's rows,
    sgemv when there is one row.

    Charged per layer asked: the map 2 d^2 + d, the head 4 d + 2 d V +
    5 V (norm, classifier, softmax), the top-2 scan 2 V. Layers above an
    exit: kv=copy_up (default), recompute or mask, as calm. */
#include "offramp_plugin.h"

#include <cblas.h>
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
    const float *norm, *bias, *cls;   /* bias: LayerNorm heads only          */
    float  eps;
    int    L, d, V;
    float *x, *h, *p;      /* [rows][d] gathered states, translated/normed,
                              [rows][V] logits then probabilities          */
    int    cap_rows;
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
    free (s->x);
    free (s->h);
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
    float *T = malloc (nd * sizeof (float));
    int rc = -1;
    if (!blob || !X || !Y || !T) {
        snprintf (err, errlen, "tunedlens: out of memory (%zu bytes of maps, %zu of "
                  "states)", size, 3 * nd * sizeof (float));
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
        /* T = X A + b, the translated states, for the log. */
        for (int i = 0; i < n; i++)
            memcpy (T + (size_t) i * d, b, (size_t) d * sizeof (float));
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, d, 1.0f, X, d, A, d,
                     1.0f, T, d);
        double raw = 0, lens = 0;
        for (int i = 0; i < n; i++) {
            raw += sq_dist (X + (size_t) i * d, Y + (size_t) i * d, d);
            lens += sq_dist (T + (size_t) i * d, Y + (size_t) i * d, d);
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
    free (T);
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
    /* RMSNorm head (Llama family), else LayerNorm with bias (GPT-2 / NeoX). */
    size_t nb = 0;
    s->norm = s->host->model_tensor (batch->host_ctx, "lm.final_norm", &nn);
    s->bias = NULL;
    if (!s->norm) {
        s->norm = s->host->model_tensor (batch->host_ctx, "lm.final_layernorm", &nn);
        s->bias = s->host->model_tensor (batch->host_ctx, "lm.final_layernorm_bias", &nb);
        if (s->norm && (!s->bias || nb != (size_t) d))
            s->norm = NULL;
    }
    s->cls = s->host->model_tensor (batch->host_ctx, "lm.classifier", &nc);
    const float *eps = s->host->model_tensor (batch->host_ctx, "lm.norm_eps", &ne);
    if (!s->norm || !s->cls || !eps || nn != (size_t) d || ne != 1
        || nc != (size_t) d * batch->n_outputs) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "tunedlens: the model exposes no "
                      "LM head (lm.final_norm or lm.final_layernorm + _bias, "
                      "lm.classifier [%d x %d], lm.norm_eps)", batch->n_outputs, d);
        return -1;
    }
    s->eps = eps[0];
    s->maps = (const float *) (blob + sizeof hd);
    s->L = batch->n_layers;
    s->d = d;
    s->V = batch->n_outputs;
    return 0;
}

/* Row buffers for n rows (grown, never shrunk). */
static int
lens_reserve (lens_state *s, int n)
{
    if (n <= s->cap_rows)
        return 0;
    float *x = malloc ((size_t) n * s->d * sizeof (float));
    float *h = malloc ((size_t) n * s->d * sizeof (float));
    float *p = malloc ((size_t) n * s->V * sizeof (float));
    if (!x || !h || !p) {
        free (x);
        free (h);
        free (p);
        return -1;
    }
    free (s->x);
    free (s->h);
    free (s->p);
    s->x = x, s->h = h, s->p = p, s->cap_rows = n;
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

/* The head's norm of one translated state, in place. */
static void
lens_norm (const lens_state *s, float *h)
{
    int d = s->d;
    if (!s->bias) {
        float ss = 0;
        for (int j = 0; j < d; j++)
            ss += h[j] * h[j];
        float sc = 1.0f / sqrtf (ss / (float) d + s->eps);
        for (int j = 0; j < d; j++)
            h[j] = s->norm[j] * (sc * h[j]);
        return;
    }
    /* Two-pass mean and biased variance, as the model's own head. */
    float mean = 0, var = 0;
    for (int j = 0; j < d; j++)
        mean += h[j];
    mean /= (float) d;
    for (int j = 0; j < d; j++)
        var += (h[j] - mean) * (h[j] - mean);
    float sc = 1.0f / sqrtf (var / (float) d + s->eps);
    for (int j = 0; j < d; j++)
        h[j] = (h[j] - mean) * sc * s->norm[j] + s->bias[j];
}

/* Rows x[0..n) of layer's states -> translated (A x + b) -> final norm ->
   head -> softmax, into s->p [n][V]. A is stored [k][j] (h_j = sum_k x_k
   A_kj), so H = X A; the classifier [V][d], so logits = Z C^T. */
static void
lens_probs (lens_state *s, int layer, int n)
{
    int d = s->d, V = s->V;
    const float *A = s->maps + (size_t) layer * ((size_t) d * d + d), *b = A + (size_t) d * d;
    for (int i = 0; i < n; i++)
        memcpy (s->h + (size_t) i * d, b, (size_t) d * sizeof (float));
    if (n == 1) {
        cblas_sgemv (CblasRowMajor, CblasTrans, d, d, 1.0f, A, d, s->x, 1, 1.0f, s->h, 1);
        lens_norm (s, s->h);
        cblas_sgemv (CblasRowMajor, CblasNoTrans, V, d, 1.0f, s->cls, d, s->h, 1, 0.0f,
                     s->p, 1);
    } else {
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, d, 1.0f, s->x, d,
                     A, d, 1.0f, s->h, d);
        for (int i = 0; i < n; i++)
            lens_norm (s, s->h + (size_t) i * d);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, V, d, 1.0f, s->h, d,
                     s->cls, d, 0.0f, s->p, V);
    }
    for (int i = 0; i < n; i++) {
        float *p = s->p + (size_t) i * V, mx = -INFINITY, sum = 0;
        for (int c = 0; c < V; c++)
            mx = p[c] > mx ? p[c] : mx;
        for (int c = 0; c < V; c++)
            sum += p[c] = expf (p[c] - mx);
        for (int c = 0; c < V; c++)
            p[c] /= sum;
    }
}

static int
lens_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    lens_state *s = state;
    if (layer == batch->n_layers - 1 || !s->maps)
        return s->maps ? 0 : -1;
    double l = 0.9 * s->lambda + 0.1 * exp (-s->tau * (double) batch->step / s->horizon);
    double thr = l < 0 ? 0 : l > 1 ? 1 : l, d = s->d, V = s->V;
    int n = batch->n_rows;
    if (n < 1)
        return 0;
    if (lens_reserve (s, n) != 0) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "tunedlens: out of memory for %d "
                      "rows of %d states and %d outputs", n, s->d, s->V);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int dim = 0;
        const float *x = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!x || dim != s->d)
            return -1;
        memcpy (s->x + (size_t) i * s->d, x, (size_t) s->d * sizeof (float));
    }
    lens_probs (s, layer, n);
    for (int i = 0; i < n; i++) {
        const float *p = s->p + (size_t) i * s->V;
        s->host->charge_flops (batch->host_ctx, i, 2 * d * d + d + 4 * d + 2 * d * V
                                                   + 5 * V + 2 * V);
        float a = -1, b = -1;
        for (int c = 0; c < s->V; c++) {
            if (p[c] > a) {
                b = a;
                a = p[c];
            } else if (p[c] > b)
                b = p[c];
        }
        if (s->host->set_exit_probs (batch->host_ctx, i, layer, p) != 0)
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
