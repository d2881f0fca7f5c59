/*  gptx.c -- GPT-2 and GPT-NeoX checkpoints (see gptx.h). */
#include "gptx.h"
#include "safetensors.h"
#include "hf_llama.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
ofr_gptx_probe (const char *dir)
{
    char *cfg = ofr_path_join (dir, "config.json");
    json_t *root = cfg ? json_load_file (cfg, 0, NULL) : NULL;
    const char *mt = json_string_value (json_object_get (root, "model_type"));
    const char *kind = !mt ? NULL : !strcmp (mt, "gpt2") ? "gpt2"
                     : !strcmp (mt, "gpt_neox") ? "gpt_neox" : NULL;
    json_decref (root);
    free (cfg);
    return kind;
}

/* ---- config.json -------------------------------------------------------- */

typedef struct {
    json_t     *root;
    const char *path;
    char       *err;
    size_t      errlen;
} cfg_ctx;

/* Integer key >= lo; def < 0: required. */
static int
cfg_int (cfg_ctx *c, const char *key, long long def, long long lo, int *out)
{
    json_t *v = json_object_get (c->root, key);
    if (!v || json_is_null (v)) {
        if (def < 0)
            return ofr_errf (c->err, c->errlen, "%s: missing \"%s\"", c->path, key);
        *out = (int) def;
        return 0;
    }
    if (!json_is_integer (v) || json_integer_value (v) < lo
        || json_integer_value (v) > INT32_MAX)
        return ofr_errf (c->err, c->errlen, "%s: \"%s\" must be an integer >= %lld",
                         c->path, key, lo);
    *out = (int) json_integer_value (v);
    return 0;
}

