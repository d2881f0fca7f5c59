/*  conv.c -- see conv.h.

    Convolution: per group, the input patches are unfolded into a matrix
    cols[cig*kh*kw][oh*ow] (im2col) and y_g = W_g * cols is one sgemm.
    1x1 stride-1 unpadded convolutions use x itself as cols. The columns
    are built for a band of output rows at a time, sized to stay in cache:
    with the few output channels of ESPNet (12..28), sgemm is bound by
    memory traffic, and a whole-image cols matrix (up to 48 MB) would
    go through DRAM twice. Depthwise
    convolutions (one input and one output channel per group) would make
    sgemm calls with M = 1, so they run as a direct loop instead.

    Transposed convolution: per group and band of input rows,
    cols[cog*kh*kw][rows*w] = W_g^T * x_g (one sgemm), then col2im scatters
    and sums the columns into y. */
#include "conv.h"
#include "../../common/ofr_common.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Target size of one band of columns (floats): well inside L2; but at
   least MIN_BAND_COLS output pixels per band, below which sgemm calls get
   too thin to run well. */
#define BAND_FLOATS   (64 * 1024)
#define MIN_BAND_COLS 4096

struct ofr_conv2d {
    ofr_conv2d_desc d;
    float          *w;
    float          *b;
    size_t          w_len;
};

static int
check_desc (const ofr_conv2d_desc *d, char *err, size_t errlen)
{
    if (d->c_in <= 0 || d->c_out <= 0 || d->kh <= 0 || d->kw <= 0 || d->stride <= 0
        || d->dil <= 0 || d->pad < 0 || d->groups <= 0 || d->out_pad < 0)
        return ofr_errf (err, errlen, "conv2d: invalid shape (c_in %d, c_out %d, k %dx%d, "
                         "stride %d, pad %d, dilation %d, groups %d)", d->c_in, d->c_out,
                         d->kh, d->kw, d->stride, d->pad, d->dil, d->groups);
    if (d->c_in % d->groups || d->c_out % d->groups)
        return ofr_errf (err, errlen, "conv2d: channels %d -> %d not divisible by %d groups",
                         d->c_in, d->c_out, d->groups);
    if (d->out_pad && (!d->transposed || (d->out_pad >= d->stride && d->out_pad >= d->dil)))
        return ofr_errf (err, errlen, "conv2d: output padding %d needs a transposed conv "
                         "with stride or dilation larger than it", d->out_pad);
    return 0;
}

int
ofr_conv2d_new (const ofr_conv2d_desc *d, const float *w, ofr_conv2d **out,
                char *err, size_t errlen)
{
    if (check_desc (d, err, errlen) != 0)
        return -1;
    ofr_conv2d *self = ofr_calloc (1, sizeof *self);
    if (!self)
        return ofr_errf (err, errlen, "conv2d: out of memory");
    self->d = *d;
    /* Both layouts hold c_in * c_out / groups * kh * kw weights. */
    self->w_len = (size_t) d->c_out * (size_t) (d->c_in / d->groups) * (size_t) d->kh
                  * (size_t) d->kw;
    self->w = ofr_calloc (self->w_len, sizeof *self->w);
    self->b = ofr_calloc ((size_t) d->c_out, sizeof *self->b);
    if (!self->w || !self->b) {
        ofr_conv2d_destroy (&self);
        return ofr_errf (err, errlen, "conv2d: out of memory");
    }
    memcpy (self->w, w, self->w_len * sizeof *self->w);
    *out = self;
    return 0;
}

void
ofr_conv2d_destroy (ofr_conv2d **selfp)
{
    if (!selfp || !*selfp)
        return;
    free ((*selfp)->w);
    free ((*selfp)->b);
    free (*selfp);
    *selfp = NULL;
}

const ofr_conv2d_desc *
ofr_conv2d_shape (const ofr_conv2d *self)
{
    return &self->d;
}

void
ofr_conv2d_set_bias (ofr_conv2d *self, const float *bias)
{
    memcpy (self->b, bias, (size_t) self->d.c_out * sizeof *self->b);
}

