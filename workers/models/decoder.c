/*  decoder.c -- layer-at-a-time Llama inference (see decoder.h).

    The small dense helpers (matmul, softmax, RoPE; norms and the MLP
    activation of each block family in dec_ops.c) are private
    here until workers/engine/ops.h settles; they follow llama2.c's run.c
    numerically (float accumulation, eps 1e-5, RoPE pairs (2i, 2i+1)
    inside each head with frequency theta^(-2i/head_size), eps and theta
    from the config: 1e-5 and 10000 for llama2.c files). */
#include "decoder.h"
#include "dec_ops.h"
#include "../../common/ofr_common.h"
#include "../engine/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ofr_decoder {
    const ofr_llama  *m;
    ofr_llama_config  c;
    int       batch;
    int       max_seq;
    int       kv_mul;      /* query heads per kv head                        */
    int      *len;         /* [batch] positions held, token in flight incl.  */
    int      *cur;         /* [batch] position of the token in flight, or -1 */
    float    *x;           /* [batch][dim] residual stream of that token     */
    float    *logits;      /* [batch][vocab] last head output                */
    float    *kcache;      /* [batch][L][max_seq][kv_dim], RoPE applied      */
    float    *vcache;      /* [batch][L][max_seq][kv_dim]                    */
    uint8_t  *kv_ok;       /* [batch][L][max_seq] 1 = K/V present there      */
    float    *rope_cos;    /* [max_seq][head_size / 2]                       */
    float    *rope_sin;
    /* Scratch for up to `batch` active rows of one call. */
    float    *xa;          /* [batch][dim] gathered residual stream          */
    float    *xn;          /* [batch][dim] normalised input / matmul output  */
    float    *qkv;         /* [batch][dim + 2 * kv_dim]                      */
    float    *ao;          /* [batch][dim] attention output                  */
    float    *h13;         /* [batch][2 * hidden]                            */
    float    *hg;          /* [batch][hidden] gated                          */
    float    *lg;          /* [batch][vocab] head output before scatter      */
    float    *att;         /* [kv_mul][max_seq] scores of one kv group       */
    uint8_t  *mark;        /* [batch] duplicate-row check                    */
    /* Several positions of one row in one call (ofr_decoder_run_positions):
       the scratch above holds max(batch, max_block) rows. */
    int       max_block;
    int      *brow;        /* [max_block] the row, repeated                  */
    float    *xp;          /* parallel residual: the layer's input rows      */
};

/* ---- dense helpers (to be folded into workers/engine/ops) ------------- */

/* C[M][N] = A[M][K] * W[N][K]^T; gemv for one row is cheaper in OpenBLAS. */
static void
matmul_wt (const float *A, int M, int K, const float *W, int N, float *C)
{
    if (M == 1)
        cblas_sgemv (CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, A, 1, 0.0f, C, 1);
    else
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, W, K,
                     0.0f, C, N);
}

