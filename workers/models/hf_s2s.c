/*  hf_s2s.c -- Hugging Face encoder-decoder directories (see hf_s2s.h):
    probing, config.json and tensor helpers, vocab.json, ownership. */
#include "hf_s2s_impl.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
read_config (const char *path, char **text, ofr_jsonlite **root, char *err, size_t errlen)
{
    size_t size = 0;
    *text = NULL;
    *root = NULL;
    if (ofr_read_file (path, text, &size, err, errlen) != 0
        || ofr_jsonlite_parse (*text, size, path, root, err, errlen) != 0)
        return -1;
    if ((*root)->type != OFR_JSONLITE_OBJECT)
        return ofr_errf (err, errlen, "%s: not a JSON object", path);
    return 0;
}

bool
ofr_hf_s2s_probe (const char *dir)
{
    char *st = ofr_path_join (dir, "model.safetensors"), *cp = ofr_path_join (dir, "config.json");
    bool ok = false;
    char *text = NULL, err[OFR_ERRLEN];
    ofr_jsonlite *root = NULL;
    if (st && cp && access (st, R_OK) == 0 && access (cp, R_OK) == 0
        && read_config (cp, &text, &root, err, sizeof err) == 0) {
        const ofr_jsonlite *mt = ofr_jsonlite_get (root, "model_type");
        ok = mt && mt->type == OFR_JSONLITE_STRING
            && (strcmp (mt->string, "marian") == 0 || strcmp (mt->string, "t5") == 0);
    }
    ofr_jsonlite_destroy (&root);
    free (text);
    free (st);
    free (cp);
    return ok;
}

void
ofr_hf_s2s_free (struct ofr_hf_s2s **hp)
{
    if (!hp || !*hp)
        return;
    struct ofr_hf_s2s *h = *hp;
    ofr_safetensors_destroy (&h->st);
    for (size_t i = 0; i < h->n_own; i++)
        free (h->own[i]);
    free (h->own);
    free (h);
    *hp = NULL;
}

int
ofr_hf_s2s_open (const char *dir, ofr_seq2seq **out, char *err, size_t errlen)
{
    *out = NULL;
    char *cp = ofr_path_join (dir, "config.json"), *sp = ofr_path_join (dir, "model.safetensors"), *text = NULL;
    ofr_jsonlite *root = NULL;
    ofr_seq2seq *m = ofr_calloc (1, sizeof *m);
    int rc = 0;
    if (!cp || !sp || !m || !(m->hf = ofr_calloc (1, sizeof *m->hf)))
        rc = ofr_errf (err, errlen, "%s: out of memory", dir);
    if (rc == 0)
        rc = read_config (cp, &text, &root, err, errlen);
    if (rc == 0)
        rc = ofr_safetensors_open (sp, &m->hf->st, err, errlen);
    if (rc == 0) {
        hf_ctx c = { dir, cp, root, m, err, errlen };
        const char *mt = hf_str (&c, "model_type", "");
        if (strcmp (mt, "marian") == 0)
            rc = ofr_hf_marian_load (&c);
        else if (strcmp (mt, "t5") == 0)
            rc = ofr_hf_t5_load (&c);
        else
            rc = ofr_errf (err, errlen, "%s: model_type \"%s\" is not supported by the "
                           "encoder-decoder runtime (marian, t5)", cp, mt);
    }
    ofr_jsonlite_destroy (&root);
    free (text);
    free (cp);
    free (sp);
    if (rc != 0) {
        ofr_seq2seq_destroy (&m);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- config.json ------------------------------------------------------- */

int
hf_int (hf_ctx *c, const char *key, long dflt, long lo, long *out)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (c->cfg, key);
    if (!v || v->type == OFR_JSONLITE_NULL) {
        if (dflt < lo)
            return ofr_errf (c->err, c->errlen, "%s: missing integer \"%s\"", c->cfg_path, key);
        *out = dflt;
        return 0;
    }
    if (v->type != OFR_JSONLITE_NUMBER || !v->is_int || v->integer < lo || v->integer > (1L << 30))
        return ofr_errf (c->err, c->errlen, "%s: \"%s\" must be an integer >= %ld",
                         c->cfg_path, key, lo);
    *out = (long) v->integer;
    return 0;
}

bool
hf_bool (hf_ctx *c, const char *key, bool dflt)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (c->cfg, key);
    return v && v->type == OFR_JSONLITE_BOOL ? v->boolean : dflt;
}

double
hf_num (hf_ctx *c, const char *key, double dflt)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (c->cfg, key);
    return v && v->type == OFR_JSONLITE_NUMBER ? v->number : dflt;
}

