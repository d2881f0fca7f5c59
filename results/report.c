/*  report.c -- ofr_store_report: per-cell summaries of a run as a table,
    CSV or JSON. Every number is computed here from the stored examples in
    example order (never from running totals), so the output depends only on
    the set of records, not on how or in which order they arrived. */
#include "store_impl.h"
#include "../common/ofr_common.h"
#include "../suites/suite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What the report says about one cell. */
typedef struct {
    const ofr_store_cell_row *row;
    int        n;                        /* stored examples                   */
    ofr_metric metrics[OFR_MAX_METRICS];
    int        n_metrics;
    double     flops_mean, flops_full, rel_flops, mean_exit, wall_ms_mean, speedup;
    int64_t   *hist;                     /* [hist_n] exits at layer i + 1     */
    size_t     hist_n, hist_cap;
    int64_t   *skip_hist;                /* [skip_n] examples that skipped i layers */
    size_t     skip_n, skip_cap;
    double     mean_skipped;             /* layers skipped per example        */
    double    *exit_metric;              /* [hist_n] primary metric of the
                                            examples that exited at layer i + 1
                                            (NAN: none, or per-token exits)     */
} cell_sum;

/* Running sums while the examples of a cell are read. */
typedef struct {
    double  flops, flops_full, wall, exit_sum, skipped;
    int64_t exits;                       /* exit decisions counted             */
    double *stats;                       /* [n][n_stats] in example order      */
    size_t  stats_n, stats_cap;
    bool    stats_ok;
    int    *exit_of;                     /* [stats_n] exit layer, 0 = per token */
    size_t  exit_cap;
} cell_acc;

typedef struct {
    int64_t             run;
    char               *name, *status;
    ofr_store_cell_row *rows;
    int                 n;
    cell_sum           *sums;
    unsigned            flags;
} report;

/* ---- computing --------------------------------------------------------- */

static int
hist_widen (cell_sum *cs, size_t width)
{
    size_t old = cs->hist_n;
    if (width <= old)
        return 0;
    if (ofr_grow ((void **) &cs->hist, &cs->hist_cap, width, sizeof (int64_t)) != 0)
        return -1;
    memset (cs->hist + old, 0, (width - old) * sizeof (int64_t));
    cs->hist_n = width;
    return 0;
}

/*  Layers below 1 mean "no exit recorded" and are left out of the
    histogram and the mean; a layer beyond n_layers widens the histogram
    rather than being lost. */
static int
count_exit (cell_sum *cs, cell_acc *a, int layer)
{
    if (layer < 1)
        return 0;
    if (hist_widen (cs, (size_t) layer) != 0)
        return -1;
    cs->hist[layer - 1]++;
    a->exit_sum += layer;
    a->exits++;
    return 0;
}

/* Examples by the number of layers they skipped: skip_hist[k]. */
static int
count_skips (cell_sum *cs, cell_acc *a, int skipped)
{
    size_t width = (size_t) skipped + 1, old = cs->skip_n;
    if (width > old) {
        if (ofr_grow ((void **) &cs->skip_hist, &cs->skip_cap, width, sizeof (int64_t)) != 0)
            return -1;
        memset (cs->skip_hist + old, 0, (width - old) * sizeof (int64_t));
        cs->skip_n = width;
    }
    cs->skip_hist[skipped]++;
    a->skipped += skipped;
    return 0;
}

static int
add_stats (cell_acc *a, const ofr_suite_class *suite, const unsigned char *blob,
           int bytes, int cell)
{
    if (!a->stats_ok)
        return 0;
    size_t k = (size_t) suite->n_stats;
    if (bytes < 0 || (size_t) bytes != k * 8) {
        ofr_log (OFR_WARN, "report: cell %d: a record has %d bytes of stats, suite %s "
                 "expects %zu values: no metrics", cell, bytes, suite->name, k);
        a->stats_ok = false;
        return 0;
    }
    if (ofr_grow ((void **) &a->stats, &a->stats_cap, (a->stats_n + 1) * k, sizeof (double)) != 0)
        return -1;
    for (size_t j = 0; j < k; j++)
        a->stats[a->stats_n * k + j] = ofr_store_f64_le (blob, j);
    a->stats_n++;
    return 0;
}

