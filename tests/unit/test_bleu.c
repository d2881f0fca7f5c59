/*  test_bleu.c -- corpus BLEU / chrF against sacreBLEU 2.4.3.

    What it shows, in order: 13a and intl tokenization, BLEU smoothing and
    effective order on hand-made statistics, multiple references, empty
    hypotheses, lowercasing, chrF on a hand-computed case, invalid UTF-8,
    sharding invariance, the published sacreBLEU figures for two WMT22
    systems (shared data), `offramp score` end to end, and a cross-check of
    random tricky segments and of whole WMT files against an independent
    Python restatement of sacreBLEU (tests/unit/mt_reference.py).

    Without ../shared/data the data-free parts still run, then the test
    exits 77 (skipped). */
#include "common/ofr_common.h"
#include "harness/commands.h"
#include "suites/mt_metrics.h"
#include "suites/mt_text.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_failures;

#define CHECK(cond, ...) do {                                          \
    if (!(cond)) {                                                     \
        fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
        fprintf (stderr, __VA_ARGS__);                                 \
        fputc ('\n', stderr);                                          \
        s_failures++;                                                  \
    }                                                                  \
} while (0)

static bool
near (double a, double b, double tol)
{
    return fabs (a - b) <= tol;
}

/* ---- tokenization ------------------------------------------------------ */

static void
check_tok (const char *in, ofr_mt_tokenizer tok, bool lc, const char *want)
{
    char err[256], *out = NULL;
    int rc = ofr_mt_tokenize (in, tok, lc, &out, err, sizeof err);
    CHECK (rc == 0, "tokenize '%s': %s", in, err);
    if (rc == 0)
        CHECK (strcmp (out, want) == 0, "tokenize %s%s '%s': got '%s', want '%s'",
               ofr_mt_tokenizer_name (tok), lc ? " lc" : "", in, out, want);
    free (out);
}

