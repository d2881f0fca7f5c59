/*  test_seq2seq_run.c -- issue 8, harness side: the decoder's per-layer
    skip with KV fills (ofr_s2s_skip), the analytic FLOPs of seq2seq.h, the
    CTranslate2 model as an ofr_model (kind seq2seq, via the model
    registry) and the aren_translit suite, on the real
    ct2-aren-transliteration model (skipped, 77, without ../shared). */
#include "../../suites/mt_suites.h"
#include "../../workers/models/seq2seq.h"
#include "../../workers/text/bpe_merges.h"
#include "../../common/ofr_common.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const ofr_suite_class ofr_suite_aren_translit;

static char *
shared (const char *sub)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/../shared/%s", src ? src : "..", sub);
    struct stat sb;
    if (b.oom || stat (b.data, &sb) != 0) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

/* Source ids of a word's characters. */
static int
src_ids (const ofr_seq2seq *m, const char *word, int *ids)
{
    char buf[256];
    const char *tok[64];
    int n = 0;
    char *o = buf;
    for (const unsigned char *p = (const unsigned char *) word; *p && n < 64;) {
        size_t len = 1;
        while ((p[len] & 0xC0) == 0x80)
            len++;
        memcpy (o, p, len);
        o[len] = 0;
        tok[n++] = o;
        o += len + 1;
        p += len;
    }
    int unk = 0;
    return ofr_seq2seq_src_ids (m, tok, n, ids, &unk);
}

/* One full-depth position of row; logits into out (if not NULL). */
static int
full_pos (ofr_s2s_state *st, int row, int tok, int L, float *out, int V, char *err)
{
    if (ofr_s2s_begin (st, &row, &tok, 1, err, OFR_ERRLEN) != 0)
        return -1;
    for (int l = 0; l < L; l++)
        if (ofr_s2s_layer (st, l, &row, 1, err, OFR_ERRLEN) != 0)
            return -1;
    if (ofr_s2s_head (st, &row, 1, err, OFR_ERRLEN) != 0)
        return -1;
    if (out)
        memcpy (out, ofr_s2s_logits (st, row), (size_t) V * sizeof *out);
    return 0;
}

static float
max_diff (const float *a, const float *b, int n)
{
    float m = 0;
    for (int i = 0; i < n; i++)
        m = fabsf (a[i] - b[i]) > m ? fabsf (a[i] - b[i]) : m;
    return m;
}

/*  Position 0: row 0 runs every layer; row 1 the same but the last layer
    is skipped with the given fill; row 2 the same as row 0. Position 1:
    all rows at full depth. Copy-up fills the skipped layer's K/V from the
    same input state as running it would: row 1's position-1 logits equal
    row 0's. A masked entry changes them. Skip leaves the state as is. */
