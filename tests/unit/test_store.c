/*  test_store.c -- the results store by example: open a file, create a run
    with cells, store records (duplicates are ignored), read the journal
    back, and report. The report is checked number by number, parsed as
    JSON, and must come out byte-identical whatever order the records were
    stored in. Uses the "synthetic" suite (1 stat: correct 0/1 -> accuracy). */
#include "results/store.h"
#include "harness/commands.h"
#include "common/ofr_common.h"

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_failures;
static char s_dir[256];

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "%s:%d: CHECK (%s) failed: ", __FILE__,        \
                     __LINE__, #cond);                                      \
            fprintf (stderr, __VA_ARGS__);                                  \
            fputc ('\n', stderr);                                           \
            s_failures++;                                                   \
        }                                                                   \
    } while (0)

/*  Setup failures make the rest meaningless. */
#define REQUIRE(cond, ...)                                                  \
    do {                                                                    \
        if (!(cond)) {                                                      \
            CHECK (cond, __VA_ARGS__);                                      \
            exit (1);                                                       \
        }                                                                   \
    } while (0)

static char *
path_in_dir (const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf (p, 512, "%s/%s", s_dir, name);
    return p;
}

/* ------------------------------------------------------------------ */
/*  The run used throughout: 4 cells of 10 examples.                   */

static ofr_kv s_params1[] = {
    { "threshold", "0.3" }, { "min_layer", "1" }, { "note", "a \"quoted\", κ=1\n" },
};
static ofr_kv s_params2[] = { { "thr", "0.9" } };

#define CELL(i, suite_, split_, lim, method_, params_, np, batch, seed_)          \
    { .index = i, .model = "testnet", .suite = suite_, .split = split_,          \
      .limit = lim, .method = method_, .params = params_, .n_params = np,        \
      .batch_size = batch, .seed = seed_ }
static const ofr_cell s_cells[4] = {
    CELL (0, "synthetic", "dev", 10, "full", NULL, 0, 8, 1),
    CELL (1, "synthetic", "dev", 10, "entropy", s_params1, 3, 8, UINT64_MAX - 5),
    CELL (2, "synthetic", "dev", 10, "calm", s_params2, 1, 4, 3),
    CELL (3, "nosuch", "test", 0, "full", NULL, 0, 16, 4),
};
static const int s_totals[4] = { 10, 10, 10, 3 };

/* One stored record, as plain data. */
typedef struct {
    int     cell, example, n_stats, exit_layer, n_tok;
    double  stats[2];
    uint8_t tok[3];
    double  flops, full, wall;
} spec;

/*  cell 0 full:     7/10 correct, exits at 4 of 4, 100 of 100 FLOPs, 10 ms
    cell 1 entropy:  5/10 correct, exit 1 + ex % 4, 25 FLOPs per layer, 5 ms
    cell 2 calm:     6 of 10 stored, tokens exit at 1, 2, 4; 50 FLOPs, 20 ms
    cell 3 nosuch:   3 records with 2 stats of an unknown suite; FLOPs 1e17,
                     5, 5: their double sum depends on the order of addition
                     (1e17 + 5 + 5 = 1e17, but 5 + 5 + 1e17 = 1e17 + 16), so a
                     report that does not sum in example order shows it */
static int
make_specs (spec *s)
{
    int n = 0;
    for (int e = 0; e < 10; e++)
        s[n++] = (spec) { 0, e, 1, 4, 0, { e % 10 < 7 }, { 0 }, 100, 100, 10 };
    for (int e = 0; e < 10; e++)
        s[n++] = (spec) { 1, e, 1, 1 + e % 4, 0, { e % 2 == 0 }, { 0 }, 25.0 * (1 + e % 4),
                          100, 5 };
    for (int e = 0; e < 6; e++)
        s[n++] = (spec) { 2, e, 1, 0, 3, { 1 }, { 1, 2, 4 }, 50, 100, 20 };
    for (int e = 0; e < 3; e++)
        s[n++] = (spec) { 3, e, 2, 2, 0, { 1, 2 }, { 0 }, e ? 5 : 1e17, 2, 1 };
    return n;
}

static int
put_spec (ofr_store *st, int64_t run, const spec *s, int *inserted)
{
    double stats[2] = { s->stats[0], s->stats[1] };
    uint8_t tok[3] = { s->tok[0], s->tok[1], s->tok[2] };
    ofr_record r = {
        .cell = s->cell, .example = s->example, .prediction = s->example % 2,
        .pred_text = s->cell == 2 ? "generated ✓" : NULL,
        .stats = stats, .n_stats = s->n_stats, .exit_layer = s->exit_layer,
        .skipped = s->cell == 1 ? s->example % 3 : 0,
        .token_exits = s->n_tok ? tok : NULL, .n_tokens = s->n_tok, .n_layers = 4,
        .flops = s->flops, .flops_full = s->full, .wall_ms = s->wall,
    };
    char err[OFR_ERRLEN] = "";
    int rc = ofr_store_put_record (st, run, &r, "worker-1", inserted, err, sizeof err);
    CHECK (rc == 0, "put_record cell %d example %d: %s", s->cell, s->example, err);
    return rc;
}

