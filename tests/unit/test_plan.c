/*  test_plan.c -- plans from YAML and from flags: cell enumeration order,
    sweep expansion, error messages (file:line + what), text round trip. */
#include "harness/plan.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fprintf (stderr, "\n");                                        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static ofr_plan *
load (const char *yaml, const char *origin, char *err)
{
    ofr_plan *p = NULL;
    int rc = ofr_plan_load_string (yaml, strlen (yaml), origin, &p, err, OFR_ERRLEN);
    CHECK ((rc == 0) == (p != NULL), "rc %d vs plan %p", rc, (void *) p);
    return p;
}

/* "model|suite|split|limit|method|k=v,k=v" -- one line per cell. */
static char *
cell_str (const ofr_cell *c)
{
    char *params = ofr_cell_params_str (c);
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s|%s|%s|%d|%s|%s", c->model, c->suite, c->split, c->limit,
                    c->method, params ? params : "?");
    free (params);
    return b.data;
}

static void
expect_cells (const ofr_plan *p, const char *const *want, int n, const char *what)
{
    CHECK (ofr_plan_n_cells (p) == n, "%s: %d cells, want %d", what, ofr_plan_n_cells (p), n);
    for (int i = 0; i < n && i < ofr_plan_n_cells (p); i++) {
        char *got = cell_str (ofr_plan_cell (p, i));
        CHECK (got && strcmp (got, want[i]) == 0, "%s: cell %d is '%s', want '%s'",
               what, i, got ? got : "(oom)", want[i]);
        CHECK (ofr_plan_cell (p, i)->index == i, "%s: cell %d has index %d",
               what, i, ofr_plan_cell (p, i)->index);
        free (got);
    }
}

/* Same cells in the same order, every field. */
static void
expect_same_cells (const ofr_plan *a, const ofr_plan *b, const char *what)
{
    CHECK (ofr_plan_n_cells (a) == ofr_plan_n_cells (b), "%s: %d vs %d cells", what,
           ofr_plan_n_cells (a), ofr_plan_n_cells (b));
    for (int i = 0; i < ofr_plan_n_cells (a) && i < ofr_plan_n_cells (b); i++) {
        const ofr_cell *x = ofr_plan_cell (a, i), *y = ofr_plan_cell (b, i);
        char *sx = cell_str (x), *sy = cell_str (y);
        CHECK (sx && sy && strcmp (sx, sy) == 0, "%s: cell %d '%s' vs '%s'", what, i,
               sx ? sx : "?", sy ? sy : "?");
        CHECK (x->index == y->index && x->batch_size == y->batch_size && x->seed == y->seed,
               "%s: cell %d index/batch/seed differ", what, i);
        free (sx);
        free (sy);
    }
}

static void
expect_error (const char *yaml, const char *prefix, const char *substr)
{
    char err[OFR_ERRLEN] = "";
    ofr_plan *p = NULL;
    int rc = ofr_plan_load_string (yaml, strlen (yaml), "plan.yaml", &p, err, sizeof err);
    CHECK (rc == -1 && p == NULL, "plan loaded but should fail with '%s'", substr);
    CHECK (strncmp (err, prefix, strlen (prefix)) == 0 && strstr (err, substr),
           "error '%s', want prefix '%s' and '%s'", err, prefix, substr);
    ofr_plan_destroy (&p);
}

