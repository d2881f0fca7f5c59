/*  unigram.c -- SentencePiece-unigram tokenizer from tokenizer.json (see
    unigram.h). Text is handled as code points through the normalizer and
    pre-tokenizer, then as UTF-8 bytes in the Viterbi search, as in
    tokenizers' unigram/model.rs (encode_optimized, tokenize). */
#include "unigram.h"
#include "unigram_tables.h"
#include "wordpiece_tables.h"
#include "wp_text.h"
#include "utf8.h"
#include "../../common/ofr_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0    /* tokenizers' K_UNK_PENALTY                       */
#define MAX_STEPS   32      /* normalizer / pre-tokenizer steps               */

typedef enum {
    N_LOWER, N_NFD, N_NFKD, N_STRIP_ACCENTS, N_REPLACE, N_STRIP, N_PREPEND, N_IDENTITY
} norm_kind;

typedef struct {
    norm_kind  kind;
    uint32_t  *from, *to;       /* Replace pattern, replacement; Prepend text */
    size_t     nfrom, nto;
    bool       left, right;     /* Strip                                      */
} norm_step;

typedef enum { PRE_WHITESPACE_SPLIT, PRE_METASPACE } pre_kind;
typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

typedef struct {
    pre_kind       kind;
    uint32_t       repl;        /* Metaspace replacement (U+2581)             */
    prepend_scheme prepend;
    bool           split;
} pre_step;

struct ofr_unigram {
    char      *pool;            /* pieces, NUL-terminated one after another   */
    char     **tok;             /* [n]                                        */
    size_t    *tok_len;         /* [n]                                        */
    double    *score;           /* [n]                                        */
    int        n;
    int32_t   *slot;            /* open addressing: id or -1                  */
    size_t     mask;
    size_t     max_len;         /* longest piece in bytes                     */
    int        unk;             /* -1: none                                   */
    double     unk_score;       /* min score - UNK_PENALTY                    */
    bool       byte_fallback;
    int32_t    byte_id[256];    /* <0xXX> pieces, -1 if absent                */
    norm_step  norm[MAX_STEPS];
    int        n_norm;
    pre_step   pre[MAX_STEPS];
    int        n_pre;
    int        cls, sep;
};

/* ---- vocabulary --------------------------------------------------------- */

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

static int
lookup (const ofr_unigram *self, const char *s, size_t len)
{
    for (size_t i = hash_bytes (s, len) & self->mask;; i = (i + 1) & self->mask) {
        int32_t id = self->slot[i];
        if (id < 0)
            return -1;
        if (self->tok_len[id] == len && memcmp (self->tok[id], s, len) == 0)
            return id;
    }
}

/* A repeated piece maps to its last id (token_to_ids filled in order). */
static void
insert (ofr_unigram *self, int id)
{
    const char *s = self->tok[id];
    size_t len = self->tok_len[id];
    for (size_t i = hash_bytes (s, len) & self->mask;; i = (i + 1) & self->mask) {
        int32_t old = self->slot[i];
        if (old < 0 || (self->tok_len[old] == len && memcmp (self->tok[old], s, len) == 0)) {
            self->slot[i] = id;
            return;
        }
    }
}

void
ofr_unigram_destroy (ofr_unigram **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_unigram *self = *self_p;
    for (int i = 0; i < self->n_norm; i++) {
        free (self->norm[i].from);
        free (self->norm[i].to);
    }
    free (self->pool);
    free (self->tok);
    free (self->tok_len);
    free (self->score);
    free (self->slot);
    free (self);
    *self_p = NULL;
}

typedef struct {
    const char *path;
    char       *err;
    size_t      errlen;
} json_ctx;

