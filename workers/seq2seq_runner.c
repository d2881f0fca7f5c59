/*  seq2seq_runner.c -- the encoder-decoder driver and its host table (see
    seq2seq_runner.h). */
#include "seq2seq_runner.h"
#include "models/seq2seq_model.h"
#include "engine/ops.h"
#include "token_host.h"
#include "../common/ofr_common.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert (OFR_SEQ2SEQ_MODEL_KIND == OFR_KIND_SEQ2SEQ, "seq2seq kind bit");

#define MAX_STEPS 256            /* CTranslate2's max_decoding_length */
#define MIN_LENGTH 1             /* and min_decoding_length           */
enum { ROW_METHOD = 0, ROW_REF = 1 };

/* How target tokens become text. */
typedef enum {
    DETOK_SPACES,     /* tokens joined by spaces (CTranslate2's token output)   */
    DETOK_SPM,        /* SentencePiece pieces: concatenated, U+2581 = space     */
    DETOK_BPE         /* subword-nmt: "xx@@" joins the next token               */
} detok_mode;

/*  One task's decoding state; host_ctx of the plugin's batches. */
typedef struct {
    const ofr_runner_ctx *ctx;
    const ofr_seq2seq    *m;
    const ofr_bpe_merges *bpe;    /* source BPE, or NULL: source = tokens */
    ofr_s2s_state        *st;
    int        L, V, d, bos, eos;
    detok_mode detok;
    ofr_s2s_kv_fill fill;
    double     kv_flops, head_flops, embed_flops;
    int        n_src;
    /* The position in flight (row ROW_METHOD). */
    int        pos;
    int        cur_layer;      /* layer just run or skipped, -1 before        */
    int        probs_layer;    /* layer `probs` holds, -1 none                */
    bool       overridden;     /* probs came from set_exit_probs              */
    float     *probs;          /* [V]                                         */
    double     flops;          /* this example                                */
    ofr_rng    rng;
    /* Scratch of one task, sized once (src grows with the longest line). */
    int       *gen, *ref;      /* [MAX_STEPS]                                  */
    uint8_t    exits[MAX_STEPS];
    int        n_exits;
    int       *ids;            /* [OFR_S2S_MAX_INPUT + 2]                      */
    const char **toks;         /* [OFR_S2S_MAX_INPUT + 1]                      */
    char      *line;
    size_t     line_cap;
    ofr_buf    text, pieces;
    long       n_unk;
} s2s_run;

/* ---- host table ------------------------------------------------------------ */

static bool
ok_row (const s2s_run *r, int i)
{
    return r && r->st && i == 0;
}

/* Head on the current state into r->probs (softmax), charged. */
static int
head_now (s2s_run *r, char *err, size_t errlen)
{
    int row = ROW_METHOD;
    if (ofr_s2s_head (r->st, &row, 1, err, errlen) != 0)
        return -1;
    memcpy (r->probs, ofr_s2s_logits (r->st, row), (size_t) r->V * sizeof (float));
    ofr_softmax (r->probs, r->V);
    r->flops += r->head_flops;
    r->probs_layer = r->cur_layer;
    r->overridden = false;
    return 0;
}

static const float *
sh_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    s2s_run *r = host_ctx;
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
sh_hidden_state (void *host_ctx, int i, int *dim)
{
    s2s_run *r = host_ctx;
    if (!ok_row (r, i))
        return NULL;
    if (dim)
        *dim = r->d;
    return ofr_s2s_hidden (r->st, ROW_METHOD);
}

static void
sh_charge_flops (void *host_ctx, int i, double flops)
{
    s2s_run *r = host_ctx;
    if (ok_row (r, i) && flops > 0)
        r->flops += flops;
}

static int
sh_oracle_label (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;
}

static double
sh_layer_flops (void *host_ctx, int i, int layer)
{
    s2s_run *r = host_ctx;
    if (!ok_row (r, i) || layer < 0 || layer >= r->L)
        return 0;
    return ofr_s2s_layer_flops (r->m, r->pos + 1, r->n_src);
}

static double
sh_rng_uniform (void *host_ctx)
{
    s2s_run *r = host_ctx;
    return r ? ofr_rng_uniform (&r->rng) : 0.5;
}

