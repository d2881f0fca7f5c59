/*  sleepy.c -- test plugin "sleepy": the full model, slowed down by `ms`
    milliseconds of sleep per after_layer call, so that integration tests
    can interrupt workers and the coordinator in the middle of a run. */
#define _POSIX_C_SOURCE 200809L
#include "offramp_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    int64_t ms;
} sleepy_state;

static const ofr_param_decl s_params[] = {
    { "ms", OFR_PARAM_INT, "10", 0, 60000, "milliseconds to sleep per after_layer call" },
};

static int
sleepy_create (const ofr_host *host, const ofr_value *values, void **state,
               char *err, size_t errlen)
{
    (void) host;
    sleepy_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "sleepy: out of memory");
        return -1;
    }
    s->ms = values[0].i;
    *state = s;
    return 0;
}

static void
sleepy_destroy (void *state)
{
    free (state);
}

static int
sleepy_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    (void) batch, (void) layer, (void) actions;
    const sleepy_state *s = state;
    struct timespec ts = { .tv_sec = (time_t) (s->ms / 1000),
                           .tv_nsec = (long) (s->ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

static const ofr_method s_sleepy = {
    OFR_METHOD_HEADER,
    .name = "sleepy",
    .version = "1.0",
    .summary = "test plugin: the full model, sleeping `ms` per layer",
    .kinds = OFR_KIND_ALL,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = 1,
    .create = sleepy_create,
    .destroy = sleepy_destroy,
    .after_layer = sleepy_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_sleepy;
}
