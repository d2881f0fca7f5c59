/*  test_safetensors.c -- the strict safetensors reader and its JSON parser.

    Writes files by hand (8-byte little-endian length, JSON header, data) in
    a temporary directory of the build tree: a round trip, then every kind
    of damage the reader must refuse with a message naming the file and the
    tensor (truncation, bad header, overlapping or gapped offsets, shape vs
    byte-size mismatch, unsupported dtypes, duplicate names...). */
#include "common/ofr_common.h"
#include "workers/models/jsonlite.h"
#include "workers/models/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/check.h"

static char s_dir[4096];
static char s_path[4200];

/* Writes header (padded with `pad` spaces) + data to s_path; hlen_delta
   falsifies the stored header length, cut drops bytes from the end. */
static void
write_st (const char *header, int pad, const void *data, size_t n, long hlen_delta, size_t cut)
{
    size_t hl = strlen (header) + (size_t) pad;
    uint64_t stored = (uint64_t) ((long) hl + hlen_delta);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char) (stored >> (8 * i));
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, len, 8);
    ofr_buf_puts (&b, header);
    for (int i = 0; i < pad; i++)
        ofr_buf_puts (&b, " ");
    ofr_buf_append (&b, data, n);
    FILE *f = fopen (s_path, "wb");
    if (!f || b.oom || fwrite (b.data, 1, b.len - cut, f) != b.len - cut || fclose (f) != 0) {
        fprintf (stderr, "cannot write %s\n", s_path);
        exit (1);
    }
    ofr_buf_free (&b);
}

static const float s_data[11] = { 1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 7 };

static void
test_round_trip (int pad)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
                    "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
                    "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[44,44]}}";
    write_st (h, pad, s_data, sizeof s_data, 0, 0);
    char err[OFR_ERRLEN];
    ofr_safetensors *st = NULL;
    int rc = ofr_safetensors_open (s_path, &st, err, sizeof err);
    CHECK (rc == 0, "pad %d: %s", pad, err);
    if (rc != 0)
        return;
    CHECK (ofr_safetensors_count (st) == 4, "%zu tensors", ofr_safetensors_count (st));
    const ofr_st_tensor *a = ofr_safetensors_at (st, 0);
    CHECK (a && strcmp (a->name, "a") == 0 && a->ndim == 2 && a->shape[0] == 2
           && a->shape[1] == 3 && a->numel == 6, "tensor a");
    CHECK (a && a->data[5] == 6.0f && ((uintptr_t) a->data & 3) == 0, "a data / alignment");
    const ofr_st_tensor *s = ofr_safetensors_find (st, "scalar");
    CHECK (s && s->ndim == 0 && s->numel == 1 && s->data[0] == 7.0f, "scalar");
    const ofr_st_tensor *e = ofr_safetensors_find (st, "empty");
    CHECK (e && e->numel == 0, "empty tensor");
    CHECK (ofr_safetensors_find (st, "nope") == NULL, "found a missing tensor");
    CHECK (ofr_safetensors_at (st, 4) == NULL, "index past the end");
    const float *bd = NULL;
    int64_t shape_b[1] = { 4 };
    CHECK (ofr_safetensors_expect (st, "b", 1, shape_b, &bd, err, sizeof err) == 0
           && bd[3] == 40.0f, "expect b: %s", err);
    int64_t wrong[2] = { 3, 2 };
    CHECK (ofr_safetensors_expect (st, "a", 2, wrong, &bd, err, sizeof err) == -1
           && strstr (err, "'a'") && strstr (err, "[2, 3]") && strstr (err, "[3, 2]")
           && strstr (err, s_path), "shape error message: %s", err);
    CHECK (ofr_safetensors_expect (st, "zz", 1, shape_b, &bd, err, sizeof err) == -1
           && strstr (err, "'zz' is missing"), "missing message: %s", err);
    const char *fmt = ofr_safetensors_metadata (st, "format");
    CHECK (fmt && strcmp (fmt, "pt") == 0, "metadata");
    CHECK (strcmp (ofr_safetensors_path (st), s_path) == 0, "path");
    ofr_safetensors_destroy (&st);
    CHECK (st == NULL, "destroy did not clear the pointer");
}