static void
test_tokenizers (void)
{
    /* Expected strings are what sacreBLEU's regexes produce (checked with
       Python's re in mt_reference.py). */
    static const char *const t13a[][2] = {
        { "Hello, world.", "Hello , world ." },
        { "It costs $3.50, or 3,000.5 euros.", "It costs $ 3.50 , or 3,000.5 euros ." },
        { "&quot;Hi&quot; &amp; &lt;b&gt;", "\" Hi \" & < b >" },
        { "&amp;lt;", "<" },                       /* sequential replace */
        { "A<skipped>B", "AB" },
        { "1990-2000 well-known", "1990 - 2000 well-known" },
        { "a..b,,c", "a . . b , , c" },
        { "Dr. Smith's (test) [x] {y} #1 @home 50% a/b",
          "Dr . Smith's ( test ) [ x ] { y } # 1 @ home 50 % a / b" },
        { "U.S.A.", "U . S . A ." },
        { "  spaced\xc2\xa0out\xe2\x80\xafnarrow  ", "spaced out narrow" }, /* NBSPs split */
        { "x-\ny\nz", "xy z" },
        { "Stra\xc3\x9f" "e \xe2\x80\x9eZitat\xe2\x80\x9c \xe2\x80\x93 gut\xe2\x80\xa6",
          "Stra\xc3\x9f" "e \xe2\x80\x9eZitat\xe2\x80\x9c \xe2\x80\x93 gut\xe2\x80\xa6" },
        { "3.", "3 ." },
        { ".5", ". 5" },
        { "a.5 5.a 5,5", "a . 5 5 . a 5,5" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof t13a / sizeof t13a[0]; i++)
        check_tok (t13a[i][0], OFR_TOK_13A, false, t13a[i][1]);
    static const char *const tintl[][2] = {
        { "Hello, world.", "Hello , world ." },
        { "1,000.5 and 2.", "1,000.5 and 2." },   /* mteval-v14 keeps "2." */
        { "$5 \xe2\x82\xac" "6 a+b", "$ 5 \xe2\x82\xac 6 a + b" },
        { "\xc2\xab" "Bonjour\xc2\xbb, dit-il.", "\xc2\xab Bonjour \xc2\xbb , dit - il ." },
        { "\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82\xe3\x83\x86", "\xe6\x97\xa5\xe6\x9c\xac \xe3\x80\x82 \xe3\x83\x86" },
    };
    for (size_t i = 0; i < sizeof tintl / sizeof tintl[0]; i++)
        check_tok (tintl[i][0], OFR_TOK_INTL, false, tintl[i][1]);
    check_tok (" a  b\t", OFR_TOK_NONE, false, "a b");
    check_tok ("Hello, World", OFR_TOK_13A, true, "hello , world");
    /* str.lower(): U+0130 -> "i" + U+0307; final sigma at a word end only */
    check_tok ("\xc4\xb0stanbul", OFR_TOK_NONE, true, "i\xcc\x87stanbul");
    check_tok ("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91",
               OFR_TOK_NONE, true, "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1");
}

/* ---- BLEU arithmetic --------------------------------------------------- */

static void
stats_of (double *st, const double m[4], const double t[4], double hyp, double ref)
{
    for (int n = 0; n < 4; n++) {
        st[OFR_BLEU_MATCH + n] = m[n];
        st[OFR_BLEU_TOTAL + n] = t[n];
    }
    st[OFR_BLEU_HYP_LEN] = hyp;
    st[OFR_BLEU_REF_LEN] = ref;
}

static double
geo (const double p[4], int k)
{
    double s = 0;
    for (int i = 0; i < k; i++)
        s += log (p[i]);
    return exp (s / k);
}

static void
test_smoothing (void)
{
    static const double m[4] = { 3, 1, 0, 0 }, t[4] = { 4, 3, 2, 1 };
    double st[OFR_BLEU_NSTATS];
    stats_of (st, m, t, 4, 5);
    double bp = exp (1 - 5.0 / 4.0);
    ofr_bleu_opts o = ofr_bleu_default_opts ();
    ofr_bleu_score s;

    /* exp: the k-th zero precision becomes 100 / (2^k * total) */
    ofr_bleu_compute (st, &o, &s);
    double pe[4] = { 75, 100.0 / 3, 100.0 / (2 * 2), 100.0 / (4 * 1) };
    CHECK (near (s.bp, bp, 1e-15), "bp %.17g", s.bp);
    for (int n = 0; n < 4; n++)
        CHECK (near (s.precisions[n], pe[n], 1e-12), "exp p%d %.17g", n + 1, s.precisions[n]);
    CHECK (near (s.score, bp * geo (pe, 4), 1e-12), "exp score %.17g", s.score);
    CHECK (near (s.ratio, 0.8, 1e-15), "ratio %.17g", s.ratio);

    /* floor: zero precisions become 100 * 0.1 / total */
    o.smooth = OFR_SMOOTH_FLOOR;
    ofr_bleu_compute (st, &o, &s);
    double pf[4] = { 75, 100.0 / 3, 100 * 0.1 / 2, 100 * 0.1 / 1 };
    CHECK (near (s.score, bp * geo (pf, 4), 1e-12), "floor score %.17g", s.score);
    o.smooth_value = 0.5;
    ofr_bleu_compute (st, &o, &s);
    CHECK (near (s.precisions[3], 50, 1e-12), "floor 0.5 p4 %.17g", s.precisions[3]);

    /* add-k: +1 to matches and totals of orders 2..4 */
    o.smooth = OFR_SMOOTH_ADD_K;
    o.smooth_value = -1;
    ofr_bleu_compute (st, &o, &s);
    double pa[4] = { 75, 100 * 2.0 / 4, 100 * 1.0 / 3, 100 * 1.0 / 2 };
    CHECK (near (s.score, bp * geo (pa, 4), 1e-12), "add-k score %.17g", s.score);
    CHECK (s.counts[1] == 2 && s.totals[1] == 4, "add-k counts");

    /* none: a zero precision zeroes the score */
    o.smooth = OFR_SMOOTH_NONE;
    ofr_bleu_compute (st, &o, &s);
    CHECK (s.score == 0 && s.precisions[2] == 0, "none score %.17g", s.score);

    /* no match at all: 0 whatever the smoothing (sacreBLEU #141) */
    static const double z[4] = { 0, 0, 0, 0 };
    stats_of (st, z, t, 4, 4);
    o.smooth = OFR_SMOOTH_ADD_K;
    ofr_bleu_compute (st, &o, &s);
    CHECK (s.score == 0 && s.precisions[0] == 0 && s.bp == 1, "no match");

    /* effective order: orders without n-grams are left out */
    static const double m2[4] = { 2, 1, 0, 0 }, t2[4] = { 2, 1, 0, 0 };
    stats_of (st, m2, t2, 2, 2);
    o = ofr_bleu_default_opts ();
    o.effective_order = true;
    ofr_bleu_compute (st, &o, &s);
    CHECK (near (s.score, 100, 1e-12), "effective order score %.17g", s.score);
    o.effective_order = false;
    ofr_bleu_compute (st, &o, &s);
    CHECK (s.score < 1e-100, "without effective order %.17g", s.score);

    ofr_buf b;
    ofr_buf_init (&b);
    o.smooth = OFR_SMOOTH_FLOOR;
    o.lowercase = true;
    ofr_bleu_signature (&o, 2, &b);
    CHECK (strcmp (b.data, "nrefs:2|case:lc|eff:no|tok:13a|smooth:floor[0.10]|version:"
                   OFR_MT_VERSION) == 0, "signature %s", b.data);
    ofr_buf_free (&b);
}

static void
bleu_seg (const char *hyp, const char *const *refs, int nrefs, const ofr_bleu_opts *o,
          double *st)
{
    char err[256];
    memset (st, 0, OFR_BLEU_NSTATS * sizeof *st);
    int rc = ofr_bleu_segment_stats (hyp, refs, nrefs, o, st, err, sizeof err);
    CHECK (rc == 0, "bleu '%s': %s", hyp, err);
}

static void
test_segments (void)
{
    ofr_bleu_opts o = ofr_bleu_default_opts ();
    double st[OFR_BLEU_NSTATS];

    /* clipping by the maximum count over references */
    const char *refs[] = { "the cat", "the the dog" };
    bleu_seg ("the the the the", refs, 2, &o, st);
    CHECK (st[OFR_BLEU_MATCH] == 2 && st[OFR_BLEU_TOTAL] == 4, "clip %g/%g",
           st[OFR_BLEU_MATCH], st[OFR_BLEU_TOTAL]);
    CHECK (st[OFR_BLEU_MATCH + 1] == 1 && st[OFR_BLEU_TOTAL + 1] == 3, "clip bigram");
    /* closest reference length, ties to the shorter: 2 and 3 around 4 -> 3 */
    CHECK (st[OFR_BLEU_HYP_LEN] == 4 && st[OFR_BLEU_REF_LEN] == 3, "ref_len %g",
           st[OFR_BLEU_REF_LEN]);
    const char *tie[] = { "a b c d e f", "a b c d" };
    bleu_seg ("a b c d e", tie, 2, &o, st);
    CHECK (st[OFR_BLEU_REF_LEN] == 4, "tie ref_len %g", st[OFR_BLEU_REF_LEN]);

    /* empty hypothesis: no n-grams, hyp_len 0, brevity penalty 0 */
    const char *one[] = { "Ein Haus ." };
    bleu_seg ("", one, 1, &o, st);
    CHECK (st[OFR_BLEU_HYP_LEN] == 0 && st[OFR_BLEU_REF_LEN] == 3 && st[OFR_BLEU_TOTAL] == 0,
           "empty hyp");
    ofr_bleu_score s;
    ofr_bleu_compute (st, &o, &s);
    CHECK (s.score == 0 && s.bp == 0, "empty hyp score %g bp %g", s.score, s.bp);

    /* lowercase */
    const char *lc[] = { "the cat sat on the mat" };
    o.effective_order = true;
    CHECK (ofr_bleu_sentence ("The CAT sat on the MAT", lc, 1, &o, &s, NULL, 0) == 0, "sent");
    CHECK (s.score < 50, "mixed case %g", s.score);
    o.lowercase = true;
    CHECK (ofr_bleu_sentence ("The CAT sat on the MAT", lc, 1, &o, &s, NULL, 0) == 0, "sent");
    CHECK (near (s.score, 100, 1e-9), "lowercase %g", s.score);

    /* sentence BLEU: two words score 100 only with effective order */
    const char *two[] = { "Hello world" };
    o = ofr_bleu_default_opts ();
    o.effective_order = true;
    CHECK (ofr_bleu_sentence ("Hello world", two, 1, &o, &s, NULL, 0) == 0
           && near (s.score, 100, 1e-9), "eff sentence %g", s.score);
    o.effective_order = false;
    CHECK (ofr_bleu_sentence ("Hello world", two, 1, &o, &s, NULL, 0) == 0
           && s.score < 1e-100, "non-eff sentence %g", s.score);
}

static void
test_chrf (void)
{
    ofr_chrf_opts o = ofr_chrf_default_opts ();
    CHECK (ofr_chrf_nstats (&o) == 18, "nstats");
    double st[OFR_CHRF_MAX_NSTATS];
    char err[256];
    /* "abc" vs "abd": 1-grams 3/3/2, 2-grams 2/2/1, 3-grams 1/1/0, no
       4..6-grams in the reference so the hypothesis counts are 0 too. */
    const char *r1[] = { "a b d" };       /* whitespace is removed */
    CHECK (ofr_chrf_segment_stats ("abc", r1, 1, &o, st, err, sizeof err) == 0, "%s", err);
    static const double want[18] = { 3, 3, 2, 2, 2, 1, 1, 1, 0 };
    for (int i = 0; i < 18; i++)
        CHECK (st[i] == want[i], "chrF stat %d = %g, want %g", i, st[i], want[i]);
    double avg = (2.0 / 3 + 1.0 / 2 + 0) / 3;      /* P = R over 3 orders */
    CHECK (near (ofr_chrf_compute (st, &o), 100 * avg, 1e-12), "chrF %.17g",
           ofr_chrf_compute (st, &o));

    /* several references: the best one's statistics */
    const char *r2[] = { "xyz", "abc" };
    CHECK (ofr_chrf_segment_stats ("abc", r2, 2, &o, st, err, sizeof err) == 0, "%s", err);
    CHECK (near (ofr_chrf_compute (st, &o), 100, 1e-12), "best ref");

    /* characters are code points, not bytes */
    const char *r3[] = { "\xc3\xa9t\xc3\xa9" };
    CHECK (ofr_chrf_segment_stats ("\xc3\xa9t\xc3\xa9", r3, 1, &o, st, err, sizeof err) == 0, "%s", err);
    CHECK (st[0] == 3 && st[2] == 3 && st[3 * 2] == 1 && st[3 * 3] == 0, "code points");

    /* empty hypothesis and lowercase */
    CHECK (ofr_chrf_segment_stats ("", r1, 1, &o, st, err, sizeof err) == 0
           && ofr_chrf_compute (st, &o) == 0, "empty hyp chrF");
    const char *r4[] = { "Haus" };
    o.lowercase = true;
    CHECK (ofr_chrf_segment_stats ("HAUS", r4, 1, &o, st, err, sizeof err) == 0
           && near (ofr_chrf_compute (st, &o), 100, 1e-12), "lowercase chrF");

    ofr_buf b;
    ofr_buf_init (&b);
    o.word_order = 2;
    ofr_chrf_name (&o, &b);
    ofr_buf_puts (&b, " ");
    ofr_chrf_signature (&o, 1, &b);
    CHECK (strcmp (b.data, "chrF2++ nrefs:1|case:lc|eff:yes|nc:6|nw:2|space:no|version:"
                   OFR_MT_VERSION) == 0, "chrF signature '%s'", b.data);
    ofr_buf_free (&b);
}

static void
test_invalid_utf8 (void)
{
    static const char *const bad[] = {
        "abc\xff", "\xc0\xaf", "x\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
    };
    ofr_bleu_opts bo = ofr_bleu_default_opts ();
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    double st[OFR_CHRF_MAX_NSTATS];
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *refs[] = { "fine", bad[i] };
        err[0] = 0;
        CHECK (ofr_bleu_segment_stats (bad[i], refs, 1, &bo, st, err, sizeof err) == -1
               && strstr (err, "hypothesis: invalid UTF-8 at byte"), "bleu bad %zu: '%s'", i, err);
        CHECK (ofr_chrf_segment_stats ("ok", refs, 2, &co, st, err, sizeof err) == -1
               && strstr (err, "reference 2: invalid UTF-8"), "chrf bad %zu: '%s'", i, err);
    }
    CHECK (ofr_bleu_segment_stats ("abc\xff", (const char *[]) { "a" }, 1, &bo, st, err,
                                   sizeof err) == -1 && strstr (err, "at byte 4"), "offset '%s'", err);
}

