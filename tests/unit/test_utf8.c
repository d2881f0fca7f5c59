/*  test_utf8.c -- workers/text/utf8: what each helper returns for valid
    sequences of 1 to 4 bytes and for invalid input (lone continuation
    bytes, overlong forms, surrogates, code points above U+10FFFF, truncated
    sequences, NUL). The strict rules are those every tokenizer had: Unicode
    table 3-7, as Python and Rust decode. */
#include "workers/text/utf8.h"
#include "tests/unit/check.h"

#include <string.h>

#define NO_CP 0xDEADBEEFu          /* *cp untouched */

typedef struct {
    const char *name;
    const char *bytes;
    size_t      len;
    size_t      char_len;          /* ofr_utf8_char: 0 = invalid          */
    uint32_t    cp;                /* its code point, else NO_CP          */
    size_t      bad_len;           /* ofr_utf8_bad_len: maximal subpart   */
} dec_case;

static const dec_case s_dec[] = {
    { "ASCII",                  "A",                1, 1, 0x41,    0 },
    { "NUL (a character)",      "\0",               1, 1, 0,       0 },
    { "2 bytes U+00E9",         "\xC3\xA9",         2, 2, 0xE9,    0 },
    { "2 bytes U+0080 (least)", "\xC2\x80",         2, 2, 0x80,    0 },
    { "3 bytes U+20AC",         "\xE2\x82\xAC",     3, 3, 0x20AC,  0 },
    { "3 bytes U+0800 (least)", "\xE0\xA0\x80",     3, 3, 0x800,   0 },
    { "3 bytes U+D7FF",         "\xED\x9F\xBF",     3, 3, 0xD7FF,  0 },
    { "3 bytes U+FFFD",         "\xEF\xBF\xBD",     3, 3, 0xFFFD,  0 },
    { "4 bytes U+1F600",        "\xF0\x9F\x98\x80", 4, 4, 0x1F600, 0 },
    { "4 bytes U+10000 (least)","\xF0\x90\x80\x80", 4, 4, 0x10000, 0 },
    { "4 bytes U+10FFFF",       "\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF,0 },
    { "only the first char",    "a\xC3\xA9",        3, 1, 0x61,    0 },
    { "lone continuation",      "\x80",             1, 0, NO_CP,   1 },
    { "lone continuation BF",   "\xBF\x41",         2, 0, NO_CP,   1 },
    { "overlong C0 80 (NUL)",   "\xC0\x80",         2, 0, NO_CP,   1 },
    { "overlong C1 BF",         "\xC1\xBF",         2, 0, NO_CP,   1 },
    { "overlong E0 80 80",      "\xE0\x80\x80",     3, 0, NO_CP,   1 },
    { "overlong E0 9F BF",      "\xE0\x9F\xBF",     3, 0, NO_CP,   1 },
    { "overlong F0 80 80 80",   "\xF0\x80\x80\x80", 4, 0, NO_CP,   1 },
    { "overlong F0 8F BF BF",   "\xF0\x8F\xBF\xBF", 4, 0, NO_CP,   1 },
    { "surrogate U+D800",       "\xED\xA0\x80",     3, 0, NO_CP,   1 },
    { "surrogate U+DFFF",       "\xED\xBF\xBF",     3, 0, NO_CP,   1 },
    { "above U+10FFFF (F4 90)", "\xF4\x90\x80\x80", 4, 0, NO_CP,   1 },
    { "lead F5",                "\xF5\x80\x80\x80", 4, 0, NO_CP,   1 },
    { "lead F8",                "\xF8\x88\x80\x80", 4, 0, NO_CP,   1 },
    { "lead FF",                "\xFF",             1, 0, NO_CP,   1 },
    { "truncated 2 of 2",       "\xC3",             1, 0, NO_CP,   1 },
    { "truncated 2 of 3",       "\xE2\x82",         2, 0, NO_CP,   2 },
    { "truncated 3 of 4",       "\xF0\x9F\x98",     3, 0, NO_CP,   3 },
    { "cut by ASCII, 3 bytes",  "\xE2\x82\x41",     3, 0, NO_CP,   2 },
    { "cut by a lead, 4 bytes", "\xF0\x9F\xC3\xA9", 4, 0, NO_CP,   2 },
    { "cut by ASCII, 2 bytes",  "\xC3\x41",         2, 0, NO_CP,   1 },
};

static void
test_decode (void)
{
    for (size_t i = 0; i < sizeof s_dec / sizeof s_dec[0]; i++) {
        const dec_case *c = &s_dec[i];
        const unsigned char *s = (const unsigned char *) c->bytes;
        uint32_t cp = NO_CP;
        size_t n = ofr_utf8_char (s, c->len, &cp);
        CHECK (n == c->char_len && cp == c->cp, "%s: ofr_utf8_char = %zu, U+%04X", c->name,
               n, (unsigned) cp);
        CHECK (ofr_utf8_bad_len (s, c->len) == c->bad_len, "%s: ofr_utf8_bad_len = %zu",
               c->name, ofr_utf8_bad_len (s, c->len));
        /* ofr_utf8_next: the character, else U+FFFD over one byte. */
        cp = NO_CP;
        n = ofr_utf8_next (s, c->len, &cp);
        if (c->char_len)
            CHECK (n == c->char_len && cp == c->cp, "%s: ofr_utf8_next = %zu", c->name, n);
        else
            CHECK (n == 1 && cp == 0xFFFD, "%s: ofr_utf8_next = %zu, U+%04X", c->name, n,
                   (unsigned) cp);
    }
}

static void
test_len (void)
{
    /* The lead byte's bit pattern only: no validation. */
    static const struct { unsigned char b; size_t len; } t[] = {
        { 0x00, 1 }, { 0x41, 1 }, { 0x7F, 1 }, { 0x80, 0 }, { 0xBF, 0 },
        { 0xC0, 2 }, { 0xC2, 2 }, { 0xDF, 2 }, { 0xE0, 3 }, { 0xED, 3 },
        { 0xEF, 3 }, { 0xF0, 4 }, { 0xF4, 4 }, { 0xF5, 4 }, { 0xF7, 4 },
        { 0xF8, 0 }, { 0xFE, 0 }, { 0xFF, 0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        CHECK (ofr_utf8_len (t[i].b) == t[i].len, "ofr_utf8_len (0x%02X) = %zu, not %zu",
               t[i].b, ofr_utf8_len (t[i].b), t[i].len);
}

static void
test_encode (void)
{
    static const struct { uint32_t cp; const char *bytes; int len; } t[] = {
        { 0x00, "\0", 1 },                 { 0x7F, "\x7F", 1 },
        { 0x80, "\xC2\x80", 2 },           { 0x7FF, "\xDF\xBF", 2 },
        { 0x800, "\xE0\xA0\x80", 3 },      { 0xD800, "\xED\xA0\x80", 3 },
        { 0xFFFD, "\xEF\xBF\xBD", 3 },     { 0xFFFF, "\xEF\xBF\xBF", 3 },
        { 0x10000, "\xF0\x90\x80\x80", 4 }, { 0x1F600, "\xF0\x9F\x98\x80", 4 },
        { 0x10FFFF, "\xF4\x8F\xBF\xBF", 4 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char out[4];
        int n = ofr_utf8_encode (t[i].cp, out);
        CHECK (n == t[i].len && memcmp (out, t[i].bytes, (size_t) n) == 0,
               "ofr_utf8_encode (U+%04X) = %d bytes", (unsigned) t[i].cp, n);
    }
    /* Round trip over every scalar value. */
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char out[4];
        uint32_t back = NO_CP;
        size_t n = (size_t) ofr_utf8_encode (cp, out);
        if (ofr_utf8_char ((const unsigned char *) out, n, &back) != n || back != cp)
            bad++;
    }
    CHECK (bad == 0, "%d scalar values do not round-trip", bad);
}

static void
test_validate (void)
{
    size_t bad = 99;
    CHECK (ofr_utf8_validate ("", 0, &bad) == 0 && bad == 99, "empty");
    CHECK (ofr_utf8_validate ("h\xC3\xA9 \xF0\x9F\x98\x80", 8, &bad) == 0, "valid text");
    CHECK (ofr_utf8_validate ("ab\0c", 4, &bad) == -1 && bad == 2, "NUL at %zu", bad);
    CHECK (ofr_utf8_validate ("ab\xC0\x80", 4, &bad) == -1 && bad == 2, "overlong at %zu",
           bad);
    CHECK (ofr_utf8_validate ("\xC3\xA9\xED\xA0\x80", 5, &bad) == -1 && bad == 2,
           "surrogate at %zu", bad);
    CHECK (ofr_utf8_validate ("abc\xF0\x9F\x98", 6, &bad) == -1 && bad == 3,
           "truncated at %zu", bad);
    CHECK (ofr_utf8_validate ("\x80", 1, &bad) == -1 && bad == 0, "continuation at %zu", bad);
}

int
main (void)
{
    test_decode ();
    test_len ();
    test_encode ();
    test_validate ();
    if (s_failures)
        fprintf (stderr, "test_utf8: %d failures\n", s_failures);
    return s_failures != 0;
}