/*  Store all records in the order given by a seeded shuffle, in
    transactions of varying size (shards arriving in any order); seed 0 =
    reverse order, seed 1 = example order, both in one transaction. */
static void
fill (ofr_store *st, int64_t run, uint64_t seed)
{
    spec specs[64];
    int n = make_specs (specs);
    ofr_rng rng;
    ofr_rng_seed (&rng, seed);
    for (int i = 0; !seed && i < n / 2; i++) {
        spec t = specs[i];
        specs[i] = specs[n - 1 - i];
        specs[n - 1 - i] = t;
    }
    for (int i = n - 1; seed > 1 && i > 0; i--) {
        int j = (int) (ofr_rng_u64 (&rng) % (uint64_t) (i + 1));
        spec t = specs[i];
        specs[i] = specs[j];
        specs[j] = t;
    }
    char err[OFR_ERRLEN] = "";
    for (int i = 0; i < n;) {
        int batch = seed > 1 ? 1 + (int) (ofr_rng_u64 (&rng) % 7) : n;
        REQUIRE (ofr_store_begin (st, err, sizeof err) == 0, "begin: %s", err);
        for (int k = 0; k < batch && i < n; k++, i++) {
            int inserted = -1;
            put_spec (st, run, &specs[i], &inserted);
            CHECK (inserted == 1, "record %d/%d not new", specs[i].cell, specs[i].example);
        }
        REQUIRE (ofr_store_commit (st, err, sizeof err) == 0, "commit: %s", err);
    }
}

static int64_t
create_run (ofr_store *st)
{
    int64_t run = -1;
    char err[OFR_ERRLEN] = "";
    int rc = ofr_store_run_create (st, "unit-run", "name: unit-run\n", s_cells, s_totals, 4,
                                   &run, err, sizeof err);
    REQUIRE (rc == 0 && run > 0, "run_create: %s", err);
    return run;
}

/*  The report as a string (the caller frees it). */
static char *
report_str (ofr_store *st, int64_t run, ofr_report_format fmt, unsigned flags)
{
    char *data = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&data, &size);
    REQUIRE (f != NULL, "open_memstream: %s", strerror (errno));
    char err[OFR_ERRLEN] = "";
    int rc = ofr_store_report_flags (st, run, fmt, flags, f, err, sizeof err);
    fclose (f);
    CHECK (rc == 0, "report format %d: %s", (int) fmt, err);
    return data;
}

static char *
num (double v)
{
    static char out[4][64];
    static int next;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_json_num (&b, v);
    char *o = out[next++ % 4];
    snprintf (o, 64, "%s", b.data ? b.data : "?");
    ofr_buf_free (&b);
    return o;
}

/* ------------------------------------------------------------------ */
/*  A small strict JSON validator (RFC 8259 grammar, no semantics).    */

static const char *jv_value (const char *p, int depth);

