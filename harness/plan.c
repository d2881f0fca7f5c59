/*  plan.c -- see plan.h.

    Both front ends (the YAML reader and the flag parser) fill the same small
    spec -- settings, models, suites, methods with possibly swept parameters --
    and one expander turns it into cells, so the two cannot disagree about
    enumeration order. Flags are rendered back to YAML so that the results DB
    always stores a plan text that re-reads to the same cells. */
#include "plan.h"
#include "../common/ofr_common.h"

#include <yaml.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A typo in a sweep must not allocate gigabytes of cells. */
#define PLAN_MAX_CELLS   100000
#define PLAN_MAX_PARAMS  64
/* Paths only ever feed error messages, where truncation is harmless. */
#define PLAN_PATH_LEN    256

#define PLAN_FLAGS_ORIGIN "<flags>"

static const char *const MODEL_CHARS = "[A-Za-z0-9_.:/+-]+";
static const char *const NAME_CHARS  = "[A-Za-z0-9_.+-]+";
static const char *const PARAM_CHARS = "[a-z0-9_]+";

typedef struct {
    char *name;
    char *split;
    int   limit;
} plan_suite;

typedef struct {
    char  *key;
    char **values;          /* [n_values]; one value unless swept          */
    int    n_values;
    bool   sweep;           /* written as a list (even a one-element one)   */
} plan_param;

typedef struct {
    char       *name;
    plan_param *params;
    int         n_params;
    int         line;       /* source line of the entry, 0 for flags        */
} plan_method;

struct ofr_plan {
    char        *name;
    char        *origin;
    char        *text;      /* canonical YAML source                        */
    int          batch_size;
    int          shard_size;
    uint64_t     seed;
    char       **models;
    int          n_models;
    plan_suite  *suites;
    int          n_suites;
    plan_method *methods;
    int          n_methods;
    ofr_cell    *cells;
    int         *lines;     /* [n_cells] line of the producing method entry */
    int          n_cells;
};

/* ------------------------------------------------------------------ */
/* Plan object                                                          */

static ofr_plan *
plan_new (const char *origin)
{
    ofr_plan *p = ofr_calloc (1, sizeof *p);
    if (!p)
        return NULL;
    p->batch_size = 16;
    p->shard_size = 64;
    p->seed = 1;
    p->origin = ofr_strdup (origin);
    if (!p->origin) {
        free (p);
        return NULL;
    }
    return p;
}

static void
strv_free (char **v, int n)
{
    for (int i = 0; i < n; i++)
        free (v[i]);
    free (v);
}

static void
method_clear (plan_method *m)
{
    free (m->name);
    for (int i = 0; i < m->n_params; i++) {
        free (m->params[i].key);
        strv_free (m->params[i].values, m->params[i].n_values);
    }
    free (m->params);
}

void
ofr_plan_destroy (ofr_plan **self)
{
    if (!self || !*self)
        return;
    ofr_plan *p = *self;
    free (p->name);
    free (p->origin);
    free (p->text);
    strv_free (p->models, p->n_models);
    for (int i = 0; i < p->n_suites; i++) {
        free (p->suites[i].name);
        free (p->suites[i].split);
    }
    free (p->suites);
    for (int i = 0; i < p->n_methods; i++)
        method_clear (&p->methods[i]);
    free (p->methods);
    for (int i = 0; i < p->n_cells; i++)
        ofr_cell_clear (&p->cells[i]);
    free (p->cells);
    free (p->lines);
    free (p);
    *self = NULL;
}

const char *ofr_plan_name (const ofr_plan *self) { return self->name; }
const char *ofr_plan_origin (const ofr_plan *self) { return self->origin; }
const char *ofr_plan_text (const ofr_plan *self) { return self->text; }
int ofr_plan_n_cells (const ofr_plan *self) { return self->n_cells; }
int ofr_plan_shard_size (const ofr_plan *self) { return self->shard_size; }

const ofr_cell *
ofr_plan_cell (const ofr_plan *self, int i)
{
    return i >= 0 && i < self->n_cells ? &self->cells[i] : NULL;
}

int
ofr_plan_cell_line (const ofr_plan *self, int i)
{
    return i >= 0 && i < self->n_cells ? self->lines[i] : 0;
}

void
ofr_plan_set_limit (ofr_plan *self, int limit)
{
    if (limit <= 0)
        return;
    for (int i = 0; i < self->n_cells; i++)
        self->cells[i].limit = limit;
}

/* ------------------------------------------------------------------ */
/* Names                                                                */

static bool
is_alnum (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Models may be paths or tags ("org/model:v1"); suites, splits and methods
   may not, because ':' separates a split in --suite and a method name
   becomes a plugin file name. */
static bool
name_ok (const char *s, bool model)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (is_alnum (c) || c == '_' || c == '.' || c == '+' || c == '-')
            continue;
        if (model && (c == '/' || c == ':'))
            continue;
        return false;
    }
    return true;
}

