/*  test_encoder.c -- the BERT-family encoder runtime (workers/models/encoder.h).

    test_encoder flops   FLOPs formula (BERT-base at 128 tokens), config
                         errors, the bf16 kernel against a reference
    test_encoder torch   tiny random checkpoints of every family written by
                         tests/ref/encoder_ref.py (python3-torch), plus
                         ALBERT with two inner layers per group and
                         DistilBERT with learned positions: every layer's
                         hidden states and every exit's logits within 1e-4,
                         compaction, reduced-precision rows; text through a
                         unigram tokenizer.json (ids of
                         tests/ref/unigram_ref.py) and a WordPiece
                         tokenizer.json (same ids as vocab.txt); broken
                         checkpoints and tokenizer set-ups. Exits 77
                         without torch.
    test_encoder bpe     a RoBERTa checkpoint and byte-level BPE
                         tokenizer.json from tests/ref/bpe_bytes_ref.py
                         (no torch): text gives the reference ids. */
#include "workers/models/encoder.h"
#include "workers/models/bf16_gemm.h"
#include "common/ofr_common.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define TOL 1e-4            /* fp32 runtime vs torch: max abs difference       */
#define TOL_LOWP 0.15       /* bf16 projections vs fp32 torch (see FLOPS.md)   */

static int s_fail;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); s_fail++; } } while (0)

/* ---- helpers ------------------------------------------------------------ */

static int
rm_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

static void
rm_tree (const char *dir)
{
    nftw (dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    return fclose (f);
}

static int
copy_file (const char *from, const char *to, size_t drop_tail)
{
    char *data;
    size_t size;
    char err[OFR_ERRLEN];
    if (ofr_read_file (from, &data, &size, err, sizeof err) != 0)
        return -1;
    FILE *f = fopen (to, "wb");
    int rc = f && fwrite (data, 1, size - drop_tail, f) == size - drop_tail ? 0 : -1;
    if (f && fclose (f) != 0)
        rc = -1;
    free (data);
    return rc;
}

static double
max_abs_diff (const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double dlt = fabs ((double) a[i] - b[i]);
        if (dlt > m || isnan (dlt))
            m = isnan (dlt) ? INFINITY : dlt;
    }
    return m;
}

/* ---- flops mode --------------------------------------------------------- */

static void
test_flops_bert_base (void)
{
    ofr_encoder_config c = {
        .family = OFR_ENC_BERT, .vocab_size = 30522, .hidden = 768, .embedding = 768,
        .n_layers = 12, .n_heads = 12, .head_dim = 64, .intermediate = 3072,
        .max_positions = 512, .type_vocab = 2, .num_labels = 2, .act = OFR_ACT_GELU,
        .n_groups = 1, .inner_layers = 1, .max_tokens = 512,
    };
    double linear = 0, total = 0, attention = 0;
    for (int l = 0; l < 12; l++) {
        ofr_encoder_flops f;
        ofr_encoder_layer_flops (&c, l, 128, &f);
        linear += f.linear;
        attention += f.attention;
        total += f.total;
    }
    double head = ofr_encoder_head_flops (&c, OFR_ACT_TANH);
    printf ("BERT-base, 128 tokens: linear projections %.3f GFLOPs (+ head %.4f), "
            "attention matmuls %.3f, all counted %.3f GFLOPs\n",
            linear / 1e9, head / 1e9, attention / 1e9, (total + head) / 1e9);
    /* FastBERT's 21785 MFLOPs = the linear projections at 2 FLOPs/MAC. */
    CHECK (fabs ((linear + head) / 1e9 - 21.785) < 0.06, "linear %.4g", linear);
    CHECK (total + head > 22.2e9 && total + head < 22.7e9, "total %.4g", total);
    /* Per-layer pieces by hand: 2 * 128 * (4 * 768^2 + 2 * 768 * 3072). */
    ofr_encoder_flops f;
    ofr_encoder_layer_flops (&c, 3, 128, &f);
    CHECK (f.linear == 2.0 * 128 * (4.0 * 768 * 768 + 2.0 * 768 * 3072), "%g", f.linear);
    CHECK (f.attention == 4.0 * 128 * 128 * 768, "%g", f.attention);
    CHECK (f.softmax == 5.0 * 12 * 128 * 128, "%g", f.softmax);
    CHECK (f.norm == 8.0 * 2 * 128 * 768 && f.act == 8.0 * 128 * 3072 && f.embed == 0,
           "norm %g act %g embed %g", f.norm, f.act, f.embed);
    ofr_encoder_layer_flops (&c, 0, 128, &f);
    CHECK (f.embed == 2.0 * 128 * 768 + 8.0 * 128 * 768, "embed %g", f.embed);
}

