/*  test_hf_marian.c -- Hugging Face Marian and T5 checkpoints in the
    seq2seq runtime (workers/models/hf_s2s.h) and SentencePiece .spm models
    (workers/text/spm_model.h), on checkpoints tests/ref/hf_marian_ref.py
    and hf_t5_ref.py generate (names starting "t5": T5).

      test_hf_marian unit    the .spm reader (hand-checked Viterbi splits,
                             control pieces never match, refused model
                             types, truncation), opening through the model
                             registry, source ids (+ </s>), bad inputs:
                             unknown model_type, a missing tensor, a shape
                             mismatch, a missing vocab.json, embed_positions
                             not Marian's, a source past
                             max_position_embeddings; T5: registry +
                             tokenizer.json, num_heads x d_kv > d_model, a
                             missing relative bias (stdlib python3; 77
                             without it); with OFR_HF_S2S_DIR set, a real
                             checkpoint translates a sentence (else a note)
      test_hf_marian torch   encoder output, every greedy step's logits
                             (1e-4) and the greedy output against the
                             references' run (Marian swish/tied, relu/untied;
                             T5 relu/tied, gated-gelu/untied with log-range
                             buckets, an attention width below d_model) (float64 torch; 77 without
                             /usr/bin/python3 + torch) */
#include "tests/unit/check.h"
#include "workers/models/hf_s2s.h"
#include "workers/models/seq2seq.h"
#include "workers/models/seq2seq_model.h"
#include "workers/text/spm_model.h"
#include "common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SKIP 77
#define SP "\xe2\x96\x81"

static char s_tmp[] = "/tmp/ofr_test_hf_marian.XXXXXX";

static const char *
source_dir (void)
{
    static char from_file[4096];
    const char *env = getenv ("OFR_SOURCE_DIR");
    if (env && *env)
        return env;
    snprintf (from_file, sizeof from_file, "%s", __FILE__);
    char *p = strstr (from_file, "/tests/unit/");
    if (p)
        *p = 0;
    return p ? from_file : ".";
}

static const char *
tmp (char *buf, size_t cap, const char *leaf)
{
    snprintf (buf, cap, "%s/%s", s_tmp, leaf);
    return buf;
}

/* REF make s_tmp/name ARGS (REF: hf_marian_ref.py, or hf_t5_ref.py for
   names starting with "t5"). */
static const char *
ref_script (const char *name)
{
    return strncmp (name, "t5", 2) == 0 ? "hf_t5_ref.py" : "hf_marian_ref.py";
}

static int
make_ckpt (const char *python, const char *name, const char *args)
{
    char cmd[4096];
    snprintf (cmd, sizeof cmd, "%s '%s/tests/ref/%s' make '%s/%s' %s",
              python, source_dir (), ref_script (name), s_tmp, name, args);
    int rc = system (cmd);
    CHECK (rc == 0, "%s: rc %d", cmd, rc);
    return rc == 0 ? 0 : -1;
}

/* Opening s_tmp/name fails with a message containing want. */
static void
open_fails (const char *name, const char *want)
{
    char dir[512], err[OFR_ERRLEN] = "";
    ofr_seq2seq *m = NULL;
    int rc = ofr_seq2seq_open (tmp (dir, sizeof dir, name), &m, err, sizeof err);
    CHECK (rc != 0 && !m, "%s opened", name);
    CHECK (strstr (err, want) != NULL, "%s: error \"%s\" does not name \"%s\"", name, err, want);
    ofr_seq2seq_destroy (&m);
}

static void
spm_case (const ofr_spm *s, const char *text, const char *want)
{
    ofr_buf out;
    char err[OFR_ERRLEN];
    ofr_buf_init (&out);
    int n = ofr_spm_encode (s, text, &out, err, sizeof err);
    CHECK (n >= 0 && out.data && strcmp (out.data, want) == 0, "\"%s\" -> \"%s\", want \"%s\" (%s)",
           text, out.data ? out.data : "(null)", want, n < 0 ? err : "");
    ofr_buf_free (&out);
}

