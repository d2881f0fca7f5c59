/*  encoder.c -- the encoder as an ofr_model: opening, batches, layers run
    on the active rows, exit heads (see encoder.h). */
#include "encoder_impl.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../plugins/offramp_plugin.h"

#include "../text/bpe_bytes.h"
#include "../text/unigram.h"
#include "../text/wordpiece.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_family_names[] = { "bert", "roberta", "electra", "albert",
                                        "distilbert" };

static void enc_destroy (ofr_model *base);

static int
enc_n_layers (const ofr_model *base)
{
    return ((const enc_model *) base)->c.n_layers;
}

static int
enc_n_outputs (const ofr_model *base)
{
    return ((const enc_model *) base)->c.num_labels;
}

static int
enc_hidden_dim (const ofr_model *base)
{
    return ((const enc_model *) base)->c.hidden;
}

/* ---- batches ------------------------------------------------------------ */

static void
enc_batch_end (ofr_mbatch *mb)
{
    if (!mb)
        return;
    free (mb->len);
    free (mb->off);
    free (mb->H);
    free (mb->pooled_layer);
    free (mb->pooled);
    free (mb->X);
    free (mb->QKV);
    free (mb->C);
    free (mb->Y);
    free (mb->F);
    free (mb->S);
    free (mb->glen);
    free (mb->grow);
    free (mb->mark);
    free (mb->lp);
    free (mb->head_tmp);
    free (mb);
}

/* Largest bf16 scratch any projection of a T-token group needs. */
static size_t
lowp_scratch (const enc_model *m, int T)
{
    size_t need = 0;
    for (int b = 0; b < m->n_blocks; b++) {
        const enc_block *bl = &m->blocks[b];
        const ofr_bf16_mat *mats[4] = { &bl->lqkv, &bl->lo, &bl->li, &bl->lout };
        for (int i = 0; i < 4; i++) {
            size_t s = ofr_bf16_gemm_scratch (T, mats[i]);
            need = s > need ? s : need;
        }
    }
    return (need + 63) / 64 * 64;
}

/* Buffers for n rows of lens[] tokens; every later call works inside them. */
static int
batch_alloc (enc_model *m, const int *lens, int n, ofr_mbatch **out, char *err,
             size_t errlen)
{
    const ofr_encoder_config *c = &m->c;
    size_t T = 0, maxlen = 0;
    for (int i = 0; i < n; i++) {
        T += (size_t) lens[i];
        maxlen = (size_t) lens[i] > maxlen ? (size_t) lens[i] : maxlen;
    }
    if (T > (size_t) (INT32_MAX / 4))
        return ofr_errf (err, errlen, "model %s: batch of %zu tokens is too large",
                         m->base.name, T);
    size_t d = (size_t) c->hidden;
    ofr_mbatch *mb = ofr_calloc (1, sizeof *mb);
    if (!mb)
        return ofr_errf (err, errlen, "model %s: out of memory", m->base.name);
    mb->m = m;
    mb->n = n;
    mb->T = (int) T;
    mb->len = ofr_calloc ((size_t) n, sizeof (int));
    mb->off = ofr_calloc ((size_t) n, sizeof (int));
    mb->glen = ofr_calloc ((size_t) n, sizeof (int));
    mb->grow = ofr_calloc ((size_t) n, sizeof (int));
    mb->mark = ofr_calloc ((size_t) n, 1);
    mb->pooled_layer = ofr_calloc ((size_t) n, sizeof (int));
    mb->pooled = ofr_calloc ((size_t) n * d, sizeof (float));
    mb->H = ofr_calloc (T * d, sizeof (float));
    mb->X = ofr_calloc (T * d, sizeof (float));
    mb->QKV = ofr_calloc (T * 3 * d, sizeof (float));
    mb->C = ofr_calloc (T * d, sizeof (float));
    mb->Y = ofr_calloc (T * d, sizeof (float));
    mb->F = ofr_calloc (T * (size_t) c->intermediate, sizeof (float));
    mb->S = ofr_calloc (maxlen * maxlen, sizeof (float));
    mb->head_tmp = ofr_calloc (d, sizeof (float));
    mb->lp_size = lowp_scratch (m, (int) T);
    mb->lp = aligned_alloc (64, mb->lp_size ? mb->lp_size : 64);
    if (!mb->len || !mb->off || !mb->glen || !mb->grow || !mb->mark || !mb->pooled_layer
        || !mb->pooled || !mb->H || !mb->X || !mb->QKV || !mb->C || !mb->Y || !mb->F
        || !mb->S || !mb->head_tmp || !mb->lp) {
        enc_batch_end (mb);
        return ofr_errf (err, errlen, "model %s: out of memory for a batch of %d rows, "
                         "%zu tokens", m->base.name, n, T);
    }
    int off = 0;
    for (int i = 0; i < n; i++) {
        mb->len[i] = lens[i];
        mb->off[i] = off;
        mb->pooled_layer[i] = -2;
        off += lens[i];
    }
    mb->cur_layer = -1;
    *out = mb;
    return 0;
}