static bool
param_name_ok (const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* "dir/sst2-compare.yaml" -> "sst2-compare". */
static char *
file_stem (const char *path)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr (base, '.');
    size_t n = dot && dot != base ? (size_t) (dot - base) : strlen (base);
    if (n == 0)
        return ofr_strdup ("plan");
    char *s = malloc (n + 1);
    if (s) {
        memcpy (s, base, n);
        s[n] = '\0';
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* Expansion                                                            */

static long long
method_combos (const plan_method *m)
{
    long long n = 1;
    for (int i = 0; i < m->n_params; i++) {
        n *= m->params[i].n_values;
        if (n > PLAN_MAX_CELLS)
            return PLAN_MAX_CELLS + 1LL;
    }
    return n;
}

static int
plan_count (const ofr_plan *p, int *total, char *err, size_t errlen)
{
    long long per_pair = 0;
    for (int i = 0; i < p->n_methods && per_pair <= PLAN_MAX_CELLS; i++)
        per_pair += method_combos (&p->methods[i]);
    long long n = per_pair * p->n_models;
    if (per_pair <= PLAN_MAX_CELLS && n <= PLAN_MAX_CELLS)
        n *= p->n_suites;
    if (per_pair > PLAN_MAX_CELLS || n > PLAN_MAX_CELLS)
        return ofr_errf (err, errlen, "%s: the plan expands to more than %d cells",
                         p->origin, PLAN_MAX_CELLS);
    *total = (int) n;
    return 0;
}

/* Cell parameters for grid point `combo`, last parameter varying fastest. */
static int
cell_params (ofr_cell *c, const plan_method *m, long long combo)
{
    if (m->n_params == 0)
        return 0;
    c->params = ofr_calloc ((size_t) m->n_params, sizeof (ofr_kv));
    if (!c->params)
        return -1;
    c->n_params = m->n_params;
    for (int k = m->n_params - 1; k >= 0; k--) {
        const plan_param *pp = &m->params[k];
        c->params[k].key = ofr_strdup (pp->key);
        c->params[k].value = ofr_strdup (pp->values[combo % pp->n_values]);
        combo /= pp->n_values;
        if (!c->params[k].key || !c->params[k].value)
            return -1;
    }
    return 0;
}

static int
cell_fill (ofr_cell *c, const ofr_plan *p, const char *model,
           const plan_suite *s, const plan_method *m, long long combo)
{
    c->index = p->n_cells;
    c->model = ofr_strdup (model);
    c->suite = ofr_strdup (s->name);
    c->split = ofr_strdup (s->split);
    c->method = ofr_strdup (m->name);
    c->limit = s->limit;
    c->batch_size = p->batch_size;
    c->seed = p->seed;
    if (!c->model || !c->suite || !c->split || !c->method || cell_params (c, m, combo)) {
        ofr_cell_clear (c);
        return -1;
    }
    return 0;
}

static int
plan_expand (ofr_plan *p, char *err, size_t errlen)
{
    int total = 0;
    if (plan_count (p, &total, err, errlen))
        return -1;
    p->cells = ofr_calloc ((size_t) total, sizeof (ofr_cell));
    p->lines = ofr_calloc ((size_t) total, sizeof (int));
    if (!p->cells || !p->lines)
        return ofr_errf (err, errlen, "%s: out of memory", p->origin);
    for (int mi = 0; mi < p->n_models; mi++)
        for (int si = 0; si < p->n_suites; si++)
            for (int me = 0; me < p->n_methods; me++) {
                const plan_method *m = &p->methods[me];
                long long combos = method_combos (m);
                for (long long c = 0; c < combos; c++) {
                    if (cell_fill (&p->cells[p->n_cells], p, p->models[mi],
                                   &p->suites[si], m, c))
                        return ofr_errf (err, errlen, "%s: out of memory", p->origin);
                    p->lines[p->n_cells++] = m->line;
                }
            }
    return 0;
}

/* ------------------------------------------------------------------ */
/* YAML reader                                                          */

typedef struct {
    yaml_document_t *doc;
    ofr_plan        *plan;
    const char      *origin;
    char            *err;
    size_t           errlen;
} reader;

static int
node_line (const yaml_node_t *n)
{
    size_t l = n->start_mark.line;
    return l >= (size_t) INT_MAX ? INT_MAX : (int) l + 1;
}

static int rd_fail (reader *r, const yaml_node_t *n, const char *path,
                    const char *fmt, ...) OFR_PRINTF(4, 5);

/* "<origin>:<line>: <path>: <message>"; the path is left out at the root. */
static int
rd_fail (reader *r, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char msg[OFR_ERRLEN];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    return ofr_errf (r->err, r->errlen, "%s:%d: %s%s%s", r->origin, node_line (n),
                     path, *path ? ": " : "", msg);
}

static yaml_node_t *
rd_node (reader *r, int id)
{
    return yaml_document_get_node (r->doc, id);
}

/* A scalar whose text is a C string (YAML "\0" escapes would truncate it). */
static const char *
rd_text (const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *) n->data.scalar.value;
    return strlen (s) == n->data.scalar.length ? s : NULL;
}

static int
rd_count (const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return (int) (n->data.sequence.items.top - n->data.sequence.items.start);
    if (n->type == YAML_MAPPING_NODE)
        return (int) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    return 0;
}

static yaml_node_t *
rd_item (reader *r, const yaml_node_t *seq, int i)
{
    return rd_node (r, seq->data.sequence.items.start[i]);
}

static yaml_node_t *
rd_get (reader *r, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
         pr < map->data.mapping.pairs.top; pr++) {
        const char *k = rd_text (rd_node (r, pr->key));
        if (k && strcmp (k, key) == 0)
            return rd_node (r, pr->value);
    }
    return NULL;
}

