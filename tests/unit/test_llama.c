/*  test_llama.c -- llama2.c checkpoints, tokenizer, layer-at-a-time decoder.

    test_llama unit         tiny checkpoints and tokenizers generated here:
                            loader layout and error messages, tokenizer merges,
                            byte fallback and round trips, early exit, layer
                            skipping (mask / propagate), batching, greedy,
                            scoring, FLOPs formulas, `offramp generate` errors
    test_llama stories260K  the real checkpoint: greedy text from BOS equals
                            llama2.c's test_all.py expectation (200 steps),
                            tok512 round trips, decode tokens/s (exit 77 if the
                            files are absent)
    test_llama torch        per-position logits (full depth, early exit, a
                            dropped layer) and a score against the float64
                            torch re-implementation tests/ref/llama_ref.py run
                            with /usr/bin/python3 (exit 77 without torch) */
#include "workers/models/decoder.h"
#include "workers/models/llama.h"
#include "workers/text/bpe_llama2c.h"
#include "harness/commands.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fprintf (stderr, "\n");                                        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

#define SKIP 77

/* `offramp generate ARGS...` must exit with rc and print p1 / p2 (see
   expect_generate). */
#define GENERATE(rc, p1, p2, ...) \
    expect_generate (rc, p1, p2, (char *[]) { "generate", __VA_ARGS__, NULL })

/* ---- scratch files -------------------------------------------------------- */

static char s_tmpdir[] = "/tmp/ofr_test_llama.XXXXXX";

static char *
tmp_path (const char *leaf)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/%s", s_tmpdir, leaf);
    return b.data;
}

static void
remove_tmpdir (void)
{
    static const char *leaves[] = { "tiny.bin", "tok.bin", "bad.bin", "badtok.bin",
                                    "tok_small.bin" };
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        char *p = tmp_path (leaves[i]);
        if (p)
            unlink (p);
        free (p);
    }
    rmdir (s_tmpdir);
}

static const char *
source_dir (void)
{
    static char from_file[4096];
    const char *env = getenv ("OFR_SOURCE_DIR");
    if (env && *env)
        return env;
    /* cmake passes absolute source paths: strip /tests/unit/test_llama.c. */
    snprintf (from_file, sizeof from_file, "%s", __FILE__);
    char *p = strstr (from_file, "/tests/unit/");
    if (p)
        *p = 0;
    return p ? from_file : ".";
}

static char *
stories_path (const char *leaf)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/../shared/models/stories260K/%s", source_dir (), leaf);
    return b.data;
}

static bool
exists (const char *p)
{
    struct stat st;
    return p && stat (p, &st) == 0;
}

/* ---- generated checkpoints ------------------------------------------------ */

/* The tiny model: dim 16, hidden 40, 2 layers, 4 heads, 2 kv heads,
   separate classifier (negative vocab), seq_len 32. */
#define TINY_VOCAB 271
static const int32_t TINY[7] = { 16, 40, 2, 4, 2, -TINY_VOCAB, 32 };

typedef struct {
    float  *w;       /* every float after the header, in file order */
    size_t  n;
} file_floats;

/* Append n floats N(mean, sd) to f. */
static void
put (file_floats *f, ofr_rng *r, size_t n, double mean, double sd)
{
    for (size_t i = 0; i < n; i++)
        f->w[f->n++] = (float) (mean + sd * ofr_rng_normal (r));
}

/* Floats in file order for header h (values as llama2.c's export.py lays
   them out), drawn from seed. */
static file_floats
make_weights (const int32_t h[7], uint64_t seed)
{
    size_t d = (size_t) h[0], hid = (size_t) h[1], L = (size_t) h[2];
    size_t hs = d / (size_t) h[3], kv = (size_t) h[4] * hs;
    size_t V = (size_t) (h[5] < 0 ? -h[5] : h[5]), S = (size_t) h[6];
    size_t total = V * d * (h[5] < 0 ? 2 : 1) + L * (2 * d + 2 * d * d + 2 * kv * d + 3 * hid * d)
                   + d + S * hs;
    file_floats f = { ofr_calloc (total, sizeof (float)), 0 };
    if (!f.w)
        return f;
    ofr_rng r;
    ofr_rng_seed (&r, seed);
    put (&f, &r, V * d, 0, 0.5);                 /* embedding   */
    put (&f, &r, L * d, 1, 0.1);                 /* rms_att     */
    put (&f, &r, L * d * d, 0, 0.4);             /* wq          */
    put (&f, &r, 2 * L * kv * d, 0, 0.4);        /* wk, wv      */
    put (&f, &r, L * d * d, 0, 0.3);             /* wo          */
    put (&f, &r, L * d, 1, 0.1);                 /* rms_ffn     */
    put (&f, &r, 3 * L * hid * d, 0, 0.3);       /* w1, w2, w3  */
    put (&f, &r, d, 1, 0.1);                     /* final norm  */
    put (&f, &r, S * hs, 0, 1);                  /* RoPE tables (ignored) */
    if (h[5] < 0)
        put (&f, &r, V * d, 0, 0.3);             /* classifier  */
    return f;
}

/* Write header + floats, minus `cut` bytes at the end (or plus -cut bytes). */
static int
write_checkpoint (const char *path, const int32_t h[7], const file_floats *f, long cut)
{
    FILE *fp = fopen (path, "wb");
    if (!fp)
        return -1;
    size_t bytes = 28 + f->n * 4;
    char *buf = ofr_calloc (bytes + 64, 1);
    if (!buf) {
        fclose (fp);
        return -1;
    }
    memcpy (buf, h, 28);
    if (f->n)
        memcpy (buf + 28, f->w, f->n * 4);
    size_t len = cut >= 0 ? (cut > (long) bytes ? 0 : bytes - (size_t) cut)
                          : bytes + (size_t) (-cut);
    int rc = fwrite (buf, 1, len, fp) == len ? 0 : -1;
    free (buf);
    return fclose (fp) || rc ? -1 : 0;
}

/* The synthetic vocabulary after <unk>, BOS, EOS and the 256 byte tokens. */
static const struct { const char *s; float score; } EXTRA[] = {
    { " ", 0 },   { "a", 0 },  { "b", 0 },  { "c", 0 },     /* 259..262 */
    { "ab", -1 }, { "bc", -2 }, { " a", -3 }, { " ab", -4 }, /* 263..266 */
    { "abc", -5 }, { "\xc3\xa9", 0 }, { "ca", -1 }, { "\n", 0 }, /* 267..270 */
};
#define N_EXTRA ((int) (sizeof EXTRA / sizeof EXTRA[0]))

