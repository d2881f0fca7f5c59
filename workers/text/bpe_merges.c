/*  bpe_merges.c -- see bpe_merges.h. */
#include "bpe_merges.h"
#include "bpe_bytes_tables.h"
#include "utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK "\xe2\x96\x81"      /* U+2581 */
#define MARK_LEN 3

struct ofr_bpe_merges {
    char     *arena;      /* keys "LEFT RIGHT\0", back to back          */
    size_t    arena_len;
    size_t   *slot_key;   /* [cap] arena offset + 1, 0 = empty          */
    int      *slot_rank;
    size_t    cap;        /* power of two                               */
    int       n;
};

static uint64_t
fnv (const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char) s[i]) * 1099511628211ull;
    return h;
}

/* Rank of key[0..n), or -1. */
static int
lookup (const ofr_bpe_merges *b, const char *key, size_t n)
{
    for (size_t i = fnv (key, n) & (b->cap - 1);; i = (i + 1) & (b->cap - 1)) {
        if (!b->slot_key[i])
            return -1;
        const char *k = b->arena + b->slot_key[i] - 1;
        if (strncmp (k, key, n) == 0 && k[n] == 0)
            return b->slot_rank[i];
    }
}

void
ofr_bpe_merges_destroy (ofr_bpe_merges **bp)
{
    if (!bp || !*bp)
        return;
    free ((*bp)->arena);
    free ((*bp)->slot_key);
    free ((*bp)->slot_rank);
    free (*bp);
    *bp = NULL;
}

int
ofr_bpe_merges_count (const ofr_bpe_merges *b)
{
    return b->n;
}

