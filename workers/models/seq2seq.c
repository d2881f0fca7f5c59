/*  seq2seq.c -- encoder-decoder inference, one decoder layer at a time
    (see seq2seq.h). The computation follows CTranslate2's pre-norm
    Transformer (src/layers/transformer.cc, attention.cc, common.cc):
        x = emb[tok] * scale + pos[p]
        x += SelfAttn (LN (x));  x += CrossAttn (LN (x), memory);  x += FFN (LN (x))
        logits = Proj (LN_final (x))
    with fused [Q;K;V] (self) and [K;V] (cross) projections, queries scaled
    by 1/sqrt(head_dim), and sinusoidal positions: row p is
    concat (sin ((p+1) * t_j), cos ((p+1) * t_j)), t_j = exp (-j log(1e4) /
    (d/2 - 1)), j < d/2 (generate_sinusoidal_position_encoding).
    The Hugging Face layouts (hf_s2s.h, fields in s2s_impl.h) switch in
    post-norm (LN after the residual), RMS norms, Marian's sinusoids or
    none, T5's unscaled scores + relative position bias and gated FFN. */
#include "s2s_impl.h"
#include "../engine/ops.h"
#include "../../common/ofr_common.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ofr_s2s_state {
    const ofr_seq2seq *m;
    int    rows, max_src, max_tgt, n_src, mrow;   /* mrow = max(rows, max_src) */
    float *pos;          /* [max(max_src, max_tgt)][d] sinusoids (or NULL)   */
    float *pos_e;        /* [max_src][de] the encoder's sinusoids             */
    float *mem;          /* [src_cap][de] encoder output                      */
    float *xkv;          /* [n_dec][src_cap][2d] cross-attention K|V         */
    float *kc, *vc;      /* [n_dec][rows][max_tgt][d] self-attention caches  */
    float *kc2, *vc2;    /* reorder targets (swapped with kc/vc)             */
    float *x, *x2;       /* [rows][d] hidden state (x2: reorder target)      */
    int   *len, *len2;   /* [rows] positions held                            */
    uint8_t *kvm, *kvm2; /* [n_dec][rows][max_tgt] 1 = self-attn K/V entry
                            present (0: masked by ofr_s2s_skip OFR_S2S_KV_MASK) */
    bool   masked;       /* some entry is 0 since the last encode             */
    float *logits, *lbuf; /* [rows][vocab] per row; lbuf: sgemm output        */
    float *xb, *hb, *big, *ctx, *tmp, *scores;    /* scratch                 */
    /* Sources encoded together (ofr_s2s_encode_slots): slot k is rows
       soff[k] .. + slen[k] of mem / xkv; decoder row r reads slot srow[r]. */
    int    n_slots, src_cap;
    int   *soff, *slen, *srow, *srow2;
};

/* HF Marian (MarianSinusoidalPositionalEmbedding): position p from 0,
   frequency 1e4^(-2j/d) -- the same sin | cos halves, another schedule. */
static void
sinusoids (float *pos, int n, int d, int layout)
{
    int half = d / 2;
    bool hf = layout == S2S_POS_MARIAN;
    if (layout == S2S_POS_NONE)          /* T5: relative biases only (zeros) */
        return;
    float inc = hf ? logf (10000.f) * 2.f / (float) d : logf (10000.f) / (float) (half - 1);
    for (int p = 0; p < n; p++)
        for (int j = 0; j < half; j++) {
            float t = (float) (p + !hf) * expf (-inc * (float) j);
            pos[(size_t) p * d + j] = sinf (t);
            pos[(size_t) p * d + half + j] = cosf (t);
        }
}

