/*  test_translation.c -- issue 8: translation suites (pooled statistics,
    shard invariance, the sacreBLEU figures of shared/README.md through the
    suite classes), `offramp score` with several references / --split /
    bad inputs, the CTranslate2 reader (real file and corrupt copies) and
    the known outputs of ct2-aren-transliteration: CTranslate2's own tests
    (tests/translator_test.cc, python/tests/test_translator.py) expect
    آتزمون -> a t z m o n, آتشيسون -> a c h i s o n, آزا -> a z z a for
    beam 1, 2 and 4, and per-token log probabilities of test_score_api
    (rtol 1e-4). Parts that need ../shared are skipped without it. */
#include "../../suites/mt_suites.h"
#include "../../suites/mt_lines.h"
#include "../../workers/models/ct2.h"
#include "../../workers/models/seq2seq.h"
#include "../../harness/commands.h"
#include "../../common/ofr_common.h"
#include "check.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_tmp[] = "/tmp/test_translation.XXXXXX";

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

static void
write_file (const char *name, const char *text, char *path, size_t n)
{
    snprintf (path, n, "%s/%s", s_tmp, name);
    FILE *f = fopen (path, "wb");
    CHECK (f != NULL, "cannot write %s", path);
    if (f) {
        fputs (text, f);
        fclose (f);
    }
}

