/*  cmd_bench_conv.c -- see bench_conv.h. */
#include "bench_conv.h"
#include "../engine/bench.h"
#include "../engine/blas_setup.h"
#include "../engine/conv.h"
#include "../../common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char     *type;
    ofr_conv2d_desc d;
    int             h, w;       /* input size at 480x360 */
    const char     *use;
} conv_shape;

/*  ESPNet p=2 q=8 at 480x360: ESP blocks split 64 (128) channels into a
    1x1 reduction to n = 12 (25) and five 3x3 dilated branches (the first
    of n1 = 16 (28) channels); the decoder upsamples with 2x2 stride-2
    transposed convolutions. ESPNet has no grouped convolution: the
    grouped shape is the ESP branch as a 4-group convolution, for the
    operator's own sake. */
static const conv_shape s_shapes[] = {
    { "3x3 dilated", { 12, 12, 3, 3, 1, 4, 4, 1, 0, 0 }, 90, 120, "level-2 ESP branch d=4" },
    { "3x3 dilated", { 25, 25, 3, 3, 1, 8, 8, 1, 0, 0 }, 45, 60, "level-3 ESP branch d=8" },
    { "3x3 dense",   { 3, 16, 3, 3, 2, 1, 1, 1, 0, 0 }, 360, 480, "level1 CBR 3->16 /2" },
    { "3x3 dense",   { 19, 12, 3, 3, 2, 1, 1, 1, 0, 0 }, 180, 240, "level2_0 ESP down-sampler 3x3 /2" },
    { "3x3 dense",   { 31, 12, 3, 3, 1, 1, 1, 1, 0, 0 }, 180, 240, "decoder.l1 CBR 31->12" },
    { "1x1",         { 64, 12, 1, 1, 1, 0, 1, 1, 0, 0 }, 90, 120, "level-2 ESP reduction" },
    { "1x1",         { 128, 25, 1, 1, 1, 0, 1, 1, 0, 0 }, 45, 60, "level-3 ESP reduction" },
    { "1x1",         { 256, 12, 1, 1, 1, 0, 1, 1, 0, 0 }, 45, 60, "decoder.l3 classifier" },
    { "grouped",     { 64, 64, 3, 3, 1, 2, 2, 4, 0, 0 }, 90, 120, "3x3 d=2, 4 groups (not in ESPNet)" },
    { "transposed",  { 12, 12, 2, 2, 2, 0, 1, 1, 1, 0 }, 45, 60, "decoder.l3 up x2" },
    { "transposed",  { 12, 12, 2, 2, 2, 0, 1, 1, 1, 0 }, 180, 240, "decoder.l1 up x2" },
};
#define N_SHAPES ((int) (sizeof s_shapes / sizeof s_shapes[0]))

typedef struct {
    long   threads;
    double seconds, sgemm_seconds;
    int    json, tiny;
} conv_opts;

static void
usage (FILE *f)
{
    fprintf (f,
        "usage: offramp bench conv [--threads N] [--seconds S] [--sgemm-seconds S]\n"
        "                          [--tiny] [--json]\n\n"
        "GFLOP/s (2 FLOPs per multiply-add) of the ESPNet runtime's convolutions per\n"
        "layer type on the shapes ESPNet p=2 q=8 runs at 480x360, and their ratio to\n"
        "the OpenBLAS sgemm peak measured in the same run (`offramp bench sgemm`).\n"
        "  --threads N        BLAS threads (default: the current setting)\n"
        "  --seconds S        time per shape (default 0.5)\n"
        "  --sgemm-seconds S  time per sgemm shape for the peak (default 0.3)\n"
        "  --tiny             spatial sizes / 8 (a quick check)\n"
        "  --json             one JSON object\n");
}

