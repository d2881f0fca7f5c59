/*  test_gptx.c -- GPT-2 / GPT-NeoX blocks of the decoder runtime
    (workers/models/gptx.c, dec_ops.c) and the decoder tokenizers
    (workers/text/dec_tok.c, sp_bpe.c).

    test_gptx tok     tokenizer.json files written by tests/ref/gptx_ref.py
                      (sptok: stdlib python3; exit 77 without it): SentencePiece
                      BPE ids checked by hand (merge ranks, byte fallback,
                      added tokens, BOS) and decoded back; byte-level ids and
                      per-token bytes.
    test_gptx torch   random checkpoints written by gptx_ref.py make
                      (/usr/bin/python3 + torch; exit 77 without): GPT-2,
                      NeoX with and without the parallel residual; the
                      residual stream after every layer and the logits of
                      every position against gptx_ref.py run (HF's math in
                      float64) within 1e-4, the same greedy tokens, skip
                      leaving the state; bad inputs (unknown model_type,
                      missing tensor, tokenizer larger than vocab_size,
                      prompt longer than n_positions) fail naming the file /
                      key / tensor through the loader, the registry and
                      `offramp generate` ($OFFRAMP). */
#include "check.h"
#include "workers/models/decoder.h"
#include "workers/models/gptx.h"
#include "workers/models/hf_llama_model.h"
#include "workers/models/llama.h"
#include "workers/text/dec_tok.h"
#include "workers/model.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SKIP 77

static char s_tmp[] = "/tmp/ofr_test_gptx.XXXXXX";

static const char *
source_dir (void)
{
    const char *env = getenv ("OFR_SOURCE_DIR");
    return env && *env ? env : ".";
}

static const char *
tmp (char *buf, size_t cap, const char *leaf)
{
    snprintf (buf, cap, "%s/%s", s_tmp, leaf);
    return buf;
}

/* gptx_ref.py CMD s_tmp/name ARGS (0 ok). */
static int
ref (const char *cmd, const char *name, const char *args)
{
    char line[4096];
    snprintf (line, sizeof line, "/usr/bin/python3 '%s/tests/ref/gptx_ref.py' %s '%s/%s' %s "
              ">/dev/null", source_dir (), cmd, s_tmp, name, args);
    int rc = system (line);
    CHECK (rc == 0, "%s: rc %d", line, rc);
    return rc == 0 ? 0 : -1;
}

