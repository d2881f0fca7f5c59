/*  test_selfspec.c -- self-speculative decoding (workers/models/selfspec.h)
    against plain greedy decoding, and its FLOPs against a hand count.

    test_selfspec unit          generated tiny models (always runs)
    test_selfspec stories260K   the real checkpoint (77 = skipped without it) */
#include "workers/models/selfspec.h"
#include "workers/models/llama.h"
#include "workers/text/bpe_llama2c.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
    fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } } while (0)

static uint64_t s_rng = 88172645463325252ull;
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

/* Random Llama of 4 layers; the classifier never prefers EOS/BOS (zero
   rows against a max over 60 random logits), so lengths are fixed. With
   `identity_last`, the last layer adds nothing (wo = w2 = 0). */
static ofr_llama *
tiny (bool identity_last)
{
    ofr_llama_config c = { .dim = 16, .hidden_dim = 40, .n_layers = 4, .n_heads = 4,
                           .n_kv_heads = 2, .vocab_size = 64, .seq_len = 48,
                           .shared_classifier = false, .norm_eps = 1e-5f,
                           .rope_theta = 10000.0f };
    ofr_llama *m = NULL;
    char err[OFR_ERRLEN];
    if (ofr_llama_new (&c, "tiny-selfspec", &m, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return NULL;
    }
    const ofr_llama_config *cc = ofr_llama_config_of (m);
    size_t d = (size_t) cc->dim, kv = (size_t) cc->kv_dim, h = (size_t) cc->hidden_dim;
    fill (ofr_llama_embedding (m), (size_t) cc->vocab_size * d, 1.0f, 0);
    for (int l = 0; l < cc->n_layers; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (m, l);
        bool id = identity_last && l == cc->n_layers - 1;
        fill (w->rms_att, d, 0.1f, 1.0f);
        fill (w->wqkv, (d + 2 * kv) * d, 0.4f, 0);
        fill (w->wo, d * d, id ? 0.0f : 0.3f, 0);
        fill (w->rms_ffn, d, 0.1f, 1.0f);
        fill (w->w13, 2 * h * d, 0.3f, 0);
        fill (w->w2, d * h, id ? 0.0f : 0.3f, 0);
    }
    fill (ofr_llama_final_norm (m), d, 0.1f, 1.0f);
    fill (ofr_llama_classifier (m), (size_t) cc->vocab_size * d, 1.0f, 0);
    float *cls = (float *) ofr_llama_classifier (m);
    memset (cls + OFR_LLAMA_BOS * d, 0, d * sizeof (float));
    memset (cls + OFR_LLAMA_EOS * d, 0, d * sizeof (float));
    return m;
}

typedef struct {
    int *out, n, cap;
} sink;

static int
collect (void *arg, int token)
{
    sink *s = arg;
    if (s->n >= s->cap)
        return -1;
    s->out[s->n++] = token;
    return 0;
}

/* Greedy vs self-speculative continuations of prompt; returns the
   acceptance rate, -1 on a mismatch or error. */
static double
compare (const ofr_llama *m, const char *what, const int *prompt, int np, int max_new,
         int k, int dl, ofr_selfspec_stats *st_out)
{
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    int ref[512], got[512], n_ref = 0;
    double acc = -1;
    if (ofr_decoder_new_block (m, 1, 0, dl + 1, &d, err, sizeof err) != 0
        || ofr_decoder_greedy (d, 0, prompt, np, max_new, ref, &n_ref, NULL, err,
                               sizeof err) != 0) {
        CHECK (0, "%s: %s", what, err);
        ofr_decoder_destroy (&d);
        return -1;
    }
    ofr_decoder_reset (d, 0);
    int row = 0, rc = 0;
    for (int i = 0; i + 1 < np && rc == 0; i++)
        rc = ofr_decoder_forward (d, &row, &prompt[i], 1, err, sizeof err);
    ofr_selfspec_cfg cfg = { .draft_layers = k, .draft_len = dl };
    ofr_selfspec_stats st = { 0 };
    sink s = { got, 0, 512 };
    if (rc == 0)
        rc = ofr_selfspec_run (d, 0, prompt[np - 1], max_new, &cfg, collect, &s, &st, err,
                               sizeof err);
    CHECK (rc == 0, "%s k=%d draft=%d: %s", what, k, dl, err);
    int first = 0;
    while (first < s.n && first < n_ref && got[first] == ref[first])
        first++;
    bool same = rc == 0 && s.n == n_ref && first == n_ref;
    CHECK (same, "%s k=%d draft=%d: %d tokens, greedy %d (first difference at %d)", what,
           k, dl, s.n, n_ref, first);
    int L = ofr_llama_n_layers (m);
    CHECK (st.layers == (double) st.fed * L && st.heads == st.drafted + st.fed,
           "%s: %g layers for %d fed, %g heads for %d drafts", what, st.layers, st.fed,
           st.heads, st.drafted);
    if (same)
        acc = st.drafted ? (double) st.accepted / st.drafted : 0;
    if (st_out)
        *st_out = st;
    ofr_decoder_destroy (&d);
    return acc;
}

/* docs/FLOPS.md for one layer at context T and the head, written out. */
static double
hand_layer (const ofr_llama_config *c, int T)
{
    double d = c->dim, kv = c->kv_dim, h = c->hidden_dim, H = c->n_heads;
    return 2 * d * (d + 2 * kv) + 2 * d * d + 6 * d * h + 4 * d * T + 8 * d + 3 * (d + kv)
         + 5 * H * T + 5 * h + 2 * d;
}

static int
unit (void)
{
    ofr_llama *m = tiny (false);
    CHECK (m, "tiny model");
    if (!m)
        return 1;
    const int prompts[][4] = { { 1, 5, 9, 33 }, { 1, 0, 0, 0 }, { 1, 60, 17, 0 } };
    const int np[] = { 4, 1, 3 };
    for (int p = 0; p < 3; p++)
        for (int k = 1; k < 4; k++)
            for (int dl = 1; dl <= 7; dl += 2) {
                char what[64];
                snprintf (what, sizeof what, "tiny prompt %d", p);
                compare (m, what, prompts[p], np[p], 40, k, dl, NULL);
            }
    /* Up to the end of the row: greedy stops at seq_len too. */
    compare (m, "tiny, to the end of the row", prompts[0], 4, 100, 2, 5, NULL);
    ofr_llama_destroy (&m);

    /* Last layer = identity: k = 3 drafts what the full model says, every
       draft is accepted; prompt 3, 7 tokens, draft 2: rounds feed
       positions 2-4 (3 out), 5-7 (3 out), 8 (1 out: one token wanted). */
    m = tiny (true);
    CHECK (m, "tiny identity model");
    if (!m)
        return 1;
    ofr_selfspec_stats st;
    double acc = compare (m, "identity last layer", prompts[0], 3, 7, 3, 2, &st);
    CHECK (acc == 1.0 && st.rounds == 3 && st.drafted == 4 && st.fed == 7,
           "acceptance %g, %d rounds, %d drafted, %d fed", acc, st.rounds, st.drafted,
           st.fed);
    const ofr_llama_config *c = ofr_llama_config_of (m);
    double want = 0;
    for (int q = 2; q <= 8; q++)
        want += c->n_layers * hand_layer (c, q + 1);
    want += (4 + 7) * (4.0 * c->dim + 2.0 * c->dim * c->vocab_size);
    CHECK (fabs (st.flops - want) <= 1e-9 * want, "FLOPs %.0f, hand count %.0f", st.flops,
           want);
    printf ("identity last layer: %d rounds, acceptance %.2f, %.0f FLOPs (hand %.0f)\n",
            st.rounds, acc, st.flops, want);

    /* Bad configurations are refused with the numbers. */
    ofr_selfspec_cfg cfg;
    char err[OFR_ERRLEN];
    CHECK (ofr_selfspec_parse ("k=3,draft=5", 4, &cfg, err, sizeof err) == 0
           && cfg.draft_layers == 3 && cfg.draft_len == 5, "parse: %s", err);
    CHECK (ofr_selfspec_parse ("k=4", 4, &cfg, err, sizeof err) != 0 && strstr (err, "k=4"),
           "k = L accepted: %s", err);
    CHECK (ofr_selfspec_parse ("depth=2", 4, &cfg, err, sizeof err) != 0
           && strstr (err, "depth"), "unknown key: %s", err);
    ofr_decoder *d = NULL;
    int row = 0, one = 1;
    cfg = (ofr_selfspec_cfg) { .draft_layers = 2, .draft_len = 4 };
    CHECK (ofr_decoder_new_block (m, 1, 0, 2, &d, err, sizeof err) == 0, "%s", err);
    CHECK (d && ofr_selfspec_run (d, row, one, 5, &cfg, NULL, NULL, &st, err, sizeof err) != 0
           && strstr (err, "draft=4"), "small blocks accepted: %s", err);
    ofr_decoder_destroy (&d);
    ofr_llama_destroy (&m);
    return 0;
}

static int
stories (void)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    char path[4096];
    snprintf (path, sizeof path, "%s/../shared/models/stories260K/stories260K.bin",
              src ? src : ".");
    FILE *f = fopen (path, "rb");
    if (!f) {
        printf ("skip: %s absent\n", path);
        return 77;
    }
    fclose (f);
    ofr_llama *m = NULL;
    char err[OFR_ERRLEN];
    if (ofr_llama_load (path, &m, err, sizeof err) != 0) {
        CHECK (0, "%s", err);
        return 1;
    }
    /* BOS alone (the reference text of ../shared/README.md) and a
       TinyStories opening. */
    snprintf (path, sizeof path, "%s/../shared/models/stories260K/tok512.bin",
              src ? src : ".");
    ofr_bpe_llama2c *tok = NULL;
    int *story = NULL, ns = 0;
    const char *text = "Once upon a time, there was a little dog";
    if (ofr_bpe_llama2c_load (path, &tok, err, sizeof err) != 0
        || ofr_bpe_llama2c_encode (tok, text, strlen (text), true, false, &story, &ns,
                                   err, sizeof err) != 0) {
        CHECK (0, "%s", err);
        ofr_bpe_llama2c_destroy (&tok);
        ofr_llama_destroy (&m);
        return 1;
    }
    const int bos[] = { 1 };
    for (int k = 1; k < ofr_llama_n_layers (m); k++)
        for (int dl = 2; dl <= 6; dl += 2) {
            double a = compare (m, "stories260K BOS", bos, 1, 200, k, dl, NULL);
            double b = compare (m, "stories260K story", story, ns, 120, k, dl, NULL);
            printf ("stories260K k=%d draft=%d: acceptance %.3f (BOS), %.3f (story)\n", k,
                    dl, a, b);
        }
    free (story);
    ofr_bpe_llama2c_destroy (&tok);
    ofr_llama_destroy (&m);
    return 0;
}

int
main (int argc, char **argv)
{
    int rc = argc > 1 && !strcmp (argv[1], "stories260K") ? stories () : unit ();
    if (rc == 77)
        return 77;
    if (failures)
        fprintf (stderr, "%d failure(s)\n", failures);
    return failures || rc ? 1 : 0;
}
