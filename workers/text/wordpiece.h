/*  wordpiece.h -- BERT's WordPiece tokenizer: the BasicTokenizer rules of
    Hugging Face's BertTokenizer (tokenization_bert.py) followed by greedy
    longest-match-first WordPiece with "##" continuations, and the
    [CLS] a [SEP] (b [SEP]) encoding with longest-first truncation.

    Text is UTF-8. Invalid sequences are replaced by U+FFFD, which the
    BasicTokenizer then removes (what Python gives for
    bytes.decode("utf-8", errors="replace") followed by BertTokenizer).

    Deliberate differences from BertTokenizer: special-token strings inside
    the text ("[SEP]") are ordinary text, not special tokens; no NFC pass
    (transformers versions that add one before whitespace splitting give
    the same ids for uncased vocabularies, whose NFD accent stripping
    subsumes it). Unicode data: see wordpiece_tables.c for the version.

    A loaded tokenizer is read-only: one may be shared by threads. */
#ifndef OFR_WORDPIECE_H
#define OFR_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_wordpiece ofr_wordpiece;

typedef struct {
    bool lowercase;                /* do_lower_case (uncased models)         */
    int  strip_accents;            /* -1 = same as lowercase, 0 no, 1 yes    */
    bool tokenize_chinese_chars;   /* spaces around CJK ideographs           */
    int  max_input_chars_per_word; /* longer words become [UNK] (100)       */
} ofr_wordpiece_params;

/* Token ids of one encoded input. Caller-owned; reuse it across calls and
   release it with ofr_wordpiece_encoding_free. */
typedef struct {
    int32_t *ids;        /* [len] [CLS] a [SEP] (b [SEP])                   */
    int32_t *type_ids;   /* [len] 0 up to and including the first [SEP], 1 after */
    int      len;        /* attention length: positions >= len are padding   */
    int      len_a;      /* tokens of a kept after truncation (no specials) */
    int      len_b;      /* tokens of b kept (0 for a single sentence)       */
    size_t   cap;
} ofr_wp_encoding;

/* Token ids of a tokenized text (no special tokens). Caller-owned, reusable;
   release with ofr_wp_ids_free. */
typedef struct {
    int32_t *v;
    size_t   len;
    size_t   cap;
} ofr_wp_ids;

/* Defaults of bert-base-uncased: lowercase, strip accents, split CJK,
   100 characters per word. */
ofr_wordpiece_params ofr_wordpiece_default_params (void);

/* Load vocab.txt (one token per line, id = line index; \n, \r\n and \r end
   lines as in Python's text mode; a repeated token keeps its last id, as
   HF's load_vocab does). Needs [UNK], [CLS] and [SEP]. Returns 0 and a new
   tokenizer in *out (caller destroys), or -1 with "<path>:<line>: ...". */
int  ofr_wordpiece_load (const char *vocab_path, const ofr_wordpiece_params *params,
                         ofr_wordpiece **out, char *err, size_t errlen);

/* Like ofr_wordpiece_load with the vocabulary given as tokens[0..n) (id =
   index; the strings are copied), e.g. the model.vocab of a WordPiece
   tokenizer.json. `origin` names the source in messages ("<origin>: token
   <id>: ..."). Same rules for duplicates and special tokens. */
int  ofr_wordpiece_load_tokens (const char *origin, const char *const *tokens, int n,
                                const ofr_wordpiece_params *params, ofr_wordpiece **out,
                                char *err, size_t errlen);

/* Free the tokenizer and set *self to NULL. */
void ofr_wordpiece_destroy (ofr_wordpiece **self);

/* Number of lines (ids) in the vocabulary. */
int  ofr_wordpiece_vocab_size (const ofr_wordpiece *self);

/* Id of a token (exact UTF-8 string), or -1 if absent. */
int  ofr_wordpiece_token_id (const ofr_wordpiece *self, const char *token);

/* Token string of an id (owned by the tokenizer), or NULL if out of range. */
const char *ofr_wordpiece_token (const ofr_wordpiece *self, int id);

/* Ids of the special tokens ([PAD] is -1 if the vocabulary has none). */
int  ofr_wordpiece_unk_id (const ofr_wordpiece *self);
int  ofr_wordpiece_cls_id (const ofr_wordpiece *self);
int  ofr_wordpiece_sep_id (const ofr_wordpiece *self);
int  ofr_wordpiece_pad_id (const ofr_wordpiece *self);

/* Tokenize text (BasicTokenizer + WordPiece, no special tokens) and append
   the ids to *out. Returns 0, or -1 (out of memory) with a message. */
int  ofr_wordpiece_tokenize (const ofr_wordpiece *self, const char *text,
                             ofr_wp_ids *out, char *err, size_t errlen);

/* Encode one sentence (b == NULL) or a pair into *enc (overwritten),
   truncated to at most max_len ids: the longest of a and b loses tokens
   first, and b one more when the removal is odd (HF's longest_first).
   max_len must leave room for the special tokens (2, or 3 for a pair).
   Returns 0 or -1 with a message. */
int  ofr_wordpiece_encode (const ofr_wordpiece *self, const char *a, const char *b,
                           int max_len, ofr_wp_encoding *enc,
                           char *err, size_t errlen);

void ofr_wordpiece_encoding_free (ofr_wp_encoding *enc);
/* Append id, doubling the capacity as needed. Returns 0, or -1 when out of
   memory (ids unchanged). */
int  ofr_wp_ids_push (ofr_wp_ids *ids, int32_t id);
void ofr_wp_ids_free (ofr_wp_ids *ids);

#endif
