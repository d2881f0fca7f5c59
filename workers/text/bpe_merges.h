/*  bpe_merges.h -- the joint BPE of the Multi30k recipes (recipes/mt_bpe.py,
    docs/TRANSLATION.md "Tokenisation"), read from a model directory's
    bpe_merges.txt ("#version: offramp-bpe 1", then one "LEFT RIGHT" merge
    per line in rank order).

    encode: whitespace is collapsed and the line split into words; each
    word is cut into chunks (a maximal run of letters, one digit, or one
    other character) and its first chunk gets the word marker U+2581 as its
    own first symbol; per chunk, starting from its characters, the adjacent
    pair of lowest rank (the first occurrence on ties) is merged until no
    pair has a rank. Output: the pieces separated by single spaces (what
    CTranslate2 / `offramp translate` read); mapping pieces to ids
    (unknown -> <unk>) is the model vocabulary's business.

    Unicode classes come from the GPT-2 tables (bpe_bytes_tables.h):
    letter = \p{L}, digit = \p{N}, space = \s. Python's `[^\W\d_]` also
    counts the non-decimal numbers Nl/No (e.g. "²", "½") as letters; here
    they are digits (one chunk each) -- a difference only on such text. */
#ifndef OFR_BPE_MERGES_H
#define OFR_BPE_MERGES_H

#include "../../common/ofr_common.h"

#include <stddef.h>

typedef struct ofr_bpe_merges ofr_bpe_merges;

/* Read path. Returns 0 and *out, or -1 with "PATH:LINE: ..." . */
int  ofr_bpe_merges_load (const char *path, ofr_bpe_merges **out, char *err, size_t errlen);
void ofr_bpe_merges_destroy (ofr_bpe_merges **b);
int  ofr_bpe_merges_count (const ofr_bpe_merges *b);

/* Pieces of text[0..len) into out (reset first), separated by spaces.
   Returns the piece count, or -1 (invalid UTF-8 at a byte offset, out of
   memory) with a message. */
int  ofr_bpe_merges_encode (const ofr_bpe_merges *b, const char *text, size_t len,
                            ofr_buf *out, char *err, size_t errlen);

#endif
