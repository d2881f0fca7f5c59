/*  store.c -- see store.h. One SQLite connection per store object; the
    schema version lives in PRAGMA user_version. */
#include "store_impl.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Version 1 is the schema below. A newer file may have columns or meanings
    this code does not know, so it is refused rather than half understood. */
#define OFR_STORE_SCHEMA 2   /* 2: examples.skipped */

static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, plan_text TEXT,"
    "  started REAL NOT NULL, finished REAL, status TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cells ("
    "  run INTEGER NOT NULL, idx INTEGER NOT NULL, model TEXT NOT NULL,"
    "  suite TEXT NOT NULL, split TEXT NOT NULL, lim INTEGER NOT NULL,"
    "  method TEXT NOT NULL, params TEXT NOT NULL, batch_size INTEGER NOT NULL,"
    "  seed INTEGER NOT NULL, total INTEGER NOT NULL, n_layers INTEGER,"
    "  status TEXT NOT NULL, reason TEXT, PRIMARY KEY (run, idx));"
    "CREATE TABLE IF NOT EXISTS examples ("
    "  run INTEGER NOT NULL, cell INTEGER NOT NULL, example INTEGER NOT NULL,"
    "  prediction REAL, pred_text TEXT, stats BLOB, exit_layer INTEGER,"
    "  token_exits BLOB, n_layers INTEGER, flops REAL, flops_full REAL,"
    "  wall_ms REAL, worker TEXT, skipped INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run, cell, example));"
    "CREATE TABLE IF NOT EXISTS tasks ("
    "  run INTEGER NOT NULL, id INTEGER NOT NULL, cell INTEGER, n_examples INTEGER,"
    "  worker TEXT, status TEXT, reason TEXT, started REAL, ended REAL,"
    "  PRIMARY KEY (run, id));"
    "CREATE TABLE IF NOT EXISTS workers ("
    "  run INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT, host TEXT,"
    "  pid INTEGER, threads INTEGER, joined REAL, left REAL, state TEXT,"
    "  PRIMARY KEY (run, id));"
    "CREATE TABLE IF NOT EXISTS events ("
    "  run INTEGER NOT NULL, time REAL NOT NULL, level INTEGER NOT NULL, text TEXT);"
    "CREATE INDEX IF NOT EXISTS events_run ON events (run, time);";

struct ofr_store {
    sqlite3       *db;
    char          *path;
    sqlite3_stmt  *put;          /* INSERT OR IGNORE INTO examples          */
    sqlite3_stmt  *widen;        /* raise cells.n_layers                    */
    unsigned char *blob;         /* scratch for encoding stats              */
    size_t         blob_cap;
    int64_t        seen_run;     /* run whose n_layers are cached below      */
    int           *seen_layers;  /* [seen_cap] n_layers stored per cell      */
    size_t         seen_cap;
};

/* ---- helpers shared with report.c ---------------------------------------- */

sqlite3 *
ofr_store_db (ofr_store *self)
{
    return self->db;
}

const char *
ofr_store_path (const ofr_store *self)
{
    return self->path;
}

int
ofr_store_sqlerr (ofr_store *self, const char *what, char *err, size_t errlen)
{
    return ofr_errf (err, errlen, "%s: %s: %s", self->path, what,
                     self->db ? sqlite3_errmsg (self->db) : "no connection");
}

double
ofr_store_f64_le (const unsigned char *blob, size_t i)
{
    uint64_t u = 0;
    for (int b = 7; b >= 0; b--)
        u = (u << 8) | blob[i * 8 + (size_t) b];
    double v;
    memcpy (&v, &u, sizeof v);
    return v;
}

static void
f64_le_put (unsigned char *p, double v)
{
    uint64_t u;
    memcpy (&u, &v, sizeof u);
    for (int b = 0; b < 8; b++)
        p[b] = (unsigned char) (u >> (8 * b));
}