static int
load_vocab (ofr_unigram *self, json_t *model, json_ctx *j)
{
    json_t *vocab = json_object_get (model, "vocab");
    if (!json_is_array (vocab) || json_array_size (vocab) == 0)
        return ofr_errf (j->err, j->errlen, "%s: model.vocab must be a non-empty array of "
                         "[piece, score]", j->path);
    size_t n = json_array_size (vocab), bytes = 0;
    if (n > (1u << 30))
        return ofr_errf (j->err, j->errlen, "%s: model.vocab has %zu entries", j->path, n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get (vocab, i);
        json_t *p = json_array_get (e, 0), *s = json_array_get (e, 1);
        if (!json_is_array (e) || json_array_size (e) != 2 || !json_is_string (p)
            || !json_is_number (s))
            return ofr_errf (j->err, j->errlen, "%s: model.vocab[%zu] is not [piece, score]",
                             j->path, i);
        size_t len = json_string_length (p);
        if (len == 0 || strlen (json_string_value (p)) != len)
            return ofr_errf (j->err, j->errlen, "%s: model.vocab[%zu]: empty piece or NUL "
                             "byte", j->path, i);
        bytes += len + 1;
    }
    self->n = (int) n;
    self->pool = malloc (bytes);
    self->tok = ofr_calloc (n, sizeof *self->tok);
    self->tok_len = ofr_calloc (n, sizeof *self->tok_len);
    self->score = ofr_calloc (n, sizeof *self->score);
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    self->slot = malloc (cap * sizeof *self->slot);
    if (!self->pool || !self->tok || !self->tok_len || !self->score || !self->slot)
        return ofr_errf (j->err, j->errlen, "%s: out of memory for %zu pieces", j->path, n);
    memset (self->slot, 0xff, cap * sizeof *self->slot);     /* all -1 */
    self->mask = cap - 1;
    double min_score = 0;
    char *at = self->pool;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get (vocab, i);
        json_t *p = json_array_get (e, 0);
        size_t len = json_string_length (p);
        memcpy (at, json_string_value (p), len + 1);
        self->tok[i] = at;
        self->tok_len[i] = len;
        self->score[i] = json_number_value (json_array_get (e, 1));
        if (i == 0 || self->score[i] < min_score)
            min_score = self->score[i];
        self->max_len = len > self->max_len ? len : self->max_len;
        at += len + 1;
        insert (self, (int) i);
    }
    self->unk_score = min_score - UNK_PENALTY;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf (name, sizeof name, "<0x%02X>", b);
        self->byte_id[b] = lookup (self, name, 6);
    }
    return 0;
}

/* ---- loading the pipeline ---------------------------------------------- */

/* UTF-8 string -> code points (malloc'd; *n may be 0). */
static int
ucs_of (const char *s, uint32_t **out, size_t *n)
{
    ofr_wp_ucs u = { 0 };
    ofr_wp_ucs_push_utf8 (&u, s, strlen (s));
    if (u.oom) {
        ofr_wp_ucs_free (&u);
        return -1;
    }
    *out = u.v;
    *n = u.len;
    return 0;
}

static const char *
type_of (json_t *o)
{
    json_t *t = json_object_get (o, "type");
    return json_is_string (t) ? json_string_value (t) : NULL;
}

static int add_normalizer (ofr_unigram *self, json_t *o, const char *where, json_ctx *j);

static norm_step *
new_norm (ofr_unigram *self, const char *where, json_ctx *j)
{
    if (self->n_norm == MAX_STEPS) {
        ofr_errf (j->err, j->errlen, "%s: %s: more than %d normalizer steps", j->path,
                  where, MAX_STEPS);
        return NULL;
    }
    norm_step *s = &self->norm[self->n_norm++];
    memset (s, 0, sizeof *s);
    return s;
}

