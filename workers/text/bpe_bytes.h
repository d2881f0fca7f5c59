/*  bpe_bytes.h -- GPT-2 / RoBERTa byte-level BPE read from a Hugging Face
    tokenizers file (tokenizer.json with model.type "BPE" and a ByteLevel
    pre-tokenizer). The stages follow tokenizers' Rust code:

      added tokens   added_tokens are cut out of the text first: a
                     non-overlapping leftmost-longest scan for those with
                     "normalized": false, then one for the others inside
                     the remaining pieces; lstrip / rstrip swallow the
                     Unicode white space beside a match (AddedVocabulary)
      pre_tokenizer  ByteLevel on each remaining piece: add_prefix_space
                     (a " " before a piece not starting with one), then
                     with use_regex the GPT-2 split
                       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
                       ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
                     (hand-coded; \s is Oniguruma's: U+0009..U+000D,
                     U+0085, Zs Zl Zp), then every byte as its printable
                     character of bytes_to_unicode
      model          BPE: the characters of a word looked up in
                     model.vocab (with continuing_subword_prefix /
                     end_of_word_suffix), unknown ones as unk_token (fused
                     with fuse_unk; dropped without unk_token) or <0xXX>
                     with byte_fallback; then merges applied lowest rank
                     first, the leftmost of equal ranks first (merge_all's
                     heap); ignore_merges takes a whole word in the vocab
      post_processor RobertaProcessing <s> A </s> (</s> B </s>),
                     BertProcessing [CLS] A [SEP] (B [SEP]), ByteLevel or
                     null: none
      decoder        ByteLevel: tokens back to bytes (a token with a
                     character outside the byte map is taken as its UTF-8),
                     invalid UTF-8 as U+FFFD per maximal subpart (what
                     String::from_utf8_lossy and Python's "replace" do)

    Rejected at load time with "<path>: <json position>: ...": a normalizer,
    pre-tokenizers other than ByteLevel, dropout > 0, single_word added
    tokens, merges naming pieces that are not in model.vocab. A
    TemplateProcessing post_processor loads, but ofr_bpe_bytes_encode_pair
    then fails. The decoder field is not read: decode is always ByteLevel.

    Text is UTF-8; invalid sequences become U+FFFD. A loaded tokenizer is
    read-only (no word cache): one may be shared by threads. Unicode
    classes: bpe_bytes_tables.c (tools/gen_bpe_bytes_tables.py). */
#ifndef OFR_BPE_BYTES_H
#define OFR_BPE_BYTES_H

#include "wordpiece.h"      /* ofr_wp_ids, ofr_wp_encoding */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_bpe_bytes ofr_bpe_bytes;

/* Load tokenizer.json at path. Returns 0 and a new tokenizer in *out
   (caller destroys), or -1 with "<path>: <json position>: ..." (or
   "<path>:<line>: ..." for a JSON syntax error). */
int  ofr_bpe_bytes_load (const char *path, ofr_bpe_bytes **out, char *err, size_t errlen);

/* Free the tokenizer and set *self to NULL. */
void ofr_bpe_bytes_destroy (ofr_bpe_bytes **self);

/* 1 + the largest id of model.vocab and added_tokens (HF's
   get_vocab_size(with_added_tokens=True) for dense ids). */
int  ofr_bpe_bytes_vocab_size (const ofr_bpe_bytes *self);

/* Id of a token (model.vocab, else added_tokens), or -1. */
int  ofr_bpe_bytes_token_id (const ofr_bpe_bytes *self, const char *token);

/* Token of an id (byte-level form, owned by the tokenizer), or NULL for an
   id out of range or unused. */
const char *ofr_bpe_bytes_token (const ofr_bpe_bytes *self, int id);

/* Id of model.unk_token, or -1 (none, or not in the vocabulary). */
int  ofr_bpe_bytes_unk_id (const ofr_bpe_bytes *self);

/* True for ids of added_tokens with "special": true. */
bool ofr_bpe_bytes_is_special (const ofr_bpe_bytes *self, int id);

/* cls / sep of the RobertaProcessing or BertProcessing post-processor, else
   -1 (GPT-2: none). */
int  ofr_bpe_bytes_cls_id (const ofr_bpe_bytes *self);
int  ofr_bpe_bytes_sep_id (const ofr_bpe_bytes *self);

/* Tokenize text (added tokens, pre-tokenizer, BPE; no post-processing)
   and append the ids to *ids. Returns 0, or -1 with a message (out of
   memory; unk_token needed but not in the vocabulary). */
int  ofr_bpe_bytes_encode (const ofr_bpe_bytes *self, const char *text, ofr_wp_ids *ids,
                           char *err, size_t errlen);

/* Encode one sentence (b == NULL) or a pair with the post-processor into
   *enc (overwritten), truncated to at most max_len ids longest-first (as
   ofr_wordpiece_encode). RoBERTa: <s> a </s></s> b </s>, all type ids 0
   (RoBERTa has one token type); Bert: [CLS] a [SEP] b [SEP], types 0 / 1;
   none: a b, types 0 / 1. max_len must leave room for the special tokens.
   Returns 0 or -1 with a message. */
int  ofr_bpe_bytes_encode_pair (const ofr_bpe_bytes *self, const char *a, const char *b,
                                int max_len, ofr_wp_encoding *enc, char *err, size_t errlen);

/* Decode ids[0..n) (special tokens included; skip them with
   ofr_bpe_bytes_is_special; unknown ids are skipped, as HF's decode does)
   into a new NUL-terminated UTF-8 string in *text (caller frees). Returns
   0, or -1 when out of memory. */
int  ofr_bpe_bytes_decode (const ofr_bpe_bytes *self, const int32_t *ids, size_t n,
                           char **text);

#endif
