/*  sp_bpe.c -- SentencePiece-style BPE from tokenizer.json (see sp_bpe.h). */
#include "sp_bpe.h"
#include "utf8.h"
#include "../../common/ofr_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META "\xe2\x96\x81"          /* U+2581, the default replacement */

typedef struct { char *s; size_t len; int id; bool lstrip, rstrip; } added_tok;
typedef struct { uint64_t key; int rank, new_id; } merge_slot;
typedef enum { N_PREPEND, N_REPLACE } norm_kind;
typedef struct { norm_kind kind; char *a, *b; } norm_step;

struct ofr_sp_bpe {
    char       **piece;       /* [n] vocab piece of an id, or NULL           */
    char       **bytes;       /* [n] decoded bytes                           */
    size_t      *blen;
    bool        *special;
    int          n;
    int         *slot;        /* piece hash: id or -1                        */
    size_t       mask;
    merge_slot  *merges;
    size_t       mmask;
    added_tok   *added;
    int          n_added;
    norm_step   *norm;
    int          n_norm;
    bool         meta;        /* Metaspace pre-tokenizer                     */
    char        *repl;        /* its replacement                             */
    int          prepend;     /* 0 never, 1 first, 2 always                  */
    bool         split;
    int          unk;
    bool         fuse_unk, byte_fallback;
    int          fallback[256];
    const char  *path;
};

static uint64_t
hash_str (const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char) s[i]) * 1099511628211ull;
    return h;
}

static int
lookup (const ofr_sp_bpe *t, const char *s, size_t len)
{
    for (size_t i = hash_str (s, len) & t->mask;; i = (i + 1) & t->mask) {
        int id = t->slot[i];
        if (id < 0)
            return -1;
        if (strlen (t->piece[id]) == len && memcmp (t->piece[id], s, len) == 0)
            return id;
    }
}

static uint64_t
mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

static const merge_slot *
merge_get (const ofr_sp_bpe *t, int a, int b)
{
    uint64_t key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    for (size_t i = mix (key) & t->mmask;; i = (i + 1) & t->mmask) {
        if (t->merges[i].key == UINT64_MAX)
            return NULL;
        if (t->merges[i].key == key)
            return &t->merges[i];
    }
}

void
ofr_sp_bpe_destroy (ofr_sp_bpe **self)
{
    if (!self || !*self)
        return;
    ofr_sp_bpe *t = *self;
    for (int i = 0; i < t->n; i++) {
        free (t->piece[i]);
        free (t->bytes[i]);
    }
    for (int i = 0; i < t->n_added; i++)
        free (t->added[i].s);
    for (int i = 0; i < t->n_norm; i++) {
        free (t->norm[i].a);
        free (t->norm[i].b);
    }
    free (t->piece);
    free (t->bytes);
    free (t->blen);
    free (t->special);
    free (t->slot);
    free (t->merges);
    free (t->added);
    free (t->norm);
    free (t->repl);
    free (t);
    *self = NULL;
}

/* ---- loading ------------------------------------------------------------- */

static size_t
pow2_above (size_t n)
{
    size_t c = 16;
    while (c < 2 * n)
        c *= 2;
    return c;
}

