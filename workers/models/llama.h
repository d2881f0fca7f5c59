/*  llama.h -- a Llama-architecture decoder checkpoint in the llama2.c
    "legacy" (version 0) format: shapes, weights and analytic costs.

    File layout (little-endian): 7 int32 (dim, hidden_dim, n_layers,
    n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means
    the classifier is stored separately instead of shared with the token
    embedding), then float32 tensors in this order, each stacked over the
    layers where it is per layer: token embedding [vocab][dim],
    attention RMSNorm [L][dim], wq [L][dim][dim], wk [L][kv_dim][dim],
    wv [L][kv_dim][dim], wo [L][dim][dim], FFN RMSNorm [L][dim],
    w1 [L][hidden][dim], w2 [L][dim][hidden], w3 [L][hidden][dim], final
    RMSNorm [dim], two unused RoPE tables [seq_len][head_size / 2] each,
    and the classifier [vocab][dim] when it is not shared. Matrices are
    nn.Linear's [out][in], which is what cblas_sgemm with B transposed
    wants, so they are used as stored; q/k/v and w1/w3 are only regrouped
    per layer so that each pair or triple is one matmul. */
#ifndef OFR_LLAMA_H
#define OFR_LLAMA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_llama ofr_llama;

typedef struct {
    int  dim;              /* model width                                    */
    int  hidden_dim;       /* SwiGLU inner width                             */
    int  n_layers;
    int  n_heads;          /* query heads                                    */
    int  n_kv_heads;       /* key/value heads (GQA: divides n_heads)         */
    int  vocab_size;       /* always positive here                           */
    int  seq_len;          /* longest sequence the model was built for       */
    int  head_size;        /* dim / n_heads (even: RoPE rotates pairs)       */
    int  kv_dim;           /* n_kv_heads * head_size                         */
    bool shared_classifier;/* classifier == token embedding                  */
    float norm_eps;        /* RMSNorm epsilon (llama2.c: OFR_LLAMA_NORM_EPS)  */
    float rope_theta;      /* RoPE base (llama2.c: 10000)                     */
    /* Other block families (gptx.h); all zero for Llama. */
    int   arch;            /* OFR_ARCH_*                                      */
    int   act;             /* OFR_MLP_* of the MLP                            */
    int   rotary_dim;      /* leading dims of each head RoPE turns (0: all)   */
    bool  parallel_residual; /* x + attn(ln1 x) + mlp(ln2 x)                  */
    int   bos_id, eos_id;  /* ids greedy stops at (-1: none; llama2.c 1, 2;
                              both 0 in ofr_llama_new's input: 1, 2)        */
} ofr_llama_config;

/* Block families: Llama (RMSNorm, RoPE, SwiGLU, no biases); GPT-2
   (LayerNorm, learned positions, GELU MLP, biases); GPT-NeoX (LayerNorm,
   partial RoPE, GELU MLP, biases, parallel residual). */
enum { OFR_ARCH_LLAMA = 0, OFR_ARCH_GPT2 = 1, OFR_ARCH_NEOX = 2 };
enum { OFR_MLP_SWIGLU = 0, OFR_MLP_GELU = 1, OFR_MLP_GELU_TANH = 2 };

/* One layer's weights, regrouped at load time (pointers into the model). */
typedef struct {
    const float *rms_att;  /* [dim]                                          */
    const float *wqkv;     /* [dim + 2 * kv_dim][dim]: rows of wq, wk, wv     */
    const float *wo;       /* [dim][dim]                                     */
    const float *rms_ffn;  /* [dim]                                          */
    const float *w13;      /* [2 * hidden][dim]: rows of w1 then w3           */
    const float *w2;       /* [dim][hidden]                                  */
    /* arch != LLAMA (else NULL): LayerNorm biases and matmul biases; w13
       then holds only the [hidden][dim] up projection (no gate). */
    const float *ln1_b, *ln2_b;   /* [dim]                                   */
    const float *bqkv;     /* [dim + 2 * kv_dim]                             */
    const float *bo;       /* [dim]                                          */
    const float *b1;       /* [hidden]                                       */
    const float *b2;       /* [dim]                                          */
} ofr_llama_layer;

/* RMSNorm epsilon of llama2.c (model.py's norm_eps default). */
#define OFR_LLAMA_NORM_EPS 1e-5f

