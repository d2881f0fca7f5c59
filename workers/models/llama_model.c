/*  llama_model.c -- see llama_model.h. */
#include "llama_model.h"
#include "hf_llama_model.h"
#include "../text/dec_tok.h"
#include "../../common/ofr_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ofr_model        base;
    ofr_llama       *llama;
    ofr_bpe_llama2c *tok;
    ofr_dec_tok     *dtok;        /* a view of tok                          */
} llama_model;

static bool
ends_with (const char *s, const char *suffix)
{
    size_t n = strlen (s), k = strlen (suffix);
    return n >= k && strcmp (s + n - k, suffix) == 0;
}

static bool
is_tokenizer_name (const char *leaf)
{
    return strcmp (leaf, "tokenizer.bin") == 0
        || (strncmp (leaf, "tok", 3) == 0 && ends_with (leaf, ".bin"));
}

/*  The tokenizer and checkpoint files of dir (new strings), or -1 with a
    message when there is not exactly one of each. */
static int
dir_files (const char *dir, char **ckpt, char **tok, char *err, size_t errlen)
{
    *ckpt = *tok = NULL;
    DIR *dp = opendir (dir);
    if (!dp)
        return ofr_errf (err, errlen, "%s: cannot open the directory", dir);
    int n_ckpt = 0, n_tok = 0, n_named_tok = 0, oom = 0;
    struct dirent *e;
    char *ck = NULL, *tk = NULL;
    while ((e = readdir (dp))) {
        const char *leaf = e->d_name;
        if (leaf[0] == '.' || !ends_with (leaf, ".bin"))
            continue;
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s/%s", dir, leaf);
        if (b.oom) {
            oom = 1;
            ofr_buf_free (&b);
            break;
        }
        if (is_tokenizer_name (leaf)) {
            /* tokenizer.bin wins over tok*.bin. */
            bool named = strcmp (leaf, "tokenizer.bin") == 0;
            n_tok++;
            n_named_tok += named;
            if (!tk || named) {
                free (tk);
                tk = b.data;
            } else
                ofr_buf_free (&b);
        } else {
            n_ckpt++;
            free (ck);
            ck = b.data;
        }
    }
    closedir (dp);
    if (oom || n_ckpt != 1 || !tk || (n_tok > 1 && n_named_tok != 1)) {
        free (ck);
        free (tk);
        if (oom)
            return ofr_errf (err, errlen, "out of memory");
        return ofr_errf (err, errlen, "%s: a llama2.c model directory holds one checkpoint "
                         ".bin (found %d) and one tokenizer (tokenizer.bin or tok*.bin, "
                         "found %d)", dir, n_ckpt, n_tok);
    }
    *ckpt = ck;
    *tok = tk;
    return 0;
}

bool
ofr_llama_model_probe (const char *dir)
{
    char *ck, *tk;
    ofr_buf cfg;
    ofr_buf_init (&cfg);
    ofr_buf_printf (&cfg, "%s/config.json", dir);
    FILE *fp = cfg.oom ? NULL : fopen (cfg.data, "rb");
    ofr_buf_free (&cfg);
    if (fp) {                   /* a Hugging Face / imported directory */
        fclose (fp);
        return false;
    }
    if (dir_files (dir, &ck, &tk, NULL, 0) != 0)
        return false;
    free (ck);
    free (tk);
    return true;
}

/* ---- ops ---------------------------------------------------------------- */

static int
lm_n_layers (const ofr_model *m)
{
    return ofr_llama_n_layers (((const llama_model *) m)->llama);
}

static int
lm_n_outputs (const ofr_model *m)
{
    return ofr_llama_vocab_size (((const llama_model *) m)->llama);
}

static int
lm_hidden_dim (const ofr_model *m)
{
    return ofr_llama_dim (((const llama_model *) m)->llama);
}

static void
lm_destroy (ofr_model *m)
{
    llama_model *self = (llama_model *) m;
    ofr_llama_destroy (&self->llama);
    ofr_dec_tok_destroy (&self->dtok);
    ofr_bpe_llama2c_destroy (&self->tok);
    free (self->base.name);
    free (self);
}

