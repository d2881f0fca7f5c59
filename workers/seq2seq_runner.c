/*  seq2seq_runner.c -- the encoder-decoder driver and its host table (see
    seq2seq_runner.h). */
#include "seq2seq_runner.h"
#include "s2s_driver.h"
#include "s2s_opts.h"
#include "models/seq2seq_model.h"
#include "engine/ops.h"
#include "token_host.h"
#include "plugin_host.h"
#include "../common/ofr_common.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert (OFR_SEQ2SEQ_MODEL_KIND == OFR_KIND_SEQ2SEQ, "seq2seq kind bit");


/* How target tokens become text. */
typedef enum {
    DETOK_SPACES,     /* tokens joined by spaces (CTranslate2's token output)   */
    DETOK_SPM,        /* SentencePiece pieces: concatenated, U+2581 = space     */
    DETOK_BPE         /* subword-nmt: "xx@@" joins the next token               */
} detok_mode;

/*  One task's text side; the decoding lives in the driver (s2s_driver.h). */
typedef struct {
    const ofr_runner_ctx *ctx;
    const ofr_seq2seq    *m;
    const ofr_bpe_merges *bpe;    /* source BPE, or NULL: source = tokens */
    const ofr_spm        *spm;    /* source SentencePiece (HF Marian), or NULL */
    ofr_s2s_driver       *drv;
    int        B;              /* sentences per driver batch                  */
    detok_mode detok;
    /* Scratch of one task, sized once (src grows with the longest line). */
    int      **src;            /* [B][OFR_S2S_MAX_INPUT + 2] source ids        */
    int       *n_src;          /* [B]                                          */
    int       *ids;            /* [OFR_S2S_MAX_INPUT + 2]                      */
    const char **toks;         /* [OFR_S2S_MAX_INPUT + 1]                      */
    char      *line;
    size_t     line_cap;
    ofr_buf    text, pieces;
    long       n_unk;
    int        n_trunc, trunc_len, trunc_ex, trunc_max;   /* truncated sources */
} s2s_run;

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
    } else if (r->spm) {
        char e[OFR_ERRLEN];
        if (ofr_spm_encode (r->spm, text, &r->pieces, e, sizeof e) < 0)
            return ofr_errf (err, errlen, "example %d: %s", example, e);
        text = r->pieces.data;
    }
    size_t len = strlen (text);
    if (ofr_grow ((void **) &r->line, &r->line_cap, len + 1, 1) != 0)
        return ofr_errf (err, errlen, "out of memory");
    memcpy (r->line, text, len + 1);
    /* Longer sources are truncated to the model's maximum, as CTranslate2
       does (max_input_length), and counted (a warning per task). */
    int k = 0, all = 0;
    int kmax = ofr_seq2seq_max_source (r->m) - ofr_seq2seq_source_specials (r->m);
    kmax = kmax < OFR_S2S_MAX_INPUT ? kmax : OFR_S2S_MAX_INPUT;
    char *save = NULL;
    for (char *t = strtok_r (r->line, " \t\r\n", &save); t; t = strtok_r (NULL, " \t\r\n", &save)) {
        if (k < kmax)
            r->toks[k++] = t;
        all++;
    }
    if (all > k) {
        r->n_trunc++;
        if (all > r->trunc_len) {
            r->trunc_len = all;
            r->trunc_ex = example;
        }
        r->trunc_max = k;
    }
    int unk = 0;
    *n = k ? ofr_seq2seq_src_ids (r->m, r->toks, k, r->ids, &unk) : 0;
    r->n_unk += unk;
    return 0;
}

/* ---- examples -------------------------------------------------------------------- */

static int
emit_one (s2s_run *r, int example, const ofr_s2s_result *res, ofr_emit_fn *emit, void *arg,
          char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = r->ctx;
    if (detokenize (r, res->tokens, res->n_tokens) != 0)
        return ofr_errf (err, errlen, "out of memory");
    int n_stats = ctx->suite->n_stats;
    double stats[64];
    if (n_stats > 64)
        return ofr_errf (err, errlen, "suite %s: too many stats", ctx->suite->name);
    ofr_prediction pred = { .cls = -1, .text = r->text.data };
    if (ctx->suite->score (ctx->suite_data, example, &pred, stats) != 0)
        return ofr_errf (err, errlen, "suite %s: scoring example %d failed",
                         ctx->suite->name, example);
    int L = ofr_seq2seq_dec_layers (r->m);
    ofr_record rec = {
        .cell = ctx->cell->index, .example = example, .prediction = res->n_tokens,
        .pred_text = r->text.data, .stats = stats, .n_stats = n_stats,
        .exit_layer = L, .token_exits = (uint8_t *) res->exits, .n_tokens = res->n_exits,
        .n_layers = L, .flops = res->flops, .flops_full = res->flops_full,
        .wall_ms = res->wall_ms,
    };
    if (emit (arg, &rec) != 0)
        return ofr_errf (err, errlen, "emitting the record of example %d failed", example);
    return 0;
}

/* examples[0..nb) decoded together (an empty source: empty output, nothing
   run). The plugin's RNG is seeded per batch from its first example. */
