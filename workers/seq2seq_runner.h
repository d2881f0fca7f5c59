/*  seq2seq_runner.h -- the encoder-decoder driver: runs one cell's examples
    of a translation-style suite (any suite of kind OFR_KIND_SEQ2SEQ; the
    example's text_a is the source, the prediction handed to the suite's
    score() is the output text) through a seq2seq model (OFR_KIND_SEQ2SEQ,
    workers/models/seq2seq_model.h), and implements the plugin host table
    for seq2seq models.

    Per example: the source (tokens separated by spaces) is encoded once,
    which also caches every decoder layer's cross-attention K/V; then the
    method's hypothesis is decoded greedily token by token (CTranslate2's
    greedy search: start token, EOS disabled at step 0, at most 256 steps,
    EOS not in the output), the plugin deciding before and after every
    decoder layer of every position (batch->step = the position, 0 for the
    first decoder step). Exit after layer l = the final LayerNorm + output
    projection on the current decoder state; SKIP = identity. The layers a
    position did not run (skipped, or above its exit) get the self-attention
    K/V entry the method's kv_policy says: OFR_KV_COPY_UP projects the
    current state through the layer's norm and K/V weights (charged
    ofr_s2s_kv_fill_flops each), OFR_KV_MASK leaves none (later positions
    do not attend there; free). OFR_KV_RECOMPUTE is refused. Every position
    is a decision step and is in the record's token_exits (1-based exit
    layer), the EOS-emitting one included: token_exits has n_out + 1
    entries (n_out = output tokens), or 256 when the length limit stopped
    it.

    Costs (formulas in workers/models/seq2seq.h, conventions in
    docs/FLOPS.md), N = source tokens, t = position (0-based):
        method    = encoder (N, once, with the cross K/V of all layers)
                  + per position: embedding 2d
                                  + each layer run: ofr_s2s_layer_flops (t + 1, N)
                                  + each KV fill (copy-up): ofr_s2s_kv_fill_flops
                                  + the head with softmax once (its output), and
                                    at every other layer the method asks for
                                    exit_probs
                                  + what the plugin charges itself
        flops_full = encoder (N) + per position of the full model's own greedy
                  output (its EOS step included): embedding + all L layers +
                  the head with softmax.
    The full model's reference decode (row 1 of the same state) is
    evaluation overhead: neither charged nor timed. wall_ms is the encoder
    plus the method's decode. cell->batch_size is ignored: one sentence per
    batch. */
#ifndef OFR_SEQ2SEQ_RUNNER_H
#define OFR_SEQ2SEQ_RUNNER_H

#include "runner.h"

/* Like ofr_runner_run, for a seq2seq model and a seq2seq suite. */
int ofr_seq2seq_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                            ofr_emit_fn *emit, void *arg, char *err, size_t errlen);

/* The host table seq2seq-model plugins receive (static). */
const ofr_host *ofr_seq2seq_runner_host (void);

#endif
