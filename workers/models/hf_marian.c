/*  hf_marian.c -- MarianMTModel (transformers/models/marian/modeling_marian.py)
    into the seq2seq structures. Per layer, post-norm:
        x = LN_sa (x + SelfAttn (x));  [decoder: x = LN_ca (x + CrossAttn (x, mem))]
        x = LN_ff (x + fc2 (act (fc1 (x))))
    with q/k/v projections (biases) fused into the runtime's [Q;K;V] and
    cross [K;V] weights, queries scaled by 1/sqrt(head_dim); embeddings
    emb[tok] * (sqrt(d) if scale_embedding) + sinusoid[p], no final norms;
    logits = lm_head (x) + final_logits_bias. nn.LayerNorm's eps 1e-5.
    normalize_before is not read by HF's modeling code either. */
#include "hf_s2s_impl.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
lin (hf_ctx *c, const char *scope, long out, long in, s2s_lin *l)
{
    char name[256];
    snprintf (name, sizeof name, "%s.weight", scope);
    if (hf_tensor (c, name, out, in, &l->w) != 0)
        return -1;
    snprintf (name, sizeof name, "%s.bias", scope);
    if (hf_tensor (c, name, out, 0, &l->b) != 0)
        return -1;
    l->out = (int) out;
    l->in = (int) in;
    return 0;
}

static int
norm (hf_ctx *c, const char *scope, long d, s2s_ln *n)
{
    char name[256];
    snprintf (name, sizeof name, "%s.weight", scope);
    if (hf_tensor (c, name, d, 0, &n->g) != 0)
        return -1;
    snprintf (name, sizeof name, "%s.bias", scope);
    return hf_tensor (c, name, d, 0, &n->b);
}

static int
attention (hf_ctx *c, const char *p, long d, bool cross, s2s_lin *q, s2s_lin *fused, s2s_lin *o)
{
    char qn[224], kn[224], vn[224], on[224];
    snprintf (qn, sizeof qn, "%s.q_proj", p);
    snprintf (kn, sizeof kn, "%s.k_proj", p);
    snprintf (vn, sizeof vn, "%s.v_proj", p);
    snprintf (on, sizeof on, "%s.out_proj", p);
    const char *qkv[3] = { qn, kn, vn };
    if (lin (c, on, d, d, o) != 0)
        return -1;
    if (!cross)
        return hf_fuse (c, qkv, 3, d, d, true, fused);
    return lin (c, qn, d, d, q) != 0 ? -1 : hf_fuse (c, qkv + 1, 2, d, d, true, fused);
}

static int
layer (hf_ctx *c, const char *side, int i, bool dec, s2s_layer *L)
{
    const ofr_seq2seq *m = c->m;
    long d = m->d, F = dec ? m->ffn : m->ffn_e;
    char p[160], s[200];
    snprintf (p, sizeof p, "model.%s.layers.%d", side, i);
#define SC(leaf) (snprintf (s, sizeof s, "%s.%s", p, leaf), s)
    if (attention (c, SC ("self_attn"), d, false, NULL, &L->sa_qkv, &L->sa_out) != 0
        || norm (c, SC ("self_attn_layer_norm"), d, &L->sa_ln) != 0
        || lin (c, SC ("fc1"), F, d, &L->ff_in) != 0
        || lin (c, SC ("fc2"), d, F, &L->ff_out) != 0
        || norm (c, SC ("final_layer_norm"), d, &L->ff_ln) != 0)
        return -1;
    if (dec && (attention (c, SC ("encoder_attn"), d, true, &L->ca_q, &L->ca_kv, &L->ca_out) != 0
                || norm (c, SC ("encoder_attn_layer_norm"), d, &L->ca_ln) != 0))
        return -1;
#undef SC
    return 0;
}

static int
activation (hf_ctx *c, int *out)
{
    static const struct { const char *name; int act; } acts[] = {
        { "swish", S2S_SWISH }, { "silu", S2S_SWISH }, { "relu", S2S_RELU },
        { "gelu", S2S_GELU }, { "gelu_new", S2S_GELU_TANH }, { "gelu_pytorch_tanh", S2S_GELU_TANH },
    };
    const char *a = hf_str (c, "activation_function", "gelu");
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp (a, acts[i].name) == 0) {
            *out = acts[i].act;
            return 0;
        }
    return ofr_errf (c->err, c->errlen, "%s: activation_function \"%s\" is not supported "
                     "(swish, silu, relu, gelu, gelu_new, gelu_pytorch_tanh)", c->cfg_path, a);
}

