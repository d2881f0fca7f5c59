/*  coqa.c -- CoQA, the conversational QA data set (Reddy, Chen, Manning
    2019), as a decoder-LM generation suite (see coqa.h, lm_suite.h).

    Data: the official JSON, <data>/coqa/coqa-<split>-v1.0.json (split
    "dev", alias "validation", or "train"; download it from
    https://stanfordnlp.github.io/coqa/ and point --data at the directory
    holding coqa/):
        {"version": ..., "data": [{"id", "story",
          "questions": [{"turn_id", "input_text"}, ...],
          "answers":   [{"turn_id", "input_text", "span_text", ...}, ...],
          "additional_answers": {"0": [<answers>], "1": [...], ...}}]}
    answers and every additional_answers list have one entry per question
    with the same turn_id (as the official scorer requires).

    Examples: every question turn, id "<story id>_<turn_id>".

    Prompt (lm-evaluation-harness tasks/coqa, doc_to_text): zero-shot,
        <story> "\n\n"
        then for each earlier turn k: "Q: " q_k "\n\n" "A: " a_k "\n\n"
        then "Q: " q_i "\n\n" "A:"
    where a_k is the `answers` input_text (the primary gold).

    Task: greedy generation of up to COQA_MAX_NEW tokens, stopping after
    the first token whose text holds "\n" (lm-eval stops at "\nQ:"; a
    newline is where every CoQA answer ends, and a short stop is what a
    small model needs). The prediction is the generated text up to the
    first "\n".

    Scoring: the official evaluate-v1.0.py. normalize_answer = lowercase,
    remove ASCII punctuation (Python's string.punctuation), remove the
    words a/an/the, collapse whitespace; EM = normalised strings equal;
    F1 = token F1 of the normalised words (1 if both are empty, 0 if just
    one is). Gold answers = answers[i] then each additional_answers list's
    entry i, in file order, not deduplicated (lm-eval drops case-insensitive
    duplicates; the official scorer keeps them). With n > 1 golds the turn
    score is, for each gold i, the max over the other n - 1 golds, averaged
    over i (leave-one-out, comparable to human performance); with one gold
    it is that gold's score. "unknown" answers are ordinary strings.
    Sufficient stats per example: (f1, em) in [0, 1]; metrics f1 and em
    are their means x 100 (the official overall scores), plus the common
    decoder tail.

    Deviations of the normaliser, all on non-ASCII text: only ASCII is
    lowercased and only ASCII whitespace splits words, and an article
    glued to a non-ASCII non-word character ("the’s") is kept. */
#include "coqa.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COQA_MAX_NEW 32

/* ---- the official scorer ---------------------------------------------------- */

