/*  test_wordpiece.c -- the WordPiece tokenizer with the real bert-base-uncased
    vocabulary (models/vocab/): hand-checked tokenizations and encodings,
    vocabulary loading errors, and identical ids to the Python reference
    tests/ref/wordpiece_ref.py (HF BertTokenizer's algorithm on unicodedata)
    for tricky strings, 300 SST-2 dev sentences and 100 MRPC dev pairs.
    The GLUE part skips (77) without ../shared/data. */
#include "workers/text/wordpiece.h"
#include "suites/glue.h"
#include "common/ofr_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf (stderr, __VA_ARGS__);                                  \
            fputc ('\n', stderr);                                           \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static const char *
src_dir (void)
{
    const char *s = getenv ("OFR_SOURCE_DIR");
    return s ? s : ".";
}

/* Tokens of text joined by spaces, into buf. */
static const char *
tokens (const ofr_wordpiece *wp, const char *text, char *buf, size_t cap)
{
    ofr_wp_ids ids = { 0 };
    char err[OFR_ERRLEN];
    buf[0] = '\0';
    if (ofr_wordpiece_tokenize (wp, text, &ids, err, sizeof err) != 0) {
        snprintf (buf, cap, "ERROR %.*s", (int) (cap > 7 ? cap - 7 : 0), err);
        return buf;
    }
    size_t len = 0;
    for (size_t i = 0; i < ids.len && len < cap; i++)
        len += (size_t) snprintf (buf + len, cap - len, "%s%s", i ? " " : "",
                                  ofr_wordpiece_token (wp, ids.v[i]));
    ofr_wp_ids_free (&ids);
    return buf;
}

static void
test_hand_checked (const ofr_wordpiece *wp)
{
    static const struct { const char *in, *want; } cases[] = {
        /* "un ##aff ##able" is the docstring's toy vocabulary; the real
           one has no "##aff", and greedy longest-first gives: */
        { "unaffable", "una ##ffa ##ble" },
        { "Hello, World!", "hello , world !" },
        { "naïve café", "naive cafe" },
        { "e\xcc\x81" "cole", "ecole" },                 /* e + U+0301 */
        { "\xc4\xb0stanbul", "istanbul" },              /* U+0130 */
        { "\xe4\xb8\xad\xe6\x96\x87", "中 文" },          /* CJK split */
        { "don't", "don ' t" },
        { "\x01hello\x7f world\xc2\xa0!", "hello world !" },
        { "$5.00 ^_^", "$ 5 . 00 ^ _ ^" },
        { "[CLS] x", "[ cl ##s ] x" },                  /* text, not special */
        { "", "" },
        { " \t\n ", "" },
        { "ab\xff\xfe" "cd", "abc ##d" },               /* bad bytes dropped: "abcd" */
    };
    char buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tokens (wp, cases[i].in, buf, sizeof buf);
        CHECK (strcmp (buf, cases[i].want) == 0, "'%s' -> '%s', want '%s'",
               cases[i].in, buf, cases[i].want);
    }
    char word[102];
    memset (word, 'a', 101);
    word[101] = '\0';
    CHECK (strcmp (tokens (wp, word, buf, sizeof buf), "[UNK]") == 0,
           "101-char word -> '%s'", buf);
    word[100] = '\0';
    tokens (wp, word, buf, sizeof buf);
    CHECK (strncmp (buf, "aaa ##aa", 8) == 0, "100-char word -> '%.40s'", buf);
}

static void
check_enc (const ofr_wp_encoding *e, const int *ids, const int *types, int n,
           const char *what)
{
    int ok = e->len == n;
    for (int i = 0; ok && i < n; i++)
        ok = e->ids[i] == ids[i] && e->type_ids[i] == types[i];
    CHECK (ok, "%s: encoding differs (len %d, want %d)", what, e->len, n);
}

