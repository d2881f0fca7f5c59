/*  test_conv.c -- the CNN operators of workers/engine/conv.h against naive
    loops (in double) on random data: convolutions with stride, padding,
    dilation (including taps that miss small maps entirely), groups,
    depthwise, pointwise and asymmetric kernels; transposed convolutions;
    batch-norm folding; PReLU; average pooling; concat; argmax. */
#include "common/ofr_common.h"
#include "workers/engine/conv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static ofr_rng s_rng;

static float *
random_floats (size_t n)
{
    float *p = malloc (n ? n * sizeof *p : 1);
    if (!p) {
        fprintf (stderr, "out of memory\n");
        exit (1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float) ofr_rng_normal (&s_rng);
    return p;
}

/* Naive NCHW convolution (N = 1) in double; PyTorch semantics. */
static void
naive_conv (const ofr_conv2d_desc *d, const float *x, int h, int w, const float *wt,
            const float *bias, int oh, int ow, double *y)
{
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups;
    for (int o = 0; o < d->c_out; o++) {
        int g = o / cog;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double s = bias ? bias[o] : 0.0;
                for (int i = 0; i < cig; i++)
                    for (int ky = 0; ky < d->kh; ky++)
                        for (int kx = 0; kx < d->kw; kx++) {
                            int iy = oy * d->stride - d->pad + ky * d->dil;
                            int ix = ox * d->stride - d->pad + kx * d->dil;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            s += (double) wt[((o * cig + i) * d->kh + ky) * d->kw + kx]
                                 * x[((g * cig + i) * h + iy) * w + ix];
                        }
                y[(o * oh + oy) * ow + ox] = s;
            }
    }
}

/* Naive transposed convolution: every input pixel scatters its kernel. */
static void
naive_convt (const ofr_conv2d_desc *d, const float *x, int h, int w, const float *wt,
             const float *bias, int oh, int ow, double *y)
{
    int cig = d->c_in / d->groups, cog = d->c_out / d->groups;
    for (int o = 0; o < d->c_out; o++)
        for (int p = 0; p < oh * ow; p++)
            y[o * oh * ow + p] = bias ? bias[o] : 0.0;
    for (int i = 0; i < d->c_in; i++) {
        int g = i / cig;
        for (int j = 0; j < cog; j++)
            for (int iy = 0; iy < h; iy++)
                for (int ix = 0; ix < w; ix++)
                    for (int ky = 0; ky < d->kh; ky++)
                        for (int kx = 0; kx < d->kw; kx++) {
                            int oy = iy * d->stride - d->pad + ky * d->dil;
                            int ox = ix * d->stride - d->pad + kx * d->dil;
                            if (oy < 0 || oy >= oh || ox < 0 || ox >= ow)
                                continue;
                            y[((g * cog + j) * oh + oy) * ow + ox]
                                += (double) wt[((i * cog + j) * d->kh + ky) * d->kw + kx]
                                   * x[(i * h + iy) * w + ix];
                        }
    }
}

static double
max_err (const float *y, const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs (y[i] - ref[i]) / (1.0 + fabs (ref[i]));
        if (e > m || isnan (e))
            m = e;
    }
    return m;
}

/* One case: the C conv (plain, then with a bias and a folded affine) vs
   the naive loop. */
static void
check_conv (const char *what, ofr_conv2d_desc d, int h, int w, int expect_oh, int expect_ow)
{
    char err[OFR_ERRLEN];
    size_t wlen = (size_t) d.c_out * (size_t) (d.c_in / d.groups) * (size_t) (d.kh * d.kw);
    float *x = random_floats ((size_t) d.c_in * (size_t) h * (size_t) w);
    float *wt = random_floats (wlen), *bias = random_floats ((size_t) d.c_out);
    float *scale = random_floats ((size_t) d.c_out), *shift = random_floats ((size_t) d.c_out);
    ofr_conv2d *c = NULL;
    int rc = ofr_conv2d_new (&d, wt, &c, err, sizeof err);
    CHECK (rc == 0, "%s: %s", what, err);
    if (rc != 0)
        goto done;
    int oh, ow;
    ofr_conv2d_out_size (c, h, w, &oh, &ow);
    CHECK (oh == expect_oh && ow == expect_ow, "%s: out %dx%d, expected %dx%d", what, oh, ow,
           expect_oh, expect_ow);
    size_t n = (size_t) d.c_out * (size_t) oh * (size_t) ow;
    /* Guard floats after y and scratch catch writes past the sizes given. */
    size_t ns = ofr_conv2d_scratch (c, h, w);
    float *y = random_floats (n + 16), *scratch = random_floats (ns + 16);
    double *ref = malloc (n * sizeof *ref);
    if (!ref)
        exit (1);
    float guard_y = y[n], guard_s = scratch[ns];
    (d.transposed ? naive_convt : naive_conv) (&d, x, h, w, wt, NULL, oh, ow, ref);
    ofr_conv2d_forward (c, x, h, w, y, scratch);
    CHECK (max_err (y, ref, n) < 1e-5, "%s: max rel error %g", what, max_err (y, ref, n));
    CHECK (y[n] == guard_y && scratch[ns] == guard_s, "%s: wrote past its buffers", what);
    /* Bias, then fold y*scale + shift: same as the naive result mapped. */
    ofr_conv2d_set_bias (c, bias);
    ofr_conv2d_fold_affine (c, scale, shift);
    (d.transposed ? naive_convt : naive_conv) (&d, x, h, w, wt, bias, oh, ow, ref);
    size_t ohw = (size_t) oh * (size_t) ow;
    for (size_t i = 0; i < n; i++)
        ref[i] = ref[i] * scale[i / ohw] + shift[i / ohw];
    ofr_conv2d_forward (c, x, h, w, y, scratch);
    CHECK (max_err (y, ref, n) < 1e-5, "%s (bias + folded affine): max rel error %g", what,
           max_err (y, ref, n));
    uint64_t macs = ofr_conv2d_macs (c, h, w);
    uint64_t want = (uint64_t) d.c_out * (uint64_t) (d.c_in / d.groups) * (uint64_t) (d.kh * d.kw)
                    * (uint64_t) (d.transposed ? h * w : oh * ow);
    CHECK (macs == want, "%s: %llu MACs, expected %llu", what, (unsigned long long) macs,
           (unsigned long long) want);
    free (y);
    free (scratch);
    free (ref);
done:
    ofr_conv2d_destroy (&c);
    CHECK (c == NULL, "destroy did not clear the pointer");
    free (x);
    free (wt);
    free (bias);
    free (scale);
    free (shift);
}

