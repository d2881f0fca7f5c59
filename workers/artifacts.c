/*  artifacts.c -- see artifacts.h. */
#include "artifacts.h"
#include "../common/ofr_common.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ofr_artifacts {
    char  *model;         /* directory name of the model (last path component) */
    char  *method;
    char  *suite;
    char  *split;         /* evaluated split, NULL when fitting                 */
    char  *params;        /* JSON object text or NULL                           */
    char  *search_path;
    char  *out_dir;
    char  *split_desc;
    char  *fit_command;
    int    n_examples;
    int    n_saved;
    void **blobs;         /* loaded buffers, freed by destroy                   */
    size_t n_blobs, cap_blobs;
    char   err[OFR_ERRLEN];
    char   last_path[1100];
};

const char *
ofr_artifacts_default_path (void)
{
    const char *v = getenv ("OFFRAMP_ARTIFACTS");
    return v && *v ? v : "artifacts";
}

/* "models/glue-sst2-multiexit/" -> "glue-sst2-multiexit". */
static char *
model_dirname (const char *model)
{
    size_t len = strlen (model);
    while (len > 1 && model[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && model[start - 1] != '/')
        start--;
    char *s = malloc (len - start + 1);
    if (s) {
        memcpy (s, model + start, len - start);
        s[len - start] = '\0';
    }
    return s;
}

int
ofr_artifacts_new (const ofr_artifacts_opts *o, ofr_artifacts **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->model || !*o->model || !o->method || !*o->method)
        return ofr_errf (err, errlen, "artifacts: a model and a method are required");
    ofr_artifacts *self = ofr_calloc (1, sizeof *self);
    if (!self)
        return ofr_errf (err, errlen, "artifacts: out of memory");
    self->model = model_dirname (o->model);
    self->method = ofr_strdup (o->method);
    self->suite = ofr_strdup (o->suite ? o->suite : "");
    self->split = ofr_strdup (o->split);
    self->params = ofr_strdup (o->params);
    self->search_path = ofr_strdup (o->search_path ? o->search_path
                                                   : ofr_artifacts_default_path ());
    self->out_dir = ofr_strdup (o->out_dir);
    self->split_desc = ofr_strdup (o->split_desc ? o->split_desc : "");
    self->fit_command = ofr_strdup (o->fit_command);
    self->n_examples = o->n_examples;
    if (!self->model || !self->method || !self->suite || !self->search_path
        || !self->split_desc || (o->split && !self->split) || (o->params && !self->params)
        || (o->out_dir && !self->out_dir) || (o->fit_command && !self->fit_command)) {
        ofr_artifacts_destroy (&self);
        return ofr_errf (err, errlen, "artifacts: out of memory");
    }
    if (!*self->model || strcmp (self->model, ".") == 0 || strcmp (self->model, "..") == 0) {
        ofr_errf (err, errlen, "artifacts: model name '%s' gives no directory name", o->model);
        ofr_artifacts_destroy (&self);
        return -1;
    }
    *out = self;
    return 0;
}

void
ofr_artifacts_destroy (ofr_artifacts **self_p)
{
    ofr_artifacts *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n_blobs; i++)
        free (self->blobs[i]);
    free (self->blobs);
    free (self->model);
    free (self->method);
    free (self->suite);
    free (self->split);
    free (self->params);
    free (self->search_path);
    free (self->out_dir);
    free (self->split_desc);
    free (self->fit_command);
    free (self);
    *self_p = NULL;
}

const char *ofr_artifacts_error (const ofr_artifacts *self) { return self->err; }
const char *ofr_artifacts_last_path (const ofr_artifacts *self) { return self->last_path; }
const char *ofr_artifacts_fit_command (const ofr_artifacts *self)
{
    return self->fit_command ? self->fit_command : "";
}
int ofr_artifacts_n_saved (const ofr_artifacts *self) { return self->n_saved; }

/* Names become file names: no separators, no hidden files, no "..". */
static bool
name_ok (const char *name)
{
    if (!name || !*name || *name == '.' || strlen (name) > 128)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static int
mkdir_p (char *path, char *err, size_t errlen)
{
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        int rc = mkdir (path, 0777);
        int e = errno;
        *p = c;
        if (rc != 0 && e != EEXIST) {
            *p = '\0';
            ofr_errf (err, errlen, "artifacts: cannot create directory %s: %s",
                      path, strerror (e));
            *p = c;
            return -1;
        }
        if (c == '\0')
            return 0;
    }
}

