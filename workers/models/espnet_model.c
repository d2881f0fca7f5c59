/*  espnet_model.c -- see espnet_model.h. */
#include "espnet_model.h"
#include "espnet.h"
#include "jsonlite.h"
#include "../../common/ofr_common.h"
#include "../../common/ofr_paths.h"
#include "../../plugins/offramp_plugin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_H  360
#define DEFAULT_W  480
#define HIDDEN_DIM 128     /* widest block output (level3): pooled states are padded to it */

typedef struct {
    ofr_model        base;
    char            *dir;
    ofr_espnet      *net;
    int              h, w;
    ofr_espnet_run **runs;      /* one per batch row, kept across batches */
    int              n_runs;
    bool             busy;      /* a batch is open (they share the runs)  */
    ofr_espnet_run  *scratch;   /* try_labels' run, allocated when first needed */
} esp_model;

struct ofr_mbatch {
    esp_model *m;
    int        n;
    int       *done;            /* [n] last block run (or skipped) per row, -1 */
    float     *pooled;          /* [n][HIDDEN_DIM]                              */
    uint8_t   *labels;          /* [h*w] exit_labels buffer                     */
    int        try_row;         /* row the scratch run holds, -1 = none         */
    int        try_done;        /* last block the scratch run ran               */
    uint8_t   *try_skip;        /* [n_blocks] skip flags it ran with            */
};

static esp_model *
model_of (const ofr_model *base)
{
    return (esp_model *) base;
}

static int
esp_n_layers (const ofr_model *base)
{
    return ofr_espnet_n_blocks (model_of (base)->net);
}

static int
esp_n_outputs (const ofr_model *base)
{
    const esp_model *m = model_of (base);
    return ofr_espnet_classes (m->net) * m->h * m->w;
}

static int
esp_hidden_dim (const ofr_model *base)
{
    (void) base;
    return HIDDEN_DIM;
}

static void
esp_destroy (ofr_model *base)
{
    esp_model *m = model_of (base);
    if (!m)
        return;
    for (int i = 0; m->runs && i < m->n_runs; i++)
        ofr_espnet_run_destroy (&m->runs[i]);
    free (m->runs);
    ofr_espnet_run_destroy (&m->scratch);
    ofr_espnet_destroy (&m->net);
    free (m->dir);
    free (m->base.name);
    free (m);
}

static void
esp_batch_end (ofr_mbatch *mb)
{
    if (!mb)
        return;
    mb->m->busy = false;
    free (mb->done);
    free (mb->pooled);
    free (mb->labels);
    free (mb->try_skip);
    free (mb);
}

