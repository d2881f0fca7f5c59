/*  model.c -- the dashboard's state from JSON documents (model.h). */
#include "model.h"
#include "../common/ofr_common.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

ofr_tui_model *
ofr_tui_model_new (void)
{
    ofr_tui_model *self = ofr_calloc (1, sizeof *self);
    if (self)
        self->run = -1;
    return self;
}

static void
cell_clear (ofr_tui_cell *c)
{
    free (c->model);
    free (c->suite);
    free (c->method);
    free (c->params);
    free (c->label);
    free (c->status);
    free (c->metric);
    free (c->hist);
    free (c->exit_metric);
}

static void
workers_free (ofr_tui_model *self)
{
    for (int i = 0; i < self->n_workers; i++) {
        free (self->workers[i].name);
        free (self->workers[i].host);
    }
    free (self->workers);
    self->workers = NULL;
    self->n_workers = 0;
}

void
ofr_tui_model_destroy (ofr_tui_model **self_p)
{
    ofr_tui_model *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n_cells; i++)
        cell_clear (&self->cells[i]);
    free (self->cells);
    workers_free (self);
    for (int i = 0; i < OFR_TUI_LOGS; i++)
        free (self->logs[i]);
    free (self->name);
    free (self->filter);
    free (self->rows);
    free (self);
    *self_p = NULL;
}

/* ---- JSON helpers -------------------------------------------------------- */

/*  Numbers: JSON null (the report's NaN) reads as NAN. */
static double
num (const json_t *o, const char *key)
{
    const json_t *v = json_object_get (o, key);
    return json_is_number (v) ? json_number_value (v) : NAN;
}

static int64_t
int_or (const json_t *o, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get (o, key);
    return json_is_integer (v) ? (int64_t) json_integer_value (v) : dflt;
}

static bool
bool_or (const json_t *o, const char *key, bool dflt)
{
    const json_t *v = json_object_get (o, key);
    return json_is_boolean (v) ? json_is_true (v) : dflt;
}

/*  Replace *dst with a copy of string key of o ("" if absent). */
static int
set_str (char **dst, const json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    char *copy = ofr_strdup (s ? s : "");
    if (!copy)
        return -1;
    free (*dst);
    *dst = copy;
    return 0;
}

static int
clamp_int (int64_t v)
{
    return v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int) v;
}

/* ---- cells --------------------------------------------------------------- */

static int
ensure_cells (ofr_tui_model *self, size_t n, char *err, size_t errlen)
{
    if (n > (1u << 20))
        return ofr_errf (err, errlen, "%zu cells: too many", n);
    if ((int) n <= self->n_cells)
        return 0;
    ofr_tui_cell *c = realloc (self->cells, n * sizeof *c);
    int *rows = realloc (self->rows, n * sizeof *rows);
    if (c)
        self->cells = c;
    if (rows)
        self->rows = rows;
    if (!c || !rows)
        return ofr_errf (err, errlen, "out of memory");
    for (size_t i = (size_t) self->n_cells; i < n; i++) {
        memset (&c[i], 0, sizeof c[i]);
        c[i].index = (int) i;
        c[i].value = c[i].ci = c[i].rel_flops = c[i].exp_speedup = NAN;
        c[i].speedup = c[i].mean_exit = NAN;
    }
    self->n_cells = (int) n;
    return 0;
}

static int
cell_strings (ofr_tui_cell *c, const json_t *o)
{
    if (set_str (&c->model, o, "model") || set_str (&c->suite, o, "suite")
        || set_str (&c->method, o, "method") || set_str (&c->status, o, "status"))
        return -1;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, "", 0);
    const char *k;
    json_t *v;
    int i = 0;
    json_object_foreach (json_object_get (o, "params"), k, v) {
        const char *s = json_string_value (v);
        ofr_buf_printf (&b, "%s%s=%s", i++ ? "," : "", k, s ? s : "?");
    }
    char *label = NULL;
    if (!b.oom)
        label = ofr_calloc (1, strlen (c->method) + b.len + 2);
    if (!label) {
        ofr_buf_free (&b);
        return -1;
    }
    sprintf (label, "%s%s%s", c->method, b.len ? " " : "", b.data);
    free (c->params);
    free (c->label);
    c->params = b.data;
    c->label = label;
    return 0;
}

