/*  testnet_model.c -- the generated test classifier (see testnet.h). */
#include "testnet.h"
#include "../../common/ofr_common.h"
#include "../../plugins/offramp_plugin.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D OFR_TESTNET_DIM
#define K OFR_TESTNET_CLASSES

typedef struct {
    ofr_model base;
    int       n_layers;
    float    *A;        /* [L][D][D] layer weights (nn.Linear layout: out x in) */
    float    *U;        /* [L][K][D] exit heads                                  */
} testnet;

struct ofr_mbatch {
    testnet *net;
    int      n;
    float   *H;         /* [n][D] state per row    */
    float   *X;         /* [n][D] gathered inputs  */
    float   *Y;         /* [n][D] layer outputs    */
};

float
ofr_testnet_teacher (int cls, int j)
{
    ofr_rng r;
    ofr_rng_seed (&r, 42u + (uint64_t) (cls * D + j) * 7919u);
    return (float) ofr_rng_normal (&r);
}

static int tn_layers (const ofr_model *m) { return ((const testnet *) m)->n_layers; }
static int tn_outputs (const ofr_model *m) { (void) m; return K; }
static int tn_hidden (const ofr_model *m) { (void) m; return D; }

static void
tn_destroy (ofr_model *m)
{
    testnet *t = (testnet *) m;
    free (t->A);
    free (t->U);
    free (t->base.name);
    free (t);
}

static int
tn_batch_begin (ofr_model *m, const ofr_example *ex, int n, ofr_mbatch **out,
                char *err, size_t errlen)
{
    ofr_mbatch *mb = ofr_calloc (1, sizeof *mb);
    if (!mb)
        return ofr_errf (err, errlen, "testnet: out of memory");
    mb->net = (testnet *) m;
    mb->n = n;
    mb->H = ofr_calloc ((size_t) n * D, sizeof (float));
    mb->X = ofr_calloc ((size_t) n * D, sizeof (float));
    mb->Y = ofr_calloc ((size_t) n * D, sizeof (float));
    if (!mb->H || !mb->X || !mb->Y) {
        free (mb->H); free (mb->X); free (mb->Y); free (mb);
        return ofr_errf (err, errlen, "testnet: out of memory for a batch of %d", n);
    }
    for (int i = 0; i < n; i++) {
        if (!ex[i].features || ex[i].n_features != D) {
            free (mb->H); free (mb->X); free (mb->Y); free (mb);
            return ofr_errf (err, errlen,
                             "testnet: example %s has %d features, expected %d "
                             "(testnet runs only on the synthetic suite)",
                             ex[i].id ? ex[i].id : "?", ex[i].n_features, D);
        }
        memcpy (mb->H + (size_t) i * D, ex[i].features, D * sizeof (float));
    }
    *out = mb;
    return 0;
}

static void
tn_batch_end (ofr_mbatch *mb)
{
    if (!mb)
        return;
    free (mb->H);
    free (mb->X);
    free (mb->Y);
    free (mb);
}

/* Round to bfloat16 precision: what a reduced-precision layer would see. */
static float
to_bf16 (float v)
{
    uint32_t u;
    memcpy (&u, &v, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy (&v, &u, 4);
    return v;
}

/*  Gather the active rows into X, one sgemm for the whole active set, then
    scatter h += 0.5 tanh(y) back: the compaction real models do as well. */
static int
tn_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp,
              int n, char *err, size_t errlen)
{
    testnet *t = mb->net;
    if (layer < 0 || layer >= t->n_layers)
        return ofr_errf (err, errlen, "testnet: layer %d out of range", layer);
    if (n == 0)
        return 0;
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= mb->n)
            return ofr_errf (err, errlen, "testnet: row %d out of range", rows[i]);
        memcpy (mb->X + (size_t) i * D, mb->H + (size_t) rows[i] * D, D * sizeof (float));
        if (lowp && lowp[i])
            for (int j = 0; j < D; j++)
                mb->X[i * D + j] = to_bf16 (mb->X[i * D + j]);
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, D, D, 1.0f,
                 mb->X, D, t->A + (size_t) layer * D * D, D, 0.0f, mb->Y, D);
    for (int i = 0; i < n; i++) {
        float *h = mb->H + (size_t) rows[i] * D;
        for (int j = 0; j < D; j++) {
            float y = tanhf (mb->Y[i * D + j]);
            h[j] += 0.5f * (lowp && lowp[i] ? to_bf16 (y) : y);
        }
    }
    return 0;
}