/* Grow the pool of runs to n rows. */
static int
ensure_runs (esp_model *m, int n, char *err, size_t errlen)
{
    if (n <= m->n_runs)
        return 0;
    ofr_espnet_run **runs = realloc (m->runs, (size_t) n * sizeof *runs);
    if (!runs)
        return ofr_errf (err, errlen, "%s: out of memory for %d rows", m->dir, n);
    m->runs = runs;
    for (; m->n_runs < n; m->n_runs++) {
        m->runs[m->n_runs] = NULL;
        if (ofr_espnet_run_new (m->net, m->h, m->w, &m->runs[m->n_runs], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int
esp_batch_begin (ofr_model *base, const ofr_example *ex, int n, ofr_mbatch **out,
                 char *err, size_t errlen)
{
    esp_model *m = model_of (base);
    size_t n_in = (size_t) 3 * (size_t) m->h * (size_t) m->w;
    if (m->busy)
        return ofr_errf (err, errlen, "model %s: a batch is already open", base->name);
    if (n < 1)
        return ofr_errf (err, errlen, "model %s: empty batch", base->name);
    for (int i = 0; i < n; i++) {
        if (!ex[i].features || (size_t) ex[i].n_features != n_in)
            return ofr_errf (err, errlen, "model %s: example %s has %d input values, "
                             "expected a %dx%d image (3 x %d x %d floats, config.json "
                             "\"input_size\")", base->name, ex[i].id ? ex[i].id : "?",
                             ex[i].n_features, m->w, m->h, m->h, m->w);
        /* A suite that reuses one buffer for several examples would feed
           the same image to every row. */
        for (int j = 0; j < i; j++)
            if (ex[j].features == ex[i].features)
                return ofr_errf (err, errlen, "model %s: examples %s and %s share one input "
                                 "buffer (the suite keeps fewer images than the batch "
                                 "has rows; lower batch_size)", base->name,
                                 ex[j].id ? ex[j].id : "?", ex[i].id ? ex[i].id : "?");
    }
    if (ensure_runs (m, n, err, errlen) != 0)
        return -1;
    ofr_mbatch *mb = ofr_calloc (1, sizeof *mb);
    if (mb) {
        mb->m = m;
        mb->n = n;
        mb->done = ofr_calloc ((size_t) n, sizeof *mb->done);
        mb->pooled = ofr_calloc ((size_t) n * HIDDEN_DIM, sizeof *mb->pooled);
        mb->labels = ofr_calloc ((size_t) m->h * (size_t) m->w, 1);
        mb->try_skip = ofr_calloc ((size_t) ofr_espnet_n_blocks (m->net), 1);
        mb->try_row = -1;
    }
    if (!mb || !mb->done || !mb->pooled || !mb->labels || !mb->try_skip) {
        esp_batch_end (mb);
        return ofr_errf (err, errlen, "model %s: out of memory for a batch of %d",
                         base->name, n);
    }
    m->busy = true;
    for (int i = 0; i < n; i++) {
        mb->done[i] = -1;
        memcpy (ofr_espnet_run_input (m->runs[i]), ex[i].features, n_in * sizeof (float));
    }
    *out = mb;
    return 0;
}

/* Row `row` goes on to block `layer`: blocks it was not listed for since
   its last one were skipped by the method. */
static int
catch_up (ofr_mbatch *mb, int row, int layer, char *err, size_t errlen)
{
    const ofr_espnet *net = mb->m->net;
    ofr_espnet_run *r = mb->m->runs[row];
    for (int b = mb->done[row] + 1; b < layer; b++) {
        if (!ofr_espnet_block_skippable (net, b))
            return ofr_errf (err, errlen, "model %s: block %d (%s) cannot be skipped "
                             "(only the residual ESP blocks can)", mb->m->base.name, b + 1,
                             ofr_espnet_block_name (net, b));
        if (ofr_espnet_run_block (r, b, true, err, errlen) != 0)
            return -1;
        mb->done[row] = b;
    }
    return 0;
}

static int
esp_run_layer (ofr_mbatch *mb, int layer, const int *rows, const uint8_t *lowp, int n,
               char *err, size_t errlen)
{
    (void) lowp;   /* no reduced-precision path: runs at full precision */
    esp_model *m = mb->m;
    for (int i = 0; i < n; i++) {
        int row = rows[i];
        if (row < 0 || row >= mb->n)
            return ofr_errf (err, errlen, "model %s: row %d out of range", m->base.name, row);
        if (catch_up (mb, row, layer, err, errlen) != 0
            || ofr_espnet_run_block (m->runs[row], layer, false, err, errlen) != 0)
            return -1;
        mb->done[row] = layer;
    }
    return 0;
}

/* Block output of row at `layer`, if that block is the last one it ran. */
static ofr_fmap
output_at (ofr_mbatch *mb, int layer, int row)
{
    if (row < 0 || row >= mb->n || layer < 0 || mb->done[row] != layer)
        return (ofr_fmap) { NULL, 0, 0, 0 };
    return ofr_espnet_block_output (mb->m->runs[row], layer);
}

static bool
is_decoder (const esp_model *m, int layer)
{
    return layer >= ofr_espnet_n_blocks (m->net) - 3 && layer < ofr_espnet_n_blocks (m->net);
}

static int
esp_exit_probs (ofr_mbatch *mb, int layer, int row, float *probs)
{
    esp_model *m = mb->m;
    ofr_fmap f = output_at (mb, layer, row);
    if (!f.data || !is_decoder (m, layer))
        return -1;
    int k = f.c, fy = m->h / f.h, fx = m->w / f.w;
    size_t fhw = (size_t) f.h * (size_t) f.w, hw = (size_t) m->h * (size_t) m->w;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++) {
            size_t src = (size_t) (y / fy) * (size_t) f.w + (size_t) (x / fx);
            size_t dst = (size_t) y * (size_t) m->w + (size_t) x;
            float mx = f.data[src];
            for (int c = 1; c < k; c++)
                mx = f.data[(size_t) c * fhw + src] > mx ? f.data[(size_t) c * fhw + src] : mx;
            double sum = 0;
            for (int c = 0; c < k; c++)
                sum += (probs[(size_t) c * hw + dst] = expf (f.data[(size_t) c * fhw + src] - mx));
            float inv = (float) (1.0 / sum);
            for (int c = 0; c < k; c++)
                probs[(size_t) c * hw + dst] *= inv;
        }
    return 0;
}

static const uint8_t *
esp_exit_labels (ofr_mbatch *mb, int layer, int row, int *n)
{
    esp_model *m = mb->m;
    char err[OFR_ERRLEN];
    if (n)
        *n = 0;
    if (!output_at (mb, layer, row).data || !is_decoder (m, layer)) {
        ofr_log (OFR_ERROR, "model %s: no prediction at block %d (%s): exits are the "
                 "decoder blocks, and the block must have run", m->base.name, layer + 1,
                 ofr_espnet_block_name (m->net, layer));
        return NULL;
    }
    if (ofr_espnet_labels (m->runs[row], layer, mb->labels, err, sizeof err) != 0) {
        ofr_log (OFR_ERROR, "model %s: %s", m->base.name, err);
        return NULL;
    }
    if (n)
        *n = m->h * m->w;
    return mb->labels;
}

/* A configuration on the scratch run: blocks 0..exit_layer with skip[],
   continuing from what the scratch run already holds when it ran the same
   row with the same skips so far (an oracle tries exits in order). */
static const uint8_t *
esp_try_labels (ofr_mbatch *mb, int row, const uint8_t *skip, int exit_layer, int *n,
                char *err, size_t errlen)
{
    esp_model *m = mb->m;
    int L = ofr_espnet_n_blocks (m->net);
    if (n)
        *n = 0;
    if (row < 0 || row >= mb->n || !is_decoder (m, exit_layer)) {
        ofr_errf (err, errlen, "model %s: no configuration exiting at block %d for row "
                  "%d: exits are the decoder blocks", m->base.name, exit_layer + 1, row);
        return NULL;
    }
    for (int b = 0; skip && b <= exit_layer; b++)
        if (skip[b] && !ofr_espnet_block_skippable (m->net, b)) {
            ofr_errf (err, errlen, "model %s: block %d (%s) cannot be skipped (only the "
                      "residual ESP blocks can)", m->base.name, b + 1,
                      ofr_espnet_block_name (m->net, b));
            return NULL;
        }
    if (!m->scratch) {
        if (ofr_espnet_run_new (m->net, m->h, m->w, &m->scratch, err, errlen) != 0)
            return NULL;
        mb->try_row = -1;
    }
    int from = 0;
    if (mb->try_row == row) {
        from = mb->try_done + 1;
        for (int b = 0; b <= mb->try_done && b < L; b++)
            if (b > exit_layer || mb->try_skip[b] != (skip && skip[b] ? 1 : 0)) {
                from = 0;
                break;
            }
    }
    if (from == 0) {
        size_t n_in = (size_t) 3 * (size_t) m->h * (size_t) m->w;
        memcpy (ofr_espnet_run_input (m->scratch), ofr_espnet_run_input (m->runs[row]),
                n_in * sizeof (float));
        mb->try_row = row;
    }
    for (int b = from; b <= exit_layer; b++) {
        mb->try_skip[b] = skip && skip[b] ? 1 : 0;
        mb->try_done = b;
        if (ofr_espnet_run_block (m->scratch, b, mb->try_skip[b], err, errlen) != 0) {
            mb->try_row = -1;
            return NULL;
        }
    }
    if (ofr_espnet_labels (m->scratch, exit_layer, mb->labels, err, errlen) != 0)
        return NULL;
    if (n)
        *n = m->h * m->w;
    return mb->labels;
}

/* Channel means of the row's latest block output, zero-padded. */
static const float *
esp_hidden (ofr_mbatch *mb, int row)
{
    if (row < 0 || row >= mb->n || mb->done[row] < 0)
        return NULL;
    ofr_fmap f = ofr_espnet_block_output (mb->m->runs[row], mb->done[row]);
    float *p = mb->pooled + (size_t) row * HIDDEN_DIM;
    memset (p, 0, HIDDEN_DIM * sizeof *p);
    size_t hw = (size_t) f.h * (size_t) f.w;
    for (int c = 0; f.data && c < f.c && c < HIDDEN_DIM; c++) {
        double s = 0;
        for (size_t i = 0; i < hw; i++)
            s += f.data[(size_t) c * hw + i];
        p[c] = (float) (s / (double) hw);
    }
    return p;
}

static double
esp_layer_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) row;
    return ofr_espnet_block_flops (mb->m->net, layer, mb->m->h, mb->m->w);
}

static double
esp_head_flops (ofr_mbatch *mb, int layer, int row)
{
    (void) mb; (void) layer; (void) row;
    return 0.0;   /* the classifier convolutions belong to the decoder blocks */
}

static const ofr_model_ops s_espnet_ops = {
    .family = "espnet",
    .kind = OFR_KIND_CNN,
    .n_layers = esp_n_layers,
    .n_outputs = esp_n_outputs,
    .hidden_dim = esp_hidden_dim,
    .destroy = esp_destroy,
    .batch_begin = esp_batch_begin,
    .batch_end = esp_batch_end,
    .run_layer = esp_run_layer,
    .exit_probs = esp_exit_probs,
    .hidden = esp_hidden,
    .layer_flops = esp_layer_flops,
    .head_flops = esp_head_flops,
    .lowp_cost = 1.0,
    .exit_labels = esp_exit_labels,
    .try_labels = esp_try_labels,
};

bool
ofr_espnet_model_is (const ofr_model *m)
{
    return m && m->ops == &s_espnet_ops;
}


/* Optional "input_size": [H, W] of config.json. */
static int
read_input_size (esp_model *m, char *err, size_t errlen)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/config.json", m->dir);
    if (b.oom || !b.data) {
        ofr_buf_free (&b);
        return ofr_errf (err, errlen, "%s: out of memory", m->dir);
    }
    char *text = NULL;
    size_t len = 0;
    ofr_jsonlite *cfg = NULL;
    int rc = -1;
    if (ofr_read_file (b.data, &text, &len, err, errlen) != 0
        || ofr_jsonlite_parse (text, len, b.data, &cfg, err, errlen) != 0)
        goto done;
    const ofr_jsonlite *v = ofr_jsonlite_get (cfg, "input_size");
    m->h = DEFAULT_H;
    m->w = DEFAULT_W;
    if (v) {
        bool ok = v->type == OFR_JSONLITE_ARRAY && v->n == 2;
        for (size_t i = 0; ok && i < 2; i++)
            ok = v->items[i]->type == OFR_JSONLITE_NUMBER && v->items[i]->is_int
                 && v->items[i]->integer >= 8 && v->items[i]->integer <= 16384
                 && v->items[i]->integer % 8 == 0;
        if (!ok) {
            ofr_errf (err, errlen, "%s: \"input_size\" must be [H, W], multiples of 8 "
                      "in 8..16384", b.data);
            goto done;
        }
        m->h = (int) v->items[0]->integer;
        m->w = (int) v->items[1]->integer;
    }
    rc = 0;
done:
    ofr_jsonlite_destroy (&cfg);
    free (text);
    ofr_buf_free (&b);
    return rc;
}

int
ofr_espnet_model_open (const char *dir, ofr_model **out, char *err, size_t errlen)
{
    esp_model *m = ofr_calloc (1, sizeof *m);
    if (!m)
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    m->base.ops = &s_espnet_ops;
    m->dir = ofr_strdup (dir);
    m->base.name = ofr_path_basename (dir);
    if (!m->dir || !m->base.name) {
        esp_destroy (&m->base);
        return ofr_errf (err, errlen, "%s: out of memory", dir);
    }
    if (ofr_espnet_load (dir, &m->net, err, errlen) != 0
        || read_input_size (m, err, errlen) != 0) {
        esp_destroy (&m->base);
        return -1;
    }
    *out = &m->base;
    return 0;
}
