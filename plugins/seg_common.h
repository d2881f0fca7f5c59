/*  seg_common.h -- helpers shared by the segmentation plugins (seg_skip.c,
    seg_exit.c, seg_oracle.c): the block layout of ESPNet (workers/models/
    espnet.h) and skip patterns. Header-only, static functions; not part of
    the ABI (a plugin still needs only offramp_plugin.h from the host).

    Blocks (0-based) of ESPNet with p residual ESP blocks at 1/4 and q at
    1/8 of the input, n = p + q + 6 decision units:
      0 level1, 1 level2_0, 2..p+1 level2.i (skippable), p+2 level3_0,
      p+3..p+q+2 level3.i (skippable), p+q+3 decoder.l3 (exit, 1/4),
      p+q+4 decoder.l2 (exit, 1/2), p+q+5 decoder.l1 (exit, the full model).

    Skip patterns: comma-separated tokens, each adding blocks to the set:
      none            nothing
      l2-all, l3-all  every residual block of level 2 / 3
      l2-lastN, l3-lastN    the last N of that level ("l2-last" = N 1)
      l2-firstN, l3-firstN  the first N
      l2-every2, l3-every2  every second one, starting with the second
                            (level3.1, level3.3, ...)
      N               block N, 1-based as in reports (must be skippable)
    e.g. "l3-last2", "l2-last,l3-every2", "7,8". */
#ifndef OFR_SEG_COMMON_H
#define OFR_SEG_COMMON_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG_MAX_BLOCKS 256

typedef struct {
    int p, q, n;            /* residual blocks per level, decision units */
} seg_layout;

static inline seg_layout
seg_layout_of (int p, int q)
{
    seg_layout s = { p, q, p + q + 6 };
    return s;
}

static inline int seg_l3_first (const seg_layout *s) { return s->p + 3; }
static inline int seg_dec_l3 (const seg_layout *s) { return s->p + s->q + 3; }
static inline int seg_dec_l2 (const seg_layout *s) { return s->p + s->q + 4; }
static inline int seg_dec_l1 (const seg_layout *s) { return s->p + s->q + 5; }

static inline int
seg_skippable (const seg_layout *s, int b)
{
    return (b >= 2 && b < s->p + 2) || (b >= s->p + 3 && b < s->p + s->q + 3);
}

static inline int
seg_in_level3 (const seg_layout *s, int b)
{
    return b >= s->p + 3 && b < s->p + s->q + 3;
}

/* Parse `spec` into mask[0..s->n) (1 = skip). Returns 0, or -1 with a
   message naming the token. */
static inline int
seg_parse_skip (const char *spec, const seg_layout *s, uint8_t *mask, const char *who,
                char *err, size_t errlen)
{
    if (s->n > SEG_MAX_BLOCKS || s->p < 0 || s->q < 0) {
        snprintf (err, errlen, "%s: bad layout p=%d q=%d", who, s->p, s->q);
        return -1;
    }
    memset (mask, 0, (size_t) s->n);
    const char *t = spec ? spec : "";
    while (*t) {
        size_t len = strcspn (t, ",");
        char tok[64];
        while (len > 0 && isspace ((unsigned char) *t)) {
            t++;
            len--;
        }
        size_t tl = len;
        while (tl > 0 && isspace ((unsigned char) t[tl - 1]))
            tl--;
        if (tl == 0 || tl >= sizeof tok) {
            snprintf (err, errlen, "%s: skip pattern '%s': empty or overlong item", who, spec);
            return -1;
        }
        memcpy (tok, t, tl);
        tok[tl] = 0;
        t += len + (t[len] == ',');
        if (strcmp (tok, "none") == 0)
            continue;
        char *end = NULL;
        if (isdigit ((unsigned char) tok[0])) {
            long b = strtol (tok, &end, 10);
            if (*end || b < 1 || b > s->n || !seg_skippable (s, (int) b - 1)) {
                snprintf (err, errlen, "%s: skip '%s': block %s is not a residual ESP block "
                          "(skippable: %d..%d and %d..%d, 1-based)", who, spec, tok,
                          3, s->p + 2, s->p + 4, s->p + s->q + 3);
                return -1;
            }
            mask[b - 1] = 1;
            continue;
        }
        int first, count;
        if (strncmp (tok, "l2-", 3) == 0) {
            first = 2;
            count = s->p;
        } else if (strncmp (tok, "l3-", 3) == 0) {
            first = s->p + 3;
            count = s->q;
        } else {
            snprintf (err, errlen, "%s: skip '%s': unknown item '%s' (none, l2-all, "
                      "l3-lastN, l3-firstN, l3-every2, a 1-based block number...)", who,
                      spec, tok);
            return -1;
        }
        const char *kind = tok + 3;
        long k = 1;
        int lo = 0, hi = 0, step = 1;
        if (strcmp (kind, "all") == 0) {
            lo = 0;
            hi = count;
        } else if (strcmp (kind, "every2") == 0) {
            lo = 1;
            hi = count;
            step = 2;
        } else if (strncmp (kind, "last", 4) == 0 || strncmp (kind, "first", 5) == 0) {
            const char *num = kind + (kind[0] == 'l' ? 4 : 5);
            if (*num) {
                k = strtol (num, &end, 10);
                if (*end || k < 1 || k > count) {
                    snprintf (err, errlen, "%s: skip '%s': '%s' wants 1..%d blocks", who,
                              spec, tok, count);
                    return -1;
                }
            }
            lo = kind[0] == 'l' ? count - (int) k : 0;
            hi = kind[0] == 'l' ? count : (int) k;
        } else {
            snprintf (err, errlen, "%s: skip '%s': unknown item '%s'", who, spec, tok);
            return -1;
        }
        if (count == 0) {
            snprintf (err, errlen, "%s: skip '%s': that level has no residual blocks", who,
                      spec);
            return -1;
        }
        for (int i = lo; i < hi; i += step)
            mask[first + i] = 1;
    }
    return 0;
}

/* Check the model the batch runs against the layout. 0 or -1 (logged). */
static inline int
seg_check_batch (const ofr_host *host, const ofr_batch *batch, const seg_layout *s,
                 const char *who)
{
    if (batch->kind != OFR_KIND_CNN || batch->n_layers != s->n) {
        host->log (batch->host_ctx, OFR_LOG_ERROR, "%s: needs an ESPNet CNN with %d "
                   "decision blocks (p=%d, q=%d: p + q + 6), the model has %d (kind %u); "
                   "set p and q", who, s->n, s->p, s->q, batch->n_layers, batch->kind);
        return -1;
    }
    return 0;
}

/* Per-pixel confidence of a dense exit distribution probs[k][hw]: the
   fraction of pixels whose max probability is >= t. One max scan per
   pixel: k comparisons (charged by the caller). */
static inline double
seg_confident_fraction (const float *probs, int k, size_t hw, double t)
{
    size_t n = 0;
    for (size_t px = 0; px < hw; px++) {
        float mx = probs[px];
        for (int c = 1; c < k; c++)
            mx = probs[(size_t) c * hw + px] > mx ? probs[(size_t) c * hw + px] : mx;
        n += mx >= t;
    }
    return hw ? (double) n / (double) hw : 0.0;
}

#endif
