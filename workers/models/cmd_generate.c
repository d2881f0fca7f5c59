/*  cmd_generate.c -- `offramp generate`: greedy text from a llama2.c
    checkpoint or a Hugging Face Llama directory (hf_llama.h), with
    throughput and per-token depth on request. */
#include "decoder.h"
#include "selfspec.h"
#include "llama.h"
#include "hf_llama.h"
#include "hf_decoder.h"
#include "../text/bpe_llama2c.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../harness/commands.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *model;
    const char *tokenizer;
    const char *prompt;
    const char *ids;
    const char *method;         /* NULL, "full" or "selfspec[:k=K,draft=D]" */
    long long   max_tokens;
    bool        stats;
} gen_args;

static void
usage (FILE *fp)
{
    fprintf (fp,
        "usage: offramp generate --model PATH_OR_NAME [--tokenizer PATH] [--prompt TEXT]\n"
        "                        [--ids 'ID ID ...'] [--max-tokens N] [--stats]\n"
        "                        [--method full|selfspec[:k=K,draft=D]]\n\n"
        "Greedy (argmax) continuation of TEXT (or of BOS alone) with a llama2.c\n"
        "checkpoint; stops at EOS/BOS, after N new tokens (default 256) or at the\n"
        "model's seq_len. A NAME such as stories260K is looked up as NAME/NAME.bin on\n"
        "the model path ($OFFRAMP_MODELS, else models/ and ../shared/models next to\n"
        "the executable or the working directory). The tokenizer defaults to\n"
        "tokenizer.bin, or the only tok*.bin, next to the model.\n"
        "--stats prints to stderr: time, tokens/s and the layers run per token.\n"
        "A directory whose config.json says \"model_type\": \"llama\", \"gpt2\" or\n"
        "\"gpt_neox\" is a Hugging Face checkpoint (model.safetensors, F32), tokenized by\n"
        "its tokenizer.json (byte-level or SentencePiece-style BPE); without one it runs\n"
        "on token ids only. --ids gives the\n"
        "prompt as token ids (BOS not added) and prints the generated ids.\n"
        "--method selfspec drafts D tokens (default 4) with the first K layers\n"
        "(default L/2) and verifies them with the full model: the same text;\n"
        "--stats adds the acceptance rate and the FLOPs (llama2.c checkpoints).\n");
}

/* Returns 0, 1 (--help printed) or 2 (usage error). */
static int
parse_args (int argc, char **argv, gen_args *a)
{
    *a = (gen_args) { .prompt = "", .max_tokens = 256 };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp (o, "--help") || !strcmp (o, "-h")) {
            usage (stdout);
            return 1;
        } else if (!strcmp (o, "--stats"))
            a->stats = true;
        else if (!strcmp (o, "--model") && has)
            a->model = argv[++i];
        else if (!strcmp (o, "--tokenizer") && has)
            a->tokenizer = argv[++i];
        else if (!strcmp (o, "--prompt") && has)
            a->prompt = argv[++i];
        else if (!strcmp (o, "--ids") && has)
            a->ids = argv[++i];
        else if (!strcmp (o, "--method") && has)
            a->method = argv[++i];
        else if (!strcmp (o, "--max-tokens") && has) {
            if (ofr_parse_int (argv[++i], &a->max_tokens) || a->max_tokens < 0
                || a->max_tokens > 1000000000) {
                fprintf (stderr, "offramp generate: --max-tokens '%s': want an integer "
                         ">= 0\n", argv[i]);
                return 2;
            }
        } else {
            fprintf (stderr, "offramp generate: unknown or incomplete argument '%s' "
                     "(see --help)\n", o);
            return 2;
        }
    }
    if (!a->model) {
        fprintf (stderr, "offramp generate: --model is required (see --help)\n");
        return 2;
    }
    return 0;
}

