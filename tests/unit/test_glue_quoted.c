/*  test_glue_quoted.c -- the RTE files here are an HF CSV export: a field
    containing a quote is wrapped in quotes with inner quotes doubled. The
    suite must hand the tokenizer the text recipes/glue_data.py trains on
    (quotes unwrapped, doubled quotes halved), while MRPC, whose GLUE file
    quotes nothing, keeps every quote literally. */
#include "suites/glue.h"
#include "common/ofr_common.h"

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

static int
make_data (const char *root, const char *task, const char *text)
{
    char p[512];
    snprintf (p, sizeof p, "%s/glue", root);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/glue/%s", root, task);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/glue/%s/dev.tsv", root, task);
    FILE *f = fopen (p, "w");
    if (!f) {
        perror (p);
        return -1;
    }
    fputs (text, f);
    return fclose (f);
}

/* Row k of the suite's dev split must have texts a and b. */
static void
expect_rows (const ofr_suite_class *s, const char *root, int n_want,
             const char *const (*want)[2])
{
    void *d = NULL;
    int n = 0;
    char err[OFR_ERRLEN] = "";
    if (s->load (root, "dev", &d, &n, err, sizeof err) != 0) {
        CHECK (0, "%s: %s", s->name, err);
        return;
    }
    CHECK (n == n_want, "%s: %d rows, want %d", s->name, n, n_want);
    for (int k = 0; k < n && k < n_want; k++) {
        ofr_example ex;
        if (s->example (d, k, &ex) != 0) {
            CHECK (0, "%s: example %d", s->name, k);
            continue;
        }
        CHECK (ex.text_a && strcmp (ex.text_a, want[k][0]) == 0,
               "%s row %d: text_a [%s], want [%s]", s->name, k, ex.text_a, want[k][0]);
        CHECK (ex.text_b && strcmp (ex.text_b, want[k][1]) == 0,
               "%s row %d: text_b [%s], want [%s]", s->name, k, ex.text_b, want[k][1]);
    }
    s->free (d);
}

int
main (void)
{
    char root[] = "/tmp/ofr-glue-quoted.XXXXXX";
    if (!mkdtemp (root)) {
        perror ("mkdtemp");
        return 1;
    }
    static const char *const rte[][2] = {
        { "Meadows scored a part in \"Law & Order\".", "plain text" },
        { "\"", "a\"b" },
        { "", "\"quoted\" at the start, not at the end" },
        { "\"\"", "x" },
    };
    if (make_data (root, "rte",
                   "sentence1\tsentence2\tlabel\tidx\n"
                   "\"Meadows scored a part in \"\"Law & Order\"\".\"\tplain text\t0\t0\n"
                   "\"\"\"\"\t\"a\"b\"\t1\t1\n"
                   "\"\"\t\"quoted\" at the start, not at the end\t0\t2\n"
                   "\"\"\"\"\"\"\tx\t1\t3\n") != 0)
        return 1;
    expect_rows (&ofr_suite_rte, root, 4, rte);

    static const char *const mrpc[][2] = {
        { "\"The witness\" said \"no\"", "\"\"doubled\"\"" },
    };
    if (make_data (root, "mrpc",
                   "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                   "1\t1\t2\t\"The witness\" said \"no\"\t\"\"doubled\"\"\n") != 0)
        return 1;
    expect_rows (&ofr_suite_mrpc, root, 1, mrpc);

    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system (cmd) != 0)
        fprintf (stderr, "warning: could not remove %s\n", root);
    if (s_failed) {
        fprintf (stderr, "%d check(s) failed\n", s_failed);
        return 1;
    }
    printf ("ok: quoted RTE fields unwrapped, MRPC quotes kept\n");
    return 0;
}