static int
parse (int argc, char **argv, conv_opts *o)
{
    *o = (conv_opts) { .seconds = 0.5, .sgemm_seconds = 0.3 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double v;
        long long n;
        if (strcmp (a, "--json") == 0)
            o->json = 1;
        else if (strcmp (a, "--tiny") == 0)
            o->tiny = 1;
        else if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
            usage (stdout);
            return 1;
        } else if (strcmp (a, "--threads") == 0 && i + 1 < argc) {
            if (ofr_parse_int (argv[++i], &n) != 0 || n < 1 || n > 1024) {
                fprintf (stderr, "offramp bench conv: --threads wants 1..1024, got '%s'\n", argv[i]);
                return -1;
            }
            o->threads = (long) n;
        } else if ((strcmp (a, "--seconds") == 0 || strcmp (a, "--sgemm-seconds") == 0)
                   && i + 1 < argc) {
            char *end = NULL;
            v = strtod (argv[++i], &end);
            if (!end || *end || !(v > 0 && v <= 60)) {
                fprintf (stderr, "offramp bench conv: %s wants (0, 60], got '%s'\n", a, argv[i]);
                return -1;
            }
            *(strcmp (a, "--seconds") == 0 ? &o->seconds : &o->sgemm_seconds) = v;
        } else {
            fprintf (stderr, "offramp bench conv: unknown or incomplete option '%s'\n\n", a);
            usage (stderr);
            return -1;
        }
    }
    return 0;
}

/* GFLOP/s of one shape; -1 on failure (err says why). */
static double
time_shape (const conv_shape *s, int tiny, double seconds, long *reps, char *err,
            size_t errlen)
{
    int h = tiny ? s->h / 8 : s->h, w = tiny ? s->w / 8 : s->w;
    const ofr_conv2d_desc *d = &s->d;
    size_t nw = (size_t) (d->transposed ? d->c_in : d->c_out) * (size_t) ((d->transposed ? d->c_out : d->c_in) / d->groups)
                * (size_t) d->kh * (size_t) d->kw;
    float *wt = ofr_calloc (nw, sizeof *wt);
    ofr_conv2d *conv = NULL;
    double g = -1;
    float *x = NULL, *y = NULL, *scratch = NULL;
    if (!wt) {
        ofr_errf (err, errlen, "bench conv: out of memory");
        return -1;
    }
    ofr_rng rng;
    ofr_rng_seed (&rng, 7);
    for (size_t i = 0; i < nw; i++)
        wt[i] = (float) (ofr_rng_uniform (&rng) - 0.5);
    if (ofr_conv2d_new (d, wt, &conv, err, errlen) != 0)
        goto out;
    int oh, ow;
    ofr_conv2d_out_size (conv, h, w, &oh, &ow);
    if (oh < 1 || ow < 1) {
        ofr_errf (err, errlen, "bench conv: %s input %dx%d too small", s->use, h, w);
        goto out;
    }
    x = ofr_calloc ((size_t) d->c_in * h * w, sizeof *x);
    y = ofr_calloc ((size_t) d->c_out * oh * ow, sizeof *y);
    scratch = ofr_calloc (ofr_conv2d_scratch (conv, h, w) + 1, sizeof *scratch);
    if (!x || !y || !scratch) {
        ofr_errf (err, errlen, "bench conv: out of memory for %s", s->use);
        goto out;
    }
    for (size_t i = 0; i < (size_t) d->c_in * h * w; i++)
        x[i] = (float) (ofr_rng_uniform (&rng) - 0.5);
    ofr_conv2d_forward (conv, x, h, w, y, scratch);    /* warm-up */
    long count = 0;
    double t0 = ofr_now_ms (), elapsed;
    do {
        ofr_conv2d_forward (conv, x, h, w, y, scratch);
        count++;
        elapsed = (ofr_now_ms () - t0) / 1e3;
    } while (elapsed < seconds);
    g = 2.0 * (double) ofr_conv2d_macs (conv, h, w) * count / elapsed / 1e9;
    *reps = count;
out:
    ofr_conv2d_destroy (&conv);
    free (wt);
    free (x);
    free (y);
    free (scratch);
    return g;
}

