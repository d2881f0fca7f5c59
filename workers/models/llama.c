/*  llama.c -- llama2.c checkpoint loader and cost model (see llama.h). */
#include "llama.h"
#include "../../common/ofr_common.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Newer llama2.c exports (version >= 1) start with this magic instead of
   the bare config; recognising it gives a useful message. */
#define LLAMA2C_MAGIC 0x616b3432

struct ofr_llama {
    char             *path;
    ofr_llama_config  c;
    float            *data;       /* every tensor, regrouped (see layout())  */
    ofr_llama_layer  *layers;     /* [n_layers] pointers into data           */
    const float      *embedding;  /* [vocab][dim]                            */
    const float      *final_norm; /* [dim]                                   */
    const float      *classifier; /* [vocab][dim]                            */
    float            *extra;      /* arch != LLAMA: biases and wpe           */
    const float      *final_norm_b; /* [dim]                                 */
    const float      *wpe;        /* GPT-2: [seq_len][dim]                   */
};

/* a * b into *out unless it exceeds limit (then -1). */
static int
mul_checked (uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

static int
sum_products (const uint64_t (*terms)[2], int n, uint64_t *total)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++) {
        uint64_t p;
        if (mul_checked (terms[i][0], terms[i][1], &p) || p > UINT64_MAX - t)
            return -1;
        t += p;
    }
    *total = t;
    return 0;
}

static int
check_header (const char *path, const int32_t h[7], ofr_llama_config *c,
              char *err, size_t errlen)
{
    static const char *names[7] = { "dim", "hidden_dim", "n_layers", "n_heads",
                                    "n_kv_heads", "vocab_size", "seq_len" };
    if (h[0] == LLAMA2C_MAGIC)
        return ofr_errf (err, errlen, "%s: a llama2.c version-1+ export (magic 'ak42'); "
                         "only the legacy (version 0) format is supported "
                         "(export.py --version 0)", path);
    for (int i = 0; i < 7; i++) {
        bool ok = i == 5 ? (h[i] != 0 && h[i] != INT32_MIN) : h[i] > 0;
        if (!ok)
            return ofr_errf (err, errlen, "%s: bad header: %s = %ld (must be %s)", path,
                             names[i], (long) h[i], i == 5 ? "nonzero" : "> 0");
    }
    if (h[0] % h[3] != 0)
        return ofr_errf (err, errlen, "%s: bad header: n_heads = %ld does not divide "
                         "dim = %ld", path, (long) h[3], (long) h[0]);
    if (h[3] % h[4] != 0)
        return ofr_errf (err, errlen, "%s: bad header: n_kv_heads = %ld does not divide "
                         "n_heads = %ld", path, (long) h[4], (long) h[3]);
    if ((h[0] / h[3]) % 2 != 0)
        return ofr_errf (err, errlen, "%s: bad header: head size %ld is odd (RoPE "
                         "rotates pairs of dimensions)", path, (long) (h[0] / h[3]));
    memset (c, 0, sizeof *c);
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->vocab_size = h[5] < 0 ? -h[5] : h[5];
    c->shared_classifier = h[5] > 0;
    c->seq_len = h[6];
    c->head_size = c->dim / c->n_heads;
    c->kv_dim = c->n_kv_heads * c->head_size;
    c->norm_eps = OFR_LLAMA_NORM_EPS;
    c->rope_theta = 10000.0f;
    c->bos_id = OFR_LLAMA_BOS;
    c->eos_id = OFR_LLAMA_EOS;
    return 0;
}

/* Floats the file holds after the header, in file order. */
static int
file_floats (const ofr_llama_config *c, uint64_t *n)
{
    uint64_t d = (uint64_t) c->dim, L = (uint64_t) c->n_layers, V = (uint64_t) c->vocab_size;
    uint64_t kv = (uint64_t) c->kv_dim, h = (uint64_t) c->hidden_dim;
    uint64_t Ld, Lh;
    if (mul_checked (L, d, &Ld) || mul_checked (L, h, &Lh))
        return -1;
    const uint64_t terms[][2] = {
        { V, d },                               /* embedding              */
        { Ld, 2 },                              /* two RMSNorms per layer */
        { Ld, 2 * d }, { Ld, 2 * kv },          /* wq + wo, wk + wv       */
        { Lh, 3 * d },                          /* w1, w2, w3             */
        { d, 1 },                               /* final RMSNorm          */
        { (uint64_t) c->seq_len, (uint64_t) c->head_size }, /* RoPE tables */
        { c->shared_classifier ? 0 : V, d },    /* classifier             */
    };
    return sum_products (terms, (int) (sizeof terms / sizeof terms[0]), n);
}

