/*  worker.c -- the worker daemon (worker.h).

    One zmq_poll loop over the DEALER socket and, while a task runs, the
    read end of the task child's pipe. Frames from the child are forwarded
    to the coordinator unchanged; the worker itself only reads their type to
    know when a task ended. A child that dies without `done` or `fail`
    (segfault in a plugin, OOM kill) becomes a `fail` naming the signal. */
#include "worker.h"
#include "task_child.h"
#include "blob_cache.h"
#include "artifacts.h"
#include "runner.h"
#include "../common/ofr_common.h"
#include "../harness/protocol.h"
#include "../harness/security.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

/* Set by SIGTERM/SIGINT; the loop notices within one poll interval. */
static volatile sig_atomic_t s_stop;

static void
on_stop_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

typedef struct {
    const ofr_worker_opts *opts;
    void        *zctx, *sock;
    ofr_plugin **plugins;
    int          n_plugins;
    char         name[256];
    char         host[256];
    bool         welcomed;
    int          heartbeat_ms;
    double       last_heard;      /* ms of the last message from the coordinator */
    double       next_beat;       /* ms when the next heartbeat/hello is due      */
    ofr_msg     *queue;           /* tasks waiting, FIFO                          */
    int          n_queue;
    size_t       cap_queue;
    /* The task running in a child, if any. */
    pid_t        child;
    int          child_fd;
    int64_t      child_task;
    bool         child_ended;     /* child sent done or fail                      */
    ofr_buf      inbuf;           /* bytes read from the child, not yet framed    */
    ofr_sec_monitor *mon;         /* handshakes, with CURVE                       */
    char         refused[512];    /* why the coordinator refused us, if it did    */
    int          failed_handshakes; /* since the last welcome                     */
    /* --fetch: files of queue[0] missing locally are fetched first. */
    ofr_blobcache *cache;
    int          fetch_file;      /* index in queue[0].files, -1 = none            */
    int64_t      fetch_offset;    /* of the blob_get in flight                    */
    double       fetch_sent;      /* ms when it was sent                          */
} worker;

static int
send_msg (worker *w, const ofr_msg *m)
{
    char err[OFR_ERRLEN];
    ofr_buf b;
    ofr_buf_init (&b);
    if (ofr_msg_encode (m, &b, err, sizeof err) != 0 || b.oom) {
        ofr_log (OFR_ERROR, "encoding %s: %s", ofr_msg_type_name (m->type),
                 b.oom ? "out of memory" : err);
        ofr_buf_free (&b);
        return -1;
    }
    int rc = zmq_send (w->sock, b.data, b.len, 0);
    ofr_buf_free (&b);
    return rc < 0 ? -1 : 0;
}

static void
send_hello (worker *w)
{
    ofr_plugin_info *info = ofr_calloc ((size_t) (w->n_plugins + 1), sizeof *info);
    if (!info)
        return;
    for (int i = 0; i < w->n_plugins; i++) {
        const ofr_method *m = ofr_plugin_method (w->plugins[i]);
        info[i].name = (char *) m->name;
        info[i].version = (char *) m->version;
        info[i].abi_major = m->abi_major;
        info[i].abi_minor = m->abi_minor;
        info[i].hash = (char *) ofr_plugin_hash (w->plugins[i]);
    }
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    ofr_msg m = {
        .type = OFR_MSG_HELLO, .name = w->name, .host = w->host,
        .pid = getpid (), .cores = cores > 0 ? (int) cores : 1,
        .threads = w->opts->threads > 0 ? w->opts->threads : 1,
        .credit = w->opts->credit > 0 ? w->opts->credit : 2,
        .plugins = info, .n_plugins = w->n_plugins, .fetch = w->opts->fetch,
    };
    /* Without a connection (a refused handshake leaves none) a blocking
       send would stop the loop; hello is repeated until welcomed anyway. */
    char err[OFR_ERRLEN];
    ofr_buf b;
    ofr_buf_init (&b);
    if (ofr_msg_encode (&m, &b, err, sizeof err) == 0 && !b.oom)
        zmq_send (w->sock, b.data, b.len, ZMQ_DONTWAIT);
    else
        ofr_log (OFR_ERROR, "encoding hello: %s", b.oom ? "out of memory" : err);
    ofr_buf_free (&b);
    free (info);
}

