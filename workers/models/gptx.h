/*  gptx.h -- Hugging Face GPT-2 (model_type "gpt2") and GPT-NeoX / Pythia
    (model_type "gpt_neox") directories (config.json + model.safetensors,
    F32) loaded into the decoder runtime's structures (llama.h, arch
    OFR_ARCH_GPT2 / OFR_ARCH_NEOX), so that decoder.c runs them with the
    same per-layer API as Llama.

    gpt2: n_embd, n_layer, n_head, vocab_size, n_positions (the context:
    a longer prompt is refused), n_inner (null: 4 * n_embd),
    layer_norm_epsilon (1e-5), activation_function gelu_new | gelu_pytorch_tanh |
    gelu_fast (tanh) or gelu (erf), tie_word_embeddings (true), bos / eos
    ids. scale_attn_weights false and scale_attn_by_inverse_layer_idx true
    are refused by name. Tensors [transformer.]wte, wpe, h.N.ln_1, attn.c_attn
    (Conv1D: [in][out], transposed to [out][in] once at load; q, k, v are
    its column blocks), attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj, ln_f.

    gpt_neox: hidden_size, num_hidden_layers, num_attention_heads,
    intermediate_size, vocab_size, max_position_embeddings (2048),
    rotary_pct (0.25), rotary_emb_base / rope_theta (10000),
    layer_norm_eps (1e-5), use_parallel_residual (true), hidden_act gelu
    (erf) or gelu_new etc. (tanh), tie_word_embeddings (false);
    attention_bias false and rope_scaling are refused. Tensors
    gpt_neox.embed_in, layers.N.{input,post_attention}_layernorm,
    attention.query_key_value (rows per head [q | k | v], regrouped into
    [all q | all k | all v]), attention.dense, mlp.dense_h_to_4h,
    mlp.dense_4h_to_h, final_layer_norm, embed_out. HF rotates the halves of
    the first rotary_ndims = head_size * rotary_pct dims of each head
    (rotate_half, frequencies over rotary_ndims); the q and k rows (and
    biases) of those dims are permuted per head at load as in hf_llama.h,
    so the runtime's adjacent-pair RoPE on them gives the same q.k.

    FLOPs (llama.c): LayerNorm 7*d, GELU 8 per element, biases one add per
    output, RoPE only on the rotated dims (none for GPT-2). */
#ifndef OFR_GPTX_H
#define OFR_GPTX_H

#include "llama.h"

#include <stdbool.h>
#include <stddef.h>

/* The model_type of dir/config.json when it is one of these two ("gpt2",
   "gpt_neox"), else NULL (static strings). */
const char *ofr_gptx_probe (const char *dir);

/* Load dir. Returns 0 and *out (caller destroys; the config's bos_id /
   eos_id set), or -1 with a message naming the file and the key or
   tensor. */
int  ofr_gptx_load (const char *dir, ofr_llama **out, char *err, size_t errlen);

#endif
