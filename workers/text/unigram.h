/*  unigram.h -- SentencePiece-unigram tokenizer read from a Hugging Face
    tokenizers file (tokenizer.json with model.type "Unigram", as ALBERT,
    T5 and XLNet ship it). The stages follow tokenizers' Rust code:

      normalizer     Sequence of: Lowercase (per code point, no context),
                     NFD, NFKD, StripAccents (drops categories Mn Mc Me),
                     Replace (String patterns), Strip, Prepend, and
                     Precompiled, which is applied as the identity (see
                     below); null = none
      pre_tokenizer  Sequence of: WhitespaceSplit (Unicode White_Space),
                     Metaspace (replacement, prepend_scheme always | first |
                     never or the older add_prefix_space, split); null = none
      model          Viterbi over the pieces of each pre-token maximizing
                     the sum of their scores (log-probabilities); a
                     character no piece starts with costs min score - 10 and
                     is [unk]; consecutive [unk]s fuse into one; with
                     byte_fallback a token outside the vocabulary becomes
                     its <0xXX> byte pieces. Ties keep the earliest split.

    Deliberate differences from tokenizers: added/special tokens written in
    the text ("[CLS]") are ordinary text; Prepend and Metaspace's "first"
    scheme judge "at the start" on the normalized string; the Precompiled
    normalizer (SentencePiece's compiled nmt_nfkc rules) is the identity,
    so compatibility characters that only it folds (full-width forms,
    ligatures) can tokenize differently; ALBERT's tokenizer.json puts an
    NFKD step before it, which folds most of them. Regex Replace/Split
    patterns and NFC/NFKC are rejected at load time with a message naming
    the file and the JSON position.

    Text is UTF-8; invalid sequences become U+FFFD. A loaded tokenizer is
    read-only: one may be shared by threads. */
#ifndef OFR_UNIGRAM_H
#define OFR_UNIGRAM_H

#include "wordpiece.h"      /* ofr_wp_ids: the growable id vector */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_unigram ofr_unigram;

/* Load tokenizer.json at path. Returns 0 and a new tokenizer in *out
   (caller destroys), or -1 with "<path>: <json position>: ..." (not a
   Unigram model, bad vocabulary entry, unsupported normalizer...). */
int  ofr_unigram_load (const char *path, ofr_unigram **out, char *err, size_t errlen);

/* The same from a parsed tokenizer.json (a jansson json_t, borrowed);
   path names it in messages (workers/text/spm_model.c builds one). */
struct json_t;
int  ofr_unigram_load_json (struct json_t *root, const char *path, ofr_unigram **out,
                            char *err, size_t errlen);

/* Free the tokenizer and set *self to NULL. */
void ofr_unigram_destroy (ofr_unigram **self);

/* Entries of model.vocab (ids 0 .. n-1). */
int  ofr_unigram_vocab_size (const ofr_unigram *self);

/* Id of a piece (exact UTF-8 string; the last of duplicates), or -1. */
int  ofr_unigram_token_id (const ofr_unigram *self, const char *token);

/* Piece of an id (owned by the tokenizer), or NULL if out of range. */
const char *ofr_unigram_token (const ofr_unigram *self, int id);

/* model.unk_id, or -1 if the file has none. */
int  ofr_unigram_unk_id (const ofr_unigram *self);

/* The special tokens a single sentence is wrapped in: the first and last
   special token of post_processor's TemplateProcessing "single" (or the
   cls/sep of BertProcessing / RobertaProcessing), else the pieces "[CLS]" /
   "[SEP]" or "<s>" / "</s>" of the vocabulary; -1 if none. */
int  ofr_unigram_cls_id (const ofr_unigram *self);
int  ofr_unigram_sep_id (const ofr_unigram *self);

/* Tokenize text (normalizer, pre-tokenizer, Viterbi; no special tokens)
   and append the ids to *out. Returns 0, or -1 with a message (out of
   memory, or an unknown piece needed and the model has no unk_id). */
int  ofr_unigram_tokenize (const ofr_unigram *self, const char *text, ofr_wp_ids *out,
                           char *err, size_t errlen);

/* The normalized text (UTF-8, NUL-terminated, caller frees) that the
   pre-tokenizer sees: for tests and debugging. NULL when out of memory. */
char *ofr_unigram_normalize (const ofr_unigram *self, const char *text);

#endif