static int
lm_batch_begin (ofr_model *m, const ofr_example *ex, int n, ofr_mbatch **out,
                char *err, size_t errlen)
{
    (void) ex, (void) n;
    *out = NULL;
    return ofr_errf (err, errlen, "model %s is a decoder: it runs token by token through "
                     "the decoder driver, not the classifier driver", m->name);
}

static void
lm_batch_end (ofr_mbatch *mb)
{
    (void) mb;
}

static int
lm_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp, int n,
              char *err, size_t errlen)
{
    (void) mb, (void) layer, (void) rows, (void) lowp, (void) n;
    return ofr_errf (err, errlen, "decoder models have no classifier batches");
}

static int
lm_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    (void) mb, (void) layer, (void) row, (void) probs;
    return -1;
}

static const float *
lm_hidden (ofr_mbatch *mb, int row)
{
    (void) mb, (void) row;
    return NULL;
}

static double
lm_zero_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb, (void) layer, (void) row;
    return 0;
}

static const ofr_model_ops s_llama_ops = {
    .family = "llama2c",
    .kind = OFR_LLAMA_MODEL_KIND,
    .n_layers = lm_n_layers,
    .n_outputs = lm_n_outputs,
    .hidden_dim = lm_hidden_dim,
    .destroy = lm_destroy,
    .batch_begin = lm_batch_begin,
    .batch_end = lm_batch_end,
    .run_layer = lm_run_layer,
    .exit_probs = lm_exit_probs,
    .hidden = lm_hidden,
    .layer_flops = lm_zero_flops,
    .head_flops = lm_zero_flops,
    .lowp_cost = 1.0,
};

int
ofr_llama_model_open (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    *out = NULL;
    char *ck = NULL, *tk = NULL;
    if (dir_files (dir, &ck, &tk, err, errlen) != 0)
        return -1;
    llama_model *self = ofr_calloc (1, sizeof *self);
    const char *slash = strrchr (dir, '/');
    int rc = -1;
    if (!self || !(self->base.name = ofr_strdup (slash && slash[1] ? slash + 1 : dir))) {
        ofr_errf (err, errlen, "out of memory");
        goto out;
    }
    self->base.ops = &s_llama_ops;
    if (ofr_llama_load (ck, &self->llama, err, errlen) != 0
        || ofr_bpe_llama2c_load (tk, &self->tok, err, errlen) != 0
        || ofr_dec_tok_wrap_llama2c (self->tok, &self->dtok, err, errlen) != 0)
        goto out;
    if (ofr_bpe_llama2c_vocab_size (self->tok) != ofr_llama_vocab_size (self->llama)) {
        ofr_errf (err, errlen, "%s has %d tokens but %s has vocab_size %d: not this "
                  "model's tokenizer", tk, ofr_bpe_llama2c_vocab_size (self->tok), ck,
                  ofr_llama_vocab_size (self->llama));
        goto out;
    }
    *out = &self->base;
    self = NULL;
    rc = 0;
out:
    if (self)
        lm_destroy (&self->base);
    free (ck);
    free (tk);
    return rc;
}

const ofr_llama *
ofr_llama_model_llama (const ofr_model *m)
{
    return m && m->ops == &s_llama_ops ? ((const llama_model *) m)->llama : NULL;
}

const ofr_bpe_llama2c *
ofr_llama_model_tokenizer (const ofr_model *m)
{
    return m && m->ops == &s_llama_ops ? ((const llama_model *) m)->tok : NULL;
}

int
ofr_decoder_model_parts (const ofr_model *m, const ofr_llama **llama,
                         const ofr_dec_tok **tok, char *err, size_t errlen)
{
    *llama = NULL;
    *tok = NULL;
    if (m && m->ops == &s_llama_ops) {
        *llama = ((const llama_model *) m)->llama;
        *tok = ((const llama_model *) m)->dtok;
    } else if (ofr_hf_llama_model_llama (m)) {
        *llama = ofr_hf_llama_model_llama (m);
        *tok = ofr_hf_llama_model_dec_tok (m);
        if (!*tok)
            return ofr_errf (err, errlen, "model %s: %s (the decoder driver needs text)",
                             m->name, ofr_hf_llama_model_note (m));
    }
    if (!*llama)
        return ofr_errf (err, errlen, "model %s: not a decoder the decoder driver knows "
                         "(llama2c, hf-llama, hf-gpt2, hf-gpt-neox)", m ? m->name : "?");
    return 0;
}
