/*  coordinator.h -- dispatches a run's cells as tasks to workers over
    ZeroMQ and journals every record into the results store.

    One zmq_poll loop (coordinator.c) serves a ROUTER socket for workers and
    a PUB socket for dashboards. Tasks are shards of a cell's examples;
    workers get at most `credit` tasks at a time; a worker that dies (missed
    heartbeats, its local process exited, or it said bye) has the unfinished
    examples of its tasks re-queued. Records are keyed (cell, example) in the
    store, so a duplicate delivery is ignored and a resumed run only does
    what is missing. */
#ifndef OFR_COORDINATOR_H
#define OFR_COORDINATOR_H

#include "plan.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *bind;           /* ROUTER endpoint; NULL = private ipc://      */
    const char *pub;            /* PUB endpoint; NULL = derived from bind      */
    const char *ctl;            /* dashboards' snapshot/control ROUTER; NULL =
                                   derived (ofr_endpoint_derive)                */
    const char *db_path;        /* results file                                 */
    int         local_workers;  /* worker processes to spawn (0 = none)         */
    int         worker_threads; /* BLAS threads per local worker                */
    const char *plugin_path;
    const char *models_path;
    const char *data_path;
    const char *artifacts_path; /* handed to local workers (--artifacts)       */
    int         heartbeat_ms;   /* default 500                                   */
    int         dead_ms;        /* silence before a worker is dead (10 x hb)    */
    int         max_attempts;   /* failed attempts before a cell fails (2)      */
    bool        progress;       /* progress lines on stderr                     */
    bool        tui;            /* start `offramp tui` on this terminal          */
    /* CURVE (security.h): on when bind is not loopback/ipc, or keys_dir or
       allow_path is given, unless insecure. */
    const char *keys_dir;       /* DIR/coordinator.key; NULL = $OFFRAMP_KEYS or ./keys */
    const char *allow_path;     /* allowed public keys; NULL = KEYS_DIR/allowlist */
    bool        insecure;       /* plaintext even on a non-loopback address      */
} ofr_coord_opts;

/* Fill defaults. */
void ofr_coord_opts_init (ofr_coord_opts *opts);

/* Create a run for `plan` in the store and run it to completion. *run_id is
   set as soon as the run exists (also on failure after that point). */
int ofr_coord_run_plan (const ofr_coord_opts *opts, const ofr_plan *plan,
                        int64_t *run_id, char *err, size_t errlen);

/* Finish the missing examples of an existing run. */
int ofr_coord_resume (const ofr_coord_opts *opts, int64_t run_id,
                      char *err, size_t errlen);

#endif