/* Floats kept in memory: the file minus the unused RoPE tables. */
static size_t
kept_floats (const ofr_llama_config *c)
{
    return (size_t) c->vocab_size * (size_t) c->dim * (c->shared_classifier ? 1 : 2)
         + (size_t) c->n_layers * ((size_t) c->dim * 2
                                   + (size_t) c->dim * (size_t) (2 * c->dim + 2 * c->kv_dim)
                                   + (size_t) c->dim * (size_t) c->hidden_dim
                                     * (c->arch ? 2 : 3))
         + (size_t) c->dim;
}

static int
read_floats (FILE *fp, const char *path, float *dst, size_t n, const char *what,
             char *err, size_t errlen)
{
    if (fread (dst, sizeof (float), n, fp) != n)
        return ofr_errf (err, errlen, "%s: short read in %s (%s)", path, what,
                         ferror (fp) ? strerror (errno) : "unexpected end of file");
    return 0;
}

/* Lay out data: embedding, per layer (rms_att, wqkv, wo, rms_ffn, w13, w2),
   final norm, classifier; point the views at it. */
static void
layout (ofr_llama *m)
{
    const ofr_llama_config *c = &m->c;
    size_t d = (size_t) c->dim, kv = (size_t) c->kv_dim, h = (size_t) c->hidden_dim;
    float *p = m->data;
    m->embedding = p;
    p += (size_t) c->vocab_size * d;
    for (int l = 0; l < c->n_layers; l++) {
        ofr_llama_layer *w = &m->layers[l];
        w->rms_att = p;  p += d;
        w->wqkv = p;     p += (d + 2 * kv) * d;
        w->wo = p;       p += d * d;
        w->rms_ffn = p;  p += d;
        w->w13 = p;      p += (c->arch ? 1 : 2) * h * d;
        w->w2 = p;       p += d * h;
    }
    m->final_norm = p;
    p += d;
    m->classifier = c->shared_classifier ? m->embedding : p;
}

enum { F_RMS_ATT, F_WQKV, F_WO, F_RMS_FFN, F_W13, F_W2 };

/* Writable start of field f of layer l (the views are const for users). */
static float *
field_of (ofr_llama *m, int l, int f)
{
    const ofr_llama_layer *w = &m->layers[l];
    const float *p = f == F_RMS_ATT ? w->rms_att : f == F_WQKV ? w->wqkv
                   : f == F_WO ? w->wo : f == F_RMS_FFN ? w->rms_ffn
                   : f == F_W13 ? w->w13 : w->w2;
    return m->data + (p - m->data);
}

/* One stacked tensor of the file: for each layer, rows [row0, row0 + rows)
   of the regrouped matrix f (each row `cols` floats). */
static int
read_stacked (ofr_llama *m, FILE *fp, int f, size_t row0, size_t rows, size_t cols,
              const char *what, char *err, size_t errlen)
{
    for (int l = 0; l < m->c.n_layers; l++)
        if (read_floats (fp, m->path, field_of (m, l, f) + row0 * cols, rows * cols,
                         what, err, errlen))
            return -1;
    return 0;
}