void
ofr_conv2d_fold_affine (ofr_conv2d *self, const float *scale, const float *shift)
{
    const ofr_conv2d_desc *d = &self->d;
    size_t k = (size_t) d->kh * (size_t) d->kw;
    if (!d->transposed) {
        size_t per_out = (size_t) (d->c_in / d->groups) * k;
        for (int o = 0; o < d->c_out; o++)
            for (size_t i = 0; i < per_out; i++)
                self->w[(size_t) o * per_out + i] *= scale[o];
    }
    else {
        /* [c_in][cog][kh][kw]: output channel g*cog + j of input channel i. */
        int cog = d->c_out / d->groups, cig = d->c_in / d->groups;
        for (int i = 0; i < d->c_in; i++)
            for (int j = 0; j < cog; j++) {
                int o = (i / cig) * cog + j;
                float *wp = self->w + ((size_t) i * (size_t) cog + (size_t) j) * k;
                for (size_t t = 0; t < k; t++)
                    wp[t] *= scale[o];
            }
    }
    for (int o = 0; o < d->c_out; o++)
        self->b[o] = self->b[o] * scale[o] + shift[o];
}

void
ofr_conv2d_out_size (const ofr_conv2d *self, int h, int w, int *oh, int *ow)
{
    const ofr_conv2d_desc *d = &self->d;
    if (d->transposed) {
        *oh = (h - 1) * d->stride - 2 * d->pad + d->dil * (d->kh - 1) + d->out_pad + 1;
        *ow = (w - 1) * d->stride - 2 * d->pad + d->dil * (d->kw - 1) + d->out_pad + 1;
    }
    else {
        int eh = h + 2 * d->pad - d->dil * (d->kh - 1) - 1;
        int ew = w + 2 * d->pad - d->dil * (d->kw - 1) - 1;
        *oh = eh < 0 ? -1 : eh / d->stride + 1;
        *ow = ew < 0 ? -1 : ew / d->stride + 1;
    }
    if (h <= 0 || w <= 0 || *oh <= 0 || *ow <= 0)
        *oh = *ow = -1;
}

static int
is_pointwise (const ofr_conv2d_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0 && !d->transposed;
}

static int
is_depthwise (const ofr_conv2d_desc *d)
{
    return !d->transposed && d->groups == d->c_in && d->groups == d->c_out;
}

/* Rows per band of a map with n_rows rows of `width` pixels, each pixel
   taking `per_pixel` floats of columns. */
static int
band_rows (size_t per_pixel, int width, int n_rows)
{
    size_t per_row = per_pixel * (size_t) width;
    size_t r = per_row ? BAND_FLOATS / per_row : (size_t) n_rows;
    size_t min_r = (MIN_BAND_COLS + (size_t) width - 1) / (size_t) width;
    if (r < min_r)
        r = min_r;
    return r > (size_t) n_rows ? n_rows : (int) r;
}

size_t
ofr_conv2d_scratch (const ofr_conv2d *self, int h, int w)
{
    const ofr_conv2d_desc *d = &self->d;
    size_t k = (size_t) d->kh * (size_t) d->kw;
    if (h <= 0 || w <= 0)
        return 0;
    if (d->transposed) {
        size_t per_pixel = (size_t) (d->c_out / d->groups) * k;
        return per_pixel * (size_t) w * (size_t) band_rows (per_pixel, w, h);
    }
    if (is_pointwise (d) || is_depthwise (d))
        return 0;
    int oh, ow;
    ofr_conv2d_out_size (self, h, w, &oh, &ow);
    if (oh <= 0)
        return 0;
    size_t per_pixel = (size_t) (d->c_in / d->groups) * k;
    return per_pixel * (size_t) ow * (size_t) band_rows (per_pixel, ow, oh);
}

uint64_t
ofr_conv2d_macs (const ofr_conv2d *self, int h, int w)
{
    const ofr_conv2d_desc *d = &self->d;
    uint64_t per_pixel = (uint64_t) d->c_out * (uint64_t) (d->c_in / d->groups)
                         * (uint64_t) d->kh * (uint64_t) d->kw;
    if (d->transposed)   /* every input pixel meets every kernel tap once */
        return per_pixel * (uint64_t) h * (uint64_t) w;
    int oh, ow;
    ofr_conv2d_out_size (self, h, w, &oh, &ow);
    return oh <= 0 ? 0 : per_pixel * (uint64_t) oh * (uint64_t) ow;
}

