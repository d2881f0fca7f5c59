/*  plugin_params.c -- resolving "key=value" text against a method's declared
    parameters (ofr_params); see plugin_host.h. */
#include "plugin_host.h"
#include "../common/ofr_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ofr_params {
    int        n;          /* = method->n_params                          */
    ofr_value *values;     /* [n] in declaration order                     */
    char     **strings;    /* [n] owned copies behind STRING values, or NULL */
};

const char *
ofr_param_type_name (ofr_param_type type)
{
    switch (type) {
    case OFR_PARAM_INT:    return "int";
    case OFR_PARAM_FLOAT:  return "float";
    case OFR_PARAM_BOOL:   return "bool";
    case OFR_PARAM_STRING: return "string";
    }
    return "?";
}

/*  Bounds print as integers when they are ("[1, 48]", not "[1.000000, 48]"). */
static void
format_bound (double v, char *buf, size_t n)
{
    if (isfinite (v) && v == floor (v) && fabs (v) < 1e15)
        snprintf (buf, n, "%.0f", v);
    else
        snprintf (buf, n, "%g", v);
}

static int
check_range (const char *method, const ofr_param_decl *d, const char *text, double v,
             char *err, size_t errlen)
{
    if (d->min > d->max || (v >= d->min && v <= d->max))
        return 0;
    char lo[32], hi[32];
    format_bound (d->min, lo, sizeof lo);
    format_bound (d->max, hi, sizeof hi);
    return ofr_errf (err, errlen, "%s: %s=%s out of range [%s, %s]", method, d->name,
                     text, lo, hi);
}

static int
parse_bool (const char *s, int64_t *out)
{
    static const char *yes[] = { "true", "1", "yes" }, *no[] = { "false", "0", "no" };
    for (int i = 0; i < 3; i++) {
        if (strcasecmp (s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp (s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int
ofr_param_parse (const char *method, const ofr_param_decl *d, const char *text,
                 ofr_value *out, char *err, size_t errlen)
{
    if (!method)
        method = "?";
    if (!text)
        return ofr_errf (err, errlen, "%s: %s: no value", method, d->name);
    memset (out, 0, sizeof *out);
    switch (d->type) {
    case OFR_PARAM_INT: {
        long long v;
        if (ofr_parse_int (text, &v) != 0)
            return ofr_errf (err, errlen, "%s: %s=%s: expected an integer", method,
                             d->name, text);
        out->i = v;
        return check_range (method, d, text, (double) v, err, errlen);
    }
    case OFR_PARAM_FLOAT: {
        double v;
        if (ofr_parse_double (text, &v) != 0)
            return ofr_errf (err, errlen, "%s: %s=%s: expected a number", method,
                             d->name, text);
        out->f = v;
        return check_range (method, d, text, v, err, errlen);
    }
    case OFR_PARAM_BOOL:
        if (parse_bool (text, &out->i) != 0)
            return ofr_errf (err, errlen, "%s: %s=%s: expected true/false, yes/no or "
                             "1/0", method, d->name, text);
        return 0;
    case OFR_PARAM_STRING:
        out->s = text;
        return 0;
    }
    return ofr_errf (err, errlen, "%s: %s: unknown parameter type %d", method, d->name,
                     (int) d->type);
}

/* "a, b, c" into err's tail: what the user could have meant. */
static void
list_names (const ofr_method *m, char *buf, size_t n)
{
    buf[0] = 0;
    size_t used = 0;
    for (int i = 0; i < m->n_params && used < n; i++) {
        int w = snprintf (buf + used, n - used, "%s%s", i ? ", " : "", m->params[i].name);
        if (w < 0)
            break;
        used += (size_t) w;
    }
}

static int
find_decl (const ofr_method *m, const char *key)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp (m->params[i].name, key) == 0)
            return i;
    return -1;
}

/*  Map every user key to its declaration: text[i] is what create() will see
    for parameter i (the user's value or the default). */
static int
match_keys (const ofr_method *m, const ofr_kv *kv, int n, const char **text,
            char *err, size_t errlen)
{
    for (int i = 0; i < m->n_params; i++)
        text[i] = m->params[i].default_value;
    for (int k = 0; k < n; k++) {
        if (!kv[k].key)
            return ofr_errf (err, errlen, "%s: parameter #%d has no name", m->name, k + 1);
        int i = find_decl (m, kv[k].key);
        if (i < 0) {
            char valid[400];
            list_names (m, valid, sizeof valid);
            if (m->n_params == 0)
                return ofr_errf (err, errlen, "%s: unknown parameter '%s' (%s takes no "
                                 "parameters)", m->name, kv[k].key, m->name);
            return ofr_errf (err, errlen, "%s: unknown parameter '%s' (valid: %s)",
                             m->name, kv[k].key, valid);
        }
        for (int j = 0; j < k; j++)
            if (kv[j].key && strcmp (kv[j].key, kv[k].key) == 0)
                return ofr_errf (err, errlen, "%s: parameter '%s' given twice", m->name,
                                 kv[k].key);
        text[i] = kv[k].value;
    }
    return 0;
}

static int
resolve (ofr_params *self, const ofr_method *m, const char **text, char *err,
         size_t errlen)
{
    for (int i = 0; i < m->n_params; i++) {
        const ofr_param_decl *d = &m->params[i];
        if (ofr_param_parse (m->name, d, text[i], &self->values[i], err, errlen) != 0)
            return -1;
        if (d->type == OFR_PARAM_STRING) {
            if (!(self->strings[i] = ofr_strdup (text[i])))
                return ofr_errf (err, errlen, "%s: out of memory", m->name);
            self->values[i].s = self->strings[i];
        }
    }
    return 0;
}

int
ofr_params_new (const ofr_method *m, const ofr_kv *kv, int n, ofr_params **out,
                char *err, size_t errlen)
{
    *out = NULL;
    if (n < 0 || (n > 0 && !kv))
        return ofr_errf (err, errlen, "%s: invalid parameter list", m->name);
    ofr_params *self = ofr_calloc (1, sizeof *self);
    const char **text = ofr_calloc ((size_t) m->n_params, sizeof *text);
    if (self) {
        self->n = m->n_params;
        self->values = ofr_calloc ((size_t) m->n_params, sizeof *self->values);
        self->strings = ofr_calloc ((size_t) m->n_params, sizeof *self->strings);
    }
    int rc;
    if (!self || !text || !self->values || !self->strings)
        rc = ofr_errf (err, errlen, "%s: out of memory", m->name);
    else
        rc = match_keys (m, kv, n, text, err, errlen) == 0
             ? resolve (self, m, text, err, errlen) : -1;
    free (text);
    if (rc != 0)
        ofr_params_destroy (&self);
    *out = self;
    return rc;
}

void
ofr_params_destroy (ofr_params **self_p)
{
    if (!self_p || !*self_p)
        return;
    ofr_params *self = *self_p;
    if (self->strings)
        for (int i = 0; i < self->n; i++)
            free (self->strings[i]);
    free (self->strings);
    free (self->values);
    free (self);
    *self_p = NULL;
}

const ofr_value *
ofr_params_values (const ofr_params *self)
{
    return self->values;
}

int
ofr_params_count (const ofr_params *self)
{
    return self->n;
}