/* Expect ofr_encoder_open of a directory holding `config` to fail with an
   error mentioning every needle. */
static void
expect_config_error (const char *tmp, const char *config, const char *n1, const char *n2)
{
    char path[512];
    snprintf (path, sizeof path, "%s/config.json", tmp);
    CHECK (write_text (path, config) == 0, "writing %s", path);
    ofr_model *m = NULL;
    char err[OFR_ERRLEN] = "";
    int rc = ofr_encoder_open (tmp, &m, err, sizeof err);
    CHECK (rc == -1 && m == NULL, "config %s opened", config);
    CHECK (strstr (err, n1) && (!n2 || strstr (err, n2)), "error '%s' lacks '%s'/'%s'",
           err, n1, n2 ? n2 : "");
    printf ("  expected error: %s\n", err);
}

static void
test_config_errors (void)
{
    char tmp[] = "/tmp/ofr_encoder_cfg_XXXXXX";
    if (!mkdtemp (tmp)) {
        CHECK (0, "mkdtemp: %s", strerror (errno));
        return;
    }
    expect_config_error (tmp, "{\"model_type\": \"gpt2\", \"hidden_size\": 32}",
                         "config.json: model_type", "gpt2");
    expect_config_error (tmp, "{\"model_type\": \"bert\", \"vocab_size\": 10}",
                         "config.json", "hidden_size");
    expect_config_error (tmp, "{\"model_type\": \"bert\", \"vocab_size\": 10, "
                         "\"hidden_size\": 30, \"num_hidden_layers\": 2, "
                         "\"num_attention_heads\": 4, \"intermediate_size\": 8}",
                         "config.json", "num_attention_heads");
    expect_config_error (tmp, "{\"model_type\": \"bert\", \"vocab_size\": 10, "
                         "\"hidden_size\": 32, \"num_hidden_layers\": 2, "
                         "\"num_attention_heads\": 4, \"intermediate_size\": 8, "
                         "\"hidden_act\": \"quick_gelu\"}", "config.json", "quick_gelu");
    expect_config_error (tmp, "{\"model_type\": \"bert\",", "config.json", NULL);
    /* A valid config, but no weights: the error names the missing file. */
    expect_config_error (tmp, "{\"model_type\": \"bert\", \"vocab_size\": 10, "
                         "\"hidden_size\": 32, \"num_hidden_layers\": 2, "
                         "\"num_attention_heads\": 4, \"intermediate_size\": 8}",
                         "model.safetensors", NULL);
    rm_tree (tmp);
}

/* bf16 products against a double-precision product of the rounded inputs. */
static void
test_bf16_gemm_size (int M, int n, int k)
{
    ofr_rng r;
    ofr_rng_seed (&r, (uint64_t) (M * 1000 + n * 10 + k));
    float *A = ofr_calloc ((size_t) M * k, sizeof (float));
    float *W = ofr_calloc ((size_t) n * k, sizeof (float));
    float *C = ofr_calloc ((size_t) M * n, sizeof (float));
    if (!A || !W || !C) {
        CHECK (0, "oom");
        goto out;
    }
    for (size_t i = 0; i < (size_t) M * k; i++)
        A[i] = (float) ofr_rng_normal (&r);
    for (size_t i = 0; i < (size_t) n * k; i++)
        W[i] = (float) ofr_rng_normal (&r);
    for (size_t i = 0; i < (size_t) M * n; i++)
        C[i] = (float) i * 0.01f;       /* accumulates into what is there */
    ofr_bf16_mat Wb;
    char err[OFR_ERRLEN];
    CHECK (ofr_bf16_mat_pack (&Wb, W, n, k, err, sizeof err) == 0, "%s", err);
    void *scratch = aligned_alloc (64, (ofr_bf16_gemm_scratch (M, &Wb) + 63) / 64 * 64);
    ofr_bf16_gemm (A, M, k, &Wb, C, n, scratch);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < n; j++) {
            double ref = (double) ((size_t) i * n + j) * 0.01f;
            for (int t = 0; t < k; t++)
                ref += (double) ofr_bf16_round (A[(size_t) i * k + t])
                       * ofr_bf16_round (W[(size_t) j * k + t]);
            double e = fabs (ref - C[(size_t) i * n + j]) / (1.0 + fabs (ref));
            worst = e > worst ? e : worst;
        }
    CHECK (worst < 1e-5, "bf16 gemm %dx%dx%d (%s): rel error %g", M, n, k,
           ofr_bf16_backend (), worst);
    free (scratch);
    ofr_bf16_mat_free (&Wb);