static void
test_encode (const ofr_wordpiece *wp)
{
    ofr_wp_encoding e = { 0 };
    char err[OFR_ERRLEN];
    CHECK (ofr_wordpiece_encode (wp, "hello world", NULL, 128, &e, err, sizeof err) == 0, "%s", err);
    check_enc (&e, (int[]) { 101, 7592, 2088, 102 }, (int[]) { 0, 0, 0, 0 }, 4, "single");
    CHECK (ofr_wordpiece_encode (wp, "hello", "world", 128, &e, err, sizeof err) == 0, "%s", err);
    check_enc (&e, (int[]) { 101, 7592, 102, 2088, 102 }, (int[]) { 0, 0, 0, 1, 1 }, 5, "pair");
    /* "a" is id 1037. 10 + 4 tokens into 11 - 3 = 8: the longer side
       loses the difference of 6 first, giving 4 + 4. */
    const char *a10 = "a a a a a a a a a a", *a5 = "a a a a a", *a4 = "a a a a";
    CHECK (ofr_wordpiece_encode (wp, a10, a4, 11, &e, err, sizeof err) == 0, "%s", err);
    CHECK (e.len == 11 && e.len_a == 4 && e.len_b == 4, "10+4 in 11: %d %d %d", e.len, e.len_a, e.len_b);
    /* 5 + 5 into 10 - 3 = 7: remove 3, the pair takes the larger half. */
    CHECK (ofr_wordpiece_encode (wp, a5, a5, 10, &e, err, sizeof err) == 0, "%s", err);
    CHECK (e.len == 10 && e.len_a == 4 && e.len_b == 3, "5+5 in 10: %d %d %d", e.len, e.len_a, e.len_b);
    check_enc (&e, (int[]) { 101, 1037, 1037, 1037, 1037, 102, 1037, 1037, 1037, 102 },
               (int[]) { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 }, 10, "5+5 in 10");
    CHECK (ofr_wordpiece_encode (wp, a10, NULL, 5, &e, err, sizeof err) == 0, "%s", err);
    CHECK (e.len == 5 && e.len_a == 3 && e.ids[4] == 102, "single in 5: %d", e.len);
    CHECK (ofr_wordpiece_encode (wp, a5, a5, 3, &e, err, sizeof err) == 0 && e.len == 3,
           "pair in 3: %d", e.len);
    CHECK (ofr_wordpiece_encode (wp, a5, a5, 2, &e, err, sizeof err) == -1
           && strstr (err, "max_len 2"), "pair in 2: '%s'", err);
    ofr_wordpiece_encoding_free (&e);
}

static int
write_file (const char *path, const char *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite (data, 1, len, f);
    return fclose (f) == 0 && w == len ? 0 : -1;
}

