/*  plugin_host.h -- the host side of the plugin ABI (plugins/offramp_plugin.h):
    loading method plugins with dlopen and refusing bad ones with a message
    that names the file and the reason, resolving the user's textual
    parameters against a method's declarations, and scanning plugin
    directories.

    A loaded plugin (ofr_plugin) owns its dlopen handle; its method
    descriptor lives inside the shared object and is valid until
    ofr_plugin_destroy. Workers load plugins once in the parent process and
    fork task children that inherit them. */
#ifndef OFR_PLUGIN_HOST_H
#define OFR_PLUGIN_HOST_H

#include "../common/ofr_types.h"
#include "../plugins/offramp_plugin.h"

#include <stddef.h>

typedef struct ofr_plugin ofr_plugin;
typedef struct ofr_params ofr_params;

/* Most parameters a method may declare; longest method or parameter name. */
#define OFR_PLUGIN_MAX_PARAMS 64
#define OFR_PLUGIN_MAX_NAME   64

/* dlopen `path` (RTLD_NOW | RTLD_LOCAL), call its entry with `host`, validate
   the descriptor and hash the file. Returns 0 and a new plugin in *out (the
   caller destroys it), or -1 with "<path>: <reason>" in err (nothing stays
   loaded). */
int ofr_plugin_load (const char *path, const ofr_host *host, ofr_plugin **out,
                     char *err, size_t errlen);

/* dlclose the plugin and free it; sets *self_p to NULL. Every pointer into
   its descriptor (names, callbacks, method state) is dead afterwards. */
void ofr_plugin_destroy (ofr_plugin **self_p);

/* Whether method m (validated) has descriptor field f: a plugin built for
   an older minor has a shorter descriptor, whose missing fields are NULL
   to the host. */
#define OFR_METHOD_HAS(m, f) \
    ((m)->struct_size >= offsetof (ofr_method, f) + sizeof ((m)->f))

/* The KV policy of a cell: the state's (ABI 1.3 cell_kv_policy) when the
   method has one, else the descriptor's. */
static inline int
ofr_method_kv_policy (const ofr_method *m, void *state)
{
    return OFR_METHOD_HAS (m, cell_kv_policy) && m->cell_kv_policy
               ? m->cell_kv_policy (state) : m->kv_policy;
}

/* The validated method descriptor (owned by the shared object). */
const ofr_method *ofr_plugin_method (const ofr_plugin *self);

/* The file the plugin was loaded from, as given to ofr_plugin_load. */
const char *ofr_plugin_path (const ofr_plugin *self);

/* SHA-256 of the file at load time: 64 lowercase hex characters. */
const char *ofr_plugin_hash (const ofr_plugin *self);

/* Load every *.so of each directory of the ':'-separated `path_list`, in
   name order. Bad plugins are logged (WARN) and skipped; of two plugins
   with the same method name the first one found wins (WARN for the other).
   Missing directories are skipped. Returns 0 with a new array of *n plugins
   in *list (free with ofr_plugin_list_destroy), or -1 on allocation failure. */
int ofr_plugin_scan (const char *path_list, const ofr_host *host,
                     ofr_plugin ***list, int *n, char *err, size_t errlen);

/* Destroy every plugin of a scan result, free the array, zero *n. */
void ofr_plugin_list_destroy (ofr_plugin ***list_p, int *n);

/* The plugin of `list` whose method is called `name`, or NULL. */
ofr_plugin *ofr_plugin_find (ofr_plugin *const *list, int n, const char *name);

/* The plugin search path: $OFFRAMP_PLUGINS if set, else
   "<exe dir>/plugins:<exe dir>/../lib/offramp/plugins" (a build tree keeps
   the binary in build/ and plugins in build/plugins/). The string is
   computed once per process (except the environment value, returned as
   is) and stays valid; callers copy it if they keep it. */
const char *ofr_plugin_default_path (void);

/* A host table whose functions are safe no-ops (probabilities, hidden states
   and model tensors NULL, fitting and artifacts fail, log goes to ofr_log):
   enough to call a plugin's entry to list it, never to run it. Static. */
const ofr_host *ofr_host_listing (void);

/* Resolve user parameters (`kv`, n of them, as written: "threshold"="0.3")
   against the declarations of `method`: unknown keys, duplicates, type and
   range errors are refused with a message naming the method, the key and
   the value; parameters the user left out get their defaults. Returns 0 and a new
   ofr_params in *out (caller destroys), or -1 with a message in err. */
int ofr_params_new (const ofr_method *method, const ofr_kv *kv, int n,
                    ofr_params **out, char *err, size_t errlen);

/* Free the values (string values die with them); sets *self_p to NULL. */
void ofr_params_destroy (ofr_params **self_p);

/* One value per declared parameter, in declaration order, for create().
   Owned by self (strings too), valid until ofr_params_destroy. */
const ofr_value *ofr_params_values (const ofr_params *self);

/* Number of values (= the method's n_params). */
int ofr_params_count (const ofr_params *self);

/* Parse one textual value as a parameter of type `decl->type` and check it
   against the declared range; `method` only names the message ("entropy:
   threshold=abc: expected a number"). STRING values point into `text`.
   Returns 0 or -1 with the message in err. */
int ofr_param_parse (const char *method, const ofr_param_decl *decl,
                     const char *text, ofr_value *out, char *err, size_t errlen);

/* "int", "float", "bool", "string" or "?" for a declared type. */
const char *ofr_param_type_name (ofr_param_type type);

#endif
