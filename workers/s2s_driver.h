/*  s2s_driver.h -- the decoding engine of the seq2seq driver
    (seq2seq_runner.c turns suite examples into source ids and results into
    records): a batch of sentences decoded together, greedy or beam search
    (s2s_hyps.h), with the method plugin deciding per layer for every row
    (a sentence's hypothesis) of every position, and the plugin host table.

    Per batch: every source is encoded once (slots of one ofr_s2s_state);
    the full model's own search runs first on the same rows (uncharged,
    untimed: it gives flops_full), then the method's. All rows of a batch
    are at the same position (step), so one ofr_batch call covers them:
    row_ids are state rows (sentence j, hypothesis k: j * beam + k), rows
    leave the call's active set when they exit (their upper layers' K/V are
    filled per kv_policy) and the search when their sentence is finished;
    every layer is one ofr_s2s_layer over the rows that run it. Exit heads a
    plugin asks for are computed for all active rows at once and charged per
    row asked. Wall time of each layer step is split among the rows active
    in it; the encoder's among the sentences by source length. */
#ifndef OFR_S2S_DRIVER_H
#define OFR_S2S_DRIVER_H

#include "runner.h"
#include "models/seq2seq.h"

#include <stdint.h>

#define OFR_S2S_DRIVER_MAX_STEPS 256     /* CTranslate2's max_decoding_length */

typedef struct ofr_s2s_driver ofr_s2s_driver;

/* batch 1..4096 sentences, beam 1..64, at most max_length (<= 256)
   decoding steps. Returns 0 or -1 with a message. */
int  ofr_s2s_driver_new (const ofr_runner_ctx *ctx, const ofr_seq2seq *m, ofr_s2s_kv_fill fill,
                         int batch, int beam, float length_penalty, int max_length,
                         ofr_s2s_driver **out, char *err, size_t errlen);
void ofr_s2s_driver_destroy (ofr_s2s_driver **d);

/* Decode src[j][0..n_src[j]) for j < nb (<= batch; n_src[j] = 0: empty
   output, nothing run or charged). rng_seed seeds rng_uniform for the
   batch. Returns 0 or -1 (model or plugin error). */
int  ofr_s2s_driver_run (ofr_s2s_driver *d, const int *const *src, const int *n_src, int nb,
                         uint64_t rng_seed, char *err, size_t errlen);

typedef struct {
    const int     *tokens;      /* output (EOS excluded)                       */
    int            n_tokens;
    const uint8_t *exits;       /* 1-based exit layer of each position          */
    int            n_exits;
    double         flops, flops_full, wall_ms;
} ofr_s2s_result;

/* Sentence j of the last run (valid until the next run). */
ofr_s2s_result ofr_s2s_driver_result (const ofr_s2s_driver *d, int j);

/* The host table seq2seq plugins receive (static). */
const ofr_host *ofr_s2s_driver_host (void);

#endif