static int
check_ids (const enc_model *m, const int32_t *ids, const int32_t *types,
           const int *lens, int n, char *err, size_t errlen)
{
    const ofr_encoder_config *c = &m->c;
    if (n < 1)
        return ofr_errf (err, errlen, "model %s: empty batch", m->base.name);
    size_t t = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > c->max_tokens)
            return ofr_errf (err, errlen, "model %s: row %d has %d tokens (1..%d allowed)",
                             m->base.name, i, lens[i], c->max_tokens);
        for (int j = 0; j < lens[i]; j++, t++) {
            if (ids[t] < 0 || ids[t] >= c->vocab_size)
                return ofr_errf (err, errlen, "model %s: row %d token %d: id %ld outside "
                                 "the vocabulary [0, %d)", m->base.name, i, j,
                                 (long) ids[t], c->vocab_size);
            int tv = c->type_vocab > 0 ? c->type_vocab : 1;
            if (types && (types[t] < 0 || types[t] >= tv))
                return ofr_errf (err, errlen, "model %s: row %d token %d: token type %ld "
                                 "outside [0, %d)", m->base.name, i, j, (long) types[t], tv);
        }
    }
    return 0;
}

int
ofr_encoder_batch_begin_ids (ofr_model *base, const int32_t *ids, const int32_t *types,
                             const int *lens, int n, ofr_mbatch **out, char *err,
                             size_t errlen)
{
    enc_model *m = (enc_model *) base;
    if (check_ids (m, ids, types, lens, n, err, errlen) != 0)
        return -1;
    ofr_mbatch *mb = NULL;
    if (batch_alloc (m, lens, n, &mb, err, errlen) != 0)
        return -1;
    /* The embedding stage of a row needs [len][E] before its projection;
       F ([T][I]) is free until the first layer runs. */
    size_t E = (size_t) m->c.embedding;
    float *tmp = NULL;
    if (m->emb.proj_w) {
        tmp = (size_t) mb->T * E <= (size_t) mb->T * (size_t) m->c.intermediate
                  ? mb->F : ofr_calloc ((size_t) mb->T * E, sizeof (float));
        if (!tmp) {
            enc_batch_end (mb);
            return ofr_errf (err, errlen, "model %s: out of memory", base->name);
        }
    }
    for (int i = 0; i < n; i++) {
        size_t o = (size_t) mb->off[i];
        enc_embed_row (m, ids + o, types ? types + o : NULL, lens[i],
                       mb->H + o * (size_t) m->c.hidden, tmp);
    }
    if (tmp && tmp != mb->F)
        free (tmp);
    *out = mb;
    return 0;
}

/* HF truncate_sequences, strategy longest_first (as wordpiece.c): the
   longer side loses the difference, the rest is shared with the second
   sequence taking the larger half. */