static void
softmax (float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf (x[i] - mx);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

/* Rotate pairs (2j, 2j+1) of the first rotary_dim dims (0: all) of every
   head of vec[n] by position pos. */
static void
rope (const ofr_decoder *d, float *vec, int n, int pos)
{
    int hs = d->c.head_size, half = (d->c.rotary_dim ? d->c.rotary_dim : hs) / 2;
    const float *cs = d->rope_cos + (size_t) pos * half, *sn = d->rope_sin + (size_t) pos * half;
    for (int h = 0; h < n; h += hs)
        for (int j = 0; j < half; j++) {
            float v0 = vec[h + 2 * j], v1 = vec[h + 2 * j + 1];
            vec[h + 2 * j] = v0 * cs[j] - v1 * sn[j];
            vec[h + 2 * j + 1] = v0 * sn[j] + v1 * cs[j];
        }
}

/* ---- life cycle --------------------------------------------------------- */

static void
rope_tables (ofr_decoder *d)
{
    int rot = d->c.rotary_dim ? d->c.rotary_dim : d->c.head_size, half = rot / 2;
    for (int p = 0; p < d->max_seq; p++)
        for (int j = 0; j < half; j++) {
            float freq = 1.0f / powf (d->c.rope_theta, (float) (2 * j) / (float) rot);
            float a = (float) p * freq;
            d->rope_cos[(size_t) p * half + j] = cosf (a);
            d->rope_sin[(size_t) p * half + j] = sinf (a);
        }
}

static int
alloc_buffers (ofr_decoder *d)
{
    size_t B = (size_t) d->batch, S = (size_t) d->max_seq, L = (size_t) d->c.n_layers;
    /* Scratch rows of one call: active rows, or positions of a block. */
    size_t A = (size_t) (d->max_block > d->batch ? d->max_block : d->batch);
    size_t dim = (size_t) d->c.dim, kv = (size_t) d->c.kv_dim, h = (size_t) d->c.hidden_dim;
    size_t V = (size_t) d->c.vocab_size, half = (size_t) d->c.head_size / 2;
    d->len = ofr_calloc (B, sizeof *d->len);
    d->cur = ofr_calloc (B, sizeof *d->cur);
    d->x = ofr_calloc (B * dim, sizeof (float));
    d->logits = ofr_calloc (B * V, sizeof (float));
    d->kcache = ofr_calloc (B * L * S * kv, sizeof (float));
    d->vcache = ofr_calloc (B * L * S * kv, sizeof (float));
    d->kv_ok = ofr_calloc (B * L * S, 1);
    d->rope_cos = ofr_calloc (S * half, sizeof (float));
    d->rope_sin = ofr_calloc (S * half, sizeof (float));
    d->xa = ofr_calloc (A * dim, sizeof (float));
    d->xn = ofr_calloc (A * dim, sizeof (float));
    d->qkv = ofr_calloc (A * (dim + 2 * kv), sizeof (float));
    d->ao = ofr_calloc (A * dim, sizeof (float));
    d->h13 = ofr_calloc (A * 2 * h, sizeof (float));
    d->hg = ofr_calloc (A * h, sizeof (float));
    d->lg = ofr_calloc (A * V, sizeof (float));
    d->att = ofr_calloc ((size_t) d->kv_mul * S, sizeof (float));
    d->mark = ofr_calloc (B, 1);
    d->brow = ofr_calloc (A, sizeof *d->brow);
    d->xp = ofr_calloc (A * dim, sizeof (float));
    return d->len && d->cur && d->x && d->logits && d->kcache && d->vcache && d->kv_ok
        && d->rope_cos && d->rope_sin && d->xa && d->xn && d->qkv && d->ao && d->h13
        && d->hg && d->lg && d->att && d->mark && d->brow && d->xp ? 0 : -1;
}

int
ofr_decoder_new (const ofr_llama *m, int batch, int max_seq, ofr_decoder **out,
                 char *err, size_t errlen)
{
    return ofr_decoder_new_block (m, batch, max_seq, 1, out, err, errlen);
}

int
ofr_decoder_new_block (const ofr_llama *m, int batch, int max_seq, int max_block,
                       ofr_decoder **out, char *err, size_t errlen)
{
    *out = NULL;
    const ofr_llama_config *c = ofr_llama_config_of (m);
    if (max_seq == 0)
        max_seq = c->seq_len;
    if (max_block < 1 || max_block > c->seq_len)
        return ofr_errf (err, errlen, "%s: decoder blocks of %d positions (need 1 to "
                         "seq_len %d)", ofr_llama_path (m), max_block, c->seq_len);
    if (batch <= 0 || max_seq < 0 || max_seq > c->seq_len)
        return ofr_errf (err, errlen, "%s: decoder for batch %d x %d positions (need "
                         "batch > 0 and 0 < positions <= seq_len %d)", ofr_llama_path (m),
                         batch, max_seq, c->seq_len);
    ofr_decoder *d = ofr_calloc (1, sizeof *d);
    if (!d)
        return ofr_errf (err, errlen, "decoder: out of memory");
    d->m = m;
    d->c = *c;
    d->batch = batch;
    d->max_seq = max_seq;
    d->max_block = max_block;
    d->kv_mul = c->n_heads / c->n_kv_heads;
    if (alloc_buffers (d)) {
        ofr_decoder_destroy (&d);
        return ofr_errf (err, errlen, "%s: out of memory for a decoder of %d x %d "
                         "positions", ofr_llama_path (m), batch, max_seq);
    }
    rope_tables (d);
    for (int r = 0; r < batch; r++)
        d->cur[r] = -1;
    *out = d;
    return 0;
}

void
ofr_decoder_destroy (ofr_decoder **dp)
{
    if (!dp || !*dp)
        return;
    ofr_decoder *d = *dp;
    void *bufs[] = { d->len, d->cur, d->x, d->logits, d->kcache, d->vcache, d->kv_ok,
                     d->rope_cos, d->rope_sin, d->xa, d->xn, d->qkv, d->ao, d->h13,
                     d->hg, d->lg, d->att, d->mark, d->brow, d->xp };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free (bufs[i]);
    free (d);
    *dp = NULL;
}

const ofr_llama *ofr_decoder_model (const ofr_decoder *d) { return d->m; }
int ofr_decoder_batch (const ofr_decoder *d) { return d->batch; }
int ofr_decoder_max_seq (const ofr_decoder *d) { return d->max_seq; }
int ofr_decoder_max_block (const ofr_decoder *d) { return d->max_block; }

void
ofr_decoder_reset (ofr_decoder *d, int row)
{
    if (row >= 0 && row < d->batch) {
        d->len[row] = 0;
        d->cur[row] = -1;
    }
}

int
ofr_decoder_length (const ofr_decoder *d, int row)
{
    return row >= 0 && row < d->batch ? d->len[row] : 0;
}

const float *
ofr_decoder_logits (const ofr_decoder *d, int row)
{
    return row >= 0 && row < d->batch ? d->logits + (size_t) row * d->c.vocab_size : NULL;
}

const float *
ofr_decoder_hidden (const ofr_decoder *d, int row)
{
    return row >= 0 && row < d->batch ? d->x + (size_t) row * d->c.dim : NULL;
}

int
ofr_decoder_copy_prefix (ofr_decoder *d, int src, int dst, int n, char *err, size_t errlen)
{
    if (src < 0 || src >= d->batch || dst < 0 || dst >= d->batch || n < 0
        || n > d->len[src])
        return ofr_errf (err, errlen, "decoder copy_prefix: rows %d -> %d, %d positions "
                         "(source holds %d)", src, dst, n,
                         src >= 0 && src < d->batch ? d->len[src] : 0);
    size_t S = (size_t) d->max_seq, kv = (size_t) d->c.kv_dim;
    for (int l = 0; l < d->c.n_layers && src != dst; l++) {
        size_t a = ((size_t) src * d->c.n_layers + l) * S, b = ((size_t) dst * d->c.n_layers + l) * S;
        memcpy (d->kcache + b * kv, d->kcache + a * kv, (size_t) n * kv * sizeof (float));
        memcpy (d->vcache + b * kv, d->vcache + a * kv, (size_t) n * kv * sizeof (float));
        memcpy (d->kv_ok + b, d->kv_ok + a, (size_t) n);
    }
    d->len[dst] = n;
    d->cur[dst] = -1;
    return 0;
}

/* ---- per-token steps ---------------------------------------------------- */

/* rows[0..n) are distinct, in range and (if in_flight) have begun a token. */
static int
check_rows (ofr_decoder *d, const int *rows, int n, bool in_flight, const char *what,
            char *err, size_t errlen)
{
    if (n < 0 || n > d->batch || (n > 0 && !rows))
        return ofr_errf (err, errlen, "decoder %s: %d rows for a batch of %d", what, n,
                         d->batch);
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++) {
        int r = rows[i];
        if (r < 0 || r >= d->batch || d->mark[r] || (in_flight && d->cur[r] < 0))
            bad = i;
        else
            d->mark[r] = 1;
    }
    for (int i = 0; i < n; i++)
        if (rows[i] >= 0 && rows[i] < d->batch)
            d->mark[rows[i]] = 0;
    if (bad < 0)
        return 0;
    int r = rows[bad];
    return ofr_errf (err, errlen, "decoder %s: row %d %s", what, r,
                     r < 0 || r >= d->batch ? "out of range"
                     : in_flight && d->cur[r] < 0 ? "has no token in flight (call begin)"
                     : "listed twice");
}

