/*  encoder_impl.h -- what encoder.c, encoder_load.c and encoder_layer.c
    share: the model and batch objects. Not a public header. */
#ifndef OFR_ENCODER_IMPL_H
#define OFR_ENCODER_IMPL_H

#include "encoder.h"
#include "bf16_gemm.h"
#include "safetensors.h"

/* One transformer block (post-LN), whatever the family calls its parts. */
typedef struct {
    const float *wqkv, *bqkv;     /* [3d][d], [3d]: query, key, value rows    */
    const float *wo, *bo;         /* attention output [d][d], [d]             */
    const float *ln1_g, *ln1_b;   /* LayerNorm after attention [d]            */
    const float *wi, *bi;         /* feed-forward in [I][d], [I]              */
    const float *wout, *bout;     /* feed-forward out [d][I], [d]             */
    const float *ln2_g, *ln2_b;   /* LayerNorm after the feed-forward [d]     */
    ofr_bf16_mat lqkv, lo, li, lout;   /* the four projections in bf16        */
} enc_block;

/* A classification head on the first token: act(dense(h)) then linear. */
typedef struct {
    bool         present;
    const float *pw, *pb;         /* [d][d], [d]                              */
    ofr_act      act;             /* tanh for exits / BERT poolers            */
    const float *cw, *cb;         /* [num_labels][d], [num_labels]            */
} enc_head;

typedef struct {
    const float *word;            /* [vocab][E]                               */
    const float *pos;             /* [max_positions][E]                       */
    const float *type;            /* [type_vocab][E] or NULL                  */
    const float *ln_g, *ln_b;     /* [E]                                      */
    const float *proj_w, *proj_b; /* [d][E], [d] or NULL (E == d)             */
} enc_embeddings;

struct ofr_wordpiece;
struct ofr_unigram;
struct ofr_bpe_bytes;

typedef struct {
    ofr_model           base;
    ofr_model_ops       ops;      /* per model: family name, lowp_cost        */
    ofr_encoder_config  c;
    char               *dir;
    ofr_safetensors    *st;       /* mapped weights, alive with the model     */
    enc_embeddings      emb;
    enc_block          *blocks;   /* [n_blocks]                               */
    int                 n_blocks;
    enc_head           *heads;    /* [n_layers]                               */
    float              *owned;    /* packed QKV weights and biases, sinusoids */
    struct ofr_wordpiece *wp;     /* WordPiece (vocab.txt or tokenizer.json)  */
    struct ofr_unigram   *ug;     /* or SentencePiece-unigram (tokenizer.json);
                                     all NULL: ids-only model                 */
    struct ofr_bpe_bytes *bpe;    /* or byte-level BPE (roberta tokenizer.json) */
    int32_t             cls_id, sep_id;
} enc_model;

/* Block b of logical layer l and inner step j (ALBERT shares groups). */
const enc_block *enc_block_of (const enc_model *m, int layer, int inner);

struct ofr_mbatch {
    enc_model *m;
    int        n;             /* rows                                        */
    int        T;             /* tokens of all rows                          */
    int       *len;           /* [n] tokens of each row                      */
    int       *off;           /* [n] first token of each row in H            */
    float     *H;             /* [T][d] token states                         */
    int       *pooled_layer;  /* [n] layer whose pooled state is cached, -2  */
    float     *pooled;        /* [n][d]                                      */
    /* Scratch sized for all T tokens, so run_layer never allocates. */
    float     *X, *QKV, *C, *Y, *F;  /* [T][d], [T][3d], [T][d], [T][d], [T][I] */
    float     *S;             /* [maxlen][maxlen] attention scores            */
    int       *glen;          /* [n] lengths of the gathered rows             */
    int       *grow;          /* [n] rows of the group being run              */
    uint8_t   *mark;          /* [n] duplicate check of a run_layer call      */
    int        cur_layer;     /* layer of the last run_layer call, -1 before  */
    void      *lp;            /* bf16 scratch (NULL if never needed)          */
    size_t     lp_size;
    float     *head_tmp;      /* [d]                                         */
};

/* Run one block in place on mb->X: T tokens of n_rows rows of glen[]
   tokens each, in full or reduced (bf16) precision. */
void enc_block_forward (ofr_mbatch *mb, const enc_block *b, int T, int n_rows,
                        bool lowp);

/* Embedding stage for row: writes len tokens into H (ids, types, positions). */
void enc_embed_row (const enc_model *m, const int32_t *ids, const int32_t *types,
                    int len, float *out, float *tmp);

/* Apply activation a in place over x[n]. */
void enc_activate (ofr_act a, float *x, size_t n);

/* Load weights of dir (config already in m->c) into m. */
int  enc_load_weights (enc_model *m, char *err, size_t errlen);
void enc_free_weights (enc_model *m);

#endif
