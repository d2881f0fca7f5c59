/*  model.h -- the dashboard's data model: a run's state as built from the
    coordinator's snapshot and its PUB events (docs/ARCHITECTURE.md,
    "Dashboard documents"). No curses here: panels read these structs, the
    unit test feeds JSON documents and checks them.

    Every document is a whole state of its kind (run, progress, report,
    log, or a snapshot holding one of each), so applying them in any order
    converges to the latest one of each kind: a dashboard that attached late
    ends with what one that watched from the start has. The per-cell numbers
    are taken from the `offramp report --format json` document the
    coordinator embeds; the model adds only what the report leaves to the
    reader (the ± interval, 1 / rel FLOPs, the Pareto front) and the view
    (sort, filter). */
#ifndef OFR_TUI_MODEL_H
#define OFR_TUI_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int      index;          /* cell index in the plan                       */
    char    *model, *suite, *method;
    char    *params;         /* "k=v,k=v" or ""                               */
    char    *label;          /* "method k=v,..."                               */
    char    *status;         /* from the report ("pending", "done", ...)       */
    int      n, total;       /* report: stored examples / cell total           */
    int      done;           /* progress: examples done (fresher than n)       */
    bool     failed;
    char    *metric;         /* primary metric name, NULL if none               */
    double   value, ci;      /* metric and its 95% half-width (NAN: unknown)   */
    double   rel_flops, exp_speedup, speedup, mean_exit;
    int64_t *hist;           /* [hist_n] exits at layer i + 1                   */
    int      hist_n;
    int64_t  hist_sum;
    double  *exit_metric;    /* [hist_n] primary metric of the rows that exited
                                at layer i + 1 (NAN: none), or NULL          */
    bool     pareto;         /* on the metric-vs-FLOPs front of its suite      */
} ofr_tui_cell;

typedef struct {
    int64_t  id, pid, task, done;
    char    *name, *host;
    char     state[8];       /* "idle", "busy", "dead"                          */
    int      cell;           /* cell of the current task, -1 if none            */
    double   rate, hb_ms;    /* examples/s; ms since its last message          */
} ofr_tui_worker;

#define OFR_TUI_LOGS 8

/* Sort keys `s` cycles through. */
enum { OFR_TUI_SORT_PLAN, OFR_TUI_SORT_METRIC, OFR_TUI_SORT_FLOPS, OFR_TUI_SORT_SPEEDUP,
       OFR_TUI_SORT_EXIT, OFR_TUI_SORT_DONE, OFR_TUI_SORT_NAME, OFR_TUI_N_SORTS };

typedef struct ofr_tui_model {
    /* run */
    int64_t         run;             /* -1 until known                          */
    char           *name;
    bool            paused, finished;
    bool            have_snapshot;   /* the coordinator answered                */
    /* progress */
    int64_t         done, total;
    double          rate;            /* examples/s over the run                 */
    double          elapsed;         /* s, as of progress_at                    */
    double          progress_at;     /* local ms when progress arrived, 0 = never */
    int             alive;
    /* report + progress */
    ofr_tui_cell   *cells;
    int             n_cells;
    ofr_tui_worker *workers;
    int             n_workers;
    /* newest last */
    char           *logs[OFR_TUI_LOGS];
    int             log_levels[OFR_TUI_LOGS];
    int             n_logs;
    /* view */
    int             sort;
    char           *filter;          /* NULL or "" = all rows                   */
    int            *rows;            /* [n_rows] cell indices, sorted, filtered */
    int             n_rows;
    /* The primary metric of a suite (NULL: the report's first metric). */
    const char   *(*primary) (const char *suite);
} ofr_tui_model;

ofr_tui_model *ofr_tui_model_new (void);
void ofr_tui_model_destroy (ofr_tui_model **self);

/* Apply one JSON document (snapshot, run, progress, report, log) received
   at local time now_ms. Returns 0, or -1 with a message for a document that
   is not JSON, not v1 or of the wrong shape; the model is then unchanged
   for the parts that failed (documents are applied kind by kind). */
int  ofr_tui_model_apply (ofr_tui_model *self, const char *json, size_t len,
                          double now_ms, char *err, size_t errlen);

/* Elapsed seconds at now_ms (extrapolated from the last progress while the
   run goes on), and the ETA in seconds (-1: unknown). */
double ofr_tui_model_elapsed (const ofr_tui_model *self, double now_ms);
double ofr_tui_model_eta (const ofr_tui_model *self);

/* View: next sort key; filter text (case-insensitive substring of model,
   suite, method, params; NULL or "" = none). Both rebuild rows. */
void ofr_tui_model_sort_next (ofr_tui_model *self);
int  ofr_tui_model_set_filter (ofr_tui_model *self, const char *text);
const char *ofr_tui_sort_name (int sort);

/* Row i of the view (0 <= i < n_rows). */
const ofr_tui_cell *ofr_tui_model_row (const ofr_tui_model *self, int i);

#endif
