/*  test_unigram.c -- the SentencePiece-unigram tokenizer from tokenizer.json
    (workers/text/unigram.h): hand-checked Viterbi segmentations, load
    errors, and identical ids and normalized text to the Python reference
    tests/ref/unigram_ref.py on three generated tokenizer.json files
    (ALBERT's normalizer and pre-tokenizer chain; byte fallback with
    Metaspace "first"; Strip/NFD/Prepend with an unsplit Metaspace), 400
    strings each (unicode, accents, compatibility characters, empty,
    whitespace runs). The reference part skips (77) without python3. */
#include "workers/text/unigram.h"
#include "common/ofr_common.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

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

static int
rm_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

static int
write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fputs (text, f);
    return fclose (f);
}

/* Pieces of text joined by spaces, into buf. */
static const char *
pieces (const ofr_unigram *u, const char *text, char *buf, size_t cap)
{
    ofr_wp_ids ids = { 0 };
    char err[OFR_ERRLEN];
    buf[0] = '\0';
    if (ofr_unigram_tokenize (u, text, &ids, err, sizeof err) != 0) {
        snprintf (buf, cap, "ERROR %.*s", (int) (cap > 7 ? cap - 7 : 0), err);
        return buf;
    }
    size_t len = 0;
    for (size_t i = 0; i < ids.len && len < cap; i++)
        len += (size_t) snprintf (buf + len, cap - len, "%s%s", i ? " " : "",
                                  ofr_unigram_token (u, ids.v[i]));
    ofr_wp_ids_free (&ids);
    return buf;
}

/* ---- hand-checked ------------------------------------------------------- */

