/*  jsonlite.h -- a small strict JSON parser (RFC 8259) for the model files
    offramp reads: safetensors headers and config.json.

    It builds a tree of values. Strictness is the point: duplicate object
    keys, trailing commas, control characters in strings, invalid UTF-8,
    "\u0000", leading zeros, trailing bytes after the value and nesting
    deeper than OFR_JSONLITE_MAX_DEPTH are all errors with a line:column.
    Integers that fit in int64 are kept exactly (safetensors offsets). */
#ifndef OFR_JSONLITE_H
#define OFR_JSONLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OFR_JSONLITE_MAX_DEPTH 64

typedef enum {
    OFR_JSONLITE_NULL,
    OFR_JSONLITE_BOOL,
    OFR_JSONLITE_NUMBER,
    OFR_JSONLITE_STRING,
    OFR_JSONLITE_ARRAY,
    OFR_JSONLITE_OBJECT
} ofr_jsonlite_type;

typedef struct ofr_jsonlite ofr_jsonlite;
struct ofr_jsonlite {
    ofr_jsonlite_type type;
    bool           boolean;    /* BOOL                                         */
    double         number;     /* NUMBER                                       */
    bool           is_int;     /* NUMBER written as an integer that fits int64 */
    int64_t        integer;    /* NUMBER when is_int                           */
    char          *string;     /* STRING (NUL-terminated UTF-8, no NUL inside) */
    size_t         n;          /* ARRAY / OBJECT: number of items              */
    ofr_jsonlite **items;      /* ARRAY / OBJECT: values, in document order    */
    char         **keys;       /* OBJECT: keys, parallel to items              */
};

/* Parse text[0..len) as one JSON value. On success *out is a new tree the
   caller owns (free with ofr_jsonlite_destroy). On failure returns -1 with
   "what (line L, column C)" in err; `what` names the source (e.g. a path). */
int ofr_jsonlite_parse (const char *text, size_t len, const char *what,
                        ofr_jsonlite **out, char *err, size_t errlen);

/* Free a tree and set *v to NULL. NULL-safe. */
void ofr_jsonlite_destroy (ofr_jsonlite **v);

/* Value of `key` in an OBJECT, or NULL if absent or v is not an object.
   The result is owned by the tree. */
const ofr_jsonlite *ofr_jsonlite_get (const ofr_jsonlite *v, const char *key);

/* Name of a type for error messages ("object", "string"...). */
const char *ofr_jsonlite_type_name (ofr_jsonlite_type t);

#endif
