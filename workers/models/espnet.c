/*  espnet.c -- see espnet.h. Facts about the architecture come from the
    authors' train/Model.py (sacmehta/ESPNet): all batch norms use
    eps = 1e-3, a CBR is conv (padding (k-1)/2, no bias) + BN + PReLU, the
    ESP block reduces to n = nOut/5 channels (n1 = nOut - 4n for the
    dilation-1 branch), runs 3x3 convolutions with dilations 1, 2, 4, 8, 16
    and merges them hierarchically, [d1, d2, d2+d4, d2+d4+d8, ...+d16]. */
#include "espnet.h"
#include "jsonlite.h"
#include "safetensors.h"
#include "../engine/conv.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-3f
#define NAME_MAX_LEN 96

/* Batch norm (as an affine map) + PReLU over c channels. */
typedef struct {
    int    c;
    float *scale, *shift, *slope;   /* one allocation, scale owns it */
} br_layer;

/* DownSamplerB (c1 is a 3x3 stride-2 conv) or the ESP block (1x1 c1). */
typedef struct {
    ofr_conv2d *c1;
    ofr_conv2d *d[5];     /* dilations 1, 2, 4, 8, 16 */
    int         n, n1, n_out;
    bool        residual;
    br_layer    br;
} esp_layer;

struct ofr_espnet {
    int         p, q, classes;
    int         n_blocks;
    char      **names;
    ofr_conv2d *level1;         /* BN folded */
    float      *level1_slope;
    br_layer    b1, b2, b3;
    esp_layer   level2_0, level3_0;
    esp_layer  *level2, *level3;
    ofr_conv2d *enc_classifier; /* decoder's br BN folded */
    ofr_conv2d *up_l3;
    ofr_conv2d *level3_c;
    br_layer    comb_br;
    esp_layer   comb_esp;
    ofr_conv2d *up_l2;          /* BN of up_l2's BR folded */
    float      *up_l2_slope;
    ofr_conv2d *dec_conv;       /* BN folded */
    float      *dec_conv_slope;
    ofr_conv2d *classifier;
};

/* ---------------------------------------------------------------- loading */

typedef struct {
    const ofr_safetensors *st;
    bool                  *used;     /* per tensor of st: read by the model */
    char                  *err;
    size_t                 errlen;
} loader;

/* ofr_safetensors_expect that also records the tensor as used. */
static int
expect (loader *L, const char *name, int ndim, const int64_t *shape, const float **data)
{
    if (ofr_safetensors_expect (L->st, name, ndim, shape, data, L->err, L->errlen) != 0)
        return -1;
    const ofr_st_tensor *t = ofr_safetensors_find (L->st, name);
    L->used[t - ofr_safetensors_at (L->st, 0)] = true;
    return 0;
}

/* A tensor the architecture does not read means the file is not this
   architecture (or not this p/q): refuse rather than run half a model. */
static int
check_all_used (loader *L)
{
    size_t n = ofr_safetensors_count (L->st);
    for (size_t i = 0; i < n; i++)
        if (!L->used[i])
            return ofr_errf (L->err, L->errlen, "%s: tensor '%s' is not part of the "
                             "configured ESPNet (wrong p/q/classes in config.json?)",
                             ofr_safetensors_path (L->st), ofr_safetensors_at (L->st, i)->name);
    return 0;
}

static int
load_conv (loader *L, const char *name, ofr_conv2d_desc d, ofr_conv2d **out)
{
    int64_t shape[4] = { d.c_out, d.c_in / d.groups, d.kh, d.kw };
    if (d.transposed) {
        shape[0] = d.c_in;
        shape[1] = d.c_out / d.groups;
    }
    const float *w;
    if (expect (L, name, 4, shape, &w) != 0)
        return -1;
    if (ofr_conv2d_new (&d, w, out, L->err, L->errlen) != 0) {
        char tmp[OFR_ERRLEN];
        snprintf (tmp, sizeof tmp, "%s", L->err ? L->err : "");
        return ofr_errf (L->err, L->errlen, "%s: %s: %s", ofr_safetensors_path (L->st),
                         name, tmp);
    }
    return 0;
}

static ofr_conv2d_desc
conv_desc (int c_in, int c_out, int k, int stride, int dil)
{
    ofr_conv2d_desc d = { c_in, c_out, k, k, stride, (k - 1) / 2 * dil, dil, 1, 0, 0 };
    return d;
}

static ofr_conv2d_desc
up_desc (int c)
{
    ofr_conv2d_desc d = { c, c, 2, 2, 2, 0, 1, 1, 1, 0 };
    return d;
}

static int
load_vec (loader *L, const char *prefix, const char *suffix, int c, const float **out)
{
    char name[NAME_MAX_LEN * 2];
    snprintf (name, sizeof name, "%s%s", prefix, suffix);
    int64_t shape[1] = { c };
    return expect (L, name, 1, shape, out);
}

