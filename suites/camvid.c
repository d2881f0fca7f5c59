/*  camvid.c -- see camvid.h. */
#include "camvid.h"
#include "image_png.h"
#include "../common/ofr_common.h"
#include "../plugins/offramp_plugin.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPIX ((size_t) OFR_CAMVID_WIDTH * OFR_CAMVID_HEIGHT)
#define K    OFR_CAMVID_CLASSES

/* CamVid train split statistics in BGR order (average over the 367 train
   images of each image's per-channel mean and population std), the values
   ESPNet's CamVid model was trained with (shared/README.md). */
static const double s_mean[3] = { 110.33102643, 108.40886315, 105.03319369 };
static const double s_std[3]  = { 72.12571015, 72.69074534, 69.90434816 };

static const char *const s_class_names[K] = {
    "sky", "building", "pole", "road", "pavement", "tree", "signsymbol", "fence",
    "car", "pedestrian", "bicyclist", "void"
};

typedef struct {
    char *id, *image, *label;
} pair;

/* Preprocessed inputs the suite class keeps: a runner fetches a whole
   batch of examples before the model reads them, so each example() call
   fills the next of RING buffers (allocated when first needed). */
#define RING 16

struct ofr_camvid {
    pair    *pairs;
    int      n;
    uint8_t *rgb;          /* decode buffer, NPIX * 3 */
    float   *features[RING];   /* the suite class's recent examples */
    int      next_slot;
    uint8_t *labels;       /* the suite class's scoring buffer */
};

/* "<dir>/<last two components of p>", e.g. dir/test/x.png. */
static char *
local_path (const char *dir, const char *p)
{
    const char *last = strrchr (p, '/');
    const char *start = p;
    if (last) {
        const char *q = last;
        while (q > p && q[-1] != '/')
            q--;
        start = q;
    }
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/%s", dir, start);
    if (b.oom) {
        ofr_buf_free (&b);
        return NULL;
    }
    return b.data;
}

static char *
id_of (const char *path)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    char *id = ofr_strdup (base);
    if (id) {
        size_t n = strlen (id);
        if (n > 4 && strcmp (id + n - 4, ".png") == 0)
            id[n - 4] = 0;
    }
    return id;
}

/* One list line "image annotation" -> a pair. */
static int
parse_line (const char *dir, const char *list, int lineno, char *line, pair *p,
            char *err, size_t errlen)
{
    char *save = NULL;
    char *a = strtok_r (line, " \t\r", &save);
    char *b = strtok_r (NULL, " \t\r", &save);
    char *extra = strtok_r (NULL, " \t\r", &save);
    if (!a || !b || extra)
        return ofr_errf (err, errlen, "%s:%d: expected \"image annotation\"", list, lineno);
    p->image = local_path (dir, a);
    p->label = local_path (dir, b);
    p->id = id_of (a);
    if (!p->image || !p->label || !p->id)
        return ofr_errf (err, errlen, "%s:%d: out of memory", list, lineno);
    return 0;
}

static int
read_list (ofr_camvid *cv, const char *dir, const char *list, char *err, size_t errlen)
{
    char *text = NULL;
    if (ofr_read_file (list, &text, NULL, err, errlen) != 0)
        return -1;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line && rc == 0;
         line = strtok_r (NULL, "\n", &save)) {
        lineno++;   /* strtok_r skips empty lines: numbers count non-empty ones */
        if (strspn (line, " \t\r") == strlen (line))
            continue;
        if (ofr_grow ((void **) &cv->pairs, &cap, (size_t) cv->n + 1, sizeof *cv->pairs) != 0) {
            rc = ofr_errf (err, errlen, "%s: out of memory", list);
            break;
        }
        memset (&cv->pairs[cv->n], 0, sizeof *cv->pairs);
        cv->n++;
        rc = parse_line (dir, list, lineno, line, &cv->pairs[cv->n - 1], err, errlen);
    }
    free (text);
    if (rc == 0 && cv->n == 0)
        rc = ofr_errf (err, errlen, "%s: no examples", list);
    return rc;
}

/* The held-out part of test.txt (camvid.h): line i (0-based, non-empty
   lines) belongs to "fit" when i % 7 == 3. Keeps the pairs of `want_fit`. */
static void
keep_part (ofr_camvid *cv, bool want_fit)
{
    int kept = 0;
    for (int i = 0; i < cv->n; i++) {
        bool fit = i % OFR_CAMVID_FIT_EVERY == OFR_CAMVID_FIT_OFFSET;
        if (fit == want_fit) {
            cv->pairs[kept++] = cv->pairs[i];
        } else {
            free (cv->pairs[i].id);
            free (cv->pairs[i].image);
            free (cv->pairs[i].label);
        }
    }
    cv->n = kept;
}

