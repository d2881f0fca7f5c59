/*  seq2seq_load.c -- a CTranslate2 Transformer directory as an ofr_seq2seq.

    Facts from OpenNMT/CTranslate2 (src/models/model_factory.cc,
    src/models/transformer.cc, src/layers/transformer.cc, src/layers/
    common.cc, src/vocabulary.cc, src/models/sequence_to_sequence.cc):
    - spec "TransformerBase" has 8 heads, "TransformerBig" 16; from spec
      revision 3 the head count is an attribute (num_heads, later
      encoder/num_heads and decoder/num_heads), as are pre_norm (default
      true) and activation (default ReLU);
    - embeddings are multiplied by sqrt(d_model) unless scale_embeddings
      says otherwise; positions are sinusoidal unless
      <scope>/position_encodings/encodings holds learned ones;
    - LayerNorm epsilon is config.json's layer_norm_epsilon, else 1e-5
      with a beta and 1e-6 without;
    - a vocabulary file without the unknown token gets "<unk>" appended;
      the decoder starts from <s>, stops at </s>; no source BOS/EOS unless
      config.json's add_source_bos / add_source_eos.
    offramp's hybrid layout (docs/TRANSLATION.md "Hybrid layout"), detected
    by hybrid/projection/weight: encoder and decoder of different widths
    (each with its own heads, FFN width, embedding scale and sinusoids),
    the encoder memory projected to the decoder's width once. */
#include "s2s_impl.h"
#include "jsonlite.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
lin (const ofr_seq2seq *m, const char *scope, int out, int in, s2s_lin *l,
     char *err, size_t errlen)
{
    char name[256];
    long wd[2] = { out, in }, bd[1] = { out };
    snprintf (name, sizeof name, "%s/weight", scope);
    if (ofr_ct2_floats (m->ct2, name, 2, wd, &l->w, err, errlen) != 0)
        return -1;
    snprintf (name, sizeof name, "%s/bias", scope);
    l->b = NULL;
    if (ofr_ct2_find (m->ct2, name) && ofr_ct2_floats (m->ct2, name, 1, bd, &l->b, err, errlen) != 0)
        return -1;
    l->out = out;
    l->in = in;
    return 0;
}

static int
norm (const ofr_seq2seq *m, const char *scope, int width, s2s_ln *n, char *err, size_t errlen)
{
    char name[256];
    long d[1] = { width };
    snprintf (name, sizeof name, "%s/gamma", scope);
    if (ofr_ct2_floats (m->ct2, name, 1, d, &n->g, err, errlen) != 0)
        return -1;
    snprintf (name, sizeof name, "%s/beta", scope);
    n->b = NULL;
    if (ofr_ct2_find (m->ct2, name) && ofr_ct2_floats (m->ct2, name, 1, d, &n->b, err, errlen) != 0)
        return -1;
    return 0;
}

static int
layer (const ofr_seq2seq *m, const char *side, int i, bool dec, s2s_layer *L,
       char *err, size_t errlen)
{
    char s[160];
    int d = dec ? m->d : m->de, F = dec ? m->ffn : m->ffn_e;
#define SC(fmt) (snprintf (s, sizeof s, "%s/layer_%d/" fmt, side, i), s)
    if (norm (m, SC ("self_attention/layer_norm"), d, &L->sa_ln, err, errlen) != 0
        || lin (m, SC ("self_attention/linear_0"), 3 * d, d, &L->sa_qkv, err, errlen) != 0
        || lin (m, SC ("self_attention/linear_1"), d, d, &L->sa_out, err, errlen) != 0
        || norm (m, SC ("ffn/layer_norm"), d, &L->ff_ln, err, errlen) != 0
        || lin (m, SC ("ffn/linear_0"), F, d, &L->ff_in, err, errlen) != 0
        || lin (m, SC ("ffn/linear_1"), d, F, &L->ff_out, err, errlen) != 0)
        return -1;
    if (dec && (norm (m, SC ("attention/layer_norm"), d, &L->ca_ln, err, errlen) != 0
                || lin (m, SC ("attention/linear_0"), d, d, &L->ca_q, err, errlen) != 0
                || lin (m, SC ("attention/linear_1"), 2 * d, d, &L->ca_kv, err, errlen) != 0
                || lin (m, SC ("attention/linear_2"), d, d, &L->ca_out, err, errlen) != 0))
        return -1;
#undef SC
    return 0;
}