static void
truncate_longest_first (size_t *na, size_t *nb, size_t budget)
{
    if (*na + *nb <= budget)
        return;
    size_t remove = *na + *nb - budget;
    size_t diff = *na > *nb ? *na - *nb : *nb - *na;
    size_t first = diff < remove ? diff : remove, second = remove - first;
    if (*na > *nb) {
        *na -= first + second / 2;
        *nb -= second - second / 2;
    } else {
        *na -= second / 2;
        *nb -= first + second - second / 2;
    }
}

/*  One example through the unigram tokenizer: [CLS] a [SEP] (b [SEP]), as
    ALBERT's TemplateProcessing, truncated longest-first to max tokens,
    written at ids/types (room for max). Returns the length or -1. */
static int
encode_unigram (const enc_model *m, const char *a, const char *b, int max, int32_t *ids,
                int32_t *types, char *err, size_t errlen)
{
    int specials = b ? 3 : 2;
    if (max < specials)
        return ofr_errf (err, errlen, "model %s: %d tokens leave no room for the special "
                         "tokens", m->base.name, max);
    ofr_wp_ids ia = { 0 }, ib = { 0 };
    int rc = ofr_unigram_tokenize (m->ug, a, &ia, err, errlen);
    if (rc == 0 && b)
        rc = ofr_unigram_tokenize (m->ug, b, &ib, err, errlen);
    if (rc == 0) {
        size_t na = ia.len, nb = ib.len, k = 0;
        truncate_longest_first (&na, &nb, (size_t) (max - specials));
        ids[k] = m->cls_id, types[k++] = 0;
        for (size_t i = 0; i < na; i++)
            ids[k] = ia.v[i], types[k++] = 0;
        ids[k] = m->sep_id, types[k++] = 0;
        for (size_t i = 0; b && i < nb; i++)
            ids[k] = ib.v[i], types[k++] = 1;
        if (b)
            ids[k] = m->sep_id, types[k++] = 1;
        rc = (int) k;
    }
    ofr_wp_ids_free (&ia);
    ofr_wp_ids_free (&ib);
    return rc;
}

/*  Text rows: encode each example ([CLS] a [SEP] (b [SEP]), truncated
    longest-first to the model's max_tokens) into one id stack. */
static int
enc_batch_begin (ofr_model *base, const ofr_example *ex, int n, ofr_mbatch **out,
                 char *err, size_t errlen)
{
    enc_model *m = (enc_model *) base;
    if (!m->wp && !m->ug && !m->bpe)
        return ofr_errf (err, errlen, "model %s: opened without a tokenizer", base->name);
    if (n <= 0)
        return ofr_errf (err, errlen, "model %s: empty batch", base->name);
    size_t cap = (size_t) n * (size_t) m->c.max_tokens;
    int32_t *ids = ofr_calloc (cap, sizeof *ids);
    int32_t *types = ofr_calloc (cap, sizeof *types);
    int *lens = ofr_calloc ((size_t) n, sizeof *lens);
    ofr_wp_encoding enc = { 0 };
    int rc = -1;
    if (!ids || !types || !lens) {
        ofr_errf (err, errlen, "model %s: out of memory", base->name);
        goto out;
    }
    size_t t = 0;
    for (int i = 0; i < n; i++) {
        if (!ex[i].text_a) {
            ofr_errf (err, errlen, "model %s: example %s has no text", base->name,
                      ex[i].id ? ex[i].id : "?");
            goto out;
        }
        if (m->ug) {
            int len = encode_unigram (m, ex[i].text_a, ex[i].text_b, m->c.max_tokens,
                                      ids + t, types + t, err, errlen);
            if (len < 0)
                goto out;
            lens[i] = len;
            t += (size_t) len;
            continue;
        }
        if (m->bpe ? ofr_bpe_bytes_encode_pair (m->bpe, ex[i].text_a, ex[i].text_b,
                                                m->c.max_tokens, &enc, err, errlen) != 0
                   : ofr_wordpiece_encode (m->wp, ex[i].text_a, ex[i].text_b,
                                           m->c.max_tokens, &enc, err, errlen) != 0)
            goto out;
        memcpy (ids + t, enc.ids, (size_t) enc.len * sizeof *ids);
        memcpy (types + t, enc.type_ids, (size_t) enc.len * sizeof *types);
        lens[i] = enc.len;
        t += (size_t) enc.len;
    }
    rc = ofr_encoder_batch_begin_ids (base, ids, types, lens, n, out, err, errlen);
out:
    ofr_wordpiece_encoding_free (&enc);
    free (ids);
    free (types);
    free (lens);
    return rc;
}

