/*  hf_t5.c -- T5ForConditionalGeneration (transformers/models/t5/modeling_t5.py)
    into the seq2seq structures. Pre-norm blocks with T5LayerNorm (RMS, no
    bias, no mean), q/k/v/o without biases, scores q.k with no 1/sqrt(d)
    scaling plus the relative position bias of block 0 (encoder:
    bidirectional buckets; decoder self-attention: causal buckets; cross
    attention: none), shared by every block; DenseReluDense (wi, wo) or
    the gated form (feed_forward_proj "gated-ACT": act (wi_0 x) * wi_1 x;
    "gated-gelu" is gelu_new); no position embeddings, no embedding scale;
    final norms on both sides; logits = lm_head (x), with x scaled by
    d_model^-0.5 first when the head is tied to shared.weight (folded into
    a scaled copy of the embedding). Ids and pieces come from
    tokenizer.json (its unigram vocabulary; rows past it are named
    <row_N>); sources get </s> appended. */
#include "hf_s2s_impl.h"
#include "../text/unigram.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
weight (hf_ctx *c, const char *name, long out, long in, s2s_lin *l)
{
    *l = (s2s_lin) { NULL, NULL, (int) out, (int) in };
    return hf_tensor (c, name, out, in, &l->w);
}

static int
rms (hf_ctx *c, const char *name, long d, s2s_ln *n)
{
    n->b = NULL;
    return hf_tensor (c, name, d, 0, &n->g);
}

/* An attention width inner = num_heads x d_kv below d_model (t5-v1_1,
   flan-t5 small: 6 x 64 < 512) runs as d_model / d_kv heads whose extra
   heads have zero q/k/v rows and zero o columns: they contribute exactly
   nothing, and the runtime keeps one width. */

/* k tensors NAME.weight [inner][d] stacked, each padded to [d][d]. */
static int
stack (hf_ctx *c, const char *const *names, int k, long d, long inner, s2s_lin *out)
{
    if (inner == d)
        return hf_fuse (c, names, k, d, d, false, out);
    float *w = hf_alloc (c, (size_t) k * d * d);
    if (!w)
        return -1;
    memset (w, 0, (size_t) k * d * d * sizeof *w);
    for (int i = 0; i < k; i++) {
        char name[256];
        const float *t;
        snprintf (name, sizeof name, "%s.weight", names[i]);
        if (hf_tensor (c, name, inner, d, &t) != 0)
            return -1;
        memcpy (w + (size_t) i * d * d, t, (size_t) inner * d * sizeof *t);
    }
    *out = (s2s_lin) { w, NULL, (int) (k * d), (int) d };
    return 0;
}

/* rows x cols of name, each row zero-padded to `to` columns. */
static int
pad_cols (hf_ctx *c, const char *name, long rows, long cols, long to, const float **out)
{
    const float *t;
    if (hf_tensor (c, name, rows, cols, &t) != 0)
        return -1;
    if (cols == to) {
        *out = t;
        return 0;
    }
    float *w = hf_alloc (c, (size_t) rows * to);
    if (!w)
        return -1;
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < to; j++)
            w[r * to + j] = j < cols ? t[r * cols + j] : 0.f;
    *out = w;
    return 0;
}

static int
attention (hf_ctx *c, const char *p, long d, long inner, bool cross, s2s_lin *q,
           s2s_lin *fused, s2s_lin *o)
{
    char qn[224], kn[224], vn[224], on[240];
    snprintf (qn, sizeof qn, "%s.q", p);
    snprintf (kn, sizeof kn, "%s.k", p);
    snprintf (vn, sizeof vn, "%s.v", p);
    snprintf (on, sizeof on, "%s.o.weight", p);
    const char *qkv[3] = { qn, kn, vn };
    *o = (s2s_lin) { NULL, NULL, (int) d, (int) d };
    if (pad_cols (c, on, d, inner, d, &o->w) != 0)
        return -1;
    if (!cross)
        return stack (c, qkv, 3, d, inner, fused);
    return stack (c, qkv, 1, d, inner, q) != 0 ? -1 : stack (c, qkv + 1, 2, d, inner, fused);
}

static int
ffn (hf_ctx *c, const char *p, long d, long F, s2s_layer *L)
{
    char a[300], b[300];
    if (c->m->gated) {
        snprintf (a, sizeof a, "%s.DenseReluDense.wi_0", p);
        snprintf (b, sizeof b, "%s.DenseReluDense.wi_1", p);
        const char *wi[2] = { a, b };
        if (hf_fuse (c, wi, 2, F, d, false, &L->ff_in) != 0)
            return -1;
    } else {
        snprintf (a, sizeof a, "%s.DenseReluDense.wi.weight", p);
        if (weight (c, a, F, d, &L->ff_in) != 0)
            return -1;
    }
    snprintf (a, sizeof a, "%s.DenseReluDense.wo.weight", p);
    snprintf (b, sizeof b, "%s.layer_norm.weight", p);
    return weight (c, a, d, F, &L->ff_out) != 0 ? -1 : rms (c, b, d, &L->ff_ln);
}