static void
test_sweep (void)
{
    const char *yaml =
        "name: sweep-demo\n"                                 /* 1 */
        "settings:\n"                                        /* 2 */
        "  batch_size: 8\n"                                  /* 3 */
        "  shard_size: 32\n"                                 /* 4 */
        "  seed: 7\n"                                        /* 5 */
        "models: [testnet, org/model:v1.2]\n"                /* 6 */
        "suites:\n"                                          /* 7 */
        "  - synthetic\n"                                    /* 8 */
        "  - {name: rte, split: train, limit: 100}\n"        /* 9 */
        "methods:\n"                                         /* 10 */
        "  - full\n"                                         /* 11 */
        "  - name: entropy\n"                                /* 12 */
        "    params:\n"                                      /* 13 */
        "      threshold: [0.1, \"0.20\", 3e-1]\n"           /* 14 */
        "      min_layer: 1\n"                               /* 15 */
        "      strict: [true, 'no']\n";                      /* 16 */
    static const char *const per_pair[] = {
        "full|",
        "entropy|threshold=0.1,min_layer=1,strict=true",
        "entropy|threshold=0.1,min_layer=1,strict=no",
        "entropy|threshold=0.20,min_layer=1,strict=true",
        "entropy|threshold=0.20,min_layer=1,strict=no",
        "entropy|threshold=3e-1,min_layer=1,strict=true",
        "entropy|threshold=3e-1,min_layer=1,strict=no",
    };
    static const char *const pairs[] = {
        "testnet|synthetic|dev|0", "testnet|rte|train|100",
        "org/model:v1.2|synthetic|dev|0", "org/model:v1.2|rte|train|100",
    };
    char *want[28];
    for (int i = 0; i < 28; i++) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s|%s", pairs[i / 7], per_pair[i % 7]);
        want[i] = b.data;
    }
    char err[OFR_ERRLEN];
    ofr_plan *p = load (yaml, "plans/x.yaml", err);
    CHECK (p, "sweep plan: %s", err);
    if (p) {
        expect_cells (p, (const char *const *) want, 28, "sweep");
        CHECK (strcmp (ofr_plan_name (p), "sweep-demo") == 0, "name %s", ofr_plan_name (p));
        CHECK (strcmp (ofr_plan_origin (p), "plans/x.yaml") == 0, "origin");
        CHECK (ofr_plan_shard_size (p) == 32, "shard %d", ofr_plan_shard_size (p));
        CHECK (strcmp (ofr_plan_text (p), yaml) == 0, "text is not the source");
        for (int i = 0; i < 28; i++) {
            const ofr_cell *c = ofr_plan_cell (p, i);
            CHECK (c->batch_size == 8 && c->seed == 7, "cell %d batch %d seed %llu", i,
                   c->batch_size, (unsigned long long) c->seed);
            int line = ofr_plan_cell_line (p, i);
            CHECK (line == (i % 7 == 0 ? 11 : 12), "cell %d line %d", i, line);
        }
        CHECK (ofr_plan_cell (p, 28) == NULL && ofr_plan_cell (p, -1) == NULL, "bounds");
        /* Exact key/value strings of one cell, not just the joined form. */
        const ofr_cell *c = ofr_plan_cell (p, 4);
        CHECK (c->n_params == 3 && !strcmp (c->params[0].key, "threshold")
               && !strcmp (c->params[0].value, "0.20") && !strcmp (c->params[2].value, "no"),
               "cell 4 params");
        CHECK (ofr_plan_cell (p, 0)->n_params == 0 && ofr_plan_cell (p, 0)->params == NULL,
               "full has no params");
    }
    ofr_plan_destroy (&p);
    CHECK (p == NULL, "destroy clears the pointer");
    ofr_plan_destroy (&p);
    for (int i = 0; i < 28; i++)
        free (want[i]);
}

