/*  ops.c -- see ops.h. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
ofr_matmul (const float *A, const float *W, const float *bias, float *C,
            int M, int N, int K)
{
    if (M <= 0 || N <= 0)
        return;
    if (bias)
        for (int i = 0; i < M; i++)
            memcpy (C + (size_t) i * N, bias, (size_t) N * sizeof *C);
    /* BLAS rejects lda = 0, and an empty inner product is just the bias. */
    if (K <= 0) {
        if (!bias)
            memset (C, 0, (size_t) M * N * sizeof *C);
        return;
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K,
                 1.0f, A, K, W, K, bias ? 1.0f : 0.0f, C, N);
}

static float
s_max (const float *x, int n)
{
    float m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    return m;
}

void
ofr_softmax (float *x, int n)
{
    if (n <= 0)
        return;
    float m = s_max (x, n);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf (x[i] - m);
        sum += x[i];
    }
    float inv = (float) (1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void
ofr_log_softmax (float *x, int n)
{
    if (n <= 0)
        return;
    float m = s_max (x, n);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp ((double) x[i] - m);
    float lse = (float) (m + log (sum));
    for (int i = 0; i < n; i++)
        x[i] -= lse;
}

float
ofr_entropy (const float *p, int n)
{
    double h = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0)
            h -= (double) p[i] * log ((double) p[i]);
    return (float) h;
}

int
ofr_argmax (const float *x, int n)
{
    if (n <= 0)
        return -1;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan (x[best]) && !isnan (x[i])))
            best = i;
    return best;
}

void
ofr_layernorm (const float *x, float *y, int rows, int n,
               const float *gamma, const float *beta, float eps)
{
    for (int r = 0; r < rows && n > 0; r++) {
        const float *xr = x + (size_t) r * n;
        float *yr = y + (size_t) r * n;
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++)
            mean += xr[i];
        mean /= n;
        /* Two passes: E[x^2] - E[x]^2 cancels badly for large offsets. */
        for (int i = 0; i < n; i++) {
            double dlt = xr[i] - mean;
            var += dlt * dlt;
        }
        var /= n;
        double inv = 1.0 / sqrt (var + eps);
        for (int i = 0; i < n; i++) {
            float v = (float) ((xr[i] - mean) * inv);
            yr[i] = v * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
        }
    }
}

void
ofr_rmsnorm (const float *x, float *y, int rows, int n,
             const float *gamma, float eps)
{
    for (int r = 0; r < rows && n > 0; r++) {
        const float *xr = x + (size_t) r * n;
        float *yr = y + (size_t) r * n;
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (double) xr[i] * xr[i];
        float inv = (float) (1.0 / sqrt (ss / n + eps));
        for (int i = 0; i < n; i++)
            yr[i] = xr[i] * inv * (gamma ? gamma[i] : 1.0f);
    }
}

void
ofr_gelu (float *x, size_t n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * inv_sqrt2));
}

void
ofr_gelu_tanh (float *x, size_t n)
{
    const float k = 0.79788456080286536f;   /* sqrt(2 / pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf (k * (v + 0.044715f * v * v * v)));
    }
}

void
ofr_silu (float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf (-x[i]));
}

void
ofr_tanh (float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf (x[i]);
}