static int
block (hf_ctx *c, const char *side, int i, bool dec, long inner, s2s_layer *L)
{
    long d = c->m->d, F = c->m->ffn;
    char p[200], s[240];
    snprintf (p, sizeof p, "%s.block.%d.layer", side, i);
#define SC(fmt) (snprintf (s, sizeof s, "%s." fmt, p), s)
    if (attention (c, SC ("0.SelfAttention"), d, inner, false, NULL, &L->sa_qkv, &L->sa_out) != 0
        || rms (c, SC ("0.layer_norm.weight"), d, &L->sa_ln) != 0)
        return -1;
    if (dec && (attention (c, SC ("1.EncDecAttention"), d, inner, true, &L->ca_q, &L->ca_kv,
                           &L->ca_out) != 0
                || rms (c, SC ("1.layer_norm.weight"), d, &L->ca_ln) != 0))
        return -1;
#undef SC
    snprintf (s, sizeof s, "%s.%d", p, dec ? 2 : 1);
    return ffn (c, s, d, F, L);
}

/* feed_forward_proj: "ACT" or "gated-ACT" (HF T5Config). */
static int
feed_forward (hf_ctx *c)
{
    ofr_seq2seq *m = c->m;
    const char *f = hf_str (c, "feed_forward_proj", "relu");
    m->gated = strncmp (f, "gated-", 6) == 0;
    const char *act = m->gated ? f + 6 : f;
    if (strcmp (act, "relu") == 0)
        m->activation = S2S_RELU;
    else if (strcmp (act, "gelu") == 0)
        m->activation = m->gated ? S2S_GELU_TANH : S2S_GELU;   /* gated-gelu = gelu_new */
    else if (strcmp (act, "gelu_new") == 0)
        m->activation = S2S_GELU_TANH;
    else if (strcmp (act, "silu") == 0 || strcmp (act, "swish") == 0)
        m->activation = S2S_SWISH;
    else
        return ofr_errf (c->err, c->errlen, "%s: feed_forward_proj \"%s\" is not supported "
                         "(relu, gelu, gelu_new, silu, optionally gated-)", c->cfg_path, f);
    return 0;
}

/* tokenizer.json pieces as both vocabularies ([rows] strings). */
static int
vocab (hf_ctx *c, int rows)
{
    ofr_seq2seq *m = c->m;
    size_t n = strlen (c->dir) + sizeof "/tokenizer.json";
    char *path = malloc (n);
    ofr_unigram *u = NULL;
    if (!path)
        return ofr_errf (c->err, c->errlen, "out of memory");
    snprintf (path, n, "%s/tokenizer.json", c->dir);
    int rc = ofr_unigram_load (path, &u, c->err, c->errlen);
    if (rc == 0 && ofr_unigram_vocab_size (u) > rows)
        rc = ofr_errf (c->err, c->errlen, "%s: %d pieces but the embedding has %d rows", path,
                       ofr_unigram_vocab_size (u), rows);
    s2s_vocab *vs[2] = { &m->src, &m->tgt };
    for (int k = 0; rc == 0 && k < 2; k++) {
        if (!(vs[k]->tok = ofr_calloc ((size_t) rows, sizeof *vs[k]->tok))) {
            rc = ofr_errf (c->err, c->errlen, "out of memory");
            break;
        }
        vs[k]->n = rows;
        for (int i = 0; rc == 0 && i < rows; i++) {
            char extra[32];
            snprintf (extra, sizeof extra, "<row_%d>", i);
            const char *t = i < ofr_unigram_vocab_size (u) ? ofr_unigram_token (u, i) : extra;
            if (!(vs[k]->tok[i] = ofr_strdup (t)))
                rc = ofr_errf (c->err, c->errlen, "out of memory");
        }
    }
    if (rc == 0) {
        m->src_unk = ofr_unigram_unk_id (u);
        if (m->src_unk < 0)
            rc = ofr_errf (c->err, c->errlen, "%s: no unk_id", path);
    }
    ofr_unigram_destroy (&u);
    free (path);
    return rc;
}

