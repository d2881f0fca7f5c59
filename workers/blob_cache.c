/*  blob_cache.c -- content-addressed cache of fetched files (blob_cache.h). */
#include "blob_cache.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PATHMAX 4096

/* Hash of a file as of (size, mtime): each file is hashed once per process. */
typedef struct {
    char    *path;
    int64_t  size, mtime_ns;
    char     hash[65];
} s_known;

struct _ofr_blobcache {
    char    *dir;
    s_known *known;
    int      n_known;
    size_t   cap_known;
    /* The download in progress. */
    int      fd;
    char     hash[65];
    char     what[512];
    char     part[S_PATHMAX];
    int64_t  size, next;
};

static int
s_mkdirs (char *path, char *err, size_t errlen)
{
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        int rc = mkdir (path, 0755);
        int e = errno;
        *p = c;
        if (rc != 0 && e != EEXIST)
            return ofr_errf (err, errlen, "cache: cannot create %s: %s", path, strerror (e));
        if (c == 0)
            return 0;
    }
}

int
ofr_blobcache_new (const char *dir, ofr_blobcache **out, char *err, size_t errlen)
{
    *out = NULL;
    char path[S_PATHMAX];
    const char *xdg = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
    if (dir && *dir)
        snprintf (path, sizeof path, "%s", dir);
    else if (xdg && *xdg)
        snprintf (path, sizeof path, "%s/offramp", xdg);
    else if (home && *home)
        snprintf (path, sizeof path, "%s/.cache/offramp", home);
    else
        return ofr_errf (err, errlen, "cache: no --cache DIR, $XDG_CACHE_HOME or $HOME");
    char sub[S_PATHMAX + 16];
    snprintf (sub, sizeof sub, "%s/blobs", path);
    if (s_mkdirs (sub, err, errlen) != 0)
        return -1;
    snprintf (sub, sizeof sub, "%s/cells", path);
    if (s_mkdirs (sub, err, errlen) != 0)
        return -1;
    /* Links in cell directories point into blobs/: make it absolute. */
    char *abs = realpath (path, NULL);
    if (!abs)
        return ofr_errf (err, errlen, "cache: %s: %s", path, strerror (errno));
    ofr_blobcache *self = ofr_calloc (1, sizeof *self);
    if (self)
        self->dir = abs;
    else
        free (abs);
    if (!self || !self->dir) {
        free (self);
        return ofr_errf (err, errlen, "cache: out of memory");
    }
    self->fd = -1;
    *out = self;
    return 0;
}

