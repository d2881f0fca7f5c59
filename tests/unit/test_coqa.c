/*  test_coqa.c -- the CoQA suite on hand-made files in the official layout
    (written to a temp dir): the official normaliser, EM, F1 and the
    leave-one-out averaging over multiple golds (hand-computed values), the
    reader's examples, ids and turn-3 prompt, the per-example stats through
    the decoder-suite interface (prediction cut at "\n"), pooled metrics,
    errors for malformed files (file + JSON path), and the harness end to
    end on stories260K (skipped without the model). */
#include "suites/coqa.h"
#include "common/ofr_common.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_tmp[] = "/tmp/test_coqa.XXXXXX";

#define NEAR(a, b) (fabs ((a) - (b)) < 1e-9)

/* <s_tmp>/<sub>/coqa/coqa-dev-v1.0.json = text; returns <s_tmp>/<sub>. */
static const char *
write_data (const char *sub, const char *text)
{
    static char dir[512];
    char path[600];
    snprintf (dir, sizeof dir, "%s/%s", s_tmp, sub);
    mkdir (dir, 0700);
    snprintf (path, sizeof path, "%s/coqa", dir);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/coqa/coqa-dev-v1.0.json", dir);
    FILE *f = fopen (path, "w");
    if (!f) {
        perror (path);
        exit (1);
    }
    fputs (text, f);
    fclose (f);
    return dir;
}

/* Story s1: 3 turns, 3 additional answer lists (duplicates, punctuation,
   articles, "unknown"); story s2: 1 turn, no additional_answers. */
static const char s_good[] =
    "{\"version\": \"1.0\", \"data\": [\n"
    " {\"source\": \"mctest\", \"id\": \"s1\", \"filename\": \"x.txt\",\n"
    "  \"story\": \"Anna has a red ball. She plays in the park.\",\n"
    "  \"questions\": [\n"
    "   {\"turn_id\": 1, \"input_text\": \"What does Anna have?\"},\n"
    "   {\"turn_id\": 2, \"input_text\": \"Where does she play?\"},\n"
    "   {\"turn_id\": 3, \"input_text\": \"Is it blue?\"}],\n"
    "  \"answers\": [\n"
    "   {\"turn_id\": 1, \"input_text\": \"a red ball\", \"span_text\": \"a red ball\", "
    "\"span_start\": 9, \"span_end\": 19},\n"
    "   {\"turn_id\": 2, \"input_text\": \"in the park\", \"span_text\": \"in the park\"},\n"
    "   {\"turn_id\": 3, \"input_text\": \"unknown\", \"span_text\": \"unknown\"}],\n"
    "  \"additional_answers\": {\n"
    "   \"0\": [{\"turn_id\": 1, \"input_text\": \"red ball\"},\n"
    "         {\"turn_id\": 2, \"input_text\": \"park\"},\n"
    "         {\"turn_id\": 3, \"input_text\": \"unknown\"}],\n"
    "   \"1\": [{\"turn_id\": 1, \"input_text\": \"A red ball.\"},\n"
    "         {\"turn_id\": 2, \"input_text\": \"the park\"},\n"
    "         {\"turn_id\": 3, \"input_text\": \"no\"}],\n"
    "   \"2\": [{\"turn_id\": 1, \"input_text\": \"the ball\"},\n"
    "         {\"turn_id\": 2, \"input_text\": \"In the park!\"},\n"
    "         {\"turn_id\": 3, \"input_text\": \"unknown\"}]}},\n"
    " {\"source\": \"race\", \"id\": \"s2\", \"story\": \"Tom is a dog.\",\n"
    "  \"questions\": [{\"turn_id\": 1, \"input_text\": \"Who is Tom?\"}],\n"
    "  \"answers\": [{\"turn_id\": 1, \"input_text\": \"a dog\"}]}]}\n";

