/*  ct2.c -- see ct2.h. */
#include "ct2.h"
#include "../../common/ofr_common.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char   *alias, *target;
} ct2_alias;

struct ofr_ct2 {
    int          version, revision;
    char        *spec;
    ofr_ct2_var *vars;
    size_t       n_vars;
    ct2_alias   *aliases;
    size_t       n_aliases;
};

/* A bounds-checked cursor over the file. */
typedef struct {
    const unsigned char *p;
    size_t               size, off;
    const char          *path;
    char                *err;
    size_t               errlen;
} cursor;

static int
need (cursor *c, size_t n, const char *what)
{
    if (n > c->size - c->off)
        return ofr_errf (c->err, c->errlen, "%s: truncated at byte %zu (reading %s)",
                         c->path, c->off, what);
    return 0;
}

static int
get_u32 (cursor *c, const char *what, uint32_t *v)
{
    if (need (c, 4, what) != 0)
        return -1;
    const unsigned char *b = c->p + c->off;
    *v = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
    c->off += 4;
    return 0;
}

static int
get_u8 (cursor *c, const char *what, unsigned *v)
{
    if (need (c, 1, what) != 0)
        return -1;
    *v = c->p[c->off++];
    return 0;
}

/* u16 length (the NUL included) + bytes. */
static int
get_str (cursor *c, const char *what, char **out)
{
    if (need (c, 2, what) != 0)
        return -1;
    size_t len = (size_t) c->p[c->off] | (size_t) c->p[c->off + 1] << 8;
    c->off += 2;
    if (need (c, len, what) != 0)
        return -1;
    const char *s = (const char *) c->p + c->off;
    size_t n = len && s[len - 1] == 0 ? len - 1 : len;
    if (memchr (s, 0, n))
        return ofr_errf (c->err, c->errlen, "%s: NUL inside %s at byte %zu", c->path, what, c->off);
    *out = malloc (n + 1);
    if (!*out)
        return ofr_errf (c->err, c->errlen, "%s: out of memory", c->path);
    memcpy (*out, s, n);
    (*out)[n] = 0;
    c->off += len;
    return 0;
}

static size_t
dtype_size (ofr_ct2_dtype t)
{
    switch (t) {
    case OFR_CT2_F32: case OFR_CT2_I32: return 4;
    case OFR_CT2_I16: case OFR_CT2_F16: case OFR_CT2_BF16: return 2;
    case OFR_CT2_I8: return 1;
    }
    return 0;
}

static int
read_var (cursor *c, int version, ofr_ct2_var *v)
{
    unsigned rank, tag;
    uint32_t n;
    if (get_str (c, "variable name", &v->name) != 0 || get_u8 (c, "rank", &rank) != 0)
        return -1;
    if (rank > OFR_CT2_MAX_RANK)
        return ofr_errf (c->err, c->errlen, "%s: variable %s has rank %u (max %d)",
                         c->path, v->name, rank, OFR_CT2_MAX_RANK);
    v->rank = (int) rank;
    size_t count = 1;
    for (unsigned i = 0; i < rank; i++) {
        if (get_u32 (c, "dimension", &v->dims[i]) != 0)
            return -1;
        if (v->dims[i] && count > SIZE_MAX / v->dims[i])
            return ofr_errf (c->err, c->errlen, "%s: variable %s is too large", c->path, v->name);
        count *= v->dims[i];
    }
    if (get_u8 (c, "dtype", &tag) != 0 || get_u32 (c, "size", &n) != 0)
        return -1;
    size_t bytes;
    if (version >= 4) {                   /* dtype id + byte count */
        if (tag > OFR_CT2_BF16)
            return ofr_errf (c->err, c->errlen, "%s: variable %s has unknown dtype id %u",
                             c->path, v->name, tag);
        v->dtype = (ofr_ct2_dtype) tag;
        bytes = n;
    }
    else {                                /* item size + element count */
        if (tag != 4 && tag != 2 && tag != 1)
            return ofr_errf (c->err, c->errlen, "%s: variable %s has item size %u",
                             c->path, v->name, tag);
        v->dtype = tag == 4 ? OFR_CT2_F32 : tag == 2 ? OFR_CT2_I16 : OFR_CT2_I8;
        bytes = (size_t) n * tag;
    }
    if (bytes != count * dtype_size (v->dtype))
        return ofr_errf (c->err, c->errlen, "%s: variable %s: %zu bytes for %zu elements",
                         c->path, v->name, bytes, count);
    if (need (c, bytes, v->name) != 0)
        return -1;
    v->count = count;
    v->data = malloc (bytes ? bytes : 1);
    if (!v->data)
        return ofr_errf (c->err, c->errlen, "%s: out of memory", c->path);
    memcpy (v->data, c->p + c->off, bytes);   /* native little-endian */
    c->off += bytes;
    return 0;
}

