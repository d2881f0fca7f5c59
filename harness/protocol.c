/*  protocol.c -- offramp wire protocol v1 over msgpack, see protocol.h.

    Wire format. One message = one frame = one msgpack map. The encoder writes
    "v" then "t" first; the decoder accepts them anywhere in the map.

      "v"  uint, must equal OFR_PROTOCOL_VERSION (1)
      "t"  str: hello | welcome | task | records | done | fail | heartbeat | bye
                | snapshot | control | state                          (v1.1)
                | blob_get | blob                                     (v1.2)

    Keys per type (all required; unknown extra keys are ignored):
      hello      "name" str, "host" str, "pid" int >= 0, "cores" int >= 0,
                 "threads" int >= 0, "credit" int 1..64,
                 "plugins" [ {"name" str, "version" str,
                              "abi" [major int >= 0, minor int >= 0],
                              "hash" str} ... ]               (<= 256)
                 "fetch" bool (v1.2, optional: fetches missing files)
      welcome    "worker_id" int >= 0, "run_id" str, "heartbeat_ms" int > 0
      task       "task_id" int >= 0,
                 "cell" {"index" int >= 0, "model" str, "suite" str,
                         "split" str, "limit" int >= 0, "method" str,
                         "params" [[key str, value str] ...] (<= 64),
                         "batch_size" int 1..4096, "seed" uint64},
                 "examples" [int 0..2^31-1 ...]             (<= 1000000),
                 "plugin_hash" str ("" = any),
                 "files" [ {"kind" str (plugin | model | data | artifact), "path" str
                            (relative), "hash" str (sha256 hex),
                            "size" int >= 0} ... ]  (v1.2, optional, <= 4096)
      records    "task_id" int >= 0,
                 "records" [ {"c" int >= 0 cell, "e" int >= 0 example,
                              "p" float64 prediction, "pt" str | nil,
                              "s" [float64 ...] stats (<= 4096),
                              "x" int >= 0 exit layer,
                              "k" int >= 0 layers skipped (summed over tokens),
                              "tx" bin (one uint8 exit layer per token,
                                   <= 65536) | nil,
                              "L" int >= 0 layers, "f" float64 flops,
                              "ff" float64 full-model flops,
                              "w" float64 wall ms} ... ]    (<= 65536)
      done       "task_id" int >= 0
      fail       "task_id" int >= 0, "reason" str
      heartbeat  "state" str, "task_id" int >= -1 (-1 = no task)
      bye        "reason" str, "rejoin" bool
      snapshot   (no keys)
      blob_get   "hash" str, "offset" int >= 0, "length" int 1..OFR_BLOB_CHUNK
      blob       "hash" str, "offset" int >= 0, "total" int >= -1 (file size;
                 -1 = hash not published), "data" bin (<= OFR_BLOB_CHUNK)
      control    "paused" bool
      state      "paused" bool, "json" str (<= OFR_MAX_TEXT bytes, the only
                 string allowed past OFR_MAX_STRING)

    Int fields accept msgpack positive and negative ints whose value is in
    range (and fits the C field); float64 fields accept any int or float.
    Strings are at most OFR_MAX_STRING bytes, contain no NUL (they become C
    strings) and are not checked for UTF-8. Keys must be strings and appear
    once. Empty "tx" bin and nil both decode to token_exits = NULL; NULL "pt"
    and "tx" encode as nil. The whole frame must be the one map.

    Memory bound: msgpack-c 4.0 allocates a container's element array as soon
    as it reads the count, without checking that the frame can hold that many
    elements (a 5-byte array32 header asks the zone for 96 GiB). s_prescan
    therefore walks the frame first and rejects any container whose count
    exceeds the bytes left, which bounds the zone at ~24 bytes per frame byte.

    Every field is described once in a table (key, C offset, kind, range) that
    drives encoding, decoding and the encoder's validation, so the two sides
    cannot disagree about names or bounds.
*/
#include "protocol.h"

#include <msgpack.h>

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Paths hold only our key names, type names and indices, never input. */
#define S_PATH       128
#define S_MAX_FIELDS 16
#define S_LEN(a)     ((int) (sizeof (a) / sizeof ((a)[0])))

typedef int (s_dec_fn) (const msgpack_object *o, void *base, const char *path,
                        char *err, size_t errlen);
typedef int (s_enc_fn) (msgpack_packer *pk, const void *base, const char *path,
                        char *err, size_t errlen);

typedef enum { K_STR, K_STR_NIL, K_TEXT, K_INT, K_I64, K_U64, K_BOOL, K_F64, K_SUB } s_kind;

typedef struct {
    const char *key;
    s_kind      kind;
    size_t      off;        /* offset of the C field in the base struct    */
    int64_t     lo, hi;     /* K_INT, K_I64: accepted range                */
    s_dec_fn   *dec;        /* K_SUB: nested values                        */
    s_enc_fn   *enc;
    int         opt;        /* 1.2+: key may be missing (field stays zero) */
} s_field;

#define F_STR(k, T, m)         { k, K_STR,     offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_STR_NIL(k, T, m)     { k, K_STR_NIL, offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_TEXT(k, T, m)        { k, K_TEXT,    offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_INT(k, T, m, lo, hi) { k, K_INT,     offsetof (T, m), lo, hi, NULL, NULL, 0 }
#define F_I64(k, T, m, lo, hi) { k, K_I64,     offsetof (T, m), lo, hi, NULL, NULL, 0 }
#define F_U64(k, T, m)         { k, K_U64,     offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_BOOL(k, T, m)        { k, K_BOOL,    offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_F64(k, T, m)         { k, K_F64,     offsetof (T, m), 0, 0, NULL, NULL, 0 }
#define F_SUB(k, name)         { k, K_SUB,     0, 0, 0, s_dec_##name, s_enc_##name, 0 }
/* Keys added to an existing type (1.2+): always encoded, optional when
   decoding, so older peers' messages still decode. */
#define F_BOOL_OPT(k, T, m)    { k, K_BOOL,    offsetof (T, m), 0, 0, NULL, NULL, 1 }
#define F_SUB_OPT(k, name)     { k, K_SUB,     0, 0, 0, s_dec_##name, s_enc_##name, 1 }

/* Nested values that are not a plain scalar or a map of scalars. */
static s_dec_fn s_dec_plugins, s_dec_abi, s_dec_cell, s_dec_params,
                s_dec_examples, s_dec_records, s_dec_stats, s_dec_tx,
                s_dec_files, s_dec_data;