void
ofr_blobcache_destroy (ofr_blobcache **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_blobcache *self = *self_p;
    ofr_blobcache_abort (self);
    for (int i = 0; i < self->n_known; i++)
        free (self->known[i].path);
    free (self->known);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

const char *
ofr_blobcache_dir (const ofr_blobcache *self)
{
    return self->dir;
}

static bool
s_hash_ok (const char *h)
{
    if (!h || strlen (h) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return true;
}

/* Relative, no empty, "." or ".." component: stays inside the cell dir. */
static bool
s_relpath_ok (const char *p)
{
    size_t n = p ? strlen (p) : 0;
    if (n == 0 || n > 1024 || p[0] == '/')
        return false;
    const char *c = p;
    while (*c) {
        const char *e = strchr (c, '/');
        size_t len = e ? (size_t) (e - c) : strlen (c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!e)
            break;
        c = e + 1;
        if (!*c)
            return false;
    }
    return true;
}

int
ofr_blobcache_check_manifest (const ofr_msg *task, char *err, size_t errlen)
{
    const char *method = task->cell.method;
    if (!method || !*method || strchr (method, '/') || method[0] == '.')
        return ofr_errf (err, errlen, "manifest: bad method name");
    for (int i = 0; i < task->n_files; i++) {
        const ofr_file_info *f = &task->files[i];
        if (!s_hash_ok (f->hash))
            return ofr_errf (err, errlen, "manifest: file %d (%.200s): bad sha256", i,
                             f->path);
        if (!s_relpath_ok (f->path))
            return ofr_errf (err, errlen, "manifest: file %d: unsafe path '%.200s'", i,
                             f->path);
        if (strcmp (f->kind, "plugin") == 0) {
            if (task->plugin_hash && *task->plugin_hash
                && strcmp (task->plugin_hash, f->hash) != 0)
                return ofr_errf (err, errlen, "manifest: plugin %s has hash %s, the "
                                 "task expects %s", f->path, f->hash, task->plugin_hash);
        } else if (strcmp (f->kind, "model") != 0 && strcmp (f->kind, "data") != 0
                   && strcmp (f->kind, "artifact") != 0)
            return ofr_errf (err, errlen, "manifest: file %s: unknown kind '%.40s'",
                             f->path, f->kind);
    }
    return 0;
}

/* sha256 of path (memoised by size and mtime); 0, or -1 if unreadable. */
static int
s_hash_of (ofr_blobcache *self, const char *path, char hash[65])
{
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        return -1;
    int64_t mt = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    for (int i = 0; i < self->n_known; i++) {
        s_known *k = &self->known[i];
        if (strcmp (k->path, path) == 0) {
            if (k->size == (int64_t) st.st_size && k->mtime_ns == mt) {
                memcpy (hash, k->hash, 65);
                return 0;
            }
            char err[OFR_ERRLEN];
            if (ofr_sha256_file (path, k->hash, err, sizeof err) != 0)
                return -1;
            k->size = (int64_t) st.st_size;
            k->mtime_ns = mt;
            memcpy (hash, k->hash, 65);
            return 0;
        }
    }
    char err[OFR_ERRLEN];
    if (ofr_sha256_file (path, hash, err, sizeof err) != 0)
        return -1;
    if (ofr_grow ((void **) &self->known, &self->cap_known, (size_t) self->n_known + 1,
                  sizeof *self->known) == 0) {
        s_known *k = &self->known[self->n_known];
        if ((k->path = ofr_strdup (path)) != NULL) {
            k->size = (int64_t) st.st_size;
            k->mtime_ns = mt;
            memcpy (k->hash, hash, 65);
            self->n_known++;
        }
    }
    return 0;
}

/* Where file i comes from: 2 = a local file with its hash (src), 1 = the
   cache (src), 0 = missing. */
static int
s_resolve (ofr_blobcache *self, const ofr_msg *task, int i, const ofr_blob_local *l,
           char src[S_PATHMAX])
{
    ofr_plugin *const *plugins = l->plugins;
    int n_plugins = l->n_plugins;
    const ofr_file_info *f = &task->files[i];
    char h[65];
    if (strcmp (f->kind, "plugin") == 0) {
        for (int k = 0; k < n_plugins; k++)
            if (strcmp (ofr_plugin_method (plugins[k])->name, task->cell.method) == 0
                && strcmp (ofr_plugin_hash (plugins[k]), f->hash) == 0) {
                snprintf (src, S_PATHMAX, "%s", ofr_plugin_path (plugins[k]));
                return 2;
            }
    } else {
        const char *path = strcmp (f->kind, "model") == 0 ? l->models_path
                           : strcmp (f->kind, "data") == 0 ? l->data_path
                           : l->artifacts_path;
        char *found = NULL;
        char err[OFR_ERRLEN];
        if (path && ofr_path_find (path, f->path, &found, err, sizeof err) == 0) {
            int same = s_hash_of (self, found, h) == 0 && strcmp (h, f->hash) == 0;
            if (same)
                snprintf (src, S_PATHMAX, "%s", found);
            else
                ofr_log (OFR_INFO, "local %s differs from the coordinator's (%s): "
                         "using the coordinator's", found, f->hash);
            free (found);
            if (same)
                return 2;
        }
    }
    snprintf (src, S_PATHMAX, "%s/blobs/%s", self->dir, f->hash);
    if (access (src, F_OK) != 0)
        return 0;
    if (s_hash_of (self, src, h) == 0 && strcmp (h, f->hash) == 0)
        return 1;
    ofr_log (OFR_WARN, "cached blob %s (%s) is corrupt (hash mismatch: %s): "
             "fetching it again", f->hash, f->path, s_hash_ok (h) ? h : "unreadable");
    unlink (src);
    return 0;
}

int
ofr_blobcache_missing (ofr_blobcache *self, const ofr_msg *task,
                       const ofr_blob_local *local)
{
    char src[S_PATHMAX];
    for (int i = 0; i < task->n_files; i++)
        if (s_resolve (self, task, i, local, src) == 0)
            return i;
    return -1;
}

void
ofr_blobcache_abort (ofr_blobcache *self)
{
    if (self->fd >= 0) {
        close (self->fd);
        unlink (self->part);
    }
    self->fd = -1;
}

int
ofr_blobcache_begin (ofr_blobcache *self, const char *hash, const char *what,
                     int64_t size, char *err, size_t errlen)
{
    ofr_blobcache_abort (self);
    if (!s_hash_ok (hash))
        return ofr_errf (err, errlen, "blob for %s: bad sha256", what);
    snprintf (self->hash, sizeof self->hash, "%s", hash);
    snprintf (self->what, sizeof self->what, "%s", what);
    snprintf (self->part, sizeof self->part, "%s/blobs/%s.part.%d", self->dir, hash,
              (int) getpid ());
    self->fd = open (self->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (self->fd < 0)
        return ofr_errf (err, errlen, "blob %s (%s): cannot create %s: %s", hash, what,
                         self->part, strerror (errno));
    self->size = size;
    self->next = 0;
    return 0;
}

int
ofr_blobcache_write (ofr_blobcache *self, int64_t offset, const void *data, size_t n,
                     char *err, size_t errlen)
{
    if (self->fd < 0)
        return ofr_errf (err, errlen, "blob: no download in progress");
    if (offset != self->next || offset + (int64_t) n > self->size)
        return ofr_errf (err, errlen, "blob %s (%s): chunk at %lld+%zu, expected %lld "
                         "of %lld bytes", self->hash, self->what, (long long) offset, n,
                         (long long) self->next, (long long) self->size);
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite (self->fd, (const char *) data + done, n - done,
                            (off_t) (offset + (int64_t) done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ofr_errf (err, errlen, "blob %s (%s): writing %s: %s", self->hash,
                             self->what, self->part, strerror (errno));
        done += (size_t) w;
    }
    self->next += (int64_t) n;
    return 0;
}

int
ofr_blobcache_commit (ofr_blobcache *self, char *err, size_t errlen)
{
    if (self->fd < 0)
        return ofr_errf (err, errlen, "blob: no download in progress");
    if (self->next != self->size) {
        ofr_blobcache_abort (self);
        return ofr_errf (err, errlen, "blob %s (%s): incomplete", self->hash, self->what);
    }
    int rc = close (self->fd);
    self->fd = -1;
    char h[65];
    if (rc != 0 || ofr_sha256_file (self->part, h, err, errlen) != 0) {
        unlink (self->part);
        return ofr_errf (err, errlen, "blob %s (%s): cannot read back %s", self->hash,
                         self->what, self->part);
    }
    if (strcmp (h, self->hash) != 0) {
        unlink (self->part);
        return ofr_errf (err, errlen, "blob %s (%s): fetched data has sha256 %s "
                         "(hash mismatch)", self->hash, self->what, h);
    }
    char dst[S_PATHMAX + 80];
    snprintf (dst, sizeof dst, "%s/blobs/%s", self->dir, self->hash);
    if (rename (self->part, dst) != 0) {
        int e = errno;
        unlink (self->part);
        return ofr_errf (err, errlen, "blob %s (%s): %s: %s", self->hash, self->what,
                         dst, strerror (e));
    }
    return 0;
}

/* cell/rel -> target, atomically (symlink to a temporary name, rename). */
static int
s_link (const char *cell, const char *rel, const char *target, char *err, size_t errlen)
{
    char path[S_PATHMAX * 2], tmp[S_PATHMAX * 2 + 32];
    snprintf (path, sizeof path, "%s/%s", cell, rel);
    char *slash = strrchr (path, '/');
    *slash = 0;
    if (s_mkdirs (path, err, errlen) != 0)
        return -1;
    *slash = '/';
    char cur[S_PATHMAX];
    ssize_t n = readlink (path, cur, sizeof cur - 1);
    if (n >= 0) {
        cur[n] = 0;
        if (strcmp (cur, target) == 0)
            return 0;
    }
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ());
    unlink (tmp);
    if (symlink (target, tmp) != 0 || rename (tmp, path) != 0) {
        int e = errno;
        unlink (tmp);
        return ofr_errf (err, errlen, "cache: cannot link %s -> %s: %s", path, target,
                         strerror (e));
    }
    return 0;
}

static char *
s_join (const char *a, const char *b)
{
    ofr_buf buf;
    ofr_buf_init (&buf);
    ofr_buf_printf (&buf, "%s%s%s", a, b && *b ? ":" : "", b ? b : "");
    if (buf.oom) {
        ofr_buf_free (&buf);
        return NULL;
    }
    return buf.data;
}

int
ofr_blobcache_prepare (ofr_blobcache *self, const ofr_msg *task,
                       const ofr_blob_local *local, char **models_out,
                       char **data_out, char **arts_out, char **plugin_file,
                       char *err, size_t errlen)
{
    *models_out = *data_out = *arts_out = *plugin_file = NULL;
    int n = task->n_files;
    if (n == 0)
        return 0;
    int *from = ofr_calloc ((size_t) n, sizeof *from);
    char (*src)[S_PATHMAX] = ofr_calloc ((size_t) n, sizeof *src);
    if (!from || !src) {
        free (from);
        free (src);
        return ofr_errf (err, errlen, "cache: out of memory");
    }
    bool need_model = false, need_data = false, need_arts = false, need_plugin = false;
    int rc = 0;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init (&st);
    for (int i = 0; i < n && rc == 0; i++) {
        const ofr_file_info *f = &task->files[i];
        from[i] = s_resolve (self, task, i, local, src[i]);
        if (from[i] == 0)
            rc = ofr_errf (err, errlen, "blob %s (%s): missing from the cache", f->hash,
                           f->path);
        bool cached = from[i] == 1;
        need_plugin |= cached && strcmp (f->kind, "plugin") == 0;
        need_model |= cached && strcmp (f->kind, "model") == 0;
        need_data |= cached && strcmp (f->kind, "data") == 0;
        need_arts |= cached && strcmp (f->kind, "artifact") == 0;
        crypto_hash_sha256_update (&st, (const unsigned char *) f->kind, strlen (f->kind) + 1);
        crypto_hash_sha256_update (&st, (const unsigned char *) f->path, strlen (f->path) + 1);
        crypto_hash_sha256_update (&st, (const unsigned char *) f->hash, 65);
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&st, digest);
    char key[33];
    for (int i = 0; i < 16; i++)
        snprintf (key + 2 * i, 3, "%02x", digest[i]);
    char cell[S_PATHMAX + 64];
    snprintf (cell, sizeof cell, "%s/cells/%s", self->dir, key);
    for (int i = 0; i < n && rc == 0; i++) {
        const ofr_file_info *f = &task->files[i];
        char rel[S_PATHMAX];
        if (strcmp (f->kind, "plugin") == 0) {
            if (!need_plugin || from[i] != 1)
                continue;
            snprintf (rel, sizeof rel, "plugins/%s.so", task->cell.method);
            rc = s_link (cell, rel, src[i], err, errlen);
            char file[S_PATHMAX * 2 + 80];
            snprintf (file, sizeof file, "%s/%s", cell, rel);
            if (rc == 0 && !(*plugin_file = ofr_strdup (file)))
                rc = ofr_errf (err, errlen, "cache: out of memory");
        } else if ((strcmp (f->kind, "model") == 0 && need_model)
                   || (strcmp (f->kind, "data") == 0 && need_data)
                   || (strcmp (f->kind, "artifact") == 0 && need_arts)) {
            snprintf (rel, sizeof rel, "%s/%s",
                      strcmp (f->kind, "model") == 0 ? "models"
                      : strcmp (f->kind, "data") == 0 ? "data" : "artifacts", f->path);
            rc = s_link (cell, rel, src[i], err, errlen);
        }
    }
    char dir[S_PATHMAX + 80];
    if (rc == 0 && need_model) {
        snprintf (dir, sizeof dir, "%s/models", cell);
        if (!(*models_out = s_join (dir, local->models_path)))
            rc = ofr_errf (err, errlen, "cache: out of memory");
    }
    if (rc == 0 && need_data) {
        snprintf (dir, sizeof dir, "%s/data", cell);
        if (!(*data_out = s_join (dir, local->data_path)))
            rc = ofr_errf (err, errlen, "cache: out of memory");
    }
    if (rc == 0 && need_arts) {
        snprintf (dir, sizeof dir, "%s/artifacts", cell);
        if (!(*arts_out = s_join (dir, local->artifacts_path)))
            rc = ofr_errf (err, errlen, "cache: out of memory");
    }
    if (rc != 0) {
        free (*models_out);
        free (*data_out);
        free (*arts_out);
        free (*plugin_file);
        *models_out = *data_out = *arts_out = *plugin_file = NULL;
    }
    free (from);
    free (src);
    return rc;
}
