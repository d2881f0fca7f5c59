/*  test_ops.c -- the dense ops against hand-computed values and naive
    double-precision loops on random data. */
#include "workers/engine/ops.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fprintf (stderr, "\n"); s_failures++; } } while (0)

#define CHECK_NEAR(got, want, tol) do { double g_ = (got), w_ = (want); \
    CHECK (fabs (g_ - w_) <= (tol), "%s = %.9g, want %.9g (tol %g)", #got, g_, w_, (double) (tol)); \
    } while (0)

static float *
s_random (ofr_rng *rng, size_t n, double scale)
{
    float *a = ofr_calloc (n ? n : 1, sizeof *a);
    if (!a) {
        fprintf (stderr, "out of memory\n");
        exit (1);
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (float) (scale * ofr_rng_normal (rng));
    return a;
}

/*  C = A W^T + bias against a triple loop in double; the tolerance scales
    with the sum of |products|, the bound on float rounding of a dot. */
static void
s_test_matmul_shape (ofr_rng *rng, int M, int N, int K, int with_bias)
{
    float *A = s_random (rng, (size_t) M * K, 1.0);
    float *W = s_random (rng, (size_t) N * K, 1.0);
    float *bias = s_random (rng, (size_t) N, 1.0);
    float *C = s_random (rng, (size_t) M * N, 100.0);   /* garbage must be overwritten */
    ofr_matmul (A, W, with_bias ? bias : NULL, C, M, N, K);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = with_bias ? bias[j] : 0, mag = fabs (ref);
            for (int k = 0; k < K; k++) {
                ref += (double) A[(size_t) i * K + k] * W[(size_t) j * K + k];
                mag += fabs ((double) A[(size_t) i * K + k] * W[(size_t) j * K + k]);
            }
            double e = fabs (C[(size_t) i * N + j] - ref) / (mag + 1e-30);
            if (e > worst)
                worst = e;
        }
    CHECK (worst < 1e-5, "matmul %dx%dx%d bias=%d: relative error %g", M, N, K, with_bias, worst);
    free (A);
    free (W);
    free (bias);
    free (C);
}

static void
s_test_matmul (ofr_rng *rng)
{
    /* Hand example: A = [[1,2],[3,4]], W = [[1,0],[0,1],[1,1]], bias = [0.5,0,-1] */
    float A[] = { 1, 2, 3, 4 }, W[] = { 1, 0, 0, 1, 1, 1 }, bias[] = { 0.5f, 0, -1 };
    float C[6];
    ofr_matmul (A, W, bias, C, 2, 3, 2);
    float want[] = { 1.5f, 2, 2, 3.5f, 4, 6 };
    for (int i = 0; i < 6; i++)
        CHECK_NEAR (C[i], want[i], 1e-6);

    s_test_matmul_shape (rng, 1, 1, 1, 0);
    s_test_matmul_shape (rng, 1, 768, 64, 1);
    s_test_matmul_shape (rng, 37, 53, 29, 0);
    s_test_matmul_shape (rng, 37, 53, 29, 1);
    s_test_matmul_shape (rng, 64, 96, 300, 1);
    s_test_matmul_shape (rng, 130, 17, 5, 0);

    /* K = 0: the result is the bias (or zero), and BLAS is not called with lda = 0. */
    float C0[4] = { 7, 7, 7, 7 }, b2[] = { 1, -2 };
    ofr_matmul (A, W, b2, C0, 2, 2, 0);
    CHECK (C0[0] == 1 && C0[1] == -2 && C0[2] == 1 && C0[3] == -2, "K=0 with bias");
    ofr_matmul (A, W, NULL, C0, 2, 2, 0);
    CHECK (C0[0] == 0 && C0[3] == 0, "K=0 without bias");
    float C1[1] = { 9 };
    ofr_matmul (A, W, NULL, C1, 0, 1, 2);
    CHECK (C1[0] == 9, "M=0 must not touch C");
}

