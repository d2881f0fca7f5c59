/*  test_methods.c -- the decision rules of the shipped early-exit methods
    (entropy, maxprob, patience, palbert, berxit, jei, quee, oracle), each
    driven through its callbacks by a fake host that plays the runner:
    hand-made exit distributions, pooled and raw states and model tensors,
    rows compacted as they exit, charged FLOPs recorded per row.

    The fake exit_probs returns one shared buffer and poisons it with NaN
    on the next host call, so a plugin that keeps the pointer too long
    gets wrong decisions here. Finds the plugins through OFR_PLUGIN_DIR
    (set by ctest). */
#include "plugins/offramp_plugin.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_failures;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fputc ('\n', stderr);                                          \
            s_failures++;                                                  \
        }                                                                  \
    } while (0)

#define MAXR 8
#define MAXL 8
#define MAXK 4
#define MAXD 4
#define MAXT 48

/* ---- The fake host ------------------------------------------------------- */

typedef struct {
    char         name[64];
    const float *data;
    size_t       n;
} fake_tensor;

typedef struct {
    int          batch_size, n_layers, K, dim;
    int          n_active;
    const int   *row_ids;
    int          layer;                       /* just run, -1 before the first */
    float        probs[MAXR][MAXL][MAXK];
    float        hidden[MAXR][MAXL][MAXD];    /* pooled exit state             */
    float        raw[MAXR][MAXL][MAXD];       /* [CLS] state                   */
    int          label[MAXR];
    fake_tensor  t[MAXT];
    int          n_t;
    float        scratch[MAXK];
    double       flops[MAXR];                 /* charge_flops, by stable row  */
    int          heads[MAXR];                 /* exit heads run (host-charged) */
    int          head_layer[MAXR];
    float        override[MAXR][MAXK];
    int          override_layer[MAXR];
} fake;

static char s_log[1024];

static void
poison (fake *f)
{
    for (int c = 0; c < MAXK; c++)
        f->scratch[c] = NAN;
}

static int
row_of (fake *f, int i)
{
    return f && i >= 0 && i < f->n_active ? f->row_ids[i] : -1;
}

static const float *
h_exit_probs (void *ctx, int i, int layer, int *n_pos)
{
    fake *f = ctx;
    int row = row_of (f, i);
    if (row < 0 || layer != f->layer || layer < 0)
        return NULL;
    if (f->head_layer[row] != layer) {
        f->heads[row]++;
        f->head_layer[row] = layer;
    }
    const float *src = f->override_layer[row] == layer ? f->override[row]
                                                        : f->probs[row][layer];
    memcpy (f->scratch, src, (size_t) f->K * sizeof (float));
    if (n_pos)
        *n_pos = 1;
    return f->scratch;
}

static const float *
h_hidden_state (void *ctx, int i, int *dim)
{
    fake *f = ctx;
    int row = row_of (f, i);
    poison (f);
    if (row < 0)
        return NULL;
    if (dim)
        *dim = f->dim;
    return f->hidden[row][f->layer < 0 ? 0 : f->layer];
}

static const float *
h_token_state (void *ctx, int i, int *dim)
{
    fake *f = ctx;
    int row = row_of (f, i);
    poison (f);
    if (row < 0)
        return NULL;
    if (dim)
        *dim = f->dim;
    return f->raw[row][f->layer < 0 ? 0 : f->layer];
}

static void
h_charge_flops (void *ctx, int i, double flops)
{
    fake *f = ctx;
    int row = row_of (f, i);
    poison (f);
    if (row >= 0)
        f->flops[row] += flops;
}

static int
h_oracle_label (void *ctx, int i)
{
    fake *f = ctx;
    int row = row_of (f, i);
    poison (f);
    return row >= 0 ? f->label[row] : -1;
}

static double
h_layer_flops (void *ctx, int i, int layer)
{
    (void) ctx, (void) i, (void) layer;
    return 1000;
}

static double
h_rng_uniform (void *ctx)
{
    (void) ctx;
    return 0.5;
}

static void
h_log (void *ctx, int level, const char *fmt, ...)
{
    (void) level;
    if (ctx)
        poison (ctx);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (s_log, sizeof s_log, fmt, ap);
    va_end (ap);
}

static const float *
h_model_tensor (void *ctx, const char *name, size_t *n)
{
    fake *f = ctx;
    if (n)
        *n = 0;
    if (!f || !name)
        return NULL;   /* like the runner: no tensors without a batch */
    poison (f);
    for (int k = 0; k < f->n_t; k++)
        if (strcmp (f->t[k].name, name) == 0) {
            if (n)
                *n = f->t[k].n;
            return f->t[k].data;
        }
    return NULL;
}

