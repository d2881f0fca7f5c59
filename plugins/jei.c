/*  jei.c -- JEI-DNN learned exit gates (Regol, Chataoui & Coates, ICLR
    2024, "Jointly-Learned Exit and Inference for a Dynamic Neural
    Network"). After layer i a gate reads

        x_i = [ pooled_i ; probs_i ; entropy(probs_i) ]      (d + K + 1)
        g_i = sigmoid (jei.gate.{i}.weight . x_i + jei.gate.{i}.bias)

    and the row exits at the first layer with g_i >= `threshold`.

    As recipes/components.py fit_jei trained them, pooled_i and probs_i
    come from JEI's own inference modules jei.exits.{i} (fine-tuned copies
    of the exit heads, tanh pooler + classifier on the raw [CLS] state),
    and an exiting row predicts with that module, at the last layer too
    (ABI 1.1: host->token_state and host->set_exit_probs). A checkpoint
    without jei.exits.* is read with the model's own exit heads. For a
    regression head probs_i is the predicted score and the entropy 0. */
#include "offramp_plugin.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define FLOPS_SOFTMAX 5.0       /* per class, docs/FLOPS.md          */
#define FLOPS_ENTROPY 3.0       /* per class: log, multiply, add     */

typedef struct {                /* one inference module              */
    const float *pw, *pb, *cw, *cb;
} jei_im;

typedef struct {
    const ofr_host *host;
    double        threshold;
    int           cap_layers;
    const float **gw, **gb;     /* [cap_layers] gate weight [d+K+1], bias [1] */
    jei_im       *im;           /* [cap_layers]                               */
    int           use_im;       /* the checkpoint ships jei.exits.*          */
    int           dim, K;
    int           cap_dim, cap_k;
    float        *pooled;       /* [cap_dim] scratch                          */
    float        *probs;        /* [cap_k] scratch                            */
    double       *logits;       /* [cap_k] scratch                            */
} jei_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.5", 0.0, 1.0,
      "exit when the gate's exit probability reaches this" },
};

static int
jei_create (const ofr_host *host, const ofr_value *values, void **state,
            char *err, size_t errlen)
{
    jei_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "jei: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = values[0].f;
    *state = s;
    return 0;
}

static void
jei_destroy (void *state)
{
    jei_state *s = state;
    if (!s)
        return;
    free (s->gw);
    free (s->gb);
    free (s->im);
    free (s->pooled);
    free (s->probs);
    free (s->logits);
    free (s);
}

static const float *
tensor (jei_state *s, const ofr_batch *batch, const char *what, int layer,
        const char *part, size_t want)
{
    char name[96];
    size_t n = 0;
    snprintf (name, sizeof name, "jei.%s.%d.%s", what, layer, part);
    const float *t = s->host->model_tensor (batch->host_ctx, name, &n);
    if (!t)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: model has no tensor "
                      "'%s': the checkpoint lacks the JEI-DNN component (jei.gate.{i}, "
                      "jei.exits.{i}; docs/CHECKPOINTS.md, recipes/train_glue.py "
                      "--components jei)", name);
    else if (n != want)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: tensor '%s' has %zu "
                      "elements, expected %zu (hidden %d, outputs %d)", name, n, want,
                      s->dim, s->K);
    return t && n == want ? t : NULL;
}

static int
oom (jei_state *s, const ofr_batch *batch)
{
    s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: out of memory");
    return -1;
}

/* Model tensors need a batch's host_ctx: found here, not in create. */
static int
jei_begin (void *state, const ofr_batch *batch)
{
    jei_state *s = state;
    int L = batch->n_layers;
    s->K = batch->n_outputs;
    s->dim = 0;
    if (batch->n_rows > 0)
        s->host->hidden_state (batch->host_ctx, 0, &s->dim);
    if (s->dim <= 0 || s->K < 1) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: the model exposes no "
                      "hidden state or exit outputs for the gates to read");
        return -1;
    }
    if (L > s->cap_layers) {
        free (s->gw);
        free (s->gb);
        free (s->im);
        s->gw = calloc ((size_t) L, sizeof *s->gw);
        s->gb = calloc ((size_t) L, sizeof *s->gb);
        s->im = calloc ((size_t) L, sizeof *s->im);
        s->cap_layers = s->gw && s->gb && s->im ? L : 0;
        if (!s->cap_layers)
            return oom (s, batch);
    }
    if (s->dim > s->cap_dim) {
        free (s->pooled);
        s->pooled = malloc ((size_t) s->dim * sizeof *s->pooled);
        s->cap_dim = s->pooled ? s->dim : 0;
        if (!s->pooled)
            return oom (s, batch);
    }
    if (s->K > s->cap_k) {
        free (s->probs);
        free (s->logits);
        s->probs = malloc ((size_t) s->K * sizeof *s->probs);
        s->logits = malloc ((size_t) s->K * sizeof *s->logits);
        s->cap_k = s->probs && s->logits ? s->K : 0;
        if (!s->cap_k)
            return oom (s, batch);
    }
    size_t d = (size_t) s->dim, K = (size_t) s->K;
    for (int l = 0; l < L - 1; l++)
        if (!(s->gw[l] = tensor (s, batch, "gate", l, "weight", d + K + 1))
            || !(s->gb[l] = tensor (s, batch, "gate", l, "bias", 1)))
            return -1;
    size_t n = 0;
    s->use_im = s->host->model_tensor (batch->host_ctx, "jei.exits.0.pooler.dense.weight",
                                       &n) != NULL;
    if (!s->use_im)
        return 0;
    if (s->host->struct_size < offsetof (ofr_host, set_exit_probs) + sizeof s->host->set_exit_probs
        || !s->host->token_state || !s->host->set_exit_probs) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: the checkpoint ships JEI "
                      "inference modules (jei.exits.*) but the host has no token_state / "
                      "set_exit_probs (ABI 1.1) to run them");
        return -1;
    }
    for (int l = 0; l < L; l++) {
        jei_im *m = &s->im[l];
        if (!(m->pw = tensor (s, batch, "exits", l, "pooler.dense.weight", d * d))
            || !(m->pb = tensor (s, batch, "exits", l, "pooler.dense.bias", d))
            || !(m->cw = tensor (s, batch, "exits", l, "classifier.weight", K * d))
            || !(m->cb = tensor (s, batch, "exits", l, "classifier.bias", K)))
            return -1;
    }
    return 0;
}