static s_enc_fn s_enc_plugins, s_enc_abi, s_enc_cell, s_enc_params,
                s_enc_examples, s_enc_records, s_enc_stats, s_enc_tx,
                s_enc_files, s_enc_data;

static const s_field s_file_fields[] = {
    F_STR ("kind", ofr_file_info, kind),
    F_STR ("path", ofr_file_info, path),
    F_STR ("hash", ofr_file_info, hash),
    F_I64 ("size", ofr_file_info, size, 0, INT64_MAX),
};

static const s_field s_plugin_fields[] = {
    F_STR ("name", ofr_plugin_info, name),
    F_STR ("version", ofr_plugin_info, version),
    F_SUB ("abi", abi),
    F_STR ("hash", ofr_plugin_info, hash),
};

static const s_field s_cell_fields[] = {
    F_INT ("index", ofr_cell, index, 0, INT_MAX),
    F_STR ("model", ofr_cell, model),
    F_STR ("suite", ofr_cell, suite),
    F_STR ("split", ofr_cell, split),
    F_INT ("limit", ofr_cell, limit, 0, INT_MAX),
    F_STR ("method", ofr_cell, method),
    F_SUB ("params", params),
    F_INT ("batch_size", ofr_cell, batch_size, 1, OFR_MAX_BATCH_SIZE),
    F_U64 ("seed", ofr_cell, seed),
};

static const s_field s_record_fields[] = {
    F_INT ("c", ofr_record, cell, 0, INT_MAX),
    F_INT ("e", ofr_record, example, 0, INT_MAX),
    F_F64 ("p", ofr_record, prediction),
    F_STR_NIL ("pt", ofr_record, pred_text),
    F_SUB ("s", stats),
    F_INT ("x", ofr_record, exit_layer, 0, INT_MAX),
    F_INT ("k", ofr_record, skipped, 0, INT_MAX),
    F_SUB ("tx", tx),
    F_INT ("L", ofr_record, n_layers, 0, INT_MAX),
    F_F64 ("f", ofr_record, flops),
    F_F64 ("ff", ofr_record, flops_full),
    F_F64 ("w", ofr_record, wall_ms),
};

static const s_field s_hello_fields[] = {
    F_STR ("name", ofr_msg, name),
    F_STR ("host", ofr_msg, host),
    F_I64 ("pid", ofr_msg, pid, 0, INT64_MAX),
    F_INT ("cores", ofr_msg, cores, 0, INT_MAX),
    F_INT ("threads", ofr_msg, threads, 0, INT_MAX),
    F_INT ("credit", ofr_msg, credit, 1, OFR_MAX_CREDIT),
    F_SUB ("plugins", plugins),
    F_BOOL_OPT ("fetch", ofr_msg, fetch),
};

static const s_field s_welcome_fields[] = {
    F_I64 ("worker_id", ofr_msg, worker_id, 0, INT64_MAX),
    F_STR ("run_id", ofr_msg, run_id),
    F_INT ("heartbeat_ms", ofr_msg, heartbeat_ms, 1, INT_MAX),
};

static const s_field s_task_fields[] = {
    F_I64 ("task_id", ofr_msg, task_id, 0, INT64_MAX),
    F_SUB ("cell", cell),
    F_SUB ("examples", examples),
    F_STR ("plugin_hash", ofr_msg, plugin_hash),
    F_SUB_OPT ("files", files),
};

static const s_field s_records_fields[] = {
    F_I64 ("task_id", ofr_msg, task_id, 0, INT64_MAX),
    F_SUB ("records", records),
};

static const s_field s_done_fields[] = {
    F_I64 ("task_id", ofr_msg, task_id, 0, INT64_MAX),
};

static const s_field s_fail_fields[] = {
    F_I64 ("task_id", ofr_msg, task_id, 0, INT64_MAX),
    F_STR ("reason", ofr_msg, reason),
};

static const s_field s_heartbeat_fields[] = {
    F_STR ("state", ofr_msg, state),
    F_I64 ("task_id", ofr_msg, task_id, -1, INT64_MAX),
};

static const s_field s_bye_fields[] = {
    F_STR ("reason", ofr_msg, reason),
    F_BOOL ("rejoin", ofr_msg, rejoin),
};

static const s_field s_blob_get_fields[] = {
    F_STR ("hash", ofr_msg, hash),
    F_I64 ("offset", ofr_msg, offset, 0, INT64_MAX),
    F_INT ("length", ofr_msg, length, 1, OFR_BLOB_CHUNK),
};

static const s_field s_blob_fields[] = {
    F_STR ("hash", ofr_msg, hash),
    F_I64 ("offset", ofr_msg, offset, 0, INT64_MAX),
    F_I64 ("total", ofr_msg, total, -1, INT64_MAX),
    F_SUB ("data", data),
};

static const s_field s_control_fields[] = {
    F_BOOL ("paused", ofr_msg, paused),
};

static const s_field s_state_fields[] = {
    F_BOOL ("paused", ofr_msg, paused),
    F_TEXT ("json", ofr_msg, json),
};

typedef struct {
    const char    *name;
    const s_field *fields;
    int            n_fields;
} s_schema;

#define S_SCHEMA(name, f) { name, f, S_LEN (f) }
static const s_schema s_schemas[] = {
    [OFR_MSG_INVALID]   = { "invalid", NULL, 0 },
    [OFR_MSG_HELLO]     = S_SCHEMA ("hello", s_hello_fields),
    [OFR_MSG_WELCOME]   = S_SCHEMA ("welcome", s_welcome_fields),
    [OFR_MSG_TASK]      = S_SCHEMA ("task", s_task_fields),
    [OFR_MSG_RECORDS]   = S_SCHEMA ("records", s_records_fields),
    [OFR_MSG_DONE]      = S_SCHEMA ("done", s_done_fields),
    [OFR_MSG_FAIL]      = S_SCHEMA ("fail", s_fail_fields),
    [OFR_MSG_HEARTBEAT] = S_SCHEMA ("heartbeat", s_heartbeat_fields),
    [OFR_MSG_BYE]       = S_SCHEMA ("bye", s_bye_fields),
    [OFR_MSG_SNAPSHOT]  = { "snapshot", NULL, 0 },
    [OFR_MSG_CONTROL]   = S_SCHEMA ("control", s_control_fields),
    [OFR_MSG_STATE]     = S_SCHEMA ("state", s_state_fields),
    [OFR_MSG_BLOB_GET]  = S_SCHEMA ("blob_get", s_blob_get_fields),
    [OFR_MSG_BLOB]      = S_SCHEMA ("blob", s_blob_fields),
};

