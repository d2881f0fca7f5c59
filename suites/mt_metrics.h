/*  mt_metrics.h -- corpus BLEU and chrF that reproduce sacreBLEU 2.4.3.

    Both metrics are split the way sacreBLEU itself splits them: a
    per-segment function turns (hypothesis, references) into a fixed-size
    vector of sufficient statistics (counts, stored as doubles so they pool
    with every other suite's statistics), and the corpus score is a function
    of the element-wise SUM of those vectors. Summing is associative on
    integer counts, so any sharding of a corpus gives the same score.

    Strings are UTF-8; invalid UTF-8 is an error, never a crash. Text rules
    (whitespace, lower(), character counts) are Python 3's, because
    sacreBLEU runs on Python str; see docs/METRICS-MT.md for the
    correspondence with sacreBLEU's source and the known limits.

    Signatures follow sacreBLEU's format but name this implementation, not
    sacreBLEU, as the version: "version:" OFR_MT_VERSION. */
#ifndef OFR_MT_METRICS_H
#define OFR_MT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/ofr_common.h"

/* The version field of every signature: offramp's implementation, written
   to match sacreBLEU 2.4.3's numbers. */
#define OFR_MT_VERSION "offramp-2.4.3-compat"

/* ---- tokenizers (BLEU) ------------------------------------------------ */

typedef enum {
    OFR_TOK_13A  = 0,     /* mteval-v13a, sacreBLEU's default             */
    OFR_TOK_NONE = 1,     /* split on whitespace only                      */
    OFR_TOK_INTL = 2      /* mteval-v14 international (Unicode P/S/N)      */
} ofr_mt_tokenizer;

/* Name used in signatures and on the command line ("13a", "none", "intl"). */
const char *ofr_mt_tokenizer_name (ofr_mt_tokenizer tok);
/* Parse a tokenizer name; returns 0 or -1 (unknown name). */
int ofr_mt_tokenizer_parse (const char *name, ofr_mt_tokenizer *tok);

/* Tokenize one segment as BLEU does (optional lower(), rstrip, tokenizer)
   and return the tokens joined by single spaces in *out (caller frees).
   Returns 0, or -1 with a message (invalid UTF-8, out of memory). */
int ofr_mt_tokenize (const char *text, ofr_mt_tokenizer tok, bool lowercase,
                     char **out, char *err, size_t errlen);

/* ---- BLEU ------------------------------------------------------------- */

#define OFR_BLEU_ORDER 4
/* Segment statistics layout: matches[4], totals[4], hyp_len, ref_len. */
enum {
    OFR_BLEU_MATCH   = 0,
    OFR_BLEU_TOTAL   = OFR_BLEU_ORDER,
    OFR_BLEU_HYP_LEN = 2 * OFR_BLEU_ORDER,
    OFR_BLEU_REF_LEN = 2 * OFR_BLEU_ORDER + 1,
    OFR_BLEU_NSTATS  = 2 * OFR_BLEU_ORDER + 2
};

typedef enum {
    OFR_SMOOTH_EXP   = 0,  /* NIST geometric halving (sacreBLEU default)   */
    OFR_SMOOTH_FLOOR = 1,  /* zero precisions replaced by value/total      */
    OFR_SMOOTH_ADD_K = 2,  /* add value to matches and totals for n > 1    */
    OFR_SMOOTH_NONE  = 3
} ofr_bleu_smooth;

typedef struct {
    ofr_mt_tokenizer tokenize;      /* OFR_TOK_13A                          */
    ofr_bleu_smooth  smooth;        /* OFR_SMOOTH_EXP                       */
    double           smooth_value;  /* < 0: method default (floor 0.1, add-k 1) */
    bool             lowercase;     /* false                                */
    bool             effective_order; /* false; true for sentence BLEU      */
} ofr_bleu_opts;

/* sacreBLEU's defaults (13a, exp, mixed case, no effective order). */
ofr_bleu_opts ofr_bleu_default_opts (void);

/* Smoothing method names ("exp", "floor", "add-k", "none"). */
const char *ofr_bleu_smooth_name (ofr_bleu_smooth s);
int ofr_bleu_smooth_parse (const char *name, ofr_bleu_smooth *s);