static void
test_normalize (void)
{
    static const char *const cases[][2] = {
        { "The  Red, BALL!", "red ball" },
        { "An apple a day", "apple day" },
        { "don't-stop", "dontstop" },          /* punctuation removed, not spaced */
        { "theater anthem", "theater anthem" },/* articles are whole words only  */
        { " \t\n ", "" },
        { "a the an", "" },
        { "Unknown.", "unknown" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = ofr_coqa_normalize (cases[i][0]);
        CHECK (n && strcmp (n, cases[i][1]) == 0, "normalize '%s' = '%s', want '%s'",
               cases[i][0], n ? n : "(null)", cases[i][1]);
        free (n);
    }
    CHECK (ofr_coqa_exact ("a red ball", "Red ball.") == 1, "em");
    CHECK (ofr_coqa_exact ("a red ball", "red balls") == 0, "em 0");
    CHECK (NEAR (ofr_coqa_f1 ("a red ball", "red ball"), 1), "f1 1");
    /* gold [in park], pred [park in morning]: 2 common, P 2/3, R 1 -> 0.8 */
    CHECK (NEAR (ofr_coqa_f1 ("in the park", "park in the morning"), 0.8), "f1 0.8: %g",
           ofr_coqa_f1 ("in the park", "park in the morning"));
    /* counts clip: gold [ball ball red], pred [ball] -> P 1, R 1/3 -> 0.5 */
    CHECK (NEAR (ofr_coqa_f1 ("ball ball red", "ball"), 0.5), "f1 counter");
    CHECK (NEAR (ofr_coqa_f1 ("ball", "ball ball"), 2.0 / 3), "f1 pred dup");
    CHECK (ofr_coqa_f1 ("unknown", "") == 0, "one empty");
    CHECK (ofr_coqa_f1 ("the", "a") == 1, "both empty after normalisation");
    CHECK (ofr_coqa_f1 ("red", "blue") == 0, "nothing common");
}

static void
test_turn_score (void)
{
    const char *g1[] = { "a red ball", "red ball", "A red ball.", "the ball" };
    double f1, em;
    /* "ball": leaving out gold 0..2 the max is 1 ("the ball"); leaving out
       gold 3 it is F1("red ball", "ball") = 2/3, EM 0. */
    CHECK (ofr_coqa_turn_score (g1, 4, "ball", &f1, &em) == 0, "turn score");
    CHECK (NEAR (f1, 11.0 / 12) && NEAR (em, 0.75), "ball: f1 %g em %g", f1, em);
    CHECK (ofr_coqa_turn_score (g1, 4, "The red ball", &f1, &em) == 0 && NEAR (f1, 1)
           && NEAR (em, 1), "red ball: f1 %g em %g", f1, em);
    const char *g3[] = { "unknown", "unknown", "no", "unknown" };
    /* "no" matches only gold 2: every leave-one-out but i = 2 sees it. */
    CHECK (ofr_coqa_turn_score (g3, 4, "no", &f1, &em) == 0 && NEAR (f1, 0.75)
           && NEAR (em, 0.75), "no: f1 %g em %g", f1, em);
    CHECK (ofr_coqa_turn_score (g3, 4, "Unknown.", &f1, &em) == 0 && NEAR (f1, 1)
           && NEAR (em, 1), "unknown: f1 %g em %g", f1, em);
    /* Two golds: each is scored against the other one only. */
    const char *g2[] = { "in the park", "park" };
    CHECK (ofr_coqa_turn_score (g2, 2, "park", &f1, &em) == 0
           && NEAR (f1, (2.0 / 3 + 1) / 2) && NEAR (em, 0.5), "two golds: f1 %g em %g",
           f1, em);
    const char *one[] = { "a dog" };
    CHECK (ofr_coqa_turn_score (one, 1, "dog", &f1, &em) == 0 && NEAR (f1, 1)
           && NEAR (em, 1), "one gold");
    CHECK (ofr_coqa_turn_score (one, 1, "big dog", &f1, &em) == 0
           && NEAR (f1, 2.0 / 3) && em == 0, "one gold partial: %g", f1);
    CHECK (ofr_coqa_turn_score (one, 0, "dog", &f1, &em) == -1, "no golds");
}

static void
score_text (const ofr_lm_suite *lm, void *d, int i, const char *text, double *stats)
{
    ofr_lm_result r = { .gen_text = text, .ref_text = text, .n_positions = 4,
                        .layers_run = 8, .n_layers = 2, .flops_full = 100, .agrees = 1 };
    CHECK (lm->score (d, i, &r, stats) == 0, "score %d", i);
}

static void
test_suite (void)
{
    const ofr_suite_class *sc = ofr_suite_find ("coqa");
    CHECK (sc == &ofr_suite_coqa, "registered");
    const ofr_lm_suite *lm = ofr_lm_suite_of (sc);
    CHECK (lm == &ofr_coqa_lm, "decoder-suite extension");
    if (!sc || !lm)
        return;
    const char *dir = write_data ("good", s_good);
    char err[512] = "";
    void *d = NULL;
    int n = 0;
    CHECK (sc->load (dir, NULL, &d, &n, err, sizeof err) == 0, "load: %s", err);
    if (!d)
        return;
    CHECK (n == 4, "4 turns, got %d", n);
    ofr_example ex;
    const char *ids[] = { "s1_1", "s1_2", "s1_3", "s2_1" };
    for (int i = 0; i < 4 && i < n; i++)
        CHECK (sc->example (d, i, &ex) == 0 && strcmp (ex.id, ids[i]) == 0, "id %d: %s", i,
               ex.id);
    CHECK (sc->example (d, 4, &ex) != 0, "example out of range");
    ofr_lm_task t;
    CHECK (lm->task (d, 2, &t) == 0 && t.kind == OFR_LM_GENERATE && t.max_new > 0
           && t.stop && strcmp (t.stop, "\n") == 0, "task");
    const char *want3 =
        "Anna has a red ball. She plays in the park.\n\n"
        "Q: What does Anna have?\n\nA: a red ball\n\n"
        "Q: Where does she play?\n\nA: in the park\n\n"
        "Q: Is it blue?\n\nA:";
    CHECK (strcmp (t.prompt, want3) == 0, "turn-3 prompt:\n%s", t.prompt);
    CHECK (lm->task (d, 3, &t) == 0
           && strcmp (t.prompt, "Tom is a dog.\n\nQ: Who is Tom?\n\nA:") == 0,
           "first-turn prompt: %s", t.prompt);

    int k = sc->n_stats;
    CHECK (k == 2 + OFR_LM_TAIL_STATS, "n_stats %d", k);
    double *st = calloc ((size_t) 3 * k, sizeof (double));
    if (!st) {
        sc->free (d);
        return;
    }
    /* The prediction ends at the first newline. */
    score_text (lm, d, 0, " ball\nQ: Where is it?", st);
    CHECK (NEAR (st[0], 11.0 / 12) && NEAR (st[1], 0.75), "turn 1: %g %g", st[0], st[1]);
    CHECK (st[2] == 4 && st[3] == 8 && st[4] == 4 && st[7] == 1, "tail");
    score_text (lm, d, 2, " no", st + k);
    CHECK (NEAR (st[k], 0.75) && NEAR (st[k + 1], 0.75), "turn 3: %g", st[k]);
    score_text (lm, d, 3, " Dog.\n", st + 2 * k);
    CHECK (st[2 * k] == 1 && st[2 * k + 1] == 1, "s2 turn 1");
    ofr_metric m[OFR_MAX_METRICS];
    int nm = sc->metrics (st, 3, m, OFR_MAX_METRICS);
    CHECK (nm >= 2 && strcmp (m[0].name, "f1") == 0 && strcmp (m[1].name, "em") == 0,
           "metric names");
    CHECK (nm >= 2 && NEAR (m[0].value, 100.0 * (11.0 / 12 + 0.75 + 1) / 3)
           && NEAR (m[1].value, 100.0 * (0.75 + 0.75 + 1) / 3), "pooled f1 %g em %g",
           m[0].value, m[1].value);
    CHECK (strcmp (sc->primary, "f1") == 0, "primary");
    ofr_lm_result none = { 0 };
    CHECK (lm->score (d, 0, &none, st) != 0, "no text refused");
    free (st);
    sc->free (d);
    d = NULL;
    CHECK (sc->load (dir, "test", &d, &n, err, sizeof err) != 0 && strstr (err, "test"),
           "bad split: %s", err);
}

static void
expect_error (const char *sub, const char *text, const char *want)
{
    const char *dir = write_data (sub, text);
    char err[512] = "", file[600];
    snprintf (file, sizeof file, "%s/coqa/coqa-dev-v1.0.json", dir);
    void *d = NULL;
    int n = 0;
    int rc = ofr_suite_coqa.load (dir, "dev", &d, &n, err, sizeof err);
    CHECK (rc != 0 && !d, "%s: loaded", sub);
    CHECK (strstr (err, file) && strstr (err, want), "%s: '%s' lacks the file or '%s'", sub,
           err, want);
    if (d)
        ofr_suite_coqa.free (d);
}

static void
test_errors (void)
{
    expect_error ("e_json", "{\"data\": [", "coqa-dev-v1.0.json");
    expect_error ("e_nodata", "{\"version\": \"1.0\"}", "data:");
    expect_error ("e_story", "{\"data\": [{\"id\": \"a\", \"story\": \"x\", \"questions\": [],"
                  " \"answers\": []}, {\"id\": \"b\", \"story\": 3}]}", "data[1].story");
    expect_error ("e_qtext", "{\"data\": [{\"id\": \"a\", \"story\": \"x\", \"questions\": ["
                  "{\"turn_id\": 1, \"input_text\": \"q\"}, {\"turn_id\": 2}], \"answers\": "
                  "[]}]}", "data[0].questions[1].input_text");
    expect_error ("e_acount", "{\"data\": [{\"id\": \"a\", \"story\": \"x\", \"questions\": ["
                  "{\"turn_id\": 1, \"input_text\": \"q\"}], \"answers\": []}]}",
                  "data[0].answers");
    expect_error ("e_aturn", "{\"data\": [{\"id\": \"a\", \"story\": \"x\", \"questions\": ["
                  "{\"turn_id\": 1, \"input_text\": \"q\"}], \"answers\": [{\"turn_id\": 1, "
                  "\"input_text\": \"r\"}], \"additional_answers\": {\"0\": [{\"turn_id\": 1,"
                  " \"input_text\": \"s\"}], \"1\": [{\"turn_id\": 2, \"input_text\": \"t\"}]"
                  "}}]}", "data[0].additional_answers.1[0].turn_id");
    expect_error ("e_empty", "{\"data\": []}", "no question turns");
    /* No file at all. */
    char err[512] = "", dir[600];
    snprintf (dir, sizeof dir, "%s/nowhere", s_tmp);
    void *d = NULL;
    int n = 0;
    CHECK (ofr_suite_coqa.load (dir, NULL, &d, &n, err, sizeof err) != 0
           && strstr (err, "nowhere/coqa/coqa-dev-v1.0.json"), "missing file: %s", err);
}

/* offramp run --model stories260K --suite coqa --data DIR --method full
   --limit N on a hand-made file; want_log: a phrase the run must log. */
static void
run_smoke (const char *name, const char *data, int limit, const char *want_log)
{
    const char *src = getenv ("OFR_SOURCE_DIR"), *bin = getenv ("OFFRAMP");
    const char *plugins = getenv ("OFR_PLUGIN_DIR");
    char models[1024], cmd[4096];
    snprintf (models, sizeof models, "%s/../shared/models", src ? src : ".");
    char probe[1100];
    snprintf (probe, sizeof probe, "%s/stories260K", models);
    struct stat sb;
    if (!src || !bin || stat (probe, &sb) != 0 || access (bin, X_OK) != 0) {
        printf ("skip harness %s: no stories260K or no offramp binary\n", name);
        return;
    }
    const char *dir = write_data (name, data);
    snprintf (cmd, sizeof cmd,
              "'%s' run --model stories260K --suite coqa --data '%s' --method full "
              "--limit %d --models '%s' %s%s%s --db '%s/%s.sqlite' --format json "
              "--no-tui -q > '%s/%s.json' 2> '%s/%s.log'",
              bin, dir, limit, models, plugins ? "--plugins '" : "", plugins ? plugins : "",
              plugins ? "'" : "", s_tmp, name, s_tmp, name, s_tmp, name);
    int rc = system (cmd);
    char *buf = calloc (1, 1 << 16), *log = calloc (1, 1 << 16), want_n[32];
    const char *ext[] = { "json", "log" };
    char *dst[] = { buf, log };
    for (int k = 0; k < 2; k++) {
        char out[1100];
        snprintf (out, sizeof out, "%s/%s.%s", s_tmp, name, ext[k]);
        FILE *f = fopen (out, "r");
        if (f && dst[k] && fread (dst[k], 1, (1 << 16) - 1, f) == 0)
            dst[k][0] = '\0';
        if (f)
            fclose (f);
    }
    snprintf (want_n, sizeof want_n, "\"n\":%d", limit);
    CHECK (rc == 0, "%s: offramp run failed (%d): %s", name, rc, log ? log : "");
    CHECK (buf && strstr (buf, "\"coqa\"") && strstr (buf, "\"f1\""),
           "%s: report lacks the coqa cell / f1: %s", name, buf ? buf : "");
    CHECK (buf && strstr (buf, want_n) && strstr (buf, "\"status\":\"done\""),
           "%s: %d examples, done: %s", name, limit, buf ? buf : "");
    if (want_log)
        CHECK (log && strstr (log, want_log), "%s: log lacks '%s': %s", name, want_log,
               log ? log : "");
    free (buf);
    free (log);
}

/* A story longer than stories260K's 512 positions: the prompt keeps its
   last tokens (lm-eval's left truncation) and the run says so. */
static void
test_harness (void)
{
    run_smoke ("smoke", s_good, 3, NULL);
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "{\"version\": \"1.0\", \"data\": [{\"source\": \"mctest\", "
                  "\"id\": \"long\", \"filename\": \"x.txt\", \"story\": \"");
    for (int i = 0; i < 300; i++)
        ofr_buf_printf (&b, "Tom saw a big dog number %d in the park. ", i);
    ofr_buf_puts (&b, "\", \"questions\": [{\"turn_id\": 1, \"input_text\": \"What did "
                  "Tom see?\"}], \"answers\": [{\"turn_id\": 1, \"input_text\": \"a big dog\", "
                  "\"span_text\": \"a big dog\"}]}]}");
    CHECK (!b.oom, "out of memory");
    if (!b.oom)
        run_smoke ("long", b.data, 1, "kept their last tokens");
    ofr_buf_free (&b);
}

int
main (void)
{
    if (!mkdtemp (s_tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    test_normalize ();
    test_turn_score ();
    test_suite ();
    test_errors ();
    test_harness ();
    if (s_failures == 0 && !getenv ("OFR_KEEP_TMP")) {
        char cmd[600];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
        if (system (cmd) != 0)
            fprintf (stderr, "could not remove %s\n", s_tmp);
    }
    printf ("%s: %d failure(s)\n", s_failures ? "FAIL" : "ok", s_failures);
    return s_failures != 0;
}