static void
test_skip (const ofr_seq2seq *m)
{
    char err[OFR_ERRLEN];
    int L = ofr_seq2seq_dec_layers (m), V = ofr_seq2seq_tgt_vocab (m), d = ofr_seq2seq_dim (m);
    ofr_s2s_state *st = NULL;
    CHECK (ofr_s2s_state_new (m, 2, 16, 8, &st, err, sizeof err) == 0, "state: %s", err);
    if (!st)
        return;
    int ids[16], n = src_ids (m, "آتزمون", ids);
    float ref[64], got[64], before[64];
    int bos = ofr_seq2seq_bos (m), next = -1;
    for (int fill = OFR_S2S_KV_PROPAGATE; fill <= OFR_S2S_KV_MASK; fill++) {
        CHECK (ofr_s2s_encode (st, ids, n, err, sizeof err) == 0, "encode: %s", err);
        CHECK (full_pos (st, 0, bos, L, ref, V, err) == 0, "row 0: %s", err);
        next = 0;
        for (int c = 1; c < V; c++)
            next = ref[c] > ref[next] ? c : next;
        CHECK (strcmp (ofr_seq2seq_tgt_token (m, next), "a") == 0, "first token %s",
               ofr_seq2seq_tgt_token (m, next));
        int row = 1;
        CHECK (ofr_s2s_begin (st, &row, &bos, 1, err, sizeof err) == 0, "%s", err);
        for (int l = 0; l < L - 1; l++)
            CHECK (ofr_s2s_layer (st, l, &row, 1, err, sizeof err) == 0, "%s", err);
        memcpy (before, ofr_s2s_hidden (st, 1), (size_t) d * sizeof (float));
        CHECK (ofr_s2s_skip (st, L - 1, &row, 1, (ofr_s2s_kv_fill) fill, err, sizeof err) == 0,
               "skip: %s", err);
        CHECK (memcmp (before, ofr_s2s_hidden (st, 1), (size_t) d * sizeof (float)) == 0,
               "skip is not the identity");
        CHECK (full_pos (st, 0, next, L, ref, V, err) == 0, "row 0 pos 1: %s", err);
        CHECK (full_pos (st, 1, next, L, got, V, err) == 0, "row 1 pos 1: %s", err);
        float diff = max_diff (ref, got, V);
        if (fill == OFR_S2S_KV_PROPAGATE)
            CHECK (diff < 1e-4f, "copy-up: position-1 logits differ by %g", diff);
        else
            CHECK (diff > 1e-3f, "mask: position-1 logits unchanged (%g)", diff);
    }
    CHECK (ofr_s2s_skip (st, L, (int[]) { 0 }, 1, OFR_S2S_KV_MASK, err, sizeof err) != 0,
           "skip of layer L accepted");
    CHECK (ofr_s2s_skip (st, 0, (int[]) { 0 }, 1, (ofr_s2s_kv_fill) 7, err, sizeof err) != 0,
           "unknown fill accepted");
    /* Mask every layer at position 1 of a fresh row: the next position
       attends to position 0 only, and still decodes finitely. */
    CHECK (ofr_s2s_encode (st, ids, n, err, sizeof err) == 0, "encode: %s", err);
    CHECK (full_pos (st, 0, bos, L, NULL, V, err) == 0, "%s", err);
    int row = 0;
    CHECK (ofr_s2s_begin (st, &row, &next, 1, err, sizeof err) == 0, "%s", err);
    for (int l = 0; l < L; l++)
        CHECK (ofr_s2s_skip (st, l, &row, 1, OFR_S2S_KV_MASK, err, sizeof err) == 0, "%s", err);
    CHECK (full_pos (st, 0, next, L, got, V, err) == 0, "%s", err);
    bool finite = true;
    for (int c = 0; c < V; c++)
        finite &= isfinite (got[c]);
    CHECK (finite, "masked attention gave non-finite logits");
    ofr_s2s_state_destroy (&st);
}

static void
test_flops (const ofr_seq2seq *m)
{
    /* d 32, FFN 128, 8 heads, V 43, 6 + 6 layers (formulas in seq2seq.h). */
    double d = 32, H = 8, V = 43;
    CHECK (ofr_s2s_layer_flops (m, 1, 1) == 30352, "layer %g", ofr_s2s_layer_flops (m, 1, 1));
    CHECK (ofr_s2s_layer_flops (m, 3, 1) - ofr_s2s_layer_flops (m, 2, 1) == 4 * d + 5 * H,
           "per attended position");
    CHECK (ofr_s2s_layer_flops (m, 1, 4) - ofr_s2s_layer_flops (m, 1, 3) == 4 * d + 5 * H,
           "per source token");
    CHECK (ofr_s2s_encoder_flops (m, 5) == 918640, "encoder %g", ofr_s2s_encoder_flops (m, 5));
    CHECK (ofr_s2s_head_flops (m, false) == 8 * d + 2 * d * V + V, "head");
    CHECK (ofr_s2s_head_flops (m, true) - ofr_s2s_head_flops (m, false) == 5 * V, "softmax");
    CHECK (ofr_s2s_kv_fill_flops (m) == 8 * d + 4 * d * d + 2 * d, "kv fill");
    CHECK (ofr_s2s_embed_flops (m) == 2 * d, "embedding");
}