/* An embedding: the first of the names present, [rows][d]. */
static int
embedding (hf_ctx *c, const char *own, long d, const float **out, long *rows)
{
    const char *names[] = { own, "model.shared.weight" };
    for (int i = 0; i < 2; i++) {
        const ofr_st_tensor *t = ofr_safetensors_find (c->m->hf->st, names[i]);
        if (t) {
            *rows = t->ndim == 2 ? (long) t->shape[0] : 0;
            return hf_tensor (c, names[i], *rows, d, out);
        }
    }
    return ofr_errf (c->err, c->errlen, "%s: tensor 'model.shared.weight' (or '%s') is missing",
                     ofr_safetensors_path (c->m->hf->st), own);
}

/* final_logits_bias [1][V] (zeros if absent), with -inf for the
   single-token bad_words_ids. */
static int
logits_bias (hf_ctx *c, long V)
{
    ofr_seq2seq *m = c->m;
    float *b = hf_alloc (c, (size_t) V);
    if (!b)
        return -1;
    const float *fb = NULL;
    if (ofr_safetensors_find (m->hf->st, "final_logits_bias")
        && hf_tensor (c, "final_logits_bias", 1, V, &fb) != 0)
        return -1;
    for (long i = 0; i < V; i++)
        b[i] = fb ? fb[i] : 0.f;
    const ofr_jsonlite *bad = ofr_jsonlite_get (c->cfg, "bad_words_ids");
    for (size_t i = 0; bad && bad->type == OFR_JSONLITE_ARRAY && i < bad->n; i++) {
        const ofr_jsonlite *w = bad->items[i];
        if (w->type != OFR_JSONLITE_ARRAY || w->n != 1)
            continue;            /* multi-token bans: not applied */
        const ofr_jsonlite *id = w->items[0];
        if (id->type != OFR_JSONLITE_NUMBER || !id->is_int || id->integer < 0 || id->integer >= V)
            return ofr_errf (c->err, c->errlen, "%s: bad_words_ids[%zu] is not an id in [0, %ld)",
                             c->cfg_path, i, V);
        b[id->integer] = -INFINITY;
    }
    m->proj.b = b;
    return 0;
}

/* Checkpoints may carry the sinusoid tables (embed_positions, not
   trained): they must be the ones the runtime computes, or the layout
   assumption is wrong for this model. */
static int
check_positions (hf_ctx *c, const char *name, long maxp, long d)
{
    const ofr_st_tensor *t = ofr_safetensors_find (c->m->hf->st, name);
    const float *w;
    if (!t)
        return 0;
    if (hf_tensor (c, name, maxp, d, &w) != 0)
        return -1;
    long half = d / 2;
    for (long p = 0; p < maxp && p < 64; p++)
        for (long j = 0; j < half; j++) {
            double a = (double) p / pow (10000.0, 2.0 * (double) j / (double) d);
            if (fabs (w[p * d + j] - sin (a)) > 1e-4 || fabs (w[p * d + half + j] - cos (a)) > 1e-4)
                return ofr_errf (c->err, c->errlen, "%s: tensor '%s' row %ld is not Marian's "
                                 "sinusoid (sin half, cos half, from position 0)",
                                 ofr_safetensors_path (c->m->hf->st), name, p);
        }
    return 0;
}

