/*  bpe_bytes.c -- GPT-2 / RoBERTa byte-level BPE from tokenizer.json (see
    bpe_bytes.h). The text is cut at added tokens, split by the GPT-2
    pattern over code points, and each piece is merged as bytes, as in
    tokenizers' added_vocabulary.rs, pre_tokenizers/byte_level.rs and
    models/bpe/{model,word}.rs. All scratch memory of one call lives in a
    work struct that only grows, so the per-word loop does not allocate. */
#include "bpe_bytes.h"
#include "bpe_bytes_tables.h"
#include "utf8.h"
#include "../../common/ofr_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDS (1 << 26)

typedef enum { PP_NONE, PP_ROBERTA, PP_BERT, PP_UNSUPPORTED } post_kind;

typedef struct {
    char    *s;
    size_t   len;
    int32_t  id;
    bool     lstrip, rstrip, normalized;
} added_tok;

typedef struct {
    uint64_t key;                /* a << 32 | b; UINT64_MAX: empty        */
    uint32_t rank;
    int32_t  new_id;
} merge_slot;

struct ofr_bpe_bytes {
    char       *pool;            /* model pieces, NUL-terminated           */
    const char **mtok;           /* [n_ids] model piece of an id or NULL   */
    uint32_t   *mlen;            /* [n_ids]                                */
    const char **tok;            /* [n_ids] added token, else model piece  */
    bool       *special;         /* [n_ids]                                */
    int         n_ids;
    int32_t    *slot;            /* model vocab: open addressing, id or -1 */
    size_t      mask;
    merge_slot *merges;
    size_t      mmask;
    added_tok  *added;
    int         n_added;
    bool        has_raw, has_norm;      /* added tokens of either pass     */
    int32_t     piece[4][256];   /* byte's character; +1 prefix, +2 suffix */
    int32_t     fallback[256];   /* <0xXX>                                 */
    char        bchar[256][3];   /* bytes_to_unicode, UTF-8                */
    uint8_t     bchar_len[256];
    int16_t     cbyte[324];      /* code point -> byte, -1                 */
    char       *prefix, *suffix, *unk_name;
    size_t      prefix_len, suffix_len;
    int         unk;
    bool        fuse_unk, byte_fallback, ignore_merges;
    bool        add_prefix_space, use_regex;
    post_kind   post;
    int         cls, sep;
};

/* ---- hashing ------------------------------------------------------------ */