/*  Run a statement without results (or whose single row does not matter). */
static int
exec (ofr_store *self, const char *sql, const char *what, char *err, size_t errlen)
{
    if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return ofr_store_sqlerr (self, what, err, errlen);
    return 0;
}

static int
prepare (ofr_store *self, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2 (self->db, sql, -1, st, NULL) != SQLITE_OK)
        return ofr_store_sqlerr (self, "prepare", err, errlen);
    return 0;
}

/*  Step a write statement to completion and finalize it. */
static int
step_done (ofr_store *self, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step (st);
    int ok = rc == SQLITE_DONE ? 0 : ofr_store_sqlerr (self, what, err, errlen);
    sqlite3_finalize (st);
    return ok;
}

static void
bind_text (sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text (st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (st, i);
}

/*  Owned copy of a text column; NULL column -> NULL, *oom set on failure. */
static char *
col_text (sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text (st, i);
    if (!t)
        return NULL;
    char *s = ofr_strdup ((const char *) t);
    if (!s)
        *oom = 1;
    return s;
}

/* ---- open / close ------------------------------------------------------ */

static bool
is_special_path (const char *path)
{
    return path[0] == 0 || strcmp (path, ":memory:") == 0;
}

/*  SQLite would create the file with 0644 & ~umask; results may hold model
    outputs of private data, so the file is created here first, 0600. The
    -wal and -shm files inherit the database file's mode. */
static int
create_private (const char *path, char *err, size_t errlen)
{
    if (is_special_path (path))
        return 0;
    int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ofr_errf (err, errlen, "%s: cannot create: %s", path, strerror (errno));
    close (fd);
    return 0;
}

static int
user_version (ofr_store *self, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "PRAGMA user_version", &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int (st, 0);
    sqlite3_finalize (st);
    if (rc != SQLITE_ROW)
        return ofr_store_sqlerr (self, "reading the schema version", err, errlen);
    return 0;
}

static int
check_version (ofr_store *self, int version, char *err, size_t errlen)
{
    if (version > OFR_STORE_SCHEMA)
        return ofr_errf (err, errlen, "%s: results schema version %d is newer than this "
                         "offramp supports (%d): use a newer offramp or another --db file",
                         self->path, version, OFR_STORE_SCHEMA);
    return 0;
}

static int
set_pragmas (ofr_store *self, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "PRAGMA journal_mode=WAL", &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *) sqlite3_column_text (st, 0);
        if (mode && strcmp (mode, "wal") != 0 && !is_special_path (self->path))
            ofr_log (OFR_WARN, "%s: journal mode is %s, not wal (file system without "
                     "shared memory?): concurrent readers will wait", self->path, mode);
    }
    sqlite3_finalize (st);
    if (rc != SQLITE_ROW)
        return ofr_store_sqlerr (self, "setting WAL mode", err, errlen);
    return exec (self, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF",
                 "setting pragmas", err, errlen);
}

/*  Create the tables once; the version is re-read inside the write lock so
    that two processes opening a new file at the same time agree. */
