/*  selfspec.c -- self-speculative greedy decoding (see selfspec.h). */
#include "selfspec.h"
#include "../../common/ofr_common.h"
#include "../engine/ops.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    ofr_decoder *d;
    int    row, L, V, dim, k;
    float *h;         /* [d + 1][dim] layer-k states of the fed positions    */
    float *logits;    /* [d + 1][V]                                          */
    int   *draft;     /* [d]                                                 */
    int   *full;      /* [d + 1]                                             */
    int   *pos;       /* [d + 1]                                             */
} spec_ws;

/* Feed up to d + 1 positions through the draft layers; returns how many
   were fed (*n_draft drafts proposed), or -1. */
static int
draft (spec_ws *w, int token, int d, int *n_draft, ofr_selfspec_stats *st,
       double head_f, char *err, size_t errlen)
{
    const ofr_llama *m = ofr_decoder_model (w->d);
    int row = w->row, fed = 0;
    *n_draft = 0;
    for (int i = 0; i <= d; i++) {
        if (ofr_decoder_begin (w->d, &row, &token, 1, err, errlen) != 0)
            return -1;
        int p = ofr_decoder_length (w->d, row) - 1;
        w->pos[i] = p;
        for (int l = 0; l < w->k; l++)
            if (ofr_decoder_layer (w->d, l, &row, 1, err, errlen) != 0)
                return -1;
        st->layers += w->k;
        st->flops += w->k * ofr_llama_layer_flops (m, p + 1);
        memcpy (w->h + (size_t) i * w->dim, ofr_decoder_hidden (w->d, row),
                (size_t) w->dim * sizeof (float));
        fed++;
        if (i == d)
            break;
        if (ofr_decoder_head (w->d, &row, 1, err, errlen) != 0)
            return -1;
        st->heads++;
        st->flops += head_f;
        token = w->draft[(*n_draft)++] = ofr_argmax (ofr_decoder_logits (w->d, row), w->V);
        if (ofr_llama_is_stop (m, token))
            break;
    }
    return fed;
}

/* Layers k..L-1 and the head on the fed positions: w->full[0..fed). */
static int
verify (spec_ws *w, int fed, ofr_selfspec_stats *st, double head_f, char *err,
        size_t errlen)
{
    const ofr_llama *m = ofr_decoder_model (w->d);
    if (ofr_decoder_run_positions (w->d, w->row, w->pos, fed, w->k, w->L, w->h, err,
                                   errlen) != 0
        || ofr_decoder_head_states (w->d, w->h, fed, w->logits, err, errlen) != 0)
        return -1;
    for (int i = 0; i < fed; i++) {
        w->full[i] = ofr_argmax (w->logits + (size_t) i * w->V, w->V);
        st->flops += (w->L - w->k) * ofr_llama_layer_flops (m, w->pos[i] + 1) + head_f;
    }
    st->layers += (double) fed * (w->L - w->k);
    st->heads += fed;
    return 0;
}

static void
ws_free (spec_ws *w)
{
    free (w->h);
    free (w->logits);
    free (w->draft);
    free (w->full);
    free (w->pos);
}