static float *
kv_at (const ofr_decoder *d, float *cache, int row, int l, int pos)
{
    size_t slot = ((size_t) row * d->c.n_layers + (size_t) l) * d->max_seq + (size_t) pos;
    return cache + slot * d->c.kv_dim;
}

static uint8_t *
ok_at (const ofr_decoder *d, int row, int l)
{
    return d->kv_ok + ((size_t) row * d->c.n_layers + (size_t) l) * d->max_seq;
}

int
ofr_decoder_begin (ofr_decoder *d, const int *rows, const int *tokens, int n,
                   char *err, size_t errlen)
{
    if (check_rows (d, rows, n, false, "begin", err, errlen))
        return -1;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= d->c.vocab_size)
            return ofr_errf (err, errlen, "decoder begin: row %d: token %d outside the "
                             "vocabulary [0, %d)", rows[i], tokens[i], d->c.vocab_size);
        if (d->len[rows[i]] >= d->max_seq)
            return ofr_errf (err, errlen, "decoder begin: row %d is full (%d positions)",
                             rows[i], d->max_seq);
    }
    size_t dim = (size_t) d->c.dim;
    for (int i = 0; i < n; i++) {
        int r = rows[i], pos = d->len[r]++;
        d->cur[r] = pos;
        memcpy (d->x + (size_t) r * dim, ofr_llama_embedding (d->m) + (size_t) tokens[i] * dim,
                dim * sizeof (float));
        const float *wpe = ofr_llama_pos_embedding (d->m);   /* GPT-2 */
        for (size_t j = 0; wpe && j < dim; j++)
            d->x[(size_t) r * dim + j] += wpe[(size_t) pos * dim + j];
        for (int l = 0; l < d->c.n_layers; l++)
            ok_at (d, r, l)[pos] = 0;
    }
    return 0;
}

