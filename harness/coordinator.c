/*  coordinator.c -- the coordinator's event loop (coordinator.h).

    Shape, after Redis's ae: one loop, one handler per message type, and a
    before_sleep step that commits the store transaction opened by the
    handlers of this iteration, so records are batched into few fsyncs yet
    everything acknowledged is on disk before the next poll.

    Invariants:
    - cells[c].done[e] is set iff (run, c, e) is in the store;
    - a task's unfinished examples are exactly those of its list not done;
    - a task is either queued (worker == 0), assigned to one live worker,
      or finished (removed).

    Dashboards (tui/) subscribe to the PUB socket and ask the control
    ROUTER for a snapshot (the same documents the events carry, so a late
    dashboard shows what an early one does) or to pause dispatch. The
    per-cell numbers are the JSON of `offramp report`, recomputed from the
    store at a rate bounded by its own cost.                             */
#include "coordinator.h"
#include "blobs.h"
#include "protocol.h"
#include "security.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../results/store.h"
#include "../suites/suite.h"
#include "../workers/artifacts.h"
#include "../workers/plugin_host.h"
#include "../workers/runner.h"
#include "../workers/s2s_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_interrupted;

static void
on_interrupt (int sig)
{
    (void) sig;
    s_interrupted = 1;
}

typedef struct {
    ofr_cell  cell;
    int       total;
    uint8_t  *done;          /* [total]                                        */
    int       n_done;
    int       split_n;       /* examples in the suite split (before limit)       */
    bool      failed;
    char      plugin_hash[65];
    char     *plugin_file;   /* the plugin .so (published to fetching workers) */
    ofr_file_info *files;    /* manifest for fetching workers (lazy)            */
    int       n_files;
    bool      files_ready;
    /* Running sums for progress events. */
    double    flops, flops_full;
} cell_state;

typedef struct {
    int64_t   id;
    int       cell;
    int32_t  *examples;
    int       n;
    int       attempts;      /* failed attempts so far                           */
    int64_t   worker;        /* 0 = queued                                       */
} task;

typedef struct {
    int64_t          id;
    char            *ident;         /* ZeroMQ routing id                         */
    size_t           ident_len;
    char            *name, *host;
    int64_t          pid;
    int              threads, credit;
    ofr_plugin_info *plugins;
    int              n_plugins;
    double           last_seen;
    int              outstanding;
    bool             dead;
    bool             fetch;         /* fetches missing files (blob_get)          */
    pid_t            local_pid;     /* spawned by us, else 0                     */
    int64_t          examples_done;
    int64_t          rate_done;     /* examples_done at the last rate update     */
    double           rate;          /* examples/s, smoothed (dashboards)         */
} wstate;

#define N_LOGS 16                   /* log events kept for snapshots            */

typedef struct {
    const ofr_coord_opts *opts;
    ofr_store    *store;
    int64_t       run_id;
    char          run_id_str[32];
    cell_state   *cells;
    int           n_cells;
    int           shard_size;
    task        **tasks;
    int           n_tasks;
    size_t        cap_tasks;
    int64_t       next_task_id;
    wstate      **workers;
    int           n_workers;
    size_t        cap_workers;
    int64_t       next_worker_id;
    void         *zctx, *router, *pub, *ctl;
    char          endpoint[512];    /* where workers connect                     */
    char          pub_endpoint[512];
    char          ctl_endpoint[512];
    char          ipc_paths[3][512];
    char         *name;             /* plan name                                 */
    bool          paused;           /* a dashboard stopped dispatch              */
    bool          finished;
    char         *report;           /* latest report JSON (one line per cell)    */
    bool          report_dirty;
    double        next_report, last_rate;
    char         *logs[N_LOGS];     /* ring of log event documents               */
    int           n_logs;
    pid_t         tui_pid;          /* `run --tui`: our dashboard, while alive   */
    int           saved_stderr;     /* the terminal, while the dashboard owns it */
    char          tui_log[600];     /* where our stderr goes meanwhile            */
    pid_t        *local;            /* spawned worker pids                       */
    int           n_local;
    bool          in_tx;
    ofr_blobstore *blobs;           /* files published to fetching workers       */
    /* CURVE (security.h): our key pair, who may connect, the ZAP handler,
       handshake monitors of the three sockets, and the throwaway key pair
       file of our own local workers and dashboard. */
    bool          curve;
    ofr_keypair   kp;
    ofr_allowlist *allow;
    ofr_zap      *zap;
    ofr_sec_monitor *mon[3];
    char          local_key[512];
    int64_t       total_examples, done_examples, start_done;
    double        started, next_progress, next_event;
    char          err[OFR_ERRLEN];
} coord;

/* ---- store helpers ----------------------------------------------------- */

static void
tx_begin (coord *c)
{
    if (!c->in_tx && ofr_store_begin (c->store, c->err, sizeof c->err) == 0)
        c->in_tx = true;
}

static int
tx_commit (coord *c)
{
    if (!c->in_tx)
        return 0;
    c->in_tx = false;
    if (ofr_store_commit (c->store, c->err, sizeof c->err) != 0) {
        ofr_log (OFR_ERROR, "results store: %s", c->err);
        return -1;
    }
    return 0;
}

static void
event_log (coord *c, int level, const char *fmt, ...) OFR_PRINTF(3, 4);

/*  A warning for the log, the store's events table and dashboards. */
static void
event_log (coord *c, int level, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    ofr_log (level, "%s", text);
    tx_begin (c);
    char err[OFR_ERRLEN];
    if (ofr_store_event (c->store, c->run_id, level, text, err, sizeof err) != 0)
        ofr_log (OFR_ERROR, "results store: %s", err);
    if (c->pub) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "{\"v\":1,\"t\":\"log\",\"run\":%lld,\"level\":%d,\"text\":",
                        (long long) c->run_id, level);
        ofr_buf_json_str (&b, text);
        ofr_buf_puts (&b, "}");
        if (!b.oom) {
            zmq_send (c->pub, "log", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (c->pub, b.data, b.len, ZMQ_DONTWAIT);
            /* The ring keeps the newest N_LOGS for snapshots. */
            char *keep = ofr_strdup (b.data);
            if (keep) {
                free (c->logs[c->n_logs % N_LOGS]);
                c->logs[c->n_logs++ % N_LOGS] = keep;
            }
        }
        ofr_buf_free (&b);
    }
}

/* ---- tasks --------------------------------------------------------------- */

static int
task_add (coord *c, int cell, const int32_t *examples, int n, int attempts)
{
    if (n <= 0)
        return 0;
    if (ofr_grow ((void **) &c->tasks, &c->cap_tasks,
                  (size_t) c->n_tasks + 1, sizeof (task *)) != 0)
        return ofr_errf (c->err, sizeof c->err, "out of memory");
    task *t = ofr_calloc (1, sizeof *t);
    int32_t *ex = ofr_calloc ((size_t) n, sizeof (int32_t));
    if (!t || !ex) {
        free (t);
        free (ex);
        return ofr_errf (c->err, sizeof c->err, "out of memory");
    }
    memcpy (ex, examples, (size_t) n * sizeof (int32_t));
    t->id = ++c->next_task_id;
    t->cell = cell;
    t->examples = ex;
    t->n = n;
    t->attempts = attempts;
    c->tasks[c->n_tasks++] = t;
    return 0;
}

static void
task_remove (coord *c, int i)
{
    free (c->tasks[i]->examples);
    free (c->tasks[i]);
    /* Keep plan order: dispatch walks the list front to back, so cells
       finish in the order the plan names them. */
    memmove (&c->tasks[i], &c->tasks[i + 1], (size_t) (c->n_tasks - i - 1) * sizeof *c->tasks);
    c->n_tasks--;
}

static int
task_find (coord *c, int64_t id)
{
    for (int i = 0; i < c->n_tasks; i++)
        if (c->tasks[i]->id == id)
            return i;
    return -1;
}

/*  Put the unfinished examples of task i back in the queue as a new task
    and drop task i. `attempts` counts failures charged to the task. */
static int
task_requeue (coord *c, int i, int attempts)
{
    task *t = c->tasks[i];
    cell_state *cs = &c->cells[t->cell];
    int32_t *left = ofr_calloc ((size_t) t->n, sizeof (int32_t));
    if (!left)
        return ofr_errf (c->err, sizeof c->err, "out of memory");
    int n = 0;
    for (int k = 0; k < t->n; k++)
        if (!cs->done[t->examples[k]])
            left[n++] = t->examples[k];
    int cell = t->cell;
    task_remove (c, i);
    int rc = cs->failed ? 0 : task_add (c, cell, left, n, attempts);
    free (left);
    return rc;
}

