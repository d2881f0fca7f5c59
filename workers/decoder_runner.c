/*  decoder_runner.c -- the decoder driver and its host table (see
    decoder_runner.h). */

/* decoder.h predates the ABI and names its "no K/V" fill OFR_KV_MASK too:
   rename it in this file so both headers can be included. */
#define OFR_KV_MASK OFR_DECODER_KV_MASK
#include "models/decoder.h"
#include "models/selfspec.h"
#include "models/kv_lazy.h"
#undef OFR_KV_MASK
#include "decoder_runner.h"
#include "plugin_host.h"
#include "models/llama_model.h"
#include "text/dec_tok.h"
#include "../suites/lm_suite.h"
#include "token_host.h"
#include "../common/ofr_common.h"
#include "engine/ops.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert (OFR_LLAMA_MODEL_KIND == OFR_KIND_DECODER, "decoder kind bit");

#define MAX_ATTEMPTS 4096
enum { ROW_METHOD = 0, ROW_REF = 1, ROW_PREFIX = 2 };

/*  One task's decoding state; host_ctx of the plugin's batches. */
typedef struct {
    const ofr_runner_ctx  *ctx;
    const ofr_llama       *llama;
    const ofr_dec_tok     *tok;
    ofr_decoder           *dec;
    int        L, V, max_seq;
    ofr_kv_fill fill;
    bool       spec;           /* the method speculates (ABI 1.3)             */
    ofr_kv_lazy *lazy;         /* OFR_KV_RECOMPUTE: exited positions' states  */
    float      norm_eps;       /* "lm.norm_eps" of model_tensor               */
    double     kv_flops;       /* one KV fill                                 */
    double     head_flops;     /* LM head with softmax                        */
    /* The position in flight (row ROW_METHOD). */
    int        pos;
    int        cur_layer;      /* layer just run or skipped, -1 before        */
    int        probs_layer;    /* layer `probs` holds, -1 none                */
    bool       overridden;     /* probs came from set_exit_probs              */
    bool       logits_ok;      /* decoder logits = head of probs_layer        */
    float     *probs;          /* [V]                                         */
    double     flops;          /* this attempt                                */
    /* Attempt control (end()). */
    bool       in_end, retry;
    int        attempts;
    int        agrees;
    ofr_rng    rng;
    /* Scratch of one task, sized once. */
    int       *gen, *ref, *argmax_full;   /* [max_seq]                       */
    uint8_t   *exits;          /* grows per example                           */
    size_t     exits_n, exits_cap;
    int        skipped;        /* layers skipped over this example's tokens   */
    double    *loglik;
    size_t     loglik_cap;
    int        n_trunc, trunc_ex, trunc_len;   /* left-truncated prompts  */
} dec_run;

/* ---- host table ------------------------------------------------------------ */

static bool
ok_row (const dec_run *r, int i)
{
    return r && r->dec && i == 0;
}

static void
softmax_into (const float *logits, int V, float *p)
{
    float mx = logits[0];
    for (int c = 1; c < V; c++)
        mx = logits[c] > mx ? logits[c] : mx;
    float sum = 0;
    for (int c = 0; c < V; c++)
        sum += p[c] = expf (logits[c] - mx);
    for (int c = 0; c < V; c++)
        p[c] /= sum;
}

/* LM head on the current state into r->probs, charged. */
static int
head_now (dec_run *r, char *err, size_t errlen)
{
    int row = ROW_METHOD;
    if (ofr_decoder_head (r->dec, &row, 1, err, errlen) != 0)
        return -1;
    softmax_into (ofr_decoder_logits (r->dec, row), r->V, r->probs);
    r->flops += r->head_flops;
    r->probs_layer = r->cur_layer;
    r->logits_ok = true;
    r->overridden = false;
    return 0;
}

static const float *
dh_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i))
        return NULL;
    if (r->probs_layer != layer || r->probs_layer < 0) {
        if (layer != r->cur_layer) {
            ofr_log (OFR_WARN, "plugin %s asked for exit probabilities of layer %d "
                     "while at layer %d", r->ctx->method->name, layer, r->cur_layer);
            return NULL;
        }
        char err[OFR_ERRLEN];
        if (head_now (r, err, sizeof err) != 0) {
            ofr_log (OFR_WARN, "exit_probs: %s", err);
            return NULL;
        }
    }
    if (n_positions)
        *n_positions = 1;
    return r->probs;
}