static ofr_conv2d_desc
desc (int c_in, int c_out, int kh, int kw, int stride, int pad, int dil, int groups)
{
    return (ofr_conv2d_desc) { c_in, c_out, kh, kw, stride, pad, dil, groups, 0, 0 };
}

static ofr_conv2d_desc
tdesc (int c_in, int c_out, int k, int stride, int pad, int dil, int groups, int out_pad)
{
    return (ofr_conv2d_desc) { c_in, c_out, k, k, stride, pad, dil, groups, 1, out_pad };
}

static void
test_convolutions (void)
{
    check_conv ("3x3", desc (5, 7, 3, 3, 1, 1, 1, 1), 9, 11, 9, 11);
    check_conv ("3x3 stride 2", desc (4, 6, 3, 3, 2, 1, 1, 1), 10, 13, 5, 7);
    check_conv ("3x3 stride 3 no pad", desc (3, 4, 3, 3, 3, 0, 1, 1), 11, 10, 3, 3);
    check_conv ("dilation 4", desc (6, 5, 3, 3, 1, 4, 4, 1), 12, 15, 12, 15);
    check_conv ("dilation 16 on a 4x6 map", desc (3, 4, 3, 3, 1, 16, 16, 1), 4, 6, 4, 6);
    check_conv ("dilation 2 stride 2", desc (3, 4, 3, 3, 2, 2, 2, 1), 9, 8, 5, 4);
    check_conv ("groups 2", desc (6, 4, 3, 3, 1, 1, 1, 2), 7, 8, 7, 8);
    check_conv ("groups 3 dilation 2", desc (6, 9, 3, 3, 1, 2, 2, 3), 7, 9, 7, 9);
    check_conv ("depthwise", desc (8, 8, 3, 3, 1, 1, 1, 8), 9, 10, 9, 10);
    check_conv ("depthwise stride 2 dilation 2", desc (5, 5, 3, 3, 2, 2, 2, 5), 11, 9, 6, 5);
    check_conv ("depthwise multiplier 2", desc (4, 8, 3, 3, 1, 1, 1, 4), 6, 7, 6, 7);
    check_conv ("pointwise", desc (13, 7, 1, 1, 1, 0, 1, 1), 5, 9, 5, 9);
    check_conv ("pointwise groups 2", desc (8, 6, 1, 1, 1, 0, 1, 2), 5, 4, 5, 4);
    check_conv ("1x1 stride 2", desc (3, 5, 1, 1, 2, 0, 1, 1), 7, 8, 4, 4);
    check_conv ("3x5 kernel", desc (3, 4, 3, 5, 1, 1, 1, 1), 6, 9, 6, 7);
    check_conv ("ESPNet level1 3->16 /2", desc (3, 16, 3, 3, 2, 1, 1, 1), 24, 30, 12, 15);
    check_conv ("transposed 2x2 /2 (ESPNet decoder)", tdesc (12, 12, 2, 2, 0, 1, 1, 0),
                5, 7, 10, 14);
    check_conv ("transposed 3x3 /2 pad 1 out_pad 1", tdesc (4, 6, 3, 2, 1, 1, 1, 1),
                5, 6, 10, 12);
    check_conv ("transposed groups 2", tdesc (6, 4, 3, 2, 1, 1, 2, 0), 4, 5, 7, 9);
    check_conv ("transposed dilation 2", tdesc (3, 5, 3, 1, 1, 2, 1, 0), 6, 5, 8, 7);
}

