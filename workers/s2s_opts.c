/*  s2s_opts.c -- see s2s_opts.h. */
#include "s2s_opts.h"
#include "plugin_host.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool
decode_key (const char *k)
{
    return strcmp (k, "beam") == 0 || strcmp (k, "length_penalty") == 0
        || strcmp (k, "max_length") == 0;
}

int
ofr_seq2seq_decode_opts (const ofr_cell *cell, int *beam, float *length_penalty,
                         char *err, size_t errlen)
{
    *beam = 1;
    *length_penalty = 1.0f;
    for (int i = 0; i < cell->n_params; i++) {
        const char *k = cell->params[i].key, *v = cell->params[i].value;
        char *end = NULL;
        errno = 0;
        if (strcmp (k, "beam") == 0) {
            long b = strtol (v, &end, 10);
            if (errno || end == v || *end || b < 1 || b > 64)
                return ofr_errf (err, errlen, "beam=%s: want an integer 1..64", v);
            *beam = (int) b;
        } else if (strcmp (k, "length_penalty") == 0) {
            double x = strtod (v, &end);
            if (errno || end == v || *end || !isfinite (x) || x < 0 || x > 10)
                return ofr_errf (err, errlen, "length_penalty=%s: want a number 0..10", v);
            *length_penalty = (float) x;
        } else if (strcmp (k, "max_length") == 0) {
            long b = strtol (v, &end, 10);
            if (errno || end == v || *end || b < 1 || b > 256)
                return ofr_errf (err, errlen, "max_length=%s: want an integer 1..256", v);
        }
    }
    return 0;
}

int
ofr_seq2seq_max_length (const ofr_cell *cell)
{
    int n = 256;
    for (int i = 0; i < cell->n_params; i++)
        if (strcmp (cell->params[i].key, "max_length") == 0) {
            long b = strtol (cell->params[i].value, NULL, 10);
            n = b >= 1 && b <= 256 ? (int) b : n;
        }
    return n;
}

int
ofr_cell_method_params (const ofr_method *method, const ofr_cell *cell, bool seq2seq,
                        ofr_params **params, char *err, size_t errlen)
{
    *params = NULL;
    int beam;
    float lp;
    if (seq2seq && ofr_seq2seq_decode_opts (cell, &beam, &lp, err, errlen) != 0)
        return -1;
    ofr_kv *kv = cell->n_params > 0 ? ofr_calloc ((size_t) cell->n_params, sizeof *kv) : NULL;
    if (cell->n_params > 0 && !kv)
        return ofr_errf (err, errlen, "out of memory");
    int n = 0;
    for (int i = 0; i < cell->n_params; i++)
        if (!seq2seq || !decode_key (cell->params[i].key))
            kv[n++] = cell->params[i];
    int rc = ofr_params_new (method, kv, n, params, err, errlen);
    free (kv);
    return rc;
}