static const float *
dh_hidden_state (void *host_ctx, int i, int *dim)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i))
        return NULL;
    if (dim)
        *dim = ofr_llama_dim (r->llama);
    return ofr_decoder_hidden (r->dec, ROW_METHOD);
}

static void
dh_charge_flops (void *host_ctx, int i, double flops)
{
    dec_run *r = host_ctx;
    if (ok_row (r, i) && flops > 0)
        r->flops += flops;
}

static int
dh_oracle_label (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;     /* no class labels on text: see sequence_agrees */
}

static double
dh_layer_flops (void *host_ctx, int i, int layer)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i) || layer < 0 || layer >= r->L)
        return 0;
    return ofr_llama_layer_flops (r->llama, r->pos + 1);
}

static double
dh_rng_uniform (void *host_ctx)
{
    dec_run *r = host_ctx;
    return r ? ofr_rng_uniform (&r->rng) : 0.5;
}

/*  The LM head's weights, for methods that apply it to a state of their
    own (a tuned-lens translator's output): "lm.norm_eps" [1],
    "lm.classifier" [vocab][dim], and the final norm: "lm.final_norm" [dim]
    for an RMSNorm head (Llama family), "lm.final_layernorm" and
    "lm.final_layernorm_bias" [dim] for a LayerNorm one (GPT-2 / NeoX).
    Distinct names, so a method that only knows RMSNorm gets NULL for a
    LayerNorm head instead of applying the wrong norm. */
static const float *
dh_model_tensor (void *host_ctx, const char *name, size_t *n)
{
    dec_run *r = host_ctx;
    if (!r || !r->llama || !name)
        return NULL;
    size_t dim = (size_t) ofr_llama_dim (r->llama);
    const float *t = NULL, *bias = ofr_llama_final_norm_bias (r->llama);
    size_t count = 0;
    if (!strcmp (name, bias ? "lm.final_layernorm" : "lm.final_norm"))
        t = ofr_llama_final_norm (r->llama), count = dim;
    else if (bias && !strcmp (name, "lm.final_layernorm_bias"))
        t = bias, count = dim;
    else if (!strcmp (name, "lm.classifier"))
        t = ofr_llama_classifier (r->llama), count = dim * (size_t) r->V;
    else if (!strcmp (name, "lm.norm_eps")) {
        r->norm_eps = ofr_llama_config_of (r->llama)->norm_eps;
        t = &r->norm_eps, count = 1;
    }
    if (t && n)
        *n = count;
    return t;
}

static int
dh_set_exit_probs (void *host_ctx, int i, int layer, const float *probs)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i) || !probs || layer != r->cur_layer)
        return -1;
    memcpy (r->probs, probs, (size_t) r->V * sizeof (float));
    r->probs_layer = layer;
    r->overridden = true;
    r->logits_ok = false;
    return 0;
}

static int
dh_sequence_agrees (void *host_ctx, int i)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i) || !r->in_end || !(r->ctx->method->flags & OFR_METHOD_ORACLE))
        return -1;
    return r->agrees;
}

static int
dh_retry_sequence (void *host_ctx, int i)
{
    dec_run *r = host_ctx;
    if (!ok_row (r, i) || !r->in_end || !(r->ctx->method->flags & OFR_METHOD_ORACLE)
        || r->attempts >= MAX_ATTEMPTS)
        return -1;
    r->retry = true;
    return r->attempts;
}

_Static_assert (offsetof (dec_run, ctx) == 0, "token_host.c reads ctx as the first member");

static const ofr_host s_dec_host = {
    .struct_size = sizeof (ofr_host),
    .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR,
    .exit_probs = dh_exit_probs,
    .hidden_state = dh_hidden_state,
    .charge_flops = dh_charge_flops,
    .oracle_label = dh_oracle_label,
    .layer_flops = dh_layer_flops,
    .rng_uniform = dh_rng_uniform,
    .log = ofr_token_host_log,
    .fit_softmax = NULL,
    .fit_ridge = NULL,
    .artifact_save = ofr_token_host_artifact_save,
    .artifact_load = ofr_token_host_artifact_load,
    .model_tensor = dh_model_tensor,
    .token_state = dh_hidden_state,
    .set_exit_probs = dh_set_exit_probs,
    .oracle_try = ofr_token_host_oracle_try,
    .sequence_agrees = dh_sequence_agrees,
    .retry_sequence = dh_retry_sequence,
};

const ofr_host *
ofr_decoder_runner_host (void)
{
    return &s_dec_host;
}

/* ---- one position ------------------------------------------------------------ */

