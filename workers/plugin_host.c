/*  plugin_host.c -- loading, validating and scanning method plugins; see
    plugin_host.h. Parameter resolution lives in plugin_params.c. */
#include "plugin_host.h"
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ofr_plugin {
    void             *handle;      /* from dlopen; dlclose'd by destroy       */
    const ofr_method *method;      /* inside the shared object                */
    char             *path;        /* as given to ofr_plugin_load             */
    char              hash[65];    /* sha256 of the file, lowercase hex       */
};

/* Size of ofr_method in ABI 1.0: every field up to after_layer. A plugin
   built for any 1.x has at least this much. */
#define METHOD_V1_0_SIZE \
    (offsetof (ofr_method, after_layer) + sizeof (((ofr_method *) 0)->after_layer))

/* Enough of the descriptor to read its ABI version safely. */
#define METHOD_HEADER_SIZE \
    (offsetof (ofr_method, abi_minor) + sizeof (((ofr_method *) 0)->abi_minor))

#define KNOWN_FLAGS (OFR_METHOD_ORACLE | OFR_METHOD_NEEDS_FIT)

/* ---- Descriptor validation ------------------------------------------------ */

/*  Names travel in plans, protocol messages and SQLite rows: keep them to a
    charset that never needs quoting. */
static int
valid_name (const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n <= OFR_PLUGIN_MAX_NAME;
}

static int
check_abi (const ofr_method *m, char *err, size_t errlen)
{
    if (m->struct_size < METHOD_HEADER_SIZE)
        return ofr_errf (err, errlen, "descriptor struct_size %zu is smaller than its "
                         "own header (not an offramp method?)", m->struct_size);
    if (m->abi_major != OFR_ABI_MAJOR || m->abi_minor > OFR_ABI_MINOR)
        return ofr_errf (err, errlen, "built for ABI %d.%d, host has %d.%d (%s)",
                         m->abi_major, m->abi_minor, OFR_ABI_MAJOR, OFR_ABI_MINOR,
                         m->abi_major != OFR_ABI_MAJOR
                             ? "major versions must match; rebuild the plugin"
                             : "update offramp or rebuild the plugin against this header");
    if (m->abi_minor < 0)
        return ofr_errf (err, errlen, "ABI minor %d is negative", m->abi_minor);
    if (m->struct_size < METHOD_V1_0_SIZE)
        return ofr_errf (err, errlen, "descriptor struct_size %zu is smaller than "
                         "ABI %d.0's %zu (truncated or hand-made descriptor)",
                         m->struct_size, OFR_ABI_MAJOR, (size_t) METHOD_V1_0_SIZE);
    /* A 1.m plugin with m <= ours was built from a header no larger than ours. */
    if (m->struct_size > sizeof (ofr_method))
        return ofr_errf (err, errlen, "descriptor struct_size %zu is larger than "
                         "ABI %d.%d's %zu although it claims ABI %d.%d (modified header?)",
                         m->struct_size, OFR_ABI_MAJOR, OFR_ABI_MINOR,
                         sizeof (ofr_method), m->abi_major, m->abi_minor);
    return 0;
}

static int
check_identity (const ofr_method *m, char *err, size_t errlen)
{
    if (!m->name)
        return ofr_errf (err, errlen, "method name is NULL");
    if (!valid_name (m->name))
        return ofr_errf (err, errlen, "method name '%.80s' is invalid (want [a-z0-9_]+, "
                         "at most %d characters)", m->name, OFR_PLUGIN_MAX_NAME);
    if (!m->version)
        return ofr_errf (err, errlen, "method %s: version is NULL", m->name);
    if (!m->summary)
        return ofr_errf (err, errlen, "method %s: summary is NULL", m->name);
    if (m->kinds == 0 || (m->kinds & ~OFR_KIND_ALL))
        return ofr_errf (err, errlen, "method %s: kinds 0x%x is invalid (a non-empty "
                         "set of OFR_KIND_* bits, 0x%x at most)", m->name, m->kinds,
                         OFR_KIND_ALL);
    if (m->flags & ~KNOWN_FLAGS)
        return ofr_errf (err, errlen, "method %s: unknown flags 0x%x", m->name,
                         m->flags & ~KNOWN_FLAGS);
    if (m->kv_policy < OFR_KV_COPY_UP || m->kv_policy > OFR_KV_MASK)
        return ofr_errf (err, errlen, "method %s: kv_policy %d is not one of "
                         "OFR_KV_COPY_UP/RECOMPUTE/MASK", m->name, m->kv_policy);
    if (!m->create || !m->destroy)
        return ofr_errf (err, errlen, "method %s: %s callback is NULL", m->name,
                         !m->create ? "create" : "destroy");
    if ((m->flags & OFR_METHOD_NEEDS_FIT) && !m->fit)
        return ofr_errf (err, errlen, "method %s: flagged NEEDS_FIT but has no fit "
                         "callback", m->name);
    /* Only the decoder driver knows how to speculate. */
    if (OFR_METHOD_HAS (m, speculate) && m->speculate && m->kinds != OFR_KIND_DECODER)
        return ofr_errf (err, errlen, "method %s: a speculate callback needs kinds = "
                         "decoder only (has 0x%x)", m->name, m->kinds);
    return 0;
}