int
ofr_bpe_merges_load (const char *path, ofr_bpe_merges **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen (path, "rb");
    if (!fp)
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    ofr_bpe_merges *b = ofr_calloc (1, sizeof *b);
    size_t acap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int rc = b ? 0 : ofr_errf (err, errlen, "out of memory"), lineno = 0;
    while (rc == 0 && (got = getline (&line, &lcap, fp)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (lineno == 1) {
            if (strcmp (line, "#version: offramp-bpe 1") != 0)
                rc = ofr_errf (err, errlen, "%s:1: want \"#version: offramp-bpe 1\"", path);
            continue;
        }
        if (got == 0)
            continue;
        char *sp = strchr (line, ' ');
        if (!sp || sp == line || !sp[1] || strchr (sp + 1, ' '))
            rc = ofr_errf (err, errlen, "%s:%d: want \"LEFT RIGHT\"", path, lineno);
        else if (ofr_grow ((void **) &b->arena, &acap, b->arena_len + (size_t) got + 1, 1) != 0)
            rc = ofr_errf (err, errlen, "out of memory");
        else {
            memcpy (b->arena + b->arena_len, line, (size_t) got + 1);
            b->arena_len += (size_t) got + 1;
            b->n++;
        }
    }
    fclose (fp);
    free (line);
    if (rc == 0 && b->n == 0)
        rc = ofr_errf (err, errlen, "%s: no merges", path);
    if (rc == 0) {
        b->cap = 16;
        while (b->cap < 2 * (size_t) b->n)
            b->cap *= 2;
        b->slot_key = ofr_calloc (b->cap, sizeof *b->slot_key);
        b->slot_rank = ofr_calloc (b->cap, sizeof *b->slot_rank);
        if (!b->slot_key || !b->slot_rank)
            rc = ofr_errf (err, errlen, "out of memory");
    }
    /* Insert in rank order; the first occurrence of a pair keeps its rank. */
    size_t off = 0;
    for (int r = 0; rc == 0 && r < b->n; r++) {
        const char *k = b->arena + off;
        size_t n = strlen (k);
        if (lookup (b, k, n) < 0) {
            size_t i = fnv (k, n) & (b->cap - 1);
            while (b->slot_key[i])
                i = (i + 1) & (b->cap - 1);
            b->slot_key[i] = off + 1;
            b->slot_rank[i] = r;
        }
        off += n + 1;
    }
    if (rc != 0) {
        ofr_bpe_merges_destroy (&b);
        return -1;
    }
    *out = b;
    return 0;
}

typedef struct { size_t off, len; } span;

/* BPE of one chunk (bytes c[0..n), marked: "▁" first) appended to out. */
static int
chunk_pieces (const ofr_bpe_merges *b, const char *c, size_t n, bool marked,
              span **sp, size_t *sp_cap, ofr_buf *key, ofr_buf *wbuf, ofr_buf *out,
              int *count)
{
    /* The chunk's bytes, contiguous: a symbol is always a span of them. */
    int ns = 0;
    ofr_buf *word = wbuf;
    ofr_buf_reset (word);
    if (marked)
        ofr_buf_append (word, MARK, MARK_LEN);
    ofr_buf_append (word, c, n);
    if (word->oom || ofr_grow ((void **) sp, sp_cap, word->len + 1, sizeof **sp) != 0)
        return -1;
    span *s = *sp;
    for (size_t i = 0; i < word->len;) {
        size_t len = 1;
        while (i + len < word->len && ((unsigned char) word->data[i + len] & 0xc0) == 0x80)
            len++;
        s[ns++] = (span) { i, len };
        i += len;
    }
    while (ns > 1) {
        int best = -1, bi = -1;
        for (int k = 0; k + 1 < ns; k++) {
            ofr_buf_reset (key);
            ofr_buf_append (key, word->data + s[k].off, s[k].len);
            ofr_buf_append (key, " ", 1);
            ofr_buf_append (key, word->data + s[k + 1].off, s[k + 1].len);
            if (key->oom)
                return -1;
            int r = lookup (b, key->data, key->len);
            if (r >= 0 && (best < 0 || r < best))
                best = r, bi = k;
        }
        if (best < 0)
            break;
        s[bi].len += s[bi + 1].len;
        memmove (s + bi + 1, s + bi + 2, (size_t) (ns - bi - 2) * sizeof *s);
        ns--;
    }
    for (int k = 0; k < ns; k++) {
        if (out->len)
            ofr_buf_append (out, " ", 1);
        ofr_buf_append (out, word->data + s[k].off, s[k].len);
    }
    *count += ns;
    return out->oom ? -1 : 0;
}

int
ofr_bpe_merges_encode (const ofr_bpe_merges *b, const char *text, size_t len,
                       ofr_buf *out, char *err, size_t errlen)
{
    ofr_buf_reset (out);
    ofr_buf_puts (out, "");
    ofr_buf key, word;        /* scratch of this call, reused per chunk */
    ofr_buf_init (&key);
    ofr_buf_init (&word);
    span *sp = NULL;
    size_t sp_cap = 0;
    int count = 0, rc = 0;
    bool word_start = true;
    const unsigned char *u = (const unsigned char *) text;
    for (size_t i = 0; rc == 0 && i < len;) {
        uint32_t cp;
        size_t cl = ofr_utf8_char (u + i, len - i, &cp);
        if (!cl) {
            rc = ofr_errf (err, errlen, "invalid UTF-8 at byte %zu", i);
            break;
        }
        int cls = ofr_bb_class (cp);
        if (cls == OFR_BB_SPACE) {
            word_start = true;
            i += cl;
            continue;
        }
        size_t j = i + cl;
        if (cls == OFR_BB_LETTER)
            for (;;) {
                uint32_t c2;
                size_t l2 = j < len ? ofr_utf8_char (u + j, len - j, &c2) : 0;
                if (!l2 || ofr_bb_class (c2) != OFR_BB_LETTER)
                    break;
                j += l2;
            }
        if (chunk_pieces (b, text + i, j - i, word_start, &sp, &sp_cap, &key, &word, out,
                          &count) != 0)
            rc = ofr_errf (err, errlen, "out of memory");
        word_start = false;
        i = j;
    }
    ofr_buf_free (&key);
    ofr_buf_free (&word);
    free (sp);
    return rc == 0 ? count : -1;
}