static void
put_piece (ofr_buf *b, const char *s, size_t len, float score)
{
    int32_t n = (int32_t) len;
    ofr_buf_append (b, &score, 4);
    ofr_buf_append (b, &n, 4);
    ofr_buf_append (b, s, len);
}

/* A tokenizer file with the first n_extra EXTRA pieces. */
static int
write_tokenizer (const char *path, int n_extra)
{
    ofr_buf b;
    ofr_buf_init (&b);
    int32_t max_len = 6;
    ofr_buf_append (&b, &max_len, 4);
    put_piece (&b, "<unk>", 5, 0);
    put_piece (&b, "\n<s>\n", 5, 0);
    put_piece (&b, "\n</s>\n", 6, 0);
    for (int i = 0; i < 256; i++) {
        char p[8];
        snprintf (p, sizeof p, "<0x%02X>", i);
        put_piece (&b, p, 6, 0);
    }
    for (int i = 0; i < n_extra; i++)
        put_piece (&b, EXTRA[i].s, strlen (EXTRA[i].s), EXTRA[i].score);
    FILE *fp = fopen (path, "wb");
    int rc = fp && !b.oom && fwrite (b.data, 1, b.len, fp) == b.len ? 0 : -1;
    if (fp && fclose (fp))
        rc = -1;
    ofr_buf_free (&b);
    return rc;
}

/* ---- tokenizer ------------------------------------------------------------ */

static void
expect_encoding (const ofr_bpe_llama2c *t, const char *text, size_t len, const int *want,
                 int nwant)
{
    char err[OFR_ERRLEN];
    int *tok = NULL, n = 0;
    int rc = ofr_bpe_llama2c_encode (t, text, len, true, false, &tok, &n, err, sizeof err);
    CHECK (rc == 0, "encode '%s': %s", text, err);
    bool same = rc == 0 && n == nwant + 1 && tok[0] == OFR_LLAMA_BOS;
    for (int i = 0; same && i < nwant; i++)
        same = tok[i + 1] == want[i];
    if (!same) {
        fprintf (stderr, "  got:");
        for (int i = 0; i < n; i++)
            fprintf (stderr, " %d", tok[i]);
        fprintf (stderr, "\n");
    }
    CHECK (same, "encode '%s' (%zu bytes): %d tokens, want BOS + %d", text, len, n, nwant);
    free (tok);
}

/* encode (BOS + text) then decode_all gives text back. */
static void
expect_round_trip (const ofr_bpe_llama2c *t, const char *text, size_t len)
{
    char err[OFR_ERRLEN];
    int *tok = NULL, n = 0;
    CHECK (ofr_bpe_llama2c_encode (t, text, len, true, true, &tok, &n, err, sizeof err) == 0,
           "%s", err);
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_bpe_llama2c_decode_all (t, tok, n, &b);
    CHECK (b.len == len && (len == 0 || memcmp (b.data, text, len) == 0),
           "round trip of '%s' gave '%s' (%zu bytes, want %zu)", text, b.data, b.len, len);
    CHECK (n >= 2 && tok[n - 1] == OFR_LLAMA_EOS, "EOS not last");
    ofr_buf_free (&b);
    free (tok);
}

static void
test_tokenizer_synthetic (void)
{
    char err[OFR_ERRLEN];
    char *path = tmp_path ("tok.bin");
    CHECK (path && write_tokenizer (path, N_EXTRA) == 0, "write %s", path);
    ofr_bpe_llama2c *t = NULL;
    CHECK (ofr_bpe_llama2c_load (path, &t, err, sizeof err) == 0, "%s", err);
    if (!t) {
        free (path);
        return;
    }
    CHECK (ofr_bpe_llama2c_vocab_size (t) == TINY_VOCAB, "vocab %d",
           ofr_bpe_llama2c_vocab_size (t));
    /* " ab": "ab" (-1) beats " a" (-3), then " ab" (-4) forms. */
    expect_encoding (t, "ab", 2, (int[]) { 266 }, 1);
    /* " ab" (-4) beats "abc" (-5), and " abc" is no piece. */
    expect_encoding (t, "abc", 3, (int[]) { 266, 262 }, 2);
    /* "ca" and "ab" tie at -1: the leftmost pair merges. */
    expect_encoding (t, "cab", 3, (int[]) { 259, 269, 261 }, 3);
    /* A two-byte code point in the vocabulary is one token ... */
    expect_encoding (t, "\xc3\xa9", 2, (int[]) { 259, 268 }, 2);
    /* ... one that is not falls back to its bytes (id = byte + 3 here). */
    expect_encoding (t, "\xc3\xbc", 2, (int[]) { 259, 3 + 0xC3, 3 + 0xBC }, 3);
    expect_encoding (t, "\x01" "a", 2, (int[]) { 259, 4, 260 }, 3);
    /* A NUL byte is text too; " a" still merges before it. */
    expect_encoding (t, "a\0b", 3, (int[]) { 265, 3, 261 }, 3);
    expect_encoding (t, "", 0, NULL, 0);
    const char *trips[] = { "ab", "abc cab", " leading", "two  spaces\n",
                            "\xc3\xa9t\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80",
                            "\x80\x80\x80\x80\x80 stray", "\x01\x02\x7f" };
    for (size_t i = 0; i < sizeof trips / sizeof trips[0]; i++)
        expect_round_trip (t, trips[i], strlen (trips[i]));
    expect_round_trip (t, "nul\0inside", 10);
    /* Decode rules: the space after BOS goes, byte tokens become bytes. */
    size_t len;
    const char *s = ofr_bpe_llama2c_decode (t, OFR_LLAMA_BOS, 266, &len);
    CHECK (s && len == 2 && memcmp (s, "ab", 2) == 0, "after BOS");
    s = ofr_bpe_llama2c_decode (t, 260, 266, &len);
    CHECK (s && len == 3 && memcmp (s, " ab", 3) == 0, "not after BOS");
    s = ofr_bpe_llama2c_decode (t, 260, 3 + 0xE2, &len);
    CHECK (s && len == 1 && (unsigned char) s[0] == 0xE2, "byte token");
    CHECK (ofr_bpe_llama2c_decode (t, 0, TINY_VOCAB, &len) == NULL && len == 0, "out of range");
    ofr_bpe_llama2c_destroy (&t);
    CHECK (t == NULL, "destroy clears the pointer");
    free (path);
}

