/*  fuzz_safetensors.c -- the safetensors header validation
    (workers/models/safetensors.c): open arbitrary bytes; for an accepted
    file every tensor's data must lie inside it (read every float). */
#include "fuzz_util.h"
#include "workers/models/safetensors.h"
#include "common/ofr_common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *path = ofr_fuzz_file (data, size);
    ofr_safetensors *st = NULL;
    char err[OFR_ERRLEN];
    if (ofr_safetensors_open (path, &st, err, sizeof err) != 0) {
        OFR_FUZZ_ASSERT (st == NULL);
        return 0;
    }
    size_t n = ofr_safetensors_count (st), bytes = 0;
    volatile float sink = 0;
    for (size_t i = 0; i < n; i++) {
        const ofr_st_tensor *t = ofr_safetensors_at (st, i);
        OFR_FUZZ_ASSERT (t && t->name && t->ndim >= 0 && t->ndim <= OFR_ST_MAX_DIMS);
        OFR_FUZZ_ASSERT (ofr_safetensors_find (st, t->name) == t);
        for (size_t k = 0; k < t->numel; k++)
            sink += t->data[k];
        bytes += t->numel * 4;
        int64_t shape[OFR_ST_MAX_DIMS];
        memcpy (shape, t->shape, sizeof shape);
        const float *d;
        OFR_FUZZ_ASSERT (ofr_safetensors_expect (st, t->name, t->ndim, shape, &d,
                                                 err, sizeof err) == 0 && d == t->data);
    }
    OFR_FUZZ_ASSERT (bytes <= size);
    OFR_FUZZ_ASSERT (ofr_safetensors_at (st, n) == NULL);
    (void) ofr_safetensors_metadata (st, "format");
    ofr_safetensors_destroy (&st);
    (void) sink;
    return 0;
}
