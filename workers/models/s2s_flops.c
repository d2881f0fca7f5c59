/*  s2s_flops.c -- analytic FLOPs of the encoder-decoder (formulas in
    seq2seq.h, conventions in docs/FLOPS.md). */
#include "s2s_impl.h"

static double
act_cost (const ofr_seq2seq *m)
{
    switch (m->activation) {
    case S2S_GELU_TANH:
    case S2S_GELU:  return 8;
    case S2S_SWISH: return 5;
    default:        return 1;
    }
}

/* Gated (T5 gated-*): a second input projection 2dF and the product F. */
static double
ffn_flops (const ofr_seq2seq *m, double n, double d, double F)
{
    return n * (4 * d * F + F + d + act_cost (m) * F + (m->gated ? 2 * d * F + F : 0));
}

double
ofr_s2s_encoder_flops (const ofr_seq2seq *m, int n_src)
{
    double d = m->de, N = n_src, H = m->heads_e, dd = m->d;
    double layer = 16 * N * d + 6 * N * d * d + 3 * N * d + 4 * N * N * d + 5 * H * N * N
                 + 2 * N * d * d + N * d + ffn_flops (m, N, d, m->ffn_e) + 2 * N * d;
    /* hybrid: the memory projected to the decoder width, once */
    double proj = m->hybrid ? 2 * N * d * dd + N * dd : 0;
    return 2 * N * d + m->n_enc * layer + 8 * N * d + proj
         + m->n_dec * (4 * N * dd * dd + 2 * N * dd);
}

double
ofr_s2s_layer_flops (const ofr_seq2seq *m, int t_len, int n_src)
{
    double d = m->d, T = t_len, N = n_src, H = m->heads;
    return 24 * d + 6 * d * d + 3 * d + 4 * T * d + 5 * H * T + 2 * d * d + d
         + 2 * d * d + d + 4 * N * d + 5 * H * N + 2 * d * d + d + ffn_flops (m, 1, d, m->ffn) + 3 * d;
}

double
ofr_s2s_embed_flops (const ofr_seq2seq *m)
{
    return 2.0 * m->d;
}

double
ofr_s2s_head_flops (const ofr_seq2seq *m, bool with_softmax)
{
    double d = m->d, V = m->tgt.n;
    return 8 * d + 2 * d * V + V + (with_softmax ? 5 * V : 0);
}

double
ofr_s2s_kv_fill_flops (const ofr_seq2seq *m)
{
    double d = m->d;
    return 8 * d + 4 * d * d + 2 * d;
}
