/*  test_blas_setup.c -- OpenBLAS core selection.

    In process: the wanted core matches /proc/cpuinfo, OFFRAMP_BLAS_CORE=none
    changes nothing but the threads, a malformed core name is refused.
    Out of process (argv[1] = the blas_probe helper, run through popen with
    different environments): the re-exec happens at most once, keeps argv,
    and leaves OpenBLAS on the core that was asked for. */
#include "workers/engine/blas_setup.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

static int s_failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fprintf (stderr, "\n"); s_failures++; } } while (0)

/*  Cores whose kernels use the same instruction set as `wanted`
    (Cooperlake = SkylakeX + bf16): ofr_blas_setup accepts these as is. */
static int
s_same_family (const char *core, const char *wanted)
{
    static const char *families[][6] = {
        { "SkylakeX", "SkylakeX", "Cooperlake", "SapphireRapids", NULL },
        { "Haswell", "Haswell", "Zen", NULL },
        { "Sandybridge", "Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator" },
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        if (strcasecmp (families[f][0], wanted) != 0)
            continue;
        for (int i = 1; i < 6 && families[f][i]; i++)
            if (strcasecmp (families[f][i], core) == 0)
                return 1;
    }
    return 0;
}

/*  The core /proc/cpuinfo's flags call for (the kernel lists AVX-512 only
    when the OS saves its state, like our xgetbv check); NULL if unknown. */
static const char *
s_cpuinfo_core (void)
{
    char *text = NULL, err[OFR_ERRLEN];
    size_t size;
    if (ofr_read_file ("/proc/cpuinfo", &text, &size, err, sizeof err) != 0)
        return NULL;
    const char *core = NULL;
    char *line = strstr (text, "\nflags");
    if (line) {
        char *end = strchr (line + 1, '\n');
        if (end)
            *end = '\0';
        int has[7] = { 0 };
        const char *names[] = { " avx512f", " avx512dq", " avx512bw", " avx512vl",
                                " avx2", " fma", " avx" };
        for (int i = 0; i < 7; i++) {
            size_t len = strlen (names[i]);
            for (const char *p = strstr (line, names[i]); p; p = strstr (p + 1, names[i]))
                if (p[len] == ' ' || p[len] == '\0')
                    has[i] = 1;
        }
        int f512 = has[0] && has[1] && has[2] && has[3];
        core = f512 ? "SkylakeX" : (has[4] && has[5]) ? "Haswell" : has[6] ? "Sandybridge" : NULL;
    }
    free (text);
    return core;
}

static void
s_test_in_process (int argc, char **argv)
{
    const char *wanted = ofr_blas_wanted_core ();
    CHECK (wanted != NULL, "no wanted core on this machine");
    const char *expect = s_cpuinfo_core ();
    if (expect && wanted)
        CHECK (strcmp (expect, wanted) == 0, "wanted core %s, /proc/cpuinfo says %s", wanted, expect);
    printf ("test_blas_setup: wanted %s, OpenBLAS runs %s\n", wanted ? wanted : "(none)",
            ofr_blas_core ());

    char before[64], msg[256] = "";
    snprintf (before, sizeof before, "%s", ofr_blas_core ());
    setenv ("OFFRAMP_BLAS_CORE", "none", 1);
    int rc = ofr_blas_setup (argc, argv, 1, msg, sizeof msg);
    CHECK (rc == 0, "none: rc %d (%s)", rc, msg);
    CHECK (strcmp (before, ofr_blas_core ()) == 0, "none changed the core to %s", ofr_blas_core ());
    CHECK (ofr_blas_threads () == 1, "threads %d, want 1", ofr_blas_threads ());
    CHECK (strstr (msg, "OFFRAMP_BLAS_CORE=none") && strstr (msg, "1 thread"), "msg: %s", msg);

    setenv ("OFFRAMP_BLAS_CORE", "Sky lake;rm", 1);
    rc = ofr_blas_setup (argc, argv, 0, msg, sizeof msg);
    CHECK (rc == -1 && strstr (msg, "not a core name"), "bad name: rc %d, msg %s", rc, msg);
    unsetenv ("OFFRAMP_BLAS_CORE");
}

/*  Output of one probe run in the given environment (NULL = unset). */
typedef struct {
    int  status;       /* exit status                 */
    int  starts;       /* process images that ran     */
    char core[64], msg[256], args[128], marker[8];
} probe_out;

static void
s_field (const char *text, const char *key, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = strstr (text, key);
    if (!p)
        return;
    p += strlen (key);
    size_t n = strcspn (p, "\n");
    snprintf (out, outlen, "%.*s", (int) n, p);
}