int
ofr_selfspec_run (ofr_decoder *d, int row, int token, int max_new,
                  const ofr_selfspec_cfg *cfg, ofr_selfspec_token_fn *fn, void *arg,
                  ofr_selfspec_stats *st, char *err, size_t errlen)
{
    const ofr_llama *m = ofr_decoder_model (d);
    const ofr_llama_config *c = ofr_llama_config_of (m);
    if (cfg->draft_layers < 1 || cfg->draft_layers >= c->n_layers || cfg->draft_len < 1
        || cfg->draft_len + 1 > ofr_decoder_max_block (d))
        return ofr_errf (err, errlen, "%s: self-speculation with k=%d draft layers of %d "
                         "and draft=%d tokens (need 1 <= k < %d, a decoder of blocks "
                         ">= draft + 1, here %d)", ofr_llama_path (m), cfg->draft_layers,
                         c->n_layers, cfg->draft_len, c->n_layers, ofr_decoder_max_block (d));
    size_t D = (size_t) cfg->draft_len + 1;
    spec_ws w = { .d = d, .row = row, .L = c->n_layers, .V = c->vocab_size, .dim = c->dim,
                  .k = cfg->draft_layers };
    w.h = ofr_calloc (D * (size_t) w.dim, sizeof (float));
    w.logits = ofr_calloc (D * (size_t) w.V, sizeof (float));
    w.draft = ofr_calloc (D, sizeof (int));
    w.full = ofr_calloc (D, sizeof (int));
    w.pos = ofr_calloc (D, sizeof (int));
    if (!w.h || !w.logits || !w.draft || !w.full || !w.pos) {
        ws_free (&w);
        return ofr_errf (err, errlen, "self-speculation: out of memory");
    }
    double head_f = ofr_llama_head_flops (m, cfg->head_softmax);
    int max_seq = ofr_decoder_max_seq (d), emitted = 0, rc = 0;
    bool done = max_new <= 0;
    while (!done) {
        int p = ofr_decoder_length (d, row);
        /* Fed positions p..p+dd must fit the row, and no more drafts than
           tokens still wanted. */
        int dd = cfg->draft_len;
        if (dd > max_seq - 1 - p)
            dd = max_seq - 1 - p;
        if (dd > max_new - emitted - 1)
            dd = max_new - emitted - 1;
        if (dd < 0) {
            rc = ofr_errf (err, errlen, "self-speculation: row %d is full (%d positions)",
                           row, max_seq);
            break;
        }
        int n_draft = 0, fed = draft (&w, token, dd, &n_draft, st, head_f, err, errlen);
        if (fed < 0 || verify (&w, fed, st, head_f, err, errlen) != 0) {
            rc = -1;
            break;
        }
        st->rounds++;
        st->fed += fed;
        st->drafted += n_draft;
        int a = 0;
        while (a < n_draft && w.draft[a] == w.full[a])
            a++;
        st->accepted += a;
        /* Output: the accepted drafts, then the full model's token after
           them (absent when every fed position's successor was a draft). */
        int n_out = a < fed ? a + 1 : a, used = 0;
        for (int i = 0; i < n_out && !done; i++) {
            int t = i < a ? w.draft[i] : w.full[i];
            if (ofr_llama_is_stop (m, t)) {
                done = true;
                break;
            }
            used = i + 1;
            token = t;
            int s = fn ? fn (arg, t) : 0;
            if (s < 0) {
                rc = ofr_errf (err, errlen, "self-speculation: the token callback failed");
                done = true;
                break;
            }
            emitted++;
            done = s == 1 || emitted == max_new || p + i == max_seq - 1;
        }
        /* Committed: positions p .. p+used-1 (inputs t and the first
           used - 1 outputs); the last output is pending. */
        if (rc == 0 && ofr_decoder_copy_prefix (d, row, row, p + used, err, errlen) != 0)
            rc = -1;
        if (rc != 0)
            break;
    }
    ws_free (&w);
    return rc;
}

typedef struct {
    int *out, *layers, n, cap, L;
} out_sink;

static int
to_out (void *arg, int token)
{
    out_sink *o = arg;
    if (o->n >= o->cap)
        return -1;
    if (o->layers)
        o->layers[o->n] = o->L;
    o->out[o->n++] = token;
    return 0;
}

