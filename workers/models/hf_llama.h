/*  hf_llama.h -- a Hugging Face LlamaForCausalLM directory (config.json
    with "model_type": "llama" + model.safetensors) loaded into the
    llama2.c runtime's structures (llama.h), so that decoder.c runs it.

    config.json: hidden_size, intermediate_size, num_hidden_layers,
    num_attention_heads, vocab_size (required); num_key_value_heads
    (default num_attention_heads), rms_norm_eps (1e-6), rope_theta (10000),
    max_position_embeddings (2048; the decoder's seq_len),
    tie_word_embeddings (false), bos_token_id / eos_token_id (-1 = none; an
    eos list takes its first). "architectures", when present, must name
    LlamaForCausalLM; rope_scaling (not null), attention_bias / mlp_bias
    true, a hidden_act other than silu and a head_dim other than
    hidden_size / num_attention_heads are refused by name.

    model.safetensors (F32; other dtypes are refused by the reader with the
    tensor named): model.embed_tokens.weight, per layer N
    model.layers.N.{input_layernorm,post_attention_layernorm}.weight,
    .self_attn.{q,k,v,o}_proj.weight, .mlp.{gate,up,down}_proj.weight,
    model.norm.weight and lm_head.weight (absent when tied). Sharded
    checkpoints (model.safetensors.index.json) are refused.

    RoPE: HF rotates the two halves of each head (rotate_half: pairs
    (j, j + head_size/2)), llama2.c adjacent pairs (2j, 2j+1), with the
    same frequencies. The rows of q_proj and k_proj are permuted per head
    at load time (new row 2j = old j, new row 2j+1 = old j + half), which
    turns one convention into the other; q.k is unchanged because q and k
    get the same permutation, and v / o are not touched. */
#ifndef OFR_HF_LLAMA_H
#define OFR_HF_LLAMA_H

#include "llama.h"

#include <stdbool.h>
#include <stddef.h>

/* What config.json says beyond the shapes. */
typedef struct {
    int bos_id;            /* bos_token_id, or -1                            */
    int eos_id;            /* eos_token_id (first of a list), or -1          */
} ofr_hf_llama_info;

/* True if dir/config.json parses and has "model_type": "llama". */
bool ofr_hf_llama_probe (const char *dir);

/* Load dir. Returns 0, *out (caller destroys) and *info (may be NULL), or
   -1 with a message naming the file and the key or tensor. */
int  ofr_hf_llama_load (const char *dir, ofr_llama **out, ofr_hf_llama_info *info,
                        char *err, size_t errlen);

/* The part every HF decoder loader shares once its config.json is read into
   *c: dir/model.safetensors opened (a sharded index instead is refused by
   name), the model allocated and read_weights filling it from the file.
   Returns 0 and *out, or -1 with a message naming the file or tensor. */
typedef struct ofr_safetensors ofr_safetensors;
typedef int (ofr_hf_weights_fn) (ofr_llama *m, const ofr_safetensors *st, char *err,
                                 size_t errlen);
int  ofr_hf_llama_build (const char *dir, const ofr_llama_config *c,
                         ofr_hf_weights_fn *read_weights, ofr_llama **out,
                         char *err, size_t errlen);

/* The tokenizer of dir: tokenizer.json read by bpe_bytes (GPT-2-style
   byte-level BPE). Absent, or refused by bpe_bytes (SentencePiece-style
   BPE with byte_fallback and a normalizer, as Llama 1/2 ship): 0, *tok
   NULL and a sentence in note saying the model runs on token ids only.
   More tokens than vocab_size: -1 naming both files. */
typedef struct ofr_bpe_bytes ofr_bpe_bytes;
int  ofr_hf_llama_tokenizer (const char *dir, int vocab_size, ofr_bpe_bytes **tok,
                             char *note, size_t notelen, char *err, size_t errlen);

#endif