static void
write_bytes (const char *path, const void *p, size_t n)
{
    FILE *f = fopen (path, "wb");
    CHECK (f && fwrite (p, 1, n, f) == n, "write %s", path);
    if (f)
        fclose (f);
}

static void
test_spm (void)
{
    char path[512], err[OFR_ERRLEN] = "";
    ofr_spm *s = NULL;
    CHECK (ofr_spm_load (tmp (path, sizeof path, "good/source.spm"), &s, err, sizeof err) == 0,
           "%s", err);
    if (!s)
        return;
    CHECK (ofr_spm_size (s) == 19, "%d pieces (18 normal + <unk>)", ofr_spm_size (s));
    /* ▁sat (-6) beats ▁s + at (-8); ▁cat + s (-7) beats ▁c + at + s (-12). */
    spm_case (s, "  the cat\tsat on  the mat. ", SP "the " SP "cat " SP "sat " SP "on " SP "the "
              SP "mat .");
    spm_case (s, "cats", SP "cat s");
    spm_case (s, "x", SP " <unk>");
    spm_case (s, "<s>", SP " <unk> s <unk>");   /* control pieces never match text */
    spm_case (s, "", "");
    /* Codes off: plain text (consecutive unknown characters fuse). */
    spm_case (s, ">>deu<< the cat", SP " <unk> e <unk> " SP "the " SP "cat");
    ofr_spm_marian_codes (s, true);
    spm_case (s, ">>deu<< the cat", ">>deu<< " SP "the " SP "cat");
    spm_case (s, "the >>deu<< cat", SP "the " SP "cat");         /* cut, not a code */
    spm_case (s, ">>a<< the >>b<< cat", "<unk> " SP "cat");     /* greedy: one span */
    spm_case (s, ">><< the", SP " <unk> " SP "the");             /* ".+": not a code */
    ofr_spm_destroy (&s);

    char *data = NULL;
    size_t size = 0;
    CHECK (ofr_read_file (path, &data, &size, err, sizeof err) == 0, "%s", err);
    if (data) {
        tmp (path, sizeof path, "cut.spm");
        write_bytes (path, data, size < 5 ? size : 5);   /* inside the first piece */
        CHECK (ofr_spm_load (path, &s, err, sizeof err) != 0 && strstr (err, "cut.spm")
               && (strstr (err, "truncated") || strstr (err, "past the end")), "cut: %s", err);
        /* Every prefix and single-byte corruption loads or fails cleanly
           (memory errors show under the sanitizer build). */
        unsigned rng = 12345;
        for (size_t k = 0; k <= size + 64 && k < 4096; k++) {
            unsigned char *b = malloc (size ? size : 1);
            if (!b)
                break;
            memcpy (b, data, size);
            size_t n = k <= size ? k : size;
            if (k > size) {
                rng = rng * 1103515245u + 12345u;
                b[(rng >> 8) % size] ^= (unsigned char) (1u + (rng >> 20) % 255u);
            }
            write_bytes (path, b, n);
            free (b);
            ofr_spm *t = NULL;
            int rc = ofr_spm_load (path, &t, err, sizeof err);
            CHECK ((rc == 0) == (t != NULL), "prefix/corruption %zu: rc %d", k, rc);
            if (t) {
                ofr_buf o;
                ofr_buf_init (&o);
                (void) ofr_spm_encode (t, "the cat sat", &o, err, sizeof err);
                ofr_buf_free (&o);
            }
            ofr_spm_destroy (&t);
        }
    }
    free (data);
    /* One piece, then trainer_spec { model_type: BPE (2) }. */
    static const unsigned char bpe[] = { 0x0a, 0x03, 0x0a, 0x01, 'a', 0x12, 0x02, 0x18, 0x02 };
    write_bytes (tmp (path, sizeof path, "bpe.spm"), bpe, sizeof bpe);
    CHECK (ofr_spm_load (path, &s, err, sizeof err) != 0 && strstr (err, "only unigram"),
           "bpe: %s", err);
    static const unsigned char wire[] = { 0x0f, 0x00 };     /* field 1, wire type 7 */
    write_bytes (tmp (path, sizeof path, "wire.spm"), wire, sizeof wire);
    CHECK (ofr_spm_load (path, &s, err, sizeof err) != 0 && strstr (err, "wire type"),
           "wire: %s", err);
}