static const char *s_small =
    "{\"normalizer\": {\"type\": \"Lowercase\"},\n"
    " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\","
    " \"add_prefix_space\": true},\n"
    " \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 3],"
    " \"cls\": [\"[CLS]\", 2]},\n"
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [\n"
    "  [\"<unk>\", 0], [\"\xe2\x96\x81\", -2], [\"[CLS]\", 0], [\"[SEP]\", 0],\n"
    "  [\"\xe2\x96\x81hello\", -5], [\"\xe2\x96\x81hell\", -2], [\"o\", -2.5],\n"
    "  [\"h\", -3], [\"e\", -3], [\"l\", -3], [\"\xe2\x96\x81w\", -4], [\"or\", -3],\n"
    "  [\"ld\", -3], [\"w\", -4], [\"a\", -1], [\"b\", -1], [\"ab\", -2.5],\n"
    "  [\"\xc3\xa9\", -1]]}}\n";

static void
test_hand_checked (const char *tmp)
{
    char path[512], buf[512], err[OFR_ERRLEN];
    snprintf (path, sizeof path, "%s/small.json", tmp);
    CHECK (write_text (path, s_small) == 0, "write %s", path);
    ofr_unigram *u = NULL;
    if (ofr_unigram_load (path, &u, err, sizeof err) != 0) {
        CHECK (0, "load: %s", err);
        return;
    }
    static const struct { const char *in, *want; } cases[] = {
        /* -2 + -2.5 beats -5 for "▁hello". */
        { "Hello", "\xe2\x96\x81hell o" },
        { "world", "\xe2\x96\x81w or ld" },
        /* "ab" (-2.5) loses to "a" + "b" (-2); ties keep the earlier split. */
        { "ab", "\xe2\x96\x81 a b" },
        /* unknown characters fuse into one <unk>; min score is -5, unk -15 */
        { "xyz", "\xe2\x96\x81 <unk>" },
        { "axyzb", "\xe2\x96\x81 a <unk> b" },
        { "\xc3\x89t\xc3\xa9", "\xe2\x96\x81 \xc3\xa9 <unk> \xc3\xa9" },  /* Été */
        { "  a", "\xe2\x96\x81 \xe2\x96\x81 a" },
        { "", "" },
        { "[CLS]", "\xe2\x96\x81 <unk> l <unk>" },   /* plain text, lowercased */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces (u, cases[i].in, buf, sizeof buf);
        CHECK (strcmp (buf, cases[i].want) == 0, "'%s' -> '%s', want '%s'", cases[i].in,
               buf, cases[i].want);
    }
    CHECK (ofr_unigram_vocab_size (u) == 18 && ofr_unigram_unk_id (u) == 0
           && ofr_unigram_cls_id (u) == 2 && ofr_unigram_sep_id (u) == 3,
           "sizes/specials %d %d %d %d", ofr_unigram_vocab_size (u), ofr_unigram_unk_id (u),
           ofr_unigram_cls_id (u), ofr_unigram_sep_id (u));
    CHECK (ofr_unigram_token_id (u, "ab") == 16 && ofr_unigram_token_id (u, "zz") == -1
           && !ofr_unigram_token (u, 18), "token lookups");
    char *n = ofr_unigram_normalize (u, "A\xc3\x89");
    CHECK (n && strcmp (n, "a\xc3\xa9") == 0, "normalize: %s", n ? n : "(null)");
    free (n);
    ofr_unigram_destroy (&u);
    CHECK (u == NULL, "destroy clears");
}

static void
expect_load_error (const char *tmp, const char *json, const char *n1, const char *n2)
{
    char path[512], err[OFR_ERRLEN] = "";
    snprintf (path, sizeof path, "%s/bad.json", tmp);
    if (json)
        CHECK (write_text (path, json) == 0, "write %s", path);
    else
        snprintf (path, sizeof path, "%s/absent.json", tmp);
    ofr_unigram *u = NULL;
    CHECK (ofr_unigram_load (path, &u, err, sizeof err) == -1 && !u, "loaded: %s",
           json ? json : path);
    CHECK (strstr (err, json ? "bad.json" : "absent.json") && strstr (err, n1)
           && (!n2 || strstr (err, n2)), "error '%s' lacks '%s'/'%s'", err, n1,
           n2 ? n2 : "");
    printf ("  expected error: %s\n", err);
    ofr_unigram_destroy (&u);
}

static void
test_load_errors (const char *tmp)
{
    expect_load_error (tmp, NULL, "absent.json", NULL);
    expect_load_error (tmp, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]",
                       "bad.json:1", NULL);
    expect_load_error (tmp, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                       "WordPiece", "Unigram");
    expect_load_error (tmp, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0], "
                       "[\"b\", -1], [\"c\"]]}}", "model.vocab[2]", NULL);
    expect_load_error (tmp, "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, "
                       "\"vocab\": [[\"a\", 0]]}}", "unk_id", NULL);
    expect_load_error (tmp, "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
                       "{\"type\": \"NFKD\"}, {\"type\": \"Replace\", \"pattern\": "
                       "{\"Regex\": \" +\"}, \"content\": \" \"}]}, \"model\": {\"type\": "
                       "\"Unigram\", \"vocab\": [[\"a\", 0]]}}",
                       "normalizer.normalizers[1]", "Regex");
    expect_load_error (tmp, "{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": "
                       "\"Unigram\", \"vocab\": [[\"a\", 0]]}}", "NFKC", NULL);
    expect_load_error (tmp, "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": "
                       "{\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}}",
                       "pre_tokenizer", "ByteLevel");
}

/* No unk_id and an unknown character: an error, not a crash. */
static void
test_no_unk (const char *tmp)
{
    char path[512], err[OFR_ERRLEN] = "";
    snprintf (path, sizeof path, "%s/nounk.json", tmp);
    CHECK (write_text (path, "{\"model\": {\"type\": \"Unigram\", \"vocab\": "
                       "[[\"a\", -1], [\"b\", -2]]}}") == 0, "write");
    ofr_unigram *u = NULL;
    if (ofr_unigram_load (path, &u, err, sizeof err) != 0) {
        CHECK (0, "load: %s", err);
        return;
    }
    ofr_wp_ids ids = { 0 };
    CHECK (ofr_unigram_tokenize (u, "ab", &ids, err, sizeof err) == 0 && ids.len == 2,
           "ab: %s", err);
    CHECK (ofr_unigram_tokenize (u, "acb", &ids, err, sizeof err) == -1
           && strstr (err, "unk_id"), "acb without unk: '%s'", err);
    ofr_wp_ids_free (&ids);
    ofr_unigram_destroy (&u);
}

