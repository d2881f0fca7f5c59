/*  seq2seq_model.c -- see seq2seq_model.h. */
#include "seq2seq_model.h"
#include "hf_s2s.h"
#include "../../common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ofr_model    base;
    ofr_seq2seq *s2s;
    ofr_bpe_merges *bpe;
    ofr_spm      *spm;
} s2s_model;

static bool
has_file (const char *dir, const char *leaf)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/%s", dir, leaf);
    bool ok = !b.oom && access (b.data, R_OK) == 0;
    ofr_buf_free (&b);
    return ok;
}

bool
ofr_seq2seq_model_probe (const char *dir)
{
    return (has_file (dir, "model.bin")
            && (has_file (dir, "shared_vocabulary.txt")
                || (has_file (dir, "source_vocabulary.txt")
                    && has_file (dir, "target_vocabulary.txt"))))
        || ofr_hf_s2s_probe (dir);
}

/* ---- ops ---------------------------------------------------------------- */

static int
sm_n_layers (const ofr_model *m)
{
    return ofr_seq2seq_dec_layers (((const s2s_model *) m)->s2s);
}

static int
sm_n_outputs (const ofr_model *m)
{
    return ofr_seq2seq_tgt_vocab (((const s2s_model *) m)->s2s);
}

static int
sm_hidden_dim (const ofr_model *m)
{
    return ofr_seq2seq_dim (((const s2s_model *) m)->s2s);
}

static void
sm_destroy (ofr_model *m)
{
    s2s_model *self = (s2s_model *) m;
    ofr_seq2seq_destroy (&self->s2s);
    ofr_bpe_merges_destroy (&self->bpe);
    ofr_spm_destroy (&self->spm);
    free (self->base.name);
    free (self);
}

static int
sm_batch_begin (ofr_model *m, const ofr_example *ex, int n, ofr_mbatch **out,
                char *err, size_t errlen)
{
    (void) ex, (void) n;
    *out = NULL;
    return ofr_errf (err, errlen, "model %s is an encoder-decoder: it runs token by token "
                     "through the seq2seq driver, not the classifier driver", m->name);
}

static void
sm_batch_end (ofr_mbatch *mb)
{
    (void) mb;
}

static int
sm_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp, int n,
              char *err, size_t errlen)
{
    (void) mb, (void) layer, (void) rows, (void) lowp, (void) n;
    return ofr_errf (err, errlen, "seq2seq models have no classifier batches");
}

static int
sm_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    (void) mb, (void) layer, (void) row, (void) probs;
    return -1;
}

static const float *
sm_hidden (ofr_mbatch *mb, int row)
{
    (void) mb, (void) row;
    return NULL;
}

static double
sm_zero_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb, (void) layer, (void) row;
    return 0;
}

static const ofr_model_ops s_s2s_ops = {
    .family = "ct2",
    .kind = OFR_SEQ2SEQ_MODEL_KIND,
    .n_layers = sm_n_layers,
    .n_outputs = sm_n_outputs,
    .hidden_dim = sm_hidden_dim,
    .destroy = sm_destroy,
    .batch_begin = sm_batch_begin,
    .batch_end = sm_batch_end,
    .run_layer = sm_run_layer,
    .exit_probs = sm_exit_probs,
    .hidden = sm_hidden,
    .layer_flops = sm_zero_flops,
    .head_flops = sm_zero_flops,
    .lowp_cost = 1.0,
};

int
ofr_seq2seq_model_open (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    *out = NULL;
    s2s_model *self = ofr_calloc (1, sizeof *self);
    const char *slash = strrchr (dir, '/');
    while (slash && slash[1] == 0 && slash > dir) {   /* "dir/" */
        const char *p = slash - 1;
        while (p > dir && *p != '/')
            p--;
        slash = *p == '/' ? p : NULL;
    }
    const char *leaf = slash ? slash + 1 : dir;
    if (!self || !(self->base.name = ofr_strdup (leaf))) {
        free (self);
        return ofr_errf (err, errlen, "out of memory");
    }
    char *sl = strchr (self->base.name, '/');
    if (sl)
        *sl = 0;
    self->base.ops = &s_s2s_ops;
    if (ofr_seq2seq_open (dir, &self->s2s, err, errlen) != 0) {
        sm_destroy (&self->base);
        return -1;
    }
    if (has_file (dir, "bpe_merges.txt")) {
        ofr_buf p;
        ofr_buf_init (&p);
        ofr_buf_printf (&p, "%s/bpe_merges.txt", dir);
        int rc = p.oom ? ofr_errf (err, errlen, "out of memory")
                       : ofr_bpe_merges_load (p.data, &self->bpe, err, errlen);
        ofr_buf_free (&p);
        if (rc != 0) {
            sm_destroy (&self->base);
            return -1;
        }
    }
    bool spm = has_file (dir, "source.spm");
    if (spm || (ofr_hf_s2s_probe (dir) && has_file (dir, "tokenizer.json"))) {
        ofr_buf p;
        ofr_buf_init (&p);
        ofr_buf_printf (&p, "%s/%s", dir, spm ? "source.spm" : "tokenizer.json");
        int rc = p.oom ? ofr_errf (err, errlen, "out of memory")
               : spm ? ofr_spm_load (p.data, &self->spm, err, errlen)
                     : ofr_spm_load_tokenizer_json (p.data, &self->spm, err, errlen);
        ofr_buf_free (&p);
        if (rc != 0) {
            sm_destroy (&self->base);
            return -1;
        }
        ofr_spm_marian_codes (self->spm, spm);     /* source.spm: Marian */
    }
    *out = &self->base;
    return 0;
}

const ofr_spm *
ofr_seq2seq_model_spm (const ofr_model *m)
{
    return m && m->ops == &s_s2s_ops ? ((const s2s_model *) m)->spm : NULL;
}

const ofr_bpe_merges *
ofr_seq2seq_model_bpe (const ofr_model *m)
{
    return m && m->ops == &s_s2s_ops ? ((const s2s_model *) m)->bpe : NULL;
}

const ofr_seq2seq *
ofr_seq2seq_model_get (const ofr_model *m)
{
    return m && m->ops == &s_s2s_ops ? ((const s2s_model *) m)->s2s : NULL;
}
