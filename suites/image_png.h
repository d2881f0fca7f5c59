/*  image_png.h -- decode PNG files (libpng) into caller buffers, for image
    data sets: colour images as 8-bit RGB, label maps as one raw byte per
    pixel.

    Label maps are read without any colour conversion: 8-bit (or 1/2/4-bit)
    grayscale gives the stored values, a palette image gives its indices.
    Anything else (RGB, alpha, 16-bit) is not a label map and is an error
    naming the file, so that a colour-coded annotation is never silently
    turned into wrong classes. */
#ifndef OFR_IMAGE_PNG_H
#define OFR_IMAGE_PNG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    OFR_PNG_RGB8,      /* 3 bytes per pixel, R G B; gray/palette expanded, alpha dropped */
    OFR_PNG_LABEL8     /* 1 byte per pixel, raw gray value or palette index */
} ofr_png_kind;

/* Decode `path` into out (cap bytes, row-major, no padding) and set *w, *h.
   Returns 0, or -1 naming the file: unreadable, corrupt, unsupported
   colour type / bit depth for `kind`, or larger than cap. */
int ofr_png_read (const char *path, ofr_png_kind kind, uint8_t *out, size_t cap,
                  int *w, int *h, char *err, size_t errlen);

/* Write an 8-bit gray (channels 1) or RGB (channels 3) PNG; for tests and
   for saving predicted label maps. Returns 0 or -1 naming the file. */
int ofr_png_write (const char *path, const uint8_t *pixels, int w, int h, int channels,
                   char *err, size_t errlen);

#endif
