/*  test_decoder_methods.c -- decision rules of the decoder methods (calm,
    layerskip, seq_oracle) driven by a fake decoder host on hand-made
    distributions, and the ROUGE-L of the generation suite. Finds the
    plugins through OFR_PLUGIN_DIR (set by ctest). */
#include "plugins/offramp_plugin.h"
#include "suites/lm_suite.h"
#include "tests/unit/check.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define V 4
#define L 5

/* ---- fake host: one row, per-layer distributions ------------------------ */

typedef struct {
    float  probs[L][V];
    int    layer;          /* just run */
    int    heads;
    double flops;
    int    agrees_from;    /* attempts before this index disagree */
    int    attempt;
    int    retries;
    bool   in_end;
} fake;

static const float *
h_exit_probs (void *ctx, int i, int layer, int *n_pos)
{
    fake *f = ctx;
    if (i != 0 || layer != f->layer)
        return NULL;
    f->heads++;
    if (n_pos)
        *n_pos = 1;
    return f->probs[layer];
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

static int
h_agrees (void *ctx, int i)
{
    fake *f = ctx;
    return i == 0 && f->in_end ? f->attempt >= f->agrees_from : -1;
}

static int
h_retry (void *ctx, int i)
{
    fake *f = ctx;
    if (i != 0 || !f->in_end)
        return -1;
    f->retries++;
    return f->retries;
}

static const ofr_host s_host = {
    .struct_size = sizeof (ofr_host), .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR, .exit_probs = h_exit_probs, .charge_flops = h_charge,
    .log = h_log, .sequence_agrees = h_agrees, .retry_sequence = h_retry,
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
    CHECK (!m || (m->kinds & OFR_KIND_DECODER), "%s: decoder kind", name);
    return m;
}

/*  Drive one position (step) through before/after_layer; returns the
    0-based exit layer, and the actions before each layer in acts. */
static int
drive (const ofr_method *m, void *st, fake *f, int step, uint8_t *acts)
{
    int row = 0;
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                    .n_rows = 1, .row_ids = &row, .n_layers = L, .n_outputs = V,
                    .step = step, .host_ctx = f };
    for (int l = 0; l < L; l++) {
        uint8_t a = OFR_RUN;
        if (m->before_layer)
            CHECK (m->before_layer (st, &b, l, &a) == 0, "before %d", l);
        acts[l] = a;
        f->layer = l;
        a = OFR_CONTINUE;
        if (m->after_layer)
            CHECK (m->after_layer (st, &b, l, &a) == 0, "after %d", l);
        if (a == OFR_EXIT)
            return l;
    }
    return L - 1;
}

static void
set_layer (fake *f, int l, float a, float b)
{
    float rest = (1.0f - a - b) / (V - 2);
    f->probs[l][0] = a;
    f->probs[l][1] = b;
    for (int c = 2; c < V; c++)
        f->probs[l][c] = rest;
}

static void
test_calm (void)
{
    const ofr_method *m = load ("calm");
    if (!m)
        return;
    fake f = { 0 };
    /* Layer 0: top1 .6 top2 .3 (diff .3); layer 1: .8/.1 (diff .7);
       layer 2: .95/.02 (diff .93). */
    for (int l = 0; l < L; l++)
        set_layer (&f, l, 0.25f, 0.25f);
    set_layer (&f, 0, 0.6f, 0.3f);
    set_layer (&f, 1, 0.8f, 0.1f);
    set_layer (&f, 2, 0.95f, 0.02f);
    uint8_t acts[L];
    void *st = NULL;
    char err[256] = "";
    /* lambda 0.5, tau 0: constant threshold 0.9 * 0.5 + 0.1 = 0.55 (the
       fifth value, kv, NULL = copy_up). */
    ofr_value v[5] = { { .f = 0.5 }, { .f = 0.0 }, { .f = 64 }, { .s = "softmax_diff" } };
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    CHECK (drive (m, st, &f, 0, acts) == 1, "softmax_diff 0.55: exit after layer 2");
    CHECK (f.heads == 2 && f.flops == 2 * 2.0 * V, "heads %d flops %g", f.heads, f.flops);
    m->destroy (st);
    /* softmax (top1): 0.6 >= 0.55 exits at the first layer. */
    v[3].s = "softmax";
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    CHECK (drive (m, st, &f, 0, acts) == 0, "softmax 0.55: exit after layer 1");
    m->destroy (st);
    /* Decay: lambda 0.8, tau 4, N 10: t=0 -> 0.82, t=10 -> 0.72+0.1e^-4 = 0.7218. */
    ofr_value w[5] = { { .f = 0.8 }, { .f = 4.0 }, { .f = 10 }, { .s = "softmax_diff" } };
    CHECK (m->create (&s_host, w, &st, err, sizeof err) == 0, "%s", err);
    CHECK (drive (m, st, &f, 0, acts) == 2, "t=0: threshold .82: layer 3 (.93)");
    CHECK (drive (m, st, &f, 10, acts) == 2, "t=10: threshold .722 > .7: layer 3");
    set_layer (&f, 1, 0.8f, 0.07f);     /* diff .73 >= .7218 */
    CHECK (drive (m, st, &f, 10, acts) == 1, "t=10: .73 passes the decayed threshold");
    CHECK (drive (m, st, &f, 0, acts) == 2, "t=0: .73 does not pass .82");
    m->destroy (st);
    ofr_value bad[5] = { { .f = 0.5 }, { .f = 0 }, { .f = 1 }, { .s = "entropy" } };
    CHECK (m->create (&s_host, bad, &st, err, sizeof err) == -1 && strstr (err, "entropy"),
           "bad measure: %s", err);
}

