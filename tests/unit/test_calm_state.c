/*  test_calm_state.c -- CALM's hidden-state saturation confidence
    (plugins/calm.c measure=state) on a fake host with hand-made states: a
    row exits after layer l iff cos (state entering l, state leaving l) >=
    lambda_t (the decaying threshold of the softmax measures), no head is
    asked, each decision is charged 6 d + 3, the last layer decides
    nothing, rows are told apart by row_ids, and the softmax measures still
    ask for the head (backward compatible). Finds calm.so through
    OFR_PLUGIN_DIR (set by ctest). */
#include "plugins/offramp_plugin.h"
#include "tests/unit/check.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define D 4
#define ROWS 2

typedef struct {
    float  h[ROWS][D];      /* the state of each view row, now      */
    double flops[ROWS];
    int    heads;
    float  probs[8];
} fake;

static const float *
h_exit_probs (void *ctx, int i, int layer, int *n)
{
    fake *f = ctx;
    (void) i, (void) layer;
    f->heads++;
    if (n)
        *n = 1;
    return f->probs;
}

static const float *
h_hidden (void *ctx, int i, int *dim)
{
    fake *f = ctx;
    if (i < 0 || i >= ROWS)
        return NULL;
    *dim = D;
    return f->h[i];
}

static void
h_charge (void *ctx, int i, double fl)
{
    ((fake *) ctx)->flops[i] += fl;
}

static void
h_log (void *ctx, int level, const char *fmt, ...)
{
    (void) ctx, (void) level, (void) fmt;
}

static const ofr_host s_host = {
    .struct_size = sizeof (ofr_host), .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR, .exit_probs = h_exit_probs, .hidden_state = h_hidden,
    .charge_flops = h_charge, .log = h_log, .token_state = h_hidden,
};

static const ofr_method *
load (void)
{
    const char *dir = getenv ("OFR_PLUGIN_DIR");
    char path[1200];
    snprintf (path, sizeof path, "%s/calm.so", dir ? dir : "build/plugins");
    void *h = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    CHECK (h, "dlopen %s: %s", path, dlerror ());
    if (!h)
        return NULL;
    ofr_method_entry_fn entry;
    *(void **) &entry = dlsym (h, OFR_ENTRY_SYMBOL);
    return entry ? entry (&s_host) : NULL;
}

/* create() with lambda, tau and measure (the rest: defaults). */
static void *
make (const ofr_method *m, double lambda, double tau, const char *measure)
{
    ofr_value v[16] = { 0 };
    for (int i = 0; i < m->n_params && i < 16; i++) {
        const ofr_param_decl *p = &m->params[i];
        if (p->type == OFR_PARAM_STRING)
            v[i].s = p->default_value;
        else
            v[i].f = atof (p->default_value);
        if (!strcmp (p->name, "lambda"))
            v[i].f = lambda;
        else if (!strcmp (p->name, "tau"))
            v[i].f = tau;
        else if (!strcmp (p->name, "measure"))
            v[i].s = measure;
    }
    void *st = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "create: %s", err);
    return st;
}

/* One layer: rows enter with `in`, leave with `out`; returns the actions. */
static void
layer (const ofr_method *m, void *st, fake *f, ofr_batch *b, int l,
       const float in[ROWS][D], const float out[ROWS][D], uint8_t act[ROWS])
{
    uint8_t pre[ROWS] = { OFR_RUN, OFR_RUN };
    memcpy (f->h, in, sizeof f->h);
    CHECK (m->before_layer && m->before_layer (st, b, l, pre) == 0, "before_layer %d", l);
    CHECK (pre[0] == OFR_RUN && pre[1] == OFR_RUN, "calm never skips");
    memcpy (f->h, out, sizeof f->h);
    act[0] = act[1] = OFR_CONTINUE;
    CHECK (m->after_layer (st, b, l, act) == 0, "after_layer %d", l);
}