static bool
in_list (const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp (*list, s) == 0)
            return true;
    return false;
}

/* Keys must be scalars, unique and, with `allowed`, one of those; without
   `allowed` they are parameter names. */
static int
rd_keys (reader *r, const yaml_node_t *map, const char *path,
         const char *const *allowed, const char *allowed_text)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    for (yaml_node_pair_t *pr = start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = rd_node (r, pr->key);
        const char *k = rd_text (kn);
        if (!k)
            return rd_fail (r, kn ? kn : map, path, "expected a plain text key");
        if (allowed && !in_list (allowed, k))
            return rd_fail (r, kn, path, "unknown key '%s' (expected one of: %s)",
                            k, allowed_text);
        if (!allowed && !param_name_ok (k))
            return rd_fail (r, kn, path, "invalid parameter name '%s' (expected %s)",
                            k, PARAM_CHARS);
        for (yaml_node_pair_t *q = start; q < pr; q++)
            if (strcmp (rd_text (rd_node (r, q->key)), k) == 0)
                return rd_fail (r, kn, path, "duplicate key '%s'", k);
    }
    return 0;
}

static void path_printf (char *dst, const char *fmt, ...) OFR_PRINTF(2, 3);

/* dst holds PLAN_PATH_LEN bytes; a long key just truncates the message. */
static void
path_printf (char *dst, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (dst, PLAN_PATH_LEN, fmt, ap);
    va_end (ap);
}

static void
sub_path (char *dst, const char *path, const char *key)
{
    path_printf (dst, "%s%s%s", path, *path ? "." : "", key);
}

static int
rd_int (reader *r, const yaml_node_t *n, const char *path,
        long long lo, long long hi, long long *out)
{
    const char *s = rd_text (n);
    long long v;
    bool ok = s && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
              && ofr_parse_int (s, &v) == 0 && v >= lo && v <= hi;
    if (ok) {
        *out = v;
        return 0;
    }
    if (hi == LLONG_MAX || hi == INT_MAX)
        return rd_fail (r, n, path, "expected an integer >= %lld", lo);
    return rd_fail (r, n, path, "expected an integer in %lld..%lld", lo, hi);
}

static int
rd_setting (reader *r, const yaml_node_t *map, const char *key,
            long long lo, long long hi, long long *out)
{
    yaml_node_t *n = rd_get (r, map, key);
    char path[PLAN_PATH_LEN];
    sub_path (path, "settings", key);
    return n ? rd_int (r, n, path, lo, hi, out) : 0;
}

static int
rd_settings (reader *r, const yaml_node_t *n)
{
    static const char *const keys[] = { "batch_size", "shard_size", "seed", NULL };
    if (n->type != YAML_MAPPING_NODE)
        return rd_fail (r, n, "settings", "expected a mapping");
    if (rd_keys (r, n, "settings", keys, "batch_size, shard_size, seed"))
        return -1;
    long long batch = r->plan->batch_size, shard = r->plan->shard_size;
    long long seed = (long long) r->plan->seed;
    if (rd_setting (r, n, "batch_size", 1, 4096, &batch)
        || rd_setting (r, n, "shard_size", 1, 100000, &shard)
        || rd_setting (r, n, "seed", 0, LLONG_MAX, &seed))
        return -1;
    r->plan->batch_size = (int) batch;
    r->plan->shard_size = (int) shard;
    r->plan->seed = (uint64_t) seed;
    return 0;
}

/* A non-empty list under `key` of the root mapping. */
static int
rd_list (reader *r, const yaml_node_t *root, const char *key, yaml_node_t **seq)
{
    yaml_node_t *n = rd_get (r, root, key);
    if (!n)
        return rd_fail (r, root, key, "required");
    if (n->type != YAML_SEQUENCE_NODE)
        return rd_fail (r, n, key, "expected a list");
    if (rd_count (n) == 0)
        return rd_fail (r, n, key, "expected a non-empty list");
    *seq = n;
    return 0;
}

