/*  cmd_bench.c -- `offramp bench <what>`: measure the machine. See bench.h. */
#include "bench.h"
#include "blas_setup.h"
#include "ops.h"
#include "../../common/ofr_common.h"
#include "../../harness/commands.h"
#include "../models/bench_encoder.h"
#include "../models/bench_conv.h"
#include "../models/bench_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ofr_sgemm_shape s_shapes[] = {
    {   128,  768,  768, "BERT-base attention projection, 128 tokens" },
    {   128, 3072,  768, "BERT-base FFN up, 128 tokens" },
    {   128,  768, 3072, "BERT-base FFN down, 128 tokens" },
    {     1,  768,  768, "batch-1 decode projection" },
    {    16,  512,  512, "small model, 16 rows" },
    {   512,  512,  512, "square 512" },
    {  2048, 2048, 2048, "square 2048" },
    { 43200,   64,  576, "3x3 conv 64->64 ch at 180x240 (im2col)" },
};
#define N_SHAPES ((int) (sizeof s_shapes / sizeof s_shapes[0]))

const ofr_sgemm_shape *
ofr_bench_sgemm_shapes (int *count)
{
    if (count)
        *count = N_SHAPES;
    return s_shapes;
}

static void
s_fill_random (float *a, size_t n, ofr_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float) (2.0 * ofr_rng_uniform (rng) - 1.0);
}

int
ofr_bench_sgemm_shape (int m, int n, int k, double seconds,
                       double *gflops, long *reps, char *err, size_t errlen)
{
    if (m <= 0 || n <= 0 || k <= 0 || !(seconds > 0))
        return ofr_errf (err, errlen, "bench sgemm: bad shape %dx%dx%d or time %g",
                         m, n, k, seconds);
    float *A = ofr_calloc ((size_t) m * k, sizeof *A);
    float *W = ofr_calloc ((size_t) n * k, sizeof *W);
    float *C = ofr_calloc ((size_t) m * n, sizeof *C);
    if (!A || !W || !C) {
        free (A);
        free (W);
        free (C);
        return ofr_errf (err, errlen, "bench sgemm: out of memory for %dx%dx%d", m, n, k);
    }
    ofr_rng rng;
    ofr_rng_seed (&rng, 42);
    s_fill_random (A, (size_t) m * k, &rng);
    s_fill_random (W, (size_t) n * k, &rng);
    ofr_matmul (A, W, NULL, C, m, n, k);     /* warm-up: thread pool, caches, pages */
    long count = 0;
    double t0 = ofr_now_ms (), elapsed;
    do {
        ofr_matmul (A, W, NULL, C, m, n, k);
        count++;
        elapsed = (ofr_now_ms () - t0) / 1e3;
    } while (elapsed < seconds);
    free (A);
    free (W);
    free (C);
    *gflops = 2.0 * m * n * (double) k * count / elapsed / 1e9;
    if (reps)
        *reps = count;
    return 0;
}

double
ofr_bench_sgemm_peak (int threads, double seconds)
{
    int old = ofr_blas_threads ();
    ofr_blas_set_threads (threads);
    double peak = -1;
    for (int i = 0; i < N_SHAPES; i++) {
        double g;
        const ofr_sgemm_shape *s = &s_shapes[i];
        if (ofr_bench_sgemm_shape (s->m, s->n, s->k, seconds, &g, NULL, NULL, 0) != 0) {
            peak = -1;
            break;
        }
        if (g > peak)
            peak = g;
    }
    ofr_blas_set_threads (old);
    return peak;
}

/* ---- the command ----------------------------------------------------------- */

typedef struct {
    long   threads;   /* 0 = leave the current setting */
    double seconds;
    int    json;
} sgemm_opts;

static void
s_sgemm_usage (FILE *f)
{
    fprintf (f,
        "usage: offramp bench sgemm [--threads N] [--seconds S] [--json]\n"
        "  GFLOP/s of cblas_sgemm (C = A W^T) on the shapes the models use.\n"
        "  --threads N   OpenBLAS threads (default: current, %d)\n"
        "  --seconds S   time per shape after one warm-up call (default 0.3)\n"
        "  --json        one JSON object instead of a table\n"
        "  Set OPENBLAS_CORETYPE or OFFRAMP_BLAS_CORE to compare kernels.\n",
        ofr_blas_threads ());
}

