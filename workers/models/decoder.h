/*  decoder.h -- KV-cached, layer-at-a-time inference of a decoder LM
    (Llama, GPT-2 or GPT-NeoX blocks: llama.h `arch`) for a batch of
    independent sequences ("rows").

    One token position at a time, so that a dynamic-inference driver can
    decide between layers:

        ofr_decoder_begin (d, rows, tokens, n)      embed, claim a position
        for l in 0..L-1:
            ofr_decoder_layer (d, l, rows, n)       or ofr_decoder_skip
            ofr_decoder_head (d, rows, n)           optional early-exit logits
        ofr_decoder_head (d, rows, n)               final logits

    Each row has its own position and KV cache, so rows may be at different
    lengths and any subset may be active in a call. The LM head can be
    applied to the current hidden state after any layer (final RMSNorm +
    classifier); it never changes the state. A layer that is not run for a
    position (skipped, or above an early exit) leaves no K/V there: later
    positions do not attend to it in that layer (masking), unless the
    driver fills it with ofr_decoder_skip (d, l, ..., OFR_KV_PROPAGATE),
    which projects the current hidden state through the layer's K/V
    weights (CALM's state propagation).

    All buffers are allocated by ofr_decoder_new; nothing allocates per
    token. Matmuls go through cblas. Not thread safe: one decoder per
    thread. */
#ifndef OFR_DECODER_H
#define OFR_DECODER_H

#include "llama.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_decoder ofr_decoder;

/* What a skipped layer leaves in the KV cache at the skipped position. */
typedef enum {
    OFR_KV_MASK = 0,       /* nothing: later positions ignore it there        */
    OFR_KV_PROPAGATE = 1,  /* K/V projected from the current hidden state     */
} ofr_kv_fill;

/* A decoder for `batch` rows of up to `max_seq` positions each (0 = the
   model's seq_len; at most seq_len). The model must outlive it. Returns
   0 and *out, or -1 (bad sizes, out of memory). */
int  ofr_decoder_new (const ofr_llama *m, int batch, int max_seq, ofr_decoder **out,
                      char *err, size_t errlen);

/* The same, able to run up to max_block positions of one row in one call
   (ofr_decoder_run_positions; ofr_decoder_new: max_block 1). */
int  ofr_decoder_new_block (const ofr_llama *m, int batch, int max_seq, int max_block,
                            ofr_decoder **out, char *err, size_t errlen);

/* Free and set *d to NULL (no-op on NULL). */
void ofr_decoder_destroy (ofr_decoder **d);

/* The model, batch size and per-row capacity. */
const ofr_llama *ofr_decoder_model (const ofr_decoder *d);
int  ofr_decoder_batch (const ofr_decoder *d);
int  ofr_decoder_max_seq (const ofr_decoder *d);
int  ofr_decoder_max_block (const ofr_decoder *d);

/* Forget row's sequence (its next token goes to position 0). */
void ofr_decoder_reset (ofr_decoder *d, int row);

/* Make row dst hold the first n positions of row src (K/V of every layer
   and their presence), nothing in flight: a shared prefix computed once.
   With src == dst it truncates the row to n positions.
   Returns 0 or -1 (bad rows, n > length(src)). */
int  ofr_decoder_copy_prefix (ofr_decoder *d, int src, int dst, int n,
                              char *err, size_t errlen);

/* Positions row holds, the token in flight included (0 after reset). */
int  ofr_decoder_length (const ofr_decoder *d, int row);

/* Start a token position for rows[0..n) (distinct): hidden state = the
   embedding of tokens[i], at position length(row). Returns 0, or -1 for a
   bad row / token or a full row (message names row and position). */
int  ofr_decoder_begin (ofr_decoder *d, const int *rows, const int *tokens, int n,
                        char *err, size_t errlen);

/* Run layer l on the token in flight of rows[0..n) (distinct rows that
   called begin): attention over the row's own cache, then SwiGLU FFN,
   residuals included. Returns 0 or -1 (bad layer / row). */
int  ofr_decoder_layer (ofr_decoder *d, int l, const int *rows, int n,
                        char *err, size_t errlen);

/* Skip layer l for rows[0..n): the hidden state passes unchanged; the
   cache at this position holds what `fill` says. Returns 0 or -1. */
int  ofr_decoder_skip (ofr_decoder *d, int l, const int *rows, int n, ofr_kv_fill fill,
                       char *err, size_t errlen);

/* LM head on the current hidden state of rows[0..n): final RMSNorm and
   classifier into each row's logits (see ofr_decoder_logits). Returns 0
   or -1. */
int  ofr_decoder_head (ofr_decoder *d, const int *rows, int n, char *err, size_t errlen);

/* Logits [vocab] from row's last head call, and its current hidden state
   [dim] (read-only views owned by the decoder; NULL for a bad row). */
const float *ofr_decoder_logits (const ofr_decoder *d, int row);
const float *ofr_decoder_hidden (const ofr_decoder *d, int row);

/* Run layers [l0, l1) on positions pos[0..n) of row at once (n <= the
   decoder's max_block; increasing positions, each already begun, below
   length(row)): h [n][dim] holds their hidden states entering layer l0
   and receives those after layer l1 - 1; each layer stores K/V at every
   position before the later ones attend (causal inside the block, over
   the cache below). Matmuls see n rows (a verification block, lazily
   recomputed positions). The token in flight (cur, hidden) is untouched.
   Returns 0 or -1. */
int  ofr_decoder_run_positions (ofr_decoder *d, int row, const int *pos, int n, int l0,
                                int l1, float *h, char *err, size_t errlen);

/* LM head (final RMSNorm + classifier) on n <= max_block states h [n][dim]
   into logits [n][vocab]. Returns 0 or -1. */
int  ofr_decoder_head_states (ofr_decoder *d, const float *h, int n, float *logits,
                              char *err, size_t errlen);

/* Whole-depth convenience: begin + every layer + head for rows[0..n).
   Returns 0 or -1. */
int  ofr_decoder_forward (ofr_decoder *d, const int *rows, const int *tokens, int n,
                          char *err, size_t errlen);

/* Log-likelihood of cont[0..ncont) following ctx[0..nctx) (nctx >= 1,
   usually starting with BOS) at full depth, in row (reset first): the sum
   over j of log softmax(logits after the previous token)[cont[j]], in
   nats. Returns 0 and *loglik, or -1 (too long, bad token). */
int  ofr_decoder_score (ofr_decoder *d, int row, const int *ctx, int nctx,
                        const int *cont, int ncont, double *loglik,
                        char *err, size_t errlen);

/* Greedy (argmax, first index on ties) generation in row (reset first)
   after prompt[0..nprompt) (nprompt >= 1): writes up to max_new tokens
   into out (capacity max_new) and their count into *n_out. Stops before
   EOS or BOS (not written) or when the row is full. layers_used, if not
   NULL (capacity max_new), receives the layers run for each token.
   Returns 0 or -1. */
int  ofr_decoder_greedy (ofr_decoder *d, int row, const int *prompt, int nprompt,
                         int max_new, int *out, int *n_out, int *layers_used,
                         char *err, size_t errlen);

#endif