/* ---- corpora ----------------------------------------------------------- */

/* "<dir>/translation/wmt22/<sub>" (caller frees). */
static char *
wmt (const char *dir, const char *sub)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/translation/wmt22/%s", dir, sub);
    return b.data;
}

typedef struct {
    char  *data;
    char **line;
    size_t n;
} corpus;

/* Lines as `offramp score` reads them ('\n' split, Python rstrip). */
static int
corpus_read (const char *path, corpus *c)
{
    size_t size, cap = 0;
    char err[256];
    memset (c, 0, sizeof *c);
    if (ofr_read_file (path, &c->data, &size, err, sizeof err) != 0)
        return -1;
    for (size_t start = 0; start < size;) {
        char *nl = memchr (c->data + start, '\n', size - start);
        size_t len = nl ? (size_t) (nl - c->data - start) : size - start;
        if (ofr_grow ((void **) &c->line, &cap, c->n + 1, sizeof *c->line) != 0)
            return -1;
        c->data[start + ofr_utf8_rstrip_len (c->data + start, len)] = 0;
        c->line[c->n++] = c->data + start;
        start += len + 1;
    }
    return 0;
}

static void
corpus_free (corpus *c)
{
    free (c->data);
    free (c->line);
    memset (c, 0, sizeof *c);
}

