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
    measure=state is the paper's hidden-state saturation: cos (h_in, h_out)
    of the token's state entering and leaving the layer (the head is then
    run only once, at the exit), charged 6 d + 3 per layer; where the
    vocabulary projection dwarfs a layer (Multi30k: 2 d V against ~28 d^2)
    it is the only confidence cheap enough to save FLOPs.
    Exited tokens' upper-layer KV entries are filled from the exited state
    (kv_policy copy-up = CALM's state propagation), or with kv=recompute
    by running their missing layers lazily when a later token needs them
    (decoder-only LMs), or not at all (kv=mask). Decoder-only LMs and
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
    int    kv;
    /* measure=state: each row's state entering the layer ([rows][dim]). */
    bool   state;
    int    dim;
    size_t cap;
    float *prev;
} calm_state;

static const ofr_param_decl s_params[] = {
    { "lambda", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "base confidence threshold lambda (exit when confidence >= lambda_t)" },
    { "tau", OFR_PARAM_FLOAT, "4", 0.0, 1000.0,
      "decay rate of the threshold over positions (0 = constant)" },
    { "horizon", OFR_PARAM_FLOAT, "64", 1.0, 1e9,
      "N of the decay: positions over which exp(-tau t / N) decays" },
    { "measure", OFR_PARAM_STRING, "softmax_diff", 1, 0,
      "confidence: softmax_diff (top1 - top2 probability), softmax (top1) or state "
      "(cosine of the layer's input and output states: no head, O(d))" },
    { "kv", OFR_PARAM_STRING, "copy_up", 1, 0,
      "K/V of the layers above an exit: copy_up (propagate the exited state), "
      "recompute (run them lazily when needed) or mask" },
};

static int
calm_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    const char *meas = values[3].s ? values[3].s : "softmax_diff";
    if (strcmp (meas, "softmax_diff") != 0 && strcmp (meas, "softmax") != 0
        && strcmp (meas, "state") != 0) {
        snprintf (err, errlen, "calm: measure '%s': want softmax_diff, softmax or state", meas);
        return -1;
    }
    const char *kv = values[4].s ? values[4].s : "copy_up";
    int policy = !strcmp (kv, "copy_up") ? OFR_KV_COPY_UP
               : !strcmp (kv, "recompute") ? OFR_KV_RECOMPUTE
               : !strcmp (kv, "mask") ? OFR_KV_MASK : -1;
    if (policy < 0) {
        snprintf (err, errlen, "calm: kv '%s': want copy_up, recompute or mask", kv);
        return -1;
    }
    calm_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "calm: out of memory");
        return -1;
    }
    s->kv = policy;
    s->host = host;
    s->lambda = values[0].f;
    s->tau = values[1].f;
    s->horizon = values[2].f;
    s->diff = strcmp (meas, "softmax_diff") == 0;
    s->state = strcmp (meas, "state") == 0;
    *state = s;
    return 0;
}

static void
calm_destroy (void *state)
{
    calm_state *s = state;
    if (s)
        free (s->prev);
    free (s);
}

/* The decaying threshold at position t. */
static double
calm_threshold (const calm_state *s, int t)
{
    double l = 0.9 * s->lambda + 0.1 * exp (-s->tau * (double) t / s->horizon);
    return l < 0 ? 0 : l > 1 ? 1 : l;
}

/* measure=state: keep each row's state entering the layer. */
static int
calm_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    calm_state *s = state;
    (void) actions;
    if (!s->state || layer == batch->n_layers - 1)
        return 0;
    for (int i = 0; i < batch->n_rows; i++) {
        int dim = 0, r = batch->row_ids[i];
        const float *h = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!h || dim < 1 || r < 0 || r >= batch->batch_size)
            return -1;
        size_t need = (size_t) batch->batch_size * (size_t) dim;
        if (dim != s->dim || need > s->cap) {
            float *p = realloc (s->prev, need * sizeof *p);
            if (!p)
                return -1;
            s->prev = p;
            s->cap = need;
            s->dim = dim;
        }
        memcpy (s->prev + (size_t) r * dim, h, (size_t) dim * sizeof *h);
    }
    return 0;
}

/*  CALM's hidden-state saturation: cos (h_in, h_out) of the layer just run,
    3 dot products of the state width (charged 6 d + 3). */
static int
state_after_layer (const calm_state *s, const ofr_batch *batch, int layer, uint8_t *actions)
{
    double thr = calm_threshold (s, batch->step);
    for (int i = 0; i < batch->n_rows; i++) {
        if (layer == batch->n_layers - 1)
            continue;
        int dim = 0, r = batch->row_ids[i];
        const float *h = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!h || dim != s->dim || !s->prev || r < 0 || r >= batch->batch_size)
            return -1;
        const float *g = s->prev + (size_t) r * dim;
        double hg = 0, hh = 0, gg = 0;
        for (int j = 0; j < dim; j++) {
            hg += (double) h[j] * g[j];
            hh += (double) h[j] * h[j];
            gg += (double) g[j] * g[j];
        }
        s->host->charge_flops (batch->host_ctx, i, 6.0 * dim + 3);
        double cs = hh > 0 && gg > 0 ? hg / sqrt (hh * gg) : 0;
        if (cs >= thr)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static int
calm_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const calm_state *s = state;
    if (s->state)
        return state_after_layer (s, batch, layer, actions);
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

static int
calm_kv_policy (void *state)
{
    return ((const calm_state *) state)->kv;
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
    .before_layer = calm_before_layer,
    .after_layer = calm_after_layer,
    .cell_kv_policy = calm_kv_policy,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_calm;
}
