/*  test_plugin_host.c -- the plugin host: loading and refusing plugins
    (each refusal names the file and the rule), parameter resolution,
    directory scans, the default path, the listing host, and the shipped
    full / truncate methods plus the crash / sleepy test plugins driven
    through their callbacks with a hand-made batch.

    Needs the plugins built by cmake/modules/50-plugins.cmake; finds them
    through OFR_PLUGIN_DIR and OFR_BUILD_DIR (set by ctest). */
#include "workers/plugin_host.h"
#include "common/ofr_common.h"
#include "common/ofr_paths.h"
#include "harness/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_failures;

#define CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                     \
            fprintf (stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                 \
            fputc ('\n', stderr);                                          \
            s_failures++;                                                  \
        }                                                                  \
    } while (0)

static char s_plugins[1024], s_bad[1024], s_test_plugins[1024];

static void
path_in (char *buf, size_t n, const char *dir, const char *file)
{
    snprintf (buf, n, "%s/%s", dir, file);
}

static ofr_plugin *
load_ok (const char *dir, const char *file)
{
    char path[1200], err[OFR_ERRLEN] = "";
    path_in (path, sizeof path, dir, file);
    ofr_plugin *p = NULL;
    int rc = ofr_plugin_load (path, ofr_host_listing (), &p, err, sizeof err);
    CHECK (rc == 0 && p, "loading %s: %s", path, err);
    return p;
}

/* ---- Loading good plugins --------------------------------------------------- */

static void
test_load_full (void)
{
    ofr_plugin *p = load_ok (s_plugins, "full.so");
    if (!p)
        return;
    const ofr_method *m = ofr_plugin_method (p);
    CHECK (strcmp (m->name, "full") == 0, "name %s", m->name);
    CHECK (m->kinds == OFR_KIND_ALL, "kinds 0x%x", m->kinds);
    CHECK (m->n_params == 0, "n_params %d", m->n_params);
    CHECK (m->abi_major == OFR_ABI_MAJOR && m->abi_minor == OFR_ABI_MINOR, "abi");
    char path[1200], hex[65], err[OFR_ERRLEN];
    path_in (path, sizeof path, s_plugins, "full.so");
    CHECK (strcmp (ofr_plugin_path (p), path) == 0, "path %s", ofr_plugin_path (p));
    CHECK (ofr_sha256_file (path, hex, err, sizeof err) == 0, "%s", err);
    CHECK (strcmp (ofr_plugin_hash (p), hex) == 0, "hash %s vs %s", ofr_plugin_hash (p), hex);
    CHECK (strlen (ofr_plugin_hash (p)) == 64, "hash length");

    /* full never exits early: no after_layer, so the runtime keeps every row. */
    void *state = (void *) 1;
    CHECK (m->create (ofr_host_listing (), NULL, &state, err, sizeof err) == 0, "%s", err);
    CHECK (m->after_layer == NULL && m->before_layer == NULL, "full has layer callbacks");
    m->destroy (state);
    ofr_plugin_destroy (&p);
    CHECK (p == NULL, "destroy must clear the pointer");
    ofr_plugin_destroy (&p);   /* harmless twice */
}

/*  Drive truncate through n_layers layers with layer=`at`; returns the
    0-based layer where every row was told to exit, or -2 if rows exited
    at different layers, -1 if never. */
