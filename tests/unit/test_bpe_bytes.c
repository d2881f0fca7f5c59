/*  test_bpe_bytes.c -- GPT-2 / RoBERTa byte-level BPE from tokenizer.json
    (workers/text/bpe_bytes.h): hand-checked merge orders, load errors
    (each names the file and the JSON position), and identical ids, decoded
    text and pair encodings to the Python reference tests/ref/bpe_bytes_ref.py
    on three generated tokenizer.json files (RoBERTa: full byte coverage,
    RobertaProcessing, an lstrip <mask>; GPT-2 style: add_prefix_space,
    [a, b] merges, missing bytes as fused <unk>, an rstrip added token;
    noregex: use_regex false, ignore_merges, byte_fallback, dropped bytes),
    520 strings each (contractions, digits, scripts, emoji, combining marks,
    whitespace runs, added tokens), plus 150 random id lists decoded
    (invalid UTF-8 -> U+FFFD). On RoBERTa decode(encode(s)) == s for every
    string without <mask> (whose lstrip swallows the space before it).
    The reference part skips (77) without python3. */
#include "workers/text/bpe_bytes.h"
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

static void
ids_str (const int32_t *v, size_t n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t) snprintf (buf + len, cap - len, "%s%d", i ? " " : "", (int) v[i]);
}

/* ---- hand-checked ------------------------------------------------------- */

static const char *s_small =
    "{\"normalizer\": null,\n"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},\n"
    " \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 9],"
    " \"cls\": [\"<s>\", 8]},\n"
    " \"added_tokens\": [{\"id\": 8, \"content\": \"<s>\", \"special\": true},"
    " {\"id\": 9, \"content\": \"</s>\", \"special\": true},"
    " {\"id\": 11, \"content\": \"<m>\", \"special\": true, \"lstrip\": true,"
    " \"normalized\": false}],\n"
    " \"model\": {\"type\": \"BPE\", \"unk_token\": null, \"vocab\": {\"a\": 0, \"b\": 1,"
    " \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5, \"\xc4\xa0\": 6, \"\xc4\xa0" "a\": 7,"
    " \"<s>\": 8, \"</s>\": 9, \"\xc4\xa0" "ab\": 10},\n"
    "  \"merges\": [\"a b\", \"b c\", [\"ab\", \"c\"], \"\xc4\xa0 a\", \"\xc4\xa0 ab\"]}}\n";

