/*  test_decoder_skip.c -- decision rules of skipdecode (the per-position
    schedule on hand-made step sequences) and stateskip (hand-made hidden
    states: skips exactly where the relative change is small, norms
    charged), driven by a fake decoder host. Finds the plugins through
    OFR_PLUGIN_DIR (set by ctest). */
#include "plugins/offramp_plugin.h"
#include "tests/unit/check.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define D 4
#define LMAX 8

/* ---- fake host: one row; the state after running layer l is h[l + 1] ----- */

typedef struct {
    float  h[LMAX + 1][D];  /* h[0] = embedding */
    int    cur;             /* index into h of the current state */
    double flops;
    int    asked;           /* hidden_state calls */
} fake;

static const float *
h_hidden (void *ctx, int i, int *dim)
{
    fake *f = ctx;
    if (i != 0)
        return NULL;
    f->asked++;
    if (dim)
        *dim = D;
    return f->h[f->cur];
}

static void
h_charge (void *ctx, int i, double fl)
{
    (void) i;
    ((fake *) ctx)->flops += fl;
}

static void
h_log (void *ctx, int level, const char *fmt, ...)
{
    (void) ctx, (void) level, (void) fmt;
}

static const ofr_host s_host = {
    .struct_size = sizeof (ofr_host), .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR, .hidden_state = h_hidden, .charge_flops = h_charge,
    .log = h_log,
};

static const ofr_method *
load (const char *name)
{
    const char *dir = getenv ("OFR_PLUGIN_DIR");
    char path[1200];
    snprintf (path, sizeof path, "%s/%s.so", dir ? dir : "build/plugins", name);
    void *h = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    CHECK (h, "dlopen %s: %s", path, dlerror ());
    if (!h)
        return NULL;
    ofr_method_entry_fn entry;
    *(void **) &entry = dlsym (h, OFR_ENTRY_SYMBOL);
    const ofr_method *m = entry ? entry (&s_host) : NULL;
    CHECK (m && strcmp (m->name, name) == 0, "%s: descriptor", name);
    CHECK (!m || ((m->kinds & OFR_KIND_DECODER) && (m->kinds & OFR_KIND_SEQ2SEQ)),
           "%s: decoder + seq2seq kinds", name);
    CHECK (!m || m->kv_policy == OFR_KV_COPY_UP, "%s: copy-up", name);
    return m;
}

static ofr_batch
batch_of (fake *f, int n_layers, int step, const int *row)
{
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                    .n_rows = 1, .row_ids = row, .n_layers = n_layers, .n_outputs = 8,
                    .step = step, .host_ctx = f };
    return b;
}

/*  One position through before/after_layer like the decoder runner (the
    state moves to h[l + 1] when layer l runs, stays when it is skipped);
    writes "R"/"S" per layer into got. Returns 0, or -1 on a callback error. */
static int
drive (const ofr_method *m, void *st, fake *f, int n_layers, int step, char *got)
{
    int row = 0;
    ofr_batch b = batch_of (f, n_layers, step, &row);
    f->cur = 0;
    for (int l = 0; l < n_layers; l++) {
        uint8_t a = OFR_RUN;
        if (m->before_layer && m->before_layer (st, &b, l, &a) != 0)
            return -1;
        got[l] = a == OFR_SKIP ? 'S' : a == OFR_RUN ? 'R' : '?';
        if (a == OFR_RUN)
            f->cur = l + 1;
        a = OFR_CONTINUE;
        if (m->after_layer && m->after_layer (st, &b, l, &a) != 0)
            return -1;
        if (a != OFR_CONTINUE)
            return -1;
    }
    got[n_layers] = 0;
    return 0;
}

/* ---- skipdecode ------------------------------------------------------------ */

/* want[k] is the pattern at steps[k]; the attempt starts at steps[0]. */
static void
sd_case (const ofr_method *m, int mn, int mx, int horizon, const char *skip, int n_layers,
         int n, const int *steps, const char *const *want)
{
    ofr_value v[4] = { { .i = mn }, { .i = mx }, { .i = horizon }, { .s = skip } };
    void *st = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    if (!st)
        return;
    fake f = { 0 };
    int row = 0;
    ofr_batch b = batch_of (&f, n_layers, steps[0], &row);
    CHECK (m->begin (st, &b) == 0, "begin");
    for (int k = 0; k < n; k++) {
        char got[LMAX + 1];
        CHECK (drive (m, st, &f, n_layers, steps[k], got) == 0, "drive step %d", steps[k]);
        CHECK (strcmp (got, want[k]) == 0, "min %d max %d H %d %s, step %d: %s, want %s",
               mn, mx, horizon, skip, steps[k], got, want[k]);
    }
    m->destroy (st);
}