static int
add_example (sqlite3_stmt *st, const ofr_suite_class *suite, cell_sum *cs, cell_acc *a)
{
    cs->n++;
    const unsigned char *stats = sqlite3_column_blob (st, 0);
    int stats_bytes = sqlite3_column_bytes (st, 0);
    if (add_stats (a, suite, stats, stats_bytes, cs->row->cell.index) != 0)
        return -1;
    const unsigned char *tok = sqlite3_column_blob (st, 2);
    int n_tok = sqlite3_column_bytes (st, 2);
    if (a->stats_ok) {
        if (ofr_grow ((void **) &a->exit_of, &a->exit_cap, a->stats_n, sizeof (int)) != 0)
            return -1;
        a->exit_of[a->stats_n - 1] = tok && n_tok > 0 ? 0 : sqlite3_column_int (st, 1);
    }
    if (tok && n_tok > 0) {
        for (int t = 0; t < n_tok; t++)
            if (count_exit (cs, a, tok[t]) != 0)
                return -1;
    } else if (count_exit (cs, a, sqlite3_column_int (st, 1)) != 0) {
        return -1;
    }
    int n_layers = sqlite3_column_int (st, 3);
    if (n_layers > 0 && hist_widen (cs, (size_t) n_layers) != 0)
        return -1;
    int skipped = sqlite3_column_int (st, 7);
    if (count_skips (cs, a, skipped > 0 ? skipped : 0) != 0)
        return -1;
    a->flops += sqlite3_column_double (st, 4);
    a->flops_full += sqlite3_column_double (st, 5);
    a->wall += sqlite3_column_double (st, 6);
    return 0;
}

static void
compute_metrics (const ofr_suite_class *suite, cell_sum *cs, const cell_acc *a)
{
    const ofr_cell *c = &cs->row->cell;
    if (!suite) {
        ofr_log (OFR_WARN, "report: cell %d: unknown suite '%s': no metrics", c->index, c->suite);
        return;
    }
    if (!a->stats_ok || cs->n == 0 || !suite->metrics)
        return;
    int m = suite->metrics (a->stats, cs->n, cs->metrics, OFR_MAX_METRICS);
    if (m < 0)
        ofr_log (OFR_WARN, "report: cell %d: suite %s could not compute its metrics",
                 c->index, suite->name);
    cs->n_metrics = m < 0 ? 0 : m > OFR_MAX_METRICS ? OFR_MAX_METRICS : m;
}

/*  The suite's primary metric over the examples that exited at each layer
    (the dashboard's per-layer accuracy): where the cheap exits are right. */
static int
compute_exit_metrics (const ofr_suite_class *suite, cell_sum *cs, const cell_acc *a)
{
    if (cs->hist_n == 0)
        return 0;
    cs->exit_metric = ofr_calloc (cs->hist_n, sizeof (double));
    if (!cs->exit_metric)
        return -1;
    for (size_t l = 0; l < cs->hist_n; l++)
        cs->exit_metric[l] = NAN;
    if (!suite || !suite->metrics || !a->stats_ok || a->stats_n == 0 || suite->n_stats <= 0)
        return 0;
    size_t k = (size_t) suite->n_stats;
    double *sub = ofr_calloc (a->stats_n * k, sizeof (double));
    if (!sub)
        return -1;
    for (size_t l = 0; l < cs->hist_n; l++) {
        int n = 0;
        for (size_t i = 0; i < a->stats_n; i++)
            if (a->exit_of[i] == (int) l + 1)
                memcpy (sub + (size_t) n++ * k, a->stats + i * k, k * sizeof (double));
        ofr_metric m[OFR_MAX_METRICS];
        int got = n > 0 ? suite->metrics (sub, n, m, OFR_MAX_METRICS) : 0;
        for (int j = 0; j < got && j < OFR_MAX_METRICS; j++)
            if (suite->primary && strcmp (m[j].name, suite->primary) == 0)
                cs->exit_metric[l] = m[j].value;
    }
    free (sub);
    return 0;
}

