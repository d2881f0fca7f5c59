/*  cmd_bench_decode.c -- `offramp bench decode` (see bench_decode.h). */
#include "bench_decode.h"
#include "decoder.h"
#include "hf_llama.h"
#include "gptx.h"
#include "llama.h"
#include "../engine/blas_setup.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MODEL "stories260K"

typedef struct {
    const char *name;
    int dim, hidden, layers, heads, kv_heads, vocab, seq_len;
} dec_shape;

static const dec_shape s_shapes[] = {
    /* name     d     h    L   H  kv  vocab   seq */
    { "tiny",   64,  172,  2,  4,  2,   512,  256 },
    { "small", 288,  768,  6,  6,  6, 32000,  256 },   /* stories15M          */
    { "base",  768, 2048, 12, 12, 12, 32000, 1024 },   /* ~110M params        */
};

typedef struct {
    const char *model;
    const dec_shape *shape;
    int tokens, threads, repeat, bw_repeat, json;
    long long bw_mb;
} opts;

static void
s_usage (FILE *f)
{
    fprintf (f,
        "usage: offramp bench decode [--model DIR | --shape tiny|small|base] [--tokens N]\n"
        "         [--threads N] [--repeat R] [--bw-mb M] [--bw-repeat K] [--format table|json]\n"
        "  Greedy decoding at batch 1 (BOS, then N generated tokens, every layer): tokens/s\n"
        "  (median and range of R runs) against the memory-bandwidth bound\n"
        "  bandwidth / bytes of weights read per token, the bandwidth measured in the same\n"
        "  run (streaming read of M MB by the BLAS threads, best of K).\n"
        "  --model DIR   llama2.c or Hugging Face Llama directory, or a name on the models\n"
        "                path (default %s)\n"
        "  --shape S     generated random weights instead: tiny (2x64), small (6x288, the\n"
        "                stories15M shape), base (12x768, hidden 2048, vocab 32000)\n"
        "  --tokens N    generated tokens per run (default 64)\n"
        "  --threads N   OpenBLAS and bandwidth threads (default: current, %d)\n"
        "  --repeat R    timed runs (default 5)\n"
        "  --bw-mb M     bandwidth buffer in MB (default 512)\n"
        "  --bw-repeat K bandwidth passes, best reported (default 5)\n"
        "  --format F    table (default) or json\n",
        DEFAULT_MODEL, ofr_blas_threads ());
}

static int
s_int (const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    if (ofr_parse_int (v, out) != 0 || *out < lo || *out > hi) {
        fprintf (stderr, "offramp bench decode: %s wants %lld..%lld, got '%s'\n", flag, lo,
                 hi, v);
        return -1;
    }
    return 0;
}

/* Returns 0, 1 (--help printed) or 2 (usage error). */
static int
s_parse (int argc, char **argv, opts *o)
{
    *o = (opts) { .tokens = 64, .repeat = 5, .bw_repeat = 5, .bw_mb = 512 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x = 0;
        int rc = 0;
        if (!strcmp (a, "--help") || !strcmp (a, "-h")) {
            s_usage (stdout);
            return 1;
        }
        if (!v) {
            fprintf (stderr, "offramp bench decode: unknown or incomplete option '%s'\n", a);
            return 2;
        }
        i++;
        if (!strcmp (a, "--model"))
            o->model = v;
        else if (!strcmp (a, "--shape")) {
            o->shape = NULL;
            for (size_t k = 0; k < sizeof s_shapes / sizeof s_shapes[0]; k++)
                if (!strcmp (v, s_shapes[k].name))
                    o->shape = &s_shapes[k];
            if (!o->shape) {
                fprintf (stderr, "offramp bench decode: --shape wants tiny, small or base, "
                         "got '%s'\n", v);
                rc = -1;
            }
        } else if (!strcmp (a, "--tokens")) {
            if (!(rc = s_int (a, v, 1, 100000, &x)))
                o->tokens = (int) x;
        } else if (!strcmp (a, "--threads")) {
            if (!(rc = s_int (a, v, 1, 256, &x)))
                o->threads = (int) x;
        } else if (!strcmp (a, "--repeat")) {
            if (!(rc = s_int (a, v, 1, 1000, &x)))
                o->repeat = (int) x;
        } else if (!strcmp (a, "--bw-repeat")) {
            if (!(rc = s_int (a, v, 1, 1000, &x)))
                o->bw_repeat = (int) x;
        } else if (!strcmp (a, "--bw-mb"))
            rc = s_int (a, v, 1, 1 << 16, &o->bw_mb);
        else if (!strcmp (a, "--format")) {
            if (strcmp (v, "json") && strcmp (v, "table")) {
                fprintf (stderr, "offramp bench decode: --format wants table or json\n");
                rc = -1;
            }
            o->json = !strcmp (v, "json");
        } else {
            fprintf (stderr, "offramp bench decode: unknown option '%s'\n", a);
            rc = -1;
        }
        if (rc)
            return 2;
    }
    if (o->model && o->shape) {
        fprintf (stderr, "offramp bench decode: --model and --shape exclude each other\n");
        return 2;
    }
    return 0;
}

