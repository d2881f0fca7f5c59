/*  s2s_hyps.h -- the search bookkeeping of one sentence in the seq2seq
    driver: greedy or CTranslate2 beam search (the rules of
    workers/models/s2s_search.c, which `offramp translate` uses) over
    hypotheses whose next-token distributions the driver computes, so that
    many sentences can share one batched decoder step and a plugin can
    decide per hypothesis (row) how deep each position runs.

    Per step the driver feeds ofr_s2s_hyps_tokens()[k] to alive hypothesis
    k (k < ofr_s2s_hyps_alive()), runs its rows and hands back each row's
    distribution: the head's logits, or probabilities a plugin supplied
    (set_exit_probs), plus the exit layer the position used. Greedy (beam
    1) is the argmax of the logits (of the probabilities if supplied), EOS
    forbidden before min_length; beam search is s2s_search.c's: log-softmax
    (log of the renormalised probabilities if supplied), float cumulative
    scores, top 2*beam candidates, finished hypotheses normalised by
    length^length_penalty. Exit layers travel with their hypothesis. */
#ifndef OFR_S2S_HYPS_H
#define OFR_S2S_HYPS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ofr_s2s_hyps ofr_s2s_hyps;

/* beam 1..64, max_len >= 1 steps; 2 * beam <= V. Returns 0 or -1 (bad
   sizes, out of memory). */
int  ofr_s2s_hyps_new (int beam, int max_len, int min_length, float length_penalty, int V,
                       int eos, ofr_s2s_hyps **out);
void ofr_s2s_hyps_destroy (ofr_s2s_hyps **h);

/* A new sentence: one alive hypothesis holding the start token. */
void ofr_s2s_hyps_start (ofr_s2s_hyps *h, int bos);
/* Alive hypotheses to feed this step (0 once the search is over). */
int  ofr_s2s_hyps_alive (const ofr_s2s_hyps *h);
const int *ofr_s2s_hyps_tokens (const ofr_s2s_hyps *h);
int  ofr_s2s_hyps_step_no (const ofr_s2s_hyps *h);

/* Advance one step. dist[k] (k < alive) = hypothesis k's logits, or its
   probabilities when is_prob[k]; exit_layer[k] its 1-based exit layer.
   Returns 1 when the alive hypotheses must take the histories of
   parents[0..ofr_s2s_hyps_alive()) (beam search reorders), 0 otherwise. */
int  ofr_s2s_hyps_step (ofr_s2s_hyps *h, const float *const *dist, const bool *is_prob,
                        const uint8_t *exit_layer, int *parents);

/* The result once alive() is 0: best tokens (EOS excluded), the exit layer
   of each of its positions (*n_exits: n + 1 when it ended with EOS, n at
   the length limit) and its normalised score (0 for greedy). */
void ofr_s2s_hyps_best (const ofr_s2s_hyps *h, const int **tok, int *n, const uint8_t **exits,
                        int *n_exits, float *score);

#endif