/* Per-segment statistics [n][nst] of a corpus for BLEU (nst 10) or chrF. */
static double *
corpus_stats (const corpus *h, const corpus *r, const ofr_bleu_opts *bo,
              const ofr_chrf_opts *co, int nst)
{
    double *all = ofr_calloc (h->n * (size_t) nst, sizeof *all);
    char err[256];
    for (size_t i = 0; all && i < h->n; i++) {
        const char *refs[] = { r->line[i] };
        int rc = bo ? ofr_bleu_segment_stats (h->line[i], refs, 1, bo, all + i * nst, err, sizeof err)
                    : ofr_chrf_segment_stats (h->line[i], refs, 1, co, all + i * nst, err, sizeof err);
        CHECK (rc == 0, "segment %zu: %s", i + 1, err);
    }
    return all;
}

static void
sum_rows (const double *all, size_t n, int nst, double *sum)
{
    memset (sum, 0, (size_t) nst * sizeof *sum);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < nst; j++)
            sum[j] += all[i * nst + j];
}

/*  Stats pooled over 3 random shards (each shard summed on its own, as a
    worker would, then the shard sums added) equal the whole corpus sum. */
static void
check_sharding (const double *all, size_t n, int nst, uint64_t seed)
{
    double whole[OFR_CHRF_MAX_NSTATS], shard[3][OFR_CHRF_MAX_NSTATS] = { { 0 } },
           pooled[OFR_CHRF_MAX_NSTATS] = { 0 };
    sum_rows (all, n, nst, whole);
    ofr_rng rng;
    ofr_rng_seed (&rng, seed);
    for (size_t i = 0; i < n; i++) {
        int s = (int) (ofr_rng_u64 (&rng) % 3);
        for (int j = 0; j < nst; j++)
            shard[s][j] += all[i * nst + j];
    }
    for (int s = 2; s >= 0; s--)
        for (int j = 0; j < nst; j++)
            pooled[j] += shard[s][j];
    CHECK (memcmp (whole, pooled, (size_t) nst * sizeof *whole) == 0,
           "sharded sums differ from the whole (nst %d)", nst);
}

static char *
fmt_bleu (const ofr_bleu_score *s)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_bleu_format (s, &b);
    return b.data;
}

/*  sacreBLEU 2.4.3, default settings, as published in shared/README.md. */
static void
check_wmt (const char *dir, const char *hyp, const char *ref, const char *want_bleu,
           const char *want_chrf)
{
    char *hp = wmt (dir, hyp), *rp = wmt (dir, ref);
    corpus h, r;
    CHECK (corpus_read (hp, &h) == 0 && corpus_read (rp, &r) == 0 && h.n == r.n, "read %s", hp);
    ofr_bleu_opts bo = ofr_bleu_default_opts ();
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    double *bs = corpus_stats (&h, &r, &bo, NULL, OFR_BLEU_NSTATS);
    double *cs = corpus_stats (&h, &r, NULL, &co, 18);
    double bsum[OFR_BLEU_NSTATS], csum[18];
    sum_rows (bs, h.n, OFR_BLEU_NSTATS, bsum);
    sum_rows (cs, h.n, 18, csum);
    ofr_bleu_score s;
    ofr_bleu_compute (bsum, &bo, &s);
    char *txt = fmt_bleu (&s);
    CHECK (strcmp (txt, want_bleu) == 0, "%s: BLEU '%s', want '%s'", hyp, txt, want_bleu);
    char chrf[32];
    snprintf (chrf, sizeof chrf, "%.2f", ofr_chrf_compute (csum, &co));
    CHECK (strcmp (chrf, want_chrf) == 0, "%s: chrF2 %s, want %s", hyp, chrf, want_chrf);
    printf ("%s: BLEU = %s (%.6f), chrF2 = %s\n", hyp, txt, s.score, chrf);
    check_sharding (bs, h.n, OFR_BLEU_NSTATS, 1);
    check_sharding (bs, h.n, OFR_BLEU_NSTATS, 2);
    check_sharding (cs, h.n, 18, 3);
    free (txt);
    free (bs);
    free (cs);
    free (hp);
    free (rp);
    corpus_free (&h);
    corpus_free (&r);
}