static void
gather (ofr_decoder *d, const int *rows, int n)
{
    size_t dim = (size_t) d->c.dim;
    for (int i = 0; i < n; i++)
        memcpy (d->xa + i * dim, d->x + (size_t) rows[i] * dim, dim * sizeof (float));
}

static void
scatter (ofr_decoder *d, const int *rows, int n)
{
    size_t dim = (size_t) d->c.dim;
    for (int i = 0; i < n; i++)
        memcpy (d->x + (size_t) rows[i] * dim, d->xa + i * dim, dim * sizeof (float));
}

/* Causal attention of the query q [dim] at position pos of one row over
   its cache of layer l; the query heads sharing a kv head form one
   matmul. Writes out [dim]. */
static void
attend (ofr_decoder *d, int row, int l, int pos, const float *q, float *out)
{
    int hs = d->c.head_size, kv = d->c.kv_dim, G = d->kv_mul, T = pos + 1;
    const float *K = kv_at (d, d->kcache, row, l, 0), *V = kv_at (d, d->vcache, row, l, 0);
    const uint8_t *ok = ok_at (d, row, l);
    float scale = 1.0f / sqrtf ((float) hs);
    for (int g = 0; g < d->c.n_kv_heads; g++) {
        const float *qg = q + (size_t) g * G * hs;
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, G, T, hs, scale, qg, hs,
                     K + (size_t) g * hs, kv, 0.0f, d->att, T);
        for (int i = 0; i < G; i++) {
            float *a = d->att + (size_t) i * T;
            for (int t = 0; t < T; t++)
                if (!ok[t])
                    a[t] = -INFINITY;
            softmax (a, T);
        }
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, G, hs, T, 1.0f, d->att, T,
                     V + (size_t) g * hs, kv, 0.0f, out + (size_t) g * G * hs, hs);
    }
}

