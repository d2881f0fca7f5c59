/*  bench.h -- machine measurements behind `offramp bench`.

    The sgemm peak is the yardstick for every other benchmark: an encoder
    or decoder benchmark reports its GFLOP/s as a fraction of it, which
    says whether a slow model is slow because of the machine or because of
    the code. */
#ifndef OFR_BENCH_H
#define OFR_BENCH_H

#include <stddef.h>

/* One sgemm shape as the models issue it: C[m][n] = A[m][k] W[n][k]^T
   (ofr_matmul, nn.Linear layout). */
typedef struct {
    int         m, n, k;
    const char *use;       /* where the shape comes from, one line */
} ofr_sgemm_shape;

/* The standard shapes of `offramp bench sgemm`; *count gets their number.
   Static table. */
const ofr_sgemm_shape *ofr_bench_sgemm_shapes (int *count);

/* Time ofr_matmul on m x n x k with the current BLAS threads: one warm-up
   call, then repeated calls for about `seconds`. Writes GFLOP/s (2mnk per
   call) and the number of timed calls. Returns 0 or -1 (bad shape, no
   memory; err says which). */
int ofr_bench_sgemm_shape (int m, int n, int k, double seconds,
                           double *gflops, long *reps, char *err, size_t errlen);

/* Highest GFLOP/s over the standard shapes with `threads` BLAS threads
   (<= 0: the current setting, which is restored afterwards), about
   `seconds` per shape. Returns the peak, or -1 on failure. */
double ofr_bench_sgemm_peak (int threads, double seconds);

#endif