static void
test_styles (void)
{
    const char *block =
        "models:\n"
        "  - testnet\n"
        "  - name: testnet-L3\n"
        "suites:\n"
        "  - name: synthetic\n"
        "    limit: 10\n"
        "methods:\n"
        "  - name: patience\n"
        "    params:\n"
        "      patience:\n"
        "        - 1\n"
        "        - 2\n"
        "      layer: \"4\"\n";
    const char *flow =
        "{models: [testnet, {name: testnet-L3}], suites: [{name: synthetic, limit: 10}],\n"
        " methods: [{name: patience, params: {patience: [1, 2], layer: '4'}}]}\n";
    static const char *const want[] = {
        "testnet|synthetic|dev|10|patience|patience=1,layer=4",
        "testnet|synthetic|dev|10|patience|patience=2,layer=4",
        "testnet-L3|synthetic|dev|10|patience|patience=1,layer=4",
        "testnet-L3|synthetic|dev|10|patience|patience=2,layer=4",
    };
    char err[OFR_ERRLEN];
    ofr_plan *a = load (block, "dir/block-style.yml", err);
    CHECK (a, "block: %s", err);
    ofr_plan *b = load (flow, "flow", err);
    CHECK (b, "flow: %s", err);
    if (a && b) {
        expect_cells (a, want, 4, "block");
        expect_same_cells (a, b, "flow vs block");
        CHECK (strcmp (ofr_plan_name (a), "block-style") == 0, "default name %s",
               ofr_plan_name (a));
        CHECK (ofr_plan_cell (a, 0)->batch_size == 16 && ofr_plan_cell (a, 0)->seed == 1
               && ofr_plan_shard_size (a) == 64, "defaults");
    }
    ofr_plan_destroy (&a);
    ofr_plan_destroy (&b);
}