out:
    free (A);
    free (W);
    free (C);
}

static void
test_bf16_gemm (void)
{
    CHECK (ofr_bf16_round (1.0f) == 1.0f && ofr_bf16_round (1.00390625f) == 1.0f
           && ofr_bf16_round (1.01171875f) == 1.015625f, "bf16 rounding");
    const int sizes[][3] = { { 1, 1, 1 }, { 13, 37, 29 }, { 70, 96, 64 }, { 9, 33, 768 },
                             { 130, 64, 17 } };
    const char *backends[] = { "native", "emulated" };
    for (int b = 0; b < 2; b++) {
        if (b == 1)
            setenv ("OFFRAMP_BF16", "emulated", 1);
        printf ("bf16 kernel (%s request): %s\n", backends[b], ofr_bf16_backend ());
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            test_bf16_gemm_size (sizes[i][0], sizes[i][1], sizes[i][2]);
    }
    unsetenv ("OFFRAMP_BF16");
}

/* ---- torch mode: reference files ------------------------------------------ */

typedef struct {
    int      n_seq, L, d, K;
    int     *lens;           /* [n_seq]                                      */
    int32_t *ids, *types;    /* concatenated                                 */
    float  **states;         /* [n_seq][(L+1)] -> [len][d]                   */
    int     *has_head;       /* [n_seq][L]                                   */
    float   *logits;         /* [n_seq][L][K]                                */
} ref_data;

static void
ref_free (ref_data *r)
{
    if (r->states)
        for (int i = 0; i < r->n_seq * (r->L + 1); i++)
            free (r->states[i]);
    free (r->states);
    free (r->lens);
    free (r->ids);
    free (r->types);
    free (r->has_head);
    free (r->logits);
    memset (r, 0, sizeof *r);
}

static int
rd (FILE *f, void *p, size_t size, size_t n)
{
    return fread (p, size, n, f) == n ? 0 : -1;
}

static int
ref_load (const char *path, ref_data *r)
{
    memset (r, 0, sizeof *r);
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    int32_t h[5];
    int rc = -1;
    if (rd (f, h, 4, 5) || h[0] != 0x52434e45)
        goto out;
    r->n_seq = h[1], r->L = h[2], r->d = h[3], r->K = h[4];
    r->lens = ofr_calloc ((size_t) r->n_seq, sizeof (int));
    r->ids = ofr_calloc (4096, sizeof (int32_t));
    r->types = ofr_calloc (4096, sizeof (int32_t));
    r->states = ofr_calloc ((size_t) r->n_seq * (r->L + 1), sizeof (float *));
    r->has_head = ofr_calloc ((size_t) r->n_seq * r->L, sizeof (int));
    r->logits = ofr_calloc ((size_t) r->n_seq * r->L * r->K, sizeof (float));
    if (!r->lens || !r->ids || !r->types || !r->states || !r->has_head || !r->logits)
        goto out;
    size_t t = 0;
    for (int i = 0; i < r->n_seq; i++) {
        int32_t len;
        if (rd (f, &len, 4, 1) || len < 1 || t + (size_t) len > 4096)
            goto out;
        r->lens[i] = len;
        if (rd (f, r->ids + t, 4, (size_t) len) || rd (f, r->types + t, 4, (size_t) len))
            goto out;
        t += (size_t) len;
    }
    for (int i = 0; i < r->n_seq; i++)
        for (int s = 0; s <= r->L; s++) {
            size_t n = (size_t) r->lens[i] * r->d;
            float *p = ofr_calloc (n, sizeof (float));
            r->states[i * (r->L + 1) + s] = p;
            if (!p || rd (f, p, 4, n))
                goto out;
        }
    for (int i = 0; i < r->n_seq; i++)
        for (int l = 0; l < r->L; l++)
            if (rd (f, &r->has_head[i * r->L + l], 4, 1)
                || rd (f, r->logits + ((size_t) i * r->L + l) * r->K, 4, (size_t) r->K))
                goto out;
    rc = 0;
out:
    fclose (f);
    if (rc != 0)
        ref_free (r);
    return rc;
}