static void
send_heartbeat (worker *w)
{
    ofr_msg m = { .type = OFR_MSG_HEARTBEAT, .state = w->child > 0 ? "busy" : "idle",
                  .task_id = w->child > 0 ? w->child_task : -1 };
    send_msg (w, &m);
}

static void
kill_child (worker *w)
{
    if (w->child > 0) {
        kill (w->child, SIGKILL);
        waitpid (w->child, NULL, 0);
    }
    if (w->child_fd >= 0)
        close (w->child_fd);
    w->child = -1;
    w->child_fd = -1;
    ofr_buf_reset (&w->inbuf);
}

static void
drop_all_tasks (worker *w)
{
    kill_child (w);
    if (w->cache)
        ofr_blobcache_abort (w->cache);
    w->fetch_file = -1;
    for (int i = 0; i < w->n_queue; i++)
        ofr_msg_clear (&w->queue[i]);
    w->n_queue = 0;
}

/* Fails and drops the task at the head of the queue. */
static void
fail_head (worker *w, const char *reason)
{
    ofr_log (OFR_ERROR, "task %lld: %s", (long long) w->queue[0].task_id, reason);
    ofr_msg f = { .type = OFR_MSG_FAIL, .task_id = w->queue[0].task_id,
                  .reason = (char *) reason };
    send_msg (w, &f);
    ofr_msg_clear (&w->queue[0]);
    memmove (w->queue, w->queue + 1, (size_t) (w->n_queue - 1) * sizeof (ofr_msg));
    w->n_queue--;
}

static void
send_blob_get (worker *w, const char *hash, int64_t offset)
{
    ofr_msg g = { .type = OFR_MSG_BLOB_GET, .hash = (char *) hash, .offset = offset,
                  .length = OFR_BLOB_CHUNK };
    w->fetch_offset = offset;
    w->fetch_sent = ofr_now_ms ();
    send_msg (w, &g);
}

static const char *
s_arts (const worker *w)
{
    return w->opts->artifacts_path ? w->opts->artifacts_path : ofr_artifacts_default_path ();
}

/* Before queue[0] runs: 0 = every file is here, 1 = fetching, -1 = failed. */
static int
fetch_step (worker *w)
{
    ofr_msg *t = &w->queue[0];
    if (w->fetch_file >= 0) {
        /* A lost reply (the coordinator restarted, a full queue): ask again. */
        if (ofr_now_ms () - w->fetch_sent > 10000)
            send_blob_get (w, t->files[w->fetch_file].hash, w->fetch_offset);
        return 1;
    }
    char err[OFR_ERRLEN];
    if (ofr_blobcache_check_manifest (t, err, sizeof err) != 0) {
        fail_head (w, err);
        return -1;
    }
    ofr_blob_local local = { w->opts->models_path, w->opts->data_path, s_arts (w),
                             w->plugins, w->n_plugins };
    int i = ofr_blobcache_missing (w->cache, t, &local);
    if (i < 0)
        return 0;
    const ofr_file_info *f = &t->files[i];
    ofr_log (OFR_INFO, "fetching %s %s (%lld bytes, sha256 %s) from the coordinator",
             f->kind, f->path, (long long) f->size, f->hash);
    if (ofr_blobcache_begin (w->cache, f->hash, f->path, f->size, err, sizeof err) != 0) {
        fail_head (w, err);
        return -1;
    }
    w->fetch_file = i;
    send_blob_get (w, f->hash, 0);
    return 1;
}

/* A chunk of the file being fetched; the next step runs from the loop. */
static void
on_blob (worker *w, const ofr_msg *m)
{
    if (w->fetch_file < 0 || w->n_queue == 0)
        return;
    const ofr_file_info *f = &w->queue[0].files[w->fetch_file];
    if (strcmp (m->hash, f->hash) != 0 || m->offset != w->fetch_offset)
        return;                                 /* a stale reply */
    char err[OFR_ERRLEN];
    int rc = 0;
    if (m->total < 0)
        rc = ofr_errf (err, sizeof err, "blob %s (%s): the coordinator does not serve it",
                       f->hash, f->path);
    else if (m->total != f->size)
        rc = ofr_errf (err, sizeof err, "blob %s (%s): the coordinator now has %lld bytes, "
                       "the manifest said %lld", f->hash, f->path, (long long) m->total,
                       (long long) f->size);
    else if (m->n_data == 0 && m->offset < m->total)
        rc = ofr_errf (err, sizeof err, "blob %s (%s): empty chunk at offset %lld",
                       f->hash, f->path, (long long) m->offset);
    else
        rc = ofr_blobcache_write (w->cache, m->offset, m->data, (size_t) m->n_data,
                                  err, sizeof err);
    if (rc == 0 && m->offset + m->n_data < m->total) {
        send_blob_get (w, f->hash, m->offset + m->n_data);
        return;
    }
    if (rc == 0)
        rc = ofr_blobcache_commit (w->cache, err, sizeof err);
    w->fetch_file = -1;
    if (rc == 0) {
        ofr_log (OFR_INFO, "fetched %s %s: %lld bytes, sha256 %s verified", f->kind,
                 f->path, (long long) f->size, f->hash);
        return;
    }
    ofr_blobcache_abort (w->cache);
    fail_head (w, err);
}

