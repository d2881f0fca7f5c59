/*  cmd_score.c -- `offramp score`: corpus BLEU / chrF of a hypothesis file
    against one or more reference files, printed the way sacreBLEU prints
    them. Files are read as sacreBLEU's command line reads them: UTF-8,
    lines split at '\n' only, each line rstrip()ed (sacrebleu.py:351-353,
    416-419 at v2.4.3). */
#include "mt_lines.h"
#include "mt_metrics.h"
#include "mt_suites.h"
#include "mt_text.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../harness/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFS 16

typedef struct {
    const char   *hyp;
    const char   *refs[MAX_REFS];
    int           nrefs;
    const char   *suite;
    const char   *split;
    const char   *data;
    bool          bleu, chrf, json;
    ofr_bleu_opts bopts;
    ofr_chrf_opts copts;
} score_args;

typedef ofr_mt_lines lines;

static void
usage (FILE *f)
{
    fprintf (f,
"usage: offramp score --hyp FILE (--ref FILE [--ref FILE ...] | --suite NAME [--split S])\n"
"                     [--metric bleu,chrf] [--tokenize 13a|none|intl]\n"
"                     [--smooth exp|floor|add-k|none] [--smooth-value X]\n"
"                     [--lowercase] [--effective-order] [--chrf-word-order N]\n"
"                     [--data DIR] [--format text|json]\n"
"\n"
"Corpus BLEU and chrF computed as sacreBLEU 2.4.3 computes them, from\n"
"pooled per-segment statistics. One segment per line; empty lines are\n"
"empty segments; every file must have the same number of lines.\n"
"\n"
"  --hyp FILE          system output (UTF-8)\n"
"  --ref FILE          reference; repeat for several references (max %d)\n"
"  --suite NAME        take the reference of a shipped test set:\n"
"                      wmt22_en_de, wmt22_de_en, multi30k_en_de\n"
"  --split NAME        split of --suite (default test; multi30k: val, train)\n"
"  --data DIR          data directory for --suite (default: $OFFRAMP_DATA,\n"
"                      else data/ or ../shared/data near the binary or here)\n"
"  --metric LIST       bleu, chrf, chrf++ (chrF with word 2-grams); default bleu,chrf\n"
"  --tokenize T        BLEU tokenizer: 13a (default), none, intl\n"
"  --smooth M          BLEU smoothing: exp (default), floor, add-k, none\n"
"  --smooth-value X    value for floor (default 0.1) and add-k (default 1)\n"
"  --lowercase         case-insensitive BLEU and chrF\n"
"  --effective-order   BLEU: drop n-gram orders with no n-grams (sentence BLEU)\n"
"  --chrf-word-order N chrF word n-gram order (0 = chrF, 2 = chrF++)\n"
"  --format F          text (default) or json\n"
"\n"
"Signatures end in version:%s: this is offramp's own implementation,\n"
"checked against sacreBLEU 2.4.3's published numbers, not sacreBLEU itself.\n",
             MAX_REFS, OFR_MT_VERSION);
}

static int
parse_metrics (const char *list, score_args *a, char *err, size_t errlen)
{
    char *copy = ofr_strdup (list);
    if (!copy)
        return ofr_errf (err, errlen, "out of memory");
    a->bleu = a->chrf = false;
    int rc = 0;
    char *save = NULL;
    for (char *m = strtok_r (copy, ",", &save); m && rc == 0; m = strtok_r (NULL, ",", &save)) {
        if (strcmp (m, "bleu") == 0)
            a->bleu = true;
        else if (strcmp (m, "chrf") == 0)
            a->chrf = true;
        else if (strcmp (m, "chrf++") == 0) {
            a->chrf = true;
            a->copts.word_order = 2;
        }
        else
            rc = ofr_errf (err, errlen, "--metric: unknown metric '%s' (bleu, chrf, chrf++)", m);
    }
    free (copy);
    if (rc == 0 && !a->bleu && !a->chrf)
        rc = ofr_errf (err, errlen, "--metric: no metric given");
    return rc;
}