static int
sh_set_exit_probs (void *host_ctx, int i, int layer, const float *probs)
{
    s2s_run *r = host_ctx;
    if (!ok_row (r, i) || !probs || layer != r->cur_layer)
        return -1;
    memcpy (r->probs, probs, (size_t) r->V * sizeof (float));
    r->probs_layer = layer;
    r->overridden = true;
    return 0;
}

static int
sh_no_sequence (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;     /* no per-sequence oracle for seq2seq yet */
}

_Static_assert (offsetof (s2s_run, ctx) == 0, "token_host.c reads ctx as the first member");

static const ofr_host s_s2s_host = {
    .struct_size = sizeof (ofr_host),
    .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR,
    .exit_probs = sh_exit_probs,
    .hidden_state = sh_hidden_state,
    .charge_flops = sh_charge_flops,
    .oracle_label = sh_oracle_label,
    .layer_flops = sh_layer_flops,
    .rng_uniform = sh_rng_uniform,
    .log = ofr_token_host_log,
    .fit_softmax = NULL,
    .fit_ridge = NULL,
    .artifact_save = ofr_token_host_artifact_save,
    .artifact_load = ofr_token_host_artifact_load,
    .model_tensor = ofr_token_host_model_tensor,
    .token_state = sh_hidden_state,
    .set_exit_probs = sh_set_exit_probs,
    .oracle_try = ofr_token_host_oracle_try,
    .sequence_agrees = sh_no_sequence,
    .retry_sequence = sh_no_sequence,
};

const ofr_host *
ofr_seq2seq_runner_host (void)
{
    return &s_s2s_host;
}

/* ---- decoding ------------------------------------------------------------------ */

/* Argmax of the next-token distribution (EOS disabled before MIN_LENGTH). */
static int
pick (const float *x, int V, int eos, int step)
{
    int best = -1;
    for (int c = 0; c < V; c++) {
        if (c == eos && step < MIN_LENGTH)
            continue;
        if (best < 0 || x[c] > x[best])
            best = c;
    }
    return best;
}

/* Fill the K/V of layers [from, to) the position does not run. */
static int
fill_kv (s2s_run *r, int from, int to, char *err, size_t errlen)
{
    int row = ROW_METHOD;
    for (int u = from; u < to; u++) {
        if (ofr_s2s_skip (r->st, u, &row, 1, r->fill, err, errlen) != 0)
            return -1;
        if (r->fill == OFR_S2S_KV_PROPAGATE)
            r->flops += r->kv_flops;
    }
    return 0;
}

/*  Feed `token` at the next position of the method's row with the plugin
    deciding per layer; *next = the argmax of its output. */
static int
method_position (s2s_run *r, ofr_batch *view, int token, int step, int *next,
                 char *err, size_t errlen)
{
    const ofr_method *m = r->ctx->method;
    void *stt = r->ctx->method_state;
    int row = ROW_METHOD;
    if (ofr_s2s_begin (r->st, &row, &token, 1, err, errlen) != 0)
        return -1;
    r->flops += r->embed_flops;
    r->pos = ofr_s2s_length (r->st, row) - 1;
    view->step = r->pos;
    view->n_rows = 1;
    r->cur_layer = -1;
    r->probs_layer = -1;
    r->overridden = false;
    double lf = ofr_s2s_layer_flops (r->m, r->pos + 1, r->n_src);
    int exit_l = r->L - 1;
    for (int l = 0; l < r->L; l++) {
        uint8_t act = OFR_RUN;
        if (m->before_layer && m->before_layer (stt, view, l, &act) != 0)
            return ofr_errf (err, errlen, "plugin %s: before_layer %d failed at position "
                             "%d", m->name, l + 1, r->pos);
        if (act == OFR_SKIP) {
            if (fill_kv (r, l, l + 1, err, errlen) != 0)
                return -1;
        } else if (act == OFR_RUN || act == OFR_RUN_LOWP) {
            /* No reduced-precision kernel here: RUN_LOWP runs, charged in full. */
            if (ofr_s2s_layer (r->st, l, &row, 1, err, errlen) != 0)
                return -1;
            r->flops += lf;
        } else
            return ofr_errf (err, errlen, "plugin %s: invalid action %d before layer %d",
                             m->name, act, l + 1);
        if (r->probs_layer != l)
            r->probs_layer = -1;   /* the state moved on */
        r->cur_layer = l;
        act = OFR_CONTINUE;
        if (m->after_layer && m->after_layer (stt, view, l, &act) != 0)
            return ofr_errf (err, errlen, "plugin %s: after_layer %d failed at position "
                             "%d", m->name, l + 1, r->pos);
        if (act != OFR_CONTINUE && act != OFR_EXIT)
            return ofr_errf (err, errlen, "plugin %s: invalid action %d after layer %d",
                             m->name, act, l + 1);
        if (act == OFR_EXIT && l < r->L - 1) {
            if (fill_kv (r, l + 1, r->L, err, errlen) != 0)
                return -1;
            exit_l = l;
            break;
        }
    }
    if (r->n_exits < MAX_STEPS)
        r->exits[r->n_exits++] = (uint8_t) (exit_l + 1 > 255 ? 255 : exit_l + 1);
    if (r->probs_layer != exit_l && head_now (r, err, errlen) != 0)
        return -1;
    /* The logits of the head are as good as the probabilities for the
       argmax, unless the plugin supplied its own distribution. */
    *next = r->overridden ? pick (r->probs, r->V, r->eos, step)
                          : pick (ofr_s2s_logits (r->st, row), r->V, r->eos, step);
    return 0;
}