static uint64_t
hash_bytes (const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;       /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t
mix64 (uint64_t x)
{
    x ^= x >> 33;                              /* murmur3 finalizer */
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int
lookup (const ofr_bpe_bytes *self, const char *s, size_t len)
{
    for (size_t i = hash_bytes (s, len) & self->mask;; i = (i + 1) & self->mask) {
        int32_t id = self->slot[i];
        if (id < 0)
            return -1;
        if (self->mlen[id] == len && memcmp (self->mtok[id], s, len) == 0)
            return id;
    }
}

static const merge_slot *
merge_get (const ofr_bpe_bytes *self, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    for (size_t i = mix64 (key) & self->mmask;; i = (i + 1) & self->mmask) {
        const merge_slot *m = &self->merges[i];
        if (m->key == key)
            return m;
        if (m->key == UINT64_MAX)
            return NULL;
    }
}

/* A repeated pair keeps its last rank (HashMap collected in order). */
static void
merge_put (ofr_bpe_bytes *self, int32_t a, int32_t b, uint32_t rank, int32_t new_id)
{
    uint64_t key = (uint64_t) (uint32_t) a << 32 | (uint32_t) b;
    for (size_t i = mix64 (key) & self->mmask;; i = (i + 1) & self->mmask) {
        merge_slot *m = &self->merges[i];
        if (m->key == key || m->key == UINT64_MAX) {
            m->key = key;
            m->rank = rank;
            m->new_id = new_id;
            return;
        }
    }
}

/* ---- Unicode classes ---------------------------------------------------- */

static bool
in_ranges (const ofr_bb_range *r, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid - 1;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

int
ofr_bb_class (uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return OFR_BB_LETTER;
        if (cp >= '0' && cp <= '9')
            return OFR_BB_NUMBER;
        return cp == ' ' || (cp >= 9 && cp <= 13) ? OFR_BB_SPACE : OFR_BB_OTHER;
    }
    if (in_ranges (ofr_bb_letter, ofr_bb_letter_n, cp))
        return OFR_BB_LETTER;
    if (in_ranges (ofr_bb_number, ofr_bb_number_n, cp))
        return OFR_BB_NUMBER;
    return in_ranges (ofr_bb_space, ofr_bb_space_n, cp) ? OFR_BB_SPACE : OFR_BB_OTHER;
}

/* ---- loading ------------------------------------------------------------ */

void
ofr_bpe_bytes_destroy (ofr_bpe_bytes **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_bpe_bytes *self = *self_p;
    for (int i = 0; i < self->n_added; i++)
        free (self->added[i].s);
    free (self->added);
    free (self->pool);
    free (self->mtok);
    free (self->mlen);
    free (self->tok);
    free (self->special);
    free (self->slot);
    free (self->merges);
    free (self->prefix);
    free (self->suffix);
    free (self->unk_name);
    free (self);
    *self_p = NULL;
}

typedef struct {
    const char *path;
    char       *err;
    size_t      errlen;
} json_ctx;

static char *
dup_str (const char *s)
{
    size_t n = strlen (s) + 1;
    char *d = malloc (n);
    return d ? memcpy (d, s, n) : NULL;
}

static const char *
type_of (json_t *o)
{
    json_t *t = json_object_get (o, "type");
    return json_is_string (t) ? json_string_value (t) : NULL;
}

/* Optional string field: absent / null -> NULL (0), string -> copy. */
static int
opt_string (json_t *model, const char *key, char **out, size_t *len, json_ctx *j)
{
    json_t *v = json_object_get (model, key);
    *out = NULL;
    if (len)
        *len = 0;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
        return ofr_errf (j->err, j->errlen, "%s: model.%s must be a string or null", j->path,
                         key);
    if (!(*out = dup_str (json_string_value (v))))
        return ofr_errf (j->err, j->errlen, "%s: out of memory", j->path);
    if (len)
        *len = json_string_length (v);
    return 0;
}

static int
opt_bool (json_t *o, const char *key, bool def, bool *out, const char *where, json_ctx *j)
{
    json_t *v = json_object_get (o, key);
    *out = def;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_boolean (v))
        return ofr_errf (j->err, j->errlen, "%s: %s.%s must be true or false", j->path,
                         where, key);
    *out = json_is_true (v);
    return 0;
}

/* model.vocab {piece: id} plus added_tokens: the id tables. */
static int
load_vocab (ofr_bpe_bytes *self, json_t *model, json_t *added, json_ctx *j)
{
    json_t *vocab = json_object_get (model, "vocab");
    if (!json_is_object (vocab) || json_object_size (vocab) == 0)
        return ofr_errf (j->err, j->errlen, "%s: model.vocab must be a non-empty object "
                         "{piece: id}", j->path);
    if (added && !json_is_null (added) && !json_is_array (added))
        return ofr_errf (j->err, j->errlen, "%s: added_tokens must be an array", j->path);
    size_t bytes = 0, n = json_object_size (vocab);
    json_int_t max_id = -1;
    const char *key;
    json_t *v;
    json_object_foreach (vocab, key, v) {
        if (!json_is_integer (v) || json_integer_value (v) < 0
            || json_integer_value (v) >= MAX_IDS)
            return ofr_errf (j->err, j->errlen, "%s: model.vocab[\"%s\"]: id must be an "
                             "integer in [0, %d)", j->path, key, MAX_IDS);
        if (key[0] == '\0')
            return ofr_errf (j->err, j->errlen, "%s: model.vocab: empty piece", j->path);
        max_id = json_integer_value (v) > max_id ? json_integer_value (v) : max_id;
        bytes += strlen (key) + 1;
    }
    size_t na = added ? json_array_size (added) : 0;
    for (size_t i = 0; i < na; i++) {
        json_t *e = json_array_get (added, i);
        json_t *id = json_object_get (e, "id"), *c = json_object_get (e, "content");
        if (!json_is_object (e) || !json_is_integer (id) || json_integer_value (id) < 0
            || json_integer_value (id) >= MAX_IDS || !json_is_string (c)
            || json_string_length (c) == 0
            || strlen (json_string_value (c)) != json_string_length (c))
            return ofr_errf (j->err, j->errlen, "%s: added_tokens[%zu] must be an object "
                             "with an id in [0, %d) and a non-empty content", j->path, i,
                             MAX_IDS);
        max_id = json_integer_value (id) > max_id ? json_integer_value (id) : max_id;
    }
    self->n_ids = (int) max_id + 1;
    size_t ni = (size_t) self->n_ids, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    self->pool = malloc (bytes);
    self->mtok = ofr_calloc (ni, sizeof *self->mtok);
    self->mlen = ofr_calloc (ni, sizeof *self->mlen);
    self->tok = ofr_calloc (ni, sizeof *self->tok);
    self->special = ofr_calloc (ni, sizeof *self->special);
    self->slot = malloc (cap * sizeof *self->slot);
    self->added = na ? ofr_calloc (na, sizeof *self->added) : NULL;
    if (!self->pool || !self->mtok || !self->mlen || !self->tok || !self->special
        || !self->slot || (na && !self->added))
        return ofr_errf (j->err, j->errlen, "%s: out of memory for %zu pieces", j->path, n);
    memset (self->slot, 0xff, cap * sizeof *self->slot);
    self->mask = cap - 1;
    char *at = self->pool;
    json_object_foreach (vocab, key, v) {
        size_t id = (size_t) json_integer_value (v), len = strlen (key);
        if (self->mtok[id])
            return ofr_errf (j->err, j->errlen, "%s: model.vocab: id %zu given to \"%s\" and "
                             "\"%s\"", j->path, id, self->mtok[id], key);
        memcpy (at, key, len + 1);
        self->mtok[id] = self->tok[id] = at;
        self->mlen[id] = (uint32_t) len;
        at += len + 1;
        for (size_t i = hash_bytes (key, len) & self->mask;; i = (i + 1) & self->mask)
            if (self->slot[i] < 0) {
                self->slot[i] = (int32_t) id;
                break;
            }
    }
    for (size_t i = 0; i < na; i++) {
        json_t *e = json_array_get (added, i);
        char where[48];
        snprintf (where, sizeof where, "added_tokens[%zu]", i);
        added_tok *a = &self->added[i];
        bool single, special;
        if (opt_bool (e, "single_word", false, &single, where, j) != 0
            || opt_bool (e, "lstrip", false, &a->lstrip, where, j) != 0
            || opt_bool (e, "rstrip", false, &a->rstrip, where, j) != 0
            || opt_bool (e, "normalized", true, &a->normalized, where, j) != 0
            || opt_bool (e, "special", false, &special, where, j) != 0)
            return -1;
        if (single)
            return ofr_errf (j->err, j->errlen, "%s: %s: single_word added tokens are not "
                             "supported", j->path, where);
        json_t *c = json_object_get (e, "content");
        a->len = json_string_length (c);
        a->id = (int32_t) json_integer_value (json_object_get (e, "id"));
        if (!(a->s = dup_str (json_string_value (c))))
            return ofr_errf (j->err, j->errlen, "%s: out of memory", j->path);
        self->n_added = (int) i + 1;
        self->tok[a->id] = a->s;
        self->special[a->id] = special;
        if (a->normalized)
            self->has_norm = true;
        else
            self->has_raw = true;
    }
    return 0;
}

/* The byte map of GPT-2's bytes_to_unicode and each byte's pieces. */
static void
byte_tables (ofr_bpe_bytes *self)
{
    int extra = 0;
    for (int i = 0; i < 324; i++)
        self->cbyte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = keep ? (uint32_t) b : 256u + (uint32_t) extra++;
        self->bchar_len[b] = (uint8_t) ofr_utf8_encode (cp, self->bchar[b]);
        self->cbyte[cp] = (int16_t) b;
    }
    size_t cap = self->prefix_len + self->suffix_len + 3;
    char buf[256];
    for (int v = 0; v < 4; v++)
        for (int b = 0; b < 256; b++) {
            size_t k = 0;
            if ((v & 1) && self->prefix_len) {
                memcpy (buf, self->prefix, self->prefix_len);
                k = self->prefix_len;
            }
            memcpy (buf + k, self->bchar[b], self->bchar_len[b]);
            k += self->bchar_len[b];
            if ((v & 2) && self->suffix_len) {
                memcpy (buf + k, self->suffix, self->suffix_len);
                k += self->suffix_len;
            }
            self->piece[v][b] = cap <= sizeof buf ? lookup (self, buf, k) : -1;
        }
    for (int b = 0; b < 256; b++) {
        snprintf (buf, sizeof buf, "<0x%02X>", b);
        self->fallback[b] = lookup (self, buf, 6);
    }
}