static int
add_normalizer (ofr_unigram *self, json_t *o, const char *where, json_ctx *j)
{
    if (!o || json_is_null (o))
        return 0;
    const char *t = type_of (o);
    if (!json_is_object (o) || !t)
        return ofr_errf (j->err, j->errlen, "%s: %s: expected an object with a \"type\"",
                         j->path, where);
    if (strcmp (t, "Sequence") == 0) {
        json_t *list = json_object_get (o, "normalizers");
        if (!json_is_array (list))
            return ofr_errf (j->err, j->errlen, "%s: %s.normalizers must be an array",
                             j->path, where);
        for (size_t i = 0; i < json_array_size (list); i++) {
            char sub[256];
            snprintf (sub, sizeof sub, "%s.normalizers[%zu]", where, i);
            if (add_normalizer (self, json_array_get (list, i), sub, j) != 0)
                return -1;
        }
        return 0;
    }
    static const struct { const char *name; norm_kind k; } simple[] = {
        { "Lowercase", N_LOWER }, { "NFD", N_NFD }, { "NFKD", N_NFKD },
        { "StripAccents", N_STRIP_ACCENTS }, { "Precompiled", N_IDENTITY },
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp (t, simple[i].name) == 0) {
            norm_step *s = new_norm (self, where, j);
            if (!s)
                return -1;
            s->kind = simple[i].k;
            return 0;
        }
    if (strcmp (t, "Strip") == 0) {
        norm_step *s = new_norm (self, where, j);
        if (!s)
            return -1;
        s->kind = N_STRIP;
        s->left = json_is_true (json_object_get (o, "strip_left"));
        s->right = json_is_true (json_object_get (o, "strip_right"));
        return 0;
    }
    if (strcmp (t, "Replace") == 0 || strcmp (t, "Prepend") == 0) {
        bool rep = t[0] == 'R';
        json_t *pat = rep ? json_object_get (json_object_get (o, "pattern"), "String") : NULL;
        json_t *content = json_object_get (o, rep ? "content" : "prepend");
        if ((rep && !json_is_string (pat)) || !json_is_string (content))
            return ofr_errf (j->err, j->errlen, "%s: %s: %s", j->path, where,
                             rep ? "only Replace with a {\"String\": ...} pattern and a "
                                   "string content is supported (not Regex)"
                                 : "Prepend needs a string \"prepend\"");
        norm_step *s = new_norm (self, where, j);
        if (!s)
            return -1;
        s->kind = rep ? N_REPLACE : N_PREPEND;
        if ((rep && ucs_of (json_string_value (pat), &s->from, &s->nfrom) != 0)
            || ucs_of (json_string_value (content), &s->to, &s->nto) != 0)
            return ofr_errf (j->err, j->errlen, "%s: out of memory", j->path);
        if (rep && s->nfrom == 0)
            return ofr_errf (j->err, j->errlen, "%s: %s: empty Replace pattern", j->path,
                             where);
        return 0;
    }
    return ofr_errf (j->err, j->errlen, "%s: %s: normalizer \"%s\" is not supported (Sequence, "
                     "Lowercase, NFD, NFKD, StripAccents, Replace, Strip, Prepend, "
                     "Precompiled)", j->path, where, t);
}