/* The full model's greedy output on ROW_REF (uncharged); *steps = positions. */
static int
reference (s2s_run *r, int *n_ref, int *steps, char *err, size_t errlen)
{
    int row = ROW_REF, tok = r->bos, n = 0, s = 0;
    for (int step = 0; step < MAX_STEPS; step++) {
        if (ofr_s2s_begin (r->st, &row, &tok, 1, err, errlen) != 0)
            return -1;
        for (int l = 0; l < r->L; l++)
            if (ofr_s2s_layer (r->st, l, &row, 1, err, errlen) != 0)
                return -1;
        if (ofr_s2s_head (r->st, &row, 1, err, errlen) != 0)
            return -1;
        s++;
        int best = pick (ofr_s2s_logits (r->st, row), r->V, r->eos, step);
        if (best == r->eos)
            break;
        r->ref[n++] = best;
        tok = best;
    }
    *n_ref = n;
    *steps = s;
    return 0;
}

static double
full_flops (const s2s_run *r, int steps)
{
    double f = ofr_s2s_encoder_flops (r->m, r->n_src);
    for (int p = 0; p < steps; p++)
        f += r->embed_flops + r->L * ofr_s2s_layer_flops (r->m, p + 1, r->n_src)
           + r->head_flops;
    return f;
}

/* ---- text ------------------------------------------------------------------------ */

static bool
starts_with (const char *s, const char *p)
{
    return strncmp (s, p, strlen (p)) == 0;
}

static bool
ends_with (const char *s, const char *suffix)
{
    size_t n = strlen (s), k = strlen (suffix);
    return n >= k && strcmp (s + n - k, suffix) == 0;
}

#define SPM_SPACE "\xe2\x96\x81"    /* U+2581 */

/* SentencePiece if any target piece starts with U+2581, subword-nmt if any
   ends with "@@", else plain tokens. */
static detok_mode
detect_detok (const ofr_seq2seq *m)
{
    int spm = 0, bpe = 0;
    for (int i = 0; i < ofr_seq2seq_tgt_vocab (m); i++) {
        const char *t = ofr_seq2seq_tgt_token (m, i);
        spm += t && starts_with (t, SPM_SPACE);
        bpe += t && ends_with (t, "@@");
    }
    return spm ? DETOK_SPM : bpe ? DETOK_BPE : DETOK_SPACES;
}

/* r->text = the output text of tok[0..n). */
static int
detokenize (s2s_run *r, const int *tok, int n)
{
    ofr_buf *b = &r->text;
    ofr_buf_reset (b);
    ofr_buf_puts (b, "");
    for (int i = 0; i < n; i++) {
        const char *t = ofr_seq2seq_tgt_token (r->m, tok[i]);
        if (!t)
            continue;
        switch (r->detok) {
        case DETOK_SPACES:
            ofr_buf_printf (b, "%s%s", i ? " " : "", t);
            break;
        case DETOK_SPM:
            for (const char *p = t; *p;) {
                if (starts_with (p, SPM_SPACE)) {
                    if (b->len)
                        ofr_buf_puts (b, " ");
                    p += strlen (SPM_SPACE);
                } else
                    ofr_buf_append (b, p++, 1);
            }
            break;
        case DETOK_BPE:
            if (ends_with (t, "@@"))
                ofr_buf_append (b, t, strlen (t) - 2);
            else
                ofr_buf_printf (b, "%s ", t);
            break;
        }
    }
    while (r->detok != DETOK_SPACES && b->len && b->data[b->len - 1] == ' ')
        b->data[--b->len] = 0;
    return b->oom ? -1 : 0;
}