/*  Shard every cell's missing examples into tasks of shard_size. */
static int
tasks_create (coord *c)
{
    for (int ci = 0; ci < c->n_cells; ci++) {
        cell_state *cs = &c->cells[ci];
        int32_t *buf = ofr_calloc ((size_t) c->shard_size, sizeof (int32_t));
        if (!buf)
            return ofr_errf (c->err, sizeof c->err, "out of memory");
        int n = 0;
        for (int e = 0; e < cs->total; e++) {
            if (cs->done[e])
                continue;
            buf[n++] = e;
            if (n == c->shard_size) {
                if (task_add (c, ci, buf, n, 0) != 0) {
                    free (buf);
                    return -1;
                }
                n = 0;
            }
        }
        int rc = task_add (c, ci, buf, n, 0);
        free (buf);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- workers ------------------------------------------------------------- */

static void
worker_free (wstate *w)
{
    free (w->ident);
    free (w->name);
    free (w->host);
    for (int i = 0; i < w->n_plugins; i++) {
        free (w->plugins[i].name);
        free (w->plugins[i].version);
        free (w->plugins[i].hash);
    }
    free (w->plugins);
    free (w);
}

static wstate *
worker_by_ident (coord *c, const void *ident, size_t len)
{
    for (int i = 0; i < c->n_workers; i++) {
        wstate *w = c->workers[i];
        if (!w->dead && w->ident_len == len && memcmp (w->ident, ident, len) == 0)
            return w;
    }
    return NULL;
}

static int
send_to (coord *c, const wstate *w, const ofr_msg *m)
{
    ofr_buf b;
    ofr_buf_init (&b);
    char err[OFR_ERRLEN];
    if (ofr_msg_encode (m, &b, err, sizeof err) != 0 || b.oom) {
        ofr_log (OFR_ERROR, "encoding %s for %s: %s", ofr_msg_type_name (m->type),
                 w->name, b.oom ? "out of memory" : err);
        ofr_buf_free (&b);
        return -1;
    }
    int rc = zmq_send (c->router, w->ident, w->ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc >= 0)
        rc = zmq_send (c->router, b.data, b.len, ZMQ_DONTWAIT);
    ofr_buf_free (&b);
    return rc < 0 ? -1 : 0;
}

static void
send_raw_bye (coord *c, const void *ident, size_t len, const char *reason, bool rejoin)
{
    ofr_msg m = { .type = OFR_MSG_BYE, .reason = (char *) reason, .rejoin = rejoin };
    wstate tmp = { .ident = (char *) ident, .ident_len = len, .name = "?" };
    send_to (c, &tmp, &m);
}

/*  A worker is gone: re-queue the unfinished part of everything it held. */
static void
worker_lost (coord *c, wstate *w, const char *why)
{
    if (w->dead)
        return;
    w->dead = true;
    int requeued = 0;
    for (int i = c->n_tasks - 1; i >= 0; i--)
        if (c->tasks[i]->worker == w->id) {
            task_requeue (c, i, c->tasks[i]->attempts);
            requeued++;
        }
    w->outstanding = 0;
    event_log (c, OFR_WARN, "worker %s (%s) lost: %s; %d task(s) re-queued",
               w->name, w->host, why, requeued);
    tx_begin (c);
    char err[OFR_ERRLEN];
    ofr_store_worker_log (c->store, c->run_id, w->id, w->name, w->host, w->pid,
                          w->threads, "dead", err, sizeof err);
}

static bool
worker_has_plugin (const wstate *w, const cell_state *cs)
{
    /* A fetching worker gets the plugin by hash (task.files). */
    if (w->fetch && cs->n_files > 0)
        return true;
    for (int i = 0; i < w->n_plugins; i++)
        if (strcmp (w->plugins[i].name, cs->cell.method) == 0)
            return !cs->plugin_hash[0] || strcmp (w->plugins[i].hash, cs->plugin_hash) == 0;
    return false;
}

/* The cell's manifest: plugin, model files and suite data files as the
   coordinator sees them, hashed once (on the first fetching worker). */
static void
cell_files (coord *c, cell_state *cs)
{
    if (cs->files_ready)
        return;
    cs->files_ready = true;
    const ofr_coord_opts *o = c->opts;
    char err[OFR_ERRLEN];
    char *root = NULL;
    const ofr_suite_class *sc = ofr_suite_find (cs->cell.suite);
    const char *model = cs->cell.model;
    int rc = 0;
    if (!c->blobs && ofr_blobstore_new (&c->blobs) != 0)
        rc = ofr_errf (err, sizeof err, "out of memory");
    char name[512];
    snprintf (name, sizeof name, "%s.so", cs->cell.method);
    if (rc == 0 && cs->plugin_file)
        rc = ofr_blobstore_add_file (c->blobs, "plugin", cs->plugin_file, name,
                                     &cs->files, &cs->n_files, err, sizeof err);
    if (rc == 0 && strncmp (model, "testnet", 7) != 0 && !strchr (model, '/')
        && o->models_path
        && ofr_path_find_root (o->models_path, model, &root, err, sizeof err) == 0)
        rc = ofr_blobstore_add_tree (c->blobs, "model", root, model, &cs->files,
                                     &cs->n_files, err, sizeof err);
    free (root);
    root = NULL;
    if (rc == 0 && sc && sc->data_subdir && o->data_path
        && ofr_path_find_root (o->data_path, sc->data_subdir, &root, err, sizeof err) == 0)
        rc = ofr_blobstore_add_tree (c->blobs, "data", root, sc->data_subdir, &cs->files,
                                     &cs->n_files, err, sizeof err);
    free (root);
    root = NULL;
    /* Fitted artifacts of (model, method): <root>/<model>/<method>/... */
    char sub[1024];
    snprintf (sub, sizeof sub, "%s/%s", model, cs->cell.method);
    const char *arts = o->artifacts_path ? o->artifacts_path : ofr_artifacts_default_path ();
    if (rc == 0 && !strchr (model, '/')
        && ofr_path_find_root (arts, sub, &root, err, sizeof err) == 0)
        rc = ofr_blobstore_add_tree (c->blobs, "artifact", root, sub, &cs->files,
                                     &cs->n_files, err, sizeof err);
    free (root);
    if (rc != 0) {
        ofr_log (OFR_WARN, "cell %d: cannot publish its files to fetching workers: %s",
                 cs->cell.index, err);
        ofr_blobstore_files_free (&cs->files, &cs->n_files);
        return;
    }
    ofr_log (OFR_INFO, "cell %d: published %d files for fetching workers",
             cs->cell.index, cs->n_files);
}

static void
dispatch (coord *c)
{
    /* Paused: tasks already handed out finish; nothing new is sent. */
    if (c->paused)
        return;
    for (int wi = 0; wi < c->n_workers; wi++) {
        wstate *w = c->workers[wi];
        for (int ti = 0; ti < c->n_tasks && !w->dead && w->outstanding < w->credit; ti++) {
            task *t = c->tasks[ti];
            cell_state *cs = &c->cells[t->cell];
            if (t->worker != 0 || cs->failed)
                continue;
            if (w->fetch)
                cell_files (c, cs);
            if (!worker_has_plugin (w, cs))
                continue;
            ofr_msg m = { .type = OFR_MSG_TASK, .task_id = t->id, .cell = cs->cell,
                          .examples = t->examples, .n_examples = t->n,
                          .plugin_hash = cs->plugin_hash,
                          .files = w->fetch ? cs->files : NULL,
                          .n_files = w->fetch ? cs->n_files : 0 };
            if (send_to (c, w, &m) != 0) {
                worker_lost (c, w, "cannot send to it");
                break;
            }
            t->worker = w->id;
            w->outstanding++;
        }
    }
}

/* ---- message handlers ---------------------------------------------------- */

static void
on_hello (coord *c, const void *ident, size_t ilen, ofr_msg *m)
{
    wstate *w = worker_by_ident (c, ident, ilen);
    if (w)
        worker_lost (c, w, "said hello again (it dropped its tasks)");
    if (ofr_grow ((void **) &c->workers, &c->cap_workers,
                  (size_t) c->n_workers + 1, sizeof (wstate *)) != 0)
        return;
    w = ofr_calloc (1, sizeof *w);
    if (!w || !(w->ident = malloc (ilen ? ilen : 1))) {
        free (w);
        return;
    }
    memcpy (w->ident, ident, ilen);
    w->ident_len = ilen;
    w->id = ++c->next_worker_id;
    w->name = m->name, m->name = NULL;
    w->host = m->host, m->host = NULL;
    w->plugins = m->plugins, m->plugins = NULL;
    w->n_plugins = m->n_plugins, m->n_plugins = 0;
    w->pid = m->pid;
    w->threads = m->threads;
    w->credit = m->credit > 0 ? m->credit : 1;
    w->fetch = m->fetch != 0;
    w->last_seen = ofr_now_ms ();
    for (int i = 0; i < c->n_local; i++)
        if (c->local[i] == (pid_t) w->pid)
            w->local_pid = (pid_t) w->pid;
    c->workers[c->n_workers++] = w;
    ofr_msg welcome = { .type = OFR_MSG_WELCOME, .worker_id = w->id,
                        .run_id = c->run_id_str, .heartbeat_ms = c->opts->heartbeat_ms };
    send_to (c, w, &welcome);
    ofr_log (OFR_INFO, "worker %s joined (host %s, pid %lld, %d plugins, credit %d)",
             w->name, w->host, (long long) w->pid, w->n_plugins, w->credit);
    tx_begin (c);
    char err[OFR_ERRLEN];
    ofr_store_worker_log (c->store, c->run_id, w->id, w->name, w->host, w->pid,
                          w->threads, "alive", err, sizeof err);
}

static bool
task_has_example (const task *t, int example)
{
    for (int k = 0; k < t->n; k++)
        if (t->examples[k] == example)
            return true;
    return false;
}

/*  Only records of a task the worker holds are accepted: a late delivery
    after a re-queue is dropped (the new holder sends the same records), and
    a confused or hostile peer cannot write into other cells. */
static void
on_records (coord *c, wstate *w, const ofr_msg *m)
{
    int ti = task_find (c, m->task_id);
    if (ti < 0 || c->tasks[ti]->worker != w->id) {
        ofr_log (OFR_WARN, "dropped %d records for task %lld, which %s does not hold",
                 m->n_records, (long long) m->task_id, w->name);
        return;
    }
    const task *t = c->tasks[ti];
    cell_state *cs = &c->cells[t->cell];
    const ofr_suite_class *sc = ofr_suite_find (cs->cell.suite);
    tx_begin (c);
    for (int i = 0; i < m->n_records; i++) {
        const ofr_record *r = &m->records[i];
        if (r->cell != t->cell || !task_has_example (t, r->example)) {
            event_log (c, OFR_WARN, "worker %s sent a record for cell %d example %d "
                       "outside task %lld; dropped", w->name, r->cell, r->example,
                       (long long) t->id);
            continue;
        }
        if (sc && r->n_stats != sc->n_stats) {
            event_log (c, OFR_WARN, "worker %s sent %d stats for suite %s (expects %d); "
                       "dropped", w->name, r->n_stats, sc->name, sc->n_stats);
            continue;
        }
        int inserted = 0;
        char err[OFR_ERRLEN];
        if (ofr_store_put_record (c->store, c->run_id, r, w->name, &inserted,
                                  err, sizeof err) != 0) {
            ofr_log (OFR_ERROR, "results store: %s", err);
            continue;
        }
        if (inserted && !cs->done[r->example]) {
            cs->done[r->example] = 1;
            cs->n_done++;
            cs->flops += r->flops;
            cs->flops_full += r->flops_full;
            c->done_examples++;
            w->examples_done++;
            c->report_dirty = true;
        }
    }
}

static void
on_done (coord *c, wstate *w, const ofr_msg *m)
{
    int ti = task_find (c, m->task_id);
    if (ti < 0 || c->tasks[ti]->worker != w->id)
        return;
    task *t = c->tasks[ti];
    w->outstanding--;
    tx_begin (c);
    char err[OFR_ERRLEN];
    ofr_store_task_log (c->store, c->run_id, t->id, t->cell, t->n, w->name, "done",
                        NULL, err, sizeof err);
    task_requeue (c, ti, t->attempts);   /* normally nothing is left */
}

static void
on_fail (coord *c, wstate *w, const ofr_msg *m)
{
    int ti = task_find (c, m->task_id);
    if (ti < 0 || c->tasks[ti]->worker != w->id)
        return;
    task *t = c->tasks[ti];
    cell_state *cs = &c->cells[t->cell];
    w->outstanding--;
    const char *reason = m->reason ? m->reason : "no reason given";
    tx_begin (c);
    char err[OFR_ERRLEN];
    ofr_store_task_log (c->store, c->run_id, t->id, t->cell, t->n, w->name, "failed",
                        reason, err, sizeof err);
    int attempts = t->attempts + 1;
    if (attempts >= c->opts->max_attempts) {
        cs->failed = true;
        event_log (c, OFR_ERROR, "cell %d (%s/%s/%s) failed after %d attempts: %s",
                   t->cell, cs->cell.model, cs->cell.suite, cs->cell.method,
                   attempts, reason);
        ofr_store_cell_status (c->store, c->run_id, t->cell, "failed", reason,
                               err, sizeof err);
        for (int i = c->n_tasks - 1; i >= 0; i--)
            if (c->tasks[i]->cell == t->cell && c->tasks[i]->worker == 0)
                task_remove (c, i);
        ti = task_find (c, m->task_id);
        if (ti >= 0)
            task_remove (c, ti);
    } else {
        event_log (c, OFR_WARN, "task %lld of cell %d failed on %s (attempt %d of %d): %s",
                   (long long) t->id, t->cell, w->name, attempts,
                   c->opts->max_attempts, reason);
        task_requeue (c, ti, attempts);
    }
}

/* A chunk of a published file (never an arbitrary path: blobs.h). */
static void
on_blob_get (coord *c, wstate *w, const ofr_msg *m)
{
    ofr_msg reply;
    const char *path = NULL;
    char err[OFR_ERRLEN];
    if (!c->blobs || ofr_blobstore_serve (c->blobs, m, &reply, &path, err, sizeof err) != 0) {
        if (!c->blobs)
            ofr_log (OFR_WARN, "worker %s asked for blob %.64s: nothing is published",
                     w->name, m->hash);
        else
            ofr_log (OFR_WARN, "worker %s: blob %.64s: %s", w->name, m->hash, err);
        ofr_msg none = { .type = OFR_MSG_BLOB, .hash = m->hash, .offset = m->offset,
                         .total = -1 };
        send_to (c, w, &none);
        return;
    }
    if (reply.total < 0)
        ofr_log (OFR_WARN, "worker %s asked for blob %.64s at offset %lld: %s", w->name,
                 m->hash, (long long) m->offset, path ? "cannot read it" : "not published");
    else if (m->offset == 0)
        ofr_log (OFR_INFO, "blob_get %s (%s, %lld bytes) from worker %s", m->hash, path,
                 (long long) reply.total, w->name);
    if (send_to (c, w, &reply) != 0)
        ofr_log (OFR_WARN, "worker %s: cannot send blob %s", w->name, m->hash);
    ofr_msg_clear (&reply);
}

static void
on_message (coord *c, const void *ident, size_t ilen, const void *data, size_t size)
{
    ofr_msg m;
    char err[OFR_ERRLEN];
    if (ofr_msg_decode (data, size, &m, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "dropped a malformed message (%zu bytes): %s", size, err);
        return;
    }
    if (m.type == OFR_MSG_HELLO) {
        on_hello (c, ident, ilen, &m);
        ofr_msg_clear (&m);
        return;
    }
    wstate *w = worker_by_ident (c, ident, ilen);
    if (!w) {
        /* A worker from before a restart: make it start over. */
        if (m.type != OFR_MSG_BYE)
            send_raw_bye (c, ident, ilen, "unknown worker, say hello", true);
        ofr_msg_clear (&m);
        return;
    }
    w->last_seen = ofr_now_ms ();
    switch (m.type) {
    case OFR_MSG_RECORDS:   on_records (c, w, &m); break;
    case OFR_MSG_DONE:      on_done (c, w, &m); break;
    case OFR_MSG_FAIL:      on_fail (c, w, &m); break;
    case OFR_MSG_HEARTBEAT: break;
    case OFR_MSG_BLOB_GET:  on_blob_get (c, w, &m); break;
    case OFR_MSG_BYE:       worker_lost (c, w, m.reason ? m.reason : "said bye"); break;
    default:
        ofr_log (OFR_WARN, "unexpected %s from worker %s", ofr_msg_type_name (m.type),
                 w->name);
    }
    ofr_msg_clear (&m);
}

/* ---- our own dashboard (`run --tui`) -------------------------------------- */

/*  The dashboard owns the terminal: until it quits, our log (and the local
    workers', who inherit stderr) goes to DB.log instead of over its screen. */
static int
spawn_dashboard (coord *c)
{
    snprintf (c->tui_log, sizeof c->tui_log, "%.590s.log", c->opts->db_path);
    int fd = open (c->tui_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return ofr_errf (c->err, sizeof c->err, "%s: %s", c->tui_log, strerror (errno));
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        close (fd);
        return ofr_errf (c->err, sizeof c->err, "fork of the dashboard: %s", strerror (errno));
    }
    if (pid == 0) {
        const char *argv[] = { "offramp", "tui", "--pub", c->pub_endpoint,
                               "--ctl", c->ctl_endpoint, NULL, NULL, NULL, NULL, NULL };
        if (c->curve) {
            argv[6] = "--key", argv[7] = c->local_key;
            argv[8] = "--server-key", argv[9] = c->kp.public_key;
        }
        execv ("/proc/self/exe", (char *const *) argv);
        fprintf (stderr, "offramp: cannot start the dashboard: %s\n", strerror (errno));
        _exit (127);
    }
    c->tui_pid = pid;
    c->saved_stderr = fcntl (2, F_DUPFD_CLOEXEC, 3);
    if (c->saved_stderr >= 0)
        dup2 (fd, 2);
    close (fd);
    ofr_log (OFR_INFO, "dashboard started (pid %d)", (int) pid);
    return 0;
}

static void
dashboard_closed (coord *c)
{
    c->tui_pid = 0;
    if (c->saved_stderr >= 0) {
        dup2 (c->saved_stderr, 2);
        close (c->saved_stderr);
        c->saved_stderr = -1;
    }
    if (!c->finished)
        fprintf (stderr, "offramp: dashboard closed; run %lld goes on (log: %s)\n",
                 (long long) c->run_id, c->tui_log);
}

/*  At the end the dashboard shows the final numbers until the user quits. */
static void
wait_dashboard (coord *c)
{
    if (c->tui_pid <= 0)
        return;
    ofr_log (OFR_INFO, "run finished; waiting for the dashboard to quit");
    int status;
    while (waitpid (c->tui_pid, &status, 0) < 0 && errno == EINTR)
        if (s_interrupted)
            kill (c->tui_pid, SIGTERM);
    dashboard_closed (c);
}

/* ---- periodic work ------------------------------------------------------- */

static void
check_workers (coord *c)
{
    double now = ofr_now_ms ();
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < c->n_workers; i++)
            if (c->workers[i]->local_pid == pid && !c->workers[i]->dead) {
                char why[128];
                if (WIFSIGNALED (status))
                    snprintf (why, sizeof why, "process killed by signal %d", WTERMSIG (status));
                else
                    snprintf (why, sizeof why, "process exited with status %d",
                              WEXITSTATUS (status));
                worker_lost (c, c->workers[i], why);
            }
        for (int i = 0; i < c->n_local; i++)
            if (c->local[i] == pid)
                c->local[i] = -1;
        if (pid == c->tui_pid)
            dashboard_closed (c);
    }
    for (int i = 0; i < c->n_workers; i++) {
        wstate *w = c->workers[i];
        if (w->dead)
            continue;
        if (now - w->last_seen > c->opts->dead_ms) {
            worker_lost (c, w, "missed heartbeats");
            continue;
        }
        ofr_msg hb = { .type = OFR_MSG_HEARTBEAT, .state = "run", .task_id = -1 };
        send_to (c, w, &hb);
    }
}