/* model.merges: "a b" strings or [a, b] pairs, rank = index. */
static int
load_merges (ofr_bpe_bytes *self, json_t *model, json_ctx *j)
{
    json_t *merges = json_object_get (model, "merges");
    if (!json_is_array (merges))
        return ofr_errf (j->err, j->errlen, "%s: model.merges is %s: expected an array of "
                         "\"a b\" strings or [a, b] pairs", j->path,
                         merges ? "not an array" : "missing");
    size_t n = json_array_size (merges), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    if (!(self->merges = malloc (cap * sizeof *self->merges)))
        return ofr_errf (j->err, j->errlen, "%s: out of memory for %zu merges", j->path, n);
    memset (self->merges, 0xff, cap * sizeof *self->merges);
    self->mmask = cap - 1;
    char *buf = NULL;
    size_t buf_cap = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get (merges, i);
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (json_is_string (e)) {
            const char *s = json_string_value (e), *sp = strchr (s, ' ');
            if (sp && !strchr (sp + 1, ' ')) {
                a = s, la = (size_t) (sp - s);
                b = sp + 1, lb = strlen (b);
            }
        } else if (json_is_array (e) && json_array_size (e) == 2
                   && json_is_string (json_array_get (e, 0))
                   && json_is_string (json_array_get (e, 1))) {
            a = json_string_value (json_array_get (e, 0));
            la = json_string_length (json_array_get (e, 0));
            b = json_string_value (json_array_get (e, 1));
            lb = json_string_length (json_array_get (e, 1));
        }
        if (!a || la == 0 || lb == 0) {
            rc = ofr_errf (j->err, j->errlen, "%s: model.merges[%zu]: expected \"a b\" (one "
                           "space) or [a, b]", j->path, i);
            break;
        }
        int ia = lookup (self, a, la), ib = lookup (self, b, lb);
        if (ia < 0 || ib < 0) {
            rc = ofr_errf (j->err, j->errlen, "%s: model.merges[%zu]: \"%.*s\" is not in "
                           "model.vocab", j->path, i, ia < 0 ? (int) la : (int) lb,
                           ia < 0 ? a : b);
            break;
        }
        if (lb < self->prefix_len) {
            rc = ofr_errf (j->err, j->errlen, "%s: model.merges[%zu]: \"%.*s\" is shorter "
                           "than continuing_subword_prefix", j->path, i, (int) lb, b);
            break;
        }
        size_t lm = la + lb - self->prefix_len;
        if (lm > buf_cap) {
            char *nb = realloc (buf, lm);
            if (!nb) {
                rc = ofr_errf (j->err, j->errlen, "%s: out of memory", j->path);
                break;
            }
            buf = nb, buf_cap = lm;
        }
        memcpy (buf, a, la);
        memcpy (buf + la, b + self->prefix_len, lb - self->prefix_len);
        int im = lookup (self, buf, lm);
        if (im < 0) {
            rc = ofr_errf (j->err, j->errlen, "%s: model.merges[%zu]: the merged piece "
                           "\"%.*s\" is not in model.vocab", j->path, i, (int) lm, buf);
            break;
        }
        merge_put (self, ia, ib, (uint32_t) i, im);
    }
    free (buf);
    return rc;
}

