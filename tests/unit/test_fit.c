/*  test_fit.c -- the fitting helpers: ridge against the closed form in numpy
    and exact recovery, softmax regression against a Newton reference in
    numpy and its own optimality condition, and degenerate inputs.

    The numpy parts run tests/unit/fit_ref.py with Debian's /usr/bin/python3
    and are skipped (with a message) when it or numpy is missing. */
#include "workers/engine/fit.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fprintf (stderr, "\n"); s_failures++; } } while (0)

static void *
s_alloc (size_t n, size_t size)
{
    void *p = ofr_calloc (n ? n : 1, size);
    if (!p) {
        fprintf (stderr, "test_fit: out of memory\n");
        exit (1);
    }
    return p;
}

/* ---- the numpy reference ------------------------------------------------- */

static int
s_write (const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite (data, 1, bytes, f);
    return (fclose (f) == 0 && w == bytes) ? 0 : -1;
}

/*  Run fit_ref.py on the files in dir; read `count` doubles of output.
    Returns 0, 1 (skipped: no python/numpy/source dir) or -1. */
static int
s_python_ref (const char *mode, const char *dir, int n, int d, int m, double l2,
              double *out, size_t count)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    if (!src || access ("/usr/bin/python3", X_OK) != 0 || strchr (src, '\'')) {
        printf ("test_fit: skipping the numpy comparison (no /usr/bin/python3 or OFR_SOURCE_DIR)\n");
        return 1;
    }
    ofr_buf cmd;
    ofr_buf_init (&cmd);
    ofr_buf_printf (&cmd, "/usr/bin/python3 '%s/tests/unit/fit_ref.py' %s '%s' %d %d %d %.17g",
                    src, mode, dir, n, d, m, l2);
    int status = cmd.oom ? -1 : system (cmd.data);
    ofr_buf_free (&cmd);
    if (status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 77) {
        printf ("test_fit: skipping the numpy comparison (numpy missing)\n");
        return 1;
    }
    if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
        return -1;
    char path[4096];
    snprintf (path, sizeof path, "%s/out.f64", dir);
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    size_t got = fread (out, sizeof *out, count, f);
    fclose (f);
    return got == count ? 0 : -1;
}

static void
s_rm_dir (const char *dir)
{
    static const char *names[] = { "X.f32", "Y.f32", "y.i32", "out.f64" };
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        unlink (path);
    }
    rmdir (dir);
}

/* ---- ridge --------------------------------------------------------------- */

/*  X with per-column scale and a common offset (centering matters), and
    Y = X Wt + bt + noise. */
static void
s_ridge_data (ofr_rng *rng, int n, int d, int m, double noise,
              float *X, float *Y, float *Wt, float *bt)
{
    for (int i = 0; i < d * m; i++)
        Wt[i] = (float) ofr_rng_normal (rng);
    for (int j = 0; j < m; j++)
        bt[j] = (float) (3 * ofr_rng_normal (rng));
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < d; i++)
            X[r * d + i] = (float) (5.0 + (1 + i % 3) * ofr_rng_normal (rng));
        for (int j = 0; j < m; j++) {
            double v = bt[j] + noise * ofr_rng_normal (rng);
            for (int i = 0; i < d; i++)
                v += (double) X[r * d + i] * Wt[i * m + j];
            Y[r * m + j] = (float) v;
        }
    }
}

static void
s_test_ridge_numpy (ofr_rng *rng)
{
    const int n = 1000, d = 20, m = 4;     /* n spans several accumulation blocks */
    const double l2 = 0.5;
    float *X = s_alloc ((size_t) n * d, sizeof (float)), *Y = s_alloc ((size_t) n * m, sizeof (float));
    float Wt[20 * 4], bt[4], W[20 * 4], b[4];
    s_ridge_data (rng, n, d, m, 0.1, X, Y, Wt, bt);
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, l2, W, b, err, sizeof err) == 0, "ridge: %s", err);

    char dir[] = "/tmp/ofr_test_fit_XXXXXX";
    double ref[20 * 4 + 4];
    if (!mkdtemp (dir)) {
        CHECK (0, "mkdtemp failed");
        goto done;
    }
    int rc = -1;
    if (s_write (dir, "X.f32", X, sizeof (float) * n * d) == 0
        && s_write (dir, "Y.f32", Y, sizeof (float) * n * m) == 0)
        rc = s_python_ref ("ridge", dir, n, d, m, l2, ref, 20 * 4 + 4);
    s_rm_dir (dir);
    CHECK (rc >= 0, "ridge: numpy reference failed to run");
    if (rc == 0) {
        double worst = 0;
        for (int i = 0; i < d * m + m; i++) {
            double got = i < d * m ? W[i] : b[i - d * m];
            double e = fabs (got - ref[i]) / fmax (1.0, fabs (ref[i]));
            worst = fmax (worst, e);
        }
        CHECK (worst < 1e-4, "ridge vs numpy.linalg.solve: worst relative error %g", worst);
        printf ("test_fit: ridge vs numpy worst relative error %.3g\n", worst);
    }