static int
h_set_exit_probs (void *ctx, int i, int layer, const float *probs)
{
    fake *f = ctx;
    int row = row_of (f, i);
    poison (f);
    if (row < 0 || layer != f->layer || !probs)
        return -1;
    memcpy (f->override[row], probs, (size_t) f->K * sizeof (float));
    f->override_layer[row] = layer;
    return 0;
}

static ofr_host s_host = {
    .struct_size = sizeof (ofr_host), .abi_major = OFR_ABI_MAJOR, .abi_minor = OFR_ABI_MINOR,
    .exit_probs = h_exit_probs, .hidden_state = h_hidden_state,
    .charge_flops = h_charge_flops, .oracle_label = h_oracle_label,
    .layer_flops = h_layer_flops, .rng_uniform = h_rng_uniform, .log = h_log,
    .model_tensor = h_model_tensor, .token_state = h_token_state,
    .set_exit_probs = h_set_exit_probs,
};

static void
fake_init (fake *f, int rows, int layers, int K, int dim)
{
    memset (f, 0, sizeof *f);
    f->batch_size = rows;
    f->n_layers = layers;
    f->K = K;
    f->dim = dim;
    f->layer = -1;
    for (int r = 0; r < MAXR; r++) {
        f->head_layer[r] = -1;
        f->override_layer[r] = -1;
        for (int l = 0; l < MAXL; l++)
            for (int c = 0; c < MAXK; c++)
                f->probs[r][l][c] = c == 0 ? 1.0f : 0.0f;
    }
}

static void
add_tensor (fake *f, const char *name, const float *data, size_t n)
{
    if (f->n_t >= MAXT)
        abort ();
    snprintf (f->t[f->n_t].name, sizeof f->t[0].name, "%s", name);
    f->t[f->n_t].data = data;
    f->t[f->n_t].n = n;
    f->n_t++;
}

static void
drop_tensor (fake *f, const char *name)
{
    for (int k = 0; k < f->n_t; k++)
        if (strcmp (f->t[k].name, name) == 0)
            f->t[k].name[0] = '\0';
}

/* Same two-class distribution for a row at every layer from `from` on. */
static void
probs2 (fake *f, int row, int from, float p0)
{
    for (int l = from; l < MAXL; l++) {
        f->probs[row][l][0] = p0;
        f->probs[row][l][1] = 1.0f - p0;
    }
}

/* ---- The fake runner ----------------------------------------------------- */

typedef struct {
    int     exit_layer[MAXR];
    uint8_t before[MAXR][MAXL];
} sim_out;

/*  Runs a batch like workers/runner.c: before_layer, after_layer, rows
    that exit (or reach the last layer) compacted away in order. */
static int
simulate (const ofr_method *m, void *state, fake *f, sim_out *o)
{
    int active[MAXR], n = f->batch_size, L = f->n_layers, rc = 0;
    for (int r = 0; r < n; r++) {
        active[r] = r;
        o->exit_layer[r] = -1;
    }
    f->row_ids = active;
    f->n_active = n;
    f->layer = -1;
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_ENCODER, .batch_size = n,
                    .n_rows = n, .row_ids = active, .n_layers = L, .n_outputs = f->K,
                    .host_ctx = f };
    if (m->begin && m->begin (state, &b) != 0)
        return -1;
    for (int l = 0; l < L && f->n_active > 0; l++) {
        uint8_t act[MAXR];
        b.n_rows = f->n_active;
        memset (act, OFR_RUN, sizeof act);
        if (m->before_layer && m->before_layer (state, &b, l, act) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < f->n_active; i++)
            o->before[active[i]][l] = act[i];
        f->layer = l;
        memset (act, OFR_CONTINUE, sizeof act);
        if (m->after_layer && m->after_layer (state, &b, l, act) != 0) {
            rc = -1;
            break;
        }
        int kept = 0;
        for (int i = 0; i < f->n_active; i++) {
            if (act[i] == OFR_EXIT || l == L - 1)
                o->exit_layer[active[i]] = l;
            else
                active[kept++] = active[i];
        }
        f->n_active = kept;
    }
    b.n_rows = f->n_active;
    if (m->end)
        m->end (state, &b);
    return rc;
}

/* ---- Loading and parameters ---------------------------------------------- */