static void
s_test_softmax (ofr_rng *rng)
{
    float x[] = { 1, 2, 3 };
    ofr_softmax (x, 3);
    CHECK_NEAR (x[0], 0.09003057317038046, 1e-7);
    CHECK_NEAR (x[1], 0.24472847105479767, 1e-7);
    CHECK_NEAR (x[2], 0.6652409557748219, 1e-7);

    float big[] = { 1000, 1000, -1000 };    /* exp(1000) overflows without max-subtraction */
    ofr_softmax (big, 3);
    CHECK_NEAR (big[0], 0.5, 1e-7);
    CHECK_NEAR (big[1], 0.5, 1e-7);
    CHECK (big[2] == 0, "softmax tail %g", big[2]);

    float one[] = { -42 };
    ofr_softmax (one, 1);
    CHECK (one[0] == 1, "softmax of one element = %g", one[0]);

    float *r = s_random (rng, 1000, 5.0);
    float *ls = ofr_calloc (1000, sizeof *ls);
    if (!ls)
        exit (1);
    memcpy (ls, r, 1000 * sizeof *r);
    double mx = r[0];
    for (int i = 1; i < 1000; i++)
        mx = r[i] > mx ? r[i] : mx;
    double sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += exp (r[i] - mx);
    ofr_softmax (r, 1000);
    ofr_log_softmax (ls, 1000);
    double total = 0;
    for (int i = 0; i < 1000; i++)
        total += r[i];
    CHECK_NEAR (total, 1.0, 1e-5);
    for (int i = 0; i < 1000; i++) {
        double ref = exp (ls[i]);    /* log_softmax and softmax must agree */
        CHECK (fabs (r[i] - ref) <= 1e-5 * ref + 1e-9, "softmax/log_softmax disagree at %d", i);
    }
    free (r);
    free (ls);

    float l[] = { 1, 2, 3 };
    ofr_log_softmax (l, 3);
    CHECK_NEAR (l[0], -2.4076059644443806, 1e-6);
    CHECK_NEAR (l[1], -1.4076059644443804, 1e-6);
    CHECK_NEAR (l[2], -0.4076059644443803, 1e-6);
    float lb[] = { 1000, 0 };
    ofr_log_softmax (lb, 2);
    CHECK_NEAR (lb[0], 0, 1e-6);
    CHECK_NEAR (lb[1], -1000, 1e-3);
}

static void
s_test_entropy_argmax (void)
{
    float u[] = { 0.25f, 0.25f, 0.25f, 0.25f };
    CHECK_NEAR (ofr_entropy (u, 4), log (4.0), 1e-6);
    float d[] = { 1, 0, 0 };
    CHECK (ofr_entropy (d, 3) == 0, "entropy of a point mass");
    float h[] = { 0.5f, 0.5f };
    CHECK_NEAR (ofr_entropy (h, 2), log (2.0), 1e-6);
    float p[] = { 0.7f, 0.2f, 0.1f };
    CHECK_NEAR (ofr_entropy (p, 3), -(0.7 * log (0.7) + 0.2 * log (0.2) + 0.1 * log (0.1)), 1e-6);

    float a[] = { 1, 3, 3, 2 };
    CHECK (ofr_argmax (a, 4) == 1, "argmax ties go to the first");
    CHECK (ofr_argmax (a, 0) == -1, "argmax of nothing");
    float n[] = { NAN, 1, 0 };
    CHECK (ofr_argmax (n, 3) == 1, "argmax skips NaN, got %d", ofr_argmax (n, 3));
    float m[] = { -INFINITY, -INFINITY };
    CHECK (ofr_argmax (m, 2) == 0, "argmax of -inf");
    float neg[] = { -5, -1, -3 };
    CHECK (ofr_argmax (neg, 3) == 1, "argmax negatives");
}

/*  Layer/RMS norm rows against double references. */
static void
s_test_norms (ofr_rng *rng)
{
    float x[] = { 1, 2, 3, 4 }, y[4];
    ofr_layernorm (x, y, 1, 4, NULL, NULL, 0);
    const double ln[] = { -1.3416407864998738, -0.4472135954999579,
                          0.4472135954999579, 1.3416407864998738 };
    for (int i = 0; i < 4; i++)
        CHECK_NEAR (y[i], ln[i], 1e-6);
    ofr_rmsnorm (x, y, 1, 4, NULL, 0);
    const double rms = sqrt (7.5);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR (y[i], x[i] / rms, 1e-6);

    enum { R = 5, N = 96 };
    float *X = s_random (rng, R * N, 3.0), *Y = ofr_calloc (R * N, sizeof (float));
    float *g = s_random (rng, N, 1.0), *b = s_random (rng, N, 1.0);
    if (!Y)
        exit (1);
    for (int i = 0; i < R * N; i++)
        X[i] += 1000.0f * (float) (i / N);     /* row offsets: the two-pass variance matters */
    const float eps = 1e-5f;
    ofr_layernorm (X, Y, R, N, g, b, eps);
    for (int r = 0; r < R; r++) {
        const float *xr = X + r * N;
        double mu = 0, var = 0;
        for (int i = 0; i < N; i++)
            mu += xr[i];
        mu /= N;
        for (int i = 0; i < N; i++)
            var += (xr[i] - mu) * (xr[i] - mu);
        var /= N;
        for (int i = 0; i < N; i++) {
            double ref = (xr[i] - mu) / sqrt (var + eps) * g[i] + b[i];
            CHECK (fabs (Y[r * N + i] - ref) < 1e-5 * (fabs (ref) + 1),
                   "layernorm row %d col %d: %g vs %g", r, i, Y[r * N + i], ref);
        }
    }
    ofr_rmsnorm (X, Y, R, N, g, eps);
    for (int r = 0; r < R; r++) {
        const float *xr = X + r * N;
        double ss = 0;
        for (int i = 0; i < N; i++)
            ss += (double) xr[i] * xr[i];
        for (int i = 0; i < N; i++) {
            double ref = xr[i] / sqrt (ss / N + eps) * g[i];
            CHECK (fabs (Y[r * N + i] - ref) < 1e-5 * (fabs (ref) + 1),
                   "rmsnorm row %d col %d: %g vs %g", r, i, Y[r * N + i], ref);
        }
    }
    /* In place gives the same as out of place. */
    ofr_layernorm (X, Y, R, N, g, b, eps);
    ofr_layernorm (X, X, R, N, g, b, eps);
    CHECK (memcmp (X, Y, sizeof (float) * R * N) == 0, "layernorm in place differs");
    free (X);
    free (Y);
    free (g);
    free (b);
}