/* Runs an offramp command function with stdout + stderr captured. */
static int
run_cmd (int (*fn) (int, char **), char **out, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start (ap, out);
    for (char *a; argc < 31 && (a = va_arg (ap, char *));)
        argv[argc++] = a;
    va_end (ap);
    argv[argc] = NULL;
    char path[512];
    snprintf (path, sizeof path, "%s/captured.txt", s_tmp);
    fflush (stdout);
    fflush (stderr);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int so = dup (1), se = dup (2);
    dup2 (fd, 1);
    dup2 (fd, 2);
    int rc = fn (argc, argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (so, 1);
    dup2 (se, 2);
    close (so);
    close (se);
    close (fd);
    char err[256];
    if (ofr_read_file (path, out, NULL, err, sizeof err) != 0)
        *out = ofr_strdup ("");
    return rc;
}

/* ---- suites -------------------------------------------------------------- */

static void
test_suite_registry (void)
{
    const char *names[] = { "wmt22_en_de", "wmt22_de_en", "multi30k_en_de" };
    for (int i = 0; i < 3; i++) {
        const ofr_suite_class *c = ofr_suite_find (names[i]);
        CHECK (c && c->n_stats == OFR_MT_SUITE_NSTATS && strcmp (c->primary, "bleu") == 0,
               "suite %s registered", names[i]);
    }
    const char *d, *s, *r;
    char err[256];
    CHECK (ofr_mt_suite_files ("multi30k_en_de", "val", &d, &s, &r, err, sizeof err) == 0
           && strcmp (s, "val.en") == 0, "multi30k val");
    CHECK (ofr_mt_suite_files ("wmt22_en_de", "dev", &d, &s, &r, err, sizeof err) != 0
           && strstr (err, "unknown split 'dev' (available: test)"), "bad split: %s", err);
}

/* A suite run over a hypothesis file: stats per row, then metrics from
   all rows and from 3 interleaved shards summed in another order. */
static void
suite_scores (const char *name, const char *data, const char *hyp_path, double bleu,
              double chrf)
{
    const ofr_suite_class *c = ofr_suite_find (name);
    void *d = NULL;
    int n = 0;
    char err[OFR_ERRLEN];
    if (!c || c->load (data, "test", &d, &n, err, sizeof err) != 0) {
        CHECK (0, "load %s: %s", name, c ? err : "not registered");
        return;
    }
    ofr_mt_lines hyp;
    CHECK (ofr_mt_lines_read (hyp_path, &hyp, err, sizeof err) == 0 && hyp.n == (size_t) n,
           "hyp %s: %s", hyp_path, err);
    double *st = ofr_calloc ((size_t) n, OFR_MT_SUITE_NSTATS * sizeof *st);
    double *sh = ofr_calloc ((size_t) n, OFR_MT_SUITE_NSTATS * sizeof *sh);
    int bad = 0;
    for (int i = 0; st && sh && i < n && hyp.n == (size_t) n; i++) {
        ofr_prediction p = { .cls = -1, .text = hyp.line[i] };
        ofr_example ex;
        bad += c->example (d, i, &ex) != 0 || !ex.text_a;
        bad += c->score (d, i, &p, st + (size_t) i * OFR_MT_SUITE_NSTATS) != 0;
    }
    CHECK (bad == 0, "%s: %d examples failed", name, bad);
    ofr_metric m[8], ms[8];
    if (st && sh && bad == 0 && hyp.n == (size_t) n) {
        int k = c->metrics (st, n, m, 8);
        CHECK (k == 3 && strcmp (m[0].name, "bleu") == 0 && fabs (m[0].value - bleu) < 0.005
               && fabs (m[1].value - chrf) < 0.005, "%s: bleu %.4f chrf %.4f", name,
               m[0].value, m[1].value);
        /* shards 2,1,0 of i % 3, concatenated: a different row order */
        int j = 0;
        for (int s = 2; s >= 0; s--)
            for (int i = s; i < n; i += 3)
                memcpy (sh + (size_t) j++ * OFR_MT_SUITE_NSTATS, st + (size_t) i * OFR_MT_SUITE_NSTATS,
                        OFR_MT_SUITE_NSTATS * sizeof *st);
        CHECK (c->metrics (sh, n, ms, 8) == 3 && ms[0].value == m[0].value
               && ms[1].value == m[1].value, "%s: sharding changed the score", name);
    }
    free (st);
    free (sh);
    ofr_mt_lines_free (&hyp);
    c->free (d);
}

static void
test_suites_shared (const char *data)
{
    char *hyp = shared ("data/translation/wmt22/system-outputs/generaltest2022.en-de.hyp.Online-B.de");
    suite_scores ("wmt22_en_de", data, hyp, 38.37, 64.64);
    free (hyp);
    hyp = shared ("data/translation/wmt22/system-outputs/generaltest2022.de-en.hyp.Online-A.en");
    suite_scores ("wmt22_de_en", data, hyp, 33.29, 58.43);
    free (hyp);
    const ofr_suite_class *c = ofr_suite_find ("multi30k_en_de");
    void *d;
    int n;
    char err[OFR_ERRLEN];
    CHECK (c->load (data, "test", &d, &n, err, sizeof err) == 0 && n == 1000, "multi30k: %s", err);
    if (n == 1000) {
        /* the reference itself scores 100 */
        ofr_mt_lines ref;
        char *rp = shared ("data/translation/multi30k/test_2016_flickr.de");
        CHECK (ofr_mt_lines_read (rp, &ref, err, sizeof err) == 0, "%s", err);
        double *st = ofr_calloc (1000, OFR_MT_SUITE_NSTATS * sizeof *st);
        for (int i = 0; st && i < 1000; i++) {
            ofr_prediction p = { .cls = -1, .text = ref.line[i] };
            CHECK (c->score (d, i, &p, st + (size_t) i * OFR_MT_SUITE_NSTATS) == 0, "score %d", i);
        }
        ofr_metric m[4];
        CHECK (st && c->metrics (st, 1000, m, 4) == 3 && fabs (m[0].value - 100) < 1e-9
               && fabs (m[1].value - 100) < 1e-9, "multi30k self-score");
        ofr_prediction none = { .cls = -1, .text = NULL };
        CHECK (c->score (d, 0, &none, st) == -1, "NULL prediction text must fail");
        free (st);
        free (rp);
        ofr_mt_lines_free (&ref);
        c->free (d);
    }
    CHECK (c->load (s_tmp, "test", &d, &n, err, sizeof err) != 0
           && strstr (err, "test_2016_flickr.en"), "missing data: %s", err);
}

/* ---- offramp score additions -------------------------------------------- */

static void
test_score_cmd (const char *data)
{
    char hyp[512], r1[512], r2[512], r3[512], *out;
    write_file ("h.txt", "the cat is on the mat\n\n", hyp, sizeof hyp);
    write_file ("r1.txt", "there is a cat on the mat\nempty hypothesis\n", r1, sizeof r1);
    write_file ("r2.txt", "the cat is on the mat\nstill empty\n", r2, sizeof r2);
    write_file ("r3.txt", "one line only\n", r3, sizeof r3);
    /* a second reference that equals the hypothesis: all n-grams match */
    CHECK (run_cmd (ofr_cmd_score, &out, "score", "--hyp", hyp, "--ref", r1, "--ref", r2,
                    "--format", "json", NULL) == 0, "two refs: %s", out);
    CHECK (strstr (out, "\"counts\": [6, 5, 4, 3]") && strstr (out, "nrefs:2|")
           && strstr (out, "\"signature\": {\"bleu\": \"nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|"),
           "two refs json:\n%s", out);
    free (out);
    CHECK (run_cmd (ofr_cmd_score, &out, "score", "--hyp", hyp, "--ref", r1, "--ref", r3, NULL) == 1
           && strstr (out, "has 2 lines but") && strstr (out, "r3.txt has 1 lines"),
           "ref line count: %s", out);
    free (out);
    CHECK (run_cmd (ofr_cmd_score, &out, "score", "--hyp", hyp, "--ref", r1, "--tokenize", "intl",
                    "--smooth", "floor", "--lowercase", "--metric", "bleu", NULL) == 0
           && strstr (out, "case:lc|eff:no|tok:intl|smooth:floor[0.10]") && !strstr (out, "chrF"),
           "options: %s", out);
    free (out);
    if (!data)
        return;
    CHECK (run_cmd (ofr_cmd_score, &out, "score", "--hyp", hyp, "--suite", "wmt22_en_de",
                    "--data", data, NULL) == 1 && strstr (out, "h.txt has 2 lines but")
           && strstr (out, "has 2037 lines"), "suite line count: %s", out);
    free (out);
    char *m30 = shared ("data/translation/multi30k/val.de");
    CHECK (run_cmd (ofr_cmd_score, &out, "score", "--hyp", m30, "--suite", "multi30k_en_de",
                    "--split", "val", "--data", data, "--format", "json", NULL) == 0
           && strstr (out, "\"bleu\": 100,"), "multi30k val self: %s", out);
    free (out);
    free (m30);
}

/* ---- CTranslate2 reader ------------------------------------------------- */

static void
test_ct2_corrupt (const char *model_bin)
{
    char *data = NULL, err[OFR_ERRLEN], path[512];
    size_t size = 0;
    if (ofr_read_file (model_bin, &data, &size, err, sizeof err) != 0)
        return;
    ofr_ct2 *m = NULL;
    snprintf (path, sizeof path, "%s/model.bin", s_tmp);
    size_t cuts[] = { 0, 3, 10, 50, size / 2, size - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen (path, "wb");
        fwrite (data, 1, cuts[i], f);
        fclose (f);
        CHECK (ofr_ct2_open (path, &m, err, sizeof err) != 0 && !m && strstr (err, path),
               "truncated at %zu: %s", cuts[i], err);
        if (cuts[i] == size / 2)
            CHECK (strstr (err, "truncated at byte"), "message: %s", err);
    }
    data[0] = 9;                                      /* binary version 9 */
    FILE *f = fopen (path, "wb");
    fwrite (data, 1, size, f);
    fwrite ("x", 1, 1, f);
    fclose (f);
    CHECK (ofr_ct2_open (path, &m, err, sizeof err) != 0 && strstr (err, "version 9"),
           "bad version: %s", err);
    free (data);
}

static void
test_ct2_file (const char *dir)
{
    char path[1024], err[OFR_ERRLEN];
    snprintf (path, sizeof path, "%s/model.bin", dir);
    ofr_ct2 *m = NULL;
    CHECK (ofr_ct2_open (path, &m, err, sizeof err) == 0, "open: %s", err);
    if (!m)
        return;
    CHECK (ofr_ct2_binary_version (m) == 2 && strcmp (ofr_ct2_spec (m), "TransformerBase") == 0
           && ofr_ct2_revision (m) == 2 && ofr_ct2_count (m) == 200, "header");
    const float *w;
    long dims[2] = { 96, 32 };
    CHECK (ofr_ct2_floats (m, "encoder/layer_3/self_attention/linear_0/weight", 2, dims, &w,
                           err, sizeof err) == 0, "qkv: %s", err);
    dims[0] = 95;
    CHECK (ofr_ct2_floats (m, "encoder/layer_3/self_attention/linear_0/weight", 2, dims, &w,
                           err, sizeof err) != 0 && strstr (err, "shape [96x32], expected [95x32]"),
           "shape message: %s", err);
    ofr_ct2_destroy (&m);
    test_ct2_corrupt (path);
}

/* ---- the encoder-decoder ------------------------------------------------ */

typedef struct {
    const char *src, *want;
} known;

/* Characters of an UTF-8 string as tokens (into buf). */
static int
chars (const char *s, char **tok, char *buf)
{
    int n = 0;
    while (*s) {
        size_t len = 1;
        while ((s[len] & 0xC0) == 0x80)
            len++;
        tok[n++] = buf;
        memcpy (buf, s, len);
        buf[len] = 0;
        buf += len + 1;
        s += len;
    }
    return n;
}

static void
test_known_outputs (const ofr_seq2seq *m)
{
    static const known k[] = {
        { "آتزمون", "atzmon" }, { "آتشيسون", "achison" }, { "آزا", "azza" },
    };
    ofr_s2s_state *st = NULL;
    char err[OFR_ERRLEN];
    CHECK (ofr_s2s_state_new (m, 4, 64, 256, &st, err, sizeof err) == 0, "state: %s", err);
    int beams[] = { 1, 2, 4 };
    for (size_t b = 0; st && b < 3; b++)
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
            char *tok[64], buf[512], got[256] = "";
            int ids[66], out[256], n_out = 0, unk = -1;
            float score = 0;
            int n = ofr_seq2seq_src_ids (m, (const char *const *) tok, chars (k[i].src, tok, buf),
                                         ids, &unk);
            ofr_s2s_opts o = ofr_s2s_default_opts ();
            o.beam = beams[b];
            int rc = ofr_s2s_translate (st, ids, n, &o, out, 256, &n_out, &score, err, sizeof err);
            for (int j = 0; rc == 0 && j < n_out; j++)
                strncat (got, ofr_seq2seq_tgt_token (m, out[j]), sizeof got - strlen (got) - 1);
            CHECK (rc == 0 && unk == 0 && strcmp (got, k[i].want) == 0 && score < 0,
                   "beam %d: %s -> '%s' (want %s) score %g %s", beams[b], k[i].src, got,
                   k[i].want, (double) score, rc ? err : "");
            if (b == 0 && i == 0)
                printf ("greedy %s -> %s, normalised log prob %.6f\n", k[i].src, got, (double) score);
        }
    /* max_decoding_length 2 -> "a t" (test_max_decoding_length) */
    char *tok[64], buf[512];
    int ids[66], out[8], n_out = 0;
    float score;
    int n = ofr_seq2seq_src_ids (m, (const char *const *) tok, chars ("آتزمون", tok, buf), ids, NULL);
    ofr_s2s_opts o = ofr_s2s_default_opts ();
    o.max_length = 2;
    CHECK (st && ofr_s2s_translate (st, ids, n, &o, out, 8, &n_out, &score, err, sizeof err) == 0
           && n_out == 2 && strcmp (ofr_seq2seq_tgt_token (m, out[0]), "a") == 0
           && strcmp (ofr_seq2seq_tgt_token (m, out[1]), "t") == 0, "max length 2: %d", n_out);
    o = ofr_s2s_default_opts ();
    o.beam = 5;
    CHECK (st && ofr_s2s_translate (st, ids, n, &o, out, 8, &n_out, &score, err, sizeof err) != 0
           && strstr (err, "beam 5"), "beam > rows: %s", err);
    CHECK (st && ofr_s2s_encode (st, ids, 65, err, sizeof err) != 0 && strstr (err, "65 tokens"),
           "too long: %s", err);
    ofr_s2s_state_destroy (&st);
}

