/*  truncate.c -- static truncation: every row exits after layer `layer`
    (1-based), whatever the input. The simplest early-exit baseline: it
    shows what a fixed, input-independent budget buys, which every dynamic
    method must beat at equal FLOPs. Rows of a model with fewer layers
    exit at its last layer. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int layer;              /* 1-based layer after which every row exits */
} truncate_state;

static const ofr_param_decl s_params[] = {
    { "layer", OFR_PARAM_INT, "1", 1, 1000,
      "exit every row after this layer (1-based; the last layer if the model has fewer)" },
};

static int
truncate_create (const ofr_host *host, const ofr_value *values, void **state,
                 char *err, size_t errlen)
{
    (void) host;
    truncate_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "truncate: out of memory");
        return -1;
    }
    s->layer = (int) values[0].i;   /* the host checked 1..1000 */
    *state = s;
    return 0;
}

static void
truncate_destroy (void *state)
{
    free (state);
}

static int
truncate_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const truncate_state *s = state;
    int last = s->layer < batch->n_layers ? s->layer : batch->n_layers;
    /* `layer` is 0-based: layer + 1 layers have run. */
    if (layer + 1 >= last)
        for (int i = 0; i < batch->n_rows; i++)
            actions[i] = OFR_EXIT;
    return 0;
}

static const ofr_method s_truncate = {
    OFR_METHOD_HEADER,
    .name = "truncate",
    .version = "1.0",
    .summary = "static truncation: every row exits after a fixed layer",
    .kinds = OFR_KIND_ALL,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = truncate_create,
    .destroy = truncate_destroy,
    .after_layer = truncate_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_truncate;
}
