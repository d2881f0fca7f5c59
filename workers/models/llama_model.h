/*  llama_model.h -- a llama2.c checkpoint as an ofr_model of kind
    OFR_KIND_DECODER (family "llama2c"), for the decoder driver
    (workers/decoder_runner.c).

    A model directory holds exactly one llama2.c `.bin` checkpoint other
    than its tokenizer, and the tokenizer: `tokenizer.bin`, else the only
    `tok*.bin` (stories260K/: stories260K.bin + tok512.bin). The
    classifier-shaped ops of model.h (batch_begin, run_layer, ...) refuse:
    decoders run token by token through ofr_decoder_run. */
#ifndef OFR_LLAMA_MODEL_H
#define OFR_LLAMA_MODEL_H

#include "../model.h"
#include "llama.h"
#include "../text/bpe_llama2c.h"

#include <stdbool.h>

/* The OFR_KIND_* bit of decoder models (plugins/offramp_plugin.h is not
   included here: decoder.h names its own KV fills; decoder_runner.c
   asserts the two agree). */
#define OFR_LLAMA_MODEL_KIND 0x2u

/* True if dir looks like a llama2.c model directory (a tokenizer and one
   checkpoint .bin, no config.json needed). */
bool ofr_llama_model_probe (const char *dir);

/* Open the model directory. Returns 0 and *out, or -1 with a message. */
int  ofr_llama_model_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* The checkpoint and tokenizer of a model opened above; NULL for any
   other model. */
const ofr_llama       *ofr_llama_model_llama (const ofr_model *m);
const ofr_bpe_llama2c *ofr_llama_model_tokenizer (const ofr_model *m);

/* The weights and tokenizer of any decoder model: llama2.c directories
   and Hugging Face ones (hf_llama_model.h). Returns 0, or -1 naming the
   model when it is not a decoder or has no tokenizer.json (token ids
   only). */
typedef struct ofr_dec_tok ofr_dec_tok;
int  ofr_decoder_model_parts (const ofr_model *m, const ofr_llama **llama,
                              const ofr_dec_tok **tok, char *err, size_t errlen);

#endif