/* The file must be refused with an error containing each of `needles`. */
static void
expect_error (const char *what, const char *n1, const char *n2)
{
    char err[OFR_ERRLEN] = "";
    ofr_safetensors *st = NULL;
    int rc = ofr_safetensors_open (s_path, &st, err, sizeof err);
    CHECK (rc == -1 && st == NULL, "%s: accepted", what);
    CHECK (strstr (err, s_path) != NULL, "%s: error does not name the file: %s", what, err);
    CHECK (!n1 || strstr (err, n1), "%s: error lacks \"%s\": %s", what, n1, err);
    CHECK (!n2 || strstr (err, n2), "%s: error lacks \"%s\": %s", what, n2, err);
    ofr_safetensors_destroy (&st);
}

#define T(name, dtype, shape, off) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void
test_damage (void)
{
    const char *good = "{" T ("a", "F32", "[2,3]", "[0,24]") "," T ("b", "F32", "[4]", "[24,40]") "}";
    write_st (good, 0, s_data, 40, 0, 4);
    expect_error ("truncated data", "'b'", "outside");
    write_st (good, 0, s_data, 40, 0, 40 + strlen (good) - 3);
    expect_error ("truncated header", "exceeds the file", NULL);
    write_st (good, 0, s_data, 0, 0, strlen (good) + 5);
    expect_error ("shorter than 8 bytes", "8 bytes", NULL);
    write_st (good, 0, s_data, 40, 1000, 0);
    expect_error ("header length past the end", "truncated", NULL);
    write_st (good, 0, s_data, 40, -(long) strlen (good), 0);
    expect_error ("header length 0", "header length 0", NULL);
    write_st (good, 0, s_data, 44, 0, 0);
    expect_error ("trailing data", "trailing bytes", NULL);

    write_st ("{" T ("a", "F32", "[2,3]", "[0,24]") "," T ("b", "F32", "[4]", "[20,36]") "}", 0,
              s_data, 36, 0, 0);
    expect_error ("overlapping offsets", "'b'", "overlap");
    write_st ("{" T ("a", "F32", "[2,3]", "[0,24]") "," T ("b", "F32", "[4]", "[28,44]") "}", 0,
              s_data, 44, 0, 0);
    expect_error ("gap between tensors", "'b'", "unused bytes");
    write_st ("{" T ("a", "F32", "[2,2]", "[0,24]") "}", 0, s_data, 24, 0, 0);
    expect_error ("shape vs byte size", "'a'", "shape holds 4");
    write_st ("{" T ("h", "F16", "[2]", "[0,4]") "}", 0, s_data, 4, 0, 0);
    expect_error ("F16", "'h'", "F16 is not supported");
    write_st ("{" T ("q", "Q4", "[2]", "[0,4]") "}", 0, s_data, 4, 0, 0);
    expect_error ("unknown dtype", "'q'", "unknown dtype");
    write_st ("{" T ("a", "F32", "[1]", "[0,4]") "," T ("a", "F32", "[1]", "[4,8]") "}", 0,
              s_data, 8, 0, 0);
    expect_error ("duplicate name", "duplicate key", NULL);
    write_st ("{" T ("a", "F32", "[-1]", "[0,4]") "}", 0, s_data, 4, 0, 0);
    expect_error ("negative dim", "'a'", "shape[0]");
    write_st ("{" T ("a", "F32", "[1.5]", "[0,4]") "}", 0, s_data, 4, 0, 0);
    expect_error ("fractional dim", "'a'", "shape[0]");
    write_st ("{" T ("a", "F32", "[1]", "[4,0]") "}", 0, s_data, 4, 0, 0);
    expect_error ("reversed offsets", "'a'", "data_offsets");
    write_st ("{" T ("a", "F32", "[1]", "[0]") "}", 0, s_data, 4, 0, 0);
    expect_error ("one offset", "'a'", "data_offsets");
    write_st ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 0,
              s_data, 4, 0, 0);
    expect_error ("extra key", "'a'", "unexpected key");
    write_st ("{" T ("a", "F32", "[1]", "[0,4]") ",}", 0, s_data, 4, 0, 0);
    expect_error ("trailing comma", "line 1", NULL);
    write_st ("[1,2]", 3, s_data, 0, 0, 0);
    expect_error ("header is an array", "expected an object", NULL);
    write_st ("{\"__metadata__\":{\"n\":1}}", 0, s_data, 0, 0, 0);
    expect_error ("non-string metadata", "__metadata__", NULL);
    write_st ("{" T ("a", "F32", "[9999999999,9999999999,9999999999]", "[0,4]") "}", 0,
              s_data, 4, 0, 0);
    expect_error ("shape overflow", "'a'", "overflows");

    char err[OFR_ERRLEN];
    ofr_safetensors *st = NULL;
    CHECK (ofr_safetensors_open ("/nonexistent/x.safetensors", &st, err, sizeof err) == -1
           && strstr (err, "/nonexistent/x.safetensors"), "missing file: %s", err);
}

