/*  seg_skip.c -- skipping residual ESP blocks of ESPNet (levels 2 and 3),
    statically or per image.

    Static: the blocks of the pattern `skip` (seg_common.h: "l3-last2",
    "l2-last,l3-every2", "7,8"...) are skipped for every image. A residual
    ESP block is out = BR(x + ESP(x)), BR = batch norm + PReLU after the
    add; skipped, it is out = BR(x) (workers/models/espnet.h): its
    convolutions are not run, its BR is, and is charged here (the host
    charges nothing for a skipped layer): 3 FLOPs per element of the
    block's output (affine 2, PReLU 1), 64 channels at 1/4 of the input
    for level 2, 128 at 1/8 for level 3 (ofr_espnet_block_skip_flops).

    Per image (`threshold` > 0): ESPNet has no exit inside level 3, so the
    confidence signal is how much the residual blocks still change the
    representation. After each level-3 residual block b that ran, with
    h_b the channel means of its output (host hidden_state),
        delta_b = ||h_b - h_prev||_2 / ||h_prev||_2
    (h_prev: the last block before b that ran, level3_0 included). Once at
    least `after` level-3 residual blocks ran and delta_b < threshold, the
    image's remaining level-3 residual blocks are skipped: its features have
    settled (in the spirit of PABEE's "the prediction stopped changing",
    applied to the state). Charged per test: the channel means (one add per
    element of the 1/8 map, plus a divide per channel) and 3 FLOPs per
    channel for the two norms; the map size comes from the exit width
    n_outputs = classes x H x W (`classes`).

    The record has no field for skipped blocks (its exit layer is the last
    decoder block for every image), so destroy() logs the histogram of the
    number of skipped blocks per image. */
#include "offramp_plugin.h"
#include "seg_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ofr_host *host;
    seg_layout  lay;
    uint8_t     mask[SEG_MAX_BLOCKS];
    char       *spec;
    double      threshold;
    int         after, classes;
    /* per row of the current batch */
    int         cap;
    float      *prev;        /* [cap][dim] channel means of the last block run */
    int        *prev_dim;    /* [cap] 0 = none yet                              */
    int        *l3_run;      /* [cap] level-3 residual blocks run               */
    uint8_t    *rest;        /* [cap] skip the remaining level-3 blocks         */
    int        *skipped;     /* [cap] blocks skipped                            */
    /* cell totals */
    long        hist[SEG_MAX_BLOCKS + 1];   /* images by number of skipped blocks */
    long        images;
} skip_state;

#define MAX_DIM 1024

/* FLOPs of skipped residual block `layer` for an image of `pixels` input
   pixels: its BR, 3 per output element (ofr_espnet_block_skip_flops). */
static double
skip_br_flops (const seg_layout *lay, int layer, double pixels)
{
    if (!seg_skippable (lay, layer))
        return 0.0;
    return seg_in_level3 (lay, layer) ? 3.0 * 128 * pixels / 64.0 : 3.0 * 64 * pixels / 16.0;
}

static const ofr_param_decl s_params[] = {
    { "skip", OFR_PARAM_STRING, "none", 1, 0,
      "static pattern: none, l2-all, l3-lastN, l3-firstN, l3-every2, block numbers (1-based), comma-separated" },
    { "threshold", OFR_PARAM_FLOAT, "0", 0.0, 10.0,
      "per image: skip the remaining level-3 blocks once the relative change of the pooled state is below this (0 = off)" },
    { "after", OFR_PARAM_INT, "4", 1, 64,
      "per image: level-3 residual blocks that always run before the rule may skip" },
    { "p", OFR_PARAM_INT, "2", 0, 64, "ESPNet residual blocks at 1/4 (level 2)" },
    { "q", OFR_PARAM_INT, "8", 0, 64, "ESPNet residual blocks at 1/8 (level 3)" },
    { "classes", OFR_PARAM_INT, "12", 1, 256,
      "model classes (n_outputs = classes x H x W; sizes the charged pooling and BRs)" },
};

