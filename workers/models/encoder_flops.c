/*  encoder_flops.c -- analytic costs of encoder layers and exit heads, with
    the constants of docs/FLOPS.md (2 FLOPs per multiply-add). */
#include "encoder.h"

/* Per-element costs (docs/FLOPS.md). */
#define FLOPS_SOFTMAX 5.0   /* max, subtract, exp, sum, divide per score   */
#define FLOPS_NORM    8.0   /* mean, variance, normalize, scale, shift     */
#define FLOPS_GELU    8.0
#define FLOPS_CHEAP   1.0   /* relu, tanh as one transcendental            */

static double
act_cost (ofr_act a)
{
    return a == OFR_ACT_RELU || a == OFR_ACT_TANH ? FLOPS_CHEAP : FLOPS_GELU;
}

void
ofr_encoder_layer_flops (const ofr_encoder_config *c, int layer, int n,
                         ofr_encoder_flops *f)
{
    double d = c->hidden, I = c->intermediate, N = n, E = c->embedding;
    double blocks = c->inner_layers;
    f->linear = blocks * 2.0 * N * (4.0 * d * d + 2.0 * d * I);
    f->attention = blocks * 2.0 * (2.0 * N * N * d);
    f->softmax = blocks * FLOPS_SOFTMAX * c->n_heads * N * N;
    f->norm = blocks * FLOPS_NORM * 2.0 * N * d;
    f->act = blocks * act_cost (c->act) * N * I;
    f->embed = 0;
    if (layer == 0) {
        double adds = c->type_vocab > 0 ? 2.0 : 1.0;
        f->embed = adds * N * E + FLOPS_NORM * N * E;
        if (E != d)
            f->embed += 2.0 * N * E * d;
    }
    f->total = f->linear + f->attention + f->softmax + f->norm + f->act + f->embed;
}

double
ofr_encoder_head_flops (const ofr_encoder_config *c, ofr_act pooler_act)
{
    double d = c->hidden, K = c->num_labels;
    double head = 2.0 * d * d + act_cost (pooler_act) * d + 2.0 * K * d;
    return c->regression ? head : head + FLOPS_SOFTMAX * K;
}