done:
    free (X);
    free (Y);
}

static void
s_test_ridge_exact (ofr_rng *rng)
{
    enum { n = 300, d = 8, m = 2 };
    float X[n * d], Y[n * m], Wt[d * m], bt[m], W[d * m], b[m];
    s_ridge_data (rng, n, d, m, 0.0, X, Y, Wt, bt);
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 0.0, W, b, err, sizeof err) == 0, "ridge exact: %s", err);
    for (int i = 0; i < d * m; i++)
        CHECK (fabs (W[i] - Wt[i]) < 1e-4, "ridge exact W[%d] = %g, want %g", i, W[i], Wt[i]);
    for (int j = 0; j < m; j++)
        CHECK (fabs (b[j] - bt[j]) < 1e-3, "ridge exact b[%d] = %g, want %g", j, b[j], bt[j]);

    /* An enormous penalty shrinks W to zero; the unpenalised b becomes mean(Y). */
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 1e12, W, b, err, sizeof err) == 0, "ridge big l2: %s", err);
    for (int j = 0; j < m; j++) {
        double mean = 0;
        for (int r = 0; r < n; r++)
            mean += Y[r * m + j];
        mean /= n;
        CHECK (fabs (b[j] - mean) < 1e-3 * fmax (1, fabs (mean)), "big l2: b[%d] = %g, want mean %g",
               j, b[j], mean);
    }
    for (int i = 0; i < d * m; i++)
        CHECK (fabs (W[i]) < 1e-6, "big l2: W[%d] = %g not ~0", i, W[i]);

    /* One row: nothing to regress on, W = 0 and b = that row. */
    CHECK (ofr_fit_ridge_ex (X, Y, 1, d, m, 1.0, W, b, err, sizeof err) == 0, "ridge n=1: %s", err);
    CHECK (W[0] == 0 && b[0] == Y[0] && b[1] == Y[1], "ridge n=1: W[0]=%g b=%g,%g", W[0], b[0], b[1]);
}

static void
s_test_ridge_degenerate (void)
{
    enum { n = 10, d = 3, m = 2 };
    float X[n * d], Y[n * m], W[d * m], b[m];
    for (int i = 0; i < n * d; i++)
        X[i] = (float) ((i * 7919) % 13) - 6;
    for (int i = 0; i < n * m; i++)
        Y[i] = (float) ((i * 31) % 5);
    for (int i = 0; i < d * m; i++)
        W[i] = 42;
    char err[OFR_ERRLEN];
    CHECK (ofr_fit_ridge_ex (X, Y, 0, d, m, 1, W, b, err, sizeof err) == -1, "n=0");
    CHECK (strstr (err, "fit_ridge") != NULL, "error names the helper: %s", err);
    CHECK (ofr_fit_ridge_ex (X, Y, n, 0, m, 1, W, b, err, sizeof err) == -1, "d=0");
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, 0, 1, W, b, err, sizeof err) == -1, "m=0");
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, -1, W, b, err, sizeof err) == -1, "l2<0");
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, NAN, W, b, err, sizeof err) == -1, "l2 NaN");
    CHECK (ofr_fit_ridge_ex (NULL, Y, n, d, m, 1, W, b, err, sizeof err) == -1, "X NULL");
    X[4] = NAN;
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 1, W, b, err, sizeof err) == -1, "NaN in X");
    CHECK (strstr (err, "X[1][1]") != NULL, "NaN position named: %s", err);
    X[4] = 1;
    Y[3] = INFINITY;
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 1, W, b, err, sizeof err) == -1, "Inf in Y");
    Y[3] = 0;
    /* Column 2 = column 0: singular without a penalty, fine with one. */
    for (int r = 0; r < n; r++)
        X[r * d + 2] = X[r * d + 0];
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 0, W, b, err, sizeof err) == -1, "singular l2=0");
    CHECK (strstr (err, "positive definite") != NULL, "singular message: %s", err);
    for (int i = 0; i < d * m; i++)
        CHECK (W[i] == 42, "W touched by a failed fit");
    CHECK (ofr_fit_ridge_ex (X, Y, n, d, m, 1e-3, W, b, err, sizeof err) == 0, "collinear with l2: %s", err);
    CHECK (ofr_fit_ridge (X, Y, 0, d, m, 1, W, b) == -1, "host-table form, n=0");
}

/* ---- softmax regression --------------------------------------------------- */

/*  The documented objective and its gradient norm, computed naively in
    double at the float solution (independent of fit.c). */