static int
exits_push (dec_run *r, int layer_1based)
{
    if (ofr_grow ((void **) &r->exits, &r->exits_cap, r->exits_n + 1, 1) != 0)
        return -1;
    r->exits[r->exits_n++] = (uint8_t) (layer_1based > 255 ? 255 : layer_1based);
    return 0;
}

/*  Feed `token` at the next position of the method's row with the plugin
    deciding per layer; if `output`, leave the output distribution in
    r->probs (and logits when logits_ok). *layers_run = layers run. */
static int
method_position (dec_run *r, ofr_batch *view, int token, bool output, int *layers_run,
                 char *err, size_t errlen)
{
    const ofr_method *m = r->ctx->method;
    void *st = r->ctx->method_state;
    int row = ROW_METHOD;
    if (ofr_decoder_begin (r->dec, &row, &token, 1, err, errlen) != 0)
        return -1;
    r->pos = ofr_decoder_length (r->dec, row) - 1;
    view->step = r->pos;
    view->n_rows = 1;
    r->cur_layer = -1;
    r->probs_layer = -1;
    r->logits_ok = r->overridden = false;
    double lf = ofr_llama_layer_flops (r->llama, r->pos + 1);
    int exit_l = r->L - 1, run = 0;
    for (int l = 0; l < r->L; l++) {
        uint8_t act = OFR_RUN;
        if (m->before_layer && m->before_layer (st, view, l, &act) != 0)
            return ofr_errf (err, errlen, "plugin %s: before_layer %d failed at position "
                             "%d", m->name, l + 1, r->pos);
        if (act == OFR_SKIP) {
            r->skipped++;
            if (ofr_decoder_skip (r->dec, l, &row, 1, r->fill, err, errlen) != 0)
                return -1;
            if (r->fill == OFR_KV_PROPAGATE)
                r->flops += r->kv_flops;
        } else if (act == OFR_RUN || act == OFR_RUN_LOWP) {
            /* No reduced-precision kernel for decoders: RUN_LOWP runs and
               is charged in full. */
            if ((r->lazy && ofr_kv_lazy_need (r->lazy, r->pos, l, &r->flops, NULL, err,
                                              errlen) != 0)
                || ofr_decoder_layer (r->dec, l, &row, 1, err, errlen) != 0)
                return -1;
            r->flops += lf;
            run++;
        } else
            return ofr_errf (err, errlen, "plugin %s: invalid action %d before layer %d",
                             m->name, act, l + 1);
        if (r->probs_layer != l)
            r->probs_layer = -1;   /* the state moved on */
        r->cur_layer = l;
        act = OFR_CONTINUE;
        if (m->after_layer && m->after_layer (st, view, l, &act) != 0)
            return ofr_errf (err, errlen, "plugin %s: after_layer %d failed at position "
                             "%d", m->name, l + 1, r->pos);
        if (act != OFR_CONTINUE && act != OFR_EXIT)
            return ofr_errf (err, errlen, "plugin %s: invalid action %d after layer %d",
                             m->name, act, l + 1);
        if (act == OFR_EXIT && l < r->L - 1) {
            /* Recompute: nothing now, the layers run when a later token
               needs their K/V (kv_lazy.h). */
            ofr_kv_fill up = r->lazy ? OFR_DECODER_KV_MASK : r->fill;
            for (int u = l + 1; u < r->L; u++) {
                if (ofr_decoder_skip (r->dec, u, &row, 1, up, err, errlen) != 0)
                    return -1;
                if (up == OFR_KV_PROPAGATE)
                    r->flops += r->kv_flops;
            }
            exit_l = l;
            break;
        }
    }
    if (r->lazy && ofr_kv_lazy_leave (r->lazy, r->pos, exit_l + 1,
                                      ofr_decoder_hidden (r->dec, row), err, errlen) != 0)
        return -1;
    *layers_run = run;
    if (exits_push (r, exit_l + 1) != 0)
        return ofr_errf (err, errlen, "out of memory");
    if (output && r->probs_layer != exit_l && head_now (r, err, errlen) != 0)
        return -1;
    return 0;
}

/* log p(target) of the output distribution in flight, in nats. */
static double
out_logprob (const dec_run *r, int target)
{
    if (!r->logits_ok)
        return log ((double) r->probs[target]);
    const float *lg = ofr_decoder_logits (r->dec, ROW_METHOD);
    float mx = lg[0];
    for (int c = 1; c < r->V; c++)
        mx = lg[c] > mx ? lg[c] : mx;
    double sum = 0;
    for (int c = 0; c < r->V; c++)
        sum += exp ((double) lg[c] - mx);
    return (double) lg[target] - mx - log (sum);
}