/* Output positions o in [0, n_out) whose input o*stride + off lies in
   [0, n_in): the half-open range [*lo, *hi). */
static void
valid_range (int n_out, int n_in, int stride, int off, int *lo, int *hi)
{
    /* o*stride + off >= 0  <=>  o >= ceil(-off / stride) */
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    /* o*stride + off <= n_in - 1 */
    int last = n_in - 1 - off;
    int h = last < 0 ? 0 : last / stride + 1;
    /* Clamp to [0, n_out] with lo <= hi (a tap can miss the input entirely
       when the dilation exceeds the map, e.g. d = 16 on a 4x6 map). */
    *lo = l > n_out ? n_out : l;
    *hi = h > n_out ? n_out : h;
    if (*hi < *lo)
        *hi = *lo;
}

/* Unfold channels x[0..cig) for output rows [oy0, oy0 + nr) into
   cols[cig*kh*kw][nr*ow]. */
static void
im2col (const ofr_conv2d_desc *d, const float *x, int cig, int h, int w, int oh, int ow,
        int oy0, int nr, float *cols)
{
    size_t n = (size_t) nr * (size_t) ow;
    for (int c = 0; c < cig; c++)
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                float *row = cols + (((size_t) c * (size_t) d->kh + (size_t) ky)
                                     * (size_t) d->kw + (size_t) kx) * n;
                const float *xc = x + (size_t) c * (size_t) h * (size_t) w;
                int ylo, yhi, xlo, xhi, off = kx * d->dil - d->pad;
                valid_range (oh, h, d->stride, ky * d->dil - d->pad, &ylo, &yhi);
                valid_range (ow, w, d->stride, off, &xlo, &xhi);
                for (int oy = oy0; oy < oy0 + nr; oy++) {
                    float *r = row + (size_t) (oy - oy0) * (size_t) ow;
                    if (oy < ylo || oy >= yhi) {
                        memset (r, 0, (size_t) ow * sizeof *r);
                        continue;
                    }
                    const float *xr = xc + (size_t) (oy * d->stride + ky * d->dil - d->pad)
                                      * (size_t) w;
                    memset (r, 0, (size_t) xlo * sizeof *r);
                    if (d->stride == 1)
                        memcpy (r + xlo, xr + xlo + off, (size_t) (xhi - xlo) * sizeof *r);
                    else
                        for (int ox = xlo; ox < xhi; ox++)
                            r[ox] = xr[ox * d->stride + off];
                    memset (r + xhi, 0, (size_t) (ow - xhi) * sizeof *r);
                }
            }
}

static void
fill_bias (const ofr_conv2d *self, float *y, size_t hw)
{
    for (int o = 0; o < self->d.c_out; o++) {
        float *yo = y + (size_t) o * hw;
        float b = self->b[o];
        for (size_t i = 0; i < hw; i++)
            yo[i] = b;
    }
}

static void
depthwise (const ofr_conv2d *self, const float *x, int h, int w, int oh, int ow, float *y)
{
    const ofr_conv2d_desc *d = &self->d;
    size_t ohw = (size_t) oh * (size_t) ow;
    fill_bias (self, y, ohw);
    for (int c = 0; c < d->c_in; c++) {
        const float *xc = x + (size_t) c * (size_t) h * (size_t) w;
        float *yc = y + (size_t) c * ohw;
        const float *wc = self->w + (size_t) c * (size_t) d->kh * (size_t) d->kw;
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                float wv = wc[ky * d->kw + kx];
                int ylo, yhi, xlo, xhi, offy = ky * d->dil - d->pad, offx = kx * d->dil - d->pad;
                valid_range (oh, h, d->stride, offy, &ylo, &yhi);
                valid_range (ow, w, d->stride, offx, &xlo, &xhi);
                for (int oy = ylo; oy < yhi; oy++) {
                    const float *xr = xc + (size_t) (oy * d->stride + offy) * (size_t) w;
                    float *yr = yc + (size_t) oy * (size_t) ow;
                    for (int ox = xlo; ox < xhi; ox++)
                        yr[ox] += wv * xr[ox * d->stride + offx];
                }
            }
    }
}