/* ---- memory bandwidth --------------------------------------------------- */

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_slice;

static void *
bw_read (void *arg)
{
    bw_slice *s = arg;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= s->n; i += 8) {
        a0 += s->p[i];     a1 += s->p[i + 1];
        a2 += s->p[i + 2]; a3 += s->p[i + 3];
        a4 += s->p[i + 4]; a5 += s->p[i + 5];
        a6 += s->p[i + 6]; a7 += s->p[i + 7];
    }
    for (; i < s->n; i++)
        a0 += s->p[i];
    s->sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return NULL;
}

static int
cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int
ofr_bench_bandwidth (size_t mb, int threads, int repeat, double *best, double *median,
                     char *err, size_t errlen)
{
    if (threads < 1 || threads > 256 || repeat < 1 || mb < 1)
        return ofr_errf (err, errlen, "bandwidth: bad threads %d / repeat %d / size", threads,
                         repeat);
    size_t n = mb * 1024 * 1024 / sizeof (uint64_t);
    uint64_t *buf = malloc (n * sizeof *buf);
    double *gbs = ofr_calloc ((size_t) repeat, sizeof *gbs);
    bw_slice sl[256];
    pthread_t th[256];
    if (!buf || !gbs) {
        free (buf);
        free (gbs);
        return ofr_errf (err, errlen, "bandwidth: out of memory for %zu MB", mb);
    }
    for (size_t i = 0; i < n; i++)      /* touch every page: no zero-page reads */
        buf[i] = i;
    volatile uint64_t sink = 0;
    int rc = 0;
    for (int r = 0; r < repeat && rc == 0; r++) {
        size_t per = n / (size_t) threads;
        int started = 0;
        double t0 = ofr_now_ms ();
        for (int t = 0; t < threads; t++) {
            sl[t] = (bw_slice) { buf + (size_t) t * per,
                                 t == threads - 1 ? n - (size_t) t * per : per, 0 };
            if (t > 0 && pthread_create (&th[t], NULL, bw_read, &sl[t]) != 0) {
                rc = ofr_errf (err, errlen, "bandwidth: cannot start thread %d", t);
                break;
            }
            started = t + 1;
        }
        if (started > 0)
            bw_read (&sl[0]);
        for (int t = 1; t < started; t++)
            pthread_join (th[t], NULL);
        double s = (ofr_now_ms () - t0) / 1e3;
        for (int t = 0; t < started; t++)
            sink += sl[t].sum;
        gbs[r] = s > 0 ? (double) (n * sizeof *buf) / s / 1e9 : 0;
    }
    (void) sink;
    if (rc == 0) {
        qsort (gbs, (size_t) repeat, sizeof *gbs, cmp_double);
        *best = gbs[repeat - 1];
        if (median)
            *median = gbs[repeat / 2];
    }
    free (buf);
    free (gbs);
    return rc;
}

