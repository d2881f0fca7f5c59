/*  s2s_search.c -- greedy and beam search over ofr_s2s_state, and teacher-
    forced scoring, reproducing CTranslate2's src/decoding.cc (GreedySearch,
    BeamSearch) with its defaults (include/ctranslate2/translation.h):
    beam 2, length_penalty 1, patience 1, max_decoding_length 256,
    min_decoding_length 1, no coverage penalty, EOS not in the output.

    Beam search, as decoding.cc does it:
    - step 0 expands only the start row; later steps flatten beam x vocab;
    - the cumulative log probability of every candidate is a float sum;
    - EOS is disabled (logit -inf before log-softmax) while step < min_length;
    - the top 2*beam candidates are taken; each of the first `beam` that is
      EOS (or any, at the last step) finishes a hypothesis and its slot is
      given to the next non-EOS candidate from the second half;
    - with length_penalty != 0 the search ends once `beam` hypotheses are
      finished (patience 1); with 0, as soon as the top beam finished;
    - finished scores are divided by length^length_penalty (length without
      EOS) and the best is returned.
    Greedy search is the argmax of the same log probabilities. */
#include "seq2seq.h"
#include "s2s_rank.h"
#include "../engine/ops.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BEAM 64

ofr_s2s_opts
ofr_s2s_default_opts (void)
{
    return (ofr_s2s_opts) { .beam = 2, .length_penalty = 1.0f, .max_length = 256,
                            .min_length = 1 };
}

/* Full-depth step for rows 0..n-1: begin, every layer, head. */
static int
step_rows (ofr_s2s_state *st, const int *tokens, int n, char *err, size_t errlen)
{
    int rows[MAX_BEAM];
    for (int i = 0; i < n; i++)
        rows[i] = i;
    if (ofr_s2s_begin (st, rows, tokens, n, err, errlen) != 0)
        return -1;
    for (int l = 0; l < ofr_seq2seq_dec_layers (ofr_s2s_model (st)); l++)
        if (ofr_s2s_layer (st, l, rows, n, err, errlen) != 0)
            return -1;
    return ofr_s2s_head (st, rows, n, err, errlen);
}

/* Log probabilities of row r's next token into lp[V]. */
static void
log_probs (const ofr_s2s_state *st, int r, int step, int min_length, float *lp)
{
    const ofr_seq2seq *m = ofr_s2s_model (st);
    int V = ofr_seq2seq_tgt_vocab (m);
    memcpy (lp, ofr_s2s_logits (st, r), (size_t) V * sizeof *lp);
    if (step < min_length)                       /* apply_min_length */
        lp[ofr_seq2seq_eos (m)] = -INFINITY;
    ofr_log_softmax (lp, V);
}

/* length_penalty normalisation (finalize_hypothesis_score). */
static int
greedy (ofr_s2s_state *st, const ofr_s2s_opts *o, float *lp, int *out, int cap,
        int *n_out, float *score, char *err, size_t errlen)
{
    const ofr_seq2seq *m = ofr_s2s_model (st);
    int tok = ofr_seq2seq_bos (m), eos = ofr_seq2seq_eos (m), n = 0;
    float sum = 0;
    for (int step = 0; step < o->max_length; step++) {
        if (step_rows (st, &tok, 1, err, errlen) != 0)
            return -1;
        log_probs (st, 0, step, o->min_length, lp);
        int best = ofr_argmax (lp, ofr_seq2seq_tgt_vocab (m));
        sum += lp[best];
        if (best == eos)
            break;
        if (n < cap)
            out[n++] = best;
        tok = best;
    }
    *n_out = n;
    *score = ofr_s2s_length_norm (sum, n, o->length_penalty);
    return 0;
}

typedef struct {
    int    beam, maxlen, nh;
    int   *seq, *seq2;          /* [beam][maxlen] alive token histories  */
    int   *htok, *hlen;         /* [2*beam][maxlen] finished hypotheses  */
    float *hscore;
} beams;

static void
register_hyp (beams *b, const ofr_s2s_cand *c, int step, int eos)
{
    int h = b->nh++;
    int *dst = b->htok + (size_t) h * b->maxlen;
    memcpy (dst, b->seq + (size_t) c->parent * b->maxlen, (size_t) step * sizeof *dst);
    b->hlen[h] = step;
    if (c->tok != eos)
        dst[b->hlen[h]++] = c->tok;
    b->hscore[h] = c->score;
}