static int
cfg_real (cfg_ctx *c, const char *key, double def, double *out)
{
    json_t *v = json_object_get (c->root, key);
    if (!v || json_is_null (v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number (v) || !(json_number_value (v) > 0))
        return ofr_errf (c->err, c->errlen, "%s: \"%s\" must be a positive number",
                         c->path, key);
    *out = json_number_value (v);
    return 0;
}

static int
cfg_token (json_t *root, const char *key, int def)
{
    json_t *v = json_object_get (root, key);
    if (json_is_array (v))
        v = json_array_get (v, 0);
    if (!v)
        return def;
    return json_is_integer (v) && json_integer_value (v) >= 0
        && json_integer_value (v) <= INT32_MAX ? (int) json_integer_value (v) : -1;
}

static int
cfg_act (cfg_ctx *c, const char *key, const char *def, int *act)
{
    const char *a = json_string_value (json_object_get (c->root, key));
    if (!a)
        a = def;
    if (!strcmp (a, "gelu"))
        *act = OFR_MLP_GELU;
    else if (!strcmp (a, "gelu_new") || !strcmp (a, "gelu_pytorch_tanh")
             || !strcmp (a, "gelu_fast"))
        *act = OFR_MLP_GELU_TANH;
    else
        return ofr_errf (c->err, c->errlen, "%s: \"%s\" \"%s\" is not supported (gelu, "
                         "gelu_new)", c->path, key, a);
    return 0;
}

static int
cfg_refuse (cfg_ctx *c, const char *key, bool bad_value)
{
    json_t *v = json_object_get (c->root, key);
    if (v && (json_is_true (v) == bad_value) && !json_is_null (v))
        return ofr_errf (c->err, c->errlen, "%s: \"%s\": %s is not supported", c->path,
                         key, bad_value ? "true" : "false");
    return 0;
}

static int
gpt2_config (cfg_ctx *x, ofr_llama_config *c)
{
    double eps;
    int inner = 0;
    if (cfg_int (x, "n_embd", -1, 1, &c->dim) || cfg_int (x, "n_layer", -1, 1, &c->n_layers)
        || cfg_int (x, "n_head", -1, 1, &c->n_heads)
        || cfg_int (x, "vocab_size", -1, 1, &c->vocab_size)
        || cfg_int (x, "n_positions", 1024, 1, &c->seq_len)
        || cfg_int (x, "n_inner", 0, 0, &inner)
        || cfg_real (x, "layer_norm_epsilon", 1e-5, &eps)
        || cfg_act (x, "activation_function", "gelu_new", &c->act)
        || cfg_refuse (x, "scale_attn_weights", false)
        || cfg_refuse (x, "scale_attn_by_inverse_layer_idx", true))
        return -1;
    c->hidden_dim = inner > 0 ? inner : 4 * c->dim;
    c->norm_eps = (float) eps;
    c->rope_theta = 10000.0f;
    c->arch = OFR_ARCH_GPT2;
    json_t *tie = json_object_get (x->root, "tie_word_embeddings");
    c->shared_classifier = !tie || json_is_true (tie);
    c->bos_id = cfg_token (x->root, "bos_token_id", 50256);
    c->eos_id = cfg_token (x->root, "eos_token_id", 50256);
    return 0;
}

static int
neox_config (cfg_ctx *x, ofr_llama_config *c)
{
    double eps, pct, base;
    json_t *rs = json_object_get (x->root, "rope_scaling");
    if (rs && !json_is_null (rs))
        return ofr_errf (x->err, x->errlen, "%s: \"rope_scaling\" is not supported (only "
                         "plain RoPE)", x->path);
    if (cfg_int (x, "hidden_size", -1, 1, &c->dim)
        || cfg_int (x, "num_hidden_layers", -1, 1, &c->n_layers)
        || cfg_int (x, "num_attention_heads", -1, 1, &c->n_heads)
        || cfg_int (x, "intermediate_size", -1, 1, &c->hidden_dim)
        || cfg_int (x, "vocab_size", -1, 1, &c->vocab_size)
        || cfg_int (x, "max_position_embeddings", 2048, 1, &c->seq_len)
        || cfg_real (x, "layer_norm_eps", 1e-5, &eps)
        || cfg_real (x, "rotary_pct", 0.25, &pct)
        || cfg_real (x, "rotary_emb_base", 10000.0, &base)
        || (json_object_get (x->root, "rope_theta")
            && cfg_real (x, "rope_theta", 10000.0, &base))
        || cfg_act (x, "hidden_act", "gelu", &c->act)
        || cfg_refuse (x, "attention_bias", false))
        return -1;
    if (c->dim % c->n_heads)
        return ofr_errf (x->err, x->errlen, "%s: num_attention_heads %d does not divide "
                         "hidden_size %d", x->path, c->n_heads, c->dim);
    int hs = c->dim / c->n_heads;
    c->rotary_dim = (int) (hs * pct);
    if (pct > 1 || c->rotary_dim % 2 || c->rotary_dim < 2)
        return ofr_errf (x->err, x->errlen, "%s: \"rotary_pct\" %g gives %d rotary dims of "
                         "a head of %d (need an even number <= the head)", x->path, pct,
                         c->rotary_dim, hs);
    c->norm_eps = (float) eps;
    c->rope_theta = (float) base;
    c->arch = OFR_ARCH_NEOX;
    c->parallel_residual = !json_is_false (json_object_get (x->root, "use_parallel_residual"));
    c->shared_classifier = json_is_true (json_object_get (x->root, "tie_word_embeddings"));
    c->bos_id = cfg_token (x->root, "bos_token_id", 0);
    c->eos_id = cfg_token (x->root, "eos_token_id", 0);
    return 0;
}

static int
read_config (const char *path, ofr_llama_config *c, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file (path, 0, &je);
    if (!root)
        return ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text);
    cfg_ctx x = { root, path, err, errlen };
    memset (c, 0, sizeof *c);
    const char *mt = json_string_value (json_object_get (root, "model_type"));
    int rc;
    if (mt && !strcmp (mt, "gpt2"))
        rc = gpt2_config (&x, c);
    else if (mt && !strcmp (mt, "gpt_neox"))
        rc = neox_config (&x, c);
    else
        rc = ofr_errf (err, errlen, "%s: unknown \"model_type\" %s%s%s (offramp runs llama, "
                       "gpt2, gpt_neox decoders)", path, mt ? "\"" : "",
                       mt ? mt : "(missing)", mt ? "\"" : "");
    if (rc == 0)
        c->n_kv_heads = c->n_heads;
    json_decref (root);
    return rc;
}

/* ---- model.safetensors -------------------------------------------------- */

typedef struct {
    const ofr_safetensors *st;
    const char *prefix;
    char  *err;
    size_t errlen;
} reader;

/* prefix + name (printf-style with the layer) of shape [r] or [r][c]. */
static const float *
get (reader *rd, int64_t r, int64_t c, const char *fmt, int layer)
{
    char name[192], full[256];
    snprintf (name, sizeof name, fmt, layer);
    snprintf (full, sizeof full, "%s%s", rd->prefix, name);
    int64_t shape[2] = { r, c };
    const float *data = NULL;
    if (ofr_safetensors_expect (rd->st, full, c ? 2 : 1, shape, &data, rd->err,
                                rd->errlen) != 0)
        return NULL;
    return data;
}