/* Parses the option at argv[*i] (advancing *i past its value). */
static int
parse_one (int argc, char **argv, int *i, score_args *a, char *err, size_t errlen)
{
    const char *opt = argv[*i];
    if (strcmp (opt, "--lowercase") == 0) {
        a->bopts.lowercase = a->copts.lowercase = true;
        return 0;
    }
    if (strcmp (opt, "--effective-order") == 0) {
        a->bopts.effective_order = true;
        return 0;
    }
    if (*i + 1 >= argc)
        return ofr_errf (err, errlen, "%s needs a value", opt);
    const char *v = argv[++*i];
    long long ll;
    if (strcmp (opt, "--hyp") == 0)
        a->hyp = v;
    else if (strcmp (opt, "--ref") == 0) {
        if (a->nrefs == MAX_REFS)
            return ofr_errf (err, errlen, "--ref: at most %d references", MAX_REFS);
        a->refs[a->nrefs++] = v;
    }
    else if (strcmp (opt, "--suite") == 0)
        a->suite = v;
    else if (strcmp (opt, "--data") == 0)
        a->data = v;
    else if (strcmp (opt, "--split") == 0)
        a->split = v;
    else if (strcmp (opt, "--metric") == 0)
        return parse_metrics (v, a, err, errlen);
    else if (strcmp (opt, "--tokenize") == 0) {
        if (ofr_mt_tokenizer_parse (v, &a->bopts.tokenize) != 0)
            return ofr_errf (err, errlen, "--tokenize: unknown tokenizer '%s' (13a, none, intl)", v);
    }
    else if (strcmp (opt, "--smooth") == 0) {
        if (ofr_bleu_smooth_parse (v, &a->bopts.smooth) != 0)
            return ofr_errf (err, errlen, "--smooth: unknown method '%s' (exp, floor, add-k, none)", v);
    }
    else if (strcmp (opt, "--smooth-value") == 0) {
        if (ofr_parse_double (v, &a->bopts.smooth_value) != 0 || a->bopts.smooth_value < 0)
            return ofr_errf (err, errlen, "--smooth-value: expected a number >= 0, got '%s'", v);
    }
    else if (strcmp (opt, "--chrf-word-order") == 0) {
        if (ofr_parse_int (v, &ll) != 0 || ll < 0 || ll > OFR_CHRF_MAX_WORD_ORDER)
            return ofr_errf (err, errlen, "--chrf-word-order: expected 0..%d, got '%s'",
                             OFR_CHRF_MAX_WORD_ORDER, v);
        a->copts.word_order = (int) ll;
    }
    else if (strcmp (opt, "--format") == 0) {
        if (strcmp (v, "text") != 0 && strcmp (v, "json") != 0)
            return ofr_errf (err, errlen, "--format: expected text or json, got '%s'", v);
        a->json = strcmp (v, "json") == 0;
    }
    else
        return ofr_errf (err, errlen, "unknown option '%s' (see --help)", opt);
    return 0;
}

static int
parse_args (int argc, char **argv, score_args *a, char *err, size_t errlen)
{
    memset (a, 0, sizeof *a);
    a->bleu = a->chrf = true;
    a->bopts = ofr_bleu_default_opts ();
    a->copts = ofr_chrf_default_opts ();
    for (int i = 1; i < argc; i++)
        if (parse_one (argc, argv, &i, a, err, errlen) != 0)
            return -1;
    if (!a->hyp)
        return ofr_errf (err, errlen, "--hyp FILE is required");
    if (a->suite && a->nrefs)
        return ofr_errf (err, errlen, "give either --ref or --suite, not both");
    if (!a->suite && !a->nrefs)
        return ofr_errf (err, errlen, "--ref FILE or --suite NAME is required");
    return 0;
}

/* The reference file of a translation suite's split (suites/mt_suites.c). */
static int
find_suite_ref (const score_args *a, char **path, char *err, size_t errlen)
{
    const char *subdir, *src, *ref;
    if (ofr_mt_suite_files (a->suite, a->split, &subdir, &src, &ref, err, errlen) != 0)
        return -1;
    char *search = a->data ? ofr_strdup (a->data) : ofr_default_data_path ();
    ofr_buf sub;
    ofr_buf_init (&sub);
    ofr_buf_printf (&sub, "%s/%s", subdir, ref);
    int rc = search && !sub.oom ? ofr_path_find (search, sub.data, path, err, errlen)
                                : ofr_errf (err, errlen, "out of memory");
    free (search);
    ofr_buf_free (&sub);
    return rc;
}

/* Summed statistics of every segment (pooled, as the harness pools shards). */
typedef struct {
    double bleu[OFR_BLEU_NSTATS];
    double chrf[OFR_CHRF_MAX_NSTATS];
} sums;