static int
load_normalizer (ofr_sp_bpe *t, json_t *nz, char *err, size_t errlen)
{
    if (!nz || json_is_null (nz))
        return 0;
    const char *type = json_string_value (json_object_get (nz, "type"));
    json_t *list = json_object_get (nz, "normalizers");
    size_t n = type && !strcmp (type, "Sequence") ? json_array_size (list) : 1;
    t->norm = ofr_calloc (n ? n : 1, sizeof *t->norm);
    if (!t->norm)
        return ofr_errf (err, errlen, "%s: out of memory", t->path);
    for (size_t i = 0; i < n; i++) {
        json_t *s = type && !strcmp (type, "Sequence") ? json_array_get (list, i) : nz;
        const char *st = json_string_value (json_object_get (s, "type"));
        norm_step *ns = &t->norm[t->n_norm];
        if (st && !strcmp (st, "Prepend") && json_is_string (json_object_get (s, "prepend"))) {
            ns->kind = N_PREPEND;
            ns->a = ofr_strdup (json_string_value (json_object_get (s, "prepend")));
            ns->b = ofr_strdup ("");
        } else if (st && !strcmp (st, "Replace")
                   && json_is_string (json_object_get (json_object_get (s, "pattern"), "String"))
                   && json_is_string (json_object_get (s, "content"))) {
            ns->kind = N_REPLACE;
            ns->a = ofr_strdup (json_string_value (json_object_get (json_object_get (s, "pattern"), "String")));
            ns->b = ofr_strdup (json_string_value (json_object_get (s, "content")));
            if (ns->a && !ns->a[0])
                return ofr_errf (err, errlen, "%s: normalizer Replace of an empty string",
                                 t->path);
        } else
            return ofr_errf (err, errlen, "%s: normalizer %s is not supported by the "
                             "SentencePiece-BPE reader (Prepend, Replace of a String)",
                             t->path, st ? st : "(no type)");
        t->n_norm++;
        if (!ns->a || !ns->b)
            return ofr_errf (err, errlen, "%s: out of memory", t->path);
    }
    return 0;
}

static int
load_pre (ofr_sp_bpe *t, json_t *pre, char *err, size_t errlen)
{
    if (!pre || json_is_null (pre))
        return 0;
    const char *type = json_string_value (json_object_get (pre, "type"));
    if (!type || strcmp (type, "Metaspace") != 0)
        return ofr_errf (err, errlen, "%s: pre_tokenizer %s is not supported by the "
                         "SentencePiece-BPE reader (null or Metaspace)", t->path,
                         type ? type : "(no type)");
    const char *r = json_string_value (json_object_get (pre, "replacement"));
    const char *ps = json_string_value (json_object_get (pre, "prepend_scheme"));
    json_t *aps = json_object_get (pre, "add_prefix_space");
    t->meta = true;
    t->repl = ofr_strdup (r && *r ? r : META);
    t->prepend = ps ? (!strcmp (ps, "always") ? 2 : !strcmp (ps, "first") ? 1 : 0)
                    : aps && !json_is_true (aps) ? 0 : 2;
    t->split = !json_is_false (json_object_get (pre, "split"));
    if (ps && strcmp (ps, "always") && strcmp (ps, "first") && strcmp (ps, "never"))
        return ofr_errf (err, errlen, "%s: Metaspace prepend_scheme \"%s\"", t->path, ps);
    return t->repl ? 0 : ofr_errf (err, errlen, "%s: out of memory", t->path);
}

/* The decoded bytes of every id. */
static int
piece_bytes (ofr_sp_bpe *t)
{
    for (int id = 0; id < t->n; id++) {
        const char *p = t->piece[id];
        if (!p)
            continue;
        size_t len = strlen (p);
        unsigned hex;
        char tail;
        t->bytes[id] = malloc (len + 1);
        if (!t->bytes[id])
            return -1;
        if (len == 6 && sscanf (p, "<0x%2X%c", &hex, &tail) == 2 && tail == '>') {
            t->bytes[id][0] = (char) hex;
            t->blen[id] = 1;
            continue;
        }
        if (t->special[id]) {
            t->blen[id] = 0;
            continue;
        }
        size_t k = 0;
        for (size_t i = 0; i < len;)
            if (i + 3 <= len && memcmp (p + i, META, 3) == 0) {
                t->bytes[id][k++] = ' ';
                i += 3;
            } else
                t->bytes[id][k++] = p[i++];
        t->blen[id] = k;
    }
    return 0;
}

