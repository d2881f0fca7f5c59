/*  lm_suite.h -- suites for decoder LMs (OFR_KIND_DECODER).

    A decoder suite is an ordinary ofr_suite_class (load, example, stats,
    metrics from pooled stats) plus this extension, which the decoder
    driver (workers/decoder_runner.c) uses instead of ofr_suite_class.score:
    the suite says what to run for an example (generate after a prompt, or
    score choices after a context) and turns the driver's result into the
    example's sufficient statistics. ofr_suite_class.score of these suites
    refuses (it has no model output to score).

    Every decoder suite ends its stats with the same OFR_LM_TAIL_STATS
    values, so that its metrics include mean layers run per position, the
    fraction of layers and the oracle's search cost. */
#ifndef OFR_LM_SUITE_H
#define OFR_LM_SUITE_H

#include "suite.h"

typedef enum {
    OFR_LM_GENERATE = 1,   /* greedy continuation of `prompt`                 */
    OFR_LM_CHOICES  = 2    /* log-likelihood of each choice after `prompt`     */
} ofr_lm_task_kind;

typedef struct {
    ofr_lm_task_kind    kind;
    const char         *prompt;      /* context text; the driver puts BOS first */
    int                 max_new;     /* GENERATE: most tokens to generate       */
    const char *const  *choices;     /* CHOICES: continuations (delimiter incl.) */
    int                 n_choices;
    const char         *stop;        /* GENERATE: stop after the token whose text
                                        holds it (NULL: none)                   */
} ofr_lm_task;

/* What the driver measured for one example (the kept attempt). */
typedef struct {
    /* GENERATE */
    const int  *gen;            /* [n_gen] the method's continuation           */
    int         n_gen;
    const int  *ref;            /* [n_ref] the full model's greedy one          */
    int         n_ref;
    const char *gen_text;       /* decoded                                     */
    const char *ref_text;
    double      nll_full;       /* sum of -log p_full(gen[j] | prefix), nats    */
    /* CHOICES */
    const double *loglik;       /* [n_choices] under the method, nats          */
    /* both */
    int         n_positions;    /* decision positions (all sequences)           */
    double      layers_run;     /* sum over positions of layers run             */
    int         n_layers;
    double      search_flops;   /* oracle search cost, 0 for other methods      */
    double      flops_full;     /* full model on the same sequences             */
    int         agrees;         /* output == full model's: 1, 0, -1 unknown     */
    /* GENERATE, self-speculative methods (0 otherwise) */
    int         drafted;        /* draft tokens proposed                        */
    int         accepted;       /* of them, accepted by the full model          */
} ofr_lm_result;

typedef struct {
    int (*task)(void *data, int i, ofr_lm_task *t);
    int (*score)(void *data, int i, const ofr_lm_result *r, double *stats);
} ofr_lm_suite;

/* Common tail of the stats: positions, layers run, sum of layers_run /
   n_layers over positions, search FLOPs, full FLOPs, agreement (0/1). */
#define OFR_LM_TAIL_STATS 6

/* ROUGE-L F1 of hyp against ref over rouge-score's default words
   (lowercase [a-z0-9]+ runs, no stemming); -1 if out of memory. */
double ofr_rouge_l (const char *ref, const char *hyp);

/* The extension of a decoder suite, NULL for any other suite. */
const ofr_lm_suite *ofr_lm_suite_of (const ofr_suite_class *sc);

extern const ofr_suite_class ofr_suite_tinystories_gen;
extern const ofr_suite_class ofr_suite_truthfulqa_mc1;
extern const ofr_suite_class ofr_suite_truthfulqa_mc2;

#endif
