/*  synthetic_suite.c -- the generated suite testnet is evaluated on (see
    testnet.h). Splits: "dev" (600 examples) and "train" (2000), disjoint
    seeds. Sufficient statistic per example: correct (0/1). */
#include "testnet.h"
#include "../../common/ofr_common.h"
#include "../../plugins/offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D OFR_TESTNET_DIM

typedef struct {
    int    n;
    float *x;        /* [n][D] */
    int   *label;    /* [n]    */
    char (*ids)[16];
} synthetic;

static void
syn_free (void *data)
{
    synthetic *s = data;
    if (!s)
        return;
    free (s->x);
    free (s->label);
    free (s->ids);
    free (s);
}

static int
syn_load (const char *data_dir, const char *split, void **data, int *n,
          char *err, size_t errlen)
{
    (void) data_dir;
    int count;
    uint64_t seed;
    if (strcmp (split, "dev") == 0)
        count = 600, seed = 7;
    else if (strcmp (split, "train") == 0)
        count = 2000, seed = 8;
    else
        return ofr_errf (err, errlen,
                         "suite synthetic: unknown split '%s' (expected dev or train)", split);
    synthetic *s = ofr_calloc (1, sizeof *s);
    if (!s)
        return ofr_errf (err, errlen, "suite synthetic: out of memory");
    s->n = count;
    s->x = ofr_calloc ((size_t) count * D, sizeof (float));
    s->label = ofr_calloc ((size_t) count, sizeof (int));
    s->ids = ofr_calloc ((size_t) count, sizeof *s->ids);
    if (!s->x || !s->label || !s->ids) {
        syn_free (s);
        return ofr_errf (err, errlen, "suite synthetic: out of memory");
    }
    ofr_rng r;
    ofr_rng_seed (&r, seed);
    for (int i = 0; i < count; i++) {
        double score[OFR_TESTNET_CLASSES] = { 0 };
        for (int j = 0; j < D; j++) {
            float v = (float) ofr_rng_normal (&r);
            s->x[(size_t) i * D + j] = v;
            for (int c = 0; c < OFR_TESTNET_CLASSES; c++)
                score[c] += ofr_testnet_teacher (c, j) * v;
        }
        int best = 0;
        for (int c = 1; c < OFR_TESTNET_CLASSES; c++)
            if (score[c] > score[best])
                best = c;
        s->label[i] = best;
        snprintf (s->ids[i], sizeof s->ids[i], "%s-%d", split, i);
    }
    *data = s;
    *n = count;
    return 0;
}

static int
syn_example (void *data, int i, ofr_example *ex)
{
    synthetic *s = data;
    if (i < 0 || i >= s->n)
        return -1;
    memset (ex, 0, sizeof *ex);
    ex->id = s->ids[i];
    ex->label = s->label[i];
    ex->features = s->x + (size_t) i * D;
    ex->n_features = D;
    return 0;
}

static int
syn_score (void *data, int i, const ofr_prediction *pred, double *stats)
{
    synthetic *s = data;
    if (i < 0 || i >= s->n)
        return -1;
    stats[0] = pred->cls == s->label[i] ? 1.0 : 0.0;
    return 0;
}

static int
syn_metrics (const double *stats, int n, ofr_metric *out, int max_out)
{
    if (max_out < 1)
        return -1;
    double correct = 0;
    for (int i = 0; i < n; i++)
        correct += stats[i];
    out[0].name = "accuracy";
    out[0].value = n ? 100.0 * correct / n : 0.0;
    return 1;
}

const ofr_suite_class ofr_suite_synthetic = {
    .name = "synthetic",
    .summary = "generated 2-class task for the testnet test double (600 dev / 2000 train)",
    .kinds = OFR_KIND_ENCODER,
    .default_split = "dev",
    .data_subdir = NULL,
    .n_classes = OFR_TESTNET_CLASSES,
    .n_stats = 1,
    .primary = "accuracy",
    .load = syn_load,
    .free = syn_free,
    .example = syn_example,
    .score = syn_score,
    .metrics = syn_metrics,
};
