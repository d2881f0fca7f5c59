/*  crash.c -- test plugin "crash": dies of SIGSEGV in after_layer once layer
    `at` (1-based) has run, like a plugin with a wild pointer. The integration
    tests use it to check that a crashing plugin fails its task with the
    signal as the reason while the worker keeps serving other cells. */
#include "offramp_plugin.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int at;
} crash_state;

static const ofr_param_decl s_params[] = {
    { "at", OFR_PARAM_INT, "1", 1, 1000, "crash after this layer (1-based)" },
};

static int
crash_create (const ofr_host *host, const ofr_value *values, void **state,
              char *err, size_t errlen)
{
    (void) host;
    crash_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "crash: out of memory");
        return -1;
    }
    s->at = (int) values[0].i;
    *state = s;
    return 0;
}

static void
crash_destroy (void *state)
{
    free (state);
}

static int
crash_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    (void) batch, (void) actions;
    const crash_state *s = state;
    if (layer + 1 == s->at) {
        /* A sanitizer's SEGV handler would turn this into an abort with its
           own exit code; the tests want a plain signal 11 death. */
        signal (SIGSEGV, SIG_DFL);
        raise (SIGSEGV);
    }
    return 0;
}

static const ofr_method s_crash = {
    OFR_METHOD_HEADER,
    .name = "crash",
    .version = "1.0",
    .summary = "test plugin: segfaults after layer `at`",
    .kinds = OFR_KIND_ALL,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = 1,
    .create = crash_create,
    .destroy = crash_destroy,
    .after_layer = crash_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_crash;
}