void
ofr_s2s_state_destroy (ofr_s2s_state **sp)
{
    if (!sp || !*sp)
        return;
    ofr_s2s_state *s = *sp;
    float *bufs[] = { s->pos, s->pos_e, s->mem, s->xkv, s->kc, s->vc, s->kc2, s->vc2, s->x, s->x2,
                      s->logits, s->lbuf, s->xb, s->hb, s->big, s->ctx, s->tmp, s->scores };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free (bufs[i]);
    free (s->len);
    free (s->len2);
    free (s->kvm);
    free (s->kvm2);
    free (s->soff);
    free (s->slen);
    free (s->srow);
    free (s->srow2);
    free (s);
    *sp = NULL;
}

static float *
fl (size_t a, size_t b, bool *oom)
{
    float *p = ofr_calloc (a ? a : 1, (b ? b : 1) * sizeof (float));
    *oom |= !p;
    return p;
}

int
ofr_s2s_state_new (const ofr_seq2seq *m, int rows, int max_src, int max_tgt,
                   ofr_s2s_state **out, char *err, size_t errlen)
{
    return ofr_s2s_state_new_slots (m, rows, 1, max_src, max_src, max_tgt, out, err, errlen);
}

int
ofr_s2s_state_new_slots (const ofr_seq2seq *m, int rows, int slots, int max_src,
                         int src_total, int max_tgt, ofr_s2s_state **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    if (rows < 1 || rows > 4096 || max_src < 1 || max_src > 65536 || max_tgt < 1 || max_tgt > 65536
        || slots < 1 || slots > 4096 || src_total < max_src || src_total > (1 << 24))
        return ofr_errf (err, errlen, "seq2seq state: bad sizes (rows %d, slots %d, source %d, "
                         "all sources %d, target %d)", rows, slots, max_src, src_total, max_tgt);
    if ((m->src_pos && max_src > m->n_src_pos) || (m->tgt_pos && max_tgt > m->n_tgt_pos))
        return ofr_errf (err, errlen, "seq2seq state: the model has learned positions for "
                         "%d source / %d target tokens only", m->n_src_pos, m->n_tgt_pos);
    ofr_s2s_state *s = ofr_calloc (1, sizeof *s);
    if (!s)
        return ofr_errf (err, errlen, "seq2seq state: out of memory");
    size_t d = (size_t) m->d, L = (size_t) m->n_dec, R = (size_t) rows, T = (size_t) max_tgt;
    size_t S = (size_t) max_src, P = S > T ? S : T, M = R > S ? R : S;
    /* Scratch serves both sides: the wider model width, the widest FFN. */
    size_t dmax = (size_t) (m->de > m->d ? m->de : m->d);
    size_t wide = 3 * dmax, g = m->gated ? 2 : 1;       /* gated: [wi_0 | wi_1] */
    wide = g * (size_t) m->ffn > wide ? g * (size_t) m->ffn : wide;
    wide = g * (size_t) m->ffn_e > wide ? g * (size_t) m->ffn_e : wide;
    bool oom = false;
    size_t C = (size_t) src_total;
    *s = (ofr_s2s_state) { .m = m, .rows = rows, .max_src = max_src, .max_tgt = max_tgt,
                           .mrow = (int) M, .n_slots = slots, .src_cap = src_total };
    s->pos = fl (P, d, &oom);
    s->pos_e = fl (S, (size_t) m->de, &oom);
    s->mem = fl (C, dmax, &oom);
    s->xkv = fl (L * C, 2 * d, &oom);
    s->kc = fl (L * R * T, d, &oom);
    s->vc = fl (L * R * T, d, &oom);
    s->kc2 = fl (L * R * T, d, &oom);
    s->vc2 = fl (L * R * T, d, &oom);
    s->x = fl (R, d, &oom);
    s->x2 = fl (R, d, &oom);
    s->logits = fl (R, (size_t) m->tgt.n, &oom);
    s->lbuf = fl (R, (size_t) m->tgt.n, &oom);
    s->xb = fl (M, dmax, &oom);
    s->hb = fl (M, dmax, &oom);
    s->big = fl (M, wide, &oom);
    s->ctx = fl (M, dmax, &oom);
    s->tmp = fl (M, dmax, &oom);
    s->scores = fl (S, P, &oom);     /* encoder: S x S; decoder: 1 x max(S, T) */
    s->len = ofr_calloc (R, sizeof *s->len);
    s->len2 = ofr_calloc (R, sizeof *s->len2);
    s->kvm = ofr_calloc (L * R * T, 1);
    s->kvm2 = ofr_calloc (L * R * T, 1);
    s->soff = ofr_calloc ((size_t) slots, sizeof *s->soff);
    s->slen = ofr_calloc ((size_t) slots, sizeof *s->slen);
    s->srow = ofr_calloc (R, sizeof *s->srow);
    s->srow2 = ofr_calloc (R, sizeof *s->srow2);
    if (oom || !s->len || !s->len2 || !s->kvm || !s->kvm2 || !s->soff || !s->slen || !s->srow
        || !s->srow2) {
        ofr_s2s_state_destroy (&s);
        return ofr_errf (err, errlen, "seq2seq state: out of memory (%d rows x %d positions)",
                         rows, max_tgt);
    }
    sinusoids (s->pos, (int) P, m->d, m->pos_layout);
    sinusoids (s->pos_e, (int) S, m->de, m->pos_layout);
    *out = s;
    return 0;
}