/* Sufficient statistics of one hypothesis against nrefs >= 1 references:
   writes OFR_BLEU_NSTATS doubles to stats. Returns 0, or -1 with a message
   naming the bad string ("hypothesis", "reference 2") and byte offset. */
int ofr_bleu_segment_stats (const char *hyp, const char *const *refs, int nrefs,
                            const ofr_bleu_opts *opts, double *stats,
                            char *err, size_t errlen);

/* A BLEU score with everything sacreBLEU prints. Percentages in 0..100. */
typedef struct {
    double score;
    double precisions[OFR_BLEU_ORDER];
    double counts[OFR_BLEU_ORDER];   /* matches (after add-k smoothing)     */
    double totals[OFR_BLEU_ORDER];   /* totals (after add-k smoothing)      */
    double bp;                       /* brevity penalty                     */
    double ratio;                    /* hyp_len / ref_len (0 if ref_len 0)  */
    double hyp_len, ref_len;
} ofr_bleu_score;

/* Corpus BLEU from summed segment statistics (sum[OFR_BLEU_NSTATS]). Never
   fails: an empty corpus scores 0. */
void ofr_bleu_compute (const double *sum, const ofr_bleu_opts *opts,
                       ofr_bleu_score *out);

/* Append "38.37 66.9/44.1/31.6/23.3 (BP = 1.000 ratio = 1.005 hyp_len = 39114
   ref_len = 38914)" (sacreBLEU's text after "BLEU = ") to b. */
void ofr_bleu_format (const ofr_bleu_score *s, ofr_buf *b);

/* Append the signature, e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|
   version:offramp-2.4.3-compat", to b. */
void ofr_bleu_signature (const ofr_bleu_opts *opts, int nrefs, ofr_buf *b);

/* Sentence BLEU: segment statistics then ofr_bleu_compute on them alone
   (set opts->effective_order, as sacreBLEU recommends). */
int ofr_bleu_sentence (const char *hyp, const char *const *refs, int nrefs,
                       const ofr_bleu_opts *opts, ofr_bleu_score *out,
                       char *err, size_t errlen);

/* ---- chrF ------------------------------------------------------------- */

#define OFR_CHRF_MAX_CHAR_ORDER 16
#define OFR_CHRF_MAX_WORD_ORDER 4
#define OFR_CHRF_MAX_NSTATS (3 * (OFR_CHRF_MAX_CHAR_ORDER + OFR_CHRF_MAX_WORD_ORDER))

typedef struct {
    int  char_order;     /* 6 (nc)                                           */
    int  word_order;     /* 0 (nw); 2 gives chrF++                           */
    int  beta;           /* 2                                                */
    bool lowercase;      /* false                                            */
    bool whitespace;     /* false: whitespace is removed before char n-grams */
    bool eps_smoothing;  /* false: sacreBLEU 2.x effective-order averaging   */
} ofr_chrf_opts;

/* sacreBLEU's chrF2 defaults (nc 6, nw 0, beta 2). */
ofr_chrf_opts ofr_chrf_default_opts (void);

/* Number of statistics per segment: 3 * (char_order + word_order), laid
   out per order (chars 1..nc, then words 1..nw) as [hyp, ref, match].
   Returns -1 if the options are out of range. */
int ofr_chrf_nstats (const ofr_chrf_opts *opts);

/* Sufficient statistics of one hypothesis: for several references, those of
   the reference with the best segment-level chrF (first one on ties).
   Writes ofr_chrf_nstats() doubles. Returns 0 or -1 with a message. */
int ofr_chrf_segment_stats (const char *hyp, const char *const *refs, int nrefs,
                            const ofr_chrf_opts *opts, double *stats,
                            char *err, size_t errlen);

/* chrF (0..100) from summed statistics. */
double ofr_chrf_compute (const double *sum, const ofr_chrf_opts *opts);

/* Append the metric name as sacreBLEU prints it ("chrF2", "chrF2++") to b. */
void ofr_chrf_name (const ofr_chrf_opts *opts, ofr_buf *b);

/* Append "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:..." to b. */
void ofr_chrf_signature (const ofr_chrf_opts *opts, int nrefs, ofr_buf *b);

#endif