/* RoPE k (and q if given) at position pos and store k, v there. */
static void
store_kv (ofr_decoder *d, int row, int l, int pos, float *q, float *k, const float *v)
{
    if (q && d->c.arch != OFR_ARCH_GPT2)
        rope (d, q, d->c.dim, pos);
    if (d->c.arch != OFR_ARCH_GPT2)
        rope (d, k, d->c.kv_dim, pos);
    memcpy (kv_at (d, d->kcache, row, l, pos), k, (size_t) d->c.kv_dim * sizeof (float));
    memcpy (kv_at (d, d->vcache, row, l, pos), v, (size_t) d->c.kv_dim * sizeof (float));
    ok_at (d, row, l)[pos] = 1;
}

static void
add_into (float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* rows[i] at position pos[i] (NULL: the token in flight); a row listed
   several times must come in increasing positions (causal order). */
static void
attention_block (ofr_decoder *d, const ofr_llama_layer *w, int l, const int *rows,
                 const int *pos, int n)
{
    int dim = d->c.dim, kv = d->c.kv_dim, qn = dim + 2 * kv;
    if (d->c.parallel_residual)
        memcpy (d->xp, d->xa, (size_t) n * dim * sizeof (float));
    ofr_dec_norm (&d->c, d->xa, w->rms_att, w->ln1_b, d->xn, n);
    matmul_wt (d->xn, n, dim, w->wqkv, qn, d->qkv);
    ofr_dec_bias (d->qkv, w->bqkv, n, qn);
    for (int i = 0; i < n; i++) {
        float *q = d->qkv + (size_t) i * qn;
        int p = pos ? pos[i] : d->cur[rows[i]];
        store_kv (d, rows[i], l, p, q, q + dim, q + dim + kv);
        attend (d, rows[i], l, p, q, d->ao + (size_t) i * dim);
    }
    matmul_wt (d->ao, n, dim, w->wo, dim, d->xn);
    ofr_dec_bias (d->xn, w->bo, n, dim);
    add_into (d->xa, d->xn, (size_t) n * dim);
}

static void
ffn_block (ofr_decoder *d, const ofr_llama_layer *w, int n)
{
    int dim = d->c.dim, h = d->c.hidden_dim, hin = ofr_dec_mlp_in (&d->c);
    /* A parallel residual's MLP reads the layer's input, not x + attn. */
    ofr_dec_norm (&d->c, d->c.parallel_residual ? d->xp : d->xa, w->rms_ffn, w->ln2_b,
                  d->xn, n);
    matmul_wt (d->xn, n, dim, w->w13, hin, d->h13);
    ofr_dec_bias (d->h13, w->b1, n, hin);
    ofr_dec_mlp_act (&d->c, d->h13, d->hg, n);
    matmul_wt (d->hg, n, h, w->w2, dim, d->xn);
    ofr_dec_bias (d->xn, w->b2, n, dim);
    add_into (d->xa, d->xn, (size_t) n * dim);
}

static int
check_layer (const ofr_decoder *d, int l, const char *what, char *err, size_t errlen)
{
    if (l < 0 || l >= d->c.n_layers)
        return ofr_errf (err, errlen, "decoder %s: layer %d outside [0, %d)", what, l,
                         d->c.n_layers);
    return 0;
}

int
ofr_decoder_layer (ofr_decoder *d, int l, const int *rows, int n, char *err, size_t errlen)
{
    if (check_layer (d, l, "layer", err, errlen)
        || check_rows (d, rows, n, true, "layer", err, errlen))
        return -1;
    if (n == 0)
        return 0;
    const ofr_llama_layer *w = ofr_llama_layer_weights (d->m, l);
    gather (d, rows, n);
    attention_block (d, w, l, rows, NULL, n);
    ffn_block (d, w, n);
    scatter (d, rows, n);
    return 0;
}

int
ofr_decoder_skip (ofr_decoder *d, int l, const int *rows, int n, ofr_kv_fill fill,
                  char *err, size_t errlen)
{
    if (check_layer (d, l, "skip", err, errlen)
        || check_rows (d, rows, n, true, "skip", err, errlen))
        return -1;
    if (fill != OFR_KV_PROPAGATE) {
        for (int i = 0; i < n; i++)
            ok_at (d, rows[i], l)[d->cur[rows[i]]] = 0;
        return 0;
    }
    if (n == 0)
        return 0;
    const ofr_llama_layer *w = ofr_llama_layer_weights (d->m, l);
    int dim = d->c.dim, kv = d->c.kv_dim;
    gather (d, rows, n);
    ofr_dec_norm (&d->c, d->xa, w->rms_att, w->ln1_b, d->xn, n);
    /* Only the k and v rows of wqkv: [n][2 * kv]. */
    matmul_wt (d->xn, n, dim, w->wqkv + (size_t) dim * dim, 2 * kv, d->qkv);
    ofr_dec_bias (d->qkv, w->bqkv ? w->bqkv + dim : NULL, n, 2 * kv);
    for (int i = 0; i < n; i++) {
        float *k = d->qkv + (size_t) i * 2 * kv;
        store_kv (d, rows[i], l, d->cur[rows[i]], NULL, k, k + kv);
    }
    return 0;
}

int
ofr_decoder_head (ofr_decoder *d, const int *rows, int n, char *err, size_t errlen)
{
    if (check_rows (d, rows, n, true, "head", err, errlen))
        return -1;
    if (n == 0)
        return 0;
    int dim = d->c.dim, V = d->c.vocab_size;
    gather (d, rows, n);
    ofr_dec_norm (&d->c, d->xa, ofr_llama_final_norm (d->m),
                  ofr_llama_final_norm_bias (d->m), d->xn, n);
    matmul_wt (d->xn, n, dim, ofr_llama_classifier (d->m), V, d->lg);
    for (int i = 0; i < n; i++)
        memcpy (d->logits + (size_t) rows[i] * V, d->lg + (size_t) i * V,
                (size_t) V * sizeof (float));
    return 0;
}

int
ofr_decoder_run_positions (ofr_decoder *d, int row, const int *pos, int n, int l0, int l1,
                           float *h, char *err, size_t errlen)
{
    if (row < 0 || row >= d->batch || n < 1 || n > d->max_block || !pos || !h
        || l0 < 0 || l0 > l1 || l1 > d->c.n_layers)
        return ofr_errf (err, errlen, "decoder run_positions: row %d, %d positions (at "
                         "most %d), layers [%d, %d) of %d", row, n, d->max_block, l0, l1,
                         d->c.n_layers);
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= d->len[row] || (i > 0 && pos[i] <= pos[i - 1]))
            return ofr_errf (err, errlen, "decoder run_positions: row %d position #%d = "
                             "%d (want increasing positions below its length %d)", row,
                             i, pos[i], d->len[row]);
        d->brow[i] = row;
    }
    size_t dim = (size_t) d->c.dim;
    memcpy (d->xa, h, (size_t) n * dim * sizeof (float));
    for (int l = l0; l < l1; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (d->m, l);
        attention_block (d, w, l, d->brow, pos, n);
        ffn_block (d, w, n);
    }
    memcpy (h, d->xa, (size_t) n * dim * sizeof (float));
    return 0;
}

