/*  test_glue.c -- the GLUE suite classes: metric maths on hand-made
    statistics, errors on malformed files (file:line), and the shipped dev
    splits of ../shared/data/glue (row counts, labels; skipped without them). */
#include "suites/glue.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int s_failed;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf (stderr, __VA_ARGS__);                                  \
            fputc ('\n', stderr);                                           \
            s_failed++;                                                     \
        }                                                                   \
    } while (0)
#define NEAR(a, b) (fabs ((a) - (b)) < 1e-9)

static void
test_metric_maths (void)
{
    CHECK (NEAR (ofr_glue_f1 (3, 1, 2), 6.0 / 9.0), "f1");
    CHECK (ofr_glue_f1 (0, 0, 0) == 0.0, "f1 with no positives is 0");
    CHECK (NEAR (ofr_glue_mcc (3, 1, 2, 4), 10.0 / sqrt (600.0)), "mcc");
    CHECK (ofr_glue_mcc (5, 5, 0, 0) == 0.0, "mcc with one predicted class is 0");
    /* numpy.corrcoef and the average-rank Spearman of the same rows. */
    double xy[] = { 1, 2, 2, 1, 3, 4, 4, 3, 5, 5 };
    double r;
    CHECK (ofr_glue_pearson (xy, 5, &r) == 0 && NEAR (r, 0.8), "pearson %g", r);
    double ties[] = { 1, 1, 2, 3, 2, 2, 3, 4, 7, 4 };
    CHECK (ofr_glue_spearman (ties, 5, &r) == 0 && fabs (r - 0.9473684210526317) < 1e-12,
           "spearman with ties %.15g", r);
    /* Any order of the same rows gives the same bits (sharding). */
    double perm[] = { 7, 4, 2, 2, 1, 1, 3, 4, 2, 3 };
    double r2;
    CHECK (ofr_glue_spearman (perm, 5, &r2) == 0 && r2 == r, "spearman order-free");
    double flat[] = { 1, 2, 1, 3, 1, 4 };
    CHECK (ofr_glue_pearson (flat, 3, &r) == 0 && r == 0.0, "constant x gives 0");
}

static void
test_suite_metrics (void)
{
    ofr_metric m[4];
    /* Two shards of MRPC confusion rows pooled = one shard. */
    double rows[][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 1, 0, 0, 0 }, { 0, 0, 1, 0 },
                         { 0, 0, 0, 1 }, { 1, 0, 0, 0 } };
    int k = ofr_suite_mrpc.metrics (&rows[0][0], 6, m, 4);
    CHECK (k == 2 && strcmp (m[1].name, "f1") == 0, "mrpc metrics");
    CHECK (NEAR (m[0].value, 100.0 * 4 / 6) && NEAR (m[1].value, 100.0 * 6 / 8),
           "mrpc accuracy %g f1 %g", m[0].value, m[1].value);
    CHECK (strcmp (ofr_suite_mrpc.primary, "f1") == 0, "mrpc primary is f1");
    CHECK (strcmp (ofr_suite_cola.primary, "mcc") == 0, "cola primary is mcc");
    CHECK (strcmp (ofr_suite_stsb.primary, "spearman") == 0, "stsb primary");
    double correct[] = { 1, 0, 1, 1 };
    k = ofr_suite_sst2.metrics (correct, 4, m, 4);
    CHECK (k == 1 && NEAR (m[0].value, 75.0), "sst2 accuracy");
}

static void
write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        perror (path);
        exit (1);
    }
    fputs (text, f);
    fclose (f);
}

/* A data dir with glue/<task>/dev.tsv holding text. */
static void
make_data (const char *root, const char *task, const char *text)
{
    char p[512];
    snprintf (p, sizeof p, "%s/glue", root);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/glue/%s", root, task);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/glue/%s/dev.tsv", root, task);
    write_file (p, text);
}

static void
expect_error (const ofr_suite_class *s, const char *root, const char *want)
{
    void *d = NULL;
    int n = 0;
    char err[OFR_ERRLEN] = "";
    int rc = s->load (root, "dev", &d, &n, err, sizeof err);
    CHECK (rc == -1 && strstr (err, want), "%s: want an error with '%s', got rc %d '%s'",
           s->name, want, rc, err);
    if (rc == 0)
        s->free (d);
}