/* BatchNorm2d `prefix`{weight,bias,running_mean,running_var} as an affine. */
static int
load_bn (loader *L, const char *prefix, int c, float *scale, float *shift)
{
    const float *g, *b, *m, *v;
    if (load_vec (L, prefix, "weight", c, &g) != 0 || load_vec (L, prefix, "bias", c, &b) != 0
        || load_vec (L, prefix, "running_mean", c, &m) != 0
        || load_vec (L, prefix, "running_var", c, &v) != 0)
        return -1;
    ofr_cnn_bn_affine (g, b, m, v, BN_EPS, c, scale, shift);
    return 0;
}

static int
load_prelu (loader *L, const char *name, int c, float **out)
{
    const float *a;
    if (load_vec (L, name, "", c, &a) != 0)
        return -1;
    if (!(*out = ofr_calloc ((size_t) c, sizeof **out)))
        return ofr_errf (L->err, L->errlen, "%s: out of memory", name);
    memcpy (*out, a, (size_t) c * sizeof **out);
    return 0;
}

/* A BR module: `bn_prefix` is its BatchNorm2d, `act` its PReLU weight. */
static int
load_br (loader *L, const char *bn_prefix, const char *act, int c, br_layer *br)
{
    br->c = c;
    if (!(br->scale = ofr_calloc ((size_t) c * 3, sizeof (float))))
        return ofr_errf (L->err, L->errlen, "%s: out of memory", bn_prefix);
    br->shift = br->scale + c;
    br->slope = br->scale + 2 * c;
    const float *a;
    if (load_bn (L, bn_prefix, c, br->scale, br->shift) != 0
        || load_vec (L, act, "", c, &a) != 0)
        return -1;
    memcpy (br->slope, a, (size_t) c * sizeof (float));
    return 0;
}

static void
br_free (br_layer *br)
{
    free (br->scale);
    memset (br, 0, sizeof *br);
}

static int
load_esp (loader *L, const char *prefix, int n_in, int n_out, bool down, bool residual,
          esp_layer *e)
{
    static const int dil[5] = { 1, 2, 4, 8, 16 };
    char name[NAME_MAX_LEN * 2], act[NAME_MAX_LEN * 2];
    e->n = n_out / 5;
    e->n1 = n_out - 4 * e->n;
    e->n_out = n_out;
    e->residual = residual;
    snprintf (name, sizeof name, "%sc1.conv.weight", prefix);
    if (load_conv (L, name, down ? conv_desc (n_in, e->n, 3, 2, 1)
                                 : conv_desc (n_in, e->n, 1, 1, 1), &e->c1) != 0)
        return -1;
    for (int i = 0; i < 5; i++) {
        snprintf (name, sizeof name, "%sd%d.conv.weight", prefix, dil[i]);
        if (load_conv (L, name, conv_desc (e->n, i ? e->n : e->n1, 3, 1, dil[i]), &e->d[i]) != 0)
            return -1;
    }
    /* DownSamplerB owns bn/act; the ESP block wraps them in a BR named bn. */
    snprintf (name, sizeof name, "%s%s", prefix, down ? "bn." : "bn.bn.");
    snprintf (act, sizeof act, "%s%s", prefix, down ? "act.weight" : "bn.act.weight");
    return load_br (L, name, act, n_out, &e->br);
}

static void
esp_free (esp_layer *e)
{
    ofr_conv2d_destroy (&e->c1);
    for (int i = 0; i < 5; i++)
        ofr_conv2d_destroy (&e->d[i]);
    br_free (&e->br);
}

/* A CBR / conv + BatchNorm pair: the BN folded into the convolution. */
static int
fold_bn_into (loader *L, ofr_conv2d *conv, const char *bn_prefix, int c)
{
    float *tmp = ofr_calloc ((size_t) c * 2, sizeof *tmp);
    if (!tmp)
        return ofr_errf (L->err, L->errlen, "%s: out of memory", bn_prefix);
    int rc = load_bn (L, bn_prefix, c, tmp, tmp + c);
    if (rc == 0)
        ofr_conv2d_fold_affine (conv, tmp, tmp + c);
    free (tmp);
    return rc;
}

static int
load_encoder (loader *L, ofr_espnet *m)
{
    char a[NAME_MAX_LEN], b[NAME_MAX_LEN];
    if (load_conv (L, "encoder.level1.conv.weight", conv_desc (3, 16, 3, 2, 1), &m->level1) != 0
        || fold_bn_into (L, m->level1, "encoder.level1.bn.", 16) != 0
        || load_prelu (L, "encoder.level1.act.weight", 16, &m->level1_slope) != 0
        || load_br (L, "encoder.b1.bn.", "encoder.b1.act.weight", 19, &m->b1) != 0
        || load_esp (L, "encoder.level2_0.", 19, 64, true, false, &m->level2_0) != 0)
        return -1;
    for (int i = 0; i < m->p; i++) {
        snprintf (a, sizeof a, "encoder.level2.%d.", i);
        if (load_esp (L, a, 64, 64, false, true, &m->level2[i]) != 0)
            return -1;
    }
    if (load_br (L, "encoder.b2.bn.", "encoder.b2.act.weight", 131, &m->b2) != 0
        || load_esp (L, "encoder.level3_0.", 131, 128, true, false, &m->level3_0) != 0)
        return -1;
    for (int i = 0; i < m->q; i++) {
        snprintf (b, sizeof b, "encoder.level3.%d.", i);
        if (load_esp (L, b, 128, 128, false, true, &m->level3[i]) != 0)
            return -1;
    }
    return load_br (L, "encoder.b3.bn.", "encoder.b3.act.weight", 256, &m->b3);
}