/*  The primary metric: the suite's (if the model was told how to find it),
    else the report's first. */
static int
cell_metric (ofr_tui_model *self, ofr_tui_cell *c, const json_t *metrics)
{
    const char *want = self->primary ? self->primary (c->suite) : NULL;
    const char *name = NULL;
    const json_t *val = NULL;
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *) metrics, k, v) {
        if (!name || (want && strcmp (k, want) == 0)) {
            name = k;
            val = v;
        }
        if (want && strcmp (k, want) == 0)
            break;
    }
    free (c->metric);
    c->metric = name ? ofr_strdup (name) : NULL;
    if (name && !c->metric)
        return -1;
    c->value = json_is_number (val) ? json_number_value (val) : NAN;
    return 0;
}

static int
cell_hist (ofr_tui_cell *c, const json_t *hist, char *err, size_t errlen)
{
    size_t n = json_array_size (hist);
    if (n > 4096)
        return ofr_errf (err, errlen, "exit_hist of %zu layers: too many", n);
    int64_t *h = ofr_calloc (n ? n : 1, sizeof *h);
    if (!h)
        return ofr_errf (err, errlen, "out of memory");
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get (hist, i);
        h[i] = json_is_integer (v) && json_integer_value (v) > 0 ? json_integer_value (v) : 0;
        sum += h[i];
    }
    free (c->hist);
    c->hist = h;
    c->hist_n = (int) n;
    c->hist_sum = sum;
    return 0;
}

/* The report's exit_metric, aligned with the histogram (absent: NULL). */
static int
cell_exit_metric (ofr_tui_cell *c, const json_t *arr, char *err, size_t errlen)
{
    free (c->exit_metric);
    c->exit_metric = NULL;
    if (!json_is_array (arr) || c->hist_n == 0)
        return 0;
    c->exit_metric = ofr_calloc ((size_t) c->hist_n, sizeof (double));
    if (!c->exit_metric)
        return ofr_errf (err, errlen, "out of memory");
    for (int i = 0; i < c->hist_n; i++) {
        const json_t *v = json_array_get (arr, (size_t) i);
        c->exit_metric[i] = json_is_number (v) ? json_number_value (v) : NAN;
    }
    return 0;
}

static int
apply_report_cell (ofr_tui_model *self, ofr_tui_cell *c, const json_t *o,
                   char *err, size_t errlen)
{
    if (!json_is_object (o))
        return ofr_errf (err, errlen, "report cell %d: expected an object", c->index);
    if (cell_strings (c, o) || cell_metric (self, c, json_object_get (o, "metrics")))
        return ofr_errf (err, errlen, "out of memory");
    c->n = clamp_int (int_or (o, "n", 0));
    c->total = clamp_int (int_or (o, "total", c->total));
    if (c->n > c->done)
        c->done = c->n;
    c->failed = c->status && strcmp (c->status, "failed") == 0;
    c->rel_flops = num (o, "rel_flops");
    c->speedup = num (o, "speedup");
    c->mean_exit = num (o, "mean_exit_layer");
    if (cell_hist (c, json_object_get (o, "exit_hist"), err, errlen) != 0)
        return -1;
    return cell_exit_metric (c, json_object_get (o, "exit_metric"), err, errlen);
}

/*  What the report leaves to the reader: a binomial 95% interval for
    accuracies (in %, as suites report them), the speed-up FLOPs promise,
    and the Pareto front of each suite (assuming higher metric is better,
    which holds for every suite's primary metric but WER-like ones). */