static bool
is_dir (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

static bool
is_file (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0 && S_ISREG (st.st_mode);
}

/* Last path component of p (no trailing '/'), as a new string. */
static char *
base_name (const char *p)
{
    char *s = ofr_strdup (p);
    if (!s)
        return NULL;
    size_t n = strlen (s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = 0;
    char *slash = strrchr (s, '/');
    char *b = ofr_strdup (slash ? slash + 1 : s);
    free (s);
    return b;
}

/* PATH_OR_NAME -> checkpoint file: a file as is, a directory D as
   D/<basename D>.bin, a name N as N/N.bin on the model path. */
static int
resolve_model (const char *arg, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (is_file (arg))
        return (*out = ofr_strdup (arg)) ? 0 : ofr_errf (err, errlen, "out of memory");
    char *name = base_name (arg);
    char *leaf = name ? ofr_path_join (name, name) : NULL;
    ofr_buf sub;
    ofr_buf_init (&sub);
    ofr_buf_printf (&sub, "%s.bin", leaf ? leaf : "");
    int rc = -1;
    if (!name || !leaf || sub.oom)
        ofr_errf (err, errlen, "out of memory");
    else if (is_dir (arg)) {
        ofr_buf f;
        ofr_buf_init (&f);
        ofr_buf_printf (&f, "%s/%s.bin", arg, name);
        if (!f.oom && is_file (f.data)) {
            *out = f.data;
            rc = 0;
        } else {
            ofr_errf (err, errlen, "model '%s': a directory without %s.bin", arg, name);
            ofr_buf_free (&f);
        }
    } else {
        char *path = ofr_default_models_path ();
        if (path && ofr_path_find (path, sub.data, out, NULL, 0) == 0)
            rc = 0;
        else
            ofr_errf (err, errlen, "model '%s': no such file, and %s not found on the "
                      "model path %s (set OFFRAMP_MODELS)", arg, sub.data,
                      path ? path : "(unknown)");
        free (path);
    }
    ofr_buf_free (&sub);
    free (leaf);
    free (name);
    return rc;
}

/* The tokenizer next to the model: tokenizer.bin, else the only tok*.bin. */
static int
find_tokenizer (const char *model_path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    char *dir = ofr_strdup (model_path);
    if (!dir)
        return ofr_errf (err, errlen, "out of memory");
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy (dir, ".");
    char *cand = ofr_path_join (dir, "tokenizer.bin");
    if (cand && is_file (cand)) {
        free (dir);
        *out = cand;
        return 0;
    }
    free (cand);
    cand = NULL;
    int found = 0;
    DIR *dp = opendir (dir);
    struct dirent *e;
    while (dp && (e = readdir (dp))) {
        size_t n = strlen (e->d_name);
        if (strncmp (e->d_name, "tok", 3) == 0 && n > 4 && !strcmp (e->d_name + n - 4, ".bin")) {
            found++;
            free (cand);
            cand = ofr_path_join (dir, e->d_name);
        }
    }
    if (dp)
        closedir (dp);
    int rc = 0;
    if (found == 1 && cand)
        *out = cand;
    else {
        rc = ofr_errf (err, errlen, "%s: %s tokenizer.bin or tok*.bin next to the model; "
                       "pass --tokenizer", model_path, found ? "more than one" : "no");
        free (cand);
    }
    free (dir);
    return rc;
}

/* Print text, dropping control bytes other than whitespace as run.c does
   (bytes >= 0x80 are kept: they are UTF-8). */
static void
print_text (const ofr_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char) b->data[i];
        if ((c >= 0x20 && c != 0x7f) || c == '\n' || c == '\t' || c == '\r')
            putchar (c);
    }
    putchar ('\n');
}

/* Positions forwarded = the row's length after greedy; every one ran all
   layers (for now), and the head ran for the last prompt position and
   each forwarded generated token. */
static void
print_stats (const ofr_llama *m, int nprompt, int positions, const int *layers, int n,
             double ms)
{
    int L = ofr_llama_n_layers (m);
    int heads = positions >= nprompt ? positions - nprompt + 1 : 0;
    double flops = heads * ofr_llama_head_flops (m, false);
    for (int p = 0; p < positions; p++)
        flops += L * ofr_llama_layer_flops (m, p + 1);
    double s = ms / 1000.0;
    fprintf (stderr, "prompt %d tokens, generated %d in %.3f ms: %.1f tokens/s "
             "(%d positions, %.1f/s), %.3f MFLOPs\n", nprompt, n, ms,
             s > 0 ? n / s : 0.0, positions, s > 0 ? positions / s : 0.0, flops / 1e6);
    fprintf (stderr, "layers per token (of %d):", L);
    for (int i = 0; i < n; i++)
        fprintf (stderr, " %d", layers[i]);
    fprintf (stderr, "\n");
}