static bool
is_space (unsigned char c)
{
    /* Python str.split(): ASCII whitespace and the separators \x1c-\x1f. */
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static bool
is_article (const char *w, size_t n)
{
    return (n == 1 && w[0] == 'a') || (n == 2 && memcmp (w, "an", 2) == 0)
           || (n == 3 && memcmp (w, "the", 3) == 0);
}

char *
ofr_coqa_normalize (const char *s)
{
    size_t n = strlen (s);
    char *low = malloc (n + 1), *out = malloc (n + 1);
    if (!low || !out) {
        free (low);
        free (out);
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 128 && ispunct (c))
            continue;
        low[m++] = (char) (c < 128 ? tolower (c) : c);
    }
    size_t o = 0;
    for (size_t i = 0; i < m;) {
        if (is_space ((unsigned char) low[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < m && !is_space ((unsigned char) low[j]))
            j++;
        if (!is_article (low + i, j - i)) {
            if (o)
                out[o++] = ' ';
            memcpy (out + o, low + i, j - i);
            o += j - i;
        }
        i = j;
    }
    out[o] = 0;
    free (low);
    return out;
}

int
ofr_coqa_exact (const char *gold, const char *pred)
{
    char *g = ofr_coqa_normalize (gold), *p = ofr_coqa_normalize (pred);
    int rc = g && p ? strcmp (g, p) == 0 : -1;
    free (g);
    free (p);
    return rc;
}

/* Words of a normalised string (single spaces): offsets and lengths. */
static int
split_words (const char *s, size_t *off, size_t *len)
{
    int n = 0;
    for (size_t i = 0; s[i];) {
        size_t j = i;
        while (s[j] && s[j] != ' ')
            j++;
        off[n] = i;
        len[n++] = j - i;
        i = s[j] ? j + 1 : j;
    }
    return n;
}

double
ofr_coqa_f1 (const char *gold, const char *pred)
{
    char *g = ofr_coqa_normalize (gold), *p = ofr_coqa_normalize (pred);
    size_t ng_max = g ? strlen (g) / 2 + 1 : 0, np_max = p ? strlen (p) / 2 + 1 : 0;
    size_t *buf = g && p ? ofr_calloc (2 * (ng_max + np_max), sizeof (size_t)) : NULL;
    bool *used = buf ? ofr_calloc (ng_max, sizeof (bool)) : NULL;
    double f1 = -1;
    if (!used)
        goto out;
    size_t *go = buf, *gl = go + ng_max, *po = gl + ng_max, *pl = po + np_max;
    int ng = split_words (g, go, gl), np = split_words (p, po, pl);
    if (ng == 0 || np == 0) {
        f1 = ng == np;
        goto out;
    }
    /* |Counter(gold) & Counter(pred)|: match each pred word to an unused
       equal gold word. */
    int same = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < ng; j++)
            if (!used[j] && gl[j] == pl[i] && memcmp (g + go[j], p + po[i], pl[i]) == 0) {
                used[j] = true;
                same++;
                break;
            }
    if (same == 0) {
        f1 = 0;
        goto out;
    }
    double prec = (double) same / np, rec = (double) same / ng;
    f1 = 2 * prec * rec / (prec + rec);
out:
    free (used);
    free (buf);
    free (g);
    free (p);
    return f1;
}

int
ofr_coqa_turn_score (const char *const *golds, int n, const char *pred, double *f1,
                     double *em)
{
    if (n < 1)
        return -1;
    double f_sum = 0, e_sum = 0;
    for (int i = 0; i < (n > 1 ? n : 1); i++) {
        double fm = 0, emx = 0;
        for (int j = 0; j < n; j++) {
            if (n > 1 && j == i)
                continue;
            double f = ofr_coqa_f1 (golds[j], pred);
            int e = ofr_coqa_exact (golds[j], pred);
            if (f < 0 || e < 0)
                return -1;
            fm = f > fm ? f : fm;
            emx = e > emx ? e : emx;
        }
        f_sum += fm;
        e_sum += emx;
    }
    *f1 = f_sum / n;
    *em = e_sum / n;
    return 0;
}

/* ---- the data --------------------------------------------------------------- */

typedef struct {
    char   *id;
    char   *prompt;
    char  **golds;
    int     n_golds;
} coqa_item;

typedef struct {
    coqa_item *items;
    int        n;
    size_t     cap;
} coqa_data;

static void
coqa_free (void *data)
{
    coqa_data *d = data;
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        for (int j = 0; j < d->items[i].n_golds; j++)
            free (d->items[i].golds[j]);
        free (d->items[i].golds);
        free (d->items[i].prompt);
        free (d->items[i].id);
    }
    free (d->items);
    free (d);
}

/* A turn list (questions, answers, additional_answers[key]) of story s:
   an array of n objects (n < 0: any) with integer turn_id equal to
   want_turns[k] (if given) and string input_text. */
static int
check_turns (json_t *a, const char *file, size_t s, const char *what, long n,
             json_t *want, char *err, size_t errlen)
{
    if (!json_is_array (a))
        return ofr_errf (err, errlen, "%s: data[%zu].%s: missing or not an array", file, s,
                         what);
    if (n >= 0 && json_array_size (a) != (size_t) n)
        return ofr_errf (err, errlen, "%s: data[%zu].%s: %zu entries, the questions have "
                         "%ld", file, s, what, json_array_size (a), n);
    for (size_t k = 0; k < json_array_size (a); k++) {
        json_t *o = json_array_get (a, k), *t = json_object_get (o, "turn_id");
        if (!json_is_integer (t))
            return ofr_errf (err, errlen, "%s: data[%zu].%s[%zu].turn_id: missing or not an "
                             "integer", file, s, what, k);
        if (!json_is_string (json_object_get (o, "input_text")))
            return ofr_errf (err, errlen, "%s: data[%zu].%s[%zu].input_text: missing or not "
                             "a string", file, s, what, k);
        if (want && json_integer_value (t)
                    != json_integer_value (json_object_get (json_array_get (want, k),
                                                            "turn_id")))
            return ofr_errf (err, errlen, "%s: data[%zu].%s[%zu].turn_id: %lld, the question "
                             "has %lld", file, s, what, k, (long long) json_integer_value (t),
                             (long long) json_integer_value (
                                 json_object_get (json_array_get (want, k), "turn_id")));
    }
    return 0;
}

static const char *
text_at (json_t *a, size_t k)
{
    return json_string_value (json_object_get (json_array_get (a, k), "input_text"));
}

