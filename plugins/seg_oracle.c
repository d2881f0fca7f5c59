/*  seg_oracle.c -- the per-image oracle for ESPNet (an upper bound, flagged
    OFR_METHOD_ORACLE): each image runs the cheapest configuration of a
    small set whose contribution to the pooled mIoU matches the full
    model's on that image.

    Configurations: every skip pattern of `patterns` (';'-separated,
    seg_common.h syntax) x every exit (decoder.l3, decoder.l2, decoder.l1).
    Before the first block, the oracle scores each configuration of each
    image against its ground truth with the host's oracle_try (ABI 1.2:
    scratch state, free of charge, its time kept out of the image's wall
    time), then runs the chosen one for real: those FLOPs (host
    layer_flops of the blocks it runs, plus the BR of each skipped
    residual block, which a skip keeps: out = BR(x), 3 FLOPs per element,
    charged here as in seg_skip.c) and that time are what is reported.

    "Matches" (`rule`):
      dominate    (default) for every class but void, the configuration's
                  true positives are >= the full model's and its
                  union (TP + FP + FN) is <= the full model's on the image:
                  then every pooled IoU, hence the pooled mIoU, is >= the
                  full model's, whatever the other images do;
      image_miou  the image's own mIoU (classes present in label or
                  prediction) is >= the full model's minus `tolerance`.
    The full model (no skip, exit at decoder.l1) always matches. */
#include "offramp_plugin.h"
#include "seg_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATTERNS 16
#define MAX_STATS    1024

/* FLOPs of skipped residual block `layer` for an image of `pixels` input
   pixels: its BR, 3 per output element (ofr_espnet_block_skip_flops; the
   same rule as seg_skip.c). */
static double
skip_br_flops (const seg_layout *lay, int layer, double pixels)
{
    if (!seg_skippable (lay, layer))
        return 0.0;
    return seg_in_level3 (lay, layer) ? 3.0 * 128 * pixels / 64.0 : 3.0 * 64 * pixels / 16.0;
}

typedef struct {
    const ofr_host *host;
    seg_layout lay;
    int        n_pat;
    uint8_t    masks[MAX_PATTERNS][SEG_MAX_BLOCKS];
    int        dominate;
    double     tolerance;
    int        classes;
    int        cap;
    int       *choice_pat;       /* [cap] chosen pattern per row   */
    int       *choice_exit;      /* [cap] chosen exit layer        */
    double    *stats;            /* [n_pat * 3][MAX_STATS] scratch */
    long       chosen[MAX_PATTERNS][3];
} oracle_state;

static const ofr_param_decl s_params[] = {
    { "patterns", OFR_PARAM_STRING, "none;l2-all;l3-last2;l3-last4;l3-every2;l3-all;l2-all,l3-all",
      1, 0, "skip patterns to choose from, ';'-separated (seg_skip syntax); 'none' is always added" },
    { "rule", OFR_PARAM_STRING, "dominate", 1, 0,
      "dominate (per-class TP >= and union <= the full model's) or image_miou" },
    { "tolerance", OFR_PARAM_FLOAT, "0", 0.0, 100.0,
      "image_miou: allowed loss of the image's mIoU (points)" },
    { "p", OFR_PARAM_INT, "2", 0, 64, "ESPNet residual blocks at 1/4 (level 2)" },
    { "q", OFR_PARAM_INT, "8", 0, 64, "ESPNet residual blocks at 1/8 (level 3)" },
    { "classes", OFR_PARAM_INT, "12", 1, 256,
      "model classes (n_outputs = classes x H x W; sizes the charged BRs of skipped blocks)" },
};