static int
run_batch (s2s_run *r, const int32_t *examples, int nb, ofr_emit_fn *emit, void *arg,
           char *err, size_t errlen)
{
    const ofr_runner_ctx *ctx = r->ctx;
    for (int j = 0; j < nb; j++) {
        ofr_example ex;
        if (ctx->suite->example (ctx->suite_data, examples[j], &ex) != 0 || !ex.text_a)
            return ofr_errf (err, errlen, "suite %s: no source text for example %d",
                             ctx->suite->name, examples[j]);
        if (source_ids (r, examples[j], ex.text_a, &r->n_src[j], err, errlen) != 0)
            return -1;
        memcpy (r->src[j], r->ids, (size_t) r->n_src[j] * sizeof *r->ids);
    }
    if (ofr_s2s_driver_run (r->drv, (const int *const *) r->src, r->n_src, nb,
                            ctx->cell->seed * 1000003u + (uint64_t) examples[0], err, errlen) != 0)
        return -1;
    for (int j = 0; j < nb; j++) {
        ofr_s2s_result res = ofr_s2s_driver_result (r->drv, j);
        if (emit_one (r, examples[j], &res, emit, arg, err, errlen) != 0)
            return -1;
    }
    return 0;
}

const ofr_host *
ofr_seq2seq_runner_host (void)
{
    return ofr_s2s_driver_host ();
}

static void
s2s_run_free (s2s_run *r)
{
    ofr_s2s_driver_destroy (&r->drv);
    for (int j = 0; r->src && j < r->B; j++)
        free (r->src[j]);
    free (r->src);
    free (r->n_src);
    free (r->ids);
    free (r->toks);
    free (r->line);
    ofr_buf_free (&r->text);
    ofr_buf_free (&r->pieces);
}

/* The decoder's caches cost 4 x layers x 256 positions x width floats a
   row: the batch shrinks to keep them within 512 MiB. */
static int
batch_rows (const ofr_seq2seq *m, int batch, int beam)
{
    double row = 16.0 * ofr_seq2seq_dec_layers (m) * OFR_S2S_DRIVER_MAX_STEPS * ofr_seq2seq_dim (m);
    int max_rows = (int) (512.0 * 1024 * 1024 / row);
    int b = batch;
    if ((long) b * beam > max_rows)
        b = max_rows / beam > 0 ? max_rows / beam : 1;
    return b;
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
    ofr_s2s_kv_fill fill;
    int kv_policy = ofr_method_kv_policy (ctx->method, ctx->method_state);
    switch (kv_policy) {
    case OFR_KV_COPY_UP: fill = OFR_S2S_KV_PROPAGATE; break;
    case OFR_KV_MASK:    fill = OFR_S2S_KV_MASK; break;
    default:
        return ofr_errf (err, errlen, "method %s: kv_policy %d (recompute) is not "
                         "implemented by the seq2seq driver; use copy-up or mask",
                         ctx->method->name, kv_policy);
    }
    int beam = 1;
    float lp = 1.0f;
    int rc = ofr_seq2seq_decode_opts (ctx->cell, &beam, &lp, err, errlen);
    if (rc != 0)
        return -1;
    ofr_buf_init (&r.text);
    ofr_buf_init (&r.pieces);
    r.bpe = ofr_seq2seq_model_bpe (ctx->model);
    r.spm = ofr_seq2seq_model_spm (ctx->model);
    r.detok = detect_detok (r.m);
    r.B = batch_rows (r.m, ctx->cell->batch_size > 0 ? ctx->cell->batch_size : 1, beam);
    rc = ofr_s2s_driver_new (ctx, r.m, fill, r.B, beam, lp, ofr_seq2seq_max_length (ctx->cell),
                             &r.drv, err, errlen);
    if (rc == 0) {
        r.src = ofr_calloc ((size_t) r.B, sizeof *r.src);
        r.n_src = ofr_calloc ((size_t) r.B, sizeof *r.n_src);
        r.ids = ofr_calloc (OFR_S2S_MAX_INPUT + 2, sizeof (int));
        r.toks = ofr_calloc (OFR_S2S_MAX_INPUT + 1, sizeof (char *));
        bool oom = !r.src || !r.n_src || !r.ids || !r.toks;
        for (int j = 0; !oom && j < r.B; j++)
            oom = !(r.src[j] = ofr_calloc (OFR_S2S_MAX_INPUT + 2, sizeof (int)));
        if (oom)
            rc = ofr_errf (err, errlen, "out of memory");
    }
    for (int i = 0; rc == 0 && i < n; i += r.B)
        rc = run_batch (&r, examples + i, n - i < r.B ? n - i : r.B, emit, arg, err, errlen);
    if (rc == 0 && r.n_unk > 0)
        ofr_log (OFR_INFO, "model %s: %ld unknown source tokens mapped to <unk>",
                 ctx->model->name, r.n_unk);
    if (rc == 0 && r.n_trunc > 0)
        ofr_log (OFR_WARN, "model %s: %d source(s) longer than the model's maximum of %d "
                 "tokens truncated to it (the longest: example %d, %d tokens)",
                 ctx->model->name, r.n_trunc, r.trunc_max, r.trunc_ex, r.trunc_len);
    s2s_run_free (&r);
    return rc;
}
