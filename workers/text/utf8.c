/*  utf8.c -- one UTF-8 code point at a time (see utf8.h). */
#include "utf8.h"

size_t
ofr_utf8_len (unsigned char lead)
{
    return lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3
         : (lead >> 3) == 30 ? 4 : 0;
}

/* The strict sequence at s[0..len): its length, else 0 with the length of
   its maximal subpart (at least 1) in *part. */
static size_t
scan (const unsigned char *s, size_t len, uint32_t *cp, size_t *part)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0Fu;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07u;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *part = 1;
        return 0;
    }
    size_t k = 1;
    for (; k < n && k < len; k++) {
        if (s[k] < lo || s[k] > hi)
            break;
        lo = 0x80, hi = 0xBF;
        v = (v << 6) | (s[k] & 0x3Fu);
    }
    if (k < n) {
        *part = k;
        return 0;
    }
    *cp = v;
    return n;
}

size_t
ofr_utf8_char (const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t part;
    return scan (s, len, cp, &part);
}

size_t
ofr_utf8_next (const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t part, n = scan (s, len, cp, &part);
    if (n)
        return n;
    *cp = 0xFFFD;
    return 1;
}

size_t
ofr_utf8_bad_len (const unsigned char *s, size_t len)
{
    uint32_t cp;
    size_t part;
    return scan (s, len, &cp, &part) ? 0 : part;
}

int
ofr_utf8_encode (uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

int
ofr_utf8_validate (const char *s, size_t len, size_t *bad)
{
    const unsigned char *u = (const unsigned char *) s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = u[i] ? ofr_utf8_char (u + i, len - i, &cp) : 0;
        if (!n) {
            *bad = i;
            return -1;
        }
        i += n;
    }
    return 0;
}
