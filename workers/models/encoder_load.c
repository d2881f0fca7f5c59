/*  encoder_load.c -- tensor names of each family, shape checks, and the
    one-time packing of weights (QKV concatenated, bf16 panels).

    Tensors are used in place from the mapped safetensors file where their
    layout already suits cblas_sgemm (nn.Linear's [out][in] is B^T); only
    query/key/value are copied into one [3d][d] matrix so that a block
    needs one projection call for all three. */
#include "encoder_impl.h"
#include "../../common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    enc_model  *m;
    const char *prefix;      /* backbone prefix found in the file ("bert.") */
    char       *err;
    size_t      errlen;
} loader;

/* Tensor prefix+name with shape [d0] (d1 < 0) or [d0][d1]. */
static int
need (loader *ld, bool prefixed, const char *name, int64_t d0, int64_t d1,
      const float **out)
{
    char full[512];
    snprintf (full, sizeof full, "%s%s", prefixed ? ld->prefix : "", name);
    const ofr_safetensors *st = ld->m->st;
    if (!ofr_safetensors_find (st, full))
        return ofr_errf (ld->err, ld->errlen, "%s: missing tensor '%s'",
                         ofr_safetensors_path (st), full);
    int64_t shape[2] = { d0, d1 };
    return ofr_safetensors_expect (st, full, d1 < 0 ? 1 : 2, shape, out, ld->err,
                                   ld->errlen);
}

/* Linear layer `name`.{weight,bias} of shape [n][k]. */
static int
need_linear (loader *ld, bool prefixed, const char *name, int n, int k,
             const float **w, const float **b)
{
    char wn[512], bn[512];
    snprintf (wn, sizeof wn, "%s.weight", name);
    snprintf (bn, sizeof bn, "%s.bias", name);
    return need (ld, prefixed, wn, n, k, w) != 0 || need (ld, prefixed, bn, n, -1, b) != 0
               ? -1 : 0;
}

static int
need_norm (loader *ld, const char *name, int n, const float **g, const float **b)
{
    char gn[512], bn[512];
    snprintf (gn, sizeof gn, "%s.weight", name);
    snprintf (bn, sizeof bn, "%s.bias", name);
    return need (ld, true, gn, n, -1, g) != 0 || need (ld, true, bn, n, -1, b) != 0 ? -1 : 0;
}

static bool
has (loader *ld, bool prefixed, const char *name)
{
    char full[512];
    snprintf (full, sizeof full, "%s%s", prefixed ? ld->prefix : "", name);
    return ofr_safetensors_find (ld->m->st, full) != NULL;
}

/* HF stores these names without a prefix when a bare backbone (BertModel)
   was saved, and with one from the *ForSequenceClassification wrapper. */
static void
pick_prefix (loader *ld)
{
    static const char *prefixes[] = { "bert.", "roberta.", "electra.", "albert.",
                                      "distilbert." };
    ld->prefix = prefixes[ld->m->c.family];
    if (!has (ld, true, "embeddings.word_embeddings.weight"))
        ld->prefix = "";
}

/* DistilBERT's create_sinusoidal_embeddings: even columns sin, odd cos of
   pos / 10000^(2 * (j / 2) / dim). */
static void
sinusoids (float *out, int n_pos, int dim)
{
    for (int p = 0; p < n_pos; p++)
        for (int j = 0; j < dim; j++) {
            double angle = p / pow (10000.0, 2.0 * (j / 2) / dim);
            out[(size_t) p * dim + j] = (float) (j % 2 == 0 ? sin (angle) : cos (angle));
        }
}

static int
load_embeddings (loader *ld, float *sinus)
{
    enc_model *m = ld->m;
    const ofr_encoder_config *c = &m->c;
    enc_embeddings *e = &m->emb;
    int E = c->embedding, d = c->hidden;
    if (need (ld, true, "embeddings.word_embeddings.weight", c->vocab_size, E, &e->word))
        return -1;
    if (sinus && !has (ld, true, "embeddings.position_embeddings.weight")) {
        sinusoids (sinus, c->max_positions, E);
        e->pos = sinus;
    } else if (need (ld, true, "embeddings.position_embeddings.weight",
                     c->max_positions, E, &e->pos)) {
        return -1;
    }
    if (c->type_vocab > 0
        && need (ld, true, "embeddings.token_type_embeddings.weight", c->type_vocab, E,
                 &e->type))
        return -1;
    if (need_norm (ld, "embeddings.LayerNorm", E, &e->ln_g, &e->ln_b))
        return -1;
    if (c->family == OFR_ENC_ALBERT)
        return need_linear (ld, true, "encoder.embedding_hidden_mapping_in", d, E,
                            &e->proj_w, &e->proj_b);
    if (c->family == OFR_ENC_ELECTRA && E != d)
        return need_linear (ld, true, "embeddings_project", d, E, &e->proj_w, &e->proj_b);
    return 0;
}