static int
truncate_exit_layer (const ofr_method *m, int at, int n_layers)
{
    char text[32], err[OFR_ERRLEN] = "";
    snprintf (text, sizeof text, "%d", at);
    ofr_kv kv = { .key = "layer", .value = text };
    ofr_params *params = NULL;
    if (ofr_params_new (m, &kv, 1, &params, err, sizeof err) != 0) {
        CHECK (0, "params layer=%d: %s", at, err);
        return -3;
    }
    void *state = NULL;
    CHECK (m->create (ofr_host_listing (), ofr_params_values (params), &state, err,
                      sizeof err) == 0, "create: %s", err);
    int row_ids[5] = { 0, 2, 3, 5, 7 };   /* rows 1, 4, 6 exited earlier */
    ofr_batch batch = { .struct_size = sizeof batch, .kind = OFR_KIND_ENCODER,
                        .batch_size = 8, .n_rows = 5, .row_ids = row_ids,
                        .n_layers = n_layers, .n_outputs = 2 };
    int exit_at = -1;
    CHECK (!m->begin || m->begin (state, &batch) == 0, "begin");
    for (int l = 0; l < n_layers && exit_at == -1; l++) {
        uint8_t actions[5] = { OFR_CONTINUE, OFR_CONTINUE, OFR_CONTINUE, OFR_CONTINUE,
                               OFR_CONTINUE };
        CHECK (m->after_layer (state, &batch, l, actions) == 0, "after_layer %d", l);
        int exits = 0;
        for (int i = 0; i < 5; i++)
            exits += actions[i] == OFR_EXIT;
        if (exits == 5)
            exit_at = l;
        else if (exits != 0)
            exit_at = -2;
    }
    if (m->end)
        m->end (state, &batch);
    m->destroy (state);
    ofr_params_destroy (&params);
    return exit_at;
}

static void
test_load_truncate (void)
{
    ofr_plugin *p = load_ok (s_plugins, "truncate.so");
    if (!p)
        return;
    const ofr_method *m = ofr_plugin_method (p);
    CHECK (strcmp (m->name, "truncate") == 0, "name %s", m->name);
    CHECK (m->kinds == OFR_KIND_ALL, "kinds 0x%x", m->kinds);
    CHECK (m->n_params == 1 && strcmp (m->params[0].name, "layer") == 0
           && m->params[0].type == OFR_PARAM_INT, "params");
    CHECK (m->params[0].min == 1 && m->params[0].max == 1000, "range");

    ofr_params *params = NULL;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_params_new (m, NULL, 0, &params, err, sizeof err) == 0, "%s", err);
    CHECK (params && ofr_params_count (params) == 1 && ofr_params_values (params)[0].i == 1,
           "default layer must be 1");
    ofr_params_destroy (&params);

    CHECK (truncate_exit_layer (m, 1, 12) == 0, "layer=1 exits after the first layer");
    CHECK (truncate_exit_layer (m, 3, 12) == 2, "layer=3 exits at 0-based layer 2");
    CHECK (truncate_exit_layer (m, 12, 12) == 11, "layer=12 of 12 exits at the last");
    CHECK (truncate_exit_layer (m, 5, 2) == 1, "layer=5 of a 2-layer model: the last");
    CHECK (truncate_exit_layer (m, 1000, 4) == 3, "layer=1000 of 4: the last");

    ofr_kv zero = { "layer", "0" };
    CHECK (ofr_params_new (m, &zero, 1, &params, err, sizeof err) != 0 && !params,
           "layer=0 accepted");
    CHECK (strcmp (err, "truncate: layer=0 out of range [1, 1000]") == 0, "message: %s", err);
    ofr_plugin_destroy (&p);
}

/* ---- Refusing bad plugins ------------------------------------------------- */

typedef struct {
    const char *file;
    const char *reason;      /* must appear in the message after the file name */
} bad_case;

static const bad_case s_bad_cases[] = {
    { "missing_symbol.so", "no entry symbol ofr_method_entry" },
    { "wrong_major.so", NULL },   /* reasons computed from the header's version */
    { "newer_minor.so", NULL },
    { "null_entry.so", "ofr_method_entry returned NULL" },
    { "small_struct.so", "is smaller than ABI 1.0's" },
    { "bad_name.so", "method name 'Bad-Name' is invalid" },
    { "long_name.so", "is invalid (want [a-z0-9_]+, at most 64 characters)" },
    { "null_version.so", "method null_version: version is NULL" },
    { "null_summary.so", "method null_summary: summary is NULL" },
    { "no_kinds.so", "kinds 0x0 is invalid" },
    { "bad_kinds.so", "kinds 0x10 is invalid" },
    { "kv_policy.so", "kv_policy 7 is not one of" },
    { "no_create.so", "create callback is NULL" },
    { "no_destroy.so", "destroy callback is NULL" },
    { "too_many_params.so", "n_params 65 out of range [0, 64]" },
    { "null_params.so", "n_params is 1 but params is NULL" },
    { "negative_params.so", "n_params -1 out of range [0, 64]" },
    { "bad_default.so", "bad default: bad_default: threshold=abc: expected a number" },
    { "default_range.so", "bad default: default_range: layer=0 out of range [1, 12]" },
    { "dup_param.so", "parameter 'x' declared twice (#1 and #2)" },
    { "param_name.so", "parameter #2 name 'Bad Name' is invalid" },
    { "param_type.so", "parameter 'y' has unknown type 9" },
};