static int
create_schema (ofr_store *self, char *err, size_t errlen)
{
    if (exec (self, "BEGIN IMMEDIATE", "creating the schema", err, errlen) != 0)
        return -1;
    int version = 0;
    if (user_version (self, &version, err, errlen) != 0
        || check_version (self, version, err, errlen) != 0)
        goto fail;
    char sql[64];
    snprintf (sql, sizeof sql, "PRAGMA user_version=%d", OFR_STORE_SCHEMA);
    if (version == 0) {
        if (exec (self, s_schema, "creating the schema", err, errlen) != 0
            || exec (self, sql, "setting the schema version", err, errlen) != 0)
            goto fail;
    } else if (version == 1) {
        /* Files of schema 1 gain the skip counts; their rows skipped nothing
           they could have recorded. */
        if (exec (self, "ALTER TABLE examples ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0",
                  "upgrading the schema to 2", err, errlen) != 0
            || exec (self, sql, "setting the schema version", err, errlen) != 0)
            goto fail;
    }
    return exec (self, "COMMIT", "creating the schema", err, errlen);
fail:
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int
has_runs_table (ofr_store *self, bool *yes, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'",
                 &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ofr_store_sqlerr (self, "reading the schema", err, errlen);
    *yes = rc == SQLITE_ROW;
    return 0;
}

static int
store_open (const char *path, bool create, ofr_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path)
        return ofr_errf (err, errlen, "results store: no file name");
    ofr_store *self = ofr_calloc (1, sizeof *self);
    if (!self || !(self->path = ofr_strdup (path))) {
        free (self);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    self->seen_run = -1;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (create && create_private (path, err, errlen) != 0)
        goto fail;
    if (sqlite3_open_v2 (path, &self->db, flags, NULL) != SQLITE_OK) {
        ofr_store_sqlerr (self, "cannot open", err, errlen);
        goto fail;
    }
    sqlite3_extended_result_codes (self->db, 1);
    sqlite3_busy_timeout (self->db, 5000);
    int version = 0;
    if (user_version (self, &version, err, errlen) != 0
        || check_version (self, version, err, errlen) != 0
        || set_pragmas (self, err, errlen) != 0)
        goto fail;
    if ((create || version > 0) && version < OFR_STORE_SCHEMA
        && create_schema (self, err, errlen) != 0)
        goto fail;
    if (!create && version == 0) {
        bool ours = false;
        if (has_runs_table (self, &ours, err, errlen) != 0)
            goto fail;
        if (!ours) {
            ofr_errf (err, errlen, "%s: not an offramp results file (no runs table)", path);
            goto fail;
        }
    }
    *out = self;
    return 0;
fail:
    ofr_store_destroy (&self);
    return -1;
}

int
ofr_store_open (const char *path, ofr_store **out, char *err, size_t errlen)
{
    return store_open (path, true, out, err, errlen);
}

int
ofr_store_open_existing (const char *path, ofr_store **out, char *err, size_t errlen)
{
    struct stat sb;
    if (path && !is_special_path (path) && stat (path, &sb) != 0) {
        *out = NULL;
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    }
    return store_open (path, false, out, err, errlen);
}

void
ofr_store_destroy (ofr_store **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_store *self = *self_p;
    sqlite3_finalize (self->put);
    sqlite3_finalize (self->widen);
    if (self->db && sqlite3_close (self->db) != SQLITE_OK)
        ofr_log (OFR_ERROR, "%s: close: %s", self->path, sqlite3_errmsg (self->db));
    free (self->blob);
    free (self->seen_layers);
    free (self->path);
    free (self);
    *self_p = NULL;
}

int
ofr_store_begin (ofr_store *self, char *err, size_t errlen)
{
    return exec (self, "BEGIN IMMEDIATE", "begin", err, errlen);
}

int
ofr_store_commit (ofr_store *self, char *err, size_t errlen)
{
    return exec (self, "COMMIT", "commit", err, errlen);
}

/* ---- runs and cells ---------------------------------------------------- */

/*  Params as a JSON object in the user's order: readable in the sqlite3
    shell, and json_each gives them back in that order. */
static char *
params_json (const ofr_cell *c)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "{");
    for (int i = 0; i < c->n_params; i++) {
        if (i)
            ofr_buf_puts (&b, ",");
        ofr_buf_json_str (&b, c->params[i].key);
        ofr_buf_puts (&b, ":");
        ofr_buf_json_str (&b, c->params[i].value);
    }
    ofr_buf_puts (&b, "}");
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static int64_t
seed_to_i64 (uint64_t u)
{
    int64_t v;
    memcpy (&v, &u, sizeof v);
    return v;
}

static uint64_t
seed_from_i64 (int64_t v)
{
    uint64_t u;
    memcpy (&u, &v, sizeof u);
    return u;
}