/* ---- layers ------------------------------------------------------------- */

/* Copy the tokens of rows grow[0..k) into X (stacked) and note lengths. */
static int
gather (ofr_mbatch *mb, int k)
{
    size_t d = (size_t) mb->m->c.hidden, t = 0;
    for (int i = 0; i < k; i++) {
        int r = mb->grow[i];
        mb->glen[i] = mb->len[r];
        memcpy (mb->X + t * d, mb->H + (size_t) mb->off[r] * d,
                (size_t) mb->len[r] * d * sizeof (float));
        t += (size_t) mb->len[r];
    }
    return (int) t;
}

static void
scatter (ofr_mbatch *mb, int k)
{
    size_t d = (size_t) mb->m->c.hidden, t = 0;
    for (int i = 0; i < k; i++) {
        int r = mb->grow[i];
        memcpy (mb->H + (size_t) mb->off[r] * d, mb->X + t * d,
                (size_t) mb->len[r] * d * sizeof (float));
        mb->pooled_layer[r] = -2;
        t += (size_t) mb->len[r];
    }
}

static int
check_rows (ofr_mbatch *mb, const int *rows, int n, char *err, size_t errlen)
{
    memset (mb->mark, 0, (size_t) mb->n);
    for (int i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= mb->n)
            return ofr_errf (err, errlen, "model %s: row %d out of range [0, %d)",
                             mb->m->base.name, rows[i], mb->n);
        if (mb->mark[rows[i]]++)
            return ofr_errf (err, errlen, "model %s: row %d listed twice",
                             mb->m->base.name, rows[i]);
    }
    return 0;
}

static int
enc_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp, int n,
               char *err, size_t errlen)
{
    enc_model *m = mb->m;
    if (layer < 0 || layer >= m->c.n_layers)
        return ofr_errf (err, errlen, "model %s: layer %d out of range [0, %d)",
                         m->base.name, layer, m->c.n_layers);
    if (n < 0 || n > mb->n || check_rows (mb, rows, n, err, errlen) != 0)
        return n < 0 || n > mb->n
                   ? ofr_errf (err, errlen, "model %s: %d rows for a batch of %d",
                               m->base.name, n, mb->n)
                   : -1;
    mb->cur_layer = layer;
    /* Full-precision rows first, then reduced-precision ones: each group is
       one stack of tokens, so one sgemm per projection per group. */
    for (int pass = 0; pass < 2; pass++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if ((lowp && lowp[i]) == (pass == 1))
                mb->grow[k++] = rows[i];
        if (k == 0)
            continue;
        int T = gather (mb, k);
        for (int j = 0; j < m->c.inner_layers; j++)
            enc_block_forward (mb, enc_block_of (m, layer, j), T, k, pass == 1);
        scatter (mb, k);
    }
    return 0;
}

/* ---- heads -------------------------------------------------------------- */

