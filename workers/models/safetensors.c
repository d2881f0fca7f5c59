/*  safetensors.c -- see safetensors.h. */
#include "safetensors.h"
#include "jsonlite.h"
#include "../../common/ofr_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a tensor index (the reference library
   uses the same 100 MB bound). */
#define MAX_HEADER ((uint64_t) 100 * 1000 * 1000)

struct ofr_safetensors {
    char          *path;
    void          *map;          /* whole file, read-only                      */
    size_t         map_size;
    float         *copy;         /* data region copied when not 4-aligned      */
    ofr_jsonlite  *header;
    ofr_st_tensor *tensors;
    size_t         n;
};

/* Element sizes of the dtypes the format defines, so that other dtypes get
   a "not supported" rather than an "unknown" error. */
static const struct { const char *name; int size; } s_dtypes[] = {
    { "F32", 4 }, { "F64", 8 }, { "F16", 2 }, { "BF16", 2 }, { "I64", 8 },
    { "I32", 4 }, { "I16", 2 }, { "I8", 1 }, { "U64", 8 }, { "U32", 4 },
    { "U16", 2 }, { "U8", 1 }, { "BOOL", 1 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
};

static bool
host_is_little_endian (void)
{
    const uint16_t one = 1;
    return *(const uint8_t *) &one == 1;
}

static int
check_dtype (const char *path, const char *name, const ofr_jsonlite *dt,
             char *err, size_t errlen)
{
    if (!dt || dt->type != OFR_JSONLITE_STRING)
        return ofr_errf (err, errlen, "%s: tensor '%s': \"dtype\" must be a string", path, name);
    if (strcmp (dt->string, "F32") == 0)
        return 0;
    for (size_t i = 0; i < sizeof s_dtypes / sizeof s_dtypes[0]; i++)
        if (strcmp (dt->string, s_dtypes[i].name) == 0)
            return ofr_errf (err, errlen, "%s: tensor '%s': dtype %s is not supported "
                             "(only F32 for now)", path, name, dt->string);
    return ofr_errf (err, errlen, "%s: tensor '%s': unknown dtype \"%s\"", path, name, dt->string);
}

static int
parse_shape (const char *path, ofr_st_tensor *t, const ofr_jsonlite *sh,
             char *err, size_t errlen)
{
    if (!sh || sh->type != OFR_JSONLITE_ARRAY)
        return ofr_errf (err, errlen, "%s: tensor '%s': \"shape\" must be an array", path, t->name);
    if (sh->n > OFR_ST_MAX_DIMS)
        return ofr_errf (err, errlen, "%s: tensor '%s': %zu dims (at most %d supported)",
                         path, t->name, sh->n, OFR_ST_MAX_DIMS);
    t->ndim = (int) sh->n;
    size_t numel = 1;
    for (size_t i = 0; i < sh->n; i++) {
        const ofr_jsonlite *d = sh->items[i];
        if (d->type != OFR_JSONLITE_NUMBER || !d->is_int || d->integer < 0)
            return ofr_errf (err, errlen, "%s: tensor '%s': shape[%zu] is not a "
                             "non-negative integer", path, t->name, i);
        t->shape[i] = d->integer;
        if (d->integer > 0 && numel > SIZE_MAX / 4 / (uint64_t) d->integer)
            return ofr_errf (err, errlen, "%s: tensor '%s': shape overflows", path, t->name);
        numel *= (size_t) d->integer;
    }
    t->numel = numel;
    return 0;
}

static int
parse_offsets (const char *path, const char *name, const ofr_jsonlite *off,
               uint64_t data_size, uint64_t *begin, uint64_t *end,
               char *err, size_t errlen)
{
    if (!off || off->type != OFR_JSONLITE_ARRAY || off->n != 2
        || off->items[0]->type != OFR_JSONLITE_NUMBER || !off->items[0]->is_int
        || off->items[1]->type != OFR_JSONLITE_NUMBER || !off->items[1]->is_int)
        return ofr_errf (err, errlen, "%s: tensor '%s': \"data_offsets\" must be "
                         "[begin, end] integers", path, name);
    int64_t b = off->items[0]->integer, e = off->items[1]->integer;
    if (b < 0 || e < b || (uint64_t) e > data_size)
        return ofr_errf (err, errlen, "%s: tensor '%s': data_offsets [%lld, %lld] outside "
                         "the data region of %llu bytes", path, name, (long long) b,
                         (long long) e, (unsigned long long) data_size);
    *begin = (uint64_t) b;
    *end = (uint64_t) e;
    return 0;
}

/* One header entry -> tensor; *begin and *end: its byte range in the data. */
static int
parse_tensor (const char *path, const char *name, const ofr_jsonlite *info,
              uint64_t data_size, ofr_st_tensor *t, uint64_t *begin, uint64_t *end,
              char *err, size_t errlen)
{
    t->name = name;
    if (info->type != OFR_JSONLITE_OBJECT)
        return ofr_errf (err, errlen, "%s: tensor '%s': entry must be an object", path, name);
    for (size_t i = 0; i < info->n; i++)
        if (strcmp (info->keys[i], "dtype") && strcmp (info->keys[i], "shape")
            && strcmp (info->keys[i], "data_offsets"))
            return ofr_errf (err, errlen, "%s: tensor '%s': unexpected key \"%s\"",
                             path, name, info->keys[i]);
    if (check_dtype (path, name, ofr_jsonlite_get (info, "dtype"), err, errlen) != 0
        || parse_shape (path, t, ofr_jsonlite_get (info, "shape"), err, errlen) != 0
        || parse_offsets (path, name, ofr_jsonlite_get (info, "data_offsets"), data_size,
                          begin, end, err, errlen) != 0)
        return -1;
    if (*end - *begin != (uint64_t) t->numel * 4)
        return ofr_errf (err, errlen, "%s: tensor '%s': %llu bytes in data_offsets but "
                         "shape holds %zu F32 values (%llu bytes)", path, name,
                         (unsigned long long) (*end - *begin), t->numel,
                         (unsigned long long) t->numel * 4);
    return 0;
}

typedef struct { uint64_t begin, end; size_t index; } range;

static int
cmp_range (const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Tensors must tile [0, data_size) exactly: sorted by begin, each starts
   where the previous ended. */
static int
check_tiling (ofr_safetensors *self, range *r, uint64_t data_size, char *err, size_t errlen)
{
    qsort (r, self->n, sizeof *r, cmp_range);
    uint64_t at = 0;
    for (size_t i = 0; i < self->n; i++) {
        const char *name = self->tensors[r[i].index].name;
        if (r[i].begin < at)
            return ofr_errf (err, errlen, "%s: tensor '%s': data_offsets [%llu, %llu] overlap "
                             "tensor '%s'", self->path, name, (unsigned long long) r[i].begin,
                             (unsigned long long) r[i].end,
                             self->tensors[r[i - 1].index].name);
        if (r[i].begin > at)
            return ofr_errf (err, errlen, "%s: tensor '%s': %llu unused bytes before it in "
                             "the data region", self->path, name,
                             (unsigned long long) (r[i].begin - at));
        at = r[i].end;
    }
    if (at != data_size)
        return ofr_errf (err, errlen, "%s: %llu trailing bytes after the last tensor",
                         self->path, (unsigned long long) (data_size - at));
    return 0;
}

static int
check_metadata (const ofr_safetensors *self, const ofr_jsonlite *m, char *err, size_t errlen)
{
    if (m->type != OFR_JSONLITE_OBJECT)
        return ofr_errf (err, errlen, "%s: \"__metadata__\" must be an object", self->path);
    for (size_t i = 0; i < m->n; i++)
        if (m->items[i]->type != OFR_JSONLITE_STRING)
            return ofr_errf (err, errlen, "%s: \"__metadata__\".\"%s\" must be a string",
                             self->path, m->keys[i]);
    return 0;
}

static int
parse_header (ofr_safetensors *self, const uint8_t *data, uint64_t data_size,
              char *err, size_t errlen)
{
    const ofr_jsonlite *h = self->header;
    if (h->type != OFR_JSONLITE_OBJECT)
        return ofr_errf (err, errlen, "%s: header is a JSON %s, expected an object",
                         self->path, ofr_jsonlite_type_name (h->type));
    self->tensors = ofr_calloc (h->n, sizeof *self->tensors);
    range *r = ofr_calloc (h->n, sizeof *r);
    if (!self->tensors || !r) {
        free (r);
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    }
    int rc = 0;
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        if (strcmp (h->keys[i], "__metadata__") == 0) {
            rc = check_metadata (self, h->items[i], err, errlen);
            continue;
        }
        ofr_st_tensor *t = &self->tensors[self->n];
        rc = parse_tensor (self->path, h->keys[i], h->items[i], data_size, t,
                           &r[self->n].begin, &r[self->n].end, err, errlen);
        t->data = (const float *) (const void *) (data + r[self->n].begin);
        r[self->n].index = self->n;
        self->n++;
    }
    if (rc == 0)
        rc = check_tiling (self, r, data_size, err, errlen);
    free (r);
    return rc;
}

static int
map_file (ofr_safetensors *self, char *err, size_t errlen)
{
    int fd = open (self->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ofr_errf (err, errlen, "%s: %s", self->path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) != 0) {
        int e = errno;
        close (fd);
        return ofr_errf (err, errlen, "%s: %s", self->path, strerror (e));
    }
    if (!S_ISREG (st.st_mode) || st.st_size < 8) {
        close (fd);
        return ofr_errf (err, errlen, "%s: not a safetensors file (%s)", self->path,
                         S_ISREG (st.st_mode) ? "shorter than 8 bytes" : "not a regular file");
    }
    self->map_size = (size_t) st.st_size;
    self->map = mmap (NULL, self->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close (fd);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        return ofr_errf (err, errlen, "%s: mmap: %s", self->path, strerror (e));
    }
    return 0;
}

/* Validates the 8-byte length; sets *hlen to the JSON header's size. */
static int
read_header_len (ofr_safetensors *self, uint64_t *hlen, char *err, size_t errlen)
{
    const uint8_t *p = self->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p[i];
    if (n == 0 || n > MAX_HEADER)
        return ofr_errf (err, errlen, "%s: header length %llu is not plausible (1..%llu)",
                         self->path, (unsigned long long) n, (unsigned long long) MAX_HEADER);
    if (n > self->map_size - 8)
        return ofr_errf (err, errlen, "%s: header length %llu exceeds the file "
                         "(%zu bytes): truncated?", self->path, (unsigned long long) n,
                         self->map_size);
    *hlen = n;
    return 0;
}

int
ofr_safetensors_open (const char *path, ofr_safetensors **out, char *err, size_t errlen)
{
    if (!host_is_little_endian ())
        return ofr_errf (err, errlen, "%s: big-endian hosts are not supported", path);
    ofr_safetensors *self = ofr_calloc (1, sizeof *self);
    if (!self || !(self->path = ofr_strdup (path))) {
        free (self);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    uint64_t hlen = 0;
    if (map_file (self, err, errlen) != 0
        || read_header_len (self, &hlen, err, errlen) != 0
        || ofr_jsonlite_parse ((const char *) self->map + 8, (size_t) hlen, path,
                               &self->header, err, errlen) != 0)
        goto fail;
    const uint8_t *data = (const uint8_t *) self->map + 8 + hlen;
    uint64_t data_size = self->map_size - 8 - hlen;
    /* Writers pad the header to 8 bytes; copy the data if one did not, so
       that float loads stay aligned. */
    if ((8 + hlen) % 4 != 0) {
        self->copy = malloc (data_size ? (size_t) data_size : 1);
        if (!self->copy) {
            ofr_errf (err, errlen, "%s: out of memory", path);
            goto fail;
        }
        memcpy (self->copy, data, (size_t) data_size);
        data = (const uint8_t *) self->copy;
    }
    if (parse_header (self, data, data_size, err, errlen) != 0)
        goto fail;
    *out = self;
    return 0;
fail:
    ofr_safetensors_destroy (&self);
    return -1;
}

void
ofr_safetensors_destroy (ofr_safetensors **selfp)
{
    if (!selfp || !*selfp)
        return;
    ofr_safetensors *self = *selfp;
    if (self->map)
        munmap (self->map, self->map_size);
    ofr_jsonlite_destroy (&self->header);
    free (self->copy);
    free (self->tensors);
    free (self->path);
    free (self);
    *selfp = NULL;
}

size_t
ofr_safetensors_count (const ofr_safetensors *self)
{
    return self->n;
}

const ofr_st_tensor *
ofr_safetensors_at (const ofr_safetensors *self, size_t i)
{
    return i < self->n ? &self->tensors[i] : NULL;
}

const ofr_st_tensor *
ofr_safetensors_find (const ofr_safetensors *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->tensors[i].name, name) == 0)
            return &self->tensors[i];
    return NULL;
}

