/*  test_protocol.c -- the wire protocol by example: build an ofr_msg, encode
    it into an ofr_buf, decode the frame, compare, clear. Then strict decoding
    (every rejection names its field) and a fixed-seed fuzz loop. */
#include "harness/protocol.h"

#include <msgpack.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "%s:%d: CHECK (%s) failed: ", __FILE__,        \
                     __LINE__, #cond);                                      \
            fprintf (stderr, __VA_ARGS__);                                  \
            fputc ('\n', stderr);                                           \
            s_failures++;                                                   \
        }                                                                   \
    } while (0)

static char *
S (const char *s)
{
    char *d = ofr_strdup (s);
    if (!d) {
        fprintf (stderr, "out of memory\n");
        exit (1);
    }
    return d;
}

static void *
A (size_t n, size_t size)
{
    void *p = ofr_calloc (n, size);
    if (!p) {
        fprintf (stderr, "out of memory\n");
        exit (1);
    }
    return p;
}

/* ------------------------------------------------------------------ */
/*  Messages with non-trivial content                                  */

static void
make_hello (ofr_msg *m, int n_plugins)
{
    memset (m, 0, sizeof *m);
    m->type = OFR_MSG_HELLO;
    m->name = S (n_plugins ? "wörker-α 🚀" : "");
    m->host = S (n_plugins ? "hôst.例え.local" : "");
    m->pid = 4242424242LL;
    m->cores = n_plugins ? 16 : 0;
    m->threads = 2;
    m->credit = n_plugins ? OFR_MAX_CREDIT : 1;
    m->fetch = n_plugins > 1;
    m->n_plugins = n_plugins;
    m->plugins = n_plugins ? A ((size_t) n_plugins, sizeof *m->plugins) : NULL;
    for (int i = 0; i < n_plugins; i++) {
        char name[32];
        snprintf (name, sizeof name, "plugin_%d_ß", i);
        m->plugins[i].name = S (name);
        m->plugins[i].version = S (i == 1 ? "" : "1.2.3-rc1");
        m->plugins[i].abi_major = 1;
        m->plugins[i].abi_minor = i;
        m->plugins[i].hash = S ("9f86d081884c7d659a2feaa0c55ad015"
                                "a3bf4f1b2b0b822cd15d6c15b0f00a08");
    }
}

static void
make_welcome (ofr_msg *m)
{
    memset (m, 0, sizeof *m);
    m->type = OFR_MSG_WELCOME;
    m->worker_id = 1LL << 40;
    m->run_id = S ("run-2024-06-01T12:00:00-ü");
    m->heartbeat_ms = 250;
}

static void
make_task (ofr_msg *m, int n_examples, int n_params)
{
    static const char *kv[][2] = {
        { "threshold", "0.3" }, { "patience", "2" }, { "ключ", "значение" },
        { "", "" },
    };
    memset (m, 0, sizeof *m);
    m->type = OFR_MSG_TASK;
    m->task_id = 123456789012LL;
    m->cell.index = 7;
    m->cell.model = S ("testnet-small");
    m->cell.suite = S ("synth/β");
    m->cell.split = S ("dev");
    m->cell.limit = n_examples ? 0 : 1000;
    m->cell.method = S ("entropy_exit");
    m->cell.n_params = n_params;
    m->cell.params = n_params ? A ((size_t) n_params, sizeof (ofr_kv)) : NULL;
    for (int i = 0; i < n_params; i++) {
        m->cell.params[i].key = S (kv[i % 4][0]);
        m->cell.params[i].value = S (kv[i % 4][1]);
    }
    m->cell.batch_size = n_examples ? OFR_MAX_BATCH_SIZE : 1;
    m->cell.seed = n_examples ? UINT64_MAX : 0;
    m->n_examples = n_examples;
    m->examples = n_examples ? A ((size_t) n_examples, sizeof (int32_t)) : NULL;
    for (int i = 0; i < n_examples; i++)
        m->examples[i] = (int32_t) (((uint32_t) i * 2654435761u) & INT32_MAX);
    if (n_examples > 1) {
        m->examples[0] = 0;
        m->examples[1] = INT32_MAX;
    }
    m->plugin_hash = S (n_examples ? "e3b0c44298fc1c149afbf4c8996fb924"
                                     "27ae41e4649b934ca495991b7852b855" : "");
    /* 1.2 manifest: a plugin, a model file, a data file */
    static const char *files[][2] = {
        { "plugin", "entropy_exit.so" }, { "model", "testnet-small/model.safetensors" },
        { "data", "glue/sst2/dev.tsv" },
    };
    m->n_files = n_params ? 3 : 0;
    m->files = m->n_files ? A ((size_t) m->n_files, sizeof *m->files) : NULL;
    for (int i = 0; i < m->n_files; i++) {
        m->files[i].kind = S (files[i][0]);
        m->files[i].path = S (files[i][1]);
        m->files[i].hash = S (m->plugin_hash);
        m->files[i].size = i == 1 ? (1LL << 40) : i;
    }
}

static void
make_records (ofr_msg *m, int n_records, int n_tokens)
{
    static const double stats[] = { 1e308, -1e-308, 0.1, -0.0, 12345678901.0,
                                    3.0, 0.0, 1.0, -2.5, 4.9e-324 };
    memset (m, 0, sizeof *m);
    m->type = OFR_MSG_RECORDS;
    m->task_id = 99;
    m->n_records = n_records;
    m->records = n_records ? A ((size_t) n_records, sizeof *m->records) : NULL;
    for (int i = 0; i < n_records; i++) {
        ofr_record *r = &m->records[i];
        r->cell = i % 5;
        r->example = i * 3 + 1;
        r->prediction = i % 2 ? -1.5 * i : 2.0;
        r->exit_layer = 1 + i % 12;
        r->n_layers = 12;
        r->flops = 1.25e9 + i;
        r->flops_full = 2.5e9;
        r->wall_ms = 0.125 * i;
        if (i % 3 == 1) {
            r->pred_text = S ("");
            r->n_tokens = n_tokens;
            r->token_exits = A ((size_t) n_tokens, 1);
            for (int k = 0; k < n_tokens; k++)
                r->token_exits[k] = (uint8_t) (1 + (k * 7) % 255);
            r->n_stats = 10;
        }
        else if (i % 3 == 2) {
            r->pred_text = S ("日本語 text\n\t\"quoted\" ✓");
            r->n_stats = 1;
        }
        if (r->n_stats) {
            r->stats = A ((size_t) r->n_stats, sizeof (double));
            memcpy (r->stats, stats, (size_t) r->n_stats * sizeof (double));
        }
    }
}