static int
load_vocab (ofr_sp_bpe *t, json_t *vocab, json_t *added, char *err, size_t errlen)
{
    if (!json_is_object (vocab))
        return ofr_errf (err, errlen, "%s: model.vocab is not an object of ids", t->path);
    long long top = -1;
    const char *k;
    json_t *v;
    json_object_foreach (vocab, k, v) {
        if (!json_is_integer (v) || json_integer_value (v) < 0
            || json_integer_value (v) >= (1 << 24))
            return ofr_errf (err, errlen, "%s: model.vocab[\"%s\"] is not an id in "
                             "0..16777215", t->path, k);
        top = json_integer_value (v) > top ? json_integer_value (v) : top;
    }
    size_t i;
    json_array_foreach (added, i, v) {
        json_t *id = json_object_get (v, "id");
        if (!json_is_integer (id) || json_integer_value (id) < 0
            || json_integer_value (id) >= (1 << 24)
            || !json_is_string (json_object_get (v, "content")))
            return ofr_errf (err, errlen, "%s: added_tokens[%zu]: bad id or content",
                             t->path, i);
        top = json_integer_value (id) > top ? json_integer_value (id) : top;
    }
    t->n = (int) top + 1;
    size_t n = (size_t) t->n + 1;
    t->piece = ofr_calloc (n, sizeof *t->piece);
    t->bytes = ofr_calloc (n, sizeof *t->bytes);
    t->blen = ofr_calloc (n, sizeof *t->blen);
    t->special = ofr_calloc (n, sizeof *t->special);
    t->mask = pow2_above (n) - 1;
    t->slot = ofr_calloc (t->mask + 1, sizeof *t->slot);
    t->added = ofr_calloc (json_array_size (added) + 1, sizeof *t->added);
    if (!t->piece || !t->bytes || !t->blen || !t->special || !t->slot || !t->added)
        return ofr_errf (err, errlen, "%s: out of memory", t->path);
    for (size_t s = 0; s <= t->mask; s++)
        t->slot[s] = -1;
    json_object_foreach (vocab, k, v) {
        int id = (int) json_integer_value (v);
        if (t->piece[id])
            return ofr_errf (err, errlen, "%s: model.vocab: id %d used twice", t->path, id);
        if (!(t->piece[id] = ofr_strdup (k)))
            return ofr_errf (err, errlen, "%s: out of memory", t->path);
        size_t s = hash_str (k, strlen (k)) & t->mask;
        while (t->slot[s] >= 0)
            s = (s + 1) & t->mask;
        t->slot[s] = id;
    }
    json_array_foreach (added, i, v) {
        added_tok *a = &t->added[t->n_added++];
        a->id = (int) json_integer_value (json_object_get (v, "id"));
        a->s = ofr_strdup (json_string_value (json_object_get (v, "content")));
        a->len = a->s ? strlen (a->s) : 0;
        a->lstrip = json_is_true (json_object_get (v, "lstrip"));
        a->rstrip = json_is_true (json_object_get (v, "rstrip"));
        if (!a->s || (!t->piece[a->id] && !(t->piece[a->id] = ofr_strdup (a->s))))
            return ofr_errf (err, errlen, "%s: out of memory", t->path);
        if (!a->len)
            return ofr_errf (err, errlen, "%s: added_tokens[%zu] is empty", t->path, i);
        t->special[a->id] = json_is_true (json_object_get (v, "special"));
    }
    return 0;
}

