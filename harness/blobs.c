/*  blobs.c -- published files and chunk serving (blobs.h). */
#include "blobs.h"
#include "../common/ofr_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_DEPTH 8

typedef struct {
    char   *path;           /* absolute or as given: the coordinator's file */
    char    hash[65];
    int64_t size;
} s_blob;

struct _ofr_blobstore {
    s_blob *blobs;
    int     n;
    size_t  cap;
};

int
ofr_blobstore_new (ofr_blobstore **out)
{
    *out = ofr_calloc (1, sizeof **out);
    return *out ? 0 : -1;
}

void
ofr_blobstore_destroy (ofr_blobstore **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_blobstore *self = *self_p;
    for (int i = 0; i < self->n; i++)
        free (self->blobs[i].path);
    free (self->blobs);
    free (self);
    *self_p = NULL;
}

void
ofr_blobstore_files_free (ofr_file_info **files, int *n)
{
    for (int i = 0; i < *n; i++) {
        free ((*files)[i].kind);
        free ((*files)[i].path);
        free ((*files)[i].hash);
    }
    free (*files);
    *files = NULL;
    *n = 0;
}

/* The blob of `file`, hashing it the first time it is published. */
static const s_blob *
s_publish (ofr_blobstore *self, const char *file, char *err, size_t errlen)
{
    for (int i = 0; i < self->n; i++)
        if (strcmp (self->blobs[i].path, file) == 0)
            return &self->blobs[i];
    struct stat st;
    if (stat (file, &st) != 0) {
        ofr_errf (err, errlen, "%s: %s", file, strerror (errno));
        return NULL;
    }
    if (ofr_grow ((void **) &self->blobs, &self->cap, (size_t) self->n + 1,
                  sizeof *self->blobs) != 0) {
        ofr_errf (err, errlen, "%s: out of memory", file);
        return NULL;
    }
    s_blob *b = &self->blobs[self->n];
    memset (b, 0, sizeof *b);
    if (ofr_sha256_file (file, b->hash, err, errlen) != 0)
        return NULL;
    if (!(b->path = ofr_strdup (file))) {
        ofr_errf (err, errlen, "%s: out of memory", file);
        return NULL;
    }
    b->size = (int64_t) st.st_size;
    self->n++;
    return b;
}

int
ofr_blobstore_add_file (ofr_blobstore *self, const char *kind, const char *file,
                        const char *name, ofr_file_info **files, int *n,
                        char *err, size_t errlen)
{
    if (*n >= OFR_MAX_FILES)
        return ofr_errf (err, errlen, "%s: more than %d files to publish", file,
                         OFR_MAX_FILES);
    const s_blob *b = s_publish (self, file, err, errlen);
    if (!b)
        return -1;
    ofr_file_info *v = realloc (*files, (size_t) (*n + 1) * sizeof *v);
    if (!v)
        return ofr_errf (err, errlen, "%s: out of memory", file);
    *files = v;
    ofr_file_info *f = &v[*n];
    f->kind = ofr_strdup (kind);
    f->path = ofr_strdup (name);
    f->hash = ofr_strdup (b->hash);
    f->size = b->size;
    (*n)++;
    if (!f->kind || !f->path || !f->hash)
        return ofr_errf (err, errlen, "%s: out of memory", file);
    return 0;
}

static int
s_name_cmp (const void *a, const void *b)
{
    return strcmp (*(char * const *) a, *(char * const *) b);
}

/* dir = root/rel; entries sorted so that manifests are deterministic. */
static int
s_walk (ofr_blobstore *self, const char *kind, const char *root, const char *rel,
        int depth, ofr_file_info **files, int *n, char *err, size_t errlen)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/%s", root, rel);
    DIR *d = opendir (dir);
    if (!d)
        return ofr_errf (err, errlen, "%s: %s", dir, strerror (errno));
    char **names = NULL;
    size_t cap = 0;
    int nn = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir (d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;            /* ., .., hidden files */
        if (ofr_grow ((void **) &names, &cap, (size_t) nn + 1, sizeof *names) != 0
            || !(names[nn] = ofr_strdup (e->d_name))) {
            rc = ofr_errf (err, errlen, "%s: out of memory", dir);
            break;
        }
        nn++;
    }
    closedir (d);
    if (nn > 1)
        qsort (names, (size_t) nn, sizeof *names, s_name_cmp);
    for (int i = 0; i < nn && rc == 0; i++) {
        char sub[4096], full[8192];
        snprintf (sub, sizeof sub, "%s/%s", rel, names[i]);
        snprintf (full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat (full, &st) != 0)
            continue;            /* dangling link */
        if (S_ISDIR (st.st_mode) && depth < S_MAX_DEPTH)
            rc = s_walk (self, kind, root, sub, depth + 1, files, n, err, errlen);
        else if (S_ISREG (st.st_mode))
            rc = ofr_blobstore_add_file (self, kind, full, sub, files, n, err, errlen);
    }
    for (int i = 0; i < nn; i++)
        free (names[i]);
    free (names);
    return rc;
}

int
ofr_blobstore_add_tree (ofr_blobstore *self, const char *kind, const char *root,
                        const char *sub, ofr_file_info **files, int *n,
                        char *err, size_t errlen)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/%s", root, sub);
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
        return 0;
    return s_walk (self, kind, root, sub, 0, files, n, err, errlen);
}

int
ofr_blobstore_serve (ofr_blobstore *self, const ofr_msg *get, ofr_msg *reply,
                     const char **path, char *err, size_t errlen)
{
    memset (reply, 0, sizeof *reply);
    reply->type = OFR_MSG_BLOB;
    reply->offset = get->offset;
    reply->total = -1;
    *path = NULL;
    if (!(reply->hash = ofr_strdup (get->hash ? get->hash : "")))
        return ofr_errf (err, errlen, "blob: out of memory");
    const s_blob *b = NULL;
    for (int i = 0; i < self->n && !b; i++)
        if (get->hash && strcmp (self->blobs[i].hash, get->hash) == 0)
            b = &self->blobs[i];
    if (!b)
        return 0;
    *path = b->path;
    if (get->offset > b->size)
        return 0;
    int64_t want = b->size - get->offset;
    if (want > get->length)
        want = get->length;
    if (want > OFR_BLOB_CHUNK)
        want = OFR_BLOB_CHUNK;
    if (want > 0 && !(reply->data = malloc ((size_t) want)))
        return ofr_errf (err, errlen, "blob %s (%s): out of memory", b->hash, b->path);
    int fd = open (b->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ofr_log (OFR_WARN, "blob %s: %s: %s", b->hash, b->path, strerror (errno));
        return 0;
    }
    ssize_t got = 0;
    while (got < want) {
        ssize_t r = pread (fd, reply->data + got, (size_t) (want - got),
                           (off_t) (get->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    close (fd);
    if (got != want) {
        ofr_log (OFR_WARN, "blob %s: %s: short read at offset %lld", b->hash, b->path,
                 (long long) get->offset);
        return 0;
    }
    reply->n_data = (int) want;
    reply->total = b->size;
    return 0;
}