int ofr_s2s_rows (const ofr_s2s_state *s) { return s->rows; }
const ofr_seq2seq *ofr_s2s_model (const ofr_s2s_state *s) { return s->m; }
int ofr_s2s_max_tgt (const ofr_s2s_state *s) { return s->max_tgt; }
int ofr_s2s_length (const ofr_s2s_state *s, int row) { return row >= 0 && row < s->rows ? s->len[row] : -1; }

const float *
ofr_s2s_logits (const ofr_s2s_state *s, int row)
{
    return row >= 0 && row < s->rows ? s->logits + (size_t) row * s->m->tgt.n : NULL;
}

/* T5's relative position bias for one attention call: query i (position
   q0 + i) and key j get table[bucket (j - q0 - i)][h] (NULL: none). */
typedef struct { const float *table; int buckets, max, q0; bool bidir; } s2s_rel;

/* HF T5Attention._relative_position_bucket, in float32 as torch runs it. */
static int
rel_bucket (int rel, bool bidir, int nb, int max_distance)
{
    int b = 0;
    if (bidir) {
        nb /= 2;
        b = rel > 0 ? nb : 0;
        rel = rel < 0 ? -rel : rel;
    } else
        rel = rel < 0 ? -rel : 0;
    int exact = nb / 2;
    if (rel < exact)
        return b + rel;
    float c = (float) log ((double) max_distance / exact);
    int large = exact + (int) (logf ((float) rel / (float) exact) / c * (float) (nb - exact));
    return b + (large < nb - 1 ? large : nb - 1);
}

static void
rel_add (const s2s_rel *rel, int heads, int h, int tq, int tk, float *scores)
{
    if (!rel || !rel->table)
        return;
    for (int i = 0; i < tq; i++)
        for (int j = 0; j < tk; j++)
            scores[(size_t) i * tk + j] += rel->table[(size_t) rel_bucket (j - rel->q0 - i,
                rel->bidir, rel->buckets, rel->max) * heads + h];
}

static float
qscale (const ofr_seq2seq *m, int dh)
{
    return m->attn_scale > 0 ? m->attn_scale : 1.0f / sqrtf ((float) dh);
}

/*  Multi-head attention of tq queries (row stride ldq) over tk keys and
    values (stride ldkv), no mask: out[tq][ldo]. Two sgemms per head. */