int
ofr_selfspec_greedy (ofr_decoder *d, int row, const int *prompt, int nprompt, int max_new,
                     const ofr_selfspec_cfg *cfg, int *out, int *n_out, int *layers_used,
                     ofr_selfspec_stats *st, char *err, size_t errlen)
{
    *n_out = 0;
    if (row < 0 || row >= ofr_decoder_batch (d) || nprompt < 1
        || nprompt > ofr_decoder_max_seq (d) || max_new < 0)
        return ofr_errf (err, errlen, "self-speculation: row %d, prompt of %d tokens "
                         "(need 1 to %d), max_new %d", row, nprompt,
                         ofr_decoder_max_seq (d), max_new);
    if (max_new == 0)
        return 0;
    ofr_decoder_reset (d, row);
    int L = ofr_llama_n_layers (ofr_decoder_model (d));
    for (int i = 0; i + 1 < nprompt; i++) {
        if (ofr_decoder_begin (d, &row, &prompt[i], 1, err, errlen) != 0)
            return -1;
        for (int l = 0; l < L; l++)
            if (ofr_decoder_layer (d, l, &row, 1, err, errlen) != 0)
                return -1;
    }
    out_sink o = { out, layers_used, 0, max_new, L };
    int rc = ofr_selfspec_run (d, row, prompt[nprompt - 1], max_new, cfg, to_out, &o, st,
                               err, errlen);
    *n_out = o.n;
    return rc;
}

static int
parse_key (const char *spec, const char *key, long long lo, long long hi, int *out,
           char *err, size_t errlen)
{
    size_t n = strlen (key);
    for (const char *p = spec; p && *p; p = strchr (p, ',') ? strchr (p, ',') + 1 : NULL) {
        if (strncmp (p, key, n) != 0 || p[n] != '=')
            continue;
        const char *v = p + n + 1, *e = strchr (v, ',');
        size_t len = e ? (size_t) (e - v) : strlen (v);
        char buf[32];
        long long x = 0;
        if (len == 0 || len >= sizeof buf)
            return ofr_errf (err, errlen, "selfspec: %s: want an integer in [%lld, %lld]",
                             key, lo, hi);
        memcpy (buf, v, len);
        buf[len] = 0;
        if (ofr_parse_int (buf, &x) != 0 || x < lo || x > hi)
            return ofr_errf (err, errlen, "selfspec: %s=%s: want an integer in [%lld, "
                             "%lld]", key, buf, lo, hi);
        *out = (int) x;
    }
    return 0;
}

int
ofr_selfspec_parse (const char *spec, int n_layers, ofr_selfspec_cfg *cfg,
                    char *err, size_t errlen)
{
    *cfg = (ofr_selfspec_cfg) { .draft_layers = n_layers / 2 > 0 ? n_layers / 2 : 1,
                                .draft_len = 4 };
    if (n_layers < 2)
        return ofr_errf (err, errlen, "selfspec: a model of %d layer(s) has no shallower "
                         "draft model", n_layers);
    for (const char *p = spec; p && *p; p = strchr (p, ',') ? strchr (p, ',') + 1 : NULL)
        if (strncmp (p, "k=", 2) != 0 && strncmp (p, "draft=", 6) != 0) {
            size_t len = strcspn (p, ",");
            return ofr_errf (err, errlen, "selfspec: unknown parameter '%.*s' (want k=K, "
                             "draft=D)", (int) (len > 64 ? 64 : len), p);
        }
    if (parse_key (spec, "k", 1, n_layers - 1, &cfg->draft_layers, err, errlen) != 0
        || parse_key (spec, "draft", 1, 64, &cfg->draft_len, err, errlen) != 0)
        return -1;
    return 0;
}

int
ofr_selfspec_method (const char *method, int n_layers, bool *spec, ofr_selfspec_cfg *cfg,
                     char *err, size_t errlen)
{
    *spec = false;
    if (!method || !strcmp (method, "full"))
        return 0;
    if (strncmp (method, "selfspec", 8) != 0 || (method[8] && method[8] != ':'))
        return ofr_errf (err, errlen, "--method '%s': generate runs full or "
                         "selfspec[:k=K,draft=D] (other methods: a plan with "
                         "`offramp run`)", method);
    *spec = true;
    return ofr_selfspec_parse (method[8] ? method + 9 : "", n_layers, cfg, err, errlen);
}