static void
test_skipdecode (void)
{
    const ofr_method *m = load ("skipdecode");
    if (!m)
        return;
    /* L = 5, max = L (0), min 1, horizon 4: n(t) = 5 - t for t <= 4, then 1;
       the prompt is prefilled, so the first step (7) is t = 0. */
    {
        int steps[] = { 7, 8, 9, 10, 11, 12, 40 };
        const char *want[] = { "RRRRR", "SRRRR", "SSRRR", "SSSRR", "SSSSR", "SSSSR", "SSSSR" };
        sd_case (m, 1, 0, 4, "bottom", 5, 7, steps, want);
    }
    /* min 2, max 4 of L 6, horizon 3: (4 - 2) * t / 3 -> n = 4, 4, 3, 2, 2. */
    {
        int steps[] = { 0, 1, 2, 3, 9 };
        const char *want[] = { "SSRRRR", "SSRRRR", "SSSRRR", "SSSSRR", "SSSSRR" };
        sd_case (m, 2, 4, 3, "bottom", 6, 5, steps, want);
    }
    /* middle: L 6, n = 6, 5, 4, 3, 2, 1 (min 1, horizon 5): keep floor(n/2) at
       the bottom and ceil(n/2) at the top. */
    {
        int steps[] = { 3, 4, 5, 6, 7, 8 };
        const char *want[] = { "RRRRRR", "RRSRRR", "RRSSRR", "RSSSRR", "RSSSSR", "SSSSSR" };
        sd_case (m, 1, 0, 5, "middle", 6, 6, steps, want);
    }
    /* A new attempt (begin) restarts the schedule at its first step. */
    {
        ofr_value v[4] = { { .i = 1 }, { .i = 0 }, { .i = 2 }, { .s = "bottom" } };
        void *st = NULL;
        char err[256] = "", got[LMAX + 1];
        CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
        fake f = { 0 };
        int row = 0;
        ofr_batch b = batch_of (&f, 3, 0, &row);
        CHECK (m->begin (st, &b) == 0, "begin");
        CHECK (drive (m, st, &f, 3, 10, got) == 0 && !strcmp (got, "RRR"), "t0 %s", got);
        CHECK (drive (m, st, &f, 3, 12, got) == 0 && !strcmp (got, "SSR"), "t2 %s", got);
        CHECK (m->begin (st, &b) == 0, "begin again");
        CHECK (drive (m, st, &f, 3, 12, got) == 0 && !strcmp (got, "RRR"), "t0 again %s",
               got);
        /* Layer counts that do not fit the model: begin refuses. */
        m->destroy (st);
        ofr_value w[4] = { { .i = 2 }, { .i = 6 }, { .i = 2 }, { .s = "bottom" } };
        CHECK (m->create (&s_host, w, &st, err, sizeof err) == 0, "%s", err);
        b = batch_of (&f, 5, 0, &row);
        CHECK (m->begin (st, &b) == -1, "max_layers 6 of 5 refused");
        m->destroy (st);
        ofr_value mn6[4] = { { .i = 6 }, { .i = 0 }, { .i = 2 }, { .s = "bottom" } };
        CHECK (m->create (&s_host, mn6, &st, err, sizeof err) == 0, "%s", err);
        CHECK (m->begin (st, &b) == -1, "min_layers 6 of 5 refused");
        m->destroy (st);
    }
    char err[256] = "";
    void *st = NULL;
    ofr_value bad[4] = { { .i = 3 }, { .i = 2 }, { .i = 2 }, { .s = "bottom" } };
    CHECK (m->create (&s_host, bad, &st, err, sizeof err) == -1 && strstr (err, "min_layers"),
           "min > max: %s", err);
    ofr_value bad2[4] = { { .i = 1 }, { .i = 0 }, { .i = 2 }, { .s = "top" } };
    CHECK (m->create (&s_host, bad2, &st, err, sizeof err) == -1 && strstr (err, "top"),
           "bad skip: %s", err);
}

/* ---- stateskip ------------------------------------------------------------- */

static void
set_state (fake *f, int k, float scale)
{
    /* h[k] = scale * (1, 2, 2, 0): norm 3 * scale. */
    f->h[k][0] = scale;
    f->h[k][1] = 2 * scale;
    f->h[k][2] = 2 * scale;
    f->h[k][3] = 0;
}