static void
s_test_activations (ofr_rng *rng)
{
    const float xs[] = { 1, -1, 2.5f, -3, 0 };
    const double gelu[] = { 0.8413447460685429, -0.15865525393145707, 2.4844758366855597,
                            -0.00404969409489031, 0 };
    const double gelu_t[] = { 0.8411919906082768, -0.15880800939172324, 2.484915733910001,
                              -0.0036373920817729943, 0 };
    const double silu[] = { 0.7310585786300049, -0.2689414213699951, 2.3103545499468914,
                            -0.14227761953270035, 0 };
    const double tanhv[] = { 0.7615941559557649, -0.7615941559557649, 0.9866142981514303,
                             -0.9950547536867305, 0 };
    float a[5], b[5], c[5], d[5];
    memcpy (a, xs, sizeof a);
    memcpy (b, xs, sizeof b);
    memcpy (c, xs, sizeof c);
    memcpy (d, xs, sizeof d);
    ofr_gelu (a, 5);
    ofr_gelu_tanh (b, 5);
    ofr_silu (c, 5);
    ofr_tanh (d, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_NEAR (a[i], gelu[i], 1e-6);
        CHECK_NEAR (b[i], gelu_t[i], 1e-6);
        CHECK_NEAR (c[i], silu[i], 1e-6);
        CHECK_NEAR (d[i], tanhv[i], 1e-6);
    }
    /* Extremes must stay finite: no inf * 0 or overflow to NaN. */
    float e[] = { -100, 100, -30, 30 };
    float f[4], g[4];
    memcpy (f, e, sizeof f);
    memcpy (g, e, sizeof g);
    ofr_silu (e, 4);
    ofr_gelu (f, 4);
    ofr_gelu_tanh (g, 4);
    for (int i = 0; i < 4; i++)
        CHECK (isfinite (e[i]) && isfinite (f[i]) && isfinite (g[i]),
               "activation of extreme input %d not finite", i);
    CHECK_NEAR (e[1], 100, 1e-4);
    CHECK_NEAR (f[0], 0, 1e-6);
    CHECK_NEAR (g[3], 30, 1e-4);

    /* Random vector against libm in double. */
    float *r = s_random (rng, 4096, 4.0), *q = ofr_calloc (4096, sizeof (float));
    if (!q)
        exit (1);
    memcpy (q, r, 4096 * sizeof (float));
    ofr_gelu (q, 4096);
    for (int i = 0; i < 4096; i++) {
        double ref = 0.5 * r[i] * (1 + erf (r[i] / sqrt (2.0)));
        CHECK (fabs (q[i] - ref) < 1e-5 * (fabs (ref) + 1), "gelu(%g) = %g, want %g", r[i], q[i], ref);
    }
    free (r);
    free (q);
}

int
main (void)
{
    ofr_rng rng;
    ofr_rng_seed (&rng, 1234);
    s_test_matmul (&rng);
    s_test_softmax (&rng);
    s_test_entropy_argmax ();
    s_test_norms (&rng);
    s_test_activations (&rng);
    if (s_failures) {
        fprintf (stderr, "test_ops: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_ops: ok\n");
    return 0;
}