static int
out_argmax (const dec_run *r)
{
    return r->logits_ok ? ofr_argmax (ofr_decoder_logits (r->dec, ROW_METHOD), r->V)
                        : ofr_argmax (r->probs, r->V);
}

/* FLOPs of the full model on n positions of which n_out are outputs. */
static double
full_flops (const dec_run *r, int n, int n_out)
{
    double f = n_out * r->head_flops;
    for (int p = 0; p < n; p++)
        f += r->L * ofr_llama_layer_flops (r->llama, p + 1);
    return f;
}

/* ---- one sequence, attempts included ------------------------------------------ */

typedef struct {
    /* in */
    const int *seq;        /* GENERATE: the prompt; SCORE: context + continuation */
    int        n_seq;
    int        n_ctx;      /* SCORE: context length (output from n_ctx - 1)      */
    int        n_prefix;   /* positions prefilled at full depth in ROW_PREFIX:
                              all before the first output position             */
    int        max_new;    /* GENERATE                                           */
    const char *stop;      /* GENERATE: ofr_lm_task.stop                         */
    bool       generate;
    const int *want;       /* agreement reference: GENERATE the full model's
                              tokens (n_want), SCORE its argmax per output     */
    int        n_want;
    /* out (kept attempt) */
    int        n_gen;
    int        drafted, accepted;   /* self-speculation                       */
    double     loglik;
    int        positions;
    double     layers;
    double     flops;
    double     search;
    int        agrees;
} seq_job;

/* Whether the text of `token` after `prev` holds `stop` (ofr_lm_task.stop). */
static bool
has_stop (const dec_run *r, int prev, int token, const char *stop)
{
    size_t len = 0, n = strlen (stop);
    const char *s = ofr_dec_tok_piece (r->tok, prev, token, &len);
    for (size_t i = 0; s && n && i + n <= len; i++)
        if (memcmp (s + i, stop, n) == 0)
            return true;
    return false;
}

typedef struct {
    dec_run *r;
    seq_job *j;
} spec_arg;

static int
spec_token (void *arg, int token)
{
    spec_arg *a = arg;
    seq_job *j = a->j;
    a->r->gen[j->n_gen++] = token;
    if (exits_push (a->r, a->r->L) != 0)
        return -1;
    if (j->n_gen == j->max_new)
        return 1;
    return j->stop && has_stop (a->r, j->n_gen > 1 ? a->r->gen[j->n_gen - 2]
                                : j->seq[j->n_seq - 1], token, j->stop);
}

/* A generation by a speculating method (models/selfspec.h): every output
   token is the full model's (exit at the last layer). */
static int
spec_generate (dec_run *r, ofr_batch *view, seq_job *j, char *err, size_t errlen)
{
    const ofr_method *m = r->ctx->method;
    ofr_selfspec_cfg cfg = { .head_softmax = true };
    view->step = r->pos = j->n_prefix;
    if (m->speculate (r->ctx->method_state, view, &cfg.draft_layers, &cfg.draft_len) != 0)
        return ofr_errf (err, errlen, "plugin %s: speculate failed", m->name);
    ofr_selfspec_stats st = { 0 };
    spec_arg a = { r, j };
    if (ofr_selfspec_run (r->dec, ROW_METHOD, j->seq[j->n_seq - 1], j->max_new, &cfg,
                          spec_token, &a, &st, err, errlen) != 0)
        return -1;
    r->flops += st.flops;
    r->pos = ofr_decoder_length (r->dec, ROW_METHOD);
    j->positions = j->n_gen;
    j->layers = st.layers;
    j->drafted = st.drafted;
    j->accepted = st.accepted;
    return 0;
}

