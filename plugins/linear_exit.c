/*  linear_exit.c -- fitted linear exit heads for backbones without (good)
    exit heads: one softmax regression per layer on the frozen model's
    features (the [CLS] state for encoders), fitted by `offramp fit` with
    the host's L-BFGS (host->fit_softmax, ridge penalty `l2`), in the
    spirit of DeeBERT's second training stage with the backbone frozen.

    After layer l the row's prediction is p = softmax (W_l x + b_l) from
    the layer's feature x (host token_state, else hidden_state: the same
    rule the host used when collecting the fitting features). It exits at
    the first layer with max p >= `threshold`, or at layer `layer` when
    that is set (static truncation with the fitted heads, for comparing
    heads layer by layer). The fitted head replaces the model's
    (set_exit_probs), which is then neither run nor charged; the plugin
    charges its own 2*d*K matmul plus the softmax (docs/FLOPS.md).

    Artifact "heads": "OFRLINX1", int32 n_layers, n_outputs, feat_dim,
    then per layer W [K][d] and b [K], float32, host byte order. */
#include "offramp_plugin.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC          "OFRLINX1"
#define HEADER_BYTES   (8 + 3 * sizeof (int32_t))
#define FLOPS_SOFTMAX  5.0      /* per class, docs/FLOPS.md */

typedef struct {
    const ofr_host *host;
    double       threshold, l2;
    int          max_iter, layer;
    const float *heads;         /* artifact body: per layer W [K][d], b [K] */
    int          L, K, d;
    float       *probs;         /* [K] scratch */
} lx_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "exit when the fitted head's max probability reaches this" },
    { "layer", OFR_PARAM_INT, "0", 0, 1024,
      "exit at this layer (1-based) whatever the confidence; 0 = threshold rule" },
    { "l2", OFR_PARAM_FLOAT, "1.0", 0.0, 1e9,
      "fit: ridge penalty on the head weights (fit_softmax's l2)" },
    { "max_iter", OFR_PARAM_INT, "500", 1, 100000,
      "fit: L-BFGS iterations per head" },
};

static int
lx_create (const ofr_host *host, const ofr_value *v, void **state, char *err, size_t errlen)
{
    lx_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "linear_exit: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = v[0].f;
    s->layer = (int) v[1].i;
    s->l2 = v[2].f;
    s->max_iter = (int) v[3].i;
    *state = s;
    return 0;
}

static void
lx_destroy (void *state)
{
    lx_state *s = state;
    if (s)
        free (s->probs);
    free (s);
}

/* Fraction of examples whose argmax of p [n][stride] (at offset) is y. */
static double
accuracy (const float *p, size_t stride, const int *y, int n, int K)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        const float *q = p + (size_t) i * stride;
        int best = 0;
        for (int c = 1; c < K; c++)
            best = q[c] > q[best] ? c : best;
        right += best == y[i];
    }
    return n > 0 ? (double) right / n : 0;
}

/* p = softmax (W x + b) into out [K]. */
static void
head_probs (const float *W, const float *b, const float *x, int d, int K, float *out)
{
    double mx = -HUGE_VAL, sum = 0;
    for (int c = 0; c < K; c++) {
        double z = b[c];
        const float *w = W + (size_t) c * d;
        for (int k = 0; k < d; k++)
            z += (double) w[k] * x[k];
        out[c] = (float) z;
        mx = z > mx ? z : mx;
    }
    for (int c = 0; c < K; c++)
        sum += (out[c] = (float) exp (out[c] - mx));
    for (int c = 0; c < K; c++)
        out[c] = (float) (out[c] / sum);
}

static int
lx_fit (void *state, const ofr_fit_ctx *ctx, char *err, size_t errlen)
{
    lx_state *s = state;
    int n = ctx->n_examples, L = ctx->n_layers, K = ctx->n_outputs, d = ctx->feat_dim;
    if (!ctx->features || d < 1 || n < 1 || L < 1) {
        snprintf (err, errlen, "linear_exit: the host collected no features");
        return -1;
    }
    if (K < 2) {
        snprintf (err, errlen, "linear_exit: needs a classifier (got %d outputs)", K);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ctx->labels[i] < 0 || ctx->labels[i] >= K) {
            snprintf (err, errlen, "linear_exit: example %d of %s has label %d, expected "
                      "0..%d", i, ctx->split_desc, ctx->labels[i], K - 1);
            return -1;
        }
    size_t per_layer = (size_t) K * d + K;
    size_t size = HEADER_BYTES + (size_t) L * per_layer * sizeof (float);
    unsigned char *blob = malloc (size);
    float *X = malloc ((size_t) n * d * sizeof (float));
    float *P = malloc ((size_t) n * K * sizeof (float));
    int rc = -1;
    if (!blob || !X || !P) {
        snprintf (err, errlen, "linear_exit: out of memory for %d x %d features", n, d);
        goto out;
    }
    int32_t hdr[3] = { L, K, d };
    memcpy (blob, MAGIC, 8);
    memcpy (blob + 8, hdr, sizeof hdr);
    float *heads = (float *) (blob + HEADER_BYTES);
    for (int l = 0; l < L; l++) {
        float *W = heads + (size_t) l * per_layer, *b = W + (size_t) K * d;
        for (int i = 0; i < n; i++)
            memcpy (X + (size_t) i * d, ctx->features + ((size_t) i * L + l) * d,
                    (size_t) d * sizeof (float));
        if (s->host->fit_softmax (X, ctx->labels, n, d, K, s->l2, s->max_iter, W, b) != 0) {
            snprintf (err, errlen, "linear_exit: fit_softmax failed for layer %d", l + 1);
            goto out;
        }
        for (int i = 0; i < n; i++)
            head_probs (W, b, X + (size_t) i * d, d, K, P + (size_t) i * K);
        s->host->log (ctx->host_ctx, OFR_LOG_INFO, "layer %d: fitted head %.2f%%, model "
                      "head %.2f%% on %s", l + 1, 100 * accuracy (P, K, ctx->labels, n, K),
                      100 * accuracy (ctx->probs + (size_t) l * K, (size_t) L * K,
                                      ctx->labels, n, K), ctx->split_desc);
    }
    if (s->host->artifact_save (ctx->host_ctx, "heads", blob, size) != 0) {
        snprintf (err, errlen, "linear_exit: saving the heads failed");
        goto out;
    }
    rc = 0;
out:
    free (blob);
    free (X);
    free (P);
    return rc;
}