/* The examples of story s (already checked). */
static int
add_story (coqa_data *d, json_t *st, const char *sid, const char *story, json_t *qs,
           json_t *as, json_t *extra)
{
    size_t nq = json_array_size (qs);
    int n_golds = 1 + (int) json_object_size (extra);
    for (size_t i = 0; i < nq; i++) {
        if (ofr_grow ((void **) &d->items, &d->cap, (size_t) d->n + 1, sizeof *d->items))
            return -1;
        coqa_item *it = &d->items[d->n++];
        memset (it, 0, sizeof *it);
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s_%lld", sid, (long long) json_integer_value (
                            json_object_get (json_array_get (qs, i), "turn_id")));
        it->id = b.data;
        if (b.oom)
            return -1;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s\n\n", story);
        for (size_t k = 0; k < i; k++)
            ofr_buf_printf (&b, "Q: %s\n\nA: %s\n\n", text_at (qs, k), text_at (as, k));
        ofr_buf_printf (&b, "Q: %s\n\nA:", text_at (qs, i));
        it->prompt = b.data;
        if (b.oom || !(it->golds = ofr_calloc ((size_t) n_golds, sizeof (char *))))
            return -1;
        if (!(it->golds[it->n_golds++] = ofr_strdup (text_at (as, i))))
            return -1;
        const char *key;
        json_t *val;
        json_object_foreach (extra, key, val) {
            if (!(it->golds[it->n_golds++] = ofr_strdup (text_at (val, i))))
                return -1;
        }
    }
    (void) st;
    return 0;
}

static int
coqa_load (const char *data_dir, const char *split, void **data, int *n, char *err,
           size_t errlen)
{
    const char *which = "dev";
    if (split && *split && strcmp (split, "dev") != 0 && strcmp (split, "validation") != 0) {
        if (strcmp (split, "train") != 0)
            return ofr_errf (err, errlen, "coqa: no split '%s' (\"dev\", alias "
                             "\"validation\", or \"train\")", split);
        which = "train";
    }
    ofr_buf path;
    ofr_buf_init (&path);
    ofr_buf_printf (&path, "%s/coqa/coqa-%s-v1.0.json", data_dir ? data_dir : ".", which);
    if (path.oom)
        return ofr_errf (err, errlen, "out of memory");
    const char *file = path.data;
    int rc = -1;
    coqa_data *d = NULL;
    json_error_t je;
    json_t *root = json_load_file (file, 0, &je);
    if (!root) {
        ofr_errf (err, errlen, "%s:%d: %s (the official CoQA JSON from "
                  "https://stanfordnlp.github.io/coqa/; --data names the directory "
                  "holding coqa/)", file, je.line, je.text);
        goto out;
    }
    json_t *arr = json_object_get (root, "data");
    if (!json_is_array (arr)) {
        ofr_errf (err, errlen, "%s: data: missing or not an array", file);
        goto out;
    }
    if (!(d = ofr_calloc (1, sizeof *d)))
        goto oom;
    for (size_t s = 0; s < json_array_size (arr); s++) {
        json_t *st = json_array_get (arr, s);
        if (!json_is_object (st)) {
            ofr_errf (err, errlen, "%s: data[%zu]: not an object", file, s);
            goto out;
        }
        const char *sid = json_string_value (json_object_get (st, "id"));
        const char *story = json_string_value (json_object_get (st, "story"));
        if (!sid || !story) {
            ofr_errf (err, errlen, "%s: data[%zu].%s: missing or not a string", file, s,
                      sid ? "story" : "id");
            goto out;
        }
        json_t *qs = json_object_get (st, "questions"), *as = json_object_get (st, "answers");
        json_t *extra = json_object_get (st, "additional_answers");
        if (check_turns (qs, file, s, "questions", -1, NULL, err, errlen) != 0)
            goto out;
        long nq = (long) json_array_size (qs);
        if (check_turns (as, file, s, "answers", nq, qs, err, errlen) != 0)
            goto out;
        if (extra && !json_is_null (extra) && !json_is_object (extra)) {
            ofr_errf (err, errlen, "%s: data[%zu].additional_answers: not an object", file, s);
            goto out;
        }
        if (!json_is_object (extra))
            extra = NULL;
        const char *key;
        json_t *val;
        json_object_foreach (extra, key, val) {
            char what[96];
            snprintf (what, sizeof what, "additional_answers.%s", key);
            if (check_turns (val, file, s, what, nq, qs, err, errlen) != 0)
                goto out;
        }
        json_t *empty = NULL;
        if (!extra && !(extra = empty = json_object ()))
            goto oom;
        int e = add_story (d, st, sid, story, qs, as, extra);
        json_decref (empty);
        if (e != 0)
            goto oom;
    }
    if (d->n == 0) {
        ofr_errf (err, errlen, "%s: data: no question turns", file);
        goto out;
    }
    *data = d;
    *n = d->n;
    d = NULL;
    rc = 0;
    goto out;
oom:
    ofr_errf (err, errlen, "%s: out of memory", file);
out:
    coqa_free (d);
    json_decref (root);
    ofr_buf_free (&path);
    return rc;
}