static void
finish_cell (cell_sum *cs, const cell_acc *a)
{
    double n = cs->n;
    cs->flops_mean = cs->n ? a->flops / n : NAN;
    cs->flops_full = cs->n ? a->flops_full / n : NAN;
    cs->rel_flops = a->flops_full > 0 ? a->flops / a->flops_full : NAN;
    cs->mean_exit = a->exits ? a->exit_sum / (double) a->exits : NAN;
    cs->wall_ms_mean = cs->n ? a->wall / n : NAN;
    cs->mean_skipped = cs->n ? a->skipped / n : NAN;
    cs->speedup = NAN;
}

static int
summarize_cell (ofr_store *self, int64_t run, cell_sum *cs, char *err, size_t errlen)
{
    const ofr_cell *c = &cs->row->cell;
    const ofr_suite_class *suite = ofr_suite_find (c->suite);
    cell_acc a = { .stats_ok = suite != NULL && suite->n_stats >= 0 };
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2 (ofr_store_db (self),
                            "SELECT stats, exit_layer, token_exits, n_layers, flops, "
                            "flops_full, wall_ms, skipped FROM examples WHERE run = ?1 AND "
                            "cell = ?2 "
                            "ORDER BY example", -1, &st, NULL) != SQLITE_OK)
        return ofr_store_sqlerr (self, "reading examples", err, errlen);
    sqlite3_bind_int64 (st, 1, run);
    sqlite3_bind_int (st, 2, c->index);
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step (st)) == SQLITE_ROW)
        bad = add_example (st, suite, cs, &a);
    sqlite3_finalize (st);
    if (!bad && cs->row->n_layers > 0)
        bad = hist_widen (cs, (size_t) cs->row->n_layers);
    if (bad) {
        free (a.stats);
        free (a.exit_of);
        return ofr_errf (err, errlen, "%s: cell %d: out of memory", ofr_store_path (self),
                         c->index);
    }
    if (rc != SQLITE_DONE) {
        free (a.stats);
        free (a.exit_of);
        return ofr_store_sqlerr (self, "reading examples", err, errlen);
    }
    compute_metrics (suite, cs, &a);
    bad = compute_exit_metrics (suite, cs, &a);
    finish_cell (cs, &a);
    free (a.stats);
    free (a.exit_of);
    return bad ? ofr_errf (err, errlen, "%s: cell %d: out of memory", ofr_store_path (self),
                           c->index) : 0;
}

static bool
same_str (const char *a, const char *b)
{
    return strcmp (a ? a : "", b ? b : "") == 0;
}

/*  The baseline of a cell: the parameterless `full` cell evaluating the
    same examples of the same model. */
static void
compute_speedups (report *r)
{
    for (int i = 0; i < r->n; i++) {
        const ofr_cell *c = &r->rows[i].cell;
        for (int j = 0; j < r->n; j++) {
            const ofr_cell *b = &r->rows[j].cell;
            if (strcmp (b->method, "full") != 0 || b->n_params != 0
                || !same_str (b->model, c->model) || !same_str (b->suite, c->suite)
                || !same_str (b->split, c->split) || b->limit != c->limit)
                continue;
            double base = r->sums[j].wall_ms_mean, mine = r->sums[i].wall_ms_mean;
            if (isfinite (base) && isfinite (mine) && mine > 0)
                r->sums[i].speedup = base / mine;
            break;
        }
    }
}

static void
report_free (report *r)
{
    for (int i = 0; r->sums && i < r->n; i++) {
        free (r->sums[i].hist);
        free (r->sums[i].exit_metric);
        free (r->sums[i].skip_hist);
    }
    free (r->sums);
    ofr_store_cell_rows_free (&r->rows, r->n);
    free (r->name);
    free (r->status);
}

