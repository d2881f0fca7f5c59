/*  quee.c -- QuEE-style early exit with reduced-precision continuation
    (joint early exiting and dynamic quantization): after every layer a row
    exits, continues in full precision, or continues in reduced precision.
    The rule here, on the exit head's top class probability m_i after
    layer i:

        m_i >= exit_threshold                   exit after layer i
        lowp_threshold <= m_i < exit_threshold  run layer i+1 as OFR_RUN_LOWP
        m_i < lowp_threshold                    run layer i+1 in full

    The first layer always runs in full: nothing is known yet. A row that
    is nearly sure is unlikely to change its mind, so the cheaper layer
    costs little accuracy; an unsure one gets the full layer. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    float    exit_threshold, lowp_threshold;
    int      cap;
    uint8_t *lowp;          /* [cap] run the next layer in low precision */
} quee_state;

static const ofr_param_decl s_params[] = {
    { "exit_threshold", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "exit when the top class probability reaches this" },
    { "lowp_threshold", OFR_PARAM_FLOAT, "0.6", 0.0, 1.0,
      "below exit_threshold, run the next layer in reduced precision from this top probability on" },
};

static int
quee_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    if (values[1].f >= values[0].f) {
        snprintf (err, errlen, "quee: lowp_threshold=%g must be below exit_threshold=%g",
                  values[1].f, values[0].f);
        return -1;
    }
    quee_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "quee: out of memory");
        return -1;
    }
    s->host = host;
    /* Compared with float probabilities: 0.9 means 0.9f. */
    s->exit_threshold = (float) values[0].f;
    s->lowp_threshold = (float) values[1].f;
    *state = s;
    return 0;
}

static void
quee_destroy (void *state)
{
    quee_state *s = state;
    if (s)
        free (s->lowp);
    free (s);
}

static int
quee_begin (void *state, const ofr_batch *batch)
{
    quee_state *s = state;
    if (batch->n_outputs < 2) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "quee: needs a classifier "
                      "(n_outputs >= 2), this model has %d output(s)", batch->n_outputs);
        return -1;
    }
    if (batch->batch_size > s->cap) {
        free (s->lowp);
        s->lowp = calloc ((size_t) batch->batch_size, 1);
        s->cap = s->lowp ? batch->batch_size : 0;
        if (!s->lowp) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "quee: out of memory");
            return -1;
        }
    }
    for (int r = 0; r < batch->batch_size; r++)
        s->lowp[r] = 0;
    return 0;
}

static int
quee_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const quee_state *s = state;
    (void) layer;
    for (int i = 0; i < batch->n_rows; i++)
        actions[i] = s->lowp[batch->row_ids[i]] ? OFR_RUN_LOWP : OFR_RUN;
    return 0;
}

static int
quee_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    quee_state *s = state;
    int K = batch->n_outputs;
    for (int i = 0; i < batch->n_rows; i++) {
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        float top = p[0];
        for (int c = 1; c < K; c++)
            if (p[c] > top)
                top = p[c];
        s->host->charge_flops (batch->host_ctx, i, (double) K);
        if (top >= s->exit_threshold)
            actions[i] = OFR_EXIT;
        else
            s->lowp[batch->row_ids[i]] = top >= s->lowp_threshold;
    }
    return 0;
}

static const ofr_method s_quee = {
    OFR_METHOD_HEADER,
    .name = "quee",
    .version = "1.0",
    .summary = "QuEE-style: exit, continue, or continue in reduced precision by top class probability",
    .kinds = OFR_KIND_ENCODER,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = quee_create,
    .destroy = quee_destroy,
    .begin = quee_begin,
    .before_layer = quee_before_layer,
    .after_layer = quee_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_quee;
}
