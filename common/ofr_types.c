/*  ofr_types.c -- see ofr_types.h. */
#include "ofr_types.h"
#include "ofr_common.h"

#include <stdlib.h>
#include <string.h>

int
ofr_cell_copy (ofr_cell *dst, const ofr_cell *src)
{
    memset (dst, 0, sizeof *dst);
    dst->index = src->index;
    dst->limit = src->limit;
    dst->batch_size = src->batch_size;
    dst->seed = src->seed;
    dst->model = ofr_strdup (src->model);
    dst->suite = ofr_strdup (src->suite);
    dst->split = ofr_strdup (src->split);
    dst->method = ofr_strdup (src->method);
    if (!dst->model || !dst->suite || !dst->split || !dst->method)
        goto fail;
    if (src->n_params > 0) {
        dst->params = ofr_calloc ((size_t) src->n_params, sizeof (ofr_kv));
        if (!dst->params)
            goto fail;
        dst->n_params = src->n_params;
        for (int i = 0; i < src->n_params; i++) {
            dst->params[i].key = ofr_strdup (src->params[i].key);
            dst->params[i].value = ofr_strdup (src->params[i].value);
            if (!dst->params[i].key || !dst->params[i].value)
                goto fail;
        }
    }
    return 0;
fail:
    ofr_cell_clear (dst);
    return -1;
}

void
ofr_cell_clear (ofr_cell *cell)
{
    free (cell->model);
    free (cell->suite);
    free (cell->split);
    free (cell->method);
    for (int i = 0; i < cell->n_params; i++) {
        free (cell->params[i].key);
        free (cell->params[i].value);
    }
    free (cell->params);
    memset (cell, 0, sizeof *cell);
}

char *
ofr_cell_params_str (const ofr_cell *cell)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_append (&b, "", 0);
    for (int i = 0; i < cell->n_params; i++)
        ofr_buf_printf (&b, "%s%s=%s", i ? "," : "",
                        cell->params[i].key, cell->params[i].value);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

void
ofr_record_clear (ofr_record *r)
{
    free (r->pred_text);
    free (r->stats);
    free (r->token_exits);
    memset (r, 0, sizeof *r);
}
