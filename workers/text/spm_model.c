/*  spm_model.c -- see spm_model.h. Protobuf wire format: a key varint
    (field << 3 | wire type), then a varint (0), 8 bytes (1), a varint
    length + bytes (2) or 4 bytes (5). Field numbers from sentencepiece's
    sentencepiece_model.proto: ModelProto.pieces 1, trainer_spec 2,
    normalizer_spec 3; SentencePiece.piece 1, score 2 (float), type 3
    (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6);
    TrainerSpec.model_type 3 (UNIGRAM 1), byte_fallback 35;
    NormalizerSpec.add_dummy_prefix 3. */
#include "spm_model.h"
#include "unigram.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ofr_spm {
    ofr_unigram *u;
    bool         marian_codes;
};

void
ofr_spm_marian_codes (ofr_spm *s, bool on)
{
    s->marian_codes = on;
}

/* MarianTokenizer.remove_language_code: re ">>.+<<" (greedy: up to the
   last "<<") is cut out of the text; a match at the start is the code.
   *a..*b is the span (a == b: none). */
static void
lang_code (const char *text, size_t *a, size_t *b)
{
    *a = *b = 0;
    const char *open = strstr (text, ">>"), *close = NULL;
    for (const char *p = open ? strstr (open + 3, "<<") : NULL; p; p = strstr (p + 1, "<<"))
        close = p;
    if (open && close) {
        *a = (size_t) (open - text);
        *b = (size_t) (close - text) + 2;
    }
}

typedef struct {
    const unsigned char *p;
    size_t               end, off;
    const char          *path;
    char                *err;
    size_t               errlen;
} pb;

static int
varint (pb *c, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->off >= c->end)
            return ofr_errf (c->err, c->errlen, "%s: truncated varint at byte %zu", c->path, c->off);
        unsigned char b = c->p[c->off++];
        *v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return ofr_errf (c->err, c->errlen, "%s: varint too long at byte %zu", c->path, c->off);
}

/* The next field: *field, *wire, and for wire 2 the sub-range [*a, *b). */
static int
next_field (pb *c, unsigned *field, unsigned *wire, uint64_t *val, size_t *a, size_t *b)
{
    uint64_t key;
    if (varint (c, &key) != 0)
        return -1;
    *field = (unsigned) (key >> 3);
    *wire = (unsigned) (key & 7);
    size_t at = c->off;
    switch (*wire) {
    case 0:
        return varint (c, val);
    case 1: case 5: {
        size_t n = *wire == 1 ? 8 : 4;
        if (c->end - c->off < n)
            return ofr_errf (c->err, c->errlen, "%s: truncated field %u at byte %zu", c->path,
                             *field, at);
        *val = 0;
        for (size_t i = 0; i < n; i++)
            *val |= (uint64_t) c->p[c->off + i] << (8 * i);
        c->off += n;
        return 0;
    }
    case 2:
        if (varint (c, val) != 0)
            return -1;
        if (*val > c->end - c->off)
            return ofr_errf (c->err, c->errlen, "%s: field %u at byte %zu: length %llu past "
                             "the end", c->path, *field, at, (unsigned long long) *val);
        *a = c->off;
        *b = c->off + (size_t) *val;
        c->off = *b;
        return 0;
    default:
        return ofr_errf (c->err, c->errlen, "%s: field %u at byte %zu has wire type %u "
                         "(not a SentencePiece model?)", c->path, *field, at, *wire);
    }
}

typedef struct {
    json_t *vocab;
    int     unk, kept;
    long    model_type;
    bool    byte_fallback, dummy_prefix;
} spm_info;

static int
piece (pb *outer, size_t a, size_t b, spm_info *info)
{
    pb c = *outer;
    c.off = a;
    c.end = b;
    const unsigned char *s = NULL;
    size_t len = 0;
    float score = 0;
    uint64_t type = 1;
    while (c.off < c.end) {
        unsigned f, w;
        uint64_t v = 0;
        size_t x = 0, y = 0;
        if (next_field (&c, &f, &w, &v, &x, &y) != 0)
            return -1;
        if (f == 1 && w == 2) {
            s = c.p + x;
            len = y - x;
        } else if (f == 2 && w == 5) {
            uint32_t u = (uint32_t) v;
            memcpy (&score, &u, sizeof score);
        } else if (f == 3 && w == 0)
            type = v;
    }
    if (!s || len == 0 || memchr (s, 0, len))
        return ofr_errf (c.err, c.errlen, "%s: piece at byte %zu is empty or holds a NUL",
                         c.path, a);
    if (type == 3 || type == 5)          /* CONTROL, UNUSED: never in text */
        return 0;
    if (!isfinite (score))
        return ofr_errf (c.err, c.errlen, "%s: piece at byte %zu has a non-finite score",
                         c.path, a);
    json_t *e = json_pack ("[s%f]", (const char *) s, len, (double) score);
    if (!e || json_array_append_new (info->vocab, e) != 0)
        return ofr_errf (c.err, c.errlen, "%s: piece at byte %zu: invalid UTF-8 (or out of "
                         "memory)", c.path, a);
    if (type == 2)
        info->unk = info->kept;
    info->kept++;
    return 0;
}

static int
scan (pb *c, spm_info *info)
{
    while (c->off < c->end) {
        unsigned f, w;
        uint64_t v = 0;
        size_t a = 0, b = 0;
        if (next_field (c, &f, &w, &v, &a, &b) != 0)
            return -1;
        if (w != 2 || f < 1 || f > 3)
            continue;
        if (f == 1) {
            if (piece (c, a, b, info) != 0)
                return -1;
            continue;
        }
        pb sub = *c;
        sub.off = a;
        sub.end = b;
        while (sub.off < sub.end) {
            unsigned sf, sw;
            uint64_t sv = 0;
            size_t x, y;
            if (next_field (&sub, &sf, &sw, &sv, &x, &y) != 0)
                return -1;
            if (f == 2 && sf == 3 && sw == 0)
                info->model_type = (long) sv;
            else if (f == 2 && sf == 35 && sw == 0)
                info->byte_fallback = sv != 0;
            else if (f == 3 && sf == 3 && sw == 0)
                info->dummy_prefix = sv != 0;
        }
    }
    return 0;
}