/* Makes the plugin of `name` with `hash` the first of that name (the task
   child takes the first), loading plugin_file (a verified blob) if given. */
static int
select_plugin (worker *w, const char *name, const char *hash, const char *plugin_file,
               char *err, size_t errlen)
{
    if (plugin_file) {
        ofr_plugin *p = NULL, **v;
        if (ofr_plugin_load (plugin_file, ofr_runner_host (), &p, err, errlen) != 0)
            return -1;
        if (strcmp (ofr_plugin_hash (p), hash) != 0
            || strcmp (ofr_plugin_method (p)->name, name) != 0) {
            ofr_errf (err, errlen, "fetched plugin %s (%s) is not method %s with sha256 %s",
                      plugin_file, ofr_plugin_hash (p), name, hash);
            ofr_plugin_destroy (&p);
            return -1;
        }
        if (!(v = realloc (w->plugins, (size_t) (w->n_plugins + 1) * sizeof *v))) {
            ofr_plugin_destroy (&p);
            return ofr_errf (err, errlen, "worker: out of memory");
        }
        w->plugins = v;
        w->plugins[w->n_plugins++] = p;
        ofr_log (OFR_INFO, "loaded fetched plugin %s (sha256 %s)", name, hash);
    }
    int first = -1, match = -1;
    for (int i = 0; i < w->n_plugins; i++) {
        if (strcmp (ofr_plugin_method (w->plugins[i])->name, name) != 0)
            continue;
        if (first < 0)
            first = i;
        if (match < 0 && strcmp (ofr_plugin_hash (w->plugins[i]), hash) == 0)
            match = i;
    }
    if (first >= 0 && match > first) {
        ofr_plugin *p = w->plugins[first];
        w->plugins[first] = w->plugins[match];
        w->plugins[match] = p;
    }
    return 0;
}

static void
start_next_task (worker *w)
{
    if (w->child > 0 || w->n_queue == 0)
        return;
    char *models = NULL, *data = NULL, *arts = NULL, *plugin_file = NULL;
    if (w->cache && w->queue[0].n_files > 0) {
        if (fetch_step (w) != 0)
            return;
        char err[OFR_ERRLEN];
        ofr_msg *t = &w->queue[0];
        ofr_blob_local local = { w->opts->models_path, w->opts->data_path, s_arts (w),
                                 w->plugins, w->n_plugins };
        if (ofr_blobcache_prepare (w->cache, t, &local, &models, &data, &arts, &plugin_file,
                                   err, sizeof err) != 0
            || select_plugin (w, t->cell.method, t->plugin_hash ? t->plugin_hash : "",
                              plugin_file, err, sizeof err) != 0) {
            free (models);
            free (data);
            free (arts);
            free (plugin_file);
            fail_head (w, err);
            return;
        }
        free (plugin_file);
    }
    ofr_msg task = w->queue[0];
    memmove (w->queue, w->queue + 1, (size_t) (w->n_queue - 1) * sizeof (ofr_msg));
    w->n_queue--;

    int fds[2];
    if (pipe (fds) != 0) {
        ofr_msg f = { .type = OFR_MSG_FAIL, .task_id = task.task_id,
                      .reason = "worker: pipe() failed" };
        send_msg (w, &f);
        ofr_msg_clear (&task);
        free (models);
        free (data);
        free (arts);
        return;
    }
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        /* The child never touches the parent's ZeroMQ context. */
        close (fds[0]);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        signal (SIGTERM, SIG_DFL);
        signal (SIGINT, SIG_DFL);
        ofr_task_env env = { .plugins = w->plugins, .n_plugins = w->n_plugins,
                             .models_path = models ? models : w->opts->models_path,
                             .data_path = data ? data : w->opts->data_path,
                             .artifacts_path = arts ? arts : w->opts->artifacts_path,
                             .records_per_msg = w->opts->records_per_msg };
        _exit (ofr_task_child_run (&env, &task, fds[1]));
    }
    close (fds[1]);
    if (models || data)
        ofr_log (OFR_INFO, "task %lld: models %s, data %s", (long long) task.task_id,
                 models ? models : w->opts->models_path, data ? data : w->opts->data_path);
    if (arts)
        ofr_log (OFR_INFO, "task %lld: artifacts %s", (long long) task.task_id, arts);
    free (models);
    free (data);
    free (arts);
    if (pid < 0) {
        close (fds[0]);
        ofr_msg f = { .type = OFR_MSG_FAIL, .task_id = task.task_id,
                      .reason = "worker: fork() failed" };
        send_msg (w, &f);
        ofr_msg_clear (&task);
        return;
    }
    fcntl (fds[0], F_SETFL, fcntl (fds[0], F_GETFL) | O_NONBLOCK);
    w->child = pid;
    w->child_fd = fds[0];
    w->child_task = task.task_id;
    w->child_ended = false;
    ofr_log (OFR_DEBUG, "task %lld: cell %d, %d examples, pid %d",
             (long long) task.task_id, task.cell.index, task.n_examples, (int) pid);
    ofr_msg_clear (&task);
}

