/*  runner.c -- the classifier driver and the plugin host table (runner.h). */
#include "runner.h"
#include "../common/ofr_common.h"
#include "engine/fit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Everything about one batch in flight. host_ctx of the ofr_batch the
    plugin sees points here. */
typedef struct {
    const ofr_runner_ctx *ctx;
    ofr_mbatch   *mb;
    int           n;            /* rows the batch began with                  */
    int           n_out;        /* exit distribution width                    */
    int          *active;       /* [n] stable indices of active rows          */
    int           n_active;
    int           layer;        /* layer just run, -1 before the first        */
    float        *probs;        /* [n][n_out] exit distribution cache         */
    int          *probs_layer;  /* [n] layer the cache holds, -1 = none       */
    double       *flops;        /* [n] charged so far                         */
    double       *wall;         /* [n] attributed wall ms                     */
    int          *skipped;      /* [n] layers the row skipped                 */
    ofr_example  *ex;           /* [n]                                        */
    const int32_t *ex_index;    /* [n] suite index of each row (oracle_try)   */
    double        excluded_ms;  /* oracle_try time, kept out of wall times    */
    ofr_rng       rng;
    char          err[OFR_ERRLEN];
} run_batch;

static bool
ops_is_dense (const ofr_model_ops *ops)
{
    return ops->kind == OFR_KIND_CNN && ops->exit_labels;
}

static const float *
host_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active)
        return NULL;
    int row = b->active[i];
    if (b->probs_layer[row] == layer)
        goto done;
    /* Only the layer just run still has its hidden state. */
    if (layer != b->layer) {
        ofr_log (OFR_WARN, "plugin %s asked for exit probabilities of layer %d "
                 "while at layer %d", b->ctx->method->name, layer, b->layer);
        return NULL;
    }
    const ofr_model_ops *ops = b->ctx->model->ops;
    if (ops->exit_probs (b->mb, layer, row, b->probs + (size_t) row * b->n_out) != 0)
        return NULL;
    b->flops[row] += ops->head_flops (b->mb, layer, row);
    b->probs_layer[row] = layer;
done:
    if (n_positions) {
        /* Dense prediction: n_out is classes x pixels ([class][pixel]). */
        int k = b->ctx->suite->n_classes;
        *n_positions = ops_is_dense (b->ctx->model->ops) && k > 0 && b->n_out % k == 0
                       ? b->n_out / k : 1;
    }
    return b->probs + (size_t) row * b->n_out;
}

static const float *
host_hidden_state (void *host_ctx, int i, int *dim)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active)
        return NULL;
    if (dim)
        *dim = b->ctx->model->ops->hidden_dim (b->ctx->model);
    return b->ctx->model->ops->hidden (b->mb, b->active[i]);
}

static void
host_charge_flops (void *host_ctx, int i, double flops)
{
    run_batch *b = host_ctx;
    if (b && i >= 0 && i < b->n_active && flops > 0)
        b->flops[b->active[i]] += flops;
}

static int
host_oracle_label (void *host_ctx, int i)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active
        || !(b->ctx->method->flags & OFR_METHOD_ORACLE))
        return -1;
    return b->ex[b->active[i]].label;
}

static double
host_layer_flops (void *host_ctx, int i, int layer)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active)
        return 0;
    return b->ctx->model->ops->layer_flops (b->mb, layer, b->active[i]);
}

static double
host_rng_uniform (void *host_ctx)
{
    run_batch *b = host_ctx;
    return b ? ofr_rng_uniform (&b->rng) : 0.5;
}

static void
host_log (void *host_ctx, int level, const char *fmt, ...)
{
    run_batch *b = host_ctx;
    char line[768];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    ofr_log (level, "plugin %s: %s",
             b ? b->ctx->method->name : "?", line);
}

/*  Artifacts go through the cell's store (artifacts.h): written only under
    `offramp fit`, read back at evaluation. A failure is logged and kept in
    the store, so that a failing begin() can say why (runner below). */
