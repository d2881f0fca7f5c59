/*  seg_exit.c -- early exit of ESPNet at a coarser decoder stage when the
    per-pixel confidence there is high enough.

    After decoder.l3 (1/4 resolution; `stage` l3, the default), decoder.l2
    (1/2; `stage` l2) or both (`stage` both, l3 first), with p the stage's
    per-pixel softmax (host exit_probs, [class][pixel]):
        conf = fraction of pixels with max_c p(c) >= pixel_threshold,
    and the image exits there when conf >= threshold, predicting the
    stage's argmax map (upsampled by pixel repetition). Charged: the
    softmax the host computes for exit_probs (ESPNet's head_flops is 0:
    its classifier convolutions belong to the decoder blocks, the softmax
    to nobody else), 5 FLOPs per class and pixel, and the max scan, 1 per
    class and pixel, at the resolution exit_probs returns.

    threshold < 0 (the default) uses the threshold `offramp fit` chose on
    images that are not evaluated (camvid split "fit", camvid.h): among
    the observed confidences, the lowest threshold whose policy keeps the
    pooled mIoU of the fit images within `tolerance` points of the full
    model's on the same images. The fit reads the dense summaries the host
    collects for CNNs (workers/fit_collect.h): per image and layer the
    suite's confusion matrix of that exit and the histogram of per-pixel
    max probabilities (100 bins, so pixel_threshold is used rounded to
    0.01 there). Artifact "thr-<stage>-<pixel_threshold>-<tolerance>":
    "OFRSEGX1", then doubles threshold, pixel_threshold, tolerance, fitted
    mIoU, full mIoU, exit fraction, and int32 stage, n_images. */
#include "offramp_plugin.h"
#include "seg_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC          "OFRSEGX1"
#define BINS           100      /* workers/fit_collect.h OFR_FIT_DENSE_BINS */
#define FLOPS_SOFTMAX  5.0      /* per class and pixel */

enum { STAGE_L3 = 1, STAGE_L2 = 2, STAGE_BOTH = 3 };

typedef struct {
    char   magic[8];
    double threshold, pixel_threshold, tolerance, fit_miou, full_miou, exit_frac;
    int32_t stage, n_images;
} exit_artifact;

typedef struct {
    const ofr_host *host;
    double     threshold, pixel_threshold, tolerance;
    int        stage;
    seg_layout lay;
    int        loaded;          /* threshold known (given or loaded) */
    char       name[96];        /* artifact name for these parameters */
} exit_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "-1", -1.0, 1.0,
      "exit when this fraction of pixels is confident; < 0 = the threshold offramp fit chose" },
    { "pixel_threshold", OFR_PARAM_FLOAT, "0.9", 0.0, 1.0,
      "a pixel is confident when its max class probability reaches this" },
    { "stage", OFR_PARAM_STRING, "l3", 1, 0,
      "where to test: l3 (decoder.l3, 1/4), l2 (decoder.l2, 1/2) or both" },
    { "tolerance", OFR_PARAM_FLOAT, "1.0", 0.0, 100.0,
      "fit: allowed pooled mIoU loss (points) on the fitting images" },
    { "p", OFR_PARAM_INT, "2", 0, 64, "ESPNet residual blocks at 1/4 (level 2)" },
    { "q", OFR_PARAM_INT, "8", 0, 64, "ESPNet residual blocks at 1/8 (level 3)" },
};

static int
exit_create (const ofr_host *host, const ofr_value *v, void **state, char *err,
             size_t errlen)
{
    const char *st = v[2].s ? v[2].s : "";
    int stage = strcmp (st, "l3") == 0 ? STAGE_L3 : strcmp (st, "l2") == 0 ? STAGE_L2
              : strcmp (st, "both") == 0 ? STAGE_BOTH : 0;
    if (!stage) {
        snprintf (err, errlen, "seg_exit: stage '%s': expected l3, l2 or both", st);
        return -1;
    }
    exit_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "seg_exit: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = v[0].f;
    s->pixel_threshold = v[1].f;
    s->stage = stage;
    s->tolerance = v[3].f;
    s->lay = seg_layout_of ((int) v[4].i, (int) v[5].i);
    s->loaded = s->threshold >= 0;
    snprintf (s->name, sizeof s->name, "thr-%s-%.2f-%.2f", st, s->pixel_threshold,
              s->tolerance);
    *state = s;
    return 0;
}