/* Forward every complete frame in inbuf; note done/fail. */
static void
forward_frames (worker *w)
{
    size_t off = 0;
    while (w->inbuf.len - off >= 4) {
        const unsigned char *p = (const unsigned char *) w->inbuf.data + off;
        uint32_t len = p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
                       | (uint32_t) p[3] << 24;
        if (w->inbuf.len - off - 4 < len)
            break;
        ofr_msg m;
        char err[OFR_ERRLEN];
        if (ofr_msg_decode (p + 4, len, &m, err, sizeof err) == 0) {
            if (m.type == OFR_MSG_DONE || m.type == OFR_MSG_FAIL)
                w->child_ended = true;
            ofr_msg_clear (&m);
            zmq_send (w->sock, p + 4, len, 0);
        } else {
            ofr_log (OFR_ERROR, "task child sent a bad frame: %s", err);
        }
        off += 4 + len;
    }
    memmove (w->inbuf.data, w->inbuf.data + off, w->inbuf.len - off);
    w->inbuf.len -= off;
}

/* Read what the child wrote; on EOF reap it and report a silent death. */
static void
read_child (worker *w)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read (w->child_fd, chunk, sizeof chunk);
        if (n > 0) {
            ofr_buf_append (&w->inbuf, chunk, (size_t) n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        /* EOF or error: the child is gone or going. */
        forward_frames (w);
        int status = 0;
        waitpid (w->child, &status, 0);
        if (!w->child_ended) {
            char reason[256];
            if (WIFSIGNALED (status))
                snprintf (reason, sizeof reason, "task process killed by signal %d (%s)",
                          WTERMSIG (status), strsignal (WTERMSIG (status)));
            else
                snprintf (reason, sizeof reason, "task process exited with status %d "
                          "without finishing", WEXITSTATUS (status));
            ofr_log (OFR_WARN, "task %lld: %s", (long long) w->child_task, reason);
            ofr_msg f = { .type = OFR_MSG_FAIL, .task_id = w->child_task, .reason = reason };
            send_msg (w, &f);
        }
        close (w->child_fd);
        w->child = -1;
        w->child_fd = -1;
        ofr_buf_reset (&w->inbuf);
        return;
    }
    if (w->inbuf.oom) {
        ofr_log (OFR_ERROR, "out of memory buffering task output");
        kill_child (w);
        return;
    }
    forward_frames (w);
}