static void
test_bad_plans (void)
{
    /* Whole messages where the wording is part of the contract. */
    char err[OFR_ERRLEN];
    ofr_plan *p = NULL;
    const char *typo = "name: x\nsettings: {seed: 1}\nmodles: [a]\n";
    ofr_plan_load_string (typo, strlen (typo), "plan.yaml", &p, err, sizeof err);
    CHECK (strcmp (err, "plan.yaml:3: unknown key 'modles' (expected one of: name, "
                   "settings, models, suites, methods)") == 0, "got '%s'", err);
    const char *missing = "suites: [s]\nmethods: [m]\n";
    ofr_plan_load_string (missing, strlen (missing), "plan.yaml", &p, err, sizeof err);
    CHECK (strcmp (err, "plan.yaml:1: models: required") == 0, "got '%s'", err);
    const char *nested =
        "models: [a]\nsuites: [s]\nmethods:\n  - full\n  - name: entropy\n"
        "    params:\n      threshold: {a: 1}\n";
    ofr_plan_load_string (nested, strlen (nested), "plan.yaml", &p, err, sizeof err);
    CHECK (strcmp (err, "plan.yaml:7: methods[1].params.threshold: expected a scalar "
                   "or a list of scalars") == 0, "got '%s'", err);
    CHECK (p == NULL, "no plan on error");

    expect_error ("models: [a\nsuites: [s]\nmethods: [m]\n", "plan.yaml:2:",
                  "YAML syntax error");
    expect_error ("models: [a]\nsuites: x: y\n", "plan.yaml:2:",
                  "mapping values are not allowed");
    expect_error ("models: [a]\nsuites: [s]\nmethods: [m]\nmodels: [b]\n", "plan.yaml:4:",
                  "duplicate key 'models'");
    expect_error ("models: []\nsuites: [s]\nmethods: [m]\n", "plan.yaml:1:",
                  "models: expected a non-empty list");
    expect_error ("settings:\n  batch_size: 0\nmodels: [a]\nsuites: [s]\nmethods: [m]\n",
                  "plan.yaml:2:", "settings.batch_size: expected an integer in 1..4096");
    expect_error ("settings:\n  seed: 1\n  shard_size: 100001\nmodels: [a]\nsuites: [s]\n"
                  "methods: [m]\n", "plan.yaml:3:",
                  "settings.shard_size: expected an integer in 1..100000");
    expect_error ("settings: {seed: -1}\nmodels: [a]\nsuites: [s]\nmethods: [m]\n",
                  "plan.yaml:1:", "settings.seed: expected an integer >= 0");
    expect_error ("settings: {batch_size: sixteen}\nmodels: [a]\nsuites: [s]\nmethods: [m]\n",
                  "plan.yaml:1:", "settings.batch_size: expected an integer");
    expect_error ("settings: [1]\nmodels: [a]\nsuites: [s]\nmethods: [m]\n",
                  "plan.yaml:1:", "settings: expected a mapping");
    expect_error ("models: [a]\nsuites:\n  - s\n  - {name: t, limit: -5}\nmethods: [m]\n",
                  "plan.yaml:4:", "suites[1].limit: expected an integer >= 0");
    expect_error ("models: [a]\nsuites:\n  - {name: t, splt: dev}\nmethods: [m]\n",
                  "plan.yaml:3:",
                  "suites[0]: unknown key 'splt' (expected one of: name, split, limit)");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      threshold: []\n", "plan.yaml:6:",
                  "methods[0].params.threshold: empty sweep list");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      threshold: [[1, 2]]\n", "plan.yaml:6:",
                  "methods[0].params.threshold: expected a scalar or a list of scalars");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      min_layer:\n", "plan.yaml:6:", "methods[0].params.min_layer: empty value");
    expect_error ("models:\n  - ok\n  - my model\nsuites: [s]\nmethods: [m]\n", "plan.yaml:3:",
                  "models[1]: invalid name 'my model' (expected [A-Za-z0-9_.:/+-]+)");
    expect_error ("models: [a, a]\nsuites: [s]\nmethods: [m]\n", "plan.yaml:1:",
                  "models[1]: duplicate model 'a'");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - ../evil\n", "plan.yaml:4:",
                  "methods[0]: invalid name '../evil'");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      Threshold: 1\n", "plan.yaml:6:",
                  "methods[0].params: invalid parameter name 'Threshold' (expected [a-z0-9_]+)");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      t: 1\n      t: 2\n", "plan.yaml:7:",
                  "methods[0].params: duplicate key 't'");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params: [1, 2]\n",
                  "plan.yaml:5:", "methods[0].params: expected a mapping");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - params: {t: 1}\n", "plan.yaml:4:",
                  "methods[0].name: required");
    expect_error ("models: [a]\nsuites: [s]\nmethods: [[m]]\n", "plan.yaml:3:",
                  "methods[0]: expected a name or a mapping");
    expect_error ("", "plan.yaml:1:", "the plan is empty");
    expect_error ("- a\n- b\n", "plan.yaml:1:", "expected a mapping at the top level");
    expect_error ("models: [a]\nsuites: [s]\nmethods: [m]\n---\nmodels: [b]\n", "plan.yaml:4:",
                  "expected a single YAML document");
    expect_error ("models: [a]\nsuites: [s]\nmethods: [\"m\xff\"]\n", "plan.yaml:3:",
                  "YAML syntax error: invalid");
    expect_error ("models: [a]\nsuites: [\"s\\0x\"]\nmethods: [m]\n", "plan.yaml:2:",
                  "suites[0]: expected a name");
    expect_error ("models: [a]\nsuites: [s]\nmethods:\n  - name: e\n    params:\n"
                  "      a: [1,2,3,4,5,6,7,8,9,10]\n      b: [1,2,3,4,5,6,7,8,9,10]\n"
                  "      c: [1,2,3,4,5,6,7,8,9,10]\n      d: [1,2,3,4,5,6,7,8,9,10]\n"
                  "      e: [1,2,3,4,5,6,7,8,9,10]\n      f: [1,2,3,4,5,6,7,8,9,10]\n",
                  "plan.yaml: ", "more than 100000 cells");
    expect_error ("name: 'a b'\nmodels: [a]\nsuites: [s]\nmethods: [m]\n", "plan.yaml:1:",
                  "name: expected a name");
    expect_error ("models: [a]\nsuites: [*x]\nmethods: [m]\n", "plan.yaml:2:",
                  "undefined alias");
}

static void
test_limit_override (void)
{
    const char *yaml = "models: [a]\nsuites: [s, {name: t, limit: 30}]\nmethods: [m, n]\n";
    char err[OFR_ERRLEN];
    ofr_plan *p = load (yaml, "limit.yaml", err);
    CHECK (p, "%s", err);
    if (!p)
        return;
    CHECK (ofr_plan_cell (p, 0)->limit == 0 && ofr_plan_cell (p, 2)->limit == 30, "file limits");
    ofr_plan_set_limit (p, 0);
    CHECK (ofr_plan_cell (p, 0)->limit == 0 && ofr_plan_cell (p, 3)->limit == 30, "0 keeps");
    ofr_plan_set_limit (p, 5);
    for (int i = 0; i < ofr_plan_n_cells (p); i++)
        CHECK (ofr_plan_cell (p, i)->limit == 5, "cell %d limit %d", i,
               ofr_plan_cell (p, i)->limit);
    ofr_plan_destroy (&p);
}

