/*  protocol.h -- the offramp wire protocol (v1), shared by coordinator,
    workers and dashboards. Depends on msgpack-c and common/ only.

    Every message is one ZeroMQ frame holding a msgpack map whose first two
    keys are "v" (protocol version, uint) and "t" (type, string). Decoding is
    strict: wrong types, out-of-range sizes, missing required keys, unknown
    types or a wrong version are errors (the receiver logs and drops the
    message). Unknown extra keys are ignored so that v1 peers can talk to
    v1.x peers that append fields.

    Worker <-> coordinator (ROUTER/DEALER):
      hello      W->C  name, host, pid, cores, threads, credit, plugins[]
      welcome    C->W  worker_id, run_id, heartbeat_ms
      task       C->W  task_id, cell, examples[], plugin_hash
      records    W->C  task_id, records[]
      done       W->C  task_id
      fail       W->C  task_id, reason
      heartbeat  both  state (worker: "idle"/"busy"), task_id (-1 if none)
      bye        both  reason; from C with rejoin=true: "say hello again"
      blob_get   W->C  hash, offset, length (v1.2: a chunk of a file the
                       coordinator listed in task.files)
      blob       C->W  hash, offset, total, data
    Dashboard <-> coordinator (v1.1; DEALER to the coordinator's control
    ROUTER, one request = one reply):
      snapshot   D->C  (no fields): "send me everything"
      control    D->C  paused: stop (true) or resume (false) dispatching tasks
      state      C->D  paused, json: the snapshot document (docs/ARCHITECTURE.md)
    Dashboard events (PUB, first frame = type as topic, second = message):
      run, cell, worker, progress, histogram, log  (payload: `event` map,
      passed through as raw msgpack; see docs/ARCHITECTURE.md)
*/
#ifndef OFR_PROTOCOL_H
#define OFR_PROTOCOL_H

#include "../common/ofr_common.h"
#include "../common/ofr_types.h"

#include <stddef.h>
#include <stdint.h>

#define OFR_PROTOCOL_VERSION 1
/* Minor revisions only add message types or keys; "v" stays 1 on the wire.
   1.1: snapshot, control, state (dashboards). A 1.0 coordinator drops them
   as unknown types, so a new dashboard sees no answer, never a crash.
   1.2: blob_get, blob (workers fetch files by content hash); optional keys
   hello.fetch and task.files (the cell's manifest). Optional keys are
   always sent and may be missing on receipt, so 1.1 peers interoperate
   (they ignore the extra keys and drop the new types). */
#define OFR_PROTOCOL_MINOR   2

/* Bounds enforced by the decoder (a peer cannot make us allocate more). */
#define OFR_MAX_STRING     65536     /* bytes in any string                */
#define OFR_MAX_PLUGINS    256
#define OFR_MAX_EXAMPLES   1000000   /* example indices in one task        */
#define OFR_MAX_RECORDS    65536     /* records in one records message      */
#define OFR_MAX_STATS      4096      /* stats in one record                 */
#define OFR_MAX_TOKENS     65536     /* token exits in one record           */
#define OFR_MAX_PARAMS     64
#define OFR_MAX_CREDIT     64        /* hello.credit is 1..OFR_MAX_CREDIT    */
#define OFR_MAX_BATCH_SIZE 4096      /* task.cell.batch_size is 1..this      */
#define OFR_MAX_TEXT       (16 << 20) /* state.json (a whole run's summary)  */
#define OFR_MAX_FILES      4096      /* task.files (a cell's manifest)      */
#define OFR_BLOB_CHUNK     (1 << 20) /* blob.data, blob_get.length           */

typedef enum {
    OFR_MSG_INVALID = 0,
    OFR_MSG_HELLO,
    OFR_MSG_WELCOME,
    OFR_MSG_TASK,
    OFR_MSG_RECORDS,
    OFR_MSG_DONE,
    OFR_MSG_FAIL,
    OFR_MSG_HEARTBEAT,
    OFR_MSG_BYE,
    OFR_MSG_SNAPSHOT,
    OFR_MSG_CONTROL,
    OFR_MSG_STATE,
    OFR_MSG_BLOB_GET,
    OFR_MSG_BLOB
} ofr_msg_type;