static void
test_open (void)
{
    char dir[512], err[OFR_ERRLEN] = "";
    CHECK (ofr_hf_s2s_probe (tmp (dir, sizeof dir, "good")), "probe good");
    ofr_model *om = NULL;
    CHECK (ofr_model_open (dir, NULL, &om, err, sizeof err) == 0, "registry: %s", err);
    const ofr_seq2seq *m = ofr_seq2seq_model_get (om);
    CHECK (m && ofr_seq2seq_model_spm (om), "registry gave the seq2seq model with its spm");
    if (m) {
        CHECK (ofr_seq2seq_enc_layers (m) == 2 && ofr_seq2seq_dec_layers (m) == 3
               && ofr_seq2seq_dim (m) == 16 && ofr_seq2seq_tgt_vocab (m) == 40, "shape");
        CHECK (ofr_seq2seq_bos (m) == 39 && ofr_seq2seq_eos (m) == 0, "start %d eos %d",
               ofr_seq2seq_bos (m), ofr_seq2seq_eos (m));
        const char *toks[] = { SP "the", SP "cat", "zzz" };
        int ids[5], unk = 0;
        int n = ofr_seq2seq_src_ids (m, toks, 3, ids, &unk);
        CHECK (n == 4 && ids[0] == 2 && ids[1] == 9 && ids[2] == 1 && ids[3] == 0 && unk == 1,
               "ids %d: %d %d %d %d (unk %d)", n, ids[0], ids[1], ids[2], ids[3], unk);
        CHECK (strcmp (ofr_seq2seq_tgt_token (m, 39), "<pad>") == 0, "token 39");
        ofr_s2s_state *st = NULL;
        CHECK (ofr_s2s_state_new (m, 2, 64, 40, &st, err, sizeof err) == 0, "%s", err);
        int src[30];
        for (int i = 0; i < 30; i++)
            src[i] = 2 + i % 10;
        CHECK (st && ofr_s2s_encode (st, src, 30, err, sizeof err) != 0
               && strstr (err, "max_position_embeddings is 24"), "long source: %s", err);
        CHECK (st && ofr_s2s_encode (st, src, 24, err, sizeof err) == 0, "24 tokens: %s", err);
        /* The decoder side has the same limit. */
        int row = 0, tok = 39, rc = 0;
        for (int t = 0; st && t < 25 && rc == 0; t++)
            rc = ofr_s2s_begin (st, &row, &tok, 1, err, sizeof err);
        CHECK (rc != 0 && strstr (err, "max_position_embeddings 24"), "long target: %s", err);
        ofr_s2s_state_destroy (&st);
    }
    ofr_model_destroy (&om);

    open_fails ("mt5", "missing integer \"d_kv\"");      /* Marian tensors, t5 type */
    open_fails ("t5dkv", "num_heads 4 x d_kv 6: an attention width above d_model 16");
    open_fails ("t5norel", "'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight' "
                "is missing");
    om = NULL;
    CHECK (ofr_model_open (tmp (dir, sizeof dir, "t5ok"), NULL, &om, err, sizeof err) == 0,
           "t5 registry: %s", err);
    m = ofr_seq2seq_model_get (om);
    const ofr_spm *sp = ofr_seq2seq_model_spm (om);
    CHECK (m && sp && ofr_seq2seq_bos (m) == 0 && ofr_seq2seq_eos (m) == 1
           && ofr_seq2seq_tgt_vocab (m) == 36 && strcmp (ofr_seq2seq_tgt_token (m, 35), "<row_35>") == 0,
           "t5 model, its tokenizer.json segmenter and vocabulary");
    if (sp)
        spm_case (sp, "the cats", SP "the " SP "cat s");
    ofr_model_destroy (&om);
    open_fails ("drop", "'model.decoder.layers.1.fc2.bias' is missing");
    open_fails ("shape", "'model.encoder.layers.0.self_attn.k_proj.weight' has shape");
    open_fails ("swiglu", "activation_function \"swiglu\"");
    open_fails ("badpos", "'model.encoder.embed_positions.weight' row 0 is not Marian's sinusoid");
    char path[600];
    snprintf (path, sizeof path, "%s/novocab/vocab.json", s_tmp);
    CHECK (unlink (path) == 0, "unlink %s", path);
    open_fails ("novocab", "vocab.json");
    /* A model_type no runtime knows is named by the registry's opener. */
    om = NULL;
    CHECK (ofr_model_open (tmp (dir, sizeof dir, "bart"), NULL, &om, err, sizeof err) != 0
           && strstr (err, "bart"), "bart: %s", err);
    ofr_model_destroy (&om);
}

