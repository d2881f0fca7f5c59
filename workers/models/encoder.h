/*  encoder.h -- BERT-family sequence classifiers with an exit head after
    every layer (docs/CHECKPOINTS.md), run layer by layer through
    ofr_model_ops (workers/model.h).

    Families (config.json "model_type"): bert, roberta, electra, albert,
    distilbert. A model directory holds config.json, model.safetensors (F32)
    and vocab.txt (WordPiece) or tokenizer.json (a Unigram model, as
    ALBERT's, or a WordPiece one; workers/text/unigram.h). Numerics follow Hugging Face transformers'
    modules of the same names: post-LN blocks, exact (erf) GELU unless
    hidden_act says otherwise, attention scaled by 1/sqrt(head_dim).

    Rows are run ragged: each row keeps only its own tokens (no padding), so
    a padded position never costs anything and the hidden states of real
    tokens equal Hugging Face's under an attention mask. The active rows of
    a layer are gathered into one token matrix, so every projection is one
    cblas_sgemm over all of them. RUN_LOWP rows use bf16 weights and
    activations with fp32 accumulation (see ofr_encoder_lowp_backend).

    Costs are analytic (docs/FLOPS.md), from the row's own token count. */
#ifndef OFR_ENCODER_H
#define OFR_ENCODER_H

#include "../model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    OFR_ENC_BERT = 0, OFR_ENC_ROBERTA, OFR_ENC_ELECTRA, OFR_ENC_ALBERT,
    OFR_ENC_DISTILBERT
} ofr_encoder_family;

typedef enum {
    OFR_ACT_GELU = 0,      /* exact x * Phi(x) (erf)                          */
    OFR_ACT_GELU_TANH,     /* tanh approximation (gelu_new, gelu_fast, ...)   */
    OFR_ACT_RELU,
    OFR_ACT_SILU,
    OFR_ACT_TANH,
} ofr_act;

/* Shapes and numerics of a checkpoint, read from config.json. */
typedef struct {
    ofr_encoder_family family;
    int    vocab_size;
    int    hidden;           /* d: width of the blocks                        */
    int    embedding;        /* E: width of the embeddings (== d unless       */
                             /*    electra/albert factorize them)              */
    int    n_layers;         /* L: layers the runner sees (exit points)       */
    int    n_heads;
    int    head_dim;         /* d / n_heads                                   */
    int    intermediate;     /* I: feed-forward width                         */
    int    max_positions;    /* rows of the position table                    */
    int    type_vocab;       /* rows of the token-type table (0 = none)       */
    int    num_labels;       /* classes; 1 = regression                       */
    bool   regression;       /* problem_type "regression" or num_labels == 1  */
    ofr_act act;             /* feed-forward activation                       */
    float  ln_eps;
    int    pad_id;           /* pad_token_id                                  */
    int    pos_offset;       /* first position id (roberta: pad_id + 1)       */
    bool   sinusoidal;       /* distilbert sinusoidal_pos_embds               */
    int    n_groups;         /* albert num_hidden_groups (1 otherwise)        */
    int    inner_layers;     /* blocks run per layer (albert inner_group_num) */
    int    max_tokens;       /* longest input incl. specials, per row         */
} ofr_encoder_config;

/* Read dir/config.json into *c. Returns 0, or -1 with a message naming
   the file and the key (unsupported model_type, missing or bad value). */
int ofr_encoder_config_read (const char *dir, ofr_encoder_config *c,
                             char *err, size_t errlen);

/* Open the checkpoint in `dir` (config.json, model.safetensors, vocab.txt
   or else tokenizer.json, whose vocabulary must have vocab_size entries).
   On success *out is a new model (free with ofr_model_destroy); its
   ops->family is the model_type. Returns 0, or -1 with a message naming
   the file and the tensor or key at fault. */
int ofr_encoder_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* Like ofr_encoder_open without a tokenizer: the model runs only batches
   given as token ids (ofr_encoder_batch_begin_ids). For tests and tools. */
int ofr_encoder_open_ids (const char *dir, ofr_model **out, char *err, size_t errlen);

/* Let rows have up to n tokens, beyond the checkpoint's own limit
   (offramp.max_seq_len) as far as its position table goes: for benchmarks
   of lengths it was not trained on. Returns 0, or -1 if n is outside
   [1, max_position_embeddings - position offset] or m is no encoder. */
int ofr_encoder_set_max_tokens (ofr_model *m, int n);

/* True if m was opened by this module (its ops are the encoder's). */
bool ofr_encoder_is (const ofr_model *m);

/* The configuration of an encoder model (owned by the model). */
const ofr_encoder_config *ofr_encoder_config_of (const ofr_model *m);

/* True if layer has an exit head (exits.{layer}.*, or the final head for
   the last layer). exit_probs fails for layers without one. */
bool ofr_encoder_has_exit (const ofr_model *m, int layer);

/* Begin a batch of n rows given as token ids: row i has lens[i] tokens
   (special tokens included) at ids + sum(lens[0..i)), token types likewise
   in types (NULL = all 0). Same batch object as ops->batch_begin. */
int ofr_encoder_batch_begin_ids (ofr_model *m, const int32_t *ids,
                                 const int32_t *types, const int *lens, int n,
                                 ofr_mbatch **out, char *err, size_t errlen);

/* Hidden states of all tokens of row: *n_tokens x hidden floats, owned by
   the batch, valid until the next run_layer. NULL if row is out of range. */
const float *ofr_encoder_token_states (ofr_mbatch *mb, int row, int *n_tokens);

/* Raw exit-head outputs (before the softmax) of `layer` for row into
   logits[num_labels]. Returns 0, or -1 (bad layer/row or no head). */
int ofr_encoder_exit_logits (ofr_mbatch *mb, int layer, int row, float *logits);

/* FLOPs of one layer for a row of n tokens, split by kind (docs/FLOPS.md);
   layer 0 also carries the embedding stage. Needs only the config. */
typedef struct {
    double linear;      /* Q, K, V, output and feed-forward projections      */
    double attention;   /* QK^T and AV                                       */
    double softmax;     /* 5 per attention score                             */
    double norm;        /* LayerNorm, 8 per element                          */
    double act;         /* activation, 8 per element (relu 1)                */
    double embed;       /* layer 0: embedding sums, LayerNorm, projection     */
    double total;
} ofr_encoder_flops;

void ofr_encoder_layer_flops (const ofr_encoder_config *c, int layer, int n,
                              ofr_encoder_flops *f);

/* FLOPs of an exit head (pooler dense, its activation -- tanh for exits --,
   classifier, softmax unless regression). */
double ofr_encoder_head_flops (const ofr_encoder_config *c, ofr_act pooler_act);

/* "avx512bf16" when RUN_LOWP layers use native bf16 dot products, or
   "emulated" when they round to bf16 and compute in fp32 (no saving). */
const char *ofr_encoder_lowp_backend (void);

#endif
