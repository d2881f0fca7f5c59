/*  patience.c -- PABEE (Zhou et al., NeurIPS 2020, "BERT Loses Patience").
    A counter per row: cnt_i = cnt_{i-1} + 1 when the prediction after layer
    i agrees with the one after layer i-1, else 0; the row exits at the
    first layer where cnt_i reaches `patience`, i.e. once the same argmax
    has been predicted by patience + 1 consecutive exits. For a regression
    head (one output, a raw score) "agrees" is |y_i - y_{i-1}| < `tolerance`,
    as in the paper's STS-B setting. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    int     patience;
    double  tolerance;
    int     cap;            /* rows the arrays hold                     */
    int    *count;          /* [cap] consecutive agreements             */
    float  *prev;           /* [cap] previous prediction (class or score) */
    int    *prev_layer;     /* [cap] layer of prev, -1 = none            */
} patience_state;

static const ofr_param_decl s_params[] = {
    { "patience", OFR_PARAM_INT, "3", 1, 1000,
      "exit once this many consecutive layers agree with the previous layer's prediction" },
    { "tolerance", OFR_PARAM_FLOAT, "0.1", 0.0, 1e9,
      "regression heads: predictions agree when they differ by less than this" },
};

static int
patience_create (const ofr_host *host, const ofr_value *values, void **state,
                 char *err, size_t errlen)
{
    patience_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "patience: out of memory");
        return -1;
    }
    s->host = host;
    s->patience = (int) values[0].i;
    s->tolerance = values[1].f;
    *state = s;
    return 0;
}

static void
patience_destroy (void *state)
{
    patience_state *s = state;
    if (!s)
        return;
    free (s->count);
    free (s->prev);
    free (s->prev_layer);
    free (s);
}

static int
patience_begin (void *state, const ofr_batch *batch)
{
    patience_state *s = state;
    int n = batch->batch_size;
    if (n > s->cap) {
        free (s->count);
        free (s->prev);
        free (s->prev_layer);
        s->count = calloc ((size_t) n, sizeof *s->count);
        s->prev = calloc ((size_t) n, sizeof *s->prev);
        s->prev_layer = calloc ((size_t) n, sizeof *s->prev_layer);
        s->cap = n;
        if (!s->count || !s->prev || !s->prev_layer) {
            s->cap = 0;
            s->host->log (batch->host_ctx, OFR_LOG_ERROR,
                          "patience: out of memory for %d rows", n);
            return -1;
        }
    }
    for (int r = 0; r < n; r++) {
        s->count[r] = 0;
        s->prev_layer[r] = -1;
    }
    return 0;
}

static int
patience_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    patience_state *s = state;
    int K = batch->n_outputs;
    for (int i = 0; i < batch->n_rows; i++) {
        int row = batch->row_ids[i];
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        float pred = p[0];
        int agree;
        if (K == 1) {
            agree = s->prev_layer[row] >= 0 && fabs ((double) pred - s->prev[row]) < s->tolerance;
            s->host->charge_flops (batch->host_ctx, i, 1.0);   /* the difference */
        }
        else {
            int best = 0;
            for (int c = 1; c < K; c++)
                if (p[c] > p[best])     /* first maximum, as the runner predicts */
                    best = c;
            pred = (float) best;
            agree = s->prev_layer[row] >= 0 && s->prev[row] == pred;
            s->host->charge_flops (batch->host_ctx, i, (double) K);
        }
        s->count[row] = agree ? s->count[row] + 1 : 0;
        s->prev[row] = pred;
        s->prev_layer[row] = layer;
        if (s->count[row] >= s->patience)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_patience = {
    OFR_METHOD_HEADER,
    .name = "patience",
    .version = "1.0",
    .summary = "PABEE: exit when the prediction stays unchanged for `patience` layers",
    .kinds = OFR_KIND_ENCODER,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = patience_create,
    .destroy = patience_destroy,
    .begin = patience_begin,
    .after_layer = patience_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_patience;
}