static int
check_param (const ofr_method *m, int i, char *err, size_t errlen)
{
    const ofr_param_decl *d = &m->params[i];
    if (!valid_name (d->name))
        return ofr_errf (err, errlen, "method %s: parameter #%d name '%.80s' is invalid "
                         "(want [a-z0-9_]+, at most %d characters)", m->name, i + 1,
                         d->name ? d->name : "(null)", OFR_PLUGIN_MAX_NAME);
    for (int j = 0; j < i; j++)
        if (strcmp (m->params[j].name, d->name) == 0)
            return ofr_errf (err, errlen, "method %s: parameter '%s' declared twice "
                             "(#%d and #%d)", m->name, d->name, j + 1, i + 1);
    if (d->type < OFR_PARAM_INT || d->type > OFR_PARAM_STRING)
        return ofr_errf (err, errlen, "method %s: parameter '%s' has unknown type %d",
                         m->name, d->name, (int) d->type);
    if ((d->type == OFR_PARAM_INT || d->type == OFR_PARAM_FLOAT)
        && (isnan (d->min) || isnan (d->max)))
        return ofr_errf (err, errlen, "method %s: parameter '%s' has a NaN bound",
                         m->name, d->name);
    if (!d->default_value)
        return ofr_errf (err, errlen, "method %s: parameter '%s' has no default",
                         m->name, d->name);
    ofr_value v;
    char perr[OFR_ERRLEN];
    if (ofr_param_parse (m->name, d, d->default_value, &v, perr, sizeof perr) != 0)
        return ofr_errf (err, errlen, "bad default: %s", perr);
    return 0;
}

static int
check_params (const ofr_method *m, char *err, size_t errlen)
{
    if (m->n_params < 0 || m->n_params > OFR_PLUGIN_MAX_PARAMS)
        return ofr_errf (err, errlen, "method %s: n_params %d out of range [0, %d]",
                         m->name, m->n_params, OFR_PLUGIN_MAX_PARAMS);
    if (m->n_params > 0 && !m->params)
        return ofr_errf (err, errlen, "method %s: n_params is %d but params is NULL",
                         m->name, m->n_params);
    for (int i = 0; i < m->n_params; i++)
        if (check_param (m, i, err, errlen) != 0)
            return -1;
    return 0;
}

static int
check_method (const ofr_method *m, char *err, size_t errlen)
{
    if (check_abi (m, err, errlen) != 0 || check_identity (m, err, errlen) != 0
        || check_params (m, err, errlen) != 0)
        return -1;
    return 0;
}

/* ---- Loading -------------------------------------------------------------- */

/*  dlopen without a '/' searches the library path; a plugin file is always
    meant literally. */
static char *
literal_path (const char *path)
{
    if (strchr (path, '/'))
        return ofr_strdup (path);
    size_t n = strlen (path);
    char *p = malloc (n + 3);
    if (p) {
        memcpy (p, "./", 2);
        memcpy (p + 2, path, n + 1);
    }
    return p;
}