static void
test_bad_plugins (void)
{
    for (size_t k = 0; k < sizeof s_bad_cases / sizeof s_bad_cases[0]; k++) {
        bad_case c_ = s_bad_cases[k], *c = &c_;
        char version_reason[96];
        if (!c->reason) {
            bool major = strcmp (c->file, "wrong_major.so") == 0;
            snprintf (version_reason, sizeof version_reason,
                      "built for ABI %d.%d, host has %d.%d",
                      OFR_ABI_MAJOR + (major ? 1 : 0), OFR_ABI_MINOR + (major ? 0 : 1),
                      OFR_ABI_MAJOR, OFR_ABI_MINOR);
            c->reason = version_reason;
        }
        char path[1200], err[OFR_ERRLEN] = "";
        path_in (path, sizeof path, s_bad, c->file);
        ofr_plugin *p = (ofr_plugin *) &k;   /* must be reset to NULL */
        int rc = ofr_plugin_load (path, ofr_host_listing (), &p, err, sizeof err);
        CHECK (rc == -1 && p == NULL, "%s was accepted", c->file);
        size_t n = strlen (path);
        CHECK (strncmp (err, path, n) == 0 && strncmp (err + n, ": ", 2) == 0,
               "%s: message does not start with the file: %s", c->file, err);
        CHECK (strstr (err, c->reason) != NULL, "%s: want '%s' in: %s", c->file,
               c->reason, err);
    }
    /* Not a shared object at all, and no file. */
    char dir[] = "/tmp/ofr-plugtest-XXXXXX";
    CHECK (mkdtemp (dir) != NULL, "mkdtemp: %s", strerror (errno));
    char junk[1200], err[OFR_ERRLEN] = "";
    path_in (junk, sizeof junk, dir, "junk.so");
    FILE *f = fopen (junk, "w");
    CHECK (f != NULL, "%s", junk);
    if (f) {
        fputs ("this is not an ELF file\n", f);
        fclose (f);
    }
    ofr_plugin *p = NULL;
    CHECK (ofr_plugin_load (junk, ofr_host_listing (), &p, err, sizeof err) == -1, "junk");
    CHECK (strncmp (err, junk, strlen (junk)) == 0 && strstr (err, "cannot load"),
           "junk message: %s", err);
    CHECK (ofr_plugin_load ("/nonexistent/x.so", ofr_host_listing (), &p, err,
                            sizeof err) == -1 && strstr (err, "/nonexistent/x.so: cannot load"),
           "missing file message: %s", err);
    CHECK (ofr_plugin_load (junk, NULL, &p, err, sizeof err) == -1 && strstr (err, junk),
           "NULL host must be refused: %s", err);
    unlink (junk);
    rmdir (dir);
}

/* ---- Parameter resolution ------------------------------------------------- */

static const ofr_param_decl s_decls[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.5", 0, 1, "entropy threshold" },
    { "patience", OFR_PARAM_INT, "2", 1, 12, "layers in a row" },
    { "anything", OFR_PARAM_INT, "-7", 1, 0, "min > max: no range" },
    { "decay", OFR_PARAM_BOOL, "no", 0, 0, "decay the threshold" },
    { "head", OFR_PARAM_STRING, "linear", 0, 0, "exit head kind" },
};

static const ofr_method s_entropy = {
    OFR_METHOD_HEADER, .name = "entropy", .version = "1", .summary = "test",
    .kinds = OFR_KIND_ENCODER, .params = s_decls, .n_params = 5,
};