int
ofr_hf_t5_load (hf_ctx *c)
{
    ofr_seq2seq *m = c->m;
    long d, dkv, F, ne, nd, H, nb, maxd, pad, eos, start, V;
    if (hf_int (c, "d_model", -1, 1, &d) != 0 || hf_int (c, "d_kv", -1, 1, &dkv) != 0
        || hf_int (c, "d_ff", -1, 1, &F) != 0 || hf_int (c, "num_layers", -1, 1, &ne) != 0
        || hf_int (c, "num_decoder_layers", ne, 1, &nd) != 0
        || hf_int (c, "num_heads", -1, 1, &H) != 0
        || hf_int (c, "relative_attention_num_buckets", 32, 2, &nb) != 0
        || hf_int (c, "relative_attention_max_distance", 128, 1, &maxd) != 0
        || hf_int (c, "pad_token_id", 0, 0, &pad) != 0 || hf_int (c, "eos_token_id", 1, 0, &eos) != 0
        || hf_int (c, "decoder_start_token_id", pad, 0, &start) != 0 || feed_forward (c) != 0)
        return -1;
    long inner = H * dkv;
    if (inner > d || (d - inner) % dkv != 0)
        return ofr_errf (c->err, c->errlen, "%s: num_heads %ld x d_kv %ld: an attention width "
                         "above d_model %ld, or not d_model minus whole heads, is not "
                         "supported", c->cfg_path, H, dkv, d);
    m->d = m->de = (int) d;
    m->heads = m->heads_e = (int) (d / dkv);          /* padding heads: see stack () */
    m->dh = m->dh_e = (int) dkv;
    m->ffn = m->ffn_e = (int) F;
    m->n_enc = (int) ne;
    m->n_dec = (int) nd;
    m->rms = true;
    m->attn_scale = 1.0f;
    m->pos_layout = S2S_POS_NONE;
    m->eps = (float) hf_num (c, "layer_norm_epsilon", 1e-6);
    m->src_scale = m->tgt_scale = 1.0f;
    m->rel_buckets = (int) nb;
    m->rel_max = (int) maxd;
    const ofr_st_tensor *sh = ofr_safetensors_find (m->hf->st, "shared.weight");
    V = sh && sh->ndim == 2 ? (long) sh->shape[0] : 0;
    if (hf_tensor (c, "shared.weight", V, d, &m->src_emb) != 0
        || hf_int (c, "vocab_size", V, 1, &V) != 0
        || hf_tensor (c, "shared.weight", V, d, &m->src_emb) != 0
        || pad_cols (c, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                     nb, H, m->heads, &m->rel_enc) != 0
        || pad_cols (c, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                     nb, H, m->heads, &m->rel_dec) != 0
        || rms (c, "encoder.final_layer_norm.weight", d, &m->enc_norm) != 0
        || rms (c, "decoder.final_layer_norm.weight", d, &m->dec_norm) != 0)
        return -1;
    m->tgt_emb = m->src_emb;
    if (pad >= V || eos >= V || start >= V)
        return ofr_errf (c->err, c->errlen, "%s: pad/eos/decoder_start ids (%ld, %ld, %ld) "
                         "outside the vocabulary of %ld", c->cfg_path, pad, eos, start, V);
    if (hf_bool (c, "tie_word_embeddings", true)) {
        float *w = hf_alloc (c, (size_t) V * d);
        if (!w)
            return -1;
        float k = 1.0f / sqrtf ((float) d);
        for (size_t i = 0; i < (size_t) V * d; i++)
            w[i] = m->src_emb[i] * k;
        m->proj.w = w;
    } else if (hf_tensor (c, "lm_head.weight", V, d, &m->proj.w) != 0)
        return -1;
    m->proj.b = NULL;
    m->proj.out = (int) V;
    m->proj.in = (int) d;
    m->enc = ofr_calloc ((size_t) ne, sizeof *m->enc);
    m->dec = ofr_calloc ((size_t) nd, sizeof *m->dec);
    if (!m->enc || !m->dec)
        return ofr_errf (c->err, c->errlen, "%s: out of memory", c->dir);
    for (int i = 0; i < m->n_enc; i++)
        if (block (c, "encoder", i, false, inner, &m->enc[i]) != 0)
            return -1;
    for (int i = 0; i < m->n_dec; i++)
        if (block (c, "decoder", i, true, inner, &m->dec[i]) != 0)
            return -1;
    if (vocab (c, (int) V) != 0)
        return -1;
    m->bos = (int) start;
    m->eos = m->src_eos = (int) eos;
    m->add_src_eos = true;
    m->src_bos = -1;
    for (size_t i = 0; i < ofr_safetensors_count (m->hf->st); i++)
        m->params += ofr_safetensors_at (m->hf->st, i)->numel;
    return 0;
}