static int
count_layers (const ofr_seq2seq *m, const char *side)
{
    char name[160];
    int n = 0;
    for (;; n++) {
        snprintf (name, sizeof name, "%s/layer_%d/ffn/linear_0/weight", side, n);
        if (!ofr_ct2_find (m->ct2, name))
            return n;
    }
}

/* Features of other CTranslate2 specs this runtime does not implement:
   refuse rather than compute something else. */
static int
check_supported (const ofr_seq2seq *m, char *err, size_t errlen)
{
    static const char *const bad[] = {
        "relative_position", "relative_attention_bias", "layernorm_embedding",
        "embeddings_1", "project_in", "rotary", "alibi", "/q_norm", "/k_norm",
        "shared_layer_norm", "post_attention_layer_norm",
    };
    for (size_t i = 0; i < ofr_ct2_count (m->ct2); i++) {
        const char *name = ofr_ct2_at (m->ct2, i)->name;
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
            if (strstr (name, bad[k]))
                return ofr_errf (err, errlen, "model.bin: variable %s: this CTranslate2 "
                                 "feature (%s) is not supported", name, bad[k]);
    }
    return 0;
}

/* An attribute under encoder/ or the model root (older revisions). */
static int
attr (const ofr_seq2seq *m, const char *name, long dflt, long *out, char *err, size_t errlen)
{
    char scoped[96];
    snprintf (scoped, sizeof scoped, "encoder/%s", name);
    if (ofr_ct2_find (m->ct2, scoped))
        return ofr_ct2_int_attr (m->ct2, scoped, dflt, out, err, errlen);
    return ofr_ct2_int_attr (m->ct2, name, dflt, out, err, errlen);
}

static int
emb_scale (const ofr_seq2seq *m, const char *side, int width, float *scale, char *err,
           size_t errlen)
{
    char name[96];
    snprintf (name, sizeof name, "%s/scale_embeddings", side);
    const ofr_ct2_var *v = ofr_ct2_find (m->ct2, name);
    *scale = sqrtf ((float) width);
    if (!v || v->count != 1)
        return v ? ofr_errf (err, errlen, "model.bin: %s is not a scalar", name) : 0;
    if (v->dtype == OFR_CT2_I8)                     /* a flag */
        *scale = *(const int8_t *) v->data ? *scale : 1.0f;
    else if (v->dtype == OFR_CT2_F32)               /* the value itself */
        *scale = *(const float *) v->data;
    else
        return ofr_errf (err, errlen, "model.bin: %s has dtype id %d", name, (int) v->dtype);
    return 0;
}

static int
positions (const ofr_seq2seq *m, const char *side, int width, const float **pos, int *n,
           char *err, size_t errlen)
{
    char name[96];
    snprintf (name, sizeof name, "%s/position_encodings/encodings", side);
    const ofr_ct2_var *v = ofr_ct2_find (m->ct2, name);
    *pos = NULL;
    *n = 0;
    if (!v)
        return 0;                                   /* sinusoidal */
    long dims[2] = { -1, width };
    if (ofr_ct2_floats (m->ct2, name, 2, dims, pos, err, errlen) != 0)
        return -1;
    *n = (int) v->dims[0];
    return 0;
}