int
ofr_camvid_open (const char *dir, const char *split, ofr_camvid **out, char *err,
                 size_t errlen)
{
    int part = 0;   /* 1 = fit, 2 = eval: derived from test.txt */
    if (!split || !*split || strchr (split, '/'))
        return ofr_errf (err, errlen, "camvid: bad split name '%s'", split ? split : "");
    ofr_camvid *cv = ofr_calloc (1, sizeof *cv);
    char *list = NULL;
    if (cv) {
        ofr_buf b;
        ofr_buf_init (&b);
        ofr_buf_printf (&b, "%s/%s.txt", dir, split);
        struct stat st;
        if (!b.oom && (strcmp (split, "fit") == 0 || strcmp (split, "eval") == 0)
            && stat (b.data, &st) != 0) {
            part = split[0] == 'f' ? 1 : 2;
            ofr_buf_reset (&b);
            ofr_buf_printf (&b, "%s/test.txt", dir);
        }
        list = b.oom ? NULL : b.data;
        if (!list)
            ofr_buf_free (&b);
        cv->rgb = ofr_calloc (NPIX * 3, 1);
    }
    if (!cv || !list || !cv->rgb) {
        free (list);
        ofr_camvid_destroy (&cv);
        return ofr_errf (err, errlen, "camvid: out of memory");
    }
    int rc = read_list (cv, dir, list, err, errlen);
    if (rc == 0 && part) {
        keep_part (cv, part == 1);
        if (cv->n == 0)
            rc = ofr_errf (err, errlen, "%s: no examples in the %s part", list, split);
    }
    free (list);
    if (rc != 0) {
        ofr_camvid_destroy (&cv);
        return -1;
    }
    *out = cv;
    return 0;
}

void
ofr_camvid_destroy (ofr_camvid **selfp)
{
    if (!selfp || !*selfp)
        return;
    ofr_camvid *cv = *selfp;
    for (int i = 0; cv->pairs && i < cv->n; i++) {
        free (cv->pairs[i].id);
        free (cv->pairs[i].image);
        free (cv->pairs[i].label);
    }
    free (cv->pairs);
    free (cv->rgb);
    for (int i = 0; i < RING; i++)
        free (cv->features[i]);
    free (cv->labels);
    free (cv);
    *selfp = NULL;
}

int ofr_camvid_count (const ofr_camvid *self) { return self->n; }

const char *
ofr_camvid_id (const ofr_camvid *self, int i)
{
    return i >= 0 && i < self->n ? self->pairs[i].id : NULL;
}

const char *
ofr_camvid_image_path (const ofr_camvid *self, int i)
{
    return i >= 0 && i < self->n ? self->pairs[i].image : NULL;
}

const char *
ofr_camvid_label_path (const ofr_camvid *self, int i)
{
    return i >= 0 && i < self->n ? self->pairs[i].label : NULL;
}

const char *
ofr_camvid_class_name (int c)
{
    return c >= 0 && c < K ? s_class_names[c] : "?";
}

void
ofr_camvid_preprocess (const uint8_t *rgb, int h, int w, float *chw)
{
    size_t n = (size_t) h * (size_t) w;
    for (int c = 0; c < 3; c++) {
        /* Output channel c (B, G, R) comes from RGB component 2 - c. The
           training code normalises in float32, then divides by 255. */
        float mean = (float) s_mean[c], std = (float) s_std[c];
        float *out = chw + (size_t) c * n;
        const uint8_t *in = rgb + (2 - c);
        for (size_t i = 0; i < n; i++)
            out[i] = ((float) in[3 * i] - mean) / std / 255.0f;
    }
}

static int
check_size (const char *path, int w, int h, char *err, size_t errlen)
{
    if (w != OFR_CAMVID_WIDTH || h != OFR_CAMVID_HEIGHT)
        return ofr_errf (err, errlen, "%s: %dx%d, expected %dx%d", path, w, h,
                         OFR_CAMVID_WIDTH, OFR_CAMVID_HEIGHT);
    return 0;
}