static void *
open_library (const char *path, char *err, size_t errlen)
{
    char *lit = literal_path (path);
    if (!lit) {
        ofr_errf (err, errlen, "%s: out of memory", path);
        return NULL;
    }
    dlerror ();
    void *h = dlopen (lit, RTLD_NOW | RTLD_LOCAL);
    free (lit);
    if (!h) {
        const char *why = dlerror ();
        ofr_errf (err, errlen, "%s: cannot load: %s", path, why ? why : "dlopen failed");
    }
    return h;
}

/*  Find and call the entry; the descriptor is only trusted after
    check_method. */
static const ofr_method *
call_entry (void *h, const char *path, const ofr_host *host, char *err, size_t errlen)
{
    dlerror ();
    void *sym = dlsym (h, OFR_ENTRY_SYMBOL);
    if (!sym) {
        ofr_errf (err, errlen, "%s: no entry symbol %s (not an offramp plugin, or the "
                  "entry is not exported with OFR_EXPORT)", path, OFR_ENTRY_SYMBOL);
        return NULL;
    }
    /* POSIX guarantees function pointers round-trip through dlsym's void *. */
    ofr_method_entry_fn entry;
    memcpy (&entry, &sym, sizeof entry);
    const ofr_method *m = entry (host);
    if (!m)
        ofr_errf (err, errlen, "%s: %s returned NULL (the plugin refused to load; "
                  "see its log lines above)", path, OFR_ENTRY_SYMBOL);
    return m;
}

int
ofr_plugin_load (const char *path, const ofr_host *host, ofr_plugin **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path)
        return ofr_errf (err, errlen, "plugin: empty path");
    if (!host)
        return ofr_errf (err, errlen, "%s: no host table to load it with", path);
    ofr_plugin *self = ofr_calloc (1, sizeof *self);
    if (!self || !(self->path = ofr_strdup (path))) {
        free (self);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    char why[OFR_ERRLEN];
    self->handle = open_library (path, err, errlen);
    if (!self->handle)
        goto fail;
    self->method = call_entry (self->handle, path, host, err, errlen);
    if (!self->method)
        goto fail;
    if (check_method (self->method, why, sizeof why) != 0) {
        ofr_errf (err, errlen, "%s: %s", path, why);
        goto fail;
    }
    if (ofr_sha256_file (path, self->hash, why, sizeof why) != 0) {
        ofr_errf (err, errlen, "%s: hashing: %s", path, why);
        goto fail;
    }
    *out = self;
    return 0;
fail:
    ofr_plugin_destroy (&self);
    return -1;
}

void
ofr_plugin_destroy (ofr_plugin **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_plugin *self = *self_p;
    if (self->handle)
        dlclose (self->handle);
    free (self->path);
    free (self);
    *self_p = NULL;
}

const ofr_method *
ofr_plugin_method (const ofr_plugin *self)
{
    return self->method;
}

const char *
ofr_plugin_path (const ofr_plugin *self)
{
    return self->path;
}

const char *
ofr_plugin_hash (const ofr_plugin *self)
{
    return self->hash;
}

/* ---- Scanning ------------------------------------------------------------- */

typedef struct {
    const ofr_host *host;
    ofr_plugin    **list;
    size_t          cap;
    int             n;
} scan_state;

static int
ends_with_so (const char *name)
{
    size_t n = strlen (name);
    return n > 3 && name[0] != '.' && strcmp (name + n - 3, ".so") == 0;
}

/* Returns -1 only on allocation failure; a bad plugin is a warning. */
static int
scan_file (scan_state *s, const char *path, char *err, size_t errlen)
{
    ofr_plugin *p = NULL;
    char why[OFR_ERRLEN];
    if (ofr_plugin_load (path, s->host, &p, why, sizeof why) != 0) {
        ofr_log (OFR_WARN, "plugin skipped: %s", why);
        return 0;
    }
    const char *name = ofr_plugin_method (p)->name;
    ofr_plugin *first = ofr_plugin_find (s->list, s->n, name);
    if (first) {
        ofr_log (OFR_WARN, "plugin skipped: %s: method '%s' is already provided by %s "
                 "(the first one on the path wins)", path, name, ofr_plugin_path (first));
        ofr_plugin_destroy (&p);
        return 0;
    }
    if (ofr_grow ((void **) &s->list, &s->cap, (size_t) s->n + 1, sizeof *s->list) != 0) {
        ofr_plugin_destroy (&p);
        return ofr_errf (err, errlen, "scanning plugins: out of memory");
    }
    s->list[s->n++] = p;
    return 0;
}