static void
test_suite (void)
{
    const ofr_suite_class *sc = &ofr_suite_aren_translit;
    void *data = NULL;
    int n = 0;
    char err[OFR_ERRLEN];
    CHECK (sc->load (NULL, NULL, &data, &n, err, sizeof err) == 0 && n == 3, "load: %s", err);
    sc->free (data);
    CHECK (sc->load (NULL, "train", &data, &n, err, sizeof err) != 0 && !data,
           "train split accepted");
    CHECK (sc->load (NULL, "test", &data, &n, err, sizeof err) == 0, "load: %s", err);
    ofr_example ex;
    CHECK (sc->example (data, 2, &ex) == 0 && strcmp (ex.text_a, "آ ز ا") == 0,
           "source '%s'", ex.text_a);
    double st[3][64];
    const char *hyp[3] = { "a t z m o n", "a c h i s o", "a z z a" };
    for (int i = 0; i < 3; i++) {
        ofr_prediction p = { .cls = -1, .text = hyp[i] };
        CHECK (sc->score (data, i, &p, st[i]) == 0, "score %d", i);
    }
    double flat[3 * 64];
    for (int i = 0; i < 3; i++)
        memcpy (flat + i * sc->n_stats, st[i], (size_t) sc->n_stats * sizeof (double));
    ofr_metric mt[8];
    int k = sc->metrics (flat, 3, mt, 8);
    CHECK (k == 3 && strcmp (mt[0].name, "exact_match") == 0
           && fabs (mt[0].value - 200.0 / 3) < 1e-9, "exact %g", mt[0].value);
    CHECK (mt[1].value > 80 && mt[1].value < 100, "chrf %g", mt[1].value);
    k = sc->metrics (flat, 1, mt, 8);
    CHECK (fabs (mt[0].value - 100) < 1e-9 && fabs (mt[1].value - 100) < 1e-9,
           "one perfect: %g %g", mt[0].value, mt[1].value);
    sc->free (data);
}

/* A hand-made merge table (docs/TRANSLATION.md's rules worked by hand). */
static void
test_bpe (void)
{
    char path[] = "/tmp/test_bpe_merges.XXXXXX";
    int fd = mkstemp (path);
    FILE *fp = fd >= 0 ? fdopen (fd, "w") : NULL;
    CHECK (fp, "temp file");
    if (!fp)
        return;
    fputs ("#version: offramp-bpe 1\n\xe2\x96\x81 t\nh e\n\xe2\x96\x81t he\ne r\nh e\n", fp);
    fclose (fp);
    ofr_bpe_merges *b = NULL;
    char err[OFR_ERRLEN];
    CHECK (ofr_bpe_merges_load (path, &b, err, sizeof err) == 0, "load: %s", err);
    unlink (path);
    if (!b)
        return;
    CHECK (ofr_bpe_merges_count (b) == 5, "%d merges", ofr_bpe_merges_count (b));
    ofr_buf out;
    ofr_buf_init (&out);
    const char *text = "  the other\t 2x,theta ";
    int n = ofr_bpe_merges_encode (b, text, strlen (text), &out, err, sizeof err);
    CHECK (n == 14 && strcmp (out.data, "\xe2\x96\x81the \xe2\x96\x81 o t he r "
                              "\xe2\x96\x81 2 x , t he t a") == 0, "%d: '%s'", n, out.data);
    CHECK (ofr_bpe_merges_encode (b, "a\xff", 2, &out, err, sizeof err) < 0
           && strstr (err, "byte 1"), "invalid UTF-8: %s", err);
    CHECK (ofr_bpe_merges_encode (b, "", 0, &out, err, sizeof err) == 0 && !out.data[0],
           "empty");
    ofr_buf_free (&out);
    ofr_bpe_merges_destroy (&b);
}

/* `test_seq2seq_run bpe MERGES < lines`: the pieces of every line (for
   the integration test's comparison with recipes/mt_bpe.py). */
static int
bpe_lines (const char *merges)
{
    ofr_bpe_merges *b = NULL;
    char err[OFR_ERRLEN];
    if (ofr_bpe_merges_load (merges, &b, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return 1;
    }
    ofr_buf out;
    ofr_buf_init (&out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline (&line, &cap, stdin)) >= 0) {
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = 0;
        if (ofr_bpe_merges_encode (b, line, (size_t) got, &out, err, sizeof err) < 0) {
            fprintf (stderr, "%s\n", err);
            rc = 1;
        } else
            printf ("%s\n", out.data);
    }
    free (line);
    ofr_buf_free (&out);
    ofr_bpe_merges_destroy (&b);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv[1], "bpe") == 0)
        return bpe_lines (argv[2]);
    test_suite ();
    test_bpe ();
    char *dir = shared ("models/ct2-aren-transliteration");
    if (!dir) {
        printf ("SKIP: ../shared/models/ct2-aren-transliteration not found\n");
        return s_failures ? 1 : 77;
    }
    ofr_seq2seq *m = NULL;
    char err[OFR_ERRLEN];
    CHECK (ofr_seq2seq_open (dir, &m, err, sizeof err) == 0, "open: %s", err);
    if (m) {
        test_skip (m);
        test_flops (m);
        ofr_seq2seq_destroy (&m);
    }
    free (dir);
    printf ("%s\n", s_failures ? "FAILED" : "ok");
    return s_failures != 0;
}
