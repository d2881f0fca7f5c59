/*  seq2seq_runner.h -- the encoder-decoder driver: runs one cell's examples
    of a translation-style suite (any suite of kind OFR_KIND_SEQ2SEQ; the
    example's text_a is the source, the prediction handed to the suite's
    score() is the output text) through a seq2seq model (OFR_KIND_SEQ2SEQ,
    workers/models/seq2seq_model.h), and implements the plugin host table
    for seq2seq models.

    Examples are decoded cell->batch_size sentences at a time (workers/
    s2s_driver.h: fewer if the decoder caches of batch x beam rows would
    pass 512 MiB): each source (tokens separated by spaces, after the
    model's BPE / SentencePiece) is encoded once, which also caches every
    decoder layer's cross-attention K/V; then the sentences are decoded
    together token by token, every decoder layer one sgemm over the rows
    that run it, the plugin deciding before and after every decoder layer
    of every position for all active rows at once (batch->step = the
    position, 0 for the first decoder step; row_ids = sentence x beam +
    hypothesis). A row leaves a position's active set when it exits and the
    batch when its sentence is finished. Outputs, exits and FLOPs do not
    depend on the batch size (tests/integration/test_s2s_batch.sh).
    Search (s2s_opts.h: the cell's beam / length_penalty): greedy by
    default (CTranslate2's: start token, EOS disabled at step 0, at most
    256 steps, EOS not in the output), or CTranslate2's beam search, as
    `offramp translate --beam N --length-penalty X`. Under beam every
    hypothesis is a row and the plugin decides per row: exits and skips
    are per hypothesis, the head a row exits with gives that hypothesis's
    next-token distribution (set_exit_probs replaces it), and all
    hypotheses of a sentence are charged to its example. Between positions
    the rows are reordered (a row id is a beam slot whose history may now
    be another hypothesis's): a plugin may keep per-position state and
    per-batch state, not per-row state across positions (calm, layerskip
    and skipdecode keep none). Sources longer than the model's maximum
    (ofr_seq2seq_max_source: 1,024 tokens, or its learned positions) are
    truncated to it, as CTranslate2 does, with a warning per task; the
    decoder stops at 256 steps (fewer with the cell's max_length or the
    model's target positions). Exit after layer l = the final LayerNorm + output
    projection on the current decoder state; SKIP = identity. The layers a
    position did not run (skipped, or above its exit) get the self-attention
    K/V entry the method's kv_policy says: OFR_KV_COPY_UP projects the
    current state through the layer's norm and K/V weights (charged
    ofr_s2s_kv_fill_flops each), OFR_KV_MASK leaves none (later positions
    do not attend there; free). OFR_KV_RECOMPUTE is refused. Every position
    is a decision step and is in the record's token_exits (1-based exit
    layer), the EOS-emitting one included: token_exits has n_out + 1
    entries (n_out = output tokens), or 256 when the length limit stopped
    it (under beam: the positions of the hypothesis returned).

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
    Under beam both sums run over every hypothesis row of every position,
    and flops_full is the full model's own beam search. The full model's
    reference decode (the same rows, before the method's) is evaluation
    overhead: neither charged nor timed. wall_ms is the sentence's share
    of the encoder (by source length) plus, for every layer step of the
    method's decode, its share of the step (split among the active rows).
    The plugin's rng_uniform is seeded per batch from its first example. */
#ifndef OFR_SEQ2SEQ_RUNNER_H
#define OFR_SEQ2SEQ_RUNNER_H

#include "runner.h"

/* Like ofr_runner_run, for a seq2seq model and a seq2seq suite. */
int ofr_seq2seq_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                            ofr_emit_fn *emit, void *arg, char *err, size_t errlen);

/* The host table seq2seq-model plugins receive (static). */
const ofr_host *ofr_seq2seq_runner_host (void);

#endif
