/*  wp_text.h -- the Unicode primitives of BERT's BasicTokenizer, as Python
    computes them: UTF-8 decoding, the character classes of
    tokenization_bert.py, str.lower() and NFD accent stripping. Internal to
    wordpiece.c; the tables come from wordpiece_tables.c. Text is handled as
    code points because every rule of the Python tokenizer works on str. */
#ifndef OFR_WP_TEXT_H
#define OFR_WP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable array of code points. `oom` is set once a push failed; later
   pushes are no-ops, so callers check it once after building. */
typedef struct {
    uint32_t *v;
    size_t    len;
    size_t    cap;
    bool      oom;
} ofr_wp_ucs;

void ofr_wp_ucs_push (ofr_wp_ucs *s, uint32_t cp);
void ofr_wp_ucs_free (ofr_wp_ucs *s);

/* Decode the code point at s[0..len) (len > 0) into *cp and return the
   bytes used. An invalid sequence gives U+FFFD and uses one byte, so no
   byte that could start a valid character is swallowed (Python's
   errors="replace" differs only in how many U+FFFD it emits). */
size_t ofr_wp_utf8_next (const unsigned char *s, size_t len, uint32_t *cp);

/* Encode cp as UTF-8 into out (room for 4 bytes); returns the length. */
int ofr_wp_utf8_put (uint32_t cp, char *out);

/* Returns 0 if s[0..len) is strict UTF-8 without NUL, else -1 with the
   offset of the first bad byte in *bad. */
int ofr_wp_utf8_check (const char *s, size_t len, size_t *bad);

bool ofr_wp_is_pyspace (uint32_t cp);     /* str.isspace(): what split() uses */
bool ofr_wp_is_whitespace (uint32_t cp);  /* _is_whitespace: \t \n \r, Zs     */
bool ofr_wp_is_control (uint32_t cp);     /* _is_control: C* but \t \n \r     */
bool ofr_wp_is_punctuation (uint32_t cp); /* _is_punctuation: ASCII ranges, P* */
bool ofr_wp_is_chinese (uint32_t cp);     /* _is_chinese_char: CJK blocks     */

/* Append Python's w.lower() of w[0..n) to *out (full mapping, Final_Sigma
   rule for U+03A3 judged within w). */
void ofr_wp_lower (const uint32_t *w, size_t n, ofr_wp_ucs *out);

/* Append _run_strip_accents(w): NFD of w[0..n) without its Mn characters. */
void ofr_wp_strip_accents (const uint32_t *w, size_t n, ofr_wp_ucs *out);

#endif