static int
add_pre (ofr_unigram *self, json_t *o, const char *where, json_ctx *j)
{
    if (!o || json_is_null (o))
        return 0;
    const char *t = type_of (o);
    if (!json_is_object (o) || !t)
        return ofr_errf (j->err, j->errlen, "%s: %s: expected an object with a \"type\"",
                         j->path, where);
    if (strcmp (t, "Sequence") == 0) {
        json_t *list = json_object_get (o, "pretokenizers");
        if (!json_is_array (list))
            return ofr_errf (j->err, j->errlen, "%s: %s.pretokenizers must be an array",
                             j->path, where);
        for (size_t i = 0; i < json_array_size (list); i++) {
            char sub[256];
            snprintf (sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
            if (add_pre (self, json_array_get (list, i), sub, j) != 0)
                return -1;
        }
        return 0;
    }
    bool ws = strcmp (t, "WhitespaceSplit") == 0, meta = strcmp (t, "Metaspace") == 0;
    if (!ws && !meta)
        return ofr_errf (j->err, j->errlen, "%s: %s: pre-tokenizer \"%s\" is not supported "
                         "(Sequence, WhitespaceSplit, Metaspace)", j->path, where, t);
    if (self->n_pre == MAX_STEPS)
        return ofr_errf (j->err, j->errlen, "%s: %s: more than %d pre-tokenizer steps",
                         j->path, where, MAX_STEPS);
    pre_step *s = &self->pre[self->n_pre++];
    memset (s, 0, sizeof *s);
    s->kind = ws ? PRE_WHITESPACE_SPLIT : PRE_METASPACE;
    if (ws)
        return 0;
    s->repl = 0x2581;
    json_t *r = json_object_get (o, "replacement");
    if (r) {
        uint32_t *cp = NULL;
        size_t n = 0;
        if (!json_is_string (r) || ucs_of (json_string_value (r), &cp, &n) != 0 || n != 1) {
            free (cp);
            return ofr_errf (j->err, j->errlen, "%s: %s.replacement must be one character",
                             j->path, where);
        }
        s->repl = cp[0];
        free (cp);
    }
    json_t *ps = json_object_get (o, "prepend_scheme");
    json_t *aps = json_object_get (o, "add_prefix_space");
    s->prepend = PREPEND_ALWAYS;
    if (json_is_string (ps)) {
        const char *v = json_string_value (ps);
        if (strcmp (v, "always") == 0)
            s->prepend = PREPEND_ALWAYS;
        else if (strcmp (v, "first") == 0)
            s->prepend = PREPEND_FIRST;
        else if (strcmp (v, "never") == 0)
            s->prepend = PREPEND_NEVER;
        else
            return ofr_errf (j->err, j->errlen, "%s: %s.prepend_scheme \"%s\" is not always, "
                             "first or never", j->path, where, v);
    } else if (json_is_boolean (aps)) {
        s->prepend = json_is_true (aps) ? PREPEND_ALWAYS : PREPEND_NEVER;
    }
    json_t *split = json_object_get (o, "split");
    s->split = !json_is_boolean (split) || json_is_true (split);
    return 0;
}

/* Special token id of TemplateProcessing's "single" template: the first
   (which = 0) or last (which = 1) SpecialToken item. */
static int
template_special (ofr_unigram *self, json_t *pp, int which)
{
    json_t *single = json_object_get (pp, "single");
    json_t *specials = json_object_get (pp, "special_tokens");
    const char *name = NULL;
    for (size_t i = 0; i < json_array_size (single); i++) {
        json_t *st = json_object_get (json_array_get (single, i), "SpecialToken");
        json_t *id = json_object_get (st, "id");
        if (json_is_string (id) && (which == 1 || !name))
            name = json_string_value (id);
    }
    if (!name)
        return -1;
    json_t *ids = json_object_get (json_object_get (specials, name), "ids");
    json_t *first = json_array_get (ids, 0);
    if (json_is_integer (first) && json_integer_value (first) >= 0
        && json_integer_value (first) < self->n)
        return (int) json_integer_value (first);
    return lookup (self, name, strlen (name));
}

static void
find_specials (ofr_unigram *self, json_t *root)
{
    json_t *pp = json_object_get (root, "post_processor");
    const char *t = type_of (pp);
    self->cls = self->sep = -1;
    if (t && strcmp (t, "TemplateProcessing") == 0) {
        self->cls = template_special (self, pp, 0);
        self->sep = template_special (self, pp, 1);
    } else if (t && (strcmp (t, "BertProcessing") == 0 || strcmp (t, "RobertaProcessing") == 0)) {
        json_t *c = json_array_get (json_object_get (pp, "cls"), 1);
        json_t *s = json_array_get (json_object_get (pp, "sep"), 1);
        if (json_is_integer (c) && json_integer_value (c) >= 0 && json_integer_value (c) < self->n)
            self->cls = (int) json_integer_value (c);
        if (json_is_integer (s) && json_integer_value (s) >= 0 && json_integer_value (s) < self->n)
            self->sep = (int) json_integer_value (s);
    }
    if (self->cls < 0)
        self->cls = lookup (self, "[CLS]", 5) >= 0 ? lookup (self, "[CLS]", 5)
                                                   : lookup (self, "<s>", 3);
    if (self->sep < 0)
        self->sep = lookup (self, "[SEP]", 5) >= 0 ? lookup (self, "[SEP]", 5)
                                                   : lookup (self, "</s>", 4);
}

static int
load_root (ofr_unigram *self, json_t *root, json_ctx *j)
{
    json_t *model = json_object_get (root, "model");
    const char *t = type_of (model);
    if (!json_is_object (model) || !t || strcmp (t, "Unigram") != 0)
        return ofr_errf (j->err, j->errlen, "%s: model.type is \"%s\", not \"Unigram\"",
                         j->path, t ? t : "(none)");
    if (load_vocab (self, model, j) != 0)
        return -1;
    json_t *unk = json_object_get (model, "unk_id");
    self->unk = -1;
    if (unk && !json_is_null (unk)) {
        if (!json_is_integer (unk) || json_integer_value (unk) < 0
            || json_integer_value (unk) >= self->n)
            return ofr_errf (j->err, j->errlen, "%s: model.unk_id must be an id in [0, %d)",
                             j->path, self->n);
        self->unk = (int) json_integer_value (unk);
    }
    self->byte_fallback = json_is_true (json_object_get (model, "byte_fallback"));
    if (add_normalizer (self, json_object_get (root, "normalizer"), "normalizer", j) != 0
        || add_pre (self, json_object_get (root, "pre_tokenizer"), "pre_tokenizer", j) != 0)
        return -1;
    find_specials (self, root);
    return 0;
}

int
ofr_unigram_load (const char *path, ofr_unigram **out, char *err, size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return je.line > 0 ? ofr_errf (err, errlen, "%s:%d: %s", path, je.line, je.text)
                           : ofr_errf (err, errlen, "%s: %s", path, je.text);
    int rc = ofr_unigram_load_json (root, path, out, err, errlen);
    json_decref (root);
    return rc;
}

int
ofr_unigram_load_json (struct json_t *root, const char *path, ofr_unigram **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    ofr_unigram *self = ofr_calloc (1, sizeof *self);
    json_ctx j = { path, err, errlen };
    int rc;
    if (!self)
        rc = ofr_errf (err, errlen, "%s: out of memory", path);
    else if (!json_is_object (root))
        rc = ofr_errf (err, errlen, "%s: expected a JSON object", path);
    else
        rc = load_root (self, root, &j);
    if (rc != 0) {
        ofr_unigram_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

int ofr_unigram_vocab_size (const ofr_unigram *self) { return self->n; }
int ofr_unigram_unk_id (const ofr_unigram *self) { return self->unk; }
int ofr_unigram_cls_id (const ofr_unigram *self) { return self->cls; }
int ofr_unigram_sep_id (const ofr_unigram *self) { return self->sep; }

int
ofr_unigram_token_id (const ofr_unigram *self, const char *token)
{
    return token ? lookup (self, token, strlen (token)) : -1;
}

const char *
ofr_unigram_token (const ofr_unigram *self, int id)
{
    return id >= 0 && id < self->n ? self->tok[id] : NULL;
}

/* ---- normalizer --------------------------------------------------------- */

static bool
in_ranges (const ofr_ug_range *r, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid - 1;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Rust's char::is_whitespace (property White_Space). */
static bool
is_white_space (uint32_t cp)
{
    return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0
        || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028
        || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int
ccc (uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    int lo = 0, hi = ofr_wp_ccc_n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < ofr_wp_ccc[mid].lo)
            hi = mid - 1;
        else if (cp > ofr_wp_ccc[mid].hi)
            lo = mid + 1;
        else
            return ofr_wp_ccc[mid].ccc;
    }
    return 0;
}

static void
decompose (uint32_t cp, bool compat, ofr_wp_ucs *out)
{
    enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
           T_COUNT = 28, N_COUNT = 588, S_COUNT = 11172 };
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        ofr_wp_ucs_push (out, L_BASE + s / N_COUNT);
        ofr_wp_ucs_push (out, V_BASE + (s % N_COUNT) / T_COUNT);
        if (s % T_COUNT)
            ofr_wp_ucs_push (out, T_BASE + s % T_COUNT);
        return;
    }
    const ofr_ug_decomp *t = compat ? ofr_ug_nfkd : ofr_ug_nfd;
    const uint32_t *pool = compat ? ofr_ug_nfkd_pool : ofr_ug_nfd_pool;
    int lo = 0, hi = (compat ? ofr_ug_nfkd_n : ofr_ug_nfd_n) - 1;
    while (cp >= 0xA0 && lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < t[mid].cp)
            hi = mid - 1;
        else if (cp > t[mid].cp)
            lo = mid + 1;
        else {
            for (uint32_t i = 0; i < t[mid].count; i++)
                ofr_wp_ucs_push (out, pool[t[mid].first + i]);
            return;
        }
    }
    ofr_wp_ucs_push (out, cp);
}

