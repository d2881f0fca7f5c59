/*  skipdecode.c -- SkipDecode's per-position schedule (Del Corro et al.,
    2023, "SkipDecode: Autoregressive Skip Decoding with Batching and
    Caching for Efficient LLM Inference"): the number of layers a token runs
    decreases linearly with its position t in the generated sequence,

        n(t) = max_layers - floor ((max_layers - min_layers) * min (t, H) / H)

    so n(0) = max_layers and n(t) = min_layers for t >= H = `horizon`.
    t = batch->step minus the step of the first decision position of the
    attempt (the prompt is prefilled in full by the host; its last token,
    which predicts the first generated one, is t = 0).

    skip=bottom (default, as in the paper) skips the lowest L - n(t) layers
    and runs the top n(t), so every token exits at the last layer and later
    tokens only need upper-layer KV; skip=middle skips a band of L - n(t)
    layers starting at layer floor(n(t) / 2) + 1 (1-based), keeping
    floor(n/2) bottom and ceil(n/2) top layers. max_layers = 0 means L.
    Skipped layers' KV entries are filled from the state that passes
    through (kv_policy copy-up, charged by the host). The schedule is a
    function of the position only, so it is the same for every row and for
    the decoder of encoder-decoders. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ofr_host *host;
    int   min_layers, max_layers, horizon;
    int   middle;          /* 0 = bottom */
    int   n_rows_alloc;
    int  *step0;           /* [batch_size] first decision step of a row, -1 = none yet */
    int   n_layers;        /* of the current batch, resolved at begin */
    int   lo, hi;          /* resolved max / min layers run */
} sd_state;

static const ofr_param_decl s_params[] = {
    { "min_layers", OFR_PARAM_INT, "1", 1, 256,
      "layers run from position `horizon` on (>= 1)" },
    { "max_layers", OFR_PARAM_INT, "0", 0, 256,
      "layers run at the first generated position (0 = all L layers)" },
    { "horizon", OFR_PARAM_INT, "64", 1, 1e9,
      "positions over which the layer count decays linearly from max to min" },
    { "skip", OFR_PARAM_STRING, "bottom", 1, 0,
      "which layers are skipped: bottom (the paper: keep the top) or middle (centred band)" },
};

static int
sd_create (const ofr_host *host, const ofr_value *values, void **state,
           char *err, size_t errlen)
{
    const char *sk = values[3].s ? values[3].s : "bottom";
    int middle = !strcmp (sk, "middle") ? 1 : !strcmp (sk, "bottom") ? 0 : -1;
    if (middle < 0) {
        snprintf (err, errlen, "skipdecode: skip '%s': want bottom or middle", sk);
        return -1;
    }
    int mn = (int) values[0].i, mx = (int) values[1].i;
    if (mx != 0 && mn > mx) {
        snprintf (err, errlen, "skipdecode: min_layers %d > max_layers %d", mn, mx);
        return -1;
    }
    sd_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "skipdecode: out of memory");
        return -1;
    }
    s->host = host;
    s->min_layers = mn;
    s->max_layers = mx;
    s->horizon = (int) values[2].i;
    s->middle = middle;
    *state = s;
    return 0;
}

static void
sd_destroy (void *state)
{
    sd_state *s = state;
    if (s)
        free (s->step0);
    free (s);
}

static int
sd_begin (void *state, const ofr_batch *batch)
{
    sd_state *s = state;
    int L = batch->n_layers;
    int hi = s->max_layers ? s->max_layers : L;
    if (L < 1 || hi > L || s->min_layers > hi) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "skipdecode: min_layers %d / "
                      "max_layers %d do not fit %d layers (want 1 <= min <= max <= L)",
                      s->min_layers, hi, L);
        s->n_layers = 0;
        return -1;
    }
    if (batch->batch_size < 1)
        return -1;
    if (batch->batch_size > s->n_rows_alloc) {
        int *p = realloc (s->step0, (size_t) batch->batch_size * sizeof *p);
        if (!p) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "skipdecode: out of memory");
            s->n_layers = 0;
            return -1;
        }
        s->step0 = p;
        s->n_rows_alloc = batch->batch_size;
    }
    for (int r = 0; r < batch->batch_size; r++)
        s->step0[r] = -1;
    s->n_layers = L;
    s->hi = hi;
    s->lo = s->min_layers;
    return 0;
}

/* Layers run at relative position t. */
static int
sd_layers_at (const sd_state *s, int t)
{
    long long h = s->horizon, tt = t < 0 ? 0 : t > h ? h : t;
    return s->hi - (int) ((long long) (s->hi - s->lo) * tt / h);
}

/* Whether layer l (0-based) of L is skipped when n layers run. */
static int
sd_skipped (const sd_state *s, int l, int n)
{
    int k = s->n_layers - n;                 /* layers skipped */
    int from = s->middle ? n / 2 : 0;
    return l >= from && l < from + k;
}

static int
sd_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    sd_state *s = state;
    if (!s->step0 || layer < 0 || layer >= s->n_layers || batch->n_layers != s->n_layers)
        return -1;
    for (int i = 0; i < batch->n_rows; i++) {
        int r = batch->row_ids[i];
        if (r < 0 || r >= s->n_rows_alloc)
            return -1;
        if (s->step0[r] < 0)
            s->step0[r] = batch->step;
        int n = sd_layers_at (s, batch->step - s->step0[r]);
        actions[i] = sd_skipped (s, layer, n) ? OFR_SKIP : OFR_RUN;
    }
    return 0;
}

static const ofr_method s_sd = {
    OFR_METHOD_HEADER,
    .name = "skipdecode",
    .version = "1.0",
    .summary = "SkipDecode (Del Corro et al. 2023): layers run decay linearly with the "
               "position, lowest (or middle) layers skipped",
    .kinds = OFR_KIND_DECODER | OFR_KIND_SEQ2SEQ,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = sd_create,
    .destroy = sd_destroy,
    .begin = sd_begin,
    .before_layer = sd_before_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_sd;
}