static void *s_handles[16];
static int s_n_handles;

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
    s_handles[s_n_handles++] = h;
    ofr_method_entry_fn entry;
    *(void **) &entry = dlsym (h, OFR_ENTRY_SYMBOL);
    CHECK (entry, "%s: no entry symbol", path);
    const ofr_method *m = entry ? entry (&s_host) : NULL;
    CHECK (m && strcmp (m->name, name) == 0, "%s: descriptor", path);
    if (!m)
        return NULL;
    CHECK (m->struct_size == sizeof (ofr_method) && m->abi_major == OFR_ABI_MAJOR
           && m->abi_minor <= OFR_ABI_MINOR, "%s: header", name);
    CHECK (m->version && m->summary && m->kinds && m->create && m->destroy, "%s", name);
    CHECK (m->after_layer, "%s: no after_layer", name);
    CHECK (m->n_params == 0 || m->params, "%s: params", name);
    for (int k = 0; k < m->n_params; k++) {
        const ofr_param_decl *d = &m->params[k];
        CHECK (d->help && strlen (d->help) > 10, "%s.%s: help", name, d->name);
        double v = strtod (d->default_value, NULL);
        CHECK (d->min <= d->max && v >= d->min && v <= d->max, "%s.%s: default %s in "
               "[%g, %g]", name, d->name, d->default_value, d->min, d->max);
    }
    return m;
}

/* values[] from the declared defaults. */
static void
defaults (const ofr_method *m, ofr_value *v)
{
    for (int k = 0; k < m->n_params; k++) {
        if (m->params[k].type == OFR_PARAM_FLOAT)
            v[k].f = strtod (m->params[k].default_value, NULL);
        else
            v[k].i = strtoll (m->params[k].default_value, NULL, 10);
    }
}

static int
param (const ofr_method *m, const char *name)
{
    for (int k = 0; k < m->n_params; k++)
        if (strcmp (m->params[k].name, name) == 0)
            return k;
    CHECK (0, "%s has no parameter %s", m->name, name);
    return 0;
}

static double
default_of (const ofr_method *m, const char *name)
{
    return strtod (m->params[param (m, name)].default_value, NULL);
}

/* create + simulate + destroy with one parameter set. */
static int
run1 (const ofr_method *m, const ofr_value *v, fake *f, sim_out *o)
{
    void *state = NULL;
    char err[256] = "";
    if (m->create (&s_host, v, &state, err, sizeof err) != 0) {
        CHECK (0, "%s create: %s", m->name, err);
        return -1;
    }
    int rc = simulate (m, state, f, o);
    m->destroy (state);
    return rc;
}

static int
near (double a, double b)
{
    return fabs (a - b) <= 1e-6 * (1 + fabs (b));
}

/* ---- entropy -------------------------------------------------------------- */

static void
test_entropy (void)
{
    const ofr_method *m = load ("entropy");
    if (!m)
        return;
    CHECK (near (default_of (m, "threshold"), 0.3), "default threshold");
    ofr_value v[4];
    defaults (m, v);
    v[param (m, "threshold")].f = 0.3;
    fake f;
    sim_out o;
    fake_init (&f, 3, 4, 2, 2);
    probs2 (&f, 0, 0, 0.95f);       /* H = 0.1985 < 0.3: exits at once */
    probs2 (&f, 1, 0, 0.6f);        /* H = 0.673: never               */
    probs2 (&f, 2, 0, 0.6f);
    probs2 (&f, 2, 2, 0.97f);       /* H = 0.1347 from layer 2        */
    CHECK (run1 (m, v, &f, &o) == 0, "entropy run: %s", s_log);
    CHECK (o.exit_layer[0] == 0, "{0.95,0.05} exits at layer 0, got %d", o.exit_layer[0]);
    CHECK (o.exit_layer[1] == 3, "{0.6,0.4} runs to the end, got %d", o.exit_layer[1]);
    CHECK (o.exit_layer[2] == 2, "row 2 exits at layer 2, got %d", o.exit_layer[2]);
    /* 3 FLOPs per class and layer looked at. */
    CHECK (near (f.flops[0], 6) && near (f.flops[1], 24) && near (f.flops[2], 18),
           "flops %g %g %g", f.flops[0], f.flops[1], f.flops[2]);

    /* Three classes {0.7,0.2,0.1}: H = 0.80182 nats, either side of it. */
    for (int k = 0; k < 2; k++) {
        fake_init (&f, 1, 3, 3, 2);
        for (int l = 0; l < 3; l++) {
            f.probs[0][l][0] = 0.7f;
            f.probs[0][l][1] = 0.2f;
            f.probs[0][l][2] = 0.1f;
        }
        v[0].f = k ? 0.80 : 0.81;
        CHECK (run1 (m, v, &f, &o) == 0, "run");
        CHECK (o.exit_layer[0] == (k ? 2 : 0), "H=0.8018 threshold %g: exit %d", v[0].f,
               o.exit_layer[0]);
    }
    /* A regression head has no distribution. */
    fake_init (&f, 1, 3, 1, 2);
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "classifier"), "regression: %s", s_log);
}

