/*  blob_cache.h -- the worker's side of the blob service (protocol 1.2).

    A content-addressed cache DIR/blobs/<sha256> of files fetched from the
    coordinator, plus per-cell directories DIR/cells/<key>/{models,data,
    plugins} of symbolic links that put the coordinator's exact files first
    on a task child's search paths. Every blob is verified (SHA-256) when it
    is assembled and the first time this process uses a cached copy; a
    corrupt copy is removed and fetched again. */
#ifndef OFR_BLOB_CACHE_H
#define OFR_BLOB_CACHE_H

#include "plugin_host.h"
#include "../harness/protocol.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct _ofr_blobcache ofr_blobcache;

/* dir NULL = $XDG_CACHE_HOME/offramp, else ~/.cache/offramp. */
int  ofr_blobcache_new (const char *dir, ofr_blobcache **out, char *err, size_t errlen);
void ofr_blobcache_destroy (ofr_blobcache **self_p);
const char *ofr_blobcache_dir (const ofr_blobcache *self);

/* Checks a task's manifest (hashes, safe relative paths, known kinds). */
int  ofr_blobcache_check_manifest (const ofr_msg *task, char *err, size_t errlen);

/* Index of the first file of task->files available neither locally (same
   hash: a loaded plugin, or a file on models_path/data_path) nor in the
   cache; -1 if none is missing. */
typedef struct {
    const char  *models_path, *data_path, *artifacts_path;  /* the worker's own */
    ofr_plugin *const *plugins;                             /* loaded ones      */
    int          n_plugins;
} ofr_blob_local;

int  ofr_blobcache_missing (ofr_blobcache *self, const ofr_msg *task,
                            const ofr_blob_local *local);

/* Download of one blob: begin, write chunks in order, commit (verifies the
   SHA-256 of the whole file and moves it into the cache). `what` names the
   file in messages. abort discards a partial download. */
int  ofr_blobcache_begin (ofr_blobcache *self, const char *hash, const char *what,
                          int64_t size, char *err, size_t errlen);
int  ofr_blobcache_write (ofr_blobcache *self, int64_t offset, const void *data,
                          size_t n, char *err, size_t errlen);
int  ofr_blobcache_commit (ofr_blobcache *self, char *err, size_t errlen);
void ofr_blobcache_abort (ofr_blobcache *self);

/* With nothing missing: when some file comes from the cache (or differs
   locally), builds the cell's link directory and sets *models_out /
   *data_out to "CELL/models:models_path" / "CELL/data:data_path" (caller
   frees; NULL = unchanged), likewise *arts_out for fitted artifacts
   ("CELL/artifacts:artifacts_path"), and *plugin_file to the cached plugin to load
   (NULL if a loaded plugin has the hash). */
int  ofr_blobcache_prepare (ofr_blobcache *self, const ofr_msg *task,
                            const ofr_blob_local *local, char **models_out,
                            char **data_out, char **arts_out, char **plugin_file,
                            char *err, size_t errlen);

#endif