/* python/tests/test_translator.py test_score_api, rtol 1e-4. */
static void
test_score_api (const ofr_seq2seq *m)
{
    static const char *const src[2] = { "آتزمون", "آتشيسون" };
    static const char *const tgt[2] = { "atzmon", "achison" };
    static const float want[2][8] = {
        { -0.106023f, -0.065410f, -0.056002f, -0.447953f, -0.230714f, -0.092184f, -0.063463f },
        { -0.072660f, -0.300309f, -0.181187f, -0.395671f, -0.025631f, -0.123466f, -0.002034f,
          -0.012639f },
    };
    ofr_s2s_state *st = NULL;
    char err[OFR_ERRLEN];
    CHECK (ofr_s2s_state_new (m, 1, 16, 16, &st, err, sizeof err) == 0, "state: %s", err);
    double worst = 0, worst_abs = 0;
    for (int s = 0; st && s < 2; s++) {
        char *tok[16], buf[256];
        int ids[18], tids[16], nt = (int) strlen (tgt[s]);
        int n = ofr_seq2seq_src_ids (m, (const char *const *) tok, chars (src[s], tok, buf), ids, NULL);
        for (int j = 0; j < nt; j++) {
            char c[2] = { tgt[s][j], 0 };
            tids[j] = -1;
            for (int v = 0; v < ofr_seq2seq_tgt_vocab (m); v++)
                if (strcmp (ofr_seq2seq_tgt_token (m, v), c) == 0)
                    tids[j] = v;
        }
        float lp[17];
        CHECK (ofr_s2s_score (st, ids, n, tids, nt, lp, err, sizeof err) == 0, "score: %s", err);
        for (int j = 0; j <= nt; j++) {
            double rel = fabs (lp[j] - want[s][j]) / fabs (want[s][j]);
            worst = rel > worst ? rel : worst;
            double ad = fabs (lp[j] - want[s][j]);
            worst_abs = ad > worst_abs ? ad : worst_abs;
            CHECK (rel <= 1e-4, "%s token %d: log prob %.6f, CTranslate2 %.6f", tgt[s], j,
                   (double) lp[j], (double) want[s][j]);
        }
    }
    /* The expectations are printed to 6 decimals: |diff| <= 5e-7 is exact. */
    printf ("score_api: worst difference to CTranslate2 %.2e relative, %.2e absolute\n",
            worst, worst_abs);
    ofr_s2s_state_destroy (&st);
}

