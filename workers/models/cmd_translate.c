/*  cmd_translate.c -- `offramp translate`: run a CTranslate2 encoder-decoder
    over a file of source segments, one per line, with greedy or beam search
    (CTranslate2's defaults: beam 2, length penalty 1, at most 256 steps). */
#include "seq2seq.h"
#include "hf_s2s.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../harness/commands.h"
#include "../../suites/mt_lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char  *model, *input, *output, *models_path;
    ofr_s2s_opts opts;
    bool         chars, scores, quiet;
} tr_args;

static void
usage (FILE *f)
{
    fprintf (f,
"usage: offramp translate --model DIR|NAME --input FILE [--output FILE]\n"
"                         [--beam N] [--length-penalty X] [--max-length N]\n"
"                         [--min-length N] [--chars] [--scores] [--quiet]\n"
"\n"
"Translates one segment per line with a CTranslate2 Transformer model\n"
"(model.bin + vocabularies) or a Hugging Face Marian / T5 directory\n"
"(model.safetensors: tokens are its pieces), on the CPU with OpenBLAS.\n"
"\n"
"  --model DIR|NAME    model directory, or a name on --models / $OFFRAMP_MODELS\n"
"  --input FILE        source text (UTF-8), tokens separated by spaces\n"
"  --output FILE       write translations here (default: stdout)\n"
"  --beam N            beam size, 1 = greedy (default 2, as CTranslate2)\n"
"  --length-penalty X  hypothesis score / length^X (default 1)\n"
"  --max-length N      at most N decoding steps (default 256)\n"
"  --min-length N      no end of sentence before step N (default 1)\n"
"  --chars             character models: each character of the line is a\n"
"                      token (spaces dropped), output characters are joined\n"
"  --scores            prefix each line with its normalised log probability\n"
"  --quiet             no timing line on stderr\n"
"\n"
"Empty lines give empty lines. A line of more than %d tokens is an error\n"
"(CTranslate2 would silently truncate it).\n", OFR_S2S_MAX_INPUT);
}

static int
parse_int (const char *opt, const char *v, int lo, int hi, int *out, char *err, size_t errlen)
{
    long long ll;
    if (ofr_parse_int (v, &ll) != 0 || ll < lo || ll > hi)
        return ofr_errf (err, errlen, "%s: expected %d..%d, got '%s'", opt, lo, hi, v);
    *out = (int) ll;
    return 0;
}

static int
parse_args (int argc, char **argv, tr_args *a, char *err, size_t errlen)
{
    memset (a, 0, sizeof *a);
    a->opts = ofr_s2s_default_opts ();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp (o, "--chars") == 0) { a->chars = true; continue; }
        if (strcmp (o, "--scores") == 0) { a->scores = true; continue; }
        if (strcmp (o, "--quiet") == 0) { a->quiet = true; continue; }
        if (i + 1 >= argc)
            return ofr_errf (err, errlen, "%s needs a value (see --help)", o);
        const char *v = argv[++i];
        double x;
        int rc = 0;
        if (strcmp (o, "--model") == 0) a->model = v;
        else if (strcmp (o, "--input") == 0) a->input = v;
        else if (strcmp (o, "--output") == 0) a->output = v;
        else if (strcmp (o, "--models") == 0) a->models_path = v;
        else if (strcmp (o, "--beam") == 0) rc = parse_int (o, v, 1, 64, &a->opts.beam, err, errlen);
        else if (strcmp (o, "--max-length") == 0)
            rc = parse_int (o, v, 1, 4096, &a->opts.max_length, err, errlen);
        else if (strcmp (o, "--min-length") == 0)
            rc = parse_int (o, v, 0, 4096, &a->opts.min_length, err, errlen);
        else if (strcmp (o, "--length-penalty") == 0) {
            if (ofr_parse_double (v, &x) != 0 || !(x >= 0 && x <= 10))
                return ofr_errf (err, errlen, "--length-penalty: expected 0..10, got '%s'", v);
            a->opts.length_penalty = (float) x;
        }
        else
            return ofr_errf (err, errlen, "unknown option '%s' (see --help)", o);
        if (rc != 0)
            return -1;
    }
    if (!a->model || !a->input)
        return ofr_errf (err, errlen, "--model and --input are required");
    return 0;
}

/* DIR itself if it holds model.bin, else NAME on the models path. */
static int
find_model (const tr_args *a, char **dir, char *err, size_t errlen)
{
    char probe[4096];
    snprintf (probe, sizeof probe, "%s/model.bin", a->model);
    if (access (probe, R_OK) == 0 || ofr_hf_s2s_probe (a->model))   /* or HF Marian / T5 */
        return (*dir = ofr_strdup (a->model)) ? 0 : ofr_errf (err, errlen, "out of memory");
    char *path = a->models_path ? ofr_strdup (a->models_path) : ofr_default_models_path ();
    snprintf (probe, sizeof probe, "%s/model.bin", a->model);
    char *file = NULL;
    int rc = path ? ofr_path_find (path, probe, &file, err, errlen)
                  : ofr_errf (err, errlen, "out of memory");
    free (path);
    if (rc != 0)
        return -1;
    file[strlen (file) - strlen ("/model.bin")] = 0;
    *dir = file;
    return 0;
}

/* Split line in place into tokens: spaces, or UTF-8 characters (--chars).
   Returns the count (may exceed cap: only the first cap are stored). */
