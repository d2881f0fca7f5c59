/*  ofr_common.c -- see ofr_common.h. */
#define _POSIX_C_SOURCE 200809L
#include "ofr_common.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
ofr_errf (char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, errlen, fmt, ap);
        va_end (ap);
    }
    return -1;
}

/*  Logging configuration is process-wide by nature (one stderr); it is set
    once by main before any thread or child exists. */
static char s_log_tag[32] = "offramp";
static int  s_log_min = OFR_INFO;

void
ofr_log_setup (const char *tag, int min_level)
{
    snprintf (s_log_tag, sizeof s_log_tag, "%s", tag ? tag : "offramp");
    s_log_min = min_level;
}

void
ofr_vlog (int level, const char *fmt, va_list ap)
{
    if (level < s_log_min)
        return;
    static const char *names[] = { "debug", "info", "WARN", "ERROR" };
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r (&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf (line, sizeof line, "%02d:%02d:%02d.%03ld [%s] %s: ",
                      tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                      s_log_tag, names[level < 0 ? 0 : level > 3 ? 3 : level]);
    if (n < 0)
        return;
    vsnprintf (line + n, sizeof line - (size_t) n, fmt, ap);
    fprintf (stderr, "%s\n", line);
}

void
ofr_log (int level, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    ofr_vlog (level, fmt, ap);
    va_end (ap);
}

double
ofr_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double
ofr_wall_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

char *
ofr_strdup (const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen (s) + 1;
    char *d = malloc (n);
    if (d)
        memcpy (d, s, n);
    return d;
}

void *
ofr_calloc (size_t n, size_t size)
{
    if (n == 0 || size == 0)
        return calloc (1, 1);
    if (n > SIZE_MAX / size)
        return NULL;
    return calloc (n, size);
}

int
ofr_grow (void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / size)
            return -1;
        ncap *= 2;
    }
    void *np = realloc (*p, ncap * size);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

void
ofr_buf_init (ofr_buf *b)
{
    memset (b, 0, sizeof *b);
}

void
ofr_buf_free (ofr_buf *b)
{
    free (b->data);
    ofr_buf_init (b);
}

void
ofr_buf_reset (ofr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

void
ofr_buf_append (ofr_buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    /* data may point into the buffer itself: keep its offset across realloc. */
    const char *src = data;
    uintptr_t s0 = (uintptr_t) src, b0 = (uintptr_t) b->data;
    bool inside = b->data && s0 >= b0 && s0 < b0 + b->cap;
    size_t off = inside ? (size_t) (src - b->data) : 0;
    if (ofr_grow ((void **) &b->data, &b->cap, b->len + len + 1, 1) != 0) {
        b->oom = true;
        return;
    }
    if (inside)
        src = b->data + off;
    memmove (b->data + b->len, src, len);
    b->len += len;
    b->data[b->len] = 0;
}

void
ofr_buf_puts (ofr_buf *b, const char *s)
{
    ofr_buf_append (b, s, strlen (s));
}

void
ofr_buf_printf (ofr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0 || b->oom)
        return;
    if (ofr_grow ((void **) &b->data, &b->cap, b->len + (size_t) n + 1, 1) != 0) {
        b->oom = true;
        return;
    }
    va_start (ap, fmt);
    vsnprintf (b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end (ap);
    b->len += (size_t) n;
}

void
ofr_buf_json_str (ofr_buf *b, const char *s)
{
    ofr_buf_puts (b, "\"");
    for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':  ofr_buf_puts (b, "\\\""); break;
        case '\\': ofr_buf_puts (b, "\\\\"); break;
        case '\n': ofr_buf_puts (b, "\\n"); break;
        case '\r': ofr_buf_puts (b, "\\r"); break;
        case '\t': ofr_buf_puts (b, "\\t"); break;
        default:
            if (*p < 0x20)
                ofr_buf_printf (b, "\\u%04x", *p);
            else
                ofr_buf_append (b, p, 1);
        }
    }
    ofr_buf_puts (b, "\"");
}

void
ofr_buf_json_num (ofr_buf *b, double v)
{
    if (!isfinite (v)) {
        ofr_buf_puts (b, "null");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf (tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod (tmp, NULL) == v)
            break;
    }
    ofr_buf_puts (b, tmp);
}

int
ofr_read_file (const char *path, char **data, size_t *size,
               char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    ofr_buf b;
    ofr_buf_init (&b);
    char chunk[65536];
    size_t n;
    while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
        ofr_buf_append (&b, chunk, n);
    int bad = ferror (f);
    fclose (f);
    if (bad || b.oom) {
        ofr_buf_free (&b);
        return ofr_errf (err, errlen, "%s: %s", path,
                         bad ? "read error" : "out of memory");
    }
    if (!b.data)
        ofr_buf_append (&b, "", 0);
    if (b.oom)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    *data = b.data;
    if (size)
        *size = b.len;
    return 0;
}

int
ofr_sha256_file (const char *path, char hex[65], char *err, size_t errlen)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init (&st);
    unsigned char chunk[65536];
    size_t n;
    while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
        crypto_hash_sha256_update (&st, chunk, n);
    int bad = ferror (f);
    fclose (f);
    if (bad)
        return ofr_errf (err, errlen, "%s: read error", path);
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&st, out);
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", out[i]);
    return 0;
}

int
ofr_parse_int (const char *s, long long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll (s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int
ofr_parse_double (const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || *end || !isfinite (v))
        return -1;
    *out = v;
    return 0;
}

void
ofr_rng_seed (ofr_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t
ofr_rng_u64 (ofr_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double
ofr_rng_uniform (ofr_rng *r)
{
    return (ofr_rng_u64 (r) >> 11) * (1.0 / 9007199254740992.0);
}

double
ofr_rng_normal (ofr_rng *r)
{
    double u1 = ofr_rng_uniform (r), u2 = ofr_rng_uniform (r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt (-2.0 * log (u1)) * cos (6.283185307179586 * u2);
}