static void
test_translate_cmd (const char *dir)
{
    char in[512], outp[512], *out;
    write_file ("in.txt", "آتزمون\n\nآ ت ش ي س و ن\n", in, sizeof in);
    snprintf (outp, sizeof outp, "%s/out.txt", s_tmp);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", dir, "--input", in,
                    "--chars", "--beam", "4", "--output", outp, NULL) == 0
           && strstr (out, "3 lines, 13 source tokens, 13 output tokens, beam 4"), "cmd: %s", out);
    free (out);
    char err[256], *txt = NULL;
    CHECK (ofr_read_file (outp, &txt, NULL, err, sizeof err) == 0 && txt
           && strcmp (txt, "atzmon\n\nachison\n") == 0, "output: %s", txt ? txt : err);
    free (txt);
    write_file ("in2.txt", "آ ت ز م و ن\n", in, sizeof in);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", dir, "--input", in,
                    "--quiet", "--beam", "1", NULL) == 0 && strcmp (out, "a t z m o n\n") == 0,
           "tokens: '%s'", out);
    free (out);
    write_file ("bad.txt", "ok\n\xff\xfe\n", in, sizeof in);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", dir, "--input", in, NULL) == 1
           && strstr (out, "bad.txt:2: invalid UTF-8 at byte 1"), "bad utf-8: %s", out);
    free (out);
    /* 1025 characters: longer than the model's maximum input */
    char *lng = malloc (1025 * 2 + 2);
    for (int i = 0; lng && i < 1025; i++)
        memcpy (lng + 2 * i, "\xd8\xa7", 2);          /* ا */
    if (lng) {
        lng[2050] = '\n';
        lng[2051] = 0;
        write_file ("long.txt", lng, in, sizeof in);
    }
    free (lng);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", dir, "--input", in,
                    "--chars", NULL) == 1 && strstr (out, "long.txt:1: 1025 tokens; the model "
                    "takes at most 1024"), "too long: %s", out);
    free (out);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", s_tmp, "--input", in,
                    "--models", s_tmp, NULL) == 1, "no model: %s", out);
    free (out);
    CHECK (run_cmd (ofr_cmd_translate, &out, "translate", "--model", dir, "--input", in,
                    "--beam", "0", NULL) == 2 && strstr (out, "--beam: expected 1..64"),
           "bad beam: %s", out);
    free (out);
}

