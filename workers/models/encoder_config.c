/*  encoder_config.c -- config.json of a BERT-family checkpoint (encoder.h).

    Keys and defaults are those of the transformers configuration classes
    (BertConfig, RobertaConfig, ElectraConfig, AlbertConfig,
    DistilBertConfig); a key that is present with the wrong type is an
    error rather than silently defaulted. */
#include "encoder.h"
#include "../../common/ofr_common.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *path;         /* for messages                                */
    json_t     *root;
    char       *err;
    size_t      errlen;
} cfg_reader;

static const struct { const char *name; ofr_encoder_family f; } s_families[] = {
    { "bert", OFR_ENC_BERT },       { "roberta", OFR_ENC_ROBERTA },
    { "electra", OFR_ENC_ELECTRA }, { "albert", OFR_ENC_ALBERT },
    { "distilbert", OFR_ENC_DISTILBERT },
};

static const struct { const char *name; ofr_act a; } s_acts[] = {
    { "gelu", OFR_ACT_GELU },           { "gelu_new", OFR_ACT_GELU_TANH },
    { "gelu_fast", OFR_ACT_GELU_TANH }, { "gelu_pytorch_tanh", OFR_ACT_GELU_TANH },
    { "relu", OFR_ACT_RELU },           { "silu", OFR_ACT_SILU },
    { "swish", OFR_ACT_SILU },          { "tanh", OFR_ACT_TANH },
};

/* Integer `key` into *out (def when absent) within [lo, hi]. */
static int
get_int (cfg_reader *r, const char *key, long long def, long long lo, long long hi,
         int *out)
{
    json_t *v = json_object_get (r->root, key);
    long long x = def;
    if (v) {
        if (!json_is_integer (v))
            return ofr_errf (r->err, r->errlen, "%s: \"%s\" must be an integer",
                             r->path, key);
        x = json_integer_value (v);
    }
    if (!v && (x < lo || x > hi))
        return ofr_errf (r->err, r->errlen, "%s: missing required key \"%s\"", r->path, key);
    if (x < lo || x > hi)
        return ofr_errf (r->err, r->errlen, "%s: \"%s\" = %lld out of range [%lld, %lld]",
                         r->path, key, x, lo, hi);
    *out = (int) x;
    return 0;
}

/* First of two spellings present (distilbert "dim" vs "hidden_size"). */
static int
get_int2 (cfg_reader *r, const char *key, const char *alias, long long def,
          long long lo, long long hi, int *out)
{
    if (!json_object_get (r->root, key) && json_object_get (r->root, alias))
        key = alias;
    return get_int (r, key, def, lo, hi, out);
}

static int
get_str (cfg_reader *r, const char *key, const char *def, const char **out)
{
    json_t *v = json_object_get (r->root, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_string (v))
        return ofr_errf (r->err, r->errlen, "%s: \"%s\" must be a string", r->path, key);
    *out = json_string_value (v);
    return 0;
}

static int
get_bool (cfg_reader *r, const char *key, bool def, bool *out)
{
    json_t *v = json_object_get (r->root, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean (v))
        return ofr_errf (r->err, r->errlen, "%s: \"%s\" must be true or false", r->path, key);
    *out = json_is_true (v);
    return 0;
}

static int
parse_family (cfg_reader *r, ofr_encoder_config *c)
{
    const char *mt = NULL;
    if (get_str (r, "model_type", NULL, &mt) != 0)
        return -1;
    if (!mt)
        return ofr_errf (r->err, r->errlen, "%s: no \"model_type\"", r->path);
    for (size_t i = 0; i < sizeof s_families / sizeof s_families[0]; i++)
        if (strcmp (mt, s_families[i].name) == 0) {
            c->family = s_families[i].f;
            return 0;
        }
    return ofr_errf (r->err, r->errlen, "%s: model_type \"%s\" is not supported by the "
                     "encoder runtime (supported: bert, roberta, electra, albert, "
                     "distilbert)", r->path, mt);
}

static int
parse_act (cfg_reader *r, const char *key, const char *def, ofr_act *out)
{
    const char *name = NULL;
    if (get_str (r, key, def, &name) != 0)
        return -1;
    for (size_t i = 0; i < sizeof s_acts / sizeof s_acts[0]; i++)
        if (strcmp (name, s_acts[i].name) == 0) {
            *out = s_acts[i].a;
            return 0;
        }
    return ofr_errf (r->err, r->errlen, "%s: \"%s\" = \"%s\" is not a supported activation "
                     "(gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, relu, silu, swish, tanh)",
                     r->path, key, name);
}

static int
parse_eps (cfg_reader *r, ofr_encoder_config *c)
{
    c->ln_eps = 1e-12f;
    json_t *v = json_object_get (r->root, "layer_norm_eps");
    /* DistilBERT hard-codes 1e-12 whatever the config says. */
    if (!v || c->family == OFR_ENC_DISTILBERT)
        return 0;
    if (!json_is_number (v) || json_number_value (v) < 0 || json_number_value (v) > 1)
        return ofr_errf (r->err, r->errlen, "%s: \"layer_norm_eps\" must be a number in "
                         "[0, 1]", r->path);
    c->ln_eps = (float) json_number_value (v);
    return 0;
}

static int
parse_labels (cfg_reader *r, ofr_encoder_config *c)
{
    json_t *id2label = json_object_get (r->root, "id2label");
    long long def = id2label && json_is_object (id2label) && json_object_size (id2label) > 0
                        ? (long long) json_object_size (id2label) : 2;
    if (get_int (r, "num_labels", def, 1, 100000, &c->num_labels) != 0)
        return -1;
    const char *pt = NULL;
    if (get_str (r, "problem_type", NULL, &pt) != 0)
        return -1;
    c->regression = c->num_labels == 1 || (pt && strcmp (pt, "regression") == 0);
    if (c->regression && c->num_labels != 1)
        return ofr_errf (r->err, r->errlen, "%s: problem_type \"regression\" needs "
                         "num_labels 1, not %d", r->path, c->num_labels);
    return 0;
}

