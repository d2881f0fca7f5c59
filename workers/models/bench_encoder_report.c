/*  bench_encoder_report.c -- the table and the JSON of `offramp bench
    encoder`, with the derived ratios computed in one place. */
#include "bench_encoder.h"
#include "encoder.h"
#include "../engine/blas_setup.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    double gflops, ratio_peak, ratio_sgemm;
    double torch_ms, torch_speedup;     /* torch ms / C ms; NAN without torch */
    double flops_speedup, wall_speedup, efficiency;
} derived;

static derived
s_derive (const ofr_bench_report *r, int i)
{
    const ofr_bench_batch *b = &r->b[i];
    derived d;
    d.gflops = b->flops / (b->forward.median * 1e6);
    d.ratio_peak = d.gflops / r->peak;
    d.ratio_sgemm = d.gflops / b->sgemm_gflops;
    d.torch_ms = r->torch.ok ? r->torch.ms[i].median : NAN;
    d.torch_speedup = d.torch_ms / b->forward.median;
    d.flops_speedup = b->flops / b->exit_flops;
    d.wall_speedup = b->forward.median / b->exit_forward.median;
    d.efficiency = d.wall_speedup / d.flops_speedup;
    return d;
}

/* Largest |C - torch| over the logits of the largest batch. */
static double
s_logit_diff (const ofr_bench_report *r, int K)
{
    int big = 0;
    for (int i = 1; i < r->n_batches; i++)
        big = r->b[i].batch > r->b[big].batch ? i : big;
    if (!r->torch.ok || r->torch.rows != r->b[big].batch)
        return NAN;
    double m = 0;
    for (int j = 0; j < r->torch.rows * K; j++) {
        double e = fabs ((double) r->b[big].logits[j] - r->torch.logits[j]);
        m = e > m || isnan (e) ? e : m;
    }
    return m;
}

static void
s_stat_json (ofr_buf *o, const char *key, const ofr_bench_stat *s)
{
    ofr_buf_printf (o, ",\"%s\":{\"median\":", key);
    ofr_buf_json_num (o, s->median);
    ofr_buf_puts (o, ",\"min\":");
    ofr_buf_json_num (o, s->min);
    ofr_buf_puts (o, ",\"max\":");
    ofr_buf_json_num (o, s->max);
    ofr_buf_printf (o, ",\"n\":%d}", s->n);
}

static void
s_num (ofr_buf *o, const char *key, double v)
{
    ofr_buf_printf (o, ",\"%s\":", key);
    ofr_buf_json_num (o, v);
}

static void
s_json (const ofr_bench_report *r, const ofr_encoder_config *c)
{
    ofr_buf o;
    ofr_buf_init (&o);
    ofr_buf_puts (&o, "{\"benchmark\":\"encoder\",\"core\":");
    ofr_buf_json_str (&o, ofr_blas_core ());
    ofr_buf_printf (&o, ",\"threads\":%d,\"model\":", ofr_blas_threads ());
    ofr_buf_json_str (&o, r->model_name);
    ofr_buf_printf (&o, ",\"family\":\"%s\",\"layers\":%d,\"hidden\":%d,\"heads\":%d,"
                    "\"intermediate\":%d,\"tokens\":%d,\"repeat\":%d",
                    r->model->ops->family, c->n_layers, c->hidden, c->n_heads,
                    c->intermediate, r->tokens, r->repeat);
    s_num (&o, "sgemm_peak_gflops", r->peak);
    ofr_buf_puts (&o, ",\"torch\":{\"status\":");
    ofr_buf_json_str (&o, r->torch.ok ? "ok" : r->torch.reason);
    if (r->torch.ok) {
        ofr_buf_puts (&o, ",\"version\":");
        ofr_buf_json_str (&o, r->torch.version);
        ofr_buf_printf (&o, ",\"threads\":%d", r->torch.threads);
        s_num (&o, "max_abs_logit_diff", s_logit_diff (r, c->num_labels));
    }
    ofr_buf_puts (&o, "},\"batches\":[");
    for (int i = 0; i < r->n_batches; i++) {
        const ofr_bench_batch *b = &r->b[i];
        derived d = s_derive (r, i);
        ofr_buf_printf (&o, "%s{\"batch\":%d", i ? "," : "", b->batch);
        s_num (&o, "gflop", b->flops / 1e9);
        s_stat_json (&o, "forward_ms", &b->forward);
        s_stat_json (&o, "begin_ms", &b->begin);
        s_num (&o, "gflops", d.gflops);
        s_num (&o, "ratio_to_peak", d.ratio_peak);
        s_num (&o, "sgemm_model_gflops", b->sgemm_gflops);
        s_num (&o, "ratio_to_model_sgemm", d.ratio_sgemm);
        if (r->torch.ok) {
            s_stat_json (&o, "torch_ms", &r->torch.ms[i]);
            s_num (&o, "speedup_vs_torch", d.torch_speedup);
        }
        ofr_buf_puts (&o, ",\"early_exit\":{\"rule\":\"entropy\"");
        s_num (&o, "threshold", b->threshold);
        s_num (&o, "target_depth", r->depth * c->n_layers);
        s_num (&o, "mean_depth", b->mean_depth);
        s_num (&o, "gflop", b->exit_flops / 1e9);
        s_stat_json (&o, "forward_ms", &b->exit_forward);
        s_num (&o, "flops_speedup", d.flops_speedup);
        s_num (&o, "wall_speedup", d.wall_speedup);
        s_num (&o, "wall_over_flops", d.efficiency);
        ofr_buf_puts (&o, "}}");
    }
    ofr_buf_puts (&o, "]}");
    printf ("%s\n", o.oom ? "{\"error\":\"out of memory\"}" : o.data);
    ofr_buf_free (&o);
}