static float *
wr (const float *p)
{
    return (float *) p;         /* the model's own memory (ofr_llama_new) */
}

static void
copy (const float *dst, const float *src, size_t n)
{
    memcpy (wr (dst), src, n * sizeof (float));
}

/* dst[o][i] = src[i][o] for a Conv1D weight src [in][out]. */
static void
transpose (float *dst, const float *src, size_t in, size_t out)
{
    for (size_t i = 0; i < in; i++)
        for (size_t o = 0; o < out; o++)
            dst[o * in + i] = src[i * out + o];
}

static int
gpt2_weights (ofr_llama *m, reader *rd)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    int64_t d = c->dim, h = c->hidden_dim, V = c->vocab_size;
    size_t dz = (size_t) d, hz = (size_t) h;
    const float *t, *p;
    if (!(t = get (rd, V, d, "wte.weight", 0))
        || !(p = get (rd, c->seq_len, d, "wpe.weight", 0)))
        return -1;
    copy (ofr_llama_embedding (m), t, (size_t) V * dz);
    copy (ofr_llama_pos_embedding (m), p, (size_t) c->seq_len * dz);
    for (int l = 0; l < c->n_layers; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (m, l);
        const float *g1, *b1, *qkv, *bqkv, *o, *bo, *g2, *b2, *fc, *bfc, *pr, *bpr;
        if (!(g1 = get (rd, d, 0, "h.%d.ln_1.weight", l))
            || !(b1 = get (rd, d, 0, "h.%d.ln_1.bias", l))
            || !(qkv = get (rd, d, 3 * d, "h.%d.attn.c_attn.weight", l))
            || !(bqkv = get (rd, 3 * d, 0, "h.%d.attn.c_attn.bias", l))
            || !(o = get (rd, d, d, "h.%d.attn.c_proj.weight", l))
            || !(bo = get (rd, d, 0, "h.%d.attn.c_proj.bias", l))
            || !(g2 = get (rd, d, 0, "h.%d.ln_2.weight", l))
            || !(b2 = get (rd, d, 0, "h.%d.ln_2.bias", l))
            || !(fc = get (rd, d, h, "h.%d.mlp.c_fc.weight", l))
            || !(bfc = get (rd, h, 0, "h.%d.mlp.c_fc.bias", l))
            || !(pr = get (rd, h, d, "h.%d.mlp.c_proj.weight", l))
            || !(bpr = get (rd, d, 0, "h.%d.mlp.c_proj.bias", l)))
            return -1;
        copy (w->rms_att, g1, dz);
        copy (w->ln1_b, b1, dz);
        transpose (wr (w->wqkv), qkv, dz, 3 * dz);
        copy (w->bqkv, bqkv, 3 * dz);
        transpose (wr (w->wo), o, dz, dz);
        copy (w->bo, bo, dz);
        copy (w->rms_ffn, g2, dz);
        copy (w->ln2_b, b2, dz);
        transpose (wr (w->w13), fc, dz, hz);
        copy (w->b1, bfc, hz);
        transpose (wr (w->w2), pr, hz, dz);
        copy (w->b2, bpr, dz);
    }
    if (!(t = get (rd, d, 0, "ln_f.weight", 0)))
        return -1;
    copy (ofr_llama_final_norm (m), t, dz);
    if (!(t = get (rd, d, 0, "ln_f.bias", 0)))
        return -1;
    copy (ofr_llama_final_norm_bias (m), t, dz);
    return 0;
}

/* Row permutation of the rotary dims of one head (rotate-half -> pairs). */
static int
rot_row (int j, int rot)
{
    if (j >= rot)
        return j;
    int half = rot / 2;
    return j < half ? 2 * j : 2 * (j - half) + 1;
}

/* query_key_value rows [head][q|k|v][hs] -> wqkv [q|k|v][head][hs], the
   rotary rows of q and k permuted; the bias likewise. */
static void
neox_qkv (const ofr_llama_config *c, const float *src, const float *bsrc, float *dst,
          float *bdst)
{
    size_t dz = (size_t) c->dim;
    int hs = c->head_size;
    for (int h = 0; h < c->n_heads; h++)
        for (int part = 0; part < 3; part++)
            for (int j = 0; j < hs; j++) {
                size_t from = ((size_t) h * 3 + (size_t) part) * (size_t) hs + (size_t) j;
                int jj = part < 2 ? rot_row (j, c->rotary_dim) : j;
                size_t to = (size_t) part * dz + (size_t) h * (size_t) hs + (size_t) jj;
                memcpy (dst + to * dz, src + from * dz, dz * sizeof (float));
                bdst[to] = bsrc[from];
            }
}