static int
alive_workers (const coord *c)
{
    int n = 0;
    for (int i = 0; i < c->n_workers; i++)
        n += !c->workers[i]->dead;
    return n;
}

static void
pub_send (coord *c, const char *topic, const ofr_buf *b)
{
    if (!c->pub || b->oom)
        return;
    zmq_send (c->pub, topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (c->pub, b->data, b->len, ZMQ_DONTWAIT);
}

static double
run_rate (const coord *c)
{
    double elapsed = (ofr_now_ms () - c->started) / 1000.0;
    return elapsed > 0 ? (c->done_examples - c->start_done) / elapsed : 0;
}

/*  The `run` document: what changes rarely (name, paused, finished). */
static void
json_run (const coord *c, ofr_buf *b)
{
    ofr_buf_printf (b, "{\"v\":1,\"t\":\"run\",\"run\":%lld,\"name\":",
                    (long long) c->run_id);
    ofr_buf_json_str (b, c->name ? c->name : "");
    ofr_buf_printf (b, ",\"paused\":%s,\"finished\":%s,\"total\":%lld,\"cells\":%d}",
                    c->paused ? "true" : "false", c->finished ? "true" : "false",
                    (long long) c->total_examples, c->n_cells);
}

static void
json_worker (const coord *c, const wstate *w, double now, ofr_buf *b)
{
    const task *held = NULL;
    for (int i = 0; i < c->n_tasks && !held; i++)
        if (c->tasks[i]->worker == w->id)
            held = c->tasks[i];
    ofr_buf_printf (b, "{\"id\":%lld,\"name\":", (long long) w->id);
    ofr_buf_json_str (b, w->name);
    ofr_buf_puts (b, ",\"host\":");
    ofr_buf_json_str (b, w->host);
    ofr_buf_printf (b, ",\"pid\":%lld,\"state\":\"%s\",\"task\":%lld,\"cell\":%d,"
                    "\"done\":%lld,\"hb_ms\":%.0f,\"rate\":", (long long) w->pid,
                    w->dead ? "dead" : w->outstanding > 0 ? "busy" : "idle",
                    held ? (long long) held->id : -1LL, held ? held->cell : -1,
                    (long long) w->examples_done, now - w->last_seen);
    ofr_buf_json_num (b, w->dead ? 0 : w->rate);
    ofr_buf_puts (b, "}");
}

/*  The `progress` document: counts, rate, elapsed time, workers. */
static void
json_progress (const coord *c, ofr_buf *b)
{
    double now = ofr_now_ms ();
    ofr_buf_printf (b, "{\"v\":1,\"t\":\"progress\",\"run\":%lld,\"done\":%lld,"
                    "\"total\":%lld,\"rate\":", (long long) c->run_id,
                    (long long) c->done_examples, (long long) c->total_examples);
    ofr_buf_json_num (b, run_rate (c));
    ofr_buf_printf (b, ",\"elapsed\":%.3f,\"paused\":%s,\"finished\":%s,\"workers\":%d,"
                    "\"cells\":[", (now - c->started) / 1000.0,
                    c->paused ? "true" : "false", c->finished ? "true" : "false",
                    alive_workers (c));
    for (int i = 0; i < c->n_cells; i++)
        ofr_buf_printf (b, "%s[%d,%d,%s]", i ? "," : "", c->cells[i].n_done,
                        c->cells[i].total, c->cells[i].failed ? "true" : "false");
    ofr_buf_puts (b, "],\"worker_list\":[");
    for (int i = 0; i < c->n_workers; i++) {
        ofr_buf_puts (b, i ? "," : "");
        json_worker (c, c->workers[i], now, b);
    }
    ofr_buf_puts (b, "]}");
}

static void
json_report (const coord *c, ofr_buf *b)
{
    ofr_buf_printf (b, "{\"v\":1,\"t\":\"report\",\"run\":%lld,\"report\":%s}",
                    (long long) c->run_id, c->report ? c->report : "null");
}

/*  Everything a dashboard needs to catch up; then it follows the events. */
static void
json_snapshot (const coord *c, ofr_buf *b)
{
    ofr_buf_puts (b, "{\"v\":1,\"t\":\"snapshot\",\"run\":");
    json_run (c, b);
    ofr_buf_puts (b, ",\"progress\":");
    json_progress (c, b);
    ofr_buf_puts (b, ",\"report\":");
    json_report (c, b);
    ofr_buf_puts (b, ",\"logs\":[");
    int first = c->n_logs > N_LOGS ? c->n_logs - N_LOGS : 0;
    for (int i = first; i < c->n_logs; i++)
        ofr_buf_printf (b, "%s%s", i > first ? "," : "", c->logs[i % N_LOGS]);
    ofr_buf_puts (b, "]}");
}

static void
publish_run (coord *c)
{
    ofr_buf b;
    ofr_buf_init (&b);
    json_run (c, &b);
    pub_send (c, "run", &b);
    ofr_buf_free (&b);
}

/*  Recompute the per-cell report from the store, the code `offramp report`
    runs, so the dashboard's numbers are the report's. It reads every stored
    example, so it runs at most once a second and at most ~5% of the time. */
static void
refresh_report (coord *c, bool force)
{
    double now = ofr_now_ms ();
    if (!force && (!c->report_dirty || now < c->next_report))
        return;
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&data, &len);
    if (!f)
        return;
    char err[OFR_ERRLEN];
    int rc = ofr_store_report_flags (c->store, c->run_id, OFR_REPORT_JSON, 0, f,
                                     err, sizeof err);
    if (fclose (f) != 0 || rc != 0) {
        ofr_log (OFR_WARN, "report for dashboards: %s", rc ? err : "out of memory");
        free (data);
        c->next_report = now + 5000;
        return;
    }
    while (len > 0 && data[len - 1] == '\n')
        data[--len] = 0;
    free (c->report);
    c->report = data;
    c->report_dirty = false;
    c->next_report = ofr_now_ms () + fmax (1000, 20 * (ofr_now_ms () - now));
    ofr_buf b;
    ofr_buf_init (&b);
    json_report (c, &b);
    pub_send (c, "report", &b);
    ofr_buf_free (&b);
}

