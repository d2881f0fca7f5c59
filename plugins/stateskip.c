/*  stateskip.c -- per-token layer skipping driven by the hidden state: after
    each layer l a token ran, if the relative change of its hidden state

        delta_l = ||h_l - h_{l-1}|| / ||h_{l-1}||

    is below `threshold`, the next `span` layers are skipped (identity) for
    this token; the rule is evaluated again after the next layer it runs.
    h_{l-1} is the state that entered layer l (the embedding for layer 1).
    The hypothesis tested is the one the seed paper reports as negative
    ("hidden states do not tell when to skip"): a layer that barely moved
    the state predicts that the following ones can be skipped. The two
    norms are the method's own work and are charged 4 d FLOPs per
    evaluation (d = hidden size); no evaluation after the last layer.
    A skip may cover the last layers (the token then predicts from the
    state that passed through). Skipped layers' KV entries are filled from
    that state (kv_policy copy-up, charged by the host). Decoder-only LMs
    and the decoder of encoder-decoders. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ofr_host *host;
    double threshold;
    int    span;
    int    n_rows_alloc;
    int   *left;           /* [batch_size] layers still to skip at this position */
    unsigned char *ran;    /* [batch_size] the row ran the current layer         */
    int    dim;            /* hidden size, known at the first before_layer       */
    size_t prev_alloc;     /* floats in prev                                     */
    float *prev;           /* [batch_size][dim] state entering the current layer */
} ss_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.5", 0.0, 1e6,
      "skip when ||h_l - h_{l-1}|| / ||h_{l-1}|| < threshold (0 = never)" },
    { "span", OFR_PARAM_INT, "1", 1, 256, "layers skipped after a small change" },
};

static int
ss_create (const ofr_host *host, const ofr_value *values, void **state,
           char *err, size_t errlen)
{
    if (!(values[0].f >= 0) || values[1].i < 1) {
        snprintf (err, errlen, "stateskip: threshold %g / span %lld: want threshold >= 0, "
                  "span >= 1", values[0].f, (long long) values[1].i);
        return -1;
    }
    ss_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "stateskip: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = values[0].f;
    s->span = (int) values[1].i;
    *state = s;
    return 0;
}

static void
ss_destroy (void *state)
{
    ss_state *s = state;
    if (s) {
        free (s->left);
        free (s->ran);
        free (s->prev);
    }
    free (s);
}

static int
ss_begin (void *state, const ofr_batch *batch)
{
    ss_state *s = state;
    int n = batch->batch_size;
    if (n < 1 || batch->n_layers < 1)
        return -1;
    if (n > s->n_rows_alloc) {
        int *l = realloc (s->left, (size_t) n * sizeof *l);
        if (l)
            s->left = l;
        unsigned char *r = l ? realloc (s->ran, (size_t) n) : NULL;
        if (r)
            s->ran = r;
        if (!l || !r) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "stateskip: out of memory");
            return -1;
        }
        s->n_rows_alloc = n;
    }
    memset (s->left, 0, (size_t) n * sizeof *s->left);
    memset (s->ran, 0, (size_t) n);
    return 0;
}

/* Room for n rows of d floats in prev. */
static int
ss_prev_room (ss_state *s, const ofr_batch *batch, int d)
{
    if (d < 1)
        return -1;
    if (s->dim != d)
        s->dim = d;
    size_t need = (size_t) s->n_rows_alloc * (size_t) d;
    if (need > s->prev_alloc) {
        float *p = realloc (s->prev, need * sizeof *p);
        if (!p) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "stateskip: out of memory");
            return -1;
        }
        s->prev = p;
        s->prev_alloc = need;
    }
    return 0;
}

static int
ss_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    ss_state *s = state;
    if (!s->left || layer < 0 || layer >= batch->n_layers)
        return -1;
    for (int i = 0; i < batch->n_rows; i++) {
        int r = batch->row_ids[i];
        if (r < 0 || r >= s->n_rows_alloc)
            return -1;
        if (layer == 0)
            s->left[r] = 0;          /* a new token position */
        s->ran[r] = 0;
        if (s->left[r] > 0) {
            s->left[r]--;
            actions[i] = OFR_SKIP;
            continue;
        }
        actions[i] = OFR_RUN;
        if (layer == batch->n_layers - 1)
            continue;                /* no decision after the last layer */
        int d = 0;
        const float *h = s->host->hidden_state (batch->host_ctx, i, &d);
        if (!h || ss_prev_room (s, batch, d) != 0)
            return -1;
        memcpy (s->prev + (size_t) r * (size_t) d, h, (size_t) d * sizeof *h);
        s->ran[r] = 1;
    }
    return 0;
}

static int
ss_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    ss_state *s = state;
    (void) actions;
    if (!s->left || layer < 0 || layer >= batch->n_layers)
        return -1;
    for (int i = 0; i < batch->n_rows; i++) {
        int r = batch->row_ids[i];
        if (r < 0 || r >= s->n_rows_alloc)
            return -1;
        if (!s->ran[r])
            continue;
        int d = 0;
        const float *h = s->host->hidden_state (batch->host_ctx, i, &d);
        if (!h || d != s->dim)
            return -1;
        const float *p = s->prev + (size_t) r * (size_t) d;
        double num = 0, den = 0;
        for (int k = 0; k < d; k++) {
            double e = (double) h[k] - (double) p[k];
            num += e * e;
            den += (double) p[k] * (double) p[k];
        }
        s->host->charge_flops (batch->host_ctx, i, 4.0 * d);
        /* A zero entering state gives no relative change: never skip on it. */
        if (den > 0 && sqrt (num) < s->threshold * sqrt (den))
            s->left[r] = s->span;
    }
    return 0;
}

static const ofr_method s_ss = {
    OFR_METHOD_HEADER,
    .name = "stateskip",
    .version = "1.0",
    .summary = "hidden-state skipping: skip the next span layers when a layer changed "
               "the token's state by < threshold (relative L2)",
    .kinds = OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = ss_create,
    .destroy = ss_destroy,
    .begin = ss_begin,
    .before_layer = ss_before_layer,
    .after_layer = ss_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_ss;
}