/* act(dense(h_first_token)) of `layer`'s head for row, cached per row. */
static const float *
pooled (ofr_mbatch *mb, int layer, int row)
{
    const enc_head *h = &mb->m->heads[layer];
    int d = mb->m->c.hidden;
    float *p = mb->pooled + (size_t) row * d;
    if (mb->pooled_layer[row] == layer)
        return p;
    const float *cls = mb->H + (size_t) mb->off[row] * d;
    memcpy (p, h->pb, (size_t) d * sizeof (float));
    cblas_sgemv (CblasRowMajor, CblasNoTrans, d, d, 1.0f, h->pw, d, cls, 1, 1.0f, p, 1);
    enc_activate (h->act, p, (size_t) d);
    mb->pooled_layer[row] = layer;
    return p;
}

int
ofr_encoder_exit_logits (ofr_mbatch *mb, int layer, int row, float *logits)
{
    const enc_model *m = mb->m;
    if (layer < 0 || layer >= m->c.n_layers || row < 0 || row >= mb->n
        || !m->heads[layer].present)
        return -1;
    const enc_head *h = &m->heads[layer];
    int d = m->c.hidden, K = m->c.num_labels;
    const float *p = pooled (mb, layer, row);
    memcpy (logits, h->cb, (size_t) K * sizeof (float));
    cblas_sgemv (CblasRowMajor, CblasNoTrans, K, d, 1.0f, h->cw, d, p, 1, 1.0f, logits, 1);
    return 0;
}

static int
enc_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    if (ofr_encoder_exit_logits (mb, layer, row, probs) != 0)
        return -1;
    int K = mb->m->c.num_labels;
    if (mb->m->c.regression)
        return 0;
    float mx = probs[0];
    for (int c = 1; c < K; c++)
        mx = probs[c] > mx ? probs[c] : mx;
    double sum = 0;
    for (int c = 0; c < K; c++)
        sum += (probs[c] = expf (probs[c] - mx));
    for (int c = 0; c < K; c++)
        probs[c] = (float) (probs[c] / sum);
    return 0;
}

/*  The pooled state plugins read is the head's input after its dense +
    tanh (what exit-level components were trained on, CHECKPOINTS.md), at
    the layer just run; the raw first-token state where there is no head
    (before the first layer, or a layer without exit). */
static const float *
enc_hidden (ofr_mbatch *mb, int row)
{
    if (row < 0 || row >= mb->n)
        return NULL;
    int l = mb->cur_layer;
    if (l >= 0 && mb->m->heads[l].present)
        return pooled (mb, l, row);
    return mb->H + (size_t) mb->off[row] * mb->m->c.hidden;
}

static const float *
enc_raw_hidden (ofr_mbatch *mb, int row)
{
    if (row < 0 || row >= mb->n)
        return NULL;
    return mb->H + (size_t) mb->off[row] * mb->m->c.hidden;
}

const float *
ofr_encoder_token_states (ofr_mbatch *mb, int row, int *n_tokens)
{
    if (row < 0 || row >= mb->n)
        return NULL;
    if (n_tokens)
        *n_tokens = mb->len[row];
    return mb->H + (size_t) mb->off[row] * mb->m->c.hidden;
}

static double
enc_layer_flops (ofr_mbatch *mb, int layer, int row)
{
    if (row < 0 || row >= mb->n)
        return 0;
    ofr_encoder_flops f;
    ofr_encoder_layer_flops (&mb->m->c, layer, mb->len[row], &f);
    return f.total;
}

static double
enc_head_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) row;
    const enc_model *m = mb->m;
    if (layer < 0 || layer >= m->c.n_layers || !m->heads[layer].present)
        return 0;
    return ofr_encoder_head_flops (&m->c, m->heads[layer].act);
}

static const float *
enc_aux_tensor (const ofr_model *base, const char *name, size_t *n)
{
    const enc_model *m = (const enc_model *) base;
    const ofr_st_tensor *t = name ? ofr_safetensors_find (m->st, name) : NULL;
    if (n)
        *n = t ? t->numel : 0;
    return t ? t->data : NULL;
}

/* ---- opening ------------------------------------------------------------ */

