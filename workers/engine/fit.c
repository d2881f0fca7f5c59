/*  fit.c -- see fit.h. */
#include "fit.h"
#include "../../common/ofr_common.h"

#include <cblas.h>
#include <f77blas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LBFGS_HISTORY   10
#define LBFGS_REL_GTOL  1e-6
#define LBFGS_MAX_HALVINGS 60
#define RIDGE_BLOCK     256      /* rows converted to double at a time */

/* ---- shared checks -------------------------------------------------------- */

/*  Position of the first non-finite value of a[count], or -1. */
static long long
s_first_nonfinite (const float *a, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite (a[i]))
            return (long long) i;
    return -1;
}

static int
s_check_matrix (const char *what, const float *a, int rows, int cols,
                char *err, size_t errlen)
{
    if (!a)
        return ofr_errf (err, errlen, "%s is NULL", what);
    long long bad = s_first_nonfinite (a, (size_t) rows * (size_t) cols);
    if (bad >= 0)
        return ofr_errf (err, errlen, "%s[%lld][%lld] is not finite", what,
                         bad / cols, bad % cols);
    return 0;
}

static int
s_check_out (const float *a, size_t count, const char *what, char *err, size_t errlen)
{
    long long bad = s_first_nonfinite (a, count);
    if (bad >= 0)
        return ofr_errf (err, errlen, "%s[%lld] came out non-finite (ill-conditioned data?)",
                         what, bad);
    return 0;
}

static void
s_column_means (const float *A, int rows, int cols, double *mu)
{
    memset (mu, 0, (size_t) cols * sizeof *mu);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            mu[j] += A[(size_t) i * cols + j];
    for (int j = 0; j < cols; j++)
        mu[j] /= rows;
}

static double
s_dot (const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* ---- softmax regression --------------------------------------------------- */

/*  The fit runs on centred features: W x + b = W (x - mu) + (b + W mu), and
    b is unpenalised, so the optimum is the same while the Hessian is far
    better conditioned (hidden states have large common offsets). */
typedef struct {
    const double *X;    /* [n][d] the input minus mu, in double             */
    const double *mu;   /* [d] column means of the input                    */
    const int    *y;    /* [n] labels in [0, k)                             */
    int           n, d, k;
    double        l2;
    double       *Z;    /* [n][k] scratch: logits, then softmax - one-hot   */
} sm_problem;

/*  Objective (see fit.h) and its gradient at theta = [W (k*d) | b (k)]. */
static double
s_sm_eval (const sm_problem *p, const double *theta, double *grad)
{
    const int n = p->n, d = p->d, k = p->k;
    const double *W = theta, *b = theta + (size_t) k * d;
    double *gb = grad + (size_t) k * d;
    cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, k, d,
                 1.0, p->X, d, W, d, 0.0, p->Z, k);
    memset (gb, 0, (size_t) k * sizeof *gb);
    double loss = 0;
    for (int i = 0; i < n; i++) {
        double *z = p->Z + (size_t) i * k;
        double zmax = -INFINITY;
        for (int c = 0; c < k; c++) {
            z[c] += b[c];
            if (z[c] > zmax)
                zmax = z[c];
        }
        double sum = 0;
        for (int c = 0; c < k; c++)
            sum += exp (z[c] - zmax);
        double lse = zmax + log (sum);
        loss += lse - z[p->y[i]];
        for (int c = 0; c < k; c++)
            z[c] = exp (z[c] - lse);
        z[p->y[i]] -= 1.0;
        for (int c = 0; c < k; c++)
            gb[c] += z[c];
    }
    cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, k, d, n,
                 1.0 / n, p->Z, k, p->X, d, 0.0, grad, d);
    size_t nw = (size_t) k * d;
    double wsq = s_dot (W, W, nw);
    for (size_t j = 0; j < nw; j++)
        grad[j] += p->l2 * W[j] / n;
    for (int c = 0; c < k; c++)
        gb[c] /= n;
    return (loss + 0.5 * p->l2 * wsq) / n;
}

/*  2-norm of the gradient with respect to the caller's (W, b): for the
    centred b' = b + W mu, dL/dW = dL'/dW + dL'/db' mu^T, dL/db = dL'/db'. */