/* Source tokens of text (split at spaces and tabs) into r->ids; *n ids. */
static int
source_ids (s2s_run *r, int example, const char *text, int *n, char *err, size_t errlen)
{
    if (r->bpe) {
        char e[OFR_ERRLEN];
        if (ofr_bpe_merges_encode (r->bpe, text, strlen (text), &r->pieces, e, sizeof e) < 0)
            return ofr_errf (err, errlen, "example %d: %s", example, e);
        text = r->pieces.data;
    }
    size_t len = strlen (text);
    if (ofr_grow ((void **) &r->line, &r->line_cap, len + 1, 1) != 0)
        return ofr_errf (err, errlen, "out of memory");
    memcpy (r->line, text, len + 1);
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r (r->line, " \t\r\n", &save); t; t = strtok_r (NULL, " \t\r\n", &save)) {
        if (k == OFR_S2S_MAX_INPUT)
            return ofr_errf (err, errlen, "example %d: more than %d source tokens (the "
                             "longest input this runtime takes)", example, OFR_S2S_MAX_INPUT);
        r->toks[k++] = t;
    }
    int unk = 0;
    *n = k ? ofr_seq2seq_src_ids (r->m, r->toks, k, r->ids, &unk) : 0;
    r->n_unk += unk;
    return 0;
}

/* ---- examples -------------------------------------------------------------------- */

static int
run_example (s2s_run *r, int example, ofr_emit_fn *emit, void *arg, char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = r->ctx;
    const ofr_method *m = ctx->method;
    ofr_example ex;
    if (ctx->suite->example (ctx->suite_data, example, &ex) != 0 || !ex.text_a)
        return ofr_errf (err, errlen, "suite %s: no source text for example %d",
                         ctx->suite->name, example);
    int n_src = 0;
    if (source_ids (r, example, ex.text_a, &n_src, err, errlen) != 0)
        return -1;
    r->n_exits = 0;
    r->flops = 0;
    int n_gen = 0;
    double ff = 0, wall = 0;
    if (n_src > 0) {
        /* An empty source gives an empty output without running the model. */
        r->n_src = n_src;
        double t0 = ofr_now_ms ();
        if (ofr_s2s_encode (r->st, r->ids, n_src, err, errlen) != 0)
            return -1;
        wall += ofr_now_ms () - t0;
        r->flops += ofr_s2s_encoder_flops (r->m, n_src);
        int n_ref = 0, ref_steps = 0;
        if (reference (r, &n_ref, &ref_steps, err, errlen) != 0)
            return -1;
        ff = full_flops (r, ref_steps);
        int row_id = 0;
        ofr_batch view = {
            .struct_size = sizeof (ofr_batch), .kind = OFR_KIND_SEQ2SEQ, .batch_size = 1,
            .n_rows = 1, .row_ids = &row_id, .n_layers = r->L, .n_outputs = r->V,
            .step = 0, .host_ctx = r,
        };
        t0 = ofr_now_ms ();
        if (m->begin && m->begin (ctx->method_state, &view) != 0)
            return ofr_errf (err, errlen, "plugin %s: begin failed", m->name);
        int tok = r->bos, rc = 0;
        for (int step = 0; step < MAX_STEPS; step++) {
            int best = -1;
            if ((rc = method_position (r, &view, tok, step, &best, err, errlen)) != 0)
                break;
            if (best == r->eos)
                break;
            r->gen[n_gen++] = best;
            tok = best;
        }
        if (m->end) {
            view.n_rows = 1;
            view.step = r->pos;
            m->end (ctx->method_state, &view);
        }
        wall += ofr_now_ms () - t0;
        if (rc != 0)
            return -1;
    }
    if (detokenize (r, r->gen, n_gen) != 0)
        return ofr_errf (err, errlen, "out of memory");
    int n_stats = ctx->suite->n_stats;
    double stats[64];
    if (n_stats > 64)
        return ofr_errf (err, errlen, "suite %s: too many stats", ctx->suite->name);
    ofr_prediction pred = { .cls = -1, .text = r->text.data };
    if (ctx->suite->score (ctx->suite_data, example, &pred, stats) != 0)
        return ofr_errf (err, errlen, "suite %s: scoring example %d failed",
                         ctx->suite->name, example);
    ofr_record rec = {
        .cell = ctx->cell->index, .example = example, .prediction = n_gen,
        .pred_text = r->text.data, .stats = stats, .n_stats = n_stats,
        .exit_layer = r->L, .token_exits = r->exits, .n_tokens = r->n_exits,
        .n_layers = r->L, .flops = r->flops, .flops_full = ff, .wall_ms = wall,
    };
    if (emit (arg, &rec) != 0)
        return ofr_errf (err, errlen, "emitting the record of example %d failed", example);
    return 0;
}