static void
test_tokenizer_errors (void)
{
    char err[OFR_ERRLEN] = "";
    char *path = tmp_path ("badtok.bin");
    ofr_bpe_llama2c *t = NULL;
    /* Cut the file inside the last piece. */
    CHECK (write_tokenizer (path, N_EXTRA) == 0, "write");
    struct stat st;
    CHECK (stat (path, &st) == 0 && truncate (path, st.st_size - 1) == 0, "truncate");
    CHECK (ofr_bpe_llama2c_load (path, &t, err, sizeof err) == -1 && !t, "loaded a cut file");
    CHECK (strstr (err, path) && strstr (err, "token 270"), "message: %s", err);
    CHECK (truncate (path, 2) == 0, "truncate");
    CHECK (ofr_bpe_llama2c_load (path, &t, err, sizeof err) == -1, "loaded 2 bytes");
    CHECK (strstr (err, path) && strstr (err, "truncated"), "message: %s", err);
    CHECK (ofr_bpe_llama2c_load ("/nonexistent/tok.bin", &t, err, sizeof err) == -1,
           "loaded a missing file");
    CHECK (strstr (err, "/nonexistent/tok.bin"), "message: %s", err);
    /* A vocabulary without byte tokens cannot encode unknown bytes. */
    FILE *fp = fopen (path, "wb");
    ofr_buf b;
    ofr_buf_init (&b);
    int32_t ml = 5;
    ofr_buf_append (&b, &ml, 4);
    put_piece (&b, "<unk>", 5, 0);
    put_piece (&b, "<s>", 3, 0);
    put_piece (&b, "</s>", 4, 0);
    put_piece (&b, " ", 1, 0);
    CHECK (fp && fwrite (b.data, 1, b.len, fp) == b.len, "write");
    if (fp)
        fclose (fp);
    ofr_buf_free (&b);
    CHECK (ofr_bpe_llama2c_load (path, &t, err, sizeof err) == 0, "%s", err);
    int *tok = NULL, n = 0;
    if (t) {
        CHECK (ofr_bpe_llama2c_encode (t, "x", 1, true, false, &tok, &n, err, sizeof err) == -1
               && !tok, "encoded a byte without fallback");
        CHECK (strstr (err, "0x78"), "message: %s", err);
    }
    ofr_bpe_llama2c_destroy (&t);
    free (path);
}

/* ---- loader --------------------------------------------------------------- */

static void
check_layout (const ofr_llama *m, const file_floats *f)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    size_t d = 16, hid = 40, L = 2, kv = 8, V = TINY_VOCAB;
    CHECK (c->dim == 16 && c->hidden_dim == 40 && c->n_layers == 2 && c->n_heads == 4
           && c->n_kv_heads == 2 && c->vocab_size == TINY_VOCAB && c->seq_len == 32
           && c->head_size == 4 && c->kv_dim == 8 && !c->shared_classifier,
           "config of the tiny model");
    /* File offsets of each tensor (file order of llama.h). */
    size_t o_emb = 0, o_ra = V * d, o_wq = o_ra + L * d, o_wk = o_wq + L * d * d;
    size_t o_wv = o_wk + L * kv * d, o_wo = o_wv + L * kv * d, o_rf = o_wo + L * d * d;
    size_t o_w1 = o_rf + L * d, o_w2 = o_w1 + L * hid * d, o_w3 = o_w2 + L * d * hid;
    size_t o_fn = o_w3 + L * hid * d, o_cls = o_fn + d + 32 * 4;
    const float *w = f->w;
    CHECK (ofr_llama_embedding (m)[7 * d + 3] == w[o_emb + 7 * d + 3], "embedding");
    CHECK (ofr_llama_classifier (m)[9 * d + 5] == w[o_cls + 9 * d + 5], "classifier");
    CHECK (ofr_llama_final_norm (m)[15] == w[o_fn + 15], "final norm");
    for (size_t l = 0; l < L; l++) {
        const ofr_llama_layer *x = ofr_llama_layer_weights (m, (int) l);
        CHECK (x->rms_att[3] == w[o_ra + l * d + 3], "rms_att %zu", l);
        CHECK (x->rms_ffn[5] == w[o_rf + l * d + 5], "rms_ffn %zu", l);
        CHECK (x->wqkv[2 * d + 1] == w[o_wq + l * d * d + 2 * d + 1], "wq %zu", l);
        CHECK (x->wqkv[(d + 1) * d + 4] == w[o_wk + l * kv * d + d + 4], "wk %zu", l);
        CHECK (x->wqkv[(d + kv + 7) * d] == w[o_wv + l * kv * d + 7 * d], "wv %zu", l);
        CHECK (x->wo[d * d - 1] == w[o_wo + l * d * d + d * d - 1], "wo %zu", l);
        CHECK (x->w13[3 * d + 2] == w[o_w1 + l * hid * d + 3 * d + 2], "w1 %zu", l);
        CHECK (x->w13[(hid + 3) * d + 2] == w[o_w3 + l * hid * d + 3 * d + 2], "w3 %zu", l);
        CHECK (x->w2[5 * hid + 39] == w[o_w2 + l * d * hid + 5 * hid + 39], "w2 %zu", l);
    }
    CHECK (ofr_llama_layer_weights (m, 2) == NULL && ofr_llama_layer_weights (m, -1) == NULL,
           "layer out of range");
}

/* Load `path` after writing header h (weights of the tiny model, `cut`
   bytes short); expect failure with both phrases in the message. */
static void
expect_load_error (const int32_t h[7], const file_floats *f, long cut, const char *p1,
                   const char *p2)
{
    char err[OFR_ERRLEN] = "";
    char *path = tmp_path ("bad.bin");
    CHECK (write_checkpoint (path, h, f, cut) == 0, "write");
    ofr_llama *m = NULL;
    CHECK (ofr_llama_load (path, &m, err, sizeof err) == -1 && !m, "loaded a bad file (%s)", p1);
    CHECK (strstr (err, path) && strstr (err, p1) && (!p2 || strstr (err, p2)),
           "message '%s' lacks '%s' / '%s'", err, p1, p2 ? p2 : "");
    ofr_llama_destroy (&m);
    free (path);
}

