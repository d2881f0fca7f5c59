/*  s2s_driver.c -- batched per-token decoding under a method plugin (see
    s2s_driver.h). */
#include "s2s_driver.h"
#include "s2s_hyps.h"
#include "engine/ops.h"
#include "token_host.h"
#include "../common/ofr_common.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS OFR_S2S_DRIVER_MAX_STEPS
#define MIN_LENGTH 1             /* CTranslate2's min_decoding_length */

typedef struct {
    int     n_src;
    double  flops, ff, wall;
} sent;

struct ofr_s2s_driver {
    const ofr_runner_ctx *ctx;   /* first: token_host.c reads it */
    const ofr_seq2seq    *m;
    ofr_s2s_state        *st;
    ofr_s2s_kv_fill       fill;
    int     L, V, B, K, rows, nb, cap_src, cap_total, max_steps;
    float   length_penalty;
    double  kv_flops, head_flops, embed_flops;
    sent   *sent;                /* [B]                                           */
    ofr_s2s_hyps **hyps;         /* [B]                                           */
    /* The position in flight: the call's active rows (view order). */
    bool    method;
    int     pos, cur_layer, n_act;
    int    *act, *run, *skip, *ex, *feed, *tok, *parents, *slots;   /* [rows] */
    int    *probs_layer;         /* [rows] layer probs holds, -1 none             */
    bool   *overridden, *charged;
    uint8_t *exit_l, *actions;   /* [rows]                                        */
    float  *probs;               /* [rows][V]                                     */
    const float **dist;          /* [K]                                           */
    uint8_t *dexit;              /* [K]                                           */
    ofr_rng rng;
};

_Static_assert (offsetof (ofr_s2s_driver, ctx) == 0, "token_host.c reads ctx first");

/* ---- host table ------------------------------------------------------------ */

static bool
ok_row (const ofr_s2s_driver *d, int i)
{
    return d && d->method && i >= 0 && i < d->n_act;
}

static sent *
sent_of (ofr_s2s_driver *d, int row)
{
    return &d->sent[row / d->K];
}

/* The head on every active row not yet at cur_layer, one sgemm. */
static int
heads_now (ofr_s2s_driver *d, char *err, size_t errlen)
{
    int n = 0;
    for (int i = 0; i < d->n_act; i++)
        if (d->probs_layer[d->act[i]] != d->cur_layer)
            d->run[n++] = d->act[i];
    if (n && ofr_s2s_head (d->st, d->run, n, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        int row = d->run[i];
        float *p = d->probs + (size_t) row * d->V;
        memcpy (p, ofr_s2s_logits (d->st, row), (size_t) d->V * sizeof *p);
        ofr_softmax (p, d->V);
        d->probs_layer[row] = d->cur_layer;
        d->overridden[row] = false;
        d->charged[row] = false;
    }
    return 0;
}

static void
charge_head (ofr_s2s_driver *d, int row)
{
    if (!d->charged[row]) {
        sent_of (d, row)->flops += d->head_flops;
        d->charged[row] = true;
    }
}

static const float *
sh_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    ofr_s2s_driver *d = host_ctx;
    if (!ok_row (d, i) || layer < 0 || layer >= d->L)
        return NULL;
    int row = d->act[i];
    if (d->probs_layer[row] != layer) {
        if (layer != d->cur_layer) {
            ofr_log (OFR_WARN, "plugin %s asked for exit probabilities of layer %d "
                     "while at layer %d", d->ctx->method->name, layer, d->cur_layer);
            return NULL;
        }
        char err[OFR_ERRLEN];
        if (heads_now (d, err, sizeof err) != 0) {
            ofr_log (OFR_WARN, "exit_probs: %s", err);
            return NULL;
        }
    }
    charge_head (d, row);
    if (n_positions)
        *n_positions = 1;
    return d->probs + (size_t) row * d->V;
}

static const float *
sh_hidden_state (void *host_ctx, int i, int *dim)
{
    ofr_s2s_driver *d = host_ctx;
    if (!ok_row (d, i))
        return NULL;
    if (dim)
        *dim = ofr_seq2seq_dim (d->m);
    return ofr_s2s_hidden (d->st, d->act[i]);
}

static void
sh_charge_flops (void *host_ctx, int i, double flops)
{
    ofr_s2s_driver *d = host_ctx;
    if (ok_row (d, i) && flops > 0)
        sent_of (d, d->act[i])->flops += flops;
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
    ofr_s2s_driver *d = host_ctx;
    if (!ok_row (d, i) || layer < 0 || layer >= d->L)
        return 0;
    return ofr_s2s_layer_flops (d->m, d->pos + 1, sent_of (d, d->act[i])->n_src);
}