static int
read_tensors (ofr_llama *m, FILE *fp, char *err, size_t errlen)
{
    const ofr_llama_config *c = &m->c;
    size_t d = (size_t) c->dim, kv = (size_t) c->kv_dim, h = (size_t) c->hidden_dim;
    size_t V = (size_t) c->vocab_size;
    float *final_norm = m->data + (m->final_norm - m->data);
    if (read_floats (fp, m->path, m->data, V * d, "token embedding", err, errlen)
        || read_stacked (m, fp, F_RMS_ATT, 0, 1, d, "rms_att", err, errlen)
        || read_stacked (m, fp, F_WQKV, 0, d, d, "wq", err, errlen)
        || read_stacked (m, fp, F_WQKV, d, kv, d, "wk", err, errlen)
        || read_stacked (m, fp, F_WQKV, d + kv, kv, d, "wv", err, errlen)
        || read_stacked (m, fp, F_WO, 0, d, d, "wo", err, errlen)
        || read_stacked (m, fp, F_RMS_FFN, 0, 1, d, "rms_ffn", err, errlen)
        || read_stacked (m, fp, F_W13, 0, h, d, "w1", err, errlen)
        || read_stacked (m, fp, F_W2, 0, d, h, "w2", err, errlen)
        || read_stacked (m, fp, F_W13, h, h, d, "w3", err, errlen)
        || read_floats (fp, m->path, final_norm, d, "final rmsnorm", err, errlen))
        return -1;
    /* The RoPE tables are recomputed by the decoder. */
    long skip = (long) ((size_t) c->seq_len * (size_t) c->head_size * sizeof (float));
    if (fseek (fp, skip, SEEK_CUR) != 0)
        return ofr_errf (err, errlen, "%s: seek past the RoPE tables: %s", m->path,
                         strerror (errno));
    if (!c->shared_classifier
        && read_floats (fp, m->path, final_norm + d, V * d, "classifier", err, errlen))
        return -1;
    return 0;
}

static int
open_checked (const char *path, FILE **fpo, ofr_llama_config *c, char *err, size_t errlen)
{
    FILE *fp = fopen (path, "rb");
    if (!fp)
        return ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
    struct stat st;
    int32_t h[7];
    uint64_t want_floats = 0;
    if (fstat (fileno (fp), &st) != 0) {
        ofr_errf (err, errlen, "%s: %s", path, strerror (errno));
        goto fail;
    }
    uint64_t size = (uint64_t) st.st_size;
    if (size < sizeof h) {
        ofr_errf (err, errlen, "%s: truncated: %llu bytes, a llama2.c header needs %zu",
                  path, (unsigned long long) size, sizeof h);
        goto fail;
    }
    if (fread (h, sizeof h, 1, fp) != 1) {
        ofr_errf (err, errlen, "%s: cannot read the header: %s", path, strerror (errno));
        goto fail;
    }
    if (check_header (path, h, c, err, errlen))
        goto fail;
    if (file_floats (c, &want_floats) || want_floats > (UINT64_MAX - sizeof h) / 4
        || want_floats > SIZE_MAX / 4) {
        ofr_errf (err, errlen, "%s: bad header: shapes imply an impossible size", path);
        goto fail;
    }
    uint64_t want = sizeof h + 4 * want_floats;
    if (size != want) {
        ofr_errf (err, errlen, "%s: %s: %llu bytes, the header (dim %d, hidden %d, "
                  "%d layers, vocab %d, seq_len %d) implies %llu", path,
                  size < want ? "truncated" : "unexpected trailing data",
                  (unsigned long long) size, c->dim, c->hidden_dim, c->n_layers,
                  c->vocab_size, c->seq_len, (unsigned long long) want);
        goto fail;
    }
    *fpo = fp;
    return 0;
fail:
    fclose (fp);
    return -1;
}

int
ofr_llama_load (const char *path, ofr_llama **out, char *err, size_t errlen)
{
    *out = NULL;
    ofr_llama_config c;
    FILE *fp = NULL;
    if (!path)
        return ofr_errf (err, errlen, "llama: no checkpoint path");
    if (open_checked (path, &fp, &c, err, errlen))
        return -1;
    ofr_llama *m = ofr_calloc (1, sizeof *m);
    if (m) {
        m->c = c;
        m->path = ofr_strdup (path);
        m->layers = ofr_calloc ((size_t) c.n_layers, sizeof *m->layers);
        m->data = ofr_calloc (kept_floats (&c), sizeof (float));
    }
    if (!m || !m->path || !m->layers || !m->data) {
        fclose (fp);
        ofr_llama_destroy (&m);
        return ofr_errf (err, errlen, "%s: out of memory for %zu weights", path,
                         kept_floats (&c));
    }
    layout (m);
    int rc = read_tensors (m, fp, err, errlen);
    fclose (fp);
    if (rc) {
        ofr_llama_destroy (&m);
        return -1;
    }
    *out = m;
    return 0;
}