static void
derive (ofr_tui_model *self)
{
    for (int i = 0; i < self->n_cells; i++) {
        ofr_tui_cell *c = &self->cells[i];
        c->ci = NAN;
        if (c->metric && strncmp (c->metric, "acc", 3) == 0 && c->n > 0 && isfinite (c->value)) {
            double p = c->value / 100.0;
            p = p < 0 ? 0 : p > 1 ? 1 : p;
            c->ci = 196.0 * sqrt (p * (1 - p) / c->n);
        }
        c->exp_speedup = c->rel_flops > 0 ? 1.0 / c->rel_flops : NAN;
    }
    for (int i = 0; i < self->n_cells; i++) {
        ofr_tui_cell *a = &self->cells[i];
        a->pareto = isfinite (a->value) && isfinite (a->rel_flops) && a->suite;
        for (int j = 0; j < self->n_cells && a->pareto; j++) {
            const ofr_tui_cell *b = &self->cells[j];
            if (j == i || !b->suite || strcmp (a->suite, b->suite) != 0
                || !isfinite (b->value) || !isfinite (b->rel_flops))
                continue;
            if (b->value >= a->value && b->rel_flops <= a->rel_flops
                && (b->value > a->value || b->rel_flops < a->rel_flops))
                a->pareto = false;
        }
    }
}

/* ---- view ---------------------------------------------------------------- */

static const ofr_tui_model *s_sorting;   /* qsort has no context argument */

static int
cmp_num (double a, double b, bool desc)
{
    /* Unknown values sort last whatever the direction. */
    if (isnan (a) || isnan (b))
        return isnan (a) - isnan (b);
    return a < b ? (desc ? 1 : -1) : a > b ? (desc ? -1 : 1) : 0;
}

static int
cmp_rows (const void *pa, const void *pb)
{
    const ofr_tui_cell *a = &s_sorting->cells[*(const int *) pa];
    const ofr_tui_cell *b = &s_sorting->cells[*(const int *) pb];
    int r = 0;
    switch (s_sorting->sort) {
    case OFR_TUI_SORT_METRIC:  r = cmp_num (a->value, b->value, true); break;
    case OFR_TUI_SORT_FLOPS:   r = cmp_num (a->rel_flops, b->rel_flops, false); break;
    case OFR_TUI_SORT_SPEEDUP: r = cmp_num (a->speedup, b->speedup, true); break;
    case OFR_TUI_SORT_EXIT:    r = cmp_num (a->mean_exit, b->mean_exit, false); break;
    case OFR_TUI_SORT_DONE:    r = cmp_num (a->done, b->done, true); break;
    case OFR_TUI_SORT_NAME:
        r = strcmp (a->label ? a->label : "", b->label ? b->label : "");
        break;
    }
    return r ? r : a->index - b->index;
}

static bool
contains_ci (const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t n = strlen (needle);
    for (; *hay; hay++)
        if (strncasecmp (hay, needle, n) == 0)
            return true;
    return false;
}

static bool
matches (const ofr_tui_cell *c, const char *f)
{
    return !f || !*f || contains_ci (c->model, f) || contains_ci (c->suite, f)
           || contains_ci (c->method, f) || contains_ci (c->params, f);
}

static void
rebuild_rows (ofr_tui_model *self)
{
    self->n_rows = 0;
    for (int i = 0; i < self->n_cells; i++)
        if (matches (&self->cells[i], self->filter))
            self->rows[self->n_rows++] = i;
    s_sorting = self;
    if (self->n_rows > 1)
        qsort (self->rows, (size_t) self->n_rows, sizeof (int), cmp_rows);
    s_sorting = NULL;
}

void
ofr_tui_model_sort_next (ofr_tui_model *self)
{
    self->sort = (self->sort + 1) % OFR_TUI_N_SORTS;
    rebuild_rows (self);
}

int
ofr_tui_model_set_filter (ofr_tui_model *self, const char *text)
{
    char *copy = text && *text ? ofr_strdup (text) : NULL;
    if (text && *text && !copy)
        return -1;
    free (self->filter);
    self->filter = copy;
    rebuild_rows (self);
    return 0;
}