/*  Returns 0, 1 (--help printed) or 2 (usage error, message printed). */
static int
s_sgemm_parse (int argc, char **argv, sgemm_opts *o)
{
    *o = (sgemm_opts) { 0, 0.3, 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
            s_sgemm_usage (stdout);
            return 1;
        }
        if (strcmp (a, "--json") == 0)
            o->json = 1;
        else if (strcmp (a, "--threads") == 0 && i + 1 < argc) {
            long long t;
            if (ofr_parse_int (argv[++i], &t) != 0 || t < 1 || t > 1024) {
                fprintf (stderr, "offramp bench sgemm: --threads wants 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
            o->threads = (long) t;
        }
        else if (strcmp (a, "--seconds") == 0 && i + 1 < argc) {
            if (ofr_parse_double (argv[++i], &o->seconds) != 0
                || !(o->seconds > 0 && o->seconds <= 60)) {
                fprintf (stderr, "offramp bench sgemm: --seconds wants (0, 60], got '%s'\n", argv[i]);
                return 2;
            }
        }
        else {
            fprintf (stderr, "offramp bench sgemm: unknown or incomplete option '%s'\n\n", a);
            s_sgemm_usage (stderr);
            return 2;
        }
    }
    return 0;
}

static void
s_sgemm_print (const sgemm_opts *o, const double *g, const long *reps)
{
    int best = 0;
    for (int i = 1; i < N_SHAPES; i++)
        if (g[i] > g[best])
            best = i;
    if (o->json) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_puts (&b, "{\"benchmark\":\"sgemm\",\"core\":");
        ofr_buf_json_str (&b, ofr_blas_core ());
        ofr_buf_printf (&b, ",\"threads\":%d,\"seconds\":", ofr_blas_threads ());
        ofr_buf_json_num (&b, o->seconds);
        ofr_buf_puts (&b, ",\"shapes\":[");
        for (int i = 0; i < N_SHAPES; i++) {
            const ofr_sgemm_shape *s = &s_shapes[i];
            ofr_buf_printf (&b, "%s{\"m\":%d,\"n\":%d,\"k\":%d,\"gflops\":", i ? "," : "",
                            s->m, s->n, s->k);
            ofr_buf_json_num (&b, g[i]);
            ofr_buf_printf (&b, ",\"reps\":%ld,\"use\":", reps[i]);
            ofr_buf_json_str (&b, s->use);
            ofr_buf_puts (&b, "}");
        }
        ofr_buf_puts (&b, "],\"peak_gflops\":");
        ofr_buf_json_num (&b, g[best]);
        ofr_buf_puts (&b, "}");
        printf ("%s\n", b.oom ? "{\"error\":\"out of memory\"}" : b.data);
        ofr_buf_free (&b);
        return;
    }
    printf ("OpenBLAS core %s, %d threads, %.2f s per shape\n",
            ofr_blas_core (), ofr_blas_threads (), o->seconds);
    printf ("%6s %6s %6s %9s %8s  %s\n", "M", "N", "K", "GFLOP/s", "reps", "use");
    for (int i = 0; i < N_SHAPES; i++) {
        const ofr_sgemm_shape *s = &s_shapes[i];
        printf ("%6d %6d %6d %9.1f %8ld  %s\n", s->m, s->n, s->k, g[i], reps[i], s->use);
    }
    printf ("peak %.1f GFLOP/s (%dx%dx%d)\n", g[best], s_shapes[best].m,
            s_shapes[best].n, s_shapes[best].k);
}

static int
s_bench_sgemm (int argc, char **argv)
{
    sgemm_opts o;
    int rc = s_sgemm_parse (argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    int old = ofr_blas_threads ();
    ofr_blas_set_threads ((int) o.threads);
    double g[N_SHAPES];
    long reps[N_SHAPES];
    char err[OFR_ERRLEN];
    for (int i = 0; i < N_SHAPES && rc == 0; i++)
        rc = ofr_bench_sgemm_shape (s_shapes[i].m, s_shapes[i].n, s_shapes[i].k,
                                    o.seconds, &g[i], &reps[i], err, sizeof err);
    if (rc == 0)
        s_sgemm_print (&o, g, reps);
    else
        fprintf (stderr, "offramp %s\n", err);
    ofr_blas_set_threads (old);
    return rc == 0 ? 0 : 1;
}

/*  Sub-benchmarks; later ones (decoder) are added here. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} s_benches[] = {
    { "sgemm", s_bench_sgemm, "GFLOP/s of cblas_sgemm on model shapes, and the peak" },
    { "encoder", ofr_bench_encoder_cmd,
      "encoder forward vs the sgemm peak and python3-torch; early-exit speed-up" },
    { "conv", ofr_bench_conv_cmd,
      "ESPNet convolutions (3x3 dilated, 1x1, grouped, transposed) vs the sgemm peak" },
    { "decode", ofr_bench_decode_cmd,
      "batch-1 decoder tokens/s vs the memory-bandwidth bound of its weights" },
};
#define N_BENCHES ((int) (sizeof s_benches / sizeof s_benches[0]))

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: offramp bench <what> [options]   (offramp bench <what> --help)\n");
    for (int i = 0; i < N_BENCHES; i++)
        fprintf (f, "  %-10s %s\n", s_benches[i].name, s_benches[i].help);
}

int
ofr_cmd_bench (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        s_usage (stdout);
        return 0;
    }
    for (int i = 0; i < N_BENCHES; i++)
        if (strcmp (argv[1], s_benches[i].name) == 0)
            return s_benches[i].fn (argc - 1, argv + 1);
    fprintf (stderr, "offramp bench: unknown benchmark '%s'; available:", argv[1]);
    for (int i = 0; i < N_BENCHES; i++)
        fprintf (stderr, " %s", s_benches[i].name);
    fprintf (stderr, "\n");
    return 2;
}