int
ofr_camvid_load_image (ofr_camvid *self, int i, float *chw, char *err, size_t errlen)
{
    if (i < 0 || i >= self->n)
        return ofr_errf (err, errlen, "camvid: example %d out of range", i);
    const char *path = self->pairs[i].image;
    int w, h;
    if (ofr_png_read (path, OFR_PNG_RGB8, self->rgb, NPIX * 3, &w, &h, err, errlen) != 0
        || check_size (path, w, h, err, errlen) != 0)
        return -1;
    ofr_camvid_preprocess (self->rgb, h, w, chw);
    return 0;
}

int
ofr_camvid_load_labels (ofr_camvid *self, int i, uint8_t *labels, char *err, size_t errlen)
{
    if (i < 0 || i >= self->n)
        return ofr_errf (err, errlen, "camvid: example %d out of range", i);
    const char *path = self->pairs[i].label;
    int w, h;
    if (ofr_png_read (path, OFR_PNG_LABEL8, labels, NPIX, &w, &h, err, errlen) != 0
        || check_size (path, w, h, err, errlen) != 0)
        return -1;
    for (size_t p = 0; p < NPIX; p++)
        if (labels[p] >= K)
            return ofr_errf (err, errlen, "%s: pixel (x %zu, y %zu) has label %d "
                             "(expected 0..%d)", path, p % OFR_CAMVID_WIDTH,
                             p / OFR_CAMVID_WIDTH, labels[p], K - 1);
    return 0;
}

void
ofr_camvid_confusion_add (double *conf, const uint8_t *labels, const uint8_t *pred, size_t n)
{
    /* Counted in integers first: adding 1.0 to a large double is exact up
       to 2^53, but integer counting is faster and plainly exact. */
    uint64_t counts[K * K] = { 0 };
    for (size_t i = 0; i < n; i++)
        counts[labels[i] * K + pred[i]]++;
    for (int i = 0; i < K * K; i++)
        conf[i] += (double) counts[i];
}

void
ofr_camvid_scores_of (const double *conf, ofr_camvid_scores *out)
{
    double row[K] = { 0 }, col[K] = { 0 }, correct = 0, labelled = 0;
    for (int r = 0; r < K; r++)
        for (int c = 0; c < K; c++) {
            row[r] += conf[r * K + c];
            col[c] += conf[r * K + c];
        }
    double sum11 = 0, sum12 = 0;
    int n11 = 0, n12 = 0;
    for (int c = 0; c < K; c++) {
        double tp = conf[c * K + c], uni = row[c] + col[c] - tp;
        out->iou[c] = uni > 0 ? 100.0 * tp / uni : NAN;
        if (uni > 0) {
            sum12 += out->iou[c];
            n12++;
            if (c != OFR_CAMVID_VOID) {
                sum11 += out->iou[c];
                n11++;
            }
        }
        if (c != OFR_CAMVID_VOID) {
            correct += tp;
            labelled += row[c];
        }
    }
    out->miou = n11 ? sum11 / n11 : NAN;
    out->miou_all = n12 ? sum12 / n12 : NAN;
    out->pixel_acc = labelled > 0 ? 100.0 * correct / labelled : NAN;
}

/* ------------------------------------------------------------ suite class */

static void
suite_free (void *data)
{
    ofr_camvid *cv = data;
    ofr_camvid_destroy (&cv);
}

static int
suite_load (const char *data_dir, const char *split, void **data, int *n, char *err,
            size_t errlen)
{
    ofr_buf b;
    ofr_buf_init (&b);
    ofr_buf_printf (&b, "%s/%s", data_dir, ofr_suite_camvid.data_subdir);
    if (b.oom || !b.data) {
        ofr_buf_free (&b);
        return ofr_errf (err, errlen, "camvid: out of memory");
    }
    /* The harness's generic evaluation split "dev" is CamVid's test split
       (the one results are published on) unless a dev.txt exists. */
    if (split && strcmp (split, "dev") == 0) {
        ofr_buf list;
        ofr_buf_init (&list);
        ofr_buf_printf (&list, "%s/dev.txt", b.data);
        struct stat st;
        if (!list.oom && list.data && stat (list.data, &st) != 0)
            split = ofr_suite_camvid.default_split;
        ofr_buf_free (&list);
    }
    ofr_camvid *cv = NULL;
    int rc = ofr_camvid_open (b.data, split, &cv, err, errlen);
    ofr_buf_free (&b);
    if (rc != 0)
        return -1;
    cv->labels = ofr_calloc (NPIX, 1);
    if (!cv->labels) {
        ofr_camvid_destroy (&cv);
        return ofr_errf (err, errlen, "camvid: out of memory");
    }
    *data = cv;
    *n = cv->n;
    return 0;
}

