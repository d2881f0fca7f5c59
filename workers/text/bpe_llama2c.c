/*  bpe_llama2c.c -- llama2.c tokenizer (see bpe_llama2c.h). */
#include "bpe_llama2c.h"
#include "../models/llama.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;      /* piece bytes (inside data)  */
    size_t      len;
    int         id;
} piece_ref;

struct ofr_bpe_llama2c {
    char      *path;
    char      *data;        /* the whole file; pieces point into it        */
    int        n;           /* vocabulary size                             */
    piece_ref *pieces;      /* [n] by id                                   */
    float     *scores;      /* [n]                                         */
    piece_ref *sorted;      /* [n] by (bytes, id) for lookups              */
    int16_t   *byte_of;     /* [n] raw byte of a "<0xXX>" piece, else -1   */
    int        byte_token[256]; /* id of the byte token of each byte, or -1 */
    size_t     max_len;     /* longest piece                               */
    char       bytes[256];  /* storage that decode returns for byte tokens */
};

static int
cmp_piece (const void *a, const void *b)
{
    const piece_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp (x->s, y->s, n) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* First id whose piece is exactly s[0..len), or -1. */
static int
lookup (const ofr_bpe_llama2c *t, const char *s, size_t len)
{
    int lo = 0, hi = t->n;
    piece_ref key = { s, len, -1 };
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cmp_piece (&t->sorted[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n && t->sorted[lo].len == len && memcmp (t->sorted[lo].s, s, len) == 0)
        return t->sorted[lo].id;
    return -1;
}

static int
hex_digit (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xXX>" piece stands for, or -1. */
static int
byte_piece (const char *s, size_t len)
{
    if (len != 6 || memcmp (s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hex_digit (s[3]), lo = hex_digit (s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int32_t
get_i32 (const char *p)
{
    int32_t v;
    memcpy (&v, p, sizeof v);
    return v;
}

/* Count the entries, checking every length against the file's end. */
static int
count_tokens (const ofr_bpe_llama2c *t, size_t size, int *n, char *err, size_t errlen)
{
    size_t off = 4;
    int count = 0;
    while (off < size) {
        if (size - off < 8)
            return ofr_errf (err, errlen, "%s: truncated at token %d (byte %zu: "
                             "score and length need 8 bytes, %zu left)",
                             t->path, count, off, size - off);
        int32_t len = get_i32 (t->data + off + 4);
        if (len < 0 || (size_t) len > size - off - 8)
            return ofr_errf (err, errlen, "%s: token %d at byte %zu has length %ld, "
                             "%zu bytes left", t->path, count, off, (long) len,
                             size - off - 8);
        off += 8 + (size_t) len;
        if (count == INT32_MAX)
            return ofr_errf (err, errlen, "%s: too many tokens", t->path);
        count++;
    }
    if (count <= OFR_LLAMA_EOS)
        return ofr_errf (err, errlen, "%s: %d tokens; a llama2.c vocabulary starts "
                         "with <unk>, BOS, EOS", t->path, count);
    *n = count;
    return 0;
}

static void
index_pieces (ofr_bpe_llama2c *t)
{
    size_t off = 4;
    for (int i = 0; i < 256; i++) {
        t->byte_token[i] = -1;
        t->bytes[i] = (char) i;
    }
    for (int i = 0; i < t->n; i++) {
        memcpy (&t->scores[i], t->data + off, sizeof (float));
        size_t len = (size_t) get_i32 (t->data + off + 4);
        t->pieces[i] = (piece_ref) { t->data + off + 8, len, i };
        off += 8 + len;
        if (len > t->max_len)
            t->max_len = len;
        int b = byte_piece (t->pieces[i].s, len);
        t->byte_of[i] = (int16_t) b;
        if (b >= 0 && t->byte_token[b] < 0)
            t->byte_token[b] = i;
    }
    memcpy (t->sorted, t->pieces, (size_t) t->n * sizeof *t->sorted);
    qsort (t->sorted, (size_t) t->n, sizeof *t->sorted, cmp_piece);
}

int
ofr_bpe_llama2c_load (const char *path, ofr_bpe_llama2c **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path)
        return ofr_errf (err, errlen, "tokenizer: no path");
    ofr_bpe_llama2c *t = ofr_calloc (1, sizeof *t);
    if (!t || !(t->path = ofr_strdup (path))) {
        free (t);
        return ofr_errf (err, errlen, "tokenizer: out of memory");
    }
    size_t size = 0;
    if (ofr_read_file (path, &t->data, &size, err, errlen))
        goto fail;
    if (size < 4) {
        ofr_errf (err, errlen, "%s: truncated: %zu bytes, the header needs 4", path, size);
        goto fail;
    }
    if (count_tokens (t, size, &t->n, err, errlen))
        goto fail;
    t->pieces = ofr_calloc ((size_t) t->n, sizeof *t->pieces);
    t->sorted = ofr_calloc ((size_t) t->n, sizeof *t->sorted);
    t->scores = ofr_calloc ((size_t) t->n, sizeof *t->scores);
    t->byte_of = ofr_calloc ((size_t) t->n, sizeof *t->byte_of);
    if (!t->pieces || !t->sorted || !t->scores || !t->byte_of) {
        ofr_errf (err, errlen, "%s: out of memory for %d tokens", path, t->n);
        goto fail;
    }
    index_pieces (t);
    *out = t;
    return 0;
fail:
    ofr_bpe_llama2c_destroy (&t);
    return -1;
}

void
ofr_bpe_llama2c_destroy (ofr_bpe_llama2c **tp)
{
    if (!tp || !*tp)
        return;
    ofr_bpe_llama2c *t = *tp;
    free (t->pieces);
    free (t->sorted);
    free (t->scores);
    free (t->byte_of);
    free (t->data);
    free (t->path);
    free (t);
    *tp = NULL;
}

int ofr_bpe_llama2c_vocab_size (const ofr_bpe_llama2c *t) { return t->n; }
const char *ofr_bpe_llama2c_path (const ofr_bpe_llama2c *t) { return t->path; }

const char *
ofr_bpe_llama2c_piece (const ofr_bpe_llama2c *t, int id, size_t *len)
{
    if (id < 0 || id >= t->n) {
        *len = 0;
        return NULL;
    }
    *len = t->pieces[id].len;
    return t->pieces[id].s;
}

float
ofr_bpe_llama2c_score (const ofr_bpe_llama2c *t, int id)
{
    return id >= 0 && id < t->n ? t->scores[id] : 0.0f;
}

/* Append the token(s) for text[0..len): the piece if the vocabulary has
   it, else one byte token per byte. */
static int
push_unit (const ofr_bpe_llama2c *t, const char *s, size_t len, int *tok, int *n,
           char *err, size_t errlen)
{
    int id = lookup (t, s, len);
    if (id >= 0) {
        tok[(*n)++] = id;
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char) s[i];
        if (t->byte_token[b] < 0)
            return ofr_errf (err, errlen, "%s: no piece for byte 0x%02X and no byte "
                             "token <0x%02X> to fall back on", t->path, b, b);
        tok[(*n)++] = t->byte_token[b];
    }
    return 0;
}

/* Id of the piece tok[i] ++ tok[i+1], or -1. buf holds 2 * max_len. */
static int
pair_id (const ofr_bpe_llama2c *t, const int *tok, int i, char *buf)
{
    const piece_ref *a = &t->pieces[tok[i]], *b = &t->pieces[tok[i + 1]];
    if (a->len) memcpy (buf, a->s, a->len);
    if (b->len) memcpy (buf + a->len, b->s, b->len);
    return lookup (t, buf, a->len + b->len);
}

/* Merge tok[0..*n) in place; pair[i] caches the merge of (i, i+1) so each
   round only recomputes the two pairs next to the merged one. */
static void
merge_pairs (const ofr_bpe_llama2c *t, int *tok, int *n, int *pair, char *buf)
{
    for (int i = 0; i + 1 < *n; i++)
        pair[i] = pair_id (t, tok, i, buf);
    for (;;) {
        int best = -1;
        for (int i = 0; i + 1 < *n; i++)
            if (pair[i] >= 0 && (best < 0 || t->scores[pair[i]] > t->scores[pair[best]]))
                best = i;
        if (best < 0)
            return;
        tok[best] = pair[best];
        memmove (tok + best + 1, tok + best + 2, (size_t) (*n - best - 2) * sizeof *tok);
        memmove (pair + best + 1, pair + best + 2,
                 (size_t) (*n > best + 3 ? *n - best - 3 : 0) * sizeof *pair);
        (*n)--;
        if (best > 0)
            pair[best - 1] = pair_id (t, tok, best - 1, buf);
        if (best + 1 < *n)
            pair[best] = pair_id (t, tok, best, buf);
    }
}

/* Split text into UTF-8 code points (a lead byte and at most 3
   continuation bytes; stray continuation bytes stand alone). */
static int
split_units (const ofr_bpe_llama2c *t, const char *text, size_t len, int *tok, int *n,
             char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len) {
        size_t u = 1;
        while (i + u < len && u < 4 && ((unsigned char) text[i + u] & 0xC0) == 0x80)
            u++;
        if (push_unit (t, text + i, u, tok, n, err, errlen))
            return -1;
        i += u;
    }
    return 0;
}

int
ofr_bpe_llama2c_encode (const ofr_bpe_llama2c *t, const char *text, size_t len,
                        bool bos, bool eos, int **tokens, int *n,
                        char *err, size_t errlen)
{
    *tokens = NULL;
    *n = 0;
    if (len > (size_t) INT32_MAX - 4)
        return ofr_errf (err, errlen, "%s: text of %zu bytes is too long to encode",
                         t->path, len);
    /* Every byte yields at most one token; + BOS, dummy prefix, EOS. */
    size_t cap = len + 3;
    int *tok = ofr_calloc (cap, sizeof *tok);
    int *pair = ofr_calloc (cap, sizeof *pair);
    char *buf = ofr_calloc (2 * t->max_len + 1, 1);
    int rc = -1, m = 0, *text_tok = tok + (bos ? 1 : 0);
    if (!tok || !pair || !buf) {
        ofr_errf (err, errlen, "%s: out of memory encoding %zu bytes", t->path, len);
        goto done;
    }
    if (len > 0 && (push_unit (t, " ", 1, text_tok, &m, err, errlen)
                    || split_units (t, text, len, text_tok, &m, err, errlen)))
        goto done;
    merge_pairs (t, text_tok, &m, pair, buf);
    if (bos)
        tok[0] = OFR_LLAMA_BOS;
    *n = m + (bos ? 1 : 0);
    if (eos)
        tok[(*n)++] = OFR_LLAMA_EOS;
    *tokens = tok;
    tok = NULL;
    rc = 0;
done:
    free (tok);
    free (pair);
    free (buf);
    return rc;
}

const char *
ofr_bpe_llama2c_decode (const ofr_bpe_llama2c *t, int prev, int token, size_t *len)
{
    *len = 0;
    if (token < 0 || token >= t->n)
        return NULL;
    const piece_ref *p = &t->pieces[token];
    if (prev == OFR_LLAMA_BOS && p->len > 0 && p->s[0] == ' ') {
        *len = p->len - 1;
        return p->s + 1;
    }
    if (t->byte_of[token] >= 0) {
        *len = 1;
        return &t->bytes[t->byte_of[token]];
    }
    *len = p->len;
    return p->s;
}

void
ofr_bpe_llama2c_decode_all (const ofr_bpe_llama2c *t, const int *tokens, int n,
                            ofr_buf *out)
{
    for (int i = 0; i < n; i++) {
        if (tokens[i] == OFR_LLAMA_BOS || tokens[i] == OFR_LLAMA_EOS)
            continue;
        size_t len;
        const char *s = ofr_bpe_llama2c_decode (t, i > 0 ? tokens[i - 1] : -1, tokens[i], &len);
        if (s && len)
            ofr_buf_append (out, s, len);
    }
}
