/*  spec_abi.c -- ABI 1.3 fixtures for test_spec_abi: SPEC_OLD is a plugin
    built for 1.2 (its descriptor ends before `speculate`: the host must
    not read past it), SPEC_ENCODER declares `speculate` for encoders
    (refused: only the decoder driver speculates). */
#include "offramp_plugin.h"

#include <stddef.h>
#include <stdlib.h>

static int
sa_create (const ofr_host *host, const ofr_value *values, void **state, char *err,
           size_t errlen)
{
    (void) host, (void) values, (void) err, (void) errlen;
    *state = NULL;
    return 0;
}

static void
sa_destroy (void *state)
{
    (void) state;
}

static int
sa_speculate (void *state, const ofr_batch *batch, int *k, int *d)
{
    (void) state, (void) batch;
    *k = 1;
    *d = 1;
    return 0;
}

/* SPEC_OLD: `speculate` is set but lies past struct_size. */
static const struct {
    ofr_method m;
} s_desc = {
    .m = {
        .struct_size =
#if defined(SPEC_OLD)
            offsetof (ofr_method, speculate),
#else
            sizeof (ofr_method),
#endif
        .abi_major = OFR_ABI_MAJOR,
#if defined(SPEC_OLD)
        .abi_minor = 2,
#else
        .abi_minor = OFR_ABI_MINOR,
#endif
        .name = "spec_abi", .version = "1", .summary = "ABI 1.3 fixture",
#if defined(SPEC_ENCODER)
        .kinds = OFR_KIND_ENCODER | OFR_KIND_DECODER,
#else
        .kinds = OFR_KIND_DECODER,
#endif
        .kv_policy = OFR_KV_MASK,
        .create = sa_create, .destroy = sa_destroy,
        .speculate = sa_speculate,
    },
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_desc.m;
}