/* A list entry is a bare name or a mapping with a `name` key (*map is then
   the mapping, else NULL). The name is checked against its character set. */
static int
rd_entry (reader *r, yaml_node_t *item, const char *path, bool model,
          const char *const *keys, const char *keys_text,
          const char **name, yaml_node_t **map)
{
    char npath[PLAN_PATH_LEN];
    yaml_node_t *nn = item;
    *map = NULL;
    path_printf (npath, "%s", path);
    if (item->type == YAML_MAPPING_NODE) {
        if (rd_keys (r, item, path, keys, keys_text))
            return -1;
        *map = item;
        sub_path (npath, path, "name");
        nn = rd_get (r, item, "name");
        if (!nn)
            return rd_fail (r, item, npath, "required");
    }
    else if (item->type != YAML_SCALAR_NODE)
        return rd_fail (r, item, path, "expected a name or a mapping");
    *name = rd_text (nn);
    if (!*name)
        return rd_fail (r, nn, npath, "expected a name");
    if (!name_ok (*name, model))
        return rd_fail (r, nn, npath, "invalid name '%s' (expected %s)", *name,
                        model ? MODEL_CHARS : NAME_CHARS);
    return 0;
}

static int
rd_models (reader *r, const yaml_node_t *root)
{
    static const char *const keys[] = { "name", NULL };
    yaml_node_t *seq;
    if (rd_list (r, root, "models", &seq))
        return -1;
    ofr_plan *p = r->plan;
    p->models = ofr_calloc ((size_t) rd_count (seq), sizeof (char *));
    if (!p->models)
        return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    for (int i = 0; i < rd_count (seq); i++) {
        char path[PLAN_PATH_LEN];
        path_printf (path, "models[%d]", i);
        const char *name;
        yaml_node_t *map, *item = rd_item (r, seq, i);
        if (rd_entry (r, item, path, true, keys, "name", &name, &map))
            return -1;
        for (int j = 0; j < p->n_models; j++)
            if (strcmp (p->models[j], name) == 0)
                return rd_fail (r, item, path, "duplicate model '%s'", name);
        if (!(p->models[p->n_models] = ofr_strdup (name)))
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
        p->n_models++;
    }
    return 0;
}

static int
rd_suite_fields (reader *r, yaml_node_t *map, const char *path,
                 const char **split, long long *limit)
{
    char sub[PLAN_PATH_LEN];
    yaml_node_t *sn = rd_get (r, map, "split");
    yaml_node_t *ln = rd_get (r, map, "limit");
    if (sn) {
        sub_path (sub, path, "split");
        *split = rd_text (sn);
        if (!*split)
            return rd_fail (r, sn, sub, "expected a name");
        if (!name_ok (*split, false))
            return rd_fail (r, sn, sub, "invalid name '%s' (expected %s)", *split, NAME_CHARS);
    }
    sub_path (sub, path, "limit");
    return ln ? rd_int (r, ln, sub, 0, INT_MAX, limit) : 0;
}

static int
rd_suites (reader *r, const yaml_node_t *root)
{
    static const char *const keys[] = { "name", "split", "limit", NULL };
    yaml_node_t *seq;
    if (rd_list (r, root, "suites", &seq))
        return -1;
    ofr_plan *p = r->plan;
    p->suites = ofr_calloc ((size_t) rd_count (seq), sizeof (plan_suite));
    if (!p->suites)
        return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    for (int i = 0; i < rd_count (seq); i++) {
        char path[PLAN_PATH_LEN];
        path_printf (path, "suites[%d]", i);
        const char *name, *split = "dev";
        long long limit = 0;
        yaml_node_t *map, *item = rd_item (r, seq, i);
        if (rd_entry (r, item, path, false, keys, "name, split, limit", &name, &map)
            || (map && rd_suite_fields (r, map, path, &split, &limit)))
            return -1;
        for (int j = 0; j < p->n_suites; j++)
            if (!strcmp (p->suites[j].name, name) && !strcmp (p->suites[j].split, split))
                return rd_fail (r, item, path, "duplicate suite '%s' (split %s)", name, split);
        plan_suite *s = &p->suites[p->n_suites++];
        s->name = ofr_strdup (name);
        s->split = ofr_strdup (split);
        s->limit = (int) limit;
        if (!s->name || !s->split)
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    }
    return 0;
}