static void
exit_destroy (void *state)
{
    free (state);
}

static int
stage_layer_ok (const exit_state *s, int layer)
{
    return ((s->stage & STAGE_L3) && layer == seg_dec_l3 (&s->lay))
        || ((s->stage & STAGE_L2) && layer == seg_dec_l2 (&s->lay));
}

/* mIoU (%) over classes 0..k-2 (the last class is void) of conf [k][k]. */
static double
miou_of (const double *conf, int k)
{
    double sum = 0;
    int n = 0;
    for (int c = 0; c < k - 1; c++) {
        double row = 0, col = 0;
        for (int j = 0; j < k; j++) {
            row += conf[c * k + j];
            col += conf[j * k + c];
        }
        double tp = conf[c * k + c], uni = row + col - tp;
        if (uni > 0) {
            sum += 100.0 * tp / uni;
            n++;
        }
    }
    return n ? sum / n : 0;
}

/* Fraction of pixels with max prob >= t from a BINS histogram. */
static double
hist_frac (const float *hist, double t)
{
    int j0 = (int) lround (t * BINS);
    double f = 0;
    for (int j = j0 < 0 ? 0 : j0; j < BINS; j++)
        f += hist[j];
    return f;
}

/* Pooled mIoU of the policy "exit at the first allowed stage with conf >=
   tau" over the fit images; *exits = images that exited early. */
static double
policy_miou (const exit_state *s, const ofr_fit_ctx *ctx, int n_stats, int k, double tau,
             double *conf, int *exits)
{
    int L = ctx->n_layers, W = ctx->n_outputs;
    int stages[2] = { seg_dec_l3 (&s->lay), seg_dec_l2 (&s->lay) };
    memset (conf, 0, (size_t) n_stats * sizeof *conf);
    *exits = 0;
    for (int e = 0; e < ctx->n_examples; e++) {
        int use = seg_dec_l1 (&s->lay);
        for (int t = 0; t < 2 && use == seg_dec_l1 (&s->lay); t++) {
            if (!stage_layer_ok (s, stages[t]))
                continue;
            const float *sum = ctx->probs + ((size_t) e * L + stages[t]) * W;
            if (hist_frac (sum + n_stats, s->pixel_threshold) >= tau)
                use = stages[t];
        }
        *exits += use != seg_dec_l1 (&s->lay);
        const float *st = ctx->probs + ((size_t) e * L + use) * W;
        for (int j = 0; j < n_stats; j++)
            conf[j] += st[j];
    }
    return miou_of (conf, k);
}