typedef struct {
    ofr_llama       *model;
    ofr_bpe_llama2c *tok;
    ofr_dec_tok     *dtok;      /* Hugging Face directories: may be NULL  */
    bool             hf;
    ofr_hf_llama_info info;
    char             note[OFR_ERRLEN];
    ofr_decoder     *dec;
    int             *prompt;
    int             *out;
    int             *layers;
    char            *model_path;
    char            *tok_path;
} gen_state;

static void
gen_free (gen_state *g)
{
    ofr_decoder_destroy (&g->dec);
    ofr_bpe_llama2c_destroy (&g->tok);
    ofr_dec_tok_destroy (&g->dtok);
    ofr_llama_destroy (&g->model);
    free (g->prompt);
    free (g->out);
    free (g->layers);
    free (g->model_path);
    free (g->tok_path);
}

/* A NAME on the model path or a directory that is a Hugging Face Llama
   checkpoint, as a new path; NULL otherwise. */
static char *
hf_dir (const char *arg)
{
    if (is_dir (arg))
        return ofr_hf_decoder_is (arg) ? ofr_strdup (arg) : NULL;
    if (strchr (arg, '/'))
        return NULL;
    char *path = ofr_default_models_path (), *dir = NULL;
    if (path && ofr_path_find (path, arg, &dir, NULL, 0) == 0
        && !(is_dir (dir) && ofr_hf_decoder_is (dir))) {
        free (dir);
        dir = NULL;
    }
    free (path);
    return dir;
}

static int
gen_open (gen_state *g, const gen_args *a, char *err, size_t errlen)
{
    if ((g->model_path = hf_dir (a->model))) {
        g->hf = true;
        if (a->tokenizer)
            return ofr_errf (err, errlen, "--tokenizer: a Hugging Face directory uses its "
                             "own tokenizer.json");
        if (ofr_hf_decoder_load (g->model_path, &g->model, &g->dtok, g->note,
                                 sizeof g->note, err, errlen))
            return -1;
        if (!g->dtok && !a->ids && a->prompt[0])
            return ofr_errf (err, errlen, "--prompt needs a tokenizer: %s; pass --ids",
                             g->note);
        return 0;
    }
    if (resolve_model (a->model, &g->model_path, err, errlen)
        || (a->tokenizer ? !(g->tok_path = ofr_strdup (a->tokenizer))
                         : find_tokenizer (g->model_path, &g->tok_path, err, errlen))
        || ofr_llama_load (g->model_path, &g->model, err, errlen)
        || ofr_bpe_llama2c_load (g->tok_path, &g->tok, err, errlen))
        return -1;
    if (ofr_bpe_llama2c_vocab_size (g->tok) != ofr_llama_vocab_size (g->model))
        return ofr_errf (err, errlen, "%s has %d tokens but %s has vocab_size %d: not "
                         "this model's tokenizer", g->tok_path,
                         ofr_bpe_llama2c_vocab_size (g->tok), g->model_path,
                         ofr_llama_vocab_size (g->model));
    return 0;
}

/* "--ids" -> a new array of ids in [0, vocab). */
static int
parse_ids (const char *s, int vocab, int **out, int *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    size_t cap = strlen (s) / 2 + 1;
    int *v = ofr_calloc (cap, sizeof (int));
    if (!v)
        return ofr_errf (err, errlen, "out of memory");
    const char *p = s;
    while (*p) {
        char *end;
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        long x = strtol (p, &end, 10);
        if (end == p || x < 0 || x >= vocab || (size_t) *n >= cap) {
            free (v);
            return ofr_errf (err, errlen, "--ids '%s': want token ids in 0..%d separated "
                             "by spaces or commas", s, vocab - 1);
        }
        v[(*n)++] = (int) x;
        p = end;
    }
    *out = v;
    return 0;
}

