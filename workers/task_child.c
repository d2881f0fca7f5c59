/*  task_child.c -- see task_child.h. */
#include "task_child.h"
#include "runner.h"
#include "decoder_runner.h"
#include "seq2seq_runner.h"
#include "s2s_opts.h"
#include "../common/ofr_paths.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
ofr_frame_write (int fd, const ofr_msg *msg, char *err, size_t errlen)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, "\0\0\0\0", 4);
    if (ofr_msg_encode (msg, &b, err, errlen) != 0 || b.oom) {
        ofr_buf_free (&b);
        return b.oom ? ofr_errf (err, errlen, "out of memory") : -1;
    }
    uint32_t len = (uint32_t) (b.len - 4);
    unsigned char hdr[4] = { len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >> 24 };
    memcpy (b.data, hdr, 4);
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = write (fd, b.data + off, b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ofr_buf_free (&b);
            return ofr_errf (err, errlen, "pipe to worker: %s", strerror (errno));
        }
        off += (size_t) n;
    }
    ofr_buf_free (&b);
    return 0;
}

/* Records accumulate here and leave in messages of records_per_msg. */
typedef struct {
    int         fd;
    int64_t     task_id;
    ofr_record *recs;
    int         n, cap;
    char        err[OFR_ERRLEN];
} record_sink;

static int
sink_flush (record_sink *s)
{
    if (s->n == 0)
        return 0;
    ofr_msg m = { .type = OFR_MSG_RECORDS, .task_id = s->task_id,
                  .records = s->recs, .n_records = s->n };
    int rc = ofr_frame_write (s->fd, &m, s->err, sizeof s->err);
    for (int i = 0; i < s->n; i++)
        ofr_record_clear (&s->recs[i]);
    s->n = 0;
    return rc;
}

static int
sink_emit (void *arg, const ofr_record *r)
{
    record_sink *s = arg;
    ofr_record *d = &s->recs[s->n];
    *d = *r;
    d->pred_text = NULL;
    d->token_exits = NULL;
    d->stats = ofr_calloc ((size_t) (r->n_stats > 0 ? r->n_stats : 1), sizeof (double));
    if (!d->stats)
        return ofr_errf (s->err, sizeof s->err, "out of memory");
    if (r->n_stats > 0)
        memcpy (d->stats, r->stats, (size_t) r->n_stats * sizeof (double));
    if (r->pred_text && !(d->pred_text = ofr_strdup (r->pred_text))) {
        ofr_record_clear (d);
        return ofr_errf (s->err, sizeof s->err, "out of memory");
    }
    if (r->n_tokens > 0) {
        d->token_exits = malloc ((size_t) r->n_tokens);
        if (!d->token_exits) {
            ofr_record_clear (d);
            return ofr_errf (s->err, sizeof s->err, "out of memory");
        }
        memcpy (d->token_exits, r->token_exits, (size_t) r->n_tokens);
    }
    s->n++;
    return s->n == s->cap ? sink_flush (s) : 0;
}

static const ofr_plugin *
find_plugin (const ofr_task_env *env, const char *name)
{
    for (int i = 0; i < env->n_plugins; i++)
        if (strcmp (ofr_plugin_method (env->plugins[i])->name, name) == 0)
            return env->plugins[i];
    return NULL;
}

/*  The artifact store of a cell, with the `offramp fit` command that
    would produce what a NEEDS_FIT method misses, quoted in messages. */
static int
open_artifacts (const ofr_task_env *env, const ofr_cell *cell, ofr_artifacts **out,
                char *err, size_t errlen)
{
    const char *path = env->artifacts_path ? env->artifacts_path
                                           : ofr_artifacts_default_path ();
    char *params = ofr_cell_params_str (cell);
    ofr_buf cmd;
    ofr_buf_init (&cmd);
    ofr_buf_printf (&cmd, "offramp fit --model %s --suite %s --method %s%s%s",
                    cell->model, cell->suite, cell->method,
                    params && *params ? ":" : "", params ? params : "");
    if (strcmp (path, "artifacts") != 0)
        ofr_buf_printf (&cmd, " --out %.*s", (int) strcspn (path, ":"), path);
    ofr_artifacts_opts o = { .model = cell->model, .method = cell->method,
                             .suite = cell->suite, .split = cell->split,
                             .search_path = path, .fit_command = cmd.data };
    int rc = !params || cmd.oom ? ofr_errf (err, errlen, "out of memory")
                                : ofr_artifacts_new (&o, out, err, errlen);
    free (params);
    ofr_buf_free (&cmd);
    return rc;
}