static void
test_stateskip (void)
{
    const ofr_method *m = load ("stateskip");
    if (!m)
        return;
    fake f = { 0 };
    /* Relative changes (scaling along one direction: |s' - s| / s):
       layer 1: 1 -> 2 (1.0), layer 2: 2 -> 2.1 (0.05), layer 3: 2.1 -> 4.2 (1.0),
       layer 4: 4.2 -> 4.2 (0), layer 5: 4.2 -> 8.4, layer 6: 8.4 -> 8.5. */
    float sc[] = { 1, 2, 2.1f, 4.2f, 4.2f, 8.4f, 8.5f };
    for (int k = 0; k < 7; k++)
        set_state (&f, k, sc[k]);
    char got[LMAX + 1], err[256] = "";
    void *st = NULL;
    int row = 0;
    ofr_batch b = batch_of (&f, 6, 0, &row);

    /* threshold 0.1, span 1: layer 2's change (.05) skips layer 3; then the
       state is still h[2]: layer 4 runs (-> h[4] = 4.2 vs 2.1: 1.0), layer 5
       runs (h[5] vs h[4]: 1.0), layer 6 runs. Evaluations after layers
       1, 2, 4, 5 (none after the last): 4 x 4 d FLOPs. */
    ofr_value v[2] = { { .f = 0.1 }, { .i = 1 } };
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    f.flops = 0;
    CHECK (drive (m, st, &f, 6, 0, got) == 0, "drive");
    CHECK (!strcmp (got, "RRSRRR"), "t 0.1 span 1: %s", got);
    CHECK (f.flops == 4 * 4.0 * D, "flops %g", f.flops);
    /* The next position starts with no pending skip and the same outcome. */
    f.flops = 0;
    CHECK (drive (m, st, &f, 6, 1, got) == 0 && !strcmp (got, "RRSRRR"), "pos 1: %s", got);
    CHECK (f.flops == 4 * 4.0 * D, "flops pos 1 %g", f.flops);
    m->destroy (st);

    /* The states move by 1.0 except at layer 2 (.05): span 2 skips 3 and 4. */
    ofr_value v2[2] = { { .f = 0.1 }, { .i = 2 } };
    CHECK (m->create (&s_host, v2, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    f.flops = 0;
    CHECK (drive (m, st, &f, 6, 0, got) == 0 && !strcmp (got, "RRSSRR"), "span 2: %s", got);
    CHECK (f.flops == 3 * 4.0 * D, "span 2 flops %g", f.flops);
    m->destroy (st);

    /* threshold 0.04: layer 2's .05 is not small enough; layer 4 leaves the
       state unchanged (h[4] == h[3]), so only layer 5 is skipped. */
    ofr_value v3[2] = { { .f = 0.04 }, { .i = 1 } };
    CHECK (m->create (&s_host, v3, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    f.flops = 0;
    CHECK (drive (m, st, &f, 6, 0, got) == 0 && !strcmp (got, "RRRRSR"), "t .04: %s", got);
    CHECK (f.flops == 4 * 4.0 * D, "t .04 flops %g", f.flops);
    m->destroy (st);

    /* threshold 0: never skips; a skip may reach the last layer. */
    ofr_value v4[2] = { { .f = 0 }, { .i = 3 } };
    CHECK (m->create (&s_host, v4, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    CHECK (drive (m, st, &f, 6, 0, got) == 0 && !strcmp (got, "RRRRRR"), "t 0: %s", got);
    m->destroy (st);
    ofr_value v5[2] = { { .f = 0.1 }, { .i = 10 } };
    CHECK (m->create (&s_host, v5, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    CHECK (drive (m, st, &f, 6, 0, got) == 0 && !strcmp (got, "RRSSSS"), "span 10: %s", got);
    m->destroy (st);

    /* A zero entering state never skips (no relative change). */
    memset (f.h, 0, sizeof f.h);
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    CHECK (m->begin (st, &b) == 0, "begin");
    CHECK (drive (m, st, &f, 6, 0, got) == 0 && !strcmp (got, "RRRRRR"), "zero: %s", got);
    m->destroy (st);

    ofr_value bad[2] = { { .f = -1 }, { .i = 1 } };
    CHECK (m->create (&s_host, bad, &st, err, sizeof err) == -1 && strstr (err, "threshold"),
           "negative threshold: %s", err);
}

int
main (void)
{
    test_skipdecode ();
    test_stateskip ();
    if (s_failures)
        fprintf (stderr, "%d failure(s)\n", s_failures);
    return s_failures != 0;
}