/* ---- against the Python reference ----------------------------------------- */

static int
unhex (const char *s, size_t n, char *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf (s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (char) v;
    }
    out[n / 2] = '\0';
    return 0;
}

static void
check_variant (const char *root, const char *name)
{
    char path[600], err[OFR_ERRLEN];
    snprintf (path, sizeof path, "%s/%s/tokenizer.json", root, name);
    ofr_unigram *u = NULL;
    if (ofr_unigram_load (path, &u, err, sizeof err) != 0) {
        CHECK (0, "load %s: %s", name, err);
        return;
    }
    snprintf (path, sizeof path, "%s/%s/cases.tsv", root, name);
    FILE *f = fopen (path, "r");
    if (!f) {
        CHECK (0, "%s: %s", path, strerror (errno));
        ofr_unigram_destroy (&u);
        return;
    }
    char line[16384], text[8192], norm[8192];
    int n = 0, bad = 0, pieces_total = 0;
    ofr_wp_ids ids = { 0 };
    while (fgets (line, sizeof line, f)) {
        char *t1 = strchr (line, '\t'), *t2 = t1 ? strchr (t1 + 1, '\t') : NULL;
        if (!t2 || unhex (line, (size_t) (t1 - line), text) != 0
            || unhex (t2 + 1, strcspn (t2 + 1, "\n"), norm) != 0) {
            CHECK (0, "%s:%d: bad line", path, n + 1);
            break;
        }
        n++;
        ids.len = 0;
        if (ofr_unigram_tokenize (u, text, &ids, err, sizeof err) != 0) {
            CHECK (0, "%s case %d: %s", name, n, err);
            continue;
        }
        char got[8192];
        size_t len = 0;
        got[0] = '\0';
        for (size_t i = 0; i < ids.len && len < sizeof got; i++)
            len += (size_t) snprintf (got + len, sizeof got - len, "%s%d", i ? " " : "",
                                      (int) ids.v[i]);
        *t2 = '\0';
        pieces_total += (int) ids.len;
        if (strcmp (got, t1 + 1) != 0 && bad++ < 5)
            CHECK (0, "%s case %d '%s': ids '%s', reference '%s'", name, n, text, got, t1 + 1);
        char *nt = ofr_unigram_normalize (u, text);
        if ((!nt || strcmp (nt, norm) != 0) && bad++ < 5)
            CHECK (0, "%s case %d '%s': normalized '%s', reference '%s'", name, n, text,
                   nt ? nt : "(null)", norm);
        free (nt);
    }
    fclose (f);
    CHECK (n >= 300, "%s: only %d cases", name, n);
    CHECK (bad == 0, "%s: %d mismatches", name, bad);
    printf ("  %-8s %d strings, %d pieces: %d mismatches\n", name, n, pieces_total, bad);
    ofr_wp_ids_free (&ids);
    ofr_unigram_destroy (&u);
}

static int
test_reference (const char *tmp)
{
    if (access (PYTHON, X_OK) != 0) {
        printf ("SKIP reference: no %s\n", PYTHON);
        return 77;
    }
    const char *src = getenv ("OFR_SOURCE_DIR");
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "%s %s/tests/ref/unigram_ref.py %s/ref", PYTHON,
              src ? src : ".", tmp);
    if (system (cmd) != 0) {
        CHECK (0, "%s failed", cmd);
        return 0;
    }
    char root[512];
    snprintf (root, sizeof root, "%s/ref", tmp);
    check_variant (root, "albert");
    check_variant (root, "bytes");
    check_variant (root, "nosplit");
    return 0;
}

int
main (void)
{
    char tmp[] = "/tmp/ofr_unigram_XXXXXX";
    if (!mkdtemp (tmp)) {
        fprintf (stderr, "mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    test_hand_checked (tmp);
    test_load_errors (tmp);
    test_no_unk (tmp);
    int rc = test_reference (tmp);
    nftw (tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) {
        fprintf (stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    if (rc == 77)
        return 77;
    printf ("test_unigram: ok\n");
    return 0;
}
