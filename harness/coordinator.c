/*  coordinator.c -- the coordinator's event loop (coordinator.h).

    Shape, after Redis's ae: one loop, one handler per message type, and a
    before_sleep step that commits the store transaction opened by the
    handlers of this iteration, so records are batched into few fsyncs yet
    everything acknowledged is on disk before the next poll.

    Invariants:
    - cells[c].done[e] is set iff (run, c, e) is in the store;
    - a task's unfinished examples are exactly those of its list not done;
    - a task is either queued (worker == 0), assigned to one live worker,
      or finished (removed).                                               */
#include "coordinator.h"
#include "protocol.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../results/store.h"
#include "../suites/suite.h"
#include "../workers/plugin_host.h"
#include "../workers/runner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    pid_t            local_pid;     /* spawned by us, else 0                     */
    int64_t          examples_done;
} wstate;

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
    void         *zctx, *router, *pub;
    char          endpoint[512];    /* where workers connect                     */
    char          pub_endpoint[512];
    char          ipc_paths[2][512];
    pid_t        *local;            /* spawned worker pids                       */
    int           n_local;
    bool          in_tx;
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
    for (int i = 0; i < w->n_plugins; i++)
        if (strcmp (w->plugins[i].name, cs->cell.method) == 0)
            return !cs->plugin_hash[0] || strcmp (w->plugins[i].hash, cs->plugin_hash) == 0;
    return false;
}

static void
dispatch (coord *c)
{
    for (int wi = 0; wi < c->n_workers; wi++) {
        wstate *w = c->workers[wi];
        for (int ti = 0; ti < c->n_tasks && !w->dead && w->outstanding < w->credit; ti++) {
            task *t = c->tasks[ti];
            cell_state *cs = &c->cells[t->cell];
            if (t->worker != 0 || cs->failed || !worker_has_plugin (w, cs))
                continue;
            ofr_msg m = { .type = OFR_MSG_TASK, .task_id = t->id, .cell = cs->cell,
                          .examples = t->examples, .n_examples = t->n,
                          .plugin_hash = cs->plugin_hash };
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
    case OFR_MSG_BYE:       worker_lost (c, w, m.reason ? m.reason : "said bye"); break;
    default:
        ofr_log (OFR_WARN, "unexpected %s from worker %s", ofr_msg_type_name (m.type),
                 w->name);
    }
    ofr_msg_clear (&m);
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
publish_progress (coord *c)
{
    double elapsed = (ofr_now_ms () - c->started) / 1000.0;
    double rate = elapsed > 0 ? (c->done_examples - c->start_done) / elapsed : 0;
    if (c->pub) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "{\"v\":1,\"t\":\"progress\",\"run\":%lld,\"done\":%lld,"
                        "\"total\":%lld,\"rate\":", (long long) c->run_id,
                        (long long) c->done_examples, (long long) c->total_examples);
        ofr_buf_json_num (&b, rate);
        ofr_buf_printf (&b, ",\"workers\":%d,\"cells\":[", alive_workers (c));
        for (int i = 0; i < c->n_cells; i++)
            ofr_buf_printf (&b, "%s[%d,%d,%s]", i ? "," : "", c->cells[i].n_done,
                            c->cells[i].total, c->cells[i].failed ? "true" : "false");
        ofr_buf_puts (&b, "]}");
        if (!b.oom) {
            zmq_send (c->pub, "progress", 8, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (c->pub, b.data, b.len, ZMQ_DONTWAIT);
        }
        ofr_buf_free (&b);
    }
    if (c->opts->progress && ofr_now_ms () >= c->next_progress) {
        int64_t left = c->total_examples - c->done_examples;
        double eta = rate > 0 ? left / rate : -1;
        fprintf (stderr, "run %lld: %lld/%lld examples (%.1f%%), %.1f ex/s, ETA %s%.0fs, "
                 "workers %d\n", (long long) c->run_id, (long long) c->done_examples,
                 (long long) c->total_examples,
                 c->total_examples ? 100.0 * c->done_examples / c->total_examples : 100.0,
                 rate, eta < 0 ? "?" : "", eta < 0 ? 0 : eta, alive_workers (c));
        c->next_progress = ofr_now_ms () + 2000;
    }
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
        snprintf (c->ipc_paths[0], sizeof c->ipc_paths[0], "%.400s/offramp-%d.sock", tmp,
                  (int) getpid ());
        snprintf (c->ipc_paths[1], sizeof c->ipc_paths[1], "%.400s/offramp-%d.events", tmp,
                  (int) getpid ());
        snprintf (c->endpoint, sizeof c->endpoint, "ipc://%.490s", c->ipc_paths[0]);
        snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "ipc://%.490s", c->ipc_paths[1]);
        return 0;
    }
    if (strlen (o->bind) >= sizeof c->endpoint)
        return ofr_errf (c->err, sizeof c->err, "--bind %s: too long", o->bind);
    snprintf (c->endpoint, sizeof c->endpoint, "%s", o->bind);
    if (o->pub) {
        snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%s", o->pub);
    } else if (strncmp (o->bind, "tcp://", 6) == 0) {
        const char *colon = strrchr (o->bind, ':');
        long port = colon ? strtol (colon + 1, NULL, 10) : 0;
        if (!colon || colon < o->bind + 6)
            return ofr_errf (c->err, sizeof c->err, "--bind %s: expected tcp://HOST:PORT",
                             o->bind);
        if (port > 0 && port < 65535)
            snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%.*s:%ld",
                      (int) (colon - o->bind), o->bind, port + 1);
        else
            snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%.*s:*",
                      (int) (colon - o->bind), o->bind);
    } else {
        snprintf (c->pub_endpoint, sizeof c->pub_endpoint, "%.500s.events", o->bind);
    }
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
}