/* One normalizer step from `in` into `out` (cleared first). */
static void
norm_apply (const norm_step *s, const ofr_wp_ucs *in, ofr_wp_ucs *out)
{
    out->len = 0;
    const uint32_t *v = in->v;
    size_t n = in->len;
    switch (s->kind) {
    case N_LOWER:
        for (size_t i = 0; i < n; i++)
            ofr_wp_lower (v + i, 1, out);        /* per character, as Rust */
        break;
    case N_NFD:
    case N_NFKD:
        for (size_t i = 0; i < n; i++)
            decompose (v[i], s->kind == N_NFKD, out);
        if (out->oom)
            break;
        for (size_t i = 1; i < out->len; i++) {          /* canonical order */
            int c = ccc (out->v[i]);
            for (size_t j = i; c != 0 && j > 0 && ccc (out->v[j - 1]) > c; j--) {
                uint32_t t = out->v[j];
                out->v[j] = out->v[j - 1];
                out->v[j - 1] = t;
            }
        }
        break;
    case N_STRIP_ACCENTS:
        for (size_t i = 0; i < n; i++)
            if (v[i] < 0x300 || !in_ranges (ofr_ug_mark, ofr_ug_mark_n, v[i]))
                ofr_wp_ucs_push (out, v[i]);
        break;
    case N_REPLACE:
        for (size_t i = 0; i < n;) {
            if (i + s->nfrom <= n && memcmp (v + i, s->from, s->nfrom * sizeof *v) == 0) {
                for (size_t k = 0; k < s->nto; k++)
                    ofr_wp_ucs_push (out, s->to[k]);
                i += s->nfrom;
            } else
                ofr_wp_ucs_push (out, v[i++]);
        }
        break;
    case N_STRIP: {
        size_t a = 0, b = n;
        while (s->left && a < b && is_white_space (v[a]))
            a++;
        while (s->right && b > a && is_white_space (v[b - 1]))
            b--;
        for (size_t i = a; i < b; i++)
            ofr_wp_ucs_push (out, v[i]);
        break;
    }
    case N_PREPEND:
        for (size_t k = 0; n > 0 && k < s->nto; k++)
            ofr_wp_ucs_push (out, s->to[k]);
        /* fall through */
    case N_IDENTITY:
        for (size_t i = 0; i < n; i++)
            ofr_wp_ucs_push (out, v[i]);
        break;
    }
}