static const float *
ref_state (const ref_data *r, int seq, int stage)
{
    return r->states[seq * (r->L + 1) + stage];
}

/* Compare row `row` of mb (reference sequence seq) at `stage`. */
static double
state_diff (ofr_mbatch *mb, int row, const ref_data *r, int seq, int stage)
{
    int n;
    const float *h = ofr_encoder_token_states (mb, row, &n);
    if (!h || n != r->lens[seq])
        return INFINITY;
    return max_abs_diff (h, ref_state (r, seq, stage), (size_t) n * r->d);
}

/* ---- torch mode: checks per family ---------------------------------------- */

static ofr_mbatch *
begin_all (ofr_model *m, const ref_data *r)
{
    ofr_mbatch *mb = NULL;
    char err[OFR_ERRLEN];
    if (ofr_encoder_batch_begin_ids (m, r->ids, r->types, r->lens, r->n_seq, &mb, err,
                                     sizeof err) != 0) {
        CHECK (0, "batch_begin_ids: %s", err);
        return NULL;
    }
    return mb;
}

/* Every layer and every exit of all rows run together. */
static void
check_full_pass (const char *fam, ofr_model *m, const ref_data *r)
{
    const ofr_model_ops *ops = m->ops;
    ofr_mbatch *mb = begin_all (m, r);
    if (!mb)
        return;
    int rows[64];
    for (int i = 0; i < r->n_seq; i++)
        rows[i] = i;
    double worst_h = 0, worst_logit = 0;
    char err[OFR_ERRLEN];
    for (int s = 0; s <= r->L; s++) {
        if (s > 0)
            CHECK (ops->run_layer (mb, s - 1, rows, NULL, r->n_seq, err, sizeof err) == 0,
                   "%s run_layer: %s", fam, err);
        for (int i = 0; i < r->n_seq; i++) {
            double e = state_diff (mb, i, r, i, s);
            worst_h = e > worst_h ? e : worst_h;
            CHECK (e <= TOL, "%s seq %d stage %d: hidden max diff %g", fam, i, s, e);
        }
        if (s == 0)
            continue;
        int l = s - 1;
        CHECK (ofr_encoder_has_exit (m, l) == (r->has_head[l] != 0), "%s exit %d presence",
               fam, l);
        for (int i = 0; i < r->n_seq && r->has_head[i * r->L + l]; i++) {
            float lg[16], pr[16];
            CHECK (ofr_encoder_exit_logits (mb, l, i, lg) == 0, "%s logits", fam);
            double e = max_abs_diff (lg, r->logits + ((size_t) i * r->L + l) * r->K,
                                     (size_t) r->K);
            worst_logit = e > worst_logit ? e : worst_logit;
            CHECK (e <= TOL, "%s seq %d exit %d: logits max diff %g", fam, i, l, e);
            CHECK (ops->exit_probs (mb, l, i, pr) == 0, "%s exit_probs", fam);
            double sum = 0;
            for (int c = 0; c < r->K; c++)
                sum += pr[c];
            if (r->K == 1)
                CHECK (pr[0] == lg[0], "%s regression output %g vs %g", fam, pr[0], lg[0]);
            else
                CHECK (fabs (sum - 1) < 1e-5, "%s probs sum %g", fam, sum);
            const float *pooled = ops->hidden (mb, i);
            CHECK (pooled && fabsf (pooled[0]) <= 1.0f, "%s pooled state (tanh)", fam);
            CHECK (ops->head_flops (mb, l, i) > 2.0 * r->d * r->d, "%s head flops", fam);
        }
        if (!r->has_head[l])
            CHECK (ops->exit_probs (mb, l, 0, (float[16]) { 0 }) == -1,
                   "%s exit %d has no head but answered", fam, l);
    }
    printf ("  %-18s %d layers, %d rows: hidden max diff %.2e, logits max diff %.2e\n",
            fam, r->L, r->n_seq, worst_h, worst_logit);
    ofr_encoder_flops f;
    ofr_encoder_layer_flops (ofr_encoder_config_of (m), 1, r->lens[3], &f);
    CHECK (ops->layer_flops (mb, 1, 3) == f.total && f.total > 0, "%s layer flops", fam);
    ops->batch_end (mb);
}

/* Shrinking active sets: a subset run in any order gives the same values
   as the full batch, and rows left out keep their state. */