/* ---- offramp score ------------------------------------------------------ */

/* Runs ofr_cmd_score with stdout and stderr captured into *out. */
static int
run_score (const char *tmpdir, char **out, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "score";
    va_list ap;
    va_start (ap, out);
    for (char *a; argc < 31 && (a = va_arg (ap, char *));)
        argv[argc++] = a;
    va_end (ap);
    argv[argc] = NULL;
    char path[512];     /* tmpdir is this test's own short mkdtemp path */
    snprintf (path, sizeof path, "%s/captured.txt", tmpdir);
    fflush (stdout);
    fflush (stderr);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int so = dup (1), se = dup (2);
    dup2 (fd, 1);
    dup2 (fd, 2);
    int rc = ofr_cmd_score (argc, argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (so, 1);
    dup2 (se, 2);
    close (so);
    close (se);
    close (fd);
    char err[256];
    if (ofr_read_file (path, out, NULL, err, sizeof err) != 0)
        *out = ofr_strdup ("");
    return rc;
}

static void
write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "wb");
    CHECK (f != NULL, "cannot write %s", path);
    if (f) {
        fputs (text, f);
        fclose (f);
    }
}

static void
test_cmd_errors (const char *tmp)
{
    char hyp[512], ref[512], bad[512], *out;
    snprintf (hyp, sizeof hyp, "%s/hyp.txt", tmp);
    snprintf (ref, sizeof ref, "%s/ref.txt", tmp);
    snprintf (bad, sizeof bad, "%s/bad.txt", tmp);
    write_file (hyp, "the cat sat\n\nEin Haus.\r\n");       /* empty line = empty hyp */
    write_file (ref, "the cat sat on the mat\nnothing here\nEin Haus .");
    write_file (bad, "ok\nfine\nbroken \xc3\x28 here\n");

    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", ref, NULL) == 0, "score: %s", out);
    CHECK (strstr (out, "BLEU = ") && strstr (out, "hyp_len = 6 ref_len = 11")
           && strstr (out, "chrF2 = ") && strstr (out, "tok:13a|smooth:exp|version:"),
           "text output:\n%s", out);
    free (out);
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", ref, "--metric", "chrf++",
                      "--format", "json", NULL) == 0, "json: %s", out);
    CHECK (strstr (out, "\"chrf\": ") && !strstr (out, "\"bleu\"")
           && strstr (out, "\"name\": \"chrF2++\"") && strstr (out, "nw:2"), "json:\n%s", out);
    free (out);

    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", bad, NULL) == 1, "bad utf-8");
    CHECK (strstr (out, "bad.txt:3: invalid UTF-8 at byte 8"), "utf-8 message: %s", out);
    free (out);
    write_file (bad, "one\ntwo\n");
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", bad, NULL) == 1, "line count");
    CHECK (strstr (out, "hyp.txt has 3 lines but") && strstr (out, "bad.txt has 2 lines"),
           "count message: %s", out);
    free (out);
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", ref, "--smooth", "magic", NULL) == 2,
           "bad smooth");
    CHECK (strstr (out, "unknown method 'magic'"), "smooth message: %s", out);
    free (out);
    CHECK (run_score (tmp, &out, "--hyp", hyp, NULL) == 2, "missing ref");
    free (out);
    CHECK (run_score (tmp, &out, "--help", NULL) == 0 && strstr (out, "usage: offramp score"),
           "help");
    free (out);
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--suite", "nope", "--data", tmp, NULL) == 1
           && strstr (out, "unknown suite 'nope'"), "bad suite: %s", out);
    free (out);
}

static void
test_cmd_wmt (const char *tmp, const char *dir)
{
    char *out, *hyp = wmt (dir, "system-outputs/generaltest2022.en-de.hyp.Online-B.de");
    char *ref = wmt (dir, "generaltest2022.en-de.ref.A.de");
    const char *want =
        "BLEU = 38.37 66.9/44.1/31.6/23.3 (BP = 1.000 ratio = 1.005 hyp_len = 39114 ref_len = 38914)\n"
        "  signature: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" OFR_MT_VERSION "\n"
        "chrF2 = 64.64\n"
        "  signature: nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:" OFR_MT_VERSION "\n";
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--ref", ref, NULL) == 0, "wmt: %s", out);
    CHECK (strcmp (out, want) == 0, "wmt text output:\n%s", out);
    free (out);
    CHECK (run_score (tmp, &out, "--hyp", hyp, "--suite", "wmt22_en_de", "--data", dir,
                      "--format", "json", NULL) == 0, "suite: %s", out);
    CHECK (strstr (out, "\"bleu\": 38.37,") && strstr (out, "\"chrf\": 64.64,")
           && strstr (out, "\"segments\": 2037") && strstr (out, "\"hyp_len\": 39114"),
           "suite json:\n%s", out);
    free (out);
    free (hyp);
    free (ref);
}

/* ---- cross-check with the Python reference ------------------------------ */