static int
parse (cursor *c, ofr_ct2 *m)
{
    uint32_t v, n;
    if (get_u32 (c, "binary version", &v) != 0)
        return -1;
    if (v < 2 || v > 6)
        return ofr_errf (c->err, c->errlen, "%s: CTranslate2 binary version %u is not "
                         "supported (2..6)", c->path, v);
    m->version = (int) v;
    if (get_str (c, "spec name", &m->spec) != 0 || get_u32 (c, "spec revision", &v) != 0
        || get_u32 (c, "variable count", &n) != 0)
        return -1;
    m->revision = (int) v;
    /* Each variable takes at least 8 bytes: a bound on a corrupt count. */
    if (n > (c->size - c->off) / 8)
        return ofr_errf (c->err, c->errlen, "%s: %u variables cannot fit", c->path, n);
    m->vars = ofr_calloc (n ? n : 1, sizeof *m->vars);
    if (!m->vars)
        return ofr_errf (c->err, c->errlen, "%s: out of memory", c->path);
    for (; m->n_vars < n; m->n_vars++)
        if (read_var (c, m->version, &m->vars[m->n_vars]) != 0) {
            m->n_vars++;            /* free the partly read one too */
            return -1;
        }
    if (m->version >= 3) {
        if (get_u32 (c, "alias count", &n) != 0)
            return -1;
        if (n > (c->size - c->off) / 4)
            return ofr_errf (c->err, c->errlen, "%s: %u aliases cannot fit", c->path, n);
        m->aliases = ofr_calloc (n ? n : 1, sizeof *m->aliases);
        if (!m->aliases)
            return ofr_errf (c->err, c->errlen, "%s: out of memory", c->path);
        for (; m->n_aliases < n; m->n_aliases++) {
            ct2_alias *a = &m->aliases[m->n_aliases];
            if (get_str (c, "alias", &a->alias) != 0 || get_str (c, "alias target", &a->target) != 0) {
                m->n_aliases++;
                return -1;
            }
        }
    }
    if (c->off != c->size)
        return ofr_errf (c->err, c->errlen, "%s: %zu trailing bytes after byte %zu",
                         c->path, c->size - c->off, c->off);
    return 0;
}

int
ofr_ct2_open (const char *path, ofr_ct2 **out, char *err, size_t errlen)
{
    *out = NULL;
    char *data = NULL;
    size_t size = 0;
    if (ofr_read_file (path, &data, &size, err, errlen) != 0)
        return -1;
    ofr_ct2 *m = ofr_calloc (1, sizeof *m);
    cursor c = { (const unsigned char *) data, size, 0, path, err, errlen };
    int rc = m ? parse (&c, m) : ofr_errf (err, errlen, "%s: out of memory", path);
    free (data);
    if (rc != 0) {
        ofr_ct2_destroy (&m);
        return -1;
    }
    *out = m;
    return 0;
}

void
ofr_ct2_destroy (ofr_ct2 **mp)
{
    if (!mp || !*mp)
        return;
    ofr_ct2 *m = *mp;
    for (size_t i = 0; i < m->n_vars; i++) {
        free (m->vars[i].name);
        free (m->vars[i].data);
    }
    for (size_t i = 0; i < m->n_aliases; i++) {
        free (m->aliases[i].alias);
        free (m->aliases[i].target);
    }
    free (m->vars);
    free (m->aliases);
    free (m->spec);
    free (m);
    *mp = NULL;
}

int ofr_ct2_binary_version (const ofr_ct2 *m) { return m->version; }
const char *ofr_ct2_spec (const ofr_ct2 *m) { return m->spec; }
int ofr_ct2_revision (const ofr_ct2 *m) { return m->revision; }
size_t ofr_ct2_count (const ofr_ct2 *m) { return m->n_vars; }

const ofr_ct2_var *
ofr_ct2_at (const ofr_ct2 *m, size_t i)
{
    return i < m->n_vars ? &m->vars[i] : NULL;
}

const ofr_ct2_var *
ofr_ct2_find (const ofr_ct2 *m, const char *name)
{
    /* An alias names another variable; one level, as model.cc registers them. */
    for (size_t i = 0; name && i < m->n_aliases; i++)
        if (strcmp (m->aliases[i].alias, name) == 0) {
            name = m->aliases[i].target;
            break;
        }
    for (size_t i = 0; name && i < m->n_vars; i++)
        if (strcmp (m->vars[i].name, name) == 0)
            return &m->vars[i];
    return NULL;
}

int
ofr_ct2_floats (const ofr_ct2 *m, const char *name, int rank, const long *dims,
                const float **data, char *err, size_t errlen)
{
    const ofr_ct2_var *v = ofr_ct2_find (m, name);
    *data = NULL;
    if (!v)
        return ofr_errf (err, errlen, "model.bin: variable %s is missing", name);
    if (v->dtype != OFR_CT2_F32)
        return ofr_errf (err, errlen, "model.bin: variable %s is not float32 (dtype id %d; "
                         "quantized models are not supported)", name, (int) v->dtype);
    bool ok = v->rank == rank;
    for (int i = 0; ok && dims && i < rank; i++)
        ok = dims[i] < 0 || (long) v->dims[i] == dims[i];
    if (!ok) {
        char want[96] = "", got[96] = "";
        for (int i = 0; i < rank; i++)
            snprintf (want + strlen (want), sizeof want - strlen (want), "%s%ld", i ? "x" : "",
                      dims ? dims[i] : -1L);
        for (int i = 0; i < v->rank; i++)
            snprintf (got + strlen (got), sizeof got - strlen (got), "%s%u", i ? "x" : "",
                      v->dims[i]);
        return ofr_errf (err, errlen, "model.bin: variable %s has shape [%s], expected [%s]",
                         name, got, want);
    }
    *data = v->data;
    return 0;
}

int
ofr_ct2_int_attr (const ofr_ct2 *m, const char *name, long dflt, long *out,
                  char *err, size_t errlen)
{
    const ofr_ct2_var *v = ofr_ct2_find (m, name);
    *out = dflt;
    if (!v)
        return 0;
    if (v->count != 1)
        return ofr_errf (err, errlen, "model.bin: attribute %s has %zu elements", name, v->count);
    switch (v->dtype) {
    case OFR_CT2_I8:  *out = *(const int8_t *) v->data; return 0;
    case OFR_CT2_I16: *out = *(const int16_t *) v->data; return 0;
    case OFR_CT2_I32: *out = *(const int32_t *) v->data; return 0;
    default:
        return ofr_errf (err, errlen, "model.bin: attribute %s is not an integer (dtype id %d)",
                         name, (int) v->dtype);
    }
}