static const ofr_model_ops s_encoder_ops = {
    .family = "bert",
    .kind = OFR_KIND_ENCODER,
    .n_layers = enc_n_layers,
    .n_outputs = enc_n_outputs,
    .hidden_dim = enc_hidden_dim,
    .destroy = enc_destroy,
    .batch_begin = enc_batch_begin,
    .batch_end = enc_batch_end,
    .run_layer = enc_run_layer,
    .exit_probs = enc_exit_probs,
    .hidden = enc_hidden,
    .layer_flops = enc_layer_flops,
    .head_flops = enc_head_flops,
    /* FLOP convention: a bf16 multiply-add moves half the bytes and runs at
       twice the fp32 rate on AVX512-BF16 (docs/FLOPS.md). */
    .lowp_cost = 0.5,
    .aux_tensor = enc_aux_tensor,
    .raw_hidden = enc_raw_hidden,
};

static void
enc_destroy (ofr_model *base)
{
    enc_model *m = (enc_model *) base;
    if (!m)
        return;
    enc_free_weights (m);
    ofr_wordpiece_destroy (&m->wp);
    ofr_unigram_destroy (&m->ug);
    ofr_bpe_bytes_destroy (&m->bpe);
    free (m->dir);
    free (m->base.name);
    free (m);
}

bool
ofr_encoder_is (const ofr_model *m)
{
    return m && m->ops && m->ops->destroy == enc_destroy;
}

const ofr_encoder_config *
ofr_encoder_config_of (const ofr_model *m)
{
    return ofr_encoder_is (m) ? &((const enc_model *) m)->c : NULL;
}

int
ofr_encoder_set_max_tokens (ofr_model *base, int n)
{
    if (!ofr_encoder_is (base))
        return -1;
    enc_model *m = (enc_model *) base;
    if (n < 1 || n > m->c.max_positions - m->c.pos_offset)
        return -1;
    m->c.max_tokens = n;
    return 0;
}

bool
ofr_encoder_has_exit (const ofr_model *base, int layer)
{
    const enc_model *m = (const enc_model *) base;
    return ofr_encoder_is (base) && layer >= 0 && layer < m->c.n_layers
           && m->heads[layer].present;
}

const char *
ofr_encoder_lowp_backend (void)
{
    return ofr_bf16_backend ();
}


static int
open_common (const char *dir, enc_model **out, char *err, size_t errlen)
{
    enc_model *m = ofr_calloc (1, sizeof *m);
    if (!m)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    m->ops = s_encoder_ops;
    m->base.ops = &m->ops;
    m->dir = ofr_strdup (dir);
    m->base.name = ofr_path_basename (dir);
    if (!m->dir || !m->base.name) {
        enc_destroy (&m->base);
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    }
    if (ofr_encoder_config_read (dir, &m->c, err, errlen) != 0) {
        enc_destroy (&m->base);
        return -1;
    }
    m->ops.family = s_family_names[m->c.family];
    if (enc_load_weights (m, err, errlen) != 0) {
        enc_destroy (&m->base);
        return -1;
    }
    *out = m;
    return 0;
}

int
ofr_encoder_open_ids (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    enc_model *m;
    if (open_common (dir, &m, err, errlen) != 0)
        return -1;
    *out = &m->base;
    return 0;
}

/*  WordPiece from a tokenizer.json model (BERT's fast-tokenizer file):
    vocab {token: id} with ids 0..n-1, BertNormalizer's lowercase /
    strip_accents / handle_chinese_chars, "##" continuations. */
