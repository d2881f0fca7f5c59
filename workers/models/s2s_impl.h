/*  s2s_impl.h -- internals shared by seq2seq_load.c and seq2seq.c. */
#ifndef OFR_S2S_IMPL_H
#define OFR_S2S_IMPL_H

#include "seq2seq.h"
#include "ct2.h"

typedef struct { const float *g, *b; } s2s_ln;
typedef struct { const float *w, *b; int out, in; } s2s_lin;   /* w [out][in] */

typedef struct {
    s2s_ln  sa_ln;  s2s_lin sa_qkv, sa_out;           /* self-attention      */
    s2s_ln  ca_ln;  s2s_lin ca_q, ca_kv, ca_out;      /* decoder: cross-attn */
    s2s_ln  ff_ln;  s2s_lin ff_in, ff_out;
} s2s_layer;

typedef struct {
    char **tok;
    int    n;
} s2s_vocab;

/* CTranslate2 ActivationType order (include/ctranslate2/ops/activation.h). */
enum { S2S_RELU = 0, S2S_GELU_TANH = 1, S2S_SWISH = 2, S2S_GELU = 3 };

struct ofr_seq2seq {
    ofr_ct2     *ct2;
    int          d, heads, dh, ffn, n_enc, n_dec;   /* decoder side        */
    int          de, heads_e, dh_e, ffn_e;          /* encoder side (= the
                                                       decoder's unless hybrid) */
    bool         hybrid;          /* hybrid/projection: encoder width de ->
                                     decoder width d (docs/TRANSLATION.md)  */
    s2s_lin      hproj;           /* [d][de]                               */
    int          activation;
    float        eps, src_scale, tgt_scale;  /* embedding multipliers */
    const float *src_emb, *tgt_emb;       /* [vocab][d]                     */
    const float *src_pos, *tgt_pos;       /* learned [n][d] or NULL          */
    int          n_src_pos, n_tgt_pos;
    s2s_layer   *enc, *dec;
    s2s_ln       enc_norm, dec_norm;
    s2s_lin      proj;
    s2s_vocab    src, tgt;
    int          src_unk, src_bos, src_eos, bos, eos;
    bool         add_src_bos, add_src_eos;
    size_t       params;
    /* Hugging Face layouts (hf_s2s.h): post-norm layers (LN after each
       residual, no final norms when enc_norm.g / dec_norm.g are NULL),
       HF Marian's sinusoids (positions from 0, sin half then cos half,
       frequencies 1e4^(-2j/d)), a position limit (0: none), and the
       tensors and copies the model owns. */
    bool         post_norm;
    int          pos_layout;              /* S2S_POS_*                       */
    int          max_pos;
    struct ofr_hf_s2s *hf;
    /* T5: RMS norms (x / rms * g, no bias), gated FFN (ff_in holds
       [wi_0; wi_1]: act (wi_0 x) * wi_1 x), attention scores scaled by
       attn_scale (0: 1/sqrt(head_dim); T5 1) plus a relative position bias
       [rel_buckets][heads] shared by all layers (encoder bidirectional,
       decoder self-attention causal; NULL: none). */
    bool         rms, gated;
    float        attn_scale;
    const float *rel_enc, *rel_dec;
    int          rel_buckets, rel_max;
};

enum { S2S_POS_CT2 = 0, S2S_POS_MARIAN = 1, S2S_POS_NONE = 2 };

int  ofr_s2s_load_weights (ofr_seq2seq *m, char *err, size_t errlen);   /* seq2seq_load.c */

#endif