static const char *const s_atoms[] = {
    "the", "cat", "Haus", ("Stra\xc3\x9f" "e"), "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xa3",
    "\xc4\xb0stanbul", "na\xc3\xafve", "e\xcc\x81", "\xe6\xbc\xa2\xe5\xad\x97", "\xf0\x9f\x98\x80",
    ".", ",", "-", "'", "\"", "&quot;", "&amp;", "&lt;", "&gt;", "&amp;lt;", "<skipped>",
    "(", ")", "$", "\xe2\x82\xac", "%", "\xe2\x80\xa6", "\xc2\xab", "\xc2\xbb", "\xe2\x80\x9e",
    "\xe2\x80\x94", "\xe2\x80\x99", "+", "=", "^", "`", "~", "|", "3", "1990", "3.5", "3,000",
    "\xd9\xa3", "\xc2\xbd", "\xcd\x85", "\xc7\x85", "A", "Dr.", "U.S.", "\n", "-\n",
    " ", " ", " ", "  ", "\xc2\xa0", "\xe2\x80\xaf", "\xe2\x80\xa8", "\xe3\x80\x80", "\t",
};

static void
random_text (ofr_rng *r, ofr_buf *b)
{
    size_t n_atoms = sizeof s_atoms / sizeof s_atoms[0];
    int len = (int) (ofr_rng_u64 (r) % 16);
    for (int i = 0; i < len; i++) {
        ofr_buf_puts (b, s_atoms[ofr_rng_u64 (r) % n_atoms]);
        if (ofr_rng_u64 (r) % 3)
            ofr_buf_puts (b, " ");
    }
    if (!b->data)
        ofr_buf_puts (b, "");
}

static void
json_nums (ofr_buf *b, const char *key, const double *v, int n)
{
    ofr_buf_printf (b, "\"%s\": [", key);
    for (int i = 0; i < n; i++) {
        if (i)
            ofr_buf_puts (b, ", ");
        ofr_buf_json_num (b, v[i]);
    }
    ofr_buf_puts (b, "]");
}

static void
case_results (ofr_buf *b, const char *hyp, const char *const *refs, int nrefs)
{
    char err[256], key[64], *tok;
    double st[OFR_CHRF_MAX_NSTATS];
    static const ofr_mt_tokenizer toks[] = { OFR_TOK_13A, OFR_TOK_INTL, OFR_TOK_NONE };
    for (int t = 0; t < 3; t++)
        for (int lc = 0; lc < 2; lc++) {
            snprintf (key, sizeof key, "%s:%s", ofr_mt_tokenizer_name (toks[t]), lc ? "lc" : "mc");
            ofr_bleu_opts o = ofr_bleu_default_opts ();
            o.tokenize = toks[t];
            o.lowercase = lc;
            CHECK (ofr_mt_tokenize (hyp, toks[t], lc, &tok, err, sizeof err) == 0, "%s", err);
            ofr_buf_printf (b, "\"tok:%s\": ", key);
            ofr_buf_json_str (b, tok);
            free (tok);
            CHECK (ofr_bleu_segment_stats (hyp, refs, nrefs, &o, st, err, sizeof err) == 0, "%s", err);
            ofr_buf_puts (b, ", ");
            char k2[80];
            snprintf (k2, sizeof k2, "bleu:%s", key);
            json_nums (b, k2, st, OFR_BLEU_NSTATS);
            ofr_buf_puts (b, ", ");
        }
    static const int cfg[][4] = { { 6, 0, 0, 0 }, { 6, 0, 1, 0 }, { 6, 2, 0, 0 },
                                  { 6, 2, 1, 0 }, { 4, 1, 0, 1 } };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        ofr_chrf_opts o = ofr_chrf_default_opts ();
        o.char_order = cfg[c][0];
        o.word_order = cfg[c][1];
        o.lowercase = cfg[c][2];
        o.whitespace = cfg[c][3];
        CHECK (ofr_chrf_segment_stats (hyp, refs, nrefs, &o, st, err, sizeof err) == 0, "%s", err);
        snprintf (key, sizeof key, "chrf:%d:%d:%s:%s", cfg[c][0], cfg[c][1],
                  cfg[c][2] ? "lc" : "mc", cfg[c][3] ? "ws" : "nows");
        json_nums (b, key, st, ofr_chrf_nstats (&o));
        ofr_buf_puts (b, ", ");
    }
    static const ofr_bleu_smooth sm[] = { OFR_SMOOTH_EXP, OFR_SMOOTH_FLOOR,
                                          OFR_SMOOTH_ADD_K, OFR_SMOOTH_NONE };
    for (int k = 0; k < 4; k++) {
        ofr_bleu_opts o = ofr_bleu_default_opts ();
        o.smooth = sm[k];
        o.effective_order = true;
        ofr_bleu_score s;
        CHECK (ofr_bleu_sentence (hyp, refs, nrefs, &o, &s, err, sizeof err) == 0, "%s", err);
        double v[6] = { s.score, s.precisions[0], s.precisions[1], s.precisions[2],
                        s.precisions[3], s.bp };
        snprintf (key, sizeof key, "sent:%s", ofr_bleu_smooth_name (sm[k]));
        json_nums (b, key, v, 6);
        ofr_buf_puts (b, k < 3 ? ", " : "");
    }
}