static int
host_artifact_save (void *host_ctx, const char *name, const void *data, size_t size)
{
    run_batch *b = host_ctx;
    if (!b || !b->ctx->artifacts) {
        host_log (host_ctx, OFR_WARN, "artifact '%s': no artifact store for this cell",
                  name ? name : "?");
        return -1;
    }
    if (ofr_artifacts_save (b->ctx->artifacts, name, data, size) != 0) {
        host_log (host_ctx, OFR_WARN, "%s", ofr_artifacts_error (b->ctx->artifacts));
        return -1;
    }
    return 0;
}

static const void *
host_artifact_load (void *host_ctx, const char *name, size_t *size)
{
    run_batch *b = host_ctx;
    if (size)
        *size = 0;
    if (!b || !b->ctx->artifacts) {
        host_log (host_ctx, OFR_WARN, "artifact '%s': no artifact store for this cell",
                  name ? name : "?");
        return NULL;
    }
    const void *p = ofr_artifacts_load (b->ctx->artifacts, name, size);
    if (!p)
        host_log (host_ctx, OFR_WARN, "%s", ofr_artifacts_error (b->ctx->artifacts));
    return p;
}

static const float *
host_model_tensor (void *host_ctx, const char *name, size_t *n)
{
    run_batch *b = host_ctx;
    if (n)
        *n = 0;
    if (!b || !name || !b->ctx->model->ops->aux_tensor)
        return NULL;
    return b->ctx->model->ops->aux_tensor (b->ctx->model, name, n);
}

static const float *
host_token_state (void *host_ctx, int i, int *dim)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active || !b->ctx->model->ops->raw_hidden)
        return NULL;
    if (dim)
        *dim = b->ctx->model->ops->hidden_dim (b->ctx->model);
    return b->ctx->model->ops->raw_hidden (b->mb, b->active[i]);
}

/*  The override lives in the exit distribution cache, so finish_row
    predicts from it and charges no head. */
static int
host_set_exit_probs (void *host_ctx, int i, int layer, const float *probs)
{
    run_batch *b = host_ctx;
    if (!b || !probs || i < 0 || i >= b->n_active || layer != b->layer)
        return -1;
    int row = b->active[i];
    memcpy (b->probs + (size_t) row * b->n_out, probs, (size_t) b->n_out * sizeof (float));
    b->probs_layer[row] = layer;
    return 0;
}

/*  Oracles only: the suite's statistics of a configuration the row did not
    run (model try_labels on scratch state). Not charged; its time is kept
    out of the row's wall time (excluded_ms). */
static int
host_oracle_try (void *host_ctx, int i, const uint8_t *skip, int exit_layer,
                 double *stats, int max_stats)
{
    run_batch *b = host_ctx;
    if (!b || i < 0 || i >= b->n_active || !stats
        || !(b->ctx->method->flags & OFR_METHOD_ORACLE))
        return -1;
    const ofr_model_ops *ops = b->ctx->model->ops;
    const ofr_suite_class *sc = b->ctx->suite;
    if (!ops->try_labels || max_stats < sc->n_stats) {
        ofr_log (OFR_WARN, "plugin %s: oracle_try: %s", b->ctx->method->name,
                 !ops->try_labels ? "the model cannot score configurations"
                                  : "stats buffer smaller than the suite's n_stats");
        return -1;
    }
    double t0 = ofr_now_ms ();
    int row = b->active[i], n = 0;
    char err[OFR_ERRLEN] = "";
    ofr_prediction pred = { .cls = -1, .value = -1 };
    pred.labels = ops->try_labels (b->mb, row, skip, exit_layer, &n, err, sizeof err);
    pred.n_labels = n;
    int rc = -1;
    if (!pred.labels)
        ofr_log (OFR_WARN, "plugin %s: oracle_try: %s", b->ctx->method->name, err);
    else if (sc->score (b->ctx->suite_data, b->ex_index ? b->ex_index[row] : row,
                        &pred, stats) == 0)
        rc = sc->n_stats;
    b->excluded_ms += ofr_now_ms () - t0;
    return rc;
}

