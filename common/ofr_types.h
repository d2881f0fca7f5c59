/*  ofr_types.h -- the plain data that travels between plan, coordinator,
    worker, store and report: cells (what to evaluate) and records (what one
    example produced). Owned strings are heap allocated; *_clear frees them. */
#ifndef OFR_TYPES_H
#define OFR_TYPES_H

#include <stdint.h>

/* One textual method parameter as the user wrote it ("threshold", "0.3"). */
typedef struct {
    char *key;
    char *value;
} ofr_kv;

/* A cell: one model x suite x method configuration of a run. */
typedef struct {
    int       index;        /* position in the run's cell list (0-based)        */
    char     *model;        /* model name, resolved by the worker              */
    char     *suite;        /* suite name                                       */
    char     *split;        /* suite split ("dev")                              */
    int       limit;        /* first `limit` examples of the split, 0 = all      */
    char     *method;       /* plugin name                                      */
    ofr_kv   *params;       /* [n_params] user parameters, no sweeps left       */
    int       n_params;
    int       batch_size;   /* rows per model batch                              */
    uint64_t  seed;         /* per-cell seed for plugin RNGs                     */
} ofr_cell;

/* Deep copy / free. ofr_cell_copy returns 0 or -1 (allocation). */
int  ofr_cell_copy (ofr_cell *dst, const ofr_cell *src);
void ofr_cell_clear (ofr_cell *cell);

/* "threshold=0.3,patience=2" (keys in the given order); caller frees. */
char *ofr_cell_params_str (const ofr_cell *cell);

/* What one example produced under one cell. */
typedef struct {
    int       cell;          /* cell index                                       */
    int       example;       /* example index within the suite split             */
    double    prediction;    /* class index, or regression value                  */
    char     *pred_text;     /* generated text, or NULL                           */
    double   *stats;         /* [n_stats] the suite's sufficient statistics       */
    int       n_stats;
    int       exit_layer;    /* 1-based layer whose exit was used (sequence level) */
    int       skipped;       /* layers the row skipped (SKIP), summed over tokens */
    uint8_t  *token_exits;   /* [n_tokens] 1-based exit layer per token, or NULL  */
    int       n_tokens;
    int       n_layers;      /* decision layers of the model (histogram width)    */
    double    flops;         /* FLOPs charged to this example, all overheads in   */
    double    flops_full;    /* FLOPs the full model would spend on this example  */
    double    wall_ms;       /* wall time attributed to the example               */
} ofr_record;

void ofr_record_clear (ofr_record *r);

#endif