static void
add_cases (ofr_buf *b, int n)
{
    ofr_rng r;
    ofr_rng_seed (&r, 20240243);
    ofr_buf_puts (b, "\"cases\": [");
    for (int i = 0; i < n; i++) {
        ofr_buf hyp, ref[3];
        ofr_buf_init (&hyp);
        random_text (&r, &hyp);
        int nrefs = 1 + (int) (ofr_rng_u64 (&r) % 3);
        const char *refs[3];
        for (int k = 0; k < nrefs; k++) {
            ofr_buf_init (&ref[k]);
            /* half the references share the hypothesis' start, for matches */
            if (ofr_rng_u64 (&r) % 2) {
                size_t cut = hyp.len / 2;     /* on a UTF-8 character boundary */
                while (cut > 0 && (hyp.data[cut] & 0xC0) == 0x80)
                    cut--;
                ofr_buf_append (&ref[k], hyp.data, cut);
            }
            random_text (&r, &ref[k]);
            refs[k] = ref[k].data;
        }
        ofr_buf_printf (b, "%s{\"hyp\": ", i ? ", " : "");
        ofr_buf_json_str (b, hyp.data);
        ofr_buf_puts (b, ", \"refs\": [");
        for (int k = 0; k < nrefs; k++) {
            ofr_buf_puts (b, k ? ", " : "");
            ofr_buf_json_str (b, refs[k]);
        }
        ofr_buf_puts (b, "], \"c\": {");
        case_results (b, hyp.data, refs, nrefs);
        ofr_buf_puts (b, "}}");
        ofr_buf_free (&hyp);
        for (int k = 0; k < nrefs; k++)
            ofr_buf_free (&ref[k]);
    }
    ofr_buf_puts (b, "]");
}

/* Corpus-level BLEU for every smoothing method, and chrF, from one summed
   vector, so the Python side checks ofr_bleu_compute/ofr_chrf_compute. */
static void
add_corpus (ofr_buf *b, const char *what, const double *bsum, const double *csum)
{
    static const char *const sm[] = { "exp", "floor", "add-k", "none" };
    for (int k = 0; k < 8; k++) {
        ofr_bleu_opts o = ofr_bleu_default_opts ();
        ofr_bleu_smooth_parse (sm[k % 4], &o.smooth);
        o.effective_order = k >= 4;
        ofr_bleu_score s;
        ofr_bleu_compute (bsum, &o, &s);
        double v[6] = { s.score, s.precisions[0], s.precisions[1], s.precisions[2],
                        s.precisions[3], s.bp };
        ofr_buf_printf (b, ", {\"what\": \"%s BLEU %s eff %d\", \"opts\": {\"metric\": \"bleu\", "
                        "\"smooth\": \"%s\", \"eff\": %s}, ", what, sm[k % 4], k >= 4, sm[k % 4],
                        k >= 4 ? "true" : "false");
        json_nums (b, "sum", bsum, OFR_BLEU_NSTATS);
        ofr_buf_puts (b, ", ");
        json_nums (b, "c", v, 6);
        ofr_buf_puts (b, "}");
    }
    ofr_chrf_opts co = ofr_chrf_default_opts ();
    for (int eps = 0; eps < 2; eps++) {
        co.eps_smoothing = eps;
        double v = ofr_chrf_compute (csum, &co);
        ofr_buf_printf (b, ", {\"what\": \"%s chrF eps %d\", \"opts\": {\"metric\": \"chrf\", "
                        "\"eps\": %s}, ", what, eps, eps ? "true" : "false");
        json_nums (b, "sum", csum, 18);
        ofr_buf_puts (b, ", \"c\": ");
        ofr_buf_json_num (b, v);
        ofr_buf_puts (b, "}");
    }
}

/* Whole WMT files under non-default options: summed statistics. */
static void
add_files (ofr_buf *b, const char *dir, bool *first)
{
    static const char *const pairs[][2] = {
        { "system-outputs/generaltest2022.en-de.hyp.Online-B.de", "generaltest2022.en-de.ref.A.de" },
        { "system-outputs/generaltest2022.de-en.hyp.Online-A.en", "generaltest2022.de-en.ref.A.en" },
    };
    for (int p = 0; p < 2; p++) {
        char *hp = wmt (dir, pairs[p][0]), *rp = wmt (dir, pairs[p][1]);
        corpus h, r;
        if (corpus_read (hp, &h) != 0 || corpus_read (rp, &r) != 0) {
            CHECK (0, "cannot read %s or %s", hp, rp);
            free (hp);
            free (rp);
            return;
        }
        for (int k = 0; k < 4; k++) {
            ofr_bleu_opts bo = ofr_bleu_default_opts ();
            ofr_chrf_opts co = ofr_chrf_default_opts ();
            bool bleu = k < 2;
            bo.tokenize = k == 0 ? OFR_TOK_INTL : OFR_TOK_NONE;
            bo.lowercase = co.lowercase = k == 0 || k == 3;
            co.word_order = k == 2 ? 2 : 0;
            int nst = bleu ? OFR_BLEU_NSTATS : ofr_chrf_nstats (&co);
            double *all = corpus_stats (&h, &r, bleu ? &bo : NULL, &co, nst);
            double sum[OFR_CHRF_MAX_NSTATS];
            sum_rows (all, h.n, nst, sum);
            free (all);
            ofr_buf_printf (b, "%s{\"what\": \"%s option set %d\", \"hyp\": ", *first ? "" : ", ",
                            pairs[p][0], k);
            ofr_buf_json_str (b, hp);
            ofr_buf_puts (b, ", \"refs\": [");
            ofr_buf_json_str (b, rp);
            ofr_buf_printf (b, "], \"opts\": {\"metric\": \"%s\", \"tok\": \"%s\", \"lc\": %s, "
                            "\"nw\": %d}, ", bleu ? "bleu" : "chrf",
                            ofr_mt_tokenizer_name (bo.tokenize),
                            bo.lowercase ? "true" : "false", co.word_order);
            json_nums (b, "c", sum, nst);
            ofr_buf_puts (b, "}");
            *first = false;
        }
        corpus_free (&h);
        corpus_free (&r);
        free (hp);
        free (rp);
    }
}