/* ---- maxprob -------------------------------------------------------------- */

static void
test_maxprob (void)
{
    const ofr_method *m = load ("maxprob");
    if (!m)
        return;
    ofr_value v[4];
    defaults (m, v);
    CHECK (near (v[0].f, 0.9), "default threshold");
    fake f;
    sim_out o;
    fake_init (&f, 4, 5, 2, 2);
    probs2 (&f, 0, 0, 0.6f);
    probs2 (&f, 0, 1, 0.05f);       /* max 0.95 of class 1 at layer 1 */
    probs2 (&f, 1, 0, 0.6f);        /* never                          */
    probs2 (&f, 2, 0, 0.9f);        /* exactly the threshold: exits   */
    probs2 (&f, 3, 0, 0.89f);
    probs2 (&f, 3, 3, 0.91f);
    CHECK (run1 (m, v, &f, &o) == 0, "maxprob run: %s", s_log);
    CHECK (o.exit_layer[0] == 1 && o.exit_layer[1] == 4 && o.exit_layer[2] == 0
           && o.exit_layer[3] == 3, "exits %d %d %d %d", o.exit_layer[0], o.exit_layer[1],
           o.exit_layer[2], o.exit_layer[3]);
    CHECK (near (f.flops[0], 4) && near (f.flops[1], 10) && near (f.flops[3], 8),
           "one FLOP per class and layer: %g %g %g", f.flops[0], f.flops[1], f.flops[3]);
}

/* ---- patience ------------------------------------------------------------- */

static void
test_patience (void)
{
    const ofr_method *m = load ("patience");
    if (!m)
        return;
    ofr_value v[4];
    defaults (m, v);
    v[param (m, "patience")].i = 2;
    fake f;
    sim_out o;
    /* Predicted classes per layer (A = 0, B = 1). */
    static const int pred[4][6] = {
        { 0, 0, 0, 0, 0, 0 },       /* cnt 0 1 2: exits at layer 2          */
        { 0, 1, 1, 1, 1, 1 },       /* cnt 0 0 1 2: exits at layer 3        */
        { 0, 1, 0, 1, 0, 1 },       /* never agrees: the end                */
        { 1, 1, 0, 0, 1, 1 },       /* cnt 0 1 0 1 0 1: the end             */
    };
    fake_init (&f, 4, 6, 2, 2);
    for (int r = 0; r < 4; r++)
        for (int l = 0; l < 6; l++)
            probs2 (&f, r, l, pred[r][l] ? 0.3f : 0.7f);
    CHECK (run1 (m, v, &f, &o) == 0, "patience run: %s", s_log);
    CHECK (o.exit_layer[0] == 2 && o.exit_layer[1] == 3 && o.exit_layer[2] == 5
           && o.exit_layer[3] == 5, "patience 2 exits %d %d %d %d", o.exit_layer[0],
           o.exit_layer[1], o.exit_layer[2], o.exit_layer[3]);
    CHECK (near (f.flops[0], 6) && near (f.flops[1], 8), "flops %g %g", f.flops[0], f.flops[1]);

    v[param (m, "patience")].i = 1;
    CHECK (run1 (m, v, &f, &o) == 0, "run");
    CHECK (o.exit_layer[0] == 1 && o.exit_layer[1] == 2 && o.exit_layer[2] == 5
           && o.exit_layer[3] == 1, "patience 1 exits %d %d %d %d", o.exit_layer[0],
           o.exit_layer[1], o.exit_layer[2], o.exit_layer[3]);

    /* Regression: raw scores, agreement = |diff| < tolerance. */
    static const float score[2][5] = {
        { 1.0f, 1.05f, 1.08f, 3.0f, 3.0f },      /* diffs .05 .03: exits at 2 */
        { 1.0f, 1.5f, 1.55f, 1.58f, 9.0f },      /* .5 .05 .03: exits at 3    */
    };
    fake_init (&f, 2, 5, 1, 2);
    for (int r = 0; r < 2; r++)
        for (int l = 0; l < 5; l++)
            f.probs[r][l][0] = score[r][l];
    v[param (m, "patience")].i = 2;
    v[param (m, "tolerance")].f = 0.1;
    CHECK (run1 (m, v, &f, &o) == 0, "run");
    CHECK (o.exit_layer[0] == 2 && o.exit_layer[1] == 3, "regression exits %d %d",
           o.exit_layer[0], o.exit_layer[1]);
    v[param (m, "tolerance")].f = 0.04;
    CHECK (run1 (m, v, &f, &o) == 0, "run");
    CHECK (o.exit_layer[0] == 4 && o.exit_layer[1] == 4, "tolerance 0.04 exits %d %d",
           o.exit_layer[0], o.exit_layer[1]);
}