static double
s_sm_grad_norm (const sm_problem *p, const double *g)
{
    const int d = p->d, k = p->k;
    const double *gb = g + (size_t) k * d;
    double sq = 0;
    for (int c = 0; c < k; c++) {
        for (int j = 0; j < d; j++) {
            double v = g[(size_t) c * d + j] + gb[c] * p->mu[j];
            sq += v * v;
        }
        sq += gb[c] * gb[c];
    }
    return sqrt (sq);
}

/*  Limited-memory inverse Hessian: the last `count` (s, y) pairs in a ring. */
typedef struct {
    size_t  dim;
    int     count, head;          /* pairs stored; slot of the next pair      */
    double *s, *y;                /* [LBFGS_HISTORY][dim]                     */
    double  rho[LBFGS_HISTORY], alpha[LBFGS_HISTORY];
} lbfgs_mem;

static void
s_lbfgs_push (lbfgs_mem *h, const double *xnew, const double *x,
              const double *gnew, const double *g)
{
    double *s = h->s + (size_t) h->head * h->dim;
    double *y = h->y + (size_t) h->head * h->dim;
    for (size_t j = 0; j < h->dim; j++) {
        s[j] = xnew[j] - x[j];
        y[j] = gnew[j] - g[j];
    }
    double sy = s_dot (s, y, h->dim);
    /* Curvature pairs with s.y <= 0 would make the metric indefinite. */
    if (!(sy > 1e-300))
        return;
    h->rho[h->head] = 1.0 / sy;
    h->head = (h->head + 1) % LBFGS_HISTORY;
    if (h->count < LBFGS_HISTORY)
        h->count++;
}

/*  dir = -H g by the two-loop recursion (Nocedal & Wright, alg. 7.4). */
static void
s_lbfgs_direction (lbfgs_mem *h, const double *g, double *dir)
{
    size_t n = h->dim;
    for (size_t j = 0; j < n; j++)
        dir[j] = -g[j];
    int newest = (h->head + LBFGS_HISTORY - 1) % LBFGS_HISTORY;
    for (int t = 0, i = newest; t < h->count; t++, i = (i + LBFGS_HISTORY - 1) % LBFGS_HISTORY) {
        const double *s = h->s + (size_t) i * n, *y = h->y + (size_t) i * n;
        h->alpha[i] = h->rho[i] * s_dot (s, dir, n);
        for (size_t j = 0; j < n; j++)
            dir[j] -= h->alpha[i] * y[j];
    }
    const double *yn = h->y + (size_t) newest * n;
    double gamma = 1.0 / (h->rho[newest] * s_dot (yn, yn, n));
    for (size_t j = 0; j < n; j++)
        dir[j] *= gamma;
    int oldest = (h->head + LBFGS_HISTORY - h->count) % LBFGS_HISTORY;
    for (int t = 0, i = oldest; t < h->count; t++, i = (i + 1) % LBFGS_HISTORY) {
        const double *s = h->s + (size_t) i * n, *y = h->y + (size_t) i * n;
        double beta = h->rho[i] * s_dot (y, dir, n);
        for (size_t j = 0; j < n; j++)
            dir[j] += (h->alpha[i] - beta) * s[j];
    }
}

/*  Work vectors of one L-BFGS run, in one allocation. */
typedef struct {
    double *g, *xnew, *gnew, *dir, *block;
    lbfgs_mem h;
} lbfgs_work;

static int
s_lbfgs_alloc (lbfgs_work *w, size_t dim)
{
    memset (w, 0, sizeof *w);
    w->block = ofr_calloc ((4 + 2 * LBFGS_HISTORY) * dim, sizeof (double));
    if (!w->block)
        return -1;
    w->g = w->block;
    w->xnew = w->g + dim;
    w->gnew = w->xnew + dim;
    w->dir = w->gnew + dim;
    w->h.dim = dim;
    w->h.s = w->dir + dim;
    w->h.y = w->h.s + (size_t) LBFGS_HISTORY * dim;
    return 0;
}

/*  Backtracking (Armijo) along dir from x; on success xnew/gnew hold the
    accepted point and *f its value. */
