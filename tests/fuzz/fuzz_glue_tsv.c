/*  fuzz_glue_tsv.c -- the GLUE TSV reader (suites/tsv.c). The first byte
    picks header mode and the field count; the rest is the file. Every
    cell of an accepted table is read back. */
#include "fuzz_util.h"
#include "suites/tsv.h"
#include "common/ofr_common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool header = data[0] & 1;
    int n_fields = (data[0] >> 1) % 8 + 1;
    const char *path = ofr_fuzz_file (data + 1, size - 1);
    ofr_tsv *t = NULL;
    char err[OFR_ERRLEN];
    if (ofr_tsv_read (path, header, n_fields, &t, err, sizeof err) != 0) {
        OFR_FUZZ_ASSERT (t == NULL && strstr (err, path));
        return 0;
    }
    int rows = ofr_tsv_rows (t), fields = ofr_tsv_fields (t);
    OFR_FUZZ_ASSERT (rows >= 0 && fields >= 1);
    size_t total = 0;
    for (int r = 0; r < rows; r++) {
        OFR_FUZZ_ASSERT (ofr_tsv_line (t, r) >= 1);
        for (int c = 0; c < fields; c++) {
            const char *v = ofr_tsv_get (t, r, c);
            OFR_FUZZ_ASSERT (v != NULL);
            total += strlen (v);
        }
    }
    OFR_FUZZ_ASSERT (total <= size);
    if (header) {
        (void) ofr_tsv_column (t, "label", err, sizeof err);
        (void) ofr_tsv_column (t, "sentence", err, sizeof err);
    }
    ofr_tsv_destroy (&t);
    return 0;
}