/* Names of a block's parts, relative to its base ("encoder.layer.3."). */
typedef struct {
    const char *q, *k, *v, *o, *ln1, *fi, *fo, *ln2;
} block_names;

static const block_names s_bert_names = {
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
    "output.dense", "output.LayerNorm" };
static const block_names s_albert_names = {
    "attention.query", "attention.key", "attention.value", "attention.dense",
    "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm" };
static const block_names s_distil_names = {
    "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
    "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm" };

static int
load_block (loader *ld, const char *base, enc_block *b, float *qkv)
{
    const ofr_encoder_config *c = &ld->m->c;
    const block_names *nm = c->family == OFR_ENC_ALBERT ? &s_albert_names
                          : c->family == OFR_ENC_DISTILBERT ? &s_distil_names : &s_bert_names;
    int d = c->hidden, I = c->intermediate;
    char name[512];
    const char *parts[3] = { nm->q, nm->k, nm->v };
    size_t dd = (size_t) d * d;
    for (int p = 0; p < 3; p++) {
        const float *w, *bias;
        snprintf (name, sizeof name, "%s%s", base, parts[p]);
        if (need_linear (ld, true, name, d, d, &w, &bias))
            return -1;
        memcpy (qkv + p * dd, w, dd * sizeof (float));
        memcpy (qkv + 3 * dd + (size_t) p * d, bias, (size_t) d * sizeof (float));
    }
    b->wqkv = qkv;
    b->bqkv = qkv + 3 * dd;
#define LIN(part, n, k, w, bb) \
    (snprintf (name, sizeof name, "%s%s", base, nm->part), \
     need_linear (ld, true, name, n, k, &b->w, &b->bb))
#define NORM(part, g, bb) \
    (snprintf (name, sizeof name, "%s%s", base, nm->part), \
     need_norm (ld, name, d, &b->g, &b->bb))
    if (LIN (o, d, d, wo, bo) || NORM (ln1, ln1_g, ln1_b) || LIN (fi, I, d, wi, bi)
        || LIN (fo, d, I, wout, bout) || NORM (ln2, ln2_g, ln2_b))
        return -1;
#undef LIN
#undef NORM
    if (ofr_bf16_mat_pack (&b->lqkv, b->wqkv, 3 * d, d, ld->err, ld->errlen)
        || ofr_bf16_mat_pack (&b->lo, b->wo, d, d, ld->err, ld->errlen)
        || ofr_bf16_mat_pack (&b->li, b->wi, I, d, ld->err, ld->errlen)
        || ofr_bf16_mat_pack (&b->lout, b->wout, d, I, ld->err, ld->errlen))
        return -1;
    return 0;
}

static void
block_base (const ofr_encoder_config *c, int b, char *base, size_t size)
{
    if (c->family == OFR_ENC_ALBERT)
        snprintf (base, size, "encoder.albert_layer_groups.%d.albert_layers.%d.",
                  b / c->inner_layers, b % c->inner_layers);
    else if (c->family == OFR_ENC_DISTILBERT)
        snprintf (base, size, "transformer.layer.%d.", b);
    else
        snprintf (base, size, "encoder.layer.%d.", b);
}

/* Head from dense `pd` (+act) and classifier `cl`; all or nothing. */
static int
load_head (loader *ld, bool prefixed_dense, const char *pd, const char *cl, ofr_act act,
           enc_head *h)
{
    const ofr_encoder_config *c = &ld->m->c;
    memset (h, 0, sizeof *h);
    if (need_linear (ld, prefixed_dense, pd, c->hidden, c->hidden, &h->pw, &h->pb)
        || need_linear (ld, false, cl, c->num_labels, c->hidden, &h->cw, &h->cb))
        return -1;
    h->act = act;
    h->present = true;
    return 0;
}