static void
check_compaction (const char *fam, ofr_model *m, const ref_data *r)
{
    const ofr_model_ops *ops = m->ops;
    ofr_mbatch *mb = begin_all (m, r);
    if (!mb)
        return;
    char err[OFR_ERRLEN];
    int all[64], n = r->n_seq;
    for (int i = 0; i < n; i++)
        all[i] = i;
    CHECK (ops->run_layer (mb, 0, all, NULL, n, err, sizeof err) == 0, "%s", err);
    int sub[3] = { 3, 0, n - 1 };
    CHECK (ops->run_layer (mb, 1, sub, NULL, 3, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < n; i++) {
        bool ran = i == 3 || i == 0 || i == n - 1;
        double e = state_diff (mb, i, r, i, ran ? 2 : 1);
        CHECK (e <= TOL, "%s compaction: row %d (%s) diff %g", fam, i,
               ran ? "ran layer 1" : "kept layer 0", e);
    }
    int rest[64], k = 0;
    for (int i = 1; i < n - 1; i++)
        if (i != 3)
            rest[k++] = i;
    CHECK (ops->run_layer (mb, 1, rest, NULL, k, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < n; i++)
        CHECK (state_diff (mb, i, r, i, 2) <= TOL, "%s compaction second half row %d",
               fam, i);
    /* Bad calls are errors, not crashes. */
    int dup[2] = { 1, 1 }, bad[1] = { n };
    CHECK (ops->run_layer (mb, 1, dup, NULL, 2, err, sizeof err) == -1, "duplicate rows");
    CHECK (ops->run_layer (mb, 1, bad, NULL, 1, err, sizeof err) == -1, "row range");
    CHECK (ops->run_layer (mb, r->L, all, NULL, 1, err, sizeof err) == -1, "layer range");
    ops->batch_end (mb);
}

/* Rows 1 and 3 in bf16 for every layer, the others in fp32 in the same
   calls: fp32 rows stay within TOL, bf16 rows within TOL_LOWP and differ. */
static double
check_lowp_once (const char *fam, ofr_model *m, const ref_data *r)
{
    const ofr_model_ops *ops = m->ops;
    ofr_mbatch *mb = begin_all (m, r);
    if (!mb)
        return INFINITY;
    char err[OFR_ERRLEN];
    int all[64];
    uint8_t lowp[64] = { 0 };
    for (int i = 0; i < r->n_seq; i++)
        all[i] = i;
    lowp[1] = lowp[3] = 1;
    double worst = 0;
    for (int l = 0; l < r->L; l++) {
        CHECK (ops->run_layer (mb, l, all, lowp, r->n_seq, err, sizeof err) == 0, "%s", err);
        for (int i = 0; i < r->n_seq; i++) {
            double e = state_diff (mb, i, r, i, l + 1);
            if (lowp[i]) {
                worst = e > worst ? e : worst;
                CHECK (e <= TOL_LOWP && e > 1e-6, "%s lowp row %d layer %d diff %g", fam,
                       i, l, e);
            } else {
                CHECK (e <= TOL, "%s fp32 row %d next to lowp rows: diff %g", fam, i, e);
            }
        }
    }
    ops->batch_end (mb);
    return worst;
}

static void
check_lowp (const char *fam, ofr_model *m, const ref_data *r)
{
    double native = check_lowp_once (fam, m, r);
    setenv ("OFFRAMP_BF16", "emulated", 1);
    double emulated = check_lowp_once (fam, m, r);
    unsetenv ("OFFRAMP_BF16");
    printf ("  %-10s bf16 rows: max diff to fp32 torch %.3g (%s), %.3g (emulated)\n", fam,
            native, ofr_encoder_lowp_backend (), emulated);
}

static void
check_aux (ofr_model *m)
{
    size_t n = 0;
    const float *w = m->ops->aux_tensor (m, "berxit.lte.weight", &n);
    CHECK (w && n == 32, "aux tensor berxit.lte.weight: %p n=%zu", (const void *) w, n);
    CHECK (!m->ops->aux_tensor (m, "palbert.lambda.0.weight", &n) && n == 0,
           "absent aux tensor");
}

static void
check_family (const char *root, const char *name, const char *fam)
{
    char dir[512], path[600];
    snprintf (dir, sizeof dir, "%s/%s", root, name);
    snprintf (path, sizeof path, "%s/ref.bin", dir);
    ref_data r;
    if (ref_load (path, &r) != 0) {
        CHECK (0, "cannot read %s", path);
        return;
    }
    ofr_model *m = NULL;
    char err[OFR_ERRLEN];
    if (ofr_encoder_open_ids (dir, &m, err, sizeof err) != 0) {
        CHECK (0, "open %s: %s", dir, err);
        ref_free (&r);
        return;
    }
    CHECK (strcmp (m->ops->family, fam) == 0, "family %s vs %s", m->ops->family, fam);
    CHECK (m->ops->n_layers (m) == r.L && m->ops->hidden_dim (m) == r.d
           && m->ops->n_outputs (m) == r.K, "%s shapes", fam);
    check_full_pass (name, m, &r);
    check_compaction (name, m, &r);
    check_lowp (name, m, &r);
    if (strcmp (fam, "bert") == 0)
        check_aux (m);
    m->ops->destroy (m);
    ref_free (&r);
}

/* ---- torch mode: text through tokenizer.json -------------------------------- */

static int
unhex (const char *s, size_t n, char *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf (s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (char) v;
    }
    out[n / 2] = '\0';
    return 0;
}

static int
parse_ints (char *s, int32_t *out, int cap)
{
    int n = 0;
    for (char *tok = strtok (s, " "); tok && n < cap; tok = strtok (NULL, " "))
        out[n++] = (int32_t) strtol (tok, NULL, 10);
    return n;
}

/* Text rows of mt and id rows of mi give the same embedding-stage states. */
static double
text_vs_ids (ofr_model *mt, const ofr_example *ex, ofr_model *mi, const int32_t *ids,
             const int32_t *types, int len, int *got_len)
{
    ofr_mbatch *a = NULL, *b = NULL;
    char err[OFR_ERRLEN];
    double d = INFINITY;
    *got_len = -1;
    if (mt->ops->batch_begin (mt, ex, 1, &a, err, sizeof err) != 0) {
        CHECK (0, "batch_begin: %s", err);
        return d;
    }
    if (ofr_encoder_batch_begin_ids (mi, ids, types, &len, 1, &b, err, sizeof err) != 0) {
        CHECK (0, "batch_begin_ids: %s", err);
        mt->ops->batch_end (a);
        return d;
    }
    int na, nb;
    const float *ha = ofr_encoder_token_states (a, 0, &na);
    const float *hb = ofr_encoder_token_states (b, 0, &nb);
    *got_len = na;
    if (na == nb)
        d = max_abs_diff (ha, hb, (size_t) na * (size_t) ofr_encoder_config_of (mt)->hidden);
    mt->ops->batch_end (a);
    mi->ops->batch_end (b);
    return d;
}

/* albert_tj: a unigram tokenizer.json; the ids are unigram_ref.py's.
   roberta_bpe: a byte-level BPE one; the ids are bpe_bytes_ref.py's. */
static void
check_text_cases (const char *root, const char *name, const char *what)
{
    char dir[512], path[600], err[OFR_ERRLEN];
    snprintf (dir, sizeof dir, "%s/%s", root, name);
    ofr_model *m = NULL, *mi = NULL;
    if (ofr_encoder_open (dir, &m, err, sizeof err) != 0
        || ofr_encoder_open_ids (dir, &mi, err, sizeof err) != 0) {
        CHECK (0, "open %s: %s", dir, err);
        if (m)
            m->ops->destroy (m);
        return;
    }
    snprintf (path, sizeof path, "%s/text_cases.tsv", dir);
    FILE *f = fopen (path, "r");
    CHECK (f, "%s: %s", path, strerror (errno));
    char line[4096], a[1024], b[1024];
    int n = 0;
    while (f && fgets (line, sizeof line, f)) {
        char *field[5] = { line };
        int nf = 1;
        for (; nf < 5 && (field[nf] = strchr (field[nf - 1], '\t')); nf++)
            *field[nf]++ = '\0';
        if (nf < 5) {
            CHECK (0, "%s: bad line %d", path, n + 1);
            break;
        }
        field[4][strcspn (field[4], "\n")] = '\0';
        bool pair = strcmp (field[1], "-") != 0;
        int32_t ids[64], types[64];
        if (unhex (field[0], strlen (field[0]), a) != 0
            || (pair && unhex (field[1], strlen (field[1]), b) != 0)) {
            CHECK (0, "%s: bad hex on line %d", path, n + 1);
            break;
        }
        int max = atoi (field[2]);
        int len = parse_ints (field[3], ids, 64);
        CHECK (parse_ints (field[4], types, 64) == len, "types of line %d", n + 1);
        CHECK (ofr_encoder_set_max_tokens (m, max) == 0, "max tokens %d", max);
        ofr_example ex = { .id = "t", .text_a = a, .text_b = pair ? b : NULL, .label = -1 };
        int got;
        double d = text_vs_ids (m, &ex, mi, ids, types, len, &got);
        CHECK (got == len && d == 0, "%s case %d '%s' / '%s': %d tokens (want %d), "
               "embedding diff %g", name, n + 1, a, pair ? b : "-", got, len, d);
        n++;
    }
    if (f)
        fclose (f);
    CHECK (n >= 8, "only %d text cases", n);
    printf ("  %-10s %s tokenizer.json: %d texts encoded as the reference\n", name, what, n);
    m->ops->destroy (m);
    mi->ops->destroy (mi);
}

/* bert_tj: the WordPiece vocabulary as tokenizer.json encodes as vocab.txt. */
static void
check_wordpiece_json_text (const char *root)
{
    char d1[512], d2[512], err[OFR_ERRLEN];
    snprintf (d1, sizeof d1, "%s/bert", root);
    snprintf (d2, sizeof d2, "%s/bert_tj", root);
    ofr_model *mv = NULL, *mj = NULL;
    if (ofr_encoder_open (d1, &mv, err, sizeof err) != 0
        || ofr_encoder_open (d2, &mj, err, sizeof err) != 0) {
        CHECK (0, "open bert/bert_tj: %s", err);
        if (mv)
            mv->ops->destroy (mv);
        return;
    }
    ofr_example ex[3] = {
        { .id = "0", .text_a = "Hello World, the cat sat!", .label = -1 },
        { .id = "1", .text_a = "unbelievable players", .text_b = "A very bad FILM.",
          .label = -1 },
        { .id = "2", .text_a = "zzz \xc3\xa9t\xc3\xa9 [SEP]", .text_b = "", .label = -1 },
    };
    ofr_mbatch *a = NULL, *b = NULL;
    CHECK (mv->ops->batch_begin (mv, ex, 3, &a, err, sizeof err) == 0, "%s", err);
    CHECK (mj->ops->batch_begin (mj, ex, 3, &b, err, sizeof err) == 0, "%s", err);
    for (int r = 0; a && b && r < 3; r++) {
        int na, nb;
        const float *ha = ofr_encoder_token_states (a, r, &na);
        const float *hb = ofr_encoder_token_states (b, r, &nb);
        CHECK (na == nb && na > 2 && max_abs_diff (ha, hb, (size_t) na * 32) == 0,
               "bert_tj row %d: %d vs %d tokens", r, nb, na);
    }
    if (a)
        mv->ops->batch_end (a);
    if (b)
        mj->ops->batch_end (b);
    printf ("  bert_tj    WordPiece tokenizer.json: same ids as vocab.txt\n");
    mv->ops->destroy (mv);
    mj->ops->destroy (mj);
}

static void
expect_text_open_error (const char *dir, const char *n1, const char *n2)
{
    ofr_model *m = NULL;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_encoder_open (dir, &m, err, sizeof err) == -1 && !m, "%s opened", dir);
    CHECK (strstr (err, n1) && (!n2 || strstr (err, n2)), "error '%s' lacks '%s'/'%s'",
           err, n1, n2 ? n2 : "");
    printf ("  expected error: %s\n", err);
}

static void
expect_open_error (const char *dir, const char *n1, const char *n2)
{
    ofr_model *m = NULL;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_encoder_open_ids (dir, &m, err, sizeof err) == -1 && !m, "%s opened", dir);
    CHECK (strstr (err, n1) && (!n2 || strstr (err, n2)), "error '%s' lacks '%s'/'%s'",
           err, n1, n2 ? n2 : "");
    printf ("  expected error: %s\n", err);
}