static int
load_merges (ofr_sp_bpe *t, json_t *merges, char *err, size_t errlen)
{
    if (!json_is_array (merges))
        return ofr_errf (err, errlen, "%s: model.merges is not an array", t->path);
    size_t n = json_array_size (merges);
    t->mmask = pow2_above (n + 1) - 1;
    t->merges = ofr_calloc (t->mmask + 1, sizeof *t->merges);
    if (!t->merges)
        return ofr_errf (err, errlen, "%s: out of memory", t->path);
    for (size_t s = 0; s <= t->mmask; s++)
        t->merges[s].key = UINT64_MAX;
    ofr_buf ab;
    ofr_buf_init (&ab);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *m = json_array_get (merges, i);
        const char *a = NULL, *b = NULL;
        char *tmp = NULL;
        if (json_is_array (m) && json_array_size (m) == 2) {
            a = json_string_value (json_array_get (m, 0));
            b = json_string_value (json_array_get (m, 1));
        } else if (json_is_string (m) && (tmp = ofr_strdup (json_string_value (m)))) {
            char *sp = strchr (tmp, ' ');
            if (sp) {
                *sp = 0;
                a = tmp;
                b = sp + 1;
            }
        }
        int ia = a ? lookup (t, a, strlen (a)) : -1, ib = b ? lookup (t, b, strlen (b)) : -1;
        ofr_buf_reset (&ab);
        if (a && b)
            ofr_buf_printf (&ab, "%s%s", a, b);
        int ic = a && b && !ab.oom ? lookup (t, ab.data, ab.len) : -1;
        if (ia < 0 || ib < 0 || ic < 0)
            rc = ofr_errf (err, errlen, "%s: model.merges[%zu] %s%s%s%s names a piece "
                           "not in model.vocab", t->path, i, a ? "\"" : "", a ? a : "",
                           b ? " " : "", b ? b : "(not \"A B\" or [A, B])");
        else {
            uint64_t key = (uint64_t) (uint32_t) ia << 32 | (uint32_t) ib;
            size_t s = mix (key) & t->mmask;
            while (t->merges[s].key != UINT64_MAX && t->merges[s].key != key)
                s = (s + 1) & t->mmask;
            if (t->merges[s].key == UINT64_MAX)   /* the first rank wins */
                t->merges[s] = (merge_slot) { key, (int) i, ic };
        }
        free (tmp);
    }
    ofr_buf_free (&ab);
    return rc;
}

static int
load_root (ofr_sp_bpe *t, json_t *root, char *err, size_t errlen)
{
    json_t *model = json_object_get (root, "model");
    const char *mt = json_string_value (json_object_get (model, "type"));
    if (!mt || strcmp (mt, "BPE") != 0)
        return ofr_errf (err, errlen, "%s: model.type is %s, not BPE", t->path,
                         mt ? mt : "missing");
    static const char *nulls[] = { "continuing_subword_prefix", "end_of_word_suffix" };
    for (int i = 0; i < 2; i++) {
        const char *s = json_string_value (json_object_get (model, nulls[i]));
        if (s && *s)
            return ofr_errf (err, errlen, "%s: model.%s is not supported", t->path,
                             nulls[i]);
    }
    json_t *dr = json_object_get (model, "dropout");
    if (json_is_number (dr) && json_number_value (dr) > 0)
        return ofr_errf (err, errlen, "%s: model.dropout > 0 is not supported", t->path);
    json_t *added = json_object_get (root, "added_tokens");
    if (added && !json_is_array (added) && !json_is_null (added))
        return ofr_errf (err, errlen, "%s: added_tokens is not an array", t->path);
    if (load_normalizer (t, json_object_get (root, "normalizer"), err, errlen)
        || load_pre (t, json_object_get (root, "pre_tokenizer"), err, errlen)
        || load_vocab (t, json_object_get (model, "vocab"), json_is_array (added) ? added
                       : NULL, err, errlen)
        || load_merges (t, json_object_get (model, "merges"), err, errlen))
        return -1;
    t->fuse_unk = json_is_true (json_object_get (model, "fuse_unk"));
    t->byte_fallback = json_is_true (json_object_get (model, "byte_fallback"));
    const char *unk = json_string_value (json_object_get (model, "unk_token"));
    t->unk = unk ? lookup (t, unk, strlen (unk)) : -1;
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf (hex, sizeof hex, "<0x%02X>", b);
        t->fallback[b] = lookup (t, hex, 6);
    }
    if (piece_bytes (t))
        return ofr_errf (err, errlen, "%s: out of memory", t->path);
    return 0;
}

int
ofr_sp_bpe_load (const char *path, ofr_sp_bpe **out, char *err, size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file (path, 0, &je);
    if (!root)
        return ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text);
    ofr_sp_bpe *t = ofr_calloc (1, sizeof *t);
    int rc = -1;
    if (!t)
        ofr_errf (err, errlen, "%s: out of memory", path);
    else {
        t->path = path;
        rc = load_root (t, root, err, errlen);
        t->path = NULL;
    }
    json_decref (root);
    if (rc)
        ofr_sp_bpe_destroy (&t);
    *out = t;
    return rc;
}