/* ---- palbert and berxit: linear read-outs of the pooled state ------------- */

/* w . h + b = z exactly for these h (w = {0.5,-1,2,0.25}, b = 0.25). */
static const float s_w[4] = { 0.5f, -1.0f, 2.0f, 0.25f };
static const float s_b[1] = { 0.25f };

static void
pooled_for (fake *f, int row, int layer, double z)
{
    float *h = f->hidden[row][layer];
    memset (h, 0, 4 * sizeof (float));
    if (z >= 0)
        h[2] = (float) ((z - 0.25) / 2);     /* 2 h2 + 0.25 */
    else
        h[1] = (float) (0.25 - z);           /* -h1 + 0.25  */
}

static void
test_palbert (void)
{
    const ofr_method *m = load ("palbert");
    if (!m)
        return;
    ofr_value v[2];
    defaults (m, v);
    CHECK (near (v[0].f, 0.5), "default q");
    fake f;
    sim_out o;
    /*  Row 0: z = 0, 0 -> lambda .5, .5; cumulative .5 (not > .5), .75: exit 1.
        Row 1: z = -2 everywhere -> lambda = .119203, cumulative
               1 - .880797^(i+1) = .119203, .224196, .316675: the end at q .5.
        Row 2: z = 1 -> lambda .731: exits at layer 0. */
    static const double z[3][4] = { { 0, 0, 5, 5 }, { -2, -2, -2, -2 }, { 1, 1, 1, 1 } };
    fake_init (&f, 3, 4, 2, 4);
    for (int r = 0; r < 3; r++)
        for (int l = 0; l < 4; l++)
            pooled_for (&f, r, l, z[r][l]);
    static const float w3[4] = { 0, 0, 0, 0 }, b3[1] = { 30 };
    char name[64];
    for (int l = 0; l < 4; l++) {
        snprintf (name, sizeof name, "palbert.lambda.%d.weight", l);
        add_tensor (&f, name, l < 3 ? s_w : w3, 4);
        snprintf (name, sizeof name, "palbert.lambda.%d.bias", l);
        add_tensor (&f, name, l < 3 ? s_b : b3, 1);
    }
    CHECK (run1 (m, v, &f, &o) == 0, "palbert run: %s", s_log);
    CHECK (o.exit_layer[0] == 1 && o.exit_layer[1] == 3 && o.exit_layer[2] == 0,
           "q=0.5 exits %d %d %d", o.exit_layer[0], o.exit_layer[1], o.exit_layer[2]);
    /* One dot product of 4 (8 FLOPs) + the sigmoid per layer before the last. */
    CHECK (near (f.flops[0], 18) && near (f.flops[1], 27) && near (f.flops[2], 9),
           "flops %g %g %g", f.flops[0], f.flops[1], f.flops[2]);
    /* The pooler the state comes from was run (and charged by the host). */
    CHECK (f.heads[0] == 2 && f.heads[1] == 3 && f.heads[2] == 1, "heads %d %d %d",
           f.heads[0], f.heads[1], f.heads[2]);

    v[0].f = 0.31;                  /* .316675 > .31 at layer 2 */
    fake_init (&f, 3, 4, 2, 4), f.n_t = 0;
    for (int r = 0; r < 3; r++)
        for (int l = 0; l < 4; l++)
            pooled_for (&f, r, l, z[r][l]);
    for (int l = 0; l < 4; l++) {
        snprintf (name, sizeof name, "palbert.lambda.%d.weight", l);
        add_tensor (&f, name, l < 3 ? s_w : w3, 4);
        snprintf (name, sizeof name, "palbert.lambda.%d.bias", l);
        add_tensor (&f, name, l < 3 ? s_b : b3, 1);
    }
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[1] == 2, "q=0.31: %d", o.exit_layer[1]);
    v[0].f = 0.32;
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[1] == 3, "q=0.32: %d", o.exit_layer[1]);
    v[0].f = 0.2;                   /* .224196 > .2 at layer 1 */
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[1] == 1 && o.exit_layer[0] == 0,
           "q=0.2: %d %d", o.exit_layer[0], o.exit_layer[1]);

    /* A missing component names the tensor; a wrong shape is refused. */
    drop_tensor (&f, "palbert.lambda.2.weight");
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "'palbert.lambda.2.weight'")
           && strstr (s_log, "PALBERT"), "missing tensor: %s", s_log);
    add_tensor (&f, "palbert.lambda.2.weight", s_w, 3);
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "has 3 elements, expected 4"),
           "wrong size: %s", s_log);
}