static void
make_simple (ofr_msg *m, ofr_msg_type type, int variant)
{
    memset (m, 0, sizeof *m);
    m->type = type;
    if (type == OFR_MSG_DONE || type == OFR_MSG_FAIL)
        m->task_id = variant ? 5 : 0;
    if (type == OFR_MSG_FAIL)
        m->reason = S (variant ? "CUDA out of memory ❌" : "");
    if (type == OFR_MSG_HEARTBEAT) {
        m->state = S (variant ? "busy" : "idle");
        m->task_id = variant ? 5 : -1;
    }
    if (type == OFR_MSG_BYE) {
        m->reason = S (variant ? "coordinator restarted" : "shutdown");
        m->rejoin = variant;
    }
    if (type == OFR_MSG_CONTROL)
        m->paused = variant;
    if (type == OFR_MSG_BLOB_GET || type == OFR_MSG_BLOB) {
        m->hash = S ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        m->offset = variant ? (1LL << 33) : 0;
        m->length = variant ? OFR_BLOB_CHUNK : 1;
    }
    if (type == OFR_MSG_BLOB) {
        m->length = 0;
        /* variant 0: "not published"; 1: a chunk; 2: a whole-size chunk */
        m->total = variant ? (1LL << 34) : -1;
        m->n_data = variant == 2 ? OFR_BLOB_CHUNK : variant ? 1000 : 0;
        m->data = m->n_data ? A ((size_t) m->n_data, 1) : NULL;
        for (int i = 0; i < m->n_data; i++)
            m->data[i] = (uint8_t) (i * 31 + 7);
    }
    if (type == OFR_MSG_STATE) {
        m->paused = variant;
        m->json = S (variant ? "{\"v\":1,\"t\":\"snapshot\",\"logs\":[\"±\"]}" : "");
    }
}

#define N_CORPUS 24

/* The corpus used by round trips (big) and the fuzz loop (small). */
static void
make_corpus (ofr_msg *m, int big)
{
    int k = 0;
    make_hello (&m[k++], 3);
    make_hello (&m[k++], 0);
    make_welcome (&m[k++]);
    make_task (&m[k++], big ? 100000 : 40, 4);
    make_task (&m[k++], 0, 0);
    make_records (&m[k++], big ? 3000 : 6, big ? 300 : 20);
    make_records (&m[k++], 0, 0);
    make_simple (&m[k++], OFR_MSG_DONE, 0);
    make_simple (&m[k++], OFR_MSG_DONE, 1);
    make_simple (&m[k++], OFR_MSG_FAIL, 0);
    make_simple (&m[k++], OFR_MSG_FAIL, 1);
    make_simple (&m[k++], OFR_MSG_HEARTBEAT, 0);
    make_simple (&m[k++], OFR_MSG_HEARTBEAT, 1);
    make_simple (&m[k++], OFR_MSG_BYE, 0);
    make_simple (&m[k++], OFR_MSG_BYE, 1);
    make_simple (&m[k++], OFR_MSG_SNAPSHOT, 0);
    make_simple (&m[k++], OFR_MSG_CONTROL, 0);
    make_simple (&m[k++], OFR_MSG_CONTROL, 1);
    make_simple (&m[k++], OFR_MSG_STATE, 0);
    make_simple (&m[k++], OFR_MSG_STATE, 1);
    make_simple (&m[k++], OFR_MSG_BLOB_GET, 0);
    make_simple (&m[k++], OFR_MSG_BLOB_GET, 1);
    make_simple (&m[k++], OFR_MSG_BLOB, 0);
    make_simple (&m[k++], OFR_MSG_BLOB, big ? 2 : 1);
}

/* ------------------------------------------------------------------ */
/*  Field-by-field equality (every field, whatever the type)           */

static int
str_eq (const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp (a, b) == 0);
}

static int
mem_eq (const void *a, const void *b, size_t n)
{
    return n == 0 || (a && b && memcmp (a, b, n) == 0);
}

/* Doubles compare by bits: the wire keeps them exactly (NaN included). */
static int
dbl_eq (double a, double b)
{
    return memcmp (&a, &b, sizeof a) == 0;
}

#define EQ(cond, what)                                                      \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "  field differs: %s\n", what);                \
            return 0;                                                       \
        }                                                                   \
    } while (0)

static int
cell_eq (const ofr_cell *a, const ofr_cell *b)
{
    EQ (a->index == b->index && a->limit == b->limit, "cell.index/limit");
    EQ (str_eq (a->model, b->model) && str_eq (a->suite, b->suite)
        && str_eq (a->split, b->split) && str_eq (a->method, b->method),
        "cell strings");
    EQ (a->batch_size == b->batch_size && a->seed == b->seed, "cell batch/seed");
    EQ (a->n_params == b->n_params, "cell.n_params");
    for (int i = 0; i < a->n_params; i++)
        EQ (str_eq (a->params[i].key, b->params[i].key)
            && str_eq (a->params[i].value, b->params[i].value), "cell.params");
    return 1;
}

static int
record_eq (const ofr_record *a, const ofr_record *b)
{
    EQ (a->cell == b->cell && a->example == b->example, "record c/e");
    EQ (dbl_eq (a->prediction, b->prediction), "record p");
    EQ (str_eq (a->pred_text, b->pred_text), "record pt");
    EQ (a->n_stats == b->n_stats
        && mem_eq (a->stats, b->stats, (size_t) a->n_stats * sizeof (double)),
        "record s");
    EQ (a->exit_layer == b->exit_layer && a->n_layers == b->n_layers, "record x/L");
    EQ (a->n_tokens == b->n_tokens
        && mem_eq (a->token_exits, b->token_exits, (size_t) a->n_tokens), "record tx");
    EQ ((a->token_exits == NULL) == (b->token_exits == NULL), "record tx NULL");
    EQ ((a->stats == NULL) == (b->stats == NULL), "record s NULL");
    EQ (dbl_eq (a->flops, b->flops) && dbl_eq (a->flops_full, b->flops_full)
        && dbl_eq (a->wall_ms, b->wall_ms), "record f/ff/w");
    return 1;
}

static int
msg_eq (const ofr_msg *a, const ofr_msg *b)
{
    EQ (a->type == b->type, "type");
    EQ (str_eq (a->name, b->name) && str_eq (a->host, b->host), "name/host");
    EQ (a->pid == b->pid && a->cores == b->cores && a->threads == b->threads
        && a->credit == b->credit, "pid/cores/threads/credit");
    EQ (a->n_plugins == b->n_plugins, "n_plugins");
    for (int i = 0; i < a->n_plugins; i++) {
        const ofr_plugin_info *p = &a->plugins[i], *q = &b->plugins[i];
        EQ (str_eq (p->name, q->name) && str_eq (p->version, q->version)
            && str_eq (p->hash, q->hash) && p->abi_major == q->abi_major
            && p->abi_minor == q->abi_minor, "plugins[i]");
    }
    EQ (a->worker_id == b->worker_id && str_eq (a->run_id, b->run_id)
        && a->heartbeat_ms == b->heartbeat_ms, "welcome fields");
    EQ (a->task_id == b->task_id, "task_id");
    if (!cell_eq (&a->cell, &b->cell))
        return 0;
    EQ (a->n_examples == b->n_examples
        && mem_eq (a->examples, b->examples, (size_t) a->n_examples * 4), "examples");
    EQ (str_eq (a->plugin_hash, b->plugin_hash), "plugin_hash");
    EQ (a->n_records == b->n_records, "n_records");
    for (int i = 0; i < a->n_records; i++)
        if (!record_eq (&a->records[i], &b->records[i]))
            return 0;
    EQ (str_eq (a->reason, b->reason) && str_eq (a->state, b->state)
        && a->rejoin == b->rejoin, "reason/state/rejoin");
    EQ (a->paused == b->paused && str_eq (a->json, b->json), "paused/json");
    EQ (a->fetch == b->fetch, "fetch");
    EQ (a->n_files == b->n_files, "n_files");
    for (int i = 0; i < a->n_files; i++) {
        const ofr_file_info *f = &a->files[i], *g = &b->files[i];
        EQ (str_eq (f->kind, g->kind) && str_eq (f->path, g->path)
            && str_eq (f->hash, g->hash) && f->size == g->size, "files[i]");
    }
    EQ (str_eq (a->hash, b->hash) && a->offset == b->offset && a->total == b->total
        && a->length == b->length, "blob hash/offset/total/length");
    EQ (a->n_data == b->n_data && mem_eq (a->data, b->data, (size_t) a->n_data)
        && (a->data == NULL) == (b->data == NULL), "blob data");
    return 1;
}

