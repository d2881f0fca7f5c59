/*  ofr_paths.c -- see ofr_paths.h. */
#include "ofr_paths.h"
#include "ofr_common.h"

#include <limits.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
ofr_exe_dir (void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return ofr_strdup (".");
    buf[n] = 0;
    char *slash = strrchr (buf, '/');
    if (slash)
        *slash = 0;
    return ofr_strdup (buf);
}

static char *
default_path (const char *env, const char *leaf)
{
    const char *v = getenv (env);
    if (v && *v)
        return ofr_strdup (v);
    char *exe = ofr_exe_dir ();
    if (!exe)
        return NULL;
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/../%s:%s/../../shared/%s:./%s:../shared/%s",
                    exe, leaf, exe, leaf, leaf, leaf);
    free (exe);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

char *
ofr_default_data_path (void)
{
    return default_path ("OFFRAMP_DATA", "data");
}

char *
ofr_default_models_path (void)
{
    return default_path ("OFFRAMP_MODELS", "models");
}

static int
path_find (const char *path, const char *sub, bool want_root, char **out,
           char *err, size_t errlen)
{
    char *copy = ofr_strdup (path ? path : "");
    if (!copy)
        return ofr_errf (err, errlen, "out of memory");
    char *save = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s/%s", dir, sub);
        struct stat st;
        if (!b.oom && stat (b.data, &st) == 0) {
            if (want_root) {
                ofr_buf_free (&b);
                *out = ofr_strdup (dir);
                free (copy);
                return *out ? 0 : ofr_errf (err, errlen, "out of memory");
            }
            free (copy);
            *out = b.data;
            return 0;
        }
        ofr_buf_free (&b);
    }
    free (copy);
    return ofr_errf (err, errlen, "'%s' not found in %s", sub,
                     path && *path ? path : "(empty path)");
}

int
ofr_path_find (const char *path, const char *sub, char **out,
               char *err, size_t errlen)
{
    return path_find (path, sub, false, out, err, errlen);
}

int
ofr_path_find_root (const char *path, const char *sub, char **root,
                    char *err, size_t errlen)
{
    return path_find (path, sub, true, root, err, errlen);
}

char *
ofr_path_basename (const char *path)
{
    size_t n = strlen (path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    char *name = ofr_calloc (n - s + 1, 1);
    if (name)
        memcpy (name, path + s, n - s);
    return name;
}

char *
ofr_path_join (const char *dir, const char *leaf)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s%s%s", dir, strcmp (dir, "/") == 0 ? "" : "/", leaf);
    if (b.oom || !b.data) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}
