/*  test_kv_lazy.c -- the KV recompute policy (workers/models/kv_lazy.h) on
    a generated model: an early-exit configuration decoded with lazy
    recomputation gives the logits of running the missing layers (every
    position at full depth, the prediction read at its exit layer), masking
    does not, and the recomputed layers' FLOPs match a hand count. */
#include "workers/models/kv_lazy.h"
#include "workers/models/llama.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
    fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } } while (0)

enum { NL = 4, V = 48, T = 24, DIM = 16 };

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;
static float
frand (void)
{
    s_rng ^= s_rng << 13, s_rng ^= s_rng >> 7, s_rng ^= s_rng << 17;
    return (float) ((double) (s_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void
fill (const float *p, size_t n, float scale, float base)
{
    float *w = (float *) p;
    for (size_t i = 0; i < n; i++)
        w[i] = base + scale * frand ();
}

static ofr_llama *
tiny (void)
{
    ofr_llama_config c = { .dim = DIM, .hidden_dim = 40, .n_layers = NL, .n_heads = 4,
                           .n_kv_heads = 2, .vocab_size = V, .seq_len = 32,
                           .shared_classifier = true, .norm_eps = 1e-5f,
                           .rope_theta = 10000.0f };
    ofr_llama *m = NULL;
    char err[OFR_ERRLEN];
    if (ofr_llama_new (&c, "tiny-kvlazy", &m, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return NULL;
    }
    size_t d = DIM, kv = (size_t) ofr_llama_config_of (m)->kv_dim, h = 40;
    fill (ofr_llama_embedding (m), (size_t) V * d, 1.0f, 0);
    for (int l = 0; l < NL; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (m, l);
        fill (w->rms_att, d, 0.1f, 1.0f);
        fill (w->wqkv, (d + 2 * kv) * d, 0.5f, 0);
        fill (w->wo, d * d, 0.4f, 0);
        fill (w->rms_ffn, d, 0.1f, 1.0f);
        fill (w->w13, 2 * h * d, 0.3f, 0);
        fill (w->w2, d * h, 0.3f, 0);
    }
    fill (ofr_llama_final_norm (m), d, 0.1f, 1.0f);
    return m;
}

/* Layers position t runs before its exit (1..NL). */
static int
exit_after (int t)
{
    static const int pattern[] = { 4, 1, 2, 4, 1, 3, 2, 1, 4, 2, 3, 1 };
    return pattern[t % 12];
}

typedef enum { FULL_DEPTH, LAZY, MASKED } mode;

/* Teacher-forced tokens; logits[t] = head after exit_after(t) layers.
   LAZY: layers above the exit are not run, recomputed when needed;
   MASKED: not run, never filled. */
static int
run (const ofr_llama *m, mode md, const int *tok, float *logits, double *rflops,
     int *rlayers)
{
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    ofr_kv_lazy *k = NULL;
    int row = 0, rc = -1;
    /* A small block: the lazy pass must work in several chunks. */
    if (ofr_decoder_new_block (m, 1, 0, 3, &d, err, sizeof err) != 0
        || ofr_kv_lazy_new (d, row, &k, err, sizeof err) != 0)
        goto out;
    for (int t = 0; t < T; t++) {
        int e = exit_after (t), L = md == FULL_DEPTH ? NL : e;
        if (ofr_decoder_begin (d, &row, &tok[t], 1, err, sizeof err) != 0)
            goto out;
        for (int l = 0; l < L; l++) {
            if (md == LAZY && ofr_kv_lazy_need (k, t, l, rflops, rlayers, err, sizeof err))
                goto out;
            if (ofr_decoder_layer (d, l, &row, 1, err, sizeof err) != 0)
                goto out;
            if (l == e - 1) {
                if (ofr_decoder_head (d, &row, 1, err, sizeof err) != 0)
                    goto out;
                memcpy (logits + (size_t) t * V, ofr_decoder_logits (d, row),
                        V * sizeof (float));
            }
        }
        for (int l = L; l < NL; l++)
            if (ofr_decoder_skip (d, l, &row, 1, OFR_KV_MASK, err, sizeof err) != 0)
                goto out;
        if (md == LAZY && ofr_kv_lazy_leave (k, t, e, ofr_decoder_hidden (d, row), err,
                                             sizeof err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc)
        CHECK (0, "mode %d: %s", md, err);
    ofr_kv_lazy_destroy (&k);
    ofr_decoder_destroy (&d);
    return rc;
}

static double
max_diff (const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax (m, fabs ((double) a[i] - b[i]));
    return m;
}

/* docs/FLOPS.md, one layer at context Tc, written out. */
static double
hand_layer (const ofr_llama_config *c, int Tc)
{
    double d = c->dim, kv = c->kv_dim, h = c->hidden_dim, H = c->n_heads;
    return 2 * d * (d + 2 * kv) + 2 * d * d + 6 * d * h + 4 * d * Tc + 8 * d
         + 3 * (d + kv) + 5 * H * Tc + 5 * h + 2 * d;
}

int
main (void)
{
    ofr_llama *m = tiny ();
    CHECK (m, "tiny model");
    if (!m)
        return 1;
    int tok[T];
    for (int t = 0; t < T; t++)
        tok[t] = t == 0 ? 1 : (7 * t + 3) % V;
    static float full[T * V], lazy[T * V], masked[T * V];
    double rflops = 0;
    int rlayers = 0;
    if (run (m, FULL_DEPTH, tok, full, NULL, NULL) == 0
        && run (m, LAZY, tok, lazy, &rflops, &rlayers) == 0
        && run (m, MASKED, tok, masked, NULL, NULL) == 0) {
        double dl = max_diff (full, lazy, (size_t) T * V);
        double dm = max_diff (full, masked, (size_t) T * V);
        CHECK (dl < 1e-4, "lazy recompute vs running the missing layers: max |diff| %g", dl);
        CHECK (dm > 1e-2, "masking should change the logits (max |diff| %g): the "
               "comparison cannot fail", dm);
        /* Hand count: position t's layers exit_after(t) .. need(t) - 1 are
           run, need(t) = the most layers any later position runs. */
        const ofr_llama_config *c = ofr_llama_config_of (m);
        double want = 0;
        int want_layers = 0;
        for (int t = 0; t < T; t++) {
            int need = 0;
            for (int u = t + 1; u < T; u++)
                need = exit_after (u) > need ? exit_after (u) : need;
            for (int l = exit_after (t); l < need; l++) {
                want += hand_layer (c, t + 1);
                want_layers++;
            }
        }
        CHECK (rlayers == want_layers && fabs (rflops - want) <= 1e-9 * want,
               "recomputed %d layers, %.0f FLOPs; hand count %d, %.0f", rlayers, rflops,
               want_layers, want);
        printf ("lazy recompute: max |diff| %.2g vs full depth (masked: %.2g); %d layers "
                "recomputed, %.0f FLOPs (hand %.0f)\n", dl, dm, rlayers, rflops, want);
    }
    /* Bad calls name the position. */
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    ofr_kv_lazy *k = NULL;
    if (ofr_decoder_new (m, 1, 0, &d, err, sizeof err) == 0
        && ofr_kv_lazy_new (d, 0, &k, err, sizeof err) == 0) {
        CHECK (ofr_kv_lazy_leave (k, 99, 1, NULL, err, sizeof err) != 0
               && strstr (err, "position 99"), "bad leave: %s", err);
        CHECK (ofr_kv_lazy_leave (k, 0, 2, ofr_decoder_hidden (d, 0), err, sizeof err) == 0
               && ofr_kv_lazy_need (k, 2, 3, NULL, NULL, err, sizeof err) != 0
               && strstr (err, "position 1"), "unreported position: %s", err);
    }
    ofr_kv_lazy_destroy (&k);
    ofr_decoder_destroy (&d);
    ofr_llama_destroy (&m);
    if (failures)
        fprintf (stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