static void
test_hand_checked (const char *tmp)
{
    char path[512], buf[512], err[OFR_ERRLEN];
    snprintf (path, sizeof path, "%s/small.json", tmp);
    CHECK (write_text (path, s_small) == 0, "write %s", path);
    ofr_bpe_bytes *t = NULL;
    if (ofr_bpe_bytes_load (path, &t, err, sizeof err) != 0) {
        CHECK (0, "load: %s", err);
        return;
    }
    static const struct { const char *in, *want; } cases[] = {
        { "abc", "5" },            /* a b (0) -> ab c (2) -> abc             */
        { "bcab", "4 3" },         /* a b (0) before b c (1): bc ab          */
        { "cabc", "2 5" },
        /* a b (0), ab c (2); then Ġ a (3) and Ġ ab (4) are stale: Ġ abc */
        { " abc", "6 5" },
        { " bc", "6 4" },
        { "aaa", "0 0 0" },
        { "axb", "3" },            /* x: no piece, no unk: dropped, a b meet */
        { "a<s>b", "0 8 1" },
        { "a  <m>b", "0 11 1" },   /* lstrip swallows the spaces             */
        { "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ofr_wp_ids ids = { 0 };
        if (ofr_bpe_bytes_encode (t, cases[i].in, &ids, err, sizeof err) != 0) {
            CHECK (0, "'%s': %s", cases[i].in, err);
            continue;
        }
        ids_str (ids.v, ids.len, buf, sizeof buf);
        CHECK (strcmp (buf, cases[i].want) == 0, "'%s' -> '%s', want '%s'", cases[i].in,
               buf, cases[i].want);
        ofr_wp_ids_free (&ids);
    }
    CHECK (ofr_bpe_bytes_vocab_size (t) == 12 && ofr_bpe_bytes_unk_id (t) == -1
           && ofr_bpe_bytes_cls_id (t) == 8 && ofr_bpe_bytes_sep_id (t) == 9,
           "sizes/specials %d %d %d %d", ofr_bpe_bytes_vocab_size (t),
           ofr_bpe_bytes_unk_id (t), ofr_bpe_bytes_cls_id (t), ofr_bpe_bytes_sep_id (t));
    CHECK (ofr_bpe_bytes_token_id (t, "abc") == 5 && ofr_bpe_bytes_token_id (t, "<m>") == 11
           && ofr_bpe_bytes_token_id (t, "zz") == -1 && !ofr_bpe_bytes_token (t, 12)
           && strcmp (ofr_bpe_bytes_token (t, 7), "\xc4\xa0" "a") == 0,
           "token lookups");
    CHECK (ofr_bpe_bytes_is_special (t, 8) && !ofr_bpe_bytes_is_special (t, 5),
           "is_special");
    int32_t dids[] = { 8, 5, 10, 99, 6, -1, 9 };
    char *text = NULL;
    CHECK (ofr_bpe_bytes_decode (t, dids, 7, &text) == 0 && text
           && strcmp (text, "<s>abc ab </s>") == 0, "decode: '%s'", text ? text : "(null)");
    free (text);
    ofr_wp_encoding enc = { 0 };
    CHECK (ofr_bpe_bytes_encode_pair (t, "abc", "bcab", 10, &enc, err, sizeof err) == 0,
           "pair: %s", err);
    ids_str (enc.ids, (size_t) enc.len, buf, sizeof buf);
    CHECK (strcmp (buf, "8 5 9 9 4 3 9") == 0 && enc.len_a == 1 && enc.len_b == 2,
           "pair ids '%s'", buf);
    CHECK (ofr_bpe_bytes_encode_pair (t, "abc", "bcab", 5, &enc, err, sizeof err) == 0,
           "pair: %s", err);
    ids_str (enc.ids, (size_t) enc.len, buf, sizeof buf);
    /* budget 1: b (the longer) loses one, then b again (the larger half) */
    CHECK (strcmp (buf, "8 5 9 9 9") == 0, "truncated pair ids '%s'", buf);
    CHECK (ofr_bpe_bytes_encode_pair (t, "abc", "b", 3, &enc, err, sizeof err) == -1
           && strstr (err, "max_len"), "max_len 3 for a pair: '%s'", err);
    ofr_wordpiece_encoding_free (&enc);
    /* invalid UTF-8 is read as U+FFFD: its three bytes */
    ofr_wp_ids ids = { 0 };
    CHECK (ofr_bpe_bytes_encode (t, "a\xff", &ids, err, sizeof err) == 0 && ids.len == 1,
           "invalid utf-8: %s", err);
    ofr_wp_ids_free (&ids);
    ofr_bpe_bytes_destroy (&t);
    CHECK (t == NULL, "destroy clears");
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
    ofr_bpe_bytes *t = NULL;
    CHECK (ofr_bpe_bytes_load (path, &t, err, sizeof err) == -1 && !t, "loaded: %s",
           json ? json : path);
    CHECK (strstr (err, json ? "bad.json" : "absent.json") && strstr (err, n1)
           && (!n2 || strstr (err, n2)), "error '%s' lacks '%s'/'%s'", err, n1,
           n2 ? n2 : "");
    printf ("  expected error: %s\n", err);
    ofr_bpe_bytes_destroy (&t);
}

#define PRE "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "

static void
test_load_errors (const char *tmp)
{
    expect_load_error (tmp, NULL, "absent.json", NULL);
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0",
                       "bad.json:1", NULL);
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
                       "model.merges", "missing");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                       "\"merges\": {}}}", "model.merges", "not an array");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                       "\"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", \"a c\"]}}",
                       "model.merges[1]", "\"c\" is not in model.vocab");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                       "\"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}", "model.merges[0]",
                       "merged piece \"ab\"");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                       "\"b\": 1, \"ab\": 2}, \"merges\": [\"a b c\"]}}", "model.merges[0]",
                       "one space");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                       "\"b\": -1}, \"merges\": []}}", "model.vocab[\"b\"]", NULL);
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, "
                       "\"b\": 0}, \"merges\": []}}", "model.vocab", "id 0");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
                       "Unigram", "BPE");
    expect_load_error (tmp, "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": "
                       "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                       "pre_tokenizer", "Metaspace");
    expect_load_error (tmp, "{\"normalizer\": {\"type\": \"NFC\"}, " PRE "\"model\": "
                       "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                       "normalizer", "NFC");
    expect_load_error (tmp, "{" PRE "\"added_tokens\": [{\"id\": 0, \"content\": \"a\"}, "
                       "{\"id\": 1}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                       "\"merges\": []}}", "added_tokens[1]", NULL);
    expect_load_error (tmp, "{" PRE "\"added_tokens\": [{\"id\": 1, \"content\": \"x\", "
                       "\"single_word\": true}], \"model\": {\"type\": \"BPE\", \"vocab\": "
                       "{\"a\": 0}, \"merges\": []}}", "added_tokens[0]", "single_word");
    expect_load_error (tmp, "{" PRE "\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, "
                       "\"vocab\": {\"a\": 0}, \"merges\": []}}", "model.dropout", NULL);
    expect_load_error (tmp, "{" PRE "\"post_processor\": {\"type\": \"RobertaProcessing\", "
                       "\"cls\": [\"<s>\", 7], \"sep\": [\"</s>\", 0]}, \"model\": {\"type\": "
                       "\"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                       "post_processor.cls", NULL);
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

static int
parse_ints (const char *s, int32_t *v, int cap)
{
    int n = 0;
    char *end;
    while (n < cap) {
        long x = strtol (s, &end, 10);
        if (end == s)
            break;
        v[n++] = (int32_t) x;
        s = end;
    }
    return n;
}

/* Split a line at tabs into up to nf fields (newline stripped). */
static int
fields (char *line, char **f, int nf)
{
    int k = 1;
    f[0] = line;
    for (; k < nf && (f[k] = strchr (f[k - 1], '\t')); k++)
        *f[k]++ = '\0';
    f[k - 1][strcspn (f[k - 1], "\n")] = '\0';
    return k;
}

static char s_line[1 << 16], s_text[1 << 15], s_dec[1 << 15], s_got[1 << 15];

static void
check_cases (const ofr_bpe_bytes *t, const char *dir, const char *name)
{
    char path[700], err[OFR_ERRLEN];
    snprintf (path, sizeof path, "%s/cases.tsv", dir);
    FILE *f = fopen (path, "r");
    if (!f) {
        CHECK (0, "%s: %s", path, strerror (errno));
        return;
    }
    /* full byte coverage: lossless but for the space an lstrip <mask> eats */
    bool roundtrip = strcmp (name, "roberta") == 0;
    int n = 0, bad = 0, total = 0;
    ofr_wp_ids ids = { 0 };
    while (fgets (s_line, sizeof s_line, f)) {
        char *fl[3];
        if (fields (s_line, fl, 3) != 3 || unhex (fl[0], strlen (fl[0]), s_text) != 0
            || unhex (fl[2], strlen (fl[2]), s_dec) != 0) {
            CHECK (0, "%s:%d: bad line", path, n + 1);
            break;
        }
        n++;
        ids.len = 0;
        if (ofr_bpe_bytes_encode (t, s_text, &ids, err, sizeof err) != 0) {
            CHECK (0, "%s case %d: %s", name, n, err);
            continue;
        }
        total += (int) ids.len;
        ids_str (ids.v, ids.len, s_got, sizeof s_got);
        if (strcmp (s_got, fl[1]) != 0 && bad++ < 5)
            CHECK (0, "%s case %d '%s': ids '%s', reference '%s'", name, n, s_text, s_got,
                   fl[1]);
        char *d = NULL;
        if (ofr_bpe_bytes_decode (t, ids.v, ids.len, &d) != 0 || strcmp (d, s_dec) != 0
            || (roundtrip && !strstr (s_text, "<mask>") && strcmp (d, s_text) != 0)) {
            if (bad++ < 5)
                CHECK (0, "%s case %d '%s': decoded '%s', reference '%s'", name, n, s_text,
                       d ? d : "(null)", s_dec);
        }
        free (d);
    }
    fclose (f);
    ofr_wp_ids_free (&ids);
    CHECK (n >= 500, "%s: only %d cases", name, n);
    CHECK (bad == 0, "%s: %d mismatches", name, bad);
    printf ("  %-8s %d strings, %d tokens%s: %d mismatches\n", name, n, total,
            roundtrip ? ", decode(encode(s)) == s" : "", bad);
}

static void
check_decode (const ofr_bpe_bytes *t, const char *dir, const char *name)
{
    char path[700];
    snprintf (path, sizeof path, "%s/decode.tsv", dir);
    FILE *f = fopen (path, "r");
    if (!f) {
        CHECK (0, "%s: %s", path, strerror (errno));
        return;
    }
    int n = 0, bad = 0;
    int32_t v[64];
    while (fgets (s_line, sizeof s_line, f)) {
        char *fl[2];
        if (fields (s_line, fl, 2) != 2 || unhex (fl[1], strlen (fl[1]), s_dec) != 0) {
            CHECK (0, "%s:%d: bad line", path, n + 1);
            break;
        }
        n++;
        int k = parse_ints (fl[0], v, 64);
        char *d = NULL;
        if ((ofr_bpe_bytes_decode (t, v, (size_t) k, &d) != 0 || strcmp (d, s_dec) != 0)
            && bad++ < 5)
            CHECK (0, "%s decode %d [%s]: '%s', reference '%s'", name, n, fl[0],
                   d ? d : "(null)", s_dec);
        free (d);
    }
    fclose (f);
    CHECK (n >= 100 && bad == 0, "%s: %d decodes, %d mismatches", name, n, bad);
}

static void
check_pairs (const ofr_bpe_bytes *t, const char *dir, const char *name)
{
    char path[700], err[OFR_ERRLEN], b[4096], want[4096];
    snprintf (path, sizeof path, "%s/pairs.tsv", dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return;                      /* variants without a supported post-processor */
    int n = 0;
    ofr_wp_encoding enc = { 0 };
    while (fgets (s_line, sizeof s_line, f)) {
        char *fl[5];
        bool pair;
        if (fields (s_line, fl, 5) != 5 || unhex (fl[0], strlen (fl[0]), s_text) != 0
            || ((pair = strcmp (fl[1], "-") != 0) && unhex (fl[1], strlen (fl[1]), b) != 0)) {
            CHECK (0, "%s:%d: bad line", path, n + 1);
            break;
        }
        n++;
        if (ofr_bpe_bytes_encode_pair (t, s_text, pair ? b : NULL, atoi (fl[2]), &enc, err,
                                       sizeof err) != 0) {
            CHECK (0, "%s pair %d: %s", name, n, err);
            continue;
        }
        ids_str (enc.ids, (size_t) enc.len, s_got, sizeof s_got);
        ids_str (enc.type_ids, (size_t) enc.len, want, sizeof want);
        CHECK (strcmp (s_got, fl[3]) == 0 && strcmp (want, fl[4]) == 0,
               "%s pair %d: ids '%s' types '%s', reference '%s' / '%s'", name, n, s_got,
               want, fl[3], fl[4]);
    }
    fclose (f);
    ofr_wordpiece_encoding_free (&enc);
    CHECK (n >= 8, "%s: %d pairs", name, n);
}

static void
check_variant (const char *root, const char *name)
{
    char dir[600], path[700], err[OFR_ERRLEN];
    snprintf (dir, sizeof dir, "%s/%s", root, name);
    snprintf (path, sizeof path, "%s/tokenizer.json", dir);
    ofr_bpe_bytes *t = NULL;
    if (ofr_bpe_bytes_load (path, &t, err, sizeof err) != 0) {
        CHECK (0, "load %s: %s", name, err);
        return;
    }
    check_cases (t, dir, name);
    check_decode (t, dir, name);
    check_pairs (t, dir, name);
    ofr_bpe_bytes_destroy (&t);
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
    snprintf (cmd, sizeof cmd, "%s %s/tests/ref/bpe_bytes_ref.py %s/ref", PYTHON,
              src ? src : ".", tmp);
    if (system (cmd) != 0) {
        CHECK (0, "%s failed", cmd);
        return 0;
    }
    char root[512];
    snprintf (root, sizeof root, "%s/ref", tmp);
    check_variant (root, "roberta");
    check_variant (root, "gpt2");
    check_variant (root, "noregex");
    return 0;
}

int
main (void)
{
    char tmp[] = "/tmp/ofr_bpe_bytes_XXXXXX";
    if (!mkdtemp (tmp)) {
        fprintf (stderr, "mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    test_hand_checked (tmp);
    test_load_errors (tmp);
    int rc = test_reference (tmp);
    nftw (tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) {
        fprintf (stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    if (rc == 77)
        return 77;
    printf ("test_bpe_bytes: ok\n");
    return 0;
}
