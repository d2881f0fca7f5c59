/*  ops.h -- the small dense float32 operations every model shares.

    Row-major throughout. Matrices follow PyTorch's nn.Linear layout
    (weight [out][in]) so checkpoint tensors are used as stored. None of these
    can fail on valid arguments; sizes <= 0 are no-ops. Callers own all
    buffers. */
#ifndef OFR_OPS_H
#define OFR_OPS_H

#include <stddef.h>

/* C[M][N] = A[M][K] * W[N][K]^T (+ bias[N] on every row when bias != NULL),
   via cblas_sgemm. C must not alias A or W. */
void ofr_matmul (const float *A, const float *W, const float *bias, float *C,
                 int M, int N, int K);

/* x[n] <- softmax(x), max-subtracted so large logits do not overflow. */
void ofr_softmax (float *x, int n);

/* x[n] <- log softmax(x) = x - logsumexp(x), stable for large logits. */
void ofr_log_softmax (float *x, int n);

/* Shannon entropy -sum p log p (nats) of a distribution p[n]; terms with
   p <= 0 contribute nothing. */
float ofr_entropy (const float *p, int n);

/* Index of the first largest element of x[n]; -1 when n <= 0. NaNs are
   never chosen unless every element is NaN (then 0). */
int ofr_argmax (const float *x, int n);

/* Per row of x[rows][n]: y = (x - mean) / sqrt(var + eps) * gamma + beta
   (biased variance, as torch.nn.LayerNorm). gamma / beta may be NULL
   (1 / 0). y may equal x (in place). */
void ofr_layernorm (const float *x, float *y, int rows, int n,
                    const float *gamma, const float *beta, float eps);

/* Per row: y = x / sqrt(mean(x^2) + eps) * gamma (Llama's RMSNorm); gamma
   may be NULL. y may equal x. */
void ofr_rmsnorm (const float *x, float *y, int rows, int n,
                  const float *gamma, float eps);

/* In place activations over x[n]. gelu: exact x * Phi(x) (BERT, erf);
   gelu_tanh: the tanh approximation (GPT-2 "gelu_new"); silu: x * sigmoid(x). */
void ofr_gelu (float *x, size_t n);
void ofr_gelu_tanh (float *x, size_t n);
void ofr_silu (float *x, size_t n);
void ofr_tanh (float *x, size_t n);

#endif