static int
load_wordpiece_json (enc_model *m, const char *path, json_t *root, char *err,
                     size_t errlen)
{
    json_t *model = json_object_get (root, "model");
    json_t *vocab = json_object_get (model, "vocab");
    json_t *prefix = json_object_get (model, "continuing_subword_prefix");
    if (!json_is_object (vocab) || json_object_size (vocab) == 0)
        return ofr_errf (err, errlen, "%s: model.vocab must be a non-empty object "
                         "{token: id}", path);
    if (prefix && !json_is_null (prefix)
        && (!json_is_string (prefix) || strcmp (json_string_value (prefix), "##") != 0))
        return ofr_errf (err, errlen, "%s: model.continuing_subword_prefix must be \"##\"",
                         path);
    ofr_wordpiece_params wpp = ofr_wordpiece_default_params ();
    json_t *norm = json_object_get (root, "normalizer");
    json_t *v = json_object_get (norm, "type");
    if (json_is_string (v) && strcmp (json_string_value (v), "BertNormalizer") == 0) {
        if (json_is_boolean (v = json_object_get (norm, "lowercase")))
            wpp.lowercase = json_is_true (v);
        if (json_is_boolean (v = json_object_get (norm, "strip_accents")))
            wpp.strip_accents = json_is_true (v);
        if (json_is_boolean (v = json_object_get (norm, "handle_chinese_chars")))
            wpp.tokenize_chinese_chars = json_is_true (v);
    } else if (norm && !json_is_null (norm)) {
        return ofr_errf (err, errlen, "%s: normalizer of a WordPiece model must be "
                         "BertNormalizer", path);
    }
    if (json_is_integer (v = json_object_get (model, "max_input_chars_per_word")))
        wpp.max_input_chars_per_word = (int) json_integer_value (v);
    size_t n = json_object_size (vocab);
    const char **tok = ofr_calloc (n, sizeof *tok);
    if (!tok)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    const char *key;
    json_t *id;
    int rc = 0;
    json_object_foreach (vocab, key, id) {
        if (!json_is_integer (id) || json_integer_value (id) < 0
            || (size_t) json_integer_value (id) >= n) {
            rc = ofr_errf (err, errlen, "%s: model.vocab[\"%s\"]: id must be an integer in "
                           "[0, %zu)", path, key, n);
            break;
        }
        size_t i = (size_t) json_integer_value (id);
        if (tok[i]) {
            rc = ofr_errf (err, errlen, "%s: model.vocab: id %zu given to \"%s\" and "
                           "\"%s\"", path, i, tok[i], key);
            break;
        }
        tok[i] = key;
    }
    if (rc == 0)
        rc = ofr_wordpiece_load_tokens (path, tok, (int) n, &wpp, &m->wp, err, errlen);
    free (tok);
    return rc;
}

/*  dir/tokenizer.json: a Unigram model (ALBERT), a WordPiece one (BERT) or
    a byte-level BPE one (RoBERTa: <s> a </s></s> b </s>). */
static int
load_tokenizer_json (enc_model *m, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file (path, 0, &je);
    if (!root)
        return je.line > 0 ? ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text)
                           : ofr_errf (err, errlen, "%s: %s", path, je.text);
    json_t *t = json_object_get (json_object_get (root, "model"), "type");
    const char *type = json_is_string (t) ? json_string_value (t) : "(none)";
    int rc;
    if (strcmp (type, "WordPiece") == 0) {
        rc = load_wordpiece_json (m, path, root, err, errlen);
    } else if (strcmp (type, "Unigram") == 0) {
        json_decref (root);
        root = NULL;                 /* unigram.c reads the file itself */
        rc = ofr_unigram_load (path, &m->ug, err, errlen);
        if (rc == 0 && (ofr_unigram_cls_id (m->ug) < 0 || ofr_unigram_sep_id (m->ug) < 0))
            rc = ofr_errf (err, errlen, "%s: no [CLS]/[SEP] special tokens (post_processor "
                           "or vocabulary)", path);
        if (rc == 0) {
            m->cls_id = ofr_unigram_cls_id (m->ug);
            m->sep_id = ofr_unigram_sep_id (m->ug);
        }
    } else if (strcmp (type, "BPE") == 0 && m->c.family == OFR_ENC_ROBERTA) {
        json_decref (root);
        root = NULL;                 /* bpe_bytes.c reads the file itself */
        rc = ofr_bpe_bytes_load (path, &m->bpe, err, errlen);
        if (rc == 0 && (ofr_bpe_bytes_cls_id (m->bpe) < 0 || ofr_bpe_bytes_sep_id (m->bpe) < 0))
            rc = ofr_errf (err, errlen, "%s: no <s>/</s> special tokens (post_processor "
                           "RobertaProcessing)", path);
        if (rc == 0) {
            m->cls_id = ofr_bpe_bytes_cls_id (m->bpe);
            m->sep_id = ofr_bpe_bytes_sep_id (m->bpe);
        }
    } else {
        rc = ofr_errf (err, errlen, "%s: model.type \"%s\" is not supported for model_type "
                       "%s (WordPiece, Unigram; byte-level BPE for roberta; other BPE "
                       "checkpoints run with token ids only)", path, type,
                       s_family_names[m->c.family]);
    }
    json_decref (root);
    return rc;
}