static int
s_line_search (const sm_problem *p, lbfgs_work *w, const double *x, double *f, double gd)
{
    size_t dim = w->h.dim;
    double t = 1.0;
    for (int ls = 0; ls < LBFGS_MAX_HALVINGS; ls++, t *= 0.5) {
        for (size_t j = 0; j < dim; j++)
            w->xnew[j] = x[j] + t * w->dir[j];
        double fnew = s_sm_eval (p, w->xnew, w->gnew);
        if (!isfinite (fnew) || fnew > *f + 1e-4 * t * gd)
            continue;
        /* Below double's resolution of f, Armijo holds for any tiny step;
           then only a smaller gradient counts as progress. */
        if (fnew < *f || s_dot (w->gnew, w->gnew, dim) < s_dot (w->g, w->g, dim)) {
            *f = fnew;
            return 0;
        }
    }
    return -1;
}

/*  Minimise from x (in/out); fills info. */
static void
s_lbfgs (const sm_problem *p, lbfgs_work *w, double *x, int max_iter, ofr_fit_info *info)
{
    size_t dim = w->h.dim;
    double f = s_sm_eval (p, x, w->g);
    double gn = sqrt (s_dot (w->g, w->g, dim)), gcaller = s_sm_grad_norm (p, w->g);
    double tol = LBFGS_REL_GTOL * (gcaller > 1.0 ? gcaller : 1.0);
    int it = 0;
    while (gcaller > tol && it < max_iter) {
        double gd = 0.0;
        if (w->h.count > 0) {
            s_lbfgs_direction (&w->h, w->g, w->dir);
            gd = s_dot (w->g, w->dir, dim);
        }
        if (!(gd < 0)) {            /* no history, or not a descent direction */
            w->h.count = 0;
            for (size_t j = 0; j < dim; j++)
                w->dir[j] = -w->g[j] / gn;
            gd = -gn;
        }
        if (s_line_search (p, w, x, &f, gd) != 0)
            break;                  /* no progress left at double precision */
        s_lbfgs_push (&w->h, w->xnew, x, w->gnew, w->g);
        memcpy (x, w->xnew, dim * sizeof *x);
        memcpy (w->g, w->gnew, dim * sizeof *x);
        gn = sqrt (s_dot (w->g, w->g, dim));
        gcaller = s_sm_grad_norm (p, w->g);
        it++;
    }
    info->iterations = it;
    info->loss = f;
    info->grad_norm = gcaller;
    info->converged = gcaller <= tol;
}

static int
s_sm_check (const float *X, const int *y, int n, int d, int k, double l2,
            int max_iter, const float *W, const float *b, char *err, size_t errlen)
{
    if (n <= 0 || d <= 0)
        return ofr_errf (err, errlen, "fit_softmax: empty input (n=%d, d=%d)", n, d);
    if (k < 2)
        return ofr_errf (err, errlen, "fit_softmax: need at least 2 classes (k=%d)", k);
    if (!(l2 >= 0) || !isfinite (l2))
        return ofr_errf (err, errlen, "fit_softmax: l2 must be finite and >= 0 (got %g)", l2);
    if (max_iter <= 0)
        return ofr_errf (err, errlen, "fit_softmax: max_iter must be > 0 (got %d)", max_iter);
    if (!y || !W || !b)
        return ofr_errf (err, errlen, "fit_softmax: NULL labels or output");
    if (s_check_matrix ("fit_softmax: X", X, n, d, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= k)
            return ofr_errf (err, errlen, "fit_softmax: y[%d] = %d outside [0, %d)", i, y[i], k);
    return 0;
}

/*  Back to the caller's coordinates (b = b' - W mu) through the float
    staging buffer out[k*d + k], so W and b are written only if finite. */
static int
s_sm_output (const double *theta, const double *mu, int d, int k, float *out,
             float *W, float *b, char *err, size_t errlen)
{
    size_t nw = (size_t) k * d;
    for (size_t j = 0; j < nw; j++)
        out[j] = (float) theta[j];
    for (int c = 0; c < k; c++) {
        double bc = theta[nw + c];
        for (int j = 0; j < d; j++)
            bc -= theta[(size_t) c * d + j] * mu[j];
        out[nw + c] = (float) bc;
    }
    if (s_check_out (out, nw + k, "fit_softmax: W|b", err, errlen) != 0)
        return -1;
    memcpy (W, out, nw * sizeof *W);
    memcpy (b, out + nw, (size_t) k * sizeof *b);
    return 0;
}

int
ofr_fit_softmax_ex (const float *X, const int *y, int n, int d, int k,
                    double l2, int max_iter, float *W, float *b,
                    ofr_fit_info *info, char *err, size_t errlen)
{
    if (s_sm_check (X, y, n, d, k, l2, max_iter, W, b, err, errlen) != 0)
        return -1;
    size_t nw = (size_t) k * d, dim = nw + (size_t) k;
    double *Xd = ofr_calloc ((size_t) n * d, sizeof *Xd);
    double *mu = ofr_calloc ((size_t) d, sizeof *mu);
    double *Z = ofr_calloc ((size_t) n * k, sizeof *Z);
    double *theta = ofr_calloc (dim, sizeof *theta);
    float *out = ofr_calloc (dim, sizeof *out);
    lbfgs_work w = { 0 };
    int rc = -1;
    if (!Xd || !mu || !Z || !theta || !out || s_lbfgs_alloc (&w, dim) != 0)
        ofr_errf (err, errlen, "fit_softmax: out of memory (n=%d, d=%d, k=%d)", n, d, k);
    else {
        s_column_means (X, n, d, mu);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                Xd[(size_t) i * d + j] = X[(size_t) i * d + j] - mu[j];
        sm_problem p = { Xd, mu, y, n, d, k, l2, Z };
        ofr_fit_info local;
        s_lbfgs (&p, &w, theta, max_iter, info ? info : &local);
        rc = s_sm_output (theta, mu, d, k, out, W, b, err, errlen);
    }
    free (w.block);
    free (out);
    free (theta);
    free (Z);
    free (mu);
    free (Xd);
    return rc;
}

/* ---- ridge regression ------------------------------------------------------ */

/*  Rows [r0, r0+nb) of A minus mu, into double block out[nb][cols]. */
static void
s_center_block (const float *A, int cols, int r0, int nb, const double *mu, double *out)
{
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < cols; j++)
            out[(size_t) i * cols + j] = A[(size_t) (r0 + i) * cols + j] - mu[j];
}

