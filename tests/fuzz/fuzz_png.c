/*  fuzz_png.c -- PNG decoding into caller buffers (suites/image_png.c,
    libpng). The first byte picks RGB or label-map mode and the buffer
    size; an accepted image must fit the buffer it was decoded into. */
#include "fuzz_util.h"
#include "suites/image_png.h"
#include "common/ofr_common.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ofr_png_kind kind = data[0] & 1 ? OFR_PNG_LABEL8 : OFR_PNG_RGB8;
    size_t cap = (size_t) 1 << (8 + (data[0] >> 1) % 12);   /* 256 B .. 512 KiB */
    uint8_t *buf = malloc (cap);
    if (!buf)
        return 0;
    const char *path = ofr_fuzz_file (data + 1, size - 1);
    int w = -1, h = -1;
    char err[OFR_ERRLEN];
    if (ofr_png_read (path, kind, buf, cap, &w, &h, err, sizeof err) == 0) {
        OFR_FUZZ_ASSERT (w > 0 && h > 0);
        size_t need = (size_t) w * (size_t) h * (kind == OFR_PNG_RGB8 ? 3 : 1);
        OFR_FUZZ_ASSERT (need <= cap);
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < need; i++)
            sink ^= buf[i];
        (void) sink;
    } else {
        OFR_FUZZ_ASSERT (strstr (err, path) != NULL);
    }
    free (buf);
    return 0;
}
