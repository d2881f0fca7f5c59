/*  bf16_gemm.h -- reduced-precision matrix products for RUN_LOWP layers.

    The weights of a linear layer are converted once (at model load) to
    bfloat16 (round to nearest even) and stored in 32-column panels with
    pairs of the inner dimension interleaved, the layout the AVX512-BF16
    dot-product instruction (vdpbf16ps) consumes. Activations are rounded
    to bf16 per call; products accumulate in fp32.

    OpenBLAS 0.3.21 as built by Debian declares cblas_sbgemm but does not
    export it (built without BUILD_BFLOAT16), hence this kernel. On CPUs
    without AVX512-BF16 the same numbers are produced by rounding to bf16
    and calling cblas_sgemm ("emulated": same precision, no saving). */
#ifndef OFR_BF16_GEMM_H
#define OFR_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* A weight matrix W[n][k] (nn.Linear layout) in bf16 panels. */
typedef struct {
    uint16_t *data;   /* owned; NULL when empty                               */
    int       n;      /* output features                                      */
    int       k;      /* input features                                       */
} ofr_bf16_mat;

/* Convert W[n][k] into *dst (which must be zeroed or freed). Returns 0, or
   -1 with a message when memory runs out. */
int  ofr_bf16_mat_pack (ofr_bf16_mat *dst, const float *W, int n, int k,
                        char *err, size_t errlen);

/* Free the panels of *m and zero it. */
void ofr_bf16_mat_free (ofr_bf16_mat *m);

/* Bytes of scratch ofr_bf16_gemm needs for an M-row product with W. */
size_t ofr_bf16_gemm_scratch (int M, const ofr_bf16_mat *W);

/* C[M][n] += bf16(A[M][k]) * W^T with fp32 accumulation; A has leading
   dimension lda, C ldc. scratch holds ofr_bf16_gemm_scratch(M, W) bytes,
   64-byte aligned. */
void ofr_bf16_gemm (const float *A, int M, int lda, const ofr_bf16_mat *W,
                    float *C, int ldc, void *scratch);

/* Round a float to the nearest bf16 (ties to even), as a float. */
float ofr_bf16_round (float v);

/* "avx512bf16" or "emulated": what ofr_bf16_gemm runs on this CPU. Setting
   OFFRAMP_BF16=emulated in the environment forces the fallback. */
const char *ofr_bf16_backend (void);

#endif