/* The artifact is needed from the first batch on; loaded once. */
static int
lx_begin (void *state, const ofr_batch *batch)
{
    lx_state *s = state;
    if (s->heads)
        return s->L == batch->n_layers && s->K == batch->n_outputs ? 0 : -1;
    if (s->host->struct_size < offsetof (ofr_host, set_exit_probs) + sizeof s->host->set_exit_probs
        || !s->host->set_exit_probs) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "linear_exit: the host has no "
                      "set_exit_probs (ABI 1.1)");
        return -1;
    }
    size_t size = 0;
    const unsigned char *blob = s->host->artifact_load (batch->host_ctx, "heads", &size);
    if (!blob)
        return -1;      /* the host logged why, with the fit command */
    int32_t hdr[3] = { 0, 0, 0 };
    if (size >= HEADER_BYTES)
        memcpy (hdr, blob + 8, sizeof hdr);
    size_t want = HEADER_BYTES + (size_t) (hdr[0] > 0 ? hdr[0] : 0)
                  * ((size_t) (hdr[1] > 0 ? hdr[1] : 0) * (hdr[2] > 0 ? hdr[2] : 0)
                     + (hdr[1] > 0 ? hdr[1] : 0)) * sizeof (float);
    if (size < HEADER_BYTES || memcmp (blob, MAGIC, 8) != 0 || hdr[0] < 1 || hdr[1] < 1
        || hdr[2] < 1 || size != want) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "linear_exit: artifact 'heads' is "
                      "not a linear_exit heads file (%zu bytes)", size);
        return -1;
    }
    if (hdr[0] != batch->n_layers || hdr[1] != batch->n_outputs) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "linear_exit: heads were fitted for "
                      "%d layers x %d outputs, the model has %d x %d: re-run offramp fit",
                      hdr[0], hdr[1], batch->n_layers, batch->n_outputs);
        return -1;
    }
    if (!(s->probs = malloc ((size_t) hdr[1] * sizeof *s->probs))) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "linear_exit: out of memory");
        return -1;
    }
    s->L = hdr[0];
    s->K = hdr[1];
    s->d = hdr[2];
    /* The host keeps the blob until destroy; the 20-byte header keeps the
       floats 4-byte aligned in its malloc'ed buffer, so they are used in place. */
    s->heads = (const float *) (const void *) (blob + HEADER_BYTES);
    return 0;
}

static int
lx_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    lx_state *s = state;
    int d = s->d, K = s->K;
    const float *W = s->heads + (size_t) layer * ((size_t) K * d + K), *b = W + (size_t) K * d;
    for (int i = 0; i < batch->n_rows; i++) {
        int dim = 0;
        const float *x = s->host->token_state ? s->host->token_state (batch->host_ctx, i, &dim)
                                              : NULL;
        if (!x)
            x = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!x || dim != d) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "linear_exit: feature of width "
                          "%d at layer %d, the heads were fitted on width %d", dim,
                          layer + 1, d);
            return -1;
        }
        head_probs (W, b, x, d, K, s->probs);
        s->host->charge_flops (batch->host_ctx, i, 2.0 * d * K + FLOPS_SOFTMAX * K);
        if (s->host->set_exit_probs (batch->host_ctx, i, layer, s->probs) != 0)
            return -1;
        float mx = s->probs[0];
        for (int c = 1; c < K; c++)
            mx = s->probs[c] > mx ? s->probs[c] : mx;
        if (s->layer > 0 ? layer + 1 >= s->layer : mx >= s->threshold)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_linear_exit = {
    OFR_METHOD_HEADER,
    .name = "linear_exit",
    .version = "1.0",
    .summary = "fitted softmax-regression exit head per layer on frozen features; exit at max prob >= threshold",
    .kinds = OFR_KIND_ENCODER,
    .flags = OFR_METHOD_NEEDS_FIT,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = lx_create,
    .destroy = lx_destroy,
    .fit = lx_fit,
    .begin = lx_begin,
    .after_layer = lx_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_linear_exit;
}
