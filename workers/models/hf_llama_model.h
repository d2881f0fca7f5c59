/*  hf_llama_model.h -- a Hugging Face Llama directory (hf_llama.h) as an
    ofr_model of kind OFR_KIND_DECODER, family "hf-llama". The registry
    opens it for a config.json with "model_type": "llama".

    The decoder driver (workers/decoder_runner.c) speaks the llama2.c
    tokenizer only, so it refuses this family with a clear message for
    now; `offramp generate` and `offramp bench decode` run it. */
#ifndef OFR_HF_LLAMA_MODEL_H
#define OFR_HF_LLAMA_MODEL_H

#include "../model.h"
#include "hf_llama.h"

/* Open dir. Returns 0 and *out, or -1 with a message naming the file and
   the key or tensor. */
int  ofr_hf_llama_model_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* The weights, tokenizer (NULL: token ids only, see the note) and token
   ids of a model opened above; NULL / -1 for any other model. */
const ofr_llama     *ofr_hf_llama_model_llama (const ofr_model *m);
const ofr_bpe_bytes *ofr_hf_llama_model_tokenizer (const ofr_model *m);
const char          *ofr_hf_llama_model_note (const ofr_model *m);
ofr_hf_llama_info    ofr_hf_llama_model_info (const ofr_model *m);

#endif
