/*  fit_collect.h -- runs a frozen model over a fitting split and collects,
    per example and layer, the model's exit distribution and a feature
    vector, plus the label: the data of an ofr_fit_ctx (offramp_plugin.h).

    Features are what a plugin reads at evaluation through the host table:
    token_state (the model's raw state, [CLS] for encoders) where the model
    has one, else hidden_state -- the same rule at fit and at run time, so
    fitted heads see at evaluation exactly what they were fitted on. */
#ifndef OFR_FIT_COLLECT_H
#define OFR_FIT_COLLECT_H

#include "model.h"
#include "../suites/suite.h"

#include <stdbool.h>

/*  Dense prediction (OFR_KIND_CNN models with exit_labels): one exit
    distribution has classes x pixels floats, far too many to keep per
    example and layer, so for these models probs[e][l] is a summary of
    n_outputs = suite n_stats + OFR_FIT_DENSE_BINS floats instead: the
    suite's statistics of the layer's exit prediction against the ground
    truth (camvid: the 12x12 confusion matrix, label rows) followed by the
    histogram of the per-pixel max probability, OFR_FIT_DENSE_BINS bins of
    width 1/OFR_FIT_DENSE_BINS (bin j = [j, j+1) / BINS, 1.0 in the last),
    as fractions of the pixels. All zero at layers without an exit. */
#define OFR_FIT_DENSE_BINS 100

typedef struct {
    int    n, n_layers, n_outputs, feat_dim;
    float *probs;      /* [n][n_layers][n_outputs]; uniform where a layer has no head */
    float *features;   /* [n][n_layers][feat_dim]                                */
    int   *labels;     /* [n], -1 where the example has none                      */
    bool   raw_state;  /* features are token_state (else hidden_state)           */
} ofr_fit_data;

/* Run examples 0..n-1 of the loaded suite data through every layer of
   `model`, batch_size rows at a time. progress: a line on stderr every few
   seconds. Returns 0 and fills *out (clear it with ofr_fit_data_clear), or
   -1 with a message (out of memory names the size). */
int  ofr_fit_collect (ofr_model *model, const ofr_suite_class *suite, void *suite_data,
                      int n, int batch_size, bool progress, ofr_fit_data *out,
                      char *err, size_t errlen);

void ofr_fit_data_clear (ofr_fit_data *data);

#endif
