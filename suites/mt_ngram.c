/*  mt_ngram.c -- clipped n-gram matching shared by BLEU and chrF.

    sacreBLEU counts n-grams with Python Counters (hash maps). Here all
    n-grams of a segment are sorted instead, so equal n-grams become
    neighbours and one pass over each run gives the hypothesis count and
    every reference's count: no hash table, O(N log N) per segment. */
#include "mt_text.h"
#include "../common/ofr_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const ofr_tok *t;       /* first word of the n-gram                     */
    size_t         n;       /* order (the same for all entries of a sort)   */
    int            src;     /* 0 = hypothesis, k + 1 = reference k          */
} ngram_entry;

static int
tok_cmp (const ofr_tok *a, const ofr_tok *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    for (size_t i = 0; i < a->len; i++)
        if (a->p[i] != b->p[i])
            return a->p[i] < b->p[i] ? -1 : 1;
    return 0;
}

static int
ngram_cmp (const void *pa, const void *pb)
{
    const ngram_entry *a = pa, *b = pb;
    for (size_t i = 0; i < a->n; i++) {
        int c = tok_cmp (a->t + i, b->t + i);
        if (c)
            return c;
    }
    return 0;
}

static size_t
count_of (size_t words, size_t n)
{
    return words >= n ? words - n + 1 : 0;
}

static void
add_entries (ngram_entry *e, size_t *m, const ofr_tok *w, size_t nw, size_t n, int src)
{
    for (size_t i = 0; i < count_of (nw, n); i++)
        e[(*m)++] = (ngram_entry) { w + i, n, src };
}

int
ofr_ngram_matches (const ofr_tok *h, size_t nh, const ofr_tok *const *r,
                   const size_t *nr, int nrefs, size_t n, double *matches)
{
    *matches = 0;
    size_t total = count_of (nh, n);
    if (total == 0 || n == 0)
        return 0;
    for (int k = 0; k < nrefs; k++)
        total += count_of (nr[k], n);
    ngram_entry *e = ofr_calloc (total, sizeof *e);
    double *cnt = ofr_calloc ((size_t) nrefs + 1, sizeof *cnt);
    if (!e || !cnt) {
        free (e);
        free (cnt);
        return -1;
    }
    size_t m = 0;
    add_entries (e, &m, h, nh, n, 0);
    for (int k = 0; k < nrefs; k++)
        add_entries (e, &m, r[k], nr[k], n, k + 1);
    qsort (e, m, sizeof *e, ngram_cmp);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && ngram_cmp (&e[i], &e[j]) == 0)
            cnt[e[j++].src] += 1;
        double best_ref = 0;
        for (int k = 1; k <= nrefs; k++)
            if (cnt[k] > best_ref)
                best_ref = cnt[k];
        *matches += cnt[0] < best_ref ? cnt[0] : best_ref;
        memset (cnt, 0, ((size_t) nrefs + 1) * sizeof *cnt);
        i = j;
    }
    free (e);
    free (cnt);
    return 0;
}