/* A file a task needs (task.files, 1.2): kind "plugin" (path NAME.so),
   "model" (path MODEL/REL under a models dir) or "data" (path SUBDIR/REL
   under a data dir) or "artifact" (path MODEL/METHOD/FILE under an artifacts
   root); workers that lack it fetch it by hash. */
typedef struct {
    char   *kind;
    char   *path;
    char   *hash;               /* sha256 hex */
    int64_t size;
} ofr_file_info;

/* A plugin as announced by a worker. */
typedef struct {
    char *name;
    char *version;
    int   abi_major, abi_minor;
    char *hash;                /* sha256 hex of the .so file */
} ofr_plugin_info;

/* One message, flattened: only the fields of `type` are meaningful. */
typedef struct {
    ofr_msg_type type;

    /* hello */
    char            *name;         /* worker name                         */
    char            *host;         /* hostname                            */
    int64_t          pid;
    int              cores;
    int              threads;      /* BLAS threads per task               */
    int              credit;       /* tasks the worker accepts at once    */
    ofr_plugin_info *plugins;
    int              n_plugins;

    /* welcome */
    int64_t          worker_id;
    char            *run_id;
    int              heartbeat_ms;

    /* task, records, done, fail, heartbeat */
    int64_t          task_id;
    ofr_cell         cell;         /* task                                */
    int32_t         *examples;     /* task: example indices               */
    int              n_examples;
    char            *plugin_hash;  /* task: expected sha256 of the plugin, "" = any */
    ofr_record      *records;      /* records                             */
    int              n_records;
    char            *reason;       /* fail, bye                           */
    char            *state;        /* heartbeat                           */
    int              rejoin;       /* bye from coordinator                */

    int              fetch;        /* hello (1.2): fetches missing files  */
    ofr_file_info   *files;        /* task (1.2): the cell's manifest     */
    int              n_files;

    /* blob_get, blob (1.2) */
    char            *hash;         /* sha256 hex of the file              */
    int64_t          offset;
    int64_t          total;        /* blob: file size, -1 = not published */
    int              length;       /* blob_get: bytes wanted              */
    uint8_t         *data;         /* blob: the chunk                     */
    int              n_data;

    /* control, state */
    int              paused;       /* dispatch stopped                    */
    char            *json;         /* state: snapshot document (JSON)     */
} ofr_msg;

/* Type <-> name ("hello", ...). Name is static; type INVALID if unknown. */
const char  *ofr_msg_type_name (ofr_msg_type type);
ofr_msg_type ofr_msg_type_from_name (const char *name);

/* Serialize msg into out (appended). Returns 0 or -1 with a message. */
int  ofr_msg_encode (const ofr_msg *msg, ofr_buf *out, char *err, size_t errlen);

/* Parse one frame. *msg is overwritten (not freed). On success *msg owns its
   allocations (free with ofr_msg_clear). On failure *msg is cleared and err
   names the field, e.g. "records.records[3].s: expected array of numbers". */
int  ofr_msg_decode (const void *data, size_t size, ofr_msg *msg,
                     char *err, size_t errlen);

/* Free everything msg owns and zero it. */
void ofr_msg_clear (ofr_msg *msg);

/* Type of a frame without decoding the rest (for routing and logging).
   Returns 0 and sets *type if the frame is a map with a known "t", else -1. */
int  ofr_msg_peek_type (const void *data, size_t size, ofr_msg_type *type);

/* Where a dashboard finds the events (kind "events") and control (kind
   "ctl") sockets of a coordinator whose workers connect to `base`:
   tcp://H:P -> tcp://H:P+1 / P+2; ipc://X.sock -> ipc://X.events / X.ctl;
   any other ipc://X -> X.events / X.ctl. Returns 0 or -1 (out too small,
   bad tcp address). The coordinator binds what this returns. */
int  ofr_endpoint_derive (const char *base, const char *kind, char *out, size_t outlen);

#endif