static void
update_worker_rates (coord *c, double now)
{
    double dt = (now - c->last_rate) / 1000.0;
    if (c->last_rate > 0 && dt > 0)
        for (int i = 0; i < c->n_workers; i++) {
            wstate *w = c->workers[i];
            double inst = (double) (w->examples_done - w->rate_done) / dt;
            /* ~3 s memory at one update per 500 ms */
            w->rate = w->rate_done == 0 && w->rate == 0 ? inst : 0.85 * w->rate + 0.15 * inst;
            w->rate_done = w->examples_done;
        }
    c->last_rate = now;
}

static void
publish_progress (coord *c)
{
    double rate = run_rate (c);
    update_worker_rates (c, ofr_now_ms ());
    ofr_buf b;
    ofr_buf_init (&b);
    json_progress (c, &b);
    pub_send (c, "progress", &b);
    ofr_buf_free (&b);
    if (c->opts->progress && c->tui_pid <= 0 && ofr_now_ms () >= c->next_progress) {
        int64_t left = c->total_examples - c->done_examples;
        double eta = rate > 0 ? left / rate : -1;
        fprintf (stderr, "run %lld: %lld/%lld examples (%.1f%%), %.1f ex/s, ETA %s%.0fs, "
                 "workers %d%s\n", (long long) c->run_id, (long long) c->done_examples,
                 (long long) c->total_examples,
                 c->total_examples ? 100.0 * c->done_examples / c->total_examples : 100.0,
                 rate, eta < 0 ? "?" : "", eta < 0 ? 0 : eta, alive_workers (c),
                 c->paused ? " (paused)" : "");
        c->next_progress = ofr_now_ms () + 2000;
    }
}