static int
rd_param_value (reader *r, yaml_node_t *vn, const char *path, plan_param *pp)
{
    int n = vn->type == YAML_SEQUENCE_NODE ? rd_count (vn) : 1;
    if (vn->type != YAML_SCALAR_NODE && vn->type != YAML_SEQUENCE_NODE)
        return rd_fail (r, vn, path, "expected a scalar or a list of scalars");
    if (n == 0)
        return rd_fail (r, vn, path, "empty sweep list");
    pp->sweep = vn->type == YAML_SEQUENCE_NODE;
    pp->values = ofr_calloc ((size_t) n, sizeof (char *));
    if (!pp->values)
        return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    for (int i = 0; i < n; i++) {
        yaml_node_t *x = pp->sweep ? rd_item (r, vn, i) : vn;
        const char *s = rd_text (x);
        if (!s)
            return rd_fail (r, x, path, "expected a scalar or a list of scalars");
        if (!*s)
            return rd_fail (r, x, path, "empty value");
        if (!(pp->values[pp->n_values] = ofr_strdup (s)))
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
        pp->n_values++;
    }
    return 0;
}

static int
rd_params (reader *r, yaml_node_t *pn, const char *mpath, plan_method *m)
{
    char path[PLAN_PATH_LEN];
    sub_path (path, mpath, "params");
    if (pn->type != YAML_MAPPING_NODE)
        return rd_fail (r, pn, path, "expected a mapping");
    int n = rd_count (pn);
    if (n > PLAN_MAX_PARAMS)
        return rd_fail (r, pn, path, "too many parameters (at most %d)", PLAN_MAX_PARAMS);
    if (rd_keys (r, pn, path, NULL, NULL))
        return -1;
    if (n > 0 && !(m->params = ofr_calloc ((size_t) n, sizeof (plan_param))))
        return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    for (int i = 0; i < n; i++) {
        yaml_node_pair_t *pr = &pn->data.mapping.pairs.start[i];
        const char *key = rd_text (rd_node (r, pr->key));
        char kpath[PLAN_PATH_LEN];
        sub_path (kpath, path, key);
        plan_param *pp = &m->params[m->n_params++];
        if (!(pp->key = ofr_strdup (key)))
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
        if (rd_param_value (r, rd_node (r, pr->value), kpath, pp))
            return -1;
    }
    return 0;
}

static int
rd_methods (reader *r, const yaml_node_t *root)
{
    static const char *const keys[] = { "name", "params", NULL };
    yaml_node_t *seq;
    if (rd_list (r, root, "methods", &seq))
        return -1;
    ofr_plan *p = r->plan;
    p->methods = ofr_calloc ((size_t) rd_count (seq), sizeof (plan_method));
    if (!p->methods)
        return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    for (int i = 0; i < rd_count (seq); i++) {
        char path[PLAN_PATH_LEN];
        path_printf (path, "methods[%d]", i);
        const char *name;
        yaml_node_t *map, *pn, *item = rd_item (r, seq, i);
        if (rd_entry (r, item, path, false, keys, "name, params", &name, &map))
            return -1;
        plan_method *m = &p->methods[p->n_methods++];
        m->line = node_line (item);
        if (!(m->name = ofr_strdup (name)))
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
        if (map && (pn = rd_get (r, map, "params")) && rd_params (r, pn, path, m))
            return -1;
    }
    return 0;
}

static int
rd_plan (reader *r, const yaml_node_t *root)
{
    static const char *const keys[] = { "name", "settings", "models", "suites", "methods", NULL };
    if (root->type != YAML_MAPPING_NODE)
        return rd_fail (r, root, "", "expected a mapping at the top level");
    if (rd_keys (r, root, "", keys, "name, settings, models, suites, methods"))
        return -1;
    yaml_node_t *nn = rd_get (r, root, "name");
    if (nn) {
        const char *name = rd_text (nn);
        if (!name || !name_ok (name, true))
            return rd_fail (r, nn, "name", "expected a name matching %s", MODEL_CHARS);
        free (r->plan->name);
        if (!(r->plan->name = ofr_strdup (name)))
            return ofr_errf (r->err, r->errlen, "%s: out of memory", r->origin);
    }
    yaml_node_t *sn = rd_get (r, root, "settings");
    if (sn && rd_settings (r, sn))
        return -1;
    return rd_models (r, root) || rd_suites (r, root) || rd_methods (r, root) ? -1 : 0;
}

/* libyaml's own problem and line; reader errors (bad UTF-8, control
   characters) only carry a byte offset, so the line is counted here. */
static int
yaml_syntax_error (const yaml_parser_t *ps, const char *origin,
                   const char *yaml, size_t len, char *err, size_t errlen)
{
    if (ps->error == YAML_MEMORY_ERROR)
        return ofr_errf (err, errlen, "%s: out of memory", origin);
    size_t line = ps->problem_mark.line + 1;
    if (ps->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < len && i < ps->problem_offset; i++)
            line += yaml[i] == '\n';
    }
    const char *problem = ps->problem ? ps->problem : "invalid YAML";
    if (ps->context)
        return ofr_errf (err, errlen, "%s:%zu: YAML syntax error: %s (%s at line %zu)",
                         origin, line, problem, ps->context, ps->context_mark.line + 1);
    return ofr_errf (err, errlen, "%s:%zu: YAML syntax error: %s", origin, line, problem);
}

