/*  glue_metrics.c -- F1, Matthews correlation, Pearson and Spearman as the
    GLUE benchmark computes them (sklearn / scipy), on pooled statistics. */
#include "glue.h"
#include "../common/ofr_common.h"

#include <math.h>
#include <stdlib.h>

double
ofr_glue_f1 (double tp, double fp, double fn)
{
    double den = 2 * tp + fp + fn;
    return den > 0 ? 2 * tp / den : 0.0;
}

double
ofr_glue_mcc (double tp, double fp, double fn, double tn)
{
    /* sklearn's matthews_corrcoef works on the covariances of the
       confusion matrix; for two classes this is the textbook formula. */
    double n = tp + fp + fn + tn;
    double t1 = tp + fn, t0 = tn + fp;             /* true counts      */
    double p1 = tp + fp, p0 = tn + fn;             /* predicted counts */
    double cov_tp = (tp + tn) * n - (t1 * p1 + t0 * p0);
    double cov_pp = n * n - (p1 * p1 + p0 * p0);
    double cov_tt = n * n - (t1 * t1 + t0 * t0);
    if (cov_pp * cov_tt == 0)
        return 0.0;
    double r = cov_tp / sqrt (cov_tt * cov_pp);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    double x, y;
} pair;

static int
cmp_pair (const void *pa, const void *pb)
{
    const pair *a = pa, *b = pb;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    return 0;
}

static int
cmp_double (const void *pa, const void *pb)
{
    double a = *(const double *) pa, b = *(const double *) pb;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Rows as pairs sorted by (x, y); NULL if out of memory or not finite. */
static pair *
sorted_pairs (const double *xy, int n)
{
    pair *p = ofr_calloc ((size_t) n, sizeof *p);
    if (!p)
        return NULL;
    for (int i = 0; i < n; i++) {
        p[i].x = xy[2 * i];
        p[i].y = xy[2 * i + 1];
        if (!isfinite (p[i].x) || !isfinite (p[i].y)) {
            free (p);
            return NULL;
        }
    }
    qsort (p, (size_t) n, sizeof *p, cmp_pair);
    return p;
}

/* Pearson of pairs already in a canonical order. */
static double
pearson_pairs (const pair *p, int n)
{
    if (n < 2)
        return 0.0;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++)
        mx += p[i].x, my += p[i].y;
    mx /= n, my /= n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double dx = p[i].x - mx, dy = p[i].y - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    if (sxx == 0 || syy == 0)
        return 0.0;
    double r = sxy / sqrt (sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

int
ofr_glue_pearson (const double *xy, int n, double *r)
{
    *r = 0.0;
    if (n < 1)
        return 0;
    pair *p = sorted_pairs (xy, n);
    if (!p)
        return -1;
    *r = pearson_pairs (p, n);
    free (p);
    return 0;
}

/* Average 1-based rank of v among sorted[0..n): ties share the mean of the
   positions they occupy. */
static double
avg_rank (const double *sorted, int n, double v)
{
    int lo = 0, hi = n;                 /* first index with sorted >= v */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    int first = lo;
    hi = n;                             /* first index with sorted > v */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (first + 1 + lo) / 2.0;      /* mean of first+1 .. lo        */
}

int
ofr_glue_spearman (const double *xy, int n, double *r)
{
    *r = 0.0;
    if (n < 1)
        return 0;
    pair *p = sorted_pairs (xy, n);
    double *sx = ofr_calloc ((size_t) n, sizeof *sx);
    double *sy = ofr_calloc ((size_t) n, sizeof *sy);
    int rc = -1;
    if (p && sx && sy) {
        for (int i = 0; i < n; i++)
            sx[i] = p[i].x, sy[i] = p[i].y;
        qsort (sx, (size_t) n, sizeof *sx, cmp_double);
        qsort (sy, (size_t) n, sizeof *sy, cmp_double);
        /* p is sorted by (x, y), so the ranked pairs come out in a
           canonical order as well. */
        for (int i = 0; i < n; i++) {
            double rx = avg_rank (sx, n, p[i].x), ry = avg_rank (sy, n, p[i].y);
            p[i].x = rx, p[i].y = ry;
        }
        *r = pearson_pairs (p, n);
        rc = 0;
    }
    free (p);
    free (sx);
    free (sy);
    return rc;
}
