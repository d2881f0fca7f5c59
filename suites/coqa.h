/*  coqa.h -- CoQA (Reddy et al. 2019) as a decoder-LM generation suite, and
    the official scorer's (evaluate-v1.0.py) normalisation, EM and F1,
    exposed for the tests. See coqa.c for the prompt and the scoring. */
#ifndef OFR_COQA_H
#define OFR_COQA_H

#include "lm_suite.h"

/* normalize_answer: lowercase, drop ASCII punctuation, drop the words
   a/an/the, collapse whitespace. Malloc'd; NULL if out of memory. */
char *ofr_coqa_normalize (const char *s);

/* compute_exact (0/1) and compute_f1 of one gold answer; -1 on OOM. */
int    ofr_coqa_exact (const char *gold, const char *pred);
double ofr_coqa_f1 (const char *gold, const char *pred);

/* _compute_turn_score over golds[0..n): with n > 1, for each gold i the
   max over the others, averaged over i; with n == 1 that gold's score.
   Writes *f1 and *em in [0, 1]. 0, or -1 on OOM / n < 1. */
int ofr_coqa_turn_score (const char *const *golds, int n, const char *pred,
                         double *f1, double *em);

extern const ofr_suite_class ofr_suite_coqa;
extern const ofr_lm_suite    ofr_coqa_lm;

#endif