/* ---- the model ---------------------------------------------------------- */

double
ofr_bench_decode_weight_bytes (const ofr_llama *m)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    double d = c->dim, kv = c->kv_dim, h = c->hidden_dim, V = c->vocab_size;
    double layer = 2 * d + d * (d + 2 * kv) + d * d + 3 * d * h;
    if (c->arch != OFR_ARCH_LLAMA)    /* GELU MLP, LayerNorm and matmul biases */
        layer = 4 * d + d * (d + 2 * kv) + d * d + 2 * d * h + (3 * d + 2 * kv + h);
    return 4.0 * (c->n_layers * layer + d + V * d + d);
}

static int
s_generate (const dec_shape *s, ofr_llama **out, char *err, size_t errlen)
{
    ofr_llama_config c = { .dim = s->dim, .hidden_dim = s->hidden, .n_layers = s->layers,
                           .n_heads = s->heads, .n_kv_heads = s->kv_heads,
                           .vocab_size = s->vocab, .seq_len = s->seq_len,
                           .shared_classifier = true, .norm_eps = 1e-5f,
                           .rope_theta = 10000.0f };
    char name[64];
    snprintf (name, sizeof name, "generated-%s", s->name);
    if (ofr_llama_new (&c, name, out, err, errlen))
        return -1;
    const ofr_llama_config *cc = ofr_llama_config_of (*out);
    size_t d = (size_t) cc->dim, kv = (size_t) cc->kv_dim, h = (size_t) cc->hidden_dim;
    ofr_rng rng;
    ofr_rng_seed (&rng, 1234);
    float sd = 1.0f / sqrtf ((float) d), sh = 1.0f / sqrtf ((float) h);
#define FILL(ptr, n, scale)                                                     \
    do {                                                                        \
        float *p_ = (float *) (ptr);                                            \
        for (size_t i_ = 0; i_ < (n); i_++)                                     \
            p_[i_] = (scale) * (float) (2.0 * ofr_rng_uniform (&rng) - 1.0);   \
    } while (0)
    FILL (ofr_llama_embedding (*out), (size_t) cc->vocab_size * d, 1.0f);
    for (int l = 0; l < cc->n_layers; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (*out, l);
        FILL (w->wqkv, (d + 2 * kv) * d, sd);
        FILL (w->wo, d * d, sd);
        FILL (w->w13, 2 * h * d, sd);
        FILL (w->w2, d * h, sh);
        for (size_t i = 0; i < d; i++)
            ((float *) w->rms_att)[i] = ((float *) w->rms_ffn)[i] = 1.0f;
    }
#undef FILL
    for (size_t i = 0; i < d; i++)
        ((float *) ofr_llama_final_norm (*out))[i] = 1.0f;
    return 0;
}