/* The parser on its own: strictness and values. */
static void
test_json (void)
{
    char err[OFR_ERRLEN];
    ofr_jsonlite *v = NULL;
    const char *ok = " {\"n\": -12, \"big\": 9007199254740993, \"f\": 2.5e-1, \"s\": "
                     "\"a\\u00e9\\ud83d\\ude00\\n\", \"l\": [true, false, null], \"o\": {}} ";
    int rc = ofr_jsonlite_parse (ok, strlen (ok), "ok", &v, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc == 0) {
        const ofr_jsonlite *n = ofr_jsonlite_get (v, "n"), *big = ofr_jsonlite_get (v, "big");
        const ofr_jsonlite *f = ofr_jsonlite_get (v, "f"), *s = ofr_jsonlite_get (v, "s");
        const ofr_jsonlite *l = ofr_jsonlite_get (v, "l");
        CHECK (n && n->is_int && n->integer == -12, "n");
        CHECK (big && big->is_int && big->integer == 9007199254740993LL, "exact int64");
        CHECK (f && !f->is_int && f->number == 0.25, "float");
        CHECK (s && strcmp (s->string, "a\xc3\xa9\xf0\x9f\x98\x80\n") == 0, "escapes");
        CHECK (l && l->n == 3 && l->items[0]->boolean && l->items[2]->type == OFR_JSONLITE_NULL,
               "array");
        ofr_jsonlite_destroy (&v);
    }
    const char *bad[] = { "{\"a\":1,}", "[1 2]", "01", "1.", "-", "\"\\x\"", "\"a\tb\"",
                          "\"\xff\"", "\"\\ud800\"", "\"\\u0000\"", "{\"a\":1}x", "tru",
                          "{\"a\" 1}", "{1:2}", "\"\xc0\xaf\"", "1e999", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        CHECK (ofr_jsonlite_parse (bad[i], strlen (bad[i]), "bad", &v, err, sizeof err) == -1
               && !v && strstr (err, "bad: "), "accepted bad JSON #%zu: %s", i, bad[i]);
    }
    /* Nesting deeper than the limit is refused, not a stack overflow. */
    char deep[2 * (OFR_JSONLITE_MAX_DEPTH + 10) + 1];
    size_t d = OFR_JSONLITE_MAX_DEPTH + 10;
    memset (deep, '[', d);
    memset (deep + d, ']', d);
    deep[2 * d] = 0;
    CHECK (ofr_jsonlite_parse (deep, 2 * d, "deep", &v, err, sizeof err) == -1
           && strstr (err, "too deep"), "deep nesting: %s", err);
    CHECK (ofr_jsonlite_parse ("[\n1,\n?]", 7, "pos", &v, err, sizeof err) == -1
           && strstr (err, "line 3, column 1"), "position: %s", err);
}

int
main (void)
{
    const char *build = getenv ("OFR_BUILD_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/tmp-test-safetensors-XXXXXX", build ? build : "/tmp");
    if (!mkdtemp (s_dir)) {
        perror (s_dir);
        return 1;
    }
    snprintf (s_path, sizeof s_path, "%s/t.safetensors", s_dir);
    test_round_trip (0);
    test_round_trip (1);     /* unaligned data region: read through a copy */
    test_round_trip (4);
    test_damage ();
    test_json ();
    remove (s_path);
    rmdir (s_dir);
    if (s_failures) {
        fprintf (stderr, "test_safetensors: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_safetensors: ok\n");
    return 0;
}
