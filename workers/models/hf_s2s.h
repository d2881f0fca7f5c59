/*  hf_s2s.h -- Hugging Face encoder-decoder checkpoints (config.json +
    model.safetensors) loaded into the seq2seq runtime's structures
    (s2s_impl.h), so search, the seq2seq driver and its per-token exit /
    skip hooks run them unchanged.

    model_type "marian" (MarianMTModel, hf_marian.c): shared embeddings
    scaled by sqrt(d_model) when scale_embedding, Marian's sinusoids (no
    padding offset; embed_positions tables in the file are checked against
    them), post-norm layers with biases, activation_function,
    lm_head (tied to model.shared when absent) + final_logits_bias; the
    decoder starts from decoder_start_token_id (pad), stops at
    eos_token_id; single-token bad_words_ids (opus-mt: [[pad]]) get -inf
    in the bias, as generate() forbids them. vocab.json maps pieces to
    ids (source.spm / target.spm are the model wrapper's tokenizers).
    Sources get </s> appended (MarianTokenizer).
    model_type "t5" (T5ForConditionalGeneration, hf_t5.c): see there.
    Other model_types are refused with their name. */
#ifndef OFR_HF_S2S_H
#define OFR_HF_S2S_H

#include "seq2seq.h"

#include <stdbool.h>
#include <stddef.h>

struct ofr_hf_s2s;

/* True if dir has model.safetensors and a config.json whose model_type is
   an encoder-decoder family ("marian", "t5"). */
bool ofr_hf_s2s_probe (const char *dir);

/* Open such a directory. Returns 0 and *out, or -1 with a message naming
   the file, key or tensor. */
int  ofr_hf_s2s_open (const char *dir, ofr_seq2seq **out, char *err, size_t errlen);

/* What a model opened above owns (the mapped file, fused copies). */
void ofr_hf_s2s_free (struct ofr_hf_s2s **hf);

#endif
