/*  store_impl.h -- private to results/: what report.c needs from store.c
    (the connection, the cell rows with their bookkeeping columns, the blob
    codec). Not for use outside results/. */
#ifndef OFR_STORE_IMPL_H
#define OFR_STORE_IMPL_H

#include "store.h"
#include <sqlite3.h>

/* A row of the cells table: the cell plus what the run learnt about it. */
typedef struct {
    ofr_cell cell;          /* as stored by run_create, index = idx          */
    int      total;         /* examples the cell has                         */
    int      n_layers;      /* widest n_layers of its records, 0 = unknown   */
    char    *status;        /* "pending", "done", "failed"                   */
    char    *reason;        /* why it failed, or NULL                        */
} ofr_store_cell_row;

/* The connection, owned by the store. */
sqlite3    *ofr_store_db (ofr_store *self);
/* The file name, for messages. */
const char *ofr_store_path (const ofr_store *self);

/* Format "PATH: what: sqlite message" into err and return -1. */
int  ofr_store_sqlerr (ofr_store *self, const char *what, char *err, size_t errlen);

/* Run name and status (caller frees both); fails for an unknown run. */
int  ofr_store_run_info (ofr_store *self, int64_t run_id, char **name, char **status,
                         char *err, size_t errlen);

/* All cell rows of a run in idx order; caller frees with
   ofr_store_cell_rows_free. A run without cells gives n = 0. */
int  ofr_store_cell_rows (ofr_store *self, int64_t run_id, ofr_store_cell_row **rows,
                          int *n, char *err, size_t errlen);
void ofr_store_cell_rows_free (ofr_store_cell_row **rows, int n);

/* Element i of a little-endian float64 blob. */
double ofr_store_f64_le (const unsigned char *blob, size_t i);

#endif
