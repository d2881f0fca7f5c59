/*  selfspec.c -- self-speculative decoding (Elhoushi et al. 2024,
    "LayerSkip: Enabling Early Exit Inference and Self-Speculative
    Decoding"): draft `draft` tokens greedily with the first k layers, the
    final norm and the LM head, verify them with the full model in one
    multi-position forward, keep the longest agreeing prefix and the full
    model's next token. The output is exactly the full model's greedy
    continuation; the saving (or loss) is in FLOPs and time, and depends on
    the acceptance rate.

    The per-layer callbacks cannot express draft-then-verify (positions
    run twice at different depths, rejected ones rolled back), so the
    method declares the driver's speculative mode (ABI 1.3 `speculate`)
    and the decoder driver runs the loop (workers/models/selfspec.c). It
    charges every draft layer and head, the whole verification with its
    rejected positions, and nothing again for the draft layers' K/V, which
    the verification reuses. On scoring suites (TruthfulQA) the full model
    runs: there is nothing to draft. */
#include "offramp_plugin.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    int k, draft;
} spec_state;

static const ofr_param_decl s_params[] = {
    { "k", OFR_PARAM_INT, "1", 1, 255, "layers of the draft model (the first k; < layers)" },
    { "draft", OFR_PARAM_INT, "4", 1, 64, "tokens drafted per round" },
};

static int
spec_create (const ofr_host *host, const ofr_value *values, void **state,
             char *err, size_t errlen)
{
    spec_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "selfspec: out of memory");
        return -1;
    }
    s->host = host;
    s->k = (int) values[0].i;
    s->draft = (int) values[1].i;
    *state = s;
    return 0;
}

static void
spec_destroy (void *state)
{
    free (state);
}

static int
spec_speculate (void *state, const ofr_batch *batch, int *draft_layers, int *draft_len)
{
    const spec_state *s = state;
    if (s->k >= batch->n_layers) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "selfspec: k=%d draft layers, but "
                      "the model has only %d layers (want k < %d)", s->k, batch->n_layers,
                      batch->n_layers);
        return -1;
    }
    *draft_layers = s->k;
    *draft_len = s->draft;
    return 0;
}

static const ofr_method s_spec = {
    OFR_METHOD_HEADER,
    .name = "selfspec",
    .version = "1.0",
    .summary = "self-speculative decoding (LayerSkip, Elhoushi et al. 2024): draft with "
               "the first k layers, verify with the full model; exact greedy output",
    .kinds = OFR_KIND_DECODER,
    .flags = 0,
    .kv_policy = OFR_KV_MASK,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = spec_create,
    .destroy = spec_destroy,
    .speculate = spec_speculate,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_spec;
}
