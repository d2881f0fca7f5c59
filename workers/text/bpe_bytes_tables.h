/*  bpe_bytes_tables.h -- the Unicode classes of the GPT-2 split pattern
    (\p{L}, \p{N}, \s), generated from Python's unicodedata by
    tools/gen_bpe_bytes_tables.py into bpe_bytes_tables.c. Internal to
    the byte-level tokenizers (bpe_bytes.c, bpe_merges.c). Sorted, non-overlapping ranges for binary search. */
#ifndef OFR_BPE_BYTES_TABLES_H
#define OFR_BPE_BYTES_TABLES_H

#include <stdint.h>

typedef struct { uint32_t lo, hi; } ofr_bb_range;

extern const char ofr_bb_unicode_version[];

extern const ofr_bb_range ofr_bb_letter[];     /* categories L* */
extern const int ofr_bb_letter_n;
extern const ofr_bb_range ofr_bb_number[];     /* categories N* */
extern const int ofr_bb_number_n;
extern const ofr_bb_range ofr_bb_space[];      /* \s: 9-D, 85, Zs Zl Zp */
extern const int ofr_bb_space_n;

/* The class of code point cp in the split pattern (the three tables are
   disjoint); defined in bpe_bytes.c, with an ASCII fast path. */
enum { OFR_BB_SPACE, OFR_BB_LETTER, OFR_BB_NUMBER, OFR_BB_OTHER };
int ofr_bb_class (uint32_t cp);

#endif