/* A real checkpoint when OFR_HF_S2S_DIR names one (none can be downloaded
   here): opens, segments a sentence and translates it greedily. */
static void
real_checkpoint (void)
{
    const char *dir = getenv ("OFR_HF_S2S_DIR");
    if (!dir || !*dir) {
        printf ("note: no real Marian/T5 checkpoint (OFR_HF_S2S_DIR unset): that check "
                "skipped\n");
        return;
    }
    char err[OFR_ERRLEN] = "";
    ofr_model *om = NULL;
    ofr_s2s_state *st = NULL;
    ofr_buf pieces;
    ofr_buf_init (&pieces);
    int rc = ofr_model_open (dir, NULL, &om, err, sizeof err);
    const ofr_seq2seq *m = ofr_seq2seq_model_get (om);
    const ofr_spm *sp = ofr_seq2seq_model_spm (om);
    CHECK (rc == 0 && m && sp, "%s: %s", dir, rc ? err : "no seq2seq model with a segmenter");
    if (m && sp && ofr_spm_encode (sp, "How are you today?", &pieces, err, sizeof err) > 0) {
        const char *toks[64];
        int n = 0, ids[66], unk = 0, out[64], n_out = 0;
        for (char *t = strtok (pieces.data, " "); t && n < 64; t = strtok (NULL, " "))
            toks[n++] = t;
        n = ofr_seq2seq_src_ids (m, toks, n, ids, &unk);
        ofr_s2s_opts o = ofr_s2s_default_opts ();
        o.beam = 1;
        o.max_length = 64;
        float score;
        rc = ofr_s2s_state_new (m, 1, 66, 64, &st, err, sizeof err) == 0
            ? ofr_s2s_translate (st, ids, n, &o, out, 64, &n_out, &score, err, sizeof err) : -1;
        CHECK (rc == 0 && n_out > 0, "%s: translate: %s", dir, err);
        printf ("real checkpoint %s:", dir);
        for (int i = 0; i < n_out; i++)
            printf (" %s", ofr_seq2seq_tgt_token (m, out[i]));
        printf ("\n");
    }
    ofr_buf_free (&pieces);
    ofr_s2s_state_destroy (&st);
    ofr_model_destroy (&om);
}

