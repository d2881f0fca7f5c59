/*  jsonlite.c -- see jsonlite.h. A recursive-descent parser; depth is
    bounded so that hostile input cannot overflow the stack. */
#include "jsonlite.h"
#include "../../common/ofr_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t      len;
    size_t      pos;
    const char *what;
    char       *err;
    size_t      errlen;
} parser;

static int parse_value (parser *p, int depth, ofr_jsonlite **out);

/* Reports the position of p->pos as 1-based line and column. */
static int
fail (parser *p, const char *msg)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        }
        else
            col++;
    }
    return ofr_errf (p->err, p->errlen, "%s: %s (line %zu, column %zu)",
                     p->what, msg, line, col);
}

static void
skip_ws (parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int
peek (parser *p)
{
    return p->pos < p->len ? (unsigned char) p->s[p->pos] : -1;
}

static int
expect_word (parser *p, const char *word)
{
    size_t n = strlen (word);
    if (p->len - p->pos < n || memcmp (p->s + p->pos, word, n) != 0)
        return fail (p, "invalid literal");
    p->pos += n;
    return 0;
}

static ofr_jsonlite *
new_value (parser *p, ofr_jsonlite_type t)
{
    ofr_jsonlite *v = ofr_calloc (1, sizeof *v);
    if (!v)
        fail (p, "out of memory");
    else
        v->type = t;
    return v;
}

void
ofr_jsonlite_destroy (ofr_jsonlite **vp)
{
    if (!vp || !*vp)
        return;
    ofr_jsonlite *v = *vp;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items)
            ofr_jsonlite_destroy (&v->items[i]);
        if (v->keys)
            free (v->keys[i]);
    }
    free (v->items);
    free (v->keys);
    free (v->string);
    free (v);
    *vp = NULL;
}

static int
hex4 (parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail (p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t) i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned) (c - 'A' + 10);
        else return fail (p, "bad hex digit in \\u escape");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void
put_utf8 (ofr_buf *b, unsigned cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char) cp; n = 1; }
    else if (cp < 0x800) {
        u[0] = (unsigned char) (0xC0 | (cp >> 6));
        u[1] = (unsigned char) (0x80 | (cp & 0x3F));
        n = 2;
    }
    else if (cp < 0x10000) {
        u[0] = (unsigned char) (0xE0 | (cp >> 12));
        u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char) (0x80 | (cp & 0x3F));
        n = 3;
    }
    else {
        u[0] = (unsigned char) (0xF0 | (cp >> 18));
        u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char) (0x80 | (cp & 0x3F));
        n = 4;
    }
    ofr_buf_append (b, u, n);
}

