/*  s2s_rank.c -- see s2s_rank.h. */
#include "s2s_rank.h"

#include <math.h>

void
ofr_s2s_top_k (const float *v, int n, int V, int k, ofr_s2s_cand *c)
{
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (have == k && !(v[i] > c[k - 1].score))
            continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && v[i] > c[j - 1].score) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = (ofr_s2s_cand) { v[i], i / V, i % V };
    }
}

float
ofr_s2s_length_norm (float score, int len, float lp)
{
    return len > 0 ? score / powf ((float) len, lp) : score;
}