static const s_schema *
s_schema_of (ofr_msg_type type)
{
    if ((int) type <= OFR_MSG_INVALID || (int) type >= S_LEN (s_schemas))
        return NULL;
    return &s_schemas[type];
}

const char *
ofr_msg_type_name (ofr_msg_type type)
{
    const s_schema *schema = s_schema_of (type);
    return schema ? schema->name : "invalid";
}

ofr_msg_type
ofr_msg_type_from_name (const char *name)
{
    for (int t = OFR_MSG_INVALID + 1; name && t < S_LEN (s_schemas); t++)
        if (strcmp (name, s_schemas[t].name) == 0)
            return (ofr_msg_type) t;
    return OFR_MSG_INVALID;
}

static ofr_msg_type
s_type_from_str (const msgpack_object_str *s)
{
    for (int t = OFR_MSG_INVALID + 1; t < S_LEN (s_schemas); t++) {
        size_t n = strlen (s_schemas[t].name);
        if (s->size == n && memcmp (s->ptr, s_schemas[t].name, n) == 0)
            return (ofr_msg_type) t;
    }
    return OFR_MSG_INVALID;
}

void
ofr_msg_clear (ofr_msg *msg)
{
    free (msg->name);
    free (msg->host);
    for (int i = 0; i < msg->n_plugins; i++) {
        free (msg->plugins[i].name);
        free (msg->plugins[i].version);
        free (msg->plugins[i].hash);
    }
    free (msg->plugins);
    free (msg->run_id);
    ofr_cell_clear (&msg->cell);
    free (msg->examples);
    free (msg->plugin_hash);
    for (int i = 0; i < msg->n_records; i++)
        ofr_record_clear (&msg->records[i]);
    free (msg->records);
    free (msg->reason);
    free (msg->state);
    free (msg->json);
    for (int i = 0; i < msg->n_files; i++) {
        free (msg->files[i].kind);
        free (msg->files[i].path);
        free (msg->files[i].hash);
    }
    free (msg->files);
    free (msg->hash);
    free (msg->data);
    memset (msg, 0, sizeof *msg);
}

/* ------------------------------------------------------------------ */
/*  Shared helpers                                                     */

static void
s_path_key (char *out, const char *path, const char *key)
{
    snprintf (out, S_PATH, "%s.%s", path, key);
}

static void
s_path_idx (char *out, const char *path, size_t i)
{
    snprintf (out, S_PATH, "%s[%zu]", path, i);
}

static const char *
s_type_name (const msgpack_object *o)
{
    switch (o->type) {
        case MSGPACK_OBJECT_NIL:              return "nil";
        case MSGPACK_OBJECT_BOOLEAN:          return "bool";
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "int";
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
        case MSGPACK_OBJECT_FLOAT32:          return "float32";
        case MSGPACK_OBJECT_FLOAT64:          return "float64";
        case MSGPACK_OBJECT_STR:              return "str";
        case MSGPACK_OBJECT_BIN:              return "bin";
        case MSGPACK_OBJECT_ARRAY:            return "array";
        case MSGPACK_OBJECT_MAP:              return "map";
        case MSGPACK_OBJECT_EXT:              return "ext";
    }
    return "unknown";
}

/* Printable excerpt of peer-supplied bytes for an error message. */
static void
s_excerpt (char out[48], const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40; i++) {
        unsigned char c = (unsigned char) p[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }
    if (n > 40)
        for (int i = 0; i < 3; i++)
            out[k++] = '.';
    out[k] = 0;
}

static int
s_check_range (const char *path, int64_t v, int64_t lo, int64_t hi,
               char *err, size_t errlen)
{
    if (v < lo || v > hi)
        return ofr_errf (err, errlen, "%s: %lld out of range %lld..%lld", path,
                         (long long) v, (long long) lo, (long long) hi);
    return 0;
}