/* Decode text and run the normalizer; the result is in *a or *b, which
   the return value points at (NULL when out of memory). */
static ofr_wp_ucs *
normalize (const ofr_unigram *self, const char *text, ofr_wp_ucs *a, ofr_wp_ucs *b)
{
    ofr_wp_ucs_push_utf8 (a, text, strlen (text));
    ofr_wp_ucs *cur = a, *next = b;
    for (int k = 0; k < self->n_norm && !cur->oom; k++) {
        norm_apply (&self->norm[k], cur, next);
        ofr_wp_ucs *t = cur;
        cur = next;
        next = t;
    }
    return cur->oom ? NULL : cur;
}

char *
ofr_unigram_normalize (const ofr_unigram *self, const char *text)
{
    ofr_wp_ucs a = { 0 }, b = { 0 };
    ofr_wp_ucs *r = normalize (self, text ? text : "", &a, &b);
    char *out = r ? malloc (4 * r->len + 1) : NULL;
    if (out) {
        size_t k = 0;
        for (size_t i = 0; i < r->len; i++)
            k += (size_t) ofr_utf8_encode (r->v[i], out + k);
        out[k] = '\0';
    }
    ofr_wp_ucs_free (&a);
    ofr_wp_ucs_free (&b);
    return out;
}

/* ---- pre-tokenizer ------------------------------------------------------ */

/* Pre-tokens: spans [start, end) of one code point buffer, plus the offset
   of the span's text in the normalized string (for prepend "first"). */
typedef struct {
    size_t start, end, orig;
} span;

typedef struct {
    span  *v;
    size_t len, cap;
    bool   oom;
} span_list;

static void
span_push (span_list *l, size_t start, size_t end, size_t orig)
{
    if (l->oom)
        return;
    if (l->len == l->cap && ofr_grow ((void **) &l->v, &l->cap, l->len + 1, sizeof *l->v)) {
        l->oom = true;
        return;
    }
    l->v[l->len++] = (span) { start, end, orig };
}

/* One pre-tokenizer step: spans of buf `in` become spans of `out`, written
   into buffer `ob` (Metaspace rewrites text: ' ' -> repl, a prefix). */