/*  Column-major G (lower) += Xc^T Xc and R [d][m] (column-major) += Xc^T Yc,
    a block of rows at a time so memory does not grow with n. */
static void
s_ridge_accumulate (const float *X, const float *Y, int n, int d, int m,
                    const double *mux, const double *muy,
                    double *G, double *R, double *Xb, double *Yb)
{
    for (int r0 = 0; r0 < n; r0 += RIDGE_BLOCK) {
        int nb = n - r0 < RIDGE_BLOCK ? n - r0 : RIDGE_BLOCK;
        s_center_block (X, d, r0, nb, mux, Xb);
        s_center_block (Y, m, r0, nb, muy, Yb);
        /* Row-major Xb[nb][d] is the column-major d x nb matrix Xc^T. */
        cblas_dsyrk (CblasColMajor, CblasLower, CblasNoTrans, d, nb,
                     1.0, Xb, d, 1.0, G, d);
        cblas_dgemm (CblasColMajor, CblasNoTrans, CblasTrans, d, m, nb,
                     1.0, Xb, d, Yb, m, 1.0, R, d);
    }
}

/*  Solve (G + l2 I) W = R in place of R by Cholesky. */
static int
s_ridge_solve (double *G, double *R, int d, int m, double l2, char *err, size_t errlen)
{
    double maxdiag = 0;
    for (int j = 0; j < d; j++) {
        G[(size_t) j * d + j] += l2;
        maxdiag = fmax (maxdiag, G[(size_t) j * d + j]);
    }
    char uplo = 'L';
    blasint nn = d, lda = d, info = 0;
    BLASFUNC (dpotrf) (&uplo, &nn, G, &lda, &info);
    /* Exactly collinear columns rarely give a zero pivot after rounding, only
       a tiny one; the solution would then be huge noise, so refuse that too. */
    double tiny = (d > 16 ? d : 16) * DBL_EPSILON * maxdiag;
    for (int j = 0; j < d && info == 0; j++) {
        double p = G[(size_t) j * d + j];
        if (!(p * p > tiny))
            info = j + 1;
    }
    if (info != 0)
        return ofr_errf (err, errlen, "fit_ridge: X^T X + l2 I is not positive definite "
                         "(pivot %d; l2 = %g with collinear or constant features?)",
                         (int) info, l2);
    cblas_dtrsm (CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                 d, m, 1.0, G, d, R, d);
    cblas_dtrsm (CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
                 d, m, 1.0, G, d, R, d);
    return 0;
}

