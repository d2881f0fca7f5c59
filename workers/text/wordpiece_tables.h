/*  wordpiece_tables.h -- the Unicode tables BERT's BasicTokenizer needs,
    generated from Python's unicodedata by tools/gen_wordpiece_tables.py
    (wordpiece_tables.c). Internal to wordpiece.c. All tables are sorted by
    code point and non-overlapping, for binary search. */
#ifndef OFR_WORDPIECE_TABLES_H
#define OFR_WORDPIECE_TABLES_H

#include <stdint.h>

typedef struct { uint32_t lo, hi; } ofr_wp_range;
typedef struct { uint32_t lo, hi; int32_t stride, delta; } ofr_wp_lower_run;
typedef struct { uint32_t lo, hi; int32_t ccc; } ofr_wp_ccc_range;
typedef struct { uint32_t cp, a, b; } ofr_wp_decomp;   /* b = 0: singleton */

extern const char ofr_wp_unicode_version[];

extern const ofr_wp_range ofr_wp_space[];            /* str.isspace()     */
extern const int ofr_wp_space_n;
extern const ofr_wp_range ofr_wp_zs[];               /* category Zs       */
extern const int ofr_wp_zs_n;
extern const ofr_wp_range ofr_wp_other[];            /* categories C*     */
extern const int ofr_wp_other_n;
extern const ofr_wp_range ofr_wp_punct[];            /* categories P*     */
extern const int ofr_wp_punct_n;
extern const ofr_wp_range ofr_wp_mn[];               /* category Mn       */
extern const int ofr_wp_mn_n;
extern const ofr_wp_range ofr_wp_case_ignorable[];   /* Final_Sigma rule  */
extern const int ofr_wp_case_ignorable_n;
extern const ofr_wp_range ofr_wp_cased[];
extern const int ofr_wp_cased_n;
extern const ofr_wp_lower_run ofr_wp_lower_runs[];        /* str.lower()       */
extern const int ofr_wp_lower_n;
extern const ofr_wp_ccc_range ofr_wp_ccc[];          /* combining class   */
extern const int ofr_wp_ccc_n;
extern const ofr_wp_decomp ofr_wp_decomp_map[];      /* one level, no Hangul */
extern const int ofr_wp_decomp_n;

#endif
