/*  hf_decoder.h -- any Hugging Face decoder directory offramp runs
    (model_type llama: hf_llama.h; gpt2, gpt_neox: gptx.h) with its
    tokenizer.json (dec_tok.h), for `offramp generate` and the model
    registry (hf_llama_model.h). */
#ifndef OFR_HF_DECODER_H
#define OFR_HF_DECODER_H

#include "llama.h"
#include "../text/dec_tok.h"

#include <stdbool.h>
#include <stddef.h>

/* True if dir/config.json has model_type llama, gpt2 or gpt_neox. */
bool ofr_hf_decoder_is (const char *dir);

/* Load the model of dir into *m and its tokenizer into *tok. No
   tokenizer.json: *tok NULL and a sentence in note (token ids only). A
   tokenizer.json neither tokenizer reads, or with more tokens than
   vocab_size: -1 naming the file(s). Returns 0, or -1 with *m and *tok
   NULL. */
int  ofr_hf_decoder_load (const char *dir, ofr_llama **m, ofr_dec_tok **tok,
                          char *note, size_t notelen, char *err, size_t errlen);

#endif