static int
open_sockets (coord *c)
{
    if (make_endpoints (c) != 0)
        return -1;
    c->zctx = zmq_ctx_new ();
    c->router = c->zctx ? zmq_socket (c->zctx, ZMQ_ROUTER) : NULL;
    c->pub = c->zctx ? zmq_socket (c->zctx, ZMQ_PUB) : NULL;
    if (!c->router || !c->pub)
        return ofr_errf (c->err, sizeof c->err, "cannot create ZeroMQ sockets: %s",
                         zmq_strerror (errno));
    int linger = 500, mandatory = 0;
    zmq_setsockopt (c->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    if (zmq_bind (c->router, c->endpoint) != 0)
        return ofr_errf (c->err, sizeof c->err, "cannot bind %s: %s", c->endpoint,
                         zmq_strerror (errno));
    if (zmq_bind (c->pub, c->pub_endpoint) != 0)
        return ofr_errf (c->err, sizeof c->err, "cannot bind the events socket %s: %s",
                         c->pub_endpoint, zmq_strerror (errno));
    resolve_endpoints (c);
    ofr_log (OFR_INFO, "workers connect to %s; dashboards to %s", c->endpoint,
             c->pub_endpoint);
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
            const char *argv[20];
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
        if (ofr_params_new (ofr_plugin_method (p), cell->params, cell->n_params, &params,
                            perr, sizeof perr) != 0) {
            ofr_errf (c->err, sizeof c->err, "%s%s", where, perr);
            goto out;
        }
        ofr_params_destroy (&params);
        snprintf (cs->plugin_hash, sizeof cs->plugin_hash, "%s", ofr_plugin_hash (p));
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
    }
    free (c->cells);
    free (c->local);
    if (c->router)
        zmq_close (c->router);
    if (c->pub)
        zmq_close (c->pub);
    if (c->zctx)
        zmq_ctx_term (c->zctx);
    for (int i = 0; i < 2; i++)
        if (c->ipc_paths[i][0])
            unlink (c->ipc_paths[i]);
    ofr_store_destroy (&c->store);
}

/* ---- the loop ------------------------------------------------------------ */

static int
coord_loop (coord *c)
{
    double next_check = 0;
    c->started = ofr_now_ms ();
    c->start_done = c->done_examples;
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
        zmq_pollitem_t items[1] = { { .socket = c->router, .events = ZMQ_POLLIN } };
        int rc = zmq_poll (items, 1, 100);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return ofr_errf (c->err, sizeof c->err, "zmq_poll: %s", zmq_strerror (errno));
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        for (int burst = 0; burst < 256; burst++) {
            zmq_msg_t id, body;
            zmq_msg_init (&id);
            if (zmq_msg_recv (&id, c->router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&id);
                break;
            }
            zmq_msg_init (&body);
            bool more = zmq_msg_more (&id);
            if (more && zmq_msg_recv (&body, c->router, ZMQ_DONTWAIT) >= 0) {
                /* Anything after the body is not ours: drain and drop. */
                bool extra = zmq_msg_more (&body);
                if (!extra)
                    on_message (c, zmq_msg_data (&id), zmq_msg_size (&id),
                                zmq_msg_data (&body), zmq_msg_size (&body));
                else
                    ofr_log (OFR_WARN, "dropped a multi-frame message");
                while (extra) {
                    zmq_msg_t x;
                    zmq_msg_init (&x);
                    if (zmq_msg_recv (&x, c->router, ZMQ_DONTWAIT) < 0) {
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
    if (tasks_create (c) != 0 || open_sockets (c) != 0 || spawn_local_workers (c) != 0)
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
             name ? name : "?", opts->db_path);
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
