/*  hf_llama.c -- Hugging Face Llama checkpoints (see hf_llama.h). */
#include "hf_llama.h"
#include "safetensors.h"
#include "../text/bpe_bytes.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool
exists (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0;
}

bool
ofr_hf_llama_probe (const char *dir)
{
    char *cfg = ofr_path_join (dir, "config.json");
    json_t *root = cfg ? json_load_file (cfg, 0, NULL) : NULL;
    const char *mt = json_string_value (json_object_get (root, "model_type"));
    bool yes = mt && strcmp (mt, "llama") == 0;
    json_decref (root);
    free (cfg);
    return yes;
}

/* ---- config.json -------------------------------------------------------- */

/* Integer key: required (def < 0 means required) or def; must be in
   [lo, INT32_MAX]. */
static int
cfg_int (json_t *root, const char *cfg, const char *key, long long def, long long lo,
         int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get (root, key);
    if (!v || json_is_null (v)) {
        if (def < 0)
            return ofr_errf (err, errlen, "%s: missing \"%s\"", cfg, key);
        *out = (int) def;
        return 0;
    }
    if (!json_is_integer (v))
        return ofr_errf (err, errlen, "%s: \"%s\" must be an integer", cfg, key);
    long long x = json_integer_value (v);
    if (x < lo || x > INT32_MAX)
        return ofr_errf (err, errlen, "%s: \"%s\" = %lld (must be %lld..%d)", cfg, key, x,
                         lo, INT32_MAX);
    *out = (int) x;
    return 0;
}

static int
cfg_real (json_t *root, const char *cfg, const char *key, double def, float *out,
          char *err, size_t errlen)
{
    json_t *v = json_object_get (root, key);
    if (!v || json_is_null (v)) {
        *out = (float) def;
        return 0;
    }
    if (!json_is_number (v) || !(json_number_value (v) > 0))
        return ofr_errf (err, errlen, "%s: \"%s\" must be a positive number", cfg, key);
    *out = (float) json_number_value (v);
    return 0;
}

/* A token id key: an integer, a list (first), or absent / null (-1). */
static int
cfg_token (json_t *root, const char *key)
{
    json_t *v = json_object_get (root, key);
    if (json_is_array (v))
        v = json_array_get (v, 0);
    return json_is_integer (v) && json_integer_value (v) >= 0
        && json_integer_value (v) <= INT32_MAX ? (int) json_integer_value (v) : -1;
}

/* Keys that would change the math the runtime does. */
static int
cfg_refuse (json_t *root, const char *cfg, char *err, size_t errlen)
{
    const char *mt = json_string_value (json_object_get (root, "model_type"));
    if (!mt || strcmp (mt, "llama") != 0)
        return ofr_errf (err, errlen, "%s: \"model_type\" is %s%s%s, not \"llama\"", cfg,
                         mt ? "\"" : "", mt ? mt : "missing", mt ? "\"" : "");
    json_t *arch = json_object_get (root, "architectures");
    if (arch && !json_is_null (arch)) {
        bool ok = json_is_array (arch) && json_array_size (arch) > 0;
        size_t i;
        json_t *a;
        json_array_foreach (arch, i, a)
            ok = ok && json_is_string (a)
                 && strcmp (json_string_value (a), "LlamaForCausalLM") == 0;
        if (!ok) {
            json_t *a0 = json_is_array (arch) ? json_array_get (arch, 0) : arch;
            const char *s = json_string_value (a0);
            return ofr_errf (err, errlen, "%s: unknown architecture \"%s\" in "
                             "\"architectures\" (offramp runs LlamaForCausalLM)", cfg,
                             s ? s : "(not a string)");
        }
    }
    json_t *rs = json_object_get (root, "rope_scaling");
    if (rs && !json_is_null (rs))
        return ofr_errf (err, errlen, "%s: \"rope_scaling\" is not supported (only plain "
                         "RoPE)", cfg);
    static const char *biases[] = { "attention_bias", "mlp_bias" };
    for (int i = 0; i < 2; i++)
        if (json_is_true (json_object_get (root, biases[i])))
            return ofr_errf (err, errlen, "%s: \"%s\": true is not supported", cfg,
                             biases[i]);
    const char *act = json_string_value (json_object_get (root, "hidden_act"));
    if (act && strcmp (act, "silu") != 0)
        return ofr_errf (err, errlen, "%s: \"hidden_act\" \"%s\" is not supported (silu)",
                         cfg, act);
    return 0;
}