const char *
hf_str (hf_ctx *c, const char *key, const char *dflt)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (c->cfg, key);
    return v && v->type == OFR_JSONLITE_STRING ? v->string : dflt;
}

/* ---- tensors ----------------------------------------------------------- */

int
hf_tensor (hf_ctx *c, const char *name, long d0, long d1, const float **out)
{
    int64_t shape[2] = { d0, d1 };
    return ofr_safetensors_expect (c->m->hf->st, name, d1 ? 2 : 1, shape, out, c->err, c->errlen);
}

float *
hf_alloc (hf_ctx *c, size_t n)
{
    struct ofr_hf_s2s *h = c->m->hf;
    float *p = NULL;
    if (ofr_grow ((void **) &h->own, &h->cap_own, h->n_own + 1, sizeof *h->own) == 0)
        p = malloc ((n ? n : 1) * sizeof *p);
    if (!p) {
        ofr_errf (c->err, c->errlen, "%s: out of memory", c->dir);
        return NULL;
    }
    h->own[h->n_own++] = p;
    return p;
}

int
hf_fuse (hf_ctx *c, const char *const *names, int k, long d, long in, bool bias, s2s_lin *out)
{
    float *w = hf_alloc (c, (size_t) k * d * in), *b = bias ? hf_alloc (c, (size_t) k * d) : NULL;
    if (!w || (bias && !b))
        return -1;
    for (int i = 0; i < k; i++) {
        const float *t;
        char name[256];
        snprintf (name, sizeof name, "%s.weight", names[i]);
        if (hf_tensor (c, name, d, in, &t) != 0)
            return -1;
        memcpy (w + (size_t) i * d * in, t, (size_t) d * in * sizeof *t);
        if (!bias)
            continue;
        snprintf (name, sizeof name, "%s.bias", names[i]);
        if (hf_tensor (c, name, d, 0, &t) != 0)
            return -1;
        memcpy (b + (size_t) i * d, t, (size_t) d * sizeof *t);
    }
    *out = (s2s_lin) { w, b, (int) (k * d), (int) in };
    return 0;
}

/* ---- vocab.json -------------------------------------------------------- */

int
hf_vocab_json (hf_ctx *c, int rows)
{
    char *path = ofr_path_join (c->dir, "vocab.json"), *text = NULL;
    ofr_jsonlite *root = NULL;
    ofr_seq2seq *m = c->m;
    int rc = path ? 0 : ofr_errf (c->err, c->errlen, "out of memory");
    if (rc == 0 && read_config (path, &text, &root, c->err, c->errlen) != 0)
        rc = -1;
    s2s_vocab *v = &m->src;
    if (rc == 0 && !(v->tok = ofr_calloc ((size_t) rows, sizeof *v->tok)))
        rc = ofr_errf (c->err, c->errlen, "%s: out of memory", path);
    if (rc == 0)
        v->n = rows;
    for (size_t i = 0; rc == 0 && i < root->n; i++) {
        const ofr_jsonlite *id = root->items[i];
        if (id->type != OFR_JSONLITE_NUMBER || !id->is_int || id->integer < 0 || id->integer >= rows)
            rc = ofr_errf (c->err, c->errlen, "%s: \"%s\": id must be an integer in [0, %d) "
                           "(the embedding's rows)", path, root->keys[i], rows);
        else if (v->tok[id->integer])
            rc = ofr_errf (c->err, c->errlen, "%s: id %lld is given to \"%s\" and \"%s\"", path,
                           (long long) id->integer, v->tok[id->integer], root->keys[i]);
        else if (!(v->tok[id->integer] = ofr_strdup (root->keys[i])))
            rc = ofr_errf (c->err, c->errlen, "%s: out of memory", path);
    }
    for (int i = 0; rc == 0 && i < rows; i++)
        if (!v->tok[i])
            rc = ofr_errf (c->err, c->errlen, "%s: no piece has id %d (the embedding has %d "
                           "rows)", path, i, rows);
    /* One shared vocabulary: the target side gets its own copy of the
       strings so the two are freed independently. */
    if (rc == 0 && !(m->tgt.tok = ofr_calloc ((size_t) rows, sizeof *m->tgt.tok)))
        rc = ofr_errf (c->err, c->errlen, "%s: out of memory", path);
    if (rc == 0)
        m->tgt.n = rows;
    for (int i = 0; rc == 0 && i < rows; i++)
        if (!(m->tgt.tok[i] = ofr_strdup (v->tok[i])))
            rc = ofr_errf (c->err, c->errlen, "%s: out of memory", path);
    ofr_jsonlite_destroy (&root);
    free (text);
    free (path);
    return rc;
}