/* The prompt of a Hugging Face model: --ids, else BOS (when config.json
   names one) + the tokenizer's ids of --prompt. */
static int
hf_prompt (gen_state *g, const gen_args *a, int *np, char *err, size_t errlen)
{
    int V = ofr_llama_vocab_size (g->model);
    if (a->ids)
        return parse_ids (a->ids, V, &g->prompt, np, err, errlen);
    int bos = ofr_llama_config_of (g->model)->bos_id;
    if (!g->dtok) {               /* no tokenizer, no --prompt: BOS alone */
        if (!(g->prompt = ofr_calloc (1, sizeof (int))))
            return ofr_errf (err, errlen, "out of memory");
        g->prompt[0] = bos;
        *np = bos >= 0 && bos < V;
        return 0;
    }
    return ofr_dec_tok_encode (g->dtok, a->prompt, true, &g->prompt, np, err, errlen);
}

/* Greedy decoding of a Hugging Face model: stops before eos_token_id. */
static int
hf_run (gen_state *g, const gen_args *a, char *err, size_t errlen)
{
    int np = 0, seq = ofr_llama_seq_len (g->model);
    if (hf_prompt (g, a, &np, err, errlen))
        return -1;
    if (np == 0)
        return ofr_errf (err, errlen, "empty prompt and %s/config.json has no "
                         "bos_token_id: pass --prompt or --ids", g->model_path);
    if (np > seq)
        return ofr_errf (err, errlen, "prompt is %d tokens, more than the "
                         "%s %d of %s/config.json (its positions)", np,
                         ofr_llama_config_of (g->model)->arch == OFR_ARCH_GPT2
                         ? "n_positions" : "max_position_embeddings", seq,
                         g->model_path);
    int max_new = (int) (a->max_tokens < seq - np ? a->max_tokens : seq - np);
    g->out = ofr_calloc ((size_t) max_new + 1, sizeof (int));
    g->layers = ofr_calloc ((size_t) max_new + 1, sizeof (int));
    if (!g->out || !g->layers)
        return ofr_errf (err, errlen, "out of memory");
    if (ofr_decoder_new (g->model, 1, np + max_new, &g->dec, err, errlen))
        return -1;
    int row = 0, n = 0, V = ofr_llama_vocab_size (g->model);
    double t0 = ofr_now_ms ();
    for (int i = 0; i < np; i++)
        if (ofr_decoder_forward (g->dec, &row, &g->prompt[i], 1, err, errlen))
            return -1;
    while (n < max_new) {
        const float *lg = ofr_decoder_logits (g->dec, 0);
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best])
                best = v;
        if (ofr_llama_is_stop (g->model, best))
            break;
        g->out[n] = best;
        g->layers[n++] = ofr_llama_n_layers (g->model);
        if (n < max_new && ofr_decoder_forward (g->dec, &row, &best, 1, err, errlen))
            return -1;
    }
    double ms = ofr_now_ms () - t0;
    if (g->dtok && !a->ids) {
        int *all = ofr_calloc ((size_t) (np + n) + 1, sizeof (int));
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_puts (&b, "");
        for (int i = 0; all && i < np + n; i++)
            all[i] = i < np ? g->prompt[i] : g->out[i - np];
        bool oom = !all;
        if (all)
            ofr_dec_tok_decode_all (g->dtok, all, np + n, &b);
        free (all);
        if (oom || b.oom) {
            ofr_buf_free (&b);
            return ofr_errf (err, errlen, "out of memory");
        }
        print_text (&b);
        ofr_buf_free (&b);
    } else {
        if (!a->ids)
            fprintf (stderr, "offramp generate: %s\n", g->note);
        for (int i = 0; i < n; i++)
            printf ("%s%d", i ? " " : "", g->out[i]);
        printf ("\n");
    }
    if (a->stats)
        print_stats (g->model, np, ofr_decoder_length (g->dec, 0), g->layers, n, ms);
    return 0;
}