static void
test_loader_errors (const file_floats *f)
{
    char err[OFR_ERRLEN] = "";
    ofr_llama *m = NULL;
    CHECK (ofr_llama_load ("/nonexistent/model.bin", &m, err, sizeof err) == -1, "missing");
    CHECK (strstr (err, "/nonexistent/model.bin") && strstr (err, "No such file"), "%s", err);
    expect_load_error (TINY, f, 100, "truncated", "implies");
    expect_load_error (TINY, f, -4, "trailing", NULL);
    file_floats none = { NULL, 0 };
    expect_load_error (TINY, &none, 10, "truncated", "header needs 28");
    struct { int field; int32_t value; const char *p1, *p2; } bad[] = {
        { 0, -16, "dim = -16", "> 0" },
        { 1, 0, "hidden_dim = 0", NULL },
        { 2, -1, "n_layers = -1", NULL },
        { 3, 3, "n_heads = 3 does not divide dim = 16", NULL },
        { 4, 3, "n_kv_heads = 3 does not divide n_heads = 4", NULL },
        { 4, 0, "n_kv_heads = 0", NULL },
        { 5, 0, "vocab_size = 0", NULL },
        { 6, 0, "seq_len = 0", NULL },
        { 3, 16, "head size 1 is odd", NULL },
        { 0, 0x616b3432, "version-1", "legacy" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t h[7];
        memcpy (h, TINY, sizeof h);
        h[bad[i].field] = bad[i].value;
        expect_load_error (h, f, 0, bad[i].p1, bad[i].p2);
    }
    /* Shapes so large the size overflows must not wrap around. */
    int32_t huge[7] = { 1 << 30, 1 << 30, 1 << 30, 2, 1, 1 << 30, 1 << 30 };
    expect_load_error (huge, f, 0, "bad header", "impossible");
}

/* ---- decoder -------------------------------------------------------------- */

static float
max_abs_diff (const float *a, const float *b, int n)
{
    float m = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf (a[i] - b[i]);
        if (!(d <= m))
            m = d;   /* NaN propagates */
    }
    return m;
}

/* Early exit at the last layer is the full forward, head calls between
   layers change nothing, and an earlier exit gives other logits. */
