/*  glue.h -- the GLUE tasks as suite classes (suite.h) and the metrics
    they report, each computed from pooled per-example statistics only.

    Data: <data_dir>/glue/<task>/{dev,train}.tsv (QNLI: dev only), in the
    layouts found in the shipped files:
      sst2  header  sentence, label (0/1)
      mrpc  header  Quality, #1 ID, #2 ID, #1 String, #2 String (UTF-8 BOM)
      rte   header  sentence1, sentence2, label, idx   (0 = entailment;
                    "entailment"/"not_entailment" accepted too)
      qnli  header  index, question, sentence, label   (entailment = 0,
                    not_entailment = 1; "0"/"1" accepted too)
      stsb  header  ..., sentence1, sentence2, score   (a number in [0, 5])
      cola  no header: source, label (0/1), mark, sentence
    Columns are found by header name. Example ids are the file's index
    column where there is one (rte idx, qnli/stsb index), else the 0-based
    row number. Rows: dev 872 / 408 / 277 / 5463 / 1500 / 1043.

    Statistics and metrics (all x100; n = examples):
      sst2, rte, qnli  stats [correct]          accuracy = 100 sum(correct) / n
      mrpc             stats [tp, fp, fn, tn]   accuracy, f1 (primary)
      cola             stats [tp, fp, fn, tn]   mcc (primary), accuracy
      stsb             stats [prediction, target] pearson, spearman (primary)
    (positive class = 1: paraphrase / acceptable). Edge cases as sklearn
    and scipy where defined: n = 0 gives 0 for every metric; see the
    functions below for F1, MCC and the correlations. Predictions: .cls in
    {0, 1} for the classification tasks, a finite .value for stsb; anything
    else makes score() return -1. */
#ifndef OFR_GLUE_H
#define OFR_GLUE_H

#include "suite.h"

extern const ofr_suite_class ofr_suite_sst2;
extern const ofr_suite_class ofr_suite_mrpc;
extern const ofr_suite_class ofr_suite_rte;
extern const ofr_suite_class ofr_suite_qnli;
extern const ofr_suite_class ofr_suite_stsb;
extern const ofr_suite_class ofr_suite_cola;

/* F1 of the positive class, 2 tp / (2 tp + fp + fn) (sklearn f1_score);
   0 when there are no true and no predicted positives (zero_division=0). */
double ofr_glue_f1 (double tp, double fp, double fn);

/* Matthews correlation in [-1, 1] from a binary confusion matrix, in
   sklearn's form (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn));
   0 when the denominator is 0 (one class predicted or present only). */
double ofr_glue_mcc (double tp, double fp, double fn, double tn);

/* Pearson correlation of rows (x, y) = (xy[2i], xy[2i+1]), i < n, in
   [-1, 1]. Computed over the rows sorted by (x, y), so any order of the
   same rows gives the same bits. 0 when n < 2 or x or y is constant
   (scipy returns nan there). Returns 0 and the value in *r, or -1 (out of
   memory or a non-finite value). */
int ofr_glue_pearson (const double *xy, int n, double *r);

/* Spearman correlation: Pearson of the ranks, ties sharing their average
   rank (scipy.stats.spearmanr). Same conventions as ofr_glue_pearson. */
int ofr_glue_spearman (const double *xy, int n, double *r);

#endif
