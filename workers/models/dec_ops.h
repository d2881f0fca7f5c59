/*  dec_ops.h -- the per-row pieces in which the decoder's block families
    (llama.h OFR_ARCH_*) differ, for decoder.c: the pre-norm (RMSNorm for
    Llama, LayerNorm with bias otherwise), matmul biases, and the MLP
    activation (SwiGLU, or GELU exact / tanh as HF's "gelu" and
    "gelu_new"). */
#ifndef OFR_DEC_OPS_H
#define OFR_DEC_OPS_H

#include "llama.h"

/* y[n][dim] = norm (x[n][dim]) * w (+ b when c->arch != LLAMA). */
void ofr_dec_norm (const ofr_llama_config *c, const float *x, const float *w,
                   const float *b, float *y, int n);

/* y[n][cols] += b[cols] (no-op when b is NULL). */
void ofr_dec_bias (float *y, const float *b, int n, int cols);

/* Width of the first MLP matmul's output per row: 2 * hidden (gate, up)
   for SwiGLU, hidden otherwise. */
int  ofr_dec_mlp_in (const ofr_llama_config *c);

/* g[n][hidden] = act (h[n][mlp_in]). */
void ofr_dec_mlp_act (const ofr_llama_config *c, const float *h, float *g, int n);

#endif