int
ofr_bench_conv_cmd (int argc, char **argv)
{
    conv_opts o;
    int pr = parse (argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    int old = ofr_blas_threads ();
    if (o.threads > 0)
        ofr_blas_set_threads ((int) o.threads);
    double peak = ofr_bench_sgemm_peak (0, o.sgemm_seconds);
    if (!(peak > 0)) {
        fprintf (stderr, "offramp bench conv: measuring the sgemm peak failed\n");
        ofr_blas_set_threads (old);
        return 1;
    }
    double g[N_SHAPES];
    long reps[N_SHAPES];
    char err[OFR_ERRLEN];
    for (int i = 0; i < N_SHAPES; i++)
        if ((g[i] = time_shape (&s_shapes[i], o.tiny, o.seconds, &reps[i], err, sizeof err)) < 0) {
            fprintf (stderr, "offramp bench conv: %s\n", err);
            ofr_blas_set_threads (old);
            return 1;
        }
    ofr_buf b;
    ofr_buf_init (&b);
    if (o.json) {
        ofr_buf_puts (&b, "{\"benchmark\":\"conv\",\"core\":");
        ofr_buf_json_str (&b, ofr_blas_core ());
        ofr_buf_printf (&b, ",\"threads\":%d,\"tiny\":%s,\"sgemm_peak_gflops\":",
                        ofr_blas_threads (), o.tiny ? "true" : "false");
        ofr_buf_json_num (&b, peak);
        ofr_buf_puts (&b, ",\"shapes\":[");
    } else {
        ofr_buf_printf (&b, "OpenBLAS core %s, %d threads; sgemm peak %.1f GFLOP/s "
                        "(same run)%s\n", ofr_blas_core (), ofr_blas_threads (), peak,
                        o.tiny ? "; --tiny: sizes / 8" : "");
        ofr_buf_printf (&b, "%-12s %-18s %-9s %9s %7s %7s  %s\n", "type", "cin>cout k s d g",
                        "input", "GFLOP/s", "%peak", "reps", "use");
    }
    for (int i = 0; i < N_SHAPES; i++) {
        const conv_shape *s = &s_shapes[i];
        const ofr_conv2d_desc *d = &s->d;
        int h = o.tiny ? s->h / 8 : s->h, w = o.tiny ? s->w / 8 : s->w;
        if (o.json) {
            ofr_buf_printf (&b, "%s{\"type\":", i ? "," : "");
            ofr_buf_json_str (&b, s->type);
            ofr_buf_printf (&b, ",\"c_in\":%d,\"c_out\":%d,\"k\":%d,\"stride\":%d,\"dil\":%d,"
                            "\"groups\":%d,\"transposed\":%s,\"h\":%d,\"w\":%d,\"gflops\":",
                            d->c_in, d->c_out, d->kh, d->stride, d->dil, d->groups,
                            d->transposed ? "true" : "false", h, w);
            ofr_buf_json_num (&b, g[i]);
            ofr_buf_puts (&b, ",\"ratio_to_peak\":");
            ofr_buf_json_num (&b, g[i] / peak);
            ofr_buf_printf (&b, ",\"reps\":%ld,\"use\":", reps[i]);
            ofr_buf_json_str (&b, s->use);
            ofr_buf_puts (&b, "}");
        } else {
            char shape[64], in[32];
            snprintf (shape, sizeof shape, "%d>%d %dx%d s%d d%d g%d", d->c_in, d->c_out,
                      d->kh, d->kw, d->stride, d->dil, d->groups);
            snprintf (in, sizeof in, "%dx%d", w, h);
            ofr_buf_printf (&b, "%-12s %-18s %-9s %9.2f %6.1f%% %7ld  %s\n", s->type, shape,
                            in, g[i], 100.0 * g[i] / peak, reps[i], s->use);
        }
    }
    if (o.json)
        ofr_buf_puts (&b, "]}");
    printf ("%s\n", b.oom ? "out of memory" : b.data);
    ofr_buf_free (&b);
    ofr_blas_set_threads (old);
    return 0;
}