static int
exit_fit (void *state, const ofr_fit_ctx *ctx, char *err, size_t errlen)
{
    exit_state *s = state;
    int n_stats = ctx->n_outputs - BINS, k = (int) lround (sqrt (n_stats > 0 ? n_stats : 0));
    if (ctx->n_layers != s->lay.n || n_stats < 4 || k * k != n_stats || ctx->n_examples < 1) {
        snprintf (err, errlen, "seg_exit: expected dense summaries of an ESPNet with %d "
                  "blocks (confusion matrix + %d-bin histogram per layer, "
                  "workers/fit_collect.h), got %d layers x %d", s->lay.n, BINS,
                  ctx->n_layers, ctx->n_outputs);
        return -1;
    }
    int n = ctx->n_examples, L = ctx->n_layers, W = ctx->n_outputs;
    double *conf = calloc ((size_t) n_stats, sizeof *conf);
    double *cand = calloc ((size_t) 2 * n + 1, sizeof *cand);
    if (!conf || !cand) {
        free (conf);
        free (cand);
        snprintf (err, errlen, "seg_exit: out of memory");
        return -1;
    }
    int n_cand = 0;
    int stages[2] = { seg_dec_l3 (&s->lay), seg_dec_l2 (&s->lay) };
    for (int e = 0; e < n; e++)
        for (int t = 0; t < 2; t++)
            if (stage_layer_ok (s, stages[t]))
                cand[n_cand++] = hist_frac (ctx->probs + ((size_t) e * L + stages[t]) * W
                                            + n_stats, s->pixel_threshold);
    int exits = 0;
    double full = policy_miou (s, ctx, n_stats, k, 2.0, conf, &exits);
    double best_tau = 1.0 + 1e-9, best_miou = full;   /* never exit: always allowed */
    int best_exits = 0;
    for (int c = 0; c < n_cand; c++) {
        double m = policy_miou (s, ctx, n_stats, k, cand[c], conf, &exits);
        if (m >= full - s->tolerance && (exits > best_exits
                                         || (exits == best_exits && cand[c] > best_tau))) {
            best_tau = cand[c];
            best_miou = m;
            best_exits = exits;
        }
    }
    free (conf);
    free (cand);
    exit_artifact a = { .threshold = best_tau > 1.0 ? 1.0 + 1e-9 : best_tau,
                        .pixel_threshold = s->pixel_threshold, .tolerance = s->tolerance,
                        .fit_miou = best_miou, .full_miou = full,
                        .exit_frac = (double) best_exits / n, .stage = s->stage,
                        .n_images = n };
    memcpy (a.magic, MAGIC, 8);
    s->host->log (ctx->host_ctx, OFR_LOG_INFO, "seg_exit: on %s (%d images) threshold "
                  "%.4f: %d early exits, mIoU %.2f vs full %.2f (tolerance %.2f)",
                  ctx->split_desc, n, a.threshold, best_exits, best_miou, full,
                  s->tolerance);
    if (s->host->artifact_save (ctx->host_ctx, s->name, &a, sizeof a) != 0) {
        snprintf (err, errlen, "seg_exit: saving artifact %s failed", s->name);
        return -1;
    }
    return 0;
}

static int
exit_begin (void *state, const ofr_batch *batch)
{
    exit_state *s = state;
    if (seg_check_batch (s->host, batch, &s->lay, "seg_exit") != 0)
        return -1;
    if (s->loaded)
        return 0;
    size_t size = 0;
    const void *blob = s->host->artifact_load (batch->host_ctx, s->name, &size);
    if (!blob)
        return -1;      /* the host logged why, with the fit command */
    exit_artifact a;
    if (size != sizeof a || (memcpy (&a, blob, sizeof a), memcmp (a.magic, MAGIC, 8) != 0)
        || a.stage != s->stage || fabs (a.pixel_threshold - s->pixel_threshold) > 1e-9) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_exit: artifact %s (%zu bytes) "
                      "is not a seg_exit threshold for these parameters: re-run offramp fit",
                      s->name, size);
        return -1;
    }
    s->threshold = a.threshold;
    s->loaded = 1;
    s->host->log (batch->host_ctx, OFR_LOG_INFO, "seg_exit: fitted threshold %.4f (fit "
                  "images %d, fit mIoU %.2f vs full %.2f)", a.threshold, a.n_images,
                  a.fit_miou, a.full_miou);
    return 0;
}

static int
exit_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    exit_state *s = state;
    if (!stage_layer_ok (s, layer))
        return 0;
    for (int i = 0; i < batch->n_rows; i++) {
        int n_pos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
        if (!p)
            return -1;
        int k = n_pos > 0 ? batch->n_outputs / n_pos : 0;
        if (n_pos < 2 || k < 2 || k * n_pos != batch->n_outputs) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_exit: the exit at block %d "
                          "is not a per-pixel distribution (%d outputs, %d positions)",
                          layer + 1, batch->n_outputs, n_pos);
            return -1;
        }
        s->host->charge_flops (batch->host_ctx, i, (FLOPS_SOFTMAX + 1.0) * k * n_pos);
        if (seg_confident_fraction (p, k, (size_t) n_pos, s->pixel_threshold) >= s->threshold)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_method = {
    OFR_METHOD_HEADER,
    .name = "seg_exit",
    .version = "1.0",
    .summary = "exit ESPNet at a coarser decoder stage when enough pixels are confident (fitted threshold)",
    .kinds = OFR_KIND_CNN,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = exit_create,
    .destroy = exit_destroy,
    .fit = exit_fit,
    .begin = exit_begin,
    .after_layer = exit_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_method;
}