static void
test_from_args (void)
{
    const char *methods[] = { "full", "entropy:threshold=0.1|0.2,min_layer=2", "maxprob:t=\"q\\" };
    char err[OFR_ERRLEN];
    ofr_plan *p = NULL;
    int rc = ofr_plan_from_args ("testnet,org/m:v1", "synthetic,rte:train", methods, 3, 50,
                                 &p, err, sizeof err);
    CHECK (rc == 0 && p, "from_args: %s", err);
    if (!p)
        return;
    static const char *const first[] = {
        "testnet|synthetic|dev|50|full|",
        "testnet|synthetic|dev|50|entropy|threshold=0.1,min_layer=2",
        "testnet|synthetic|dev|50|entropy|threshold=0.2,min_layer=2",
        "testnet|synthetic|dev|50|maxprob|t=\"q\\",
        "testnet|rte|train|50|full|",
    };
    CHECK (ofr_plan_n_cells (p) == 16, "%d cells", ofr_plan_n_cells (p));
    for (int i = 0; i < 5; i++) {
        char *got = cell_str (ofr_plan_cell (p, i));
        CHECK (got && strcmp (got, first[i]) == 0, "cell %d '%s' want '%s'", i, got, first[i]);
        free (got);
    }
    char *last = cell_str (ofr_plan_cell (p, 15));
    CHECK (last && strcmp (last, "org/m:v1|rte|train|50|maxprob|t=\"q\\") == 0, "last '%s'", last);
    free (last);
    CHECK (strcmp (ofr_plan_name (p), "adhoc") == 0 && ofr_plan_cell_line (p, 3) == 0,
           "name %s / line", ofr_plan_name (p));

    /* The stored text re-reads to identical cells. */
    const char *text = ofr_plan_text (p);
    ofr_plan *q = NULL;
    rc = ofr_plan_load_string (text, strlen (text), "stored", &q, err, sizeof err);
    CHECK (rc == 0, "re-parse of generated text: %s\n%s", err, text);
    if (q) {
        expect_same_cells (p, q, "round trip");
        CHECK (strcmp (ofr_plan_name (q), "adhoc") == 0, "round-trip name %s", ofr_plan_name (q));
        CHECK (ofr_plan_shard_size (q) == ofr_plan_shard_size (p), "shard size");
    }
    ofr_plan_destroy (&q);
    ofr_plan_destroy (&p);

    const char *one[] = { "palbert:q=0.5" };
    rc = ofr_plan_from_args ("m", "s", one, 1, 0, &p, err, sizeof err);
    CHECK (rc == 0 && p && ofr_plan_n_cells (p) == 1, "single: %s", err);
    if (p) {
        char *got = cell_str (ofr_plan_cell (p, 0));
        CHECK (got && strcmp (got, "m|s|dev|0|palbert|q=0.5") == 0, "'%s'", got);
        free (got);
        text = ofr_plan_text (p);
        CHECK (ofr_plan_load_string (text, strlen (text), "t", &q, err, sizeof err) == 0,
               "%s", err);
        if (q)
            expect_same_cells (p, q, "round trip single");
        ofr_plan_destroy (&q);
    }
    ofr_plan_destroy (&p);
}

static void
expect_args_error (const char *models, const char *suites, const char *method, int limit,
                   const char *want)
{
    char err[OFR_ERRLEN] = "";
    ofr_plan *p = NULL;
    const char *methods[] = { "full", method };
    int rc = ofr_plan_from_args (models, suites, methods, method ? 2 : 0, limit, &p, err,
                                 sizeof err);
    CHECK (rc == -1 && p == NULL, "should fail with '%s'", want);
    CHECK (strstr (err, want), "error '%s', want '%s'", err, want);
    ofr_plan_destroy (&p);
}