int
ofr_decoder_head_states (ofr_decoder *d, const float *h, int n, float *logits,
                         char *err, size_t errlen)
{
    if (n < 1 || n > d->max_block || !h || !logits)
        return ofr_errf (err, errlen, "decoder head_states: %d states (at most %d)", n,
                         d->max_block);
    int dim = d->c.dim;
    ofr_dec_norm (&d->c, h, ofr_llama_final_norm (d->m), ofr_llama_final_norm_bias (d->m),
                  d->xn, n);
    matmul_wt (d->xn, n, dim, ofr_llama_classifier (d->m), d->c.vocab_size, logits);
    return 0;
}

int
ofr_decoder_forward (ofr_decoder *d, const int *rows, const int *tokens, int n,
                     char *err, size_t errlen)
{
    if (ofr_decoder_begin (d, rows, tokens, n, err, errlen))
        return -1;
    for (int l = 0; l < d->c.n_layers; l++)
        if (ofr_decoder_layer (d, l, rows, n, err, errlen))
            return -1;
    return ofr_decoder_head (d, rows, n, err, errlen);
}

/* ---- whole-sequence conveniences ------------------------------------------ */

/* One token of one row at full depth; the head only when wanted. */
static int
step (ofr_decoder *d, int row, int token, bool head, char *err, size_t errlen)
{
    if (head)
        return ofr_decoder_forward (d, &row, &token, 1, err, errlen);
    if (ofr_decoder_begin (d, &row, &token, 1, err, errlen))
        return -1;
    for (int l = 0; l < d->c.n_layers; l++)
        if (ofr_decoder_layer (d, l, &row, 1, err, errlen))
            return -1;
    return 0;
}