static void
pre_apply (const pre_step *s, const ofr_wp_ucs *ib, const span_list *in, ofr_wp_ucs *ob,
           span_list *out)
{
    out->len = 0;
    ob->len = 0;
    for (size_t p = 0; p < in->len; p++) {
        const span *sp = &in->v[p];
        const uint32_t *v = ib->v;
        if (s->kind == PRE_WHITESPACE_SPLIT) {
            for (size_t i = sp->start; i < sp->end;) {
                while (i < sp->end && is_white_space (v[i]))
                    i++;
                size_t a = i;
                while (i < sp->end && !is_white_space (v[i]))
                    i++;
                if (i > a) {
                    size_t o = ob->len;
                    for (size_t k = a; k < i; k++)
                        ofr_wp_ucs_push (ob, v[k]);
                    span_push (out, o, ob->len, sp->orig + (a - sp->start));
                }
            }
            continue;
        }
        if (sp->end == sp->start)
            continue;
        size_t o = ob->len;
        bool starts = v[sp->start] == s->repl || v[sp->start] == ' ';
        if (!starts && (s->prepend == PREPEND_ALWAYS
                        || (s->prepend == PREPEND_FIRST && sp->orig == 0)))
            ofr_wp_ucs_push (ob, s->repl);
        for (size_t k = sp->start; k < sp->end; k++)
            ofr_wp_ucs_push (ob, v[k] == ' ' ? s->repl : v[k]);
        size_t e = ob->len;
        if (!s->split || ob->oom) {
            span_push (out, o, e, sp->orig);
            continue;
        }
        /* MergedWithNext: every replacement begins a new piece. */
        size_t a = o;
        for (size_t k = o + 1; k <= e; k++)
            if (k == e || ob->v[k] == s->repl) {
                span_push (out, a, k, sp->orig);
                a = k;
            }
    }
}

/* ---- model -------------------------------------------------------------- */

typedef struct {
    double *score;              /* [bytes + 1] best path score ending here    */
    int    *start;              /* [bytes + 1] its last piece's start, -1     */
    int    *id;                 /* [bytes + 1] its last piece                 */
    size_t  score_cap, start_cap, id_cap;
    char   *bytes;
    size_t  bytes_cap;
    bool    oom;
} viterbi_work;

static void
ids_push (ofr_wp_ids *ids, int32_t id, viterbi_work *w)
{
    if (!w->oom && ofr_wp_ids_push (ids, id) != 0)
        w->oom = true;
}

/* tokenize() of one token string: its id, else its byte pieces, else unk. */
static int
emit (const ofr_unigram *self, const char *s, size_t len, ofr_wp_ids *ids,
      viterbi_work *w)
{
    int id = lookup (self, s, len);
    if (id >= 0) {
        ids_push (ids, id, w);
        return 0;
    }
    if (self->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < len; i++)
            all = all && self->byte_id[(unsigned char) s[i]] >= 0;
        if (all) {
            for (size_t i = 0; i < len; i++)
                ids_push (ids, self->byte_id[(unsigned char) s[i]], w);
            return 0;
        }
    }
    if (self->unk < 0)
        return -1;
    ids_push (ids, self->unk, w);
    return 0;
}

static void
reverse_from (ofr_wp_ids *ids, size_t from, const viterbi_work *w)
{
    for (size_t x = from, y = ids->len; !w->oom && x + 1 < y; x++, y--) {
        int32_t t = ids->v[x];
        ids->v[x] = ids->v[y - 1];
        ids->v[y - 1] = t;
    }
}

