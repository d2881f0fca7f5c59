/*  bf16_gemm.c -- see bf16_gemm.h.

    Panel layout: W[n][k] becomes ceil(n/32) panels; panel p holds, for each
    pair kk of the inner dimension, 32 columns x 2 values:
        data[((p * KP + kk) * 32 + j) * 2 + e] = bf16(W[p*32 + j][2*kk + e])
    (zero beyond n or k), KP = ceil(k/2). One pair row of a panel is two
    512-bit registers, and vdpbf16ps against a broadcast pair of A adds
    A[m][2kk] W[j][2kk] + A[m][2kk+1] W[j][2kk+1] into lane j. */
#include "bf16_gemm.h"
#include "../../common/ofr_common.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define NR 32               /* columns per panel                          */
#define MR 8                /* rows per micro-tile (16 accumulators)      */
#define MC_BYTES (128 * 1024) /* bf16 rows of A kept hot per M chunk      */

static int
pairs (int k)
{
    return (k + 1) / 2;
}

static int
panels (int n)
{
    return (n + NR - 1) / NR;
}

static uint16_t
to_bf16 (float v)
{
    uint32_t u;
    memcpy (&u, &v, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        return (uint16_t) ((u >> 16) | 0x40u);          /* keep NaN a NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t) (u >> 16);
}

static float
from_bf16 (uint16_t h)
{
    uint32_t u = (uint32_t) h << 16;
    float v;
    memcpy (&v, &u, 4);
    return v;
}

float
ofr_bf16_round (float v)
{
    return from_bf16 (to_bf16 (v));
}

int
ofr_bf16_mat_pack (ofr_bf16_mat *dst, const float *W, int n, int k, char *err,
                   size_t errlen)
{
    memset (dst, 0, sizeof *dst);
    size_t kp = (size_t) pairs (k), np = (size_t) panels (n);
    size_t count = np * kp * NR * 2;
    size_t bytes = (count * sizeof (uint16_t) + 63) / 64 * 64;
    uint16_t *d = aligned_alloc (64, bytes ? bytes : 64);
    if (!d)
        return ofr_errf (err, errlen, "out of memory for bf16 weights [%d][%d]", n, k);
    memset (d, 0, bytes);
    for (int j = 0; j < n; j++) {
        size_t p = (size_t) j / NR, col = (size_t) j % NR;
        for (int i = 0; i < k; i++)
            d[((p * kp + (size_t) i / 2) * NR + col) * 2 + (size_t) i % 2] =
                to_bf16 (W[(size_t) j * k + i]);
    }
    dst->data = d;
    dst->n = n;
    dst->k = k;
    return 0;
}

void
ofr_bf16_mat_free (ofr_bf16_mat *m)
{
    free (m->data);
    memset (m, 0, sizeof *m);
}

/* ---- emulation: bf16 inputs, fp32 sgemm ------------------------------ */

static void
gemm_emulated (const float *A, int M, int lda, const ofr_bf16_mat *W, float *C,
               int ldc, void *scratch)
{
    int n = W->n, k = W->k;
    size_t kp = (size_t) pairs (k);
    float *Wf = scratch, *Af = Wf + (size_t) n * k;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < k; i++)
            Wf[(size_t) j * k + i] =
                from_bf16 (W->data[(((size_t) j / NR * kp + (size_t) i / 2) * NR
                                    + (size_t) j % NR) * 2 + (size_t) i % 2]);
    for (int m = 0; m < M; m++)
        for (int i = 0; i < k; i++)
            Af[(size_t) m * k + i] = ofr_bf16_round (A[(size_t) m * lda + i]);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, n, k, 1.0f, Af, k, Wf, k,
                 1.0f, C, ldc);
}

/* ---- AVX512-BF16 ------------------------------------------------------ */

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10)
#define OFR_HAVE_AVX512BF16_BUILD 1
#include <immintrin.h>

#define TGT __attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512bf16")))