/*  Prepare everything a runner needs; on failure `err` says what. */
static int
run_task (const ofr_task_env *env, const ofr_msg *task, record_sink *sink,
          char *err, size_t errlen)
{
    const ofr_cell *cell = &task->cell;
    const ofr_plugin *plugin = find_plugin (env, cell->method);
    if (!plugin)
        return ofr_errf (err, errlen, "method '%s': no such plugin on this worker",
                         cell->method);
    if (task->plugin_hash && *task->plugin_hash
        && strcmp (task->plugin_hash, ofr_plugin_hash (plugin)) != 0)
        return ofr_errf (err, errlen, "method '%s': plugin %s differs from the "
                         "coordinator's (sha256 %.12s vs %.12s)", cell->method,
                         ofr_plugin_path (plugin), ofr_plugin_hash (plugin),
                         task->plugin_hash);
    const ofr_method *m = ofr_plugin_method (plugin);
    const ofr_suite_class *sc = ofr_suite_find (cell->suite);
    if (!sc)
        return ofr_errf (err, errlen, "suite '%s': unknown", cell->suite);

    int rc = -1;
    ofr_params *params = NULL;
    void *state = NULL, *sdata = NULL;
    ofr_model *model = NULL;
    char *data_dir = NULL;
    ofr_artifacts *art = NULL;
    if (open_artifacts (env, cell, &art, err, errlen) != 0)
        goto out;
    if ((m->flags & OFR_METHOD_NEEDS_FIT) && !ofr_artifacts_any (art)) {
        ofr_errf (err, errlen, "method %s needs fitted artifacts and there are none for "
                  "model %s (looked for %s/%s/*.bin under %s); fit them first: %s",
                  m->name, cell->model, cell->model, m->name,
                  env->artifacts_path ? env->artifacts_path : ofr_artifacts_default_path (),
                  ofr_artifacts_fit_command (art));
        goto out;
    }
    if (ofr_cell_method_params (m, cell, (sc->kinds & OFR_KIND_SEQ2SEQ) != 0, &params,
                                err, errlen) != 0)
        goto out;
    if (ofr_model_open (cell->model, env->models_path, &model, err, errlen) != 0)
        goto out;
    if (!(m->kinds & model->ops->kind)) {
        ofr_errf (err, errlen, "method '%s' does not support %s models", m->name,
                  model->ops->family);
        goto out;
    }
    /* Decoders run through the decoder driver, with its host table. */
    bool decoder = model->ops->kind == OFR_KIND_DECODER;
    /* Encoder-decoders through the seq2seq driver, with its host table. */
    bool s2s = model->ops->kind == OFR_KIND_SEQ2SEQ;
    if (m->create (decoder ? ofr_decoder_runner_host ()
                   : s2s ? ofr_seq2seq_runner_host () : ofr_runner_host (),
                   ofr_params_values (params), &state, err, errlen) != 0) {
        if (!*err)
            ofr_errf (err, errlen, "plugin %s: create failed", m->name);
        state = NULL;
        goto out;
    }
    if (sc->data_subdir
        && ofr_path_find_root (env->data_path, sc->data_subdir, &data_dir, err, errlen) != 0)
        goto out;
    int n_ex = 0;
    if (sc->load (data_dir, cell->split, &sdata, &n_ex, err, errlen) != 0) {
        sdata = NULL;
        goto out;
    }
    for (int i = 0; i < task->n_examples; i++)
        if (task->examples[i] >= n_ex) {
            ofr_errf (err, errlen, "suite %s/%s has %d examples, task asks for #%d",
                      sc->name, cell->split, n_ex, task->examples[i]);
            goto out;
        }
    ofr_runner_ctx ctx = { .model = model, .suite = sc, .suite_data = sdata,
                           .method = m, .method_state = state, .cell = cell,
                           .artifacts = art };
    if ((decoder ? ofr_decoder_runner_run : s2s ? ofr_seq2seq_runner_run : ofr_runner_run)
            (&ctx, task->examples, task->n_examples, sink_emit, sink, err, errlen) != 0) {
        if (*sink->err)
            ofr_errf (err, errlen, "%s", sink->err);
        goto out;
    }
    if (sink_flush (sink) != 0) {
        ofr_errf (err, errlen, "%s", sink->err);
        goto out;
    }
    rc = 0;
out:
    if (state)
        m->destroy (state);
    if (sdata)
        sc->free (sdata);
    ofr_model_destroy (&model);
    ofr_params_destroy (&params);
    ofr_artifacts_destroy (&art);   /* after destroy: plugins hold its blobs */
    free (data_dir);
    return rc;
}

int
ofr_task_child_run (const ofr_task_env *env, const ofr_msg *task, int fd)
{
    record_sink sink = { .fd = fd, .task_id = task->task_id };
    sink.cap = env->records_per_msg > 0 ? env->records_per_msg : 32;
    sink.recs = ofr_calloc ((size_t) sink.cap, sizeof (ofr_record));
    char err[OFR_ERRLEN] = "";
    int rc = sink.recs ? run_task (env, task, &sink, err, sizeof err)
                       : ofr_errf (err, sizeof err, "out of memory");
    for (int i = 0; i < sink.n; i++)
        ofr_record_clear (&sink.recs[i]);
    free (sink.recs);
    ofr_msg end = { .type = rc == 0 ? OFR_MSG_DONE : OFR_MSG_FAIL,
                    .task_id = task->task_id, .reason = rc == 0 ? NULL : err };
    char werr[OFR_ERRLEN];
    if (ofr_frame_write (fd, &end, werr, sizeof werr) != 0)
        return 3;
    return rc == 0 ? 0 : 1;
}