int
main (void)
{
    const ofr_method *m = load ();
    if (!m)
        return 1;
    fake f = { .probs = { 0.9f, 0.1f } };
    int ids[ROWS] = { 1, 0 };    /* view row 0 is batch row 1: keyed by row_ids */
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_SEQ2SEQ, .batch_size = ROWS,
                    .n_rows = ROWS, .row_ids = ids, .n_layers = 3, .n_outputs = 2,
                    .step = 0, .host_ctx = &f };
    /* lambda 0.9, tau 0: threshold 0.9 * 0.9 + 0.1 = 0.91. Row 0 turns by
       cos = 0.95 (>= 0.91: exit), row 1 by cos = 0.8 (stays). */
    void *st = make (m, 0.9, 0, "state");
    float in[ROWS][D] = { { 1, 0, 0, 0 }, { 1, 0, 0, 0 } };
    float out[ROWS][D] = { { 0.95f, sqrtf (1 - 0.95f * 0.95f), 0, 0 },
                           { 2 * 0.8f, 2 * 0.6f, 0, 0 } };      /* scale does not matter */
    uint8_t act[ROWS];
    layer (m, st, &f, &b, 0, in, out, act);
    CHECK (act[0] == OFR_EXIT && act[1] == OFR_CONTINUE, "cos 0.95 exits, 0.8 does not: %d %d",
           act[0], act[1]);
    CHECK (f.heads == 0, "no head asked (%d)", f.heads);
    CHECK (f.flops[0] == 6 * D + 3 && f.flops[1] == 6 * D + 3, "charged %g %g, want %d",
           f.flops[0], f.flops[1], 6 * D + 3);
    /* Just below the threshold: cos 0.905 < 0.91. */
    float out2[ROWS][D] = { { 0.905f, sqrtf (1 - 0.905f * 0.905f), 0, 0 }, { 1, 0, 0, 0 } };
    layer (m, st, &f, &b, 1, in, out2, act);
    CHECK (act[0] == OFR_CONTINUE && act[1] == OFR_EXIT, "0.905 stays, cos 1 exits");
    /* The last layer decides nothing (exits anyway). */
    double before = f.flops[0];
    layer (m, st, &f, &b, 2, in, out, act);
    CHECK (act[0] == OFR_CONTINUE && act[1] == OFR_CONTINUE && f.flops[0] == before,
           "last layer: no decision, no charge");
    /* The threshold decays with the position: tau 4, horizon 64, lambda
       0.5: 0.45 + 0.1 exp (-4 t / 64): 0.55 at t 0, ~0.45 at t 200. */
    m->destroy (st);
    st = make (m, 0.5, 4, "state");
    float mid[ROWS][D] = { { 0.5f, sqrtf (0.75f), 0, 0 }, { 0.5f, sqrtf (0.75f), 0, 0 } };
    layer (m, st, &f, &b, 0, in, mid, act);
    CHECK (act[0] == OFR_CONTINUE, "cos 0.5 < 0.55 at t 0");
    b.step = 200;
    layer (m, st, &f, &b, 0, in, mid, act);
    CHECK (act[0] == OFR_EXIT, "cos 0.5 >= ~0.45 at t 200");
    m->destroy (st);
    /* measure=softmax still reads the head (0.9 >= 0.91? no; lambda 0.5: yes). */
    b.step = 0;
    st = make (m, 0.5, 0, "softmax");
    f.heads = 0;
    layer (m, st, &f, &b, 0, in, out, act);
    CHECK (f.heads == ROWS && act[0] == OFR_EXIT, "softmax: heads %d", f.heads);
    m->destroy (st);
    /* A bad measure is refused by create. */
    ofr_value v[16] = { 0 };
    for (int i = 0; i < m->n_params && i < 16; i++)
        v[i].s = m->params[i].type == OFR_PARAM_STRING ? "bogus" : NULL;
    void *bad = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &bad, err, sizeof err) != 0 && strstr (err, "state"),
           "bad measure: %s", err);
    return s_failures != 0;
}
