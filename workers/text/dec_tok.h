/*  dec_tok.h -- the tokenizer of a decoder LM, whatever its format: one
    interface for the decoder driver (workers/decoder_runner.c) and
    `offramp generate`.

      llama2c   tokenizer.bin (bpe_llama2c.h), BOS 1, EOS 2
      gpt2      tokenizer.json byte-level BPE (bpe_bytes.h): GPT-2, Pythia
      sp-bpe    tokenizer.json SentencePiece-style BPE with byte_fallback
                (sp_bpe.h): Llama 1/2, TinyLlama, Mistral

    ofr_dec_tok_open_json tries bpe_bytes first and falls back to sp_bpe
    when bpe_bytes refuses the file (a normalizer / Metaspace); both
    refusals are in the message when neither takes it.

    Pieces: ofr_dec_tok_piece gives the exact bytes one token stands for
    in context (a byte-level token's bytes, "▁" as " ", a <0xNN> token as
    its byte), so a stop sequence can be matched token by token and
    streaming output never splits differently from decode_all. A piece
    that follows BOS (or starts the text) drops its leading space for
    llama2c and sp-bpe, as their decoders do. Special tokens (BOS, EOS,
    added special tokens) decode to nothing. */
#ifndef OFR_DEC_TOK_H
#define OFR_DEC_TOK_H

#include "../../common/ofr_common.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_dec_tok ofr_dec_tok;
typedef struct ofr_bpe_llama2c ofr_bpe_llama2c;
typedef struct ofr_bpe_bytes ofr_bpe_bytes;

/* Read a llama2.c tokenizer.bin. Returns 0 and *out, or -1. */
int  ofr_dec_tok_open_llama2c (const char *path, ofr_dec_tok **out, char *err,
                               size_t errlen);

/* A view of a loaded llama2.c tokenizer (t must outlive it). */
int  ofr_dec_tok_wrap_llama2c (const ofr_bpe_llama2c *t, ofr_dec_tok **out, char *err,
                               size_t errlen);

/* Read a Hugging Face tokenizer.json (see above). bos_id / eos_id come
   from the model's config.json (-1: unknown; then "<s>" / "</s>" or
   "<|endoftext|>" when the vocabulary has them). Returns 0 and *out, or
   -1 with a message naming the file. */
int  ofr_dec_tok_open_json (const char *path, int bos_id, int eos_id, ofr_dec_tok **out,
                            char *err, size_t errlen);

void ofr_dec_tok_destroy (ofr_dec_tok **t);

/* "llama2c", "gpt2" or "sp-bpe". */
const char *ofr_dec_tok_kind (const ofr_dec_tok *t);

/* 1 + the largest id; the model's vocab_size must be >= it (HF pads). */
int  ofr_dec_tok_vocab_size (const ofr_dec_tok *t);

/* BOS / EOS ids, -1 if none. */
int  ofr_dec_tok_bos (const ofr_dec_tok *t);
int  ofr_dec_tok_eos (const ofr_dec_tok *t);

/* The byte-level tokenizer inside a "gpt2" one (NULL otherwise). */
const ofr_bpe_bytes *ofr_dec_tok_bpe_bytes (const ofr_dec_tok *t);

/* Encode text (NUL-terminated UTF-8) with BOS first when bos and the
   tokenizer has one. New array in *ids (caller frees), count in *n.
   Returns 0 or -1 with a message. */
int  ofr_dec_tok_encode (const ofr_dec_tok *t, const char *text, bool bos, int **ids,
                         int *n, char *err, size_t errlen);

/* The bytes of token after prev (-1: none), see above; *len set; NULL
   (len 0) for an id out of range or a special token. Owned by t. */
const char *ofr_dec_tok_piece (const ofr_dec_tok *t, int prev, int token, size_t *len);

/* Append the text of ids[0..n) to out (specials skipped). */
void ofr_dec_tok_decode_all (const ofr_dec_tok *t, const int *ids, int n, ofr_buf *out);

#endif
