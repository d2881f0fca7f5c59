/*  conv.h -- CNN operators on fp32 feature maps for the segmentation
    runtime: 2-d convolution (stride, padding, dilation, groups, depthwise)
    and transposed convolution through im2col/col2im + cblas_sgemm, batch
    norm folding, per-channel affine + PReLU, average pooling, concat and
    channel argmax.

    Layout: one image at a time, CHW (NCHW with N = 1 per call; a batch is
    a loop over images). Channel ranges of a CHW map are contiguous, so a
    concatenation can be built by writing each part at its channel offset.
    Nothing here allocates after ofr_conv2d_new: callers pass output and
    scratch buffers sized with the *_size / *_scratch functions. */
#ifndef OFR_CONV_H
#define OFR_CONV_H

#include <stddef.h>
#include <stdint.h>

/* Shape of a convolution. For a transposed convolution (PyTorch's
   ConvTranspose2d) the weight is [c_in][c_out/groups][kh][kw], otherwise
   [c_out][c_in/groups][kh][kw]. */
typedef struct {
    int c_in, c_out;
    int kh, kw;
    int stride, pad, dil;
    int groups;
    int transposed;            /* nonzero: ConvTranspose2d                    */
    int out_pad;               /* transposed only: PyTorch's output_padding   */
} ofr_conv2d_desc;

typedef struct ofr_conv2d ofr_conv2d;

/* A convolution with a copy of weights `w` (layout above) and a zero bias
   (PyTorch's bias=False). Returns 0, or -1 if the shape is invalid (channels
   not divisible by groups, non-positive sizes...) or memory runs out. */
int ofr_conv2d_new (const ofr_conv2d_desc *d, const float *w, ofr_conv2d **out,
                    char *err, size_t errlen);

/* Free and set *self to NULL. NULL-safe. */
void ofr_conv2d_destroy (ofr_conv2d **self);

/* The shape it was created with. */
const ofr_conv2d_desc *ofr_conv2d_shape (const ofr_conv2d *self);

/* Set the per-output-channel bias (c_out floats, copied). */
void ofr_conv2d_set_bias (ofr_conv2d *self, const float *bias);

/* Fold a following per-channel affine y*scale + shift (an inference-time
   batch norm, see ofr_cnn_bn_affine) into the weights and bias. */
void ofr_conv2d_fold_affine (ofr_conv2d *self, const float *scale, const float *shift);

/* Output size for an h x w input; -1 in *oh and *ow if the input is too small. */
void ofr_conv2d_out_size (const ofr_conv2d *self, int h, int w, int *oh, int *ow);

/* Floats of scratch the forward pass needs for an h x w input. */
size_t ofr_conv2d_scratch (const ofr_conv2d *self, int h, int w);

/* Multiply-accumulates of one forward pass on an h x w input (FLOPs = 2x). */
uint64_t ofr_conv2d_macs (const ofr_conv2d *self, int h, int w);

/* y[c_out][oh][ow] = conv(x[c_in][h][w]) + bias. `scratch` holds
   ofr_conv2d_scratch floats; y must not overlap x or scratch. */
void ofr_conv2d_forward (const ofr_conv2d *self, const float *x, int h, int w,
                         float *y, float *scratch);

/* Inference batch norm as an affine map: scale = gamma / sqrt(var + eps),
   shift = beta - mean * scale, for c channels. */
void ofr_cnn_bn_affine (const float *gamma, const float *beta, const float *mean,
                        const float *var, float eps, int c, float *scale, float *shift);

/* In place on x[c][hw]: x = x*scale[c] + shift[c] (skipped if scale and
   shift are NULL), then PReLU with per-channel slope (skipped if NULL). */
void ofr_cnn_affine_prelu (float *x, int c, size_t hw, const float *scale,
                           const float *shift, const float *slope);

/* y[i] += x[i] for n floats. */
void ofr_cnn_add (float *y, const float *x, size_t n);

/* Copy parts[i] (channels[i] x hw floats each) one after another into y. */
void ofr_cnn_concat (float *y, const float *const *parts, const int *channels,
                     int n_parts, size_t hw);

/* Output size of a k x k average pool with stride and padding. */
void ofr_cnn_avgpool_size (int h, int w, int k, int stride, int pad, int *oh, int *ow);

/* Average pool of x[c][h][w] into y[c][oh][ow]. Padding counts as zeros in
   the k*k divisor (PyTorch's AvgPool2d default, count_include_pad=True). */
void ofr_cnn_avgpool (const float *x, int c, int h, int w, int k, int stride,
                      int pad, float *y);

/* Per pixel, the index of the largest of c channels of x[c][hw] (first on
   ties, as torch.argmax). c <= 256. */
void ofr_cnn_argmax (const float *x, int c, size_t hw, uint8_t *out);

#endif
