/*  registry.c -- open a model by name (see model.h).

    A name is either a built-in generated model ("testnet..."), a directory
    path (contains '/'), or the name of a directory on the models path. A
    model directory is recognised by its config.json: "model_type" of the
    BERT family -> the encoder runtime; "architecture" starting with
    "espnet" -> the CNN segmenter (once `offramp import` made it). A
    CTranslate2 directory (model.bin + vocabularies, config.json optional)
    or a Hugging Face Marian / T5 one (model_type marian|t5 +
    model.safetensors, hf_s2s.h) -> the encoder-decoder (seq2seq_model.h). */
#include "../model.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../tests/testnet/testnet.h"
#include "encoder.h"
#include "espnet_model.h"
#include "llama_model.h"
#include "seq2seq_model.h"
#include "hf_llama_model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool
is_dir (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Which runtime a model directory needs, from its config.json. */
typedef enum { FAMILY_UNKNOWN, FAMILY_ENCODER, FAMILY_ESPNET } family;

static family
dir_family (const char *dir, char *err, size_t errlen)
{
    size_t len = strlen (dir) + sizeof "/config.json";
    char *cfg = malloc (len);
    if (cfg)
        snprintf (cfg, len, "%s/config.json", dir);
    if (!cfg) {
        ofr_errf (err, errlen, "out of memory");
        return FAMILY_UNKNOWN;
    }
    json_error_t je;
    json_t *root = json_load_file (cfg, 0, &je);
    family f = FAMILY_UNKNOWN;
    if (!root) {
        ofr_errf (err, errlen, "%s:%d: %s", cfg, je.line, je.text);
        free (cfg);
        return f;
    }
    const char *mt = json_string_value (json_object_get (root, "model_type"));
    const char *arch = json_string_value (json_object_get (root, "architecture"));
    if (mt)
        f = FAMILY_ENCODER;   /* the encoder's own reader names unsupported types */
    else if (arch && strncmp (arch, "espnet", 6) == 0)
        f = FAMILY_ESPNET;
    else
        ofr_errf (err, errlen, "%s: neither \"model_type\" (Hugging Face encoders) "
                  "nor an \"architecture\" offramp knows (espnet-*)", cfg);
    json_decref (root);
    free (cfg);
    return f;
}

static int
open_dir (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    if (ofr_seq2seq_model_probe (dir))  /* CTranslate2: model.bin + vocabularies */
        return ofr_seq2seq_model_open (dir, out, err, errlen);
    if (ofr_llama_model_probe (dir))   /* llama2.c: checkpoint + tokenizer .bin */
        return ofr_llama_model_open (dir, out, err, errlen);
    if (ofr_hf_decoder_probe (dir))    /* model_type llama, gpt2, gpt_neox */
        return ofr_hf_llama_model_open (dir, out, err, errlen);
    switch (dir_family (dir, err, errlen)) {
    case FAMILY_ENCODER: return ofr_encoder_open (dir, out, err, errlen);
    case FAMILY_ESPNET:  return ofr_espnet_model_open (dir, out, err, errlen);
    default:             return -1;
    }
}

int
ofr_model_open (const char *name, const char *models_path, ofr_model **out,
                char *err, size_t errlen)
{
    if (!name || !*name)
        return ofr_errf (err, errlen, "model: empty name");
    if (strncmp (name, "testnet", 7) == 0)
        return ofr_testnet_open (name, out, err, errlen);
    if (strchr (name, '/')) {
        if (!is_dir (name))
            return ofr_errf (err, errlen, "model '%s': no such directory", name);
        return open_dir (name, out, err, errlen);
    }
    char *dir = NULL;
    char where[OFR_ERRLEN];
    if (ofr_path_find (models_path ? models_path : "", name, &dir, where, sizeof where) != 0)
        return ofr_errf (err, errlen, "model '%s': unknown (built in: testnet, testnet-L<n>; "
                         "%s; see `offramp models`)", name, where);
    int rc = is_dir (dir) ? open_dir (dir, out, err, errlen)
                          : ofr_errf (err, errlen, "model '%s': %s is not a directory", name, dir);
    free (dir);
    return rc;
}

void
ofr_model_destroy (ofr_model **m)
{
    if (m && *m) {
        (*m)->ops->destroy (*m);
        *m = NULL;
    }
}