static int
read_config (const char *cfg, ofr_llama_config *c, ofr_hf_llama_info *info,
             char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file (cfg, 0, &je);
    if (!root)
        return ofr_errf (err, errlen, "%s:%d: %s", cfg, je.line, je.text);
    int rc = -1, head_dim = 0;
    memset (c, 0, sizeof *c);
    if (!json_is_object (root))
        ofr_errf (err, errlen, "%s: not a JSON object", cfg);
    else if (cfg_refuse (root, cfg, err, errlen) == 0
        && cfg_int (root, cfg, "hidden_size", -1, 1, &c->dim, err, errlen) == 0
        && cfg_int (root, cfg, "intermediate_size", -1, 1, &c->hidden_dim, err, errlen) == 0
        && cfg_int (root, cfg, "num_hidden_layers", -1, 1, &c->n_layers, err, errlen) == 0
        && cfg_int (root, cfg, "num_attention_heads", -1, 1, &c->n_heads, err, errlen) == 0
        && cfg_int (root, cfg, "num_key_value_heads", c->n_heads, 1, &c->n_kv_heads,
                    err, errlen) == 0
        && cfg_int (root, cfg, "vocab_size", -1, 1, &c->vocab_size, err, errlen) == 0
        && cfg_int (root, cfg, "max_position_embeddings", 2048, 1, &c->seq_len,
                    err, errlen) == 0
        && cfg_int (root, cfg, "head_dim", c->dim / c->n_heads, 1, &head_dim,
                    err, errlen) == 0
        && cfg_real (root, cfg, "rms_norm_eps", 1e-6, &c->norm_eps, err, errlen) == 0
        && cfg_real (root, cfg, "rope_theta", 10000.0, &c->rope_theta, err, errlen) == 0) {
        if (json_object_get (root, "head_dim") && head_dim * c->n_heads != c->dim)
            ofr_errf (err, errlen, "%s: \"head_dim\" %d != hidden_size %d / "
                      "num_attention_heads %d (not supported)", cfg, head_dim, c->dim,
                      c->n_heads);
        else {
            c->shared_classifier = json_is_true (json_object_get (root,
                                                                  "tie_word_embeddings"));
            c->bos_id = cfg_token (root, "bos_token_id");
            c->eos_id = cfg_token (root, "eos_token_id");
            if (info) {
                info->bos_id = cfg_token (root, "bos_token_id");
                info->eos_id = cfg_token (root, "eos_token_id");
            }
            rc = 0;
        }
    }
    json_decref (root);
    return rc;
}

/* ---- model.safetensors -------------------------------------------------- */

/* Copy q_proj / k_proj [heads * hs][dim] into dst, rows permuted per head
   from rotate-half to adjacent pairs (hf_llama.h). */
static void
copy_permuted (float *dst, const float *src, int heads, int hs, int dim)
{
    int half = hs / 2;
    size_t row = (size_t) dim * sizeof (float);
    for (int h = 0; h < heads; h++) {
        const float *s = src + (size_t) h * hs * dim;
        float *t = dst + (size_t) h * hs * dim;
        for (int j = 0; j < half; j++) {
            memcpy (t + (size_t) (2 * j) * dim, s + (size_t) j * dim, row);
            memcpy (t + (size_t) (2 * j + 1) * dim, s + (size_t) (half + j) * dim, row);
        }
    }
}

typedef struct {
    const ofr_safetensors *st;
    char *err;
    size_t errlen;
} reader;

/* Tensor name (printf-style) of shape [r] or [r][c] (c = 0: 1-D). */
static const float *
get (reader *rd, int64_t r, int64_t c, const char *fmt, int layer)
{
    char name[128];
    snprintf (name, sizeof name, fmt, layer);
    int64_t shape[2] = { r, c };
    const float *data = NULL;
    if (ofr_safetensors_expect (rd->st, name, c ? 2 : 1, shape, &data, rd->err,
                                rd->errlen) != 0)
        return NULL;
    return data;
}

