/*  mt_lines.h -- text files of one segment per line, read the way
    sacreBLEU's command line reads them: UTF-8, lines split at '\n' only,
    each line rstrip()ed (sacrebleu.py:351-353, 416-419 at v2.4.3). Shared by
    `offramp score`, the translation suites and `offramp translate`. */
#ifndef OFR_MT_LINES_H
#define OFR_MT_LINES_H

#include <stddef.h>

/* A file as lines; each line is NUL terminated inside `data`. */
typedef struct {
    char   *data;
    char  **line;
    size_t  n;
} ofr_mt_lines;

/* Read path into *l. A final line without '\n' still counts; an empty file
   has no lines; empty lines are empty segments. Invalid UTF-8 and NUL
   characters are errors "PATH:LINE: invalid UTF-8 at byte N of the line".
   Returns 0 or -1 (*l is then empty). */
int  ofr_mt_lines_read (const char *path, ofr_mt_lines *l, char *err, size_t errlen);

/* Free and zero *l (no-op on a zeroed struct). */
void ofr_mt_lines_free (ofr_mt_lines *l);

#endif
