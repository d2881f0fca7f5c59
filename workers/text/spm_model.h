/*  spm_model.h -- a SentencePiece model file (.spm / .model: a serialized
    sentencepiece ModelProto, as Marian checkpoints ship source.spm and
    target.spm) turned into the unigram tokenizer of unigram.h.

    Read from the protobuf: pieces (piece, score, type), trainer_spec.
    model_type (only UNIGRAM, 1, is accepted; BPE/WORD/CHAR are refused),
    trainer_spec.byte_fallback, normalizer_spec.add_dummy_prefix. NORMAL,
    USER_DEFINED, BYTE and the UNKNOWN piece take part in the Viterbi
    search; CONTROL (<s>, </s>, <pad>) and UNUSED pieces never match text.
    Encoding: whitespace runs collapse to one space and the ends are
    stripped (remove_extra_whitespaces), each word gets U+2581 in front
    (add_dummy_prefix; words after the first always do), then unigram
    Viterbi. Like unigram.h, SentencePiece's precompiled normalization
    (nmt_nfkc) is the identity here: compatibility characters it would
    fold can tokenize differently. Pieces are returned as strings: Marian
    maps them to ids through vocab.json, not through the .spm order. */
#ifndef OFR_SPM_MODEL_H
#define OFR_SPM_MODEL_H

#include "../../common/ofr_common.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_spm ofr_spm;

/* Read path. Returns 0 and *out, or -1 with "PATH: ..." (truncated or
   malformed protobuf at a byte offset, not a unigram model, no pieces). */
int  ofr_spm_load (const char *path, ofr_spm **out, char *err, size_t errlen);
void ofr_spm_destroy (ofr_spm **s);
/* The same segmenter over a Hugging Face tokenizer.json unigram model (T5
   ships one; its normalizer and pre-tokenizer as unigram.h reads them). */
int  ofr_spm_load_tokenizer_json (const char *path, ofr_spm **out, char *err, size_t errlen);

/* Marian's target-language codes: a ">>xx<<" at the start of the text is
   its own first piece, and the span ">>...<<" (greedy, as
   MarianTokenizer's re ">>.+<<") is cut from the text before segmenting.
   Off by default; the Marian model wrapper turns it on. */
void ofr_spm_marian_codes (ofr_spm *s, bool on);

/* Pieces the Viterbi search uses. */
int  ofr_spm_size (const ofr_spm *s);

/* Pieces of text (UTF-8) into out (reset first), separated by single
   spaces (U+2581 marks word starts; pieces hold no ASCII space). Returns
   the piece count, or -1 with a message. */
int  ofr_spm_encode (const ofr_spm *s, const char *text, ofr_buf *out, char *err, size_t errlen);

#endif