static void
format_shape (char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t at = 0;
    at += (size_t) snprintf (buf, len, "[");
    for (int i = 0; i < ndim && at < len; i++)
        at += (size_t) snprintf (buf + at, len - at, "%s%lld", i ? ", " : "",
                                 (long long) shape[i]);
    if (at < len)
        snprintf (buf + at, len - at, "]");
}

int
ofr_safetensors_expect (const ofr_safetensors *self, const char *name, int ndim,
                        const int64_t *shape, const float **data, char *err, size_t errlen)
{
    const ofr_st_tensor *t = ofr_safetensors_find (self, name);
    if (!t)
        return ofr_errf (err, errlen, "%s: tensor '%s' is missing", self->path, name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[128], got[128];
        format_shape (want, sizeof want, ndim, shape);
        format_shape (got, sizeof got, t->ndim, t->shape);
        return ofr_errf (err, errlen, "%s: tensor '%s' has shape %s, expected %s",
                         self->path, name, got, want);
    }
    *data = t->data;
    return 0;
}

const char *
ofr_safetensors_metadata (const ofr_safetensors *self, const char *key)
{
    const ofr_jsonlite *m = ofr_jsonlite_get (self->header, "__metadata__");
    const ofr_jsonlite *v = ofr_jsonlite_get (m, key);
    return v && v->type == OFR_JSONLITE_STRING ? v->string : NULL;
}

const char *
ofr_safetensors_path (const ofr_safetensors *self)
{
    return self->path;
}
