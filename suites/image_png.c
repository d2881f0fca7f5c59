/*  image_png.c -- see image_png.h. libpng reports errors by longjmp to the
    setjmp in each entry point; everything those paths must release, and
    the error message, live in a heap context so that no automatic variable
    is modified between setjmp and longjmp (which would need volatile). */
#include "image_png.h"
#include "../common/ofr_common.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    char        msg[256];    /* libpng's error message */
    FILE       *f;
    png_structp png;
    png_infop   info;
} png_ctx;

static void
on_error (png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr (png);
    snprintf (c->msg, sizeof c->msg, "%s", msg);
    png_longjmp (png, 1);
}

static void
on_warning (png_structp png, png_const_charp msg)
{
    (void) png;
    (void) msg;   /* e.g. "iCCP: known incorrect sRGB profile": harmless */
}

static png_ctx *
ctx_new (const char *path)
{
    png_ctx *c = ofr_calloc (1, sizeof *c);
    if (c)
        c->path = path;
    return c;
}

/* Frees libpng state, closes the file and frees c. */
static void
ctx_close (png_ctx *c, int reading)
{
    if (c->png) {
        if (reading)
            png_destroy_read_struct (&c->png, c->info ? &c->info : NULL, NULL);
        else
            png_destroy_write_struct (&c->png, c->info ? &c->info : NULL);
    }
    if (c->f)
        fclose (c->f);
    free (c);
}

/* Sets up transformations for `kind`; returns bytes per pixel or -1. */
static int
set_transforms (png_ctx *c, ofr_png_kind kind, char *err, size_t errlen)
{
    int depth = png_get_bit_depth (c->png, c->info);
    int type = png_get_color_type (c->png, c->info);
    if (kind == OFR_PNG_LABEL8) {
        if ((type != PNG_COLOR_TYPE_GRAY && type != PNG_COLOR_TYPE_PALETTE) || depth > 8)
            return ofr_errf (err, errlen, "%s: PNG colour type %d with bit depth %d is not "
                             "a label map (expected 8-bit grayscale or palette indices)",
                             c->path, type, depth);
        if (depth < 8)
            png_set_packing (c->png);   /* one byte per pixel, values unscaled */
        return 1;
    }
    if (depth == 16)
        return ofr_errf (err, errlen, "%s: 16-bit PNG images are not supported", c->path);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb (c->png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        if (depth < 8)
            png_set_expand_gray_1_2_4_to_8 (c->png);
        png_set_gray_to_rgb (c->png);
    }
    if (png_get_valid (c->png, c->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha (c->png);
    if (type & PNG_COLOR_MASK_ALPHA || png_get_valid (c->png, c->info, PNG_INFO_tRNS))
        png_set_strip_alpha (c->png);
    return 3;
}

static int
decode (png_ctx *c, ofr_png_kind kind, uint8_t *out, size_t cap, int *w, int *h,
        char *err, size_t errlen)
{
    png_init_io (c->png, c->f);
    png_read_info (c->png, c->info);
    png_uint_32 pw = png_get_image_width (c->png, c->info);
    png_uint_32 ph = png_get_image_height (c->png, c->info);
    int bpp = set_transforms (c, kind, err, errlen);
    if (bpp < 0)
        return -1;
    int passes = png_set_interlace_handling (c->png);
    png_read_update_info (c->png, c->info);
    size_t stride = (size_t) pw * (size_t) bpp;
    if (png_get_rowbytes (c->png, c->info) != stride)
        return ofr_errf (err, errlen, "%s: unexpected row size after conversion", c->path);
    if (pw == 0 || ph == 0 || ph > cap / stride)
        return ofr_errf (err, errlen, "%s: %ux%u image does not fit the %zu-byte buffer",
                         c->path, (unsigned) pw, (unsigned) ph, cap);
    for (int p = 0; p < passes; p++)
        for (png_uint_32 y = 0; y < ph; y++)
            png_read_row (c->png, out + (size_t) y * stride, NULL);
    png_read_end (c->png, NULL);
    *w = (int) pw;
    *h = (int) ph;
    return 0;
}

int
ofr_png_read (const char *path, ofr_png_kind kind, uint8_t *out, size_t cap, int *w,
              int *h, char *err, size_t errlen)
{
    png_ctx *c = ctx_new (path);
    unsigned char sig[8];
    if (!c)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    if (!(c->f = fopen (path, "rb"))) {
        int e = errno;
        ctx_close (c, 1);
        return ofr_errf (err, errlen, "%s: %s", path, strerror (e));
    }
    if (fread (sig, 1, 8, c->f) != 8 || png_sig_cmp (sig, 0, 8) != 0) {
        ctx_close (c, 1);
        return ofr_errf (err, errlen, "%s: not a PNG file", path);
    }
    c->png = png_create_read_struct (PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (c->png)
        c->info = png_create_info_struct (c->png);
    if (!c->png || !c->info) {
        ctx_close (c, 1);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    png_set_sig_bytes (c->png, 8);
    if (setjmp (png_jmpbuf (c->png))) {
        ofr_errf (err, errlen, "%s: corrupt PNG: %s", path, c->msg);
        ctx_close (c, 1);
        return -1;
    }
    int rc = decode (c, kind, out, cap, w, h, err, errlen);
    ctx_close (c, 1);
    return rc;
}

int
ofr_png_write (const char *path, const uint8_t *pixels, int w, int h, int channels,
               char *err, size_t errlen)
{
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3))
        return ofr_errf (err, errlen, "%s: cannot write a %dx%d PNG with %d channels",
                         path, w, h, channels);
    png_ctx *c = ctx_new (path);
    if (!c)
        return ofr_errf (err, errlen, "%s: out of memory", path);
    if (!(c->f = fopen (path, "wb"))) {
        int e = errno;
        ctx_close (c, 0);
        return ofr_errf (err, errlen, "%s: %s", path, strerror (e));
    }
    c->png = png_create_write_struct (PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (c->png)
        c->info = png_create_info_struct (c->png);
    if (!c->png || !c->info) {
        ctx_close (c, 0);
        return ofr_errf (err, errlen, "%s: out of memory", path);
    }
    if (setjmp (png_jmpbuf (c->png))) {
        ofr_errf (err, errlen, "%s: cannot write PNG: %s", path, c->msg);
        ctx_close (c, 0);
        return -1;
    }
    png_init_io (c->png, c->f);
    png_set_IHDR (c->png, c->info, (png_uint_32) w, (png_uint_32) h, 8,
                  channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                  PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info (c->png, c->info);
    for (int y = 0; y < h; y++)
        png_write_row (c->png, pixels + (size_t) y * (size_t) w * (size_t) channels);
    png_write_end (c->png, NULL);
    int bad = fflush (c->f) != 0 || ferror (c->f);
    ctx_close (c, 0);
    return bad ? ofr_errf (err, errlen, "%s: write error", path) : 0;
}
