/*  dec_tok.c -- one tokenizer interface over three formats (dec_tok.h). */
#include "dec_tok.h"
#include "bpe_bytes.h"
#include "bpe_llama2c.h"
#include "sp_bpe.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

typedef enum { K_LLAMA2C, K_GPT2, K_SPBPE } tok_kind;

struct ofr_dec_tok {
    tok_kind               kind;
    const ofr_bpe_llama2c *l2c;
    ofr_bpe_llama2c       *l2c_own;
    ofr_bpe_bytes         *bb;
    ofr_sp_bpe            *sp;
    int                    n, bos, eos;
    bool                   strip_first;   /* drop the leading space after BOS */
    char                 **gbytes;        /* gpt2: bytes of each id            */
    size_t                *glen;
};

void
ofr_dec_tok_destroy (ofr_dec_tok **tp)
{
    if (!tp || !*tp)
        return;
    ofr_dec_tok *t = *tp;
    ofr_bpe_llama2c_destroy (&t->l2c_own);
    ofr_bpe_bytes_destroy (&t->bb);
    ofr_sp_bpe_destroy (&t->sp);
    for (int i = 0; t->gbytes && i < t->n; i++)
        free (t->gbytes[i]);
    free (t->gbytes);
    free (t->glen);
    free (t);
    *tp = NULL;
}

int
ofr_dec_tok_wrap_llama2c (const ofr_bpe_llama2c *l2c, ofr_dec_tok **out, char *err,
                          size_t errlen)
{
    *out = ofr_calloc (1, sizeof **out);
    if (!*out)
        return ofr_errf (err, errlen, "out of memory");
    (*out)->kind = K_LLAMA2C;
    (*out)->l2c = l2c;
    (*out)->n = ofr_bpe_llama2c_vocab_size (l2c);
    (*out)->bos = 1;
    (*out)->eos = 2;
    (*out)->strip_first = true;
    return 0;
}

int
ofr_dec_tok_open_llama2c (const char *path, ofr_dec_tok **out, char *err, size_t errlen)
{
    *out = NULL;
    ofr_bpe_llama2c *l = NULL;
    if (ofr_bpe_llama2c_load (path, &l, err, errlen))
        return -1;
    if (ofr_dec_tok_wrap_llama2c (l, out, err, errlen)) {
        ofr_bpe_llama2c_destroy (&l);
        return -1;
    }
    (*out)->l2c_own = l;
    return 0;
}

/* Every id's bytes through the inverse of GPT-2's bytes_to_unicode (a
   token with another character is its own UTF-8, as bpe_bytes decodes). */
static int
gpt2_bytes (ofr_dec_tok *t)
{
    int16_t cbyte[324];
    int extra = 0;
    for (int i = 0; i < 324; i++)
        cbyte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        cbyte[keep ? b : 256 + extra++] = (int16_t) b;
    }
    t->gbytes = ofr_calloc ((size_t) t->n, sizeof *t->gbytes);
    t->glen = ofr_calloc ((size_t) t->n, sizeof *t->glen);
    if (!t->gbytes || !t->glen)
        return -1;
    for (int id = 0; id < t->n; id++) {
        const unsigned char *s = (const unsigned char *) ofr_bpe_bytes_token (t->bb, id);
        if (!s || ofr_bpe_bytes_is_special (t->bb, id))
            continue;
        size_t len = strlen ((const char *) s), k = 0;
        if (!(t->gbytes[id] = malloc (len + 1)))
            return -1;
        bool mapped = true;
        for (size_t p = 0; p < len && mapped;) {
            uint32_t cp;
            p += ofr_utf8_next (s + p, len - p, &cp);
            mapped = cp < 324 && cbyte[cp] >= 0;
            if (mapped)
                t->gbytes[id][k++] = (char) cbyte[cp];
        }
        if (!mapped) {
            memcpy (t->gbytes[id], s, len);
            k = len;
        }
        t->glen[id] = k;
    }
    return 0;
}

/* A config id if given, else the first of names the vocabulary has. */
static int
special_id (int given, int n, int (*find) (const void *, const char *), const void *tok,
            const char *const *names)
{
    if (given >= 0)
        return given < n ? given : -1;
    for (int i = 0; names[i]; i++) {
        int id = find (tok, names[i]);
        if (id >= 0)
            return id;
    }
    return -1;
}

static int
find_bb (const void *t, const char *s)
{
    return ofr_bpe_bytes_token_id (t, s);
}

static int
find_sp (const void *t, const char *s)
{
    return ofr_sp_bpe_token_id (t, s);
}

