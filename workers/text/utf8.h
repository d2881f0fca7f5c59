/*  utf8.h -- one UTF-8 code point at a time: the decoding, encoding and
    sequence lengths every tokenizer of workers/text uses.

    Strict means Unicode table 3-7, which is what Python's and Rust's
    decoders accept: no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no
    surrogates (ED A0..BF), nothing above U+10FFFF (F4 90..BF, F5..FF), no
    lone continuation bytes (80..BF) and no truncated sequences. NUL is a
    valid one-byte character except for ofr_utf8_validate.
    (ofr_utf8_decode / ofr_utf8_check are taken by suites/mt_text.h.) */
#ifndef OFR_UTF8_H
#define OFR_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length a lead byte announces by its bit pattern alone: 1 (00..7F),
   2 (C0..DF), 3 (E0..EF), 4 (F0..F7), 0 (a continuation byte 80..BF, or
   F8..FF). It validates nothing (C0 and F5 say 2 and 4). */
size_t ofr_utf8_len (unsigned char lead);

/* The strict sequence at s[0..len) (len > 0): its length 1..4 with the
   code point in *cp, or 0 (*cp untouched) if s does not start with one. */
size_t ofr_utf8_char (const unsigned char *s, size_t len, uint32_t *cp);

/* As ofr_utf8_char, but an invalid sequence gives U+FFFD and uses one
   byte, so no byte that could start a valid character is swallowed. */
size_t ofr_utf8_next (const unsigned char *s, size_t len, uint32_t *cp);

/* 0 if s[0..len) (len > 0) starts with a strict sequence, else the length
   of its maximal subpart (1..3): the bytes one U+FFFD replaces in Rust's
   String::from_utf8_lossy and Python's errors="replace". */
size_t ofr_utf8_bad_len (const unsigned char *s, size_t len);

/* Encode cp (at most U+10FFFF; surrogates are encoded like any other code
   point) into out, which has room for 4 bytes; returns the length. */
int ofr_utf8_encode (uint32_t cp, char *out);

/* 0 if s[0..len) is strict UTF-8 without NUL, else -1 with the offset of
   the first bad byte in *bad. */
int ofr_utf8_validate (const char *s, size_t len, size_t *bad);

#endif
