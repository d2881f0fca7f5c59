/*  wordpiece.c -- BERT WordPiece tokenizer (see wordpiece.h). The stages
    follow Hugging Face's BasicTokenizer.tokenize and
    WordpieceTokenizer.tokenize one to one:
      clean text (drop NUL, U+FFFD, controls; whitespace -> ' ') and put
      spaces around CJK ideographs -> split on Python whitespace -> per word:
      lower-case + strip accents -> split off punctuation -> greedy
      longest-match-first WordPiece, [UNK] for an unmatchable word. */
#include "wordpiece.h"
#include "wp_text.h"
#include "utf8.h"
#include "../../common/ofr_common.h"

#include <stdlib.h>
#include <string.h>

struct ofr_wordpiece {
    ofr_wordpiece_params params;
    bool     strip;        /* strip_accents resolved against lowercase       */
    char    *data;         /* the vocab file; tokens are NUL-terminated in it */
    char   **tok;          /* [n] token of each id                            */
    size_t  *tok_len;      /* [n]                                             */
    int      n;
    int32_t *slot;         /* open addressing: id or -1; size mask + 1        */
    size_t   mask;
    int      unk, cls, sep, pad;
};

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
lookup (const ofr_wordpiece *self, const char *s, size_t len)
{
    for (size_t i = hash_bytes (s, len) & self->mask;; i = (i + 1) & self->mask) {
        int32_t id = self->slot[i];
        if (id < 0)
            return -1;
        if (self->tok_len[id] == len && memcmp (self->tok[id], s, len) == 0)
            return id;
    }
}

/* Insert id; a token seen before is re-pointed to the later id, as HF's
   load_vocab (a dict filled line by line) does. */
static void
insert (ofr_wordpiece *self, int id)
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

ofr_wordpiece_params
ofr_wordpiece_default_params (void)
{
    ofr_wordpiece_params p = {
        .lowercase = true,
        .strip_accents = -1,
        .tokenize_chinese_chars = true,
        .max_input_chars_per_word = 100,
    };
    return p;
}

void
ofr_wordpiece_destroy (ofr_wordpiece **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_wordpiece *self = *self_p;
    free (self->data);
    free (self->tok);
    free (self->tok_len);
    free (self->slot);
    free (self);
    *self_p = NULL;
}

/* End of the line starting at p: Python's text mode ends lines at \n, \r\n
   and a lone \r. */
static char *
line_end (char *p, char *end)
{
    while (p < end && *p != '\n' && *p != '\r')
        p++;
    return p;
}

static char *
next_line (char *q, char *end)
{
    if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
        return q + 2;
    return q < end ? q + 1 : q;
}

/* Point tok[] at the lines of the file and NUL-terminate them in place
   (no empty last token after a final newline, as readlines()). */
static int
split_lines (ofr_wordpiece *self, size_t size, const char *path,
             char *err, size_t errlen)
{
    char *end = self->data + size;
    size_t lines = 0;
    for (char *p = self->data; p < end; p = next_line (line_end (p, end), end))
        lines++;
    if (lines == 0)
        return ofr_errf (err, errlen, "%s: empty vocabulary", path);
    if (lines > (1u << 30))
        return ofr_errf (err, errlen, "%s: too many lines (%zu)", path, lines);
    self->tok = ofr_calloc (lines, sizeof *self->tok);
    self->tok_len = ofr_calloc (lines, sizeof *self->tok_len);
    if (!self->tok || !self->tok_len)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    char *p = self->data;
    for (size_t i = 0; i < lines; i++) {
        char *q = line_end (p, end), *next = next_line (q, end);
        size_t bad;
        if (ofr_utf8_validate (p, (size_t) (q - p), &bad) != 0)
            return ofr_errf (err, errlen, "%s:%zu: invalid UTF-8 or NUL byte at column %zu",
                             path, i + 1, bad + 1);
        *q = '\0';          /* q < end, or q == end which holds the file's NUL */
        self->tok[i] = p;
        self->tok_len[i] = (size_t) (q - p);
        p = next;
    }
    self->n = (int) lines;
    return 0;
}

static int
build_index (ofr_wordpiece *self, const char *path, char *err, size_t errlen)
{
    size_t cap = 16;
    while (cap < 2 * (size_t) self->n)
        cap *= 2;
    self->slot = malloc (cap * sizeof *self->slot);
    if (!self->slot)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    memset (self->slot, 0xff, cap * sizeof *self->slot);     /* all -1 */
    self->mask = cap - 1;
    for (int i = 0; i < self->n; i++)
        insert (self, i);
    return 0;
}