static int
parse_escape (parser *p, ofr_buf *b)
{
    if (p->pos >= p->len)
        return fail (p, "truncated escape");
    char c = p->s[p->pos++];
    switch (c) {
    case '"':  ofr_buf_append (b, "\"", 1); return 0;
    case '\\': ofr_buf_append (b, "\\", 1); return 0;
    case '/':  ofr_buf_append (b, "/", 1); return 0;
    case 'b':  ofr_buf_append (b, "\b", 1); return 0;
    case 'f':  ofr_buf_append (b, "\f", 1); return 0;
    case 'n':  ofr_buf_append (b, "\n", 1); return 0;
    case 'r':  ofr_buf_append (b, "\r", 1); return 0;
    case 't':  ofr_buf_append (b, "\t", 1); return 0;
    case 'u':  break;
    default:
        p->pos--;
        return fail (p, "invalid escape");
    }
    unsigned cp;
    if (hex4 (p, &cp) != 0)
        return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail (p, "unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail (p, "unpaired high surrogate");
        p->pos += 2;
        if (hex4 (p, &lo) != 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail (p, "unpaired high surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return fail (p, "\\u0000 is not supported in strings");
    put_utf8 (b, cp);
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if bad. */
static size_t
utf8_len (const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) { len = 2; cp = s[0] & 0x1Fu; }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) { len = 3; cp = s[0] & 0x0Fu; }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) { len = 4; cp = s[0] & 0x07u; }
    else return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF
        || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int
parse_string_raw (parser *p, char **out)
{
    p->pos++;   /* opening quote */
    ofr_buf b;
    ofr_buf_init (&b);
    for (;;) {
        if (p->pos >= p->len) {
            ofr_buf_free (&b);
            return fail (p, "unterminated string");
        }
        unsigned char c = (unsigned char) p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            ofr_buf_free (&b);
            return fail (p, "control character in string");
        }
        if (c == '\\') {
            p->pos++;
            if (parse_escape (p, &b) != 0) {
                ofr_buf_free (&b);
                return -1;
            }
            continue;
        }
        size_t n = utf8_len ((const unsigned char *) p->s + p->pos, p->len - p->pos);
        if (n == 0) {
            ofr_buf_free (&b);
            return fail (p, "invalid UTF-8 in string");
        }
        ofr_buf_append (&b, p->s + p->pos, n);
        p->pos += n;
    }
    if (!b.data)
        ofr_buf_append (&b, "", 0);
    if (b.oom) {
        ofr_buf_free (&b);
        return fail (p, "out of memory");
    }
    *out = b.data;
    return 0;
}

static int
parse_number (parser *p, ofr_jsonlite **out)
{
    size_t start = p->pos;
    bool is_int = true;
    if (peek (p) == '-')
        p->pos++;
    if (peek (p) == '0')
        p->pos++;
    else if (peek (p) >= '1' && peek (p) <= '9')
        while (peek (p) >= '0' && peek (p) <= '9')
            p->pos++;
    else
        return fail (p, "invalid number");
    if (peek (p) == '.') {
        is_int = false;
        p->pos++;
        if (!(peek (p) >= '0' && peek (p) <= '9'))
            return fail (p, "digit expected after '.'");
        while (peek (p) >= '0' && peek (p) <= '9')
            p->pos++;
    }
    if (peek (p) == 'e' || peek (p) == 'E') {
        is_int = false;
        p->pos++;
        if (peek (p) == '+' || peek (p) == '-')
            p->pos++;
        if (!(peek (p) >= '0' && peek (p) <= '9'))
            return fail (p, "digit expected in exponent");
        while (peek (p) >= '0' && peek (p) <= '9')
            p->pos++;
    }
    /* strtod/strtoll need a NUL-terminated copy; numbers are short. */
    size_t n = p->pos - start;
    char tmp[64];
    if (n >= sizeof tmp) {
        p->pos = start;
        return fail (p, "number too long");
    }
    memcpy (tmp, p->s + start, n);
    tmp[n] = 0;
    ofr_jsonlite *v = new_value (p, OFR_JSONLITE_NUMBER);
    if (!v)
        return -1;
    v->number = strtod (tmp, NULL);
    if (is_int) {
        errno = 0;
        long long ll = strtoll (tmp, NULL, 10);
        if (errno == 0) {
            v->is_int = true;
            v->integer = ll;
        }
    }
    if (!isfinite (v->number)) {
        ofr_jsonlite_destroy (&v);
        p->pos = start;
        return fail (p, "number out of range");
    }
    *out = v;
    return 0;
}

/* Appends item (and key, for objects) to v; takes ownership of both.
   cap[0] is the capacity of v->items, cap[1] that of v->keys. */
static int
append_item (parser *p, ofr_jsonlite *v, size_t cap[2], ofr_jsonlite *item, char *key)
{
    bool object = v->type == OFR_JSONLITE_OBJECT;
    if (ofr_grow ((void **) &v->items, &cap[0], v->n + 1, sizeof *v->items) != 0
        || (object && ofr_grow ((void **) &v->keys, &cap[1], v->n + 1, sizeof *v->keys) != 0)) {
        ofr_jsonlite_destroy (&item);
        free (key);
        return fail (p, "out of memory");
    }
    v->items[v->n] = item;
    if (object)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static int
parse_array (parser *p, int depth, ofr_jsonlite **out)
{
    ofr_jsonlite *v = new_value (p, OFR_JSONLITE_ARRAY);
    if (!v)
        return -1;
    size_t cap[2] = { 0, 0 };
    p->pos++;
    skip_ws (p);
    if (peek (p) == ']') {
        p->pos++;
        *out = v;
        return 0;
    }
    for (;;) {
        ofr_jsonlite *item = NULL;
        skip_ws (p);
        if (parse_value (p, depth + 1, &item) != 0
            || append_item (p, v, cap, item, NULL) != 0) {
            ofr_jsonlite_destroy (&v);
            return -1;
        }
        skip_ws (p);
        int c = peek (p);
        p->pos++;
        if (c == ']')
            break;
        if (c != ',') {
            p->pos--;
            ofr_jsonlite_destroy (&v);
            return fail (p, "',' or ']' expected");
        }
    }
    *out = v;
    return 0;
}

static int
parse_member (parser *p, int depth, ofr_jsonlite *v, size_t cap[2])
{
    skip_ws (p);
    if (peek (p) != '"')
        return fail (p, "string key expected");
    size_t key_pos = p->pos;
    char *key = NULL;
    if (parse_string_raw (p, &key) != 0)
        return -1;
    if (ofr_jsonlite_get (v, key)) {
        free (key);
        p->pos = key_pos;
        return fail (p, "duplicate key");
    }
    skip_ws (p);
    if (peek (p) != ':') {
        free (key);
        return fail (p, "':' expected");
    }
    p->pos++;
    skip_ws (p);
    ofr_jsonlite *item = NULL;
    if (parse_value (p, depth + 1, &item) != 0) {
        free (key);
        return -1;
    }
    return append_item (p, v, cap, item, key);
}

static int
parse_object (parser *p, int depth, ofr_jsonlite **out)
{
    ofr_jsonlite *v = new_value (p, OFR_JSONLITE_OBJECT);
    if (!v)
        return -1;
    size_t cap[2] = { 0, 0 };
    p->pos++;
    skip_ws (p);
    if (peek (p) == '}') {
        p->pos++;
        *out = v;
        return 0;
    }
    for (;;) {
        if (parse_member (p, depth, v, cap) != 0) {
            ofr_jsonlite_destroy (&v);
            return -1;
        }
        skip_ws (p);
        int c = peek (p);
        p->pos++;
        if (c == '}')
            break;
        if (c != ',') {
            p->pos--;
            ofr_jsonlite_destroy (&v);
            return fail (p, "',' or '}' expected");
        }
    }
    *out = v;
    return 0;
}

static int
parse_value (parser *p, int depth, ofr_jsonlite **out)
{
    if (depth > OFR_JSONLITE_MAX_DEPTH)
        return fail (p, "nesting too deep");
    int c = peek (p);
    ofr_jsonlite *v;
    switch (c) {
    case '{': return parse_object (p, depth, out);
    case '[': return parse_array (p, depth, out);
    case '"': {
        char *s = NULL;
        if (parse_string_raw (p, &s) != 0)
            return -1;
        if (!(v = new_value (p, OFR_JSONLITE_STRING))) {
            free (s);
            return -1;
        }
        v->string = s;
        *out = v;
        return 0;
    }
    case 't': case 'f':
        if (expect_word (p, c == 't' ? "true" : "false") != 0
            || !(v = new_value (p, OFR_JSONLITE_BOOL)))
            return -1;
        v->boolean = c == 't';
        *out = v;
        return 0;
    case 'n':
        if (expect_word (p, "null") != 0 || !(v = new_value (p, OFR_JSONLITE_NULL)))
            return -1;
        *out = v;
        return 0;
    case -1:
        return fail (p, "unexpected end of input");
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number (p, out);
        return fail (p, "unexpected character");
    }
}

int
ofr_jsonlite_parse (const char *text, size_t len, const char *what,
                    ofr_jsonlite **out, char *err, size_t errlen)
{
    parser p = { text, len, 0, what ? what : "json", err, errlen };
    ofr_jsonlite *v = NULL;
    skip_ws (&p);
    if (parse_value (&p, 0, &v) != 0)
        return -1;
    skip_ws (&p);
    if (p.pos != p.len) {
        ofr_jsonlite_destroy (&v);
        return fail (&p, "trailing characters after the JSON value");
    }
    *out = v;
    return 0;
}

const ofr_jsonlite *
ofr_jsonlite_get (const ofr_jsonlite *v, const char *key)
{
    if (!v || v->type != OFR_JSONLITE_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp (v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *
ofr_jsonlite_type_name (ofr_jsonlite_type t)
{
    static const char *names[] = { "null", "boolean", "number", "string", "array", "object" };
    return (unsigned) t < 6 ? names[t] : "?";
}