static int
scan_dir (scan_state *s, const char *dir, char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int n = scandir (dir, &names, NULL, alphasort);
    if (n < 0) {
        /* The default path names an install location that rarely exists. */
        ofr_log (errno == ENOENT ? OFR_DEBUG : OFR_WARN, "plugin directory %s: %s",
                 dir, strerror (errno));
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && ends_with_so (names[i]->d_name)) {
            ofr_buf path;
            ofr_buf_init (&path);
            ofr_buf_printf (&path, "%s/%s", dir, names[i]->d_name);
            struct stat st;
            if (path.oom)
                rc = ofr_errf (err, errlen, "scanning %s: out of memory", dir);
            else if (stat (path.data, &st) == 0 && S_ISREG (st.st_mode))
                rc = scan_file (s, path.data, err, errlen);
            ofr_buf_free (&path);
        }
        free (names[i]);
    }
    free (names);
    return rc;
}

int
ofr_plugin_scan (const char *path_list, const ofr_host *host, ofr_plugin ***list,
                 int *n, char *err, size_t errlen)
{
    *list = NULL;
    *n = 0;
    if (!host)
        return ofr_errf (err, errlen, "scanning plugins: no host table");
    scan_state s = { .host = host };
    char *copy = ofr_strdup (path_list ? path_list : "");
    if (!copy)
        return ofr_errf (err, errlen, "scanning plugins: out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *dir = strtok_r (copy, ":", &save); dir && rc == 0;
         dir = strtok_r (NULL, ":", &save))
        rc = scan_dir (&s, dir, err, errlen);
    free (copy);
    if (rc != 0) {
        ofr_plugin_list_destroy (&s.list, &s.n);
        return -1;
    }
    /* An empty result is still a valid (if useless) list the caller frees. */
    if (!s.list && !(s.list = ofr_calloc (1, sizeof *s.list)))
        return ofr_errf (err, errlen, "scanning plugins: out of memory");
    *list = s.list;
    *n = s.n;
    return 0;
}

void
ofr_plugin_list_destroy (ofr_plugin ***list_p, int *n)
{
    if (!list_p || !*list_p)
        return;
    for (int i = 0; i < *n; i++)
        ofr_plugin_destroy (&(*list_p)[i]);
    free (*list_p);
    *list_p = NULL;
    *n = 0;
}

ofr_plugin *
ofr_plugin_find (ofr_plugin *const *list, int n, const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < n; i++)
        if (list[i] && strcmp (list[i]->method->name, name) == 0)
            return list[i];
    return NULL;
}

/* ---- Default search path -------------------------------------------------- */

/*  Computed once: the value depends only on where the executable lives, and
    callers treat the result as a constant string. */
static pthread_once_t s_default_once = PTHREAD_ONCE_INIT;
static char *s_default_path;

static void
compute_default_path (void)
{
    char *exe = ofr_exe_dir ();
    ofr_buf b;
    ofr_buf_init (&b);
    if (exe)
        ofr_buf_printf (&b, "%s/plugins:%s/../lib/offramp/plugins", exe, exe);
    free (exe);
    if (!exe || b.oom) {
        ofr_buf_free (&b);
        return;
    }
    s_default_path = b.data;
}

const char *
ofr_plugin_default_path (void)
{
    const char *env = getenv ("OFFRAMP_PLUGINS");
    if (env && *env)
        return env;
    pthread_once (&s_default_once, compute_default_path);
    return s_default_path ? s_default_path : "./plugins";
}

/* ---- The listing host ----------------------------------------------------- */

static const float *
listing_exit_probs (void *host_ctx, int i, int layer, int *n_positions)
{
    (void) host_ctx, (void) i, (void) layer;
    if (n_positions)
        *n_positions = 0;
    return NULL;
}

static const float *
listing_hidden_state (void *host_ctx, int i, int *dim)
{
    (void) host_ctx, (void) i;
    if (dim)
        *dim = 0;
    return NULL;
}

static void
listing_charge_flops (void *host_ctx, int i, double flops)
{
    (void) host_ctx, (void) i, (void) flops;
}

