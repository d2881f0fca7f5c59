/*  kv_lazy.c -- lazy K/V recomputation for positions that exited early
    (see kv_lazy.h). */
#include "kv_lazy.h"
#include "../../common/ofr_common.h"

#include <stdlib.h>
#include <string.h>

struct ofr_kv_lazy {
    ofr_decoder *d;
    int    row, L, dim, S, block;
    int   *front;      /* [S] layers with K/V at each position; -1 unknown    */
    float *h;          /* [S][dim] state entering layer front[pos]            */
    int    lagging;    /* positions with 0 <= front < L                       */
    int   *pos;        /* [block] one chunk                                   */
    float *buf;        /* [block][dim]                                        */
};

int
ofr_kv_lazy_new (ofr_decoder *d, int row, ofr_kv_lazy **out, char *err, size_t errlen)
{
    *out = NULL;
    const ofr_llama_config *c = ofr_llama_config_of (ofr_decoder_model (d));
    ofr_kv_lazy *k = ofr_calloc (1, sizeof *k);
    if (!k)
        return ofr_errf (err, errlen, "kv recompute: out of memory");
    k->d = d;
    k->row = row;
    k->L = c->n_layers;
    k->dim = c->dim;
    k->S = ofr_decoder_max_seq (d);
    k->block = ofr_decoder_max_block (d);
    k->front = ofr_calloc ((size_t) k->S, sizeof (int));
    k->h = ofr_calloc ((size_t) k->S * k->dim, sizeof (float));
    k->pos = ofr_calloc ((size_t) k->block, sizeof (int));
    k->buf = ofr_calloc ((size_t) k->block * k->dim, sizeof (float));
    if (!k->front || !k->h || !k->pos || !k->buf) {
        ofr_kv_lazy_destroy (&k);
        return ofr_errf (err, errlen, "kv recompute: out of memory for %d positions", k->S);
    }
    ofr_kv_lazy_reset (k, 0);
    *out = k;
    return 0;
}

void
ofr_kv_lazy_destroy (ofr_kv_lazy **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_kv_lazy *k = *self_p;
    free (k->front);
    free (k->h);
    free (k->pos);
    free (k->buf);
    free (k);
    *self_p = NULL;
}

void
ofr_kv_lazy_reset (ofr_kv_lazy *k, int n_full)
{
    for (int p = 0; p < k->S; p++)
        k->front[p] = p < n_full ? k->L : -1;
    k->lagging = 0;
}

int
ofr_kv_lazy_leave (ofr_kv_lazy *k, int pos, int layers_done, const float *h, char *err,
                   size_t errlen)
{
    if (pos < 0 || pos >= k->S || layers_done < 0 || layers_done > k->L
        || (layers_done < k->L && !h))
        return ofr_errf (err, errlen, "kv recompute: position %d left after %d layers "
                         "(of %d; %d positions)", pos, layers_done, k->L, k->S);
    if (k->front[pos] >= 0 && k->front[pos] < k->L)
        k->lagging--;
    k->front[pos] = layers_done;
    if (layers_done < k->L) {
        memcpy (k->h + (size_t) pos * k->dim, h, (size_t) k->dim * sizeof (float));
        k->lagging++;
    }
    return 0;
}

/* Run layer m on the chunk k->pos[0..n) (states in and out of k->h). */
static int
run_chunk (ofr_kv_lazy *k, int n, int m, double *flops, int *layers, char *err,
           size_t errlen)
{
    size_t dim = (size_t) k->dim;
    for (int i = 0; i < n; i++)
        memcpy (k->buf + i * dim, k->h + (size_t) k->pos[i] * dim, dim * sizeof (float));
    if (ofr_decoder_run_positions (k->d, k->row, k->pos, n, m, m + 1, k->buf, err,
                                   errlen) != 0)
        return -1;
    const ofr_llama *model = ofr_decoder_model (k->d);
    for (int i = 0; i < n; i++) {
        int p = k->pos[i];
        memcpy (k->h + (size_t) p * dim, k->buf + i * dim, dim * sizeof (float));
        if (++k->front[p] == k->L)
            k->lagging--;
        if (flops)
            *flops += ofr_llama_layer_flops (model, p + 1);
        if (layers)
            ++*layers;
    }
    return 0;
}

int
ofr_kv_lazy_need (ofr_kv_lazy *k, int pos, int l, double *flops, int *layers, char *err,
                  size_t errlen)
{
    if (pos < 0 || pos > k->S || l < 0 || l >= k->L)
        return ofr_errf (err, errlen, "kv recompute: layer %d for position %d", l, pos);
    if (k->lagging == 0)
        return 0;
    int lo = k->L;
    for (int p = 0; p < pos; p++) {
        if (k->front[p] < 0)
            return ofr_errf (err, errlen, "kv recompute: position %d was never reported "
                             "(driver bug)", p);
        if (k->front[p] < lo)
            lo = k->front[p];
    }
    for (int m = lo; m <= l; m++) {
        int n = 0;
        for (int p = 0; p < pos; p++) {
            if (k->front[p] != m)
                continue;
            k->pos[n++] = p;
            if (n == k->block) {
                if (run_chunk (k, n, m, flops, layers, err, errlen) != 0)
                    return -1;
                n = 0;
            }
        }
        if (n > 0 && run_chunk (k, n, m, flops, layers, err, errlen) != 0)
            return -1;
    }
    return 0;
}