static int
s_probe (const char *probe, const char *user_core, const char *env_core, probe_out *o)
{
    memset (o, 0, sizeof *o);
    if (user_core)
        setenv ("OFFRAMP_BLAS_CORE", user_core, 1);
    else
        unsetenv ("OFFRAMP_BLAS_CORE");
    if (env_core)
        setenv ("OPENBLAS_CORETYPE", env_core, 1);
    else
        unsetenv ("OPENBLAS_CORETYPE");
    ofr_buf cmd, out;
    ofr_buf_init (&cmd);
    ofr_buf_init (&out);
    ofr_buf_printf (&cmd, "'%s' 'a b' c", probe);
    FILE *p = cmd.oom ? NULL : popen (cmd.data, "r");
    ofr_buf_free (&cmd);
    if (!p)
        return -1;
    char chunk[512];
    size_t n;
    while ((n = fread (chunk, 1, sizeof chunk, p)) > 0)
        ofr_buf_append (&out, chunk, n);
    int st = pclose (p);
    o->status = (st != -1 && WIFEXITED (st)) ? WEXITSTATUS (st) : -1;
    for (const char *s = out.data; s && (s = strstr (s, "start\n")); s += 6)
        o->starts++;
    if (out.data) {
        s_field (out.data, "core=", o->core, sizeof o->core);
        s_field (out.data, "msg=", o->msg, sizeof o->msg);
        s_field (out.data, "args=", o->args, sizeof o->args);
        s_field (out.data, "marker=", o->marker, sizeof o->marker);
    }
    ofr_buf_free (&out);
    return 0;
}

static void
s_test_probe (const char *probe)
{
    const char *wanted = ofr_blas_wanted_core ();
    if (!wanted)
        return;
    probe_out o;

    /* Nothing set: OpenBLAS ends up on the wanted core (or its family). */
    CHECK (s_probe (probe, NULL, NULL, &o) == 0, "popen %s", probe);
    CHECK (o.status == 0 && s_same_family (o.core, wanted),
           "default: status %d core %s, want %s (%s)", o.status, o.core, wanted, o.msg);
    CHECK (o.starts == 1 || (o.starts == 2 && strstr (o.msg, "detected")),
           "default: %d starts, msg %s", o.starts, o.msg);
    CHECK (strcmp (o.args, "a b|c") == 0 && strcmp (o.marker, "0") == 0,
           "default: args '%s' marker %s", o.args, o.marker);
    printf ("test_blas_setup: default -> %s (%d process image%s)\n", o.msg, o.starts,
            o.starts == 1 ? "" : "s");

    /* The VM case: OpenBLAS on Prescott kernels; auto detection re-execs once. */
    s_probe (probe, "auto", "Prescott", &o);
    CHECK (o.status == 0 && strcasecmp (o.core, wanted) == 0 && o.starts == 2,
           "auto over Prescott: status %d core %s starts %d (%s)", o.status, o.core, o.starts, o.msg);
    CHECK (strstr (o.msg, "detected Prescott") != NULL, "auto over Prescott: msg %s", o.msg);
    CHECK (strcmp (o.args, "a b|c") == 0, "argv after re-exec: '%s'", o.args);
    CHECK (strcmp (o.marker, "0") == 0, "re-exec marker left in the environment");
    printf ("test_blas_setup: auto over Prescott -> %s\n", o.msg);

    /* A user's OPENBLAS_CORETYPE is respected. */
    s_probe (probe, NULL, "Haswell", &o);
    CHECK (o.status == 0 && strcasecmp (o.core, "Haswell") == 0 && o.starts == 1,
           "OPENBLAS_CORETYPE=Haswell: core %s starts %d (%s)", o.core, o.starts, o.msg);

    /* OFFRAMP_BLAS_CORE forces a core, over OPENBLAS_CORETYPE too. */
    s_probe (probe, "Haswell", "SkylakeX", &o);
    CHECK (o.status == 0 && strcasecmp (o.core, "Haswell") == 0 && o.starts == 2,
           "OFFRAMP_BLAS_CORE=Haswell: core %s starts %d (%s)", o.core, o.starts, o.msg);

    /* none leaves OpenBLAS alone even when it is on slow kernels. */
    s_probe (probe, "none", "Prescott", &o);
    CHECK (o.status == 0 && strcasecmp (o.core, "Prescott") == 0 && o.starts == 1,
           "none: core %s starts %d (%s)", o.core, o.starts, o.msg);

    /* A core OpenBLAS does not know: one re-exec, no loop, reported failure. */
    s_probe (probe, "Bogus", NULL, &o);
    CHECK (o.status == 1 && o.starts == 2 && strstr (o.msg, "did not take"),
           "Bogus: status %d starts %d (%s)", o.status, o.starts, o.msg);

    unsetenv ("OFFRAMP_BLAS_CORE");
    unsetenv ("OPENBLAS_CORETYPE");
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: test_blas_setup PATH-TO-blas_probe\n");
        return 1;
    }
    s_test_in_process (argc, argv);
    s_test_probe (argv[1]);
    if (s_failures) {
        fprintf (stderr, "test_blas_setup: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_blas_setup: ok\n");
    return 0;
}
