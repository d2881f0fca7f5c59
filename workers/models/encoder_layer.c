/*  encoder_layer.c -- the numerics of one post-LN transformer block and of
    the embedding stage, as transformers' BertLayer / BertEmbeddings (and
    their RoBERTa, ELECTRA, ALBERT, DistilBERT counterparts) compute them.

    All rows of a call are stacked token by token in mb->X (ragged: each
    row only its own tokens), so the four projections are one sgemm each
    over every token of the group; attention is per (row, head) on the
    row's own tokens, which equals HF's masked attention on real tokens
    (the mask's large negative scores become exact zeros after exp). */
#include "encoder_impl.h"
#include "../engine/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/*  Exact GELU x * Phi(x) with erf as a rational function of x^2 on
    [-4, 4] (Eigen's generic_fast_erf_float): |error| < 5e-7, no libm call,
    4x faster than erff here -- the feed-forward's T x I activations were
    a fifth of a batch's forward. */
static void
enc_gelu (float *restrict x, size_t n)
{
    const float k = 0.70710678118654752f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * k;
        v = v < -4.0f ? -4.0f : v > 4.0f ? 4.0f : v;
        float v2 = v * v;
        float p = -2.72614225801306e-10f;
        p = p * v2 + 2.77068142495902e-08f;
        p = p * v2 - 2.10102402082508e-06f;
        p = p * v2 - 5.69250639462346e-05f;
        p = p * v2 - 7.34990630326855e-04f;
        p = p * v2 - 2.95459980854025e-03f;
        p = p * v2 - 1.60960333262415e-02f;
        float q = -1.45660718464996e-05f;
        q = q * v2 - 2.13374055278905e-04f;
        q = q * v2 - 1.68282697438203e-03f;
        q = q * v2 - 7.37332916720468e-03f;
        q = q * v2 - 1.42647390514189e-02f;
        x[i] = 0.5f * x[i] * (1.0f + v * p / q);
    }
}

void
enc_activate (ofr_act a, float *x, size_t n)
{
    switch (a) {
    case OFR_ACT_GELU:      enc_gelu (x, n); break;
    case OFR_ACT_GELU_TANH: ofr_gelu_tanh (x, n); break;
    case OFR_ACT_SILU:      ofr_silu (x, n); break;
    case OFR_ACT_TANH:      ofr_tanh (x, n); break;
    case OFR_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0 ? x[i] : 0;
        break;
    }
}

/* out[M][N] = bias (+ res[M][N] when res != NULL): the accumulator the
   projection then adds into, so bias and residual cost no extra pass. */
static void
init_acc (float *out, const float *res, const float *bias, int M, int N)
{
    for (int i = 0; i < M; i++) {
        float *o = out + (size_t) i * N;
        if (res) {
            const float *r = res + (size_t) i * N;
            for (int j = 0; j < N; j++)
                o[j] = r[j] + bias[j];
        } else {
            memcpy (o, bias, (size_t) N * sizeof (float));
        }
    }
}

/* C[M][N] += A[M][K] * W^T, W [N][K] in fp32 or its bf16 panels. */
static void
project (ofr_mbatch *mb, const float *A, int M, int K, const float *W,
         const ofr_bf16_mat *Wl, float *C, int N, bool lowp)
{
    if (lowp)
        ofr_bf16_gemm (A, M, K, Wl, C, N, mb->lp);
    else
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f,
                     A, K, W, K, 1.0f, C, N);
}

/* Self-attention of every row: QKV [T][3d] -> context C [T][d]. */
static void
attend (ofr_mbatch *mb, int n_rows)
{
    const ofr_encoder_config *c = &mb->m->c;
    int d = c->hidden, dh = c->head_dim, ld = 3 * d;
    float scale = 1.0f / sqrtf ((float) dh);
    float *S = mb->S;
    size_t off = 0;
    for (int r = 0; r < n_rows; r++) {
        int n = mb->glen[r];
        for (int h = 0; h < c->n_heads; h++) {
            const float *Q = mb->QKV + off * ld + (size_t) h * dh;
            const float *K = Q + d, *V = Q + 2 * d;
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, scale,
                         Q, ld, K, ld, 0.0f, S, n);
            for (int i = 0; i < n; i++)
                ofr_softmax (S + (size_t) i * n, n);
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f,
                         S, n, V, ld, 0.0f, mb->C + off * d + (size_t) h * dh, d);
        }
        off += (size_t) n;
    }
}

void
enc_block_forward (ofr_mbatch *mb, const enc_block *b, int T, int n_rows, bool lowp)
{
    const ofr_encoder_config *c = &mb->m->c;
    int d = c->hidden, ni = c->intermediate;
    init_acc (mb->QKV, NULL, b->bqkv, T, 3 * d);
    project (mb, mb->X, T, d, b->wqkv, &b->lqkv, mb->QKV, 3 * d, lowp);
    attend (mb, n_rows);
    init_acc (mb->Y, mb->X, b->bo, T, d);
    project (mb, mb->C, T, d, b->wo, &b->lo, mb->Y, d, lowp);
    ofr_layernorm (mb->Y, mb->Y, T, d, b->ln1_g, b->ln1_b, c->ln_eps);
    init_acc (mb->F, NULL, b->bi, T, ni);
    project (mb, mb->Y, T, d, b->wi, &b->li, mb->F, ni, lowp);
    enc_activate (c->act, mb->F, (size_t) T * ni);
    init_acc (mb->X, mb->Y, b->bout, T, d);
    project (mb, mb->F, T, ni, b->wout, &b->lout, mb->X, d, lowp);
    ofr_layernorm (mb->X, mb->X, T, d, b->ln2_g, b->ln2_b, c->ln_eps);
}

void
enc_embed_row (const enc_model *m, const int32_t *ids, const int32_t *types, int len,
               float *out, float *tmp)
{
    const ofr_encoder_config *c = &m->c;
    const enc_embeddings *e = &m->emb;
    int E = c->embedding;
    float *x = e->proj_w ? tmp : out;
    for (int t = 0; t < len; t++) {
        float *xt = x + (size_t) t * E;
        const float *w = e->word + (size_t) ids[t] * E;
        const float *p = e->pos + (size_t) (c->pos_offset + t) * E;
        for (int j = 0; j < E; j++)
            xt[j] = w[j] + p[j];
        if (e->type) {
            const float *ty = e->type + (size_t) (types ? types[t] : 0) * E;
            for (int j = 0; j < E; j++)
                xt[j] += ty[j];
        }
    }
    ofr_layernorm (x, x, len, E, e->ln_g, e->ln_b, c->ln_eps);
    if (e->proj_w) {
        init_acc (out, NULL, e->proj_b, len, c->hidden);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, len, c->hidden, E, 1.0f,
                     tmp, E, e->proj_w, E, 1.0f, out, c->hidden);
    }
}