static int
oracle_create (const ofr_host *host, const ofr_value *v, void **state, char *err,
               size_t errlen)
{
    const char *rule = v[1].s ? v[1].s : "";
    if (strcmp (rule, "dominate") != 0 && strcmp (rule, "image_miou") != 0) {
        snprintf (err, errlen, "seg_oracle: rule '%s': expected dominate or image_miou", rule);
        return -1;
    }
    if (host->struct_size < offsetof (ofr_host, oracle_try) + sizeof host->oracle_try
        || !host->oracle_try) {
        snprintf (err, errlen, "seg_oracle: the host has no oracle_try (ABI 1.2)");
        return -1;
    }
    oracle_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "seg_oracle: out of memory");
        return -1;
    }
    s->host = host;
    s->dominate = strcmp (rule, "dominate") == 0;
    s->tolerance = v[2].f;
    s->lay = seg_layout_of ((int) v[3].i, (int) v[4].i);
    s->classes = (int) v[5].i;
    /* Pattern 0 is "none" (the full model's path). */
    const char *spec = v[0].s ? v[0].s : "";
    s->n_pat = 1;
    int rc = seg_parse_skip ("none", &s->lay, s->masks[0], "seg_oracle", err, errlen);
    while (rc == 0 && *spec) {
        size_t len = strcspn (spec, ";");
        char one[256];
        if (len >= sizeof one) {
            snprintf (err, errlen, "seg_oracle: pattern too long in '%s'", v[0].s);
            rc = -1;
            break;
        }
        memcpy (one, spec, len);
        one[len] = 0;
        spec += len + (spec[len] == ';');
        if (len == 0 || strcmp (one, "none") == 0)
            continue;
        if (s->n_pat >= MAX_PATTERNS) {
            snprintf (err, errlen, "seg_oracle: at most %d patterns", MAX_PATTERNS - 1);
            rc = -1;
            break;
        }
        rc = seg_parse_skip (one, &s->lay, s->masks[s->n_pat], "seg_oracle", err, errlen);
        s->n_pat += rc == 0;
    }
    if (rc == 0 && !(s->stats = calloc ((size_t) s->n_pat * 3 * MAX_STATS, sizeof *s->stats))) {
        snprintf (err, errlen, "seg_oracle: out of memory");
        rc = -1;
    }
    if (rc != 0) {
        free (s->stats);
        free (s);
        return -1;
    }
    *state = s;
    return 0;
}

static void
oracle_destroy (void *state)
{
    oracle_state *s = state;
    if (!s)
        return;
    char line[1024];
    size_t at = 0;
    long total = 0;
    static const char *const ex[3] = { "l3", "l2", "l1" };
    for (int p = 0; p < s->n_pat; p++)
        for (int e = 0; e < 3; e++)
            if (s->chosen[p][e] && at < sizeof line - 48) {
                at += (size_t) snprintf (line + at, sizeof line - at, " p%d/%s:%ld", p,
                                         ex[e], s->chosen[p][e]);
                total += s->chosen[p][e];
            }
    if (total)
        s->host->log (NULL, OFR_LOG_INFO, "seg_oracle: %ld images by (pattern/exit):%s",
                      total, line);
    free (s->choice_pat);
    free (s->choice_exit);
    free (s->stats);
    free (s);
}

static int
oracle_begin (void *state, const ofr_batch *batch)
{
    oracle_state *s = state;
    if (seg_check_batch (s->host, batch, &s->lay, "seg_oracle") != 0)
        return -1;
    if (batch->batch_size > s->cap) {
        free (s->choice_pat);
        free (s->choice_exit);
        s->choice_pat = calloc ((size_t) batch->batch_size, sizeof *s->choice_pat);
        s->choice_exit = calloc ((size_t) batch->batch_size, sizeof *s->choice_exit);
        s->cap = batch->batch_size;
        if (!s->choice_pat || !s->choice_exit) {
            s->cap = 0;
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_oracle: out of memory");
            return -1;
        }
    }
    return 0;
}

/* Per class c < k - 1: tp and union of the image's confusion [k][k]. */
static void
class_terms (const double *conf, int k, int c, double *tp, double *uni)
{
    double row = 0, col = 0;
    for (int j = 0; j < k; j++) {
        row += conf[c * k + j];
        col += conf[j * k + c];
    }
    *tp = conf[c * k + c];
    *uni = row + col - *tp;
}

