/*  cmd_fit.c -- `offramp fit`: fit a method's light components (exit
    heads, thresholds, gates) on features of a frozen model over a fitting
    split, and store them as artifacts (workers/artifacts.h) for runs to
    load. The fitting split is a train split or a prefix of one, never the
    split evaluations score: that is refused here, and refused again when a
    run loads an artifact whose sidecar names the evaluated split. */
#include "commands.h"
#include "plan.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../workers/artifacts.h"
#include "../workers/engine/blas_setup.h"
#include "../workers/fit_collect.h"
#include "../workers/fit_collect_decoder.h"
#include "../workers/plugin_host.h"
#include "../workers/runner.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage (FILE *out)
{
    fprintf (out,
        "usage: offramp fit --model M --suite S --method NAME[:k=v,...] [options]\n\n"
        "Runs the frozen model over a fitting split, collects per example and layer\n"
        "the exit distribution and the feature vector ([CLS] state for encoders), and\n"
        "lets the method's fit() learn its heads / thresholds from them. Artifacts go\n"
        "to DIR/<model>/<method>/<name>.bin with a JSON sidecar recording model,\n"
        "method, parameters, the fitting data (split_desc), size and sha256.\n"
        "Fitting on the split evaluations use (dev, test, the suite's default) is\n"
        "refused: fitted components must never see evaluated data.\n\n"
        "options:\n"
        "  --split NAME     fitting split (default: train)\n"
        "  --limit N        fit on the first N examples of the split\n"
        "  --out DIR        artifact root (default: first dir of $OFFRAMP_ARTIFACTS,\n"
        "                   else ./artifacts; `offramp run --artifacts DIR` reads it)\n"
        "  --batch N        rows per model batch (default 16)\n"
        "  --threads N      BLAS threads (default 1)\n"
        "  --plugins DIRS   plugin search path\n"
        "  --models DIRS    model search path\n"
        "  --data DIRS      data search path\n"
        "  -q, --quiet      no progress lines\n");
}

/*  Evaluated splits are the suite's default and anything named like one. */
static bool
evaluated_split (const ofr_suite_class *sc, const char *split)
{
    return strcmp (split, "dev") == 0 || strcmp (split, "test") == 0
        || strcmp (split, "validation") == 0 || strcmp (split, "eval") == 0
        || (sc->default_split && strcmp (split, sc->default_split) == 0);
}

/* {"param": "value as given, or the default"} for the sidecar; caller frees. */
static char *
params_json (const ofr_method *m, const ofr_cell *cell)
{
    json_t *o = json_object ();
    for (int i = 0; o && i < m->n_params; i++) {
        const char *v = m->params[i].default_value;
        for (int k = 0; k < cell->n_params; k++)
            if (strcmp (cell->params[k].key, m->params[i].name) == 0)
                v = cell->params[k].value;
        json_object_set_new (o, m->params[i].name, json_string (v ? v : ""));
    }
    char *s = o ? json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (o);
    return s;
}

/*  A clone ships dev splits only (data/) and the train splits live in
    ../shared/data: the first data root whose copy of the suite has the
    split wins, not merely the first that has the suite. */
static int
load_split (const ofr_suite_class *sc, const char *path, const char *split, void **data,
            int *n, char *err, size_t errlen)
{
    if (!sc->data_subdir)
        return sc->load (NULL, split, data, n, err, errlen);
    int rc = -1;
    for (const char *p = path; rc != 0 && *p; ) {
        size_t len = strcspn (p, ":");
        char dir[1024], sub[1200], why[OFR_ERRLEN];
        snprintf (dir, sizeof dir, "%.*s", (int) len, p);
        snprintf (sub, sizeof sub, "%s/%s", dir, sc->data_subdir);
        if (len > 0 && access (sub, F_OK) == 0) {
            rc = sc->load (dir, split, data, n, why, sizeof why);
            if (rc != 0 && !*err)
                ofr_errf (err, errlen, "%s", why);
        }
        p += len + (p[len] == ':');
    }
    if (rc != 0 && !*err)
        ofr_errf (err, errlen, "suite %s: no %s under any of %s (set --data or OFFRAMP_DATA)",
                  sc->name, sc->data_subdir, path);
    return rc;
}

typedef struct {
    const char *model, *suite, *method, *split, *out_dir;
    long long   limit, batch;
    char       *plugins, *models, *data;
    bool        quiet;
} fit_args;