static void
test_invalid (void)
{
    char err[OFR_ERRLEN] = "";
    ofr_conv2d *c = NULL;
    float w[64] = { 0 };
    ofr_conv2d_desc bad = desc (5, 4, 3, 3, 1, 1, 1, 2);
    CHECK (ofr_conv2d_new (&bad, w, &c, err, sizeof err) == -1 && !c, "5 channels in 2 groups");
    CHECK (strstr (err, "groups") != NULL, "message: %s", err);
    bad = desc (2, 2, 3, 3, 0, 1, 1, 1);
    CHECK (ofr_conv2d_new (&bad, w, &c, err, sizeof err) == -1, "stride 0 accepted");
    bad = tdesc (2, 2, 2, 2, 0, 1, 1, 2);
    CHECK (ofr_conv2d_new (&bad, w, &c, err, sizeof err) == -1, "output padding >= stride");
    ofr_conv2d_desc ok = desc (2, 2, 3, 3, 1, 0, 1, 1);
    CHECK (ofr_conv2d_new (&ok, w, &c, err, sizeof err) == 0, "%s", err);
    int oh, ow;
    ofr_conv2d_out_size (c, 2, 5, &oh, &ow);
    CHECK (oh == -1 && ow == -1, "2x5 input to an unpadded 3x3 gave %dx%d", oh, ow);
    ofr_conv2d_destroy (&c);
    ofr_conv2d_destroy (&c);   /* NULL-safe */
}

static void
test_pool_and_elementwise (void)
{
    /* Average pool 3x3 / 2 pad 1, padding counted (PyTorch default). */
    int c = 2, h = 7, w = 6, oh, ow;
    float *x = random_floats ((size_t) (c * h * w));
    ofr_cnn_avgpool_size (h, w, 3, 2, 1, &oh, &ow);
    CHECK (oh == 4 && ow == 3, "pool size %dx%d", oh, ow);
    float y[2 * 4 * 3];
    ofr_cnn_avgpool (x, c, h, w, 3, 2, 1, y);
    double worst = 0;
    for (int ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int iy = oy * 2 + dy, ix = ox * 2 + dx;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                            s += x[(ch * h + iy) * w + ix];
                    }
                double e = fabs (y[(ch * oh + oy) * ow + ox] - s / 9.0);
                worst = e > worst ? e : worst;
            }
    CHECK (worst < 1e-6, "avgpool error %g", worst);
    free (x);

    /* Affine + PReLU per channel. */
    float v[6] = { -2, 1, -1, 3, 0.5f, -4 };
    const float scale[2] = { 2, 1 }, shift[2] = { 1, -1 }, slope[2] = { 0.25f, 0.5f };
    ofr_cnn_affine_prelu (v, 2, 3, scale, shift, slope);
    const float want[6] = { -0.75f, 3, -0.25f, 2, -0.25f, -2.5f };
    for (int i = 0; i < 6; i++)
        CHECK (v[i] == want[i], "affine_prelu[%d] = %g, expected %g", i, v[i], want[i]);
    float bn_s[1], bn_t[1];
    const float g = 2, b = 1, m = 3, var = 3.999f;
    ofr_cnn_bn_affine (&g, &b, &m, &var, 1e-3f, 1, bn_s, bn_t);
    CHECK (fabsf (bn_s[0] - 1.0f) < 1e-6f && fabsf (bn_t[0] + 2.0f) < 1e-6f,
           "bn affine %g %g", bn_s[0], bn_t[0]);

    /* Concat of 2 + 1 channels of 2 pixels; add. */
    const float a[4] = { 1, 2, 3, 4 }, bb[2] = { 5, 6 };
    const float *parts[2] = { a, bb };
    const int ch[2] = { 2, 1 };
    float cat[6];
    ofr_cnn_concat (cat, parts, ch, 2, 2);
    for (int i = 0; i < 6; i++)
        CHECK (cat[i] == (float) (i + 1), "concat[%d] = %g", i, cat[i]);
    ofr_cnn_add (cat, a, 4);
    CHECK (cat[0] == 2 && cat[3] == 8 && cat[4] == 5, "add: %g %g %g", cat[0], cat[3], cat[4]);

    /* Argmax over 3 channels of 4 pixels; ties go to the first channel. */
    const float s[12] = { 1, 5, 0, 2,   3, 5, 0, 1,   2, 4, 0, 2 };
    uint8_t lab[4];
    ofr_cnn_argmax (s, 3, 4, lab);
    CHECK (lab[0] == 1 && lab[1] == 0 && lab[2] == 0 && lab[3] == 0,
           "argmax %d %d %d %d", lab[0], lab[1], lab[2], lab[3]);
}

int
main (void)
{
    ofr_rng_seed (&s_rng, 12345);
    test_convolutions ();
    test_invalid ();
    test_pool_and_elementwise ();
    if (s_failures) {
        fprintf (stderr, "test_conv: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_conv: ok\n");
    return 0;
}
