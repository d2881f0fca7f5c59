/*  calm.c -- CALM per-token early exit (Schuster et al., NeurIPS 2022,
    "Confident Adaptive Language Modeling"): after each layer, the token at
    position t exits when the confidence of the LM head on the current
    hidden state reaches the decaying threshold

        lambda_t = clip_[0,1] (0.9 * lambda + 0.1 * exp (-tau * t / N))

    (the paper's eq. for lambda'(lambda, t); t = batch->step, the token
    position, N = `horizon`; tau = 0 gives a constant threshold
    0.9 * lambda + 0.1). Confidence is the paper's "softmax response":
    measure=softmax_diff (default) = p_top1 - p_top2, measure=softmax =
    p_top1. The head is charged by the host at every layer asked (the
    measure's real cost); the top-2 scan is charged 2 per vocabulary entry.
    Exited tokens' upper-layer KV entries are filled from the exited state
    (kv_policy copy-up = CALM's state propagation). Decoder-only LMs and
    the decoder of encoder-decoders (per generated token; the encoder runs
    once in full). */
#include "offramp_plugin.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ofr_host *host;
    double lambda, tau, horizon;
    bool   diff;
} calm_state;

static const ofr_param_decl s_params[] = {
    { "lambda", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "base confidence threshold lambda (exit when confidence >= lambda_t)" },
    { "tau", OFR_PARAM_FLOAT, "4", 0.0, 1000.0,
      "decay rate of the threshold over positions (0 = constant)" },
    { "horizon", OFR_PARAM_FLOAT, "64", 1.0, 1e9,
      "N of the decay: positions over which exp(-tau t / N) decays" },
    { "measure", OFR_PARAM_STRING, "softmax_diff", 1, 0,
      "confidence: softmax_diff (top1 - top2 probability) or softmax (top1)" },
};

static int
calm_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    const char *meas = values[3].s ? values[3].s : "softmax_diff";
    if (strcmp (meas, "softmax_diff") != 0 && strcmp (meas, "softmax") != 0) {
        snprintf (err, errlen, "calm: measure '%s': want softmax_diff or softmax", meas);
        return -1;
    }
    calm_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "calm: out of memory");
        return -1;
    }
    s->host = host;
    s->lambda = values[0].f;
    s->tau = values[1].f;
    s->horizon = values[2].f;
    s->diff = strcmp (meas, "softmax_diff") == 0;
    *state = s;
    return 0;
}

static void
calm_destroy (void *state)
{
    free (state);
}

/* The decaying threshold at position t. */
static double
calm_threshold (const calm_state *s, int t)
{
    double l = 0.9 * s->lambda + 0.1 * exp (-s->tau * (double) t / s->horizon);
    return l < 0 ? 0 : l > 1 ? 1 : l;
}

static int
calm_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const calm_state *s = state;
    int V = batch->n_outputs;
    double thr = calm_threshold (s, batch->step);
    for (int i = 0; i < batch->n_rows; i++) {
        if (layer == batch->n_layers - 1)
            continue;            /* the last layer exits anyway: no head asked */
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        float a = -1, b = -1;    /* top two */
        for (int c = 0; c < V; c++) {
            if (p[c] > a) {
                b = a;
                a = p[c];
            } else if (p[c] > b)
                b = p[c];
        }
        s->host->charge_flops (batch->host_ctx, i, 2.0 * V);
        double conf = s->diff ? (double) a - (b < 0 ? 0 : b) : (double) a;
        if (conf >= thr)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_calm = {
    OFR_METHOD_HEADER,
    .name = "calm",
    .version = "1.0",
    .summary = "CALM (Schuster et al. 2022): per-token exit when softmax(-diff) "
               "confidence >= a threshold decaying over positions",
    .kinds = OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = calm_create,
    .destroy = calm_destroy,
    .after_layer = calm_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_calm;
}
