/*  mt_lines.c -- see mt_lines.h. */
#include "mt_lines.h"
#include "mt_text.h"
#include "../common/ofr_common.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void
ofr_mt_lines_free (ofr_mt_lines *l)
{
    free (l->data);
    free (l->line);
    memset (l, 0, sizeof *l);
}

/*  Python's text-mode iteration with newline='\n' (utils.py:244-252). */
int
ofr_mt_lines_read (const char *path, ofr_mt_lines *l, char *err, size_t errlen)
{
    size_t size = 0, cap = 0;
    memset (l, 0, sizeof *l);
    if (ofr_read_file (path, &l->data, &size, err, errlen) != 0)
        return -1;
    for (size_t start = 0; start < size;) {
        char *nl = memchr (l->data + start, '\n', size - start);
        size_t len = nl ? (size_t) (nl - (l->data + start)) : size - start;
        size_t bad;
        if (ofr_utf8_check (l->data + start, len, &bad) != 0) {
            bool nul = l->data[start + bad] == 0;
            int rc = ofr_errf (err, errlen, "%s:%zu: %s at byte %zu of the line", path,
                               l->n + 1, nul ? "NUL character" : "invalid UTF-8", bad + 1);
            ofr_mt_lines_free (l);
            return rc;
        }
        if (ofr_grow ((void **) &l->line, &cap, l->n + 1, sizeof *l->line) != 0) {
            ofr_mt_lines_free (l);
            return ofr_errf (err, errlen, "%s: out of memory", path);
        }
        l->data[start + ofr_utf8_rstrip_len (l->data + start, len)] = 0;
        l->line[l->n++] = l->data + start;
        start += len + 1;
    }
    return 0;
}