const char *
ofr_tui_sort_name (int sort)
{
    static const char *const names[OFR_TUI_N_SORTS] = {
        "plan order", "metric", "rel FLOPs", "speed-up", "mean exit", "done", "name" };
    return sort >= 0 && sort < OFR_TUI_N_SORTS ? names[sort] : "?";
}

const ofr_tui_cell *
ofr_tui_model_row (const ofr_tui_model *self, int i)
{
    return i >= 0 && i < self->n_rows ? &self->cells[self->rows[i]] : NULL;
}

double
ofr_tui_model_elapsed (const ofr_tui_model *self, double now_ms)
{
    if (self->progress_at <= 0)
        return 0;
    if (self->finished || now_ms < self->progress_at)
        return self->elapsed;
    return self->elapsed + (now_ms - self->progress_at) / 1000.0;
}

double
ofr_tui_model_eta (const ofr_tui_model *self)
{
    if (self->finished || self->done >= self->total)
        return 0;
    return self->rate > 0 ? (double) (self->total - self->done) / self->rate : -1;
}

/* ---- documents ----------------------------------------------------------- */

static int
apply_run (ofr_tui_model *self, const json_t *o, char *err, size_t errlen)
{
    self->run = int_or (o, "run", self->run);
    if (set_str (&self->name, o, "name"))
        return ofr_errf (err, errlen, "out of memory");
    self->paused = bool_or (o, "paused", self->paused);
    self->finished = bool_or (o, "finished", self->finished);
    self->total = int_or (o, "total", self->total);
    int64_t n = int_or (o, "cells", 0);
    return ensure_cells (self, n > 0 ? (size_t) n : 0, err, errlen);
}

static int
apply_workers (ofr_tui_model *self, const json_t *list, char *err, size_t errlen)
{
    size_t n = json_array_size (list);
    if (n > 65536)
        return ofr_errf (err, errlen, "%zu workers: too many", n);
    ofr_tui_worker *w = ofr_calloc (n ? n : 1, sizeof *w);
    if (!w)
        return ofr_errf (err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get (list, i);
        w[i].id = int_or (o, "id", 0);
        w[i].pid = int_or (o, "pid", 0);
        w[i].task = int_or (o, "task", -1);
        w[i].done = int_or (o, "done", 0);
        w[i].cell = (int) int_or (o, "cell", -1);
        w[i].rate = num (o, "rate");
        w[i].hb_ms = num (o, "hb_ms");
        const char *st = json_string_value (json_object_get (o, "state"));
        snprintf (w[i].state, sizeof w[i].state, "%s", st ? st : "?");
        if (set_str (&w[i].name, o, "name") || set_str (&w[i].host, o, "host")) {
            for (size_t k = 0; k <= i; k++) {
                free (w[k].name);
                free (w[k].host);
            }
            free (w);
            return ofr_errf (err, errlen, "out of memory");
        }
    }
    workers_free (self);
    self->workers = w;
    self->n_workers = (int) n;
    return 0;
}

static int
apply_progress (ofr_tui_model *self, const json_t *o, double now, char *err, size_t errlen)
{
    self->done = int_or (o, "done", self->done);
    self->total = int_or (o, "total", self->total);
    double rate = num (o, "rate"), elapsed = num (o, "elapsed");
    self->rate = isfinite (rate) ? rate : 0;
    self->elapsed = isfinite (elapsed) ? elapsed : 0;
    self->progress_at = now;
    self->alive = (int) int_or (o, "workers", 0);
    self->paused = bool_or (o, "paused", self->paused);
    self->finished = bool_or (o, "finished", self->finished);
    const json_t *cells = json_object_get (o, "cells");
    if (ensure_cells (self, json_array_size (cells), err, errlen))
        return -1;
    for (size_t i = 0; i < json_array_size (cells); i++) {
        const json_t *t = json_array_get (cells, i);
        ofr_tui_cell *c = &self->cells[i];
        if (json_is_integer (json_array_get (t, 0)))
            c->done = clamp_int (json_integer_value (json_array_get (t, 0)));
        if (json_is_integer (json_array_get (t, 1)))
            c->total = clamp_int (json_integer_value (json_array_get (t, 1)));
        c->failed |= json_is_true (json_array_get (t, 2));
    }
    return apply_workers (self, json_object_get (o, "worker_list"), err, errlen);
}