static int
load_decoder (loader *L, ofr_espnet *m)
{
    int k = m->classes;
    return load_conv (L, "encoder.classifier.conv.weight", conv_desc (256, k, 1, 1, 1),
                      &m->enc_classifier) != 0
           || fold_bn_into (L, m->enc_classifier, "br.", k) != 0
           || load_conv (L, "up_l3.0.weight", up_desc (k), &m->up_l3) != 0
           || load_conv (L, "level3_C.conv.weight", conv_desc (131, k, 1, 1, 1),
                         &m->level3_c) != 0
           || load_br (L, "combine_l2_l3.0.bn.", "combine_l2_l3.0.act.weight", 2 * k,
                       &m->comb_br) != 0
           || load_esp (L, "combine_l2_l3.1.", 2 * k, k, false, false, &m->comb_esp) != 0
           || load_conv (L, "up_l2.0.weight", up_desc (k), &m->up_l2) != 0
           || fold_bn_into (L, m->up_l2, "up_l2.1.bn.", k) != 0
           || load_prelu (L, "up_l2.1.act.weight", k, &m->up_l2_slope) != 0
           || load_conv (L, "conv.conv.weight", conv_desc (19 + k, k, 3, 1, 1), &m->dec_conv) != 0
           || fold_bn_into (L, m->dec_conv, "conv.bn.", k) != 0
           || load_prelu (L, "conv.act.weight", k, &m->dec_conv_slope) != 0
           || load_conv (L, "classifier.weight", up_desc (k), &m->classifier) != 0
           ? -1 : 0;
}

static int
config_int (const ofr_jsonlite *cfg, const char *path, const char *key, int lo, int hi,
            int *out, char *err, size_t errlen)
{
    const ofr_jsonlite *v = ofr_jsonlite_get (cfg, key);
    if (!v || v->type != OFR_JSONLITE_NUMBER || !v->is_int || v->integer < lo || v->integer > hi)
        return ofr_errf (err, errlen, "%s: \"%s\" must be an integer in %d..%d", path, key, lo, hi);
    *out = (int) v->integer;
    return 0;
}