static int
attempt (dec_run *r, ofr_batch *view, seq_job *j, char *err, size_t errlen)
{
    if (ofr_decoder_copy_prefix (r->dec, ROW_PREFIX, ROW_METHOD, j->n_prefix, err,
                                 errlen) != 0)
        return -1;
    j->n_gen = 0;
    j->loglik = 0;
    j->positions = 0;
    j->layers = 0;
    j->drafted = j->accepted = 0;
    if (r->lazy)
        ofr_kv_lazy_reset (r->lazy, j->n_prefix);
    bool agree = true, spec = r->spec && j->generate;
    if (spec && spec_generate (r, view, j, err, errlen) != 0)
        return -1;
    /* An oracle's attempt stops at its first disagreement: its outcome is
       known, and only what ran is search cost. */
    bool stop_early = j->want && (r->ctx->method->flags & OFR_METHOD_ORACLE);
    int n_pos = j->generate ? j->n_seq + j->max_new - 1 : j->n_seq - 1;
    if (n_pos > r->max_seq)
        n_pos = r->max_seq;
    for (int p = j->n_prefix; !spec && p < n_pos; p++) {
        int token = j->generate ? (p < j->n_seq ? j->seq[p] : r->gen[p - j->n_seq])
                                : j->seq[p];
        bool output = j->generate ? p >= j->n_seq - 1 : p >= j->n_ctx - 1;
        int run = 0;
        if (method_position (r, view, token, output, &run, err, errlen) != 0)
            return -1;
        j->positions++;
        j->layers += run;
        if (!output)
            continue;
        int best = out_argmax (r);
        if (j->generate) {
            if (ofr_llama_is_stop (r->llama, best))
                break;
            r->gen[j->n_gen++] = best;
            if (j->n_gen == j->max_new)
                break;
            if (j->stop && has_stop (r, j->n_gen > 1 ? r->gen[j->n_gen - 2]
                                     : j->seq[j->n_seq - 1], best, j->stop))
                break;
            if (stop_early && (j->n_gen > j->n_want || best != j->want[j->n_gen - 1]))
                break;
        } else {
            int k = p - (j->n_ctx - 1);
            j->loglik += out_logprob (r, j->seq[p + 1]);
            if (j->want && (k >= j->n_want || j->want[k] != best)) {
                agree = false;
                if (stop_early)
                    break;
            }
        }
    }
    if (j->generate) {
        agree = j->want && j->n_gen == j->n_want;
        for (int k = 0; agree && k < j->n_gen; k++)
            agree = r->gen[k] == j->want[k];
    }
    j->agrees = j->want ? agree : -1;
    return 0;
}

static int
run_sequence (dec_run *r, seq_job *j, char *err, size_t errlen)
{
    const ofr_method *m = r->ctx->method;
    int row_id = 0;
    ofr_batch view = {
        .struct_size = sizeof (ofr_batch), .kind = OFR_KIND_DECODER, .batch_size = 1,
        .n_rows = 1, .row_ids = &row_id, .n_layers = r->L, .n_outputs = r->V, .step = 0,
        .host_ctx = r,
    };
    size_t exits0 = r->exits_n;
    int skipped0 = r->skipped;
    r->attempts = 0;
    j->search = 0;
    for (;;) {
        r->flops = 0;
        r->exits_n = exits0;
        r->skipped = skipped0;
        if (m->begin && m->begin (r->ctx->method_state, &view) != 0)
            return ofr_errf (err, errlen, "plugin %s: begin failed", m->name);
        int rc = attempt (r, &view, j, err, errlen);
        r->attempts++;
        r->agrees = j->agrees;
        r->retry = false;
        r->in_end = true;
        view.n_rows = 1;
        view.step = r->pos;
        if (m->end)
            m->end (r->ctx->method_state, &view);
        r->in_end = false;
        if (rc != 0)
            return -1;
        if (!r->retry)
            break;
        j->search += r->flops;
    }
    j->flops = r->flops + full_flops (r, j->n_prefix, 0);
    return 0;
}

/*  The prompt / context before the first output position, at full depth
    into ROW_PREFIX (no decisions there: a real system prefills it; its
    FLOPs are charged to the method like to the full model). */
static int
prefill (dec_run *r, const int *seq, int n, char *err, size_t errlen)
{
    int row = ROW_PREFIX;
    ofr_decoder_reset (r->dec, row);
    for (int p = 0; p < n; p++) {
        if (ofr_decoder_begin (r->dec, &row, &seq[p], 1, err, errlen) != 0)
            return -1;
        for (int l = 0; l < r->L; l++)
            if (ofr_decoder_layer (r->dec, l, &row, 1, err, errlen) != 0)
                return -1;
    }
    return 0;
}

/* ---- references (full model, row ROW_REF, uncharged) ------------------------- */

