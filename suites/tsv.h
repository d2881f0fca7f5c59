/*  tsv.h -- tab-separated data files as the GLUE tasks ship them: one row
    per line, fields separated by single tabs, no quoting (GLUE's readers
    use quotechar=None, so a '"' is an ordinary character).

    Tolerated: a UTF-8 byte order mark before the first line, CRLF line
    ends, spaces and tabs at the end of a line, spaces around a field, and
    empty lines (skipped). Everything else that is off is an error naming
    "<file>:<line>": a row with the wrong number of fields, invalid UTF-8
    or a NUL byte. */
#ifndef OFR_TSV_H
#define OFR_TSV_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_tsv ofr_tsv;

/* Read path. With header, the first non-empty line names the columns and
   fixes the field count; without, every row must have n_fields fields.
   Returns 0 and a new table in *out (caller destroys), or -1 with a
   message naming the file (and line). */
int  ofr_tsv_read (const char *path, bool header, int n_fields, ofr_tsv **out,
                   char *err, size_t errlen);

/* Free the table (and every string it handed out); sets *self to NULL. */
void ofr_tsv_destroy (ofr_tsv **self);

/* Data rows (the header not counted) and fields per row. */
int  ofr_tsv_rows (const ofr_tsv *self);
int  ofr_tsv_fields (const ofr_tsv *self);

/* Field col of data row `row` (trimmed, NUL-terminated, owned by the
   table), or NULL if out of range. */
const char *ofr_tsv_get (const ofr_tsv *self, int row, int col);

/* 1-based line in the file of data row `row`, for error messages. */
int  ofr_tsv_line (const ofr_tsv *self, int row);

/* The path the table was read from (owned by the table). */
const char *ofr_tsv_path (const ofr_tsv *self);

/* Index of the header column called name, or -1 with "<file>:<line>: no
   column 'name' (columns: ...)" in err. */
int  ofr_tsv_column (const ofr_tsv *self, const char *name, char *err, size_t errlen);

#endif