/* Biases (and GPT-2's position table) of the other block families. */
static int
layout_extra (ofr_llama *m)
{
    const ofr_llama_config *c = &m->c;
    size_t d = (size_t) c->dim, kv = (size_t) c->kv_dim, h = (size_t) c->hidden_dim;
    size_t per = 2 * d + (d + 2 * kv) + d + h + d;
    size_t pos = c->arch == OFR_ARCH_GPT2 ? (size_t) c->seq_len * d : 0;
    if (!(m->extra = ofr_calloc ((size_t) c->n_layers * per + d + pos, sizeof (float))))
        return -1;
    float *p = m->extra;
    for (int l = 0; l < c->n_layers; l++) {
        ofr_llama_layer *w = &m->layers[l];
        w->ln1_b = p;  p += d;
        w->ln2_b = p;  p += d;
        w->bqkv = p;   p += d + 2 * kv;
        w->bo = p;     p += d;
        w->b1 = p;     p += h;
        w->b2 = p;     p += d;
    }
    m->final_norm_b = p;
    p += d;
    m->wpe = pos ? p : NULL;
    return 0;
}

int
ofr_llama_new (const ofr_llama_config *cin, const char *path, ofr_llama **out,
               char *err, size_t errlen)
{
    *out = NULL;
    if (!cin || !path)
        return ofr_errf (err, errlen, "llama: no config or name");
    const int32_t h[7] = { cin->dim, cin->hidden_dim, cin->n_layers, cin->n_heads,
                           cin->n_kv_heads,
                           cin->shared_classifier ? cin->vocab_size : -cin->vocab_size,
                           cin->seq_len };
    ofr_llama_config c;
    uint64_t nf;
    if (cin->vocab_size <= 0)
        return ofr_errf (err, errlen, "%s: bad shape: vocab_size = %d (must be > 0)", path,
                         cin->vocab_size);
    if (check_header (path, h, &c, err, errlen))
        return -1;
    if (!(cin->norm_eps > 0) || !(cin->rope_theta > 1))
        return ofr_errf (err, errlen, "%s: bad norm_eps %g or rope_theta %g (must be > 0 "
                         "and > 1)", path, (double) cin->norm_eps, (double) cin->rope_theta);
    c.norm_eps = cin->norm_eps;
    c.rope_theta = cin->rope_theta;
    if (cin->arch < OFR_ARCH_LLAMA || cin->arch > OFR_ARCH_NEOX
        || cin->act < OFR_MLP_SWIGLU || cin->act > OFR_MLP_GELU_TANH
        || (cin->arch != OFR_ARCH_LLAMA) != (cin->act != OFR_MLP_SWIGLU)
        || cin->rotary_dim < 0 || cin->rotary_dim > c.head_size || cin->rotary_dim % 2)
        return ofr_errf (err, errlen, "%s: bad block family %d / activation %d / rotary "
                         "dims %d (head size %d)", path, cin->arch, cin->act,
                         cin->rotary_dim, c.head_size);
    c.arch = cin->arch;
    c.act = cin->act;
    c.rotary_dim = cin->rotary_dim;
    c.parallel_residual = cin->parallel_residual;
    /* Both 0: a config that does not name them (llama2.c ids). */
    if (cin->arch != OFR_ARCH_LLAMA || cin->bos_id || cin->eos_id) {
        c.bos_id = cin->bos_id;
        c.eos_id = cin->eos_id;
    }
    if (file_floats (&c, &nf) || nf > SIZE_MAX / 4)
        return ofr_errf (err, errlen, "%s: shapes imply an impossible size", path);
    ofr_llama *m = ofr_calloc (1, sizeof *m);
    if (m) {
        m->c = c;
        m->path = ofr_strdup (path);
        m->layers = ofr_calloc ((size_t) c.n_layers, sizeof *m->layers);
        m->data = ofr_calloc (kept_floats (&c), sizeof (float));
    }
    if (!m || !m->path || !m->layers || !m->data) {
        ofr_llama_destroy (&m);
        return ofr_errf (err, errlen, "%s: out of memory for %zu weights", path,
                         kept_floats (&c));
    }
    layout (m);
    if (c.arch != OFR_ARCH_LLAMA && layout_extra (m)) {
        ofr_llama_destroy (&m);
        return ofr_errf (err, errlen, "%s: out of memory for the biases", path);
    }
    *out = m;
    return 0;
}