int
main (void)
{
    if (!mkdtemp (s_tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    test_suite_registry ();
    char *data = shared ("data");
    char *probe = shared ("data/translation/wmt22/system-outputs");
    if (probe)
        test_suites_shared (data);
    test_score_cmd (probe ? data : NULL);
    free (probe);
    char *dir = shared ("models/ct2-aren-transliteration");
    if (dir) {
        test_ct2_file (dir);
        ofr_seq2seq *m = NULL;
        char err[OFR_ERRLEN];
        CHECK (ofr_seq2seq_open (dir, &m, err, sizeof err) == 0, "open: %s", err);
        if (m) {
            CHECK (ofr_seq2seq_enc_layers (m) == 6 && ofr_seq2seq_dec_layers (m) == 6
                   && ofr_seq2seq_dim (m) == 32 && ofr_seq2seq_params (m) == 182731
                   && ofr_seq2seq_tgt_vocab (m) == 43, "shapes, %zu params",
                   ofr_seq2seq_params (m));
            test_known_outputs (m);
            test_score_api (m);
            ofr_seq2seq_destroy (&m);
        }
        test_translate_cmd (dir);
    }
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_tmp);
    free (data);
    if (!dir) {
        printf ("SKIP: ../shared/models/ct2-aren-transliteration not found\n");
        return s_failures ? 1 : 77;
    }
    free (dir);
    printf ("%s\n", s_failures ? "FAILED" : "ok");
    return s_failures != 0;
}