static const ofr_method s_noparams = {
    OFR_METHOD_HEADER, .name = "full", .version = "1", .summary = "test",
    .kinds = OFR_KIND_ENCODER,
};

/* Resolve one key=value; returns rc, the message in err. */
static int
resolve1 (const ofr_method *m, const char *key, const char *value, ofr_params **out,
          char *err, size_t errlen)
{
    ofr_kv kv = { (char *) key, (char *) value };
    err[0] = 0;
    return ofr_params_new (m, &kv, 1, out, err, errlen);
}

static void
expect_error (const char *key, const char *value, const char *want)
{
    ofr_params *p = NULL;
    char err[OFR_ERRLEN];
    int rc = resolve1 (&s_entropy, key, value, &p, err, sizeof err);
    CHECK (rc == -1 && p == NULL, "%s=%s accepted", key, value);
    CHECK (strcmp (err, want) == 0, "%s=%s: want '%s', got '%s'", key, value, want, err);
}

static const ofr_value *
expect_ok (const char *key, const char *value, ofr_params **p)
{
    char err[OFR_ERRLEN];
    int rc = resolve1 (&s_entropy, key, value, p, err, sizeof err);
    CHECK (rc == 0 && *p, "%s=%s refused: %s", key, value, err);
    return *p ? ofr_params_values (*p) : NULL;
}

static void
test_params (void)
{
    char err[OFR_ERRLEN];
    ofr_params *p = NULL;
    /* Defaults, in declaration order. */
    CHECK (ofr_params_new (&s_entropy, NULL, 0, &p, err, sizeof err) == 0, "%s", err);
    if (p) {
        const ofr_value *v = ofr_params_values (p);
        CHECK (ofr_params_count (p) == 5, "count");
        CHECK (v[0].f == 0.5 && v[1].i == 2 && v[2].i == -7 && v[3].i == 0
               && strcmp (v[4].s, "linear") == 0, "defaults");
    }
    ofr_params_destroy (&p);
    CHECK (p == NULL, "destroy clears");

    /* Type errors. */
    expect_error ("threshold", "abc", "entropy: threshold=abc: expected a number");
    expect_error ("threshold", "nan", "entropy: threshold=nan: expected a number");
    expect_error ("threshold", "inf", "entropy: threshold=inf: expected a number");
    expect_error ("threshold", "", "entropy: threshold=: expected a number");
    expect_error ("patience", "2.5", "entropy: patience=2.5: expected an integer");
    expect_error ("patience", "x", "entropy: patience=x: expected an integer");
    expect_error ("patience", "99999999999999999999", "entropy: patience=99999999999999999999: "
                  "expected an integer");
    expect_error ("decay", "maybe", "entropy: decay=maybe: expected true/false, yes/no or 1/0");
    /* Range errors, inclusive bounds. */
    expect_error ("threshold", "1.5", "entropy: threshold=1.5 out of range [0, 1]");
    expect_error ("threshold", "-0.01", "entropy: threshold=-0.01 out of range [0, 1]");
    expect_error ("patience", "0", "entropy: patience=0 out of range [1, 12]");
    expect_error ("patience", "13", "entropy: patience=13 out of range [1, 12]");
    /* Unknown keys list the valid ones. */
    expect_error ("treshold", "0.3", "entropy: unknown parameter 'treshold' (valid: "
                  "threshold, patience, anything, decay, head)");
    CHECK (resolve1 (&s_noparams, "layer", "3", &p, err, sizeof err) == -1
           && strcmp (err, "full: unknown parameter 'layer' (full takes no parameters)") == 0,
           "no-param method: %s", err);

    const ofr_value *v;
    v = expect_ok ("threshold", "1", &p);
    CHECK (v && v[0].f == 1.0 && v[1].i == 2, "threshold=1 (bound) and default patience");
    ofr_params_destroy (&p);
    v = expect_ok ("threshold", "1e-3", &p);
    CHECK (v && v[0].f == 1e-3, "1e-3");
    ofr_params_destroy (&p);
    v = expect_ok ("patience", "12", &p);
    CHECK (v && v[1].i == 12, "patience=12");
    ofr_params_destroy (&p);
    v = expect_ok ("anything", "-100000", &p);
    CHECK (v && v[2].i == -100000, "min > max skips the range check");
    ofr_params_destroy (&p);
    const char *truthy[] = { "true", "1", "yes", "TRUE", "Yes" };
    const char *falsy[] = { "false", "0", "no", "False", "NO" };
    for (int i = 0; i < 5; i++) {
        v = expect_ok ("decay", truthy[i], &p);
        CHECK (v && v[3].i == 1, "decay=%s", truthy[i]);
        ofr_params_destroy (&p);
        v = expect_ok ("decay", falsy[i], &p);
        CHECK (v && v[3].i == 0, "decay=%s", falsy[i]);
        ofr_params_destroy (&p);
    }
    /* Strings are copied: the user's text may die before create() runs. */
    char *text = ofr_strdup ("mlp");
    ofr_kv kv[2] = { { "head", text }, { "threshold", "0.25" } };
    CHECK (ofr_params_new (&s_entropy, kv, 2, &p, err, sizeof err) == 0, "%s", err);
    free (text);
    if (p) {
        v = ofr_params_values (p);
        CHECK (strcmp (v[4].s, "mlp") == 0 && v[0].f == 0.25, "string value");
    }
    ofr_params_destroy (&p);
    /* The same key twice is a mistake in the plan, not a silent override. */
    ofr_kv twice[2] = { { "patience", "3" }, { "patience", "4" } };
    CHECK (ofr_params_new (&s_entropy, twice, 2, &p, err, sizeof err) == -1
           && strcmp (err, "entropy: parameter 'patience' given twice") == 0,
           "twice: %s", err);
    ofr_kv nokey = { NULL, "3" };
    CHECK (ofr_params_new (&s_entropy, &nokey, 1, &p, err, sizeof err) == -1
           && strstr (err, "has no name"), "NULL key: %s", err);
}