/* Scatter-add cols[cog*kh*kw][nr*w], the columns of input rows
   [iy0, iy0 + nr) of one group, into y[cog][oh][ow]. */
static void
col2im (const ofr_conv2d_desc *d, const float *cols, int cog, int h, int w, int oh, int ow,
        int iy0, int nr, float *y)
{
    size_t n = (size_t) nr * (size_t) w;
    for (int c = 0; c < cog; c++)
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                const float *row = cols + (((size_t) c * (size_t) d->kh + (size_t) ky)
                                           * (size_t) d->kw + (size_t) kx) * n;
                float *yc = y + (size_t) c * (size_t) oh * (size_t) ow;
                /* Input iy lands on oy = iy*stride + offy: the input range
                   whose outputs are inside y. */
                int offy = ky * d->dil - d->pad, offx = kx * d->dil - d->pad;
                int ylo, yhi, xlo, xhi;
                valid_range (h, oh, d->stride, offy, &ylo, &yhi);
                valid_range (w, ow, d->stride, offx, &xlo, &xhi);
                if (ylo < iy0)
                    ylo = iy0;
                if (yhi > iy0 + nr)
                    yhi = iy0 + nr;
                for (int iy = ylo; iy < yhi; iy++) {
                    float *yr = yc + (size_t) (iy * d->stride + offy) * (size_t) ow;
                    const float *r = row + (size_t) (iy - iy0) * (size_t) w;
                    for (int ix = xlo; ix < xhi; ix++)
                        yr[ix * d->stride + offx] += r[ix];
                }
            }
}

static void
forward_transposed (const ofr_conv2d *self, const float *x, int h, int w, int oh, int ow,
                    float *y, float *cols)
{
    const ofr_conv2d_desc *d = &self->d;
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups;
    int hw = h * w, kk = d->kh * d->kw;
    size_t ohw = (size_t) oh * (size_t) ow;
    int rows = band_rows ((size_t) cog * (size_t) kk, w, h);
    fill_bias (self, y, ohw);
    for (int g = 0; g < d->groups; g++) {
        const float *wg = self->w + (size_t) g * (size_t) cig * (size_t) cog * (size_t) kk;
        const float *xg = x + (size_t) g * (size_t) cig * (size_t) hw;
        for (int iy0 = 0; iy0 < h; iy0 += rows) {
            int nr = iy0 + rows <= h ? rows : h - iy0;
            /* W_g is [cig][cog*kk]; cols = W_g^T [cog*kk][cig] * x_g[:, band]. */
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, cog * kk, nr * w, cig, 1.0f,
                         wg, cog * kk, xg + (size_t) iy0 * (size_t) w, hw, 0.0f, cols, nr * w);
            col2im (d, cols, cog, h, w, oh, ow, iy0, nr, y + (size_t) g * (size_t) cog * ohw);
        }
    }
}

void
ofr_conv2d_forward (const ofr_conv2d *self, const float *x, int h, int w, float *y,
                    float *scratch)
{
    const ofr_conv2d_desc *d = &self->d;
    int oh, ow;
    ofr_conv2d_out_size (self, h, w, &oh, &ow);
    if (oh <= 0)
        return;
    if (d->transposed) {
        forward_transposed (self, x, h, w, oh, ow, y, scratch);
        return;
    }
    if (is_depthwise (d)) {
        depthwise (self, x, h, w, oh, ow, y);
        return;
    }
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups;
    int K = cig * d->kh * d->kw, N = oh * ow;
    size_t hw = (size_t) h * (size_t) w;
    fill_bias (self, y, (size_t) N);
    bool pointwise = is_pointwise (d);
    int rows = pointwise ? oh : band_rows ((size_t) K, ow, oh);
    for (int g = 0; g < d->groups; g++) {
        const float *xg = x + (size_t) g * (size_t) cig * hw;
        const float *wg = self->w + (size_t) g * (size_t) cog * (size_t) K;
        float *yg = y + (size_t) g * (size_t) cog * (size_t) N;
        for (int oy0 = 0; oy0 < oh; oy0 += rows) {
            int nr = oy0 + rows <= oh ? rows : oh - oy0, n = nr * ow;
            const float *cols = xg;
            if (!pointwise) {
                im2col (d, xg, cig, h, w, oh, ow, oy0, nr, scratch);
                cols = scratch;
            }
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, cog, n, K, 1.0f, wg, K,
                         cols, n, 1.0f, yg + (size_t) oy0 * (size_t) ow, N);
        }
    }
}