static int
run_cmd (const char *cmd, char *out, size_t cap)
{
    FILE *fp = popen (cmd, "r");
    size_t n = 0;
    out[0] = 0;
    if (!fp)
        return -1;
    while (n + 1 < cap) {
        size_t k = fread (out + n, 1, cap - 1 - n, fp);
        if (k == 0)
            break;
        n += k;
    }
    out[n] = 0;
    char sink[256];
    while (fread (sink, 1, sizeof sink, fp) > 0)
        ;
    int st = pclose (fp);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static void
expect_generate (int want, const char *p1, const char *p2, const char *args)
{
    const char *bin = getenv ("OFFRAMP");
    if (!bin || access (bin, X_OK) != 0) {
        printf ("note: $OFFRAMP not set: generate %s not checked\n", args);
        return;
    }
    char cmd[8192], out[16384];
    snprintf (cmd, sizeof cmd, "'%s' generate %s 2>&1", bin, args);
    int rc = run_cmd (cmd, out, sizeof out);
    CHECK (rc == want, "%s: rc %d, want %d; output: %s", cmd, rc, want, out);
    CHECK ((!p1 || strstr (out, p1)) && (!p2 || strstr (out, p2)),
           "%s: output lacks '%s' / '%s': %s", cmd, p1 ? p1 : "", p2 ? p2 : "", out);
    CHECK (!strstr (out, "AddressSanitizer") && !strstr (out, "runtime error"),
           "%s: sanitizer report: %s", cmd, out);
}

/* ---- tokenizers ------------------------------------------------------------ */

static void
expect_ids (const ofr_dec_tok *t, const char *text, bool bos, const int *want, int nwant)
{
    int *ids = NULL, n = 0;
    char err[OFR_ERRLEN] = "";
    int rc = ofr_dec_tok_encode (t, text, bos, &ids, &n, err, sizeof err);
    bool same = rc == 0 && n == nwant;
    for (int i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    char got[512] = "";
    for (int i = 0; rc == 0 && i < n && strlen (got) < 480; i++)
        snprintf (got + strlen (got), sizeof got - strlen (got), " %d", ids[i]);
    CHECK (same, "%s \"%s\": got%s (%s)", ofr_dec_tok_kind (t), text, got, err);
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "");
    if (rc == 0)
        ofr_dec_tok_decode_all (t, ids, n, &b);
    const char *plain = strncmp (text, "<s>", 3) == 0 ? text + 3 : text;
    CHECK (rc == 0 && !b.oom && strcmp (b.data, plain) == 0, "decode \"%s\" -> \"%s\"",
           text, b.data ? b.data : "");
    ofr_buf_free (&b);
    free (ids);
}

static int
run_tok (void)
{
    if (system ("/usr/bin/python3 -c 'import json' >/dev/null 2>&1") != 0) {
        printf ("SKIP: no /usr/bin/python3\n");
        return SKIP;
    }
    char dir[512], path[600], err[OFR_ERRLEN] = "";
    snprintf (path, sizeof path, "mkdir -p '%s/sp'", s_tmp);
    if (system (path) != 0 || ref ("sptok", "sp", ""))
        return 1;
    snprintf (path, sizeof path, "%s/tokenizer.json", tmp (dir, sizeof dir, "sp"));
    ofr_dec_tok *t = NULL;
    CHECK (ofr_dec_tok_open_json (path, -1, -1, &t, err, sizeof err) == 0, "sp: %s", err);
    if (!t)
        return 1;
    CHECK (!strcmp (ofr_dec_tok_kind (t), "sp-bpe") && ofr_dec_tok_vocab_size (t) == 300
           && ofr_dec_tok_bos (t) == 1 && ofr_dec_tok_eos (t) == 2, "sp kind %s n %d",
           ofr_dec_tok_kind (t), ofr_dec_tok_vocab_size (t));
    /* "▁the▁cat": ranks ▁t, he, ▁the, ca, cat, then ▁ cat (rank 7). */
    expect_ids (t, "the cat", false, (int[]) { 292, 297 }, 2);
    expect_ids (t, "the cat", true, (int[]) { 1, 292, 297 }, 3);
    /* "▁aaa": ▁a (rank 5) before a a (rank 9), leftmost first. */
    expect_ids (t, "aaa", false, (int[]) { 295, 299 }, 2);
    /* é is not a piece: its UTF-8 bytes C3 A9 as <0xC3> <0xA9>. */
    expect_ids (t, "\xc3\xa9", false, (int[]) { 259, 3 + 0xC3, 3 + 0xA9 }, 3);
    expect_ids (t, "Hi", false, (int[]) { 259, 3 + 'H', 260 + 8 }, 3);
    /* An added token in the text; the piece after it gets its own ▁. */
    expect_ids (t, "<s>the", false, (int[]) { 1, 292 }, 2);
    size_t len;
    const char *s = ofr_dec_tok_piece (t, 292, 297, &len);
    CHECK (s && len == 4 && !memcmp (s, " cat", 4), "piece ▁cat after ▁the");
    s = ofr_dec_tok_piece (t, 1, 292, &len);
    CHECK (s && len == 3 && !memcmp (s, "the", 3), "piece ▁the after BOS");
    CHECK (!ofr_dec_tok_piece (t, -1, 2, &len) && len == 0, "EOS decodes to nothing");
    ofr_dec_tok_destroy (&t);

    /* A Hugging Face Llama (stdlib hf_llama_ref.py) with this tokenizer:
       `offramp generate --prompt` encodes, runs and decodes through it. */
    char sp_dir[512], cmd[2048];
    tmp (sp_dir, sizeof sp_dir, "sp");
    tmp (dir, sizeof dir, "spl");
    snprintf (cmd, sizeof cmd, "python3 '%s/tests/ref/hf_llama_ref.py' make '%s' "
              "--vocab 300 --max-pos 64 >/dev/null && cp '%s/tokenizer.json' '%s/'",
              source_dir (), dir, sp_dir, dir);
    CHECK (system (cmd) == 0, "%s", cmd);
    snprintf (cmd, sizeof cmd, "--model '%s' --prompt 'the cat' --max-tokens 5", dir);
    expect_generate (0, "the cat", NULL, cmd);

    /* Byte-level: a make dir without torch is not possible; write one. */
    snprintf (path, sizeof path, "%s/bl.json", s_tmp);
    FILE *fp = fopen (path, "w");
    CHECK (fp != NULL, "%s", path);
    if (!fp)
        return 1;
    fputs ("{\"added_tokens\":[{\"id\":4,\"content\":\"<|endoftext|>\",\"special\":true,"
           "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false}],"
           "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
           "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
           "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{"
           "\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"fuse_unk\":false,"
           "\"byte_fallback\":false,\"vocab\":{\"t\":0,\"h\":1,\"e\":2,\"\\u0120\":3,"
           "\"he\":5,\"\\u0120t\":6,\"\\u0120the\":7},\"merges\":[\"h e\",\"\\u0120 t\","
           "\"\\u0120t he\"]}}", fp);
    fclose (fp);
    CHECK (ofr_dec_tok_open_json (path, -1, -1, &t, err, sizeof err) == 0, "bl: %s", err);
    if (!t)
        return 1;
    CHECK (!strcmp (ofr_dec_tok_kind (t), "gpt2") && ofr_dec_tok_bos (t) == 4
           && ofr_dec_tok_eos (t) == 4, "bl kind %s bos %d", ofr_dec_tok_kind (t),
           ofr_dec_tok_bos (t));
    expect_ids (t, "the the", false, (int[]) { 0, 5, 7 }, 3);
    expect_ids (t, "the", true, (int[]) { 4, 0, 5 }, 3);
    s = ofr_dec_tok_piece (t, 5, 7, &len);
    CHECK (s && len == 4 && !memcmp (s, " the", 4), "byte-level piece \"Ġthe\"");
    ofr_dec_tok_destroy (&t);

    /* Neither format: both reasons, the file named. */
    fp = fopen (path, "w");
    if (fp) {
        fputs ("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", fp);
        fclose (fp);
    }
    CHECK (ofr_dec_tok_open_json (path, -1, -1, &t, err, sizeof err) == -1 && !t
           && strstr (err, "bl.json") && strstr (err, "SentencePiece"), "bad: %s", err);
    return 0;
}

/* ---- numerics against torch ------------------------------------------------ */

typedef struct {
    double *h;      /* [L][T][D] */
    double *lg;     /* [T][V]    */
    int     gen[64], n_gen;
} ref_out;

static int
read_ref (const char *dir, const int *tok, int n, int n_gen, int L, int D, int V,
          ref_out *r)
{
    ofr_buf cmd;
    ofr_buf_init (&cmd);
    ofr_buf_printf (&cmd, "/usr/bin/python3 '%s/tests/ref/gptx_ref.py' run '%s' %d",
                    source_dir (), dir, n_gen);
    for (int i = 0; i < n; i++)
        ofr_buf_printf (&cmd, " %d", tok[i]);
    r->h = ofr_calloc ((size_t) L * n * D, sizeof (double));
    r->lg = ofr_calloc ((size_t) n * V, sizeof (double));
    r->n_gen = 0;
    FILE *fp = cmd.oom || !r->h || !r->lg ? NULL : popen (cmd.data, "r");
    int rc = fp ? 0 : -1;
    for (int l = 0; rc == 0 && l < L; l++)
        for (int p = 0; rc == 0 && p < n; p++) {
            int a, b;
            rc = fscanf (fp, " H %d %d", &a, &b) == 2 && a == l && b == p ? 0 : -1;
            for (int j = 0; rc == 0 && j < D; j++)
                rc = fscanf (fp, "%lf", &r->h[((size_t) l * n + p) * D + j]) == 1 ? 0 : -1;
        }
    for (int p = 0; rc == 0 && p < n; p++) {
        int a;
        rc = fscanf (fp, " L %d", &a) == 1 && a == p ? 0 : -1;
        for (int v = 0; rc == 0 && v < V; v++)
            rc = fscanf (fp, "%lf", &r->lg[(size_t) p * V + v]) == 1 ? 0 : -1;
    }
    if (rc == 0 && fscanf (fp, " G") != 0)
        rc = -1;
    while (rc == 0 && r->n_gen < 64 && fscanf (fp, "%d", &r->gen[r->n_gen]) == 1)
        r->n_gen++;
    if (fp && pclose (fp) != 0)
        rc = -1;
    CHECK (rc == 0, "%s: bad reference output", cmd.data);
    ofr_buf_free (&cmd);
    return rc;
}

/* Max |diff| of hidden states and logits over the prompt; greedy equal. */
static void
compare (const char *dir, const int *tok, int n)
{
    char err[OFR_ERRLEN] = "";
    ofr_llama *m = NULL;
    ofr_decoder *d = NULL;
    if (ofr_gptx_load (dir, &m, err, sizeof err) || ofr_decoder_new (m, 2, 0, &d, err,
                                                                        sizeof err)) {
        CHECK (0, "%s: %s", dir, err);
        ofr_llama_destroy (&m);
        return;
    }
    const ofr_llama_config *c = ofr_llama_config_of (m);
    int L = c->n_layers, D = c->dim, V = c->vocab_size, row = 0, n_gen = 6;
    ref_out r = { 0 };
    if (read_ref (dir, tok, n, n_gen, L, D, V, &r) == 0) {
        double wh = 0, wl = 0;
        for (int p = 0; p < n; p++) {
            CHECK (ofr_decoder_begin (d, &row, &tok[p], 1, err, sizeof err) == 0, "%s", err);
            for (int l = 0; l < L; l++) {
                CHECK (ofr_decoder_layer (d, l, &row, 1, err, sizeof err) == 0, "%s", err);
                const float *h = ofr_decoder_hidden (d, row);
                for (int j = 0; j < D; j++)
                    wh = fmax (wh, fabs (h[j] - r.h[((size_t) l * n + p) * D + j]));
            }
            CHECK (ofr_decoder_head (d, &row, 1, err, sizeof err) == 0, "%s", err);
            const float *lg = ofr_decoder_logits (d, row);
            for (int v = 0; v < V; v++)
                wl = fmax (wl, fabs (lg[v] - r.lg[(size_t) p * V + v]));
        }
        printf ("%s, %d tokens: max |hidden diff| %.3g, max |logit diff| %.3g\n", dir, n,
                wh, wl);
        CHECK (wh < 1e-4 && wl < 1e-4, "%s: hidden %g logits %g", dir, wh, wl);
        /* Skipping a layer leaves the state, with either KV fill. */
        int t1 = tok[0], r1 = 1;
        float before[256];
        CHECK (ofr_decoder_begin (d, &r1, &t1, 1, err, sizeof err) == 0
               && ofr_decoder_layer (d, 0, &r1, 1, err, sizeof err) == 0, "%s", err);
        memcpy (before, ofr_decoder_hidden (d, r1), (size_t) D * sizeof (float));
        CHECK (ofr_decoder_skip (d, 1, &r1, 1, OFR_KV_PROPAGATE, err, sizeof err) == 0
               && ofr_decoder_skip (d, 2, &r1, 1, OFR_KV_MASK, err, sizeof err) == 0
               && !memcmp (before, ofr_decoder_hidden (d, r1), (size_t) D * sizeof (float)),
               "skip changed the state: %s", err);
        int out[64], ng = 0;
        CHECK (ofr_decoder_greedy (d, 0, tok, n, n_gen, out, &ng, NULL, err, sizeof err) == 0,
               "greedy: %s", err);
        bool same = ng == r.n_gen;
        for (int i = 0; same && i < ng; i++)
            same = out[i] == r.gen[i];
        CHECK (same, "%s: greedy %d tokens vs reference %d (first %d vs %d)", dir, ng,
               r.n_gen, ng ? out[0] : -1, r.n_gen ? r.gen[0] : -1);
    }
    free (r.h);
    free (r.lg);
    ofr_decoder_destroy (&d);
    ofr_llama_destroy (&m);
}

static void
expect_open_error (const char *name, const char *p1, const char *p2)
{
    char dir[512], err[OFR_ERRLEN] = "";
    tmp (dir, sizeof dir, name);
    ofr_model *om = NULL;
    CHECK (ofr_model_open (dir, NULL, &om, err, sizeof err) != 0 && !om
           && strstr (err, p1) && (!p2 || strstr (err, p2)), "%s: '%s'", name, err);
    ofr_model_destroy (&om);
}

static int
run_torch (void)
{
    if (access ("/usr/bin/python3", X_OK) != 0
        || system ("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0) {
        printf ("SKIP: /usr/bin/python3 with torch not available\n");
        return SKIP;
    }
    static const struct { const char *name, *args; } ck[] = {
        { "g2", "--family gpt2 --seed 2" },
        { "nx", "--family gpt_neox --seed 3" },
        { "nxs", "--family gpt_neox --seed 4 --sequential" },
        { "typ", "--family gpt2 --model-type gpt_bigcode" },
        { "drop", "--family gpt2 --drop transformer.h.1.mlp.c_fc.bias" },
        { "nohead", "--family gpt_neox --drop embed_out.weight" },
        { "tokbig", "--family gpt2 --tok-extra 20" },
    };
    for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
        if (ref ("make", ck[i].name, ck[i].args))
            return 1;
    static const int p0[] = { 256, 5, 9, 2, 40, 40, 7 };
    static const int p1[] = { 3 };
    static const int p2[] = { 0, 11, 22, 33, 44, 55, 60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12 };
    static const struct { const int *t; int n; } prompts[] = { { p0, 7 }, { p1, 1 },
                                                               { p2, 18 } };
    char dir[512], err[OFR_ERRLEN] = "", args[2048];
    /* The sequential NeoX on the longest prompt only: each reference run
       costs a python start. */
    for (int i = 0; i < 3; i++)
        for (size_t p = i == 2 ? 2 : 0; p < sizeof prompts / sizeof prompts[0]; p++)
            compare (tmp (dir, sizeof dir, ck[i].name), prompts[p].t, prompts[p].n);

    ofr_model *om = NULL;
    CHECK (ofr_model_open (tmp (dir, sizeof dir, "g2"), NULL, &om, err, sizeof err) == 0,
           "registry g2: %s", err);
    if (om)
        CHECK (!strcmp (om->ops->family, "hf-gpt2") && om->ops->n_layers (om) == 3
               && ofr_hf_llama_model_dec_tok (om), "family %s", om->ops->family);
    ofr_model_destroy (&om);
    CHECK (ofr_model_open (tmp (dir, sizeof dir, "nx"), NULL, &om, err, sizeof err) == 0
           && om && !strcmp (om->ops->family, "hf-gpt-neox"), "registry nx: %s", err);
    ofr_model_destroy (&om);

    ofr_llama *m = NULL;
    CHECK (ofr_gptx_load (tmp (dir, sizeof dir, "typ"), &m, err, sizeof err) == -1
           && strstr (err, "gpt_bigcode") && strstr (err, "config.json"), "typ: %s", err);
    expect_open_error ("typ", "gpt_bigcode", NULL);
    expect_open_error ("drop", "transformer.h.1.mlp.c_fc.bias", "model.safetensors");
    expect_open_error ("nohead", "embed_out.weight", "tie_word_embeddings");
    expect_open_error ("tokbig", "tokenizer.json has 284 tokens", "vocab_size 272");

    snprintf (args, sizeof args, "--model '%s' --prompt 'the the the' --max-tokens 4",
              tmp (dir, sizeof dir, "g2"));
    expect_generate (0, "the the the", NULL, args);
    snprintf (args, sizeof args, "--model '%s' --prompt 'a prompt much longer than the "
              "twenty-four positions of this GPT-2'", tmp (dir, sizeof dir, "g2"));
    expect_generate (1, "positions", "config.json", args);
    snprintf (args, sizeof args, "--model '%s' --prompt 'x'", tmp (dir, sizeof dir, "drop"));
    expect_generate (1, "transformer.h.1.mlp.c_fc.bias", NULL, args);
    snprintf (args, sizeof args, "--model '%s' --prompt 'x'", tmp (dir, sizeof dir, "tokbig"));
    expect_generate (1, "tokenizer.json has 284 tokens", NULL, args);
    return 0;
}

int
main (int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "tok";
    if (!mkdtemp (s_tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    int rc = !strcmp (mode, "torch") ? run_torch () : run_tok ();
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_tmp);
    if (rc)
        return rc;
    printf ("%s: %d failure(s)\n", mode, s_failures);
    return s_failures != 0;
}
