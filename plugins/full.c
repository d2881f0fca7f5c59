/*  full.c -- the full model: every row runs every layer and exits at the
    last one. The baseline every other method is compared against; its
    relative FLOPs are 1 by construction.

    It needs no state and no callbacks beyond the mandatory create/destroy:
    with after_layer NULL the runtime keeps every row (CONTINUE) and rows
    still active after the last layer exit there. */
#include "offramp_plugin.h"

#include <stddef.h>

static int
full_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    (void) host, (void) values, (void) err, (void) errlen;
    *state = NULL;
    return 0;
}

static void
full_destroy (void *state)
{
    (void) state;
}

static const ofr_method s_full = {
    OFR_METHOD_HEADER,
    .name = "full",
    .version = "1.0",
    .summary = "full model: every row runs every layer (the baseline)",
    .kinds = OFR_KIND_ALL,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = NULL,
    .n_params = 0,
    .create = full_create,
    .destroy = full_destroy,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_full;
}
