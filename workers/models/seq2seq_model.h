/*  seq2seq_model.h -- a CTranslate2 encoder-decoder (workers/models/
    seq2seq.h) as an ofr_model of kind OFR_KIND_SEQ2SEQ (family "ct2"), for
    the seq2seq driver (workers/seq2seq_runner.c).

    A model directory holds model.bin and source_vocabulary.txt +
    target_vocabulary.txt (or shared_vocabulary.txt), optionally a
    CTranslate2 config.json, and optionally bpe_merges.txt (the Multi30k
    recipes' joint BPE, workers/text/bpe_merges.h). Without merges, source
    text is taken as CTranslate2 takes it: tokens separated by spaces
    (character models: the characters, spaced); with them, raw text is
    BPE-encoded first. The seq2seq driver detokenises the output
    (SentencePiece-style U+2581 pieces, subword-nmt "@@", else tokens
    joined by spaces). The classifier-shaped
    ops of model.h refuse: seq2seq models run token by token through the
    seq2seq driver. */
#ifndef OFR_SEQ2SEQ_MODEL_H
#define OFR_SEQ2SEQ_MODEL_H

#include "../model.h"
#include "seq2seq.h"
#include "../text/bpe_merges.h"
#include "../text/spm_model.h"

#include <stdbool.h>

/* The OFR_KIND_* bit of seq2seq models (seq2seq_runner.c asserts it). */
#define OFR_SEQ2SEQ_MODEL_KIND 0x4u

/* True if dir holds model.bin and the vocabularies of a CTranslate2 model,
   or a Hugging Face Marian/T5 checkpoint (hf_s2s.h; its source.spm, or
   T5's tokenizer.json, segments raw source text: ofr_seq2seq_model_spm). */
bool ofr_seq2seq_model_probe (const char *dir);

/* Open the model directory. Returns 0 and *out, or -1 with a message. */
int  ofr_seq2seq_model_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* The runtime model of a model opened above; NULL for any other model. */
const ofr_seq2seq *ofr_seq2seq_model_get (const ofr_model *m);
/* Its source BPE (bpe_merges.txt), or NULL (source already tokens). */
const ofr_bpe_merges *ofr_seq2seq_model_bpe (const ofr_model *m);
/* Its source segmenter (source.spm / tokenizer.json), or NULL. */
const ofr_spm *ofr_seq2seq_model_spm (const ofr_model *m);

#endif