int
ofr_s2s_load_weights (ofr_seq2seq *m, char *err, size_t errlen)
{
    const ofr_ct2_var *e = ofr_ct2_find (m->ct2, "encoder/embeddings/weight");
    if (!e || e->rank != 2 || e->dtype != OFR_CT2_F32)
        return ofr_errf (err, errlen, "model.bin: no float32 encoder/embeddings/weight "
                         "(not a CTranslate2 Transformer encoder-decoder?)");
    m->d = m->de = (int) e->dims[1];
    m->hybrid = ofr_ct2_find (m->ct2, "hybrid/projection/weight") != NULL;
    if (m->hybrid) {
        const ofr_ct2_var *t = ofr_ct2_find (m->ct2, "decoder/embeddings/weight");
        if (!t || t->rank != 2 || t->dtype != OFR_CT2_F32)
            return ofr_errf (err, errlen, "model.bin: hybrid without a float32 "
                             "decoder/embeddings/weight");
        m->d = (int) t->dims[1];
    }
    const char *spec = ofr_ct2_spec (m->ct2);
    long heads = strcmp (spec, "TransformerBig") == 0 ? 16 : 8, pre_norm, act;
    if (check_supported (m, err, errlen) != 0
        || attr (m, "num_heads", heads, &heads, err, errlen) != 0
        || attr (m, "pre_norm", 1, &pre_norm, err, errlen) != 0
        || attr (m, "activation", S2S_RELU, &act, err, errlen) != 0)
        return -1;
    if (!pre_norm)
        return ofr_errf (err, errlen, "model.bin: post-norm Transformers are not supported");
    if (act != S2S_RELU && act != S2S_GELU_TANH && act != S2S_SWISH && act != S2S_GELU)
        return ofr_errf (err, errlen, "model.bin: activation %ld is not supported", act);
    if (heads < 1 || m->de % heads != 0)
        return ofr_errf (err, errlen, "model.bin: %ld heads do not divide d_model %d", heads, m->de);
    m->heads = m->heads_e = (int) heads;
    m->dh = m->dh_e = m->de / m->heads;
    if (m->hybrid) {
        long hd = heads;
        if (ofr_ct2_int_attr (m->ct2, "decoder/num_heads", heads, &hd, err, errlen) != 0)
            return -1;
        if (hd < 1 || m->d % hd != 0)
            return ofr_errf (err, errlen, "model.bin: %ld decoder heads do not divide the "
                             "decoder width %d", hd, m->d);
        m->heads = (int) hd;
        m->dh = m->d / m->heads;
    }
    m->activation = (int) act;
    const ofr_ct2_var *f = ofr_ct2_find (m->ct2, "encoder/layer_0/ffn/linear_0/weight");
    m->ffn = m->ffn_e = f && f->rank == 2 ? (int) f->dims[0] : 0;
    const ofr_ct2_var *fd = ofr_ct2_find (m->ct2, "decoder/layer_0/ffn/linear_0/weight");
    if (m->hybrid)
        m->ffn = fd && fd->rank == 2 ? (int) fd->dims[0] : 0;
    m->n_enc = count_layers (m, "encoder");
    m->n_dec = count_layers (m, "decoder");
    if (m->n_enc < 1 || m->n_dec < 1 || m->ffn < 1 || m->ffn_e < 1)
        return ofr_errf (err, errlen, "model.bin: no encoder or decoder layers found");
    long ed[2] = { -1, m->de }, dd[2] = { -1, m->d };
    if (ofr_ct2_floats (m->ct2, "encoder/embeddings/weight", 2, ed, &m->src_emb, err, errlen) != 0
        || ofr_ct2_floats (m->ct2, "decoder/embeddings/weight", 2, dd, &m->tgt_emb, err, errlen) != 0
        || emb_scale (m, "encoder", m->de, &m->src_scale, err, errlen) != 0
        || emb_scale (m, "decoder", m->d, &m->tgt_scale, err, errlen) != 0
        || positions (m, "encoder", m->de, &m->src_pos, &m->n_src_pos, err, errlen) != 0
        || positions (m, "decoder", m->d, &m->tgt_pos, &m->n_tgt_pos, err, errlen) != 0)
        return -1;
    if (m->hybrid && lin (m, "hybrid/projection", m->d, m->de, &m->hproj, err, errlen) != 0)
        return -1;
    m->enc = ofr_calloc ((size_t) m->n_enc, sizeof *m->enc);
    m->dec = ofr_calloc ((size_t) m->n_dec, sizeof *m->dec);
    if (!m->enc || !m->dec)
        return ofr_errf (err, errlen, "out of memory");
    for (int i = 0; i < m->n_enc; i++)
        if (layer (m, "encoder", i, false, &m->enc[i], err, errlen) != 0)
            return -1;
    for (int i = 0; i < m->n_dec; i++)
        if (layer (m, "decoder", i, true, &m->dec[i], err, errlen) != 0)
            return -1;
    const ofr_ct2_var *t = ofr_ct2_find (m->ct2, "decoder/embeddings/weight");
    if (norm (m, "encoder/layer_norm", m->de, &m->enc_norm, err, errlen) != 0
        || norm (m, "decoder/layer_norm", m->d, &m->dec_norm, err, errlen) != 0
        || lin (m, "decoder/projection", (int) t->dims[0], m->d, &m->proj, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < ofr_ct2_count (m->ct2); i++)
        if (ofr_ct2_at (m->ct2, i)->dtype == OFR_CT2_F32 && ofr_ct2_at (m->ct2, i)->rank > 0)
            m->params += ofr_ct2_at (m->ct2, i)->count;
    m->eps = m->enc_norm.b ? 1e-5f : 1e-6f;
    return 0;
}