static int
split (char *line, bool chars, char **tok, int cap, char *chbuf)
{
    int n = 0;
    if (!chars) {
        char *save = NULL;
        for (char *t = strtok_r (line, " \t", &save); t; t = strtok_r (NULL, " \t", &save), n++)
            if (n < cap)
                tok[n] = t;
        return n;
    }
    for (unsigned char *p = (unsigned char *) line; *p;) {
        size_t len = 1;
        while ((p[len] & 0xC0) == 0x80)     /* continuation bytes (valid UTF-8) */
            len++;
        if (!(len == 1 && (*p == ' ' || *p == '\t'))) {
            if (n < cap) {
                tok[n] = chbuf;
                memcpy (chbuf, p, len);
                chbuf[len] = 0;
                chbuf += len + 1;
            }
            n++;
        }
        p += len;
    }
    return n;
}

typedef struct {
    long   lines, src_tokens, out_tokens, unk;
    double ms;
    char **tok;              /* [OFR_S2S_MAX_INPUT] token pointers         */
    char  *chbuf;            /* --chars: NUL-terminated characters         */
    int   *ids, *hyp;        /* source ids, output ids (max_length)        */
} tr_stats;

static int
translate_line (ofr_s2s_state *st, const tr_args *a, const ofr_seq2seq *m, char *line,
                size_t lineno, FILE *out, tr_stats *s, char *err, size_t errlen)
{
    int n_hyp = 0, unk = 0, *hyp = s->hyp;
    float score = 0;
    int n = split (line, a->chars, s->tok, OFR_S2S_MAX_INPUT, s->chbuf);
    if (n > OFR_S2S_MAX_INPUT)
        return ofr_errf (err, errlen, "%s:%zu: %d tokens; the model takes at most %d",
                         a->input, lineno, n, OFR_S2S_MAX_INPUT);
    if (n > 0) {
        int k = ofr_seq2seq_src_ids (m, (const char *const *) s->tok, n, s->ids, &unk);
        char why[OFR_ERRLEN];
        double t0 = ofr_now_ms ();
        if (ofr_s2s_translate (st, s->ids, k, &a->opts, hyp, a->opts.max_length, &n_hyp, &score, why, sizeof why) != 0)
            return ofr_errf (err, errlen, "%s:%zu: %s", a->input, lineno, why);
        s->ms += ofr_now_ms () - t0;
    }
    if (a->scores)
        fprintf (out, "%.6f ||| ", (double) score);
    for (int i = 0; i < n_hyp; i++)
        fprintf (out, "%s%s", i && !a->chars ? " " : "", ofr_seq2seq_tgt_token (m, hyp[i]));
    fputc ('\n', out);
    s->lines++;
    s->src_tokens += n;
    s->out_tokens += n_hyp;
    s->unk += unk;
    return 0;
}

static int
run (const tr_args *a, char *err, size_t errlen)
{
    char *dir = NULL;
    ofr_seq2seq *m = NULL;
    ofr_s2s_state *st = NULL;
    ofr_mt_lines in = { 0 };
    FILE *out = stdout;
    tr_stats s = { 0 };
    int rc = find_model (a, &dir, err, errlen);
    if (rc == 0)
        rc = ofr_seq2seq_open (dir, &m, err, errlen);
    if (rc == 0)
        rc = ofr_s2s_state_new (m, a->opts.beam, OFR_S2S_MAX_INPUT + 2, a->opts.max_length,
                                &st, err, errlen);
    s.tok = ofr_calloc (OFR_S2S_MAX_INPUT, sizeof *s.tok);
    s.chbuf = ofr_calloc (OFR_S2S_MAX_INPUT, 5);           /* 4 bytes + NUL each */
    s.ids = ofr_calloc (OFR_S2S_MAX_INPUT + 2, sizeof *s.ids);
    s.hyp = ofr_calloc ((size_t) a->opts.max_length, sizeof *s.hyp);
    if (rc == 0 && (!s.tok || !s.chbuf || !s.ids || !s.hyp))
        rc = ofr_errf (err, errlen, "out of memory");
    if (rc == 0)
        rc = ofr_mt_lines_read (a->input, &in, err, errlen);
    if (rc == 0 && a->output && !(out = fopen (a->output, "w")))
        rc = ofr_errf (err, errlen, "%s: cannot write", a->output);
    for (size_t i = 0; rc == 0 && i < in.n; i++)
        rc = translate_line (st, a, m, in.line[i], i + 1, out, &s, err, errlen);
    if (out && out != stdout && fclose (out) != 0 && rc == 0)
        rc = ofr_errf (err, errlen, "%s: write failed", a->output);
    if (rc == 0 && s.unk)
        fprintf (stderr, "offramp translate: %ld source tokens not in the vocabulary (as <unk>)\n", s.unk);
    if (rc == 0 && !a->quiet)
        fprintf (stderr, "offramp translate: %ld lines, %ld source tokens, %ld output tokens, "
                 "beam %d, %.1f ms (%.0f output tokens/s)\n", s.lines, s.src_tokens,
                 s.out_tokens, a->opts.beam, s.ms, s.ms > 0 ? 1000.0 * s.out_tokens / s.ms : 0.0);
    ofr_mt_lines_free (&in);
    free (s.tok);
    free (s.chbuf);
    free (s.ids);
    free (s.hyp);
    ofr_s2s_state_destroy (&st);
    ofr_seq2seq_destroy (&m);
    free (dir);
    return rc;
}

int
ofr_cmd_translate (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            usage (stdout);
            return 0;
        }
    char err[OFR_ERRLEN];
    tr_args a;
    if (parse_args (argc, argv, &a, err, sizeof err) != 0) {
        fprintf (stderr, "offramp translate: %s\n", err);
        return 2;
    }
    if (run (&a, err, sizeof err) != 0) {
        fprintf (stderr, "offramp translate: %s\n", err);
        return 1;
    }
    return 0;
}
