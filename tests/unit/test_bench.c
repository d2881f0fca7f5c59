/*  test_bench.c -- `offramp bench`: argument handling, and a short real
    sgemm run whose JSON output is checked for every shape and the peak. */
#include "workers/engine/bench.h"
#include "workers/engine/blas_setup.h"
#include "harness/commands.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
    fprintf (stderr, __VA_ARGS__); fprintf (stderr, "\n"); s_failures++; } } while (0)

/*  Run ofr_cmd_bench with stdout captured into *out (caller frees). */
static int
s_bench (char **out, int argc, char **argv)
{
    char path[] = "/tmp/ofr_test_bench_XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0) {
        fprintf (stderr, "mkstemp failed\n");
        exit (1);
    }
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    dup2 (fd, STDOUT_FILENO);
    int rc = ofr_cmd_bench (argc, argv);
    fflush (stdout);
    dup2 (saved, STDOUT_FILENO);
    close (saved);
    close (fd);
    char err[OFR_ERRLEN];
    size_t size;
    *out = NULL;
    if (ofr_read_file (path, out, &size, err, sizeof err) != 0)
        fprintf (stderr, "%s\n", err);
    unlink (path);
    return rc;
}

#define ARGV(...) (char *[]) { __VA_ARGS__, NULL }
#define ARGC(...) ((int) (sizeof ((char *[]) { __VA_ARGS__ }) / sizeof (char *)))
#define BENCH(out, ...) s_bench (out, ARGC (__VA_ARGS__), ARGV (__VA_ARGS__))

static void
s_test_usage (void)
{
    char *out = NULL;
    CHECK (ofr_cmd_bench (1, ARGV ("bench")) == 2, "no sub-benchmark is a usage error");
    CHECK (BENCH (&out, "bench", "--help") == 0 && out && strstr (out, "sgemm"), "bench --help");
    free (out);
    CHECK (BENCH (&out, "bench", "nope") == 2, "unknown sub-benchmark");
    free (out);
    CHECK (BENCH (&out, "bench", "sgemm", "--help") == 0 && out && strstr (out, "--seconds"),
           "bench sgemm --help");
    free (out);
    CHECK (BENCH (&out, "bench", "sgemm", "--seconds", "0") == 2, "--seconds 0");
    free (out);
    CHECK (BENCH (&out, "bench", "sgemm", "--seconds") == 2, "--seconds without value");
    free (out);
    CHECK (BENCH (&out, "bench", "sgemm", "--threads", "x") == 2, "--threads x");
    free (out);
    CHECK (BENCH (&out, "bench", "sgemm", "--frob") == 2, "unknown option");
    free (out);
}

static void
s_test_measure (void)
{
    double g = 0;
    long reps = 0;
    char err[OFR_ERRLEN] = "";
    CHECK (ofr_bench_sgemm_shape (64, 64, 64, 0.01, &g, &reps, err, sizeof err) == 0, "%s", err);
    CHECK (g > 0 && reps >= 1, "64^3: %g GFLOP/s over %ld reps", g, reps);
    CHECK (ofr_bench_sgemm_shape (0, 64, 64, 0.01, &g, &reps, err, sizeof err) == -1, "bad shape");

    int threads = ofr_blas_threads ();
    char *out = NULL;
    int rc = BENCH (&out, "bench", "sgemm", "--seconds", "0.01", "--threads", "1", "--json");
    CHECK (rc == 0 && out, "bench sgemm --json: rc %d", rc);
    CHECK (ofr_blas_threads () == threads, "threads not restored: %d", ofr_blas_threads ());
    if (out) {
        int count;
        const ofr_sgemm_shape *s = ofr_bench_sgemm_shapes (&count);
        CHECK (count == 8, "%d standard shapes", count);
        for (int i = 0; i < count; i++) {
            char key[96];
            snprintf (key, sizeof key, "{\"m\":%d,\"n\":%d,\"k\":%d,\"gflops\":", s[i].m, s[i].n, s[i].k);
            CHECK (strstr (out, key) != NULL, "shape %s missing from %s", key, out);
        }
        const char *peak = strstr (out, "\"peak_gflops\":");
        CHECK (peak && atof (peak + 14) > 0, "peak in %s", out);
        CHECK (strstr (out, "\"threads\":1,") != NULL, "threads in %s", out);
        printf ("test_bench: %s", out);
    }
    free (out);
    double p = ofr_bench_sgemm_peak (1, 0.01);
    CHECK (p > 0 && ofr_blas_threads () == threads, "peak %g, threads %d", p, ofr_blas_threads ());
}

int
main (int argc, char **argv)
{
    char msg[256];
    ofr_blas_setup (argc, argv, 0, msg, sizeof msg);   /* as main() does */
    printf ("test_bench: %s\n", msg);
    s_test_usage ();
    s_test_measure ();
    if (s_failures) {
        fprintf (stderr, "test_bench: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_bench: ok\n");
    return 0;
}
