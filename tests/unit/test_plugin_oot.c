/*  test_plugin_oot.c -- a plugin built out of tree, the way plugins/README.md
    tells users to: the header copied into a fresh include directory (as
    `make install` would), the plugin compiled with one `cc -shared -fPIC`
    command, then loaded with ofr_plugin_load. Two sources: plugins/truncate.c
    and the worked example extracted from plugins/README.md, which is also
    driven through a simulated batch (with row compaction) against a fake
    host to check its decisions and its FLOPs charges.

    The plugins are compiled without sanitizers even in a sanitized build;
    loading them into a sanitized host is fine. Exit 77 (skip) without cc. */
#include "workers/plugin_host.h"
#include "common/ofr_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_failures;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fputc ('\n', stderr);                                          \
            s_failures++;                                                  \
        }                                                                  \
    } while (0)

static int
write_file (const char *path, const char *data, size_t n)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite (data, 1, n, f);
    return (fclose (f) == 0 && w == n) ? 0 : -1;
}

static int
copy_file (const char *from, const char *to)
{
    char *data = NULL, err[OFR_ERRLEN];
    size_t n = 0;
    if (ofr_read_file (from, &data, &n, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return -1;
    }
    int rc = write_file (to, data, n);
    free (data);
    return rc;
}

/*  The ```c block right after the "<!-- example: NAME -->" marker. */
static int
extract_example (const char *readme, const char *name, const char *to)
{
    char *text = NULL, err[OFR_ERRLEN], marker[200];
    size_t n = 0;
    if (ofr_read_file (readme, &text, &n, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return -1;
    }
    snprintf (marker, sizeof marker, "<!-- example: %s -->", name);
    const char *m = strstr (text, marker);
    const char *start = m ? strstr (m, "```c\n") : NULL;
    const char *end = start ? strstr (start + 5, "\n```") : NULL;
    int rc = -1;
    if (end)
        rc = write_file (to, start + 5, (size_t) (end - start - 5) + 1);
    else
        fprintf (stderr, "%s: no ```c block after %s\n", readme, marker);
    free (text);
    return rc;
}

/*  The README's command: cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -I<inc>,
    plus -Werror so that an example with warnings fails here. Returns the
    exit status, 127 when cc cannot be run. */
static int
compile (const char *inc_dir, const char *src, const char *out)
{
    char inc[1200];
    snprintf (inc, sizeof inc, "-I%s", inc_dir);
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp ("cc", "cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared",
                "-fPIC", inc, "-o", out, src, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    if (waitpid (pid, &status, 0) != pid)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* ---- A fake host: exit distributions from a table, FLOPs into counters ---- */

#define N_ROWS   5
#define N_LAYERS 4
#define N_OUT    3

typedef struct {
    const ofr_batch *batch;                       /* the call in progress    */
    float  probs[N_ROWS][N_LAYERS][N_OUT];
    double flops[N_ROWS];
    int    bad_calls;                             /* i out of range, etc.    */
} fake_ctx;

static const float *
fake_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    fake_ctx *f = host_ctx;
    if (!f || i < 0 || i >= f->batch->n_rows || layer < 0 || layer >= N_LAYERS) {
        if (f)
            f->bad_calls++;
        return NULL;
    }
    if (n_positions)
        *n_positions = 1;
    return f->probs[f->batch->row_ids[i]][layer];
}

static void
fake_charge_flops (void *host_ctx, int i, double flops)
{
    fake_ctx *f = host_ctx;
    if (i < 0 || i >= f->batch->n_rows)
        f->bad_calls++;
    else
        f->flops[f->batch->row_ids[i]] += flops;
}

/*  Top probability per row and layer; the top class moves with the row so
    that the plugin must scan the whole distribution. */
static const float s_top[N_ROWS][N_LAYERS] = {
    { 0.95f, 0.50f, 0.50f, 0.50f },   /* confident before min_layer only: runs out */
    { 0.60f, 0.85f, 0.90f, 0.90f },   /* exits after layer 2 (0-based 1)            */
    { 0.50f, 0.70f, 0.81f, 0.99f },   /* exits after layer 3                        */
    { 0.50f, 0.50f, 0.50f, 0.99f },   /* exits at the last layer, by the plugin     */
    { 0.99f, 0.99f, 0.99f, 0.99f },   /* exits as soon as allowed                   */
};
static const int s_want_exit[N_ROWS] = { 3, 1, 2, 3, 1 };
/* Layers at which the plugin looked at the row: from min_layer to its exit. */
static const int s_want_looks[N_ROWS] = { 3, 1, 2, 3, 1 };

/*  Run one batch like the runtime: actions pre-filled, exited rows
    compacted away, rows still active after the last layer exit there. */
static void
simulate (const ofr_method *m, void *state, fake_ctx *f, int *exit_layer)
{
    int ids[N_ROWS], n = N_ROWS;
    for (int r = 0; r < N_ROWS; r++) {
        ids[r] = r;
        exit_layer[r] = -1;
    }
    ofr_batch batch = { .struct_size = sizeof batch, .kind = OFR_KIND_ENCODER,
                        .batch_size = N_ROWS, .row_ids = ids, .n_layers = N_LAYERS,
                        .n_outputs = N_OUT, .host_ctx = f };
    f->batch = &batch;
    for (int l = 0; l < N_LAYERS && n > 0; l++) {
        uint8_t actions[N_ROWS];
        memset (actions, OFR_CONTINUE, sizeof actions);
        batch.n_rows = n;
        CHECK (m->after_layer (state, &batch, l, actions) == 0, "after_layer %d", l);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            if (actions[i] == OFR_EXIT || l == N_LAYERS - 1)
                exit_layer[ids[i]] = l;
            else
                ids[kept++] = ids[i];
        }
        n = kept;
    }
    f->batch = NULL;
}

static void
test_toy_maxprob (const ofr_plugin *p)
{
    const ofr_method *m = ofr_plugin_method (p);
    CHECK (strcmp (m->name, "toy_maxprob") == 0, "name %s", m->name);
    CHECK (m->n_params == 2, "params");
    fake_ctx f = { 0 };
    for (int r = 0; r < N_ROWS; r++)
        for (int l = 0; l < N_LAYERS; l++) {
            float rest = (1.0f - s_top[r][l]) / 2;
            for (int c = 0; c < N_OUT; c++)
                f.probs[r][l][c] = c == r % N_OUT ? s_top[r][l] : rest;
        }
    ofr_host host = *ofr_host_listing ();
    host.exit_probs = fake_exit_probs;
    host.charge_flops = fake_charge_flops;

    ofr_kv kv[2] = { { "threshold", "0.8" }, { "min_layer", "2" } };
    ofr_params *params = NULL;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_params_new (m, kv, 2, &params, err, sizeof err) == 0, "%s", err);
    void *state = NULL;
    if (!params || m->create (&host, ofr_params_values (params), &state, err, sizeof err) != 0) {
        CHECK (0, "create: %s", err);
        ofr_params_destroy (&params);
        return;
    }
    int exit_layer[N_ROWS];
    simulate (m, state, &f, exit_layer);
    for (int r = 0; r < N_ROWS; r++) {
        CHECK (exit_layer[r] == s_want_exit[r], "row %d exits at %d, want %d", r,
               exit_layer[r], s_want_exit[r]);
        CHECK (f.flops[r] == (double) (s_want_looks[r] * N_OUT),
               "row %d charged %.0f FLOPs, want %d", r, f.flops[r], s_want_looks[r] * N_OUT);
    }
    CHECK (f.bad_calls == 0, "%d host calls out of range", f.bad_calls);
    m->destroy (state);
    ofr_params_destroy (&params);

    /* The README's range claim: threshold is declared [0, 1]. */
    ofr_kv big = { "threshold", "1.5" };
    CHECK (ofr_params_new (m, &big, 1, &params, err, sizeof err) == -1
           && strcmp (err, "toy_maxprob: threshold=1.5 out of range [0, 1]") == 0,
           "range: %s", err);
}

static void
test_truncate (const ofr_plugin *p)
{
    const ofr_method *m = ofr_plugin_method (p);
    CHECK (strcmp (m->name, "truncate") == 0, "name %s", m->name);
    ofr_kv kv = { "layer", "2" };
    ofr_params *params = NULL;
    char err[OFR_ERRLEN] = "";
    void *state = NULL;
    if (ofr_params_new (m, &kv, 1, &params, err, sizeof err) != 0
        || m->create (ofr_host_listing (), ofr_params_values (params), &state, err,
                      sizeof err) != 0) {
        CHECK (0, "truncate layer=2: %s", err);
        ofr_params_destroy (&params);
        return;
    }
    fake_ctx f = { 0 };
    int exit_layer[N_ROWS];
    simulate (m, state, &f, exit_layer);
    for (int r = 0; r < N_ROWS; r++)
        CHECK (exit_layer[r] == 1, "row %d exits at %d, want 1", r, exit_layer[r]);
    m->destroy (state);
    ofr_params_destroy (&params);
}

static const ofr_plugin *
build_and_load (const char *tmp, const char *name, ofr_plugin **out, int *skip)
{
    char inc[1100], src[1100], so[1100], err[OFR_ERRLEN];
    snprintf (inc, sizeof inc, "%s/include", tmp);
    snprintf (src, sizeof src, "%s/%s.c", tmp, name);
    snprintf (so, sizeof so, "%s/%s.so", tmp, name);
    int rc = compile (inc, src, so);
    if (rc == 127) {
        *skip = 1;
        return NULL;
    }
    CHECK (rc == 0, "cc %s exited with %d", src, rc);
    if (rc != 0)
        return NULL;
    CHECK (ofr_plugin_load (so, ofr_host_listing (), out, err, sizeof err) == 0,
           "%s", err);
    return *out;
}

int
main (void)
{
    const char *srcdir = getenv ("OFR_SOURCE_DIR");
    if (!srcdir) {
        fprintf (stderr, "test_plugin_oot: run through ctest (needs OFR_SOURCE_DIR)\n");
        return 1;
    }
    char tmp[] = "/tmp/ofr-oot-XXXXXX";
    if (!mkdtemp (tmp)) {
        fprintf (stderr, "mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    char from[1200], to[1200];
    snprintf (to, sizeof to, "%s/include", tmp);
    CHECK (mkdir (to, 0700) == 0, "mkdir %s", to);
    snprintf (from, sizeof from, "%s/plugins/offramp_plugin.h", srcdir);
    snprintf (to, sizeof to, "%s/include/offramp_plugin.h", tmp);
    CHECK (copy_file (from, to) == 0, "copy %s", from);
    snprintf (from, sizeof from, "%s/plugins/truncate.c", srcdir);
    snprintf (to, sizeof to, "%s/truncate.c", tmp);
    CHECK (copy_file (from, to) == 0, "copy %s", from);
    snprintf (from, sizeof from, "%s/plugins/README.md", srcdir);
    snprintf (to, sizeof to, "%s/toy_maxprob.c", tmp);
    CHECK (extract_example (from, "toy_maxprob.c", to) == 0, "example from %s", from);

    int skip = 0;
    ofr_plugin *trunc = NULL, *toy = NULL;
    if (build_and_load (tmp, "truncate", &trunc, &skip))
        test_truncate (trunc);
    if (!skip && build_and_load (tmp, "toy_maxprob", &toy, &skip))
        test_toy_maxprob (toy);
    ofr_plugin_destroy (&trunc);
    ofr_plugin_destroy (&toy);

    char cmd[1200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", tmp);
    if (skip) {
        fprintf (stderr, "test_plugin_oot: SKIP: no `cc` on PATH\n");
        return 77;
    }
    if (s_failures) {
        fprintf (stderr, "test_plugin_oot: %d failures\n", s_failures);
        return 1;
    }
    printf ("test_plugin_oot: ok (truncate.c and the README example built out of tree)\n");
    return 0;
}
