/*  blobs.h -- the coordinator's side of the blob service (protocol 1.2).

    For each cell the coordinator publishes a manifest (task.files): the
    plugin .so, the model directory's files and the suite's data files, each
    with its sha256 and size, computed once from the coordinator's own paths.
    Workers that lack a file fetch it with blob_get by hash; only hashes
    published here are ever served, never an arbitrary path. */
#ifndef OFR_BLOBS_H
#define OFR_BLOBS_H

#include "protocol.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _ofr_blobstore ofr_blobstore;

int  ofr_blobstore_new (ofr_blobstore **out);
void ofr_blobstore_destroy (ofr_blobstore **self_p);

/* Publishes every regular file under root/sub (recursively) as kind with
   path "sub/REL", appending to *files (caller frees with
   ofr_blobstore_files_free). A missing root/sub publishes nothing. */
int  ofr_blobstore_add_tree (ofr_blobstore *self, const char *kind, const char *root,
                             const char *sub, ofr_file_info **files, int *n,
                             char *err, size_t errlen);

/* Publishes one file as kind with the given relative name. */
int  ofr_blobstore_add_file (ofr_blobstore *self, const char *kind, const char *file,
                             const char *name, ofr_file_info **files, int *n,
                             char *err, size_t errlen);

void ofr_blobstore_files_free (ofr_file_info **files, int *n);

/* Answers a blob_get: fills reply (type blob; reply->data is malloc'ed,
   free with ofr_msg_clear). An unpublished hash or an unreadable file gives
   total = -1. *path is the published file (NULL if unknown), for logs. */
int  ofr_blobstore_serve (ofr_blobstore *self, const ofr_msg *get, ofr_msg *reply,
                          const char **path, char *err, size_t errlen);

#endif
