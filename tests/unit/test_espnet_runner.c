/*  test_espnet_runner.c -- ESPNet + CamVid through the harness's runner
    (workers/runner.c): the ofr_model of kind CNN (espnet_model.c), the
    camvid suite class and the runner's dense predictions (label maps ->
    confusion statistics).

    Imports the published checkpoint into a temporary directory, runs the
    first 4 CamVid test images with batch size 2 under (a) the full model
    and (b) a method that skips level2.1 and exits at decoder.l2, and checks
    each record's statistics against the runtime run directly (same label
    maps, bit for bit), exit layers, FLOPs, the per-pixel exit
    probabilities the host hands plugins, and that skipping a block that
    cannot be skipped is an error naming it.

    Skips (77) if ../shared or /usr/bin/python3 with torch is missing. */
#include "common/ofr_common.h"
#include "harness/commands.h"
#include "suites/camvid.h"
#include "workers/models/espnet.h"
#include "workers/models/espnet_model.h"
#include "workers/runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
#define N_EX 4
#define NPIX ((size_t) OFR_CAMVID_WIDTH * OFR_CAMVID_HEIGHT)
#define SKIP_BLOCK 3     /* level2.1 */
#define EXIT_BLOCK 14    /* decoder.l2 */

#include "tests/unit/check.h"

/* ------------------------------------------------------------ the methods */

typedef struct {
    const ofr_host *host;
    int             bad_skip;      /* skip this block (not skippable): an error */
    double          prob_sum_err;  /* worst |sum of a pixel's probs - 1|        */
    int             prob_calls;
} method_state;

static method_state s_state;

static int
m_create (const ofr_host *host, const ofr_value *values, void **state, char *err,
          size_t errlen)
{
    (void) values; (void) err; (void) errlen;
    s_state.host = host;
    *state = &s_state;
    return 0;
}

static void
m_destroy (void *state)
{
    (void) state;
}

static int
skip_before (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    method_state *s = state;
    int target = s->bad_skip ? s->bad_skip : SKIP_BLOCK;
    for (int i = 0; i < batch->n_rows; i++)
        actions[i] = layer == target ? OFR_SKIP : OFR_RUN;
    return 0;
}

static int
exit_after (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    method_state *s = state;
    for (int i = 0; i < batch->n_rows; i++) {
        actions[i] = layer == EXIT_BLOCK ? OFR_EXIT : OFR_CONTINUE;
        if (layer != EXIT_BLOCK)
            continue;
        int npos = 0;
        const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &npos);
        if (!p)
            return -1;
        s->prob_calls++;
        for (size_t px = 0; px < NPIX; px += 997) {
            double sum = 0;
            for (int c = 0; c < OFR_CAMVID_CLASSES; c++)
                sum += p[(size_t) c * NPIX + px];
            s->prob_sum_err = fmax (s->prob_sum_err, fabs (sum - 1.0));
        }
    }
    return 0;
}

static const ofr_method s_full = {
    OFR_METHOD_HEADER, .name = "full", .version = "test", .summary = "full model",
    .kinds = OFR_KIND_ALL, .create = m_create, .destroy = m_destroy,
};

static const ofr_method s_skip_exit = {
    OFR_METHOD_HEADER, .name = "skipexit", .version = "test",
    .summary = "skip level2.1, exit at decoder.l2", .kinds = OFR_KIND_CNN,
    .create = m_create, .destroy = m_destroy,
    .before_layer = skip_before, .after_layer = exit_after,
};

/* ----------------------------------------------------------- the records */

typedef struct {
    double stats[N_EX][144];
    int    exit_layer[N_EX];
    double flops[N_EX], flops_full[N_EX];
    int    n;
} sink;

static int
emit (void *arg, const ofr_record *r)
{
    sink *s = arg;
    if (r->example < 0 || r->example >= N_EX || r->n_stats != 144)
        return -1;
    memcpy (s->stats[r->example], r->stats, sizeof s->stats[0]);
    s->exit_layer[r->example] = r->exit_layer;
    s->flops[r->example] = r->flops;
    s->flops_full[r->example] = r->flops_full;
    s->n++;
    return 0;
}

/* ----------------------------------------------------------------- setup */

static int
run_quiet (char *const argv[])
{
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen ("/dev/null", "w", stderr))
            _exit (126);
        execv (argv[0], argv);
        _exit (127);
    }
    int st;
    if (waitpid (pid, &st, 0) < 0 || !WIFEXITED (st))
        return -1;
    return WEXITSTATUS (st);
}

static bool
exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