static void
s_table (const ofr_bench_report *r, const ofr_encoder_config *c)
{
    printf ("offramp bench encoder: %s (%s, %d layers, d=%d, %d heads, I=%d), %d tokens/row\n",
            r->model_name, r->model->ops->family, c->n_layers, c->hidden, c->n_heads,
            c->intermediate, r->tokens);
    printf ("OpenBLAS core %s, %d threads; sgemm peak %.1f GFLOP/s\n", ofr_blas_core (),
            ofr_blas_threads (), r->peak);
    if (r->torch.ok)
        printf ("torch %s, %d threads (tools/bench_encoder_torch.py, same weights and ids); "
                "logits agree to %.2g\n", r->torch.version, r->torch.threads,
                s_logit_diff (r, c->num_labels));
    else
        printf ("torch: %s\n", r->torch.reason);
    printf ("times: median [min-max] of %d runs after a warm-up, ms\n\n", r->repeat);
    printf ("%5s %8s %22s %8s %6s %7s %8s %22s %7s\n", "batch", "GFLOP", "forward ms",
            "GFLOP/s", "%peak", "%sgemm", "begin", "torch ms", "torch/C");
    for (int i = 0; i < r->n_batches; i++) {
        const ofr_bench_batch *b = &r->b[i];
        derived d = s_derive (r, i);
        char fw[64], tw[64] = "-";
        snprintf (fw, sizeof fw, "%.2f [%.2f-%.2f]", b->forward.median, b->forward.min,
                  b->forward.max);
        if (r->torch.ok)
            snprintf (tw, sizeof tw, "%.2f [%.2f-%.2f]", d.torch_ms, r->torch.ms[i].min,
                      r->torch.ms[i].max);
        printf ("%5d %8.3f %22s %8.1f %5.1f%% %6.1f%% %8.2f %22s %7.2f\n", b->batch,
                b->flops / 1e9, fw, d.gflops, 100 * d.ratio_peak, 100 * d.ratio_sgemm,
                b->begin.median, tw, d.torch_speedup);
    }
    printf ("  %%sgemm: against ofr_matmul alone on the batch's four projection shapes "
            "(T x 3d x d, T x d x d, T x I x d, T x d x I)\n\n");
    printf ("early exit: DeeBERT entropy rule, threshold set on these inputs for a mean "
            "depth of %.2g of %d layers; exit heads charged; rows compacted\n",
            r->depth, c->n_layers);
    printf ("%5s %9s %6s %8s %22s %10s %10s %10s\n", "batch", "threshold", "depth", "GFLOP",
            "exit forward ms", "FLOPs x", "wall x", "wall/FLOPs");
    for (int i = 0; i < r->n_batches; i++) {
        const ofr_bench_batch *b = &r->b[i];
        derived d = s_derive (r, i);
        char fw[64];
        snprintf (fw, sizeof fw, "%.2f [%.2f-%.2f]", b->exit_forward.median,
                  b->exit_forward.min, b->exit_forward.max);
        printf ("%5d %9.4f %6.2f %8.3f %22s %10.2f %10.2f %10.2f\n", b->batch, b->threshold,
                b->mean_depth, b->exit_flops / 1e9, fw, d.flops_speedup, d.wall_speedup,
                d.efficiency);
    }
}

void
ofr_bench_report_print (const ofr_bench_report *r, bool json)
{
    const ofr_encoder_config *c = ofr_encoder_config_of (r->model);
    if (json)
        s_json (r, c);
    else
        s_table (r, c);
}