static bool
is_dir (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* The one .bin of dir that is not a tokenizer (tok*.bin). */
static int
s_llama2c_in (const char *dir, ofr_llama **out, char *err, size_t errlen)
{
    DIR *dp = opendir (dir);
    if (!dp)
        return ofr_errf (err, errlen, "%s: cannot open the directory", dir);
    struct dirent *e;
    int found = 0;
    ofr_buf path;
    ofr_buf_init (&path);
    while ((e = readdir (dp))) {
        size_t n = strlen (e->d_name);
        if (n > 4 && !strcmp (e->d_name + n - 4, ".bin") && strncmp (e->d_name, "tok", 3)) {
            found++;
            path.len = 0;
            ofr_buf_printf (&path, "%s/%s", dir, e->d_name);
        }
    }
    closedir (dp);
    int rc;
    if (found != 1 || path.oom)
        rc = ofr_errf (err, errlen, "%s: want one llama2.c checkpoint .bin or a Hugging "
                       "Face config.json (model_type llama), found %d .bin", dir, found);
    else
        rc = ofr_llama_load (path.data, out, err, errlen);
    ofr_buf_free (&path);
    return rc;
}

static int
s_open (const char *arg, ofr_llama **out, char *err, size_t errlen)
{
    char *dir = NULL;
    if (is_dir (arg))
        dir = ofr_strdup (arg);
    else if (!strchr (arg, '/')) {
        char *path = ofr_default_models_path ();
        if (!path || ofr_path_find (path, arg, &dir, NULL, 0) != 0 || !is_dir (dir)) {
            free (dir);
            dir = NULL;
        }
        free (path);
    } else
        return ofr_llama_load (arg, out, err, errlen);
    if (!dir)
        return ofr_errf (err, errlen, "model '%s': no such directory here or on the model "
                         "path (set OFFRAMP_MODELS)", arg);
    int rc = ofr_gptx_probe (dir) ? ofr_gptx_load (dir, out, err, errlen)
           : ofr_hf_llama_probe (dir) ? ofr_hf_llama_load (dir, out, NULL, err, errlen)
           : s_llama2c_in (dir, out, err, errlen);
    free (dir);
    return rc;
}

/* ---- decoding ----------------------------------------------------------- */

/* One run: BOS (or token 0), then `tokens` greedy steps; seconds. */
static int
s_decode_once (ofr_decoder *dec, int tokens, double *seconds, char *err, size_t errlen)
{
    const ofr_llama *m = ofr_decoder_model (dec);
    int V = ofr_llama_vocab_size (m), row = 0;
    int tok = V > OFR_LLAMA_BOS ? OFR_LLAMA_BOS : 0;
    ofr_decoder_reset (dec, 0);
    double t0 = ofr_now_ms ();
    for (int i = 0; i < tokens; i++) {
        if (ofr_decoder_forward (dec, &row, &tok, 1, err, errlen))
            return -1;
        const float *lg = ofr_decoder_logits (dec, 0);
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best])
                best = v;
        tok = best;
    }
    *seconds = (ofr_now_ms () - t0) / 1e3;
    return 0;
}

typedef struct {
    double tps_med, tps_min, tps_max;
    double bw_best, bw_med;
    double wbytes, kvbytes, bound, bound_kv;
} results;

static void
s_print (const opts *o, const char *name, const ofr_llama *m, const results *r)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    const char *env = getenv ("OPENBLAS_CORETYPE");
    double ratio = r->bound > 0 ? r->tps_med / r->bound : 0;
    int threads = ofr_blas_threads ();
    if (o->json) {
        printf ("{\"benchmark\": \"decode\", \"model\": \"%s\", \"dim\": %d, \"hidden_dim\": %d, "
                "\"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"vocab\": %d, "
                "\"batch\": 1, \"tokens\": %d, \"repeat\": %d, "
                "\"weight_bytes_per_token\": %.0f, \"kv_bytes_per_token_mean\": %.0f, "
                "\"tokens_per_s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, "
                "\"bandwidth_gbs\": {\"best\": %.3f, \"median\": %.3f, \"buffer_mb\": %lld, "
                "\"repeat\": %d}, \"bound_tokens_per_s\": %.3f, "
                "\"bound_with_kv_tokens_per_s\": %.3f, \"ratio\": %.6g, "
                "\"core\": \"%s\", \"openblas_coretype\": \"%s\", \"threads\": %d}\n",
                name, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                c->vocab_size, o->tokens, o->repeat, r->wbytes, r->kvbytes, r->tps_med,
                r->tps_min, r->tps_max, r->bw_best, r->bw_med, o->bw_mb, o->bw_repeat,
                r->bound, r->bound_kv, ratio, ofr_blas_core (), env ? env : "", threads);
        return;
    }
    printf ("decode at batch 1: %s (d %d, hidden %d, %d layers, %d/%d heads, vocab %d)\n",
            name, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
            c->vocab_size);
    printf ("  OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d threads\n", ofr_blas_core (),
            env ? env : "unset", threads);
    printf ("  weights read per token %.2f MB, KV cache at the mean position %.3f MB\n",
            r->wbytes / 1e6, r->kvbytes / 1e6);
    printf ("  bandwidth %.2f GB/s best (median %.2f) of %d reads of %lld MB\n", r->bw_best,
            r->bw_med, o->bw_repeat, o->bw_mb);
    printf ("  decode %.1f tokens/s median of %d runs of %d tokens (range %.1f .. %.1f)\n",
            r->tps_med, o->repeat, o->tokens, r->tps_min, r->tps_max);
    printf ("  bound %.1f tokens/s (bandwidth / weights; %.1f with the KV cache): "
            "ratio %.3f\n", r->bound, r->bound_kv, ratio);
    if (ratio > 1)
        printf ("  (ratio > 1: the weights fit in the caches, the DRAM bound does not "
                "apply)\n");
}