void
ofr_cnn_bn_affine (const float *gamma, const float *beta, const float *mean,
                   const float *var, float eps, int c, float *scale, float *shift)
{
    /* In double, so that folding adds no rounding beyond the final store. */
    for (int i = 0; i < c; i++) {
        double s = (double) gamma[i] / sqrt ((double) var[i] + (double) eps);
        scale[i] = (float) s;
        shift[i] = (float) ((double) beta[i] - (double) mean[i] * s);
    }
}

void
ofr_cnn_affine_prelu (float *x, int c, size_t hw, const float *scale, const float *shift,
                      const float *slope)
{
    /* One pass per channel. The PReLU is a multiplication by a selected
       factor (exact: v * 1 == v) so that the loop has no branch and
       vectorizes (this file is built with -O3 -fno-trapping-math): it runs
       over every activation of the network. */
    for (int ch = 0; ch < c; ch++) {
        float *xc = x + (size_t) ch * hw;
        const float s = scale ? scale[ch] : 1.0f, t = shift ? shift[ch] : 0.0f;
        const float a = slope ? slope[ch] : 1.0f;
        if (!scale && !shift && !slope)
            continue;
        for (size_t i = 0; i < hw; i++) {
            float v = xc[i] * s + t;
            xc[i] = v * (v < 0.0f ? a : 1.0f);
        }
    }
}

void
ofr_cnn_add (float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

void
ofr_cnn_concat (float *y, const float *const *parts, const int *channels, int n_parts,
                size_t hw)
{
    for (int p = 0; p < n_parts; p++) {
        size_t n = (size_t) channels[p] * hw;
        if (parts[p] != y)
            memmove (y, parts[p], n * sizeof *y);
        y += n;
    }
}

void
ofr_cnn_avgpool_size (int h, int w, int k, int stride, int pad, int *oh, int *ow)
{
    *oh = (h + 2 * pad - k) / stride + 1;
    *ow = (w + 2 * pad - k) / stride + 1;
}

void
ofr_cnn_avgpool (const float *x, int c, int h, int w, int k, int stride, int pad, float *y)
{
    int oh, ow;
    ofr_cnn_avgpool_size (h, w, k, stride, pad, &oh, &ow);
    float inv = 1.0f / (float) (k * k);
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t) ch * (size_t) h * (size_t) w;
        float *yc = y + (size_t) ch * (size_t) oh * (size_t) ow;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0 = oy * stride - pad, x0 = ox * stride - pad;
                float s = 0.0f;
                for (int yy = y0 < 0 ? 0 : y0; yy < y0 + k && yy < h; yy++)
                    for (int xx = x0 < 0 ? 0 : x0; xx < x0 + k && xx < w; xx++)
                        s += xc[(size_t) yy * (size_t) w + (size_t) xx];
                yc[(size_t) oy * (size_t) ow + (size_t) ox] = s * inv;
            }
    }
}

void
ofr_cnn_argmax (const float *x, int c, size_t hw, uint8_t *out)
{
    memset (out, 0, hw);
    for (size_t i = 0; i < hw; i++) {
        float best = x[i];
        for (int ch = 1; ch < c; ch++) {
            float v = x[(size_t) ch * hw + i];
            if (v > best) {
                best = v;
                out[i] = (uint8_t) ch;
            }
        }
    }
}