static int
insert_cell (ofr_store *self, sqlite3_stmt *st, int64_t run_id, int idx,
             const ofr_cell *c, int total, char *err, size_t errlen)
{
    if (!c->model || !c->suite || !c->split || !c->method)
        return ofr_errf (err, errlen, "%s: cell %d: model, suite, split and method "
                         "are required", self->path, idx);
    char *params = params_json (c);
    if (!params)
        return ofr_errf (err, errlen, "%s: cell %d: out of memory", self->path, idx);
    sqlite3_reset (st);
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int (st, 2, idx);
    bind_text (st, 3, c->model);
    bind_text (st, 4, c->suite);
    bind_text (st, 5, c->split);
    sqlite3_bind_int (st, 6, c->limit);
    bind_text (st, 7, c->method);
    sqlite3_bind_text (st, 8, params, -1, free);
    sqlite3_bind_int (st, 9, c->batch_size);
    sqlite3_bind_int64 (st, 10, seed_to_i64 (c->seed));
    sqlite3_bind_int (st, 11, total);
    if (sqlite3_step (st) != SQLITE_DONE)
        return ofr_store_sqlerr (self, "storing a cell", err, errlen);
    return 0;
}

static int
insert_run (ofr_store *self, const char *name, const char *plan_text,
            int64_t *run_id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "INSERT INTO runs (name, plan_text, started, status) "
                 "VALUES (?1, ?2, ?3, 'running')", &st, err, errlen) != 0)
        return -1;
    bind_text (st, 1, name ? name : "");
    bind_text (st, 2, plan_text);
    sqlite3_bind_double (st, 3, ofr_wall_s ());
    if (step_done (self, st, "creating a run", err, errlen) != 0)
        return -1;
    *run_id = sqlite3_last_insert_rowid (self->db);
    return 0;
}

/*  A savepoint rather than BEGIN: it nests inside the caller's transaction
    if there is one, and is a transaction of its own otherwise. */
int
ofr_store_run_create (ofr_store *self, const char *name, const char *plan_text,
                      const ofr_cell *cells, const int *totals, int n_cells,
                      int64_t *run_id, char *err, size_t errlen)
{
    if (n_cells < 0 || (n_cells > 0 && (!cells || !totals)))
        return ofr_errf (err, errlen, "%s: run_create: bad cell list", self->path);
    if (exec (self, "SAVEPOINT ofr_run_create", "creating a run", err, errlen) != 0)
        return -1;
    int64_t id = -1;
    sqlite3_stmt *st = NULL;
    if (insert_run (self, name, plan_text, &id, err, errlen) != 0
        || prepare (self, "INSERT INTO cells (run, idx, model, suite, split, lim, method, "
                    "params, batch_size, seed, total, status) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending')",
                    &st, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < n_cells; i++)
        if (insert_cell (self, st, id, i, &cells[i], totals[i], err, errlen) != 0)
            goto fail;
    sqlite3_finalize (st);
    if (exec (self, "RELEASE ofr_run_create", "creating a run", err, errlen) != 0)
        return -1;
    *run_id = id;
    return 0;
fail:
    sqlite3_finalize (st);
    sqlite3_exec (self->db, "ROLLBACK TO ofr_run_create; RELEASE ofr_run_create",
                  NULL, NULL, NULL);
    return -1;
}

int
ofr_store_run_info (ofr_store *self, int64_t run_id, char **name, char **status,
                    char *err, size_t errlen)
{
    *name = *status = NULL;
    sqlite3_stmt *st;
    if (prepare (self, "SELECT name, status FROM runs WHERE id = ?1", &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    int rc = sqlite3_step (st), oom = 0;
    if (rc == SQLITE_ROW) {
        *name = col_text (st, 0, &oom);
        *status = col_text (st, 1, &oom);
    }
    sqlite3_finalize (st);
    if (rc == SQLITE_DONE)
        return ofr_errf (err, errlen, "%s: no run %lld", self->path, (long long) run_id);
    if (rc != SQLITE_ROW)
        return ofr_store_sqlerr (self, "reading a run", err, errlen);
    if (oom) {
        free (*name);
        free (*status);
        *name = *status = NULL;
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    }
    return 0;
}

static int
load_params (ofr_store *self, const char *json, ofr_cell *c, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "SELECT key, value FROM json_each(?1)", &st, err, errlen) != 0)
        return -1;
    bind_text (st, 1, json ? json : "{}");
    size_t cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        if (ofr_grow ((void **) &c->params, &cap, (size_t) c->n_params + 1, sizeof (ofr_kv)) != 0) {
            oom = 1;
            break;
        }
        ofr_kv *kv = &c->params[c->n_params++];
        kv->key = col_text (st, 0, &oom);
        kv->value = col_text (st, 1, &oom);
        if (oom || !kv->key || !kv->value) {
            oom = 1;
            break;
        }
    }
    sqlite3_finalize (st);
    if (oom)
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    if (rc != SQLITE_DONE)
        return ofr_errf (err, errlen, "%s: cell %d: bad params column '%s': %s", self->path,
                         c->index, json ? json : "", sqlite3_errmsg (self->db));
    return 0;
}

