/*  ct2.h -- reader of CTranslate2 model.bin files (binary versions 2..6).

    Layout (facts from OpenNMT/CTranslate2: python/ctranslate2/specs/
    model_spec.py `_serialize` and src/models/model.cc `Model::load`;
    little-endian, no padding):
        u32 binary_version
        (version >= 2) u16 len + spec name (NUL included), u32 spec revision
        u32 variable count, then per variable:
            u16 len + name, u8 rank, u32 dims[rank],
            version >= 4: u8 dtype id, u32 byte count
            version <= 3: u8 item size (4 f32, 2 i16, 1 i8), u32 element count
            raw data
        (version >= 3) u32 alias count, then (u16 len + alias, u16 len + target)
    dtype ids: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16 (include/ctranslate2/
    types.h). Rank-0 variables are attributes (num_heads, pre_norm, ...).

    Float32 tensors are copied into aligned buffers (offsets in the file are
    arbitrary); other dtypes are kept as raw bytes for attributes. */
#ifndef OFR_CT2_H
#define OFR_CT2_H

#include <stddef.h>
#include <stdint.h>

#define OFR_CT2_MAX_RANK 8

typedef enum {
    OFR_CT2_F32 = 0, OFR_CT2_I8 = 1, OFR_CT2_I16 = 2, OFR_CT2_I32 = 3,
    OFR_CT2_F16 = 4, OFR_CT2_BF16 = 5
} ofr_ct2_dtype;

typedef struct {
    char          *name;
    int            rank;
    uint32_t       dims[OFR_CT2_MAX_RANK];
    ofr_ct2_dtype  dtype;
    size_t         count;      /* elements                                    */
    void          *data;       /* count elements of dtype (aligned, owned)     */
} ofr_ct2_var;

typedef struct ofr_ct2 ofr_ct2;

/* Read path (a model.bin). Returns 0 and *out, or -1 with "PATH: ..." (at
   byte offset N for a truncated or malformed file). */
int  ofr_ct2_open (const char *path, ofr_ct2 **out, char *err, size_t errlen);
void ofr_ct2_destroy (ofr_ct2 **m);

int          ofr_ct2_binary_version (const ofr_ct2 *m);
const char  *ofr_ct2_spec (const ofr_ct2 *m);        /* "TransformerBase" */
int          ofr_ct2_revision (const ofr_ct2 *m);
size_t       ofr_ct2_count (const ofr_ct2 *m);
const ofr_ct2_var *ofr_ct2_at (const ofr_ct2 *m, size_t i);

/* Variable by name (aliases resolved), or NULL. */
const ofr_ct2_var *ofr_ct2_find (const ofr_ct2 *m, const char *name);

/* A float32 tensor of the given rank and dims (a dim < 0 matches any;
   dims may be NULL to skip the check). Returns 0 and *data, or -1 with a
   message naming the variable and what was expected. */
int  ofr_ct2_floats (const ofr_ct2 *m, const char *name, int rank, const long *dims,
                     const float **data, char *err, size_t errlen);

/* An integer attribute (rank 0 or one element, i8/i16/i32), or dflt when
   absent. Returns 0 or -1 (present but not an integer scalar). */
int  ofr_ct2_int_attr (const ofr_ct2 *m, const char *name, long dflt, long *out,
                       char *err, size_t errlen);

#endif
