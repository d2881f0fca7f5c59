/*  dec_ops.c -- see dec_ops.h. Float accumulation as llama2.c's run.c;
    LayerNorm is two-pass (mean, then the biased variance) as torch's. */
#include "dec_ops.h"

#include <math.h>
#include <stddef.h>

static void
rmsnorm (const float *x, const float *w, float *y, int n, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float s = 1.0f / sqrtf (ss / (float) n + eps);
    for (int i = 0; i < n; i++)
        y[i] = w[i] * (s * x[i]);
}

static void
layernorm (const float *x, const float *w, const float *b, float *y, int n, float eps)
{
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= (float) n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float s = 1.0f / sqrtf (var / (float) n + eps);
    for (int i = 0; i < n; i++)
        y[i] = (x[i] - mean) * s * w[i] + (b ? b[i] : 0.0f);
}

void
ofr_dec_norm (const ofr_llama_config *c, const float *x, const float *w, const float *b,
              float *y, int n)
{
    size_t dim = (size_t) c->dim;
    for (int r = 0; r < n; r++)
        if (c->arch == OFR_ARCH_LLAMA)
            rmsnorm (x + r * dim, w, y + r * dim, c->dim, c->norm_eps);
        else
            layernorm (x + r * dim, w, b, y + r * dim, c->dim, c->norm_eps);
}

void
ofr_dec_bias (float *y, const float *b, int n, int cols)
{
    for (int r = 0; b && r < n; r++)
        for (int j = 0; j < cols; j++)
            y[(size_t) r * cols + j] += b[j];
}

int
ofr_dec_mlp_in (const ofr_llama_config *c)
{
    return c->act == OFR_MLP_SWIGLU ? 2 * c->hidden_dim : c->hidden_dim;
}

void
ofr_dec_mlp_act (const ofr_llama_config *c, const float *h, float *g, int n)
{
    int hd = c->hidden_dim, in = ofr_dec_mlp_in (c);
    for (int r = 0; r < n; r++) {
        const float *x = h + (size_t) r * in;
        float *o = g + (size_t) r * hd;
        if (c->act == OFR_MLP_SWIGLU)
            for (int j = 0; j < hd; j++)
                o[j] = x[j] / (1.0f + expf (-x[j])) * x[hd + j];
        else if (c->act == OFR_MLP_GELU)
            for (int j = 0; j < hd; j++)
                o[j] = 0.5f * x[j] * (1.0f + erff (x[j] * 0.70710678118654752f));
        else
            for (int j = 0; j < hd; j++) {
                float v = x[j];
                o[j] = 0.5f * v * (1.0f + tanhf (0.79788456080286536f
                                                 * (v + 0.044715f * v * v * v)));
            }
    }
}