static int
run_unit (void)
{
    if (system ("python3 -c 'import json, struct' >/dev/null 2>&1") != 0) {
        printf ("SKIP: no python3 to generate the checkpoints\n");
        return SKIP;
    }
    const char *py = "python3";
    if (make_ckpt (py, "good", "") || make_ckpt (py, "mt5", "--model-type t5")
        || make_ckpt (py, "t5ok", "") || make_ckpt (py, "t5dkv", "--dkv 6")
        || make_ckpt (py, "t5norel",
                      "--drop decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        || make_ckpt (py, "bart", "--model-type bart")
        || make_ckpt (py, "drop", "--drop model.decoder.layers.1.fc2.bias")
        || make_ckpt (py, "shape", "--bad-shape model.encoder.layers.0.self_attn.k_proj.weight")
        || make_ckpt (py, "swiglu", "--act swiglu") || make_ckpt (py, "novocab", "")
        || make_ckpt (py, "badpos", "--bad-positions"))
        return 1;
    test_spm ();
    test_open ();
    real_checkpoint ();
    return 0;
}

/* ---- torch ---------------------------------------------------------------- */

typedef struct {
    int    n, d;
    float *enc;                 /* [n][d] */
    int    steps, tok[64];
    float *logits;              /* [steps][V] */
    int    n_greedy, greedy[64];
} ref_out;

static int
read_floats (FILE *fp, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char w[64];
        if (fscanf (fp, "%63s", w) != 1)
            return -1;
        v[i] = strcmp (w, "-inf") == 0 ? -INFINITY : strtof (w, NULL);
    }
    return 0;
}

static int
reference (const char *dir, int steps, const int *src, int n, int V, ref_out *r)
{
    ofr_buf cmd;
    ofr_buf_init (&cmd);
    ofr_buf_printf (&cmd, "/usr/bin/python3 '%s/tests/ref/%s' run '%s' %d",
                    source_dir (), ref_script (strrchr (dir, '/') + 1), dir, steps);
    for (int i = 0; i < n; i++)
        ofr_buf_printf (&cmd, " %d", src[i]);
    FILE *fp = cmd.oom ? NULL : popen (cmd.data, "r");
    memset (r, 0, sizeof *r);
    int ok = fp && fscanf (fp, " enc %d %d", &r->n, &r->d) == 2 && r->n == n;
    if (ok) {
        r->enc = calloc ((size_t) r->n * r->d, sizeof *r->enc);
        r->logits = calloc ((size_t) steps * V, sizeof *r->logits);
        ok = r->enc && r->logits && read_floats (fp, r->enc, (size_t) r->n * r->d) == 0;
    }
    while (ok && r->steps < steps) {
        int t, tok;
        if (fscanf (fp, " step %d %d", &t, &tok) != 2)
            break;
        r->tok[r->steps] = tok;
        ok = read_floats (fp, r->logits + (size_t) r->steps * V, (size_t) V) == 0;
        r->steps++;
    }
    ok = ok && fscanf (fp, " greedy") == 0;
    int g;
    while (ok && r->n_greedy < 64 && fscanf (fp, "%d", &g) == 1)
        r->greedy[r->n_greedy++] = g;
    int st = fp ? pclose (fp) : -1;
    CHECK (ok && st == 0, "%s: reference failed (status %d)", cmd.data, st);
    ofr_buf_free (&cmd);
    return ok && st == 0 ? 0 : -1;
}

static double
max_diff (const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf (a[i]) || isinf (b[i])) {
            if (a[i] != b[i])
                return INFINITY;
            continue;
        }
        double e = fabs ((double) a[i] - b[i]);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void