static void
test_berxit (void)
{
    const ofr_method *m = load ("berxit");
    if (!m)
        return;
    ofr_value v[2];
    defaults (m, v);
    CHECK (near (v[0].f, 0.5), "default threshold");
    static const double z[3][4] = {
        { -1, -1, 0, 0 },           /* certainty .269 .269 .5: exits at 2 (>=) */
        { -3, -3, -3, -3 },         /* the end                                 */
        { 1, 1, 1, 1 },             /* .731: exits at 0                        */
    };
    fake f;
    sim_out o;
    fake_init (&f, 3, 4, 2, 4);
    for (int r = 0; r < 3; r++)
        for (int l = 0; l < 4; l++)
            pooled_for (&f, r, l, z[r][l]);
    add_tensor (&f, "berxit.lte.weight", s_w, 4);
    add_tensor (&f, "berxit.lte.bias", s_b, 1);
    CHECK (run1 (m, v, &f, &o) == 0, "berxit run: %s", s_log);
    CHECK (o.exit_layer[0] == 2 && o.exit_layer[1] == 3 && o.exit_layer[2] == 0,
           "exits %d %d %d", o.exit_layer[0], o.exit_layer[1], o.exit_layer[2]);
    CHECK (near (f.flops[0], 27) && near (f.flops[1], 27) && near (f.flops[2], 9),
           "flops %g %g %g", f.flops[0], f.flops[1], f.flops[2]);
    CHECK (f.heads[0] == 3 && f.heads[2] == 1, "pooler runs %d %d", f.heads[0], f.heads[2]);
    v[0].f = 0.6;
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[0] == 3 && o.exit_layer[2] == 0,
           "threshold 0.6: %d %d", o.exit_layer[0], o.exit_layer[2]);
    drop_tensor (&f, "berxit.lte.bias");
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "'berxit.lte.bias'")
           && strstr (s_log, "BERxiT"), "missing: %s", s_log);
}

/* ---- jei ------------------------------------------------------------------ */

/*  Gate on [pooled(2) ; probs(2) ; entropy]: z = pooled0 + 4 (p0 - p1) - 4 H,
    the same weights at every layer. */
static const float s_gate_w[5] = { 1, 0, 4, -4, -4 };
static const float s_gate_b[1] = { 0 };

static void
jei_gates (fake *f, int L)
{
    char name[64];
    for (int l = 0; l < L; l++) {
        snprintf (name, sizeof name, "jei.gate.%d.weight", l);
        add_tensor (f, name, s_gate_w, 5);
        snprintf (name, sizeof name, "jei.gate.%d.bias", l);
        add_tensor (f, name, s_gate_b, 1);
    }
}

static void
test_jei_heads (const ofr_method *m)
{
    ofr_value v[2];
    defaults (m, v);
    CHECK (near (v[0].f, 0.5), "default threshold");
    fake f;
    sim_out o;
    fake_init (&f, 3, 3, 2, 2);
    /* Row 0: pooled0 1, {0.95,0.05}: z = 1 + 3.6 - 0.794 > 0, exits at 0.
       Row 1: pooled0 1, {0.6,0.4}: z = 1 + 0.8 - 2.692 < 0 at layer 0;
              pooled0 3 at layer 1: z = 1.108: exits at 1.
       Row 2: pooled0 0, {0.5,0.5}: z = -2.77: the end. */
    probs2 (&f, 0, 0, 0.95f);
    probs2 (&f, 1, 0, 0.6f);
    probs2 (&f, 2, 0, 0.5f);
    for (int l = 0; l < 3; l++) {
        f.hidden[0][l][0] = 1;
        f.hidden[1][l][0] = l == 0 ? 1 : 3;
        f.hidden[2][l][0] = 0;
    }
    jei_gates (&f, 3);
    CHECK (run1 (m, v, &f, &o) == 0, "jei run: %s", s_log);
    CHECK (o.exit_layer[0] == 0 && o.exit_layer[1] == 1 && o.exit_layer[2] == 2,
           "exits %d %d %d", o.exit_layer[0], o.exit_layer[1], o.exit_layer[2]);
    /* Entropy 3 K + gate 2 (d + K + 1) + sigmoid = 6 + 10 + 1. */
    CHECK (near (f.flops[0], 17) && near (f.flops[1], 34) && near (f.flops[2], 34),
           "flops %g %g %g", f.flops[0], f.flops[1], f.flops[2]);
    CHECK (f.override_layer[0] == -1, "no inference modules: the model's head predicts");
    /* The entropy term matters: without it row 1 would exit at layer 0. */
    v[0].f = 0.3;                   /* sigmoid(-0.892) = 0.291 < 0.3 */
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[1] == 1, "threshold 0.3: %d",
           o.exit_layer[1]);
    v[0].f = 0.29;
    CHECK (run1 (m, v, &f, &o) == 0 && o.exit_layer[1] == 0, "threshold 0.29: %d",
           o.exit_layer[1]);
    drop_tensor (&f, "jei.gate.1.bias");
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "'jei.gate.1.bias'")
           && strstr (s_log, "JEI-DNN"), "missing gate: %s", s_log);
}