static int
skip_create (const ofr_host *host, const ofr_value *v, void **state, char *err,
             size_t errlen)
{
    skip_state *s = calloc (1, sizeof *s);
    if (!s || !(s->spec = strdup (v[0].s ? v[0].s : ""))) {
        free (s);
        snprintf (err, errlen, "seg_skip: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = v[1].f;
    s->after = (int) v[2].i;
    s->lay = seg_layout_of ((int) v[3].i, (int) v[4].i);
    s->classes = (int) v[5].i;
    if (seg_parse_skip (s->spec, &s->lay, s->mask, "seg_skip", err, errlen) != 0) {
        free (s->spec);
        free (s);
        return -1;
    }
    *state = s;
    return 0;
}

static void
skip_destroy (void *state)
{
    skip_state *s = state;
    if (!s)
        return;
    if (s->images > 0) {
        char line[512];
        size_t at = 0;
        for (int k = 0; k <= s->lay.n && at < sizeof line - 32; k++)
            if (s->hist[k])
                at += (size_t) snprintf (line + at, sizeof line - at, " %d:%ld", k, s->hist[k]);
        s->host->log (NULL, OFR_LOG_INFO, "seg_skip skip=%s threshold=%g: %ld images by "
                      "skipped blocks (count:images)%s", s->spec, s->threshold, s->images,
                      line);
    }
    free (s->prev);
    free (s->prev_dim);
    free (s->l3_run);
    free (s->rest);
    free (s->skipped);
    free (s->spec);
    free (s);
}

static int
skip_begin (void *state, const ofr_batch *batch)
{
    skip_state *s = state;
    if (seg_check_batch (s->host, batch, &s->lay, "seg_skip") != 0)
        return -1;
    if (batch->batch_size > s->cap) {
        int n = batch->batch_size;
        free (s->prev); free (s->prev_dim); free (s->l3_run); free (s->rest); free (s->skipped);
        s->prev = calloc ((size_t) n * MAX_DIM, sizeof *s->prev);
        s->prev_dim = calloc ((size_t) n, sizeof *s->prev_dim);
        s->l3_run = calloc ((size_t) n, sizeof *s->l3_run);
        s->rest = calloc ((size_t) n, 1);
        s->skipped = calloc ((size_t) n, sizeof *s->skipped);
        s->cap = n;
        if (!s->prev || !s->prev_dim || !s->l3_run || !s->rest || !s->skipped) {
            s->cap = 0;
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_skip: out of memory");
            return -1;
        }
    }
    for (int r = 0; r < batch->batch_size; r++) {
        s->prev_dim[r] = s->l3_run[r] = s->skipped[r] = 0;
        s->rest[r] = 0;
    }
    return 0;
}

static void
skip_end (void *state, const ofr_batch *batch)
{
    skip_state *s = state;
    for (int r = 0; r < batch->batch_size && r < s->cap; r++) {
        int k = s->skipped[r];
        s->hist[k < 0 ? 0 : k > SEG_MAX_BLOCKS ? SEG_MAX_BLOCKS : k]++;
        s->images++;
    }
}

static int
skip_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    skip_state *s = state;
    double pixels = (double) batch->n_outputs / s->classes;
    for (int i = 0; i < batch->n_rows; i++) {
        int r = batch->row_ids[i];
        if (s->mask[layer] || (s->rest[r] && seg_in_level3 (&s->lay, layer))) {
            actions[i] = OFR_SKIP;
            s->skipped[r]++;
            s->host->charge_flops (batch->host_ctx, i, skip_br_flops (&s->lay, layer, pixels));
        }
    }
    return 0;
}

static int
skip_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    (void) actions;
    skip_state *s = state;
    if (s->threshold <= 0 || layer < s->lay.p + 2 || layer > s->lay.p + s->lay.q + 2)
        return 0;
    double pix8 = (double) batch->n_outputs / s->classes / 64.0;   /* 1/8 map pixels */
    for (int i = 0; i < batch->n_rows; i++) {
        int r = batch->row_ids[i];
        if (s->rest[r] || s->mask[layer])
            continue;                     /* did not run: nothing new to look at */
        int dim = 0;
        const float *h = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!h || dim < 1 || dim > MAX_DIM) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_skip: no pooled state at "
                          "block %d (dim %d)", layer + 1, dim);
            return -1;
        }
        s->host->charge_flops (batch->host_ctx, i, dim * pix8 + dim + 3.0 * dim);
        float *prev = s->prev + (size_t) r * MAX_DIM;
        if (seg_in_level3 (&s->lay, layer)) {
            s->l3_run[r]++;
            if (s->prev_dim[r] == dim && s->l3_run[r] >= s->after) {
                double d2 = 0, n2 = 0;
                for (int c = 0; c < dim; c++) {
                    d2 += ((double) h[c] - prev[c]) * ((double) h[c] - prev[c]);
                    n2 += (double) prev[c] * prev[c];
                }
                double delta = n2 > 0 ? sqrt (d2 / n2) : 0;
                if (delta < s->threshold)
                    s->rest[r] = 1;
            }
        }
        memcpy (prev, h, (size_t) dim * sizeof *prev);
        s->prev_dim[r] = dim;
    }
    return 0;
}

static const ofr_method s_method = {
    OFR_METHOD_HEADER,
    .name = "seg_skip",
    .version = "1.0",
    .summary = "skip residual ESP blocks: static patterns, or per image once the level-3 state settles",
    .kinds = OFR_KIND_CNN,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = skip_create,
    .destroy = skip_destroy,
    .begin = skip_begin,
    .end = skip_end,
    .before_layer = skip_before_layer,
    .after_layer = skip_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_method;
}