compare (const char *name, const int *src, int n)
{
    char dir[512], err[OFR_ERRLEN] = "";
    ofr_seq2seq *m = NULL;
    CHECK (ofr_seq2seq_open (tmp (dir, sizeof dir, name), &m, err, sizeof err) == 0, "%s", err);
    if (!m)
        return;
    int V = ofr_seq2seq_tgt_vocab (m), steps = 12;
    ref_out r;
    ofr_s2s_state *st = NULL;
    if (reference (dir, steps, src, n, V, &r) == 0
        && ofr_s2s_state_new (m, 1, 64, 64, &st, err, sizeof err) == 0
        && ofr_s2s_encode (st, src, n, err, sizeof err) == 0) {
        int mn, md;
        const float *mem = ofr_s2s_memory (st, &mn, &md);
        double e = max_diff (mem, r.enc, (size_t) n * md);
        CHECK (mn == n && md == r.d && e < 1e-4, "%s: encoder output differs by %g", name, e);
        int row = 0, tok = ofr_seq2seq_bos (m);
        double worst = 0;
        for (int t = 0; t < r.steps; t++) {
            int rc = ofr_s2s_begin (st, &row, &tok, 1, err, sizeof err);
            for (int l = 0; rc == 0 && l < ofr_seq2seq_dec_layers (m); l++)
                rc = ofr_s2s_layer (st, l, &row, 1, err, sizeof err);
            if (rc == 0)
                rc = ofr_s2s_head (st, &row, 1, err, sizeof err);
            CHECK (rc == 0, "%s step %d: %s", name, t, err);
            if (rc != 0)
                break;
            e = max_diff (ofr_s2s_logits (st, 0), r.logits + (size_t) t * V, (size_t) V);
            worst = e > worst ? e : worst;
            tok = r.tok[t];
        }
        CHECK (worst < 1e-4, "%s: step logits differ by %g", name, worst);
        printf ("%s: %d source tokens, %d steps, encoder %.2g, logits %.2g\n", name, n, r.steps,
                max_diff (mem, r.enc, (size_t) n * md), worst);
        ofr_s2s_opts o = ofr_s2s_default_opts ();
        o.beam = 1;
        o.min_length = 0;
        o.max_length = steps;
        int out[64], n_out = 0;
        float score;
        CHECK (ofr_s2s_translate (st, src, n, &o, out, 64, &n_out, &score, err, sizeof err) == 0,
               "%s: %s", name, err);
        int same = n_out == r.n_greedy;
        for (int i = 0; same && i < n_out; i++)
            same = out[i] == r.greedy[i];
        CHECK (same, "%s: greedy output differs (%d vs %d tokens)", name, n_out, r.n_greedy);
    } else
        CHECK (0, "%s: %s", name, err);
    free (r.enc);
    free (r.logits);
    ofr_s2s_state_destroy (&st);
    ofr_seq2seq_destroy (&m);
}

static int
run_torch (void)
{
    if (access ("/usr/bin/python3", X_OK) != 0
        || system ("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf ("SKIP: /usr/bin/python3 with torch not available\n");
        return SKIP;
    }
    if (make_ckpt ("/usr/bin/python3", "swish", "--seed 3")
        || make_ckpt ("/usr/bin/python3", "relu", "--seed 3 --act relu --lm-head --no-scale "
                      "--dim 24 --heads 3 --enc 1 --dec 2"))
        return 1;
    static const int a[] = { 2, 9, 10, 0 }, b[] = { 5, 6, 7, 8, 12, 14, 0 };
    compare ("swish", a, 4);
    compare ("swish", b, 7);
    compare ("relu", a, 4);
    compare ("relu", b, 7);
    if (make_ckpt ("/usr/bin/python3", "t5relu", "--seed 3")
        || make_ckpt ("/usr/bin/python3", "t5gated", "--seed 2 --ff gated-gelu --untied --dim 24 "
                      "--heads 3 --enc 3 --dec 2")
        || make_ckpt ("/usr/bin/python3", "t5narrow", "--seed 2 --ff gated-gelu --dim 24 "
                      "--heads 3 --dkv 6"))
        return 1;
    /* Long enough for the logarithmic buckets (8 buckets, max distance 20). */
    static const int c[] = { 3, 10, 11, 1 }, e[] = { 6, 7, 8, 9, 13, 15, 4, 5, 16, 1 };
    compare ("t5relu", c, 4);
    compare ("t5relu", e, 10);
    compare ("t5gated", c, 4);
    compare ("t5gated", e, 10);
    compare ("t5narrow", e, 10);     /* 3 x 6 < 24: one padding head */
    return 0;
}

int
main (int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "unit";
    if (!mkdtemp (s_tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    int rc = !strcmp (mode, "torch") ? run_torch () : run_unit ();
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_tmp);
    if (rc)
        return rc;
    printf ("%s: %d failure(s)\n", mode, s_failures);
    return s_failures != 0;
}