int
ofr_spm_load (const char *path, ofr_spm **out, char *err, size_t errlen)
{
    *out = NULL;
    char *data = NULL;
    size_t size = 0;
    if (ofr_read_file (path, &data, &size, err, errlen) != 0)
        return -1;
    spm_info info = { json_array (), -1, 0, 1, false, true };
    pb c = { (const unsigned char *) data, size, 0, path, err, errlen };
    int rc = info.vocab ? scan (&c, &info) : ofr_errf (err, errlen, "%s: out of memory", path);
    if (rc == 0 && info.model_type != 1)
        rc = ofr_errf (err, errlen, "%s: trainer_spec.model_type is %ld; only unigram (1) "
                       "SentencePiece models are supported", path, info.model_type);
    if (rc == 0 && info.kept == 0)
        rc = ofr_errf (err, errlen, "%s: no usable pieces", path);
    json_t *root = NULL;
    if (rc == 0) {
        root = json_pack ("{s:n, s:{s:s, s:s, s:s, s:b}, s:{s:s, s:O, s:b}}",
                          "normalizer",
                          "pre_tokenizer", "type", "Metaspace", "replacement", "\xe2\x96\x81",
                          "prepend_scheme", info.dummy_prefix ? "always" : "never", "split", 1,
                          "model", "type", "Unigram", "vocab", info.vocab,
                          "byte_fallback", info.byte_fallback);
        if (root && info.unk >= 0 && json_object_set_new (json_object_get (root, "model"), "unk_id",
                                                          json_integer (info.unk)) != 0)
            rc = ofr_errf (err, errlen, "%s: out of memory", path);
        else if (!root)
            rc = ofr_errf (err, errlen, "%s: out of memory", path);
    }
    ofr_spm *s = rc == 0 ? ofr_calloc (1, sizeof *s) : NULL;
    if (rc == 0 && !s)
        rc = ofr_errf (err, errlen, "%s: out of memory", path);
    if (rc == 0)
        rc = ofr_unigram_load_json (root, path, &s->u, err, errlen);
    json_decref (root);
    json_decref (info.vocab);
    free (data);
    if (rc != 0) {
        ofr_spm_destroy (&s);
        return -1;
    }
    *out = s;
    return 0;
}

int
ofr_spm_load_tokenizer_json (const char *path, ofr_spm **out, char *err, size_t errlen)
{
    *out = ofr_calloc (1, sizeof **out);
    if (!*out)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    if (ofr_unigram_load (path, &(*out)->u, err, errlen) != 0) {
        ofr_spm_destroy (out);
        return -1;
    }
    return 0;
}

void
ofr_spm_destroy (ofr_spm **sp)
{
    if (!sp || !*sp)
        return;
    ofr_unigram_destroy (&(*sp)->u);
    free (*sp);
    *sp = NULL;
}

int
ofr_spm_size (const ofr_spm *s)
{
    return ofr_unigram_vocab_size (s->u);
}

static bool
is_space (unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int
ofr_spm_encode (const ofr_spm *s, const char *text, ofr_buf *out, char *err, size_t errlen)
{
    ofr_buf norm, cut;
    ofr_buf_init (&norm);
    ofr_buf_init (&cut);
    ofr_buf_puts (&norm, "");
    size_t ca = 0, cb = 0;
    const char *orig = text;
    if (s->marian_codes)
        lang_code (text, &ca, &cb);
    if (cb > ca) {
        ofr_buf_append (&cut, text, ca);
        ofr_buf_puts (&cut, text + cb);
        text = cut.oom ? "" : cut.data;
    }
    for (const char *p = text; *p; p++) {
        if (!is_space ((unsigned char) *p))
            ofr_buf_append (&norm, p, 1);
        else if (norm.len && !is_space ((unsigned char) p[1]) && p[1])
            ofr_buf_append (&norm, " ", 1);
    }
    ofr_wp_ids ids = { 0 };
    int rc = norm.oom ? ofr_errf (err, errlen, "out of memory")
                      : ofr_unigram_tokenize (s->u, norm.data, &ids, err, errlen);
    ofr_buf_free (&norm);
    ofr_buf_reset (out);
    ofr_buf_puts (out, "");
    int n = (int) ids.len;
    if (ca == 0 && cb > ca) {
        /* The code is one piece; with whitespace inside (the greedy match
           spans several codes) it is no vocabulary entry: <unk>. */
        bool ws = false;
        for (size_t i = 0; i < cb; i++)
            ws |= is_space ((unsigned char) orig[i]);
        if (ws)
            ofr_buf_puts (out, "<unk>");
        else
            ofr_buf_append (out, orig, cb);
        n++;
    }
    for (size_t i = 0; rc == 0 && i < ids.len; i++) {
        const char *t = ofr_unigram_token (s->u, ids.v[i]);
        ofr_buf_printf (out, "%s%s", out->len ? " " : "", t ? t : "");
    }
    ofr_wp_ids_free (&ids);
    if (cut.oom && rc == 0)
        rc = ofr_errf (err, errlen, "out of memory");
    ofr_buf_free (&cut);
    if (rc == 0 && out->oom)
        rc = ofr_errf (err, errlen, "out of memory");
    return rc == 0 ? n : -1;
}