static int
report_load (ofr_store *self, int64_t run, report *r, char *err, size_t errlen)
{
    r->run = run;
    if (ofr_store_run_info (self, run, &r->name, &r->status, err, errlen) != 0
        || ofr_store_cell_rows (self, run, &r->rows, &r->n, err, errlen) != 0)
        return -1;
    r->sums = ofr_calloc ((size_t) r->n, sizeof (cell_sum));
    if (!r->sums)
        return ofr_errf (err, errlen, "%s: out of memory", ofr_store_path (self));
    for (int i = 0; i < r->n; i++) {
        r->sums[i].row = &r->rows[i];
        if (summarize_cell (self, run, &r->sums[i], err, errlen) != 0)
            return -1;
    }
    compute_speedups (r);
    return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_cell (ofr_buf *b, const cell_sum *cs, unsigned flags)
{
    const ofr_cell *c = &cs->row->cell;
    ofr_buf_puts (b, "{\"model\":");
    ofr_buf_json_str (b, c->model);
    ofr_buf_puts (b, ",\"suite\":");
    ofr_buf_json_str (b, c->suite);
    ofr_buf_puts (b, ",\"method\":");
    ofr_buf_json_str (b, c->method);
    ofr_buf_puts (b, ",\"params\":{");
    for (int i = 0; i < c->n_params; i++) {
        ofr_buf_puts (b, i ? "," : "");
        ofr_buf_json_str (b, c->params[i].key);
        ofr_buf_puts (b, ":");
        ofr_buf_json_str (b, c->params[i].value);
    }
    ofr_buf_printf (b, "},\"n\":%d,\"total\":%d,\"status\":", cs->n, cs->row->total);
    ofr_buf_json_str (b, cs->row->status);
    ofr_buf_puts (b, ",\"metrics\":{");
    for (int i = 0; i < cs->n_metrics; i++) {
        ofr_buf_puts (b, i ? "," : "");
        ofr_buf_json_str (b, cs->metrics[i].name);
        ofr_buf_puts (b, ":");
        ofr_buf_json_num (b, cs->metrics[i].value);
    }
    const struct { const char *key; double v; } nums[] = {
        { "flops_mean", cs->flops_mean }, { "flops_full", cs->flops_full },
        { "rel_flops", cs->rel_flops }, { "mean_exit_layer", cs->mean_exit },
    };
    ofr_buf_puts (b, "}");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        ofr_buf_printf (b, ",\"%s\":", nums[i].key);
        ofr_buf_json_num (b, nums[i].v);
    }
    ofr_buf_puts (b, ",\"exit_hist\":[");
    for (size_t i = 0; i < cs->hist_n; i++)
        ofr_buf_printf (b, "%s%lld", i ? "," : "", (long long) cs->hist[i]);
    ofr_buf_puts (b, "],\"exit_metric\":[");
    for (size_t i = 0; i < cs->hist_n; i++) {
        ofr_buf_puts (b, i ? "," : "");
        ofr_buf_json_num (b, cs->exit_metric ? cs->exit_metric[i] : NAN);
    }
    ofr_buf_puts (b, "],\"mean_skipped\":");
    ofr_buf_json_num (b, cs->mean_skipped);
    ofr_buf_puts (b, ",\"skip_hist\":[");
    for (size_t i = 0; i < cs->skip_n; i++)
        ofr_buf_printf (b, "%s%lld", i ? "," : "", (long long) cs->skip_hist[i]);
    ofr_buf_puts (b, "]");
    if (!(flags & OFR_REPORT_NO_TIMING)) {
        ofr_buf_puts (b, ",\"wall_ms_mean\":");
        ofr_buf_json_num (b, cs->wall_ms_mean);
        ofr_buf_puts (b, ",\"speedup\":");
        ofr_buf_json_num (b, cs->speedup);
    }
    ofr_buf_puts (b, "}");
}

/*  One cell per line: diffable, and still a single JSON document. */
static void
render_json (ofr_buf *b, const report *r)
{
    ofr_buf_puts (b, "{");
    if (!(r->flags & OFR_REPORT_NO_RUN_ID))
        ofr_buf_printf (b, "\"run\":%lld,", (long long) r->run);
    ofr_buf_puts (b, "\"name\":");
    ofr_buf_json_str (b, r->name);
    ofr_buf_puts (b, ",\"cells\":[");
    for (int i = 0; i < r->n; i++) {
        ofr_buf_puts (b, i ? ",\n " : "\n ");
        json_cell (b, &r->sums[i], r->flags);
    }
    ofr_buf_puts (b, r->n ? "\n]}\n" : "]}\n");
}

/* ---- CSV --------------------------------------------------------------- */

