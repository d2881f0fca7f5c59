/*  s2s_hyps.c -- see s2s_hyps.h. The beam rules are s2s_search.c's
    (CTranslate2 decoding.cc); candidate order and length normalisation
    are shared with it (models/s2s_rank.h), the loop around them is kept in
    step by it_s2s_batch (driver beam = `offramp translate --beam`). */
#include "s2s_hyps.h"
#include "models/s2s_rank.h"
#include "engine/ops.h"
#include "../common/ofr_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BEAM 64

struct ofr_s2s_hyps {
    int      beam, T, min_len, V, eos, step, alive, nh, hcap;
    float    lp_pow;
    int      tok[MAX_BEAM];
    float    score[MAX_BEAM];
    int     *seq, *seq2;          /* [beam][T] alive histories (step entries)  */
    uint8_t *ex, *ex2;            /* [beam][T] their exit layers               */
    int     *htok, *hlen, *hexn;  /* [hcap][T], [hcap]: finished hypotheses     */
    uint8_t *hex;
    float   *hscore, *lp;         /* [hcap]; [beam][V] candidate scores          */
    ofr_s2s_cand c[2 * MAX_BEAM];
    bool     top_finished;
};

void
ofr_s2s_hyps_destroy (ofr_s2s_hyps **hp)
{
    if (!hp || !*hp)
        return;
    ofr_s2s_hyps *h = *hp;
    free (h->seq);
    free (h->seq2);
    free (h->ex);
    free (h->ex2);
    free (h->htok);
    free (h->hlen);
    free (h->hexn);
    free (h->hex);
    free (h->hscore);
    free (h->lp);
    free (h);
    *hp = NULL;
}

int
ofr_s2s_hyps_new (int beam, int max_len, int min_length, float length_penalty, int V,
                  int eos, ofr_s2s_hyps **out)
{
    *out = NULL;
    if (beam < 1 || beam > MAX_BEAM || max_len < 1 || 2 * beam > V || eos < 0 || eos >= V)
        return -1;
    ofr_s2s_hyps *h = ofr_calloc (1, sizeof *h);
    if (!h)
        return -1;
    size_t B = (size_t) beam, T = (size_t) max_len;
    *h = (ofr_s2s_hyps) { .beam = beam, .T = max_len, .min_len = min_length, .V = V,
                          .eos = eos, .hcap = 2 * beam, .lp_pow = length_penalty };
    h->seq = ofr_calloc (B * T, sizeof *h->seq);
    h->seq2 = ofr_calloc (B * T, sizeof *h->seq2);
    h->ex = ofr_calloc (B * T, 1);
    h->ex2 = ofr_calloc (B * T, 1);
    h->htok = ofr_calloc (2 * B * T, sizeof *h->htok);
    h->hex = ofr_calloc (2 * B * T, 1);
    h->hlen = ofr_calloc (2 * B, sizeof *h->hlen);
    h->hexn = ofr_calloc (2 * B, sizeof *h->hexn);
    h->hscore = ofr_calloc (2 * B, sizeof *h->hscore);
    h->lp = beam > 1 ? ofr_calloc (B * (size_t) V, sizeof *h->lp) : NULL;
    if (!h->seq || !h->seq2 || !h->ex || !h->ex2 || !h->htok || !h->hex || !h->hlen
        || !h->hexn || !h->hscore || (beam > 1 && !h->lp)) {
        ofr_s2s_hyps_destroy (&h);
        return -1;
    }
    *out = h;
    return 0;
}

void
ofr_s2s_hyps_start (ofr_s2s_hyps *h, int bos)
{
    h->step = 0;
    h->alive = 1;
    h->nh = 0;
    h->top_finished = false;
    h->tok[0] = bos;
    h->score[0] = 0;
}

int ofr_s2s_hyps_alive (const ofr_s2s_hyps *h) { return h->alive; }
const int *ofr_s2s_hyps_tokens (const ofr_s2s_hyps *h) { return h->tok; }
int ofr_s2s_hyps_step_no (const ofr_s2s_hyps *h) { return h->step; }

/* Argmax of x (EOS disabled before min_len; first index on ties). */
static int
pick (const ofr_s2s_hyps *h, const float *x)
{
    int best = -1;
    for (int c = 0; c < h->V; c++) {
        if (c == h->eos && h->step < h->min_len)
            continue;
        if (best < 0 || x[c] > x[best])
            best = c;
    }
    return best;
}

/* Finished hypothesis h->hlen[0] etc. from history 0 plus `tok`. */
static void
finish_greedy (ofr_s2s_hyps *h, int tok, uint8_t exit_layer)
{
    int n = h->step;
    memcpy (h->htok, h->seq, (size_t) n * sizeof *h->htok);
    memcpy (h->hex, h->ex, (size_t) n);
    h->hex[n] = exit_layer;
    h->hexn[0] = n + 1;
    if (tok != h->eos)
        h->htok[n++] = tok;
    h->hlen[0] = n;
    h->hscore[0] = 0;
    h->nh = 1;
    h->alive = 0;
}

static int
greedy_step (ofr_s2s_hyps *h, const float *dist, uint8_t exit_layer)
{
    int best = pick (h, dist);
    if (best == h->eos || h->step + 1 == h->T) {
        finish_greedy (h, best, exit_layer);
        return 0;
    }
    h->seq[h->step] = best;
    h->ex[h->step] = exit_layer;
    h->tok[0] = best;
    h->step++;
    return 0;
}

