/*  entropy.c -- DeeBERT (Xin et al., ACL 2020): a row exits at the first
    layer whose exit distribution has entropy H = -sum_c p_c ln p_c (nats)
    below `threshold`. Low entropy = the head is sure; the final layer is
    the fallback. Classifiers only: a regression head has no distribution. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Per class: one log, one multiply, one add (docs/FLOPS.md counts a
   transcendental as one FLOP). */
#define ENTROPY_FLOPS_PER_CLASS 3.0

typedef struct {
    const ofr_host *host;
    double threshold;
} entropy_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.3", 0.0, 100.0,
      "exit when the entropy (nats) of the exit distribution is below this" },
};

static int
entropy_create (const ofr_host *host, const ofr_value *values, void **state,
                char *err, size_t errlen)
{
    entropy_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "entropy: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = values[0].f;
    *state = s;
    return 0;
}

static void
entropy_destroy (void *state)
{
    free (state);
}

static int
entropy_begin (void *state, const ofr_batch *batch)
{
    const entropy_state *s = state;
    if (batch->n_outputs < 2) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "entropy: needs a classifier "
                      "(n_outputs >= 2), this model has %d output(s): a regression "
                      "head has no distribution", batch->n_outputs);
        return -1;
    }
    return 0;
}

static int
entropy_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const entropy_state *s = state;
    int K = batch->n_outputs;
    for (int i = 0; i < batch->n_rows; i++) {
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        double h = 0;
        for (int c = 0; c < K; c++)
            if (p[c] > 0)            /* 0 ln 0 = 0 */
                h -= (double) p[c] * log ((double) p[c]);
        s->host->charge_flops (batch->host_ctx, i, ENTROPY_FLOPS_PER_CLASS * K);
        if (h < s->threshold)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_entropy = {
    OFR_METHOD_HEADER,
    .name = "entropy",
    .version = "1.0",
    .summary = "DeeBERT: exit when the entropy of the exit distribution is below a threshold",
    .kinds = OFR_KIND_ENCODER | OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = entropy_create,
    .destroy = entropy_destroy,
    .begin = entropy_begin,
    .after_layer = entropy_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_entropy;
}