static double
sh_rng_uniform (void *host_ctx)
{
    ofr_s2s_driver *d = host_ctx;
    return d ? ofr_rng_uniform (&d->rng) : 0.5;
}

static int
sh_set_exit_probs (void *host_ctx, int i, int layer, const float *probs)
{
    ofr_s2s_driver *d = host_ctx;
    if (!ok_row (d, i) || !probs || layer != d->cur_layer)
        return -1;
    int row = d->act[i];
    memcpy (d->probs + (size_t) row * d->V, probs, (size_t) d->V * sizeof *probs);
    d->probs_layer[row] = layer;
    d->overridden[row] = true;
    d->charged[row] = true;      /* the model's head is neither run nor charged */
    return 0;
}

static int
sh_no_sequence (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;     /* no per-sequence oracle for seq2seq yet */
}

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
ofr_s2s_driver_host (void)
{
    return &s_s2s_host;
}

/* ---- one position ----------------------------------------------------------- */

/* Layers [from, to) of rows[0..n) not run: their K/V entries per kv_policy. */
static int
fill_kv (ofr_s2s_driver *d, int from, int to, const int *rows, int n, char *err, size_t errlen)
{
    for (int u = from; u < to && n > 0; u++) {
        if (ofr_s2s_skip (d->st, u, rows, n, d->fill, err, errlen) != 0)
            return -1;
        if (d->fill == OFR_S2S_KV_PROPAGATE)
            for (int i = 0; i < n; i++)
                sent_of (d, rows[i])->flops += d->kv_flops;
    }
    return 0;
}

static void
share_time (ofr_s2s_driver *d, const int *rows, int n, double ms)
{
    for (int i = 0; i < n; i++)
        sent_of (d, rows[i])->wall += ms / n;
}