/*  The tokenizer: dir/vocab.txt (WordPiece), else dir/tokenizer.json
    (Unigram, WordPiece, or byte-level BPE for roberta). For vocab.txt, lower-casing follows
    tokenizer_config.json's do_lower_case when present, else the uncased
    default of the BERT checkpoints offramp trains. The vocabulary must
    have config.json's vocab_size entries. */
static int
load_tokenizer (enc_model *m, char *err, size_t errlen)
{
    ofr_buf p, tj;
    ofr_buf_init (&p);
    ofr_buf_init (&tj);
    ofr_buf_printf (&p, "%s/vocab.txt", m->dir);
    ofr_buf_printf (&tj, "%s/tokenizer.json", m->dir);
    if (p.oom || tj.oom) {
        ofr_buf_free (&p);
        ofr_buf_free (&tj);
        return ofr_errf (err, errlen, "out of memory");
    }
    int rc = 0;
    const char *used = p.data;
    if (access (p.data, R_OK) == 0) {
        ofr_wordpiece_params wpp = ofr_wordpiece_default_params ();
        ofr_buf tc;
        ofr_buf_init (&tc);
        ofr_buf_printf (&tc, "%s/tokenizer_config.json", m->dir);
        json_t *cfg = tc.oom ? NULL : json_load_file (tc.data, 0, NULL);
        json_t *lower = cfg ? json_object_get (cfg, "do_lower_case") : NULL;
        if (json_is_boolean (lower))
            wpp.lowercase = json_is_true (lower);
        json_decref (cfg);
        ofr_buf_free (&tc);
        rc = ofr_wordpiece_load (p.data, &wpp, &m->wp, err, errlen);
    } else if (access (tj.data, R_OK) == 0) {
        used = tj.data;
        rc = load_tokenizer_json (m, tj.data, err, errlen);
    } else {
        rc = ofr_errf (err, errlen, "model %s: no tokenizer: neither %s nor %s is readable "
                       "(%s)", m->base.name, p.data, tj.data, strerror (errno));
    }
    int n = rc != 0 ? 0 : m->wp ? ofr_wordpiece_vocab_size (m->wp)
                      : m->ug ? ofr_unigram_vocab_size (m->ug)
                              : ofr_bpe_bytes_vocab_size (m->bpe);
    if (rc == 0 && n != m->c.vocab_size)
        rc = ofr_errf (err, errlen, "model %s: %s has %d tokens, config.json vocab_size is %d",
                       m->base.name, used, n, m->c.vocab_size);
    ofr_buf_free (&p);
    ofr_buf_free (&tj);
    return rc;
}

int
ofr_encoder_open (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    enc_model *m;
    if (open_common (dir, &m, err, errlen) != 0)
        return -1;
    if (load_tokenizer (m, err, errlen) != 0) {
        enc_destroy (&m->base);
        return -1;
    }
    *out = &m->base;
    return 0;
}