int
ofr_dec_tok_open_json (const char *path, int bos_id, int eos_id, ofr_dec_tok **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    ofr_dec_tok *t = ofr_calloc (1, sizeof *t);
    if (!t)
        return ofr_errf (err, errlen, "out of memory");
    static const char *const bos_names[] = { "<s>", "<|endoftext|>", NULL };
    static const char *const eos_names[] = { "</s>", "<|endoftext|>", NULL };
    char why_bb[OFR_ERRLEN], why_sp[OFR_ERRLEN];
    if (ofr_bpe_bytes_load (path, &t->bb, why_bb, sizeof why_bb) == 0) {
        t->kind = K_GPT2;
        t->n = ofr_bpe_bytes_vocab_size (t->bb);
        t->bos = special_id (bos_id, t->n, find_bb, t->bb, bos_names);
        t->eos = special_id (eos_id, t->n, find_bb, t->bb, eos_names);
        if (gpt2_bytes (t)) {
            ofr_dec_tok_destroy (&t);
            return ofr_errf (err, errlen, "%s: out of memory", path);
        }
    } else if (ofr_sp_bpe_load (path, &t->sp, why_sp, sizeof why_sp) == 0) {
        t->kind = K_SPBPE;
        t->n = ofr_sp_bpe_vocab_size (t->sp);
        t->bos = special_id (bos_id, t->n, find_sp, t->sp, bos_names);
        t->eos = special_id (eos_id, t->n, find_sp, t->sp, eos_names);
        t->strip_first = ofr_sp_bpe_adds_prefix (t->sp);
    } else {
        ofr_dec_tok_destroy (&t);
        return ofr_errf (err, errlen, "%s: neither byte-level BPE (%s) nor "
                         "SentencePiece-style BPE (%s)", path, why_bb, why_sp);
    }
    *out = t;
    return 0;
}

const char *
ofr_dec_tok_kind (const ofr_dec_tok *t)
{
    return t->kind == K_LLAMA2C ? "llama2c" : t->kind == K_GPT2 ? "gpt2" : "sp-bpe";
}

int ofr_dec_tok_vocab_size (const ofr_dec_tok *t) { return t->n; }
int ofr_dec_tok_bos (const ofr_dec_tok *t) { return t->bos; }
int ofr_dec_tok_eos (const ofr_dec_tok *t) { return t->eos; }

const ofr_bpe_bytes *
ofr_dec_tok_bpe_bytes (const ofr_dec_tok *t)
{
    return t && t->kind == K_GPT2 ? t->bb : NULL;
}

int
ofr_dec_tok_encode (const ofr_dec_tok *t, const char *text, bool bos, int **ids, int *n,
                    char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    if (t->kind == K_LLAMA2C)
        return ofr_bpe_llama2c_encode (t->l2c, text, strlen (text), bos, false, ids, n,
                                       err, errlen);
    int *body = NULL, nb = 0;
    if (t->kind == K_SPBPE) {
        if (ofr_sp_bpe_encode (t->sp, text, &body, &nb, err, errlen))
            return -1;
    } else {
        ofr_wp_ids v = { 0 };
        if (ofr_bpe_bytes_encode (t->bb, text, &v, err, errlen)) {
            ofr_wp_ids_free (&v);
            return -1;
        }
        body = ofr_calloc (v.len + 1, sizeof *body);
        for (size_t i = 0; body && i < v.len; i++)
            body[i] = v.v[i];
        nb = (int) v.len;
        ofr_wp_ids_free (&v);
        if (!body)
            return ofr_errf (err, errlen, "out of memory");
    }
    int b = bos && t->bos >= 0;
    int *all = ofr_calloc ((size_t) nb + 1, sizeof *all);
    if (!all) {
        free (body);
        return ofr_errf (err, errlen, "out of memory");
    }
    if (b)
        all[0] = t->bos;
    if (nb)
        memcpy (all + b, body, (size_t) nb * sizeof *all);
    free (body);
    *ids = all;
    *n = nb + b;
    return 0;
}

const char *
ofr_dec_tok_piece (const ofr_dec_tok *t, int prev, int token, size_t *len)
{
    *len = 0;
    if (token < 0 || token >= t->n)
        return NULL;
    if (t->kind == K_LLAMA2C)
        return token == t->bos || token == t->eos ? NULL
               : ofr_bpe_llama2c_decode (t->l2c, prev, token, len);
    const char *s;
    if (t->kind == K_GPT2) {
        s = t->gbytes[token];
        *len = s ? t->glen[token] : 0;
    } else
        s = ofr_sp_bpe_is_special (t->sp, token) ? NULL : ofr_sp_bpe_bytes (t->sp, token, len);
    if (s && t->strip_first && (prev < 0 || prev == t->bos) && *len && s[0] == ' ') {
        (*len)--;
        s++;
    }
    if (!s)
        *len = 0;
    return s;
}

void
ofr_dec_tok_decode_all (const ofr_dec_tok *t, const int *ids, int n, ofr_buf *out)
{
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s = ofr_dec_tok_piece (t, i > 0 ? ids[i - 1] : -1, ids[i], &len);
        if (s && len)
            ofr_buf_append (out, s, len);
    }
}