void
ofr_llama_destroy (ofr_llama **m)
{
    if (!m || !*m)
        return;
    free ((*m)->data);
    free ((*m)->extra);
    free ((*m)->layers);
    free ((*m)->path);
    free (*m);
    *m = NULL;
}

const ofr_llama_config *ofr_llama_config_of (const ofr_llama *m) { return &m->c; }
int ofr_llama_n_layers (const ofr_llama *m) { return m->c.n_layers; }
int ofr_llama_dim (const ofr_llama *m) { return m->c.dim; }
int ofr_llama_vocab_size (const ofr_llama *m) { return m->c.vocab_size; }
int ofr_llama_seq_len (const ofr_llama *m) { return m->c.seq_len; }
const char *ofr_llama_path (const ofr_llama *m) { return m->path; }
const float *ofr_llama_embedding (const ofr_llama *m) { return m->embedding; }
const float *ofr_llama_final_norm (const ofr_llama *m) { return m->final_norm; }
const float *ofr_llama_classifier (const ofr_llama *m) { return m->classifier; }
const float *ofr_llama_final_norm_bias (const ofr_llama *m) { return m->final_norm_b; }
const float *ofr_llama_pos_embedding (const ofr_llama *m) { return m->wpe; }

bool
ofr_llama_is_stop (const ofr_llama *m, int token)
{
    return token >= 0 && (token == m->c.eos_id || token == m->c.bos_id);
}

const ofr_llama_layer *
ofr_llama_layer_weights (const ofr_llama *m, int l)
{
    return l >= 0 && l < m->c.n_layers ? &m->layers[l] : NULL;
}

double
ofr_llama_layer_macs (const ofr_llama *m, int ctx_len)
{
    double d = m->c.dim, kv = m->c.kv_dim, h = m->c.hidden_dim, T = ctx_len;
    return d * (d + 2 * kv) + d * d + (m->c.arch ? 2 : 3) * d * h + 2 * d * T;
}

double
ofr_llama_layer_flops (const ofr_llama *m, int ctx_len)
{
    double d = m->c.dim, kv = m->c.kv_dim, h = m->c.hidden_dim, T = ctx_len;
    double H = m->c.n_heads;
    double elementwise = 2 * 4 * d + 3 * (d + kv) + 5 * H * T + 5 * h + 2 * d;
    if (m->c.arch != OFR_ARCH_LLAMA) {
        /* gptx.h: LayerNorms 7*d, RoPE on the rotated share, GELU 8*h,
           biases (d + 2kv) + d + h + d, residual adds. */
        double rot = m->c.arch == OFR_ARCH_GPT2 ? 0
                   : (double) (m->c.rotary_dim ? m->c.rotary_dim : m->c.head_size)
                     / m->c.head_size;
        elementwise = 2 * 7 * d + 3 * (d + kv) * rot + 5 * H * T + 8 * h
                    + (3 * d + 2 * kv + h) + 2 * d;
    }
    return 2 * ofr_llama_layer_macs (m, ctx_len) + elementwise;
}

double
ofr_llama_head_flops (const ofr_llama *m, bool with_softmax)
{
    double d = m->c.dim, V = m->c.vocab_size;
    return (m->c.arch ? 7 : 4) * d + 2 * d * V + (with_softmax ? 5 * V : 0);
}

double
ofr_llama_kv_fill_flops (const ofr_llama *m)
{
    double d = m->c.dim, kv = m->c.kv_dim;
    if (m->c.arch != OFR_ARCH_LLAMA)
        return 7 * d + 2 * d * 2 * kv + 2 * kv
             + (m->c.arch == OFR_ARCH_NEOX ? 3 * kv : 0);
    return 4 * d + 2 * d * 2 * kv + 3 * kv;
}
