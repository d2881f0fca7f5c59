/*  worker.h -- the worker daemon: connects a DEALER socket to a coordinator,
    announces itself (hello), heartbeats, takes tasks within its credit and
    runs each in a forked child, so that a crashing plugin fails the task and
    not the worker. The child streams records back through a pipe; the worker
    forwards them. If the coordinator goes silent the worker drops its task
    and says hello again until a coordinator (a resumed one) welcomes it. */
#ifndef OFR_WORKER_H
#define OFR_WORKER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *connect;          /* coordinator endpoint                       */
    const char *name;             /* worker name; NULL = host-pid               */
    int         threads;          /* BLAS threads per task (0 = 1)              */
    int         credit;           /* tasks accepted at once (default 2)         */
    const char *plugin_path;      /* ':'-separated plugin dirs                  */
    const char *models_path;
    const char *data_path;
    const char *artifacts_path;   /* fitted artifacts (NULL = default)          */
    int         hello_ms;         /* re-hello interval while unwelcomed          */
    int         lost_ms;          /* coordinator silence that counts as lost (0 = 6x heartbeat) */
    int         records_per_msg;  /* records batched per message (default 32)   */
    /* CURVE (harness/security.h): this worker's key pair file and the
       coordinator's public key (Z85 or a file); plaintext to a non-loopback
       address needs insecure. */
    const char *key_file;
    const char *server_key;
    bool        insecure;
    /* Blob service (protocol 1.2, blob_cache.h): fetch files missing locally
       from the coordinator by hash, into cache_dir (NULL = default). */
    bool        fetch;
    const char *cache_dir;
} ofr_worker_opts;

/* Run until the coordinator says bye (0), SIGTERM/SIGINT (0), or a fatal
   error (-1 with a message). */
int ofr_worker_main (const ofr_worker_opts *opts, char *err, size_t errlen);

#endif
