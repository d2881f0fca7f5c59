/*  seq_oracle.c -- the per-sequence oracle controller (upper bound, flagged
    OFR_METHOD_ORACLE): for each sequence it searches static layer-skip
    configurations -- subsets of the L layers run at every position of the
    sequence, the others skipped (identity, KV copied up) -- from the
    cheapest (fewest layers; ties: lowest bit mask of run layers first) to
    the full model, and keeps the first whose output agrees with the full
    model's (host sequence_agrees: the same generated tokens, or the same
    argmax at every scored position). Every discarded attempt is reported
    as search cost (host retry_sequence), apart from the kept one's FLOPs.
    As "Dynamic layer selection in decoder-only transformers" (Glavas et
    al., 2024), whose oracle reaches full-model quality with 23.3% of the
    layers on average. The full-depth configuration always agrees, so the
    search ends. Subsets are enumerated for L <= 12 (the host allows 4096
    attempts); one sequence per batch. Decoders only. */
#include "offramp_plugin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    int       min_layers;
    int       n_layers;
    uint32_t *order;        /* [n_configs] run-layer masks, cheapest first   */
    int       n_configs;
    int       at;           /* configuration of the attempt in flight         */
    bool      retrying;
} oracle_state;

static const ofr_param_decl s_params[] = {
    { "min_layers", OFR_PARAM_INT, "0", 0, 12,
      "search only configurations running at least this many layers" },
};

static int
so_create (const ofr_host *host, const ofr_value *values, void **state,
           char *err, size_t errlen)
{
    oracle_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "seq_oracle: out of memory");
        return -1;
    }
    s->host = host;
    s->min_layers = (int) values[0].i;
    *state = s;
    return 0;
}

static void
so_destroy (void *state)
{
    oracle_state *s = state;
    if (s)
        free (s->order);
    free (s);
}

static int
popcount (uint32_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* Masks with >= min_layers bits, by popcount then value (counting sort). */
static int
so_plan (oracle_state *s, int L)
{
    uint32_t all = 1u << L;
    free (s->order);
    s->order = malloc (all * sizeof (uint32_t));
    if (!s->order)
        return -1;
    s->n_configs = 0;
    for (int k = s->min_layers; k <= L; k++)
        for (uint32_t m = 0; m < all; m++)
            if (popcount (m) == k)
                s->order[s->n_configs++] = m;
    s->n_layers = L;
    return 0;
}

static int
so_begin (void *state, const ofr_batch *batch)
{
    oracle_state *s = state;
    if (batch->batch_size != 1 || batch->n_layers < 1 || batch->n_layers > 12
        || s->min_layers > batch->n_layers) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seq_oracle: needs one sequence per "
                      "batch (got %d) and 1..12 layers (got %d, min_layers %d)",
                      batch->batch_size, batch->n_layers, s->min_layers);
        return -1;
    }
    if (s->n_layers != batch->n_layers && so_plan (s, batch->n_layers) != 0)
        return -1;
    if (!s->retrying)
        s->at = 0;      /* a new sequence: start from the cheapest */
    s->retrying = false;
    return 0;
}

static int
so_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const oracle_state *s = state;
    uint32_t m = s->order[s->at];
    for (int i = 0; i < batch->n_rows; i++)
        actions[i] = (m >> layer) & 1u ? OFR_RUN : OFR_SKIP;
    return 0;
}

static void
so_end (void *state, const ofr_batch *batch)
{
    oracle_state *s = state;
    if (batch->n_rows < 1)
        return;
    int ok = s->host->sequence_agrees (batch->host_ctx, 0);
    if (ok == 0 && s->at + 1 < s->n_configs
        && s->host->retry_sequence (batch->host_ctx, 0) >= 0) {
        s->at++;
        s->retrying = true;
    } else if (ok < 0)
        s->host->log (batch->host_ctx, OFR_LOG_WARN, "seq_oracle: the host cannot tell "
                      "whether the output agrees; keeping configuration %d", s->at);
}

static const ofr_method s_oracle = {
    OFR_METHOD_HEADER,
    .name = "seq_oracle",
    .version = "1.0",
    .summary = "per-sequence oracle (upper bound): cheapest static layer-skip "
               "configuration whose output matches the full model",
    .kinds = OFR_KIND_DECODER,
    .flags = OFR_METHOD_ORACLE,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = so_create,
    .destroy = so_destroy,
    .begin = so_begin,
    .end = so_end,
    .before_layer = so_before_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    if (!host || host->struct_size < offsetof (ofr_host, retry_sequence)
                                     + sizeof (host->retry_sequence)) {
        if (host && host->log)
            host->log (NULL, OFR_LOG_ERROR, "seq_oracle: the host lacks sequence_agrees / "
                       "retry_sequence (ABI 1.2)");
        return NULL;
    }
    return &s_oracle;
}