static void
test_bad_files (void)
{
    char root[] = "/tmp/offramp-glue.XXXXXX";
    if (!mkdtemp (root)) {
        perror ("mkdtemp");
        exit (1);
    }
    make_data (root, "sst2", "sentence\tlabel\ngood film\t1\nbad film\n");
    expect_error (&ofr_suite_sst2, root, "dev.tsv:3: expected 2 tab-separated fields, got 1");
    make_data (root, "sst2", "sentence\tlabel\ngood film\t1\nbad film\tmaybe\n");
    expect_error (&ofr_suite_sst2, root, "dev.tsv:3: label 'maybe' is not one of 0, 1");
    make_data (root, "sst2", "text\tlabel\ngood film\t1\n");
    expect_error (&ofr_suite_sst2, root, "no column 'sentence'");
    make_data (root, "stsb", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
               "sentence2\tscore\n0\tx\tx\tx\t0\tx\tx\ta\tb\t7.5\n");
    expect_error (&ofr_suite_stsb, root, "dev.tsv:2: score '7.5' is not a number in [0, 5]");
    make_data (root, "sst2", "sentence\tlabel\nok \xff\xfe\t1\n");
    expect_error (&ofr_suite_sst2, root, "dev.tsv:2: invalid UTF-8");
    void *d = NULL;
    int n = 0;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_suite_sst2.load (root, "test", &d, &n, err, sizeof err) == -1
           && strstr (err, "unknown split 'test'"), "unknown split: '%s'", err);
    make_data (root, "sst2", "sentence\tlabel\ngood film\t1\nbad film\t0\n");
    CHECK (ofr_suite_sst2.load (root, "dev", &d, &n, err, sizeof err) == 0 && n == 2,
           "a good file loads: %s", err);
    if (d) {
        ofr_example ex;
        CHECK (ofr_suite_sst2.example (d, 1, &ex) == 0 && ex.label == 0
               && strcmp (ex.text_a, "bad film") == 0 && strcmp (ex.id, "1") == 0,
               "example 1");
        double st;
        ofr_prediction p = { .cls = 0 };
        CHECK (ofr_suite_sst2.score (d, 1, &p, &st) == 0 && st == 1.0, "score correct");
        p.cls = 7;
        CHECK (ofr_suite_sst2.score (d, 1, &p, &st) == -1, "class out of range refused");
        ofr_suite_sst2.free (d);
    }
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system (cmd) != 0)
        fprintf (stderr, "warning: could not remove %s\n", root);
}

/* The shipped dev splits, if ../shared is there. Returns 1 if tested. */
static int
test_shared (void)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    char root[512];
    snprintf (root, sizeof root, "%s/../shared/data", src ? src : ".");
    char probe[600];
    snprintf (probe, sizeof probe, "%s/glue/sst2/dev.tsv", root);
    if (access (probe, R_OK) != 0) {
        printf ("skip: %s not found (../shared absent)\n", probe);
        return 0;
    }
    const struct { const ofr_suite_class *s; int rows; } want[] = {
        { &ofr_suite_sst2, 872 }, { &ofr_suite_mrpc, 408 }, { &ofr_suite_rte, 277 },
        { &ofr_suite_qnli, 5463 }, { &ofr_suite_stsb, 1500 }, { &ofr_suite_cola, 1043 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ofr_suite_class *s = want[i].s;
        void *d = NULL;
        int n = 0;
        char err[OFR_ERRLEN] = "";
        if (s->load (root, "dev", &d, &n, err, sizeof err) != 0) {
            CHECK (0, "%s dev: %s", s->name, err);
            continue;
        }
        CHECK (n == want[i].rows, "%s dev has %d rows, want %d", s->name, n, want[i].rows);
        int pos = 0, pairs = 0;
        for (int k = 0; k < n; k++) {
            ofr_example ex;
            if (s->example (d, k, &ex) != 0 || !ex.text_a || !ex.id) {
                CHECK (0, "%s example %d", s->name, k);
                break;
            }
            pos += ex.label == 1;
            pairs += ex.text_b != NULL;
        }
        if (s->n_classes > 0)
            CHECK (pos > 0 && pos < n, "%s: both classes present (%d of %d positive)",
                   s->name, pos, n);
        if (s == &ofr_suite_sst2 || s == &ofr_suite_cola)
            CHECK (pairs == 0, "%s has single sentences", s->name);
        else
            CHECK (pairs == n, "%s has sentence pairs", s->name);
        s->free (d);
    }
    return 1;
}

int
main (void)
{
    test_metric_maths ();
    test_suite_metrics ();
    test_bad_files ();
    int shared = test_shared ();
    if (s_failed) {
        fprintf (stderr, "%d check(s) failed\n", s_failed);
        return 1;
    }
    printf ("ok: glue metrics, bad-file errors%s\n", shared ? ", shared dev splits" : "");
    return 0;
}
