/*  ofr_common.h -- error reporting, logging, time and small helpers shared by
    every offramp module.

    Error convention: a function that can fail returns int (0 ok, -1 error)
    and writes a message naming what failed into a caller buffer (err, errlen).
    ofr_errf() formats that message and returns -1 so that the idiom is
        if (!fp) return ofr_errf(err, errlen, "%s: %s", path, strerror(errno));
*/
#ifndef OFR_COMMON_H
#define OFR_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OFR_ERRLEN 512

#if defined(__GNUC__)
#  define OFR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define OFR_PRINTF(a, b)
#endif

/* Format a message into err (if err && errlen) and return -1. */
int ofr_errf (char *err, size_t errlen, const char *fmt, ...) OFR_PRINTF(3, 4);

/* Log levels match OFR_LOG_* of the plugin ABI. */
enum { OFR_DEBUG = 0, OFR_INFO = 1, OFR_WARN = 2, OFR_ERROR = 3 };

/* Log a line "HH:MM:SS.mmm [tag] LEVEL message" to stderr if level >= the
   threshold set with ofr_log_setup. */
void ofr_log (int level, const char *fmt, ...) OFR_PRINTF(2, 3);
void ofr_vlog (int level, const char *fmt, va_list ap);

/* Configure logging for this process: a short tag ("coord", "worker-1")
   and the minimum level. Called once from main; not thread safe. */
void ofr_log_setup (const char *tag, int min_level);

/* Monotonic milliseconds. */
double ofr_now_ms (void);

/* Wall-clock seconds since the epoch. */
double ofr_wall_s (void);

/* strdup that returns NULL on NULL input or allocation failure. */
char *ofr_strdup (const char *s);

/* Allocate n * size bytes, zeroed, with overflow check; NULL on failure. */
void *ofr_calloc (size_t n, size_t size);

/* Grow *p (holding *cap elements of size `size`) to at least `need` elements.
   Returns 0 or -1 (allocation failure, *p untouched). */
int ofr_grow (void **p, size_t *cap, size_t need, size_t size);

/* Growable byte/string buffer, always NUL terminated. */
typedef struct {
    char  *data;
    size_t len;
    size_t cap;
    bool   oom;      /* set once an append failed; later appends are no-ops */
} ofr_buf;

void ofr_buf_init (ofr_buf *b);
void ofr_buf_free (ofr_buf *b);
void ofr_buf_reset (ofr_buf *b);
void ofr_buf_append (ofr_buf *b, const void *data, size_t len);
void ofr_buf_puts (ofr_buf *b, const char *s);
void ofr_buf_printf (ofr_buf *b, const char *fmt, ...) OFR_PRINTF(2, 3);
/* Append s as a JSON string literal (with quotes and escapes). */
void ofr_buf_json_str (ofr_buf *b, const char *s);
/* Append a double as JSON (finite: shortest %.17g round trip; else null). */
void ofr_buf_json_num (ofr_buf *b, double v);

/* Read a whole file into a NUL-terminated buffer. */
int ofr_read_file (const char *path, char **data, size_t *size,
                   char *err, size_t errlen);

/* SHA-256 of a file as 64 lowercase hex chars + NUL (hex must hold 65). */
int ofr_sha256_file (const char *path, char hex[65], char *err, size_t errlen);

/* Parse helpers: whole string must be consumed. Return 0 or -1. */
int ofr_parse_int (const char *s, long long *out);
int ofr_parse_double (const char *s, double *out);

/* splitmix64-based deterministic RNG. */
typedef struct { uint64_t s; } ofr_rng;
void     ofr_rng_seed (ofr_rng *r, uint64_t seed);
uint64_t ofr_rng_u64 (ofr_rng *r);
double   ofr_rng_uniform (ofr_rng *r);          /* [0, 1) */
double   ofr_rng_normal (ofr_rng *r);           /* N(0, 1), Box-Muller */

#endif