static double
image_miou (const double *conf, int k)
{
    double sum = 0, tp, uni;
    int n = 0;
    for (int c = 0; c < k - 1; c++) {
        class_terms (conf, k, c, &tp, &uni);
        if (uni > 0) {
            sum += 100.0 * tp / uni;
            n++;
        }
    }
    return n ? sum / n : 100.0;
}

static int
matches (const oracle_state *s, const double *cand, const double *full, int k)
{
    if (!s->dominate)
        return image_miou (cand, k) >= image_miou (full, k) - s->tolerance;
    for (int c = 0; c < k - 1; c++) {
        double tp, uni, ftp, funi;
        class_terms (cand, k, c, &tp, &uni);
        class_terms (full, k, c, &ftp, &funi);
        if (tp < ftp || uni > funi)
            return 0;
    }
    return 1;
}

/* Choose the configuration of active row i. */
static int
choose (oracle_state *s, const ofr_batch *batch, int i)
{
    const seg_layout *L = &s->lay;
    int exits[3] = { seg_dec_l3 (L), seg_dec_l2 (L), seg_dec_l1 (L) };
    int n_stats = 0;
    for (int p = 0; p < s->n_pat; p++)
        for (int e = 0; e < 3; e++) {
            int m = s->host->oracle_try (batch->host_ctx, i, s->masks[p], exits[e],
                                         s->stats + (size_t) (p * 3 + e) * MAX_STATS,
                                         MAX_STATS);
            if (m < 4 || (n_stats && m != n_stats)) {
                s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_oracle: oracle_try "
                              "failed for pattern %d, exit block %d", p, exits[e] + 1);
                return -1;
            }
            n_stats = m;
        }
    int k = (int) lround (sqrt (n_stats));
    if (k * k != n_stats) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "seg_oracle: the suite's statistics "
                      "(%d) are not a confusion matrix", n_stats);
        return -1;
    }
    const double *full = s->stats + (size_t) 2 * MAX_STATS;   /* pattern 0, exit l1 */
    int best_p = 0, best_e = 2;
    double best_cost = HUGE_VAL, pixels = (double) batch->n_outputs / s->classes;
    for (int p = 0; p < s->n_pat; p++)
        for (int e = 0; e < 3; e++) {
            double cost = 0;
            for (int l = 0; l <= exits[e]; l++)
                cost += s->masks[p][l] ? skip_br_flops (&s->lay, l, pixels)
                                       : s->host->layer_flops (batch->host_ctx, i, l);
            if (cost < best_cost
                && matches (s, s->stats + (size_t) (p * 3 + e) * MAX_STATS, full, k)) {
                best_cost = cost;
                best_p = p;
                best_e = e;
            }
        }
    int r = batch->row_ids[i];
    s->choice_pat[r] = best_p;
    s->choice_exit[r] = exits[best_e];
    s->chosen[best_p][best_e]++;
    return 0;
}

static int
oracle_before_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    oracle_state *s = state;
    double pixels = (double) batch->n_outputs / s->classes;
    for (int i = 0; i < batch->n_rows; i++) {
        if (layer == 0 && choose (s, batch, i) != 0)
            return -1;
        if (s->masks[s->choice_pat[batch->row_ids[i]]][layer]) {
            actions[i] = OFR_SKIP;
            s->host->charge_flops (batch->host_ctx, i, skip_br_flops (&s->lay, layer, pixels));
        }
    }
    return 0;
}

static int
oracle_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    oracle_state *s = state;
    for (int i = 0; i < batch->n_rows; i++)
        if (layer >= s->choice_exit[batch->row_ids[i]])
            actions[i] = OFR_EXIT;
    return 0;
}

static const ofr_method s_method = {
    OFR_METHOD_HEADER,
    .name = "seg_oracle",
    .version = "1.0",
    .summary = "oracle (upper bound): per image the cheapest skip/exit configuration matching the full model's mIoU contribution",
    .kinds = OFR_KIND_CNN,
    .flags = OFR_METHOD_ORACLE,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = oracle_create,
    .destroy = oracle_destroy,
    .begin = oracle_begin,
    .before_layer = oracle_before_layer,
    .after_layer = oracle_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_method;
}