static int
s_check_count (const char *path, int64_t n, int64_t max, char *err, size_t errlen)
{
    if (n < 0 || n > max)
        return ofr_errf (err, errlen, "%s: %lld elements, limit is %lld", path,
                         (long long) n, (long long) max);
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Pre-scan: structure, truncation, trailing bytes, container counts  */

typedef struct {
    size_t   head;      /* bytes of type byte + length/count field       */
    uint64_t payload;   /* bytes of data after the head                  */
    uint64_t children;  /* objects that follow (map pairs count twice)    */
} s_head;

static uint64_t
s_be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the head of the object at p. Returns 0, -1 for the reserved byte
   0xc1, -2 if the head itself runs past avail. */
static int
s_read_head (const uint8_t *p, size_t avail, s_head *h)
{
    uint8_t b = p[0];
    int     width = 0;       /* bytes of the length/count field            */
    int     what = 0;        /* 0 payload length, 1 array count, 2 map count */
    uint64_t extra = 0;      /* ext type byte                              */

    h->head = 1;
    h->payload = 0;
    h->children = 0;
    if (b <= 0x7f || b >= 0xe0)
        return 0;
    if (b <= 0x8f) { h->children = 2u * (b & 0x0fu); return 0; }
    if (b <= 0x9f) { h->children = b & 0x0fu; return 0; }
    if (b <= 0xbf) { h->payload = b & 0x1fu; return 0; }
    switch (b) {
        case 0xc0: case 0xc2: case 0xc3: return 0;
        case 0xc1: return -1;
        case 0xc4: case 0xd9: width = 1; break;
        case 0xc5: case 0xda: width = 2; break;
        case 0xc6: case 0xdb: width = 4; break;
        case 0xc7: width = 1; extra = 1; break;
        case 0xc8: width = 2; extra = 1; break;
        case 0xc9: width = 4; extra = 1; break;
        case 0xca: case 0xce: case 0xd2: h->payload = 4; return 0;
        case 0xcb: case 0xcf: case 0xd3: h->payload = 8; return 0;
        case 0xcc: case 0xd0: h->payload = 1; return 0;
        case 0xcd: case 0xd1: h->payload = 2; return 0;
        case 0xd4: h->payload = 2; return 0;
        case 0xd5: h->payload = 3; return 0;
        case 0xd6: h->payload = 5; return 0;
        case 0xd7: h->payload = 9; return 0;
        case 0xd8: h->payload = 17; return 0;
        case 0xdc: width = 2; what = 1; break;
        case 0xdd: width = 4; what = 1; break;
        case 0xde: width = 2; what = 2; break;
        default:   width = 4; what = 2; break;      /* 0xdf map32 */
    }
    if (avail < 1 + (size_t) width)
        return -2;
    uint64_t n = s_be (p + 1, width);
    h->head = 1 + (size_t) width;
    if (what == 0)
        h->payload = n + extra;
    else
        h->children = what == 1 ? n : 2 * n;
    return 0;
}

/* Walks the frame as a flat stream of object heads. Every pending object
   needs at least one byte, so pending + declared children may never exceed
   the bytes left: that is what keeps msgpack-c's allocation bounded. */
static int
s_prescan (const uint8_t *p, size_t size, char *err, size_t errlen)
{
    uint64_t pending = 1;
    size_t   pos = 0;
    while (pending > 0) {
        if (pos >= size)
            return ofr_errf (err, errlen, "message: truncated (%zu bytes)", size);
        s_head h;
        int rc = s_read_head (p + pos, size - pos, &h);
        if (rc == -1)
            return ofr_errf (err, errlen, "message: invalid msgpack byte 0xc1 "
                             "at offset %zu", pos);
        if (rc == -2 || h.payload > size - pos - h.head)
            return ofr_errf (err, errlen, "message: truncated at offset %zu "
                             "(%zu bytes)", pos, size);
        size_t start = pos;
        pending--;
        pos += h.head + (size_t) h.payload;
        uint64_t left = size - pos;
        if (pending > left)
            return ofr_errf (err, errlen, "message: truncated (%zu bytes)", size);
        if (h.children > left - pending)
            return ofr_errf (err, errlen, "message: container at offset %zu "
                             "declares %llu elements but only %llu bytes remain",
                             start, (unsigned long long) h.children,
                             (unsigned long long) left);
        pending += h.children;
    }
    if (pos < size)
        return ofr_errf (err, errlen, "message: %zu trailing bytes after the map",
                         size - pos);
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Decoding                                                           */

static int
s_str_eq (const msgpack_object_str *s, const char *key)
{
    size_t n = strlen (key);
    return s->size == n && memcmp (s->ptr, key, n) == 0;
}

static int
s_str_cmp (const void *a, const void *b)
{
    const msgpack_object_str *x = *(const msgpack_object_str * const *) a;
    const msgpack_object_str *y = *(const msgpack_object_str * const *) b;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->size ? memcmp (x->ptr, y->ptr, x->size) : 0;
}

/* Unknown keys are ignored but must still be unique; sorting is only paid
   for when a map carries two or more of them. */
static int
s_check_unknown_dups (const msgpack_object_map *map, const char **keys, int n_keys,
                      uint32_t n_unknown, const char *path, char *err, size_t errlen)
{
    const msgpack_object_str **v = ofr_calloc (n_unknown, sizeof *v);
    if (!v)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    uint32_t k = 0;
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object_str *s = &map->ptr[i].key.via.str;
        int known = 0;
        for (int j = 0; j < n_keys && !known; j++)
            known = s_str_eq (s, keys[j]);
        if (!known)
            v[k++] = s;
    }
    qsort (v, k, sizeof *v, s_str_cmp);
    int rc = 0;
    for (uint32_t i = 1; i < k && rc == 0; i++)
        if (s_str_cmp (&v[i - 1], &v[i]) == 0) {
            char ex[48];
            s_excerpt (ex, v[i]->ptr, v[i]->size);
            rc = ofr_errf (err, errlen, "%s.%s: duplicated key", path, ex);
        }
    free (v);
    return rc;
}

/* Finds keys[] in a map: vals[j] = value or NULL. Keys must be strings and
   unique (known or not). */
static int
s_match_keys (const msgpack_object *o, const char **keys, int n_keys,
              const msgpack_object **vals, const char *path, char *err, size_t errlen)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return ofr_errf (err, errlen, "%s: expected a map, got %s", path,
                         s_type_name (o));
    const msgpack_object_map *map = &o->via.map;
    uint32_t n_unknown = 0;
    for (int j = 0; j < n_keys; j++)
        vals[j] = NULL;
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return ofr_errf (err, errlen, "%s: key %u is %s, expected str",
                             path, i, s_type_name (key));
        int j = 0;
        while (j < n_keys && !s_str_eq (&key->via.str, keys[j]))
            j++;
        if (j == n_keys)
            n_unknown++;
        else if (vals[j])
            return ofr_errf (err, errlen, "%s.%s: duplicated key", path, keys[j]);
        else
            vals[j] = &map->ptr[i].val;
    }
    if (n_unknown >= 2)
        return s_check_unknown_dups (map, keys, n_keys, n_unknown, path, err, errlen);
    return 0;
}

static int
s_dec_int64 (const msgpack_object *o, const char *path, int64_t lo, int64_t hi,
             int64_t *out, char *err, size_t errlen)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t) INT64_MAX || (int64_t) o->via.u64 > hi)
            return ofr_errf (err, errlen, "%s: %llu out of range %lld..%lld", path,
                             (unsigned long long) o->via.u64, (long long) lo,
                             (long long) hi);
        *out = (int64_t) o->via.u64;
    }
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
        return ofr_errf (err, errlen, "%s: expected integer, got %s", path,
                         s_type_name (o));
    return s_check_range (path, *out, lo, hi, err, errlen);
}

static int
s_is_number (const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER
        || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
        || o->type == MSGPACK_OBJECT_FLOAT32
        || o->type == MSGPACK_OBJECT_FLOAT64;
}

static double
s_number (const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (double) o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return (double) o->via.i64;
    return o->via.f64;
}

static int
s_dec_str (const msgpack_object *o, const char *path, char **out, uint32_t max,
           char *err, size_t errlen)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return ofr_errf (err, errlen, "%s: expected str, got %s", path,
                         s_type_name (o));
    uint32_t n = o->via.str.size;
    if (n > max)
        return ofr_errf (err, errlen, "%s: string of %u bytes, limit is %u",
                         path, n, max);
    if (n && memchr (o->via.str.ptr, 0, n))
        return ofr_errf (err, errlen, "%s: string contains a NUL byte", path);
    char *s = malloc ((size_t) n + 1);
    if (!s)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    if (n)
        memcpy (s, o->via.str.ptr, n);
    s[n] = 0;
    *out = s;
    return 0;
}