static const ofr_host s_host = {
    .struct_size = sizeof (ofr_host),
    .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR,
    .exit_probs = host_exit_probs,
    .hidden_state = host_hidden_state,
    .charge_flops = host_charge_flops,
    .oracle_label = host_oracle_label,
    .layer_flops = host_layer_flops,
    .rng_uniform = host_rng_uniform,
    .log = host_log,
    .fit_softmax = ofr_fit_softmax,
    .fit_ridge = ofr_fit_ridge,
    .artifact_save = host_artifact_save,
    .artifact_load = host_artifact_load,
    .model_tensor = host_model_tensor,
    .token_state = host_token_state,
    .set_exit_probs = host_set_exit_probs,
    .oracle_try = host_oracle_try,
};

const ofr_host *
ofr_runner_host (void)
{
    return &s_host;
}

static void
batch_free (run_batch *b)
{
    if (b->mb)
        b->ctx->model->ops->batch_end (b->mb);
    free (b->active);
    free (b->probs);
    free (b->probs_layer);
    free (b->flops);
    free (b->wall);
    free (b->skipped);
    free (b->ex);
}

static int
batch_alloc (run_batch *b, const ofr_runner_ctx *ctx, int n)
{
    memset (b, 0, sizeof *b);
    b->ctx = ctx;
    b->n = n;
    b->n_out = ctx->model->ops->n_outputs (ctx->model);
    b->layer = -1;
    b->active = ofr_calloc ((size_t) n, sizeof (int));
    b->probs = ofr_calloc ((size_t) n * (size_t) b->n_out, sizeof (float));
    b->probs_layer = ofr_calloc ((size_t) n, sizeof (int));
    b->flops = ofr_calloc ((size_t) n, sizeof (double));
    b->wall = ofr_calloc ((size_t) n, sizeof (double));
    b->skipped = ofr_calloc ((size_t) n, sizeof (int));
    b->ex = ofr_calloc ((size_t) n, sizeof (ofr_example));
    if (!b->active || !b->probs || !b->probs_layer || !b->flops || !b->wall || !b->skipped
        || !b->ex)
        return -1;
    for (int i = 0; i < n; i++) {
        b->active[i] = i;
        b->probs_layer[i] = -1;
    }
    b->n_active = n;
    return 0;
}

/* Emit the record of a row that exits after `layer`. */
static int
finish_row (run_batch *b, int row, int layer, const int32_t *examples,
            ofr_emit_fn *emit, void *arg, char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = b->ctx;
    const ofr_model_ops *ops = ctx->model->ops;
    /* Dense prediction (CNN): the model's per-pixel label map, no softmax. */
    bool dense = ops->kind == OFR_KIND_CNN && ops->exit_labels;
    if (!dense && b->probs_layer[row] != layer) {
        if (ops->exit_probs (b->mb, layer, row, b->probs + (size_t) row * b->n_out) != 0)
            return ofr_errf (err, errlen, "model %s: exit head %d failed for example %d",
                             ctx->model->name, layer + 1, examples[row]);
        b->flops[row] += ops->head_flops (b->mb, layer, row);
        b->probs_layer[row] = layer;
    }
    if (dense && b->probs_layer[row] != layer)
        b->flops[row] += ops->head_flops (b->mb, layer, row);
    const float *p = b->probs + (size_t) row * b->n_out;
    int best = 0;
    for (int c = 1; !dense && c < b->n_out; c++)
        if (p[c] > p[best])
            best = c;
    ofr_prediction pred = { .cls = best, .value = b->n_out == 1 ? p[0] : best,
                            .probs = p, .n_probs = b->n_out };
    if (dense) {
        pred = (ofr_prediction) { .cls = -1, .value = -1 };
        pred.labels = ops->exit_labels (b->mb, layer, row, &pred.n_labels);
        if (!pred.labels)
            return ofr_errf (err, errlen, "model %s: no label map at layer %d for example %d",
                             ctx->model->name, layer + 1, examples[row]);
    }
    int n_stats = ctx->suite->n_stats;
    double stats_small[16];
    double *stats = n_stats <= 16 ? stats_small : ofr_calloc ((size_t) n_stats, sizeof (double));
    if (!stats)
        return ofr_errf (err, errlen, "out of memory");
    int rc = ctx->suite->score (ctx->suite_data, examples[row], &pred, stats);
    if (rc != 0) {
        if (stats != stats_small)
            free (stats);
        return ofr_errf (err, errlen, "suite %s: scoring example %d failed",
                         ctx->suite->name, examples[row]);
    }
    int L = ops->n_layers (ctx->model);
    double full = ops->head_flops (b->mb, L - 1, row);
    for (int l = 0; l < L; l++)
        full += ops->layer_flops (b->mb, l, row);
    ofr_record r = {
        .cell = ctx->cell->index, .example = examples[row],
        .prediction = pred.value, .stats = stats, .n_stats = n_stats,
        .exit_layer = layer + 1, .skipped = b->skipped[row], .n_layers = L,
        .flops = b->flops[row], .flops_full = full, .wall_ms = b->wall[row],
    };
    rc = emit (arg, &r);
    if (stats != stats_small)
        free (stats);
    if (rc != 0)
        return ofr_errf (err, errlen, "emitting the record of example %d failed",
                         examples[row]);
    return 0;
}