static int
write_blob (const char *path, const void *data, size_t size, char *err, size_t errlen)
{
    char tmp[1100];
    snprintf (tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid ());
    FILE *f = fopen (tmp, "wb");
    if (!f)
        return ofr_errf (err, errlen, "artifacts: cannot write %s: %s", tmp, strerror (errno));
    bool ok = fwrite (data, 1, size, f) == size;
    ok = (fclose (f) == 0) && ok;
    if (!ok || rename (tmp, path) != 0) {
        int e = errno;
        unlink (tmp);
        return ofr_errf (err, errlen, "artifacts: writing %s failed: %s", path, strerror (e));
    }
    return 0;
}

/* "sst2/train[0:2000]" -> "train" (into buf). */
static void
desc_split (const char *desc, char *buf, size_t len)
{
    const char *s = strchr (desc, '/');
    s = s ? s + 1 : desc;
    size_t n = strcspn (s, "[");
    snprintf (buf, len, "%.*s", (int) n, s);
}

static json_t *
sidecar_json (const ofr_artifacts *self, const char *name, size_t size, const char *sha)
{
    char created[32], split[64];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    desc_split (self->split_desc, split, sizeof split);
    json_t *params = self->params ? json_loads (self->params, 0, NULL) : json_object ();
    if (!params)
        params = json_string (self->params);
    return json_pack ("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:s, s:I, s:s}",
                      "name", name, "model", self->model, "method", self->method,
                      "params", params, "suite", self->suite, "split", split,
                      "split_desc", self->split_desc, "n_examples", self->n_examples,
                      "created", created, "size", (json_int_t) size, "sha256", sha);
}

