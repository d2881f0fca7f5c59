/*  safetensors.h -- a strict reader of the safetensors format
    (8-byte little-endian header length N, N bytes of JSON header, then the
    raw little-endian tensor data).

    The file is mapped read-only. Opening validates everything up front:
    header length against the file size, the JSON header (strict parser,
    duplicate names rejected), every tensor's dtype (F32 only for now; other
    dtypes are named in the error), shape (non-negative dims, no overflow),
    data_offsets in range, byte size == product(shape) * 4, and that the
    tensors tile the data region exactly (no overlap, no holes), as the
    reference implementation requires. Errors name the file and tensor. */
#ifndef OFR_SAFETENSORS_H
#define OFR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define OFR_ST_MAX_DIMS 8

typedef struct {
    const char  *name;                     /* tensor name from the header      */
    int          ndim;                     /* 0 (scalar) .. OFR_ST_MAX_DIMS    */
    int64_t      shape[OFR_ST_MAX_DIMS];   /* dims, outermost first            */
    size_t       numel;                    /* product of shape                 */
    const float *data;                     /* numel floats, read-only, 4-aligned */
} ofr_st_tensor;

typedef struct ofr_safetensors ofr_safetensors;

/* Open and validate `path`. On success *out is a new reader (free with
   ofr_safetensors_destroy); tensor data stay valid until then. */
int ofr_safetensors_open (const char *path, ofr_safetensors **out,
                          char *err, size_t errlen);

/* Unmap the file, free the reader and set *self to NULL. NULL-safe. */
void ofr_safetensors_destroy (ofr_safetensors **self);

/* Number of tensors, and tensor i in header order (NULL if out of range).
   Pointers are owned by the reader. */
size_t ofr_safetensors_count (const ofr_safetensors *self);
const ofr_st_tensor *ofr_safetensors_at (const ofr_safetensors *self, size_t i);

/* Tensor by name, or NULL. Owned by the reader. */
const ofr_st_tensor *ofr_safetensors_find (const ofr_safetensors *self,
                                           const char *name);

/* Tensor `name` that must exist with exactly ndim dims of the given shape;
   *data points at its floats. Returns 0, or -1 with an error naming the
   file, the tensor and both shapes. */
int ofr_safetensors_expect (const ofr_safetensors *self, const char *name,
                            int ndim, const int64_t *shape, const float **data,
                            char *err, size_t errlen);

/* Value of a string entry of the header's "__metadata__", or NULL. */
const char *ofr_safetensors_metadata (const ofr_safetensors *self, const char *key);

/* The path the reader was opened with (owned by the reader). */
const char *ofr_safetensors_path (const ofr_safetensors *self);

#endif