/* Everything after the arguments are checked; err says what failed. */
static int
fit_cell (const fit_args *a, const ofr_cell *cell, char *err, size_t errlen)
{
    const ofr_suite_class *sc = ofr_suite_find (cell->suite);
    if (!sc)
        return ofr_errf (err, errlen, "suite '%s': unknown (offramp suites)", cell->suite);
    if (evaluated_split (sc, cell->split))
        return ofr_errf (err, errlen, "refusing to fit on %s/%s: that split is what runs "
                         "evaluate, and fitting must never see evaluated data; fit on a "
                         "train split (--split train, optionally --limit N)",
                         sc->name, cell->split);
    ofr_plugin **plugins = NULL;
    int n_plugins = 0, rc = -1, n_ex = 0;
    ofr_params *params = NULL;
    void *state = NULL, *sdata = NULL;
    ofr_model *model = NULL;
    ofr_artifacts *art = NULL;
    ofr_fit_data fd = { 0 };
    char *pjson = NULL;
    const ofr_method *m = NULL;
    if (ofr_plugin_scan (a->plugins, ofr_runner_host (), &plugins, &n_plugins, err, errlen) != 0)
        goto out;
    ofr_plugin *p = ofr_plugin_find (plugins, n_plugins, cell->method);
    if (!p) {
        ofr_errf (err, errlen, "method '%s': no such plugin in %s", cell->method, a->plugins);
        goto out;
    }
    m = ofr_plugin_method (p);
    if (!m->fit) {
        ofr_errf (err, errlen, "method %s has nothing to fit (no fit())", m->name);
        goto out;
    }
    if (ofr_params_new (m, cell->params, cell->n_params, &params, err, errlen) != 0)
        goto out;
    if (m->create (ofr_runner_host (), ofr_params_values (params), &state, err, errlen) != 0) {
        state = NULL;
        goto out;
    }
    if (ofr_model_open (cell->model, a->models, &model, err, errlen) != 0)
        goto out;
    if (!(m->kinds & model->ops->kind)) {
        ofr_errf (err, errlen, "method '%s' does not support %s models", m->name,
                  model->ops->family);
        goto out;
    }
    if (load_split (sc, a->data, cell->split, &sdata, &n_ex, err, errlen) != 0) {
        sdata = NULL;
        goto out;
    }
    int n = a->limit > 0 && a->limit < n_ex ? (int) a->limit : n_ex;
    if (!a->quiet)
        fprintf (stderr, "offramp fit: %s on %s, %s/%s[0:%d]\n", m->name, cell->model,
                 sc->name, cell->split, n);
    /* Decoders: one fitting example per position of the model's text. */
    if ((model->ops->kind == OFR_KIND_DECODER
             ? ofr_fit_collect_decoder (model, sc, sdata, n, !a->quiet, &fd, err, errlen)
             : ofr_fit_collect (model, sc, sdata, n, (int) a->batch, !a->quiet, &fd, err,
                                errlen)) != 0)
        goto out;
    char desc[256];
    snprintf (desc, sizeof desc, "%s/%s[0:%d]", sc->name, cell->split, n);
    if (!(pjson = params_json (m, cell))) {
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    ofr_artifacts_opts ao = { .model = cell->model, .method = m->name, .suite = sc->name,
                              .params = pjson, .out_dir = a->out_dir,
                              .split_desc = desc, .n_examples = n };
    if (ofr_artifacts_new (&ao, &art, err, errlen) != 0)
        goto out;
    ofr_fit_ctx fc = { .struct_size = sizeof fc, .n_examples = fd.n, .n_layers = fd.n_layers,
                       .n_outputs = fd.n_outputs, .probs = fd.probs, .labels = fd.labels,
                       .feat_dim = fd.feat_dim, .features = fd.features, .split_desc = desc };
    ofr_runner_ctx ctx = { .model = model, .suite = sc, .suite_data = sdata, .method = m,
                           .method_state = state, .cell = cell, .artifacts = art };
    if (ofr_runner_fit (&ctx, &fc, err, errlen) != 0)
        goto out;
    printf ("fitted %s for %s on %s (%d examples, %d layers, %s features of %d): %d "
            "artifact(s), last %s\n", m->name, cell->model, desc, fd.n, fd.n_layers,
            fd.raw_state ? "token_state" : "hidden_state", fd.feat_dim,
            ofr_artifacts_n_saved (art), ofr_artifacts_last_path (art));
    rc = 0;
out:
    if (state)
        m->destroy (state);
    if (sdata)
        sc->free (sdata);
    ofr_fit_data_clear (&fd);
    ofr_artifacts_destroy (&art);
    ofr_model_destroy (&model);
    ofr_params_destroy (&params);
    ofr_plugin_list_destroy (&plugins, &n_plugins);
    free (pjson);
    return rc;
}

enum { O_MODEL = 256, O_SUITE, O_METHOD, O_SPLIT, O_LIMIT, O_OUT, O_BATCH, O_THREADS,
       O_PLUGINS, O_MODELS, O_DATA };

static const struct option s_opts[] = {
    { "model", required_argument, 0, O_MODEL },     { "suite", required_argument, 0, O_SUITE },
    { "method", required_argument, 0, O_METHOD },   { "split", required_argument, 0, O_SPLIT },
    { "limit", required_argument, 0, O_LIMIT },     { "out", required_argument, 0, O_OUT },
    { "batch", required_argument, 0, O_BATCH },     { "threads", required_argument, 0, O_THREADS },
    { "plugins", required_argument, 0, O_PLUGINS }, { "models", required_argument, 0, O_MODELS },
    { "data", required_argument, 0, O_DATA },       { "quiet", no_argument, 0, 'q' },
    { "help", no_argument, 0, 'h' },                { 0, 0, 0, 0 }
};

static int
int_arg (const char *flag, const char *v, long long hi, long long *out)
{
    if (ofr_parse_int (v, out) != 0 || *out < 1 || *out > hi) {
        fprintf (stderr, "offramp fit: %s %s: expected an integer in 1..%lld\n", flag, v, hi);
        return -1;
    }
    return 0;
}

int
ofr_cmd_fit (int argc, char **argv)
{
    fit_args a = { .batch = 16 };
    long long threads = 1;
    int c, rc = 2;
    char out_buf[1024], suite_spec[256], err[OFR_ERRLEN] = "";
    ofr_plan *plan = NULL;
    optind = 1;
    while ((c = getopt_long (argc, argv, "qh", s_opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:   a.model = optarg; break;
        case O_SUITE:   a.suite = optarg; break;
        case O_METHOD:  a.method = optarg; break;
        case O_SPLIT:   a.split = optarg; break;
        case O_OUT:     a.out_dir = optarg; break;
        case O_LIMIT:   if (int_arg ("--limit", optarg, 1 << 30, &a.limit)) goto out; break;
        case O_BATCH:   if (int_arg ("--batch", optarg, 4096, &a.batch)) goto out; break;
        case O_THREADS: if (int_arg ("--threads", optarg, 1024, &threads)) goto out; break;
        case O_PLUGINS: free (a.plugins); a.plugins = ofr_strdup (optarg); break;
        case O_MODELS:  free (a.models); a.models = ofr_strdup (optarg); break;
        case O_DATA:    free (a.data); a.data = ofr_strdup (optarg); break;
        case 'q':       a.quiet = true; break;
        case 'h':       usage (stdout); rc = 0; goto out;
        default:        usage (stderr); goto out;
        }
    }
    if (!a.model || !a.suite || !a.method || optind < argc) {
        fprintf (stderr, "offramp fit: needs --model, --suite and --method (offramp fit --help)\n");
        goto out;
    }
    const char *colon = strchr (a.suite, ':');
    if (colon && a.split) {
        fprintf (stderr, "offramp fit: give the split once (--suite %s or --split %s)\n",
                 a.suite, a.split);
        goto out;
    }
    snprintf (suite_spec, sizeof suite_spec, "%s%s%s", a.suite, colon ? "" : ":",
              colon ? "" : a.split ? a.split : "train");
    if (!a.out_dir) {
        const char *env = ofr_artifacts_default_path ();
        snprintf (out_buf, sizeof out_buf, "%.*s", (int) strcspn (env, ":"), env);
        a.out_dir = out_buf;
    }
    rc = 1;
    if (!a.plugins) a.plugins = ofr_strdup (ofr_plugin_default_path ());
    if (!a.models) a.models = ofr_default_models_path ();
    if (!a.data) a.data = ofr_default_data_path ();
    if (!a.plugins || !a.models || !a.data) {
        fprintf (stderr, "offramp fit: out of memory\n");
        goto out;
    }
    const char *methods[] = { a.method };
    if (ofr_plan_from_args (a.model, suite_spec, methods, 1, 0, &plan, err, sizeof err) != 0) {
        fprintf (stderr, "offramp fit: %s\n", err);
        goto out;
    }
    if (ofr_plan_n_cells (plan) != 1) {
        fprintf (stderr, "offramp fit: one model, suite and method configuration at a "
                 "time (no sweeps); got %d\n", ofr_plan_n_cells (plan));
        goto out;
    }
    ofr_blas_set_threads ((int) threads);
    if (fit_cell (&a, ofr_plan_cell (plan, 0), err, sizeof err) != 0) {
        fprintf (stderr, "offramp fit: %s\n", err);
        goto out;
    }
    rc = 0;
out:
    ofr_plan_destroy (&plan);
    free (a.plugins);
    free (a.models);
    free (a.data);
    return rc;
}
