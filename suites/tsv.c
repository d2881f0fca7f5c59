/*  tsv.c -- reader for the GLUE task files (see tsv.h). The file is read
    whole and split in place: fields are NUL-terminated slices of it. */
#include "tsv.h"
#include "../common/ofr_common.h"

#include <stdlib.h>
#include <string.h>

struct ofr_tsv {
    char   *path;
    char   *data;       /* the file, cut into fields in place             */
    int     n_fields;
    int     rows;       /* data rows                                      */
    char  **field;      /* [rows + header][n_fields]                      */
    int    *line;       /* [rows + header] 1-based line numbers           */
    bool    header;
};

void
ofr_tsv_destroy (ofr_tsv **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_tsv *self = *self_p;
    free (self->path);
    free (self->data);
    free (self->field);
    free (self->line);
    free (self);
    *self_p = NULL;
}

/* Offset of the first byte that is not strict UTF-8 (or is NUL), or len. */
static size_t
utf8_bad (const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0 || (c >= 0x80 && c < 0xC2) || c > 0xF4 || i + n > len)
            return i;
        if (c == 0xE0) lo = 0xA0;                   /* overlong         */
        if (c == 0xED) hi = 0x9F;                   /* surrogates       */
        if (c == 0xF0) lo = 0x90;                   /* overlong         */
        if (c == 0xF4) hi = 0x8F;                   /* above U+10FFFF   */
        for (size_t k = 1; k < n; k++, lo = 0x80, hi = 0xBF)
            if (s[i + k] < lo || s[i + k] > hi)
                return i;
        i += n;
    }
    return len;
}