/* Full-depth argmax at the output positions of a scored sequence. */
static int
ref_argmax (dec_run *r, const int *seq, int n_seq, int n_ctx, char *err, size_t errlen)
{
    int row = ROW_REF;
    if (ofr_decoder_copy_prefix (r->dec, ROW_PREFIX, row, n_ctx - 1, err, errlen) != 0)
        return -1;
    for (int p = n_ctx - 1; p < n_seq - 1; p++) {
        if (ofr_decoder_begin (r->dec, &row, &seq[p], 1, err, errlen) != 0)
            return -1;
        for (int l = 0; l < r->L; l++)
            if (ofr_decoder_layer (r->dec, l, &row, 1, err, errlen) != 0)
                return -1;
        if (p >= n_ctx - 1) {
            if (ofr_decoder_head (r->dec, &row, 1, err, errlen) != 0)
                return -1;
            r->argmax_full[p - (n_ctx - 1)] = ofr_argmax (ofr_decoder_logits (r->dec, row),
                                                        r->V);
        }
    }
    return 0;
}

/* ---- examples ------------------------------------------------------------------ */

static int
encode (const dec_run *r, const char *text, int **tok, int *n, char *err, size_t errlen)
{
    return ofr_dec_tok_encode (r->tok, text, true, tok, n, err, errlen);
}

static char *
decode (const dec_run *r, const int *tok, int n)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "");
    ofr_dec_tok_decode_all (r->tok, tok, n, &b);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static int
emit_record (dec_run *r, int example, double prediction, const char *text,
             ofr_lm_result *res, double flops, double wall, ofr_emit_fn *emit, void *arg,
             char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = r->ctx;
    const ofr_lm_suite *lm = ofr_lm_suite_of (ctx->suite);
    int n_stats = ctx->suite->n_stats;
    double stats[64];
    if (n_stats > 64)
        return ofr_errf (err, errlen, "suite %s: too many stats", ctx->suite->name);
    if (lm->score (ctx->suite_data, example, res, stats) != 0)
        return ofr_errf (err, errlen, "suite %s: scoring example %d failed",
                         ctx->suite->name, example);
    ofr_record rec = {
        .cell = ctx->cell->index, .example = example, .prediction = prediction,
        .pred_text = (char *) text, .stats = stats, .n_stats = n_stats,
        .exit_layer = r->L, .skipped = r->skipped, .token_exits = r->exits,
        .n_tokens = (int) r->exits_n,
        .n_layers = r->L, .flops = flops, .flops_full = res->flops_full, .wall_ms = wall,
    };
    if (emit (arg, &rec) != 0)
        return ofr_errf (err, errlen, "emitting the record of example %d failed", example);
    return 0;
}