static void
test_from_args_errors (void)
{
    char err[OFR_ERRLEN];
    ofr_plan *p = NULL;
    const char *m[] = { "entropy:threshold" };
    ofr_plan_from_args ("a", "s", m, 1, 0, &p, err, sizeof err);
    CHECK (strcmp (err, "--method 'entropy:threshold': expected key=value") == 0, "'%s'", err);
    expect_args_error ("a", "s", "entropy:", 0, "--method 'entropy:': expected key=value");
    expect_args_error ("a", "s", "entropy:=1", 0, "--method 'entropy:=1': expected key=value");
    expect_args_error ("a", "s", "entropy:t=0.1||0.2", 0,
                       "--method 'entropy:t=0.1||0.2': empty value for 't'");
    expect_args_error ("a", "s", "entropy:t=", 0, "empty value for 't'");
    expect_args_error ("a", "s", "entropy:Thr=1", 0, "invalid parameter name 'Thr'");
    expect_args_error ("a", "s", "entropy:t=1,t=2", 0, "duplicate parameter 't'");
    expect_args_error ("a", "s", "x/y", 0, "--method 'x/y': invalid method name 'x/y'");
    expect_args_error ("a", "s", ":t=1", 0, "invalid method name ''");
    expect_args_error ("a", "s", "e:t=\x01", 0, "must be printable ASCII");
    expect_args_error ("a", "s", NULL, 0, "at least one method");
    expect_args_error ("a,,b", "s", "full", 0, "--model 'a,,b': empty name");
    expect_args_error ("a,b,a", "s", "full", 0, "duplicate model 'a'");
    expect_args_error ("a b", "s", "full", 0, "invalid model name 'a b'");
    expect_args_error (NULL, "s", "full", 0, "--model: required");
    expect_args_error ("a", "", "full", 0, "--suite: required");
    expect_args_error ("a", "sst2:", "full", 0, "--suite 'sst2:': invalid split ''");
    expect_args_error ("a", "s,x:y:z", "full", 0, "invalid split 'y:z'");
    expect_args_error ("a", "s,s:dev", "full", 0, "duplicate suite 's'");
    expect_args_error ("a", "s,", "full", 0, "--suite 's,': empty name");
    expect_args_error ("a", "s", "full", -1, "--limit -1: expected an integer >= 0");
}

static void
test_files (void)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    if (!src)
        src = ".";
    static const char *const files[] = { "compare-exits", "entropy-sweep", "smoke" };
    for (int i = 0; i < 3; i++) {
        ofr_buf path;
        ofr_buf_init (&path);
        ofr_buf_printf (&path, "%s/plans/%s.yaml", src, files[i]);
        char err[OFR_ERRLEN];
        ofr_plan *p = NULL;
        int rc = ofr_plan_load_file (path.data, &p, err, sizeof err);
        CHECK (rc == 0 && p && ofr_plan_n_cells (p) > 0, "%s", err);
        if (p)
            CHECK (strcmp (ofr_plan_origin (p), path.data) == 0, "origin");
        ofr_plan_destroy (&p);
        ofr_buf_free (&path);
    }
    char err[OFR_ERRLEN];
    ofr_plan *p = NULL;
    CHECK (ofr_plan_load_file ("no/such/plan.yaml", &p, err, sizeof err) == -1 && !p, "missing");
    CHECK (strstr (err, "no/such/plan.yaml: "), "'%s'", err);
}

int
main (void)
{
    test_sweep ();
    test_styles ();
    test_bad_plans ();
    test_limit_override ();
    test_from_args ();
    test_from_args_errors ();
    test_files ();
    if (failures) {
        fprintf (stderr, "test_plan: %d failure(s)\n", failures);
        return 1;
    }
    printf ("test_plan: ok\n");
    return 0;
}