static int
read_cell_row (ofr_store *self, sqlite3_stmt *st, ofr_store_cell_row *row,
               char *err, size_t errlen)
{
    int oom = 0;
    ofr_cell *c = &row->cell;
    c->index = sqlite3_column_int (st, 0);
    c->model = col_text (st, 1, &oom);
    c->suite = col_text (st, 2, &oom);
    c->split = col_text (st, 3, &oom);
    c->limit = sqlite3_column_int (st, 4);
    c->method = col_text (st, 5, &oom);
    c->batch_size = sqlite3_column_int (st, 7);
    c->seed = seed_from_i64 (sqlite3_column_int64 (st, 8));
    row->total = sqlite3_column_int (st, 9);
    row->n_layers = sqlite3_column_int (st, 10);
    row->status = col_text (st, 11, &oom);
    row->reason = col_text (st, 12, &oom);
    if (oom || !c->model || !c->suite || !c->split || !c->method || !row->status)
        return ofr_errf (err, errlen, "%s: cell %d: out of memory or missing column",
                         self->path, c->index);
    return load_params (self, (const char *) sqlite3_column_text (st, 6), c, err, errlen);
}

void
ofr_store_cell_rows_free (ofr_store_cell_row **rows, int n)
{
    if (!rows || !*rows)
        return;
    for (int i = 0; i < n; i++) {
        ofr_cell_clear (&(*rows)[i].cell);
        free ((*rows)[i].status);
        free ((*rows)[i].reason);
    }
    free (*rows);
    *rows = NULL;
}