/* Share elapsed milliseconds equally among the active rows. */
static void
attribute_wall (run_batch *b, double ms)
{
    if (b->n_active > 0)
        for (int i = 0; i < b->n_active; i++)
            b->wall[b->active[i]] += ms / b->n_active;
}

static int
run_batch_layers (run_batch *b, const int32_t *examples, ofr_emit_fn *emit,
                  void *arg, char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = b->ctx;
    const ofr_model_ops *ops = ctx->model->ops;
    const ofr_method *m = ctx->method;
    int L = ops->n_layers (ctx->model);
    uint8_t *act = ofr_calloc ((size_t) b->n, 1);
    uint8_t *lowp = ofr_calloc ((size_t) b->n, 1);
    int *run_rows = ofr_calloc ((size_t) b->n, sizeof (int));
    if (!act || !lowp || !run_rows) {
        free (act); free (lowp); free (run_rows);
        return ofr_errf (err, errlen, "out of memory");
    }
    ofr_batch view = {
        .struct_size = sizeof (ofr_batch), .kind = ops->kind,
        .batch_size = b->n, .n_rows = b->n_active, .row_ids = b->active,
        .n_layers = L, .n_outputs = b->n_out, .step = 0, .host_ctx = b,
    };
    int rc = 0;
    if (m->begin && m->begin (ctx->method_state, &view) != 0) {
        const char *why = ctx->artifacts ? ofr_artifacts_error (ctx->artifacts) : "";
        rc = ofr_errf (err, errlen, "plugin %s: begin failed%s%s", m->name,
                       *why ? ": " : "", why);
        goto out;
    }
    for (int l = 0; l < L && b->n_active > 0; l++) {
        double t0 = ofr_now_ms ();
        view.n_rows = b->n_active;
        memset (act, OFR_RUN, (size_t) b->n_active);
        if (m->before_layer && m->before_layer (ctx->method_state, &view, l, act) != 0) {
            rc = ofr_errf (err, errlen, "plugin %s: before_layer %d failed", m->name, l + 1);
            break;
        }
        int n_run = 0;
        for (int i = 0; i < b->n_active; i++) {
            int row = b->active[i];
            if (act[i] == OFR_SKIP) {
                b->skipped[row]++;
                continue;
            }
            if (act[i] != OFR_RUN && act[i] != OFR_RUN_LOWP) {
                rc = ofr_errf (err, errlen, "plugin %s: invalid action %d before layer %d",
                               m->name, act[i], l + 1);
                goto out_end;
            }
            lowp[n_run] = act[i] == OFR_RUN_LOWP;
            run_rows[n_run++] = row;
            double f = ops->layer_flops (b->mb, l, row);
            b->flops[row] += act[i] == OFR_RUN_LOWP ? f * ops->lowp_cost : f;
        }
        if (ops->run_layer (b->mb, l, run_rows, lowp, n_run, err, errlen) != 0) {
            rc = -1;
            break;
        }
        b->layer = l;
        memset (act, OFR_CONTINUE, (size_t) b->n_active);
        if (m->after_layer && m->after_layer (ctx->method_state, &view, l, act) != 0) {
            rc = ofr_errf (err, errlen, "plugin %s: after_layer %d failed", m->name, l + 1);
            break;
        }
        attribute_wall (b, ofr_now_ms () - t0 - b->excluded_ms);
        b->excluded_ms = 0;
        /* Exit rows and compact the active set in place, keeping order. */
        int kept = 0;
        for (int i = 0; i < b->n_active; i++) {
            int row = b->active[i];
            if (act[i] == OFR_EXIT || l == L - 1) {
                double t1 = ofr_now_ms ();
                if (finish_row (b, row, l, examples, emit, arg, err, errlen) != 0) {
                    rc = -1;
                    goto out_end;
                }
                b->wall[row] += ofr_now_ms () - t1;
            } else {
                b->active[kept++] = row;
            }
        }
        b->n_active = kept;
    }
out_end:
    view.n_rows = b->n_active;
    if (m->end)
        m->end (ctx->method_state, &view);
out:
    free (act);
    free (lowp);
    free (run_rows);
    return rc;
}