static void
test_early_exit (const ofr_llama *m)
{
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    CHECK (ofr_decoder_new (m, 2, 0, &d, err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    int V = TINY_VOCAB, L = 2;
    const int seq[] = { 1, 260, 17, 99, 270 };
    float *first = ofr_calloc ((size_t) V, sizeof (float));
    for (int p = 0; p < 5; p++) {
        int r0 = 0, r1 = 1;
        CHECK (ofr_decoder_forward (d, &r0, &seq[p], 1, err, sizeof err) == 0, "%s", err);
        CHECK (ofr_decoder_begin (d, &r1, &seq[p], 1, err, sizeof err) == 0, "%s", err);
        for (int l = 0; l < L; l++) {
            CHECK (ofr_decoder_layer (d, l, &r1, 1, err, sizeof err) == 0, "%s", err);
            CHECK (ofr_decoder_head (d, &r1, 1, err, sizeof err) == 0, "%s", err);
            if (l == 0 && first)
                memcpy (first, ofr_decoder_logits (d, 1), (size_t) V * sizeof (float));
        }
        CHECK (memcmp (ofr_decoder_logits (d, 0), ofr_decoder_logits (d, 1),
                       (size_t) V * sizeof (float)) == 0,
               "position %d: exit after the last layer != full forward", p);
        CHECK (first && max_abs_diff (first, ofr_decoder_logits (d, 0), V) > 1e-3f,
               "position %d: the exit after layer 0 equals the full model", p);
        CHECK (ofr_decoder_length (d, 0) == p + 1, "length %d", ofr_decoder_length (d, 0));
    }
    free (first);
    ofr_decoder_destroy (&d);
    CHECK (d == NULL, "destroy clears the pointer");
}

/* Rows batched in one call match rows run alone, also at other lengths. */
static void
test_batch (const ofr_llama *m)
{
    char err[OFR_ERRLEN];
    ofr_decoder *b = NULL, *s = NULL;
    CHECK (ofr_decoder_new (m, 3, 16, &b, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_decoder_new (m, 1, 16, &s, err, sizeof err) == 0, "%s", err);
    if (!b || !s)
        goto done;
    const int seqs[3][6] = { { 1, 5, 9, 260, 261, 262 }, { 1, 200, 3, 4 }, { 1, 270, 7 } };
    const int lens[3] = { 6, 4, 3 };
    /* Row 2 starts two positions late so that rows differ in length. */
    const int start[3] = { 0, 0, 2 };
    float worst = 0;
    /* Single runs first, then the batched run step by step. */
    float *want = ofr_calloc ((size_t) 3 * 6 * TINY_VOCAB, sizeof (float));
    for (int row = 0; row < 3 && want; row++) {
        ofr_decoder_reset (s, 0);
        for (int p = 0; p < lens[row]; p++) {
            int zero = 0;
            ofr_decoder_forward (s, &zero, &seqs[row][p], 1, err, sizeof err);
            memcpy (want + ((size_t) row * 6 + p) * TINY_VOCAB, ofr_decoder_logits (s, 0),
                    TINY_VOCAB * sizeof (float));
        }
    }
    for (int t = 0; t < 8 && want; t++) {
        int rows[3], toks[3], n = 0;
        for (int r = 2; r >= 0; r--)        /* unsorted row order on purpose */
            if (t - start[r] >= 0 && t - start[r] < lens[r]) {
                rows[n] = r;
                toks[n++] = seqs[r][t - start[r]];
            }
        CHECK (ofr_decoder_forward (b, rows, toks, n, err, sizeof err) == 0, "%s", err);
        for (int i = 0; i < n; i++) {
            int p = t - start[rows[i]];
            float dlt = max_abs_diff (ofr_decoder_logits (b, rows[i]),
                                      want + ((size_t) rows[i] * 6 + p) * TINY_VOCAB, TINY_VOCAB);
            if (!(dlt <= worst))
                worst = dlt;
        }
    }
    CHECK (want && worst < 1e-5f, "batched vs single logits differ by %g", (double) worst);
    free (want);
done:
    ofr_decoder_destroy (&b);
    ofr_decoder_destroy (&s);
}

/* Layer skipping: the hidden state passes through; with OFR_KV_PROPAGATE
   the cache of the skipped layer holds what running it would have stored
   (its K/V depend only on its input), so later positions see the same
   cache; with OFR_KV_MASK they do not. */
static void
test_skip (const ofr_llama *m)
{
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    CHECK (ofr_decoder_new (m, 3, 8, &d, err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    int V = TINY_VOCAB, tok0 = 1, tok1 = 260;
    for (int r = 0; r < 3; r++) {
        CHECK (ofr_decoder_begin (d, &r, &tok0, 1, err, sizeof err) == 0, "%s", err);
        CHECK (ofr_decoder_layer (d, 0, &r, 1, err, sizeof err) == 0, "%s", err);
    }
    float before[16];
    memcpy (before, ofr_decoder_hidden (d, 1), sizeof before);
    int r0 = 0, r1 = 1, r2 = 2;
    CHECK (ofr_decoder_layer (d, 1, &r0, 1, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_decoder_skip (d, 1, &r1, 1, OFR_KV_PROPAGATE, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_decoder_skip (d, 1, &r2, 1, OFR_KV_MASK, err, sizeof err) == 0, "%s", err);
    CHECK (memcmp (before, ofr_decoder_hidden (d, 1), sizeof before) == 0,
           "skip changed the hidden state");
    CHECK (memcmp (ofr_decoder_hidden (d, 0), ofr_decoder_hidden (d, 1), sizeof before) != 0,
           "running layer 1 changed nothing");
    for (int r = 0; r < 3; r++)
        CHECK (ofr_decoder_forward (d, &r, &tok1, 1, err, sizeof err) == 0, "%s", err);
    CHECK (memcmp (ofr_decoder_logits (d, 0), ofr_decoder_logits (d, 1),
                   (size_t) V * sizeof (float)) == 0, "propagated K/V differ from computed");
    CHECK (max_abs_diff (ofr_decoder_logits (d, 0), ofr_decoder_logits (d, 2), V) > 1e-4f,
           "masking a position changed nothing");
    ofr_decoder_destroy (&d);
}

static double
log_softmax_at (const float *x, int n, int t)
{
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++)
        s += exp (x[i] - mx);
    return x[t] - mx - log (s);
}

/* greedy == an explicit argmax loop; score == the explicit sum. */
static void
test_greedy_and_score (const ofr_llama *m)
{
    char err[OFR_ERRLEN];
    ofr_decoder *d = NULL;
    CHECK (ofr_decoder_new (m, 2, 0, &d, err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    int prompt[] = { 1, 260, 261 }, out[40], layers[40], n = 0;
    CHECK (ofr_decoder_greedy (d, 1, prompt, 3, 10, out, &n, layers, err, sizeof err) == 0,
           "%s", err);
    /* Replay by hand on row 0. */
    int row = 0, want[40], nw = 0;
    for (int i = 0; i < 3; i++)
        ofr_decoder_forward (d, &row, &prompt[i], 1, err, sizeof err);
    while (nw < 10) {
        const float *lg = ofr_decoder_logits (d, 0);
        int best = 0;
        for (int i = 1; i < TINY_VOCAB; i++)
            if (lg[i] > lg[best])
                best = i;
        if (best == OFR_LLAMA_BOS || best == OFR_LLAMA_EOS)
            break;
        want[nw++] = best;
        ofr_decoder_forward (d, &row, &best, 1, err, sizeof err);
    }
    CHECK (n == nw && memcmp (out, want, (size_t) n * sizeof (int)) == 0,
           "greedy gave %d tokens, the replay %d", n, nw);
    for (int i = 0; i < n; i++)
        CHECK (layers[i] == 2, "token %d used %d layers", i, layers[i]);
    /* Full row: a decoder of 8 positions stops after 8 - 3 + 1 tokens. */
    ofr_decoder *small = NULL;
    CHECK (ofr_decoder_new (m, 1, 8, &small, err, sizeof err) == 0, "%s", err);
    if (small) {
        int n2 = 0;
        CHECK (ofr_decoder_greedy (small, 0, prompt, 3, 40, out, &n2, NULL, err, sizeof err) == 0,
               "%s", err);
        CHECK (n2 == 6 || (n2 < 6 && n2 == n && n < 10), "full row: %d tokens", n2);
        CHECK (ofr_decoder_greedy (small, 0, (int[9]) { 1 }, 9, 4, out, &n2, NULL, err,
                                   sizeof err) == -1, "a 9-token prompt fit 8 positions");
        CHECK (strstr (err, "prompt of 9 tokens"), "message: %s", err);
        ofr_decoder_destroy (&small);
    }
    /* Score of the continuation (4 tokens) against the explicit sum. */
    int ctx[] = { 1, 260 }, cont[] = { 262, 5, 270, 261 };
    double ll = 0, sum = 0;
    CHECK (ofr_decoder_score (d, 1, ctx, 2, cont, 4, &ll, err, sizeof err) == 0, "%s", err);
    ofr_decoder_reset (d, 0);
    int seq[] = { 1, 260, 262, 5, 270 };
    for (int i = 0; i < 5; i++) {
        ofr_decoder_forward (d, &row, &seq[i], 1, err, sizeof err);
        if (i >= 1)
            sum += log_softmax_at (ofr_decoder_logits (d, 0), TINY_VOCAB, cont[i - 1]);
    }
    CHECK (fabs (ll - sum) < 1e-9 && ll < 0, "score %.9f, explicit sum %.9f", ll, sum);
    CHECK (ofr_decoder_score (d, 1, ctx, 0, cont, 4, &ll, err, sizeof err) == -1, "empty ctx");
    CHECK (ofr_decoder_score (d, 1, ctx, 2, (int[]) { TINY_VOCAB }, 1, &ll, err, sizeof err) == -1
           && strstr (err, "outside the vocabulary"), "bad continuation token: %s", err);
    ofr_decoder_destroy (&d);
}

static void
test_decoder_errors (const ofr_llama *m)
{
    char err[OFR_ERRLEN] = "";
    ofr_decoder *d = NULL;
    CHECK (ofr_decoder_new (m, 2, 33, &d, err, sizeof err) == -1 && !d, "max_seq > seq_len");
    CHECK (strstr (err, "seq_len 32"), "message: %s", err);
    CHECK (ofr_decoder_new (m, 0, 4, &d, err, sizeof err) == -1, "batch 0");
    CHECK (ofr_decoder_new (m, 2, 2, &d, err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    int r0 = 0, r5 = 5, two[2] = { 1, 1 }, tok = 1, badtok = TINY_VOCAB;
    CHECK (ofr_decoder_layer (d, 0, &r0, 1, err, sizeof err) == -1
           && strstr (err, "no token in flight"), "layer before begin: %s", err);
    CHECK (ofr_decoder_begin (d, &r5, &tok, 1, err, sizeof err) == -1
           && strstr (err, "row 5 out of range"), "row 5: %s", err);
    CHECK (ofr_decoder_begin (d, two, two, 2, err, sizeof err) == -1
           && strstr (err, "listed twice"), "duplicate: %s", err);
    CHECK (ofr_decoder_begin (d, &r0, &badtok, 1, err, sizeof err) == -1
           && strstr (err, "outside the vocabulary"), "bad token: %s", err);
    CHECK (ofr_decoder_length (d, 0) == 0, "a failed begin claimed a position");
    CHECK (ofr_decoder_forward (d, &r0, &tok, 1, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_decoder_layer (d, 2, &r0, 1, err, sizeof err) == -1
           && strstr (err, "layer 2 outside"), "layer 2: %s", err);
    CHECK (ofr_decoder_skip (d, -1, &r0, 1, OFR_KV_MASK, err, sizeof err) == -1, "skip -1");
    CHECK (ofr_decoder_forward (d, &r0, &tok, 1, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_decoder_begin (d, &r0, &tok, 1, err, sizeof err) == -1
           && strstr (err, "full"), "third position of 2: %s", err);
    ofr_decoder_destroy (&d);
}

static void
test_flops (const ofr_llama *m)
{
    /* d 16, kv 8, h 40, H 4, vocab 271, T = 1 and 10 (see llama.h). */
    double macs1 = 16 * 32 + 16 * 16 + 3 * 16 * 40 + 2 * 16 * 1;
    double elem1 = 8 * 16 + 3 * (16 + 8) + 5 * 4 * 1 + 5 * 40 + 2 * 16;
    CHECK (ofr_llama_layer_macs (m, 1) == macs1, "macs %g", ofr_llama_layer_macs (m, 1));
    CHECK (ofr_llama_layer_flops (m, 1) == 2 * macs1 + elem1, "flops %g",
           ofr_llama_layer_flops (m, 1));
    CHECK (ofr_llama_layer_flops (m, 10) - ofr_llama_layer_flops (m, 1) == 9 * (4 * 16 + 5 * 4),
           "attention grows by 4d + 5H per position");
    CHECK (ofr_llama_head_flops (m, false) == 4 * 16 + 2 * 16 * 271, "head");
    CHECK (ofr_llama_head_flops (m, true) == 4 * 16 + 2 * 16 * 271 + 5 * 271, "head+softmax");
    CHECK (ofr_llama_kv_fill_flops (m) == 4 * 16 + 2 * 16 * 16 + 3 * 8, "kv fill");
}

/* ---- `offramp generate` --------------------------------------------------- */

/* Run ofr_cmd_generate with stdout and stderr captured into *out / *errs. */
static int
run_generate (char **argv, int argc, char **out, char **errs)
{
    fflush (stdout);
    fflush (stderr);
    FILE *fo = tmpfile (), *fe = tmpfile ();
    int so = dup (1), se = dup (2);
    if (!fo || !fe || so < 0 || se < 0)
        return -100;
    dup2 (fileno (fo), 1);
    dup2 (fileno (fe), 2);
    int rc = ofr_cmd_generate (argc, argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (so, 1);
    dup2 (se, 2);
    close (so);
    close (se);
    FILE *fs[2] = { fo, fe };
    char **dst[2] = { out, errs };
    for (int i = 0; i < 2; i++) {
        long n = ftell (fs[i]);
        rewind (fs[i]);
        *dst[i] = ofr_calloc ((size_t) (n > 0 ? n : 0) + 1, 1);
        if (*dst[i] && n > 0 && fread (*dst[i], 1, (size_t) n, fs[i]) != (size_t) n)
            (*dst[i])[0] = 0;
        fclose (fs[i]);
    }
    return rc;
}

static void
expect_generate (int want_rc, const char *p1, const char *p2, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    char *out = NULL, *errs = NULL;
    int rc = run_generate (argv, argc, &out, &errs);
    CHECK (rc == want_rc, "generate %s %s...: rc %d, want %d (stderr: %s)", argv[1],
           argc > 2 ? argv[2] : "", rc, want_rc, errs ? errs : "?");
    /* Errors: both phrases on stderr. Success: p1 on stdout, p2 on stderr. */
    const char *h1 = want_rc ? errs : out, *h2 = errs;
    CHECK (h1 && h2 && (!p1 || strstr (h1, p1)) && (!p2 || strstr (h2, p2)),
           "generate: '%s' lacks '%s' or '%s' lacks '%s'", h1 ? h1 : "?", p1 ? p1 : "",
           h2 ? h2 : "?", p2 ? p2 : "");
    free (out);
    free (errs);
}

static void
test_cli (const file_floats *f)
{
    char *model = tmp_path ("tiny.bin"), *tok = tmp_path ("tok.bin");
    char *small = tmp_path ("tok_small.bin"), *bad = tmp_path ("bad.bin");
    /* The tokenizer is found next to the model (the only tok*.bin there is
       tok.bin until tok_small.bin is written below). */
    GENERATE (0, "abc", NULL, "--model", model, "--prompt", "abc", "--max-tokens", "3");
    GENERATE (0, NULL, "layers per token (of 2): 2 2 2 2\n",
              "--model", model, "--max-tokens", "4", "--stats");
    GENERATE (0, "", "generated 0 in", "--model", model, "--max-tokens", "0", "--stats");
    CHECK (write_tokenizer (small, 3) == 0, "write");
    GENERATE (1, "more than one", "--tokenizer", "--model", model);
    GENERATE (1, "seq_len 32", model, "--model", model, "--tokenizer", tok, "--prompt",
              "a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c a b c");
    GENERATE (1, "262 tokens", "vocab_size 271", "--model", model, "--tokenizer", small);
    GENERATE (1, "/nonexistent/x.bin", NULL, "--model", model, "--tokenizer",
              "/nonexistent/x.bin");
    GENERATE (1, "no-such-model", "OFFRAMP_MODELS", "--model", "no-such-model");
    CHECK (write_checkpoint (bad, TINY, f, 8) == 0, "write");
    GENERATE (1, "truncated", bad, "--model", bad, "--tokenizer", tok);
    GENERATE (2, NULL, NULL, "--bogus");
    GENERATE (2, NULL, "--model is required", "--prompt", "x");
    free (model);
    free (tok);
    free (small);
    free (bad);
}

static int
mode_unit (void)
{
    char err[OFR_ERRLEN];
    test_tokenizer_synthetic ();
    test_tokenizer_errors ();
    file_floats f = make_weights (TINY, 7);
    char *path = tmp_path ("tiny.bin");
    CHECK (f.w && path && write_checkpoint (path, TINY, &f, 0) == 0, "write tiny model");
    ofr_llama *m = NULL;
    CHECK (ofr_llama_load (path, &m, err, sizeof err) == 0, "%s", err);
    if (m) {
        check_layout (m, &f);
        test_early_exit (m);
        test_batch (m);
        test_skip (m);
        test_greedy_and_score (m);
        test_decoder_errors (m);
        test_flops (m);
        ofr_llama_destroy (&m);
        CHECK (m == NULL, "destroy clears the pointer");
    }
    test_loader_errors (&f);
    test_cli (&f);
    free (f.w);
    free (path);
    return 0;
}

/* ---- stories260K ----------------------------------------------------------- */

/* llama2.c test_all.py: ./run stories260K.bin -z tok512.bin -t 0.0 -n 200,
   i.e. 200 positions from BOS, printed without the trailing newline. */
static const char *EXPECTED_200 =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in "
    "the park. One day, she saw a big, red ball. She wanted to play with it, but it was "
    "too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't "
    "know what to do. She said, \"I want to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know "
    "what to do.\"\nLily didn't want to help her mom, so she";

/* Score of the tokens of `full` after those of its prefix `ctx` (so the
   continuation carries no dummy prefix); 1.0 on failure. */
static double
score_split (ofr_decoder *d, const ofr_bpe_llama2c *t, const char *ctx, const char *full)
{
    char err[OFR_ERRLEN];
    int *a = NULL, *b = NULL, na = 0, nb = 0;
    double ll = 1.0;
    int rc = ofr_bpe_llama2c_encode (t, ctx, strlen (ctx), true, false, &a, &na, err, sizeof err)
          || ofr_bpe_llama2c_encode (t, full, strlen (full), true, false, &b, &nb, err, sizeof err);
    bool prefix = !rc && na < nb && memcmp (a, b, (size_t) na * sizeof (int)) == 0;
    CHECK (prefix, "tokens of '%s' are not a prefix of those of '%s'", ctx, full);
    if (prefix)
        CHECK (ofr_decoder_score (d, 0, b, na, b + na, nb - na, &ll, err, sizeof err) == 0,
               "%s", err);
    free (a);
    free (b);
    return ll;
}

static int
mode_stories (void)
{
    char err[OFR_ERRLEN];
    char *mp = stories_path ("stories260K.bin"), *tp = stories_path ("tok512.bin");
    if (!exists (mp) || !exists (tp)) {
        printf ("SKIP: %s or %s absent\n", mp, tp);
        free (mp);
        free (tp);
        return SKIP;
    }
    ofr_llama *m = NULL;
    ofr_bpe_llama2c *t = NULL;
    ofr_decoder *d = NULL;
    CHECK (ofr_llama_load (mp, &m, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_bpe_llama2c_load (tp, &t, err, sizeof err) == 0, "%s", err);
    if (!m || !t)
        goto done;
    const ofr_llama_config *c = ofr_llama_config_of (m);
    CHECK (c->dim == 64 && c->hidden_dim == 172 && c->n_layers == 5 && c->n_heads == 8
           && c->n_kv_heads == 4 && c->vocab_size == 512 && c->seq_len == 512
           && c->shared_classifier, "stories260K config");
    CHECK (ofr_bpe_llama2c_vocab_size (t) == 512, "tok512 has %d", ofr_bpe_llama2c_vocab_size (t));
    CHECK (ofr_decoder_new (m, 1, 0, &d, err, sizeof err) == 0, "%s", err);
    if (!d)
        goto done;
    int bos = OFR_LLAMA_BOS, out[512], layers[512], n = 0;
    double t0 = ofr_now_ms ();
    CHECK (ofr_decoder_greedy (d, 0, &bos, 1, 200, out, &n, layers, err, sizeof err) == 0,
           "%s", err);
    double ms = ofr_now_ms () - t0;
    ofr_buf text;
    ofr_buf_init (&text);
    int all[513] = { OFR_LLAMA_BOS };
    memcpy (all + 1, out, (size_t) n * sizeof (int));
    ofr_bpe_llama2c_decode_all (t, all, n + 1, &text);
    CHECK (n == 200, "%d tokens", n);
    CHECK (text.data && strcmp (text.data, EXPECTED_200) == 0,
           "greedy text differs:\n got: %s\nwant: %s", text.data, EXPECTED_200);
    CHECK (text.data && strncmp (text.data, "Once upon a time, there was a little girl named "
           "Lily. She loved to play outside in the park. One day, she saw a big, red ball.",
           124) == 0, "first sentences");
    printf ("stories260K greedy: 200 tokens in %.2f ms = %.0f tokens/s (batch 1, "
            "OpenBLAS core from the environment)\n", ms, 200 / (ms / 1000));
    /* The generated text re-encodes to the same tokens. */
    int *re = NULL, nre = 0;
    CHECK (ofr_bpe_llama2c_encode (t, text.data, text.len, true, false, &re, &nre, err,
                                   sizeof err) == 0, "%s", err);
    CHECK (re && nre == n + 1 && memcmp (re, all, (size_t) nre * sizeof (int)) == 0,
           "re-encoding the greedy text gave %d tokens, not the %d generated", nre, n + 1);
    free (re);
    ofr_buf_free (&text);
    /* Without a token limit, greedy stops where llama2.c does: at BOS. */
    CHECK (ofr_decoder_greedy (d, 0, &bos, 1, 511, out, &n, NULL, err, sizeof err) == 0, "%s", err);
    CHECK (n < 511, "never stopped (%d tokens)", n);
    printf ("stories260K greedy stops by itself after %d tokens\n", n);
    const char *trips[] = { "Once upon a time, there was a little girl.",
                            ("h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac "
                             "\x01\x7f end"), "  two leading spaces", "tabs\tand\nnewlines\n",
                            "\xf0\x9f\x98\x80\xf0\x9f\x98\x80!" };
    for (size_t i = 0; i < sizeof trips / sizeof trips[0]; i++)
        expect_round_trip (t, trips[i], strlen (trips[i]));
    /* A likely continuation scores higher than a shuffled one. */
    double good = score_split (d, t, "Once upon a time, there was a little",
                               "Once upon a time, there was a little girl named Lily.");
    double bad = score_split (d, t, "Once upon a time, there was a little",
                              "Once upon a time, there was a little Lily named girl.");
    CHECK (good > bad + 5 && good < 0, "log-likelihoods %g (real) vs %g (shuffled)", good, bad);
    printf ("score(' girl named Lily.') = %.4f nats, shuffled %.4f\n", good, bad);
done:
    ofr_decoder_destroy (&d);
    ofr_bpe_llama2c_destroy (&t);
    ofr_llama_destroy (&m);
    free (mp);
    free (tp);
    return 0;
}

/* ---- torch reference ------------------------------------------------------- */

static bool
have_torch (void)
{
    if (access ("/usr/bin/python3", X_OK) != 0)
        return false;
    return system ("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

/* Logits of llama_ref.py for tokens (n positions x V), NULL on failure. */
static float *
ref_logits (const char *model, const int *tokens, int n, int V, const char *opts)
{
    ofr_buf cmd;
    ofr_buf_init (&cmd);
    ofr_buf_printf (&cmd, "/usr/bin/python3 '%s/tests/ref/llama_ref.py' '%s' %s",
                    source_dir (), model, opts ? opts : "");
    for (int i = 0; i < n; i++)
        ofr_buf_printf (&cmd, " %d", tokens[i]);
    FILE *p = cmd.oom ? NULL : popen (cmd.data, "r");
    float *out = ofr_calloc ((size_t) n * V, sizeof (float));
    size_t got = 0;
    while (p && out && got < (size_t) n * V && fscanf (p, "%f", &out[got]) == 1)
        got++;
    int rc = p ? pclose (p) : -1;
    if (rc != 0 || got != (size_t) n * V) {
        fprintf (stderr, "reference failed (rc %d, %zu of %d values): %s\n", rc, got, n * V,
                 cmd.data);
        free (out);
        out = NULL;
    }
    ofr_buf_free (&cmd);
    return out;
}

/* C logits per position at exit layer `exit_after` (L = full), skipping
   layer `drop` (-1 none) with masking at every position. */
static float *
c_logits (const ofr_llama *m, const int *tokens, int n, int exit_after, int drop)
{
    char err[OFR_ERRLEN];
    int V = ofr_llama_vocab_size (m), row = 0;
    ofr_decoder *d = NULL;
    float *out = ofr_calloc ((size_t) n * V, sizeof (float));
    if (!out || ofr_decoder_new (m, 1, n, &d, err, sizeof err)) {
        free (out);
        return NULL;
    }
    for (int p = 0; p < n; p++) {
        int rc = ofr_decoder_begin (d, &row, &tokens[p], 1, err, sizeof err);
        for (int l = 0; l < exit_after && !rc; l++)
            rc = l == drop ? ofr_decoder_skip (d, l, &row, 1, OFR_KV_MASK, err, sizeof err)
                           : ofr_decoder_layer (d, l, &row, 1, err, sizeof err);
        if (rc || ofr_decoder_head (d, &row, 1, err, sizeof err)) {
            fprintf (stderr, "c_logits: %s\n", err);
            free (out);
            out = NULL;
            break;
        }
        memcpy (out + (size_t) p * V, ofr_decoder_logits (d, 0), (size_t) V * sizeof (float));
    }
    ofr_decoder_destroy (&d);
    return out;
}

static void
compare_with_ref (const ofr_llama *m, const char *what, const int *tokens, int n,
                  int exit_after, int drop)
{
    int V = ofr_llama_vocab_size (m);
    char opts[64] = "";
    if (exit_after < ofr_llama_n_layers (m))
        snprintf (opts, sizeof opts, "--exit-after %d", exit_after);
    else if (drop >= 0)
        snprintf (opts, sizeof opts, "--drop-layer %d", drop);
    float *ref = ref_logits (ofr_llama_path (m), tokens, n, V, opts);
    float *got = c_logits (m, tokens, n, exit_after, drop);
    CHECK (ref && got, "%s: no logits", what);
    if (ref && got) {
        float worst = max_abs_diff (ref, got, n * V);
        CHECK (worst < 1e-4f, "%s: max |C - torch| = %g over %d positions", what,
               (double) worst, n);
        printf ("%-44s %2d positions, max |C - torch| = %.2e\n", what, n, (double) worst);
    }
    free (ref);
    free (got);
}

static int
mode_torch (void)
{
    char err[OFR_ERRLEN];
    if (!have_torch ()) {
        printf ("SKIP: /usr/bin/python3 with torch and numpy not available\n");
        return SKIP;
    }
    file_floats f = make_weights (TINY, 11);
    char *path = tmp_path ("tiny.bin");
    ofr_llama *m = NULL;
    CHECK (f.w && write_checkpoint (path, TINY, &f, 0) == 0, "write");
    CHECK (ofr_llama_load (path, &m, err, sizeof err) == 0, "%s", err);
    const int tiny_seq[] = { 1, 5, 260, 17, 3, 99, 200, 42, 270, 266, 7, 0 };
    if (m) {
        compare_with_ref (m, "tiny (unshared head, GQA)", tiny_seq, 12, 2, -1);
        compare_with_ref (m, "tiny, exit after layer 1", tiny_seq, 12, 1, -1);
        compare_with_ref (m, "tiny, layer 0 skipped everywhere", tiny_seq, 12, 2, 0);
    }
    ofr_llama_destroy (&m);
    free (f.w);
    free (path);
    char *mp = stories_path ("stories260K.bin"), *tp = stories_path ("tok512.bin");
    ofr_bpe_llama2c *t = NULL;
    if (!exists (mp) || !exists (tp))
        printf ("stories260K absent: checked the tiny model only\n");
    else if (ofr_llama_load (mp, &m, err, sizeof err) || ofr_bpe_llama2c_load (tp, &t, err, sizeof err))
        CHECK (0, "%s", err);
    const char *prompts[] = { "Once upon a time",
                              ("Lily and Tom went to the park to play with a big red ball. "
                               "They"), "The cat sat on the mat." };
    for (size_t i = 0; m && t && i < sizeof prompts / sizeof prompts[0]; i++) {
        int *tok = NULL, n = 0;
        CHECK (ofr_bpe_llama2c_encode (t, prompts[i], strlen (prompts[i]), true, false, &tok,
                                       &n, err, sizeof err) == 0, "%s", err);
        char what[80];
        snprintf (what, sizeof what, "stories260K prompt %zu", i);
        if (tok)
            compare_with_ref (m, what, tok, n, 5, -1);
        if (tok && i == 1)
            compare_with_ref (m, "stories260K prompt 1, exit after layer 2", tok, n, 2, -1);
        free (tok);
    }
    ofr_bpe_llama2c_destroy (&t);
    ofr_llama_destroy (&m);
    free (mp);
    free (tp);
    return 0;
}

int
main (int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "unit";
    if (!mkdtemp (s_tmpdir)) {
        perror ("mkdtemp");
        return 1;
    }
    int rc;
    if (!strcmp (mode, "unit"))
        rc = mode_unit ();
    else if (!strcmp (mode, "stories260K"))
        rc = mode_stories ();
    else if (!strcmp (mode, "torch"))
        rc = mode_torch ();
    else {
        fprintf (stderr, "usage: test_llama [unit|stories260K|torch]\n");
        rc = 2;
    }
    remove_tmpdir ();
    if (failures) {
        fprintf (stderr, "test_llama %s: %d failure(s)\n", mode, failures);
        return 1;
    }
    if (rc == 0)
        printf ("test_llama %s: ok\n", mode);
    return rc;
}