static int
check_row (const ofr_decoder *d, int row, const char *what, char *err, size_t errlen)
{
    if (row < 0 || row >= d->batch)
        return ofr_errf (err, errlen, "decoder %s: row %d outside [0, %d)", what, row,
                         d->batch);
    return 0;
}

/* Feed seq[0..n) into a reset row; logits only after the last one. */
static int
prefill (ofr_decoder *d, int row, const int *seq, int n, char *err, size_t errlen)
{
    ofr_decoder_reset (d, row);
    for (int i = 0; i < n; i++)
        if (step (d, row, seq[i], i == n - 1, err, errlen))
            return -1;
    return 0;
}

static double
log_prob (const float *logits, int V, int target)
{
    float mx = logits[0];
    for (int i = 1; i < V; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < V; i++)
        sum += exp ((double) logits[i] - mx);
    return (double) logits[target] - mx - log (sum);
}

int
ofr_decoder_score (ofr_decoder *d, int row, const int *ctx, int nctx,
                   const int *cont, int ncont, double *loglik, char *err, size_t errlen)
{
    *loglik = 0.0;
    if (check_row (d, row, "score", err, errlen))
        return -1;
    if (nctx < 1 || ncont < 0 || (long) nctx + ncont - 1 > d->max_seq)
        return ofr_errf (err, errlen, "decoder score: %d context + %d continuation tokens "
                         "(need >= 1 context token and at most %d positions)", nctx, ncont,
                         d->max_seq);
    for (int j = 0; j < ncont; j++)
        if (cont[j] < 0 || cont[j] >= d->c.vocab_size)
            return ofr_errf (err, errlen, "decoder score: continuation token %d = %d "
                             "outside the vocabulary [0, %d)", j, cont[j], d->c.vocab_size);
    if (prefill (d, row, ctx, nctx, err, errlen))
        return -1;
    double sum = 0.0;
    for (int j = 0; j < ncont; j++) {
        sum += log_prob (ofr_decoder_logits (d, row), d->c.vocab_size, cont[j]);
        if (j + 1 < ncont && step (d, row, cont[j], true, err, errlen))
            return -1;
    }
    *loglik = sum;
    return 0;
}

int
ofr_decoder_greedy (ofr_decoder *d, int row, const int *prompt, int nprompt,
                    int max_new, int *out, int *n_out, int *layers_used,
                    char *err, size_t errlen)
{
    *n_out = 0;
    if (check_row (d, row, "greedy", err, errlen))
        return -1;
    if (nprompt < 1 || nprompt > d->max_seq || max_new < 0)
        return ofr_errf (err, errlen, "decoder greedy: prompt of %d tokens (need 1 to %d), "
                         "max_new %d", nprompt, d->max_seq, max_new);
    if (max_new == 0)
        return 0;
    if (prefill (d, row, prompt, nprompt, err, errlen))
        return -1;
    for (;;) {
        int next = ofr_argmax (ofr_decoder_logits (d, row), d->c.vocab_size);
        if (ofr_llama_is_stop (d->m, next))
            return 0;
        if (layers_used)
            layers_used[*n_out] = d->c.n_layers;
        out[(*n_out)++] = next;
        if (*n_out == max_new || d->len[row] == d->max_seq)
            return 0;
        if (step (d, row, next, true, err, errlen))
            return -1;
    }
}