static void
csv_str (ofr_buf *b, const char *s)
{
    s = s ? s : "";
    if (!strpbrk (s, ",\"\r\n")) {
        ofr_buf_puts (b, s);
        return;
    }
    ofr_buf_puts (b, "\"");
    for (const char *p = s; *p; p++)
        ofr_buf_puts (b, *p == '"' ? "\"\"" : (char[2]) { *p, 0 });
    ofr_buf_puts (b, "\"");
}

static void
csv_num (ofr_buf *b, double v)
{
    if (isfinite (v))
        ofr_buf_json_num (b, v);
}

/*  Metric columns are the union over the run's cells, in first-seen order,
    so cells of different suites share one header. */
static int
metric_columns (const report *r, const char ***names, int *n)
{
    *n = 0;
    size_t cap = 0;
    *names = NULL;
    for (int i = 0; i < r->n; i++)
        for (int m = 0; m < r->sums[i].n_metrics; m++) {
            const char *name = r->sums[i].metrics[m].name;
            int k = 0;
            while (k < *n && strcmp ((*names)[k], name) != 0)
                k++;
            if (k < *n)
                continue;
            if (ofr_grow ((void **) names, &cap, (size_t) *n + 1, sizeof (char *)) != 0)
                return -1;
            (*names)[(*n)++] = name;
        }
    return 0;
}

static void
csv_cell (ofr_buf *b, const report *r, const cell_sum *cs, const char **mnames, int n_m)
{
    const ofr_cell *c = &cs->row->cell;
    if (!(r->flags & OFR_REPORT_NO_RUN_ID))
        ofr_buf_printf (b, "%lld,", (long long) r->run);
    ofr_buf_printf (b, "%d,", c->index);
    const char *strs[] = { c->model, c->suite, c->split };
    for (int i = 0; i < 3; i++) {
        csv_str (b, strs[i]);
        ofr_buf_puts (b, ",");
    }
    ofr_buf_printf (b, "%d,", c->limit);
    csv_str (b, c->method);
    ofr_buf_puts (b, ",");
    char *params = ofr_cell_params_str (c);
    if (!params)
        b->oom = true;
    csv_str (b, params);
    free (params);
    ofr_buf_printf (b, ",%d,%d,", cs->n, cs->row->total);
    csv_str (b, cs->row->status);
    ofr_buf_puts (b, ",");
    csv_str (b, cs->row->reason);
    for (int k = 0; k < n_m; k++) {
        ofr_buf_puts (b, ",");
        for (int m = 0; m < cs->n_metrics; m++)
            if (strcmp (cs->metrics[m].name, mnames[k]) == 0)
                csv_num (b, cs->metrics[m].value);
    }
    const double nums[] = { cs->flops_mean, cs->flops_full, cs->rel_flops, cs->mean_exit };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        ofr_buf_puts (b, ",");
        csv_num (b, nums[i]);
    }
    ofr_buf_puts (b, ",");
    for (size_t i = 0; i < cs->hist_n; i++)
        ofr_buf_printf (b, "%s%lld", i ? " " : "", (long long) cs->hist[i]);
    if (!(r->flags & OFR_REPORT_NO_TIMING)) {
        ofr_buf_puts (b, ",");
        csv_num (b, cs->wall_ms_mean);
        ofr_buf_puts (b, ",");
        csv_num (b, cs->speedup);
    }
    ofr_buf_puts (b, "\n");
}

static int
render_csv (ofr_buf *b, const report *r)
{
    const char **mnames;
    int n_m;
    if (metric_columns (r, &mnames, &n_m) != 0)
        return -1;
    if (!(r->flags & OFR_REPORT_NO_RUN_ID))
        ofr_buf_puts (b, "run,");
    ofr_buf_puts (b, "cell,model,suite,split,limit,method,params,n,total,status,reason");
    for (int k = 0; k < n_m; k++) {
        ofr_buf_puts (b, ",");
        csv_str (b, mnames[k]);
    }
    ofr_buf_puts (b, ",flops_mean,flops_full,rel_flops,mean_exit_layer,exit_hist");
    if (!(r->flags & OFR_REPORT_NO_TIMING))
        ofr_buf_puts (b, ",wall_ms_mean,speedup");
    ofr_buf_puts (b, "\n");
    for (int i = 0; i < r->n; i++)
        csv_cell (b, r, &r->sums[i], mnames, n_m);
    free (mnames);
    return 0;
}