/* Checks o is an array of at most max elements. */
static int
s_dec_array (const msgpack_object *o, const char *path, int max, const char *what,
             char *err, size_t errlen)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return ofr_errf (err, errlen, "%s: expected array of %s, got %s", path,
                         what, s_type_name (o));
    return s_check_count (path, o->via.array.size, max, err, errlen);
}

static int
s_dec_value (const msgpack_object *o, const s_field *f, void *base,
             const char *path, char *err, size_t errlen)
{
    char *at = (char *) base + f->off;
    int64_t i;
    int iv;
    double d;
    switch (f->kind) {
        case K_STR_NIL:
            if (o->type == MSGPACK_OBJECT_NIL)
                return 0;
            if (o->type != MSGPACK_OBJECT_STR)
                return ofr_errf (err, errlen, "%s: expected str or nil, got %s",
                                 path, s_type_name (o));
            /* fall through */
        case K_STR:
            return s_dec_str (o, path, (char **) (void *) at, OFR_MAX_STRING,
                              err, errlen);
        case K_TEXT:
            return s_dec_str (o, path, (char **) (void *) at, OFR_MAX_TEXT,
                              err, errlen);
        case K_INT:
            if (s_dec_int64 (o, path, f->lo, f->hi, &i, err, errlen))
                return -1;
            iv = (int) i;
            memcpy (at, &iv, sizeof iv);
            return 0;
        case K_I64:
            if (s_dec_int64 (o, path, f->lo, f->hi, &i, err, errlen))
                return -1;
            memcpy (at, &i, sizeof i);
            return 0;
        case K_U64:
            if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return ofr_errf (err, errlen, "%s: expected unsigned integer, got %s",
                                 path, s_type_name (o));
            memcpy (at, &o->via.u64, sizeof (uint64_t));
            return 0;
        case K_BOOL:
            if (o->type != MSGPACK_OBJECT_BOOLEAN)
                return ofr_errf (err, errlen, "%s: expected bool, got %s", path,
                                 s_type_name (o));
            iv = o->via.boolean ? 1 : 0;
            memcpy (at, &iv, sizeof iv);
            return 0;
        case K_F64:
            if (!s_is_number (o))
                return ofr_errf (err, errlen, "%s: expected number, got %s", path,
                                 s_type_name (o));
            d = s_number (o);
            memcpy (at, &d, sizeof d);
            return 0;
        case K_SUB:
            return f->dec (o, base, path, err, errlen);
    }
    return ofr_errf (err, errlen, "%s: bad field kind", path);
}

/* Decodes fields[] from the map o into base. A top-level map also holds
   "v" and "t", which count as known keys (for duplicate detection). */