static void
check_bad_checkpoints (const char *root)
{
    char dir[512], from[600], to[600];
    snprintf (dir, sizeof dir, "%s/bad_missing", root);
    expect_open_error (dir, "model.safetensors", "bert.encoder.layer.1.output.dense.weight");
    snprintf (dir, sizeof dir, "%s/bad_shape", root);
    expect_open_error (dir, "model.safetensors",
                       "bert.encoder.layer.0.intermediate.dense.weight");
    expect_open_error (dir, "has shape [48, 31]", "expected [48, 32]");
    snprintf (dir, sizeof dir, "%s/bad_vocab", root);
    expect_text_open_error (dir, "bad_vocab/vocab.txt has 99 tokens", "vocab_size is 100");
    snprintf (dir, sizeof dir, "%s/bad_tokjson", root);
    expect_text_open_error (dir, "bad_tokjson/tokenizer.json", "\"BPE\"");
    snprintf (dir, sizeof dir, "%s/bad_notok", root);
    expect_text_open_error (dir, "bad_notok/vocab.txt", "bad_notok/tokenizer.json");
    snprintf (dir, sizeof dir, "%s/bad_trunc", root);
    mkdir (dir, 0755);
    snprintf (from, sizeof from, "%s/bert/config.json", root);
    snprintf (to, sizeof to, "%s/config.json", dir);
    CHECK (copy_file (from, to, 0) == 0, "copy %s", from);
    snprintf (from, sizeof from, "%s/bert/model.safetensors", root);
    snprintf (to, sizeof to, "%s/model.safetensors", dir);
    CHECK (copy_file (from, to, 100) == 0, "copy %s", from);
    expect_open_error (dir, "bad_trunc/model.safetensors", NULL);
}