static int
is_zero (const ofr_msg *m)
{
    static const ofr_msg zero;
    return memcmp (m, &zero, sizeof zero) == 0;
}

/* ------------------------------------------------------------------ */
/*  1. Round trips                                                      */

static void
test_round_trip (void)
{
    ofr_msg in[N_CORPUS];
    make_corpus (in, 1);
    for (int k = 0; k < N_CORPUS; k++) {
        char err[OFR_ERRLEN] = "";
        const char *tn = ofr_msg_type_name (in[k].type);
        ofr_buf frame, again;
        ofr_buf_init (&frame);
        ofr_buf_init (&again);
        int rc = ofr_msg_encode (&in[k], &frame, err, sizeof err);
        CHECK (rc == 0, "encode %s: %s", tn, err);
        /* v and t come first: map head, "v", 1, "t" */
        CHECK (frame.len > 6 && memcmp (frame.data + 1, "\xa1v\x01\xa1t", 5) == 0,
               "%s: frame does not start with v, t", tn);
        ofr_msg out;
        rc = ofr_msg_decode (frame.data, frame.len, &out, err, sizeof err);
        CHECK (rc == 0, "decode %s: %s", tn, err);
        CHECK (rc == 0 && msg_eq (&in[k], &out), "%s: decoded message differs", tn);
        rc = ofr_msg_encode (&out, &again, err, sizeof err);
        CHECK (rc == 0 && again.len == frame.len
               && memcmp (again.data, frame.data, frame.len) == 0,
               "%s: re-encoding is not byte identical", tn);
        ofr_msg_type peeked = OFR_MSG_INVALID;
        CHECK (ofr_msg_peek_type (frame.data, frame.len, &peeked) == 0
               && peeked == in[k].type, "%s: peek_type", tn);
        CHECK (ofr_msg_type_from_name (tn) == in[k].type, "type_from_name(%s)", tn);
        ofr_msg_clear (&out);
        CHECK (is_zero (&out), "ofr_msg_clear leaves fields set");
        ofr_msg_clear (&in[k]);
        ofr_buf_free (&frame);
        ofr_buf_free (&again);
    }
    CHECK (ofr_msg_type_from_name ("foo") == OFR_MSG_INVALID, "from_name(foo)");
    CHECK (ofr_msg_type_from_name (NULL) == OFR_MSG_INVALID, "from_name(NULL)");
    CHECK (strcmp (ofr_msg_type_name ((ofr_msg_type) 99), "invalid") == 0, "name(99)");
}

/* Encoding validates with the decoder's bounds: a bad struct fails
   locally instead of being dropped by the peer. */
static void
expect_encode_err (ofr_msg *m, const char *want)
{
    char err[OFR_ERRLEN] = "";
    ofr_buf b;
    ofr_buf_init (&b);
    int rc = ofr_msg_encode (m, &b, err, sizeof err);
    CHECK (rc == -1 && strstr (err, want) && b.len == 0,
           "encode: want error '%s', got rc=%d '%s'", want, rc, err);
    ofr_buf_free (&b);
}

static void
test_encode_errors (void)
{
    ofr_msg m;
    make_hello (&m, 2);
    m.credit = 0;
    expect_encode_err (&m, "hello.credit: 0 out of range 1..64");
    m.credit = 1;
    free (m.name);
    m.name = NULL;
    expect_encode_err (&m, "hello.name: NULL string");
    m.name = S ("w");
    m.plugins[1].abi_minor = -1;
    expect_encode_err (&m, "hello.plugins[1].abi: -1 out of range");
    ofr_msg_clear (&m);

    make_records (&m, 3, 4);
    m.records[2].n_stats = OFR_MAX_STATS + 1;
    expect_encode_err (&m, "records.records[2].s: 4097 elements, limit is 4096");
    m.records[2].n_stats = 1;
    ofr_msg_clear (&m);

    make_task (&m, 10, 1);
    m.examples[3] = -5;
    expect_encode_err (&m, "task.examples[3]: -5 out of range 0..2147483647");
    m.examples[3] = 1;
    m.cell.batch_size = OFR_MAX_BATCH_SIZE + 1;
    expect_encode_err (&m, "task.cell.batch_size: 4097 out of range 1..4096");
    ofr_msg_clear (&m);

    make_simple (&m, OFR_MSG_DONE, 1);
    m.type = OFR_MSG_INVALID;
    expect_encode_err (&m, "invalid message type 0");
}

/* ------------------------------------------------------------------ */
/*  2. Strict decoding: take a valid frame as an object tree, break one */
/*     thing, repack, and check the error names it.                     */

typedef struct {
    ofr_buf          src;      /* the valid frame (strings point into it) */
    msgpack_unpacked up;
    msgpack_object  *root;
} tree;

static void
tree_open (tree *t, ofr_msg *m)
{
    char err[OFR_ERRLEN];
    ofr_buf_init (&t->src);
    if (ofr_msg_encode (m, &t->src, err, sizeof err)) {
        fprintf (stderr, "tree_open: %s\n", err);
        exit (1);
    }
    ofr_msg_clear (m);
    msgpack_unpacked_init (&t->up);
    size_t off = 0;
    if (msgpack_unpack_next (&t->up, t->src.data, t->src.len, &off)
        != MSGPACK_UNPACK_SUCCESS) {
        fprintf (stderr, "tree_open: unpack failed\n");
        exit (1);
    }
    t->root = &t->up.data;
}

static void
tree_close (tree *t)
{
    msgpack_unpacked_destroy (&t->up);
    ofr_buf_free (&t->src);
}

static msgpack_object *
get (msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; map && i < map->via.map.size; i++) {
        msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen (key)
            && memcmp (kv->key.via.str.ptr, key, strlen (key)) == 0)
            return &kv->val;
    }
    fprintf (stderr, "test bug: key %s not found\n", key);
    exit (1);
}

static msgpack_object *
at (msgpack_object *array, uint32_t i)
{
    if (array->type != MSGPACK_OBJECT_ARRAY || i >= array->via.array.size) {
        fprintf (stderr, "test bug: index %u\n", i);
        exit (1);
    }
    return &array->via.array.ptr[i];
}

static void
set_int (msgpack_object *o, int64_t v)
{
    o->type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
    if (v < 0)
        o->via.i64 = v;
    else
        o->via.u64 = (uint64_t) v;
}

static void
set_str (msgpack_object *o, const char *s, size_t n)
{
    o->type = MSGPACK_OBJECT_STR;
    o->via.str.ptr = s;
    o->via.str.size = (uint32_t) n;
}

static void
del_key (msgpack_object *map, const char *key)
{
    msgpack_object *v = get (map, key);
    msgpack_object_kv *kv = (msgpack_object_kv *) ((char *) v - offsetof (msgpack_object_kv, val));
    size_t i = (size_t) (kv - map->via.map.ptr);
    memmove (kv, kv + 1, (map->via.map.size - i - 1) * sizeof *kv);
    map->via.map.size--;
}