static int
special (ofr_wordpiece *self, const char *name, bool required, int *id,
         const char *path, char *err, size_t errlen)
{
    *id = lookup (self, name, strlen (name));
    if (*id < 0 && required)
        return ofr_errf (err, errlen, "%s: vocabulary has no %s token", path, name);
    return 0;
}

int
ofr_wordpiece_load (const char *vocab_path, const ofr_wordpiece_params *params,
                    ofr_wordpiece **out, char *err, size_t errlen)
{
    *out = NULL;
    ofr_wordpiece_params p = params ? *params : ofr_wordpiece_default_params ();
    if (p.max_input_chars_per_word < 1)
        return ofr_errf (err, errlen, "%s: max_input_chars_per_word must be >= 1 (got %d)",
                         vocab_path, p.max_input_chars_per_word);
    ofr_wordpiece *self = ofr_calloc (1, sizeof *self);
    if (!self)
        return ofr_errf (err, errlen, "%s: out of memory", vocab_path);
    self->params = p;
    self->strip = p.strip_accents < 0 ? p.lowercase : p.strip_accents != 0;
    size_t size;
    if (ofr_read_file (vocab_path, &self->data, &size, err, errlen) != 0
        || split_lines (self, size, vocab_path, err, errlen) != 0
        || build_index (self, vocab_path, err, errlen) != 0
        || special (self, "[UNK]", true, &self->unk, vocab_path, err, errlen) != 0
        || special (self, "[CLS]", true, &self->cls, vocab_path, err, errlen) != 0
        || special (self, "[SEP]", true, &self->sep, vocab_path, err, errlen) != 0
        || special (self, "[PAD]", false, &self->pad, vocab_path, err, errlen) != 0) {
        ofr_wordpiece_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

int
ofr_wordpiece_load_tokens (const char *origin, const char *const *tokens, int n,
                           const ofr_wordpiece_params *params, ofr_wordpiece **out,
                           char *err, size_t errlen)
{
    *out = NULL;
    ofr_wordpiece_params p = params ? *params : ofr_wordpiece_default_params ();
    if (p.max_input_chars_per_word < 1)
        return ofr_errf (err, errlen, "%s: max_input_chars_per_word must be >= 1 (got %d)",
                         origin, p.max_input_chars_per_word);
    if (n < 1 || n > (1 << 30))
        return ofr_errf (err, errlen, "%s: vocabulary of %d tokens", origin, n);
    ofr_wordpiece *self = ofr_calloc (1, sizeof *self);
    if (!self)
        return ofr_errf (err, errlen, "%s: out of memory", origin);
    self->params = p;
    self->strip = p.strip_accents < 0 ? p.lowercase : p.strip_accents != 0;
    size_t bytes = 1;
    for (int i = 0; i < n; i++)
        bytes += (tokens[i] ? strlen (tokens[i]) : 0) + 1;
    self->n = n;
    self->data = malloc (bytes);
    self->tok = ofr_calloc ((size_t) n, sizeof *self->tok);
    self->tok_len = ofr_calloc ((size_t) n, sizeof *self->tok_len);
    int rc = 0;
    if (!self->data || !self->tok || !self->tok_len)
        rc = ofr_errf (err, errlen, "%s: out of memory", origin);
    char *at = self->data;
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t len = tokens[i] ? strlen (tokens[i]) : 0, bad;
        if (!tokens[i])
            rc = ofr_errf (err, errlen, "%s: token %d is missing", origin, i);
        else if (ofr_utf8_validate (tokens[i], len, &bad) != 0)
            rc = ofr_errf (err, errlen, "%s: token %d: invalid UTF-8 at byte %zu", origin, i,
                           bad + 1);
        else {
            memcpy (at, tokens[i], len + 1);
            self->tok[i] = at;
            self->tok_len[i] = len;
            at += len + 1;
        }
    }
    if (rc != 0 || build_index (self, origin, err, errlen) != 0
        || special (self, "[UNK]", true, &self->unk, origin, err, errlen) != 0
        || special (self, "[CLS]", true, &self->cls, origin, err, errlen) != 0
        || special (self, "[SEP]", true, &self->sep, origin, err, errlen) != 0
        || special (self, "[PAD]", false, &self->pad, origin, err, errlen) != 0) {
        ofr_wordpiece_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

int ofr_wordpiece_vocab_size (const ofr_wordpiece *self) { return self->n; }
int ofr_wordpiece_unk_id (const ofr_wordpiece *self) { return self->unk; }
int ofr_wordpiece_cls_id (const ofr_wordpiece *self) { return self->cls; }
int ofr_wordpiece_sep_id (const ofr_wordpiece *self) { return self->sep; }
int ofr_wordpiece_pad_id (const ofr_wordpiece *self) { return self->pad; }

int
ofr_wordpiece_token_id (const ofr_wordpiece *self, const char *token)
{
    return token ? lookup (self, token, strlen (token)) : -1;
}

const char *
ofr_wordpiece_token (const ofr_wordpiece *self, int id)
{
    return id >= 0 && id < self->n ? self->tok[id] : NULL;
}

/* Scratch space of one tokenize call (the tokenizer itself stays
   read-only, so it can be shared between threads). */
typedef struct {
    ofr_wp_ucs text;       /* cleaned text                                 */
    ofr_wp_ucs low;        /* a word after lower()                         */
    ofr_wp_ucs word;       /* a word after accent stripping                */
    char      *key;        /* "##" + UTF-8 of a piece                      */
    size_t    *off;        /* byte offset in key of each character         */
    size_t     key_cap, off_cap;
    bool       oom;
} wp_work;

static void
work_free (wp_work *w)
{
    ofr_wp_ucs_free (&w->text);
    ofr_wp_ucs_free (&w->low);
    ofr_wp_ucs_free (&w->word);
    free (w->key);
    free (w->off);
}

static void
ids_push (ofr_wp_ids *ids, int32_t id, wp_work *w)
{
    if (!w->oom && ofr_wp_ids_push (ids, id) != 0)
        w->oom = true;
}

/* _clean_text and _tokenize_chinese_chars in one pass over the bytes. */
static void
clean_text (const ofr_wordpiece *self, const char *text, ofr_wp_ucs *out)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t len = strlen (text);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += ofr_utf8_next (s + i, len - i, &cp);
        if (cp == 0 || cp == 0xFFFD || ofr_wp_is_control (cp))
            continue;
        if (ofr_wp_is_whitespace (cp))
            ofr_wp_ucs_push (out, ' ');
        else if (self->params.tokenize_chinese_chars && ofr_wp_is_chinese (cp)) {
            ofr_wp_ucs_push (out, ' ');
            ofr_wp_ucs_push (out, cp);
            ofr_wp_ucs_push (out, ' ');
        } else
            ofr_wp_ucs_push (out, cp);
    }
}

/* WordpieceTokenizer.tokenize for one piece p[0..n) (n >= 1): greedy
   longest match first; "##" marks a piece that continues a word. */
static void
wordpiece (const ofr_wordpiece *self, const uint32_t *p, size_t n,
           ofr_wp_ids *ids, wp_work *w)
{
    if (n > (size_t) self->params.max_input_chars_per_word) {
        ids_push (ids, self->unk, w);
        return;
    }
    /* key = two spare bytes + UTF-8 of the piece; "##" is written just
       before a continuation's first byte, over bytes already consumed. */
    if (ofr_grow ((void **) &w->key, &w->key_cap, 2 + 4 * n, 1) != 0
        || ofr_grow ((void **) &w->off, &w->off_cap, n + 1, sizeof *w->off) != 0) {
        w->oom = true;
        return;
    }
    size_t at = 2;
    for (size_t i = 0; i < n; i++) {
        w->off[i] = at;
        at += (size_t) ofr_utf8_encode (p[i], w->key + at);
    }
    w->off[n] = at;
    size_t first = ids->len;
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int id = -1;
        size_t from = w->off[start] - (start ? 2 : 0);
        if (start) {
            w->key[from] = '#';
            w->key[from + 1] = '#';
        }
        for (; end > start; end--)
            if ((id = lookup (self, w->key + from, w->off[end] - from)) >= 0)
                break;
        if (id < 0) {
            ids->len = first;                 /* the whole word is [UNK] */
            ids_push (ids, self->unk, w);
            return;
        }
        ids_push (ids, id, w);
        start = end;
    }
}