static int
coqa_example (void *data, int i, ofr_example *ex)
{
    coqa_data *d = data;
    if (i < 0 || i >= d->n)
        return -1;
    *ex = (ofr_example) { .id = d->items[i].id, .text_a = d->items[i].prompt,
                          .text_b = d->items[i].golds[0], .label = -1 };
    return 0;
}

static int
coqa_no_score (void *data, int i, const ofr_prediction *pred, double *stats)
{
    (void) data, (void) i, (void) pred, (void) stats;
    return -1;     /* scored through ofr_coqa_lm */
}

static int
coqa_task (void *data, int i, ofr_lm_task *t)
{
    coqa_data *d = data;
    if (i < 0 || i >= d->n)
        return -1;
    *t = (ofr_lm_task) { .kind = OFR_LM_GENERATE, .prompt = d->items[i].prompt,
                         .max_new = COQA_MAX_NEW, .stop = "\n" };
    return 0;
}

enum { C_F1, C_EM, C_N };

static int
coqa_score (void *data, int i, const ofr_lm_result *r, double *stats)
{
    coqa_data *d = data;
    if (i < 0 || i >= d->n || !r->gen_text)
        return -1;
    size_t len = strcspn (r->gen_text, "\n");
    char *pred = malloc (len + 1);
    if (!pred)
        return -1;
    memcpy (pred, r->gen_text, len);
    pred[len] = 0;
    double f1 = 0, em = 0;
    int rc = ofr_coqa_turn_score ((const char *const *) d->items[i].golds,
                                  d->items[i].n_golds, pred, &f1, &em);
    free (pred);
    if (rc != 0)
        return -1;
    stats[C_F1] = f1;
    stats[C_EM] = em;
    const double t[OFR_LM_TAIL_STATS] = {
        r->n_positions, r->layers_run, r->n_layers > 0 ? r->layers_run / r->n_layers : 0,
        r->search_flops, r->flops_full, r->agrees > 0,
    };
    memcpy (stats + C_N, t, sizeof t);
    return 0;
}

static int
coqa_metrics (const double *stats, int n, ofr_metric *out, int max_out)
{
    int k = C_N + OFR_LM_TAIL_STATS;
    double f1 = 0, em = 0, pos = 0, layers = 0, frac = 0, search = 0, full = 0, agree = 0;
    for (int i = 0; i < n; i++) {
        const double *s = stats + (size_t) i * k, *t = s + C_N;
        f1 += s[C_F1], em += s[C_EM];
        pos += t[0], layers += t[1], frac += t[2], search += t[3], full += t[4];
        agree += t[5];
    }
    /* The same tail metrics as the other decoder suites (lm_suites.c). */
    ofr_metric m[] = {
        { "f1", n > 0 ? 100.0 * f1 / n : NAN },
        { "em", n > 0 ? 100.0 * em / n : NAN },
        { "mean_layers", pos > 0 ? layers / pos : NAN },
        { "layer_frac", pos > 0 ? 100.0 * frac / pos : NAN },
        { "full_agreement", n > 0 ? 100.0 * agree / n : NAN },
        { "search_x_full", full > 0 ? search / full : NAN },
    };
    int at = 0;
    for (size_t j = 0; j < sizeof m / sizeof m[0] && at < max_out; j++)
        out[at++] = m[j];
    return at;
}

const ofr_suite_class ofr_suite_coqa = {
    .name = "coqa",
    .summary = "CoQA conversational QA (official JSON, lm-eval zero-shot prompt), "
               "greedy answer to the first newline; official F1 / EM",
    .kinds = OFR_KIND_DECODER,
    .default_split = "dev",
    .data_subdir = "coqa",
    .n_classes = 0,
    .n_stats = C_N + OFR_LM_TAIL_STATS,
    .primary = "f1",
    .load = coqa_load,
    .free = coqa_free,
    .example = coqa_example,
    .score = coqa_no_score,
    .metrics = coqa_metrics,
};

const ofr_lm_suite ofr_coqa_lm = { .task = coqa_task, .score = coqa_score };