/* Log probabilities of the next token into lp[V]. */
static void
log_probs (const ofr_s2s_hyps *h, const float *dist, bool is_prob, float *lp)
{
    bool no_eos = h->step < h->min_len;
    if (!is_prob) {
        memcpy (lp, dist, (size_t) h->V * sizeof *lp);
        if (no_eos)
            lp[h->eos] = -INFINITY;
        ofr_log_softmax (lp, h->V);
        return;
    }
    double sum = 0;
    for (int c = 0; c < h->V; c++)
        sum += (no_eos && c == h->eos) || !(dist[c] > 0) ? 0 : dist[c];
    for (int c = 0; c < h->V; c++)
        lp[c] = (no_eos && c == h->eos) || !(dist[c] > 0) || !(sum > 0)
                ? -INFINITY : (float) log (dist[c] / sum);
}

static void
register_hyp (ofr_s2s_hyps *h, const ofr_s2s_cand *c, const uint8_t *exit_layer)
{
    int slot = h->nh;
    if (slot == h->hcap) {
        /* Only with length_penalty 0 can more finish before the top one:
           keep the best hcap (by the score the search returns). */
        slot = 0;
        for (int i = 1; i < h->hcap; i++)
            if (ofr_s2s_length_norm (h->hscore[i], h->hlen[i], h->lp_pow)
                < ofr_s2s_length_norm (h->hscore[slot], h->hlen[slot], h->lp_pow))
                slot = i;
    } else
        h->nh++;
    size_t T = (size_t) h->T;
    int *dst = h->htok + (size_t) slot * T;
    uint8_t *dx = h->hex + (size_t) slot * T;
    memcpy (dst, h->seq + (size_t) c->parent * T, (size_t) h->step * sizeof *dst);
    memcpy (dx, h->ex + (size_t) c->parent * T, (size_t) h->step);
    dx[h->step] = exit_layer[c->parent];
    h->hexn[slot] = h->step + 1;
    h->hlen[slot] = h->step;
    if (c->tok != h->eos)
        dst[h->hlen[slot]++] = c->tok;
    h->hscore[slot] = c->score;
}

static int
beam_step (ofr_s2s_hyps *h, const float *const *dist, const bool *is_prob,
           const uint8_t *exit_layer, int *parents)
{
    int V = h->V, K = 2 * h->beam, next[MAX_BEAM];
    for (int r = 0; r < h->alive; r++) {
        float *row = h->lp + (size_t) r * V;
        log_probs (h, dist[r], is_prob && is_prob[r], row);
        for (int v = 0; v < V; v++)
            row[v] += h->score[r];
    }
    ofr_s2s_top_k (h->lp, h->alive * V, V, K, h->c);
    bool last = h->step + 1 == h->T;
    int secondary = h->beam;
    for (int k = 0; k < h->beam; k++) {
        next[k] = k;
        if (h->c[k].tok != h->eos && !last)
            continue;
        h->top_finished |= k == 0;
        register_hyp (h, &h->c[k], exit_layer);
        for (int j = secondary; j < K; j++)
            if (h->c[j].tok != h->eos) {
                next[k] = j;
                secondary = j + 1;
                break;
            }
    }
    bool done = last || (h->lp_pow == 0 ? h->top_finished && h->nh >= 1 : h->nh >= h->beam);
    if (done) {
        h->alive = 0;
        return 0;
    }
    size_t T = (size_t) h->T;
    for (int k = 0; k < h->beam; k++) {
        const ofr_s2s_cand *x = &h->c[next[k]];
        parents[k] = x->parent;
        memcpy (h->seq2 + k * T, h->seq + (size_t) x->parent * T,
                (size_t) h->step * sizeof *h->seq);
        memcpy (h->ex2 + k * T, h->ex + (size_t) x->parent * T, (size_t) h->step);
        h->seq2[k * T + (size_t) h->step] = x->tok;
        h->ex2[k * T + (size_t) h->step] = exit_layer[x->parent];
        h->tok[k] = x->tok;
        h->score[k] = x->score;
    }
    int *t = h->seq; h->seq = h->seq2; h->seq2 = t;
    uint8_t *e = h->ex; h->ex = h->ex2; h->ex2 = e;
    h->alive = h->beam;
    h->step++;
    return 1;
}

int
ofr_s2s_hyps_step (ofr_s2s_hyps *h, const float *const *dist, const bool *is_prob,
                   const uint8_t *exit_layer, int *parents)
{
    if (h->alive == 0)
        return 0;
    if (h->beam == 1)
        return greedy_step (h, dist[0], exit_layer[0]);
    return beam_step (h, dist, is_prob, exit_layer, parents);
}

void
ofr_s2s_hyps_best (const ofr_s2s_hyps *h, const int **tok, int *n, const uint8_t **exits,
                   int *n_exits, float *score)
{
    int best = -1;
    float best_score = 0;
    for (int i = 0; i < h->nh; i++) {
        float s = h->beam == 1 ? 0 : ofr_s2s_length_norm (h->hscore[i], h->hlen[i], h->lp_pow);
        if (best < 0 || s > best_score) {
            best = i;
            best_score = s;
        }
    }
    if (best < 0) {
        *tok = h->htok;
        *n = 0;
        *exits = h->hex;
        *n_exits = 0;
        *score = 0;
        return;
    }
    *tok = h->htok + (size_t) best * h->T;
    *n = h->hlen[best];
    *exits = h->hex + (size_t) best * h->T;
    *n_exits = h->hexn[best];
    *score = best_score;
}