static void
test_vocab_errors (const char *dir)
{
    char path[512], err[OFR_ERRLEN];
    ofr_wordpiece *wp = NULL;
    snprintf (path, sizeof path, "%s/missing.txt", dir);
    CHECK (ofr_wordpiece_load (path, NULL, &wp, err, sizeof err) == -1 && strstr (err, path),
           "missing file: '%s'", err);

    snprintf (path, sizeof path, "%s/v1.txt", dir);
    const char crlf[] = "[PAD]\r\n[UNK]\r\n[CLS]\r[SEP]\r\nhello\r\nhello\nworld";
    write_file (path, crlf, sizeof crlf - 1);
    CHECK (ofr_wordpiece_load (path, NULL, &wp, err, sizeof err) == 0, "crlf vocab: %s", err);
    if (wp) {
        CHECK (ofr_wordpiece_vocab_size (wp) == 7, "size %d", ofr_wordpiece_vocab_size (wp));
        CHECK (ofr_wordpiece_token_id (wp, "[SEP]") == 3 && ofr_wordpiece_sep_id (wp) == 3,
               "[SEP] id %d", ofr_wordpiece_token_id (wp, "[SEP]"));
        CHECK (ofr_wordpiece_token_id (wp, "hello") == 5, "duplicate keeps the last id: %d",
               ofr_wordpiece_token_id (wp, "hello"));
        CHECK (ofr_wordpiece_token_id (wp, "world") == 6, "last line without newline");
        CHECK (ofr_wordpiece_pad_id (wp) == 0, "pad");
        ofr_wordpiece_destroy (&wp);
        CHECK (wp == NULL, "destroy sets NULL");
    }

    snprintf (path, sizeof path, "%s/v2.txt", dir);
    const char nounk[] = "[PAD]\n[CLS]\n[SEP]\n";
    write_file (path, nounk, sizeof nounk - 1);
    CHECK (ofr_wordpiece_load (path, NULL, &wp, err, sizeof err) == -1
           && strstr (err, "no [UNK] token") && strstr (err, path), "no unk: '%s'", err);

    snprintf (path, sizeof path, "%s/v3.txt", dir);
    const char bad[] = "[UNK]\n[CLS]\nab\xc3(\n[SEP]\n";
    write_file (path, bad, sizeof bad - 1);
    char want[600];
    snprintf (want, sizeof want, "%s:3: invalid UTF-8", path);
    CHECK (ofr_wordpiece_load (path, NULL, &wp, err, sizeof err) == -1 && strstr (err, want),
           "bad utf-8: '%s'", err);

    snprintf (path, sizeof path, "%s/v4.txt", dir);
    write_file (path, "", 0);
    CHECK (ofr_wordpiece_load (path, NULL, &wp, err, sizeof err) == -1 && strstr (err, "empty"),
           "empty: '%s'", err);
    CHECK (wp == NULL, "no tokenizer after errors");
}

static void
put_hex (FILE *f, const char *s)
{
    if (!s) {
        fputc ('-', f);
        return;
    }
    if (!*s)
        return;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        fprintf (f, "%02x", *p);
}

typedef struct {
    const char *a, *b;
    int         max_len;
} wp_case;

/* The C side of one reference line: tokenize(a) ids, encoded ids, types. */
static void
c_line (const ofr_wordpiece *wp, const wp_case *c, ofr_buf *out)
{
    char err[OFR_ERRLEN];
    ofr_wp_ids ids = { 0 };
    ofr_wp_encoding e = { 0 };
    ofr_buf_reset (out);
    if (ofr_wordpiece_tokenize (wp, c->a, &ids, err, sizeof err) != 0
        || ofr_wordpiece_encode (wp, c->a, c->b, c->max_len, &e, err, sizeof err) != 0) {
        ofr_buf_printf (out, "ERROR %s", err);
    } else {
        for (size_t i = 0; i < ids.len; i++)
            ofr_buf_printf (out, "%s%d", i ? " " : "", ids.v[i]);
        ofr_buf_puts (out, "\t");
        for (int i = 0; i < e.len; i++)
            ofr_buf_printf (out, "%s%d", i ? " " : "", e.ids[i]);
        ofr_buf_puts (out, "\t");
        for (int i = 0; i < e.len; i++)
            ofr_buf_printf (out, "%s%d", i ? " " : "", e.type_ids[i]);
    }
    ofr_wp_ids_free (&ids);
    ofr_wordpiece_encoding_free (&e);
}

