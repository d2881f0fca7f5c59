/*  hf_llama_model.c -- see hf_llama_model.h. */
#include "hf_llama_model.h"
#include "gptx.h"
#include "hf_decoder.h"
#include "llama_model.h"
#include "../text/bpe_bytes.h"
#include "../text/dec_tok.h"
#include "../../common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ofr_model          base;
    ofr_llama         *llama;
    ofr_dec_tok       *tok;         /* NULL: token ids only (note)            */
    ofr_hf_llama_info  info;
    char               note[OFR_ERRLEN];
} hf_model;

static int
hf_n_layers (const ofr_model *m)
{
    return ofr_llama_n_layers (((const hf_model *) m)->llama);
}

static int
hf_n_outputs (const ofr_model *m)
{
    return ofr_llama_vocab_size (((const hf_model *) m)->llama);
}

static int
hf_hidden_dim (const ofr_model *m)
{
    return ofr_llama_dim (((const hf_model *) m)->llama);
}

static void
hf_destroy (ofr_model *m)
{
    hf_model *self = (hf_model *) m;
    ofr_llama_destroy (&self->llama);
    ofr_dec_tok_destroy (&self->tok);
    free (self->base.name);
    free (self);
}

static int
hf_batch_begin (ofr_model *m, const ofr_example *ex, int n, ofr_mbatch **out,
                char *err, size_t errlen)
{
    (void) ex, (void) n;
    *out = NULL;
    return ofr_errf (err, errlen, "model %s is a decoder: it runs token by token, not "
                     "through the classifier driver", m->name);
}

static void
hf_batch_end (ofr_mbatch *mb)
{
    (void) mb;
}

static int
hf_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp, int n,
              char *err, size_t errlen)
{
    (void) mb, (void) layer, (void) rows, (void) lowp, (void) n;
    return ofr_errf (err, errlen, "decoder models have no classifier batches");
}

static int
hf_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    (void) mb, (void) layer, (void) row, (void) probs;
    return -1;
}

static const float *
hf_hidden (ofr_mbatch *mb, int row)
{
    (void) mb, (void) row;
    return NULL;
}

static double
hf_zero_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb, (void) layer, (void) row;
    return 0;
}

/* One table per family (the name is what `offramp models` shows). */
#define HF_OPS(fam)                                                           \
    .family = fam,                                                            \
    .kind = OFR_LLAMA_MODEL_KIND,                                             \
    .n_layers = hf_n_layers,                                                  \
    .n_outputs = hf_n_outputs,                                                \
    .hidden_dim = hf_hidden_dim,                                              \
    .destroy = hf_destroy,                                                    \
    .batch_begin = hf_batch_begin,                                            \
    .batch_end = hf_batch_end,                                                \
    .run_layer = hf_run_layer,                                                \
    .exit_probs = hf_exit_probs,                                              \
    .hidden = hf_hidden,                                                      \
    .layer_flops = hf_zero_flops,                                             \
    .head_flops = hf_zero_flops,                                              \
    .lowp_cost = 1.0
static const ofr_model_ops s_hf_ops = { HF_OPS ("hf-llama") };
static const ofr_model_ops s_gpt2_ops = { HF_OPS ("hf-gpt2") };
static const ofr_model_ops s_neox_ops = { HF_OPS ("hf-gpt-neox") };

static bool
is_hf (const ofr_model *m)
{
    return m && (m->ops == &s_hf_ops || m->ops == &s_gpt2_ops || m->ops == &s_neox_ops);
}

bool
ofr_hf_decoder_probe (const char *dir)
{
    return ofr_hf_decoder_is (dir);
}


int
ofr_hf_llama_model_open (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    *out = NULL;
    hf_model *self = ofr_calloc (1, sizeof *self);
    const char *slash = strrchr (dir, '/');
    if (!self || !(self->base.name = ofr_strdup (slash && slash[1] ? slash + 1 : dir))) {
        free (self);
        return ofr_errf (err, errlen, "out of memory");
    }
    const char *gx = ofr_gptx_probe (dir);
    self->base.ops = !gx ? &s_hf_ops : !strcmp (gx, "gpt2") ? &s_gpt2_ops : &s_neox_ops;
    if (ofr_hf_decoder_load (dir, &self->llama, &self->tok, self->note,
                             sizeof self->note, err, errlen) != 0) {
        hf_destroy (&self->base);
        return -1;
    }
    const ofr_llama_config *c = ofr_llama_config_of (self->llama);
    self->info = (ofr_hf_llama_info) { c->bos_id, c->eos_id };
    *out = &self->base;
    return 0;
}

const ofr_llama *
ofr_hf_llama_model_llama (const ofr_model *m)
{
    return is_hf (m) ? ((const hf_model *) m)->llama : NULL;
}

const ofr_bpe_bytes *
ofr_hf_llama_model_tokenizer (const ofr_model *m)
{
    return is_hf (m) ? ofr_dec_tok_bpe_bytes (((const hf_model *) m)->tok) : NULL;
}

const ofr_dec_tok *
ofr_hf_llama_model_dec_tok (const ofr_model *m)
{
    return is_hf (m) ? ((const hf_model *) m)->tok : NULL;
}

const char *
ofr_hf_llama_model_note (const ofr_model *m)
{
    return is_hf (m) ? ((const hf_model *) m)->note : NULL;
}

ofr_hf_llama_info
ofr_hf_llama_model_info (const ofr_model *m)
{
    return is_hf (m) ? ((const hf_model *) m)->info : (ofr_hf_llama_info) { -1, -1 };
}
