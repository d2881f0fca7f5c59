/*  test_tunedlens.c -- plugins/tunedlens.c on a fake decoder host: fit()
    recovers an exact affine relation between hand-made layer states and
    the final state (ridge, tiny penalty), saves one artifact of the
    documented layout, and after_layer applies the map, the head's RMSNorm
    and classifier (compared with the same computed here), charges the
    documented FLOPs, hands the distribution to set_exit_probs and exits by
    the top1 - top2 rule (one row: the sgemv path). A LayerNorm head with
    bias (GPT-2 / NeoX: lm.final_layernorm, _bias) over a batch of two rows
    (the sgemm path) gives the same computed here for each row. Finds
    tunedlens.so through OFR_PLUGIN_DIR. */
#include "plugins/offramp_plugin.h"
#include "workers/engine/fit.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
    fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } } while (0)

enum { D = 3, NV = 4, NL = 3, N = 40 };

typedef struct {
    unsigned char *blob;
    size_t size;
    float  h[2][D];
    float  norm[D], bias[D], cls[NV * D], eps;
    int    layernorm;      /* expose the head as LayerNorm + bias          */
    double flops;
    float  set[2][NV];
    int    set_layer;
} fake;

static fake F;

static const float *
h_hidden (void *ctx, int i, int *dim)
{
    (void) ctx;
    if (i < 0 || i > 1)
        return NULL;
    *dim = D;
    return F.h[i];
}
static void h_charge (void *ctx, int i, double f) { (void) ctx, (void) i; F.flops += f; }
static void
h_log (void *ctx, int level, const char *fmt, ...)
{
    (void) ctx, (void) level;
    va_list ap;
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
}
static int
h_save (void *ctx, const char *name, const void *data, size_t size)
{
    (void) ctx;
    free (F.blob);
    F.blob = malloc (size);
    if (!F.blob || strcmp (name, "lens") != 0)
        return -1;
    memcpy (F.blob, data, size);
    F.size = size;
    return 0;
}
static const void *
h_load (void *ctx, const char *name, size_t *size)
{
    (void) ctx;
    *size = F.size;
    return strcmp (name, "lens") == 0 ? F.blob : NULL;
}
static const float *
h_tensor (void *ctx, const char *name, size_t *n)
{
    (void) ctx;
    if (!strcmp (name, F.layernorm ? "lm.final_layernorm" : "lm.final_norm"))
        return *n = D, F.norm;
    if (F.layernorm && !strcmp (name, "lm.final_layernorm_bias"))
        return *n = D, F.bias;
    if (!strcmp (name, "lm.classifier"))
        return *n = NV * D, F.cls;
    if (!strcmp (name, "lm.norm_eps"))
        return *n = 1, &F.eps;
    return NULL;
}
static int
h_set (void *ctx, int i, int layer, const float *p)
{
    (void) ctx;
    if (i < 0 || i > 1)
        return -1;
    memcpy (F.set[i], p, sizeof F.set[i]);
    F.set_layer = layer;
    return 0;
}

static const ofr_host s_host = {
    .struct_size = sizeof (ofr_host), .abi_major = OFR_ABI_MAJOR, .abi_minor = OFR_ABI_MINOR,
    .hidden_state = h_hidden, .charge_flops = h_charge, .log = h_log,
    .fit_ridge = ofr_fit_ridge, .artifact_save = h_save, .artifact_load = h_load,
    .model_tensor = h_tensor, .token_state = h_hidden, .set_exit_probs = h_set,
};

/* The final state of a layer-l state x: layer-dependent affine map. */
static void
final_of (int l, const float *x, float *y)
{
    for (int j = 0; j < D; j++)
        y[j] = (float) (l + 2) * x[j] + 0.5f * x[(j + 1) % D] - (float) j;
}