/* The full model on feed[0..n): uncharged; flops_full counted. */
static int
full_position (ofr_s2s_driver *d, int n, char *err, size_t errlen)
{
    if (ofr_s2s_begin (d->st, d->feed, d->tok, n, err, errlen) != 0)
        return -1;
    for (int l = 0; l < d->L; l++)
        if (ofr_s2s_layer (d->st, l, d->feed, n, err, errlen) != 0)
            return -1;
    if (ofr_s2s_head (d->st, d->feed, n, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        int row = d->feed[i];
        sent *s = sent_of (d, row);
        s->ff += d->embed_flops + d->head_flops
               + d->L * ofr_s2s_layer_flops (d->m, d->pos + 1, s->n_src);
        d->exit_l[row] = (uint8_t) (d->L > 255 ? 255 : d->L);
        d->overridden[row] = false;
    }
    return 0;
}

/* One layer of the method's position over the active rows; exited rows
   leave the active set. */
static int
method_layer (ofr_s2s_driver *d, ofr_batch *view, int l, char *err, size_t errlen)
{
    const ofr_method *m = d->ctx->method;
    void *stt = d->ctx->method_state;
    double t0 = ofr_now_ms ();
    view->n_rows = d->n_act;
    memset (d->actions, OFR_RUN, (size_t) d->n_act);
    if (m->before_layer && m->before_layer (stt, view, l, d->actions) != 0)
        return ofr_errf (err, errlen, "plugin %s: before_layer %d failed at position %d",
                         m->name, l + 1, d->pos);
    int nr = 0, ns = 0;
    for (int i = 0; i < d->n_act; i++) {
        uint8_t a = d->actions[i];
        if (a == OFR_SKIP)
            d->skip[ns++] = d->act[i];
        else if (a == OFR_RUN || a == OFR_RUN_LOWP)
            d->run[nr++] = d->act[i];    /* no reduced-precision kernel: charged in full */
        else
            return ofr_errf (err, errlen, "plugin %s: invalid action %d before layer %d",
                             m->name, a, l + 1);
    }
    if (nr && ofr_s2s_layer (d->st, l, d->run, nr, err, errlen) != 0)
        return -1;
    for (int i = 0; i < nr; i++) {
        sent *s = sent_of (d, d->run[i]);
        s->flops += ofr_s2s_layer_flops (d->m, d->pos + 1, s->n_src);
    }
    if (fill_kv (d, l, l + 1, d->skip, ns, err, errlen) != 0)
        return -1;
    for (int i = 0; i < d->n_act; i++)
        if (d->probs_layer[d->act[i]] != l)
            d->probs_layer[d->act[i]] = -1;     /* the state moved on */
    d->cur_layer = l;
    memset (d->actions, OFR_CONTINUE, (size_t) d->n_act);
    if (m->after_layer && m->after_layer (stt, view, l, d->actions) != 0)
        return ofr_errf (err, errlen, "plugin %s: after_layer %d failed at position %d",
                         m->name, l + 1, d->pos);
    share_time (d, d->act, d->n_act, ofr_now_ms () - t0);
    int kept = 0, ne = 0;
    for (int i = 0; i < d->n_act; i++) {
        uint8_t a = d->actions[i];
        if (a != OFR_CONTINUE && a != OFR_EXIT)
            return ofr_errf (err, errlen, "plugin %s: invalid action %d after layer %d",
                             m->name, a, l + 1);
        int row = d->act[i];
        if (a == OFR_EXIT && l < d->L - 1) {
            d->ex[ne++] = row;
            d->exit_l[row] = (uint8_t) (l + 1 > 255 ? 255 : l + 1);
        } else
            d->act[kept++] = row;
    }
    d->n_act = kept;
    t0 = ofr_now_ms ();
    if (fill_kv (d, l + 1, d->L, d->ex, ne, err, errlen) != 0)
        return -1;
    share_time (d, d->ex, ne, ofr_now_ms () - t0);
    return 0;
}

/* The method on feed[0..n): per-layer decisions, then the output head of
   every row that has none at its exit layer. */
static int
method_position (ofr_s2s_driver *d, ofr_batch *view, int n, char *err, size_t errlen)
{
    double t0 = ofr_now_ms ();
    if (ofr_s2s_begin (d->st, d->feed, d->tok, n, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        int row = d->feed[i];
        sent_of (d, row)->flops += d->embed_flops;
        d->act[i] = row;
        d->probs_layer[row] = -1;
        d->overridden[row] = false;
        d->charged[row] = false;
        d->exit_l[row] = (uint8_t) (d->L > 255 ? 255 : d->L);
    }
    d->n_act = n;
    d->cur_layer = -1;
    view->step = d->pos;
    share_time (d, d->feed, n, ofr_now_ms () - t0);
    for (int l = 0; l < d->L && d->n_act > 0; l++)
        if (method_layer (d, view, l, err, errlen) != 0)
            return -1;
    d->n_act = 0;
    t0 = ofr_now_ms ();
    int nh = 0;
    for (int i = 0; i < n; i++) {
        int row = d->feed[i];
        if (d->probs_layer[row] != d->exit_l[row] - 1) {
            d->run[nh++] = row;
            d->charged[row] = false;
        }
    }
    if (nh && ofr_s2s_head (d->st, d->run, nh, err, errlen) != 0)
        return -1;
    for (int i = 0; i < nh; i++)
        d->overridden[d->run[i]] = false;
    for (int i = 0; i < n; i++)
        charge_head (d, d->feed[i]);
    share_time (d, d->feed, n, ofr_now_ms () - t0);
    return 0;
}

/* ---- search over the batch ------------------------------------------------------ */

static int
search (ofr_s2s_driver *d, bool method, char *err, size_t errlen)
{
    const ofr_method *m = d->ctx->method;
    int nb = d->nb, K = d->K, nbind = 0;
    for (int j = 0; j < nb; j++) {
        if (d->sent[j].n_src == 0)
            continue;
        ofr_s2s_hyps_start (d->hyps[j], ofr_seq2seq_bos (d->m));
        for (int k = 0; k < K; k++) {
            d->feed[nbind] = j * K + k;
            d->slots[nbind++] = j;
        }
    }
    if (nbind == 0)
        return 0;
    if (ofr_s2s_bind (d->st, d->feed, d->slots, nbind, err, errlen) != 0)
        return -1;
    d->method = method;
    ofr_batch view = {
        .struct_size = sizeof (ofr_batch), .kind = OFR_KIND_SEQ2SEQ, .batch_size = d->rows,
        .n_rows = 0, .row_ids = d->act, .n_layers = d->L, .n_outputs = d->V,
        .step = 0, .host_ctx = d,
    };
    memcpy (d->act, d->feed, (size_t) nbind * sizeof *d->act);
    view.n_rows = nbind;
    if (method && m->begin && m->begin (d->ctx->method_state, &view) != 0)
        return ofr_errf (err, errlen, "plugin %s: begin failed", m->name);
    int rc = 0;
    for (int step = 0; rc == 0 && step < d->max_steps; step++) {
        int n = 0;
        for (int j = 0; j < nb; j++) {
            int a = d->sent[j].n_src ? ofr_s2s_hyps_alive (d->hyps[j]) : 0;
            const int *t = ofr_s2s_hyps_tokens (d->hyps[j]);
            for (int k = 0; k < a; k++) {
                d->feed[n] = j * K + k;
                d->tok[n++] = t[k];
            }
        }
        if (n == 0)
            break;
        d->pos = step;
        rc = method ? method_position (d, &view, n, err, errlen)
                    : full_position (d, n, err, errlen);
        bool reorder = false;
        for (int i = 0; i < d->rows; i++)
            d->parents[i] = i;
        for (int j = 0; rc == 0 && j < nb; j++) {
            int a = d->sent[j].n_src ? ofr_s2s_hyps_alive (d->hyps[j]) : 0;
            if (a == 0)
                continue;
            bool isp[64];
            int par[64];
            for (int k = 0; k < a; k++) {
                int row = j * K + k;
                isp[k] = d->overridden[row];
                d->dist[k] = isp[k] ? d->probs + (size_t) row * d->V : ofr_s2s_logits (d->st, row);
                d->dexit[k] = d->exit_l[row];
            }
            if (ofr_s2s_hyps_step (d->hyps[j], d->dist, isp, d->dexit, par) == 1) {
                for (int k = 0; k < ofr_s2s_hyps_alive (d->hyps[j]); k++)
                    d->parents[j * K + k] = j * K + par[k];
                reorder = true;
            }
        }
        if (rc == 0 && reorder)
            rc = ofr_s2s_reorder (d->st, d->parents, d->rows, err, errlen);
    }
    if (method && m->end) {
        for (int j = 0, i = 0; j < nb; j++)
            for (int k = 0; d->sent[j].n_src && k < K; k++)
                d->act[i++] = j * K + k;
        view.n_rows = nbind;
        view.step = d->pos;
        m->end (d->ctx->method_state, &view);
    }
    d->method = false;
    return rc;
}

/* ---- the driver ------------------------------------------------------------------- */

void
ofr_s2s_driver_destroy (ofr_s2s_driver **dp)
{
    if (!dp || !*dp)
        return;
    ofr_s2s_driver *d = *dp;
    ofr_s2s_state_destroy (&d->st);
    for (int j = 0; d->hyps && j < d->B; j++)
        ofr_s2s_hyps_destroy (&d->hyps[j]);
    free (d->hyps);
    free (d->sent);
    int *ints[] = { d->act, d->run, d->skip, d->ex, d->feed, d->tok, d->parents, d->slots,
                    d->probs_layer };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        free (ints[i]);
    free (d->overridden);
    free (d->charged);
    free (d->exit_l);
    free (d->actions);
    free (d->probs);
    free (d->dist);
    free (d->dexit);
    free (d);
    *dp = NULL;
}

int
ofr_s2s_driver_new (const ofr_runner_ctx *ctx, const ofr_seq2seq *m, ofr_s2s_kv_fill fill,
                    int batch, int beam, float length_penalty, int max_length,
                    ofr_s2s_driver **out, char *err, size_t errlen)
{
    *out = NULL;
    int V = ofr_seq2seq_tgt_vocab (m);
    if (batch < 1 || beam < 1 || beam > 64 || (long) batch * beam > 4096 || 2 * beam > V)
        return ofr_errf (err, errlen, "seq2seq driver: batch %d x beam %d: want batch x "
                         "beam <= 4096, beam 1..64 and 2 x beam <= the vocabulary (%d)",
                         batch, beam, V);
    ofr_s2s_driver *d = ofr_calloc (1, sizeof *d);
    if (!d)
        return ofr_errf (err, errlen, "seq2seq driver: out of memory");
    size_t R = (size_t) batch * (size_t) beam;
    *d = (ofr_s2s_driver) { .ctx = ctx, .m = m, .fill = fill, .B = batch, .K = beam,
                            .rows = (int) R, .length_penalty = length_penalty,
                            .L = ofr_seq2seq_dec_layers (m), .V = V,
                            .kv_flops = ofr_s2s_kv_fill_flops (m),
                            .head_flops = ofr_s2s_head_flops (m, true),
                            .embed_flops = ofr_s2s_embed_flops (m) };
    /* CTranslate2's 256 steps, or fewer if the model has fewer positions. */
    int tmax = ofr_seq2seq_max_target (m);
    d->max_steps = tmax < MAX_STEPS ? tmax : MAX_STEPS;
    if (max_length >= 1 && max_length < d->max_steps)
        d->max_steps = max_length;
    d->sent = ofr_calloc ((size_t) batch, sizeof *d->sent);
    d->hyps = ofr_calloc ((size_t) batch, sizeof *d->hyps);
    int **ints[] = { &d->act, &d->run, &d->skip, &d->ex, &d->feed, &d->tok, &d->parents,
                     &d->slots, &d->probs_layer };
    bool oom = !d->sent || !d->hyps;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        oom |= !(*ints[i] = ofr_calloc (R, sizeof (int)));
    d->overridden = ofr_calloc (R, sizeof (bool));
    d->charged = ofr_calloc (R, sizeof (bool));
    d->exit_l = ofr_calloc (R, 1);
    d->actions = ofr_calloc (R, 1);
    d->probs = ofr_calloc (R * (size_t) V, sizeof (float));
    d->dist = ofr_calloc ((size_t) beam, sizeof *d->dist);
    d->dexit = ofr_calloc ((size_t) beam, 1);
    oom |= !d->overridden || !d->charged || !d->exit_l || !d->actions || !d->probs || !d->dist
           || !d->dexit;
    for (int j = 0; !oom && j < batch; j++)
        oom |= ofr_s2s_hyps_new (beam, d->max_steps, MIN_LENGTH, length_penalty, V,
                                 ofr_seq2seq_eos (m), &d->hyps[j]) != 0;
    if (oom) {
        ofr_s2s_driver_destroy (&d);
        return ofr_errf (err, errlen, "seq2seq driver: out of memory (batch %d x beam %d, "
                         "vocabulary %d)", batch, beam, V);
    }
    *out = d;
    return 0;
}

/* A state whose slots hold the batch's sources (kept while big enough). */
static int
ensure_state (ofr_s2s_driver *d, int longest, int total, char *err, size_t errlen)
{
    if (d->st && longest <= d->cap_src && total <= d->cap_total)
        return 0;
    int src = longest > d->cap_src ? longest : d->cap_src;
    int all = total > d->cap_total ? total : d->cap_total;
    if (all < src)
        all = src;
    ofr_s2s_state_destroy (&d->st);
    if (ofr_s2s_state_new_slots (d->m, d->rows, d->B, src, all, d->max_steps, &d->st,
                                 err, errlen) != 0)
        return -1;
    d->cap_src = src;
    d->cap_total = all;
    return 0;
}

int
ofr_s2s_driver_run (ofr_s2s_driver *d, const int *const *src, const int *n_src, int nb,
                    uint64_t rng_seed, char *err, size_t errlen)
{
    if (nb < 1 || nb > d->B)
        return ofr_errf (err, errlen, "seq2seq driver: %d sentences for a batch of %d", nb, d->B);
    d->nb = nb;
    ofr_rng_seed (&d->rng, rng_seed);
    int longest = 0, total = 0;
    for (int j = 0; j < nb; j++) {
        d->sent[j] = (sent) { .n_src = n_src[j] };
        longest = n_src[j] > longest ? n_src[j] : longest;
        total += n_src[j];
    }
    if (total == 0)
        return 0;
    if (ensure_state (d, longest, total, err, errlen) != 0)
        return -1;
    double t0 = ofr_now_ms ();
    if (ofr_s2s_encode_slots (d->st, src, n_src, nb, err, errlen) != 0)
        return -1;
    double enc_ms = ofr_now_ms () - t0;
    for (int j = 0; j < nb; j++) {
        sent *s = &d->sent[j];
        if (s->n_src == 0)
            continue;
        double ef = ofr_s2s_encoder_flops (d->m, s->n_src);
        s->flops = s->ff = ef;
        s->wall = enc_ms * s->n_src / total;
    }
    if (search (d, false, err, errlen) != 0 || search (d, true, err, errlen) != 0)
        return -1;
    return 0;
}

ofr_s2s_result
ofr_s2s_driver_result (const ofr_s2s_driver *d, int j)
{
    ofr_s2s_result res = { 0 };
    if (j < 0 || j >= d->nb || d->sent[j].n_src == 0)
        return res;
    float score;
    ofr_s2s_hyps_best (d->hyps[j], &res.tokens, &res.n_tokens, &res.exits, &res.n_exits, &score);
    res.flops = d->sent[j].flops;
    res.flops_full = d->sent[j].ff;
    res.wall_ms = d->sent[j].wall;
    return res;
}