static void
test_layerskip (void)
{
    const ofr_method *m = load ("layerskip");
    if (!m)
        return;
    struct { const char *pat; int k, n; const char *want; } cases[] = {
        { "every", 2, 1, "RSRSR" }, { "every", 3, 1, "RRSRR" },
        { "last", 2, 2, "RRRSS" }, { "middle", 2, 1, "RRSRR" }, { "middle", 2, 3, "RSSSR" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ofr_value v[3] = { { .s = cases[c].pat }, { .i = cases[c].k }, { .i = cases[c].n } };
        void *st = NULL;
        char err[256] = "";
        CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
        fake f = { 0 };
        int row = 0;
        ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                        .n_rows = 1, .row_ids = &row, .n_layers = L, .n_outputs = V,
                        .host_ctx = &f };
        CHECK (m->begin (st, &b) == 0, "begin %s", cases[c].pat);
        uint8_t acts[L];
        CHECK (drive (m, st, &f, 3, acts) == L - 1, "no exit");
        char got[L + 1];
        for (int l = 0; l < L; l++)
            got[l] = acts[l] == OFR_SKIP ? 'S' : 'R';
        got[L] = 0;
        CHECK (strcmp (got, cases[c].want) == 0, "%s k %d n %d: %s, want %s", cases[c].pat,
               cases[c].k, (int) v[2].i, got, cases[c].want);
        m->destroy (st);
    }
    /* last 5 of 5 would skip the first layer: begin refuses. */
    ofr_value v[3] = { { .s = "last" }, { .i = 2 }, { .i = 5 } };
    void *st = NULL;
    char err[256];
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    fake f = { 0 };
    int row = 0;
    ofr_batch b = { .struct_size = sizeof b, .batch_size = 1, .n_rows = 1, .row_ids = &row,
                    .n_layers = L, .n_outputs = V, .host_ctx = &f };
    CHECK (m->begin (st, &b) == -1, "last 5 of 5 refused");
    m->destroy (st);
}

/* One oracle search over attempts: returns the kept run-layer mask. */
static unsigned
oracle_search (const ofr_method *m, void *st, fake *f)
{
    int row = 0;
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                    .n_rows = 1, .row_ids = &row, .n_layers = L, .n_outputs = V,
                    .host_ctx = f };
    unsigned mask = 0;
    f->attempt = 0;
    f->retries = 0;
    for (;;) {
        CHECK (m->begin (st, &b) == 0, "begin");
        uint8_t acts[L];
        for (int pos = 0; pos < 3; pos++) {
            drive (m, st, f, pos, acts);
            unsigned mk = 0;
            for (int l = 0; l < L; l++)
                mk |= (acts[l] == OFR_RUN ? 1u : 0u) << l;
            CHECK (pos == 0 || mk == mask, "same configuration at every position");
            mask = mk;
        }
        int before = f->retries;
        f->in_end = true;
        m->end (st, &b);
        f->in_end = false;
        if (f->retries == before)
            return mask;
        f->attempt++;
    }
}

static int
bits (unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static void
test_seq_oracle (void)
{
    const ofr_method *m = load ("seq_oracle");
    if (!m)
        return;
    CHECK (m->flags & OFR_METHOD_ORACLE, "flagged oracle");
    ofr_value v[1] = { { .i = 0 } };
    void *st = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "%s", err);
    fake f = { 0 };
    /* Agrees at once: the cheapest configuration (no layer) is kept. */
    f.agrees_from = 0;
    CHECK (oracle_search (m, st, &f) == 0 && f.retries == 0, "first attempt kept");
    /* Agrees from attempt 3: attempts 0 (none), 1..5 (one layer each) ->
       attempt 3 = run only layer 3 (mask 0b00100). */
    f.agrees_from = 3;
    unsigned k = oracle_search (m, st, &f);
    CHECK (k == 0x4 && f.retries == 3, "mask %#x after %d retries", k, f.retries);
    /* Never agrees before the last: ends at the full model after 31 retries,
       visiting configurations by non-decreasing layer count. */
    f.agrees_from = 1000;
    k = oracle_search (m, st, &f);
    CHECK (k == 0x1f && f.retries == 31, "full model last: %#x, %d", k, f.retries);
    /* A new sequence starts the search over. */
    f.agrees_from = 6;
    k = oracle_search (m, st, &f);
    CHECK (bits (k) == 2 && k == 0x3, "first two-layer configuration: %#x", k);
    m->destroy (st);
}

static void
test_rouge (void)
{
    CHECK (fabs (ofr_rouge_l ("the cat sat", "the cat sat") - 1.0) < 1e-12, "identical");
    CHECK (ofr_rouge_l ("a b", "c d") == 0, "disjoint");
    /* LCS("the cat sat on the mat", "the dog sat on a mat") = the sat on mat = 4:
       P = R = 4/6 -> F = 2/3. Case and punctuation are ignored. */
    double f = ofr_rouge_l ("The cat sat on the mat.", "the dog, sat on a MAT");
    CHECK (fabs (f - 2.0 / 3.0) < 1e-12, "f %g", f);
    CHECK (ofr_rouge_l ("", "x") == 0, "empty ref");
}

int
main (void)
{
    test_calm ();
    test_layerskip ();
    test_seq_oracle ();
    test_rouge ();
    if (s_failures)
        fprintf (stderr, "%d failure(s)\n", s_failures);
    return s_failures != 0;
}