static void
attend (int heads, int dh, float scale, const s2s_rel *rel, const float *q, int ldq,
        const float *k, const float *v, int ldkv, int tq, int tk, float *out, int ldo,
        float *scores)
{
    for (int h = 0; h < heads; h++) {
        int o = h * dh;
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, tq, tk, dh, scale,
                     q + o, ldq, k + o, ldkv, 0.0f, scores, tk);
        rel_add (rel, heads, h, tq, tk, scores);
        for (int i = 0; i < tq; i++)
            ofr_softmax (scores + (size_t) i * tk, tk);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, dh, tk, 1.0f,
                     scores, tk, v + o, ldkv, 0.0f, out + o, ldo);
    }
}

/*  attend() for one query over tk cached positions of which only those
    with mask[j] != 0 are attended (the query's own entry always is). */
static void
attend_masked (const ofr_seq2seq *m, const s2s_rel *rel, const float *q, int ldq,
               const float *k, const float *v, int ldkv, int tk, const uint8_t *mask,
               float *out, float *scores)
{
    float scale = qscale (m, m->dh);
    for (int h = 0; h < m->heads; h++) {
        int o = h * m->dh;
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, 1, tk, m->dh, scale,
                     q + o, ldq, k + o, ldkv, 0.0f, scores, tk);
        rel_add (rel, m->heads, h, 1, tk, scores);
        for (int j = 0; j < tk; j++)
            if (!mask[j])
                scores[j] = -INFINITY;
        ofr_softmax (scores, tk);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, m->dh, tk, 1.0f,
                     scores, tk, v + o, ldkv, 0.0f, out + o, m->d);
    }
}

static void
activate (const ofr_seq2seq *m, float *x, size_t n)
{
    switch (m->activation) {
    case S2S_GELU_TANH: ofr_gelu_tanh (x, n); break;
    case S2S_SWISH:     ofr_silu (x, n); break;
    case S2S_GELU:      ofr_gelu (x, n); break;
    default:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0 ? x[i] : 0;
    }
}