int
ofr_hf_marian_load (hf_ctx *c)
{
    ofr_seq2seq *m = c->m;
    long d, ne, nd, he, hd, fe, fd, maxp, pad, eos, start;
    if (hf_int (c, "d_model", -1, 2, &d) != 0
        || hf_int (c, "encoder_layers", -1, 1, &ne) != 0
        || hf_int (c, "decoder_layers", -1, 1, &nd) != 0
        || hf_int (c, "encoder_attention_heads", -1, 1, &he) != 0
        || hf_int (c, "decoder_attention_heads", -1, 1, &hd) != 0
        || hf_int (c, "encoder_ffn_dim", -1, 1, &fe) != 0
        || hf_int (c, "decoder_ffn_dim", -1, 1, &fd) != 0
        || hf_int (c, "max_position_embeddings", -1, 1, &maxp) != 0
        || hf_int (c, "pad_token_id", -1, 0, &pad) != 0
        || hf_int (c, "eos_token_id", -1, 0, &eos) != 0
        || hf_int (c, "decoder_start_token_id", pad, 0, &start) != 0
        || activation (c, &m->activation) != 0)
        return -1;
    if (d % 2 || d % he || d % hd)
        return ofr_errf (c->err, c->errlen, "%s: d_model %ld must be even and divisible by "
                         "the head counts (%ld, %ld)", c->cfg_path, d, he, hd);
    if (!hf_bool (c, "share_encoder_decoder_embeddings", true))
        return ofr_errf (c->err, c->errlen, "%s: separate encoder/decoder vocabularies "
                         "(share_encoder_decoder_embeddings false) are not supported", c->cfg_path);
    m->d = m->de = (int) d;
    m->heads_e = (int) he;
    m->heads = (int) hd;
    m->dh_e = (int) (d / he);
    m->dh = (int) (d / hd);
    m->ffn_e = (int) fe;
    m->ffn = (int) fd;
    m->n_enc = (int) ne;
    m->n_dec = (int) nd;
    m->post_norm = true;
    m->pos_layout = S2S_POS_MARIAN;
    m->max_pos = (int) maxp;
    m->eps = 1e-5f;
    m->src_scale = m->tgt_scale = hf_bool (c, "scale_embedding", false) ? sqrtf ((float) d) : 1.f;
    long vs, vt, vp;
    if (check_positions (c, "model.encoder.embed_positions.weight", maxp, d) != 0
        || check_positions (c, "model.decoder.embed_positions.weight", maxp, d) != 0
        || embedding (c, "model.encoder.embed_tokens.weight", d, &m->src_emb, &vs) != 0
        || embedding (c, "model.decoder.embed_tokens.weight", d, &m->tgt_emb, &vt) != 0)
        return -1;
    if (vs != vt)
        return ofr_errf (c->err, c->errlen, "%s: encoder and decoder embeddings have %ld and "
                         "%ld rows", ofr_safetensors_path (m->hf->st), vs, vt);
    if (ofr_safetensors_find (m->hf->st, "lm_head.weight")) {
        if (hf_tensor (c, "lm_head.weight", vt, d, &m->proj.w) != 0)
            return -1;
    } else
        m->proj.w = m->tgt_emb;
    m->proj.out = (int) vt;
    m->proj.in = (int) d;
    if (hf_int (c, "vocab_size", vt, 1, &vp) != 0)
        return -1;
    if (vp != vt)
        return ofr_errf (c->err, c->errlen, "%s: vocab_size %ld but model.shared.weight has "
                         "%ld rows", c->cfg_path, vp, vt);
    if (pad >= vt || eos >= vt || start >= vt)
        return ofr_errf (c->err, c->errlen, "%s: pad/eos/decoder_start ids (%ld, %ld, %ld) "
                         "outside the vocabulary of %ld", c->cfg_path, pad, eos, start, vt);
    m->enc = ofr_calloc ((size_t) ne, sizeof *m->enc);
    m->dec = ofr_calloc ((size_t) nd, sizeof *m->dec);
    if (!m->enc || !m->dec)
        return ofr_errf (c->err, c->errlen, "%s: out of memory", c->dir);
    for (int i = 0; i < m->n_enc; i++)
        if (layer (c, "encoder", i, false, &m->enc[i]) != 0)
            return -1;
    for (int i = 0; i < m->n_dec; i++)
        if (layer (c, "decoder", i, true, &m->dec[i]) != 0)
            return -1;
    if (logits_bias (c, vt) != 0 || hf_vocab_json (c, (int) vt) != 0)
        return -1;
    m->bos = (int) start;
    m->eos = (int) eos;
    m->src_eos = (int) eos;
    m->add_src_eos = true;
    m->src_bos = -1;
    m->src_unk = -1;
    for (int i = 0; i < m->src.n; i++)
        if (strcmp (m->src.tok[i], hf_str (c, "unk_token", "<unk>")) == 0)
            m->src_unk = i;
    if (m->src_unk < 0)
        return ofr_errf (c->err, c->errlen, "%s/vocab.json: no <unk> piece", c->dir);
    for (size_t i = 0; i < ofr_safetensors_count (m->hf->st); i++) {
        const ofr_st_tensor *t = ofr_safetensors_at (m->hf->st, i);
        if (!strstr (t->name, "embed_positions"))
            m->params += t->numel;
    }
    return 0;
}