/* softmax(tanh(h)) of a 2x2 identity inference module. */
static void
im_expect (const float *h, double *p)
{
    double a = exp (tanh (h[0])), b = exp (tanh (h[1]));
    p[0] = a / (a + b);
    p[1] = b / (a + b);
}

static void
test_jei_modules (const ofr_method *m)
{
    ofr_value v[2];
    defaults (m, v);
    static const float eye[4] = { 1, 0, 0, 1 }, zero[2] = { 0, 0 };
    fake f;
    sim_out o;
    fake_init (&f, 2, 3, 2, 2);
    /* The model's own heads say the opposite of the modules: a plugin
       reading them would decide the other way round. */
    probs2 (&f, 0, 0, 0.2f);
    probs2 (&f, 1, 0, 0.9f);
    for (int l = 0; l < 3; l++) {
        f.raw[0][l][0] = 2, f.raw[0][l][1] = -2;     /* p0 = 0.873: exits at 0 */
        f.raw[1][l][0] = -1, f.raw[1][l][1] = 1;     /* p0 = 0.177: the end    */
        f.hidden[0][l][0] = f.hidden[1][l][0] = 100; /* must not be read       */
    }
    jei_gates (&f, 3);
    char name[64];
    for (int l = 0; l < 3; l++) {
        snprintf (name, sizeof name, "jei.exits.%d.pooler.dense.weight", l);
        add_tensor (&f, name, eye, 4);
        snprintf (name, sizeof name, "jei.exits.%d.pooler.dense.bias", l);
        add_tensor (&f, name, zero, 2);
        snprintf (name, sizeof name, "jei.exits.%d.classifier.weight", l);
        add_tensor (&f, name, eye, 4);
        snprintf (name, sizeof name, "jei.exits.%d.classifier.bias", l);
        add_tensor (&f, name, zero, 2);
    }
    CHECK (run1 (m, v, &f, &o) == 0, "jei modules run: %s", s_log);
    CHECK (o.exit_layer[0] == 0 && o.exit_layer[1] == 2, "exits %d %d", o.exit_layer[0],
           o.exit_layer[1]);
    double p[2];
    for (int r = 0; r < 2; r++) {
        im_expect (f.raw[r][0], p);
        CHECK (f.override_layer[r] == o.exit_layer[r] && fabs (f.override[r][0] - p[0]) < 1e-6
               && fabs (f.override[r][1] - p[1]) < 1e-6, "row %d predicts with the module: "
               "layer %d {%g, %g}, want {%g, %g}", r, f.override_layer[r], f.override[r][0],
               f.override[r][1], p[0], p[1]);
    }
    CHECK (f.heads[0] == 0 && f.heads[1] == 0, "the model's exit heads were run");
    /* Module 2 d^2 + d + 2 K d + softmax 5 K = 28, entropy 3 K and gate
       2 (d + K + 1) + 1 = 17; the last layer has no gate. */
    CHECK (near (f.flops[0], 45) && near (f.flops[1], 45 + 45 + 28), "flops %g %g",
           f.flops[0], f.flops[1]);
    drop_tensor (&f, "jei.exits.1.classifier.bias");
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "'jei.exits.1.classifier.bias'"),
           "missing module: %s", s_log);
    /* An ABI 1.0 host cannot run the modules: refused, not misread. */
    add_tensor (&f, "jei.exits.1.classifier.bias", zero, 2);
    s_host.struct_size = offsetof (ofr_host, token_state);
    s_log[0] = '\0';
    CHECK (run1 (m, v, &f, &o) != 0 && strstr (s_log, "ABI 1.1"), "old host: %s", s_log);
    s_host.struct_size = sizeof (ofr_host);
}