/* _run_split_on_punc: each punctuation character is a piece of its own. */
static void
split_punct (const ofr_wordpiece *self, const ofr_wp_ucs *word,
             ofr_wp_ids *ids, wp_work *w)
{
    size_t start = 0;
    for (size_t i = 0; i <= word->len; i++) {
        bool punct = i < word->len && ofr_wp_is_punctuation (word->v[i]);
        if (i < word->len && !punct)
            continue;
        if (i > start)
            wordpiece (self, word->v + start, i - start, ids, w);
        if (punct)
            wordpiece (self, word->v + i, 1, ids, w);
        start = i + 1;
    }
}

static void
tokenize_word (const ofr_wordpiece *self, const uint32_t *s, size_t n,
               ofr_wp_ids *ids, wp_work *w)
{
    const uint32_t *v = s;
    w->low.len = w->word.len = 0;
    if (self->params.lowercase) {
        ofr_wp_lower (s, n, &w->low);
        v = w->low.v, n = w->low.len;
    }
    if (self->strip) {
        ofr_wp_strip_accents (v, n, &w->word);
    } else {
        for (size_t i = 0; i < n; i++)
            ofr_wp_ucs_push (&w->word, v[i]);
    }
    if (w->low.oom || w->word.oom) {
        w->oom = true;
        return;
    }
    split_punct (self, &w->word, ids, w);
}

