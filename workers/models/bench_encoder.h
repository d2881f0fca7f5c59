/*  bench_encoder.h -- `offramp bench encoder`: full-model forward of an
    encoder checkpoint timed against the OpenBLAS sgemm peak, against the
    python3-torch re-implementation (tests/ref/encoder_ref.py) on the same
    weights and threads, and an early-exit configuration's wall-clock
    speed-up against its FLOPs speed-up. Not a public header: the command
    (cmd_bench_encoder.c), the measurements (bench_encoder.c) and the
    random checkpoints (bench_encoder_ckpt.c) share it. */
#ifndef OFR_BENCH_ENCODER_H
#define OFR_BENCH_ENCODER_H

#include "../model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `offramp bench encoder ...` (argv[0] = "encoder"); registered in
   workers/engine/cmd_bench.c. Returns 0, 1 (failure) or 2 (usage). */
int ofr_bench_encoder_cmd (int argc, char **argv);

/* Shape of a generated BERT checkpoint (random weights, an exit head after
   every layer). */
typedef struct {
    const char *name;      /* "tiny", "base"                                 */
    int layers, hidden, heads, intermediate, vocab, max_positions;
} ofr_bench_shape;

/* The shape called name, or NULL. */
const ofr_bench_shape *ofr_bench_shape_find (const char *name);

/* Write config.json and model.safetensors of shape s (bert family, F32,
   deterministic from seed) into the existing directory dir. Returns 0 or
   -1 with a message. */
int ofr_bench_write_checkpoint (const char *dir, const ofr_bench_shape *s,
                                uint64_t seed, char *err, size_t errlen);

/* Milliseconds over the repeats of one measurement. */
typedef struct {
    double median, min, max;
    int    n;
} ofr_bench_stat;

/* Median, min and max of ms[0..n) (sorts ms in place); n >= 1. */
void ofr_bench_stat_of (double *ms, int n, ofr_bench_stat *out);

/* One batch size's measurements (C side). */
typedef struct {
    int            batch;
    ofr_bench_stat forward;       /* batch_begin + every layer + last head + end */
    ofr_bench_stat begin;         /* batch_begin alone (allocation, embeddings) */
    double         flops;         /* analytic FLOPs of the full forward        */
    double         sgemm_gflops;  /* ofr_matmul alone on this batch's projection
                                     shapes, FLOP-weighted (the model's ceiling) */
    /* Early exit: DeeBERT entropy rule, threshold set so that the mean exit
       depth is closest to depth_target of the layers. */
    double         threshold;     /* nats: exit at the first entropy <= it     */
    double         mean_depth;    /* layers run per row, mean                  */
    double         exit_flops;    /* analytic, exit heads included             */
    ofr_bench_stat exit_forward;
    float         *logits;        /* [batch][num_labels] of the last layer     */
} ofr_bench_batch;

typedef struct {
    int    tokens, repeat;
    double depth_target;          /* fraction of the layers, (0, 1]            */
    double sgemm_seconds;         /* per projection shape of the ceiling       */
} ofr_bench_params;

/* Measure batch size b->batch on model m (ids: at least b->batch rows of
   p->tokens ids each). Fills *b (b->logits allocated: caller frees).
   Returns 0 or -1 with a message. */
int ofr_bench_encoder_batch (ofr_model *m, const int32_t *ids,
                             const ofr_bench_params *p, ofr_bench_batch *b,
                             char *err, size_t errlen);

/* The python3-torch measurement (tools/bench_encoder_torch.py). */
typedef struct {
    bool            ok;
    char            reason[256];   /* why not ok ("skipped (...)")           */
    char            version[32];
    int             threads;
    ofr_bench_stat *ms;            /* [n_batches]                            */
    float          *logits;        /* [rows][num_labels] of the largest batch */
    int             rows;
} ofr_bench_torch;

/* Run `python script model_dir ids_path batches threads repeat`, its stderr
   into err_path, and read its JSON. Never fails: a python, torch or script
   problem leaves t->ok false with the reason. Free with
   ofr_bench_torch_free. */
void ofr_bench_torch_run (const char *python, const char *script, const char *model_dir,
                          const char *ids_path, const char *err_path, const int *batches,
                          int n_batches, int threads, int repeat, int num_labels,
                          ofr_bench_torch *t);
void ofr_bench_torch_free (ofr_bench_torch *t);

/* Everything `offramp bench encoder` prints (bench_encoder_report.c). */
#define OFR_BENCH_MAX_BATCHES 16
typedef struct {
    const ofr_model *model;
    const char      *model_name;
    int              n_batches, tokens, repeat;
    double           depth;        /* early exit's target depth fraction     */
    double           peak;         /* sgemm GFLOP/s, ofr_bench_sgemm_peak    */
    ofr_bench_batch  b[OFR_BENCH_MAX_BATCHES];
    ofr_bench_torch  torch;
} ofr_bench_report;

/* Print r as a table or as one JSON object on stdout. */
void ofr_bench_report_print (const ofr_bench_report *r, bool json);

#endif
