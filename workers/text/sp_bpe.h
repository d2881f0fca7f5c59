/*  sp_bpe.h -- SentencePiece-style BPE read from a Hugging Face
    tokenizer.json, as Llama 1/2, TinyLlama and Mistral ship it: model.type
    "BPE" with byte_fallback, the metaspace "▁" (U+2581) for spaces, and
    pieces "<0xNN>" for bytes. The stages follow tokenizers' Rust code:

      added tokens   cut out of the text first (leftmost-longest; all of
                     them match the raw text, lstrip / rstrip honoured)
      normalizer     null, or a Sequence of Prepend (to each non-empty
                     piece between added tokens) and Replace (String
                     patterns), e.g. Prepend "▁" + Replace " " -> "▁"
      pre_tokenizer  null, or Metaspace (replacement, prepend_scheme
                     always | first | never or add_prefix_space, split)
      model          each piece's code points looked up in model.vocab;
                     one missing becomes its UTF-8 bytes' <0xNN> tokens
                     (byte_fallback) or unk_token (fused with fuse_unk);
                     then the adjacent pair of lowest merge rank, leftmost
                     on ties, is merged until none has a rank

    Refused at load time, naming the file: other normalizers and
    pre-tokenizers, a vocabulary that is not an object of ids, merges
    naming unknown pieces, continuing_subword_prefix / end_of_word_suffix,
    dropout > 0. */
#ifndef OFR_SP_BPE_H
#define OFR_SP_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_sp_bpe ofr_sp_bpe;

int  ofr_sp_bpe_load (const char *path, ofr_sp_bpe **out, char *err, size_t errlen);
void ofr_sp_bpe_destroy (ofr_sp_bpe **self);

/* 1 + the largest id of model.vocab and added_tokens. */
int  ofr_sp_bpe_vocab_size (const ofr_sp_bpe *self);

/* Id of a piece (vocab or added token), or -1. */
int  ofr_sp_bpe_token_id (const ofr_sp_bpe *self, const char *piece);

/* True for added tokens with "special": true. */
bool ofr_sp_bpe_is_special (const ofr_sp_bpe *self, int id);

/* True when the text gets a leading "▁" (decoders strip it again). */
bool ofr_sp_bpe_adds_prefix (const ofr_sp_bpe *self);

/* The bytes of id ("▁" -> " ", <0xNN> -> the byte); NULL for a bad id. */
const char *ofr_sp_bpe_bytes (const ofr_sp_bpe *self, int id, size_t *len);

/* Tokenize text (no BOS) into a new array *ids (caller frees) of *n ids.
   Returns 0 or -1 (out of memory; an unknown piece and no unk_token). */
int  ofr_sp_bpe_encode (const ofr_sp_bpe *self, const char *text, int **ids, int *n,
                        char *err, size_t errlen);

#endif
