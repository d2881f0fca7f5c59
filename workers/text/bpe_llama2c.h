/*  bpe_llama2c.h -- the sentencepiece-BPE tokenizer in llama2.c's
    tokenizer.bin format.

    File layout (little-endian): int32 max_token_length, then per token id
    0, 1, 2, ... until the end of the file: float32 score, int32 byte
    length, the piece's bytes (no terminator). Ids 0, 1, 2 are <unk>, BOS,
    EOS; pieces "<0xXX>" stand for single raw bytes (byte fallback).

    Encoding follows llama2.c: a " " dummy prefix before non-empty text,
    one token per UTF-8 code point found in the vocabulary (else one
    byte-fallback token per byte), then repeatedly merge the adjacent pair
    whose concatenation is the vocabulary piece with the highest score
    (leftmost on ties) until no pair merges. Decoding drops the leading
    space of the piece that follows BOS and turns byte tokens into bytes. */
#ifndef OFR_BPE_LLAMA2C_H
#define OFR_BPE_LLAMA2C_H

#include "../../common/ofr_common.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_bpe_llama2c ofr_bpe_llama2c;

/* Read a tokenizer.bin. Returns 0 and a new tokenizer in *out (caller
   destroys), or -1 with a message naming the file and the bad token. */
int  ofr_bpe_llama2c_load (const char *path, ofr_bpe_llama2c **out,
                           char *err, size_t errlen);

/* Free the tokenizer and set *t to NULL (no-op on NULL). */
void ofr_bpe_llama2c_destroy (ofr_bpe_llama2c **t);

/* Number of tokens in the file (must equal the model's vocab_size). */
int  ofr_bpe_llama2c_vocab_size (const ofr_bpe_llama2c *t);

/* The path it was loaded from (owned by the tokenizer). */
const char *ofr_bpe_llama2c_path (const ofr_bpe_llama2c *t);

/* Raw piece bytes of id (not NUL terminated; *len set) and its merge
   score; NULL / 0 for an id out of range. Owned by the tokenizer. */
const char *ofr_bpe_llama2c_piece (const ofr_bpe_llama2c *t, int id, size_t *len);
float ofr_bpe_llama2c_score (const ofr_bpe_llama2c *t, int id);

/* Encode text[0..len) (any bytes, UTF-8 expected) with an optional BOS
   first and EOS last. Writes a new array into *tokens (caller frees) and
   its length into *n. Returns 0, or -1 if the vocabulary lacks a byte
   token a byte needs (message names the file and the byte). */
int  ofr_bpe_llama2c_encode (const ofr_bpe_llama2c *t, const char *text, size_t len,
                             bool bos, bool eos, int **tokens, int *n,
                             char *err, size_t errlen);

/* The bytes `token` stands for when it follows `prev` (-1: none): the
   piece, minus its leading space after BOS, or the raw byte of a byte
   token. *len is set; NULL for an id out of range. Owned by t. */
const char *ofr_bpe_llama2c_decode (const ofr_bpe_llama2c *t, int prev, int token,
                                    size_t *len);

/* Append the text of tokens[0..n) to out, skipping BOS and EOS (which
   still count as `prev` for the next piece). Ids out of range add
   nothing. */
void ofr_bpe_llama2c_decode_all (const ofr_bpe_llama2c *t, const int *tokens, int n,
                                 ofr_buf *out);

#endif