/*  Runs inference module `layer` on raw state h into s->pooled and
    s->probs; returns its FLOPs. */
static double
run_im (jei_state *s, int layer, const float *h)
{
    const jei_im *m = &s->im[layer];
    int d = s->dim, K = s->K;
    for (int o = 0; o < d; o++) {
        double z = m->pb[o];
        const float *w = m->pw + (size_t) o * d;
        for (int k = 0; k < d; k++)
            z += (double) w[k] * h[k];
        s->pooled[o] = (float) tanh (z);
    }
    double mx = -HUGE_VAL, sum = 0, *logits = s->logits;
    for (int c = 0; c < K; c++) {
        double z = m->cb[c];
        const float *w = m->cw + (size_t) c * d;
        for (int k = 0; k < d; k++)
            z += (double) w[k] * s->pooled[k];
        logits[c] = z;
        mx = z > mx ? z : mx;
    }
    double flops = 2.0 * d * d + d + 2.0 * K * d;
    if (K == 1) {
        s->probs[0] = (float) logits[0];
        return flops;
    }
    for (int c = 0; c < K; c++)
        sum += (logits[c] = exp (logits[c] - mx));
    for (int c = 0; c < K; c++)
        s->probs[c] = (float) (logits[c] / sum);
    return flops + FLOPS_SOFTMAX * K;
}

/* The gate's terms over probs and entropy; *flops gets their cost. */
static double
gate_probs_part (const jei_state *s, const float *w, const float *p, double *flops)
{
    int d = s->dim, K = s->K;
    double z = 0, ent = 0;
    for (int c = 0; c < K; c++)
        z += (double) w[d + c] * p[c];
    if (K > 1) {
        for (int c = 0; c < K; c++)
            if (p[c] > 0)
                ent -= (double) p[c] * log ((double) p[c]);
        *flops += FLOPS_ENTROPY * K;
    }
    return z + (double) w[d + K] * ent;
}

static int
jei_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    jei_state *s = state;
    int last = layer >= batch->n_layers - 1, d = s->dim, K = s->K;
    if (last && !s->use_im)
        return 0;
    for (int i = 0; i < batch->n_rows; i++) {
        double flops = 0, z = 0;
        int dim = 0;
        const float *pooled;
        if (s->use_im) {
            const float *h = s->host->token_state (batch->host_ctx, i, &dim);
            if (!h || dim != d)
                goto no_state;
            flops = run_im (s, layer, h);
            pooled = s->pooled;
            if (!last)
                z = gate_probs_part (s, s->gw[layer], s->probs, &flops);
        }
        else {
            int n_pos = 0;
            const float *p = s->host->exit_probs (batch->host_ctx, i, layer, &n_pos);
            if (!p)
                return -1;
            /* p is only valid until the next host call: use it first. */
            z = gate_probs_part (s, s->gw[layer], p, &flops);
            pooled = s->host->hidden_state (batch->host_ctx, i, &dim);
            if (!pooled || dim != d)
                goto no_state;
        }
        int leave = last;
        if (!last) {
            const float *w = s->gw[layer];
            z += s->gb[layer][0];
            for (int k = 0; k < d; k++)
                z += (double) w[k] * pooled[k];
            flops += 2.0 * (d + K + 1) + 1.0;       /* the gate and its sigmoid */
            leave = 1.0 / (1.0 + exp (-z)) >= s->threshold;
        }
        s->host->charge_flops (batch->host_ctx, i, flops);
        if (leave && s->use_im
            && s->host->set_exit_probs (batch->host_ctx, i, layer, s->probs) != 0) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: the host refused the "
                          "inference module's prediction at layer %d", layer + 1);
            return -1;
        }
        if (leave)
            actions[i] = OFR_EXIT;
    }
    return 0;
no_state:
    s->host->log (batch->host_ctx, OFR_LOG_ERROR, "jei: no %s state of width %d at "
                  "layer %d", s->use_im ? "[CLS]" : "pooled", d, layer + 1);
    return -1;
}

static const ofr_method s_jei = {
    OFR_METHOD_HEADER,
    .name = "jei",
    .version = "1.0",
    .summary = "JEI-DNN: exit when the learned gate's exit probability reaches a threshold",
    .kinds = OFR_KIND_ENCODER,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = jei_create,
    .destroy = jei_destroy,
    .begin = jei_begin,
    .after_layer = jei_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_jei;
}