static int
s_dec_fields (const msgpack_object *o, const s_field *fields, int n, void *base,
              const char *path, int top, char *err, size_t errlen)
{
    const char *keys[S_MAX_FIELDS + 2];
    const msgpack_object *vals[S_MAX_FIELDS + 2];
    int skip = top ? 2 : 0;
    keys[0] = "v";
    keys[1] = "t";
    for (int i = 0; i < n; i++)
        keys[skip + i] = fields[i].key;
    if (s_match_keys (o, keys, skip + n, vals, path, err, errlen))
        return -1;
    for (int i = 0; i < n; i++) {
        char sub[S_PATH];
        s_path_key (sub, path, fields[i].key);
        if (!vals[skip + i] && fields[i].opt)
            continue;
        if (!vals[skip + i])
            return ofr_errf (err, errlen, "%s: missing required key", sub);
        if (s_dec_value (vals[skip + i], &fields[i], base, sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_dec_plugins (const msgpack_object *o, void *base, const char *path,
               char *err, size_t errlen)
{
    ofr_msg *msg = base;
    if (s_dec_array (o, path, OFR_MAX_PLUGINS, "maps", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    msg->plugins = ofr_calloc (n, sizeof *msg->plugins);
    if (!msg->plugins)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    msg->n_plugins = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, i);
        if (s_dec_fields (&o->via.array.ptr[i], s_plugin_fields,
                          S_LEN (s_plugin_fields), &msg->plugins[i], sub, 0,
                          err, errlen))
            return -1;
    }
    return 0;
}

static int
s_dec_abi (const msgpack_object *o, void *base, const char *path,
           char *err, size_t errlen)
{
    ofr_plugin_info *p = base;
    const char *what = "%s: expected [major, minor] array of 2 integers";
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
        return ofr_errf (err, errlen, what, path);
    int64_t v[2];
    for (int i = 0; i < 2; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, (size_t) i);
        if (s_dec_int64 (&o->via.array.ptr[i], sub, 0, INT_MAX, &v[i], err, errlen))
            return -1;
    }
    p->abi_major = (int) v[0];
    p->abi_minor = (int) v[1];
    return 0;
}

static int
s_dec_cell (const msgpack_object *o, void *base, const char *path,
            char *err, size_t errlen)
{
    ofr_msg *msg = base;
    return s_dec_fields (o, s_cell_fields, S_LEN (s_cell_fields), &msg->cell,
                         path, 0, err, errlen);
}

static int
s_dec_params (const msgpack_object *o, void *base, const char *path,
              char *err, size_t errlen)
{
    ofr_cell *cell = base;
    if (s_dec_array (o, path, OFR_MAX_PARAMS, "[key, value] pairs", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    cell->params = ofr_calloc (n, sizeof *cell->params);
    if (!cell->params)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    cell->n_params = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *pair = &o->via.array.ptr[i];
        char sub[S_PATH];
        s_path_idx (sub, path, i);
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2)
            return ofr_errf (err, errlen, "%s: expected [key, value] array of "
                             "2 strings", sub);
        if (s_dec_str (&pair->via.array.ptr[0], sub, &cell->params[i].key,
                       OFR_MAX_STRING, err, errlen)
            || s_dec_str (&pair->via.array.ptr[1], sub, &cell->params[i].value, OFR_MAX_STRING,
                          err, errlen))
            return -1;
    }
    return 0;
}

static int
s_dec_examples (const msgpack_object *o, void *base, const char *path,
                char *err, size_t errlen)
{
    ofr_msg *msg = base;
    if (s_dec_array (o, path, OFR_MAX_EXAMPLES, "integers", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    msg->examples = malloc ((size_t) n * sizeof *msg->examples);
    if (!msg->examples)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    msg->n_examples = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type == MSGPACK_OBJECT_POSITIVE_INTEGER && e->via.u64 <= INT32_MAX) {
            msg->examples[i] = (int32_t) e->via.u64;
            continue;
        }
        char sub[S_PATH];
        int64_t v;
        s_path_idx (sub, path, i);
        if (s_dec_int64 (e, sub, 0, INT32_MAX, &v, err, errlen) == 0)
            return ofr_errf (err, errlen, "%s: internal error", sub);
        return -1;
    }
    return 0;
}

static int
s_dec_records (const msgpack_object *o, void *base, const char *path,
               char *err, size_t errlen)
{
    ofr_msg *msg = base;
    if (s_dec_array (o, path, OFR_MAX_RECORDS, "maps", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    msg->records = ofr_calloc (n, sizeof *msg->records);
    if (!msg->records)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    msg->n_records = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, i);
        if (s_dec_fields (&o->via.array.ptr[i], s_record_fields,
                          S_LEN (s_record_fields), &msg->records[i], sub, 0,
                          err, errlen))
            return -1;
    }
    return 0;
}

static int
s_dec_stats (const msgpack_object *o, void *base, const char *path,
             char *err, size_t errlen)
{
    ofr_record *r = base;
    if (s_dec_array (o, path, OFR_MAX_STATS, "numbers", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    r->stats = malloc ((size_t) n * sizeof *r->stats);
    if (!r->stats)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    r->n_stats = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (!s_is_number (e))
            return ofr_errf (err, errlen, "%s: expected array of numbers "
                             "(element %u is %s)", path, i, s_type_name (e));
        r->stats[i] = s_number (e);
    }
    return 0;
}

static int
s_dec_tx (const msgpack_object *o, void *base, const char *path,
          char *err, size_t errlen)
{
    ofr_record *r = base;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_BIN)
        return ofr_errf (err, errlen, "%s: expected bin or nil, got %s", path,
                         s_type_name (o));
    uint32_t n = o->via.bin.size;
    if (s_check_count (path, n, OFR_MAX_TOKENS, err, errlen))
        return -1;
    if (n == 0)
        return 0;
    r->token_exits = malloc (n);
    if (!r->token_exits)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    memcpy (r->token_exits, o->via.bin.ptr, n);
    r->n_tokens = (int) n;
    return 0;
}

static int
s_dec_files (const msgpack_object *o, void *base, const char *path,
             char *err, size_t errlen)
{
    ofr_msg *msg = base;
    if (s_dec_array (o, path, OFR_MAX_FILES, "maps", err, errlen))
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    msg->files = ofr_calloc (n, sizeof *msg->files);
    if (!msg->files)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    msg->n_files = (int) n;
    for (uint32_t i = 0; i < n; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, i);
        if (s_dec_fields (&o->via.array.ptr[i], s_file_fields, S_LEN (s_file_fields),
                          &msg->files[i], sub, 0, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_dec_data (const msgpack_object *o, void *base, const char *path,
            char *err, size_t errlen)
{
    ofr_msg *msg = base;
    if (o->type != MSGPACK_OBJECT_BIN)
        return ofr_errf (err, errlen, "%s: expected bin, got %s", path,
                         s_type_name (o));
    uint32_t n = o->via.bin.size;
    if (s_check_count (path, n, OFR_BLOB_CHUNK, err, errlen))
        return -1;
    if (n == 0)
        return 0;
    msg->data = malloc (n);
    if (!msg->data)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    memcpy (msg->data, o->via.bin.ptr, n);
    msg->n_data = (int) n;
    return 0;
}

/* Finds "v" and "t" (first occurrence; duplicates are caught later) and
   checks them. */
static int
s_dec_header (const msgpack_object *o, ofr_msg_type *type, char *err, size_t errlen)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return ofr_errf (err, errlen, "message: expected a map, got %s",
                         s_type_name (o));
    const msgpack_object *v = NULL, *t = NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        if (!v && s_str_eq (&key->via.str, "v"))
            v = &o->via.map.ptr[i].val;
        if (!t && s_str_eq (&key->via.str, "t"))
            t = &o->via.map.ptr[i].val;
    }
    if (!v)
        return ofr_errf (err, errlen, "message.v: missing required key");
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return ofr_errf (err, errlen, "message.v: expected unsigned integer, got %s",
                         s_type_name (v));
    if (v->via.u64 != OFR_PROTOCOL_VERSION)
        return ofr_errf (err, errlen, "protocol version %llu, expected %d",
                         (unsigned long long) v->via.u64, OFR_PROTOCOL_VERSION);
    if (!t)
        return ofr_errf (err, errlen, "message.t: missing required key");
    if (t->type != MSGPACK_OBJECT_STR)
        return ofr_errf (err, errlen, "message.t: expected str, got %s",
                         s_type_name (t));
    *type = s_type_from_str (&t->via.str);
    if (*type == OFR_MSG_INVALID) {
        char ex[48];
        s_excerpt (ex, t->via.str.ptr, t->via.str.size);
        return ofr_errf (err, errlen, "unknown message type '%s'", ex);
    }
    return 0;
}

/* Pre-scans and unpacks one frame into up (the caller destroys up). */
static int
s_unpack (const void *data, size_t size, msgpack_unpacked *up,
          char *err, size_t errlen)
{
    if (!data && size)
        return ofr_errf (err, errlen, "message: NULL data");
    if (s_prescan (data, size, err, errlen))
        return -1;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next (up, data, size, &off);
    /* msgpack-c reports nesting beyond its fixed 32-level stack as NOMEM;
       after the pre-scan a genuine allocation failure is the rarer cause. */
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR)
        return ofr_errf (err, errlen, "message: nested deeper than msgpack-c's "
                         "32 levels (or out of memory for %zu bytes)", size);
    if (rc != MSGPACK_UNPACK_SUCCESS)
        return ofr_errf (err, errlen, "message: invalid msgpack");
    if (off != size)
        return ofr_errf (err, errlen, "message: %zu trailing bytes after the map",
                         size - off);
    return 0;
}

int
ofr_msg_decode (const void *data, size_t size, ofr_msg *msg,
                char *err, size_t errlen)
{
    memset (msg, 0, sizeof *msg);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    ofr_msg_type type = OFR_MSG_INVALID;
    int rc = s_unpack (data, size, &up, err, errlen);
    if (rc == 0)
        rc = s_dec_header (&up.data, &type, err, errlen);
    if (rc == 0) {
        const s_schema *schema = s_schema_of (type);
        msg->type = type;
        rc = s_dec_fields (&up.data, schema->fields, schema->n_fields, msg,
                           schema->name, 1, err, errlen);
    }
    msgpack_unpacked_destroy (&up);
    if (rc)
        ofr_msg_clear (msg);
    return rc;
}

int
ofr_msg_peek_type (const void *data, size_t size, ofr_msg_type *type)
{
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    int rc = s_unpack (data, size, &up, NULL, 0);
    if (rc == 0)
        rc = s_dec_header (&up.data, type, NULL, 0);
    msgpack_unpacked_destroy (&up);
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Encoding: validates with the decoder's bounds, so a message that   */
/*  encodes also decodes.                                              */

static int
s_oom (const char *path, char *err, size_t errlen)
{
    return ofr_errf (err, errlen, "%s: out of memory while encoding", path);
}

static int
s_pack_str (msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str (pk, n) || msgpack_pack_str_body (pk, s, n);
}

static int
s_enc_str_max (msgpack_packer *pk, const char *s, size_t max, const char *path,
               char *err, size_t errlen)
{
    if (!s)
        return ofr_errf (err, errlen, "%s: NULL string", path);
    size_t n = strlen (s);
    if (n > max)
        return ofr_errf (err, errlen, "%s: string of %zu bytes, limit is %zu",
                         path, n, max);
    return s_pack_str (pk, s, n) ? s_oom (path, err, errlen) : 0;
}

static int
s_enc_str (msgpack_packer *pk, const char *s, const char *path,
           char *err, size_t errlen)
{
    return s_enc_str_max (pk, s, OFR_MAX_STRING, path, err, errlen);
}

static int
s_enc_value (msgpack_packer *pk, const s_field *f, const void *base,
             const char *path, char *err, size_t errlen)
{
    const char *at = (const char *) base + f->off;
    char *s;
    int iv;
    int64_t i;
    uint64_t u;
    double d;
    int rc = 0;
    switch (f->kind) {
        case K_STR_NIL:
            memcpy (&s, at, sizeof s);
            if (!s)
                return msgpack_pack_nil (pk) ? s_oom (path, err, errlen) : 0;
            /* fall through */
        case K_STR:
            memcpy (&s, at, sizeof s);
            return s_enc_str (pk, s, path, err, errlen);
        case K_TEXT:
            memcpy (&s, at, sizeof s);
            return s_enc_str_max (pk, s, OFR_MAX_TEXT, path, err, errlen);
        case K_INT:
            memcpy (&iv, at, sizeof iv);
            if (s_check_range (path, iv, f->lo, f->hi, err, errlen))
                return -1;
            rc = msgpack_pack_int (pk, iv);
            break;
        case K_I64:
            memcpy (&i, at, sizeof i);
            if (s_check_range (path, i, f->lo, f->hi, err, errlen))
                return -1;
            rc = msgpack_pack_int64 (pk, i);
            break;
        case K_U64:
            memcpy (&u, at, sizeof u);
            rc = msgpack_pack_uint64 (pk, u);
            break;
        case K_BOOL:
            memcpy (&iv, at, sizeof iv);
            rc = iv ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
            break;
        case K_F64:
            memcpy (&d, at, sizeof d);
            rc = msgpack_pack_double (pk, d);
            break;
        case K_SUB:
            return f->enc (pk, base, path, err, errlen);
    }
    return rc ? s_oom (path, err, errlen) : 0;
}

/* Writes the key/value pairs of fields[] (the caller wrote the map head). */
static int
s_enc_fields (msgpack_packer *pk, const s_field *fields, int n, const void *base,
              const char *path, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        char sub[S_PATH];
        s_path_key (sub, path, fields[i].key);
        if (s_pack_str (pk, fields[i].key, strlen (fields[i].key)))
            return s_oom (sub, err, errlen);
        if (s_enc_value (pk, &fields[i], base, sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_enc_map (msgpack_packer *pk, const s_field *fields, int n, const void *base,
           const char *path, char *err, size_t errlen)
{
    if (msgpack_pack_map (pk, (size_t) n))
        return s_oom (path, err, errlen);
    return s_enc_fields (pk, fields, n, base, path, err, errlen);
}

/* Checks a C array (n, ptr) and writes its msgpack array head. */
static int
s_enc_array (msgpack_packer *pk, int n, const void *ptr, int max,
             const char *path, char *err, size_t errlen)
{
    if (s_check_count (path, n, max, err, errlen))
        return -1;
    if (n > 0 && !ptr)
        return ofr_errf (err, errlen, "%s: NULL array of %d elements", path, n);
    return msgpack_pack_array (pk, (size_t) n) ? s_oom (path, err, errlen) : 0;
}

static int
s_enc_plugins (msgpack_packer *pk, const void *base, const char *path,
               char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    if (s_enc_array (pk, msg->n_plugins, msg->plugins, OFR_MAX_PLUGINS, path,
                     err, errlen))
        return -1;
    for (int i = 0; i < msg->n_plugins; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, (size_t) i);
        if (s_enc_map (pk, s_plugin_fields, S_LEN (s_plugin_fields),
                       &msg->plugins[i], sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_enc_abi (msgpack_packer *pk, const void *base, const char *path,
           char *err, size_t errlen)
{
    const ofr_plugin_info *p = base;
    if (s_check_range (path, p->abi_major, 0, INT_MAX, err, errlen)
        || s_check_range (path, p->abi_minor, 0, INT_MAX, err, errlen))
        return -1;
    if (msgpack_pack_array (pk, 2) || msgpack_pack_int (pk, p->abi_major)
        || msgpack_pack_int (pk, p->abi_minor))
        return s_oom (path, err, errlen);
    return 0;
}

static int
s_enc_cell (msgpack_packer *pk, const void *base, const char *path,
            char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    return s_enc_map (pk, s_cell_fields, S_LEN (s_cell_fields), &msg->cell, path,
                      err, errlen);
}

static int
s_enc_params (msgpack_packer *pk, const void *base, const char *path,
              char *err, size_t errlen)
{
    const ofr_cell *cell = base;
    if (s_enc_array (pk, cell->n_params, cell->params, OFR_MAX_PARAMS, path,
                     err, errlen))
        return -1;
    for (int i = 0; i < cell->n_params; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, (size_t) i);
        if (msgpack_pack_array (pk, 2))
            return s_oom (sub, err, errlen);
        if (s_enc_str (pk, cell->params[i].key, sub, err, errlen)
            || s_enc_str (pk, cell->params[i].value, sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_enc_examples (msgpack_packer *pk, const void *base, const char *path,
                char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    if (s_enc_array (pk, msg->n_examples, msg->examples, OFR_MAX_EXAMPLES, path,
                     err, errlen))
        return -1;
    for (int i = 0; i < msg->n_examples; i++) {
        if (msg->examples[i] < 0) {
            char sub[S_PATH];
            s_path_idx (sub, path, (size_t) i);
            return s_check_range (sub, msg->examples[i], 0, INT32_MAX, err, errlen);
        }
        if (msgpack_pack_int32 (pk, msg->examples[i]))
            return s_oom (path, err, errlen);
    }
    return 0;
}

static int
s_enc_records (msgpack_packer *pk, const void *base, const char *path,
               char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    if (s_enc_array (pk, msg->n_records, msg->records, OFR_MAX_RECORDS, path,
                     err, errlen))
        return -1;
    for (int i = 0; i < msg->n_records; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, (size_t) i);
        if (s_enc_map (pk, s_record_fields, S_LEN (s_record_fields),
                       &msg->records[i], sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_enc_stats (msgpack_packer *pk, const void *base, const char *path,
             char *err, size_t errlen)
{
    const ofr_record *r = base;
    if (s_enc_array (pk, r->n_stats, r->stats, OFR_MAX_STATS, path, err, errlen))
        return -1;
    for (int i = 0; i < r->n_stats; i++)
        if (msgpack_pack_double (pk, r->stats[i]))
            return s_oom (path, err, errlen);
    return 0;
}

static int
s_enc_tx (msgpack_packer *pk, const void *base, const char *path,
          char *err, size_t errlen)
{
    const ofr_record *r = base;
    if (!r->token_exits || r->n_tokens == 0)
        return msgpack_pack_nil (pk) ? s_oom (path, err, errlen) : 0;
    if (s_check_count (path, r->n_tokens, OFR_MAX_TOKENS, err, errlen))
        return -1;
    if (msgpack_pack_bin (pk, (size_t) r->n_tokens)
        || msgpack_pack_bin_body (pk, r->token_exits, (size_t) r->n_tokens))
        return s_oom (path, err, errlen);
    return 0;
}

static int
s_enc_files (msgpack_packer *pk, const void *base, const char *path,
             char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    if (s_enc_array (pk, msg->n_files, msg->files, OFR_MAX_FILES, path, err, errlen))
        return -1;
    for (int i = 0; i < msg->n_files; i++) {
        char sub[S_PATH];
        s_path_idx (sub, path, (size_t) i);
        if (s_enc_map (pk, s_file_fields, S_LEN (s_file_fields), &msg->files[i],
                       sub, err, errlen))
            return -1;
    }
    return 0;
}

static int
s_enc_data (msgpack_packer *pk, const void *base, const char *path,
            char *err, size_t errlen)
{
    const ofr_msg *msg = base;
    if (s_check_count (path, msg->n_data, OFR_BLOB_CHUNK, err, errlen))
        return -1;
    if (msg->n_data > 0 && !msg->data)
        return ofr_errf (err, errlen, "%s: NULL data of %d bytes", path, msg->n_data);
    if (msgpack_pack_bin (pk, (size_t) msg->n_data)
        || (msg->n_data > 0
            && msgpack_pack_bin_body (pk, msg->data, (size_t) msg->n_data)))
        return s_oom (path, err, errlen);
    return 0;
}

static int
s_enc_message (msgpack_packer *pk, const ofr_msg *msg, const s_schema *schema,
               char *err, size_t errlen)
{
    if (msgpack_pack_map (pk, (size_t) schema->n_fields + 2)
        || s_pack_str (pk, "v", 1)
        || msgpack_pack_unsigned_int (pk, OFR_PROTOCOL_VERSION)
        || s_pack_str (pk, "t", 1)
        || s_pack_str (pk, schema->name, strlen (schema->name)))
        return s_oom (schema->name, err, errlen);
    return s_enc_fields (pk, schema->fields, schema->n_fields, msg, schema->name,
                         err, errlen);
}

int
ofr_msg_encode (const ofr_msg *msg, ofr_buf *out, char *err, size_t errlen)
{
    const s_schema *schema = s_schema_of (msg->type);
    if (!schema)
        return ofr_errf (err, errlen, "ofr_msg_encode: invalid message type %d",
                         (int) msg->type);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    int rc = s_enc_message (&pk, msg, schema, err, errlen);
    if (rc == 0) {
        ofr_buf_append (out, sb.data, sb.size);
        if (out->oom)
            rc = s_oom (schema->name, err, errlen);
    }
    msgpack_sbuffer_destroy (&sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Endpoints                                                          */

int
ofr_endpoint_derive (const char *base, const char *kind, char *out, size_t outlen)
{
    int offset = strcmp (kind, "ctl") == 0 ? 2 : 1;
    size_t n = strlen (base);
    int w;
    if (strncmp (base, "tcp://", 6) == 0) {
        const char *colon = strrchr (base, ':');
        if (!colon || colon < base + 6)
            return -1;
        char *end;
        long port = strtol (colon + 1, &end, 10);
        if (*end || port <= 0 || port + offset > 65535)   /* wildcard: any port */
            w = snprintf (out, outlen, "%.*s:*", (int) (colon - base), base);
        else
            w = snprintf (out, outlen, "%.*s:%ld", (int) (colon - base), base, port + offset);
    } else if (n > 5 && strcmp (base + n - 5, ".sock") == 0) {
        w = snprintf (out, outlen, "%.*s.%s", (int) (n - 5), base, kind);
    } else {
        w = snprintf (out, outlen, "%s.%s", base, kind);
    }
    return w < 0 || (size_t) w >= outlen ? -1 : 0;
}