/*  A request on the control socket: snapshot, or pause/resume; the reply is
    always the state, so a dashboard's `p` also refreshes it. */
static void
on_control (coord *c, const void *ident, size_t ilen, const void *data, size_t size)
{
    ofr_msg m;
    char err[OFR_ERRLEN];
    if (ofr_msg_decode (data, size, &m, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "control: dropped a malformed message (%zu bytes): %s", size, err);
        return;
    }
    if (m.type == OFR_MSG_CONTROL && (bool) m.paused != c->paused) {
        c->paused = m.paused;
        event_log (c, OFR_INFO, "dispatch %s by a dashboard",
                   c->paused ? "paused" : "resumed");
        publish_run (c);
    } else if (m.type != OFR_MSG_CONTROL && m.type != OFR_MSG_SNAPSHOT) {
        ofr_log (OFR_WARN, "control: unexpected %s", ofr_msg_type_name (m.type));
        ofr_msg_clear (&m);
        return;
    }
    ofr_msg_clear (&m);
    ofr_buf doc, frame;
    ofr_buf_init (&doc);
    ofr_buf_init (&frame);
    json_snapshot (c, &doc);
    ofr_msg st = { .type = OFR_MSG_STATE, .paused = c->paused, .json = doc.data };
    if (!doc.oom && ofr_msg_encode (&st, &frame, err, sizeof err) == 0 && !frame.oom) {
        zmq_send (c->ctl, ident, ilen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send (c->ctl, frame.data, frame.len, ZMQ_DONTWAIT);
    } else {
        ofr_log (OFR_WARN, "control: cannot encode the state: %s",
                 doc.oom || frame.oom ? "out of memory" : err);
    }
    ofr_buf_free (&doc);
    ofr_buf_free (&frame);
}

static bool
run_complete (const coord *c)
{
    for (int i = 0; i < c->n_cells; i++)
        if (!c->cells[i].failed && c->cells[i].n_done < c->cells[i].total)
            return false;
    return true;
}

/* ---- set-up -------------------------------------------------------------- */

static int
make_endpoints (coord *c)
{
    const ofr_coord_opts *o = c->opts;
    if (!o->bind) {
        const char *tmp = getenv ("TMPDIR");
        if (!tmp || !*tmp)
            tmp = "/tmp";
        const char *ext[3] = { "sock", "events", "ctl" };
        for (int i = 0; i < 3; i++)
            snprintf (c->ipc_paths[i], sizeof c->ipc_paths[i], "%.400s/offramp-%d.%s", tmp,
                      (int) getpid (), ext[i]);
        snprintf (c->endpoint, sizeof c->endpoint, "ipc://%.490s", c->ipc_paths[0]);
    } else if (strlen (o->bind) >= sizeof c->endpoint) {
        return ofr_errf (c->err, sizeof c->err, "--bind %s: too long", o->bind);
    } else {
        snprintf (c->endpoint, sizeof c->endpoint, "%s", o->bind);
    }
    /* Dashboards derive the same addresses from the workers' one. */
    if (ofr_endpoint_derive (c->endpoint, "events", c->pub_endpoint, sizeof c->pub_endpoint)
        || ofr_endpoint_derive (c->endpoint, "ctl", c->ctl_endpoint, sizeof c->ctl_endpoint))
        return ofr_errf (c->err, sizeof c->err, "--bind %s: expected tcp://HOST:PORT "
                         "or ipc://PATH", o->bind);
    if (o->pub)
        snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%s", o->pub);
    if (o->ctl)
        snprintf (c->ctl_endpoint, sizeof c->ctl_endpoint, "%s", o->ctl);
    return 0;
}

/*  After bind: where a local worker should connect (wildcards resolved). */
static void
resolve_endpoints (coord *c)
{
    char last[512];
    size_t len = sizeof last;
    if (zmq_getsockopt (c->router, ZMQ_LAST_ENDPOINT, last, &len) == 0) {
        snprintf (c->endpoint, sizeof c->endpoint, "%s", last);
        char *any = strstr (c->endpoint, "0.0.0.0");
        if (any) {
            char tail[512];
            snprintf (tail, sizeof tail, "%s", any + 7);
            snprintf (any, sizeof c->endpoint - (size_t) (any - c->endpoint),
                      "127.0.0.1%s", tail);
        }
    }
    len = sizeof last;
    if (c->pub && zmq_getsockopt (c->pub, ZMQ_LAST_ENDPOINT, last, &len) == 0)
        snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%s", last);
    len = sizeof last;
    if (c->ctl && zmq_getsockopt (c->ctl, ZMQ_LAST_ENDPOINT, last, &len) == 0)
        snprintf (c->ctl_endpoint, sizeof c->ctl_endpoint, "%s", last);
}

/*  CURVE on the three sockets when any is not loopback/ipc (or keys were
    named), with the allowlist checked by our ZAP handler. Our own local
    workers and dashboard get a throwaway key pair, allowed in memory. */
static int
setup_security (coord *c)
{
    const ofr_coord_opts *o = c->opts;
    bool local = ofr_endpoint_is_local (c->endpoint) && ofr_endpoint_is_local (c->pub_endpoint)
                 && ofr_endpoint_is_local (c->ctl_endpoint);
    if (o->insecure) {
        if (!local)
            ofr_log (OFR_WARN, "--insecure: %s is plaintext and unauthenticated: anyone "
                     "who reaches it can join and read results", c->endpoint);
        return 0;
    }
    if (local && !o->keys_dir && !o->allow_path)
        return 0;
    const char *dir = o->keys_dir ? o->keys_dir : getenv ("OFFRAMP_KEYS");
    if (!dir || !*dir)
        dir = "keys";
    char key[600], allow[600];
    snprintf (key, sizeof key, "%.580s/coordinator.key", dir);
    snprintf (allow, sizeof allow, "%.580s", o->allow_path ? o->allow_path : "");
    if (!o->allow_path)
        snprintf (allow, sizeof allow, "%.580s/allowlist", dir);
    char err[OFR_ERRLEN];
    if (ofr_keypair_load (key, &c->kp, err, sizeof err) != 0
        || ofr_allowlist_load (allow, &c->allow, err, sizeof err) != 0)
        return ofr_errf (c->err, sizeof c->err, "CURVE (on because %s%s): %s; create keys "
                         "with `offramp keygen --dir %s coordinator NAME...` and list the "
                         "allowed .pub lines in %s, or pass --insecure", c->endpoint,
                         local ? " was given keys" : " is not loopback", err, dir, allow);
    if (o->local_workers > 0 || o->tui) {
        ofr_keypair mine;
        const char *tmp = getenv ("TMPDIR");
        snprintf (c->local_key, sizeof c->local_key, "%.400s/offramp-%d-local.key",
                  tmp && *tmp ? tmp : "/tmp", (int) getpid ());
        unlink (c->local_key);
        if (ofr_keypair_generate (&mine, err, sizeof err) != 0
            || ofr_keypair_write (&mine, c->local_key, "local", false, err, sizeof err) != 0
            || ofr_allowlist_add (c->allow, mine.public_key, "local") != 0) {
            c->local_key[0] = 0;
            return ofr_errf (c->err, sizeof c->err, "key pair for local workers: %s", err);
        }
    }
    void *socks[3] = { c->router, c->pub, c->ctl };
    const char *names[3] = { "workers' socket", "events socket", "control socket" };
    if (ofr_zap_new (c->zctx, c->allow, &c->zap, err, sizeof err) != 0)
        return ofr_errf (c->err, sizeof c->err, "%s", err);
    for (int i = 0; i < 3; i++) {
        char what[700];
        snprintf (what, sizeof what, "%s %s", names[i],
                  i == 0 ? c->endpoint : i == 1 ? c->pub_endpoint : c->ctl_endpoint);
        if (ofr_curve_server_setup (socks[i], &c->kp, err, sizeof err) != 0
            || ofr_sec_monitor_new (c->zctx, socks[i], what, &c->mon[i], err, sizeof err) != 0)
            return ofr_errf (c->err, sizeof c->err, "%s: %s", what, err);
    }
    c->curve = true;
    ofr_log (OFR_INFO, "CURVE on: server key %s, %d allowed key(s) from %s", c->kp.public_key,
             ofr_allowlist_size (c->allow), allow);
    return 0;
}

/*  Poll items for the ZAP handler and the monitors (none without CURVE). */
static int
security_items (coord *c, zmq_pollitem_t *items)
{
    if (!c->curve)
        return 0;
    items[0] = (zmq_pollitem_t) { .socket = ofr_zap_socket (c->zap), .events = ZMQ_POLLIN };
    for (int i = 0; i < 3; i++)
        items[1 + i] = (zmq_pollitem_t) { .socket = ofr_sec_monitor_socket (c->mon[i]),
                                          .events = ZMQ_POLLIN };
    return 4;
}

static void
security_handle (coord *c, const zmq_pollitem_t *items)
{
    if (!c->curve)
        return;
    if (items[0].revents & ZMQ_POLLIN)
        ofr_zap_handle (c->zap);
    for (int i = 0; i < 3; i++)
        if (items[1 + i].revents & ZMQ_POLLIN)
            ofr_sec_monitor_read (c->mon[i], NULL, NULL, 0);
}

static int
open_sockets (coord *c)
{
    if (make_endpoints (c) != 0)
        return -1;
    c->zctx = zmq_ctx_new ();
    c->router = c->zctx ? zmq_socket (c->zctx, ZMQ_ROUTER) : NULL;
    c->pub = c->zctx ? zmq_socket (c->zctx, ZMQ_PUB) : NULL;
    c->ctl = c->zctx ? zmq_socket (c->zctx, ZMQ_ROUTER) : NULL;
    if (!c->router || !c->pub || !c->ctl)
        return ofr_errf (c->err, sizeof c->err, "cannot create ZeroMQ sockets: %s",
                         zmq_strerror (errno));
    int linger = 500, mandatory = 0;
    zmq_setsockopt (c->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->ctl, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    if (setup_security (c) != 0)
        return -1;
    if (zmq_bind (c->router, c->endpoint) != 0)
        return ofr_errf (c->err, sizeof c->err, "cannot bind %s: %s", c->endpoint,
                         zmq_strerror (errno));
    if (zmq_bind (c->pub, c->pub_endpoint) != 0)
        return ofr_errf (c->err, sizeof c->err, "cannot bind the events socket %s: %s",
                         c->pub_endpoint, zmq_strerror (errno));
    if (zmq_bind (c->ctl, c->ctl_endpoint) != 0)
        return ofr_errf (c->err, sizeof c->err, "cannot bind the control socket %s: %s",
                         c->ctl_endpoint, zmq_strerror (errno));
    resolve_endpoints (c);
    ofr_log (OFR_INFO, "workers connect to %s; dashboards to %s and %s "
             "(offramp tui --connect %s)", c->endpoint, c->pub_endpoint, c->ctl_endpoint,
             c->endpoint);
    return 0;
}

static int
spawn_local_workers (coord *c)
{
    const ofr_coord_opts *o = c->opts;
    if (o->local_workers <= 0)
        return 0;
    c->local = ofr_calloc ((size_t) o->local_workers, sizeof (pid_t));
    if (!c->local)
        return ofr_errf (c->err, sizeof c->err, "out of memory");
    char threads[16];
    snprintf (threads, sizeof threads, "%d", o->worker_threads > 0 ? o->worker_threads : 1);
    pid_t parent = getpid ();
    fflush (NULL);
    for (int i = 0; i < o->local_workers; i++) {
        char name[32];
        snprintf (name, sizeof name, "local-%d", i + 1);
        pid_t pid = fork ();
        if (pid < 0)
            return ofr_errf (c->err, sizeof c->err, "fork of local worker %d: %s", i + 1,
                             strerror (errno));
        if (pid == 0) {
            /* Local workers die with their coordinator; a resumed run starts new ones. */
            prctl (PR_SET_PDEATHSIG, SIGTERM);
            if (getppid () != parent)
                _exit (1);
            const char *argv[24];
            int a = 0;
            argv[a++] = "offramp";
            argv[a++] = "worker";
            argv[a++] = "--connect";
            argv[a++] = c->endpoint;
            argv[a++] = "--name";
            argv[a++] = name;
            argv[a++] = "--threads";
            argv[a++] = threads;
            if (o->plugin_path) { argv[a++] = "--plugins"; argv[a++] = o->plugin_path; }
            if (o->models_path) { argv[a++] = "--models"; argv[a++] = o->models_path; }
            if (o->data_path)   { argv[a++] = "--data"; argv[a++] = o->data_path; }
            if (o->artifacts_path) { argv[a++] = "--artifacts"; argv[a++] = o->artifacts_path; }
            if (c->curve) {
                argv[a++] = "--key"; argv[a++] = c->local_key;
                argv[a++] = "--server-key"; argv[a++] = c->kp.public_key;
            }
            argv[a] = NULL;
            execv ("/proc/self/exe", (char *const *) argv);
            fprintf (stderr, "offramp: cannot start a local worker: %s\n", strerror (errno));
            _exit (127);
        }
        c->local[c->n_local++] = pid;
    }
    ofr_log (OFR_INFO, "started %d local workers (%s BLAS threads each)",
             c->n_local, threads);
    return 0;
}

static void
stop_local_workers (coord *c)
{
    double deadline = ofr_now_ms () + 3000;
    for (int i = 0; i < c->n_local; i++) {
        if (c->local[i] <= 0)
            continue;
        int status;
        while (waitpid (c->local[i], &status, WNOHANG) == 0) {
            if (ofr_now_ms () > deadline) {
                kill (c->local[i], SIGKILL);
                waitpid (c->local[i], &status, 0);
                break;
            }
            usleep (10000);
        }
        c->local[i] = -1;
    }
}

/*  Validate each cell against the plugins we have, count examples per
    suite split, and fill plugin hashes. */

/* A model name resolves: built in, an existing directory, or a directory on
   the models path (registry.c's rules, without opening anything). */
static bool
model_findable (const char *name, const char *models_path)
{
    if (!name || !*name)
        return false;
    if (strncmp (name, "testnet", 7) == 0)
        return true;
    struct stat st;
    if (strchr (name, '/'))
        return stat (name, &st) == 0 && S_ISDIR (st.st_mode);
    char *root = NULL, err[OFR_ERRLEN];
    if (!models_path || ofr_path_find_root (models_path, name, &root, err, sizeof err) != 0)
        return false;
    free (root);
    return true;
}

static int
prepare_cells (coord *c, const ofr_plan *plan)
{
    const ofr_coord_opts *o = c->opts;
    ofr_plugin **plugins = NULL;
    int n_plugins = 0, rc = -1;
    if (ofr_plugin_scan (o->plugin_path, ofr_runner_host (), &plugins, &n_plugins,
                         c->err, sizeof c->err) != 0)
        return -1;
    for (int i = 0; i < c->n_cells; i++) {
        cell_state *cs = &c->cells[i];
        const ofr_cell *cell = &cs->cell;
        char where[600] = "";
        if (plan && ofr_plan_cell_line (plan, i) > 0)
            snprintf (where, sizeof where, "%s:%d: ", ofr_plan_origin (plan),
                      ofr_plan_cell_line (plan, i));
        const ofr_plugin *p = NULL;
        for (int k = 0; k < n_plugins && !p; k++)
            if (strcmp (ofr_plugin_method (plugins[k])->name, cell->method) == 0)
                p = plugins[k];
        if (!p) {
            ofr_errf (c->err, sizeof c->err, "%smethod '%s': no such plugin in %s "
                      "(see `offramp plugins`)", where, cell->method, o->plugin_path);
            goto out;
        }
        ofr_params *params = NULL;
        char perr[OFR_ERRLEN];
        /* Seq2seq cells carry the driver's decoding options (beam,
           length_penalty, max_length: s2s_opts.h) beside the method's own. */
        const ofr_suite_class *s2s_sc = ofr_suite_find (cell->suite);
        bool s2s = s2s_sc && (s2s_sc->kinds & OFR_KIND_SEQ2SEQ);
        if (ofr_cell_method_params (ofr_plugin_method (p), cell, s2s, &params, perr,
                                    sizeof perr) != 0) {
            ofr_errf (c->err, sizeof c->err, "%s%s", where, perr);
            goto out;
        }
        ofr_params_destroy (&params);
        snprintf (cs->plugin_hash, sizeof cs->plugin_hash, "%s", ofr_plugin_hash (p));
        free (cs->plugin_file);
        if (!(cs->plugin_file = ofr_strdup (ofr_plugin_path (p)))) {
            ofr_errf (c->err, sizeof c->err, "out of memory");
            goto out;
        }
        /* Local workers share our paths: a model we cannot find, they cannot
           either, and finding out per task would burn every retry. Remote
           workers may have other paths (or fetch blobs): they decide. */
        if (o->local_workers > 0 && !model_findable (cell->model, o->models_path)) {
            ofr_errf (c->err, sizeof c->err, "%smodel '%s': not found (built in: testnet, "
                      "testnet-L<n>; models path %s; see `offramp models`)", where,
                      cell->model, o->models_path ? o->models_path : "(none)");
            goto out;
        }
        const ofr_suite_class *sc = ofr_suite_find (cell->suite);
        if (!sc) {
            ofr_errf (c->err, sizeof c->err, "%ssuite '%s': unknown (see `offramp suites`)",
                      where, cell->suite);
            goto out;
        }
        /* Each suite split is loaded once, to count its examples. */
        int n = -1;
        for (int j = 0; j < i && n < 0; j++)
            if (strcmp (c->cells[j].cell.suite, cell->suite) == 0
                && strcmp (c->cells[j].cell.split, cell->split) == 0)
                n = c->cells[j].split_n;
        if (n < 0) {
            char *dir = NULL;
            void *data = NULL;
            if (sc->data_subdir && ofr_path_find_root (o->data_path, sc->data_subdir, &dir,
                                                   perr, sizeof perr) != 0) {
                ofr_errf (c->err, sizeof c->err, "%ssuite %s: %s (set --data or OFFRAMP_DATA)",
                          where, sc->name, perr);
                goto out;
            }
            int lrc = sc->load (dir, cell->split, &data, &n, perr, sizeof perr);
            free (dir);
            if (lrc != 0) {
                ofr_errf (c->err, sizeof c->err, "%s%s", where, perr);
                goto out;
            }
            sc->free (data);
        }
        cs->split_n = n;
        cs->total = cell->limit > 0 && cell->limit < n ? cell->limit : n;
    }
    rc = 0;
out:
    for (int k = 0; k < n_plugins; k++)
        ofr_plugin_destroy (&plugins[k]);
    free (plugins);
    return rc;
}

static void
coord_free (coord *c)
{
    if (c->in_tx)
        tx_commit (c);
    for (int i = 0; i < c->n_tasks; i++) {
        free (c->tasks[i]->examples);
        free (c->tasks[i]);
    }
    free (c->tasks);
    for (int i = 0; i < c->n_workers; i++)
        worker_free (c->workers[i]);
    free (c->workers);
    for (int i = 0; i < c->n_cells; i++) {
        ofr_cell_clear (&c->cells[i].cell);
        free (c->cells[i].done);
        free (c->cells[i].plugin_file);
        ofr_blobstore_files_free (&c->cells[i].files, &c->cells[i].n_files);
    }
    free (c->cells);
    ofr_blobstore_destroy (&c->blobs);
    free (c->local);
    if (c->router)
        zmq_close (c->router);
    if (c->pub)
        zmq_close (c->pub);
    if (c->ctl)
        zmq_close (c->ctl);
    ofr_zap_destroy (&c->zap);
    for (int i = 0; i < 3; i++)
        ofr_sec_monitor_destroy (&c->mon[i]);
    ofr_allowlist_destroy (&c->allow);
    if (c->local_key[0])
        unlink (c->local_key);
    if (c->zctx)
        zmq_ctx_term (c->zctx);
    for (int i = 0; i < 3; i++)
        if (c->ipc_paths[i][0])
            unlink (c->ipc_paths[i]);
    free (c->name);
    free (c->report);
    for (int i = 0; i < N_LOGS; i++)
        free (c->logs[i]);
    ofr_store_destroy (&c->store);
}

/* ---- the loop ------------------------------------------------------------ */

typedef void (on_frame_fn) (coord *c, const void *ident, size_t ilen,
                            const void *data, size_t size);

/*  Read up to a burst of [identity, body] messages from a ROUTER socket. */
static void
recv_burst (coord *c, void *sock, on_frame_fn *fn)
{
    for (int burst = 0; burst < 256; burst++) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            break;
        }
        zmq_msg_init (&body);
        bool more = zmq_msg_more (&id);
        if (more && zmq_msg_recv (&body, sock, ZMQ_DONTWAIT) >= 0) {
            /* Anything after the body is not ours: drain and drop. */
            bool extra = zmq_msg_more (&body);
            if (!extra)
                fn (c, zmq_msg_data (&id), zmq_msg_size (&id),
                    zmq_msg_data (&body), zmq_msg_size (&body));
            else
                ofr_log (OFR_WARN, "dropped a multi-frame message");
            while (extra) {
                zmq_msg_t x;
                zmq_msg_init (&x);
                if (zmq_msg_recv (&x, sock, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close (&x);
                    break;
                }
                extra = zmq_msg_more (&x);
                zmq_msg_close (&x);
            }
        }
        zmq_msg_close (&body);
        zmq_msg_close (&id);
    }
}

static int
coord_loop (coord *c)
{
    double next_check = 0;
    c->started = ofr_now_ms ();
    c->start_done = c->done_examples;
    publish_run (c);
    while (!run_complete (c)) {
        if (s_interrupted) {
            event_log (c, OFR_WARN, "interrupted: %lld of %lld examples done; "
                       "finish with `offramp run --resume %lld`",
                       (long long) c->done_examples, (long long) c->total_examples,
                       (long long) c->run_id);
            return 1;
        }
        double now = ofr_now_ms ();
        if (now >= next_check) {
            check_workers (c);
            next_check = now + c->opts->heartbeat_ms;
        }
        dispatch (c);
        if (now >= c->next_event) {
            publish_progress (c);
            c->next_event = now + 500;
        }
        /* before_sleep: what the handlers wrote is committed before we wait. */
        if (tx_commit (c) != 0)
            return -1;
        refresh_report (c, false);
        zmq_pollitem_t items[6] = { { .socket = c->router, .events = ZMQ_POLLIN },
                                    { .socket = c->ctl, .events = ZMQ_POLLIN } };
        int rc = zmq_poll (items, 2 + security_items (c, items + 2), 100);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return ofr_errf (c->err, sizeof c->err, "zmq_poll: %s", zmq_strerror (errno));
        }
        if (items[0].revents & ZMQ_POLLIN)
            recv_burst (c, c->router, on_message);
        if (items[1].revents & ZMQ_POLLIN)
            recv_burst (c, c->ctl, on_control);
        security_handle (c, items + 2);
    }
    publish_progress (c);
    return tx_commit (c);
}