int  ofr_sp_bpe_vocab_size (const ofr_sp_bpe *t) { return t->n; }

bool
ofr_sp_bpe_is_special (const ofr_sp_bpe *t, int id)
{
    return id >= 0 && id < t->n && t->special[id];
}

bool
ofr_sp_bpe_adds_prefix (const ofr_sp_bpe *t)
{
    for (int i = 0; i < t->n_norm; i++)
        if (t->norm[i].kind == N_PREPEND)
            return true;
    return t->meta && t->prepend > 0;
}

int
ofr_sp_bpe_token_id (const ofr_sp_bpe *t, const char *piece)
{
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp (t->added[i].s, piece))
            return t->added[i].id;
    return lookup (t, piece, strlen (piece));
}

const char *
ofr_sp_bpe_bytes (const ofr_sp_bpe *t, int id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n || !t->bytes[id])
        return NULL;
    *len = t->blen[id];
    return t->bytes[id];
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct {
    const ofr_sp_bpe *t;
    int    *ids;
    size_t  n, cap;
    int    *sym;               /* one word's symbols                        */
    size_t  sym_cap;
    ofr_buf a, b;              /* normalizer scratch                        */
} enc;

static int
push (enc *e, int **v, size_t *n, size_t *cap, int id)
{
    if (ofr_grow ((void **) v, cap, *n + 1, sizeof **v))
        return -1;
    (*v)[(*n)++] = id;
    (void) e;
    return 0;
}

/* BPE of one word s[0..len) into e->ids. */
static int
bpe_word (enc *e, const char *s, size_t len, char *err, size_t errlen)
{
    const ofr_sp_bpe *t = e->t;
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        size_t k = ofr_utf8_len ((unsigned char) s[i]);
        if (k == 0)                     /* a stray byte stands alone */
            k = 1;
        if (i + k > len)
            k = len - i;
        int id = lookup (t, s + i, k);
        bool fell = false;
        if (id < 0 && t->byte_fallback) {
            fell = true;
            for (size_t j = 0; j < k && fell; j++)
                fell = t->fallback[(unsigned char) s[i + j]] >= 0;
            for (size_t j = 0; j < k && fell; j++)
                if (push (e, &e->sym, &m, &e->sym_cap, t->fallback[(unsigned char) s[i + j]]))
                    return ofr_errf (err, errlen, "out of memory");
        }
        if (id < 0 && !fell) {
            if (t->unk < 0)
                return ofr_errf (err, errlen, "tokenizer: \"%.*s\" is not in the "
                                 "vocabulary and there is no unk_token", (int) k, s + i);
            id = t->unk;
            if (t->fuse_unk && m > 0 && e->sym[m - 1] == t->unk)
                id = -2;
        }
        if (id >= 0 && push (e, &e->sym, &m, &e->sym_cap, id))
            return ofr_errf (err, errlen, "out of memory");
        i += k;
    }
    for (;;) {
        int best = -1, rank = 0, new_id = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            const merge_slot *ms = merge_get (t, e->sym[i], e->sym[i + 1]);
            if (ms && (best < 0 || ms->rank < rank)) {
                best = (int) i;
                rank = ms->rank;
                new_id = ms->new_id;
            }
        }
        if (best < 0)
            break;
        e->sym[best] = new_id;
        memmove (e->sym + best + 1, e->sym + best + 2, (m - (size_t) best - 2) * sizeof (int));
        m--;
    }
    for (size_t i = 0; i < m; i++)
        if (push (e, &e->ids, &e->n, &e->cap, e->sym[i]))
            return ofr_errf (err, errlen, "out of memory");
    return 0;
}