/* The features stay valid for the next RING - 1 example() calls. */
static int
suite_example (void *data, int i, ofr_example *ex)
{
    ofr_camvid *cv = data;
    char err[OFR_ERRLEN];
    float **slot = &cv->features[cv->next_slot];
    if (!*slot && !(*slot = ofr_calloc (NPIX * 3, sizeof (float)))) {
        ofr_log (OFR_ERROR, "camvid: out of memory for image %d", i);
        return -1;
    }
    if (ofr_camvid_load_image (cv, i, *slot, err, sizeof err) != 0) {
        ofr_log (OFR_ERROR, "%s", err);
        return -1;
    }
    cv->next_slot = (cv->next_slot + 1) % RING;
    memset (ex, 0, sizeof *ex);
    ex->id = cv->pairs[i].id;
    ex->label = -1;
    ex->features = *slot;
    ex->n_features = (int) (NPIX * 3);
    return 0;
}

/* The prediction: a label map (pred->labels, NPIX classes), or per-pixel
   class probabilities (pred->probs, [12][360][480]) whose argmax is taken
   (first class on ties). */
static int
suite_score (void *data, int i, const ofr_prediction *pred, double *stats)
{
    ofr_camvid *cv = data;
    char err[OFR_ERRLEN];
    bool dense_probs = !pred->labels && pred->probs && pred->n_probs == (int) (K * NPIX);
    if (!dense_probs && (!pred->labels || pred->n_labels != (int) NPIX)) {
        ofr_log (OFR_ERROR, "camvid: example %d: the prediction is not a %dx%d label map "
                 "(%d labels, %d probabilities)", i, OFR_CAMVID_WIDTH, OFR_CAMVID_HEIGHT,
                 pred->labels ? pred->n_labels : 0, pred->probs ? pred->n_probs : 0);
        return -1;
    }
    if (ofr_camvid_load_labels (cv, i, cv->labels, err, sizeof err) != 0) {
        ofr_log (OFR_ERROR, "%s", err);
        return -1;
    }
    uint64_t counts[K * K] = { 0 };
    for (size_t p = 0; p < NPIX; p++) {
        int c = 0;
        if (dense_probs) {
            for (int k = 1; k < K; k++)
                if (pred->probs[(size_t) k * NPIX + p] > pred->probs[(size_t) c * NPIX + p])
                    c = k;
        }
        else if ((c = pred->labels[p]) >= K) {
            ofr_log (OFR_ERROR, "camvid: example %d: predicted class %d at pixel (x %zu, "
                     "y %zu)", i, c, p % OFR_CAMVID_WIDTH, p / OFR_CAMVID_WIDTH);
            return -1;
        }
        counts[cv->labels[p] * K + c]++;
    }
    for (int j = 0; j < K * K; j++)
        stats[j] = (double) counts[j];
    return 0;
}

static int
suite_metrics (const double *stats, int n, ofr_metric *out, int max_out)
{
    double conf[K * K] = { 0 };
    for (int e = 0; e < n; e++)
        for (int j = 0; j < K * K; j++)
            conf[j] += stats[(size_t) e * K * K + (size_t) j];
    ofr_camvid_scores s;
    ofr_camvid_scores_of (conf, &s);
    static const char *const iou_names[K - 1] = {
        "iou_sky", "iou_building", "iou_pole", "iou_road", "iou_pavement", "iou_tree",
        "iou_signsymbol", "iou_fence", "iou_car", "iou_pedestrian", "iou_bicyclist"
    };
    if (max_out < 3 + K - 1)
        return -1;
    out[0] = (ofr_metric) { "miou", s.miou };
    out[1] = (ofr_metric) { "pixel_acc", s.pixel_acc };
    out[2] = (ofr_metric) { "miou_all12", s.miou_all };
    for (int c = 0; c < K - 1; c++)
        out[3 + c] = (ofr_metric) { iou_names[c], s.iou[c] };
    return 3 + K - 1;
}

const ofr_suite_class ofr_suite_camvid = {
    .name = "camvid",
    .summary = "CamVid test (233 images 480x360, 11 classes + void; splits test, fit = 33 held out, eval = other 200): mIoU",
    .kinds = OFR_KIND_CNN,
    .default_split = "test",
    .data_subdir = "segmentation/camvid",
    .n_classes = K,
    .n_stats = K * K,
    .primary = "miou",
    .load = suite_load,
    .free = suite_free,
    .example = suite_example,
    .score = suite_score,
    .metrics = suite_metrics,
};