/* ---- table ------------------------------------------------------------- */

enum { C_MODEL, C_SUITE, C_METHOD, C_PARAMS, C_DONE, C_METRICS, C_FLOPS, C_SPEEDUP,
       C_EXIT, C_HIST, C_STATUS, N_COLS };

static const struct { const char *title; bool right; } s_cols[N_COLS] = {
    { "model", false }, { "suite", false }, { "method", false }, { "params", false },
    { "n/total", true }, { "metrics", false }, { "rel FLOPs", true },
    { "speed-up", true }, { "mean exit", true }, { "exits by layer", false },
    { "status", false },
};

/*  Terminal columns of UTF-8 text: one per code point (no wide glyphs in
    what we print ourselves). */
static size_t
display_width (const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        w += (*p & 0xC0) != 0x80;
    return w;
}

static void
fmt_num (ofr_buf *b, const char *fmt, double v)
{
    if (isfinite (v))
        ofr_buf_printf (b, fmt, v);
    else
        ofr_buf_puts (b, "-");
}

/*  One bar per layer, scaled to the busiest layer; '·' = nobody exited. */
static void
sparkline (ofr_buf *b, const cell_sum *cs)
{
    static const char *const bars[8] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
    int64_t max = 0;
    for (size_t i = 0; i < cs->hist_n; i++)
        max = cs->hist[i] > max ? cs->hist[i] : max;
    for (size_t i = 0; i < cs->hist_n; i++)
        ofr_buf_puts (b, cs->hist[i] == 0 ? "·"
                         : bars[(cs->hist[i] * 8 - 1) / max]);
    if (cs->hist_n == 0)
        ofr_buf_puts (b, "-");
}

static char *
table_field (const cell_sum *cs, int col)
{
    const ofr_cell *c = &cs->row->cell;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, "", 0);
    switch (col) {
    case C_MODEL:  ofr_buf_puts (&b, c->model); break;
    case C_SUITE:  ofr_buf_puts (&b, c->suite); break;
    case C_METHOD: ofr_buf_puts (&b, c->method); break;
    case C_PARAMS:
        for (int i = 0; i < c->n_params; i++)
            ofr_buf_printf (&b, "%s%s=%s", i ? "," : "", c->params[i].key, c->params[i].value);
        if (c->n_params == 0)
            ofr_buf_puts (&b, "-");
        break;
    case C_DONE:   ofr_buf_printf (&b, "%d/%d", cs->n, cs->row->total); break;
    case C_METRICS:
        for (int i = 0; i < cs->n_metrics; i++) {
            ofr_buf_printf (&b, "%s%s ", i ? ", " : "", cs->metrics[i].name);
            fmt_num (&b, "%.2f", cs->metrics[i].value);
        }
        if (cs->n_metrics == 0)
            ofr_buf_puts (&b, "-");
        break;
    case C_FLOPS:   fmt_num (&b, "%.3f", cs->rel_flops); break;
    case C_SPEEDUP: fmt_num (&b, "%.2fx", cs->speedup); break;
    case C_EXIT:    fmt_num (&b, "%.2f", cs->mean_exit); break;
    case C_HIST:    sparkline (&b, cs); break;
    case C_STATUS:  ofr_buf_puts (&b, cs->row->status); break;
    }
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

/*  A newline in a parameter value must not break the table's rows. */
static char *
table_clean (char *s)
{
    if (!s)
        return NULL;
    bool dirty = false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        dirty |= *p < 0x20 || *p == 0x7f;
    if (!dirty)
        return s;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, "", 0);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            ofr_buf_printf (&b, "\\x%02x", *p);
        else
            ofr_buf_append (&b, p, 1);
    free (s);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static void
table_row (ofr_buf *b, char *const *fields, const size_t *width, const bool *shown)
{
    bool first = true;
    for (int k = 0; k < N_COLS; k++) {
        if (!shown[k])
            continue;
        size_t pad = width[k] - display_width (fields[k]);
        ofr_buf_puts (b, first ? "" : "  ");
        first = false;
        if (s_cols[k].right)
            ofr_buf_printf (b, "%*s", (int) pad, "");
        ofr_buf_puts (b, fields[k]);
        if (!s_cols[k].right && k != N_COLS - 1)
            ofr_buf_printf (b, "%*s", (int) pad, "");
    }
    ofr_buf_puts (b, "\n");
}