/* Replace every a in src by b into dst (reset first). */
static void
replace_all (ofr_buf *dst, const char *src, size_t len, const char *a, const char *b)
{
    size_t al = strlen (a);
    ofr_buf_reset (dst);
    ofr_buf_puts (dst, "");
    for (size_t i = 0; i < len;)
        if (i + al <= len && memcmp (src + i, a, al) == 0) {
            ofr_buf_puts (dst, b);
            i += al;
        } else
            ofr_buf_append (dst, src + i++, 1);
}

/* Normalize, pre-tokenize and BPE the text between added tokens. */
static int
encode_piece (enc *e, const char *s, size_t len, bool first, char *err, size_t errlen)
{
    const ofr_sp_bpe *t = e->t;
    if (len == 0)
        return 0;
    ofr_buf_reset (&e->a);
    ofr_buf_append (&e->a, s, len);
    for (int i = 0; i < t->n_norm; i++) {
        const norm_step *ns = &t->norm[i];
        if (ns->kind == N_PREPEND) {
            ofr_buf_reset (&e->b);
            ofr_buf_puts (&e->b, ns->a);
            ofr_buf_append (&e->b, e->a.data, e->a.len);
        } else
            replace_all (&e->b, e->a.data, e->a.len, ns->a, ns->b);
        ofr_buf tmp = e->a;
        e->a = e->b;
        e->b = tmp;
    }
    if (t->meta) {
        replace_all (&e->b, e->a.data, e->a.len, " ", t->repl);
        size_t rl = strlen (t->repl);
        bool pre = (t->prepend == 2 || (t->prepend == 1 && first))
                   && !(e->b.len >= rl && memcmp (e->b.data, t->repl, rl) == 0);
        ofr_buf_reset (&e->a);
        if (pre)
            ofr_buf_puts (&e->a, t->repl);
        ofr_buf_append (&e->a, e->b.data, e->b.len);
    }
    if (e->a.oom || e->b.oom)
        return ofr_errf (err, errlen, "out of memory");
    const char *w = e->a.data;
    size_t n = e->a.len;
    if (!t->meta || !t->split)
        return bpe_word (e, w, n, err, errlen);
    /* Split before each replacement (it starts the next word). */
    size_t rl = strlen (t->repl), start = 0;
    for (size_t i = 1; i <= n; i++)
        if (i == n || (i + rl <= n && memcmp (w + i, t->repl, rl) == 0)) {
            if (bpe_word (e, w + start, i - start, err, errlen))
                return -1;
            start = i;
        }
    return 0;
}

static bool
is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int
ofr_sp_bpe_encode (const ofr_sp_bpe *t, const char *text, int **ids, int *n,
                   char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    enc e = { .t = t };
    ofr_buf_init (&e.a);
    ofr_buf_init (&e.b);
    size_t len = strlen (text), start = 0, i = 0;
    int rc = 0;
    while (rc == 0 && i <= len) {
        int hit = -1;
        for (int k = 0; i < len && k < t->n_added; k++)
            if (t->added[k].len <= len - i && memcmp (text + i, t->added[k].s, t->added[k].len) == 0
                && (hit < 0 || t->added[k].len > t->added[hit].len))
                hit = k;
        if (hit < 0 && i < len) {
            i++;
            continue;
        }
        size_t end = i;
        if (hit >= 0 && t->added[hit].lstrip)
            while (end > start && is_space (text[end - 1]))
                end--;
        rc = encode_piece (&e, text + start, end - start, start == 0, err, errlen);
        if (hit < 0)
            break;
        if (rc == 0 && push (&e, &e.ids, &e.n, &e.cap, t->added[hit].id))
            rc = ofr_errf (err, errlen, "out of memory");
        i += t->added[hit].len;
        if (t->added[hit].rstrip)
            while (i < len && is_space (text[i]))
                i++;
        start = i;
    }
    free (e.sym);
    ofr_buf_free (&e.a);
    ofr_buf_free (&e.b);
    if (rc == 0 && e.n > (size_t) 1 << 30)
        rc = ofr_errf (err, errlen, "tokenizer: text too long");
    if (rc) {
        free (e.ids);
        return -1;
    }
    *ids = e.ids;
    *n = (int) e.n;
    return 0;
}
