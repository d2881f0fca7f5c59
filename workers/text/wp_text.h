/*  wp_text.h -- the Unicode primitives of BERT's BasicTokenizer, as Python
    computes them: the character classes of tokenization_bert.py,
    str.lower() and NFD accent stripping (UTF-8 itself is utf8.h). Internal
    to wordpiece.c; the tables come from wordpiece_tables.c. Text is handled
    as code points because every rule of the Python tokenizer works on str. */
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
/* Push the code points of text[0..len), invalid UTF-8 as U+FFFD a byte
   (ofr_utf8_next). */
void ofr_wp_ucs_push_utf8 (ofr_wp_ucs *s, const char *text, size_t len);

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