int
ofr_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                ofr_emit_fn *emit, void *arg, char *err, size_t errlen)
{
    const ofr_model_ops *ops = ctx->model->ops;
    int bs = ctx->cell->batch_size > 0 ? ctx->cell->batch_size : 1;
    if (ops->n_layers (ctx->model) < 1)
        return ofr_errf (err, errlen, "model %s has no layers", ctx->model->name);
    for (int start = 0; start < n; start += bs) {
        int cnt = n - start < bs ? n - start : bs;
        run_batch b;
        if (batch_alloc (&b, ctx, cnt) != 0) {
            batch_free (&b);
            return ofr_errf (err, errlen, "out of memory for a batch of %d", cnt);
        }
        ofr_rng_seed (&b.rng, ctx->cell->seed * 1000003u + (uint64_t) examples[start]);
        b.ex_index = examples + start;
        int rc = 0;
        for (int i = 0; i < cnt && rc == 0; i++)
            if (ctx->suite->example (ctx->suite_data, examples[start + i], &b.ex[i]) != 0)
                rc = ofr_errf (err, errlen, "suite %s: no example %d",
                               ctx->suite->name, examples[start + i]);
        double t0 = ofr_now_ms ();
        if (rc == 0)
            rc = ops->batch_begin (ctx->model, b.ex, cnt, &b.mb, err, errlen);
        if (rc == 0) {
            attribute_wall (&b, ofr_now_ms () - t0);
            rc = run_batch_layers (&b, examples + start, emit, arg, err, errlen);
        }
        batch_free (&b);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int
ofr_runner_fit (const ofr_runner_ctx *ctx, ofr_fit_ctx *fit, char *err, size_t errlen)
{
    const ofr_method *m = ctx->method;
    if (!m->fit)
        return ofr_errf (err, errlen, "method %s has nothing to fit (no fit())", m->name);
    /* A batch without rows: host_log and the artifact store work, the
       per-row functions refuse (there is no row to ask about). */
    run_batch b;
    memset (&b, 0, sizeof b);
    b.ctx = ctx;
    b.layer = -1;
    fit->host_ctx = &b;
    char perr[OFR_ERRLEN] = "";
    int rc = m->fit (ctx->method_state, fit, perr, sizeof perr);
    fit->host_ctx = NULL;
    if (rc != 0) {
        const char *why = ctx->artifacts ? ofr_artifacts_error (ctx->artifacts) : "";
        return ofr_errf (err, errlen, "plugin %s: fit failed: %s%s%s", m->name,
                         *perr ? perr : "(no reason given)", *why ? "; " : "", why);
    }
    if (ctx->artifacts && ofr_artifacts_n_saved (ctx->artifacts) == 0)
        ofr_log (OFR_WARN, "plugin %s: fit() saved no artifact", m->name);
    return 0;
}