/* ---- Scanning --------------------------------------------------------------- */

/*  Run a scan with stderr captured into `log` (for the WARN lines). */
static int
scan_captured (const char *path_list, ofr_plugin ***list, int *n, char *log, size_t loglen,
               char *err, size_t errlen)
{
    char tmpl[] = "/tmp/ofr-plugscan-log-XXXXXX";
    int fd = mkstemp (tmpl);
    CHECK (fd >= 0, "mkstemp");
    fflush (stderr);
    int saved = dup (2);
    dup2 (fd, 2);
    int rc = ofr_plugin_scan (path_list, ofr_host_listing (), list, n, err, errlen);
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    lseek (fd, 0, SEEK_SET);
    ssize_t got = read (fd, log, loglen - 1);
    log[got > 0 ? got : 0] = 0;
    close (fd);
    unlink (tmpl);
    return rc;
}

static void
link_into (const char *dir, const char *name, const char *target)
{
    char path[1200];
    path_in (path, sizeof path, dir, name);
    CHECK (symlink (target, path) == 0, "symlink %s: %s", path, strerror (errno));
}

static void
test_scan (void)
{
    char a[] = "/tmp/ofr-plugscan-a-XXXXXX", b[] = "/tmp/ofr-plugscan-b-XXXXXX";
    CHECK (mkdtemp (a) && mkdtemp (b), "mkdtemp");
    char src[1200];
    path_in (src, sizeof src, s_plugins, "full.so");
    link_into (a, "full.so", src);
    link_into (b, "full.so", src);              /* a duplicate: a's wins */
    path_in (src, sizeof src, s_plugins, "truncate.so");
    link_into (a, "truncate.so", src);
    path_in (src, sizeof src, s_bad, "wrong_major.so");
    link_into (a, "wrong_major.so", src);       /* rejected, scan goes on */
    path_in (src, sizeof src, s_test_plugins, "crash.so");
    link_into (b, "crash.so", src);
    link_into (a, "notes.txt", src);            /* not *.so: never opened */
    char sub[1200];
    path_in (sub, sizeof sub, a, "subdir.so");  /* a directory named *.so */
    CHECK (mkdir (sub, 0700) == 0, "mkdir");

    char path_list[4000], log[8192], err[OFR_ERRLEN] = "";
    snprintf (path_list, sizeof path_list, "%s::/nonexistent/dir:%s", a, b);
    ofr_plugin **list = NULL;
    int n = -1;
    int rc = scan_captured (path_list, &list, &n, log, sizeof log, err, sizeof err);
    CHECK (rc == 0, "scan: %s", err);
    CHECK (n == 3, "want full, truncate, crash; got %d", n);
    const char *want[] = { "full", "truncate", "crash" };
    for (int i = 0; i < n && i < 3; i++)
        CHECK (strcmp (ofr_plugin_method (list[i])->name, want[i]) == 0,
               "plugin %d is %s", i, ofr_plugin_method (list[i])->name);
    ofr_plugin *full = ofr_plugin_find (list, n, "full");
    CHECK (full && strncmp (ofr_plugin_path (full), a, strlen (a)) == 0,
           "the first full.so on the path must win: %s", full ? ofr_plugin_path (full) : "-");
    CHECK (ofr_plugin_find (list, n, "crash") == list[2], "find crash");
    CHECK (ofr_plugin_find (list, n, "nope") == NULL, "find nope");
    char want_log[64];
    snprintf (want_log, sizeof want_log, "wrong_major.so: built for ABI %d.%d",
              OFR_ABI_MAJOR + 1, OFR_ABI_MINOR);
    CHECK (strstr (log, "WARN") && strstr (log, want_log), "rejection not logged: %s", log);
    CHECK (strstr (log, "method 'full' is already provided by"), "duplicate not logged: %s", log);
    CHECK (!strstr (log, "notes.txt") && !strstr (log, "subdir.so"), "non-plugins touched: %s", log);
    ofr_plugin_list_destroy (&list, &n);
    CHECK (list == NULL && n == 0, "list destroy");

    /* Nothing found is not an error. */
    rc = scan_captured ("/nonexistent/a:/nonexistent/b", &list, &n, log, sizeof log, err,
                        sizeof err);
    CHECK (rc == 0 && n == 0 && list, "empty scan: rc %d n %d", rc, n);
    ofr_plugin_list_destroy (&list, &n);

    char cmd[3000];
    snprintf (cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    CHECK (system (cmd) == 0, "%s", cmd);
}

/*  `offramp plugins` with stdout captured into `out`; returns its status. */
static int
run_cmd_plugins (int argc, char **argv, char *out, size_t outlen)
{
    char tmpl[] = "/tmp/ofr-plugcmd-out-XXXXXX";
    int fd = mkstemp (tmpl);
    CHECK (fd >= 0, "mkstemp");
    fflush (stdout);
    int saved = dup (1);
    dup2 (fd, 1);
    int rc = ofr_cmd_plugins (argc, argv);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    lseek (fd, 0, SEEK_SET);
    ssize_t got = read (fd, out, outlen - 1);
    out[got > 0 ? got : 0] = 0;
    close (fd);
    unlink (tmpl);
    return rc;
}

static void
test_cmd_plugins (void)
{
    char out[16384], hex[65], path[1200], err[OFR_ERRLEN];
    path_in (path, sizeof path, s_plugins, "truncate.so");
    CHECK (ofr_sha256_file (path, hex, err, sizeof err) == 0, "%s", err);
    char want_file[1400];
    snprintf (want_file, sizeof want_file, "file %s  sha256 %.12s\n", path, hex);

    char *text[] = { "plugins", "--path", s_plugins, NULL };
    CHECK (run_cmd_plugins (3, text, out, sizeof out) == 0, "text listing failed");
    char want_head[96];
    snprintf (want_head, sizeof want_head, "truncate 1.0  ABI %d.%d  kinds "
              "encoder,decoder,seq2seq,cnn  flags -", OFR_ABI_MAJOR, OFR_ABI_MINOR);
    CHECK (strstr (out, want_head), "truncate header line: %s", out);
    CHECK (strstr (out, want_file), "file and hash prefix: %s", out);
    CHECK (strstr (out, "layer          int    default 1        range [1, 1000]\n"
                        "      exit every row after this layer"), "parameter lines: %s", out);
    CHECK (strstr (out, "full 1.0") && strstr (out, "parameters: none"), "full: %s", out);
    /* Every plugin of build/plugins is listed, and counted. */
    int listed = 0, counted = -1;
    for (const char *q = out; (q = strstr (q, "\n  file ")); q++)
        listed++;
    char want_count[64];
    snprintf (want_count, sizeof want_count, " plugins (host ABI %d.%d) from ",
              OFR_ABI_MAJOR, OFR_ABI_MINOR);
    const char *count = strstr (out, want_count);
    while (count && count > out && count[-1] >= '0' && count[-1] <= '9')
        count--;
    CHECK (count && sscanf (count, "%d", &counted) == 1 && counted == listed
           && listed >= 2, "count line (%d listed): %s", listed, out);

    char *json[] = { "plugins", "--json", "--path", s_plugins, NULL };
    CHECK (run_cmd_plugins (4, json, out, sizeof out) == 0, "json listing failed");
    char want_hash[100];
    snprintf (want_hash, sizeof want_hash, "\"sha256\":\"%s\"", hex);
    CHECK (out[0] == '{' && strstr (out, "]}\n") && strstr (out, want_hash),
           "json document: %s", out);
    CHECK (strstr (out, "{\"name\":\"layer\",\"type\":\"int\",\"default\":\"1\","
                        "\"min\":1,\"max\":1000,"), "json param: %s", out);
    CHECK (strstr (out, "\"params\":[]"), "full has no params: %s", out);

    char *help[] = { "plugins", "--help", NULL };
    CHECK (run_cmd_plugins (2, help, out, sizeof out) == 0
           && strstr (out, "usage: offramp plugins [--path DIRS] [--json]"), "help: %s", out);
    char *bogus[] = { "plugins", "--bogus", NULL };
    CHECK (run_cmd_plugins (2, bogus, out, sizeof out) == 2, "unknown option must be usage");
}

static void
test_default_path (void)
{
    setenv ("OFFRAMP_PLUGINS", "/x/plugins:/y", 1);
    CHECK (strcmp (ofr_plugin_default_path (), "/x/plugins:/y") == 0, "env wins");
    unsetenv ("OFFRAMP_PLUGINS");
    char *exe = ofr_exe_dir ();
    char want[3000];
    snprintf (want, sizeof want, "%s/plugins:%s/../lib/offramp/plugins", exe, exe);
    CHECK (strcmp (ofr_plugin_default_path (), want) == 0, "default %s, want %s",
           ofr_plugin_default_path (), want);
    free (exe);
}

static void
test_listing_host (void)
{
    const ofr_host *h = ofr_host_listing ();
    CHECK (h->struct_size == sizeof (ofr_host) && h->abi_major == OFR_ABI_MAJOR
           && h->abi_minor == OFR_ABI_MINOR, "host header");
    int np = 5, dim = 5;
    CHECK (h->exit_probs (NULL, 0, 0, &np) == NULL && np == 0, "exit_probs");
    CHECK (h->hidden_state (NULL, 0, &dim) == NULL && dim == 0, "hidden_state");
    h->charge_flops (NULL, 0, 1e9);
    CHECK (h->oracle_label (NULL, 0) == -1, "oracle_label");
    CHECK (h->layer_flops (NULL, 0, 0) == 0.0, "layer_flops");
    double u = h->rng_uniform (NULL);
    CHECK (u >= 0.0 && u < 1.0, "rng_uniform");
    float w[1], bias[1];
    CHECK (h->fit_softmax (NULL, NULL, 0, 0, 0, 0, 0, w, bias) == -1, "fit_softmax");
    CHECK (h->fit_ridge (NULL, NULL, 0, 0, 0, 0, w, bias) == -1, "fit_ridge");
    CHECK (h->artifact_save (NULL, "a", "x", 1) == -1, "artifact_save");
    size_t sz = 9;
    CHECK (h->artifact_load (NULL, "a", &sz) == NULL && sz == 0, "artifact_load");
    sz = 9;
    CHECK (h->model_tensor (NULL, "x.weight", &sz) == NULL && sz == 0, "model_tensor");
}

/* ---- Test plugins used by the integration tests --------------------------- */

static void
test_sleepy_and_crash (void)
{
    char err[OFR_ERRLEN];
    ofr_plugin *p = load_ok (s_test_plugins, "sleepy.so");
    if (p) {
        const ofr_method *m = ofr_plugin_method (p);
        ofr_params *params = NULL;
        ofr_kv kv = { "ms", "30" };
        CHECK (strcmp (m->name, "sleepy") == 0, "name");
        CHECK (ofr_params_new (m, &kv, 1, &params, err, sizeof err) == 0, "%s", err);
        void *state = NULL;
        CHECK (params && m->create (ofr_host_listing (), ofr_params_values (params), &state,
                                    err, sizeof err) == 0, "create");
        int row = 0;
        uint8_t act = OFR_CONTINUE;
        ofr_batch batch = { .struct_size = sizeof batch, .batch_size = 1, .n_rows = 1,
                            .row_ids = &row, .n_layers = 2 };
        double t0 = ofr_now_ms ();
        CHECK (m->after_layer (state, &batch, 0, &act) == 0 && act == OFR_CONTINUE, "sleepy");
        double dt = ofr_now_ms () - t0;
        CHECK (dt >= 29.0 && dt < 2000.0, "slept %.1f ms for ms=30", dt);
        m->destroy (state);
        ofr_params_destroy (&params);
        ofr_plugin_destroy (&p);
    }
    p = load_ok (s_test_plugins, "crash.so");
    if (!p)
        return;
    const ofr_method *m = ofr_plugin_method (p);
    ofr_params *params = NULL;
    ofr_kv kv = { "at", "2" };
    CHECK (ofr_params_new (m, &kv, 1, &params, err, sizeof err) == 0, "%s", err);
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        void *state = NULL;
        if (!params || m->create (ofr_host_listing (), ofr_params_values (params), &state,
                                  err, sizeof err) != 0)
            _exit (3);
        int row = 0;
        uint8_t act = OFR_CONTINUE;
        ofr_batch batch = { .struct_size = sizeof batch, .batch_size = 1, .n_rows = 1,
                            .row_ids = &row, .n_layers = 4 };
        if (m->after_layer (state, &batch, 0, &act) != 0)   /* layer 1: survives */
            _exit (4);
        m->after_layer (state, &batch, 1, &act);            /* layer 2: dies */
        _exit (5);
    }
    int status = 0;
    CHECK (pid > 0 && waitpid (pid, &status, 0) == pid, "fork/wait");
    CHECK (WIFSIGNALED (status) && WTERMSIG (status) == SIGSEGV,
           "crash at=2 must die of SIGSEGV at layer 2 (status 0x%x)", status);
    ofr_params_destroy (&params);
    ofr_plugin_destroy (&p);
}

int
main (void)
{
    const char *plugins = getenv ("OFR_PLUGIN_DIR"), *build = getenv ("OFR_BUILD_DIR");
    if (!plugins || !build) {
        fprintf (stderr, "test_plugin_host: run through ctest (needs OFR_PLUGIN_DIR and "
                 "OFR_BUILD_DIR)\n");
        return 1;
    }
    snprintf (s_plugins, sizeof s_plugins, "%s", plugins);
    snprintf (s_bad, sizeof s_bad, "%s/tests/badplugins", build);
    snprintf (s_test_plugins, sizeof s_test_plugins, "%s/tests/plugins", build);
    ofr_log_setup ("test", OFR_INFO);

    test_load_full ();
    test_load_truncate ();
    test_bad_plugins ();
    test_params ();
    test_scan ();
    test_cmd_plugins ();
    test_default_path ();
    test_listing_host ();
    test_sleepy_and_crash ();
    if (s_failures) {
        fprintf (stderr, "test_plugin_host: %d failures\n", s_failures);
        return 1;
    }
    printf ("test_plugin_host: ok\n");
    return 0;
}