static const char *
jv_ws (const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *
jv_string (const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char) *p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr ("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr ("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *
jv_number (const char *p)
{
    const char *q = p;
    if (*q == '-')
        q++;
    if (*q < '0' || *q > '9')
        return NULL;
    char *end;
    strtod (p, &end);
    return end > q ? end : NULL;
}

static const char *
jv_list (const char *p, int depth, char close, bool object)
{
    p = jv_ws (p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (!(p = jv_string (jv_ws (p))))
                return NULL;
            p = jv_ws (p);
            if (*p++ != ':')
                return NULL;
        }
        if (!(p = jv_value (p, depth + 1)))
            return NULL;
        p = jv_ws (p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *
jv_value (const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = jv_ws (p);
    switch (*p) {
    case '{': return jv_list (p, depth, '}', true);
    case '[': return jv_list (p, depth, ']', false);
    case '"': return jv_string (p);
    case 't': return strncmp (p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f': return strncmp (p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n': return strncmp (p, "null", 4) == 0 ? p + 4 : NULL;
    default:  return jv_number (p);
    }
}

static bool
json_valid (const char *s)
{
    const char *end = s ? jv_value (s, 0) : NULL;
    return end && *jv_ws (end) == 0;
}

/* ------------------------------------------------------------------ */

/*  Line i (0-based) of the JSON report = cell i - 1 (line 0 is the head). */
static char *
json_line (const char *json, int line)
{
    const char *p = json;
    for (int i = 0; i < line && p; i++) {
        p = strchr (p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return ofr_strdup ("");
    const char *e = strchr (p, '\n');
    size_t n = e ? (size_t) (e - p) : strlen (p);
    char *out = malloc (n + 1);
    REQUIRE (out != NULL, "out of memory");
    memcpy (out, p, n);
    out[n] = 0;
    return out;
}

static void
expect_in (const char *hay, const char *needle, const char *what)
{
    CHECK (hay && strstr (hay, needle), "%s: '%s' not found in:\n%s", what, needle,
           hay ? hay : "(null)");
}

static void
check_json_numbers (const char *json)
{
    CHECK (json_valid (json), "report is not valid JSON:\n%s", json);
    expect_in (json, "\"name\":\"unit-run\"", "run name");
    char *c0 = json_line (json, 1), *c1 = json_line (json, 2);
    char *c2 = json_line (json, 3), *c3 = json_line (json, 4);
    expect_in (c0, "{\"model\":\"testnet\",\"suite\":\"synthetic\",\"method\":\"full\","
                   "\"params\":{},\"n\":10,\"total\":10,\"status\":\"done\"", "cell 0 head");
    expect_in (c0, "\"metrics\":{\"accuracy\":70}", "cell 0 accuracy from stats");
    expect_in (c0, "\"flops_mean\":100,\"flops_full\":100,\"rel_flops\":1,"
                   "\"mean_exit_layer\":4,\"exit_hist\":[0,0,0,10],"
                   "\"exit_metric\":[null,null,null,70]", "cell 0 flops/exits");
    expect_in (c0, "\"wall_ms_mean\":10,\"speedup\":1}", "cell 0 timing");
    expect_in (c1, "\"params\":{\"threshold\":\"0.3\",\"min_layer\":\"1\","
                   "\"note\":\"a \\\"quoted\\\", κ=1\\n\"}", "cell 1 params in order");
    expect_in (c1, "\"metrics\":{\"accuracy\":50}", "cell 1 accuracy");
    expect_in (c1, "\"flops_mean\":57.5,\"flops_full\":100,\"rel_flops\":0.575,"
                   "\"mean_exit_layer\":2.3,\"exit_hist\":[3,3,2,2]", "cell 1 flops/exits");
    /* Rows exiting at layers 1 and 3 are the even (correct) examples. */
    expect_in (c1, "\"exit_metric\":[100,0,100,0]", "cell 1 accuracy per exit layer");
    /* Example e of cell 1 skipped e % 3 layers: 4, 3 and 3 examples. */
    expect_in (c1, "\"mean_skipped\":0.9,\"skip_hist\":[4,3,3]", "cell 1 skips");
    expect_in (c1, "\"wall_ms_mean\":5,\"speedup\":2}", "cell 1 speed-up vs full");
    char want[320];
    snprintf (want, sizeof want, "\"n\":6,\"total\":10,\"status\":\"pending\","
              "\"metrics\":{\"accuracy\":100},\"flops_mean\":50,\"flops_full\":100,"
              "\"rel_flops\":0.5,\"mean_exit_layer\":%s,\"exit_hist\":[6,6,0,6],"
              "\"exit_metric\":[null,null,null,null],\"mean_skipped\":0,\"skip_hist\":[6],"
              "\"wall_ms_mean\":20,\"speedup\":0.5}", num (7.0 / 3.0));
    expect_in (c2, want, "cell 2 token exits");
    expect_in (c3, "\"suite\":\"nosuch\"", "cell 3");
    expect_in (c3, "\"status\":\"failed\",\"metrics\":{},", "cell 3 unknown suite: no metrics");
    /* cell 3 is a parameterless `full` cell: its own baseline. */
    volatile double big = 1e17, sum = big;   /* example order */
    sum += 5;
    sum += 5;
    CHECK (sum == 1e17, "double rounding assumption");
    snprintf (want, sizeof want, "\"flops_mean\":%s,\"flops_full\":2,\"rel_flops\":%s,"
              "\"mean_exit_layer\":2,\"exit_hist\":[0,3,0,0],"
              "\"exit_metric\":[null,null,null,null],\"mean_skipped\":0,\"skip_hist\":[3],"
              "\"wall_ms_mean\":1,"
              "\"speedup\":1}", num (sum / 3), num (sum / 6));
    expect_in (c3, want, "cell 3 flops (summed in example order)/exits/timing");
    free (c0);
    free (c1);
    free (c2);
    free (c3);
}

/*  Python's json module as an independent parser, when Debian's python is
    there: parsed values, key order of params, histogram sums. */
static void
check_json_python (const char *json)
{
    if (access ("/usr/bin/python3", X_OK) != 0) {
        fprintf (stderr, "note: /usr/bin/python3 absent, python JSON check skipped\n");
        return;
    }
    char *file = path_in_dir ("report.json");
    FILE *f = fopen (file, "w");
    REQUIRE (f && fputs (json, f) >= 0 && fclose (f) == 0, "%s: cannot write", file);
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "/usr/bin/python3 -c '"
        "import json, sys\n"
        "r = json.load(open(sys.argv[1]), object_pairs_hook=lambda kv: dict(kv) if not "
        "any(k == \"threshold\" for k, _ in kv) else (kv if [k for k, _ in kv] == "
        "[\"threshold\", \"min_layer\", \"note\"] else sys.exit(\"params order\")))\n"
        "c = r[\"cells\"]\n"
        "assert len(c) == 4, len(c)\n"
        "assert [x[\"n\"] for x in c] == [10, 10, 6, 3]\n"
        "assert all(sum(x[\"exit_hist\"]) == x[\"n\"] for x in c[:2]), \"hist sums\"\n"
        "assert abs(c[1][\"rel_flops\"] - 575 / 1000) < 1e-15\n"
        "assert c[1][\"metrics\"][\"accuracy\"] == 50.0 and c[3][\"metrics\"] == {}\n"
        "assert c[3][\"speedup\"] == 1 and c[2][\"speedup\"] == 0.5\n"
        "' %s", file);
    int rc = system (cmd);
    CHECK (rc == 0, "python json check failed (status %d)", rc);
}

static void
check_csv_table (ofr_store *st, int64_t run)
{
    char *csv = report_str (st, run, OFR_REPORT_CSV, 0);
    expect_in (csv, "run,cell,model,suite,split,limit,method,params,n,total,status,reason,"
                    "accuracy,flops_mean,flops_full,rel_flops,mean_exit_layer,exit_hist,"
                    "wall_ms_mean,speedup\n", "csv header");
    char want[320];
    snprintf (want, sizeof want, "%lld,0,testnet,synthetic,dev,10,full,,10,10,done,,70,100,"
              "100,1,4,0 0 0 10,10,1\n", (long long) run);
    expect_in (csv, want, "csv cell 0");
    expect_in (csv, ",entropy,\"threshold=0.3,min_layer=1,note=a \"\"quoted\"\", κ=1\n\","
                    "10,10,done,,50,57.5,100,0.575,2.3,3 3 2 2,5,2\n", "csv cell 1 (quoted)");
    snprintf (want, sizeof want, ",nosuch,test,0,full,,3,3,failed,\"boom: \"\"x\"\"\",,%s,2,%s,"
              "2,0 3 0 0,1,1\n", num (1e17 / 3), num (1e17 / 6));
    expect_in (csv, want, "csv cell 3");
    int lines = 0;
    for (const char *p = csv; p && *p; p++)
        lines += *p == '\n';
    CHECK (lines == 6, "csv: %d lines (header + 4 cells + 1 in a quoted param)", lines);
    free (csv);

    char *tab = report_str (st, run, OFR_REPORT_TABLE, 0);
    expect_in (tab, "unit-run (running), 4 cells", "table title");
    expect_in (tab, "model    suite      method   params", "table header");
    expect_in (tab, "accuracy 70.00", "table accuracy");
    expect_in (tab, "0.575", "table rel FLOPs");
    expect_in (tab, "16666666666666666.000", "table rel FLOPs of cell 3");
    expect_in (tab, "2.00x", "table speed-up");
    expect_in (tab, "2.30", "table mean exit");
    expect_in (tab, "██▆▆", "table exit histogram of cell 1");
    expect_in (tab, "··█", "table exit histogram of cell 0");
    expect_in (tab, "6/10", "table n/total");
    expect_in (tab, "κ=1\\x0a ", "table: control characters escaped");
    int rows = 0;
    for (const char *p = tab; p && *p; p++)
        rows += *p == '\n';
    CHECK (rows == 7, "table: %d lines (title, header, 4 cells, 1 note)", rows);
    expect_in (tab, "cell 3 (full): failed: boom", "table failure note");
    free (tab);
}

/* ------------------------------------------------------------------ */

static bool
same_str (const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp (a, b) == 0);
}

static bool
cells_equal (const ofr_cell *a, const ofr_cell *b)
{
    if (a->index != b->index || !same_str (a->model, b->model) || !same_str (a->suite, b->suite)
        || !same_str (a->split, b->split) || a->limit != b->limit
        || !same_str (a->method, b->method) || a->n_params != b->n_params
        || a->batch_size != b->batch_size || a->seed != b->seed)
        return false;
    for (int i = 0; i < a->n_params; i++)
        if (!same_str (a->params[i].key, b->params[i].key)
            || !same_str (a->params[i].value, b->params[i].value))
            return false;
    return true;
}

static void
check_run_load (ofr_store *st, int64_t run)
{
    char err[OFR_ERRLEN] = "", *name = NULL;
    ofr_cell *cells = NULL;
    int *totals = NULL, n = -1;
    int rc = ofr_store_run_load (st, run, &name, &cells, &totals, &n, err, sizeof err);
    CHECK (rc == 0, "run_load: %s", err);
    CHECK (n == 4, "run_load: %d cells", n);
    CHECK (name && strcmp (name, "unit-run") == 0, "run_load name %s", name ? name : "(null)");
    for (int i = 0; rc == 0 && i < n && i < 4; i++) {
        CHECK (cells_equal (&cells[i], &s_cells[i]), "run_load: cell %d differs", i);
        CHECK (totals[i] == s_totals[i], "run_load: total %d: %d", i, totals[i]);
    }
    for (int i = 0; i < n; i++)
        ofr_cell_clear (&cells[i]);
    free (cells);
    free (totals);
    free (name);
    rc = ofr_store_run_load (st, run + 100, &name, &cells, &totals, &n, err, sizeof err);
    CHECK (rc == -1 && strstr (err, "no run"), "run_load of unknown run: %s", err);
    CHECK (!name && !cells && !totals && n == 0, "run_load failure leaves outputs empty");
}

typedef struct { int n; int examples[16]; } collected;

static void
collect (void *arg, int example)
{
    collected *c = arg;
    if (c->n < 16)
        c->examples[c->n] = example;
    c->n++;
}

static void
check_records (ofr_store *st, int64_t run)
{
    spec specs[64];
    make_specs (specs);
    /* A re-delivered record with different contents must not count. */
    spec dup = specs[3];
    dup.stats[0] = 1 - dup.stats[0];
    dup.flops = 999;
    int inserted = -1;
    put_spec (st, run, &dup, &inserted);
    CHECK (inserted == 0, "duplicate (0, 3): inserted = %d", inserted);
    put_spec (st, run, &specs[25], &inserted);
    CHECK (inserted == 0, "duplicate (2, 5): inserted = %d", inserted);

    collected c = { 0 };
    char err[OFR_ERRLEN] = "";
    int rc = ofr_store_done_examples (st, run, 2, collect, &c, err, sizeof err);
    CHECK (rc == 0 && c.n == 6, "done_examples cell 2: rc %d, %d examples: %s", rc, c.n, err);
    for (int i = 0; i < 6 && i < c.n; i++)
        CHECK (c.examples[i] == i, "done_examples order: [%d] = %d", i, c.examples[i]);
    c.n = 0;
    rc = ofr_store_done_examples (st, run + 1, 2, collect, &c, err, sizeof err);
    CHECK (rc == 0 && c.n == 0, "done_examples of another run: %d", c.n);

    ofr_record bad = { .cell = 0, .example = 1, .n_stats = 2, .stats = NULL };
    rc = ofr_store_put_record (st, run, &bad, "w", &inserted, err, sizeof err);
    CHECK (rc == -1 && strstr (err, "bad sizes"), "record with NULL stats: %s", err);
}

/*  tasks, workers and events, read back with a second connection as the
    integration tests and users of the sqlite3 shell would. */
static void
check_journal (ofr_store *st, int64_t run, const char *path)
{
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_store_task_log (st, run, 7, 1, 64, "w1", "running", NULL, err, sizeof err) == 0,
           "task_log: %s", err);
    CHECK (ofr_store_task_log (st, run, 7, 1, 64, "w1", "failed", "signal 11", err,
                               sizeof err) == 0, "task_log: %s", err);
    CHECK (ofr_store_task_log (st, run, 8, 2, 32, "w2", "done", NULL, err, sizeof err) == 0,
           "task_log: %s", err);
    CHECK (ofr_store_worker_log (st, run, 1, "w1", "host-a", 4242, 2, "alive", err,
                                 sizeof err) == 0, "worker_log: %s", err);
    CHECK (ofr_store_worker_log (st, run, 1, "w1", "host-a", 4242, 2, "dead", err,
                                 sizeof err) == 0, "worker_log: %s", err);
    CHECK (ofr_store_event (st, run, OFR_WARN, "worker w1 died", err, sizeof err) == 0,
           "event: %s", err);
    CHECK (ofr_store_cell_status (st, run, 3, "failed", "boom: \"x\"", err, sizeof err) == 0,
           "cell_status: %s", err);
    CHECK (ofr_store_cell_status (st, run, 0, "done", NULL, err, sizeof err) == 0,
           "cell_status: %s", err);
    CHECK (ofr_store_cell_status (st, run, 1, "done", NULL, err, sizeof err) == 0,
           "cell_status: %s", err);
    CHECK (ofr_store_cell_status (st, run, 9, "done", NULL, err, sizeof err) == -1
           && strstr (err, "no such row"), "cell_status of a missing cell: %s", err);
    CHECK (ofr_store_run_finish (st, run + 50, "done", err, sizeof err) == -1,
           "run_finish of a missing run succeeded");

    sqlite3 *db = NULL;
    REQUIRE (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "reopen");
    const char *queries[][2] = {
        { "SELECT status || '|' || reason || '|' || (ended IS NOT NULL) || '|' || cell "
          "FROM tasks WHERE id = 7", "failed|signal 11|1|1" },
        { "SELECT status || '|' || (ended >= started) FROM tasks WHERE id = 8", "done|1" },
        { "SELECT state || '|' || host || '|' || pid || '|' || (left IS NOT NULL) "
          "FROM workers WHERE id = 1", "dead|host-a|4242|1" },
        { "SELECT level || '|' || text FROM events", "2|worker w1 died" },
        { "SELECT status || '|' || reason FROM cells WHERE idx = 3", "failed|boom: \"x\"" },
        { "SELECT n_layers FROM cells WHERE idx = 1", "4" },
        { "SELECT pred_text || '|' || length(token_exits) || '|' || length(stats) || '|' || "
          "worker FROM examples WHERE cell = 2 AND example = 0", "generated ✓|3|8|worker-1" },
        { "SELECT hex(stats) FROM examples WHERE cell = 3 AND example = 0",
          "000000000000F03F0000000000000040" },
        { "SELECT count(*) FROM examples", "29" },
        { "PRAGMA journal_mode", "wal" },
        { "PRAGMA user_version", "2" },
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        sqlite3_stmt *q = NULL;
        const char *got = NULL;
        if (sqlite3_prepare_v2 (db, queries[i][0], -1, &q, NULL) == SQLITE_OK
            && sqlite3_step (q) == SQLITE_ROW)
            got = (const char *) sqlite3_column_text (q, 0);
        CHECK (got && strcmp (got, queries[i][1]) == 0, "%s: got '%s', want '%s' (%s)",
               queries[i][0], got ? got : "(null)", queries[i][1], sqlite3_errmsg (db));
        sqlite3_finalize (q);
    }
    sqlite3_close (db);
}

static void
check_mode_0600 (const char *path)
{
    struct stat sb;
    CHECK (stat (path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "%s: mode %o, want 600",
           path, (unsigned) (sb.st_mode & 0777));
    char wal[600];
    snprintf (wal, sizeof wal, "%s-wal", path);
    if (stat (wal, &sb) == 0)
        CHECK ((sb.st_mode & 0777) == 0600, "%s: mode %o, want 600", wal,
               (unsigned) (sb.st_mode & 0777));
}

/*  Same records, different order and a different run id: same report. */
static void
check_determinism (const char *json_a, uint64_t order, const char *file)
{
    char err[OFR_ERRLEN] = "";
    ofr_store *st = NULL;
    REQUIRE (ofr_store_open (path_in_dir (file), &st, err, sizeof err) == 0, "%s", err);
    int64_t other = create_run (st);   /* so that run ids differ */
    REQUIRE (ofr_store_begin (st, err, sizeof err) == 0, "%s", err);
    int64_t run = create_run (st);     /* inside a transaction: a savepoint */
    REQUIRE (ofr_store_commit (st, err, sizeof err) == 0, "%s", err);
    CHECK (run == other + 1, "run ids %lld, %lld", (long long) other, (long long) run);
    fill (st, run, order);
    ofr_store_cell_status (st, run, 3, "failed", "boom: \"x\"", err, sizeof err);
    ofr_store_cell_status (st, run, 0, "done", NULL, err, sizeof err);
    ofr_store_cell_status (st, run, 1, "done", NULL, err, sizeof err);
    char *json_b = report_str (st, run, OFR_REPORT_JSON, OFR_REPORT_NO_TIMING | OFR_REPORT_NO_RUN_ID);
    CHECK (json_a && json_b && strcmp (json_a, json_b) == 0,
           "reports differ across insertion orders (%s):\n%s\n---\n%s", file, json_a, json_b);
    CHECK (json_b && !strstr (json_b, "wall_ms_mean") && !strstr (json_b, "speedup")
           && !strstr (json_b, "\"run\""), "comparable JSON has timing or run id");
    char *timed = report_str (st, run, OFR_REPORT_JSON, 0);
    char head[64];
    snprintf (head, sizeof head, "{\"run\":%lld,\"name\"", (long long) run);
    CHECK (timed && strncmp (timed, head, strlen (head)) == 0, "run id head: %.40s", timed);
    free (timed);
    free (json_b);
    ofr_store_destroy (&st);
    CHECK (st == NULL, "destroy must clear the pointer");
}

/*  The report command end to end; stdout goes to a file meanwhile. */
static int
run_cmd (const char *out_file, int argc, char **argv)
{
    fflush (stdout);
    int saved = dup (1);
    int fd = open (out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE (saved >= 0 && fd >= 0 && dup2 (fd, 1) == 1, "redirect stdout");
    close (fd);
    int rc = ofr_cmd_report (argc, argv);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    return rc;
}

static void
check_command (const char *db, const char *json_comparable)
{
    char *out = path_in_dir ("cmd.out"), *data = NULL, err[OFR_ERRLEN];
    char *ok[] = { "report", "--db", (char *) db, "--format", "json", "--comparable", NULL };
    CHECK (run_cmd (out, 6, ok) == 0, "report --comparable failed");
    CHECK (ofr_read_file (out, &data, NULL, err, sizeof err) == 0
           && strcmp (data, json_comparable) == 0, "command output differs:\n%s",
           data ? data : err);
    free (data);
    char *csv[] = { "report", "--db", (char *) db, "--run", "1", "--format", "csv", NULL };
    CHECK (run_cmd (out, 7, csv) == 0, "report --format csv failed");
    char *unknown[] = { "report", "--db", (char *) db, "--run", "99", NULL };
    CHECK (run_cmd (out, 5, unknown) == 1, "unknown run must exit 1");
    char *missing[] = { "report", "--db", path_in_dir ("nope.sqlite"), NULL };
    CHECK (run_cmd (out, 3, missing) == 1, "missing file must exit 1");
    CHECK (access (path_in_dir ("nope.sqlite"), F_OK) != 0, "report created a missing file");
    char *badfmt[] = { "report", "--db", (char *) db, "--format", "xml", NULL };
    CHECK (run_cmd (out, 5, badfmt) == 2, "bad format must exit 2");
    char *help[] = { "report", "--help", NULL };
    CHECK (run_cmd (out, 2, help) == 0, "--help must exit 0");
    CHECK (ofr_read_file (out, &data, NULL, err, sizeof err) == 0
           && strstr (data, "usage: offramp report"), "--help prints usage");
    free (data);
}

static void
check_open_errors (void)
{
    char err[OFR_ERRLEN] = "";
    ofr_store *st = NULL;
    /* An empty file has no run. */
    REQUIRE (ofr_store_open (path_in_dir ("empty.sqlite"), &st, err, sizeof err) == 0, "%s", err);
    int64_t run = 0;
    CHECK (ofr_store_latest_run (st, &run, err, sizeof err) == -1 && run == -1
           && strstr (err, "no run"), "latest_run on an empty file: %s", err);
    CHECK (ofr_store_report (st, 1, OFR_REPORT_JSON, stdout, err, sizeof err) == -1
           && strstr (err, "no run 1"), "report of a missing run: %s", err);
    ofr_store_destroy (&st);

    /* A schema-1 file (no examples.skipped) is upgraded in place. */
    sqlite3 *db = NULL;
    REQUIRE (sqlite3_open (path_in_dir ("v1.sqlite"), &db) == SQLITE_OK, "sqlite3_open v1");
    sqlite3_exec (db, "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                  "plan_text TEXT, started REAL NOT NULL, finished REAL, status TEXT NOT NULL);"
                  "CREATE TABLE examples (run INTEGER NOT NULL, cell INTEGER NOT NULL, "
                  "example INTEGER NOT NULL, prediction REAL, pred_text TEXT, stats BLOB, "
                  "exit_layer INTEGER, token_exits BLOB, n_layers INTEGER, flops REAL, "
                  "flops_full REAL, wall_ms REAL, worker TEXT, PRIMARY KEY (run, cell, example));"
                  "INSERT INTO examples (run, cell, example) VALUES (1, 0, 0);"
                  "PRAGMA user_version = 1", NULL, NULL, NULL);
    sqlite3_close (db);
    REQUIRE (ofr_store_open (path_in_dir ("v1.sqlite"), &st, err, sizeof err) == 0, "v1: %s", err);
    ofr_store_destroy (&st);
    REQUIRE (sqlite3_open (path_in_dir ("v1.sqlite"), &db) == SQLITE_OK, "sqlite3_open v1");
    sqlite3_stmt *q = NULL;
    CHECK (sqlite3_prepare_v2 (db, "SELECT skipped FROM examples", -1, &q, NULL) == SQLITE_OK
           && sqlite3_step (q) == SQLITE_ROW && sqlite3_column_int (q, 0) == 0,
           "v1 file not upgraded: %s", sqlite3_errmsg (db));
    sqlite3_finalize (q);
    sqlite3_close (db);

    /* A newer schema is refused with a clear message. */
    db = NULL;
    REQUIRE (sqlite3_open (path_in_dir ("empty.sqlite"), &db) == SQLITE_OK, "sqlite3_open");
    sqlite3_exec (db, "PRAGMA user_version = 9", NULL, NULL, NULL);
    sqlite3_close (db);
    CHECK (ofr_store_open (path_in_dir ("empty.sqlite"), &st, err, sizeof err) == -1
           && strstr (err, "version 9 is newer") && strstr (err, "empty.sqlite") && !st,
           "newer schema: %s", err);

    /* Not a database, and not ours. */
    FILE *f = fopen (path_in_dir ("text.sqlite"), "w");
    REQUIRE (f && fputs ("hello, this is not SQLite at all, just some text.\n", f) >= 0
             && fclose (f) == 0, "write text file");
    CHECK (ofr_store_open (path_in_dir ("text.sqlite"), &st, err, sizeof err) == -1
           && strstr (err, "text.sqlite") && strstr (err, "not a database"),
           "text file: %s", err);
    REQUIRE (sqlite3_open (path_in_dir ("other.sqlite"), &db) == SQLITE_OK, "sqlite3_open");
    sqlite3_exec (db, "CREATE TABLE t (x)", NULL, NULL, NULL);
    sqlite3_close (db);
    CHECK (ofr_store_open_existing (path_in_dir ("other.sqlite"), &st, err, sizeof err) == -1
           && strstr (err, "not an offramp results file"), "foreign db: %s", err);
    CHECK (ofr_store_open_existing (path_in_dir ("missing.sqlite"), &st, err, sizeof err) == -1
           && strstr (err, "missing.sqlite") && strstr (err, "No such file"),
           "missing file: %s", err);
    CHECK (ofr_store_open (path_in_dir ("no/such/dir.sqlite"), &st, err, sizeof err) == -1
           && strstr (err, "cannot create"), "bad directory: %s", err);

    /* A failed run_create leaves nothing behind. */
    REQUIRE (ofr_store_open (path_in_dir ("c.sqlite"), &st, err, sizeof err) == 0, "%s", err);
    ofr_cell bad[2] = { s_cells[0], s_cells[1] };
    bad[1].model = NULL;
    int64_t id = -7;
    CHECK (ofr_store_run_create (st, "bad", NULL, bad, s_totals, 2, &id, err, sizeof err) == -1
           && id == -7 && strstr (err, "cell 1"), "run_create with a bad cell: %s", err);
    CHECK (ofr_store_latest_run (st, &run, err, sizeof err) == -1, "failed run was kept");
    ofr_store_destroy (&st);
}

int
main (void)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/ofr-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    REQUIRE (mkdtemp (s_dir) != NULL, "mkdtemp %s: %s", s_dir, strerror (errno));
    ofr_log_setup ("test_store", OFR_ERROR);   /* the unknown-suite warning is expected */

    char err[OFR_ERRLEN] = "";
    const char *path = path_in_dir ("a.sqlite");
    ofr_store *st = NULL;
    mode_t old = umask (0);                    /* 0600 must not depend on the umask */
    int rc = ofr_store_open (path, &st, err, sizeof err);
    umask (old);
    REQUIRE (rc == 0 && st, "open %s: %s", path, err);
    int64_t run = create_run (st);
    fill (st, run, 0);
    check_mode_0600 (path);
    check_run_load (st, run);
    check_records (st, run);
    check_journal (st, run, path);

    char *json = report_str (st, run, OFR_REPORT_JSON, 0);
    if (getenv ("OFR_TEST_VERBOSE")) {   /* to see what users see */
        char e[OFR_ERRLEN];
        ofr_store_report (st, run, OFR_REPORT_TABLE, stdout, e, sizeof e);
        ofr_store_report (st, run, OFR_REPORT_CSV, stdout, e, sizeof e);
        printf ("%s", json);
    }
    check_json_numbers (json);
    check_json_python (json);
    check_csv_table (st, run);
    char *comparable = report_str (st, run, OFR_REPORT_JSON,
                                   OFR_REPORT_NO_TIMING | OFR_REPORT_NO_RUN_ID);
    ofr_store_destroy (&st);

    /* Reopen: everything is still there, and the report is unchanged. */
    REQUIRE (ofr_store_open (path, &st, err, sizeof err) == 0, "reopen: %s", err);
    int64_t latest = -1;
    CHECK (ofr_store_latest_run (st, &latest, err, sizeof err) == 0 && latest == run,
           "latest run after reopen: %lld (%s)", (long long) latest, err);
    check_run_load (st, run);
    char *again = report_str (st, run, OFR_REPORT_JSON, 0);
    CHECK (json && again && strcmp (json, again) == 0, "report changed after reopen");
    CHECK (ofr_store_run_finish (st, run, "done", err, sizeof err) == 0, "finish: %s", err);
    ofr_store_destroy (&st);
    check_mode_0600 (path);

    check_determinism (comparable, 1, "forward.sqlite");
    check_determinism (comparable, 12345, "shuffled.sqlite");
    check_command (path, comparable);
    check_open_errors ();

    free (json);
    free (again);
    free (comparable);
    if (s_failures == 0) {
        char cmd[400];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
        if (system (cmd) != 0)
            fprintf (stderr, "note: could not remove %s\n", s_dir);
        printf ("test_store: all checks passed\n");
    } else {
        fprintf (stderr, "test_store: %d check(s) failed (files kept in %s)\n", s_failures, s_dir);
    }
    return s_failures ? 1 : 0;
}
