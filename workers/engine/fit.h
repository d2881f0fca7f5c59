/*  fit.h -- the fitting helpers plugins reach through the host table
    (ofr_host.fit_softmax / fit_ridge): exit heads, gates, tuned-lens
    translators fitted on features the host collected.

    Both work in double internally (float normal equations and float
    gradients lose the digits a converged fit needs), are deterministic for
    a given input and thread count, and reject degenerate input (no rows,
    no features, one class, NaN/Inf, labels out of range) with -1. Inputs
    are row-major float32; outputs are written only on success. */
#ifndef OFR_FIT_H
#define OFR_FIT_H

#include <stddef.h>

/* Outcome of a softmax fit, for logs and tests. */
typedef struct {
    int    iterations;   /* L-BFGS iterations taken                            */
    double loss;         /* final objective (see ofr_fit_softmax_ex)           */
    double grad_norm;    /* 2-norm of its gradient at the returned solution    */
    int    converged;    /* 1 if grad_norm reached the tolerance               */
} ofr_fit_info;

/* Multinomial logistic regression: X [n][d], y [n] in [0, k) -> W [k][d],
   b [k], minimising  (1/n) * ( sum_i -log softmax(W x_i + b)[y_i]
   + (l2 / 2) * ||W||^2 )  (b unpenalised) by full-batch L-BFGS from zero,
   stopping when the gradient 2-norm <= 1e-6 * max(1, its norm at zero), on
   a failed line search, or after max_iter iterations (still a success: the
   best point so far is returned). Holds a centred double copy of X
   (8*n*d bytes). info may be NULL. Returns 0 or -1. */
int ofr_fit_softmax_ex (const float *X, const int *y, int n, int d, int k,
                        double l2, int max_iter, float *W, float *b,
                        ofr_fit_info *info, char *err, size_t errlen);

/* Ridge regression Y ~ X W + b: X [n][d], Y [n][m] -> W [d][m], b [m],
   minimising ||Y - X W - 1 b^T||^2 + l2 ||W||^2 (b unpenalised) in closed
   form: centred normal equations accumulated in double (dsyrk/dgemm), then
   a Cholesky solve. l2 = 0 works when X has full column rank. Returns 0 or
   -1 (singular system included). */
int ofr_fit_ridge_ex (const float *X, const float *Y, int n, int d, int m,
                      double l2, float *W, float *b, char *err, size_t errlen);

/* The host-table forms (signatures fixed by plugins/offramp_plugin.h):
   as the _ex versions, logging the reason of a failure as a warning. */
int ofr_fit_softmax (const float *X, const int *y, int n, int d, int k,
                     double l2, int max_iter, float *W, float *b);
int ofr_fit_ridge (const float *X, const float *Y, int n, int d, int m,
                   double l2, float *W, float *b);

#endif