static int
beam_loop (ofr_s2s_state *st, const ofr_s2s_opts *o, beams *b, float *lp, ofr_s2s_cand *c,
           char *err, size_t errlen)
{
    const ofr_seq2seq *m = ofr_s2s_model (st);
    int V = ofr_seq2seq_tgt_vocab (m), eos = ofr_seq2seq_eos (m), K = 2 * b->beam;
    int alive = 1, tok[MAX_BEAM], parents[MAX_BEAM], next[MAX_BEAM];
    float score[MAX_BEAM] = { 0 };
    bool top_finished = false;
    tok[0] = ofr_seq2seq_bos (m);
    for (int step = 0; step < o->max_length; step++) {
        if (step_rows (st, tok, alive, err, errlen) != 0)
            return -1;
        for (int r = 0; r < alive; r++) {
            float *row = lp + (size_t) r * V;
            log_probs (st, r, step, o->min_length, row);
            for (int v = 0; v < V; v++)
                row[v] += score[r];
        }
        ofr_s2s_top_k (lp, alive * V, V, K, c);
        bool last = step + 1 == o->max_length;
        int secondary = b->beam;
        for (int k = 0; k < b->beam; k++) {
            next[k] = k;
            if (c[k].tok != eos && !last)
                continue;
            top_finished |= k == 0;
            register_hyp (b, &c[k], step, eos);
            for (int j = secondary; j < K; j++)
                if (c[j].tok != eos) {
                    next[k] = j;
                    secondary = j + 1;
                    break;
                }
        }
        bool done = last || (o->length_penalty == 0 ? top_finished && b->nh >= 1
                                                     : b->nh >= b->beam);
        if (done)
            return 0;
        for (int k = 0; k < b->beam; k++) {
            const ofr_s2s_cand *x = &c[next[k]];
            parents[k] = x->parent;
            memcpy (b->seq2 + (size_t) k * b->maxlen, b->seq + (size_t) x->parent * b->maxlen,
                    (size_t) step * sizeof *b->seq);
            b->seq2[(size_t) k * b->maxlen + step] = x->tok;
            tok[k] = x->tok;
            score[k] = x->score;
        }
        int *t = b->seq; b->seq = b->seq2; b->seq2 = t;
        alive = b->beam;
        if (ofr_s2s_reorder (st, parents, alive, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int
beam_search (ofr_s2s_state *st, const ofr_s2s_opts *o, float *lp, int *out, int cap,
             int *n_out, float *score, char *err, size_t errlen)
{
    beams b = { .beam = o->beam, .maxlen = o->max_length };
    size_t B = (size_t) o->beam, L = (size_t) o->max_length;
    b.seq = ofr_calloc (B * L, sizeof *b.seq);
    b.seq2 = ofr_calloc (B * L, sizeof *b.seq2);
    b.htok = ofr_calloc (2 * B * L, sizeof *b.htok);
    b.hlen = ofr_calloc (2 * B, sizeof *b.hlen);
    b.hscore = ofr_calloc (2 * B, sizeof *b.hscore);
    ofr_s2s_cand *c = ofr_calloc (2 * B, sizeof *c);
    int rc = b.seq && b.seq2 && b.htok && b.hlen && b.hscore && c ? 0
             : ofr_errf (err, errlen, "beam search: out of memory");
    if (rc == 0)
        rc = beam_loop (st, o, &b, lp, c, err, errlen);
    int best = -1;
    float best_score = 0;
    for (int h = 0; rc == 0 && h < b.nh; h++) {
        float s = ofr_s2s_length_norm (b.hscore[h], b.hlen[h], o->length_penalty);
        if (best < 0 || s > best_score) {
            best = h;
            best_score = s;
        }
    }
    if (rc == 0 && best < 0)
        rc = ofr_errf (err, errlen, "beam search finished without a hypothesis");
    if (rc == 0) {
        *n_out = b.hlen[best] < cap ? b.hlen[best] : cap;
        memcpy (out, b.htok + (size_t) best * L, (size_t) *n_out * sizeof *out);
        *score = best_score;
    }
    free (b.seq);
    free (b.seq2);
    free (b.htok);
    free (b.hlen);
    free (b.hscore);
    free (c);
    return rc;
}

int
ofr_s2s_translate (ofr_s2s_state *st, const int *src, int n_src, const ofr_s2s_opts *o,
                   int *out, int cap, int *n_out, float *score, char *err, size_t errlen)
{
    const ofr_seq2seq *m = ofr_s2s_model (st);
    int V = ofr_seq2seq_tgt_vocab (m);
    *n_out = 0;
    *score = 0;
    if (o->beam < 1 || o->beam > MAX_BEAM || o->beam > ofr_s2s_rows (st) || 2 * o->beam > V)
        return ofr_errf (err, errlen, "beam %d: must be 1..%d (state rows %d, vocabulary %d)",
                         o->beam, MAX_BEAM, ofr_s2s_rows (st), V);
    if (o->max_length < 1 || o->max_length > ofr_s2s_max_tgt (st) || o->min_length < 0)
        return ofr_errf (err, errlen, "max length %d: must be 1..%d", o->max_length,
                         ofr_s2s_max_tgt (st));
    if (ofr_s2s_encode (st, src, n_src, err, errlen) != 0)
        return -1;
    float *lp = ofr_calloc ((size_t) o->beam * (size_t) V, sizeof *lp);
    if (!lp)
        return ofr_errf (err, errlen, "search: out of memory");
    int rc = o->beam == 1 ? greedy (st, o, lp, out, cap, n_out, score, err, errlen)
                          : beam_search (st, o, lp, out, cap, n_out, score, err, errlen);
    free (lp);
    return rc;
}

int
ofr_s2s_score (ofr_s2s_state *st, const int *src, int n_src, const int *tgt, int n_tgt,
               float *logprobs, char *err, size_t errlen)
{
    const ofr_seq2seq *m = ofr_s2s_model (st);
    int V = ofr_seq2seq_tgt_vocab (m);
    if (n_tgt < 0 || n_tgt + 1 > ofr_s2s_max_tgt (st))
        return ofr_errf (err, errlen, "target of %d tokens does not fit %d positions",
                         n_tgt, ofr_s2s_max_tgt (st));
    if (ofr_s2s_encode (st, src, n_src, err, errlen) != 0)
        return -1;
    float *lp = ofr_calloc ((size_t) V, sizeof *lp);
    if (!lp)
        return ofr_errf (err, errlen, "score: out of memory");
    int rc = 0, tok = ofr_seq2seq_bos (m);
    for (int j = 0; rc == 0 && j <= n_tgt; j++) {
        int want = j < n_tgt ? tgt[j] : ofr_seq2seq_eos (m);
        if (want < 0 || want >= V)
            rc = ofr_errf (err, errlen, "target token %d: id %d out of range", j, want);
        else if ((rc = step_rows (st, &tok, 1, err, errlen)) == 0) {
            log_probs (st, 0, j, 0, lp);
            logprobs[j] = lp[want];
            tok = want;
        }
    }
    free (lp);
    return rc;
}