static int
coord_execute (coord *c, char *err, size_t errlen)
{
    struct sigaction sa = { .sa_handler = on_interrupt };
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    snprintf (c->run_id_str, sizeof c->run_id_str, "%lld", (long long) c->run_id);
    c->total_examples = 0;
    for (int i = 0; i < c->n_cells; i++) {
        c->total_examples += c->cells[i].total;
        c->done_examples += c->cells[i].n_done;
    }
    int rc = -1;
    if (tasks_create (c) != 0 || open_sockets (c) != 0
        || (c->opts->tui && spawn_dashboard (c) != 0) || spawn_local_workers (c) != 0)
        goto out;
    ofr_log (OFR_INFO, "run %lld: %d cells, %lld examples (%lld already done), %d tasks",
             (long long) c->run_id, c->n_cells, (long long) c->total_examples,
             (long long) c->done_examples, c->n_tasks);
    rc = coord_loop (c);
    for (int i = 0; i < c->n_workers; i++)
        if (!c->workers[i]->dead) {
            ofr_msg bye = { .type = OFR_MSG_BYE, .reason = rc == 0 ? "run finished" : "run stopped" };
            send_to (c, c->workers[i], &bye);
        }
    stop_local_workers (c);
    if (rc >= 0) {
        bool any_failed = false;
        for (int i = 0; i < c->n_cells; i++) {
            any_failed |= c->cells[i].failed;
            if (!c->cells[i].failed && rc == 0)
                ofr_store_cell_status (c->store, c->run_id, i, "done", NULL,
                                       c->err, sizeof c->err);
        }
        ofr_store_run_finish (c->store, c->run_id,
                              rc == 1 ? "interrupted" : any_failed ? "done-with-failures" : "done",
                              c->err, sizeof c->err);
        if (rc == 1)
            ofr_errf (c->err, sizeof c->err, "run %lld interrupted; resume with "
                      "`offramp run --resume %lld`", (long long) c->run_id,
                      (long long) c->run_id);
    }
    /* The last documents carry the final statuses: what `offramp report` says. */
    c->finished = true;
    refresh_report (c, true);
    publish_run (c);
    publish_progress (c);
    wait_dashboard (c);
out:
    if (rc != 0)
        ofr_errf (err, errlen, "%s", c->err);
    return rc == 0 ? 0 : -1;
}