/* One micro-tile: rows [m0, m0+mr) x panel p, accumulated into C. */
TGT static void
tile (const uint32_t *Ab, size_t kp, int mr, const uint16_t *panel, float *C,
      int ldc, int ncols)
{
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps ();
    for (size_t kk = 0; kk < kp; kk++) {
        __m512bh b0 = (__m512bh) _mm512_load_si512 (panel + kk * NR * 2);
        __m512bh b1 = (__m512bh) _mm512_load_si512 (panel + kk * NR * 2 + 32);
        for (int r = 0; r < MR; r++) {
            if (r >= mr)
                break;
            __m512bh a = (__m512bh) _mm512_set1_epi32 ((int) Ab[(size_t) r * kp + kk]);
            acc[r][0] = _mm512_dpbf16_ps (acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps (acc[r][1], a, b1);
        }
    }
    __mmask16 m0 = ncols >= 16 ? 0xffff : (__mmask16) ((1u << ncols) - 1u);
    __mmask16 m1 = ncols >= 32 ? 0xffff
                 : ncols <= 16 ? 0 : (__mmask16) ((1u << (ncols - 16)) - 1u);
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t) r * ldc;
        _mm512_mask_storeu_ps (c, m0, _mm512_add_ps (_mm512_maskz_loadu_ps (m0, c),
                                                     acc[r][0]));
        _mm512_mask_storeu_ps (c + 16, m1, _mm512_add_ps (_mm512_maskz_loadu_ps (m1, c + 16),
                                                          acc[r][1]));
    }
}

/* Rows of A into bf16 pairs (one uint32 per pair, low half first). */
static void
pack_a (const float *A, int M, int lda, int k, uint32_t *Ab)
{
    size_t kp = (size_t) pairs (k);
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t) m * lda;
        uint32_t *o = Ab + (size_t) m * kp;
        for (int i = 0; i + 1 < k; i += 2)
            o[i / 2] = (uint32_t) to_bf16 (a[i]) | ((uint32_t) to_bf16 (a[i + 1]) << 16);
        if (k % 2)
            o[kp - 1] = to_bf16 (a[k - 1]);
    }
}

static void
gemm_avx512 (const float *A, int M, int lda, const ofr_bf16_mat *W, float *C,
             int ldc, void *scratch)
{
    size_t kp = (size_t) pairs (W->k);
    int np = panels (W->n);
    uint32_t *Ab = scratch;
    pack_a (A, M, lda, W->k, Ab);
    int mc = (int) (MC_BYTES / (kp * 4));
    mc = mc < MR ? MR : mc / MR * MR;
    for (int m0 = 0; m0 < M; m0 += mc) {
        int mend = m0 + mc < M ? m0 + mc : M;
        for (int p = 0; p < np; p++) {
            const uint16_t *panel = W->data + (size_t) p * kp * NR * 2;
            int ncols = W->n - p * NR < NR ? W->n - p * NR : NR;
            for (int m = m0; m < mend; m += MR)
                tile (Ab + (size_t) m * kp, kp, mend - m < MR ? mend - m : MR, panel,
                      C + (size_t) m * ldc + (size_t) p * NR, ldc, ncols);
        }
    }
}
#endif

static int
use_avx512 (void)
{
#ifdef OFR_HAVE_AVX512BF16_BUILD
    /* Both look-ups are cheap next to a matrix product; no cache, so no
       process-wide mutable state. */
    const char *env = getenv ("OFFRAMP_BF16");
    if (env && strcmp (env, "emulated") == 0)
        return 0;
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx512bf16");
#else
    return 0;
#endif
}

const char *
ofr_bf16_backend (void)
{
    return use_avx512 () ? "avx512bf16" : "emulated";
}

size_t
ofr_bf16_gemm_scratch (int M, const ofr_bf16_mat *W)
{
    if (use_avx512 ())
        return (size_t) M * (size_t) pairs (W->k) * 4;
    return ((size_t) W->n + (size_t) M) * (size_t) W->k * sizeof (float);
}

void
ofr_bf16_gemm (const float *A, int M, int lda, const ofr_bf16_mat *W, float *C, int ldc,
               void *scratch)
{
    if (M <= 0 || W->n <= 0 || W->k <= 0)
        return;
#ifdef OFR_HAVE_AVX512BF16_BUILD
    if (use_avx512 ()) {
        gemm_avx512 (A, M, lda, W, C, ldc, scratch);
        return;
    }
#endif
    gemm_emulated (A, M, lda, W, C, ldc, scratch);
}