/* Run the Python reference on cases and require identical lines. */
static void
compare_reference (const ofr_wordpiece *wp, const char *vocab, const char *dir,
                   const wp_case *cases, int n, const char *mode, const char *what)
{
    char input[512], cmd[2048];
    snprintf (input, sizeof input, "%s/cases-%s.txt", dir, what);
    FILE *f = fopen (input, "w");
    if (!f) {
        CHECK (0, "%s: cannot write %s", what, input);
        return;
    }
    for (int i = 0; i < n; i++) {
        put_hex (f, cases[i].a);
        fputc ('\t', f);
        put_hex (f, cases[i].b);
        fprintf (f, "\t%d\n", cases[i].max_len);
    }
    fclose (f);
    snprintf (cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/ref/wordpiece_ref.py' '%s' '%s' %s",
              src_dir (), vocab, input, mode);
    FILE *p = popen (cmd, "r");
    if (!p) {
        CHECK (0, "%s: cannot run %s", what, cmd);
        return;
    }
    ofr_buf mine;
    ofr_buf_init (&mine);
    char *line = NULL;
    size_t cap = 0;
    int i = 0, bad = 0;
    for (ssize_t len; (len = getline (&line, &cap, p)) >= 0; i++) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (i >= n)
            break;
        c_line (wp, &cases[i], &mine);
        if (strcmp (line, mine.data) != 0 && bad++ < 5)
            CHECK (0, "%s case %d (a='%.60s'):\n  python %.300s\n  C      %.300s", what, i,
                   cases[i].a, line, mine.data);
    }
    free (line);
    ofr_buf_free (&mine);
    int rc = pclose (p);
    CHECK (rc == 0 && i == n, "%s: reference exited %d after %d of %d lines", what, rc, i, n);
    CHECK (bad == 0, "%s: %d of %d cases differ", what, bad, n);
    if (bad == 0 && i == n)
        printf ("  %s: %d cases identical to the Python reference\n", what, n);
}

static const char *const k_tricky[] = {
    "", "Hello, World!", "unaffable", "Crème Brûlée à la française",
    "naïve café résumé Ångström", "ΟΔΥΣΣΕΥΣ ΟΔΟΣ. Σ ΑΣ σΣ ΣΑ",
    "Москва — столица России.", "中文字符测试，日本語のテキスト", "한국어 텍스트",
    "\t tabs\nand\r\nnewlines\x0b\x0c" "vt ff\x1c\x1f", "zero\xe2\x80\x8bwidth\xe2\x80\x8djoiner \xef\xbb\xbf" "bom",
    "nbsp\xc2\xa0here\xe2\x80\x83" "em\xe3\x80\x80ideo\xe2\x80\xa8line\xe2\x80\xa9para",
    "\xc2\x85next line", "control\x01\x02\x7f" "chars\x1b[0m",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "$100 ^caret^ `tick` ~tilde~ {braces} @home #tag |pipe| \\back",
    "«quotes» „German“ ‘single’ …ellipsis ¿¡ – — ·",
    "İstanbul İİ ı", "ﬁ ligature ﬀ", "e\xcc\x81 decomposed a\xcc\x88", "\xcc\x81 lone combining",
    "😀 👍🏽 test 🇫🇷", "\xff\xfe abc \xc3\x28 def \xed\xa0\x80 ghi \xf0\x9f\x98", "a\xef\xbf\xbd" "b",
    "Ǆ ǅ ǆ Ǳ", "ᾼ ῼ ᾈ ΐ", "K Å Ω", "Tiếng Việt có dấu", "𝅗𝅥 𝅘𝅥𝅮", "\xf0\x9d\x85\xad\xe3\x80\xae",
    "\xee\x80\x80private use\xf3\xa0\x82\x80", "[CLS] [SEP] [MASK] [UNK]", "مرحبا بالعالم",
    "ภาษาไทย", "हिन्दी", "3.14159 1,000,000 2nd", "don't can't won't", "U.S.A. e.g. i.e.",
    "ǅemal", "ſ ẞ ß", "Ⅻ ⓐ", "ﾊﾝｶｸ ＡＢＣ", "𠀀𠀁 㐀", "A\xcc\x81\xcc\xa3 \xe1\xba\xa0\xcc\x81",
};