static void
add (float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

static void
norm (const ofr_seq2seq *m, const s2s_ln *ln, const float *x, float *y, int n, int d)
{
    if (m->rms)
        ofr_rmsnorm (x, y, n, d, ln->g, m->eps);
    else
        ofr_layernorm (x, y, n, d, ln->g, ln->b, m->eps);
}

/* A sublayer's input: LN (x) into s->hb (pre-norm) or x itself. */
static const float *
pre (ofr_s2s_state *s, const s2s_ln *ln, const float *x, int n, int d)
{
    if (s->m->post_norm)
        return x;
    norm (s->m, ln, x, s->hb, n, d);
    return s->hb;
}

/* Post-norm: x = LN (x + sublayer) after the residual sum. */
static void
post (const ofr_s2s_state *s, const s2s_ln *ln, float *x, int n, int d)
{
    if (s->m->post_norm)
        norm (s->m, ln, x, x, n, d);
}

/* x[n][d] += FFN (LN (x)), FFN width F. */
static void
ffn (ofr_s2s_state *s, const s2s_layer *L, float *x, int n, int d, int F)
{
    const ofr_seq2seq *m = s->m;
    if (m->gated) {
        /* [wi_0 x | wi_1 x] per row, compacted in place to act (.) * (.) */
        ofr_matmul (pre (s, &L->ff_ln, x, n, d), L->ff_in.w, L->ff_in.b, s->big, n, 2 * F, d);
        for (int i = 0; i < n; i++) {
            float *g = s->big + (size_t) i * 2 * F, *o = s->big + (size_t) i * F;
            activate (m, g, (size_t) F);
            for (int j = 0; j < F; j++)
                o[j] = g[j] * g[F + j];
        }
    } else {
        ofr_matmul (pre (s, &L->ff_ln, x, n, d), L->ff_in.w, L->ff_in.b, s->big, n, F, d);
        activate (m, s->big, (size_t) n * F);
    }
    ofr_matmul (s->big, L->ff_out.w, L->ff_out.b, s->tmp, n, d, F);
    add (x, s->tmp, (size_t) n * d);
    post (s, &L->ff_ln, x, n, d);
}

static void
embed (const float *emb, float scale, const float *pos, int tok, int p, int d, float *x)
{
    const float *e = emb + (size_t) tok * d, *q = pos + (size_t) p * d;
    for (int j = 0; j < d; j++)
        x[j] = e[j] * scale + q[j];
}

/* Encode src[0..n) into rows off.. of mem and xkv. */
static int
encode_one (ofr_s2s_state *s, const int *src, int n, int off, char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    int d = m->de;                 /* the encoder's width */
    if (n < 1 || n > s->max_src)
        return ofr_errf (err, errlen, "source has %d tokens; this model state takes 1..%d",
                         n, s->max_src);
    if (m->max_pos && n > m->max_pos)
        return ofr_errf (err, errlen, "source has %d tokens; the model's "
                         "max_position_embeddings is %d", n, m->max_pos);
    float *x = s->mem + (size_t) off * d;
    for (int i = 0; i < n; i++) {
        if (src[i] < 0 || src[i] >= m->src.n)
            return ofr_errf (err, errlen, "source token %d: id %d out of range", i, src[i]);
        embed (m->src_emb, m->src_scale, m->src_pos ? m->src_pos : s->pos_e, src[i], i, d,
               x + (size_t) i * d);
    }
    for (int l = 0; l < m->n_enc; l++) {
        const s2s_layer *L = &m->enc[l];
        ofr_matmul (pre (s, &L->sa_ln, x, n, d), L->sa_qkv.w, L->sa_qkv.b, s->big, n, 3 * d, d);
        s2s_rel rel = { m->rel_enc, m->rel_buckets, m->rel_max, 0, true };
        attend (m->heads_e, m->dh_e, qscale (m, m->dh_e), &rel, s->big, 3 * d, s->big + d,
                s->big + 2 * d, 3 * d, n, n, s->ctx, d, s->scores);
        ofr_matmul (s->ctx, L->sa_out.w, L->sa_out.b, s->tmp, n, d, d);
        add (x, s->tmp, (size_t) n * d);
        post (s, &L->sa_ln, x, n, d);
        ffn (s, L, x, n, d, m->ffn_e);
    }
    if (m->enc_norm.g)
        norm (m, &m->enc_norm, x, x, n, d);
    /* Hybrid: the memory projected to the decoder's width (into ctx, which
       holds max(rows, max_src) rows of the wider width). */
    if (m->hybrid) {
        ofr_matmul (x, m->hproj.w, m->hproj.b, s->ctx, n, m->d, d);
        x = s->ctx;
    }
    d = m->d;
    /* Cross-attention keys and values depend on the source only: once. */
    for (int l = 0; l < m->n_dec; l++)
        ofr_matmul (x, m->dec[l].ca_kv.w, m->dec[l].ca_kv.b,
                    s->xkv + ((size_t) l * s->src_cap + (size_t) off) * 2 * d, n, 2 * d, d);
    return 0;
}

int
ofr_s2s_encode (ofr_s2s_state *s, const int *src, int n, char *err, size_t errlen)
{
    return ofr_s2s_encode_slots (s, &src, &n, 1, err, errlen);
}

int
ofr_s2s_encode_slots (ofr_s2s_state *s, const int *const *src, const int *n, int n_slots,
                      char *err, size_t errlen)
{
    if (n_slots < 1 || n_slots > s->n_slots)
        return ofr_errf (err, errlen, "%d sources for a state of %d slots", n_slots, s->n_slots);
    int off = 0;
    for (int k = 0; k < n_slots; k++) {
        if (n[k] < (n_slots > 1 ? 0 : 1) || n[k] > s->max_src || n[k] > s->src_cap - off)
            return ofr_errf (err, errlen, "source %d has %d tokens; this model state takes "
                             "1..%d (%d for all sources together)", k, n[k], s->max_src,
                             s->src_cap);
        if (n[k] > 0 && encode_one (s, src[k], n[k], off, err, errlen) != 0)
            return -1;
        s->soff[k] = off;
        s->slen[k] = n[k];
        off += n[k];
    }
    for (int k = n_slots; k < s->n_slots; k++)
        s->slen[k] = 0;
    s->n_src = s->slen[0];
    memset (s->len, 0, (size_t) s->rows * sizeof *s->len);
    memset (s->srow, 0, (size_t) s->rows * sizeof *s->srow);
    s->masked = false;
    return 0;
}

int
ofr_s2s_bind (ofr_s2s_state *s, const int *rows, const int *slots, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= s->rows || slots[i] < 0 || slots[i] >= s->n_slots)
            return ofr_errf (err, errlen, "bind: row %d / slot %d out of range (%d rows, %d "
                             "slots)", rows[i], slots[i], s->rows, s->n_slots);
        s->srow[rows[i]] = slots[i];
        s->len[rows[i]] = 0;
    }
    return 0;
}