static int
have_torch (void)
{
    if (access (PYTHON, X_OK) != 0)
        return 0;
    return system (PYTHON " -c 'import torch' >/dev/null 2>&1") == 0;
}

static int
run_torch (void)
{
    if (!have_torch ()) {
        printf ("SKIP: %s with torch not available\n", PYTHON);
        return 77;
    }
    const char *src = getenv ("OFR_SOURCE_DIR");
    char tmp[] = "/tmp/ofr_encoder_XXXXXX", cmd[1024];
    if (!mkdtemp (tmp)) {
        fprintf (stderr, "mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    snprintf (cmd, sizeof cmd, "%s %s/tests/ref/encoder_ref.py %s", PYTHON,
              src ? src : ".", tmp);
    if (system (cmd) != 0) {
        fprintf (stderr, "FAIL: %s\n", cmd);
        rm_tree (tmp);
        return 1;
    }
    static const char *fams[][2] = {
        { "bert", "bert" }, { "roberta", "roberta" }, { "electra", "electra" },
        { "albert", "albert" }, { "distilbert", "distilbert" },
        { "albert_inner", "albert" }, { "distilbert_learned", "distilbert" },
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        check_family (tmp, fams[i][0], fams[i][1]);
    check_text_cases (tmp, "albert_tj", "unigram");
    check_wordpiece_json_text (tmp);
    check_bad_checkpoints (tmp);
    rm_tree (tmp);
    return 0;
}

/* `bpe`: a RoBERTa checkpoint with random weights and a byte-level BPE
   tokenizer.json, both written by tests/ref/bpe_bytes_ref.py (plain
   python3, no torch): text rows embed exactly as the reference ids. */
static int
run_bpe (void)
{
    if (access (PYTHON, X_OK) != 0) {
        printf ("SKIP: no %s\n", PYTHON);
        return 77;
    }
    const char *src = getenv ("OFR_SOURCE_DIR");
    char tmp[] = "/tmp/ofr_encoder_bpe_XXXXXX", cmd[1024];
    if (!mkdtemp (tmp)) {
        fprintf (stderr, "mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    snprintf (cmd, sizeof cmd, "%s %s/tests/ref/bpe_bytes_ref.py %s", PYTHON,
              src ? src : ".", tmp);
    if (system (cmd) != 0) {
        fprintf (stderr, "FAIL: %s\n", cmd);
        rm_tree (tmp);
        return 1;
    }
    check_text_cases (tmp, "roberta_bpe", "byte-level BPE");
    rm_tree (tmp);
    return 0;
}

int
main (int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "flops";
    if (strcmp (mode, "flops") == 0) {
        test_flops_bert_base ();
        test_config_errors ();
        test_bf16_gemm ();
    } else if (strcmp (mode, "torch") == 0) {
        int rc = run_torch ();
        if (rc == 77)
            return 77;
    } else if (strcmp (mode, "bpe") == 0) {
        int rc = run_bpe ();
        if (rc == 77)
            return 77;
        if (rc != 0)
            return rc;
    } else {
        fprintf (stderr, "usage: test_encoder flops|torch|bpe\n");
        return 2;
    }
    if (s_fail) {
        fprintf (stderr, "%d check(s) failed\n", s_fail);
        return 1;
    }
    printf ("test_encoder %s: ok\n", mode);
    return 0;
}