/* The family's own final head, used for the last layer without exits.L-1. */
static int
load_final_head (loader *ld, enc_head *h)
{
    const ofr_encoder_config *c = &ld->m->c;
    switch (c->family) {
    case OFR_ENC_BERT:
        if (!has (ld, true, "pooler.dense.weight"))
            return 1;
        return load_head (ld, true, "pooler.dense", "classifier", OFR_ACT_TANH, h);
    case OFR_ENC_ALBERT:
        if (!has (ld, true, "pooler.weight"))
            return 1;
        return load_head (ld, true, "pooler", "classifier", OFR_ACT_TANH, h);
    case OFR_ENC_DISTILBERT:
        if (!has (ld, false, "pre_classifier.weight"))
            return 1;
        return load_head (ld, false, "pre_classifier", "classifier", OFR_ACT_RELU, h);
    default:
        /* RobertaClassificationHead uses tanh; ElectraClassificationHead gelu. */
        if (!has (ld, false, "classifier.dense.weight"))
            return 1;
        return load_head (ld, false, "classifier.dense", "classifier.out_proj",
                          c->family == OFR_ENC_ELECTRA ? OFR_ACT_GELU : OFR_ACT_TANH, h);
    }
}

static int
load_heads (loader *ld)
{
    enc_model *m = ld->m;
    int L = m->c.n_layers;
    for (int i = 0; i < L; i++) {
        char pd[64], cl[64], probe[96];
        snprintf (pd, sizeof pd, "exits.%d.pooler.dense", i);
        snprintf (cl, sizeof cl, "exits.%d.classifier", i);
        snprintf (probe, sizeof probe, "%s.weight", pd);
        bool any = has (ld, false, probe) || (snprintf (probe, sizeof probe, "%s.weight", cl),
                                              has (ld, false, probe));
        if (any && load_head (ld, false, pd, cl, OFR_ACT_TANH, &m->heads[i]))
            return -1;
    }
    if (m->heads[L - 1].present)
        return 0;
    int rc = load_final_head (ld, &m->heads[L - 1]);
    if (rc > 0)
        return ofr_errf (ld->err, ld->errlen, "%s: no head for the last layer (neither "
                         "exits.%d.* nor the %s classification head)",
                         ofr_safetensors_path (m->st), L - 1, m->ops.family);
    return rc;
}

void
enc_free_weights (enc_model *m)
{
    for (int b = 0; m->blocks && b < m->n_blocks; b++) {
        ofr_bf16_mat_free (&m->blocks[b].lqkv);
        ofr_bf16_mat_free (&m->blocks[b].lo);
        ofr_bf16_mat_free (&m->blocks[b].li);
        ofr_bf16_mat_free (&m->blocks[b].lout);
    }
    free (m->blocks);
    free (m->heads);
    free (m->owned);
    ofr_safetensors_destroy (&m->st);
    m->blocks = NULL;
    m->heads = NULL;
    m->owned = NULL;
}

int
enc_load_weights (enc_model *m, char *err, size_t errlen)
{
    const ofr_encoder_config *c = &m->c;
    char path[4096];
    if (snprintf (path, sizeof path, "%s/model.safetensors", m->dir) >= (int) sizeof path)
        return ofr_errf (err, errlen, "%s: path too long", m->dir);
    if (ofr_safetensors_open (path, &m->st, err, errlen) != 0)
        return -1;
    m->n_blocks = c->family == OFR_ENC_ALBERT ? c->n_groups * c->inner_layers : c->n_layers;
    size_t per_block = 3 * (size_t) c->hidden * c->hidden + 3 * (size_t) c->hidden;
    size_t sin_size = c->sinusoidal ? (size_t) c->max_positions * c->embedding : 0;
    m->blocks = ofr_calloc ((size_t) m->n_blocks, sizeof *m->blocks);
    m->heads = ofr_calloc ((size_t) c->n_layers, sizeof *m->heads);
    m->owned = ofr_calloc ((size_t) m->n_blocks * per_block + sin_size, sizeof (float));
    if (!m->blocks || !m->heads || !m->owned)
        return ofr_errf (err, errlen, "%s: out of memory for the packed weights", path);
    loader ld = { m, "", err, errlen };
    pick_prefix (&ld);
    if (load_embeddings (&ld, sin_size ? m->owned + (size_t) m->n_blocks * per_block : NULL))
        return -1;
    for (int b = 0; b < m->n_blocks; b++) {
        char base[128];
        block_base (c, b, base, sizeof base);
        if (load_block (&ld, base, &m->blocks[b], m->owned + (size_t) b * per_block))
            return -1;
    }
    return load_heads (&ld);
}

const enc_block *
enc_block_of (const enc_model *m, int layer, int inner)
{
    const ofr_encoder_config *c = &m->c;
    if (c->family != OFR_ENC_ALBERT)
        return &m->blocks[layer];
    /* AlbertTransformer: group = int(layer / (L / groups)). */
    int g = (int) ((long long) layer * c->n_groups / c->n_layers);
    return &m->blocks[g * c->inner_layers + inner];
}
