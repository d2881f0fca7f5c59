/*  palbert.c -- PALBERT Q-exit (Balagansky & Gavrilov, 2022; PonderNet
    halting). After layer i a halting probability

        lambda_i = sigmoid (w_i . pooled_i + b_i)

    is read from the pooled exit state (tanh of the exit head's pooler on
    [CLS], what host->hidden_state returns for encoders and what
    recipes/components.py fit_palbert trained on), with w_i, b_i the model
    tensors palbert.lambda.{i}.weight / .bias. The halting distribution is
    p_i = lambda_i prod_{j<i} (1 - lambda_j); the deterministic Q-exit leaves
    at the first layer where sum_{j<=i} p_j > q. The last layer's lambda is
    1 by construction (the recipe ships weight 0, bias 30), so there the
    runtime's own exit stands in for it and nothing is computed. */
#include "offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const ofr_host *host;
    double        q;
    int           cap_layers;
    const float **w;        /* [cap_layers] lambda weights, [dim] each   */
    const float **b;        /* [cap_layers] lambda biases, [1] each      */
    int           dim;
    int           cap;
    double       *survive;  /* [cap] prod_{j<i} (1 - lambda_j)            */
    double       *cum;      /* [cap] sum_{j<=i} p_j                        */
} palbert_state;

static const ofr_param_decl s_params[] = {
    { "q", OFR_PARAM_FLOAT, "0.5", 0.0, 1.0,
      "exit at the first layer where the cumulative halting probability exceeds this" },
};

static int
palbert_create (const ofr_host *host, const ofr_value *values, void **state,
                char *err, size_t errlen)
{
    palbert_state *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "palbert: out of memory");
        return -1;
    }
    s->host = host;
    s->q = values[0].f;
    *state = s;
    return 0;
}

static void
palbert_destroy (void *state)
{
    palbert_state *s = state;
    if (!s)
        return;
    free (s->w);
    free (s->b);
    free (s->survive);
    free (s->cum);
    free (s);
}

static const float *
tensor (palbert_state *s, const ofr_batch *batch, const char *name, size_t want)
{
    size_t n = 0;
    const float *t = s->host->model_tensor (batch->host_ctx, name, &n);
    if (!t)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "palbert: model has no tensor "
                      "'%s': the checkpoint lacks the PALBERT component (palbert.lambda.{i}, "
                      "docs/CHECKPOINTS.md; recipes/train_glue.py --components palbert)", name);
    else if (n != want)
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "palbert: tensor '%s' has %zu "
                      "elements, expected %zu (hidden size %d)", name, n, want, s->dim);
    return t && n == want ? t : NULL;
}

/*  Model tensors need a batch's host_ctx, so they are found here rather
    than in create. */
static int
palbert_begin (void *state, const ofr_batch *batch)
{
    palbert_state *s = state;
    int L = batch->n_layers, n = batch->batch_size;
    if (L > s->cap_layers) {
        free (s->w);
        free (s->b);
        s->w = calloc ((size_t) L, sizeof *s->w);
        s->b = calloc ((size_t) L, sizeof *s->b);
        s->cap_layers = s->w && s->b ? L : 0;
    }
    if (n > s->cap) {
        free (s->survive);
        free (s->cum);
        s->survive = calloc ((size_t) n, sizeof *s->survive);
        s->cum = calloc ((size_t) n, sizeof *s->cum);
        s->cap = s->survive && s->cum ? n : 0;
    }
    if (s->cap_layers < L || s->cap < n) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "palbert: out of memory");
        return -1;
    }
    s->dim = 0;
    if (batch->n_rows > 0)
        s->host->hidden_state (batch->host_ctx, 0, &s->dim);
    if (s->dim <= 0) {
        s->host->log (batch->host_ctx, OFR_LOG_ERROR, "palbert: the model exposes no "
                      "hidden state to read the halting probability from");
        return -1;
    }
    for (int l = 0; l < L - 1; l++) {
        char name[64];
        snprintf (name, sizeof name, "palbert.lambda.%d.weight", l);
        if (!(s->w[l] = tensor (s, batch, name, (size_t) s->dim)))
            return -1;
        snprintf (name, sizeof name, "palbert.lambda.%d.bias", l);
        if (!(s->b[l] = tensor (s, batch, name, 1)))
            return -1;
    }
    for (int r = 0; r < n; r++) {
        s->survive[r] = 1.0;
        s->cum[r] = 0.0;
    }
    return 0;
}

static int
palbert_after_layer (void *state, const ofr_batch *batch, int layer, uint8_t *actions)
{
    palbert_state *s = state;
    if (layer >= batch->n_layers - 1)
        return 0;
    for (int i = 0; i < batch->n_rows; i++) {
        int row = batch->row_ids[i], dim = 0, n_pos = 0;
        /* The pooled state is the exit head's pooler output: asking for the
           exit distribution makes the host charge that pooler. */
        if (!s->host->exit_probs (batch->host_ctx, i, layer, &n_pos))
            return -1;
        const float *h = s->host->hidden_state (batch->host_ctx, i, &dim);
        if (!h || dim != s->dim) {
            s->host->log (batch->host_ctx, OFR_LOG_ERROR, "palbert: no pooled state "
                          "of width %d at layer %d", s->dim, layer + 1);
            return -1;
        }
        double z = s->b[layer][0];
        for (int k = 0; k < dim; k++)
            z += (double) s->w[layer][k] * h[k];
        double lambda = 1.0 / (1.0 + exp (-z));
        /* dim multiply-adds and the sigmoid as one transcendental. */
        s->host->charge_flops (batch->host_ctx, i, 2.0 * dim + 1.0);
        s->cum[row] += lambda * s->survive[row];
        s->survive[row] *= 1.0 - lambda;
        if (s->cum[row] > s->q)
            actions[i] = OFR_EXIT;
    }
    return 0;
}

static const ofr_method s_palbert = {
    OFR_METHOD_HEADER,
    .name = "palbert",
    .version = "1.0",
    .summary = "PALBERT Q-exit: exit when the cumulative halting probability exceeds q",
    .kinds = OFR_KIND_ENCODER,
    .flags = 0,
    .kv_policy = OFR_KV_COPY_UP,
    .params = s_params,
    .n_params = (int) (sizeof s_params / sizeof s_params[0]),
    .create = palbert_create,
    .destroy = palbert_destroy,
    .begin = palbert_begin,
    .after_layer = palbert_after_layer,
};

OFR_EXPORT const ofr_method *
ofr_method_entry (const ofr_host *host)
{
    (void) host;
    return &s_palbert;
}
