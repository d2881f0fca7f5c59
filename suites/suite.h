/*  suite.h -- evaluation suites: dataset readers + metrics.

    A suite class knows how to load a split of its data set into examples,
    how to turn a model's prediction for one example into that example's
    sufficient statistics (a fixed number of doubles: `correct`, confusion
    counts, n-gram matches, IoU intersections/unions...), and how to compute
    its metrics from the statistics of many examples. Metrics are computed
    only from pooled statistics, so sharding never changes a score, and the
    coordinator/report can compute them without the data. */
#ifndef OFR_SUITE_H
#define OFR_SUITE_H

#include <stddef.h>
#include <stdint.h>

#define OFR_MAX_METRICS 16

/* One example as a model driver sees it. Fields a suite does not have are
   NULL / -1 / 0. Strings are owned by the suite. */
typedef struct {
    const char  *id;           /* stable example id from the data set       */
    const char  *text_a;       /* first sentence                            */
    const char  *text_b;       /* second sentence of a pair, or NULL        */
    int          label;        /* gold class, -1 if none                     */
    double       target;       /* regression target (STS-B)                  */
    const float *features;     /* dense input vector (synthetic suites)      */
    int          n_features;
} ofr_example;

/* A model's output for one example, handed to the suite's scorer. */
typedef struct {
    int          cls;          /* argmax class, -1 if not a classifier      */
    double       value;        /* regression output                         */
    const float *probs;        /* [n_probs] class probabilities or NULL     */
    int          n_probs;
    const char  *text;         /* generated text or NULL                    */
    const uint8_t *labels;     /* [n_labels] per-pixel classes (OFR_KIND_CNN), or NULL */
    int          n_labels;
} ofr_prediction;

typedef struct {
    const char *name;          /* "accuracy", "f1", "mcc", "pearson", ...   */
    double      value;         /* in the unit users expect: % for accuracy  */
} ofr_metric;

typedef struct ofr_suite_class {
    const char *name;          /* "sst2"                                     */
    const char *summary;       /* one line for `offramp suites`               */
    unsigned    kinds;         /* OFR_KIND_* of models that can run it       */
    const char *default_split;
    const char *data_subdir;   /* under the data dir, e.g. "glue/sst2"; NULL = generated */
    int         n_classes;     /* classes (0 for regression / generation)    */
    int         n_stats;       /* sufficient statistics per example          */
    const char *primary;       /* primary metric name                        */

    /* Load `split` from data_dir (the directory holding data_subdir). On
       success *data is the suite's private state and *n its example count. */
    int  (*load)(const char *data_dir, const char *split, void **data, int *n,
                 char *err, size_t errlen);
    void (*free)(void *data);
    /* Fill *ex for example i (0 <= i < n). */
    int  (*example)(void *data, int i, ofr_example *ex);
    /* Sufficient statistics of one prediction: writes n_stats doubles. */
    int  (*score)(void *data, int i, const ofr_prediction *pred, double *stats);
    /* Metrics from stats [n][n_stats] (row order = example order; metrics
       that need ranks, like Spearman, may use the rows). Returns the number
       of metrics written (<= max_out), or -1. */
    int  (*metrics)(const double *stats, int n, ofr_metric *out, int max_out);
} ofr_suite_class;

/* Registry of built-in suites. NULL if unknown. */
const ofr_suite_class *ofr_suite_find (const char *name);
/* All registered suites, NULL terminated. */
const ofr_suite_class *const *ofr_suite_all (void);

#endif