/* The runtime directly: stats of example i with `skip` skipped, exit at `exit_b`. */
static void
direct_stats (ofr_espnet *net, ofr_camvid *cv, int i, int skip, int exit_b, double *stats,
              uint8_t *labels, uint8_t *pred)
{
    char err[OFR_ERRLEN];
    ofr_espnet_run *r = NULL;
    memset (stats, 0, 144 * sizeof *stats);
    int rc = ofr_espnet_run_new (net, OFR_CAMVID_HEIGHT, OFR_CAMVID_WIDTH, &r, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc != 0)
        return;
    rc = ofr_camvid_load_image (cv, i, ofr_espnet_run_input (r), err, sizeof err);
    rc = rc ? rc : ofr_camvid_load_labels (cv, i, labels, err, sizeof err);
    for (int b = 0; rc == 0 && b <= exit_b; b++)
        rc = ofr_espnet_run_block (r, b, b == skip, err, sizeof err);
    rc = rc ? rc : ofr_espnet_labels (r, exit_b, pred, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc == 0)
        ofr_camvid_confusion_add (stats, labels, pred, NPIX);
    ofr_espnet_run_destroy (&r);
}

static int
run_cell (ofr_model *model, void *sdata, const ofr_method *m, sink *out, char *err,
          size_t errlen)
{
    ofr_cell cell = { .index = 0, .model = "espnet-camvid", .suite = "camvid",
                      .split = "test", .method = (char *) m->name, .batch_size = 2,
                      .seed = 1 };
    void *state = NULL;
    m->create (ofr_runner_host (), NULL, &state, err, errlen);
    ofr_runner_ctx ctx = { .model = model, .suite = &ofr_suite_camvid, .suite_data = sdata,
                           .method = m, .method_state = state, .cell = &cell };
    int32_t ex[N_EX];
    for (int i = 0; i < N_EX; i++)
        ex[i] = i;
    memset (out, 0, sizeof *out);
    int rc = ofr_runner_run (&ctx, ex, N_EX, emit, out, err, errlen);
    m->destroy (state);
    return rc;
}