static int
score_segment (const score_args *a, const lines *hyp, const lines *refs,
               const char *const *ref_paths, size_t i, sums *s,
               char *err, size_t errlen)
{
    const char *r[MAX_REFS];
    for (int k = 0; k < a->nrefs; k++)
        r[k] = refs[k].line[i];
    double st[OFR_CHRF_MAX_NSTATS];
    char why[OFR_ERRLEN] = "";
    int nst = ofr_chrf_nstats (&a->copts);
    if (a->bleu) {
        if (ofr_bleu_segment_stats (hyp->line[i], r, a->nrefs, &a->bopts, st, why, sizeof why) != 0)
            goto fail;
        for (int j = 0; j < OFR_BLEU_NSTATS; j++)
            s->bleu[j] += st[j];
    }
    if (a->chrf) {
        if (ofr_chrf_segment_stats (hyp->line[i], r, a->nrefs, &a->copts, st, why, sizeof why) != 0)
            goto fail;
        for (int j = 0; j < nst; j++)
            s->chrf[j] += st[j];
    }
    return 0;
fail:
    return ofr_errf (err, errlen, "%s / %s line %zu: %s", a->hyp, ref_paths[0], i + 1, why);
}

static void
print_text (const score_args *a, const sums *s)
{
    ofr_buf b;
    ofr_buf_init (&b);
    if (a->bleu) {
        ofr_bleu_score sc;
        ofr_bleu_compute (s->bleu, &a->bopts, &sc);
        ofr_buf_puts (&b, "BLEU = ");
        ofr_bleu_format (&sc, &b);
        ofr_buf_puts (&b, "\n  signature: ");
        ofr_bleu_signature (&a->bopts, a->nrefs, &b);
        ofr_buf_puts (&b, "\n");
    }
    if (a->chrf) {
        ofr_chrf_name (&a->copts, &b);
        ofr_buf_printf (&b, " = %.2f\n  signature: ", ofr_chrf_compute (s->chrf, &a->copts));
        ofr_chrf_signature (&a->copts, a->nrefs, &b);
        ofr_buf_puts (&b, "\n");
    }
    fputs (b.oom ? "out of memory\n" : b.data ? b.data : "", stdout);
    ofr_buf_free (&b);
}

/* sacreBLEU's JSON "score": float(f"{score:.2f}") (base.py:56). */
static double
round2 (double v)
{
    char tmp[64];
    snprintf (tmp, sizeof tmp, "%.2f", v);
    return strtod (tmp, NULL);
}

static void
json_array (ofr_buf *b, const char *key, const double *v, int n)
{
    ofr_buf_printf (b, ", \"%s\": [", key);
    for (int i = 0; i < n; i++) {
        if (i)
            ofr_buf_puts (b, ", ");
        ofr_buf_json_num (b, v[i]);
    }
    ofr_buf_puts (b, "]");
}

static void
json_bleu (const score_args *a, const sums *s, ofr_buf *b, ofr_buf *sig)
{
    ofr_bleu_score sc;
    ofr_bleu_compute (s->bleu, &a->bopts, &sc);
    ofr_buf_puts (b, "\"bleu\": ");
    ofr_buf_json_num (b, round2 (sc.score));
    ofr_buf_puts (b, ", \"bleu_details\": {\"score\": ");
    ofr_buf_json_num (b, sc.score);
    json_array (b, "precisions", sc.precisions, OFR_BLEU_ORDER);
    json_array (b, "counts", sc.counts, OFR_BLEU_ORDER);
    json_array (b, "totals", sc.totals, OFR_BLEU_ORDER);
    ofr_buf_printf (b, ", \"bp\": %.17g, \"ratio\": %.17g, \"hyp_len\": %.0f, "
                    "\"ref_len\": %.0f, \"verbose\": ", sc.bp, sc.ratio, sc.hyp_len, sc.ref_len);
    ofr_buf tmp;
    ofr_buf_init (&tmp);
    ofr_bleu_format (&sc, &tmp);
    ofr_buf_json_str (b, tmp.data);
    ofr_buf_free (&tmp);
    ofr_buf_puts (b, "}, ");
    ofr_buf_puts (sig, "\"bleu\": ");
    ofr_buf_init (&tmp);
    ofr_bleu_signature (&a->bopts, a->nrefs, &tmp);
    ofr_buf_json_str (sig, tmp.data);
    ofr_buf_free (&tmp);
}