static int
coord_init (coord *c, const ofr_coord_opts *opts, char *err, size_t errlen)
{
    memset (c, 0, sizeof *c);
    c->opts = opts;
    c->saved_stderr = -1;
    if (ofr_store_open (opts->db_path, &c->store, err, errlen) != 0)
        return -1;
    return 0;
}

static int
alloc_done (coord *c)
{
    for (int i = 0; i < c->n_cells; i++) {
        c->cells[i].done = ofr_calloc ((size_t) (c->cells[i].total > 0 ? c->cells[i].total : 1), 1);
        if (!c->cells[i].done)
            return ofr_errf (c->err, sizeof c->err, "out of memory");
    }
    return 0;
}

void
ofr_coord_opts_init (ofr_coord_opts *opts)
{
    memset (opts, 0, sizeof *opts);
    opts->db_path = "offramp.sqlite";
    opts->heartbeat_ms = 500;
    opts->dead_ms = 5000;
    opts->max_attempts = 2;
}

int
ofr_coord_run_plan (const ofr_coord_opts *opts, const ofr_plan *plan,
                    int64_t *run_id, char *err, size_t errlen)
{
    coord c;
    if (run_id)
        *run_id = -1;
    if (coord_init (&c, opts, err, errlen) != 0)
        return -1;
    int rc = -1;
    c.n_cells = ofr_plan_n_cells (plan);
    c.shard_size = ofr_plan_shard_size (plan);
    c.cells = ofr_calloc ((size_t) (c.n_cells > 0 ? c.n_cells : 1), sizeof (cell_state));
    if (!c.cells) {
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < c.n_cells; i++)
        if (ofr_cell_copy (&c.cells[i].cell, ofr_plan_cell (plan, i)) != 0) {
            ofr_errf (err, errlen, "out of memory");
            goto out;
        }
    if (prepare_cells (&c, plan) != 0 || alloc_done (&c) != 0) {
        ofr_errf (err, errlen, "%s", c.err);
        goto out;
    }
    ofr_cell *cells = ofr_calloc ((size_t) c.n_cells + 1, sizeof (ofr_cell));
    int *totals = ofr_calloc ((size_t) c.n_cells + 1, sizeof (int));
    if (!cells || !totals) {
        free (cells);
        free (totals);
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < c.n_cells; i++) {
        cells[i] = c.cells[i].cell;
        totals[i] = c.cells[i].total;
    }
    int crc = ofr_store_run_create (c.store, ofr_plan_name (plan), ofr_plan_text (plan),
                                    cells, totals, c.n_cells, &c.run_id, err, errlen);
    free (cells);
    free (totals);
    if (crc != 0)
        goto out;
    if (run_id)
        *run_id = c.run_id;
    c.name = ofr_strdup (ofr_plan_name (plan));
    fprintf (stderr, "offramp: run %lld (%s) -> %s\n", (long long) c.run_id,
             ofr_plan_name (plan), opts->db_path);
    rc = coord_execute (&c, err, errlen);
out:
    coord_free (&c);
    return rc;
}