int
ofr_store_cell_rows (ofr_store *self, int64_t run_id, ofr_store_cell_row **rows,
                     int *n, char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (prepare (self, "SELECT idx, model, suite, split, lim, method, params, batch_size, "
                 "seed, total, n_layers, status, reason FROM cells WHERE run = ?1 "
                 "ORDER BY idx", &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    ofr_store_cell_row *out = NULL;
    size_t cap = 0;
    int count = 0, rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        if (ofr_grow ((void **) &out, &cap, (size_t) count + 1, sizeof *out) != 0) {
            ofr_errf (err, errlen, "%s: out of memory", self->path);
            goto fail;
        }
        memset (&out[count], 0, sizeof out[count]);
        count++;
        if (read_cell_row (self, st, &out[count - 1], err, errlen) != 0)
            goto fail;
        if (out[count - 1].cell.index != count - 1) {
            ofr_errf (err, errlen, "%s: run %lld: cell %d is missing", self->path,
                      (long long) run_id, count - 1);
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        ofr_store_sqlerr (self, "reading cells", err, errlen);
        goto fail;
    }
    sqlite3_finalize (st);
    *rows = out;
    *n = count;
    return 0;
fail:
    sqlite3_finalize (st);
    ofr_store_cell_rows_free (&out, count);
    return -1;
}

int
ofr_store_run_load (ofr_store *self, int64_t run_id, char **name,
                    ofr_cell **cells, int **totals, int *n_cells,
                    char *err, size_t errlen)
{
    *name = NULL;
    *cells = NULL;
    *totals = NULL;
    *n_cells = 0;
    char *status = NULL;
    ofr_store_cell_row *rows = NULL;
    int n = 0;
    if (ofr_store_run_info (self, run_id, name, &status, err, errlen) != 0)
        return -1;
    free (status);
    if (ofr_store_cell_rows (self, run_id, &rows, &n, err, errlen) != 0)
        goto fail;
    *cells = ofr_calloc ((size_t) n, sizeof (ofr_cell));
    *totals = ofr_calloc ((size_t) n, sizeof (int));
    if (!*cells || !*totals) {
        ofr_errf (err, errlen, "%s: out of memory", self->path);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        (*cells)[i] = rows[i].cell;
        memset (&rows[i].cell, 0, sizeof rows[i].cell);
        (*totals)[i] = rows[i].total;
    }
    ofr_store_cell_rows_free (&rows, n);
    *n_cells = n;
    return 0;
fail:
    ofr_store_cell_rows_free (&rows, n);
    free (*name);
    free (*cells);
    free (*totals);
    *name = NULL;
    *cells = NULL;
    *totals = NULL;
    return -1;
}

int
ofr_store_latest_run (ofr_store *self, int64_t *run_id, char *err, size_t errlen)
{
    *run_id = -1;
    sqlite3_stmt *st;
    if (prepare (self, "SELECT max(id) FROM runs", &st, err, errlen) != 0)
        return -1;
    int rc = sqlite3_step (st);
    bool none = rc == SQLITE_ROW && sqlite3_column_type (st, 0) == SQLITE_NULL;
    if (rc == SQLITE_ROW && !none)
        *run_id = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    if (rc != SQLITE_ROW)
        return ofr_store_sqlerr (self, "reading runs", err, errlen);
    if (none)
        return ofr_errf (err, errlen, "%s: the file has no run yet", self->path);
    return 0;
}

/*  An UPDATE that must hit exactly one row; `what` names it otherwise. */
static int
update_one (ofr_store *self, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE)
        return ofr_store_sqlerr (self, what, err, errlen);
    if (sqlite3_changes (self->db) != 1)
        return ofr_errf (err, errlen, "%s: %s: no such row", self->path, what);
    return 0;
}

int
ofr_store_run_finish (ofr_store *self, int64_t run_id, const char *status,
                      char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "UPDATE runs SET finished = ?2, status = ?3 WHERE id = ?1",
                 &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_double (st, 2, ofr_wall_s ());
    bind_text (st, 3, status ? status : "done");
    char what[64];
    snprintf (what, sizeof what, "finishing run %lld", (long long) run_id);
    return update_one (self, st, what, err, errlen);
}

int
ofr_store_cell_status (ofr_store *self, int64_t run_id, int cell,
                       const char *status, const char *reason,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "UPDATE cells SET status = ?3, reason = ?4 WHERE run = ?1 AND idx = ?2",
                 &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int (st, 2, cell);
    bind_text (st, 3, status ? status : "pending");
    bind_text (st, 4, reason);
    char what[80];
    snprintf (what, sizeof what, "status of run %lld cell %d", (long long) run_id, cell);
    return update_one (self, st, what, err, errlen);
}

/* ---- records ----------------------------------------------------------- */

static int
put_prepare (ofr_store *self, char *err, size_t errlen)
{
    if (!self->put
        && prepare (self, "INSERT OR IGNORE INTO examples (run, cell, example, prediction, "
                    "pred_text, stats, exit_layer, token_exits, n_layers, flops, flops_full, "
                    "wall_ms, worker, skipped) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                    "?11, ?12, ?13, ?14)", &self->put, err, errlen) != 0)
        return -1;
    if (!self->widen
        && prepare (self, "UPDATE cells SET n_layers = ?3 WHERE run = ?1 AND idx = ?2 "
                    "AND (n_layers IS NULL OR n_layers < ?3)", &self->widen, err, errlen) != 0)
        return -1;
    return 0;
}

static int
bind_stats (ofr_store *self, const ofr_record *r, char *err, size_t errlen)
{
    if (r->n_stats == 0) {
        sqlite3_bind_null (self->put, 6);
        return 0;
    }
    size_t need = (size_t) r->n_stats * 8;
    if (ofr_grow ((void **) &self->blob, &self->blob_cap, need, 1) != 0)
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    for (int i = 0; i < r->n_stats; i++)
        f64_le_put (self->blob + (size_t) i * 8, r->stats[i]);
    sqlite3_bind_blob (self->put, 6, self->blob, (int) need, SQLITE_STATIC);
    return 0;
}

static int
check_record (ofr_store *self, const ofr_record *r, char *err, size_t errlen)
{
    if (r->cell < 0 || r->example < 0 || r->n_stats < 0 || r->n_tokens < 0 || r->skipped < 0
        || (r->n_stats > 0 && !r->stats) || (r->n_tokens > 0 && !r->token_exits)
        || r->n_stats > (1 << 24) || r->n_tokens > (1 << 30))
        return ofr_errf (err, errlen, "%s: record (cell %d, example %d): bad sizes",
                         self->path, r->cell, r->example);
    return 0;
}

/*  cells.n_layers is raised at most once per cell and width (cached), so
    the common case costs no second statement. */
static int
widen_cell (ofr_store *self, int64_t run_id, const ofr_record *r, char *err, size_t errlen)
{
    if (self->seen_run != run_id) {
        if (self->seen_cap)
            memset (self->seen_layers, 0, self->seen_cap * sizeof (int));
        self->seen_run = run_id;
    }
    size_t old = self->seen_cap;
    if (ofr_grow ((void **) &self->seen_layers, &self->seen_cap, (size_t) r->cell + 1,
                  sizeof (int)) != 0)
        return ofr_errf (err, errlen, "%s: out of memory", self->path);
    if (self->seen_cap > old)
        memset (self->seen_layers + old, 0, (self->seen_cap - old) * sizeof (int));
    if (r->n_layers <= self->seen_layers[r->cell])
        return 0;
    sqlite3_reset (self->widen);
    sqlite3_bind_int64 (self->widen, 1, run_id);
    sqlite3_bind_int (self->widen, 2, r->cell);
    sqlite3_bind_int (self->widen, 3, r->n_layers);
    if (sqlite3_step (self->widen) != SQLITE_DONE)
        return ofr_store_sqlerr (self, "storing n_layers", err, errlen);
    self->seen_layers[r->cell] = r->n_layers;
    return 0;
}

int
ofr_store_put_record (ofr_store *self, int64_t run_id, const ofr_record *r,
                      const char *worker, int *inserted,
                      char *err, size_t errlen)
{
    if (inserted)
        *inserted = 0;
    if (check_record (self, r, err, errlen) != 0 || put_prepare (self, err, errlen) != 0)
        return -1;
    sqlite3_stmt *st = self->put;
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int (st, 2, r->cell);
    sqlite3_bind_int (st, 3, r->example);
    sqlite3_bind_double (st, 4, r->prediction);
    bind_text (st, 5, r->pred_text);
    if (bind_stats (self, r, err, errlen) != 0)
        return -1;
    sqlite3_bind_int (st, 7, r->exit_layer);
    if (r->n_tokens > 0)
        sqlite3_bind_blob (st, 8, r->token_exits, r->n_tokens, SQLITE_STATIC);
    sqlite3_bind_int (st, 9, r->n_layers);
    sqlite3_bind_double (st, 10, r->flops);
    sqlite3_bind_double (st, 11, r->flops_full);
    sqlite3_bind_double (st, 12, r->wall_ms);
    bind_text (st, 13, worker);
    sqlite3_bind_int (st, 14, r->skipped);
    int rc = sqlite3_step (st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes (self->db) : 0;
    /* Reset now: the statement must not keep pointing at the caller's
       record and our scratch buffer, nor hold a read lock. */
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    if (rc != SQLITE_DONE)
        return ofr_store_sqlerr (self, "storing a record", err, errlen);
    if (inserted)
        *inserted = changed == 1;
    if (changed == 1 && widen_cell (self, run_id, r, err, errlen) != 0)
        return -1;
    return 0;
}

int
ofr_store_done_examples (ofr_store *self, int64_t run_id, int cell,
                         void (*fn)(void *arg, int example), void *arg,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "SELECT example FROM examples WHERE run = ?1 AND cell = ?2 "
                 "ORDER BY example", &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int (st, 2, cell);
    int rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW)
        fn (arg, sqlite3_column_int (st, 0));
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE)
        return ofr_store_sqlerr (self, "reading done examples", err, errlen);
    return 0;
}

/* ---- journal: tasks, workers, events ----------------------------------- */

int
ofr_store_task_log (ofr_store *self, int64_t run_id, int64_t task_id, int cell,
                    int n_examples, const char *worker, const char *status,
                    const char *reason, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self,
                 "INSERT INTO tasks (run, id, cell, n_examples, worker, status, reason, "
                 "started, ended) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                 "CASE WHEN ?6 IN ('done', 'failed') THEN ?8 END) "
                 "ON CONFLICT (run, id) DO UPDATE SET cell = excluded.cell, "
                 "n_examples = excluded.n_examples, worker = excluded.worker, "
                 "status = excluded.status, reason = excluded.reason, "
                 "started = CASE WHEN excluded.ended IS NULL THEN excluded.started "
                 "ELSE tasks.started END, ended = excluded.ended",
                 &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int64 (st, 2, task_id);
    sqlite3_bind_int (st, 3, cell);
    sqlite3_bind_int (st, 4, n_examples);
    bind_text (st, 5, worker);
    bind_text (st, 6, status ? status : "running");
    bind_text (st, 7, reason);
    sqlite3_bind_double (st, 8, ofr_wall_s ());
    return step_done (self, st, "logging a task", err, errlen);
}