/* Viterbi over the UTF-8 of v[0..n), then backtracking with fused unks. */
static int
viterbi (const ofr_unigram *self, const uint32_t *v, size_t n, ofr_wp_ids *ids,
         viterbi_work *w)
{
    if (ofr_grow ((void **) &w->bytes, &w->bytes_cap, 4 * n + 1, 1) != 0) {
        w->oom = true;
        return 0;
    }
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += (size_t) ofr_utf8_encode (v[i], w->bytes + size);
    if (ofr_grow ((void **) &w->score, &w->score_cap, size + 1, sizeof *w->score) != 0
        || ofr_grow ((void **) &w->start, &w->start_cap, size + 1, sizeof *w->start) != 0
        || ofr_grow ((void **) &w->id, &w->id_cap, size + 1, sizeof *w->id) != 0) {
        w->oom = true;
        return 0;
    }
    const char *b = w->bytes;
    for (size_t i = 0; i <= size; i++)
        w->start[i] = -1, w->score[i] = 0, w->id[i] = -1;
    w->start[0] = 0;
    for (size_t at = 0; at < size;) {
        double base = w->score[at];
        size_t mblen = ofr_utf8_len ((unsigned char) b[at]);
        bool single = false;
        for (size_t end = at; end < size;) {
            end += ofr_utf8_len ((unsigned char) b[end]);
            if (end - at > self->max_len)
                break;
            int id = lookup (self, b + at, end - at);
            if (id >= 0) {
                double sc = base + self->score[id];
                if (w->start[end] < 0 || sc > w->score[end])
                    w->score[end] = sc, w->start[end] = (int) at, w->id[end] = id;
                single = single || end - at == mblen;
            }
        }
        if (!single) {
            double sc = base + self->unk_score;
            size_t end = at + mblen;
            if (w->start[end] < 0 || sc > w->score[end])
                w->score[end] = sc, w->start[end] = (int) at, w->id[end] = self->unk;
        }
        at += mblen;
    }
    /* Backtrack from the end, appending ids in reverse (a fused run of
       unks that falls back to several byte ids is reversed in place), then
       reverse everything appended. */
    size_t first = ids->len;
    size_t fuse_end = 0;          /* end of a pending run of unks, 0 = none */
    size_t fuse_start = 0;
    int rc = 0;
    for (size_t end = size; end > 0;) {
        size_t st = (size_t) w->start[end];
        bool unk = self->unk >= 0 && w->id[end] == self->unk;
        if (unk) {
            if (!fuse_end)
                fuse_end = end;
            fuse_start = st;
        } else {
            if (fuse_end) {
                size_t m = ids->len;
                rc |= emit (self, b + fuse_start, fuse_end - fuse_start, ids, w);
                reverse_from (ids, m, w);
                fuse_end = 0;
            }
            if (w->id[end] < 0)
                rc = -1;            /* an unknown character and no unk_id */
            else
                ids_push (ids, w->id[end], w);
        }
        end = st;
    }
    if (fuse_end) {
        size_t m = ids->len;
        rc |= emit (self, b + fuse_start, fuse_end - fuse_start, ids, w);
        reverse_from (ids, m, w);
    }
    reverse_from (ids, first, w);
    return rc;
}

int
ofr_unigram_tokenize (const ofr_unigram *self, const char *text, ofr_wp_ids *out,
                      char *err, size_t errlen)
{
    ofr_wp_ucs a = { 0 }, b = { 0 }, c = { 0 };
    span_list s1 = { 0 }, s2 = { 0 };
    viterbi_work w = { 0 };
    int rc = 0;
    ofr_wp_ucs *buf = normalize (self, text ? text : "", &a, &b);
    if (!buf) {
        w.oom = true;
        goto out;
    }
    /* The pre-tokenizer ping-pongs between buf and c (spans follow). */
    ofr_wp_ucs *other = &c;
    span_list *cur = &s1, *next = &s2;
    span_push (cur, 0, buf->len, 0);
    for (int k = 0; k < self->n_pre && !cur->oom; k++) {
        pre_apply (&self->pre[k], buf, cur, other, next);
        ofr_wp_ucs *tb = buf;
        buf = other;
        other = tb;
        span_list *ts = cur;
        cur = next;
        next = ts;
        if (buf->oom) {
            w.oom = true;
            goto out;
        }
    }
    if (cur->oom) {
        w.oom = true;
        goto out;
    }
    for (size_t i = 0; i < cur->len && !w.oom && rc == 0; i++)
        if (cur->v[i].end > cur->v[i].start)
            rc = viterbi (self, buf->v + cur->v[i].start, cur->v[i].end - cur->v[i].start,
                          out, &w);
out:
    ofr_wp_ucs_free (&a);
    ofr_wp_ucs_free (&b);
    ofr_wp_ucs_free (&c);
    free (s1.v);
    free (s2.v);
    free (w.score);
    free (w.start);
    free (w.id);
    free (w.bytes);
    if (w.oom)
        return ofr_errf (err, errlen, "unigram: out of memory tokenizing %zu bytes",
                         text ? strlen (text) : 0);
    if (rc != 0)
        return ofr_errf (err, errlen, "unigram: text needs an unknown piece and the model "
                         "has no unk_id");
    return 0;
}
