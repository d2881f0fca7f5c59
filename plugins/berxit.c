/*  berxit.c -- BERxiT learn-to-exit (Xin et al., EACL 2021). One linear
    module shared by all layers predicts the certainty of the current exit
    from its pooled state,

        certainty_i = sigmoid (w . pooled_i + b),

    w, b = model tensors berxit.lte.weight / .bias, trained with BCE on
    "exit i is correct" (recipes/components.py fit_berxit) on the pooled
    exit state tanh(exits.{i}.pooler.dense(h_cls)) -- what host->hidden_state
    returns for encoders. A row exits at the first layer whose certainty is
    >= `threshold`; the last layer needs no estimate. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    double       threshold;
    const float *w;         /* [dim] */
    const float *b;         /* [1]   */
    int          dim;
} berxit_state;

static const ofr_param_decl s_params[] = {
    { "threshold", OFR_PARAM_FLOAT, "0.5", 0.0, 1.0,
      "exit when the learned certainty sigmoid(lte . pooled + b) reaches this" },
};

static int
berxit_create (const ofr_host *host, const ofr_value *values, void **state,
               char *err, size_t errlen)
{
    berxit_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "berxit: out of memory");
        return -1;
    }
    s->host = host;
    s->threshold = values[0].f;
    *state = s;
    return 0;
}

static void
berxit_destroy (void *state)
{
    free (state);
}

static const float *
tensor (berxit_state *s, const ofr_batch *batch, const char *name, size_t want)
{
    size_t n = 0;
    const float *t = s->host->model_tensor (batch->host_ctx, name, &n);
    if (!t)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "berxit: model has no tensor "
                      "'%s': the checkpoint lacks the BERxiT learn-to-exit component "
                      "(berxit.lte, docs/CHECKPOINTS.md; recipes/train_glue.py "
                      "--components berxit)", name);
    else if (n != want)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "berxit: tensor '%s' has %zu "
                      "elements, expected %zu (hidden size %d)", name, n, want, s->dim);
    return t && n == want ? t : NULL;
}

/* Model tensors need a batch's host_ctx: found here, not in create. */
static int
berxit_begin (void *state, const ofr_batch *batch)
{
    berxit_state *s = state;
    s->dim = 0;
    if (batch->n_rows > 0)
        s->host->hidden_state (batch->host_ctx, 0, &s->dim);
    if (s->dim <= 0) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "berxit: the model exposes no "
                      "hidden state to estimate the certainty from");
        return -1;
    }
    s->w = tensor (s, batch, "berxit.lte.weight", (size_t) s->dim);
    s->b = s->w ? tensor (s, batch, "berxit.lte.bias", 1) : NULL;
    return s->w && s->b ? 0 : -1;
}

static int
berxit_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    const berxit_state *s = state;
    if (layer >= batch->n_layers - 1)
        return 0;
    for (int i = 0; i < batch->n_rows; i++) {
        int dim = 0, n_pos = 0;
        /* The pooled state is the exit head's pooler output: asking for the
           exit distribution makes the host charge that pooler. */
        if (!s->host->exit_probs (batch->host_ctx, i, layer, &n_pos))
            return -1;
        const float *h = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!h || dim != s->dim) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "berxit: no pooled state "
                          "of width %d at layer %d", s->dim, layer + 1);
            return -1;
        }
        double z = s->b[0];
        for (int k = 0; k < dim; k++)
            z += (double) s->w[k] * h[k];
        /* dim multiply-adds and the sigmoid as one transcendental. */
        s->host->charge_flops (batch->host_ctx, i, 2.0 * dim + 1.0);
        if (1.0 / (1.0 + exp (-z)) >= s->threshold)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_berxit = {
    OFR_METHOD_HEADER,
    .name = "berxit",
    .version = "1.0",
    .summary = "BERxiT learn-to-exit: exit when the learned certainty reaches a threshold",
    .kinds = OFR_KIND_ENCODER,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = berxit_create,
    .destroy = berxit_destroy,
    .begin = berxit_begin,
    .after_layer = berxit_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_berxit;
}