static int
read_weights (ofr_llama *m, const ofr_safetensors *st, char *err, size_t errlen)
{
    const ofr_llama_config *c = ofr_llama_config_of (m);
    int64_t d = c->dim, kv = c->kv_dim, h = c->hidden_dim, V = c->vocab_size;
    size_t dz = (size_t) d, kz = (size_t) kv, hz = (size_t) h, Vz = (size_t) V;
    reader rd = { st, err, errlen };
    const float *t;
    if (!(t = get (&rd, V, d, "model.embed_tokens.weight", 0)))
        return -1;
    memcpy ((float *) ofr_llama_embedding (m), t, Vz * dz * sizeof (float));
    for (int l = 0; l < c->n_layers; l++) {
        const ofr_llama_layer *w = ofr_llama_layer_weights (m, l);
        float *qkv = (float *) w->wqkv, *w13 = (float *) w->w13;
        const float *q, *k, *v, *o, *g, *u, *dn, *n1, *n2;
        if (!(n1 = get (&rd, d, 0, "model.layers.%d.input_layernorm.weight", l))
            || !(q = get (&rd, d, d, "model.layers.%d.self_attn.q_proj.weight", l))
            || !(k = get (&rd, kv, d, "model.layers.%d.self_attn.k_proj.weight", l))
            || !(v = get (&rd, kv, d, "model.layers.%d.self_attn.v_proj.weight", l))
            || !(o = get (&rd, d, d, "model.layers.%d.self_attn.o_proj.weight", l))
            || !(n2 = get (&rd, d, 0, "model.layers.%d.post_attention_layernorm.weight", l))
            || !(g = get (&rd, h, d, "model.layers.%d.mlp.gate_proj.weight", l))
            || !(u = get (&rd, h, d, "model.layers.%d.mlp.up_proj.weight", l))
            || !(dn = get (&rd, d, h, "model.layers.%d.mlp.down_proj.weight", l)))
            return -1;
        memcpy ((float *) w->rms_att, n1, dz * sizeof (float));
        copy_permuted (qkv, q, c->n_heads, c->head_size, c->dim);
        copy_permuted (qkv + dz * dz, k, c->n_kv_heads, c->head_size, c->dim);
        memcpy (qkv + (dz + kz) * dz, v, kz * dz * sizeof (float));
        memcpy ((float *) w->wo, o, dz * dz * sizeof (float));
        memcpy ((float *) w->rms_ffn, n2, dz * sizeof (float));
        memcpy (w13, g, hz * dz * sizeof (float));
        memcpy (w13 + hz * dz, u, hz * dz * sizeof (float));
        memcpy ((float *) w->w2, dn, dz * hz * sizeof (float));
    }
    if (!(t = get (&rd, d, 0, "model.norm.weight", 0)))
        return -1;
    memcpy ((float *) ofr_llama_final_norm (m), t, dz * sizeof (float));
    if (!c->shared_classifier) {
        if (!ofr_safetensors_find (st, "lm_head.weight"))
            return ofr_errf (err, errlen, "%s: no tensor \"lm_head.weight\" (and "
                             "tie_word_embeddings is not true in config.json)",
                             ofr_safetensors_path (st));
        if (!(t = get (&rd, V, d, "lm_head.weight", 0)))
            return -1;
        memcpy ((float *) ofr_llama_classifier (m), t, Vz * dz * sizeof (float));
    }
    return 0;
}

int
ofr_hf_llama_load (const char *dir, ofr_llama **out, ofr_hf_llama_info *info,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (info)
        *info = (ofr_hf_llama_info) { -1, -1 };
    char *cfg = ofr_path_join (dir, "config.json");
    ofr_llama_config c;
    int rc = -1;
    if (!cfg)
        ofr_errf (err, errlen, "out of memory");
    else if (read_config (cfg, &c, info, err, errlen) == 0)
        rc = ofr_hf_llama_build (dir, &c, read_weights, out, err, errlen);
    free (cfg);
    return rc;
}

int
ofr_hf_llama_build (const char *dir, const ofr_llama_config *c,
                    ofr_hf_weights_fn *read_weights, ofr_llama **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    char *stp = ofr_path_join (dir, "model.safetensors");
    char *idx = ofr_path_join (dir, "model.safetensors.index.json");
    ofr_safetensors *st = NULL;
    ofr_llama *m = NULL;
    int rc = -1;
    if (!stp || !idx)
        ofr_errf (err, errlen, "out of memory");
    else if (!exists (stp) && exists (idx))
        ofr_errf (err, errlen, "%s: sharded checkpoints are not supported (merge the "
                  "shards into model.safetensors)", idx);
    else if (!exists (stp))
        ofr_errf (err, errlen, "%s: missing", stp);
    else if (ofr_safetensors_open (stp, &st, err, errlen) != 0)
        ;
    else if (ofr_llama_new (c, dir, &m, err, errlen) != 0)
        ;
    else if (read_weights (m, st, err, errlen) != 0)
        ofr_llama_destroy (&m);
    else {
        *out = m;
        rc = 0;
    }
    ofr_safetensors_destroy (&st);
    free (stp);
    free (idx);
    return rc;
}

int
ofr_hf_llama_tokenizer (const char *dir, int vocab_size, ofr_bpe_bytes **tok,
                        char *note, size_t notelen, char *err, size_t errlen)
{
    *tok = NULL;
    if (note && notelen)
        note[0] = 0;
    char *path = ofr_path_join (dir, "tokenizer.json");
    if (!path)
        return ofr_errf (err, errlen, "out of memory");
    int rc = 0;
    char why[OFR_ERRLEN];
    if (!exists (path))
        ofr_errf (note, notelen, "%s: no tokenizer.json: token ids only", dir);
    else if (ofr_bpe_bytes_load (path, tok, why, sizeof why) != 0)
        ofr_errf (note, notelen, "tokenizer not usable, token ids only (%s)", why);
    else if (ofr_bpe_bytes_vocab_size (*tok) > vocab_size) {
        rc = ofr_errf (err, errlen, "%s has %d tokens but %s/config.json has vocab_size "
                       "%d: not this model's tokenizer", path,
                       ofr_bpe_bytes_vocab_size (*tok), dir, vocab_size);
        ofr_bpe_bytes_destroy (tok);
    }
    free (path);
    return rc;
}