/* Returns 1 when the worker should exit. */
static int
handle_coordinator (worker *w, const void *data, size_t size)
{
    ofr_msg m;
    char err[OFR_ERRLEN];
    if (ofr_msg_decode (data, size, &m, err, sizeof err) != 0) {
        ofr_log (OFR_WARN, "dropped a malformed message from the coordinator: %s", err);
        return 0;
    }
    w->last_heard = ofr_now_ms ();
    int quit = 0;
    switch (m.type) {
    case OFR_MSG_WELCOME:
        w->welcomed = true;
        w->failed_handshakes = 0;
        if (m.heartbeat_ms > 0)
            w->heartbeat_ms = m.heartbeat_ms;
        ofr_log (OFR_INFO, "welcomed by coordinator (run %s) as worker %lld",
                 m.run_id ? m.run_id : "?", (long long) m.worker_id);
        break;
    case OFR_MSG_TASK:
        if (ofr_grow ((void **) &w->queue, &w->cap_queue,
                      (size_t) w->n_queue + 1, sizeof (ofr_msg)) != 0) {
            ofr_msg f = { .type = OFR_MSG_FAIL, .task_id = m.task_id,
                          .reason = "worker: out of memory" };
            send_msg (w, &f);
            break;
        }
        w->queue[w->n_queue++] = m;
        memset (&m, 0, sizeof m);
        start_next_task (w);
        break;
    case OFR_MSG_BYE:
        if (m.rejoin) {
            ofr_log (OFR_INFO, "coordinator asks to rejoin: %s", m.reason ? m.reason : "");
            drop_all_tasks (w);
            w->welcomed = false;
            w->next_beat = 0;
        } else {
            ofr_log (OFR_INFO, "coordinator says bye: %s", m.reason ? m.reason : "");
            quit = 1;
        }
        break;
    case OFR_MSG_HEARTBEAT:
        break;
    case OFR_MSG_BLOB:
        on_blob (w, &m);
        break;
    default:
        ofr_log (OFR_WARN, "unexpected %s from the coordinator", ofr_msg_type_name (m.type));
    }
    ofr_msg_clear (&m);
    return quit;
}

