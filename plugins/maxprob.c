/*  maxprob.c -- max-probability confidence (Schwartz et al., ACL 2020,
    "The Right Tool for the Job"; CALM's softmax confidence): a row exits at
    the first layer where max_c p_c >= `threshold`. Classifiers only. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    double threshold;
} maxprob_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "exit when the top class probability reaches this" },
};

static int
maxprob_create (const ofr_host *host, const ofr_value *values, void **state,
                char *err, size_t errlen)
{
    maxprob_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "maxprob: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = values[0].f;
    *state = s;
    return 0;
}

static void
maxprob_destroy (void *state)
{
    free (state);
}

static int
maxprob_begin (void *state, const ofr_batch *batch)
{
    const maxprob_state *s = state;
    if (batch->n_outputs < 2) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "maxprob: needs a classifier "
                      "(n_outputs >= 2), this model has %d output(s)", batch->n_outputs);
        return -1;
    }
    return 0;
}

static int
maxprob_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const maxprob_state *s = state;
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
        /* One comparison per class. */
        s->host->charge_flops (batch->host_ctx, i, (double) K);
        if (top >= (float) s->threshold)   /* probabilities are floats */
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_maxprob = {
    OFR_METHOD_HEADER,
    .name = "maxprob",
    .version = "1.0",
    .summary = "max-probability confidence: exit when the top class probability reaches a threshold",
    .kinds = OFR_KIND_ENCODER | OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = maxprob_create,
    .destroy = maxprob_destroy,
    .begin = maxprob_begin,
    .after_layer = maxprob_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_maxprob;
}
