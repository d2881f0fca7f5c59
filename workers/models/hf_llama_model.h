/*  hf_llama_model.h -- a Hugging Face decoder directory as an ofr_model of
    kind OFR_KIND_DECODER: model_type "llama" (hf_llama.h, family
    "hf-llama"), "gpt2" and "gpt_neox" (gptx.h, families "hf-gpt2",
    "hf-gpt-neox"). The registry opens it for those model_types. Its
    tokenizer.json (dec_tok.h: byte-level or SentencePiece-style BPE) must
    not have more tokens than vocab_size; without one the model runs on
    token ids only (the note says so). */
#ifndef OFR_HF_LLAMA_MODEL_H
#define OFR_HF_LLAMA_MODEL_H

#include "../model.h"
#include "hf_llama.h"

/* Open dir. Returns 0 and *out, or -1 with a message naming the file and
   the key or tensor. */
int  ofr_hf_llama_model_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* True if dir/config.json names one of the model_types above. */
bool ofr_hf_decoder_probe (const char *dir);

/* The weights, tokenizer (NULL: token ids only, see the note) and token
   ids of a model opened above; NULL / -1 for any other model. */
const ofr_llama     *ofr_hf_llama_model_llama (const ofr_model *m);
const ofr_bpe_bytes *ofr_hf_llama_model_tokenizer (const ofr_model *m);  /* gpt2 kind */
typedef struct ofr_dec_tok ofr_dec_tok;
const ofr_dec_tok   *ofr_hf_llama_model_dec_tok (const ofr_model *m);
const char          *ofr_hf_llama_model_note (const ofr_model *m);
ofr_hf_llama_info    ofr_hf_llama_model_info (const ofr_model *m);

#endif
