/*  store.h -- the SQLite results file (WAL mode), which is also the run's
    journal: everything needed to resume a run lives here.

    Schema (see docs/ARCHITECTURE.md):
      runs     (id INTEGER PK, name, plan_text, started, finished, status)
      cells    (run, idx, model, suite, split, lim, method, params, batch_size,
                seed, total, n_layers, status, reason)          PK (run, idx)
      examples (run, cell, example, prediction, pred_text, stats BLOB,
                exit_layer, token_exits BLOB, n_layers, flops, flops_full,
                wall_ms, worker)                                 PK (run, cell, example)
      tasks    (run, id, cell, n_examples, worker, status, reason, started, ended)
      workers  (run, id, name, host, pid, threads, joined, left, state)
      events   (run, time, level, text)

    Records are inserted with INSERT OR IGNORE on (run, cell, example): a
    duplicate delivery or a re-run never double counts. Writers batch inserts
    in transactions (ofr_store_begin / ofr_store_commit). */
#ifndef OFR_STORE_H
#define OFR_STORE_H

#include "../common/ofr_types.h"
#include <stdint.h>
#include <stdio.h>

typedef struct ofr_store ofr_store;

/* Open or create the file (created 0600), enable WAL, create tables. A
   file written by a newer offramp (higher PRAGMA user_version) is refused.
   The caller owns *out and frees it with ofr_store_destroy. */
int  ofr_store_open (const char *path, ofr_store **out, char *err, size_t errlen);
/* Open an existing results file (for reports): never creates the file or
   the schema; fails with a message if it is missing or not offramp's. */
int  ofr_store_open_existing (const char *path, ofr_store **out,
                              char *err, size_t errlen);
void ofr_store_destroy (ofr_store **self);

/* Start / commit a write transaction (BEGIN IMMEDIATE / COMMIT) that
   batches many calls below; outside one, every call commits by itself. */
int  ofr_store_begin (ofr_store *self, char *err, size_t errlen);
int  ofr_store_commit (ofr_store *self, char *err, size_t errlen);

/* Create a run (status "running") with its cells (status "pending");
   totals[i] = example count of cell i. Cell i is stored as idx i, so its
   `index` is i. The cells stay the caller's. Sets *run_id. */
int  ofr_store_run_create (ofr_store *self, const char *name, const char *plan_text,
                           const ofr_cell *cells, const int *totals, int n_cells,
                           int64_t *run_id, char *err, size_t errlen);

/* Load a run's cells for --resume, identical to what run_create stored
   (params in order); caller frees *name, each cell with ofr_cell_clear and
   the arrays with free. Fails with a message for an unknown run. */
int  ofr_store_run_load (ofr_store *self, int64_t run_id, char **name,
                         ofr_cell **cells, int **totals, int *n_cells,
                         char *err, size_t errlen);

/* Latest run id, or -1 with a message if the file has no run. */
int  ofr_store_latest_run (ofr_store *self, int64_t *run_id, char *err, size_t errlen);

/* Set the run's final status ("done", "interrupted"...) and finish time. */
int  ofr_store_run_finish (ofr_store *self, int64_t run_id, const char *status,
                           char *err, size_t errlen);

/* Insert a record; *inserted = 1 if new, 0 if (run, cell, example) existed.
   stats are stored as little-endian float64, token_exits as bytes. The
   record stays the caller's. Uses statements cached in the store. */
int  ofr_store_put_record (ofr_store *self, int64_t run_id, const ofr_record *r,
                           const char *worker, int *inserted,
                           char *err, size_t errlen);

/* Call fn(arg, example) for every stored example of a cell, in example
   order. */
int  ofr_store_done_examples (ofr_store *self, int64_t run_id, int cell,
                              void (*fn)(void *arg, int example), void *arg,
                              char *err, size_t errlen);

/* Set a cell's status ("done", "failed") and reason (NULL = none). */
int  ofr_store_cell_status (ofr_store *self, int64_t run_id, int cell,
                            const char *status, const char *reason,
                            char *err, size_t errlen);

/* Insert or update task task_id of the run. A status other than "done" or
   "failed" (re)starts it (started = now); those two set ended = now. */
int  ofr_store_task_log (ofr_store *self, int64_t run_id, int64_t task_id, int cell,
                         int n_examples, const char *worker, const char *status,
                         const char *reason, char *err, size_t errlen);

/* Insert or update worker worker_id of the run; joined = time of the first
   log, left = now when state is "dead" or "left". */
int  ofr_store_worker_log (ofr_store *self, int64_t run_id, int64_t worker_id,
                           const char *name, const char *host, int64_t pid,
                           int threads, const char *state, char *err, size_t errlen);

/* Append a log line (OFR_INFO...) to the run's events, stamped now. */
int  ofr_store_event (ofr_store *self, int64_t run_id, int level, const char *text,
                      char *err, size_t errlen);

/* Report formats for ofr_store_report. */
typedef enum { OFR_REPORT_TABLE, OFR_REPORT_CSV, OFR_REPORT_JSON } ofr_report_format;

/* Print the report of a run: per cell n, metrics (from pooled stats, via the
   suite registry), flops_mean, flops_full, rel_flops, mean_exit_layer,
   exit_hist, wall_ms_mean, speedup (vs the `full` cell of the same model and
   suite, if any). JSON layout:
   {"run": ID, "name": ..., "cells": [{"model","suite","method","params":{...},
    "n","total","status","metrics":{...},"flops_mean","flops_full","rel_flops",
    "mean_exit_layer","exit_hist":[...],"wall_ms_mean","speedup"}]}
   Everything is computed from the examples in example order, so two runs
   with the same records (any insertion order, any sharding) give the same
   bytes except "run" and the wall-clock fields. Unknown suite: "metrics"
   is {} and a warning is logged. Writes nothing on error. */
int  ofr_store_report (ofr_store *self, int64_t run_id, ofr_report_format fmt,
                       FILE *out, char *err, size_t errlen);

/* Flags of ofr_store_report_flags, to compare reports of different runs
   byte for byte (tests, `offramp report --comparable`):
   NO_TIMING omits wall_ms_mean and speedup (JSON keys, CSV and table
   columns); NO_RUN_ID omits the run id ("run" key, CSV column, title). */
enum { OFR_REPORT_NO_TIMING = 1u << 0, OFR_REPORT_NO_RUN_ID = 1u << 1 };

/* ofr_store_report with flags (0 = the same as ofr_store_report). */
int  ofr_store_report_flags (ofr_store *self, int64_t run_id, ofr_report_format fmt,
                             unsigned flags, FILE *out, char *err, size_t errlen);

#endif