/* "dir/leaf" in a new string, or NULL. */
static int
read_config (const char *dir, ofr_espnet *m, char *err, size_t errlen)
{
    char *path = ofr_path_join (dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    ofr_jsonlite *cfg = NULL;
    if (!path)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    int rc = ofr_read_file (path, &text, &len, err, errlen);
    if (rc == 0)
        rc = ofr_jsonlite_parse (text, len, path, &cfg, err, errlen);
    free (text);
    if (rc != 0) {
        free (path);
        return -1;
    }
    const ofr_jsonlite *arch = ofr_jsonlite_get (cfg, "architecture");
    const ofr_jsonlite *dci = ofr_jsonlite_get (cfg, "decoder_conv_in");
    if (cfg->type != OFR_JSONLITE_OBJECT || !arch || arch->type != OFR_JSONLITE_STRING
        || strcmp (arch->string, "espnet") != 0)
        rc = ofr_errf (err, errlen, "%s: \"architecture\" must be \"espnet\"", path);
    else if (config_int (cfg, path, "p", 0, 64, &m->p, err, errlen) != 0
             || config_int (cfg, path, "q", 0, 64, &m->q, err, errlen) != 0
             || config_int (cfg, path, "classes", 1, 256, &m->classes, err, errlen) != 0)
        rc = -1;
    else if (dci && !(dci->is_int && dci->integer == 19 + m->classes))
        rc = ofr_errf (err, errlen, "%s: \"decoder_conv_in\" must be 19 + classes (the "
                       "training-time ESPNet decoder)", path);
    ofr_jsonlite_destroy (&cfg);
    free (path);
    return rc;
}

static int
make_names (ofr_espnet *m, char *err, size_t errlen)
{
    m->n_blocks = m->p + m->q + 6;
    if (!(m->names = ofr_calloc ((size_t) m->n_blocks, sizeof *m->names)))
        return ofr_errf (err, errlen, "espnet: out of memory");
    for (int b = 0; b < m->n_blocks; b++) {
        char name[32];
        if (b == 0) snprintf (name, sizeof name, "level1");
        else if (b == 1) snprintf (name, sizeof name, "level2_0");
        else if (b < m->p + 2) snprintf (name, sizeof name, "level2.%d", b - 2);
        else if (b == m->p + 2) snprintf (name, sizeof name, "level3_0");
        else if (b < m->p + m->q + 3) snprintf (name, sizeof name, "level3.%d", b - m->p - 3);
        else snprintf (name, sizeof name, "decoder.l%d", 3 - (b - m->p - m->q - 3));
        if (!(m->names[b] = ofr_strdup (name)))
            return ofr_errf (err, errlen, "espnet: out of memory");
    }
    return 0;
}

int
ofr_espnet_load (const char *dir, ofr_espnet **out, char *err, size_t errlen)
{
    ofr_espnet *m = ofr_calloc (1, sizeof *m);
    if (!m)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    ofr_safetensors *st = NULL;
    char *path = ofr_path_join (dir, "model.safetensors");
    loader L = { NULL, NULL, err, errlen };
    int rc = -1;
    if (!path) {
        ofr_errf (err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (read_config (dir, m, err, errlen) != 0 || make_names (m, err, errlen) != 0
        || ofr_safetensors_open (path, &st, err, errlen) != 0)
        goto done;
    L.st = st;
    L.used = ofr_calloc (ofr_safetensors_count (st), sizeof *L.used);
    m->level2 = ofr_calloc ((size_t) m->p, sizeof *m->level2);
    m->level3 = ofr_calloc ((size_t) m->q, sizeof *m->level3);
    if (!m->level2 || !m->level3 || !L.used) {
        ofr_errf (err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (load_encoder (&L, m) != 0 || load_decoder (&L, m) != 0 || check_all_used (&L) != 0)
        goto done;
    rc = 0;
done:
    free (path);
    free (L.used);
    ofr_safetensors_destroy (&st);
    if (rc != 0)
        ofr_espnet_destroy (&m);
    *out = m;
    return rc;
}

void
ofr_espnet_destroy (ofr_espnet **selfp)
{
    if (!selfp || !*selfp)
        return;
    ofr_espnet *m = *selfp;
    ofr_conv2d_destroy (&m->level1);
    free (m->level1_slope);
    br_free (&m->b1);
    br_free (&m->b2);
    br_free (&m->b3);
    esp_free (&m->level2_0);
    esp_free (&m->level3_0);
    for (int i = 0; m->level2 && i < m->p; i++)
        esp_free (&m->level2[i]);
    for (int i = 0; m->level3 && i < m->q; i++)
        esp_free (&m->level3[i]);
    free (m->level2);
    free (m->level3);
    ofr_conv2d_destroy (&m->enc_classifier);
    ofr_conv2d_destroy (&m->up_l3);
    ofr_conv2d_destroy (&m->level3_c);
    br_free (&m->comb_br);
    esp_free (&m->comb_esp);
    ofr_conv2d_destroy (&m->up_l2);
    free (m->up_l2_slope);
    ofr_conv2d_destroy (&m->dec_conv);
    free (m->dec_conv_slope);
    ofr_conv2d_destroy (&m->classifier);
    for (int b = 0; m->names && b < m->n_blocks; b++)
        free (m->names[b]);
    free (m->names);
    free (m);
    *selfp = NULL;
}

int ofr_espnet_classes (const ofr_espnet *self) { return self->classes; }
int ofr_espnet_p (const ofr_espnet *self) { return self->p; }
int ofr_espnet_q (const ofr_espnet *self) { return self->q; }
int ofr_espnet_n_blocks (const ofr_espnet *self) { return self->n_blocks; }

const char *
ofr_espnet_block_name (const ofr_espnet *self, int b)
{
    return b >= 0 && b < self->n_blocks ? self->names[b] : "?";
}

/* ------------------------------------------------------------- structure */

typedef enum { B_LEVEL1, B_LEVEL2_0, B_LEVEL2, B_LEVEL3_0, B_LEVEL3, B_DEC3, B_DEC2, B_DEC1 } kind;

/* Kind of block b and, for ESP blocks, its index within its level. */
static kind
block_kind (const ofr_espnet *m, int b, int *index)
{
    *index = 0;
    if (b == 0) return B_LEVEL1;
    if (b == 1) return B_LEVEL2_0;
    if (b < m->p + 2) { *index = b - 2; return B_LEVEL2; }
    if (b == m->p + 2) return B_LEVEL3_0;
    if (b < m->p + m->q + 3) { *index = b - m->p - 3; return B_LEVEL3; }
    return (kind) (B_DEC3 + (b - m->p - m->q - 3));
}

bool
ofr_espnet_block_skippable (const ofr_espnet *self, int b)
{
    int i;
    if (b < 0 || b >= self->n_blocks)
        return false;
    kind k = block_kind (self, b, &i);
    return k == B_LEVEL2 || k == B_LEVEL3;
}

static uint64_t
esp_macs (const esp_layer *e, int h, int w)
{
    int oh, ow;
    ofr_conv2d_out_size (e->c1, h, w, &oh, &ow);
    uint64_t s = ofr_conv2d_macs (e->c1, h, w);
    for (int i = 0; i < 5; i++)
        s += ofr_conv2d_macs (e->d[i], oh, ow);
    return s;
}

double
ofr_espnet_block_flops (const ofr_espnet *m, int b, int h, int w)
{
    int i;
    if (b < 0 || b >= m->n_blocks)
        return 0.0;
    int h2 = h / 2, w2 = w / 2, h4 = h / 4, w4 = w / 4, h8 = h / 8, w8 = w / 8;
    uint64_t macs = 0;
    switch (block_kind (m, b, &i)) {
    case B_LEVEL1:   macs = ofr_conv2d_macs (m->level1, h, w); break;
    case B_LEVEL2_0: macs = esp_macs (&m->level2_0, h2, w2); break;
    case B_LEVEL2:   macs = esp_macs (&m->level2[i], h4, w4); break;
    case B_LEVEL3_0: macs = esp_macs (&m->level3_0, h4, w4); break;
    case B_LEVEL3:   macs = esp_macs (&m->level3[i], h8, w8); break;
    case B_DEC3:
        macs = ofr_conv2d_macs (m->enc_classifier, h8, w8) + ofr_conv2d_macs (m->up_l3, h8, w8);
        break;
    case B_DEC2:
        macs = ofr_conv2d_macs (m->level3_c, h4, w4) + esp_macs (&m->comb_esp, h4, w4)
               + ofr_conv2d_macs (m->up_l2, h4, w4);
        break;
    case B_DEC1:
        macs = ofr_conv2d_macs (m->dec_conv, h2, w2) + ofr_conv2d_macs (m->classifier, h2, w2);
        break;
    }
    return 2.0 * (double) macs;
}

double
ofr_espnet_block_skip_flops (const ofr_espnet *m, int b, int h, int w)
{
    int i;
    if (!ofr_espnet_block_skippable (m, b))
        return 0.0;
    bool l2 = block_kind (m, b, &i) == B_LEVEL2;
    const esp_layer *e = l2 ? &m->level2[i] : &m->level3[i];
    double px = l2 ? (double) (h / 4) * (double) (w / 4) : (double) (h / 8) * (double) (w / 8);
    /* BR: the batch norm's affine (2 per element, a separate pass here:
       nothing to fold it into) + PReLU (1 per element). */
    return 3.0 * (double) e->n_out * px;
}

/* ------------------------------------------------------------------- runs */

struct ofr_espnet_run {
    const ofr_espnet *m;
    int       h, w;
    int       next;          /* next block to run                           */
    float    *input;         /* [3][h][w]                                   */
    float    *inp2;          /* input pyramid at 1/4: [3][h/4][w/4]          */
    float    *cat1;          /* b2 over [level2, level2_0, inp2]: [131] @1/4 */
    float    *cat2;          /* b3 over [level3_0, level3]: [256] @1/8        */
    float    *dec_cls;       /* classifier + BN: [classes] @1/8              */
    float    *dec_cat2;      /* [level3_C, up_l3]: [2 classes] @1/4          */
    float    *dec_esp;       /* combine ESP: [classes] @1/4                  */
    float    *dec_cat1;      /* [up_l2, level1]: [19 + classes] @1/2         */
    float    *dec_conv;      /* CBR: [classes] @1/2                           */
    float    *esp_tmp;       /* reduced features inside an ESP block          */
    float    *scratch;       /* im2col / col2im columns                       */
    uint8_t  *coarse;        /* labels of a coarse exit: [h/2][w/2]            */
    float   **buf;           /* per block output buffer (owned)               */
    ofr_fmap *out;           /* per block output view                         */
};

static size_t
fm_size (int c, int h, int w)
{
    return (size_t) c * (size_t) h * (size_t) w;
}

/* Largest scratch any convolution needs at its input size. */
static size_t
run_scratch (const ofr_espnet *m, int h, int w)
{
    size_t s = ofr_conv2d_scratch (m->level1, h, w);
    const esp_layer *esps[4] = { &m->level2_0, &m->level3_0, &m->comb_esp, NULL };
    int eh[3] = { h / 2, h / 4, h / 4 }, ew[3] = { w / 2, w / 4, w / 4 };
    for (int k = 0; k < 3; k++) {
        const esp_layer *e = esps[k];
        size_t t = ofr_conv2d_scratch (e->c1, eh[k], ew[k]);
        s = t > s ? t : s;
        int oh, ow;
        ofr_conv2d_out_size (e->c1, eh[k], ew[k], &oh, &ow);
        for (int i = 0; i < 5; i++) {
            t = ofr_conv2d_scratch (e->d[i], oh, ow);
            s = t > s ? t : s;
        }
    }
    /* Residual ESP blocks share shapes with level2.0 / level3.0 below. */
    const esp_layer *res[2] = { m->p ? &m->level2[0] : NULL, m->q ? &m->level3[0] : NULL };
    int rh[2] = { h / 4, h / 8 }, rw[2] = { w / 4, w / 8 };
    for (int k = 0; k < 2; k++)
        for (int i = 0; res[k] && i < 5; i++) {
            size_t t = ofr_conv2d_scratch (res[k]->d[i], rh[k], rw[k]);
            s = t > s ? t : s;
        }
    size_t t[4] = { ofr_conv2d_scratch (m->up_l3, h / 8, w / 8),
                    ofr_conv2d_scratch (m->up_l2, h / 4, w / 4),
                    ofr_conv2d_scratch (m->dec_conv, h / 2, w / 2),
                    ofr_conv2d_scratch (m->classifier, h / 2, w / 2) };
    for (int k = 0; k < 4; k++)
        s = t[k] > s ? t[k] : s;
    return s;
}

static void
block_shape (const ofr_espnet *m, int b, int h, int w, ofr_fmap *f)
{
    int i;
    switch (block_kind (m, b, &i)) {
    case B_LEVEL1:   *f = (ofr_fmap) { NULL, 19, h / 2, w / 2 }; break;
    case B_LEVEL2_0:
    case B_LEVEL2:   *f = (ofr_fmap) { NULL, 64, h / 4, w / 4 }; break;
    case B_LEVEL3_0:
    case B_LEVEL3:   *f = (ofr_fmap) { NULL, 128, h / 8, w / 8 }; break;
    case B_DEC3:     *f = (ofr_fmap) { NULL, m->classes, h / 4, w / 4 }; break;
    case B_DEC2:     *f = (ofr_fmap) { NULL, m->classes, h / 2, w / 2 }; break;
    case B_DEC1:     *f = (ofr_fmap) { NULL, m->classes, h, w }; break;
    }
}

static float *
alloc_fm (size_t n, bool *ok)
{
    float *p = ofr_calloc (n, sizeof (float));
    if (!p)
        *ok = false;
    return p;
}

int
ofr_espnet_run_new (const ofr_espnet *m, int h, int w, ofr_espnet_run **out,
                    char *err, size_t errlen)
{
    if (h < 8 || w < 8 || h % 8 || w % 8 || h > 16384 || w > 16384)
        return ofr_errf (err, errlen, "espnet: input %dx%d (HxW): both must be multiples of 8 "
                         "(the decoder upsamples 1/8 maps three times)", h, w);
    ofr_espnet_run *r = ofr_calloc (1, sizeof *r);
    if (!r)
        return ofr_errf (err, errlen, "espnet: out of memory");
    r->m = m;
    r->h = h;
    r->w = w;
    int k = m->classes;
    bool ok = true;
    r->input = alloc_fm (fm_size (3, h, w), &ok);
    r->inp2 = alloc_fm (fm_size (3, h / 4, w / 4), &ok);
    r->cat1 = alloc_fm (fm_size (131, h / 4, w / 4), &ok);
    r->cat2 = alloc_fm (fm_size (256, h / 8, w / 8), &ok);
    r->dec_cls = alloc_fm (fm_size (k, h / 8, w / 8), &ok);
    r->dec_cat2 = alloc_fm (fm_size (2 * k, h / 4, w / 4), &ok);
    r->dec_esp = alloc_fm (fm_size (k, h / 4, w / 4), &ok);
    r->dec_cat1 = alloc_fm (fm_size (19 + k, h / 2, w / 2), &ok);
    r->dec_conv = alloc_fm (fm_size (k, h / 2, w / 2), &ok);
    /* The widest reduced map: 12 channels at 1/4 (level2) or 25 at 1/8. */
    r->esp_tmp = alloc_fm (fm_size (25, h / 4, w / 4), &ok);
    r->scratch = alloc_fm (run_scratch (m, h, w), &ok);
    r->coarse = ofr_calloc (fm_size (1, h / 2, w / 2), 1);
    ok = ok && r->coarse;
    r->buf = ofr_calloc ((size_t) m->n_blocks, sizeof *r->buf);
    r->out = ofr_calloc ((size_t) m->n_blocks, sizeof *r->out);
    ok = ok && r->buf && r->out;
    for (int b = 0; ok && b < m->n_blocks; b++) {
        block_shape (m, b, h, w, &r->out[b]);
        r->buf[b] = alloc_fm (fm_size (r->out[b].c, r->out[b].h, r->out[b].w), &ok);
    }
    if (!ok) {
        ofr_espnet_run_destroy (&r);
        return ofr_errf (err, errlen, "espnet: out of memory for %dx%d activations", h, w);
    }
    *out = r;
    return 0;
}

void
ofr_espnet_run_destroy (ofr_espnet_run **selfp)
{
    if (!selfp || !*selfp)
        return;
    ofr_espnet_run *r = *selfp;
    float *bufs[] = { r->input, r->inp2, r->cat1, r->cat2, r->dec_cls, r->dec_cat2,
                      r->dec_esp, r->dec_cat1, r->dec_conv, r->esp_tmp, r->scratch };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free (bufs[i]);
    for (int b = 0; r->buf && b < r->m->n_blocks; b++)
        free (r->buf[b]);
    free (r->buf);
    free (r->out);
    free (r->coarse);
    free (r);
    *selfp = NULL;
}

float *
ofr_espnet_run_input (ofr_espnet_run *self)
{
    return self->input;
}

static void
br_apply (const br_layer *br, float *x, size_t hw)
{
    ofr_cnn_affine_prelu (x, br->c, hw, br->scale, br->shift, br->slope);
}

/* DownSampler / ESP block: x [c_in][h][w] -> y [n_out][h'][w']. */
static void
esp_forward (const esp_layer *e, const float *x, int h, int w, float *y, float *tmp,
             float *scratch)
{
    int oh, ow;
    ofr_conv2d_out_size (e->c1, h, w, &oh, &ow);
    size_t ohw = (size_t) oh * (size_t) ow, nb = (size_t) e->n * ohw;
    ofr_conv2d_forward (e->c1, x, h, w, tmp, scratch);
    ofr_conv2d_forward (e->d[0], tmp, oh, ow, y, scratch);
    float *slot = y + (size_t) e->n1 * ohw;
    for (int i = 1; i < 5; i++, slot += nb) {
        ofr_conv2d_forward (e->d[i], tmp, oh, ow, slot, scratch);
        /* hierarchical feature fusion: each slot adds the previous sum */
        if (i >= 2)
            ofr_cnn_add (slot, slot - nb, nb);
    }
    if (e->residual)
        ofr_cnn_add (y, x, (size_t) e->n_out * ohw);
    br_apply (&e->br, y, ohw);
}

static void
run_level1 (ofr_espnet_run *r)
{
    const ofr_espnet *m = r->m;
    int h2 = r->h / 2, w2 = r->w / 2;
    size_t hw2 = (size_t) h2 * (size_t) w2;
    float *y = r->buf[0];
    ofr_conv2d_forward (m->level1, r->input, r->h, r->w, y, r->scratch);
    ofr_cnn_affine_prelu (y, 16, hw2, NULL, NULL, m->level1_slope);
    /* The input pyramid (3x3 / 2 average pools) lands next to the features. */
    float *inp1 = y + 16 * hw2;
    ofr_cnn_avgpool (r->input, 3, r->h, r->w, 3, 2, 1, inp1);
    ofr_cnn_avgpool (inp1, 3, h2, w2, 3, 2, 1, r->inp2);
    br_apply (&m->b1, y, hw2);
}

static void
run_level3_0 (ofr_espnet_run *r, const float *level2_out, const float *level2_0_out, float *y)
{
    const ofr_espnet *m = r->m;
    int h4 = r->h / 4, w4 = r->w / 4;
    size_t hw4 = (size_t) h4 * (size_t) w4;
    const float *parts[3] = { level2_out, level2_0_out, r->inp2 };
    const int ch[3] = { 64, 64, 3 };
    ofr_cnn_concat (r->cat1, parts, ch, 3, hw4);
    br_apply (&m->b2, r->cat1, hw4);
    esp_forward (&m->level3_0, r->cat1, h4, w4, y, r->esp_tmp, r->scratch);
}

static void
run_dec3 (ofr_espnet_run *r, const float *level3_0_out, const float *level3_out, float *y)
{
    const ofr_espnet *m = r->m;
    int h8 = r->h / 8, w8 = r->w / 8;
    size_t hw8 = (size_t) h8 * (size_t) w8;
    const float *parts[2] = { level3_0_out, level3_out };
    const int ch[2] = { 128, 128 };
    ofr_cnn_concat (r->cat2, parts, ch, 2, hw8);
    br_apply (&m->b3, r->cat2, hw8);
    ofr_conv2d_forward (m->enc_classifier, r->cat2, h8, w8, r->dec_cls, r->scratch);
    ofr_conv2d_forward (m->up_l3, r->dec_cls, h8, w8, y, r->scratch);
}

static void
run_dec2 (ofr_espnet_run *r, const float *dec3_out, float *y)
{
    const ofr_espnet *m = r->m;
    int k = m->classes, h4 = r->h / 4, w4 = r->w / 4;
    size_t hw4 = (size_t) h4 * (size_t) w4;
    ofr_conv2d_forward (m->level3_c, r->cat1, h4, w4, r->dec_cat2, r->scratch);
    memcpy (r->dec_cat2 + (size_t) k * hw4, dec3_out, (size_t) k * hw4 * sizeof (float));
    br_apply (&m->comb_br, r->dec_cat2, hw4);
    esp_forward (&m->comb_esp, r->dec_cat2, h4, w4, r->dec_esp, r->esp_tmp, r->scratch);
    ofr_conv2d_forward (m->up_l2, r->dec_esp, h4, w4, y, r->scratch);
    ofr_cnn_affine_prelu (y, k, hw4 * 4, NULL, NULL, m->up_l2_slope);
}

static void
run_dec1 (ofr_espnet_run *r, const float *dec2_out, const float *level1_out, float *y)
{
    const ofr_espnet *m = r->m;
    int k = m->classes, h2 = r->h / 2, w2 = r->w / 2;
    size_t hw2 = (size_t) h2 * (size_t) w2;
    const float *parts[2] = { dec2_out, level1_out };
    const int ch[2] = { k, 19 };
    ofr_cnn_concat (r->dec_cat1, parts, ch, 2, hw2);
    ofr_conv2d_forward (m->dec_conv, r->dec_cat1, h2, w2, r->dec_conv, r->scratch);
    ofr_cnn_affine_prelu (r->dec_conv, k, hw2, NULL, NULL, m->dec_conv_slope);
    ofr_conv2d_forward (m->classifier, r->dec_conv, h2, w2, y, r->scratch);
}

static void
compute_block (ofr_espnet_run *r, int b)
{
    const ofr_espnet *m = r->m;
    int i;
    float *y = r->buf[b];
    const float *prev = b > 0 ? r->out[b - 1].data : NULL;
    switch (block_kind (m, b, &i)) {
    case B_LEVEL1: run_level1 (r); break;
    case B_LEVEL2_0:
        esp_forward (&m->level2_0, prev, r->h / 2, r->w / 2, y, r->esp_tmp, r->scratch);
        break;
    case B_LEVEL2:
        esp_forward (&m->level2[i], prev, r->h / 4, r->w / 4, y, r->esp_tmp, r->scratch);
        break;
    case B_LEVEL3_0: run_level3_0 (r, prev, r->out[1].data, y); break;
    case B_LEVEL3:
        esp_forward (&m->level3[i], prev, r->h / 8, r->w / 8, y, r->esp_tmp, r->scratch);
        break;
    case B_DEC3: run_dec3 (r, r->out[m->p + 2].data, prev, y); break;
    case B_DEC2: run_dec2 (r, prev, y); break;
    case B_DEC1: run_dec1 (r, prev, r->out[0].data, y); break;
    }
    r->out[b].data = y;
}

/* A skipped residual ESP block: out = BR(x), the block without its
   branch ESP(x). The residual block is BR(x + ESP(x)) with BR (batch norm
   + PReLU) after the add, so passing x through unchanged would also drop
   that BR and feed the next block un-normalised features. */
static void
skip_block (ofr_espnet_run *r, int b)
{
    const ofr_espnet *m = r->m;
    int i;
    const esp_layer *e = block_kind (m, b, &i) == B_LEVEL2 ? &m->level2[i] : &m->level3[i];
    ofr_fmap x = r->out[b - 1];
    size_t hw = (size_t) x.h * (size_t) x.w;
    float *y = r->buf[b];
    memcpy (y, x.data, (size_t) e->n_out * hw * sizeof (float));
    br_apply (&e->br, y, hw);
    r->out[b].data = y;
}

int
ofr_espnet_run_block (ofr_espnet_run *self, int b, bool skip, char *err, size_t errlen)
{
    const ofr_espnet *m = self->m;
    if (b < 0 || b >= m->n_blocks || (b != 0 && b != self->next))
        return ofr_errf (err, errlen, "espnet: block %d run out of order (next is %d of %d)",
                         b, self->next, m->n_blocks);
    if (skip && !ofr_espnet_block_skippable (m, b))
        return ofr_errf (err, errlen, "espnet: block %d (%s) cannot be skipped", b,
                         m->names[b]);
    if (b == 0)
        for (int i = 0; i < m->n_blocks; i++)
            self->out[i].data = NULL;
    if (skip)
        skip_block (self, b);
    else
        compute_block (self, b);
    self->next = b + 1;
    return 0;
}

int
ofr_espnet_forward (ofr_espnet_run *self, char *err, size_t errlen)
{
    for (int b = 0; b < self->m->n_blocks; b++)
        if (ofr_espnet_run_block (self, b, false, err, errlen) != 0)
            return -1;
    return 0;
}

ofr_fmap
ofr_espnet_block_output (const ofr_espnet_run *self, int b)
{
    if (b < 0 || b >= self->m->n_blocks)
        return (ofr_fmap) { NULL, 0, 0, 0 };
    return self->out[b];
}

int
ofr_espnet_labels (const ofr_espnet_run *self, int b, uint8_t *labels, char *err,
                   size_t errlen)
{
    const ofr_espnet *m = self->m;
    int i;
    if (b < 0 || b >= m->n_blocks || block_kind (m, b, &i) < B_DEC3)
        return ofr_errf (err, errlen, "espnet: block %d is not a decoder block", b);
    ofr_fmap f = self->out[b];
    if (!f.data || b >= self->next)
        return ofr_errf (err, errlen, "espnet: block %d (%s) has not run", b, m->names[b]);
    size_t hw = (size_t) f.h * (size_t) f.w;
    if (f.h == self->h && f.w == self->w) {
        ofr_cnn_argmax (f.data, f.c, hw, labels);
        return 0;
    }
    /* Coarse exit: argmax at its own resolution, then repeat pixels. */
    int fy = self->h / f.h, fx = self->w / f.w;
    ofr_cnn_argmax (f.data, f.c, hw, self->coarse);
    for (int y = 0; y < self->h; y++)
        for (int x = 0; x < self->w; x++)
            labels[(size_t) y * (size_t) self->w + (size_t) x]
                = self->coarse[(size_t) (y / fy) * (size_t) f.w + (size_t) (x / fx)];
    return 0;
}