static int
tn_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    testnet *t = mb->net;
    if (layer < 0 || layer >= t->n_layers || row < 0 || row >= mb->n)
        return -1;
    const float *h = mb->H + (size_t) row * D;
    const float *U = t->U + (size_t) layer * K * D;
    cblas_sgemv (CblasRowMajor, CblasNoTrans, K, D, 1.0f, U, D, h, 1, 0.0f, probs, 1);
    float mx = probs[0];
    for (int c = 1; c < K; c++)
        mx = probs[c] > mx ? probs[c] : mx;
    float sum = 0;
    for (int c = 0; c < K; c++)
        sum += (probs[c] = expf (probs[c] - mx));
    for (int c = 0; c < K; c++)
        probs[c] /= sum;
    return 0;
}

static const float *
tn_hidden_state (ofr_mbatch *mb, int row)
{
    return row >= 0 && row < mb->n ? mb->H + (size_t) row * D : NULL;
}

/*  Costs with the constants of docs/FLOPS.md: matmul 2 per MAC, tanh 1 per
    element (counted as one transcendental), scale+add 2 per element;
    head: matmul + softmax at 5 per output. */
static double
tn_layer_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb; (void) layer; (void) row;
    return 2.0 * D * D + D * 1.0 + 2.0 * D;
}

static double
tn_head_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb; (void) layer; (void) row;
    return 2.0 * K * D + 5.0 * K;
}

static const ofr_model_ops s_testnet_ops = {
    .family = "testnet",
    .kind = OFR_KIND_ENCODER,
    .n_layers = tn_layers,
    .n_outputs = tn_outputs,
    .hidden_dim = tn_hidden,
    .destroy = tn_destroy,
    .batch_begin = tn_batch_begin,
    .batch_end = tn_batch_end,
    .run_layer = tn_run_layer,
    .exit_probs = tn_exit_probs,
    .hidden = tn_hidden_state,
    .layer_flops = tn_layer_flops,
    .head_flops = tn_head_flops,
    .lowp_cost = 0.5,
};

int
ofr_testnet_open (const char *name, ofr_model **out, char *err, size_t errlen)
{
    int layers = 6;
    if (strcmp (name, "testnet") != 0) {
        long long v;
        if (strncmp (name, "testnet-L", 9) != 0 || ofr_parse_int (name + 9, &v) != 0
            || v < 1 || v > 64)
            return ofr_errf (err, errlen,
                             "model '%s': expected 'testnet' or 'testnet-L<1..64>'", name);
        layers = (int) v;
    }
    testnet *t = ofr_calloc (1, sizeof *t);
    if (!t)
        return ofr_errf (err, errlen, "testnet: out of memory");
    t->n_layers = layers;
    t->A = ofr_calloc ((size_t) layers * D * D, sizeof (float));
    t->U = ofr_calloc ((size_t) layers * K * D, sizeof (float));
    t->base.name = ofr_strdup (name);
    t->base.ops = &s_testnet_ops;
    if (!t->A || !t->U || !t->base.name) {
        tn_destroy (&t->base);
        return ofr_errf (err, errlen, "testnet: out of memory");
    }
    ofr_rng r;
    ofr_rng_seed (&r, 1000);
    for (size_t i = 0; i < (size_t) layers * D * D; i++)
        t->A[i] = (float) (ofr_rng_normal (&r) * 0.6 / sqrt ((double) D));
    for (int l = 0; l < layers; l++) {
        double noise = layers > 1 ? 1.6 * (1.0 - (double) l / (layers - 1)) + 0.25 : 0.25;
        for (int c = 0; c < K; c++)
            for (int j = 0; j < D; j++)
                t->U[((size_t) l * K + c) * D + j] =
                    (float) (ofr_testnet_teacher (c, j) + noise * ofr_rng_normal (&r));
    }
    *out = &t->base;
    return 0;
}