static char *
trim (char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen (s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Number of lines (upper bound of the rows), so arrays are allocated once. */
static size_t
count_lines (const char *p)
{
    size_t n = 1;
    for (; *p; p++)
        n += *p == '\n';
    return n;
}

/* Next line from *cursor: NUL-terminated in place, without its line end
   (\n or \r\n) and trailing spaces/tabs. NULL at the end of the data. */
static char *
next_line (char **cursor, int *lineno)
{
    char *s = *cursor;
    if (!*s)
        return NULL;
    char *nl = strchr (s, '\n');
    *cursor = nl ? nl + 1 : s + strlen (s);
    size_t n = nl ? (size_t) (nl - s) : strlen (s);
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    s[n] = '\0';
    (*lineno)++;
    return s;
}

/* Cut a line into fields; stores at most max, returns how many there are. */
static int
split_fields (char *s, char **out, int max)
{
    int n = 0;
    for (;;) {
        char *tab = strchr (s, '\t');
        if (tab)
            *tab = '\0';
        if (n < max)
            out[n] = trim (s);
        n++;
        if (!tab)
            return n;
        s = tab + 1;
    }
}

static int
count_fields (const char *s)
{
    int n = 1;
    for (; *s; s++)
        n += *s == '\t';
    return n;
}

static int
alloc_rows (ofr_tsv *self, size_t lines, char *err, size_t errlen)
{
    if (self->n_fields < 1)
        return ofr_errf (err, errlen, "%s: bad field count %d", self->path, self->n_fields);
    self->field = ofr_calloc (lines * (size_t) self->n_fields, sizeof *self->field);
    self->line = ofr_calloc (lines, sizeof *self->line);
    if (!self->field || !self->line)
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    return 0;
}

static int
add_row (ofr_tsv *self, size_t r, char *s, int lineno, char *err, size_t errlen)
{
    size_t len = strlen (s);
    size_t bad = utf8_bad ((const unsigned char *) s, len);
    if (bad < len)
        return ofr_errf (err, errlen, "%s:%d: invalid UTF-8 at byte %zu of the line",
                         self->path, lineno, bad + 1);
    int got = split_fields (s, self->field + r * (size_t) self->n_fields, self->n_fields);
    if (got != self->n_fields)
        return ofr_errf (err, errlen, "%s:%d: expected %d tab-separated fields, got %d",
                         self->path, lineno, self->n_fields, got);
    self->line[r] = lineno;
    return 0;
}

/* The line walk stops at a NUL, so a NUL byte must be caught first. */
static int
check_nul (const ofr_tsv *self, size_t size, char *err, size_t errlen)
{
    const char *z = memchr (self->data, '\0', size);
    if (!z)
        return 0;
    int lineno = 1;
    for (const char *p = self->data; p < z; p++)
        lineno += *p == '\n';
    return ofr_errf (err, errlen, "%s:%d: NUL byte in the file", self->path, lineno);
}

static int
parse (ofr_tsv *self, char *err, size_t errlen)
{
    char *cursor = self->data;
    if (strncmp (cursor, "\xEF\xBB\xBF", 3) == 0)
        cursor += 3;                                  /* byte order mark */
    size_t lines = count_lines (cursor);
    if (!self->header && alloc_rows (self, lines, err, errlen) != 0)
        return -1;
    bool have_header = false;
    int lineno = 0;
    for (char *s; (s = next_line (&cursor, &lineno)) != NULL;) {
        if (!*s)
            continue;
        if (self->header && !have_header) {
            self->n_fields = count_fields (s);
            if (alloc_rows (self, lines, err, errlen) != 0
                || add_row (self, 0, s, lineno, err, errlen) != 0)
                return -1;
            have_header = true;
            continue;
        }
        size_t r = (size_t) self->rows + (self->header ? 1 : 0);
        if (add_row (self, r, s, lineno, err, errlen) != 0)
            return -1;
        if (self->rows == (1 << 30) - 1)
            return ofr_errf (err, errlen, "%s:%d: too many rows", self->path, lineno);
        self->rows++;
    }
    if (self->header && !have_header)
        return ofr_errf (err, errlen, "%s: empty file (expected a header line)", self->path);
    return 0;
}

int
ofr_tsv_read (const char *path, bool header, int n_fields, ofr_tsv **out,
              char *err, size_t errlen)
{
    *out = NULL;
    ofr_tsv *self = ofr_calloc (1, sizeof *self);
    if (!self)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    self->header = header;
    self->n_fields = n_fields;
    self->path = ofr_strdup (path);
    if (!self->path) {
        ofr_tsv_destroy (&self);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    size_t size;
    if (ofr_read_file (path, &self->data, &size, err, errlen) != 0
        || check_nul (self, size, err, errlen) != 0
        || parse (self, err, errlen) != 0) {
        ofr_tsv_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

int
ofr_tsv_rows (const ofr_tsv *self)
{
    return self->rows;
}

int
ofr_tsv_fields (const ofr_tsv *self)
{
    return self->n_fields;
}

const char *
ofr_tsv_get (const ofr_tsv *self, int row, int col)
{
    if (row < 0 || row >= self->rows || col < 0 || col >= self->n_fields)
        return NULL;
    size_t r = (size_t) row + (self->header ? 1 : 0);
    return self->field[r * (size_t) self->n_fields + (size_t) col];
}

int
ofr_tsv_line (const ofr_tsv *self, int row)
{
    if (row < 0 || row >= self->rows)
        return 0;
    return self->line[row + (self->header ? 1 : 0)];
}

const char *
ofr_tsv_path (const ofr_tsv *self)
{
    return self->path;
}

int
ofr_tsv_column (const ofr_tsv *self, const char *name, char *err, size_t errlen)
{
    if (self->header)
        for (int c = 0; c < self->n_fields; c++)
            if (strcmp (self->field[c], name) == 0)
                return c;
    ofr_buf cols;
    ofr_buf_init (&cols);
    for (int c = 0; self->header && c < self->n_fields; c++)
        ofr_buf_printf (&cols, "%s'%s'", c ? ", " : "", self->field[c]);
    ofr_errf (err, errlen, "%s:%d: no column '%s' (columns: %s)", self->path,
              self->header ? self->line[0] : 0, name,
              cols.data ? cols.data : "none, the file has no header");
    ofr_buf_free (&cols);
    return -1;
}