static double
s_sm_objective (const float *X, const int *y, int n, int d, int k, double l2,
                const float *W, const float *b, double *grad_norm)
{
    double *G = s_alloc ((size_t) k * (d + 1), sizeof (double));
    double *z = s_alloc ((size_t) k, sizeof (double));
    double loss = 0;
    for (int i = 0; i < n; i++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < k; c++) {
            z[c] = b[c];
            for (int j = 0; j < d; j++)
                z[c] += (double) W[c * d + j] * X[i * d + j];
            mx = fmax (mx, z[c]);
        }
        for (int c = 0; c < k; c++)
            sum += exp (z[c] - mx);
        double lse = mx + log (sum);
        loss += lse - z[y[i]];
        for (int c = 0; c < k; c++) {
            double g = exp (z[c] - lse) - (c == y[i]);
            for (int j = 0; j < d; j++)
                G[c * (d + 1) + j] += g * X[i * d + j];
            G[c * (d + 1) + d] += g;
        }
    }
    double wsq = 0, gsq = 0;
    for (int c = 0; c < k; c++)
        for (int j = 0; j <= d; j++) {
            double g = G[c * (d + 1) + j] / n;
            if (j < d) {
                g += l2 * W[c * d + j] / n;
                wsq += (double) W[c * d + j] * W[c * d + j];
            }
            gsq += g * g;
        }
    free (G);
    free (z);
    *grad_norm = sqrt (gsq);
    return (loss + 0.5 * l2 * wsq) / n;
}

/*  k Gaussian blobs in d dims, centres 4 apart on the axes, offset by 2. */
static void
s_blobs (ofr_rng *rng, int n, int d, int k, float *X, int *y)
{
    for (int i = 0; i < n; i++) {
        y[i] = i % k;
        for (int j = 0; j < d; j++)
            X[i * d + j] = (float) (2.0 + (j == y[i] % d ? 4.0 : 0.0) + ofr_rng_normal (rng));
    }
}

static double
s_accuracy (const float *X, const int *y, int n, int d, int k, const float *W, const float *b)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        double bz = -INFINITY;
        for (int c = 0; c < k; c++) {
            double z = b[c];
            for (int j = 0; j < d; j++)
                z += (double) W[c * d + j] * X[i * d + j];
            if (z > bz) {
                bz = z;
                best = c;
            }
        }
        right += best == y[i];
    }
    return (double) right / n;
}

static void
s_test_softmax_blobs (ofr_rng *rng)
{
    enum { n = 300, d = 5, k = 3 };
    const double l2 = 1.0;
    float X[n * d], Xt[n * d], W[k * d], b[k], W2[k * d], b2[k];
    int y[n], yt[n];
    s_blobs (rng, n, d, k, X, y);
    s_blobs (rng, n, d, k, Xt, yt);
    ofr_fit_info info;
    char err[OFR_ERRLEN] = "";
    int rc = ofr_fit_softmax_ex (X, y, n, d, k, l2, 500, W, b, &info, err, sizeof err);
    CHECK (rc == 0, "softmax blobs: %s", err);
    if (rc != 0)
        return;
    double gn;
    double loss = s_sm_objective (X, y, n, d, k, l2, W, b, &gn);
    CHECK (info.converged, "softmax blobs: not converged after %d iterations (|g| %g)",
           info.iterations, info.grad_norm);
    CHECK (gn < 1e-5, "softmax blobs: gradient norm at the solution %g", gn);
    CHECK (fabs (loss - info.loss) < 1e-6, "reported loss %g vs recomputed %g", info.loss, loss);
    double acc = s_accuracy (X, y, n, d, k, W, b), acct = s_accuracy (Xt, yt, n, d, k, W, b);
    CHECK (acc > 0.95 && acct > 0.95, "softmax blobs accuracy train %.3f held-out %.3f", acc, acct);
    printf ("test_fit: softmax blobs: %d iterations, loss %.6f, |g| %.2g, accuracy %.3f / %.3f\n",
            info.iterations, loss, gn, acc, acct);

    /* Same input, same bits. */
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, l2, 500, W2, b2, NULL, err, sizeof err) == 0, "rerun");
    CHECK (memcmp (W, W2, sizeof W) == 0 && memcmp (b, b2, sizeof b) == 0, "softmax not deterministic");

    char dir[] = "/tmp/ofr_test_fit_XXXXXX";
    double ref[1 + k * d + k];
    if (!mkdtemp (dir)) {
        CHECK (0, "mkdtemp failed");
        return;
    }
    rc = -1;
    if (s_write (dir, "X.f32", X, sizeof X) == 0 && s_write (dir, "y.i32", y, sizeof y) == 0)
        rc = s_python_ref ("softmax", dir, n, d, k, l2, ref, 1 + k * d + k);
    s_rm_dir (dir);
    CHECK (rc >= 0, "softmax: numpy reference failed to run");
    if (rc == 0) {
        CHECK (fabs (loss - ref[0]) < 1e-6, "softmax loss %.9f vs Newton reference %.9f", loss, ref[0]);
        /* W is identified (penalised); compare it too. */
        double worst = 0;
        for (int i = 0; i < k * d; i++)
            worst = fmax (worst, fabs (W[i] - ref[1 + i]));
        CHECK (worst < 1e-4, "softmax W vs reference: worst abs error %g", worst);
        printf ("test_fit: softmax vs numpy Newton: loss %.9f vs %.9f, W error %.2g\n",
                loss, ref[0], worst);
    }
}