static int
gen_run (gen_state *g, const gen_args *a, char *err, size_t errlen)
{
    bool spec = false;
    ofr_selfspec_cfg cfg;
    ofr_selfspec_stats st = { 0 };
    if (ofr_selfspec_method (a->method, ofr_llama_n_layers (g->model), &spec, &cfg, err,
                             errlen))
        return -1;
    if (g->hf && spec)
        return ofr_errf (err, errlen, "--method selfspec: llama2.c checkpoints only (not "
                         "yet wired into the Hugging Face path; plans run it on any decoder)");
    if (g->hf)
        return hf_run (g, a, err, errlen);
    int np = 0, seq = ofr_llama_seq_len (g->model);
    if (a->ids ? parse_ids (a->ids, ofr_llama_vocab_size (g->model), &g->prompt, &np,
                            err, errlen)
               : ofr_bpe_llama2c_encode (g->tok, a->prompt, strlen (a->prompt), true,
                                         false, &g->prompt, &np, err, errlen))
        return -1;
    if (np == 0)
        return ofr_errf (err, errlen, "--ids: no token ids");
    if (np > seq)
        return ofr_errf (err, errlen, "prompt is %d tokens, more than the seq_len %d of %s",
                         np, seq, g->model_path);
    int max_new = (int) (a->max_tokens < seq - np + 1 ? a->max_tokens : seq - np + 1);
    g->out = ofr_calloc ((size_t) max_new + 1, sizeof (int));
    g->layers = ofr_calloc ((size_t) max_new + 1, sizeof (int));
    if (!g->out || !g->layers
        || ofr_decoder_new_block (g->model, 1, 0, spec ? cfg.draft_len + 1 : 1, &g->dec,
                                  err, errlen))
        return g->out && g->layers ? -1 : ofr_errf (err, errlen, "out of memory");
    int n = 0;
    double t0 = ofr_now_ms ();
    if (spec ? ofr_selfspec_greedy (g->dec, 0, g->prompt, np, max_new, &cfg, g->out, &n,
                                    g->layers, &st, err, errlen)
             : ofr_decoder_greedy (g->dec, 0, g->prompt, np, max_new, g->out, &n,
                                   g->layers, err, errlen))
        return -1;
    double ms = ofr_now_ms () - t0;
    ofr_buf text;
    ofr_buf_init (&text);
    ofr_bpe_llama2c_decode_all (g->tok, g->prompt, np, &text);
    /* The first generated piece follows the last prompt token. */
    int prev = g->prompt[np - 1];
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s = ofr_bpe_llama2c_decode (g->tok, prev, g->out[i], &len);
        if (s)
            ofr_buf_append (&text, s, len);
        prev = g->out[i];
    }
    print_text (&text);
    ofr_buf_free (&text);
    if (a->stats && !spec)
        print_stats (g->model, np, ofr_decoder_length (g->dec, 0), g->layers, n, ms);
    if (a->stats && spec)
        fprintf (stderr, "selfspec k=%d draft=%d: generated %d in %.3f ms: %.1f tokens/s; "
                 "%d rounds, %d drafted, %d accepted (%.1f%%), %d positions verified, "
                 "%.3f MFLOPs after the prompt\n", cfg.draft_layers, cfg.draft_len, n, ms,
                 ms > 0 ? n / (ms / 1000.0) : 0.0, st.rounds, st.drafted, st.accepted,
                 st.drafted ? 100.0 * st.accepted / st.drafted : 0.0, st.fed,
                 st.flops / 1e6);
    return 0;
}

int
ofr_cmd_generate (int argc, char **argv)
{
    gen_args a;
    int rc = parse_args (argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    char err[OFR_ERRLEN] = "";
    gen_state g = { 0 };
    rc = gen_open (&g, &a, err, sizeof err) || gen_run (&g, &a, err, sizeof err) ? 1 : 0;
    if (rc)
        fprintf (stderr, "offramp generate: %s\n", err[0] ? err : "out of memory");
    gen_free (&g);
    return rc;
}
