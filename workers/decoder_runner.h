/*  decoder_runner.h -- the decoder driver: runs one cell's examples of a
    decoder-LM suite (suites/lm_suite.h) through a decoder model
    (OFR_KIND_DECODER, workers/models/llama_model.h) token position by
    token position and layer by layer, calling the method plugin before and
    after every layer of every position (batch->step = the position), and
    implements the plugin host table for decoders.

    Per example: the prompt (generation) or context (scoring) up to its
    last token is prefilled once at full depth, as a real system would,
    and charged to the method like to the full model; every position from
    the first output position on (the one predicting the first generated
    or scored token) is a decision step, and only those are in the
    record's token_exits. For scoring, each choice is its own sequence
    (lm-eval requests), its context prefilled for it. Exit after layer l = the final RMSNorm + LM head on the
    current hidden state; SKIP = identity. The layers a position did not
    run (skipped, or above its exit) get the KV entries the method's
    kv_policy says: OFR_KV_COPY_UP projects the current hidden state
    through the layer's K/V weights (CALM state propagation; charged
    ofr_llama_kv_fill_flops each), OFR_KV_MASK leaves none (later
    positions do not attend there; free), OFR_KV_RECOMPUTE fills skipped
    layers like copy-up and runs the layers above an exit for that
    position when a later token first needs them (models/kv_lazy.h,
    charged as layers). The policy is the cell's (ofr_method_kv_policy).
    A method with `speculate` (ABI 1.3) generates self-speculatively
    (models/selfspec.h): every output token is the full model's, the
    record says exit at the last layer, FLOPs include drafts and
    rejected verifications; scoring runs at full depth.

    Costs: a run layer costs ofr_llama_layer_flops (pos + 1); the LM head
    (with softmax) is charged at output positions and whenever the method
    asks for exit_probs. flops_full = every layer at every position plus
    the head at the output positions. The full model's reference outputs
    (greedy continuation, argmax per scored position, the NLL of the
    method's tokens) are evaluation overhead, not charged; an oracle's
    discarded attempts and the reference pass it compares with are its
    search cost (stats, not FLOPs). cell->batch_size is ignored: one
    sequence per batch. */
#ifndef OFR_DECODER_RUNNER_H
#define OFR_DECODER_RUNNER_H

#include "runner.h"

/* Like ofr_runner_run, for a decoder model and a decoder suite. */
int ofr_decoder_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                            ofr_emit_fn *emit, void *arg, char *err, size_t errlen);

/* The host table decoder-model plugins receive (static). */
const ofr_host *ofr_decoder_runner_host (void);

#endif
