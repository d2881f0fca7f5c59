/*  bench_encoder.c -- the C side of `offramp bench encoder`: full forwards
    and an early-exit configuration of one batch size, through the model
    ops (workers/model.h) exactly as the runner drives them: run_layer on
    the active rows, exit heads on demand, exited rows dropped from the
    next call (compaction). FLOPs are the ops' analytic counts. */
#include "bench_encoder.h"
#include "encoder.h"
#include "../engine/bench.h"
#include "../engine/ops.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

void
ofr_bench_stat_of (double *ms, int n, ofr_bench_stat *out)
{
    qsort (ms, (size_t) n, sizeof *ms, cmp_double);
    out->median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    out->min = ms[0];
    out->max = ms[n - 1];
    out->n = n;
}

typedef struct {
    ofr_model           *m;
    const ofr_model_ops *ops;
    int                  L, K, n;
    const int32_t       *ids;
    int                 *lens;      /* [n]                                  */
    int                 *rows;      /* [n] active rows                      */
    float               *probs;     /* [K]                                  */
    float               *entropy;   /* [n][L] exit entropies, INFINITY: none */
} run_ctx;

/*  One full forward: every layer on every row, then the last exit head.
    With want_detail, also the logits, the analytic FLOPs and the entropy
    of every exit head (not timed: only the first, untimed call asks). */
static int
full_forward (run_ctx *x, bool want_detail, float *logits, double *flops, double *ms,
              double *begin_ms, char *err, size_t errlen)
{
    ofr_mbatch *mb;
    double t0 = ofr_now_ms ();
    if (ofr_encoder_batch_begin_ids (x->m, x->ids, NULL, x->lens, x->n, &mb, err, errlen))
        return -1;
    double t1 = ofr_now_ms ();
    for (int i = 0; i < x->n; i++)
        x->rows[i] = i;
    int rc = 0;
    for (int l = 0; l < x->L && rc == 0; l++) {
        rc = x->ops->run_layer (mb, l, x->rows, NULL, x->n, err, errlen);
        for (int r = 0; want_detail && rc == 0 && r < x->n; r++) {
            float *h = &x->entropy[(size_t) r * x->L + l];
            *h = INFINITY;
            if (ofr_encoder_has_exit (x->m, l) && x->ops->exit_probs (mb, l, r, x->probs) == 0)
                *h = ofr_entropy (x->probs, x->K);
            *flops += x->ops->layer_flops (mb, l, r);
        }
    }
    for (int r = 0; rc == 0 && r < x->n; r++) {
        if (ofr_encoder_exit_logits (mb, x->L - 1, r, logits + (size_t) r * x->K) != 0)
            rc = ofr_errf (err, errlen, "bench encoder: no head after the last layer");
        if (want_detail)
            *flops += x->ops->head_flops (mb, x->L - 1, r);
    }
    x->ops->batch_end (mb);
    *ms = ofr_now_ms () - t0;
    *begin_ms = t1 - t0;
    return rc;
}

/*  The entropy threshold whose mean exit depth (layers per row) is closest
    to target, from the entropies of a full forward; ties go to fewer
    layers. -INFINITY: no early exit. */
static double
pick_threshold (const run_ctx *x, double target)
{
    double best = -INFINITY, best_err = fabs (x->L - target), best_depth = x->L;
    for (size_t c = 0; c < (size_t) x->n * x->L; c++) {
        double tau = x->entropy[c];
        if (!isfinite (tau))
            continue;
        double depth = 0;
        for (int r = 0; r < x->n; r++) {
            int l = 0;
            while (l < x->L - 1 && !(x->entropy[(size_t) r * x->L + l] <= tau))
                l++;
            depth += l + 1;
        }
        depth /= x->n;
        double e = fabs (depth - target);
        if (e < best_err - 1e-9 || (e < best_err + 1e-9 && depth < best_depth)) {
            best = tau;
            best_err = e;
            best_depth = depth;
        }
    }
    return best;
}

/*  The DeeBERT rule at threshold tau: after each layer the active rows'
    exit heads (charged), rows with entropy <= tau exit, the rest run on. */