static void
test_reference (const ofr_wordpiece *wp, const ofr_wordpiece *cased, const char *vocab,
                const char *dir, const char *data_dir, int *skipped)
{
    int nt = (int) (sizeof k_tricky / sizeof k_tricky[0]);
    wp_case *c = ofr_calloc ((size_t) nt * 3 + 1000, sizeof *c);
    if (!c) {
        CHECK (0, "out of memory");
        return;
    }
    int n = 0;
    for (int i = 0; i < nt; i++) {
        c[n++] = (wp_case) { k_tricky[i], NULL, 128 };
        c[n++] = (wp_case) { k_tricky[i], k_tricky[(i + 7) % nt], 9 + i % 4 };
    }
    compare_reference (cased, vocab, dir, c, n, "cased", "tricky-cased");
    compare_reference (wp, vocab, dir, c, n, "", "tricky");

    ofr_suite_class const *cls[2] = { &ofr_suite_sst2, &ofr_suite_mrpc };
    void *d[2] = { NULL, NULL };
    int rows[2] = { 0, 0 };
    char err[OFR_ERRLEN];
    for (int k = 0; k < 2; k++)
        if (cls[k]->load (data_dir, "dev", &d[k], &rows[k], err, sizeof err) != 0) {
            printf ("  skip GLUE comparison: %s\n", err);
            *skipped = 1;
        }
    if (!*skipped) {
        n = 0;
        for (int i = 0; i < 300 && i < rows[0]; i++) {
            ofr_example ex;
            cls[0]->example (d[0], i, &ex);
            c[n++] = (wp_case) { ex.text_a, NULL, i % 5 ? 128 : 8 };
        }
        compare_reference (wp, vocab, dir, c, n, "", "sst2-dev-300");
        n = 0;
        for (int i = 0; i < 100 && i < rows[1]; i++) {
            ofr_example ex;
            cls[1]->example (d[1], i, &ex);
            c[n++] = (wp_case) { ex.text_a, ex.text_b, i % 3 ? 128 : 24 + i % 2 };
        }
        compare_reference (wp, vocab, dir, c, n, "", "mrpc-dev-100");
    }
    for (int k = 0; k < 2; k++)
        if (d[k])
            cls[k]->free (d[k]);
    free (c);
}

int
main (void)
{
    char vocab[512], data_dir[512], err[OFR_ERRLEN];
    snprintf (vocab, sizeof vocab, "%s/models/vocab/bert-base-uncased-vocab.txt", src_dir ());
    snprintf (data_dir, sizeof data_dir, "%s/../shared/data", src_dir ());
    char dir[] = "/tmp/ofr_wordpiece_XXXXXX";
    if (!mkdtemp (dir)) {
        fprintf (stderr, "FAIL: mkdtemp\n");
        return 1;
    }
    ofr_wordpiece *wp = NULL, *cased = NULL;
    if (ofr_wordpiece_load (vocab, NULL, &wp, err, sizeof err) != 0) {
        fprintf (stderr, "FAIL: %s\n", err);
        return 1;
    }
    ofr_wordpiece_params p = ofr_wordpiece_default_params ();
    p.lowercase = false;
    if (ofr_wordpiece_load (vocab, &p, &cased, err, sizeof err) != 0) {
        fprintf (stderr, "FAIL: %s\n", err);
        return 1;
    }
    CHECK (ofr_wordpiece_vocab_size (wp) == 30522, "vocab size %d", ofr_wordpiece_vocab_size (wp));
    CHECK (ofr_wordpiece_pad_id (wp) == 0 && ofr_wordpiece_unk_id (wp) == 100
           && ofr_wordpiece_cls_id (wp) == 101 && ofr_wordpiece_sep_id (wp) == 102, "special ids");
    CHECK (ofr_wordpiece_token (wp, 30522) == NULL && ofr_wordpiece_token_id (wp, "qqqqzz") == -1,
           "out of range lookups");
    test_hand_checked (wp);
    test_encode (wp);
    test_vocab_errors (dir);
    int skipped = 0;
    test_reference (wp, cased, vocab, dir, data_dir, &skipped);
    ofr_wordpiece_destroy (&wp);
    ofr_wordpiece_destroy (&cased);
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "warning: could not remove %s\n", dir);
    if (failures) {
        fprintf (stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf ("test_wordpiece: all checks passed%s\n", skipped ? " (GLUE part skipped)" : "");
    return skipped ? 77 : 0;
}