int
main (void)
{
    const char *src = getenv ("OFR_SOURCE_DIR"), *build = getenv ("OFR_BUILD_DIR");
    if (!src || !build) {
        fprintf (stderr, "test_espnet_runner: OFR_SOURCE_DIR / OFR_BUILD_DIR not set "
                 "(run via ctest)\n");
        return 1;
    }
    char pth[4200], data[4200], tmp[4200], dir[4300], helper[4200], err[OFR_ERRLEN];
    snprintf (pth, sizeof pth, "%s/../shared/models/espnet-camvid/espnet_p_2_q_8_camvid.pth",
              src);
    snprintf (data, sizeof data, "%s/../shared/data", src);
    snprintf (helper, sizeof helper, "%s/tools/import_pth.py", src);
    char camvid[4300];
    snprintf (camvid, sizeof camvid, "%s/segmentation/camvid", data);
    if (!exists (pth) || !exists (camvid)) {
        printf ("test_espnet_runner: SKIP: %s or %s is absent\n", pth, camvid);
        return 77;
    }
    char *const probe[] = { PY, "-c", "import torch, numpy", NULL };
    if (run_quiet (probe) != 0) {
        printf ("test_espnet_runner: SKIP: %s with torch and numpy is not available\n", PY);
        return 77;
    }
    snprintf (tmp, sizeof tmp, "%s/tmp-test-espnet-runner-XXXXXX", build);
    if (!mkdtemp (tmp)) {
        perror (tmp);
        return 1;
    }
    snprintf (dir, sizeof dir, "%s/espnet-camvid", tmp);
    char *argv[] = { "import", pth, "--arch", "espnet-p2q8", "--out", dir,
                     "--helper", helper, "--python", PY, NULL };
    ofr_model *model = NULL;
    ofr_espnet *net = NULL;
    ofr_camvid *cv = NULL;
    void *sdata = NULL;
    int n_ex = 0;
    uint8_t *labels = malloc (NPIX), *pred = malloc (NPIX);
    sink *got = calloc (1, sizeof *got);
    double (*want)[144] = calloc (N_EX, sizeof *want);
    if (!labels || !pred || !got || !want)
        return 1;
    CHECK (ofr_cmd_import (10, argv) == 0, "offramp import failed");
    int rc = ofr_espnet_model_open (dir, &model, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    CHECK (ofr_espnet_load (dir, &net, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_camvid_open (camvid, "test", &cv, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_suite_camvid.load (data, "test", &sdata, &n_ex, err, sizeof err) == 0
           && n_ex == 233, "suite load: %s (%d examples)", err, n_ex);
    if (!model || !net || !cv || !sdata)
        goto done;
    const ofr_model_ops *ops = model->ops;
    CHECK (ops->kind == OFR_KIND_CNN && ofr_espnet_model_is (model), "kind %u", ops->kind);
    CHECK (strcmp (model->name, "espnet-camvid") == 0, "name %s", model->name);
    CHECK (ops->n_layers (model) == 16, "%d layers", ops->n_layers (model));
    CHECK (ops->n_outputs (model) == (int) (12 * NPIX), "%d outputs", ops->n_outputs (model));

    /* (a) the full model: records == the runtime, exit at the last layer. */
    rc = run_cell (model, sdata, &s_full, got, err, sizeof err);
    CHECK (rc == 0 && got->n == N_EX, "full: %s (%d records)", err, got->n);
    for (int i = 0; i < N_EX; i++) {
        direct_stats (net, cv, i, -1, 15, want[i], labels, pred);
        CHECK (memcmp (want[i], got->stats[i], sizeof want[i]) == 0,
               "full: example %d statistics differ from the runtime's", i);
        CHECK (got->exit_layer[i] == 16, "full: exit layer %d", got->exit_layer[i]);
        CHECK (fabs (got->flops[i] / 1e9 - 2.671) < 0.001
               && got->flops[i] == got->flops_full[i], "full: %g FLOPs (full %g)",
               got->flops[i], got->flops_full[i]);
    }
    ofr_metric mt[16];
    int nm = ofr_suite_camvid.metrics (&got->stats[0][0], N_EX, mt, 16);
    CHECK (nm == 14 && mt[0].value > 40 && mt[0].value < 90, "mIoU %g", nm > 0 ? mt[0].value : 0);
    printf ("test_espnet_runner: full model, %d images: mIoU %.2f, pixel accuracy %.2f\n",
            N_EX, mt[0].value, mt[1].value);

    /* (b) skip level2.1, exit at decoder.l2 (coarse labels, pixel-repeated). */
    memset (&s_state, 0, sizeof s_state);
    rc = run_cell (model, sdata, &s_skip_exit, got, err, sizeof err);
    CHECK (rc == 0 && got->n == N_EX, "skipexit: %s (%d records)", err, got->n);
    /* The skipped block computes BR(x) (espnet.h), but the host charges
       nothing for a skipped layer: its BR (ofr_espnet_block_skip_flops) is
       the method's to charge, and this test method charges nothing. */
    double f = 0;
    for (int b = 0; b <= EXIT_BLOCK; b++)
        f += b == SKIP_BLOCK ? 0 : ofr_espnet_block_flops (net, b, OFR_CAMVID_HEIGHT,
                                                            OFR_CAMVID_WIDTH);
    for (int i = 0; i < N_EX; i++) {
        direct_stats (net, cv, i, SKIP_BLOCK, EXIT_BLOCK, want[i], labels, pred);
        CHECK (memcmp (want[i], got->stats[i], sizeof want[i]) == 0,
               "skipexit: example %d statistics differ from the runtime's", i);
        CHECK (got->exit_layer[i] == EXIT_BLOCK + 1, "skipexit: exit layer %d",
               got->exit_layer[i]);
        CHECK (fabs (got->flops[i] - f) < 1.0, "skipexit: %g FLOPs, expected %g",
               got->flops[i], f);
    }
    CHECK (s_state.prob_calls == N_EX && s_state.prob_sum_err < 1e-5,
           "exit probabilities: %d calls, worst |sum - 1| %g", s_state.prob_calls,
           s_state.prob_sum_err);

    /* (c) level2_0 cannot be skipped. */
    memset (&s_state, 0, sizeof s_state);
    s_state.bad_skip = 1;
    rc = run_cell (model, sdata, &s_skip_exit, got, err, sizeof err);
    CHECK (rc == -1 && strstr (err, "level2_0") && strstr (err, "cannot be skipped"),
           "skipping level2_0: rc %d, %s", rc, err);
done:
    if (sdata)
        ofr_suite_camvid.free (sdata);
    ofr_camvid_destroy (&cv);
    ofr_espnet_destroy (&net);
    ofr_model_destroy (&model);
    free (labels);
    free (pred);
    free (got);
    free (want);
    const char *files[] = { "espnet-camvid/config.json", "espnet-camvid/model.safetensors",
                            "espnet-camvid" };
    char path[8400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", tmp, files[i]);
        remove (path);
    }
    rmdir (tmp);
    if (s_failures)
        fprintf (stderr, "test_espnet_runner: %d failure(s)\n", s_failures);
    else
        printf ("test_espnet_runner: ok\n");
    return s_failures ? 1 : 0;
}