/* Special token ids of the llama2.c / sentencepiece vocabularies. */
enum { OFR_LLAMA_UNK = 0, OFR_LLAMA_BOS = 1, OFR_LLAMA_EOS = 2 };

/* Load the checkpoint at path; the file size must match what the header
   implies exactly. Returns 0 and a new model in *out (caller destroys), or
   -1 with a message naming the file and the bad field / size. */
int  ofr_llama_load (const char *path, ofr_llama **out, char *err, size_t errlen);

/* A zero-filled model of shape c (dim .. seq_len, shared_classifier,
   norm_eps, rope_theta and the block-family fields arch .. eos_id; head_size
   and kv_dim are derived; arch != LLAMA also gets the bias views of
   ofr_llama_layer and ofr_llama_final_norm_bias), checked as a
   llama2.c header is, for loaders of other formats (hf_llama.c) and
   generated benchmarks. They fill the weights through the views of
   ofr_llama_layer_weights etc., casting the const away: the model owns
   that memory and it is writable. path names the model in messages.
   Returns 0 and *out, or -1 with a message. */
int  ofr_llama_new (const ofr_llama_config *c, const char *path, ofr_llama **out,
                    char *err, size_t errlen);

/* Free the model and set *m to NULL (no-op on NULL). */
void ofr_llama_destroy (ofr_llama **m);

/* Shapes of the model (owned by the model). */
const ofr_llama_config *ofr_llama_config_of (const ofr_llama *m);

/* Convenience accessors for the common shapes. */
int  ofr_llama_n_layers (const ofr_llama *m);
int  ofr_llama_dim (const ofr_llama *m);
int  ofr_llama_vocab_size (const ofr_llama *m);
int  ofr_llama_seq_len (const ofr_llama *m);

/* The path the model was loaded from (owned by the model). */
const char *ofr_llama_path (const ofr_llama *m);

/* Weights of layer l in [0, n_layers) (owned by the model); NULL if out of
   range. */
const ofr_llama_layer *ofr_llama_layer_weights (const ofr_llama *m, int l);

/* Token embedding [vocab][dim], final RMSNorm [dim] and classifier
   [vocab][dim] (the embedding when shared). Owned by the model. */
const float *ofr_llama_embedding (const ofr_llama *m);
const float *ofr_llama_final_norm (const ofr_llama *m);
const float *ofr_llama_classifier (const ofr_llama *m);

/* arch != LLAMA: the final LayerNorm bias [dim]; GPT-2: the learned
   position embedding [seq_len][dim]. NULL otherwise. */
const float *ofr_llama_final_norm_bias (const ofr_llama *m);
const float *ofr_llama_pos_embedding (const ofr_llama *m);

/* Whether greedy decoding stops before token: the config's eos_id or
   bos_id. */
bool ofr_llama_is_stop (const ofr_llama *m, int token);

/*  Analytic cost of one token position (docs/FLOPS.md).
    Matmuls count 2 FLOPs per multiply-add. With d = dim, kv = kv_dim,
    h = hidden_dim, H = n_heads, T = positions attended (current one
    included, so T = pos + 1 without masking):
      projections  2*d*(d + 2*kv)  (q, k, v)  + 2*d*d (wo) + 2*3*d*h (w1,w3,w2)
      attention    2*d*T (q.k over T positions) + 2*d*T (weights x V)
      elementwise  2 RMSNorms 4*d each (square, add, scale, weight), RoPE
                   3 per element of q and k: 3*(d + kv), softmax 5 per score
                   5*H*T (max, sub, exp, add, div; the 1/sqrt(hs) scale is
                   folded into the matmul), SiLU x gate 5*h (exp, add, div,
                   mul, mul), two residual adds 2*d.
    MACs count the projections and attention only (FLOPs of those / 2). */
double ofr_llama_layer_flops (const ofr_llama *m, int ctx_len);
double ofr_llama_layer_macs (const ofr_llama *m, int ctx_len);

/* The LM head on one hidden state: final RMSNorm 4*d + classifier
   2*d*vocab, plus 5*vocab when with_softmax (probabilities, not only an
   argmax over logits). */
double ofr_llama_head_flops (const ofr_llama *m, bool with_softmax);

/* Filling a skipped layer's K/V from the current hidden state
   (ofr_decoder_skip with OFR_KV_PROPAGATE): RMSNorm 4*d, k and v
   projections 2*d*2*kv, RoPE on k 3*kv. */
double ofr_llama_kv_fill_flops (const ofr_llama *m);

#endif