/* A second document would silently be ignored, so it is an error. */
static int
check_single_doc (yaml_parser_t *ps, const char *origin, const char *yaml,
                  size_t len, char *err, size_t errlen)
{
    yaml_document_t extra;
    if (!yaml_parser_load (ps, &extra))
        return yaml_syntax_error (ps, origin, yaml, len, err, errlen);
    bool more = yaml_document_get_root_node (&extra) != NULL;
    size_t line = extra.start_mark.line + 1;
    yaml_document_delete (&extra);
    if (more)
        return ofr_errf (err, errlen, "%s:%zu: expected a single YAML document", origin, line);
    return 0;
}

static int
plan_parse_yaml (ofr_plan *p, const char *yaml, size_t len, char *err, size_t errlen)
{
    yaml_parser_t ps;
    yaml_document_t doc;
    if (!yaml_parser_initialize (&ps))
        return ofr_errf (err, errlen, "%s: out of memory", p->origin);
    yaml_parser_set_input_string (&ps, (const unsigned char *) yaml, len);
    int rc = -1;
    if (!yaml_parser_load (&ps, &doc))
        rc = yaml_syntax_error (&ps, p->origin, yaml, len, err, errlen);
    else {
        yaml_node_t *root = yaml_document_get_root_node (&doc);
        reader r = { &doc, p, p->origin, err, errlen };
        if (!root)
            rc = ofr_errf (err, errlen, "%s:1: the plan is empty (expected a mapping)", p->origin);
        else
            rc = rd_plan (&r, root);
        yaml_document_delete (&doc);
        if (rc == 0)
            rc = check_single_doc (&ps, p->origin, yaml, len, err, errlen);
    }
    yaml_parser_delete (&ps);
    return rc;
}

int
ofr_plan_load_string (const char *yaml, size_t len, const char *origin,
                      ofr_plan **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!origin)
        origin = "<string>";
    if (!yaml)
        return ofr_errf (err, errlen, "%s: no plan text", origin);
    ofr_plan *p = plan_new (origin);
    if (p) {
        p->name = file_stem (origin);
        p->text = malloc (len + 1);
    }
    if (!p || !p->name || !p->text) {
        ofr_plan_destroy (&p);
        return ofr_errf (err, errlen, "%s: out of memory", origin);
    }
    memcpy (p->text, yaml, len);
    p->text[len] = '\0';
    if (plan_parse_yaml (p, yaml, len, err, errlen) || plan_expand (p, err, errlen)) {
        ofr_plan_destroy (&p);
        return -1;
    }
    *out = p;
    return 0;
}