static int
exit_forward (run_ctx *x, double tau, double *flops, double *depth, double *ms,
              char *err, size_t errlen)
{
    ofr_mbatch *mb;
    double t0 = ofr_now_ms ();
    if (ofr_encoder_batch_begin_ids (x->m, x->ids, NULL, x->lens, x->n, &mb, err, errlen))
        return -1;
    for (int i = 0; i < x->n; i++)
        x->rows[i] = i;
    int k = x->n, rc = 0;
    double fl = 0, layers = 0;
    for (int l = 0; l < x->L && k > 0 && rc == 0; l++) {
        rc = x->ops->run_layer (mb, l, x->rows, NULL, k, err, errlen);
        int kept = 0;
        for (int i = 0; rc == 0 && i < k; i++) {
            int row = x->rows[i];
            fl += x->ops->layer_flops (mb, l, row);
            bool out = l == x->L - 1;
            if (ofr_encoder_has_exit (x->m, l)) {
                if (x->ops->exit_probs (mb, l, row, x->probs) != 0)
                    rc = ofr_errf (err, errlen, "bench encoder: exit head %d failed", l);
                fl += x->ops->head_flops (mb, l, row);
                out = out || ofr_entropy (x->probs, x->K) <= tau;
            }
            if (out)
                layers += l + 1;
            else
                x->rows[kept++] = row;
        }
        k = kept;
    }
    x->ops->batch_end (mb);
    *ms = ofr_now_ms () - t0;
    *flops = fl;
    *depth = layers / x->n;
    return rc;
}

/*  ofr_matmul alone on the four projection shapes of a T-token stack,
    FLOP-weighted: what the projections could reach on this machine. */
static double
sgemm_ceiling (const ofr_encoder_config *c, int T, double seconds)
{
    int d = c->hidden, I = c->intermediate;
    const int shape[4][2] = { { 3 * d, d }, { d, d }, { I, d }, { d, I } };
    double flops = 0, time = 0;
    for (int i = 0; i < 4; i++) {
        double g;
        if (ofr_bench_sgemm_shape (T, shape[i][0], shape[i][1], seconds, &g, NULL, NULL, 0))
            return -1;
        double f = 2.0 * T * shape[i][0] * (double) shape[i][1];
        flops += f;
        time += f / g;
    }
    return flops / time;
}

static void
ctx_free (run_ctx *x)
{
    free (x->lens);
    free (x->rows);
    free (x->probs);
    free (x->entropy);
}

int
ofr_bench_encoder_batch (ofr_model *m, const int32_t *ids, const ofr_bench_params *p,
                         ofr_bench_batch *b, char *err, size_t errlen)
{
    const ofr_encoder_config *c = ofr_encoder_config_of (m);
    if (!c)
        return ofr_errf (err, errlen, "bench encoder: %s is not an encoder", m->name);
    int n = b->batch, R = p->repeat;
    run_ctx x = { m, m->ops, c->n_layers, c->num_labels, n, ids, NULL, NULL, NULL, NULL };
    x.lens = ofr_calloc ((size_t) n, sizeof *x.lens);
    x.rows = ofr_calloc ((size_t) n, sizeof *x.rows);
    x.probs = ofr_calloc ((size_t) x.K, sizeof *x.probs);
    x.entropy = ofr_calloc ((size_t) n * x.L, sizeof *x.entropy);
    b->logits = ofr_calloc ((size_t) n * x.K, sizeof *b->logits);
    double *ms = ofr_calloc ((size_t) R * 3, sizeof *ms), *bms = ms + R, *ems = ms + 2 * R;
    int rc = -1;
    if (!x.lens || !x.rows || !x.probs || !x.entropy || !b->logits || !ms) {
        ofr_errf (err, errlen, "bench encoder: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++)
        x.lens[i] = p->tokens;
    b->sgemm_gflops = sgemm_ceiling (c, n * p->tokens, p->sgemm_seconds);
    /* Warm-ups (pages, thread pool); the first one with the detail: FLOPs,
       logits, entropies, from which the threshold is set. */
    b->flops = 0;
    double flops, t, tb;
    if (full_forward (&x, true, b->logits, &b->flops, &t, &tb, err, errlen) != 0)
        goto out;
    b->threshold = pick_threshold (&x, p->depth_target * x.L);
    if (exit_forward (&x, b->threshold, &b->exit_flops, &b->mean_depth, &t, err, errlen))
        goto out;
    /* Interleaved, so that the machine's load changes hit both alike. */
    for (int r = 0; r < R; r++)
        if (full_forward (&x, false, b->logits, &flops, &ms[r], &bms[r], err, errlen) != 0
            || exit_forward (&x, b->threshold, &b->exit_flops, &b->mean_depth, &ems[r],
                             err, errlen) != 0)
            goto out;
    ofr_bench_stat_of (ms, R, &b->forward);
    ofr_bench_stat_of (bms, R, &b->begin);
    ofr_bench_stat_of (ems, R, &b->exit_forward);
    /* The ceiling before and after the timed runs, the better of the two. */
    double again = sgemm_ceiling (c, n * p->tokens, p->sgemm_seconds);
    b->sgemm_gflops = again > b->sgemm_gflops ? again : b->sgemm_gflops;
    rc = b->sgemm_gflops > 0 ? 0 : ofr_errf (err, errlen, "bench encoder: sgemm failed");
out:
    ctx_free (&x);
    free (ms);
    return rc;
}