static void
test_python (const char *tmp, const char *data_dir, const double *bsum, const double *csum)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    ofr_buf script, cmd;
    ofr_buf_init (&script);
    ofr_buf_init (&cmd);
    ofr_buf_printf (&script, "%s/tests/unit/mt_reference.py", src ? src : ".");
    struct stat sb;
    if (stat ("/usr/bin/python3", &sb) != 0 || stat (script.data, &sb) != 0) {
        printf ("note: /usr/bin/python3 or %s missing, Python cross-check skipped\n",
                script.data);
        ofr_buf_free (&script);
        return;
    }
    char json[512];     /* tmp is this test's own short mkdtemp path */
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "{");
    add_cases (&b, 300);
    ofr_buf_puts (&b, ", \"corpus\": [{\"what\": \"dummy chrF\", \"opts\": {\"metric\": "
                  "\"chrf\"}, \"sum\": [1,1,1], \"c\": 100}");
    if (bsum)
        add_corpus (&b, "wmt22 en-de", bsum, csum);
    ofr_buf_puts (&b, "], \"files\": [");
    bool first = true;
    if (data_dir)
        add_files (&b, data_dir, &first);
    ofr_buf_puts (&b, "]}\n");
    CHECK (!b.oom, "out of memory building JSON");
    snprintf (json, sizeof json, "%s/cases.json", tmp);
    write_file (json, b.data);
    ofr_buf_free (&b);
    ofr_buf_printf (&cmd, "/usr/bin/python3 '%s' '%s'", script.data, json);
    fflush (stdout);
    int rc = system (cmd.data);
    ofr_buf_free (&script);
    ofr_buf_free (&cmd);
    CHECK (rc == 0, "Python reference disagrees (exit %d); cases in %s", rc, json);
}

/* ---- main -------------------------------------------------------------- */

/* $OFFRAMP_DATA, else $OFR_SOURCE_DIR/../shared/data, if it holds WMT22
   (caller frees), else NULL. */
static char *
find_data (void)
{
    const char *env = getenv ("OFFRAMP_DATA");
    const char *src = getenv ("OFR_SOURCE_DIR");
    ofr_buf b;
    ofr_buf_init (&b);
    if (env && *env)
        ofr_buf_puts (&b, env);
    else
        ofr_buf_printf (&b, "%s/../shared/data", src ? src : "..");
    char *probe = wmt (b.data, "system-outputs");
    struct stat sb;
    bool ok = probe && stat (probe, &sb) == 0;
    free (probe);
    if (!ok)
        ofr_buf_free (&b);
    return ok ? b.data : NULL;
}

int
main (void)
{
    char tmp[] = "/tmp/test_bleu.XXXXXX";
    if (!mkdtemp (tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    test_tokenizers ();
    test_smoothing ();
    test_segments ();
    test_chrf ();
    test_invalid_utf8 ();
    test_cmd_errors (tmp);

    char *data = find_data ();
    double bsum[OFR_BLEU_NSTATS], csum[18];
    if (data) {
        check_wmt (data, "system-outputs/generaltest2022.en-de.hyp.Online-B.de", "generaltest2022.en-de.ref.A.de",
                   "38.37 66.9/44.1/31.6/23.3 (BP = 1.000 ratio = 1.005 hyp_len = 39114 ref_len = 38914)",
                   "64.64");
        check_wmt (data, "system-outputs/generaltest2022.de-en.hyp.Online-A.en", "generaltest2022.de-en.ref.A.en",
                   "33.29 66.5/41.1/27.6/19.1 (BP = 0.961 ratio = 0.962 hyp_len = 36205 ref_len = 37634)",
                   "58.43");
        test_cmd_wmt (tmp, data);
        /* the en-de sums again, for the Python side's corpus formulas */
        char *hp = wmt (data, "system-outputs/generaltest2022.en-de.hyp.Online-B.de");
        char *rp = wmt (data, "generaltest2022.en-de.ref.A.de");
        corpus h, r;
        ofr_bleu_opts bo = ofr_bleu_default_opts ();
        ofr_chrf_opts co = ofr_chrf_default_opts ();
        if (corpus_read (hp, &h) == 0 && corpus_read (rp, &r) == 0) {
            double *bs = corpus_stats (&h, &r, &bo, NULL, OFR_BLEU_NSTATS);
            double *cs = corpus_stats (&h, &r, NULL, &co, 18);
            sum_rows (bs, h.n, OFR_BLEU_NSTATS, bsum);
            sum_rows (cs, h.n, 18, csum);
            free (bs);
            free (cs);
            corpus_free (&h);
            corpus_free (&r);
        }
        free (hp);
        free (rp);
    }
    test_python (tmp, data, data ? bsum : NULL, csum);

    char cmd[256];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (s_failures == 0 && system (cmd) != 0)
        fprintf (stderr, "note: could not remove %s\n", tmp);
    bool have_data = data != NULL;
    free (data);
    if (s_failures) {
        fprintf (stderr, "test_bleu: %d check(s) failed\n", s_failures);
        return 1;
    }
    if (!have_data) {
        printf ("SKIP: shared data (../shared/data/translation/wmt22) not found; "
                "the data-free checks passed\n");
        return 77;
    }
    printf ("test_bleu: all checks passed\n");
    return 0;
}