static void
json_chrf (const score_args *a, const sums *s, ofr_buf *b, ofr_buf *sig)
{
    double v = ofr_chrf_compute (s->chrf, &a->copts);
    ofr_buf tmp;
    ofr_buf_init (&tmp);
    ofr_chrf_name (&a->copts, &tmp);
    ofr_buf_puts (b, "\"chrf\": ");
    ofr_buf_json_num (b, round2 (v));
    ofr_buf_puts (b, ", \"chrf_details\": {\"name\": ");
    ofr_buf_json_str (b, tmp.data);
    ofr_buf_puts (b, ", \"score\": ");
    ofr_buf_json_num (b, v);
    json_array (b, "stats", s->chrf, ofr_chrf_nstats (&a->copts));
    ofr_buf_puts (b, "}, ");
    ofr_buf_reset (&tmp);
    ofr_chrf_signature (&a->copts, a->nrefs, &tmp);
    ofr_buf_printf (sig, "%s\"chrf\": ", a->bleu ? ", " : "");
    ofr_buf_json_str (sig, tmp.data);
    ofr_buf_free (&tmp);
}

static void
print_json (const score_args *a, const sums *s, size_t nseg)
{
    ofr_buf b, sig;
    ofr_buf_init (&b);
    ofr_buf_init (&sig);
    ofr_buf_puts (&b, "{");
    if (a->bleu)
        json_bleu (a, s, &b, &sig);
    if (a->chrf)
        json_chrf (a, s, &b, &sig);
    ofr_buf_printf (&b, "\"signature\": {%s}, \"segments\": %zu, \"hyp\": ",
                    sig.data ? sig.data : "", nseg);
    ofr_buf_json_str (&b, a->hyp);
    ofr_buf_puts (&b, ", \"refs\": [");
    for (int k = 0; k < a->nrefs; k++) {
        if (k)
            ofr_buf_puts (&b, ", ");
        ofr_buf_json_str (&b, a->refs[k]);
    }
    ofr_buf_puts (&b, "]}\n");
    fputs (b.oom || sig.oom ? "out of memory\n" : b.data, stdout);
    ofr_buf_free (&b);
    ofr_buf_free (&sig);
}

static int
run (score_args *a, char *err, size_t errlen)
{
    lines hyp = { 0 }, refs[MAX_REFS] = { { 0 } };
    sums *s = ofr_calloc (1, sizeof *s);
    int rc = s ? ofr_mt_lines_read (a->hyp, &hyp, err, errlen) : ofr_errf (err, errlen, "out of memory");
    for (int k = 0; rc == 0 && k < a->nrefs; k++) {
        rc = ofr_mt_lines_read (a->refs[k], &refs[k], err, errlen);
        if (rc == 0 && refs[k].n != hyp.n)
            rc = ofr_errf (err, errlen, "%s has %zu lines but %s has %zu lines",
                           a->hyp, hyp.n, a->refs[k], refs[k].n);
    }
    for (size_t i = 0; rc == 0 && i < hyp.n; i++)
        rc = score_segment (a, &hyp, refs, a->refs, i, s, err, errlen);
    if (rc == 0 && a->json)
        print_json (a, s, hyp.n);
    else if (rc == 0)
        print_text (a, s);
    ofr_mt_lines_free (&hyp);
    for (int k = 0; k < a->nrefs; k++)
        ofr_mt_lines_free (&refs[k]);
    free (s);
    return rc;
}

int
ofr_cmd_score (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            usage (stdout);
            return 0;
        }
    char err[OFR_ERRLEN];
    score_args a;
    if (parse_args (argc, argv, &a, err, sizeof err) != 0) {
        fprintf (stderr, "offramp score: %s\n", err);
        usage (stderr);
        return 2;
    }
    char *suite_ref = NULL;
    if (a.suite) {
        if (find_suite_ref (&a, &suite_ref, err, sizeof err) != 0) {
            fprintf (stderr, "offramp score: %s\n", err);
            return 1;
        }
        a.refs[a.nrefs++] = suite_ref;
    }
    int rc = run (&a, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "offramp score: %s\n", err);
    free (suite_ref);
    return rc == 0 ? 0 : 1;
}