static int
check_rows (const ofr_s2s_state *s, const int *rows, int n, bool in_flight,
            char *err, size_t errlen)
{
    if (n < 0 || n > s->rows)
        return ofr_errf (err, errlen, "%d rows for a state of %d", n, s->rows);
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= s->rows)
            return ofr_errf (err, errlen, "row %d out of range 0..%d", rows[i], s->rows - 1);
        if (s->slen[s->srow[rows[i]]] == 0)
            return ofr_errf (err, errlen, "row %d: no source encoded in its slot %d (call "
                             "ofr_s2s_encode)", rows[i], s->srow[rows[i]]);
        if (in_flight && s->len[rows[i]] == 0)
            return ofr_errf (err, errlen, "row %d has no token in flight", rows[i]);
    }
    return 0;
}

int
ofr_s2s_begin (ofr_s2s_state *s, const int *rows, const int *tokens, int n,
               char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    if (check_rows (s, rows, n, false, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        int r = rows[i];
        if (tokens[i] < 0 || tokens[i] >= m->tgt.n)
            return ofr_errf (err, errlen, "row %d: target id %d out of range", r, tokens[i]);
        if (s->len[r] >= s->max_tgt)
            return ofr_errf (err, errlen, "row %d is full (%d positions)", r, s->max_tgt);
        if (m->max_pos && s->len[r] >= m->max_pos)
            return ofr_errf (err, errlen, "row %d: target position %d is past the model's "
                             "max_position_embeddings %d", r, s->len[r], m->max_pos);
        embed (m->tgt_emb, m->tgt_scale, m->tgt_pos ? m->tgt_pos : s->pos, tokens[i],
               s->len[r], m->d, s->x + (size_t) r * m->d);
        s->len[r]++;
    }
    return 0;
}

static void
gather (const ofr_s2s_state *s, const int *rows, int n, float *xb)
{
    for (int i = 0; i < n; i++)
        memcpy (xb + (size_t) i * s->m->d, s->x + (size_t) rows[i] * s->m->d,
                (size_t) s->m->d * sizeof *xb);
}

int
ofr_s2s_layer (ofr_s2s_state *s, int l, const int *rows, int n, char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    int d = m->d;
    if (l < 0 || l >= m->n_dec)
        return ofr_errf (err, errlen, "decoder layer %d out of range 0..%d", l, m->n_dec - 1);
    if (check_rows (s, rows, n, true, err, errlen) != 0)
        return -1;
    const s2s_layer *L = &m->dec[l];
    float *xb = s->xb;
    gather (s, rows, n, xb);
    /* Self-attention over the row's own cache, the new position included. */
    ofr_matmul (pre (s, &L->sa_ln, xb, n, d), L->sa_qkv.w, L->sa_qkv.b, s->big, n, 3 * d, d);
    for (int i = 0; i < n; i++) {
        int r = rows[i], t = s->len[r] - 1;
        size_t base = ((size_t) l * s->rows + (size_t) r) * s->max_tgt * d;
        const float *qkv = s->big + (size_t) i * 3 * d;
        memcpy (s->kc + base + (size_t) t * d, qkv + d, (size_t) d * sizeof (float));
        memcpy (s->vc + base + (size_t) t * d, qkv + 2 * d, (size_t) d * sizeof (float));
        uint8_t *mk = s->kvm + ((size_t) l * s->rows + (size_t) r) * s->max_tgt;
        mk[t] = 1;
        s2s_rel rel = { m->rel_dec, m->rel_buckets, m->rel_max, t, false };
        if (s->masked)
            attend_masked (m, &rel, qkv, 3 * d, s->kc + base, s->vc + base, d, t + 1, mk,
                           s->ctx + (size_t) i * d, s->scores);
        else
            attend (m->heads, m->dh, qscale (m, m->dh), &rel, qkv, 3 * d, s->kc + base,
                    s->vc + base, d, 1, t + 1, s->ctx + (size_t) i * d, d, s->scores);
    }
    ofr_matmul (s->ctx, L->sa_out.w, L->sa_out.b, s->tmp, n, d, d);
    add (xb, s->tmp, (size_t) n * d);
    post (s, &L->sa_ln, xb, n, d);
    /* Cross-attention over the cached encoder keys / values. */
    ofr_matmul (pre (s, &L->ca_ln, xb, n, d), L->ca_q.w, L->ca_q.b, s->big, n, d, d);
    for (int i = 0; i < n; i++) {
        int k = s->srow[rows[i]];
        const float *kv = s->xkv + ((size_t) l * s->src_cap + (size_t) s->soff[k]) * 2 * d;
        attend (m->heads, m->dh, qscale (m, m->dh), NULL, s->big + (size_t) i * d, d, kv, kv + d,
                2 * d, 1, s->slen[k], s->ctx + (size_t) i * d, d, s->scores);
    }
    ofr_matmul (s->ctx, L->ca_out.w, L->ca_out.b, s->tmp, n, d, d);
    add (xb, s->tmp, (size_t) n * d);
    post (s, &L->ca_ln, xb, n, d);
    ffn (s, L, xb, n, d, m->ffn);
    for (int i = 0; i < n; i++)
        memcpy (s->x + (size_t) rows[i] * d, xb + (size_t) i * d, (size_t) d * sizeof (float));
    return 0;
}

int
ofr_s2s_skip (ofr_s2s_state *s, int l, const int *rows, int n, ofr_s2s_kv_fill fill,
              char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    int d = m->d;
    if (l < 0 || l >= m->n_dec)
        return ofr_errf (err, errlen, "decoder layer %d out of range 0..%d", l, m->n_dec - 1);
    if (fill != OFR_S2S_KV_PROPAGATE && fill != OFR_S2S_KV_MASK)
        return ofr_errf (err, errlen, "skip: unknown KV fill %d", (int) fill);
    if (check_rows (s, rows, n, true, err, errlen) != 0)
        return -1;
    const s2s_layer *L = &m->dec[l];
    if (fill == OFR_S2S_KV_PROPAGATE) {
        /* The layer's own K/V projections of the state that passes through:
           rows d..3d of the fused [Q;K;V] weight, after the layer's norm. */
        gather (s, rows, n, s->xb);
        ofr_matmul (pre (s, &L->sa_ln, s->xb, n, d), L->sa_qkv.w + (size_t) d * d,
                    L->sa_qkv.b ? L->sa_qkv.b + d : NULL, s->big, n, 2 * d, d);
    }
    for (int i = 0; i < n; i++) {
        int r = rows[i], t = s->len[r] - 1;
        size_t base = ((size_t) l * s->rows + (size_t) r) * s->max_tgt;
        float *kd = s->kc + (base + (size_t) t) * d, *vd = s->vc + (base + (size_t) t) * d;
        if (fill == OFR_S2S_KV_PROPAGATE) {
            memcpy (kd, s->big + (size_t) i * 2 * d, (size_t) d * sizeof (float));
            memcpy (vd, s->big + (size_t) i * 2 * d + d, (size_t) d * sizeof (float));
            s->kvm[base + (size_t) t] = 1;
        } else {
            memset (kd, 0, (size_t) d * sizeof (float));
            memset (vd, 0, (size_t) d * sizeof (float));
            s->kvm[base + (size_t) t] = 0;
            s->masked = true;
        }
    }
    return 0;
}

const float *
ofr_s2s_memory (const ofr_s2s_state *s, int *n, int *d)
{
    *n = s->n_src;
    *d = s->m->de;
    return s->mem;
}

const float *
ofr_s2s_hidden (const ofr_s2s_state *s, int row)
{
    return row >= 0 && row < s->rows ? s->x + (size_t) row * s->m->d : NULL;
}

int
ofr_s2s_head (ofr_s2s_state *s, const int *rows, int n, char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    if (check_rows (s, rows, n, true, err, errlen) != 0)
        return -1;
    gather (s, rows, n, s->xb);
    const float *h = s->xb;
    if (m->dec_norm.g) {
        norm (m, &m->dec_norm, s->xb, s->hb, n, m->d);
        h = s->hb;
    }
    /* One sgemm for all rows, then scatter: logits rows are per row index. */
    size_t V = (size_t) m->tgt.n;
    ofr_matmul (h, m->proj.w, m->proj.b, s->lbuf, n, (int) V, m->d);
    for (int i = 0; i < n; i++)
        memcpy (s->logits + (size_t) rows[i] * V, s->lbuf + (size_t) i * V, V * sizeof (float));
    return 0;
}

int
ofr_s2s_reorder (ofr_s2s_state *s, const int *parents, int n, char *err, size_t errlen)
{
    const ofr_seq2seq *m = s->m;
    size_t d = (size_t) m->d, T = (size_t) s->max_tgt;
    if (n < 0 || n > s->rows)
        return ofr_errf (err, errlen, "reorder: %d rows for a state of %d", n, s->rows);
    for (int i = 0; i < n; i++)
        if (parents[i] < 0 || parents[i] >= s->rows)
            return ofr_errf (err, errlen, "reorder: parent %d out of range", parents[i]);
    for (int i = 0; i < n; i++) {
        int p = parents[i];
        size_t used = (size_t) s->len[p] * d * sizeof (float);
        for (int l = 0; l < m->n_dec; l++) {
            size_t dst = ((size_t) l * s->rows + (size_t) i) * T * d;
            size_t src = ((size_t) l * s->rows + (size_t) p) * T * d;
            memcpy (s->kc2 + dst, s->kc + src, used);
            memcpy (s->vc2 + dst, s->vc + src, used);
            memcpy (s->kvm2 + dst / d, s->kvm + src / d, (size_t) s->len[p]);
        }
        memcpy (s->x2 + (size_t) i * d, s->x + (size_t) p * d, d * sizeof (float));
        s->len2[i] = s->len[p];
        s->srow2[i] = s->srow[p];
    }
    /* Rows >= n keep nothing: they are free for the caller. */
    for (int i = n; i < s->rows; i++)
        s->len2[i] = 0;
    float *t;
    t = s->kc; s->kc = s->kc2; s->kc2 = t;
    t = s->vc; s->vc = s->vc2; s->vc2 = t;
    t = s->x; s->x = s->x2; s->x2 = t;
    int *li = s->len; s->len = s->len2; s->len2 = li;
    li = s->srow; s->srow = s->srow2; s->srow2 = li;
    uint8_t *mi = s->kvm; s->kvm = s->kvm2; s->kvm2 = mi;
    return 0;
}
