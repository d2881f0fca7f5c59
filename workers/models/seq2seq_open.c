/*  seq2seq_open.c -- opening a CTranslate2 model directory: model.bin, the
    vocabularies and config.json (facts: see seq2seq_load.c). */
#include "s2s_impl.h"
#include "hf_s2s.h"
#include "jsonlite.h"
#include "../../common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
vocab_free (s2s_vocab *v)
{
    for (int i = 0; i < v->n; i++)
        free (v->tok[i]);
    free (v->tok);
    memset (v, 0, sizeof *v);
}

static int
vocab_find (const s2s_vocab *v, const char *tok)
{
    for (int i = 0; tok && i < v->n; i++)
        if (strcmp (v->tok[i], tok) == 0)
            return i;
    return -1;
}

static int
vocab_push (s2s_vocab *v, size_t *cap, const char *s, size_t len)
{
    if (v->n == INT32_MAX || ofr_grow ((void **) &v->tok, cap, (size_t) v->n + 1, sizeof *v->tok) != 0)
        return -1;
    char *t = malloc (len + 1);
    if (!t)
        return -1;
    memcpy (t, s, len);
    t[len] = 0;
    v->tok[v->n++] = t;
    return 0;
}

/* One token per line (src/vocabulary.cc); "<unk>" appended if absent. */
static int
vocab_read (const char *path, const char *unk, int rows, s2s_vocab *v, char *err, size_t errlen)
{
    char *data = NULL;
    size_t size = 0, cap = 0;
    if (ofr_read_file (path, &data, &size, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (size_t start = 0; rc == 0 && start < size;) {
        const char *nl = memchr (data + start, '\n', size - start);
        size_t len = nl ? (size_t) (nl - (data + start)) : size - start;
        rc = vocab_push (v, &cap, data + start, len);
        start += len + 1;
    }
    if (rc == 0 && vocab_find (v, unk) < 0)
        rc = vocab_push (v, &cap, unk, strlen (unk));
    free (data);
    if (rc != 0)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    if (v->n != rows)
        return ofr_errf (err, errlen, "%s: %d tokens (with %s) but the embedding has %d rows",
                         path, v->n, unk, rows);
    return 0;
}

typedef struct {
    char  bos[64], eos[64], unk[64], start[64];
    bool  add_bos, add_eos;
    float eps;                 /* < 0: not given */
} s2s_config;

static void
cfg_str (const ofr_jsonlite *root, const char *key, char *dst, size_t n)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (root, key);
    if (v && v->type == OFR_JSONLITE_STRING)
        snprintf (dst, n, "%s", v->string);
}

static int
config_read (const char *dir, s2s_config *c, char *err, size_t errlen)
{
    *c = (s2s_config) { "<s>", "</s>", "<unk>", "<s>", false, false, -1 };
    char path[4096];
    snprintf (path, sizeof path, "%s/config.json", dir);
    if (access (path, F_OK) != 0)
        return 0;
    char *text = NULL;
    size_t size = 0;
    ofr_jsonlite *root = NULL;
    if (ofr_read_file (path, &text, &size, err, errlen) != 0
        || ofr_jsonlite_parse (text, size, path, &root, err, errlen) != 0) {
        free (text);
        return -1;
    }
    cfg_str (root, "bos_token", c->bos, sizeof c->bos);
    cfg_str (root, "eos_token", c->eos, sizeof c->eos);
    cfg_str (root, "unk_token", c->unk, sizeof c->unk);
    snprintf (c->start, sizeof c->start, "%s", c->bos);
    cfg_str (root, "decoder_start_token", c->start, sizeof c->start);
    const ofr_jsonlite *v;
    if ((v = ofr_jsonlite_get (root, "add_source_bos")) && v->type == OFR_JSONLITE_BOOL)
        c->add_bos = v->boolean;
    if ((v = ofr_jsonlite_get (root, "add_source_eos")) && v->type == OFR_JSONLITE_BOOL)
        c->add_eos = v->boolean;
    if ((v = ofr_jsonlite_get (root, "layer_norm_epsilon")) && v->type == OFR_JSONLITE_NUMBER)
        c->eps = (float) v->number;
    ofr_jsonlite_destroy (&root);
    free (text);
    return 0;
}

static int
vocabs (ofr_seq2seq *m, const char *dir, const s2s_config *c, char *err, size_t errlen)
{
    char src[4096], tgt[4096];
    snprintf (src, sizeof src, "%s/source_vocabulary.txt", dir);
    snprintf (tgt, sizeof tgt, "%s/target_vocabulary.txt", dir);
    if (access (src, F_OK) != 0) {
        snprintf (src, sizeof src, "%s/shared_vocabulary.txt", dir);
        snprintf (tgt, sizeof tgt, "%s/shared_vocabulary.txt", dir);
    }
    const ofr_ct2_var *se = ofr_ct2_find (m->ct2, "encoder/embeddings/weight");
    const ofr_ct2_var *te = ofr_ct2_find (m->ct2, "decoder/embeddings/weight");
    if (vocab_read (src, c->unk, (int) se->dims[0], &m->src, err, errlen) != 0
        || vocab_read (tgt, c->unk, (int) te->dims[0], &m->tgt, err, errlen) != 0)
        return -1;
    m->src_unk = vocab_find (&m->src, c->unk);
    m->src_bos = vocab_find (&m->src, c->bos);
    m->src_eos = vocab_find (&m->src, c->eos);
    m->bos = vocab_find (&m->tgt, c->start);
    m->eos = vocab_find (&m->tgt, c->eos);
    m->add_src_bos = c->add_bos;
    m->add_src_eos = c->add_eos;
    if (m->bos < 0 || m->eos < 0)
        return ofr_errf (err, errlen, "%s: no decoder start token %s or end token %s",
                         tgt, c->start, c->eos);
    if ((c->add_bos && m->src_bos < 0) || (c->add_eos && m->src_eos < 0))
        return ofr_errf (err, errlen, "%s: no %s / %s for add_source_bos/eos", src, c->bos, c->eos);
    return 0;
}

int
ofr_seq2seq_open (const char *dir, ofr_seq2seq **out, char *err, size_t errlen)
{
    *out = NULL;
    if (ofr_hf_s2s_probe (dir))
        return ofr_hf_s2s_open (dir, out, err, errlen);
    char path[4096];
    s2s_config cfg;
    snprintf (path, sizeof path, "%s/model.bin", dir);
    ofr_seq2seq *m = ofr_calloc (1, sizeof *m);
    if (!m)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    char why[OFR_ERRLEN] = "";
    int rc = config_read (dir, &cfg, err, errlen);
    if (rc == 0)
        rc = ofr_ct2_open (path, &m->ct2, err, errlen);
    if (rc == 0 && (rc = ofr_s2s_load_weights (m, why, sizeof why)) != 0)
        ofr_errf (err, errlen, "%s: %s", dir, why);
    if (rc == 0)
        rc = vocabs (m, dir, &cfg, err, errlen);
    if (rc == 0 && cfg.eps > 0)
        m->eps = cfg.eps;
    if (rc != 0) {
        ofr_seq2seq_destroy (&m);
        return -1;
    }
    *out = m;
    return 0;
}

void
ofr_seq2seq_destroy (ofr_seq2seq **mp)
{
    if (!mp || !*mp)
        return;
    ofr_seq2seq *m = *mp;
    ofr_ct2_destroy (&m->ct2);
    ofr_hf_s2s_free (&m->hf);
    free (m->enc);
    free (m->dec);
    vocab_free (&m->src);
    vocab_free (&m->tgt);
    free (m);
    *mp = NULL;
}

int ofr_seq2seq_enc_layers (const ofr_seq2seq *m) { return m->n_enc; }
int ofr_seq2seq_dec_layers (const ofr_seq2seq *m) { return m->n_dec; }
int ofr_seq2seq_dim (const ofr_seq2seq *m) { return m->d; }
int ofr_seq2seq_tgt_vocab (const ofr_seq2seq *m) { return m->tgt.n; }
int ofr_seq2seq_bos (const ofr_seq2seq *m) { return m->bos; }
int ofr_seq2seq_eos (const ofr_seq2seq *m) { return m->eos; }
size_t ofr_seq2seq_params (const ofr_seq2seq *m) { return m->params; }

const char *
ofr_seq2seq_tgt_token (const ofr_seq2seq *m, int id)
{
    return id >= 0 && id < m->tgt.n ? m->tgt.tok[id] : NULL;
}

int
ofr_seq2seq_src_ids (const ofr_seq2seq *m, const char *const *tokens, int n, int *ids, int *n_unk)
{
    int k = 0, unk = 0;
    if (m->add_src_bos)
        ids[k++] = m->src_bos;
    for (int i = 0; i < n; i++) {
        int id = vocab_find (&m->src, tokens[i]);
        unk += id < 0;
        ids[k++] = id < 0 ? m->src_unk : id;
    }
    if (m->add_src_eos)
        ids[k++] = m->src_eos;
    if (n_unk)
        *n_unk = unk;
    return k;
}