static int
load_pre_tokenizer (ofr_bpe_bytes *self, json_t *root, json_ctx *j)
{
    json_t *norm = json_object_get (root, "normalizer");
    if (norm && !json_is_null (norm))
        return ofr_errf (j->err, j->errlen, "%s: normalizer: \"%s\" is not supported (only "
                         "null)", j->path, type_of (norm) ? type_of (norm) : "?");
    json_t *pre = json_object_get (root, "pre_tokenizer");
    const char *t = type_of (pre);
    if (!t || strcmp (t, "ByteLevel") != 0)
        return ofr_errf (j->err, j->errlen, "%s: pre_tokenizer: \"%s\" is not supported "
                         "(ByteLevel)", j->path, t ? t : pre ? "?" : "(missing)");
    if (opt_bool (pre, "add_prefix_space", true, &self->add_prefix_space, "pre_tokenizer",
                  j) != 0
        || opt_bool (pre, "use_regex", true, &self->use_regex, "pre_tokenizer", j) != 0)
        return -1;
    return 0;
}

/* Id in a ["token", id] pair of RobertaProcessing / BertProcessing. */
static int
pp_special (ofr_bpe_bytes *self, json_t *pp, const char *key, int *out, json_ctx *j)
{
    json_t *v = json_array_get (json_object_get (pp, key), 1);
    if (!json_is_integer (v) || json_integer_value (v) < 0
        || json_integer_value (v) >= self->n_ids)
        return ofr_errf (j->err, j->errlen, "%s: post_processor.%s must be [token, id] with "
                         "an id in [0, %d)", j->path, key, self->n_ids);
    *out = (int) json_integer_value (v);
    return 0;
}

static int
load_root (ofr_bpe_bytes *self, json_t *root, json_ctx *j)
{
    json_t *model = json_object_get (root, "model");
    const char *t = type_of (model);
    if (!json_is_object (model) || !t || strcmp (t, "BPE") != 0)
        return ofr_errf (j->err, j->errlen, "%s: model.type is \"%s\", not \"BPE\"",
                         j->path, t ? t : "(none)");
    if (load_pre_tokenizer (self, root, j) != 0
        || load_vocab (self, model, json_object_get (root, "added_tokens"), j) != 0)
        return -1;
    json_t *dropout = json_object_get (model, "dropout");
    if (dropout && !json_is_null (dropout)
        && (!json_is_number (dropout) || json_number_value (dropout) != 0))
        return ofr_errf (j->err, j->errlen, "%s: model.dropout must be null (BPE dropout is "
                         "not supported)", j->path);
    if (opt_string (model, "continuing_subword_prefix", &self->prefix, &self->prefix_len,
                    j) != 0
        || opt_string (model, "end_of_word_suffix", &self->suffix, &self->suffix_len, j) != 0
        || opt_string (model, "unk_token", &self->unk_name, NULL, j) != 0
        || opt_bool (model, "fuse_unk", false, &self->fuse_unk, "model", j) != 0
        || opt_bool (model, "byte_fallback", false, &self->byte_fallback, "model", j) != 0
        || opt_bool (model, "ignore_merges", false, &self->ignore_merges, "model", j) != 0)
        return -1;
    self->unk = self->unk_name ? lookup (self, self->unk_name, strlen (self->unk_name)) : -1;
    byte_tables (self);
    if (load_merges (self, model, j) != 0)
        return -1;
    json_t *pp = json_object_get (root, "post_processor");
    const char *pt = type_of (pp);
    self->cls = self->sep = -1;
    if (!pp || json_is_null (pp) || (pt && strcmp (pt, "ByteLevel") == 0)) {
        self->post = PP_NONE;
    } else if (pt && (strcmp (pt, "RobertaProcessing") == 0
                      || strcmp (pt, "BertProcessing") == 0)) {
        self->post = pt[0] == 'R' ? PP_ROBERTA : PP_BERT;
        if (pp_special (self, pp, "cls", &self->cls, j) != 0
            || pp_special (self, pp, "sep", &self->sep, j) != 0)
            return -1;
    } else {
        self->post = PP_UNSUPPORTED;
    }
    return 0;
}