static void
s_test_softmax_larger (ofr_rng *rng)
{
    const int n = 2000, d = 64, k = 10;
    float *X = s_alloc ((size_t) n * d, sizeof (float));
    int *y = s_alloc ((size_t) n, sizeof (int));
    float *W = s_alloc ((size_t) k * d, sizeof (float)), b[10];
    s_blobs (rng, n, d, k, X, y);
    ofr_fit_info info;
    char err[OFR_ERRLEN] = "";
    double t0 = ofr_now_ms ();
    int rc = ofr_fit_softmax_ex (X, y, n, d, k, 1.0, 1000, W, b, &info, err, sizeof err);
    double ms = ofr_now_ms () - t0;
    CHECK (rc == 0, "softmax larger: %s", err);
    if (rc == 0) {
        double gn;
        s_sm_objective (X, y, n, d, k, 1.0, W, b, &gn);
        CHECK (info.converged && gn < 1e-5, "softmax larger: converged %d, |g| %g after %d its",
               info.converged, gn, info.iterations);
        printf ("test_fit: softmax n=%d d=%d k=%d: %d iterations, |g| %.2g, %.0f ms\n",
                n, d, k, info.iterations, gn, ms);
    }
    /* Out of iterations is still a usable answer, reported as such. */
    rc = ofr_fit_softmax_ex (X, y, n, d, k, 1.0, 2, W, b, &info, err, sizeof err);
    CHECK (rc == 0 && info.iterations == 2 && !info.converged, "max_iter=2: rc %d its %d conv %d",
           rc, info.iterations, info.converged);
    free (X);
    free (y);
    free (W);
}

static void
s_test_softmax_degenerate (void)
{
    enum { n = 6, d = 2, k = 3 };
    float X[n * d] = { 0, 1, 1, 0, 1, 1, 2, 0, 0, 2, 2, 2 }, W[k * d], b[k];
    int y[n] = { 0, 1, 2, 0, 1, 2 };
    for (int i = 0; i < k * d; i++)
        W[i] = 42;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_fit_softmax_ex (X, y, 0, d, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "n=0");
    CHECK (strstr (err, "fit_softmax") != NULL, "error names the helper: %s", err);
    CHECK (ofr_fit_softmax_ex (X, y, n, 0, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "d=0");
    CHECK (ofr_fit_softmax_ex (X, y, n, d, 1, 1, 100, W, b, NULL, err, sizeof err) == -1, "k=1");
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, -1, 100, W, b, NULL, err, sizeof err) == -1, "l2<0");
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, 1, 0, W, b, NULL, err, sizeof err) == -1, "max_iter=0");
    CHECK (ofr_fit_softmax_ex (X, NULL, n, d, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "y NULL");
    y[3] = 3;
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "label k");
    y[3] = -1;
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "label -1");
    CHECK (strstr (err, "y[3]") != NULL, "bad label named: %s", err);
    y[3] = 0;
    X[5] = NAN;
    CHECK (ofr_fit_softmax_ex (X, y, n, d, k, 1, 100, W, b, NULL, err, sizeof err) == -1, "NaN in X");
    CHECK (ofr_fit_softmax (X, y, n, d, k, 1, 100, W, b) == -1, "host-table form, NaN");
    for (int i = 0; i < k * d; i++)
        CHECK (W[i] == 42, "W touched by a failed fit");
    X[5] = 1;
    CHECK (ofr_fit_softmax (X, y, n, d, k, 1, 100, W, b) == 0, "host-table form, valid input");
}

int
main (void)
{
    ofr_log_setup ("test_fit", OFR_INFO);
    ofr_rng rng;
    ofr_rng_seed (&rng, 2024);
    s_test_ridge_numpy (&rng);
    s_test_ridge_exact (&rng);
    s_test_ridge_degenerate ();
    s_test_softmax_blobs (&rng);
    s_test_softmax_larger (&rng);
    s_test_softmax_degenerate ();
    if (s_failures) {
        fprintf (stderr, "test_fit: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_fit: ok\n");
    return 0;
}