static void
test_jei (void)
{
    const ofr_method *m = load ("jei");
    if (!m)
        return;
    test_jei_heads (m);
    test_jei_modules (m);
}

/* ---- quee ----------------------------------------------------------------- */

static void
test_quee (void)
{
    const ofr_method *m = load ("quee");
    if (!m)
        return;
    CHECK (m->before_layer, "quee decides precision before layers");
    ofr_value v[2];
    defaults (m, v);
    int ie = param (m, "exit_threshold"), il = param (m, "lowp_threshold");
    v[ie].f = 0.9;
    v[il].f = 0.6;
    fake f;
    sim_out o;
    fake_init (&f, 3, 4, 2, 2);
    probs2 (&f, 0, 0, 0.7f);        /* -> layer 1 low precision          */
    probs2 (&f, 0, 1, 0.5f);        /* -> layer 2 full                   */
    probs2 (&f, 0, 2, 0.95f);       /* exits at 2                        */
    probs2 (&f, 1, 0, 0.05f);       /* max 0.95: exits at 0              */
    probs2 (&f, 2, 0, 0.6f);        /* boundary: layers 1.. low precision */
    CHECK (run1 (m, v, &f, &o) == 0, "quee run: %s", s_log);
    CHECK (o.exit_layer[0] == 2 && o.exit_layer[1] == 0 && o.exit_layer[2] == 3,
           "exits %d %d %d", o.exit_layer[0], o.exit_layer[1], o.exit_layer[2]);
    CHECK (o.before[0][0] == OFR_RUN && o.before[0][1] == OFR_RUN_LOWP
           && o.before[0][2] == OFR_RUN, "row 0 precisions %d %d %d", o.before[0][0],
           o.before[0][1], o.before[0][2]);
    CHECK (o.before[1][0] == OFR_RUN, "row 1 first layer in full");
    CHECK (o.before[2][0] == OFR_RUN && o.before[2][1] == OFR_RUN_LOWP
           && o.before[2][2] == OFR_RUN_LOWP && o.before[2][3] == OFR_RUN_LOWP,
           "row 2 precisions %d %d %d %d", o.before[2][0], o.before[2][1], o.before[2][2],
           o.before[2][3]);
    CHECK (near (f.flops[0], 6) && near (f.flops[2], 8), "flops %g %g", f.flops[0], f.flops[2]);
    /* lowp_threshold must sit below exit_threshold. */
    v[il].f = 0.9;
    void *state = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &state, err, sizeof err) != 0
           && strstr (err, "lowp_threshold=0.9 must be below exit_threshold=0.9"),
           "bad thresholds: %s", err);
}

/* ---- oracle --------------------------------------------------------------- */

static void
test_oracle (void)
{
    const ofr_method *m = load ("oracle");
    if (!m)
        return;
    CHECK (m->flags & OFR_METHOD_ORACLE, "oracle must be flagged");
    fake f;
    sim_out o;
    fake_init (&f, 3, 4, 2, 2);
    f.label[0] = 1;
    probs2 (&f, 0, 0, 0.8f);
    probs2 (&f, 0, 1, 0.3f);        /* right from layer 1                */
    f.label[1] = 0;
    probs2 (&f, 1, 0, 0.4f);        /* never right                       */
    f.label[2] = 0;
    probs2 (&f, 2, 0, 0.5f);        /* a tie predicts class 0: exits at 0 */
    CHECK (run1 (m, NULL, &f, &o) == 0, "oracle run: %s", s_log);
    CHECK (o.exit_layer[0] == 1 && o.exit_layer[1] == 3 && o.exit_layer[2] == 0,
           "exits %d %d %d", o.exit_layer[0], o.exit_layer[1], o.exit_layer[2]);
    f.label[1] = -1;
    s_log[0] = '\0';
    CHECK (run1 (m, NULL, &f, &o) != 0 && strstr (s_log, "no class label"),
           "unlabelled row: %s", s_log);
}

int
main (void)
{
    test_entropy ();
    test_maxprob ();
    test_patience ();
    test_palbert ();
    test_berxit ();
    test_jei ();
    test_quee ();
    test_oracle ();
    for (int k = 0; k < s_n_handles; k++)
        dlclose (s_handles[k]);
    if (s_failures) {
        fprintf (stderr, "test_methods: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_methods: all passed\n");
    return 0;
}
