/*  artifacts.h -- the store of fitted artifacts (exit heads, thresholds,
    gates) that `offramp fit` writes and evaluation reads back through the
    plugin host table (ofr_host.artifact_save / artifact_load).

    Layout, under a root directory (default ./artifacts):

        <root>/<model>/<method>/<name>.bin    the blob, as the plugin wrote it
        <root>/<model>/<method>/<name>.json   sidecar: model, method, params,
                                              suite, split_desc, n_examples,
                                              created (UTC), size, sha256

    <model> is the model name as given to --model (its last path component
    for a directory). One store object serves one cell: it knows the cell's
    model, method, suite and evaluated split, so that a load refuses an
    artifact fitted on the very split being evaluated, or one whose blob no
    longer matches the sha256 of its sidecar. */
#ifndef OFR_ARTIFACTS_H
#define OFR_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_artifacts ofr_artifacts;

typedef struct {
    const char *model;        /* model name (required)                            */
    const char *method;       /* method (plugin) name (required)                  */
    const char *suite;        /* suite of the cell / of the fitting data          */
    const char *split;        /* evaluated split (load); NULL when fitting        */
    const char *params;       /* JSON object text of the method parameters, or NULL */
    const char *search_path;  /* ':'-separated roots load looks in; NULL = default */
    const char *out_dir;      /* root save writes to; NULL = saving is refused    */
    const char *split_desc;   /* fitting data, "sst2/train[0:2000]" (save only)   */
    int         n_examples;   /* examples of the fitting data (save only)         */
    const char *fit_command;  /* the `offramp fit ...` line that makes missing
                                 artifacts, quoted in messages; NULL = none       */
} ofr_artifacts_opts;

/* A store for one cell; strings of opts are copied. Returns 0 and *out, or
   -1 with a message. */
int  ofr_artifacts_new (const ofr_artifacts_opts *opts, ofr_artifacts **out,
                        char *err, size_t errlen);
/* Frees every loaded blob (pointers from _load die); *self_p = NULL. */
void ofr_artifacts_destroy (ofr_artifacts **self_p);

/* Write blob `name` ([A-Za-z0-9_.-]+) and its sidecar under out_dir,
   replacing an older one atomically (rename). Returns 0 or -1 (message
   also kept as the last error). */
int  ofr_artifacts_save (ofr_artifacts *self, const char *name,
                         const void *data, size_t size);

/* Find blob `name` in the search path (first root that has it), check its
   sidecar (model, method, sha256, not fitted on the evaluated split) and
   return a buffer owned by the store, valid until destroy; NULL and the
   reason as the last error otherwise. */
const void *ofr_artifacts_load (ofr_artifacts *self, const char *name, size_t *size);

/* True if some root of the search path holds any artifact (a *.bin) for
   this model and method. */
bool ofr_artifacts_any (const ofr_artifacts *self);

/* Reason of the last failed save or load ("" if none). */
const char *ofr_artifacts_error (const ofr_artifacts *self);

/* Path of the last blob saved or loaded ("" if none). */
const char *ofr_artifacts_last_path (const ofr_artifacts *self);

/* The fit command of the options ("" if none). */
const char *ofr_artifacts_fit_command (const ofr_artifacts *self);

/* Blobs saved so far. */
int  ofr_artifacts_n_saved (const ofr_artifacts *self);

/* Search path when neither --artifacts nor a caller says otherwise:
   $OFFRAMP_ARTIFACTS if set, else "artifacts" (relative to the working
   directory). Static string or the environment's. */
const char *ofr_artifacts_default_path (void);

#endif