int
main (void)
{
    const char *dir = getenv ("OFR_PLUGIN_DIR");
    char path[2048];
    snprintf (path, sizeof path, "%s/tunedlens.so", dir ? dir : "build/plugins");
    void *so = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    CHECK (so, "dlopen %s: %s", path, dlerror ());
    if (!so)
        return 1;
    ofr_method_entry_fn entry = (ofr_method_entry_fn) (uintptr_t) dlsym (so, OFR_ENTRY_SYMBOL);
    const ofr_method *m = entry ? entry (&s_host) : NULL;
    CHECK (m && m->fit && m->after_layer && (m->flags & OFR_METHOD_NEEDS_FIT), "descriptor");
    if (!m)
        return 1;
    /* Features [N][NL][D]: random layer states, the last layer = final state
       of layer 0's map (so layer 0's lens is exact, layer 1's too since
       layer 1's state is a scaled layer 0 state). */
    static float feat[N * NL * D];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        float *x0 = feat + (size_t) i * NL * D;
        for (int j = 0; j < D; j++) {
            s = s * 1103515245u + 12345u;
            x0[j] = (float) ((s >> 8) % 2000) / 1000.0f - 1.0f;
        }
        for (int j = 0; j < D; j++)
            x0[D + j] = 2.0f * x0[j];
        final_of (0, x0, x0 + 2 * D);
    }
    ofr_value v[5] = { { .f = 0.5 }, { .f = 0 }, { .f = 64 }, { .f = 1e-6 }, { .s = NULL } };
    void *st = NULL;
    char err[256] = "";
    CHECK (m->create (&s_host, v, &st, err, sizeof err) == 0, "create: %s", err);
    ofr_fit_ctx fc = { .struct_size = sizeof fc, .n_examples = N, .n_layers = NL,
                       .feat_dim = D, .features = feat, .split_desc = "hand/train[0:40]" };
    CHECK (st && m->fit (st, &fc, err, sizeof err) == 0, "fit: %s", err);
    size_t want = 12 + (size_t) (NL - 1) * (D * D + D) * sizeof (float);
    CHECK (F.size == want, "artifact of %zu bytes, want %zu", F.size, want);

    for (int j = 0; j < D; j++)
        F.norm[j] = 1.0f + 0.1f * (float) j;
    for (int c = 0; c < NV * D; c++)
        F.cls[c] = (float) ((c * 7) % 5) - 2.0f;
    F.eps = 1e-5f;
    int row = 0;
    ofr_batch b = { .struct_size = sizeof b, .kind = OFR_KIND_DECODER, .batch_size = 1,
                    .n_rows = 1, .row_ids = &row, .n_layers = NL, .n_outputs = NV,
                    .step = 0 };
    CHECK (st && m->begin (st, &b) == 0, "begin (artifact and head)");
    F.h[0][0] = 0.3f, F.h[0][1] = -0.7f, F.h[0][2] = 0.2f;
    uint8_t act = OFR_CONTINUE;
    CHECK (st && m->after_layer (st, &b, 0, &act) == 0, "after_layer");
    /* Expected: final_of (0, h), RMSNorm, classifier, softmax. */
    float y[D], z[D], p[NV], ss = 0, mx = -1e30f, sum = 0;
    final_of (0, F.h[0], y);
    for (int j = 0; j < D; j++)
        ss += y[j] * y[j];
    for (int j = 0; j < D; j++)
        z[j] = F.norm[j] * y[j] / sqrtf (ss / D + F.eps);
    for (int c = 0; c < NV; c++) {
        p[c] = 0;
        for (int j = 0; j < D; j++)
            p[c] += F.cls[c * D + j] * z[j];
        mx = p[c] > mx ? p[c] : mx;
    }
    for (int c = 0; c < NV; c++)
        sum += p[c] = expf (p[c] - mx);
    float top = 0, second = 0;
    for (int c = 0; c < NV; c++) {
        p[c] /= sum;
        if (p[c] > top)
            second = top, top = p[c];
        else if (p[c] > second)
            second = p[c];
    }
    double maxd = 0;
    for (int c = 0; c < NV; c++)
        maxd = fmax (maxd, fabs ((double) p[c] - F.set[0][c]));
    CHECK (F.set_layer == 0 && maxd < 1e-4, "translated distribution off by %g", maxd);
    double fl = 2.0 * D * D + D + 4.0 * D + 2.0 * D * NV + 5.0 * NV + 2.0 * NV;
    CHECK (fabs (F.flops - fl) < 1e-9, "charged %g, want %g", F.flops, fl);
    /* lambda 0.5, tau 0: threshold 0.55. */
    CHECK ((act == OFR_EXIT) == (top - second >= 0.55f), "exit %d for margin %g", act,
           (double) (top - second));
    printf ("tunedlens: margin %.3f -> %s, distribution within %.1g\n", (double) (top - second),
            act == OFR_EXIT ? "exit" : "continue", maxd);
    /* LayerNorm head with bias, two rows at layer 1 (states 2 x0: the map
       is final_of (0, h / 2)). */
    F.layernorm = 1;
    for (int j = 0; j < D; j++)
        F.bias[j] = 0.3f * (float) j - 0.2f;
    F.h[1][0] = -0.4f, F.h[1][1] = 0.9f, F.h[1][2] = 0.5f;
    void *st3 = NULL;
    CHECK (m->create (&s_host, v, &st3, err, sizeof err) == 0, "create: %s", err);
    int rows2[2] = { 0, 1 };
    ofr_batch b2 = { .struct_size = sizeof b2, .kind = OFR_KIND_DECODER, .batch_size = 2,
                     .n_rows = 2, .row_ids = rows2, .n_layers = NL, .n_outputs = NV,
                     .step = 0 };
    uint8_t act2[2] = { OFR_CONTINUE, OFR_CONTINUE };
    CHECK (st3 && m->begin (st3, &b2) == 0, "begin (LayerNorm head)");
    CHECK (st3 && m->after_layer (st3, &b2, 1, act2) == 0, "after_layer, two rows");
    double maxln = 0;
    for (int i = 0; i < 2; i++) {
        float x[D], mean = 0, var = 0, q[NV], mq = -1e30f, sq = 0;
        for (int j = 0; j < D; j++)
            x[j] = 0.5f * F.h[i][j];
        final_of (0, x, y);
        for (int j = 0; j < D; j++)
            mean += y[j] / D;
        for (int j = 0; j < D; j++)
            var += (y[j] - mean) * (y[j] - mean) / D;
        for (int j = 0; j < D; j++)
            z[j] = (y[j] - mean) / sqrtf (var + F.eps) * F.norm[j] + F.bias[j];
        for (int c = 0; c < NV; c++) {
            q[c] = 0;
            for (int j = 0; j < D; j++)
                q[c] += F.cls[c * D + j] * z[j];
            mq = q[c] > mq ? q[c] : mq;
        }
        for (int c = 0; c < NV; c++)
            sq += q[c] = expf (q[c] - mq);
        for (int c = 0; c < NV; c++)
            maxln = fmax (maxln, fabs ((double) q[c] / sq - F.set[i][c]));
    }
    CHECK (F.set_layer == 1 && maxln < 1e-4, "LayerNorm head, two rows: off by %g", maxln);
    printf ("tunedlens: LayerNorm head over 2 rows within %.1g\n", maxln);
    if (st3)
        m->destroy (st3);
    F.layernorm = 0;
    /* A model of another width: refused at begin. */
    void *st2 = NULL;
    CHECK (m->create (&s_host, v, &st2, err, sizeof err) == 0, "create: %s", err);
    b.n_layers = NL + 1;
    CHECK (st2 && m->begin (st2, &b) != 0, "artifact for 3 layers accepted for 4");
    if (st2)
        m->destroy (st2);
    if (st)
        m->destroy (st);
    free (F.blob);
    dlclose (so);
    if (failures)
        fprintf (stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