int
ofr_artifacts_save (ofr_artifacts *self, const char *name, const void *data, size_t size)
{
    char *err = self->err;
    size_t errlen = sizeof self->err;
    *err = '\0';
    if (!self->out_dir)
        return ofr_errf (err, errlen, "artifact '%s': saving is only possible under "
                         "`offramp fit` (evaluation never writes artifacts)", name ? name : "?");
    if (!name_ok (name))
        return ofr_errf (err, errlen, "artifact '%s': invalid name (expected [A-Za-z0-9_.-]+)",
                         name ? name : "(null)");
    if (!data && size > 0)
        return ofr_errf (err, errlen, "artifact '%s': no data", name);
    char dir[1024], path[1060], side[1060], sha[65];
    if ((size_t) snprintf (dir, sizeof dir, "%s/%s/%s", self->out_dir, self->model,
                           self->method) >= sizeof dir)
        return ofr_errf (err, errlen, "artifact '%s': directory name too long", name);
    snprintf (path, sizeof path, "%s/%s.bin", dir, name);
    snprintf (side, sizeof side, "%s/%s.json", dir, name);
    if (mkdir_p (dir, err, errlen) != 0 || write_blob (path, data, size, err, errlen) != 0
        || ofr_sha256_file (path, sha, err, errlen) != 0)
        return -1;
    json_t *j = sidecar_json (self, name, size, sha);
    char tmp[1100];
    snprintf (tmp, sizeof tmp, "%s.tmp.%ld", side, (long) getpid ());
    FILE *f = j ? fopen (tmp, "w") : NULL;
    int rc = f ? json_dumpf (j, f, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : -1;
    if (f) {
        rc = fputc ('\n', f) == EOF ? -1 : rc;
        rc = fclose (f) != 0 ? -1 : rc;
    }
    json_decref (j);
    if (rc != 0 || rename (tmp, side) != 0) {
        unlink (tmp);
        return ofr_errf (err, errlen, "artifact '%s': writing the sidecar %s failed", name, side);
    }
    snprintf (self->last_path, sizeof self->last_path, "%s", path);
    self->n_saved++;
    return 0;
}

/* The sidecar must describe this blob and must not name the evaluated
   split: the one thing fitting may never have seen. */
static int
check_sidecar (ofr_artifacts *self, const char *side, const char *sha, size_t size)
{
    char *err = self->err;
    size_t errlen = sizeof self->err;
    json_error_t jerr;
    json_t *j = json_load_file (side, 0, &jerr);
    if (!j)
        return ofr_errf (err, errlen, "artifact sidecar %s: %s (line %d); without it "
                         "nothing says what the artifact was fitted on", side, jerr.text,
                         jerr.line);
    const char *model = NULL, *method = NULL, *hash = NULL, *desc = NULL;
    json_int_t jsize = -1;
    int rc = -1;
    if (json_unpack (j, "{s:s, s:s, s:s, s:s, s:I}", "model", &model, "method", &method,
                     "sha256", &hash, "split_desc", &desc, "size", &jsize) != 0)
        ofr_errf (err, errlen, "artifact sidecar %s: needs model, method, sha256, "
                  "split_desc and size", side);
    else if (strcmp (model, self->model) != 0 || strcmp (method, self->method) != 0)
        ofr_errf (err, errlen, "artifact sidecar %s: fitted for %s/%s, not %s/%s", side,
                  model, method, self->model, self->method);
    else if (strcmp (hash, sha) != 0 || jsize != (json_int_t) size)
        ofr_errf (err, errlen, "artifact %s: sha256 %.12s does not match its sidecar's "
                  "%.12s (blob changed after fitting; re-run offramp fit)", side, sha, hash);
    else {
        char eval[256];
        size_t n = (size_t) snprintf (eval, sizeof eval, "%s/%s", self->suite,
                                      self->split ? self->split : "");
        /* A "fit" part held out of test (camvid.h) is part of "test". */
        char fit_of_test[256];
        size_t nf = (size_t) snprintf (fit_of_test, sizeof fit_of_test, "%s/fit", self->suite);
        bool held_out = self->split && strcmp (self->split, "test") == 0
                        && strncmp (desc, fit_of_test, nf) == 0
                        && (desc[nf] == '\0' || desc[nf] == '[');
        if (held_out || (self->split && strncmp (desc, eval, n) == 0
                         && (desc[n] == '\0' || desc[n] == '[')))
            ofr_errf (err, errlen, "artifact %s was fitted on %s, %s this cell "
                      "evaluates: refusing it (fit on a train split%s)", side, desc,
                      held_out ? "a part of the split" : "the split",
                      held_out ? "; evaluate on the eval part" : "");
        else
            rc = 0;
    }
    json_decref (j);
    return rc;
}

static const void *
load_from (ofr_artifacts *self, const char *path, const char *side, size_t *size)
{
    char sha[65], *data = NULL;
    size_t n = 0;
    if (ofr_sha256_file (path, sha, self->err, sizeof self->err) != 0
        || ofr_read_file (path, &data, &n, self->err, sizeof self->err) != 0)
        return NULL;
    if (check_sidecar (self, side, sha, n) != 0
        || ofr_grow ((void **) &self->blobs, &self->cap_blobs, self->n_blobs + 1,
                     sizeof *self->blobs) != 0) {
        if (!*self->err)
            ofr_errf (self->err, sizeof self->err, "artifacts: out of memory");
        free (data);
        return NULL;
    }
    self->blobs[self->n_blobs++] = data;
    snprintf (self->last_path, sizeof self->last_path, "%s", path);
    *size = n;
    return data;
}

const void *
ofr_artifacts_load (ofr_artifacts *self, const char *name, size_t *size)
{
    size_t dummy;
    size = size ? size : &dummy;
    *size = 0;
    self->err[0] = '\0';
    if (!name_ok (name)) {
        ofr_errf (self->err, sizeof self->err, "artifact '%s': invalid name",
                  name ? name : "(null)");
        return NULL;
    }
    const char *p = self->search_path;
    while (*p) {
        size_t len = strcspn (p, ":");
        char path[1060], side[1060];
        snprintf (path, sizeof path, "%.*s/%s/%s/%s.bin", (int) len, p, self->model,
                  self->method, name);
        snprintf (side, sizeof side, "%.*s/%s/%s/%s.json", (int) len, p, self->model,
                  self->method, name);
        if (len > 0 && access (path, F_OK) == 0)
            return load_from (self, path, side, size);
        p += len + (p[len] == ':');
    }
    ofr_errf (self->err, sizeof self->err, "no artifact '%s' for model %s, method %s "
              "(looked for %s/%s/%s.bin under %s)%s%s", name, self->model, self->method,
              self->model, self->method, name, self->search_path,
              self->fit_command ? "; fit it first: " : "",
              self->fit_command ? self->fit_command : "");
    return NULL;
}

bool
ofr_artifacts_any (const ofr_artifacts *self)
{
    const char *p = self->search_path;
    while (*p) {
        size_t len = strcspn (p, ":");
        char dir[1060];
        snprintf (dir, sizeof dir, "%.*s/%s/%s", (int) len, p, self->model, self->method);
        DIR *d = len > 0 ? opendir (dir) : NULL;
        for (struct dirent *e; d && (e = readdir (d)); ) {
            size_t n = strlen (e->d_name);
            if (n > 4 && strcmp (e->d_name + n - 4, ".bin") == 0) {
                closedir (d);
                return true;
            }
        }
        if (d)
            closedir (d);
        p += len + (p[len] == ':');
    }
    return false;
}