static int
s_ridge_check (const float *X, const float *Y, int n, int d, int m, double l2,
               const float *W, const float *b, char *err, size_t errlen)
{
    if (n <= 0 || d <= 0 || m <= 0)
        return ofr_errf (err, errlen, "fit_ridge: empty input (n=%d, d=%d, m=%d)", n, d, m);
    if (!(l2 >= 0) || !isfinite (l2))
        return ofr_errf (err, errlen, "fit_ridge: l2 must be finite and >= 0 (got %g)", l2);
    if (!W || !b)
        return ofr_errf (err, errlen, "fit_ridge: NULL output");
    if (s_check_matrix ("fit_ridge: X", X, n, d, err, errlen) != 0
        || s_check_matrix ("fit_ridge: Y", Y, n, m, err, errlen) != 0)
        return -1;
    return 0;
}

/*  W [d][m] row-major from column-major R; b = mean(Y) - mean(X) W. */
static int
s_ridge_output (const double *R, const double *mux, const double *muy,
                int d, int m, float *W, float *b, char *err, size_t errlen)
{
    for (int j = 0; j < m; j++) {
        double bj = muy[j];
        for (int i = 0; i < d; i++)
            bj -= mux[i] * R[(size_t) j * d + i];
        if (!isfinite (bj))
            return ofr_errf (err, errlen, "fit_ridge: b[%d] came out non-finite", j);
    }
    for (size_t i = 0; i < (size_t) d * m; i++)
        if (!isfinite ((float) R[i]))
            return ofr_errf (err, errlen, "fit_ridge: W came out non-finite");
    for (int j = 0; j < m; j++) {
        double bj = muy[j];
        for (int i = 0; i < d; i++) {
            double wij = R[(size_t) j * d + i];
            W[(size_t) i * m + j] = (float) wij;
            bj -= mux[i] * wij;
        }
        b[j] = (float) bj;
    }
    return 0;
}

int
ofr_fit_ridge_ex (const float *X, const float *Y, int n, int d, int m,
                  double l2, float *W, float *b, char *err, size_t errlen)
{
    if (s_ridge_check (X, Y, n, d, m, l2, W, b, err, errlen) != 0)
        return -1;
    int nb = n < RIDGE_BLOCK ? n : RIDGE_BLOCK;
    double *mux = ofr_calloc ((size_t) d, sizeof (double));
    double *muy = ofr_calloc ((size_t) m, sizeof (double));
    double *G = ofr_calloc ((size_t) d * d, sizeof (double));
    double *R = ofr_calloc ((size_t) d * m, sizeof (double));
    double *Xb = ofr_calloc ((size_t) nb * d, sizeof (double));
    double *Yb = ofr_calloc ((size_t) nb * m, sizeof (double));
    int rc = -1;
    if (!mux || !muy || !G || !R || !Xb || !Yb)
        ofr_errf (err, errlen, "fit_ridge: out of memory (d=%d, m=%d)", d, m);
    else {
        s_column_means (X, n, d, mux);
        s_column_means (Y, n, m, muy);
        s_ridge_accumulate (X, Y, n, d, m, mux, muy, G, R, Xb, Yb);
        if (s_ridge_solve (G, R, d, m, l2, err, errlen) == 0)
            rc = s_ridge_output (R, mux, muy, d, m, W, b, err, errlen);
    }
    free (Yb);
    free (Xb);
    free (R);
    free (G);
    free (muy);
    free (mux);
    return rc;
}

/* ---- host-table forms ------------------------------------------------------ */

int
ofr_fit_softmax (const float *X, const int *y, int n, int d, int k,
                 double l2, int max_iter, float *W, float *b)
{
    char err[OFR_ERRLEN];
    ofr_fit_info info;
    if (ofr_fit_softmax_ex (X, y, n, d, k, l2, max_iter, W, b, &info, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "%s", err);
        return -1;
    }
    if (!info.converged)
        ofr_log (OFR_DEBUG, "fit_softmax: stopped after %d iterations, gradient norm %.3g",
                 info.iterations, info.grad_norm);
    return 0;
}

int
ofr_fit_ridge (const float *X, const float *Y, int n, int d, int m,
               double l2, float *W, float *b)
{
    char err[OFR_ERRLEN];
    if (ofr_fit_ridge_ex (X, Y, n, d, m, l2, W, b, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "%s", err);
        return -1;
    }
    return 0;
}