int
ofr_bpe_bytes_load (const char *path, ofr_bpe_bytes **out, char *err, size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return je.line > 0 ? ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text)
                           : ofr_errf (err, errlen, "%s: %s", path, je.text);
    ofr_bpe_bytes *self = ofr_calloc (1, sizeof *self);
    json_ctx j = { path, err, errlen };
    int rc;
    if (!self)
        rc = ofr_errf (err, errlen, "%s: out of memory", path);
    else if (!json_is_object (root))
        rc = ofr_errf (err, errlen, "%s: expected a JSON object", path);
    else
        rc = load_root (self, root, &j);
    json_decref (root);
    if (rc != 0) {
        ofr_bpe_bytes_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

/* ---- lookups ------------------------------------------------------------ */

int ofr_bpe_bytes_vocab_size (const ofr_bpe_bytes *self) { return self->n_ids; }
int ofr_bpe_bytes_unk_id (const ofr_bpe_bytes *self) { return self->unk; }
int ofr_bpe_bytes_cls_id (const ofr_bpe_bytes *self) { return self->cls; }
int ofr_bpe_bytes_sep_id (const ofr_bpe_bytes *self) { return self->sep; }

bool
ofr_bpe_bytes_is_special (const ofr_bpe_bytes *self, int id)
{
    return id >= 0 && id < self->n_ids && self->special[id];
}

int
ofr_bpe_bytes_token_id (const ofr_bpe_bytes *self, const char *token)
{
    size_t len = strlen (token);
    for (int i = 0; i < self->n_added; i++)
        if (self->added[i].len == len && memcmp (self->added[i].s, token, len) == 0)
            return self->added[i].id;
    return len ? lookup (self, token, len) : -1;
}

const char *
ofr_bpe_bytes_token (const ofr_bpe_bytes *self, int id)
{
    return id >= 0 && id < self->n_ids ? self->tok[id] : NULL;
}

/* ---- encoding ----------------------------------------------------------- */

typedef struct { int32_t c, prev, next, len; } symbol;
typedef struct { uint32_t rank, pos; int32_t new_id; } merge_ev;

typedef struct {
    const ofr_bpe_bytes *self;
    ofr_wp_ids *out;
    char       *err;
    size_t      errlen;
    unsigned char *seg;          /* a pre-tokenizer input (prefix space)   */
    size_t      seg_cap;
    uint32_t   *cp;              /* its code points                        */
    size_t     *off;             /* [n + 1] byte offsets                   */
    size_t      cp_cap, off_cap;
    char       *word;            /* byte-level form of a word             */
    size_t      word_cap;
    symbol     *sym;
    size_t      sym_cap;
    merge_ev   *heap;
    size_t      heap_cap, heap_n;
} work;

static int
oom (work *w)
{
    return ofr_errf (w->err, w->errlen, "bpe_bytes: out of memory");
}

static int
push_id (work *w, int32_t id)
{
    return ofr_wp_ids_push (w->out, id) != 0 ? oom (w) : 0;
}

static bool
ev_less (const merge_ev *a, const merge_ev *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

/* Heap room is reserved by the caller (3 entries per symbol suffice). */
static void
heap_push (work *w, uint32_t rank, uint32_t pos, int32_t new_id)
{
    size_t i = w->heap_n++;
    merge_ev e = { rank, pos, new_id };
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less (&e, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = e;
}

static merge_ev
heap_pop (work *w)
{
    merge_ev top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less (&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!ev_less (&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

static void
add_symbol (work *w, size_t *n, int32_t id, int32_t len)
{
    symbol *s = &w->sym[*n];
    s->c = id;
    s->len = len;
    s->prev = (int32_t) *n - 1;
    s->next = (int32_t) *n + 1;
    (*n)++;
}

/* Word::merge_all: lowest (rank, position) first, stale entries skipped. */
static void
merge_all (work *w, size_t n)
{
    const ofr_bpe_bytes *self = w->self;
    symbol *s = w->sym;
    if (n)
        s[n - 1].next = -1;
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *m = merge_get (self, s[i].c, s[i + 1].c);
        if (m)
            heap_push (w, m->rank, (uint32_t) i, m->new_id);
    }
    while (w->heap_n) {
        merge_ev top = heap_pop (w);
        symbol *cur = &s[top.pos];
        if (cur->len == 0 || cur->next < 0)
            continue;
        int32_t next_pos = cur->next;
        symbol right = s[next_pos];
        const merge_slot *m = merge_get (self, cur->c, right.c);
        if (!m || m->new_id != top.new_id)
            continue;
        cur->c = top.new_id;                 /* Symbol::merge_with */
        cur->len += right.len;
        cur->next = right.next;
        s[next_pos].len = 0;                 /* removed */
        if (right.next >= 0 && (size_t) right.next < n)
            s[right.next].prev = (int32_t) top.pos;
        if (cur->prev >= 0) {
            const merge_slot *p = merge_get (self, s[cur->prev].c, cur->c);
            if (p)
                heap_push (w, p->rank, (uint32_t) cur->prev, p->new_id);
        }
        if (cur->next >= 0) {
            const merge_slot *q = merge_get (self, cur->c, s[cur->next].c);
            if (q)
                heap_push (w, q->rank, top.pos, q->new_id);
        }
    }
}

/* One pre-token b[0..n) (original bytes) through the BPE model. */
static int
bpe_word (work *w, const unsigned char *b, size_t n)
{
    const ofr_bpe_bytes *self = w->self;
    if (n == 0)
        return 0;
    if (self->ignore_merges) {
        if (ofr_grow ((void **) &w->word, &w->word_cap, 2 * n, 1) != 0)
            return oom (w);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy (w->word + k, self->bchar[b[i]], self->bchar_len[b[i]]);
            k += self->bchar_len[b[i]];
        }
        int id = lookup (self, w->word, k);
        if (id >= 0)
            return push_id (w, id);
    }
    size_t room = n * (self->byte_fallback ? self->prefix_len + self->suffix_len + 2 : 1);
    if (ofr_grow ((void **) &w->sym, &w->sym_cap, room, sizeof *w->sym) != 0
        || ofr_grow ((void **) &w->heap, &w->heap_cap, 3 * room + 1, sizeof *w->heap) != 0)
        return oom (w);
    size_t ns = 0;
    int32_t unk_id = -1, unk_len = 0;
    for (size_t i = 0; i < n; i++) {
        int v = (i > 0 && self->prefix ? 1 : 0) | (i + 1 == n && self->suffix ? 2 : 0);
        int32_t id = self->piece[v][b[i]];
        if (id >= 0) {
            if (unk_id >= 0) {
                add_symbol (w, &ns, unk_id, unk_len);
                unk_id = -1;
            }
            add_symbol (w, &ns, id, 1);
            continue;
        }
        if (self->byte_fallback) {
            /* the bytes of the looked-up string, prefix and suffix included */
            const char *parts[3] = { (v & 1) ? self->prefix : "", self->bchar[b[i]],
                                     (v & 2) ? self->suffix : "" };
            size_t lens[3] = { (v & 1) ? self->prefix_len : 0, self->bchar_len[b[i]],
                               (v & 2) ? self->suffix_len : 0 };
            bool all = true;
            for (int p = 0; p < 3 && all; p++)
                for (size_t q = 0; q < lens[p] && all; q++)
                    all = self->fallback[(unsigned char) parts[p][q]] >= 0;
            if (all) {
                for (int p = 0; p < 3; p++)
                    for (size_t q = 0; q < lens[p]; q++)
                        add_symbol (w, &ns, self->fallback[(unsigned char) parts[p][q]], 1);
                continue;
            }
        }
        if (!self->unk_name)
            continue;                        /* no unk_token: dropped */
        if (self->unk < 0)
            return ofr_errf (w->err, w->errlen, "bpe_bytes: unk_token \"%s\" is needed but "
                             "not in model.vocab", self->unk_name);
        if (unk_id >= 0 && self->fuse_unk) {
            unk_len++;
        } else {
            if (unk_id >= 0)
                add_symbol (w, &ns, unk_id, unk_len);
            unk_id = self->unk;
            unk_len = 1;
        }
    }
    if (unk_id >= 0)
        add_symbol (w, &ns, unk_id, unk_len);
    merge_all (w, ns);
    for (size_t i = 0; i < ns; i++)
        if (w->sym[i].len != 0 && push_id (w, w->sym[i].c) != 0)
            return -1;
    return 0;
}

/* End (code point index) of the GPT-2 pattern's match at c[i] (i < n):
   the alternatives in order, with the backtracking of \s+(?!\S). */
static size_t
split_at (const uint32_t *c, size_t n, size_t i)
{
    if (c[i] == '\'' && i + 1 < n) {
        uint32_t x = c[i + 1], y = i + 2 < n ? c[i + 2] : 0;
        if (x == 's' || x == 't' || x == 'm' || x == 'd')
            return i + 2;
        if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l'))
            return i + 3;
    }
    int k = ofr_bb_class (c[i]);
    size_t j = i;
    if (c[i] == ' ' && i + 1 < n && ofr_bb_class (c[i + 1]) != OFR_BB_SPACE) {
        k = ofr_bb_class (c[i + 1]);             /* " ?" then the class run */
        j = i + 1;
    }
    if (k != OFR_BB_SPACE) {
        while (j < n && ofr_bb_class (c[j]) == k)
            j++;
        return j;
    }
    while (j < n && ofr_bb_class (c[j]) == OFR_BB_SPACE)
        j++;
    if (j == n || j - i == 1)
        return j;                            /* \s+(?!\S) at the end, or \s+ */
    return j - 1;                            /* leave one before the \S */
}

/* ByteLevel on s[0..len): prefix space, split, BPE of every piece. */
static int
pre_tokenize (work *w, const char *s, size_t len)
{
    const ofr_bpe_bytes *self = w->self;
    if (len == 0)
        return 0;
    bool pre = self->add_prefix_space && s[0] != ' ';
    size_t n = len + pre;
    if (ofr_grow ((void **) &w->seg, &w->seg_cap, n, 1) != 0)
        return oom (w);
    if (pre)
        w->seg[0] = ' ';
    memcpy (w->seg + pre, s, len);
    if (!self->use_regex)
        return bpe_word (w, w->seg, n);
    if (ofr_grow ((void **) &w->cp, &w->cp_cap, n + 1, sizeof *w->cp) != 0
        || ofr_grow ((void **) &w->off, &w->off_cap, n + 1, sizeof *w->off) != 0)
        return oom (w);
    size_t nc = 0;
    for (size_t i = 0; i < n;) {
        w->off[nc] = i;
        i += ofr_utf8_next (w->seg + i, n - i, &w->cp[nc]);
        nc++;
    }
    w->off[nc] = n;
    for (size_t i = 0; i < nc;) {
        size_t e = split_at (w->cp, nc, i);
        if (bpe_word (w, w->seg + w->off[i], w->off[e] - w->off[i]) != 0)
            return -1;
        i = e;
    }
    return 0;
}

/* Rust's char::is_whitespace (White_Space): the same set as \s here. */
static bool
is_ws (uint32_t cp)
{
    return ofr_bb_class (cp) == OFR_BB_SPACE;
}

/* Bytes of white space that s[0..len) ends with / starts with. */
static size_t
ws_tail (const char *s, size_t len)
{
    size_t k = len;
    while (k > 0) {
        size_t b = k - 1;
        while (b > 0 && ((unsigned char) s[b] & 0xC0) == 0x80)
            b--;
        uint32_t cp;
        ofr_utf8_next ((const unsigned char *) s + b, k - b, &cp);
        if (!is_ws (cp))
            break;
        k = b;
    }
    return len - k;
}

static size_t
ws_head (const char *s, size_t len)
{
    size_t k = 0;
    while (k < len) {
        uint32_t cp;
        size_t u = ofr_utf8_next ((const unsigned char *) s + k, len - k, &cp);
        if (!is_ws (cp))
            break;
        k += u;
    }
    return k;
}

/* AddedVocabulary::find_matches over s[0..len) for the tokens of one pass
   (normalized or not); the pieces between go to the next pass or the
   pre-tokenizer. Matches are leftmost-longest and non-overlapping. */
static int
split_added (work *w, const char *s, size_t len, bool normalized)
{
    const ofr_bpe_bytes *self = w->self;
    if (!(normalized ? self->has_norm : self->has_raw))
        return normalized ? pre_tokenize (w, s, len) : split_added (w, s, len, true);
    size_t start_offset = 0;
    for (size_t p = 0; p < len;) {
        const added_tok *best = NULL;
        for (int t = 0; t < self->n_added; t++) {
            const added_tok *a = &self->added[t];
            if (a->normalized == normalized && a->len <= len - p
                && (!best || a->len > best->len) && memcmp (s + p, a->s, a->len) == 0)
                best = a;
        }
        if (!best) {
            p++;
            continue;
        }
        size_t start = p, stop = p + best->len;
        p = stop;
        if (best->lstrip) {
            size_t ns = start - ws_tail (s, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (best->rstrip)
            stop += ws_head (s + stop, len - stop);
        if (start_offset < start) {
            int rc = normalized ? pre_tokenize (w, s + start_offset, start - start_offset)
                                : split_added (w, s + start_offset, start - start_offset,
                                               true);
            if (rc != 0)
                return -1;
        }
        if (push_id (w, best->id) != 0)
            return -1;
        start_offset = stop;
    }
    if (start_offset < len)
        return normalized ? pre_tokenize (w, s + start_offset, len - start_offset)
                          : split_added (w, s + start_offset, len - start_offset, true);
    return 0;
}

int
ofr_bpe_bytes_encode (const ofr_bpe_bytes *self, const char *text, ofr_wp_ids *ids,
                      char *err, size_t errlen)
{
    work w = { .self = self, .out = ids, .err = err, .errlen = errlen };
    size_t len = strlen (text), bad;
    char *clean = NULL;
    if (ofr_utf8_validate (text, len, &bad) != 0) {
        /* invalid UTF-8 -> U+FFFD (no NUL can occur before len) */
        clean = malloc (3 * len + 1);
        if (!clean)
            return ofr_errf (err, errlen, "bpe_bytes: out of memory");
        size_t k = 0;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            i += ofr_utf8_next ((const unsigned char *) text + i, len - i, &cp);
            k += (size_t) ofr_utf8_encode (cp, clean + k);
        }
        clean[k] = '\0';
        text = clean;
        len = k;
    }
    int rc = split_added (&w, text, len, false);
    free (clean);
    free (w.seg);
    free (w.cp);
    free (w.off);
    free (w.word);
    free (w.sym);
    free (w.heap);
    return rc;
}

/* HF truncate_sequences, longest_first (as wordpiece.c). */
static void
truncate_longest_first (size_t *na, size_t *nb, size_t budget)
{
    if (*na + *nb <= budget)
        return;
    size_t remove = *na + *nb - budget;
    size_t diff = *na > *nb ? *na - *nb : *nb - *na;
    size_t first = diff < remove ? diff : remove, second = remove - first;
    if (*na > *nb) {
        *na -= first + second / 2;
        *nb -= second - second / 2;
    } else {
        *na -= second / 2;
        *nb -= first + second - second / 2;
    }
}

static int
enc_reserve (ofr_wp_encoding *enc, size_t need)
{
    if (need <= enc->cap)
        return 0;
    int32_t *ids = realloc (enc->ids, need * sizeof *ids);
    if (!ids)
        return -1;
    enc->ids = ids;
    int32_t *ty = realloc (enc->type_ids, need * sizeof *ty);
    if (!ty)
        return -1;
    enc->type_ids = ty;
    enc->cap = need;
    return 0;
}

int
ofr_bpe_bytes_encode_pair (const ofr_bpe_bytes *self, const char *a, const char *b,
                           int max_len, ofr_wp_encoding *enc, char *err, size_t errlen)
{
    if (self->post == PP_UNSUPPORTED)
        return ofr_errf (err, errlen, "bpe_bytes: the post_processor is not supported for "
                         "encoding (RobertaProcessing, BertProcessing, ByteLevel, null)");
    bool rob = self->post == PP_ROBERTA, none = self->post == PP_NONE;
    int specials = none ? 0 : rob ? (b ? 4 : 2) : (b ? 3 : 2);
    if (max_len < specials || max_len < 1)
        return ofr_errf (err, errlen, "bpe_bytes: max_len %d leaves no room for the %d "
                         "special tokens", max_len, specials);
    ofr_wp_ids ia = { 0 }, ib = { 0 };
    int rc = ofr_bpe_bytes_encode (self, a, &ia, err, errlen);
    if (rc == 0 && b)
        rc = ofr_bpe_bytes_encode (self, b, &ib, err, errlen);
    size_t na = ia.len, nb = ib.len;
    truncate_longest_first (&na, &nb, (size_t) (max_len - specials));
    if (rc == 0 && enc_reserve (enc, na + nb + (size_t) specials) != 0)
        rc = ofr_errf (err, errlen, "bpe_bytes: out of memory encoding");
    if (rc == 0) {
        int32_t tb = rob ? 0 : 1;            /* RoBERTa: one token type */
        size_t k = 0;
        if (!none)
            enc->ids[k] = self->cls, enc->type_ids[k++] = 0;
        for (size_t i = 0; i < na; i++)
            enc->ids[k] = ia.v[i], enc->type_ids[k++] = 0;
        if (!none)
            enc->ids[k] = self->sep, enc->type_ids[k++] = 0;
        if (b && rob)
            enc->ids[k] = self->sep, enc->type_ids[k++] = tb;
        for (size_t i = 0; b && i < nb; i++)
            enc->ids[k] = ib.v[i], enc->type_ids[k++] = tb;
        if (b && !none)
            enc->ids[k] = self->sep, enc->type_ids[k++] = tb;
        enc->len = (int) k;
        enc->len_a = (int) na;
        enc->len_b = (int) nb;
    }
    ofr_wp_ids_free (&ia);
    ofr_wp_ids_free (&ib);
    return rc;
}

/* ---- decoding ----------------------------------------------------------- */

int
ofr_bpe_bytes_decode (const ofr_bpe_bytes *self, const int32_t *ids, size_t n, char **text)
{
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < self->n_ids && self->tok[ids[i]])
            total += strlen (self->tok[ids[i]]);
    unsigned char *raw = malloc (total + 1);
    char *out = malloc (3 * total + 1);
    if (!raw || !out) {
        free (raw);
        free (out);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= self->n_ids || !self->tok[ids[i]])
            continue;
        const unsigned char *t = (const unsigned char *) self->tok[ids[i]];
        size_t len = strlen ((const char *) t), start = k;
        bool mapped = true;
        for (size_t p = 0; p < len && mapped;) {
            uint32_t cp;
            p += ofr_utf8_next (t + p, len - p, &cp);
            mapped = cp < 324 && self->cbyte[cp] >= 0;
            if (mapped)
                raw[k++] = (unsigned char) self->cbyte[cp];
        }
        if (!mapped) {                       /* the token's own UTF-8 */
            memcpy (raw + start, t, len);
            k = start + len;
        }
    }
    size_t o = 0;
    for (size_t p = 0; p < k;) {
        uint32_t cp;
        size_t v = ofr_utf8_char (raw + p, k - p, &cp);
        if (v) {
            memcpy (out + o, raw + p, v);
            o += v;
            p += v;
        } else {
            memcpy (out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p += ofr_utf8_bad_len (raw + p, k - p);
        }
    }
    out[o] = '\0';
    free (raw);
    *text = out;
    return 0;
}