static int
worker_loop (worker *w)
{
    int lost_ms_opt = w->opts->lost_ms;
    for (;;) {
        if (s_stop)
            return 0;
        /* Refused for good (key not allowed, plaintext vs CURVE), or every
           handshake cut short: stop rather than retry forever. */
        bool refused = false;
        char why[256] = "";
        int failed = w->mon ? ofr_sec_monitor_read (w->mon, &refused, why, sizeof why) : 0;
        w->failed_handshakes += failed;
        if (failed > 0 && (refused || w->failed_handshakes >= 5)) {
            snprintf (w->refused, sizeof w->refused, "the coordinator at %.100s refused "
                      "this worker: %s", w->opts->connect, why);
            return -1;
        }
        /* libzmq gives up on a connection whose handshake failed: dial again. */
        if (failed > 0 && (zmq_disconnect (w->sock, w->opts->connect) != 0
                           || zmq_connect (w->sock, w->opts->connect) != 0))
            ofr_log (OFR_WARN, "reconnecting to %s: %s", w->opts->connect,
                     zmq_strerror (errno));
        double now = ofr_now_ms ();
        int lost_ms = lost_ms_opt > 0 ? lost_ms_opt : 6 * w->heartbeat_ms;
        if (w->welcomed && now - w->last_heard > lost_ms) {
            ofr_log (OFR_WARN, "coordinator silent for %.1f s: dropping work, "
                     "saying hello again", (now - w->last_heard) / 1000);
            drop_all_tasks (w);
            w->welcomed = false;
            w->next_beat = 0;
        }
        if (now >= w->next_beat) {
            if (w->welcomed)
                send_heartbeat (w);
            else
                send_hello (w);
            w->next_beat = now + (w->welcomed ? w->heartbeat_ms
                                  : (w->opts->hello_ms > 0 ? w->opts->hello_ms : 1000));
        }
        zmq_pollitem_t items[2] = {
            { .socket = w->sock, .events = ZMQ_POLLIN },
            { .fd = w->child_fd, .events = ZMQ_POLLIN },
        };
        long timeout = (long) (w->next_beat - now);
        if (timeout > 100)
            timeout = 100;
        if (timeout < 0)
            timeout = 0;
        int rc = zmq_poll (items, w->child > 0 ? 2 : 1, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            ofr_log (OFR_ERROR, "zmq_poll: %s", zmq_strerror (errno));
            return -1;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmq_msg_t msg;
            zmq_msg_init (&msg);
            while (zmq_msg_recv (&msg, w->sock, ZMQ_DONTWAIT) >= 0) {
                if (handle_coordinator (w, zmq_msg_data (&msg), zmq_msg_size (&msg))) {
                    zmq_msg_close (&msg);
                    return 0;
                }
            }
            zmq_msg_close (&msg);
        }
        if (w->child > 0 && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            read_child (w);
        start_next_task (w);
    }
}

int
ofr_worker_main (const ofr_worker_opts *opts, char *err, size_t errlen)
{
    worker w = { .opts = opts, .child = -1, .child_fd = -1, .heartbeat_ms = 1000,
                 .fetch_file = -1 };
    ofr_buf_init (&w.inbuf);
    if (gethostname (w.host, sizeof w.host) != 0)
        snprintf (w.host, sizeof w.host, "unknown");
    w.host[sizeof w.host - 1] = 0;
    if (opts->name)
        snprintf (w.name, sizeof w.name, "%s", opts->name);
    else
        snprintf (w.name, sizeof w.name, "%.200s-%d", w.host, (int) getpid ());
    if (!opts->connect)
        return ofr_errf (err, errlen, "worker: --connect ADDR is required");
    if (ofr_plugin_scan (opts->plugin_path, ofr_runner_host (), &w.plugins,
                         &w.n_plugins, err, errlen) != 0)
        return -1;
    ofr_log (OFR_INFO, "%d plugins from %s", w.n_plugins, opts->plugin_path);
    if (opts->fetch) {
        if (ofr_blobcache_new (opts->cache_dir, &w.cache, err, errlen) != 0) {
            ofr_plugin_list_destroy (&w.plugins, &w.n_plugins);
            return -1;
        }
        ofr_log (OFR_INFO, "fetching missing files from the coordinator into %s",
                 ofr_blobcache_dir (w.cache));
    }

    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    int rc = -1;
    w.zctx = zmq_ctx_new ();
    w.sock = w.zctx ? zmq_socket (w.zctx, ZMQ_DEALER) : NULL;
    if (!w.sock) {
        ofr_errf (err, errlen, "worker: cannot create a ZeroMQ socket: %s",
                  zmq_strerror (errno));
        goto out;
    }
    int linger = 2000;
    zmq_setsockopt (w.sock, ZMQ_LINGER, &linger, sizeof linger);
    char ident[320];
    snprintf (ident, sizeof ident, "%s/%d/%08x", w.name, (int) getpid (),
              (unsigned) (ofr_now_ms () * 1000));
    zmq_setsockopt (w.sock, ZMQ_ROUTING_ID, ident, strlen (ident));
    ofr_curve_client cc;
    if (ofr_curve_client_init (&cc, opts->connect, opts->key_file, opts->server_key,
                               opts->insecure, err, errlen) != 0
        || (cc.curve && ofr_curve_client_setup (w.sock, &cc.kp, cc.server_key, err, errlen) != 0)
        || ofr_sec_monitor_new (w.zctx, w.sock, opts->connect, &w.mon, err, errlen) != 0)
        goto out;
    memset (&cc.kp, 0, sizeof cc.kp);
    if (zmq_connect (w.sock, opts->connect) != 0) {
        ofr_errf (err, errlen, "worker: cannot connect to %s: %s", opts->connect,
                  zmq_strerror (errno));
        goto out;
    }
    ofr_log (OFR_INFO, "worker %s connecting to %s%s", w.name, opts->connect,
             cc.curve ? " (CURVE)" : "");
    w.last_heard = ofr_now_ms ();
    rc = worker_loop (&w);
    if (rc != 0)
        ofr_errf (err, errlen, "worker %s: %s", w.name,
                  w.refused[0] ? w.refused : "event loop failed");
    ofr_msg bye = { .type = OFR_MSG_BYE, .reason = s_stop ? "signal" : "done" };
    /* Refused: there is no one to say bye to (a send would block). */
    if (!w.refused[0])
        send_msg (&w, &bye);
    if (s_stop || w.refused[0]) {
        /* A signal usually means the coordinator is gone (local workers get
           SIGTERM when it dies): do not wait for the bye to be delivered. */
        linger = 0;
        zmq_setsockopt (w.sock, ZMQ_LINGER, &linger, sizeof linger);
    }
out:
    drop_all_tasks (&w);
    free (w.queue);
    ofr_buf_free (&w.inbuf);
    ofr_sec_monitor_destroy (&w.mon);
    ofr_blobcache_destroy (&w.cache);
    if (w.sock)
        zmq_close (w.sock);
    if (w.zctx)
        zmq_ctx_term (w.zctx);
    for (int i = 0; i < w.n_plugins; i++)
        ofr_plugin_destroy (&w.plugins[i]);
    free (w.plugins);
    return rc;
}