static int
s_run (const opts *o, ofr_llama *m, const char *name, char *err, size_t errlen)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    if (o->tokens > c->seq_len)
        return ofr_errf (err, errlen, "--tokens %d exceeds the model's %d positions",
                         o->tokens, c->seq_len);
    ofr_decoder *dec = NULL;
    double *tps = ofr_calloc ((size_t) o->repeat, sizeof *tps);
    results r = { 0 };
    int rc = 0;
    if (!tps)
        return ofr_errf (err, errlen, "out of memory");
    if (ofr_decoder_new (m, 1, o->tokens, &dec, err, errlen)) {
        free (tps);
        return -1;
    }
    double s;
    rc = s_decode_once (dec, o->tokens < 8 ? o->tokens : 8, &s, err, errlen); /* warm-up */
    for (int i = 0; rc == 0 && i < o->repeat; i++) {
        rc = s_decode_once (dec, o->tokens, &s, err, errlen);
        tps[i] = s > 0 ? o->tokens / s : 0;
    }
    ofr_decoder_destroy (&dec);
    if (rc == 0)
        rc = ofr_bench_bandwidth ((size_t) o->bw_mb, ofr_blas_threads (), o->bw_repeat,
                                  &r.bw_best, &r.bw_med, err, errlen);
    if (rc == 0) {
        qsort (tps, (size_t) o->repeat, sizeof *tps, cmp_double);
        r.tps_min = tps[0];
        r.tps_max = tps[o->repeat - 1];
        r.tps_med = o->repeat % 2 ? tps[o->repeat / 2]
                                  : (tps[o->repeat / 2 - 1] + tps[o->repeat / 2]) / 2;
        r.wbytes = ofr_bench_decode_weight_bytes (m);
        r.kvbytes = 4.0 * 2 * c->n_layers * (double) c->kv_dim * (o->tokens + 1) / 2.0;
        r.bound = r.bw_best * 1e9 / r.wbytes;
        r.bound_kv = r.bw_best * 1e9 / (r.wbytes + r.kvbytes);
        s_print (o, name, m, &r);
    }
    free (tps);
    return rc;
}

int
ofr_bench_decode_cmd (int argc, char **argv)
{
    opts o;
    int rc = s_parse (argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    int old = ofr_blas_threads ();
    if (o.threads > 0)
        ofr_blas_set_threads (o.threads);
    char err[OFR_ERRLEN] = "";
    ofr_llama *m = NULL;
    const char *name = o.shape ? o.shape->name : o.model ? o.model : DEFAULT_MODEL;
    rc = o.shape ? s_generate (o.shape, &m, err, sizeof err)
                 : s_open (o.model ? o.model : DEFAULT_MODEL, &m, err, sizeof err);
    if (rc == 0)
        rc = s_run (&o, m, name, err, sizeof err);
    if (rc)
        fprintf (stderr, "offramp bench decode: %s\n", err[0] ? err : "failed");
    ofr_llama_destroy (&m);
    ofr_blas_set_threads (old);
    return rc ? 1 : 0;
}
