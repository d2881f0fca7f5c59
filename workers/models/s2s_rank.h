/*  s2s_rank.h -- the ranking rules beam search shares between `offramp
    translate` (s2s_search.c) and the harness driver (workers/s2s_hyps.c):
    CTranslate2's candidate order and length normalisation, in one place so
    the two searches cannot drift apart. */
#ifndef OFR_S2S_RANK_H
#define OFR_S2S_RANK_H

typedef struct {
    float score;
    int   parent, tok;     /* beam row the candidate extends; its token */
} ofr_s2s_cand;

/* The k best of v[0..n) into c[0..k) (value descending, index ascending on
   ties); v is [beam][V] flattened, so a candidate's parent is i / V. c must
   hold k entries; fewer than k are written when n < k. */
void  ofr_s2s_top_k (const float *v, int n, int V, int k, ofr_s2s_cand *c);

/* Score of a hypothesis of len tokens under length_penalty lp
   (score / len^lp; len 0 leaves it). */
float ofr_s2s_length_norm (float score, int len, float lp);

#endif
