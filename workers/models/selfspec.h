/*  selfspec.h -- self-speculative greedy decoding (LayerSkip, Elhoushi et
    al. 2024) on a KV-cached decoder (decoder.h).

    A round at committed length p with token t pending:
      draft   feed t, then each draft token, through the first k layers
              (one position at a time, its K/V stored); after each of the
              first d positions the final norm + LM head on that layer-k
              state proposes the next token (argmax). d + 1 positions
              p .. p+d are fed (d when the last draft is EOS/BOS: nothing
              would follow it).
      verify  layers k .. L-1 on those positions in one batched call
              (ofr_decoder_run_positions, starting from their layer-k
              states: the draft layers' K/V are the full model's, reused),
              then the head on each: f[i] = the full model's token after
              position p+i.
      accept  the longest prefix of drafts with draft[i] == f[i], then
              f[a] (the correction, or a bonus token when all agreed); the
              row is truncated to the positions those tokens follow.
    The output is the full model's greedy continuation (up to float
    rounding of batched vs one-row matmuls in layers >= k).

    FLOPs (docs/FLOPS.md): each fed position i costs k layers at context
    p+i+1 while drafting and L-k layers while verifying (rejected
    positions included); one head per draft token and one per verified
    position. */
#ifndef OFR_SELFSPEC_H
#define OFR_SELFSPEC_H

#include "decoder.h"

#include <stdbool.h>

typedef struct {
    int  draft_layers;        /* k in [1, L)                                  */
    int  draft_len;           /* d >= 1; the decoder's max_block >= d + 1     */
    bool head_softmax;        /* charge heads with softmax (harness) or not   */
} ofr_selfspec_cfg;

typedef struct {
    int    rounds;
    int    drafted;           /* draft tokens proposed                        */
    int    accepted;          /* of them, equal to the full model's           */
    int    fed;               /* positions fed (drafting; = verified)         */
    double layers;            /* layer evaluations, draft and verification    */
    double heads;             /* LM head evaluations                          */
    double flops;             /* all of the above, analytic                   */
} ofr_selfspec_stats;

/* Receives each output token in order; returns 0 to go on, 1 to stop
   after it, -1 on error. */
typedef int (ofr_selfspec_token_fn) (void *arg, int token);

/* Greedy continuation in `row`, which holds a committed prefix (every
   layer's K/V) with `token` pending at its next position (the last
   prompt token). Stops before a stop token (ofr_llama_is_stop: EOS/BOS,
   not passed on), after max_new
   tokens, when fn says so, or when the row is full (as ofr_decoder_greedy
   does). Adds to *st. Returns 0 or -1. */
int ofr_selfspec_run (ofr_decoder *d, int row, int token, int max_new,
                      const ofr_selfspec_cfg *cfg, ofr_selfspec_token_fn *fn, void *arg,
                      ofr_selfspec_stats *st, char *err, size_t errlen);

/* ofr_decoder_greedy's contract (row reset first, prompt prefilled at
   full depth up to its last token, which is pending), self-speculatively;
   layers_used (capacity max_new, may be NULL) gets n_layers per token
   (every output is verified at full depth). Adds to *st. */
int ofr_selfspec_greedy (ofr_decoder *d, int row, const int *prompt, int nprompt,
                         int max_new, const ofr_selfspec_cfg *cfg, int *out, int *n_out,
                         int *layers_used, ofr_selfspec_stats *st, char *err,
                         size_t errlen);

/* Parse "k=K,draft=D" (either may be missing: defaults k = L/2 at least 1,
   draft 4) for a model of L layers. Returns 0 or -1 naming the key. */
int ofr_selfspec_parse (const char *spec, int n_layers, ofr_selfspec_cfg *cfg,
                        char *err, size_t errlen);

/* A `--method` value of `offramp generate`: "full" (*spec false) or
   "selfspec[:k=K,draft=D]". Returns 0 or -1 naming what is wrong. */
int ofr_selfspec_method (const char *method, int n_layers, bool *spec,
                         ofr_selfspec_cfg *cfg, char *err, size_t errlen);

#endif
