/*  mt_suites.h -- translation suites (OFR_KIND_SEQ2SEQ): WMT22 general test
    en-de and de-en (reference A) and Multi30k task 1 en-de.

    Each example is a source segment; a prediction is the model's output
    text. Per example the suite keeps BLEU and chrF sufficient statistics
    (sacreBLEU 2.4.3 defaults: 13a, exp smoothing, chrF2 nc:6 nw:0), so
    corpus BLEU and chrF come from the element-wise sum of the rows and are
    identical under any sharding (docs/METRICS-MT.md). */
#ifndef OFR_MT_SUITES_H
#define OFR_MT_SUITES_H

#include "suite.h"
#include "mt_metrics.h"

/* Per example: BLEU stats (OFR_BLEU_NSTATS) then chrF2 stats (3 * 6). */
#define OFR_MT_SUITE_CHRF_STATS 18
#define OFR_MT_SUITE_NSTATS (OFR_BLEU_NSTATS + OFR_MT_SUITE_CHRF_STATS)

extern const ofr_suite_class ofr_suite_wmt22_en_de;
extern const ofr_suite_class ofr_suite_wmt22_de_en;
extern const ofr_suite_class ofr_suite_multi30k_en_de;

/* Files of a translation suite's split: the directory under the data root
   ("translation/wmt22") and the source / reference file names in it.
   split NULL = the default ("test"). Returns 0, or -1 with a message naming
   the known suites or splits. */
int ofr_mt_suite_files (const char *suite, const char *split, const char **subdir,
                        const char **src, const char **ref, char *err, size_t errlen);

#endif
