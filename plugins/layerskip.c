/*  layerskip.c -- static layer skipping for decoders (decoder-only LMs and
    the decoder stack of encoder-decoders): the same layers are
    skipped (identity) at every token position, chosen by a fixed pattern
    over the L layers (1-based l):

        pattern=every   skip every k-th layer: l % k == 0   (k >= 2)
        pattern=last    skip the last n layers              (n < L)
        pattern=middle  skip a band of n layers centred in the stack,
                        starting at layer floor((L - n) / 2) + 1

    The first layer is never skipped (a pattern that would skip it is an
    error at begin). Skipped layers' KV entries are filled from the hidden
    state that passes through (kv_policy copy-up, charged by the host).
    Like the skip baselines in "Dynamic layer selection in decoder-only
    transformers" (Glavas et al., 2024) and SkipDecode's fixed schedule. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_EVERY, P_LAST, P_MIDDLE };

typedef struct {
    const ofr_host *host;
    int   pattern, k, n;
    int   n_layers;
    uint8_t skip[256];
} skip_state;

static const ofr_param_decl s_params[] = {
    { "pattern", OFR_PARAM_STRING, "every", 1, 0,
      "every (each k-th layer), last (last n layers) or middle (centred band of n)" },
    { "k", OFR_PARAM_INT, "2", 2, 256, "pattern=every: skip layers l with l % k == 0" },
    { "n", OFR_PARAM_INT, "1", 0, 255, "pattern=last/middle: number of layers skipped" },
};

static int
skip_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    const char *p = values[0].s ? values[0].s : "every";
    int pat = !strcmp (p, "every") ? P_EVERY : !strcmp (p, "last") ? P_LAST
            : !strcmp (p, "middle") ? P_MIDDLE : -1;
    if (pat < 0) {
        snprintf (err, errlen, "layerskip: pattern '%s': want every, last or middle", p);
        return -1;
    }
    skip_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "layerskip: out of memory");
        return -1;
    }
    s->host = host;
    s->pattern = pat;
    s->k = (int) values[1].i;
    s->n = (int) values[2].i;
    *state = s;
    return 0;
}

static void
skip_destroy (void *state)
{
    free (state);
}

/* Fill s->skip for L layers; -1 if the pattern does not fit. */
static int
skip_plan (skip_state *s, int L)
{
    if (L < 1 || L > 256)
        return -1;
    memset (s->skip, 0, sizeof s->skip);
    int from = 0, to = 0;     /* [from, to) 0-based, for last / middle */
    switch (s->pattern) {
    case P_EVERY:
        for (int l = 0; l < L; l++)
            s->skip[l] = (l + 1) % s->k == 0;
        break;
    case P_LAST:
        from = L - s->n, to = L;
        break;
    default:
        from = (L - s->n) / 2, to = from + s->n;
        break;
    }
    if (s->pattern != P_EVERY) {
        if (s->n >= L || from < 1)
            return -1;
        for (int l = from; l < to; l++)
            s->skip[l] = 1;
    }
    s->n_layers = L;
    return s->skip[0] ? -1 : 0;
}

static int
skip_begin (void *state, const ofr_batch *batch)
{
    skip_state *s = state;
    if (s->n_layers == batch->n_layers)
        return 0;
    if (skip_plan (s, batch->n_layers) != 0) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "layerskip: pattern %d (k %d, n %d) "
                      "does not fit %d layers (the first layer must run)", s->pattern,
                      s->k, s->n, batch->n_layers);
        s->n_layers = 0;
        return -1;
    }
    return 0;
}

static int
skip_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const skip_state *s = state;
    if (layer < 0 || layer >= s->n_layers)
        return -1;
    for (int i = 0; i < batch->n_rows; i++)
        actions[i] = s->skip[layer] ? OFR_SKIP : OFR_RUN;
    return 0;
}

static const ofr_method s_skip = {
    OFR_METHOD_HEADER,
    .name = "layerskip",
    .version = "1.0",
    .summary = "static layer skipping: every k-th, the last n or a middle band of n layers",
    .kinds = OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = skip_create,
    .destroy = skip_destroy,
    .begin = skip_begin,
    .before_layer = skip_before_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_skip;
}
