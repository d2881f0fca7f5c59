/*  model.h -- the runtime's view of a layered model.

    A model family (testnet, bert, llama, espnet...) implements ofr_model_ops.
    Drivers (runner.c for classifiers) call these to run a batch layer by
    layer, so that a method plugin can decide between layers. The model owns
    all activations of a batch; the driver only names rows by their stable
    index in [0, batch_size). */
#ifndef OFR_MODEL_H
#define OFR_MODEL_H

#include "../suites/suite.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_model ofr_model;
typedef struct ofr_mbatch ofr_mbatch;   /* activations of one batch */

typedef struct {
    const char *family;        /* "testnet"                                    */
    unsigned    kind;          /* OFR_KIND_* bit                                */

    /* Shapes. */
    int  (*n_layers)(const ofr_model *m);
    int  (*n_outputs)(const ofr_model *m);   /* classes (1 for regression)      */
    int  (*hidden_dim)(const ofr_model *m);

    void (*destroy)(ofr_model *m);

    /* Prepare a batch: tokenize / embed the examples. */
    int  (*batch_begin)(ofr_model *m, const ofr_example *ex, int n,
                        ofr_mbatch **out, char *err, size_t errlen);
    void (*batch_end)(ofr_mbatch *mb);

    /* Run `layer` on the active rows rows[0..n) (stable indices); lowp[i]
       nonzero = reduced precision for that row. Rows not listed keep their
       state (skipped or exited). Returns 0 or -1. */
    int  (*run_layer)(ofr_mbatch *mb, int layer, const int *rows,
                      const uint8_t *lowp, int n, char *err, size_t errlen);

    /* Exit head of `layer` for row: writes n_outputs probabilities. */
    int  (*exit_probs)(ofr_mbatch *mb, int layer, int row, float *probs);
    /* Pooled hidden state of row (read-only, hidden_dim floats). */
    const float *(*hidden)(ofr_mbatch *mb, int row);

    /* Analytic cost (FLOPs, 2 per MAC) of one layer / one exit head for row. */
    double (*layer_flops)(ofr_mbatch *mb, int layer, int row);
    double (*head_flops)(ofr_mbatch *mb, int layer, int row);
    /* Cost factor of a reduced-precision layer relative to full (e.g. 0.5). */
    double lowp_cost;
    /* Optional (NULL): auxiliary tensor by name (method components shipped
       with the checkpoint), *n elements; NULL if absent. */
    const float *(*aux_tensor)(const ofr_model *m, const char *name, size_t *n);
    /* Optional (NULL): raw state of row before any exit head (the [CLS]
       state for encoders), hidden_dim floats. */
    const float *(*raw_hidden)(ofr_mbatch *mb, int row);
    /* Optional (NULL), dense prediction (OFR_KIND_CNN): the per-pixel class
       map row predicts if it exits after `layer` (model owned, valid until
       the next call), *n pixels; NULL on error. The runner hands it to the
       suite as ofr_prediction.labels. */
    const uint8_t *(*exit_labels)(ofr_mbatch *mb, int layer, int row, int *n);
    /* Optional (NULL), dense prediction, for oracles (host oracle_try): the
       label map row would predict if it ran with the layers marked in
       skip[0..n_layers) skipped (NULL: none) and exited after exit_layer,
       computed on scratch state (the row's own state is untouched; model
       owned, valid until the next call), *n pixels; NULL with err set. */
    const uint8_t *(*try_labels)(ofr_mbatch *mb, int row, const uint8_t *skip,
                                 int exit_layer, int *n, char *err, size_t errlen);
} ofr_model_ops;

/* Every model object starts with this header. */
struct ofr_model {
    const ofr_model_ops *ops;
    char                *name;
};

/* Open a model by name. Search order: built-in generated models
   ("testnet..."), then directories from `models_path` (':'-separated).
   Returns 0 or -1 with a message naming the model. */
int  ofr_model_open (const char *name, const char *models_path,
                     ofr_model **out, char *err, size_t errlen);
void ofr_model_destroy (ofr_model **m);

#endif