static int
parse_shapes (cfg_reader *r, ofr_encoder_config *c)
{
    bool distil = c->family == OFR_ENC_DISTILBERT;
    const long long big = 1 << 20;
    if (get_int (r, "vocab_size", -1, 1, 50 * big, &c->vocab_size) != 0
        || get_int2 (r, distil ? "dim" : "hidden_size", "hidden_size", -1, 1, 65536,
                     &c->hidden) != 0
        || get_int2 (r, distil ? "n_layers" : "num_hidden_layers", "num_hidden_layers",
                     -1, 1, 1024, &c->n_layers) != 0
        || get_int2 (r, distil ? "n_heads" : "num_attention_heads", "num_attention_heads",
                     -1, 1, 4096, &c->n_heads) != 0
        || get_int2 (r, distil ? "hidden_dim" : "intermediate_size", "intermediate_size",
                     -1, 1, 4 * 65536, &c->intermediate) != 0
        || get_int (r, "max_position_embeddings", 512, 1, big, &c->max_positions) != 0)
        return -1;
    if (c->hidden % c->n_heads != 0)
        return ofr_errf (r->err, r->errlen, "%s: num_attention_heads = %d does not divide "
                         "hidden_size = %d", r->path, c->n_heads, c->hidden);
    c->head_dim = c->hidden / c->n_heads;
    bool factorized = c->family == OFR_ENC_ELECTRA || c->family == OFR_ENC_ALBERT;
    c->embedding = c->hidden;
    if (factorized && get_int (r, "embedding_size", 128, 1, 65536, &c->embedding) != 0)
        return -1;
    c->type_vocab = 0;
    if (!distil && get_int (r, "type_vocab_size", c->family == OFR_ENC_ROBERTA ? 1 : 2,
                            0, big, &c->type_vocab) != 0)
        return -1;
    return 0;
}

static int
parse_positions (cfg_reader *r, ofr_encoder_config *c)
{
    const char *pet = NULL;
    if (get_str (r, "position_embedding_type", "absolute", &pet) != 0)
        return -1;
    if (strcmp (pet, "absolute") != 0)
        return ofr_errf (r->err, r->errlen, "%s: position_embedding_type \"%s\" is not "
                         "supported (only \"absolute\")", r->path, pet);
    bool rob = c->family == OFR_ENC_ROBERTA;
    if (get_int (r, "pad_token_id", rob ? 1 : 0, 0, c->vocab_size - 1, &c->pad_id) != 0
        || get_bool (r, "sinusoidal_pos_embds", false, &c->sinusoidal) != 0)
        return -1;
    if (c->family != OFR_ENC_DISTILBERT)
        c->sinusoidal = false;
    /* RoBERTa numbers real tokens from padding_idx + 1 (position ids are a
       cumulative count of non-pad tokens offset by padding_idx). */
    c->pos_offset = rob ? c->pad_id + 1 : 0;
    if (c->max_positions <= c->pos_offset)
        return ofr_errf (r->err, r->errlen, "%s: max_position_embeddings = %d leaves no "
                         "position after the offset %d", r->path, c->max_positions,
                         c->pos_offset);
    int limit = c->max_positions - c->pos_offset;
    c->max_tokens = limit;
    json_t *o = json_object_get (r->root, "offramp");
    json_t *msl = o && json_is_object (o) ? json_object_get (o, "max_seq_len") : NULL;
    if (msl) {
        if (!json_is_integer (msl) || json_integer_value (msl) < 3
            || json_integer_value (msl) > limit)
            return ofr_errf (r->err, r->errlen, "%s: offramp.max_seq_len must be an integer "
                             "in [3, %d]", r->path, limit);
        c->max_tokens = (int) json_integer_value (msl);
    }
    return 0;
}

static int
parse_groups (cfg_reader *r, ofr_encoder_config *c)
{
    c->n_groups = 1;
    c->inner_layers = 1;
    if (c->family != OFR_ENC_ALBERT)
        return 0;
    if (get_int (r, "num_hidden_groups", 1, 1, c->n_layers, &c->n_groups) != 0
        || get_int (r, "inner_group_num", 1, 1, 64, &c->inner_layers) != 0)
        return -1;
    return 0;
}

static int
parse_root (cfg_reader *r, ofr_encoder_config *c)
{
    memset (c, 0, sizeof *c);
    if (parse_family (r, c) != 0 || parse_shapes (r, c) != 0
        || parse_positions (r, c) != 0 || parse_groups (r, c) != 0
        || parse_eps (r, c) != 0 || parse_labels (r, c) != 0)
        return -1;
    static const char *def_act[] = { "gelu", "gelu", "gelu", "gelu_new", "gelu" };
    return parse_act (r, c->family == OFR_ENC_DISTILBERT ? "activation" : "hidden_act",
                      def_act[c->family], &c->act);
}

int
ofr_encoder_config_read (const char *dir, ofr_encoder_config *c, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s/config.json", dir) >= (int) sizeof path)
        return ofr_errf (err, errlen, "%s: path too long", dir);
    json_error_t je;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return je.line > 0 ? ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text)
                           : ofr_errf (err, errlen, "%s: %s", path, je.text);
    int rc;
    if (!json_is_object (root)) {
        rc = ofr_errf (err, errlen, "%s: expected a JSON object", path);
    } else {
        cfg_reader r = { path, root, err, errlen };
        rc = parse_root (&r, c);
    }
    json_decref (root);
    return rc;
}