static void
table_title (ofr_buf *b, const report *r)
{
    if (!(r->flags & OFR_REPORT_NO_RUN_ID))
        ofr_buf_printf (b, "run %lld: ", (long long) r->run);
    ofr_buf_printf (b, "%s (%s), %d cell%s\n", r->name, r->status, r->n, r->n == 1 ? "" : "s");
}

static void
table_notes (ofr_buf *b, const report *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->rows[i].reason)
            ofr_buf_printf (b, "cell %d (%s): %s: %s\n", i, r->rows[i].cell.method,
                            r->rows[i].status, r->rows[i].reason);
}

static int
render_table (ofr_buf *b, const report *r)
{
    size_t n_fields = (size_t) r->n * N_COLS;
    char **f = ofr_calloc (n_fields, sizeof (char *));
    if (!f)
        return -1;
    size_t width[N_COLS];
    bool shown[N_COLS];
    const char *titles[N_COLS];
    int rc = 0;
    for (int k = 0; k < N_COLS; k++) {
        titles[k] = s_cols[k].title;
        width[k] = display_width (titles[k]);
        shown[k] = k != C_SPEEDUP || !(r->flags & OFR_REPORT_NO_TIMING);
    }
    for (size_t i = 0; i < n_fields && rc == 0; i++) {
        f[i] = table_clean (table_field (&r->sums[i / N_COLS], (int) (i % N_COLS)));
        if (!f[i])
            rc = -1;
        else if (display_width (f[i]) > width[i % N_COLS])
            width[i % N_COLS] = display_width (f[i]);
    }
    if (rc == 0) {
        table_title (b, r);
        table_row (b, (char *const *) titles, width, shown);
        for (int i = 0; i < r->n; i++)
            table_row (b, f + (size_t) i * N_COLS, width, shown);
        table_notes (b, r);
    }
    for (size_t i = 0; i < n_fields; i++)
        free (f[i]);
    free (f);
    return rc;
}

/* ---- entry points ------------------------------------------------------ */

static int
render (ofr_buf *b, const report *r, ofr_report_format fmt)
{
    switch (fmt) {
    case OFR_REPORT_JSON:  render_json (b, r); return 0;
    case OFR_REPORT_CSV:   return render_csv (b, r);
    case OFR_REPORT_TABLE: return render_table (b, r);
    }
    return -1;
}

/*  Read everything inside one read transaction (a savepoint, so that it
    also works inside a caller's transaction): a report taken while the
    coordinator writes is a consistent snapshot. */
int
ofr_store_report_flags (ofr_store *self, int64_t run_id, ofr_report_format fmt,
                        unsigned flags, FILE *out, char *err, size_t errlen)
{
    if (fmt != OFR_REPORT_TABLE && fmt != OFR_REPORT_CSV && fmt != OFR_REPORT_JSON)
        return ofr_errf (err, errlen, "report: unknown format %d", (int) fmt);
    if (sqlite3_exec (ofr_store_db (self), "SAVEPOINT ofr_report", NULL, NULL, NULL) != SQLITE_OK)
        return ofr_store_sqlerr (self, "report", err, errlen);
    report r = { .flags = flags };
    ofr_buf b;
    ofr_buf_init (&b);
    int rc = report_load (self, run_id, &r, err, errlen);
    sqlite3_exec (ofr_store_db (self), "RELEASE ofr_report", NULL, NULL, NULL);
    if (rc == 0 && (render (&b, &r, fmt) != 0 || b.oom))
        rc = ofr_errf (err, errlen, "%s: report: out of memory", ofr_store_path (self));
    if (rc == 0 && (fwrite (b.data, 1, b.len, out) != b.len || fflush (out) != 0))
        rc = ofr_errf (err, errlen, "%s: report: write error", ofr_store_path (self));
    ofr_buf_free (&b);
    report_free (&r);
    return rc;
}

int
ofr_store_report (ofr_store *self, int64_t run_id, ofr_report_format fmt,
                  FILE *out, char *err, size_t errlen)
{
    return ofr_store_report_flags (self, run_id, fmt, 0, out, err, errlen);
}