static int
run_generate (dec_run *r, int example, const ofr_lm_task *t, ofr_emit_fn *emit,
              void *arg, char *err, size_t errlen)
{
    int *prompt = NULL, np = 0, rc = -1;
    char *gen_text = NULL, *ref_text = NULL;
    if (encode (r, t->prompt, &prompt, &np, err, errlen) != 0)
        return -1;
    int max_new = t->max_new;
    if (np >= r->max_seq) {
        /* lm-eval's left truncation (context_enc[-(max_length -
           max_gen_toks):]): keep the prompt's end, where the question is,
           and the BOS in front; room for min(max_new, half the positions). */
        int room = max_new < r->max_seq / 2 ? max_new : r->max_seq / 2;
        int keep = r->max_seq - (room > 0 ? room : 1);
        int bos = ofr_dec_tok_bos (r->tok), head = np > 0 && prompt[0] == bos ? 1 : 0;
        if (keep <= head) {
            ofr_errf (err, errlen, "example %d: prompt of %d tokens does not fit %d positions",
                      example, np, r->max_seq);
            goto out;
        }
        if (r->n_trunc++ == 0 || np > r->trunc_len) {
            r->trunc_ex = example;
            r->trunc_len = np;
        }
        memmove (prompt + head, prompt + np - (keep - head),
                 (size_t) (keep - head) * sizeof *prompt);
        np = keep;
    }
    if (max_new > r->max_seq - np + 1)
        max_new = r->max_seq - np + 1;
    int n_ref = 0;
    if (ofr_decoder_greedy (r->dec, ROW_REF, prompt, np, max_new, r->ref, &n_ref, NULL,
                            err, errlen) != 0)
        goto out;
    for (int k = 0; t->stop && k < n_ref; k++)
        if (has_stop (r, k ? r->ref[k - 1] : prompt[np - 1], r->ref[k], t->stop))
            n_ref = k + 1;
    seq_job j = { .seq = prompt, .n_seq = np, .n_prefix = np - 1, .max_new = max_new,
                  .stop = t->stop, .generate = true, .want = r->ref, .n_want = n_ref };
    if (prefill (r, prompt, np - 1, err, errlen) != 0)
        goto out;
    double t0 = ofr_now_ms ();
    if (run_sequence (r, &j, err, errlen) != 0)
        goto out;
    double wall = ofr_now_ms () - t0;
    double ll = 0;
    if (j.n_gen > 0 && ofr_decoder_score (r->dec, ROW_REF, prompt, np, r->gen, j.n_gen,
                                          &ll, err, errlen) != 0)
        goto out;
    gen_text = decode (r, r->gen, j.n_gen);
    ref_text = decode (r, r->ref, n_ref);
    if (!gen_text || !ref_text) {
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    /* Positions the full model runs: the prompt and each fed-back token
       (the last one too when it stopped at EOS); a head at each from the
       last prompt position on. */
    int n_full = np + n_ref - (n_ref < max_new ? 0 : 1);
    double ff = full_flops (r, n_full, n_full - np + 1);
    if (r->ctx->method->flags & OFR_METHOD_ORACLE)
        j.search += ff;
    ofr_lm_result res = {
        .gen = r->gen, .n_gen = j.n_gen, .ref = r->ref, .n_ref = n_ref,
        .gen_text = gen_text, .ref_text = ref_text, .nll_full = -ll,
        .n_positions = j.positions, .layers_run = j.layers, .n_layers = r->L,
        .search_flops = j.search, .flops_full = ff, .agrees = j.agrees,
        .drafted = j.drafted, .accepted = j.accepted,
    };
    rc = emit_record (r, example, j.n_gen, gen_text, &res, j.flops, wall, emit, arg,
                      err, errlen);
out:
    free (prompt);
    free (gen_text);
    free (ref_text);
    return rc;
}

static int
run_choices (dec_run *r, int example, const ofr_lm_task *t, ofr_emit_fn *emit,
             void *arg, char *err, size_t errlen)
{
    if (t->n_choices < 1)
        return ofr_errf (err, errlen, "example %d has no choices", example);
    if (ofr_grow ((void **) &r->loglik, &r->loglik_cap, (size_t) t->n_choices,
                  sizeof (double)) != 0)
        return ofr_errf (err, errlen, "out of memory");
    int *ctx_tok = NULL, nctx = 0, rc = -1;
    if (encode (r, t->prompt, &ctx_tok, &nctx, err, errlen) != 0)
        return -1;
    double flops = 0, full = 0, search = 0, layers = 0, wall = 0;
    int positions = 0, agrees = 1;
    for (int c = 0; c < t->n_choices; c++) {
        /* lm-eval: continuation = tokens of context + choice after the
           context's; left-truncated to the model's positions. */
        ofr_buf whole;
        ofr_buf_init (&whole);
        ofr_buf_printf (&whole, "%s%s", t->prompt, t->choices[c]);
        int *all = NULL, n_all = 0;
        int e = whole.oom ? ofr_errf (err, errlen, "out of memory")
                          : encode (r, whole.data, &all, &n_all, err, errlen);
        ofr_buf_free (&whole);
        if (e != 0)
            goto out;
        int off = n_all - 1 > r->max_seq ? n_all - 1 - r->max_seq : 0;
        int n_seq = n_all - off, n_c = nctx - off;
        if (n_all <= nctx || n_c < 1) {
            free (all);
            ofr_errf (err, errlen, "example %d choice %d: no continuation tokens after "
                      "%d context tokens (or no context left)", example, c, nctx);
            goto out;
        }
        int n_cont = n_seq - n_c;
        if (prefill (r, all + off, n_c - 1, err, errlen) != 0) {
            free (all);
            goto out;
        }
        if (ref_argmax (r, all + off, n_seq, n_c, err, errlen) != 0) {
            free (all);
            goto out;
        }
        seq_job j = { .seq = all + off, .n_seq = n_seq, .n_ctx = n_c, .n_prefix = n_c - 1,
                      .generate = false, .want = r->argmax_full, .n_want = n_cont };
        double t0 = ofr_now_ms ();
        int s = run_sequence (r, &j, err, errlen);
        wall += ofr_now_ms () - t0;
        free (all);
        if (s != 0)
            goto out;
        double ff = full_flops (r, n_seq - 1, n_cont);
        if (r->ctx->method->flags & OFR_METHOD_ORACLE)
            j.search += ff;
        r->loglik[c] = j.loglik;
        flops += j.flops;
        full += ff;
        search += j.search;
        layers += j.layers;
        positions += j.positions;
        agrees &= j.agrees > 0;
    }
    int best = 0;
    for (int c = 1; c < t->n_choices; c++)
        if (r->loglik[c] > r->loglik[best])
            best = c;
    ofr_lm_result res = {
        .loglik = r->loglik, .n_positions = positions, .layers_run = layers,
        .n_layers = r->L, .search_flops = search, .flops_full = full, .agrees = agrees,
    };
    rc = emit_record (r, example, best, NULL, &res, flops, wall, emit, arg, err, errlen);
out:
    free (ctx_tok);
    return rc;
}

static void
dec_run_free (dec_run *r)
{
    ofr_kv_lazy_destroy (&r->lazy);
    ofr_decoder_destroy (&r->dec);
    free (r->probs);
    free (r->gen);
    free (r->ref);
    free (r->argmax_full);
    free (r->exits);
    free (r->loglik);
}

int
ofr_decoder_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                        ofr_emit_fn *emit, void *arg, char *err, size_t errlen)
{
    const ofr_lm_suite *lm = ofr_lm_suite_of (ctx->suite);
    dec_run r = { .ctx = ctx };
    if (ofr_decoder_model_parts (ctx->model, &r.llama, &r.tok, err, errlen) != 0)
        return -1;
    if (!lm)
        return ofr_errf (err, errlen, "suite %s is not a decoder-LM suite (try "
                         "tinystories_gen, truthfulqa_mc1, truthfulqa_mc2)",
                         ctx->suite->name);
    /* Recompute fills a skipped layer (the position goes on above it) at
       once: its K/V depend only on the state passing through. */
    int kv_policy = ofr_method_kv_policy (ctx->method, ctx->method_state);
    switch (kv_policy) {
    case OFR_KV_COPY_UP:
    case OFR_KV_RECOMPUTE: r.fill = OFR_KV_PROPAGATE; break;
    case OFR_KV_MASK:      r.fill = OFR_DECODER_KV_MASK; break;
    default:
        return ofr_errf (err, errlen, "method %s: kv_policy %d is not one of copy-up, "
                         "recompute, mask", ctx->method->name, kv_policy);
    }
    r.L = ofr_llama_n_layers (r.llama);
    r.V = ofr_llama_vocab_size (r.llama);
    r.max_seq = ofr_llama_seq_len (r.llama);
    r.kv_flops = ofr_llama_kv_fill_flops (r.llama);
    r.head_flops = ofr_llama_head_flops (r.llama, true);
    r.spec = OFR_METHOD_HAS (ctx->method, speculate) && ctx->method->speculate;
    /* A speculating method verifies up to 64 drafts + 1 in one block;
       recompute runs lagging positions in blocks of 64. */
    int block = r.spec || kv_policy == OFR_KV_RECOMPUTE ? (r.max_seq < 65 ? r.max_seq : 65)
              : 1;
    int rc = ofr_decoder_new_block (r.llama, 3, r.max_seq, block, &r.dec, err, errlen);
    if (rc == 0 && kv_policy == OFR_KV_RECOMPUTE)
        rc = ofr_kv_lazy_new (r.dec, ROW_METHOD, &r.lazy, err, errlen);
    if (rc == 0) {
        r.probs = ofr_calloc ((size_t) r.V, sizeof (float));
        r.gen = ofr_calloc ((size_t) r.max_seq + 1, sizeof (int));
        r.ref = ofr_calloc ((size_t) r.max_seq + 1, sizeof (int));
        r.argmax_full = ofr_calloc ((size_t) r.max_seq + 1, sizeof (int));
        if (!r.probs || !r.gen || !r.ref || !r.argmax_full)
            rc = ofr_errf (err, errlen, "out of memory");
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        ofr_lm_task t;
        ofr_rng_seed (&r.rng, ctx->cell->seed * 1000003u + (uint64_t) examples[i]);
        r.exits_n = 0;
        r.skipped = 0;
        if (lm->task (ctx->suite_data, examples[i], &t) != 0)
            rc = ofr_errf (err, errlen, "suite %s: no example %d", ctx->suite->name,
                           examples[i]);
        else if (t.kind == OFR_LM_GENERATE)
            rc = run_generate (&r, examples[i], &t, emit, arg, err, errlen);
        else
            rc = run_choices (&r, examples[i], &t, emit, arg, err, errlen);
    }
    if (rc == 0 && r.n_trunc > 0)
        ofr_log (OFR_WARN, "model %s: %d prompt(s) longer than its %d positions kept their "
                 "last tokens (the longest: example %d, %d tokens)",
                 ctx->model->name, r.n_trunc, r.max_seq, r.trunc_ex, r.trunc_len);
    dec_run_free (&r);
    return rc;
}