int
ofr_store_worker_log (ofr_store *self, int64_t run_id, int64_t worker_id,
                      const char *name, const char *host, int64_t pid,
                      int threads, const char *state, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self,
                 "INSERT INTO workers (run, id, name, host, pid, threads, joined, left, state) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                 "CASE WHEN ?8 IN ('dead', 'left') THEN ?7 END, ?8) "
                 "ON CONFLICT (run, id) DO UPDATE SET name = excluded.name, "
                 "host = excluded.host, pid = excluded.pid, threads = excluded.threads, "
                 "left = excluded.left, state = excluded.state",
                 &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_int64 (st, 2, worker_id);
    bind_text (st, 3, name);
    bind_text (st, 4, host);
    sqlite3_bind_int64 (st, 5, pid);
    sqlite3_bind_int (st, 6, threads);
    sqlite3_bind_double (st, 7, ofr_wall_s ());
    bind_text (st, 8, state ? state : "alive");
    return step_done (self, st, "logging a worker", err, errlen);
}

int
ofr_store_event (ofr_store *self, int64_t run_id, int level, const char *text,
                 char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (prepare (self, "INSERT INTO events (run, time, level, text) VALUES (?1, ?2, ?3, ?4)",
                 &st, err, errlen) != 0)
        return -1;
    sqlite3_bind_int64 (st, 1, run_id);
    sqlite3_bind_double (st, 2, ofr_wall_s ());
    sqlite3_bind_int (st, 3, level);
    bind_text (st, 4, text ? text : "");
    return step_done (self, st, "logging an event", err, errlen);
}
