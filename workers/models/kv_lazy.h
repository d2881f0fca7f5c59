/*  kv_lazy.h -- the KV recompute policy (OFR_KV_RECOMPUTE) for one row of a
    decoder (decoder.h): positions that left the stack early (exited after
    a layer) keep their hidden state there, and when a later token is about
    to run a layer whose K/V they lack, the missing layers are run for them
    then (CALM's "compute lazily" alternative to state propagation), so the
    cache holds what the full model would have put there given the same
    lower-layer states.

    Layer-major: to give every earlier position K/V at layer l, for each
    layer m from the lowest one missing up to l, the positions whose next
    layer is m run it together (ofr_decoder_run_positions, in increasing
    positions, chunks of the decoder's max_block), attending to the cache
    below them as any position does. Each run layer costs
    ofr_llama_layer_flops (position + 1). Skipped layers (the position goes
    on above them) are not this module's: their K/V depend only on the
    state that passes through, and the driver fills them at once. */
#ifndef OFR_KV_LAZY_H
#define OFR_KV_LAZY_H

#include "decoder.h"

typedef struct ofr_kv_lazy ofr_kv_lazy;

/* For `row` of d (positions up to the decoder's max_seq). Returns 0 and
   *out, or -1. */
int  ofr_kv_lazy_new (ofr_decoder *d, int row, ofr_kv_lazy **out, char *err, size_t errlen);
void ofr_kv_lazy_destroy (ofr_kv_lazy **self_p);

/* Positions [0, n_full) hold K/V at every layer (a prefix); nothing else
   is known. */
void ofr_kv_lazy_reset (ofr_kv_lazy *self, int n_full);

/* Position pos left after `layers_done` layers (K/V present below, none
   above) with hidden state h [dim] (copied). Returns 0 or -1. */
int  ofr_kv_lazy_leave (ofr_kv_lazy *self, int pos, int layers_done, const float *h,
                        char *err, size_t errlen);

/* Before the token at position pos runs layer l: every position below pos
   gets K/V at layer l (and below). Adds the FLOPs of the layers run to
   *flops and their count to *layers if not NULL. Returns 0 or -1. */
int  ofr_kv_lazy_need (ofr_kv_lazy *self, int pos, int l, double *flops, int *layers,
                       char *err, size_t errlen);

#endif