static int
listing_oracle_label (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;
}

static double
listing_layer_flops (void *host_ctx, int i, int layer)
{
    (void) host_ctx, (void) i, (void) layer;
    return 0.0;
}

static double
listing_rng_uniform (void *host_ctx)
{
    (void) host_ctx;
    return 0.0;
}

static void listing_log (void *host_ctx, int level, const char *fmt, ...) OFR_PRINTF(3, 4);

static void
listing_log (void *host_ctx, int level, const char *fmt, ...)
{
    (void) host_ctx;
    if (!fmt)
        return;
    va_list ap;
    va_start (ap, fmt);
    ofr_vlog (level < OFR_DEBUG ? OFR_DEBUG : level > OFR_ERROR ? OFR_ERROR : level,
              fmt, ap);
    va_end (ap);
}

static int
listing_fit_softmax (const float *X, const int *y, int n, int d, int k, double l2,
                     int max_iter, float *W, float *b)
{
    (void) X, (void) y, (void) n, (void) d, (void) k, (void) l2, (void) max_iter;
    (void) W, (void) b;
    return -1;
}

static int
listing_fit_ridge (const float *X, const float *Y, int n, int d, int m, double l2,
                   float *W, float *b)
{
    (void) X, (void) Y, (void) n, (void) d, (void) m, (void) l2, (void) W, (void) b;
    return -1;
}

static int
listing_artifact_save (void *host_ctx, const char *name, const void *data, size_t size)
{
    (void) host_ctx, (void) name, (void) data, (void) size;
    return -1;
}

static const void *
listing_artifact_load (void *host_ctx, const char *name, size_t *size)
{
    (void) host_ctx, (void) name;
    if (size)
        *size = 0;
    return NULL;
}

static const float *
listing_model_tensor (void *host_ctx, const char *name, size_t *n)
{
    (void) host_ctx, (void) name;
    if (n)
        *n = 0;
    return NULL;
}

static const float *
listing_token_state (void *host_ctx, int i, int *dim)
{
    (void) host_ctx, (void) i;
    if (dim)
        *dim = 0;
    return NULL;
}

static int
listing_set_exit_probs (void *host_ctx, int i, int layer, const float *probs)
{
    (void) host_ctx, (void) i, (void) layer, (void) probs;
    return -1;
}

static int
listing_oracle_try (void *host_ctx, int i, const uint8_t *skip, int exit_layer,
                    double *stats, int max_stats)
{
    (void) host_ctx, (void) i, (void) skip, (void) exit_layer, (void) stats, (void) max_stats;
    return -1;
}

static int
listing_sequence_agrees (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;
}

static int
listing_retry_sequence (void *host_ctx, int i)
{
    (void) host_ctx, (void) i;
    return -1;
}

/*  A field appended to ofr_host must get a no-op here too: a plugin entry
    may call any of them while being listed. */
_Static_assert (sizeof (ofr_host) == offsetof (ofr_host, retry_sequence)
                                     + sizeof (((ofr_host *) 0)->retry_sequence),
                "ofr_host grew: give the listing host a no-op for the new field");

static const ofr_host s_listing_host = {
    .struct_size = sizeof (ofr_host),
    .abi_major = OFR_ABI_MAJOR,
    .abi_minor = OFR_ABI_MINOR,
    .exit_probs = listing_exit_probs,
    .hidden_state = listing_hidden_state,
    .charge_flops = listing_charge_flops,
    .oracle_label = listing_oracle_label,
    .layer_flops = listing_layer_flops,
    .rng_uniform = listing_rng_uniform,
    .log = listing_log,
    .fit_softmax = listing_fit_softmax,
    .fit_ridge = listing_fit_ridge,
    .artifact_save = listing_artifact_save,
    .artifact_load = listing_artifact_load,
    .model_tensor = listing_model_tensor,
    .token_state = listing_token_state,
    .set_exit_probs = listing_set_exit_probs,
    .oracle_try = listing_oracle_try,
    .sequence_agrees = listing_sequence_agrees,
    .retry_sequence = listing_retry_sequence,
};

const ofr_host *
ofr_host_listing (void)
{
    return &s_listing_host;
}
