/*  test_s2s_hyps.c -- the seq2seq driver's per-sentence search rules
    (workers/s2s_hyps.c) on hand-made distributions: greedy (EOS forbidden
    at step 0, argmax of logits or of supplied probabilities, the length
    limit), CTranslate2 beam search where beam and greedy disagree and the
    length penalty decides (lp 0: the first finished top hypothesis; lp 1:
    the longer one), the parents of the reorder, and exit layers that
    travel with their hypothesis. */
#include "workers/s2s_hyps.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { V = 5, BOS = 0, EOS = 1, A = 2, B = 3, C = 4 };

static void
greedy (void)
{
    ofr_s2s_hyps *h = NULL;
    CHECK (ofr_s2s_hyps_new (1, 3, 1, 1.0f, V, EOS, &h) == 0, "new");
    if (!h)
        return;
    ofr_s2s_hyps_start (h, BOS);
    float l0[V] = { 0, 10, 1, 0, 0 };         /* EOS best but forbidden at step 0 */
    const float *d[1] = { l0 };
    uint8_t ex[1] = { 2 };
    int par[1];
    CHECK (ofr_s2s_hyps_step (h, d, NULL, ex, par) == 0, "greedy never reorders");
    CHECK (ofr_s2s_hyps_alive (h) == 1 && ofr_s2s_hyps_tokens (h)[0] == A, "step 0 -> A, got %d",
           ofr_s2s_hyps_tokens (h)[0]);
    float p1[V] = { 0, 0.2f, 0, 0.7f, 0.1f };   /* supplied probabilities */
    bool isp[1] = { true };
    d[0] = p1;
    ex[0] = 1;
    ofr_s2s_hyps_step (h, d, isp, ex, par);
    float l2[V] = { 0, 3, 0, 0, 0 };
    d[0] = l2;
    ex[0] = 3;
    ofr_s2s_hyps_step (h, d, NULL, ex, par);
    CHECK (ofr_s2s_hyps_alive (h) == 0, "EOS ends it");
    const int *tok;
    const uint8_t *exits;
    int n, ne;
    float score;
    ofr_s2s_hyps_best (h, &tok, &n, &exits, &ne, &score);
    CHECK (n == 2 && tok[0] == A && tok[1] == B, "greedy output (%d tokens)", n);
    CHECK (ne == 3 && exits[0] == 2 && exits[1] == 1 && exits[2] == 3, "exits: n + 1 with EOS");
    /* The length limit (3 steps) without EOS: 3 tokens, 3 exits. */
    ofr_s2s_hyps_start (h, BOS);
    float lc[V] = { 0, 0, 0, 0, 1 };
    d[0] = lc;
    for (int s = 0; s < 3; s++)
        ofr_s2s_hyps_step (h, d, NULL, ex, par);
    ofr_s2s_hyps_best (h, &tok, &n, &exits, &ne, &score);
    CHECK (ofr_s2s_hyps_alive (h) == 0 && n == 3 && ne == 3 && tok[2] == C, "length limit");
    ofr_s2s_hyps_destroy (&h);
    CHECK (!h, "destroy clears");
}

/*  p(A)=.6 p(B)=.4; after A: C .55, EOS .45; after B: EOS .9, C .1; then
    EOS. Greedy says A C; the best finished B (.36) beats A C (.33) unless
    the length penalty divides by the length: lp 1 gives A C. */
static void
beam (float lp, int want_n, const int *want, const uint8_t *want_ex)
{
    ofr_s2s_hyps *h = NULL;
    CHECK (ofr_s2s_hyps_new (2, 10, 1, lp, V, EOS, &h) == 0, "new");
    if (!h)
        return;
    ofr_s2s_hyps_start (h, BOS);
    bool isp[2] = { true, true };
    int par[2] = { -1, -1 };
    float s0[V] = { 0, 0, 0.6f, 0.4f, 0 };
    const float *d[2] = { s0, NULL };
    uint8_t ex[2] = { 1, 0 };
    CHECK (ofr_s2s_hyps_step (h, d, isp, ex, par) == 1 && par[0] == 0 && par[1] == 0,
           "step 0 expands the start row: parents %d %d", par[0], par[1]);
    CHECK (ofr_s2s_hyps_alive (h) == 2 && ofr_s2s_hyps_tokens (h)[0] == A
           && ofr_s2s_hyps_tokens (h)[1] == B, "beams A, B");
    float sa[V] = { 0, 0.45f, 0, 0, 0.55f }, sb[V] = { 0, 0.9f, 0, 0, 0.1f };
    d[0] = sa;
    d[1] = sb;
    ex[0] = 2;
    ex[1] = 3;
    int rc = ofr_s2s_hyps_step (h, d, isp, ex, par);
    if (lp == 0) {
        CHECK (rc == 0 && ofr_s2s_hyps_alive (h) == 0, "lp 0: the top candidate finished: done");
    } else {
        /* B EOS finishes; its slot goes to B C (second half); A C stays. */
        CHECK (rc == 1 && par[0] == 1 && par[1] == 0, "parents %d %d", par[0], par[1]);
        CHECK (ofr_s2s_hyps_tokens (h)[0] == C && ofr_s2s_hyps_tokens (h)[1] == C, "C C");
        float se[V] = { 0, 1, 0, 0, 0 };
        d[0] = d[1] = se;
        ex[0] = 1;
        ex[1] = 2;
        ofr_s2s_hyps_step (h, d, isp, ex, par);
        CHECK (ofr_s2s_hyps_alive (h) == 0, "done once beam hypotheses finished");
    }
    const int *tok;
    const uint8_t *exits;
    int n, ne;
    float score;
    ofr_s2s_hyps_best (h, &tok, &n, &exits, &ne, &score);
    CHECK (n == want_n, "lp %g: %d tokens, want %d", lp, n, want_n);
    for (int i = 0; i < n && i < want_n; i++)
        CHECK (tok[i] == want[i], "lp %g: token %d = %d, want %d", lp, i, tok[i], want[i]);
    CHECK (ne == want_n + 1, "lp %g: %d exits", lp, ne);
    for (int i = 0; i < ne && i <= want_n; i++)
        CHECK (exits[i] == want_ex[i], "lp %g: exit %d = %d, want %d", lp, i, exits[i], want_ex[i]);
    float want_score = lp == 0 ? logf (0.4f * 0.9f) : logf (0.6f * 0.55f) / 2;
    CHECK (fabsf (score - want_score) < 1e-5f, "score %g, want %g", score, want_score);
    ofr_s2s_hyps_destroy (&h);
}

int
main (void)
{
    greedy ();
    beam (0.0f, 1, (const int[]) { B }, (const uint8_t[]) { 1, 3 });
    /* A C: step 0 exit 1, A's step 1 exit 2, then A C is row 1 at step 2 (exit 2). */
    beam (1.0f, 2, (const int[]) { A, C }, (const uint8_t[]) { 1, 2, 2 });
    ofr_s2s_hyps *h = NULL;
    CHECK (ofr_s2s_hyps_new (3, 10, 1, 1, V, EOS, &h) == -1 && !h, "2 x beam > V refused");
    CHECK (ofr_s2s_hyps_new (0, 10, 1, 1, V, EOS, &h) == -1, "beam 0 refused");
    return s_failures != 0;
}