static int
apply_report (ofr_tui_model *self, const json_t *o, char *err, size_t errlen)
{
    const json_t *r = json_object_get (o, "report");
    if (json_is_null (r) || !r)
        return 0;
    const json_t *cells = json_object_get (r, "cells");
    if (!json_is_array (cells))
        return ofr_errf (err, errlen, "report: no cells array");
    if (ensure_cells (self, json_array_size (cells), err, errlen))
        return -1;
    for (size_t i = 0; i < json_array_size (cells); i++)
        if (apply_report_cell (self, &self->cells[i], json_array_get (cells, i), err, errlen))
            return -1;
    return 0;
}

static int
apply_log (ofr_tui_model *self, const json_t *o, char *err, size_t errlen)
{
    const char *text = json_string_value (json_object_get (o, "text"));
    char *copy = ofr_strdup (text ? text : "");
    if (!copy)
        return ofr_errf (err, errlen, "out of memory");
    if (self->n_logs == OFR_TUI_LOGS) {
        free (self->logs[0]);
        memmove (self->logs, self->logs + 1, (OFR_TUI_LOGS - 1) * sizeof self->logs[0]);
        memmove (self->log_levels, self->log_levels + 1,
                 (OFR_TUI_LOGS - 1) * sizeof self->log_levels[0]);
        self->n_logs--;
    }
    self->logs[self->n_logs] = copy;
    self->log_levels[self->n_logs++] = (int) int_or (o, "level", 0);
    return 0;
}

static int apply_doc (ofr_tui_model *self, const json_t *o, double now, char *err,
                      size_t errlen);

static int
apply_snapshot (ofr_tui_model *self, const json_t *o, double now, char *err, size_t errlen)
{
    const char *parts[] = { "run", "progress", "report" };
    for (int i = 0; i < 3; i++)
        if (apply_doc (self, json_object_get (o, parts[i]), now, err, errlen))
            return -1;
    for (int i = 0; i < self->n_logs; i++) {
        free (self->logs[i]);
        self->logs[i] = NULL;
    }
    self->n_logs = 0;
    const json_t *logs = json_object_get (o, "logs");
    for (size_t i = 0; i < json_array_size (logs); i++)
        if (apply_doc (self, json_array_get (logs, i), now, err, errlen))
            return -1;
    self->have_snapshot = true;
    return 0;
}

static int
apply_doc (ofr_tui_model *self, const json_t *o, double now, char *err, size_t errlen)
{
    if (!json_is_object (o))
        return ofr_errf (err, errlen, "expected a JSON object");
    const json_t *v = json_object_get (o, "v");
    const char *t = json_string_value (json_object_get (o, "t"));
    if (!json_is_integer (v) || json_integer_value (v) != 1 || !t)
        return ofr_errf (err, errlen, "not a v1 document (\"v\": 1, \"t\": type)");
    if (strcmp (t, "snapshot") == 0) return apply_snapshot (self, o, now, err, errlen);
    if (strcmp (t, "run") == 0)      return apply_run (self, o, err, errlen);
    if (strcmp (t, "progress") == 0) return apply_progress (self, o, now, err, errlen);
    if (strcmp (t, "report") == 0)   return apply_report (self, o, err, errlen);
    if (strcmp (t, "log") == 0)      return apply_log (self, o, err, errlen);
    return ofr_errf (err, errlen, "unknown document type '%.40s'", t);
}

int
ofr_tui_model_apply (ofr_tui_model *self, const char *json, size_t len, double now_ms,
                     char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loadb (json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return ofr_errf (err, errlen, "bad JSON: %s (line %d)", jerr.text, jerr.line);
    int rc = apply_doc (self, o, now_ms, err, errlen);
    json_decref (o);
    derive (self);
    rebuild_rows (self);
    return rc;
}