static void
mark_done (void *arg, int example)
{
    cell_state *cs = arg;
    if (example >= 0 && example < cs->total && !cs->done[example]) {
        cs->done[example] = 1;
        cs->n_done++;
    }
}

int
ofr_coord_resume (const ofr_coord_opts *opts, int64_t run_id, char *err, size_t errlen)
{
    coord c;
    if (coord_init (&c, opts, err, errlen) != 0)
        return -1;
    int rc = -1;
    char *name = NULL;
    ofr_cell *cells = NULL;
    int *totals = NULL;
    if (ofr_store_run_load (c.store, run_id, &name, &cells, &totals, &c.n_cells,
                            err, errlen) != 0)
        goto out;
    c.run_id = run_id;
    c.name = name, name = NULL;
    c.shard_size = 64;
    c.cells = ofr_calloc ((size_t) (c.n_cells > 0 ? c.n_cells : 1), sizeof (cell_state));
    if (!c.cells) {
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < c.n_cells; i++) {
        c.cells[i].cell = cells[i];
        memset (&cells[i], 0, sizeof cells[i]);
        c.cells[i].total = totals[i];
    }
    if (prepare_cells (&c, NULL) != 0) {
        ofr_errf (err, errlen, "%s", c.err);
        goto out;
    }
    /* The journal's totals win: the run keeps the shape it started with. */
    for (int i = 0; i < c.n_cells; i++)
        c.cells[i].total = totals[i];
    if (alloc_done (&c) != 0) {
        ofr_errf (err, errlen, "%s", c.err);
        goto out;
    }
    for (int i = 0; i < c.n_cells; i++) {
        if (ofr_store_done_examples (c.store, run_id, i, mark_done, &c.cells[i],
                                     err, errlen) != 0)
            goto out;
    }
    fprintf (stderr, "offramp: resuming run %lld (%s) from %s\n", (long long) run_id,
             c.name ? c.name : "?", opts->db_path);
    rc = coord_execute (&c, err, errlen);
out:
    if (cells) {
        for (int i = 0; i < c.n_cells; i++)
            ofr_cell_clear (&cells[i]);
    }
    free (cells);
    free (totals);
    free (name);
    coord_free (&c);
    return rc;
}