static int
neox_weights (ofr_llama *m, reader *rd)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    int64_t d = c->dim, h = c->hidden_dim, V = c->vocab_size;
    size_t dz = (size_t) d, hz = (size_t) h;
    const float *t;
    if (!(t = get (rd, V, d, "gpt_neox.embed_in.weight", 0)))
        return -1;
    copy (ofr_llama_embedding (m), t, (size_t) V * dz);
    for (int l = 0; l < c->n_layers; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (m, l);
        const float *g1, *b1, *qkv, *bqkv, *o, *bo, *g2, *b2, *up, *bup, *dn, *bdn;
#define L_ "gpt_neox.layers.%d."
        if (!(g1 = get (rd, d, 0, L_ "input_layernorm.weight", l))
            || !(b1 = get (rd, d, 0, L_ "input_layernorm.bias", l))
            || !(qkv = get (rd, 3 * d, d, L_ "attention.query_key_value.weight", l))
            || !(bqkv = get (rd, 3 * d, 0, L_ "attention.query_key_value.bias", l))
            || !(o = get (rd, d, d, L_ "attention.dense.weight", l))
            || !(bo = get (rd, d, 0, L_ "attention.dense.bias", l))
            || !(g2 = get (rd, d, 0, L_ "post_attention_layernorm.weight", l))
            || !(b2 = get (rd, d, 0, L_ "post_attention_layernorm.bias", l))
            || !(up = get (rd, h, d, L_ "mlp.dense_h_to_4h.weight", l))
            || !(bup = get (rd, h, 0, L_ "mlp.dense_h_to_4h.bias", l))
            || !(dn = get (rd, d, h, L_ "mlp.dense_4h_to_h.weight", l))
            || !(bdn = get (rd, d, 0, L_ "mlp.dense_4h_to_h.bias", l)))
            return -1;
#undef L_
        copy (w->rms_att, g1, dz);
        copy (w->ln1_b, b1, dz);
        neox_qkv (c, qkv, bqkv, wr (w->wqkv), wr (w->bqkv));
        copy (w->wo, o, dz * dz);
        copy (w->bo, bo, dz);
        copy (w->rms_ffn, g2, dz);
        copy (w->ln2_b, b2, dz);
        copy (w->w13, up, hz * dz);
        copy (w->b1, bup, hz);
        copy (w->w2, dn, dz * hz);
        copy (w->b2, bdn, dz);
    }
    if (!(t = get (rd, d, 0, "gpt_neox.final_layer_norm.weight", 0)))
        return -1;
    copy (ofr_llama_final_norm (m), t, dz);
    if (!(t = get (rd, d, 0, "gpt_neox.final_layer_norm.bias", 0)))
        return -1;
    copy (ofr_llama_final_norm_bias (m), t, dz);
    return 0;
}

static int
read_weights (ofr_llama *m, const ofr_safetensors *st, char *err, size_t errlen)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    bool gpt2 = c->arch == OFR_ARCH_GPT2;
    /* GPT2LMHeadModel saves "transformer.h.0..."; the original gpt2 upload
       has bare "h.0...". */
    reader rd = { st, gpt2 && ofr_safetensors_find (st, "transformer.wte.weight")
                      ? "transformer." : "", err, errlen };
    if (gpt2 ? gpt2_weights (m, &rd) : neox_weights (m, &rd))
        return -1;
    if (c->shared_classifier)
        return 0;
    const char *head = gpt2 ? "lm_head.weight" : "embed_out.weight";
    rd.prefix = "";
    if (!ofr_safetensors_find (st, head))
        return ofr_errf (err, errlen, "%s: no tensor \"%s\" (and tie_word_embeddings is "
                         "not true in config.json)", ofr_safetensors_path (st), head);
    const float *t = get (&rd, c->vocab_size, c->dim, head, 0);
    if (!t)
        return -1;
    copy (ofr_llama_classifier (m), t, (size_t) c->vocab_size * (size_t) c->dim);
    return 0;
}

int
ofr_gptx_load (const char *dir, ofr_llama **out, char *err, size_t errlen)
{
    *out = NULL;
    char *cfg = ofr_path_join (dir, "config.json");
    ofr_llama_config c;
    int rc = -1;
    if (!cfg)
        ofr_errf (err, errlen, "out of memory");
    else if (read_config (cfg, &c, err, errlen) == 0)
        rc = ofr_hf_llama_build (dir, &c, read_weights, out, err, errlen);
    free (cfg);
    return rc;
}