/* Appends key -> *val (copied) to map, growing it in the tree's zone. */
static void
add_key (tree *t, msgpack_object *map, msgpack_object key, const msgpack_object *val)
{
    uint32_t n = map->via.map.size;
    msgpack_object_kv *kv = msgpack_zone_malloc (t->up.zone, (n + 1) * sizeof *kv);
    if (!kv)
        exit (1);
    memcpy (kv, map->via.map.ptr, n * sizeof *kv);
    kv[n].key = key;
    kv[n].val = *val;
    map->via.map.ptr = kv;
    map->via.map.size = n + 1;
}

static msgpack_object
str_obj (const char *s)
{
    msgpack_object o;
    set_str (&o, s, strlen (s));
    return o;
}

static void
dup_key (tree *t, msgpack_object *map, const char *key)
{
    add_key (t, map, str_obj (key), get (map, key));
}

static void
pack_tree (tree *t, ofr_buf *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object (&pk, *t->root))
        exit (1);
    ofr_buf_init (out);
    ofr_buf_append (out, sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

/* Decodes a private exact-size copy (so ASan sees any over-read). */
static int
decode_copy (const void *data, size_t n, ofr_msg *m, char *err, size_t errlen)
{
    void *copy = malloc (n ? n : 1);
    if (!copy)
        exit (1);
    if (n)
        memcpy (copy, data, n);
    int rc = ofr_msg_decode (copy, n, m, err, errlen);
    free (copy);
    return rc;
}

static void
expect_err_bytes (const void *data, size_t n, const char *want, const char *label)
{
    char err[OFR_ERRLEN] = "";
    ofr_msg m;
    int rc = decode_copy (data, n, &m, err, sizeof err);
    CHECK (rc == -1 && strstr (err, want), "%s: want error '%s', got rc=%d '%s'",
           label, want, rc, err);
    CHECK (is_zero (&m), "%s: message not cleared after error", label);
    if (rc == 0)
        ofr_msg_clear (&m);
}

static void
expect_err (tree *t, const char *want, const char *label)
{
    ofr_buf b;
    pack_tree (t, &b);
    expect_err_bytes (b.data, b.len, want, label);
    ofr_buf_free (&b);
    tree_close (t);
}

static void
expect_ok (tree *t, ofr_msg *out, const char *label)
{
    char err[OFR_ERRLEN] = "";
    ofr_buf b;
    pack_tree (t, &b);
    int rc = decode_copy (b.data, b.len, out, err, sizeof err);
    CHECK (rc == 0, "%s: want success, got '%s'", label, err);
    ofr_buf_free (&b);
    tree_close (t);
}

typedef void (make_fn) (ofr_msg *m);
static void mk_control (ofr_msg *m) { make_simple (m, OFR_MSG_CONTROL, 1); }
static void mk_state (ofr_msg *m)   { make_simple (m, OFR_MSG_STATE, 1); }
static void mk_hello (ofr_msg *m)   { make_hello (m, 2); }
static void mk_task (ofr_msg *m)    { make_task (m, 8, 2); }
static void mk_records (ofr_msg *m) { make_records (m, 5, 6); }
static void mk_done (ofr_msg *m)    { make_simple (m, OFR_MSG_DONE, 1); }
static void mk_bye (ofr_msg *m)     { make_simple (m, OFR_MSG_BYE, 1); }
static void mk_hb (ofr_msg *m)      { make_simple (m, OFR_MSG_HEARTBEAT, 0); }
static void mk_welcome (ofr_msg *m) { make_welcome (m); }
static void mk_blob_get (ofr_msg *m) { make_simple (m, OFR_MSG_BLOB_GET, 1); }
static void mk_blob (ofr_msg *m)    { make_simple (m, OFR_MSG_BLOB, 1); }

static void
open_new (tree *t, make_fn *make)
{
    ofr_msg m;
    make (&m);
    tree_open (t, &m);
}

static msgpack_object *
record (tree *t, uint32_t i)
{
    return at (get (t->root, "records"), i);
}

static msgpack_object *
cell (tree *t)
{
    return get (t->root, "cell");
}

static void
test_header_errors (void)
{
    tree t;
    open_new (&t, mk_done);
    set_int (get (t.root, "v"), 2);
    expect_err (&t, "protocol version 2, expected 1", "version 2");

    open_new (&t, mk_done);
    set_str (get (t.root, "v"), "1", 1);
    expect_err (&t, "message.v: expected unsigned integer, got str", "v as str");

    open_new (&t, mk_done);
    del_key (t.root, "v");
    expect_err (&t, "message.v: missing required key", "no v");

    open_new (&t, mk_done);
    set_str (get (t.root, "t"), "foo", 3);
    expect_err (&t, "unknown message type 'foo'", "type foo");

    open_new (&t, mk_done);
    set_str (get (t.root, "t"), "done\0x", 6);
    expect_err (&t, "unknown message type 'done?x'", "type with NUL");

    open_new (&t, mk_done);
    del_key (t.root, "t");
    expect_err (&t, "message.t: missing required key", "no t");

    /* non-map top level */
    expect_err_bytes ("\x92\x01\xa4""done", 7, "message: expected a map, got array",
                      "array top level");
    expect_err_bytes ("\x05", 1, "message: expected a map, got int", "int top level");
    expect_err_bytes ("\xc0", 1, "message: expected a map, got nil", "nil top level");
    expect_err_bytes ("", 0, "message: truncated", "empty frame");
    expect_err_bytes ("\xc1", 1, "invalid msgpack byte 0xc1", "reserved byte");

    /* v and t in any order; unknown extra keys ignored */
    ofr_msg m;
    open_new (&t, mk_done);
    msgpack_object_kv first = t.root->via.map.ptr[0];
    t.root->via.map.ptr[0] = t.root->via.map.ptr[2];
    t.root->via.map.ptr[2] = first;
    msgpack_object extra;
    set_int (&extra, -7);
    add_key (&t, t.root, str_obj ("zz"), &extra);
    add_key (&t, t.root, str_obj ("zy"), &extra);
    expect_ok (&t, &m, "reordered + extra keys");
    CHECK (m.type == OFR_MSG_DONE && m.task_id == 5, "reordered done: %lld",
           (long long) m.task_id);
    ofr_msg_clear (&m);
}

static void
test_missing_and_types (void)
{
    tree t;
    open_new (&t, mk_hello);
    del_key (t.root, "credit");
    expect_err (&t, "hello.credit: missing required key", "no credit");

    open_new (&t, mk_records);
    del_key (record (&t, 3), "s");
    expect_err (&t, "records.records[3].s: missing required key", "no s");

    open_new (&t, mk_task);
    del_key (cell (&t), "seed");
    expect_err (&t, "task.cell.seed: missing required key", "no seed");

    open_new (&t, mk_done);
    set_str (get (t.root, "task_id"), "x", 1);
    expect_err (&t, "done.task_id: expected integer, got str", "task_id str");

    open_new (&t, mk_done);
    get (t.root, "task_id")->type = MSGPACK_OBJECT_FLOAT64;
    get (t.root, "task_id")->via.f64 = 1.5;
    expect_err (&t, "done.task_id: expected integer, got float64", "task_id float");

    open_new (&t, mk_records);
    set_str (get (record (&t, 3), "s"), "x", 1);
    expect_err (&t, "records.records[3].s: expected array of numbers", "s str");

    open_new (&t, mk_records);
    set_str (at (get (record (&t, 1), "s"), 4), "x", 1);
    expect_err (&t, "records.records[1].s: expected array of numbers (element 4 is str)",
                "s[4] str");

    open_new (&t, mk_records);
    get (record (&t, 0), "p")->type = MSGPACK_OBJECT_BOOLEAN;
    expect_err (&t, "records.records[0].p: expected number, got bool", "p bool");

    open_new (&t, mk_records);
    set_int (get (record (&t, 0), "pt"), 3);
    expect_err (&t, "records.records[0].pt: expected str or nil, got int", "pt int");

    open_new (&t, mk_records);
    set_str (get (record (&t, 1), "tx"), "ab", 2);
    expect_err (&t, "records.records[1].tx: expected bin or nil, got str", "tx str");

    open_new (&t, mk_hello);
    set_int (get (t.root, "name"), 1);
    expect_err (&t, "hello.name: expected str, got int", "name int");

    open_new (&t, mk_bye);
    set_int (get (t.root, "rejoin"), 1);
    expect_err (&t, "bye.rejoin: expected bool, got int", "rejoin int");

    open_new (&t, mk_task);
    set_int (get (cell (&t), "seed"), -1);
    expect_err (&t, "task.cell.seed: expected unsigned integer, got negative int",
                "seed negative");

    open_new (&t, mk_task);
    *cell (&t) = *get (t.root, "examples");
    expect_err (&t, "task.cell: expected a map, got array", "cell array");

    open_new (&t, mk_task);
    set_str (at (get (t.root, "examples"), 2), "7", 1);
    expect_err (&t, "task.examples[2]: expected integer, got str", "example str");

    open_new (&t, mk_task);
    *at (get (cell (&t), "params"), 1) = *get (cell (&t), "model");
    expect_err (&t, "task.cell.params[1]: expected [key, value] array of 2 strings",
                "param not pair");

    open_new (&t, mk_records);
    *get (t.root, "records") = *get (t.root, "task_id");
    expect_err (&t, "records.records: expected array of maps, got int", "records int");

    /* non-string key */
    open_new (&t, mk_hello);
    msgpack_object k;
    set_int (&k, 1);
    add_key (&t, t.root, k, get (t.root, "pid"));
    expect_err (&t, "hello: key 10 is int, expected str", "int key");

    /* accepted: int for float64, float32, negative int in range */
    ofr_msg m;
    open_new (&t, mk_records);
    set_int (get (record (&t, 0), "p"), 3);
    get (record (&t, 0), "w")->type = MSGPACK_OBJECT_FLOAT32;
    get (record (&t, 0), "w")->via.f64 = 0.5;
    set_int (at (get (record (&t, 1), "s"), 0), -4);
    expect_ok (&t, &m, "int/float32 as float64");
    CHECK (m.n_records == 5 && m.records[0].prediction == 3.0
           && m.records[0].wall_ms == 0.5 && m.records[1].stats[0] == -4.0,
           "int/float32 values");
    ofr_msg_clear (&m);
    open_new (&t, mk_hb);
    expect_ok (&t, &m, "heartbeat -1");
    CHECK (m.task_id == -1 && strcmp (m.state, "idle") == 0, "heartbeat values");
    ofr_msg_clear (&m);
}

static void
test_ranges (void)
{
    tree t;
    open_new (&t, mk_task);
    set_int (get (cell (&t), "batch_size"), 0);
    expect_err (&t, "task.cell.batch_size: 0 out of range 1..4096", "batch 0");

    open_new (&t, mk_task);
    set_int (get (cell (&t), "batch_size"), 4097);
    expect_err (&t, "task.cell.batch_size: 4097 out of range 1..4096", "batch 4097");

    open_new (&t, mk_task);
    set_int (get (cell (&t), "index"), 1LL << 40);
    expect_err (&t, "task.cell.index: 1099511627776 out of range 0..2147483647",
                "index 2^40");

    open_new (&t, mk_task);
    set_int (get (cell (&t), "limit"), -1);
    expect_err (&t, "task.cell.limit: -1 out of range 0..2147483647", "limit -1");

    open_new (&t, mk_hello);
    set_int (get (t.root, "credit"), 65);
    expect_err (&t, "hello.credit: 65 out of range 1..64", "credit 65");

    open_new (&t, mk_hello);
    get (t.root, "pid")->via.u64 = UINT64_MAX;
    expect_err (&t, "hello.pid: 18446744073709551615 out of range", "pid u64 max");

    open_new (&t, mk_welcome);
    set_int (get (t.root, "heartbeat_ms"), 0);
    expect_err (&t, "welcome.heartbeat_ms: 0 out of range 1..", "heartbeat_ms 0");

    open_new (&t, mk_task);
    set_int (at (get (t.root, "examples"), 3), -1);
    expect_err (&t, "task.examples[3]: -1 out of range 0..2147483647", "example -1");

    open_new (&t, mk_task);
    set_int (at (get (t.root, "examples"), 0), 1LL << 31);
    expect_err (&t, "task.examples[0]: 2147483648 out of range", "example 2^31");

    open_new (&t, mk_hb);
    set_int (get (t.root, "task_id"), -2);
    expect_err (&t, "heartbeat.task_id: -2 out of range -1..", "heartbeat -2");

    open_new (&t, mk_done);
    set_int (get (t.root, "task_id"), -1);
    expect_err (&t, "done.task_id: -1 out of range 0..", "done -1");
}

static void
test_duplicates (void)
{
    tree t;
    open_new (&t, mk_done);
    dup_key (&t, t.root, "t");
    expect_err (&t, "done.t: duplicated key", "dup t");

    open_new (&t, mk_done);
    dup_key (&t, t.root, "v");
    expect_err (&t, "done.v: duplicated key", "dup v");

    open_new (&t, mk_task);
    dup_key (&t, cell (&t), "model");
    expect_err (&t, "task.cell.model: duplicated key", "dup cell.model");

    open_new (&t, mk_records);
    dup_key (&t, record (&t, 2), "c");
    expect_err (&t, "records.records[2].c: duplicated key", "dup record c");

    open_new (&t, mk_hello);
    msgpack_object v;
    set_int (&v, 1);
    add_key (&t, t.root, str_obj ("zz"), &v);
    add_key (&t, t.root, str_obj ("za"), &v);
    add_key (&t, t.root, str_obj ("zz"), &v);
    expect_err (&t, "hello.zz: duplicated key", "dup unknown key");

    open_new (&t, mk_hello);
    add_key (&t, at (get (t.root, "plugins"), 1), str_obj (""), &v);
    add_key (&t, at (get (t.root, "plugins"), 1), str_obj (""), &v);
    expect_err (&t, "hello.plugins[1].: duplicated key", "dup empty unknown key");
}

/*  v1.1 dashboard messages: state.json is the one string allowed past
    OFR_MAX_STRING (a whole run's report), and still bounded. */
static void
test_dashboard (void)
{
    tree t;
    ofr_msg m;
    open_new (&t, mk_control);
    set_str (get (t.root, "paused"), "yes", 3);
    expect_err (&t, "control.paused: expected bool, got str", "control.paused type");
    size_t n = (size_t) OFR_MAX_STRING * 4;
    char *big = A (n, 1);
    memset (big, '[', n);
    open_new (&t, mk_state);
    set_str (get (t.root, "json"), big, (uint32_t) n);
    expect_ok (&t, &m, "state.json past OFR_MAX_STRING");
    CHECK (m.json && strlen (m.json) == n && m.paused == 1, "long state.json");
    ofr_msg_clear (&m);
    ofr_msg enc = { .type = OFR_MSG_STATE, .json = big };
    big[n - 1] = 0;
    ofr_buf b;
    ofr_buf_init (&b);
    char err[OFR_ERRLEN];
    CHECK (ofr_msg_encode (&enc, &b, err, sizeof err) == 0, "encode long state: %s", err);
    ofr_buf_free (&b);
    free (big);
    char ep[128];
    CHECK (ofr_endpoint_derive ("tcp://127.0.0.1:5555", "events", ep, sizeof ep) == 0
           && strcmp (ep, "tcp://127.0.0.1:5556") == 0, "derive tcp events: %s", ep);
    CHECK (ofr_endpoint_derive ("tcp://127.0.0.1:5555", "ctl", ep, sizeof ep) == 0
           && strcmp (ep, "tcp://127.0.0.1:5557") == 0, "derive tcp ctl: %s", ep);
    CHECK (ofr_endpoint_derive ("tcp://*:*", "ctl", ep, sizeof ep) == 0
           && strcmp (ep, "tcp://*:*") == 0, "derive wildcard: %s", ep);
    CHECK (ofr_endpoint_derive ("ipc:///tmp/x.sock", "ctl", ep, sizeof ep) == 0
           && strcmp (ep, "ipc:///tmp/x.ctl") == 0, "derive ipc .sock: %s", ep);
    CHECK (ofr_endpoint_derive ("ipc:///tmp/x", "events", ep, sizeof ep) == 0
           && strcmp (ep, "ipc:///tmp/x.events") == 0, "derive ipc: %s", ep);
    CHECK (ofr_endpoint_derive ("tcp://nocolon", "ctl", ep, sizeof ep) == -1, "derive bad tcp");
    CHECK (ofr_endpoint_derive ("ipc:///tmp/x", "events", ep, 8) == -1, "derive too long");
}

/* 1.2: blob_get, blob, hello.fetch and task.files (optional keys). */
static void
test_blobs (void)
{
    tree t;
    ofr_msg m;
    /* 1.1 peers: no "fetch" in hello, no "files" in task */
    open_new (&t, mk_hello);
    del_key (t.root, "fetch");
    expect_ok (&t, &m, "hello without fetch");
    CHECK (m.type == OFR_MSG_HELLO && m.fetch == 0, "hello.fetch %d", m.fetch);
    ofr_msg_clear (&m);
    open_new (&t, mk_task);
    del_key (t.root, "files");
    expect_ok (&t, &m, "task without files");
    CHECK (m.type == OFR_MSG_TASK && m.n_files == 0 && !m.files, "task.files %d", m.n_files);
    ofr_msg_clear (&m);

    /* strict: optional keys still have types; manifest entries complete */
    open_new (&t, mk_hello);
    set_int (get (t.root, "fetch"), 1);
    expect_err (&t, "hello.fetch: expected bool, got int", "fetch as int");
    open_new (&t, mk_task);
    del_key (at (get (t.root, "files"), 1), "hash");
    expect_err (&t, "task.files[1].hash: missing required key", "file without hash");
    open_new (&t, mk_task);
    set_int (get (at (get (t.root, "files"), 2), "size"), -1);
    expect_err (&t, "task.files[2].size: -1 out of range", "negative file size");
    open_new (&t, mk_task);
    dup_key (&t, t.root, "files");
    expect_err (&t, "duplicated key", "files twice");

    /* blob_get bounds */
    open_new (&t, mk_blob_get);
    set_int (get (t.root, "length"), 0);
    expect_err (&t, "blob_get.length: 0 out of range 1..1048576", "length 0");
    open_new (&t, mk_blob_get);
    set_int (get (t.root, "length"), OFR_BLOB_CHUNK + 1);
    expect_err (&t, "blob_get.length: 1048577 out of range", "length > chunk");
    open_new (&t, mk_blob_get);
    set_int (get (t.root, "offset"), -1);
    expect_err (&t, "blob_get.offset: -1 out of range", "negative offset");
    open_new (&t, mk_blob_get);
    del_key (t.root, "hash");
    expect_err (&t, "blob_get.hash: missing required key", "blob_get without hash");

    /* blob: total >= -1, data is bin of at most one chunk */
    open_new (&t, mk_blob);
    set_int (get (t.root, "total"), -2);
    expect_err (&t, "blob.total: -2 out of range", "total -2");
    open_new (&t, mk_blob);
    set_str (get (t.root, "data"), "abc", 3);
    expect_err (&t, "blob.data: expected bin, got str", "data as str");
    open_new (&t, mk_blob);
    del_key (t.root, "data");
    expect_err (&t, "blob.data: missing required key", "blob without data");
    {
        ofr_msg big;
        make_simple (&big, OFR_MSG_BLOB, 2);
        uint8_t *d = realloc (big.data, OFR_BLOB_CHUNK + 1);
        CHECK (d != NULL, "out of memory");
        if (d) {
            big.data = d;
            big.n_data = OFR_BLOB_CHUNK + 1;
            char err[OFR_ERRLEN] = "";
            ofr_buf b;
            ofr_buf_init (&b);
            CHECK (ofr_msg_encode (&big, &b, err, sizeof err) == -1
                   && strstr (err, "blob.data: 1048577 elements, limit is 1048576"),
                   "oversized blob encoded: '%s'", err);
            ofr_buf_free (&b);
            /* the decoder refuses it too (a packer-built frame) */
            msgpack_sbuffer sb;
            msgpack_sbuffer_init (&sb);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map (&pk, 6);
            msgpack_pack_str_with_body (&pk, "v", 1);
            msgpack_pack_uint8 (&pk, 1);
            msgpack_pack_str_with_body (&pk, "t", 1);
            msgpack_pack_str_with_body (&pk, "blob", 4);
            msgpack_pack_str_with_body (&pk, "hash", 4);
            msgpack_pack_str_with_body (&pk, "h", 1);
            msgpack_pack_str_with_body (&pk, "offset", 6);
            msgpack_pack_uint8 (&pk, 0);
            msgpack_pack_str_with_body (&pk, "total", 5);
            msgpack_pack_uint32 (&pk, OFR_BLOB_CHUNK + 1);
            msgpack_pack_str_with_body (&pk, "data", 4);
            msgpack_pack_bin_with_body (&pk, big.data, OFR_BLOB_CHUNK + 1);
            expect_err_bytes (sb.data, sb.size, "blob.data: 1048577 elements, limit is "
                              "1048576", "oversized blob decoded");
            msgpack_sbuffer_destroy (&sb);
        }
        ofr_msg_clear (&big);
    }
    CHECK (OFR_PROTOCOL_MINOR >= 2, "protocol minor %d", OFR_PROTOCOL_MINOR);
    CHECK (ofr_msg_type_from_name ("blob_get") == OFR_MSG_BLOB_GET
           && ofr_msg_type_from_name ("blob") == OFR_MSG_BLOB
           && strcmp (ofr_msg_type_name (OFR_MSG_BLOB), "blob") == 0, "blob type names");
}

static void
test_strings_and_abi (void)
{
    tree t;
    open_new (&t, mk_hello);
    set_str (get (t.root, "name"), "a\0b", 3);
    expect_err (&t, "hello.name: string contains a NUL byte", "name NUL");

    open_new (&t, mk_task);
    set_str (at (at (get (cell (&t), "params"), 0), 1), "0.\0003", 4);
    expect_err (&t, "task.cell.params[0]: string contains a NUL byte", "param NUL");

    char *big = A (OFR_MAX_STRING + 1, 1);
    memset (big, 'x', OFR_MAX_STRING + 1);
    open_new (&t, mk_welcome);
    set_str (get (t.root, "run_id"), big, OFR_MAX_STRING + 1);
    expect_err (&t, "welcome.run_id: string of 65537 bytes, limit is 65536",
                "long string");
    ofr_msg m;
    open_new (&t, mk_welcome);
    set_str (get (t.root, "run_id"), big, OFR_MAX_STRING);
    expect_ok (&t, &m, "string at limit");
    CHECK (m.run_id && strlen (m.run_id) == OFR_MAX_STRING, "long run_id");
    ofr_msg_clear (&m);

    open_new (&t, mk_records);
    msgpack_object *tx = get (record (&t, 1), "tx");
    tx->via.bin.ptr = big;
    tx->via.bin.size = OFR_MAX_TOKENS + 1;
    expect_err (&t, "records.records[1].tx: 65537 elements, limit is 65536", "long tx");
    free (big);

    open_new (&t, mk_hello);
    msgpack_object *abi = get (at (get (t.root, "plugins"), 0), "abi");
    abi->via.array.size = 1;
    expect_err (&t, "hello.plugins[0].abi: expected [major, minor] array of 2 integers",
                "abi [1]");

    open_new (&t, mk_hello);
    set_str (get (at (get (t.root, "plugins"), 1), "abi"), "1.0", 3);
    expect_err (&t, "hello.plugins[1].abi: expected [major, minor] array of 2 integers",
                "abi str");

    open_new (&t, mk_hello);
    set_str (at (get (at (get (t.root, "plugins"), 1), "abi"), 1), "0", 1);
    expect_err (&t, "hello.plugins[1].abi[1]: expected integer, got str", "abi[1] str");

    open_new (&t, mk_hello);
    set_int (at (get (at (get (t.root, "plugins"), 0), "abi"), 0), -1);
    expect_err (&t, "hello.plugins[0].abi[0]: -1 out of range", "abi -1");
}

/* Frames built byte by byte: sizes and counts the packer cannot fake. */
static void
raw_head (ofr_buf *b, const char *type, int n_keys)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, (size_t) n_keys);
    msgpack_pack_str_with_body (&pk, "v", 1);
    msgpack_pack_uint8 (&pk, 1);
    msgpack_pack_str_with_body (&pk, "t", 1);
    msgpack_pack_str_with_body (&pk, type, strlen (type));
    msgpack_pack_str_with_body (&pk, "task_id", 7);
    msgpack_pack_uint8 (&pk, 1);
    ofr_buf_init (b);
    ofr_buf_append (b, sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

static void
test_raw_frames (void)
{
    /* 2^32-1 element array / map in a 10-byte frame: msgpack-c alone would
       try to allocate 96 GiB (ASan aborts); the pre-scan refuses it. */
    expect_err_bytes ("\xdd\xff\xff\xff\xff\x01\x02\x03\x04\x05", 10,
                      "declares 4294967295 elements but only 5 bytes remain",
                      "array32 bomb");
    expect_err_bytes ("\xdf\x0f\xff\xff\xff\x01", 6,
                      "declares 536870910 elements", "map32 bomb");
    expect_err_bytes ("\xdb\xff\xff\xff\xff" "abc", 8, "truncated", "str32 bomb");
    expect_err_bytes ("\xc6\xff\xff\xff\xff" "abc", 8, "truncated", "bin32 bomb");
    expect_err_bytes ("\xc9\xff\xff\xff\xff\x01" "abc", 9, "truncated", "ext32 bomb");

    ofr_buf b;
    raw_head (&b, "records", 4);
    ofr_buf_append (&b, "\xa7records\xdd\x00\x10\x00\x00", 13);
    ofr_buf_append (&b, "\x80\x80\x80\x80", 4);
    expect_err_bytes (b.data, b.len, "declares 1048576 elements", "records bomb");
    ofr_buf_free (&b);

    /* counts over the protocol limits, in frames that really hold them */
    raw_head (&b, "records", 4);
    ofr_buf_append (&b, "\xa7records\xdd\x00\x01\x00\x01", 13);
    for (int i = 0; i <= OFR_MAX_RECORDS; i++)
        ofr_buf_append (&b, "\xc0", 1);
    expect_err_bytes (b.data, b.len, "records.records: 65537 elements, limit is 65536",
                      "too many records");
    ofr_buf_free (&b);

    tree t;
    open_new (&t, mk_task);
    msgpack_object *ex = get (t.root, "examples");
    ex->via.array.size = OFR_MAX_EXAMPLES + 1;
    ex->via.array.ptr = msgpack_zone_malloc (t.up.zone,
                                             ex->via.array.size * sizeof (msgpack_object));
    if (!ex->via.array.ptr)
        exit (1);
    for (uint32_t i = 0; i < ex->via.array.size; i++)
        set_int (&ex->via.array.ptr[i], 7);
    expect_err (&t, "task.examples: 1000001 elements, limit is 1000000",
                "too many examples");

    /* truncation and trailing bytes */
    ofr_msg m;
    char err[OFR_ERRLEN];
    make_simple (&m, OFR_MSG_FAIL, 1);
    ofr_buf_init (&b);
    if (ofr_msg_encode (&m, &b, err, sizeof err))
        exit (1);
    ofr_msg_clear (&m);
    expect_err_bytes (b.data, b.len - 1, "message: truncated", "truncated");
    size_t len = b.len;
    ofr_buf_append (&b, "\xc0", 1);
    expect_err_bytes (b.data, b.len, "message: 1 trailing bytes after the map",
                      "trailing nil");
    char *copy = A (len, 1);        /* ofr_buf_append must not read from b itself */
    memcpy (copy, b.data, len);
    ofr_buf_append (&b, copy, len);
    free (copy);
    expect_err_bytes (b.data, b.len, "trailing bytes", "two messages");
    ofr_buf_free (&b);

    /* nesting: msgpack-c's parser stack holds 32 levels */
    for (int depth = 20; depth <= 40; depth += 20) {
        raw_head (&b, "done", 4);
        ofr_buf_append (&b, "\xa2zz", 3);
        for (int i = 0; i < depth; i++)
            ofr_buf_append (&b, "\x91", 1);
        ofr_buf_append (&b, "\xc0", 1);
        int rc = decode_copy (b.data, b.len, &m, err, sizeof err);
        if (depth == 20)
            CHECK (rc == 0 && m.type == OFR_MSG_DONE, "depth 20: %s", err);
        else
            CHECK (rc == -1 && strstr (err, "nested deeper than"), "depth 40: %s", err);
        ofr_msg_clear (&m);
        ofr_buf_free (&b);
    }
    ofr_msg_type pt = OFR_MSG_INVALID;
    CHECK (ofr_msg_peek_type ("\x82\xa1v\x01\xa1t\xa4" "done", 11, &pt) == 0
           && pt == OFR_MSG_DONE, "peek_type reads only v and t");
    CHECK (ofr_msg_peek_type ("\x81\xa1t\xa4" "done", 7, &pt) == -1,
           "peek_type without v");
    CHECK (ofr_msg_peek_type ("\x90", 1, &(ofr_msg_type) { 0 }) == -1, "peek array");
}

/* ------------------------------------------------------------------ */
/*  3. Fuzz: mutated valid frames and random bytes. Decoding must       */
/*     return 0 or -1; what decodes must re-encode and decode again.    */

#define N_FUZZ 20000

typedef struct {
    int ok, rejected;
} fuzz_stats;

static void
fuzz_one (const uint8_t *data, size_t n, fuzz_stats *st)
{
    char err[OFR_ERRLEN] = "";
    ofr_msg m;
    int rc = decode_copy (data, n, &m, err, sizeof err);
    if (rc == -1) {
        CHECK (err[0] && is_zero (&m), "fuzz: rejection without message/clear");
        st->rejected++;
        return;
    }
    CHECK (rc == 0, "fuzz: decode returned %d", rc);
    if (rc != 0)
        return;
    st->ok++;
    ofr_buf b1, b2;
    ofr_buf_init (&b1);
    ofr_buf_init (&b2);
    ofr_msg m2;
    rc = ofr_msg_encode (&m, &b1, err, sizeof err);
    CHECK (rc == 0, "fuzz: decoded message does not re-encode: %s", err);
    if (rc == 0) {
        rc = decode_copy (b1.data, b1.len, &m2, err, sizeof err);
        CHECK (rc == 0, "fuzz: re-encoded message does not decode: %s", err);
        CHECK (rc == 0 && msg_eq (&m, &m2), "fuzz: re-decoded message differs");
        if (rc == 0 && ofr_msg_encode (&m2, &b2, err, sizeof err) == 0)
            CHECK (b1.len == b2.len && memcmp (b1.data, b2.data, b1.len) == 0,
                   "fuzz: encoding is not stable");
        ofr_msg_clear (&m2);
    }
    ofr_msg_type peeked;
    CHECK (ofr_msg_peek_type (data, n, &peeked) == 0 && peeked == m.type,
           "fuzz: peek_type disagrees with decode");
    ofr_msg_clear (&m);
    ofr_buf_free (&b1);
    ofr_buf_free (&b2);
}

static const uint8_t s_interesting[] = {
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
    0xc4, 0xc6, 0xca, 0xcb, 0xcf, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xff
};

static void
mutate (ofr_buf *b, ofr_rng *r)
{
    int n_mut = 1 + (int) (ofr_rng_u64 (r) % 4);
    for (int k = 0; k < n_mut && b->len > 0; k++) {
        size_t pos = ofr_rng_u64 (r) % b->len;
        switch (ofr_rng_u64 (r) % 5) {
            case 0: b->data[pos] ^= (char) (1u << (ofr_rng_u64 (r) % 8)); break;
            case 1: b->data[pos] = (char) ofr_rng_u64 (r); break;
            case 2:
                b->data[pos] = (char) s_interesting[ofr_rng_u64 (r)
                                                     % sizeof s_interesting];
                break;
            case 3:     /* delete a byte */
                memmove (b->data + pos, b->data + pos + 1, b->len - pos - 1);
                b->len--;
                break;
            default: {  /* insert a byte */
                char c = (char) ofr_rng_u64 (r);
                ofr_buf_append (b, "", 1);
                memmove (b->data + pos + 1, b->data + pos, b->len - pos - 1);
                b->data[pos] = c;
            }
        }
    }
}

static void
test_fuzz (void)
{
    ofr_msg corpus_msg[N_CORPUS];
    ofr_buf corpus[N_CORPUS];
    char err[OFR_ERRLEN];
    make_corpus (corpus_msg, 0);
    for (int k = 0; k < N_CORPUS; k++) {
        ofr_buf_init (&corpus[k]);
        if (ofr_msg_encode (&corpus_msg[k], &corpus[k], err, sizeof err))
            exit (1);
        ofr_msg_clear (&corpus_msg[k]);
    }
    ofr_rng r;
    ofr_rng_seed (&r, 0x0ff5a3u);
    fuzz_stats st = { 0, 0 };
    int done = 0, n_trunc = 0;
    for (int k = 0; k < N_CORPUS && done < N_FUZZ; k++)
        for (size_t len = 0; len < corpus[k].len && done < N_FUZZ; len++, done++)
            fuzz_one ((const uint8_t *) corpus[k].data, len, &st);
    n_trunc = done;
    CHECK (st.ok == 0, "a truncated frame decoded");
    ofr_buf b;
    ofr_buf_init (&b);
    for (; done < N_FUZZ; done++) {
        ofr_buf_reset (&b);
        const ofr_buf *a = &corpus[ofr_rng_u64 (&r) % N_CORPUS];
        uint64_t kind = ofr_rng_u64 (&r) % 10;
        if (kind < 5) {                     /* byte flips / edits */
            ofr_buf_append (&b, a->data, a->len);
            mutate (&b, &r);
        }
        else if (kind < 8) {                /* splice two frames */
            const ofr_buf *c = &corpus[ofr_rng_u64 (&r) % N_CORPUS];
            size_t cut_a = ofr_rng_u64 (&r) % (a->len + 1);
            size_t cut_c = ofr_rng_u64 (&r) % (c->len + 1);
            ofr_buf_append (&b, a->data, cut_a);
            ofr_buf_append (&b, c->data + cut_c, c->len - cut_c);
            if (kind == 7)
                mutate (&b, &r);
        }
        else {                              /* random bytes, often map-shaped */
            size_t n = ofr_rng_u64 (&r) % 97;
            for (size_t i = 0; i < n; i++) {
                char c = (char) ofr_rng_u64 (&r);
                if (i == 0 && kind == 8)
                    c = (char) (0x80 | (ofr_rng_u64 (&r) % 16));
                ofr_buf_append (&b, &c, 1);
            }
        }
        CHECK (!b.oom, "fuzz buffer oom");
        fuzz_one ((const uint8_t *) b.data, b.len, &st);
    }
    ofr_buf_free (&b);
    for (int k = 0; k < N_CORPUS; k++)
        ofr_buf_free (&corpus[k]);
    printf ("fuzz: %d inputs (%d truncations), %d decoded, %d rejected\n",
            done, n_trunc, st.ok, st.rejected);
    CHECK (done == N_FUZZ && st.ok + st.rejected == N_FUZZ, "fuzz count");
    CHECK (st.ok > 100, "fuzz: only %d mutated frames decoded", st.ok);
}

/* Throughput on a realistic records batch (informational). */
static void
bench (void)
{
    ofr_msg m, out;
    char err[OFR_ERRLEN];
    make_records (&m, 10000, 64);
    ofr_buf b;
    ofr_buf_init (&b);
    double t0 = ofr_now_ms ();
    int rc = ofr_msg_encode (&m, &b, err, sizeof err);
    double t1 = ofr_now_ms ();
    rc |= ofr_msg_decode (b.data, b.len, &out, err, sizeof err);
    double t2 = ofr_now_ms ();
    CHECK (rc == 0 && msg_eq (&m, &out), "bench round trip: %s", err);
    printf ("records x10000: %zu bytes, encode %.1f ms, decode %.1f ms\n",
            b.len, t1 - t0, t2 - t1);
    ofr_msg_clear (&m);
    ofr_msg_clear (&out);
    ofr_buf_free (&b);
}

int
main (void)
{
    test_round_trip ();
    test_encode_errors ();
    test_header_errors ();
    test_missing_and_types ();
    test_ranges ();
    test_duplicates ();
    test_strings_and_abi ();
    test_raw_frames ();
    test_dashboard ();
    test_blobs ();
    test_fuzz ();
    bench ();
    if (s_failures) {
        fprintf (stderr, "test_protocol: %d checks failed\n", s_failures);
        return 1;
    }
    printf ("test_protocol: all checks passed\n");
    return 0;
}