int
ofr_wordpiece_tokenize (const ofr_wordpiece *self, const char *text,
                        ofr_wp_ids *out, char *err, size_t errlen)
{
    wp_work w = { 0 };
    clean_text (self, text ? text : "", &w.text);
    w.oom = w.text.oom;
    const uint32_t *t = w.text.v;
    size_t n = w.text.len;
    for (size_t i = 0; i < n && !w.oom;) {
        while (i < n && ofr_wp_is_pyspace (t[i]))
            i++;
        size_t start = i;
        while (i < n && !ofr_wp_is_pyspace (t[i]))
            i++;
        if (i > start)
            tokenize_word (self, t + start, i - start, out, &w);
    }
    bool oom = w.oom;
    work_free (&w);
    if (oom)
        return ofr_errf (err, errlen, "wordpiece: out of memory tokenizing %zu bytes",
                         text ? strlen (text) : 0);
    return 0;
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

/* HF truncate_sequences, strategy longest_first, truncation side right:
   first the longer side loses the difference, the rest is shared with the
   second sequence taking the larger half. */
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

int
ofr_wordpiece_encode (const ofr_wordpiece *self, const char *a, const char *b,
                      int max_len, ofr_wp_encoding *enc, char *err, size_t errlen)
{
    int specials = b ? 3 : 2;
    if (max_len < specials)
        return ofr_errf (err, errlen, "wordpiece: max_len %d leaves no room for the %d special tokens",
                         max_len, specials);
    ofr_wp_ids ia = { 0 }, ib = { 0 };
    int rc = ofr_wordpiece_tokenize (self, a, &ia, err, errlen);
    if (rc == 0 && b)
        rc = ofr_wordpiece_tokenize (self, b, &ib, err, errlen);
    size_t na = ia.len, nb = ib.len;
    truncate_longest_first (&na, &nb, (size_t) (max_len - specials));
    if (rc == 0 && enc_reserve (enc, na + nb + (size_t) specials) != 0)
        rc = ofr_errf (err, errlen, "wordpiece: out of memory encoding");
    if (rc == 0) {
        size_t k = 0;
        enc->ids[k] = self->cls, enc->type_ids[k++] = 0;
        for (size_t i = 0; i < na; i++)
            enc->ids[k] = ia.v[i], enc->type_ids[k++] = 0;
        enc->ids[k] = self->sep, enc->type_ids[k++] = 0;
        for (size_t i = 0; b && i < nb; i++)
            enc->ids[k] = ib.v[i], enc->type_ids[k++] = 1;
        if (b)
            enc->ids[k] = self->sep, enc->type_ids[k++] = 1;
        enc->len = (int) k;
        enc->len_a = (int) na;
        enc->len_b = (int) nb;
    }
    ofr_wp_ids_free (&ia);
    ofr_wp_ids_free (&ib);
    return rc;
}

void
ofr_wordpiece_encoding_free (ofr_wp_encoding *enc)
{
    if (!enc)
        return;
    free (enc->ids);
    free (enc->type_ids);
    memset (enc, 0, sizeof *enc);
}

int
ofr_wp_ids_push (ofr_wp_ids *ids, int32_t id)
{
    if (ids->len == ids->cap
        && ofr_grow ((void **) &ids->v, &ids->cap, ids->len + 1, sizeof *ids->v) != 0)
        return -1;
    ids->v[ids->len++] = id;
    return 0;
}

void
ofr_wp_ids_free (ofr_wp_ids *ids)
{
    if (!ids)
        return;
    free (ids->v);
    memset (ids, 0, sizeof *ids);
}