static void
s2s_run_free (s2s_run *r)
{
    ofr_s2s_state_destroy (&r->st);
    free (r->probs);
    free (r->gen);
    free (r->ref);
    free (r->ids);
    free (r->toks);
    free (r->line);
    ofr_buf_free (&r->text);
    ofr_buf_free (&r->pieces);
}

int
ofr_seq2seq_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                        ofr_emit_fn *emit, void *arg, char *err, size_t errlen)
{
    s2s_run r = { .ctx = ctx, .m = ofr_seq2seq_model_get (ctx->model) };
    if (!r.m)
        return ofr_errf (err, errlen, "model %s: not an encoder-decoder the seq2seq driver "
                         "knows (CTranslate2)", ctx->model->name);
    if (!(ctx->suite->kinds & OFR_KIND_SEQ2SEQ) || !ctx->suite->score)
        return ofr_errf (err, errlen, "suite %s is not a seq2seq suite (try aren_translit, "
                         "multi30k_en_de, wmt22_en_de)", ctx->suite->name);
    switch (ctx->method->kv_policy) {
    case OFR_KV_COPY_UP: r.fill = OFR_S2S_KV_PROPAGATE; break;
    case OFR_KV_MASK:    r.fill = OFR_S2S_KV_MASK; break;
    default:
        return ofr_errf (err, errlen, "method %s: kv_policy %d (recompute) is not "
                         "implemented by the seq2seq driver; use copy-up or mask",
                         ctx->method->name, ctx->method->kv_policy);
    }
    ofr_buf_init (&r.text);
    ofr_buf_init (&r.pieces);
    r.bpe = ofr_seq2seq_model_bpe (ctx->model);
    r.L = ofr_seq2seq_dec_layers (r.m);
    r.V = ofr_seq2seq_tgt_vocab (r.m);
    r.d = ofr_seq2seq_dim (r.m);
    r.bos = ofr_seq2seq_bos (r.m);
    r.eos = ofr_seq2seq_eos (r.m);
    r.detok = detect_detok (r.m);
    r.kv_flops = ofr_s2s_kv_fill_flops (r.m);
    r.head_flops = ofr_s2s_head_flops (r.m, true);
    r.embed_flops = ofr_s2s_embed_flops (r.m);
    int rc = ofr_s2s_state_new (r.m, 2, OFR_S2S_MAX_INPUT + 2, MAX_STEPS, &r.st, err, errlen);
    if (rc == 0) {
        r.probs = ofr_calloc ((size_t) r.V, sizeof (float));
        r.gen = ofr_calloc (MAX_STEPS, sizeof (int));
        r.ref = ofr_calloc (MAX_STEPS, sizeof (int));
        r.ids = ofr_calloc (OFR_S2S_MAX_INPUT + 2, sizeof (int));
        r.toks = ofr_calloc (OFR_S2S_MAX_INPUT + 1, sizeof (char *));
        if (!r.probs || !r.gen || !r.ref || !r.ids || !r.toks)
            rc = ofr_errf (err, errlen, "out of memory");
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        ofr_rng_seed (&r.rng, ctx->cell->seed * 1000003u + (uint64_t) examples[i]);
        rc = run_example (&r, examples[i], emit, arg, err, errlen);
    }
    if (rc == 0 && r.n_unk > 0)
        ofr_log (OFR_INFO, "model %s: %ld unknown source tokens mapped to <unk>",
                 ctx->model->name, r.n_unk);
    s2s_run_free (&r);
    return rc;
}