int
ofr_plan_load_file (const char *path, ofr_plan **out, char *err, size_t errlen)
{
    char *data;
    size_t size;
    *out = NULL;
    if (ofr_read_file (path, &data, &size, err, errlen))
        return -1;
    int rc = ofr_plan_load_string (data, size, path, out, err, errlen);
    free (data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Flags                                                                */

/* Split s at every sep into owned strings; empty items are kept so that the
   caller can reject "a,,b" with a message. */
static int
split_dup (const char *s, char sep, char ***out, int *n)
{
    int count = 1;
    for (const char *q = s; *q; q++)
        count += *q == sep;
    char **v = ofr_calloc ((size_t) count, sizeof (char *));
    if (!v)
        return -1;
    for (int i = 0; i < count; i++) {
        const char *end = strchr (s, sep);
        size_t len = end ? (size_t) (end - s) : strlen (s);
        if (!(v[i] = malloc (len + 1))) {
            strv_free (v, i);
            return -1;
        }
        memcpy (v[i], s, len);
        v[i][len] = '\0';
        s += len + (end ? 1 : 0);
    }
    *out = v;
    *n = count;
    return 0;
}

static int
args_models (ofr_plan *p, const char *models, char *err, size_t errlen)
{
    if (!models || !*models)
        return ofr_errf (err, errlen, "--model: required");
    if (split_dup (models, ',', &p->models, &p->n_models))
        return ofr_errf (err, errlen, "--model: out of memory");
    for (int i = 0; i < p->n_models; i++) {
        const char *m = p->models[i];
        if (!*m)
            return ofr_errf (err, errlen, "--model '%s': empty name", models);
        if (!name_ok (m, true))
            return ofr_errf (err, errlen, "--model '%s': invalid model name '%s' (expected %s)",
                             models, m, MODEL_CHARS);
        for (int j = 0; j < i; j++)
            if (strcmp (p->models[j], m) == 0)
                return ofr_errf (err, errlen, "--model '%s': duplicate model '%s'", models, m);
    }
    return 0;
}

/* "name" or "name:split"; takes ownership of item. */
static int
args_suite (plan_suite *s, char *item, const char *flag, char *err, size_t errlen)
{
    char *colon = strchr (item, ':');
    s->name = item;
    if (colon)
        *colon = '\0';
    s->split = ofr_strdup (colon ? colon + 1 : "dev");
    if (!s->split)
        return ofr_errf (err, errlen, "--suite: out of memory");
    if (!*s->name)
        return ofr_errf (err, errlen, "--suite '%s': empty name", flag);
    if (!name_ok (s->name, false))
        return ofr_errf (err, errlen, "--suite '%s': invalid suite name '%s' (expected %s)",
                         flag, s->name, NAME_CHARS);
    if (!name_ok (s->split, false))
        return ofr_errf (err, errlen,
                         "--suite '%s': invalid split '%s' for suite %s (expected %s)",
                         flag, s->split, s->name, NAME_CHARS);
    return 0;
}

static int
args_suites (ofr_plan *p, const char *suites, int limit, char *err, size_t errlen)
{
    char **items;
    int n;
    if (!suites || !*suites)
        return ofr_errf (err, errlen, "--suite: required");
    if (split_dup (suites, ',', &items, &n))
        return ofr_errf (err, errlen, "--suite: out of memory");
    p->suites = ofr_calloc ((size_t) n, sizeof (plan_suite));
    if (!p->suites) {
        strv_free (items, n);
        return ofr_errf (err, errlen, "--suite: out of memory");
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        plan_suite *s = &p->suites[p->n_suites++];
        s->limit = limit;
        if (rc == 0)
            rc = args_suite (s, items[i], suites, err, errlen);
        else
            free (items[i]);
        for (int j = 0; rc == 0 && j < i; j++)
            if (!strcmp (p->suites[j].name, s->name) && !strcmp (p->suites[j].split, s->split))
                rc = ofr_errf (err, errlen, "--suite '%s': duplicate suite '%s' (split %s)",
                               suites, s->name, s->split);
    }
    free (items);
    return rc;
}

static bool
value_ok (const char *v)
{
    for (; *v; v++)
        if ((unsigned char) *v < 0x20 || (unsigned char) *v > 0x7e)
            return false;
    return true;
}

/* "key=a|b|c" -> pp; spec names the whole --method argument in messages. */
static int
args_param (plan_param *pp, const char *kv, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr (kv, '=');
    if (!eq || eq == kv)
        return ofr_errf (err, errlen, "--method '%s': expected key=value", spec);
    size_t klen = (size_t) (eq - kv);
    if (!(pp->key = malloc (klen + 1)))
        return ofr_errf (err, errlen, "--method '%s': out of memory", spec);
    memcpy (pp->key, kv, klen);
    pp->key[klen] = '\0';
    if (!param_name_ok (pp->key))
        return ofr_errf (err, errlen, "--method '%s': invalid parameter name '%s' (expected %s)",
                         spec, pp->key, PARAM_CHARS);
    pp->sweep = strchr (eq + 1, '|') != NULL;
    if (split_dup (eq + 1, '|', &pp->values, &pp->n_values))
        return ofr_errf (err, errlen, "--method '%s': out of memory", spec);
    for (int i = 0; i < pp->n_values; i++) {
        if (!*pp->values[i])
            return ofr_errf (err, errlen, "--method '%s': empty value for '%s'", spec, pp->key);
        if (!value_ok (pp->values[i]))
            return ofr_errf (err, errlen, "--method '%s': value for '%s' must be printable ASCII",
                             spec, pp->key);
    }
    return 0;
}

static int
args_params (plan_method *m, const char *list, const char *spec, char *err, size_t errlen)
{
    char **kvs;
    int n;
    if (split_dup (list, ',', &kvs, &n))
        return ofr_errf (err, errlen, "--method '%s': out of memory", spec);
    int rc = 0;
    if (n > PLAN_MAX_PARAMS)
        rc = ofr_errf (err, errlen, "--method '%s': too many parameters (at most %d)",
                       spec, PLAN_MAX_PARAMS);
    else if (!(m->params = ofr_calloc ((size_t) n, sizeof (plan_param))))
        rc = ofr_errf (err, errlen, "--method '%s': out of memory", spec);
    for (int i = 0; rc == 0 && i < n; i++) {
        plan_param *pp = &m->params[m->n_params++];
        rc = args_param (pp, kvs[i], spec, err, errlen);
        for (int j = 0; rc == 0 && j < i; j++)
            if (strcmp (m->params[j].key, pp->key) == 0)
                rc = ofr_errf (err, errlen, "--method '%s': duplicate parameter '%s'",
                               spec, pp->key);
    }
    strv_free (kvs, n);
    return rc;
}

static int
args_method (plan_method *m, const char *spec, char *err, size_t errlen)
{
    if (!spec || !*spec)
        return ofr_errf (err, errlen, "--method: empty method spec");
    const char *colon = strchr (spec, ':');
    size_t nlen = colon ? (size_t) (colon - spec) : strlen (spec);
    if (!(m->name = malloc (nlen + 1)))
        return ofr_errf (err, errlen, "--method '%s': out of memory", spec);
    memcpy (m->name, spec, nlen);
    m->name[nlen] = '\0';
    if (!name_ok (m->name, false))
        return ofr_errf (err, errlen, "--method '%s': invalid method name '%s' (expected %s)",
                         spec, m->name, NAME_CHARS);
    return colon ? args_params (m, colon + 1, spec, err, errlen) : 0;
}

static int
args_methods (ofr_plan *p, const char *const *methods, int n, char *err, size_t errlen)
{
    if (!methods || n <= 0)
        return ofr_errf (err, errlen, "--method: at least one method is required");
    if (!(p->methods = ofr_calloc ((size_t) n, sizeof (plan_method))))
        return ofr_errf (err, errlen, "--method: out of memory");
    for (int i = 0; i < n; i++)
        if (args_method (&p->methods[p->n_methods++], methods[i], err, errlen))
            return -1;
    return 0;
}

/* Double-quoted YAML scalar: always safe whatever the characters. */
static void
yaml_quote (ofr_buf *b, const char *s)
{
    ofr_buf_puts (b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            ofr_buf_printf (b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            ofr_buf_printf (b, "\\x%02X", c);
        else
            ofr_buf_append (b, s, 1);
    }
    ofr_buf_puts (b, "\"");
}

static void
render_method (ofr_buf *b, const plan_method *m)
{
    ofr_buf_puts (b, "  - name: ");
    yaml_quote (b, m->name);
    ofr_buf_puts (b, "\n");
    if (m->n_params > 0)
        ofr_buf_puts (b, "    params:\n");
    for (int i = 0; i < m->n_params; i++) {
        const plan_param *pp = &m->params[i];
        ofr_buf_printf (b, "      %s: %s", pp->key, pp->sweep ? "[" : "");
        for (int v = 0; v < pp->n_values; v++) {
            ofr_buf_puts (b, v ? ", " : "");
            yaml_quote (b, pp->values[v]);
        }
        ofr_buf_puts (b, pp->sweep ? "]\n" : "\n");
    }
}

/* The YAML plan equivalent to p; NULL on allocation failure. */
static char *
plan_render (const ofr_plan *p)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_puts (&b, "# generated from command-line flags\nname: ");
    yaml_quote (&b, p->name);
    ofr_buf_printf (&b, "\nsettings:\n  batch_size: %d\n  shard_size: %d\n  seed: %llu\n",
                    p->batch_size, p->shard_size, (unsigned long long) p->seed);
    ofr_buf_puts (&b, "models:\n");
    for (int i = 0; i < p->n_models; i++) {
        ofr_buf_puts (&b, "  - ");
        yaml_quote (&b, p->models[i]);
        ofr_buf_puts (&b, "\n");
    }
    ofr_buf_puts (&b, "suites:\n");
    for (int i = 0; i < p->n_suites; i++) {
        ofr_buf_puts (&b, "  - {name: ");
        yaml_quote (&b, p->suites[i].name);
        ofr_buf_puts (&b, ", split: ");
        yaml_quote (&b, p->suites[i].split);
        if (p->suites[i].limit > 0)
            ofr_buf_printf (&b, ", limit: %d", p->suites[i].limit);
        ofr_buf_puts (&b, "}\n");
    }
    ofr_buf_puts (&b, "methods:\n");
    for (int i = 0; i < p->n_methods; i++)
        render_method (&b, &p->methods[i]);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

int
ofr_plan_from_args (const char *models, const char *suites,
                    const char *const *methods, int n_methods, int limit,
                    ofr_plan **out, char *err, size_t errlen)
{
    *out = NULL;
    if (limit < 0)
        return ofr_errf (err, errlen, "--limit %d: expected an integer >= 0", limit);
    ofr_plan *p = plan_new (PLAN_FLAGS_ORIGIN);
    if (!p || !(p->name = ofr_strdup ("adhoc"))) {
        ofr_plan_destroy (&p);
        return ofr_errf (err, errlen, "plan: out of memory");
    }
    if (args_models (p, models, err, errlen)
        || args_suites (p, suites, limit, err, errlen)
        || args_methods (p, methods, n_methods, err, errlen)
        || plan_expand (p, err, errlen)) {
        ofr_plan_destroy (&p);
        return -1;
    }
    if (!(p->text = plan_render (p))) {
        ofr_plan_destroy (&p);
        return ofr_errf (err, errlen, "plan: out of memory");
    }
    *out = p;
    return 0;
}
