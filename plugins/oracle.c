/*  oracle.c -- the per-example oracle controller: a row exits at the first
    layer whose exit head predicts its label (host->oracle_label), else at
    the last layer. It reads labels, so it is flagged OFR_METHOD_ORACLE and
    reported as an upper bound on what any exit rule over the same heads
    can reach, not as a method. Classification only: a regression label is
    never "right". */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
} oracle_state;

static int
oracle_create (const ofr_host *host, const ofr_value *values, void **state,
               char *err, size_t errlen)
{
    (void) values;
    oracle_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "oracle: out of memory");
        return -1;
    }
    s->host = host;
    *state = s;
    return 0;
}

static void
oracle_destroy (void *state)
{
    free (state);
}

static int
oracle_begin (void *state, const ofr_batch *batch)
{
    const oracle_state *s = state;
    if (batch->n_outputs < 2) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "oracle: needs a classifier "
                      "(n_outputs >= 2), this model has %d output(s)", batch->n_outputs);
        return -1;
    }
    return 0;
}

static int
oracle_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const oracle_state *s = state;
    int K = batch->n_outputs;
    for (int i = 0; i < batch->n_rows; i++) {
        int label = s->host->oracle_label (batch->host_ctx, i);
        if (label < 0 || label >= K) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "oracle: row %d has no class "
                          "label in [0, %d) (got %d)", batch->row_ids[i], K, label);
            return -1;
        }
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        int best = 0;
        for (int c = 1; c < K; c++)
            if (p[c] > p[best])     /* first maximum, as the runner predicts */
                best = c;
        s->host->charge_flops (batch->host_ctx, i, (double) K);
        if (best == label)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_oracle = {
    OFR_METHOD_HEADER,
    .name = "oracle",
    .version = "1.0",
    .summary = "oracle (upper bound): exit at the first layer whose prediction is correct",
    .kinds = OFR_KIND_ENCODER,
    .flags = OFR_METHOD_ORACLE,
    .kv_policy = OFR_KV_COPY_UP,
    .params = NULL,
    .n_params = 0,
    .create = oracle_create,
    .destroy = oracle_destroy,
    .begin = oracle_begin,
    .after_layer = oracle_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_oracle;
}
