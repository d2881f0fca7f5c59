/*  test_camvid.c -- the CamVid reader, preprocessing, PNG decoding and the
    mIoU metric.

    Builds a tiny CamVid-shaped data set in a temporary directory of the
    build tree (PNGs written with ofr_png_write, a list with the original
    machine's absolute paths) and checks: pairs and ids, the ESPNet
    preprocessing (BGR, train mean/std, / 255), label maps (values > 11,
    colour annotations and wrong sizes are errors naming the file), the
    pooled confusion matrix and IoU arithmetic against hand-computed values,
    the suite class end to end (label maps and per-pixel probabilities as
    predictions, inputs of a batch kept apart), and that pooled metrics are
    identical whatever the sharding. If ../shared has the real test set, its
    first pair is decoded too. */
#include "common/ofr_common.h"
#include "suites/camvid.h"
#include "suites/image_png.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/check.h"

#define W OFR_CAMVID_WIDTH
#define H OFR_CAMVID_HEIGHT
#define NPIX ((size_t) W * H)

static char s_root[4096];       /* holds segmentation/camvid/ */
static char s_dir[4300];        /* the camvid directory */

static void
path_in (char *out, size_t len, const char *rel)
{
    snprintf (out, len, "%s/%s", s_dir, rel);
}

static void
write_png (const char *rel, const uint8_t *px, int w, int h, int ch)
{
    char path[4500], err[OFR_ERRLEN];
    path_in (path, sizeof path, rel);
    if (ofr_png_write (path, px, w, h, ch, err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        exit (1);
    }
}

static void
write_text (const char *rel, const char *text)
{
    char path[4500];
    path_in (path, sizeof path, rel);
    FILE *f = fopen (path, "w");
    if (!f || fputs (text, f) < 0 || fclose (f) != 0) {
        perror (path);
        exit (1);
    }
}

/* Two examples: a (labels = x % 12, image a gradient) and b (all sky). */
static void
make_dataset (uint8_t *rgb, uint8_t *lab)
{
    char path[4500];
    snprintf (s_dir, sizeof s_dir, "%s/segmentation", s_root);
    mkdir (s_dir, 0755);
    snprintf (s_dir, sizeof s_dir, "%s/segmentation/camvid", s_root);
    mkdir (s_dir, 0755);
    path_in (path, sizeof path, "test");
    mkdir (path, 0755);
    path_in (path, sizeof path, "testannot");
    mkdir (path, 0755);
    for (size_t p = 0; p < NPIX; p++) {
        rgb[3 * p] = (uint8_t) (p % W % 256);
        rgb[3 * p + 1] = (uint8_t) (p / W % 256);
        rgb[3 * p + 2] = 200;
        lab[p] = (uint8_t) (p % W % 12);
    }
    write_png ("test/a.png", rgb, W, H, 3);
    write_png ("testannot/a.png", lab, W, H, 1);
    memset (lab, 0, NPIX);
    write_png ("test/b.png", rgb, W, H, 3);
    write_png ("testannot/b.png", lab, W, H, 1);
    write_text ("test.txt", "/SegNet/CamVid/test/a.png /SegNet/CamVid/testannot/a.png\n"
                            "\n/SegNet/CamVid/test/b.png /SegNet/CamVid/testannot/b.png\n");
}

static void
test_reader (uint8_t *rgb, float *chw, uint8_t *lab)
{
    char err[OFR_ERRLEN];
    ofr_camvid *cv = NULL;
    int rc = ofr_camvid_open (s_dir, "test", &cv, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    if (rc != 0)
        return;
    CHECK (ofr_camvid_count (cv) == 2, "%d examples", ofr_camvid_count (cv));
    CHECK (strcmp (ofr_camvid_id (cv, 1), "b") == 0, "id %s", ofr_camvid_id (cv, 1));
    char want[4500];
    path_in (want, sizeof want, "testannot/b.png");
    CHECK (strcmp (ofr_camvid_label_path (cv, 1), want) == 0, "%s", ofr_camvid_label_path (cv, 1));
    rc = ofr_camvid_load_image (cv, 0, chw, err, sizeof err);
    CHECK (rc == 0, "%s", err);
    /* Pixel (x 7, y 3): R 7, G 3, B 200; channel 0 of the input is blue. */
    size_t p = 3 * W + 7;
    double b = (200 - 110.33102643) / 72.12571015 / 255, g = (3 - 108.40886315) / 72.69074534 / 255;
    double r = (7 - 105.03319369) / 69.90434816 / 255;
    CHECK (fabs (chw[p] - b) < 1e-7 && fabs (chw[NPIX + p] - g) < 1e-7
           && fabs (chw[2 * NPIX + p] - r) < 1e-7, "preprocessed %g %g %g, expected %g %g %g",
           chw[p], chw[NPIX + p], chw[2 * NPIX + p], b, g, r);
    rc = ofr_camvid_load_labels (cv, 0, lab, err, sizeof err);
    CHECK (rc == 0 && lab[p] == 7 && lab[11] == 11, "%s", err);

    /* Damaged annotations: a value > 11, a colour PNG, a wrong size. */
    lab[5 * W + 9] = 12;
    write_png ("testannot/b.png", lab, W, H, 1);
    CHECK (ofr_camvid_load_labels (cv, 1, lab, err, sizeof err) == -1
           && strstr (err, "testannot/b.png") && strstr (err, "label 12")
           && strstr (err, "x 9, y 5"), "label 12: %s", err);
    write_png ("testannot/b.png", rgb, W, H, 3);
    CHECK (ofr_camvid_load_labels (cv, 1, lab, err, sizeof err) == -1
           && strstr (err, "testannot/b.png") && strstr (err, "not a label map"),
           "colour annotation: %s", err);
    write_png ("testannot/b.png", lab, W / 2, H, 1);
    CHECK (ofr_camvid_load_labels (cv, 1, lab, err, sizeof err) == -1
           && strstr (err, "240x360"), "wrong size: %s", err);
    write_text ("testannot/b.png", "not a png");
    CHECK (ofr_camvid_load_labels (cv, 1, lab, err, sizeof err) == -1
           && strstr (err, "not a PNG"), "garbage: %s", err);
    memset (lab, 0, NPIX);
    write_png ("testannot/b.png", lab, W, H, 1);
    ofr_camvid_destroy (&cv);
    CHECK (cv == NULL, "destroy did not clear the pointer");

    write_text ("bad.txt", "/a/test/a.png\n");
    CHECK (ofr_camvid_open (s_dir, "bad", &cv, err, sizeof err) == -1
           && strstr (err, "bad.txt:1"), "one-column list: %s", err);
    CHECK (ofr_camvid_open (s_dir, "nosuch", &cv, err, sizeof err) == -1
           && strstr (err, "nosuch.txt"), "missing list: %s", err);
}

static void
test_metric (void)
{
    /* 3 pixels of each of: (label 0, pred 0) x3, (0 -> 1) x1, (1 -> 1) x2,
       (11 void -> 0) x2, (2 -> 2) x1. IoU0 = 3 / (4 + 5 - 3) = 50%,
       IoU1 = 2 / (2 + 3 - 2) = 66.67%, IoU2 = 100%, void 0%; other classes
       never occur and stay out of the means. */
    const uint8_t lab[] = { 0, 0, 0, 0, 1, 1, 11, 11, 2 };
    const uint8_t pred[] = { 0, 0, 0, 1, 1, 1, 0, 0, 2 };
    double conf[144] = { 0 };
    ofr_camvid_confusion_add (conf, lab, pred, 9);
    CHECK (conf[0] == 3 && conf[1] == 1 && conf[13] == 2 && conf[11 * 12] == 2 && conf[26] == 1,
           "confusion counts");
    ofr_camvid_scores s;
    ofr_camvid_scores_of (conf, &s);
    CHECK (fabs (s.iou[0] - 50.0) < 1e-9 && fabs (s.iou[1] - 200.0 / 3) < 1e-9
           && s.iou[2] == 100.0 && s.iou[11] == 0.0 && isnan (s.iou[5]), "IoU %g %g %g %g %g",
           s.iou[0], s.iou[1], s.iou[2], s.iou[11], s.iou[5]);
    CHECK (fabs (s.miou - (50.0 + 200.0 / 3 + 100.0) / 3) < 1e-9, "mIoU %g", s.miou);
    CHECK (fabs (s.miou_all - (50.0 + 200.0 / 3 + 100.0) / 4) < 1e-9, "mIoU12 %g", s.miou_all);
    CHECK (fabs (s.pixel_acc - 600.0 / 7) < 1e-9, "pixel accuracy %g", s.pixel_acc);
}

static void
test_suite_class (uint8_t *lab)
{
    char err[OFR_ERRLEN];
    const ofr_suite_class *sc = &ofr_suite_camvid;
    CHECK (sc->n_stats == 144 && strcmp (sc->primary, "miou") == 0, "class description");
    void *data = NULL;
    int n = 0;
    int rc = sc->load (s_root, "test", &data, &n, err, sizeof err);
    CHECK (rc == 0 && n == 2, "load: %s", err);
    if (rc != 0)
        return;
    uint8_t *pred = malloc (NPIX);
    float *probs = calloc (12 * NPIX, sizeof *probs);
    double *stats = calloc (3 * 144, sizeof *stats);
    ofr_example ex, ex0;
    if (!pred || !probs || !stats)
        exit (1);
    for (int i = 0; i < 2; i++) {
        CHECK (sc->example (data, i, &ex) == 0 && ex.n_features == (int) (3 * NPIX),
               "example %d", i);
        if (i == 0)
            ex0 = ex;
        /* Predict class x % 12 everywhere: perfect on a, 1/12 right on b. */
        for (size_t p = 0; p < NPIX; p++)
            pred[p] = (uint8_t) (p % W % 12);
        ofr_prediction pr = { .cls = -1, .labels = pred, .n_labels = (int) NPIX };
        CHECK (sc->score (data, i, &pr, stats + 144 * i) == 0, "score %d", i);
    }
    /* A batch of examples: the first one's input survives the second call. */
    CHECK (ex0.features != ex.features, "two examples share one input buffer");
    /* a's input has B = 200 everywhere, b's too; G = y: compare one pixel. */
    CHECK (fabs (ex0.features[NPIX + W * 7] - ex.features[NPIX + W * 7]) < 1e-9
           && fabs (ex0.features[NPIX + W * 7] - (7.0 - 108.40886315) / 72.69074534 / 255)
              < 1e-6, "first example's input was overwritten");
    ofr_metric m[16];
    int nm = sc->metrics (stats, 2, m, 16);
    CHECK (nm == 14 && strcmp (m[0].name, "miou") == 0, "%d metrics", nm);
    /* Sky (0): TP = a's x%12==0 pixels (40 columns) + b's 40 columns; label
       0 pixels: 40 columns of a + all of b; predicted 0: 80 columns. */
    double tp = 80.0 * H, uni = (40.0 + 480.0) * H;
    CHECK (nm > 3 && fabs (m[3].value - 100.0 * tp / uni) < 1e-9, "sky IoU %g", m[3].value);
    /* Per-pixel probabilities give the same statistics as their argmax. */
    for (size_t p = 0; p < NPIX; p++) {
        probs[(p % W % 12) * NPIX + p] = 0.6f;
        probs[((p % W + 1) % 12) * NPIX + p] = 0.4f;
    }
    ofr_prediction pp = { .cls = -1, .probs = probs, .n_probs = (int) (12 * NPIX) };
    CHECK (sc->score (data, 1, &pp, stats + 288) == 0
           && memcmp (stats + 144, stats + 288, 144 * sizeof *stats) == 0,
           "probabilities scored differently from their argmax");
    pred[0] = 12;
    ofr_prediction bad = { .cls = -1, .labels = pred, .n_labels = (int) NPIX };
    fprintf (stderr, "(errors about predicted class 12 and a 5-pixel map are expected here)\n");
    CHECK (sc->score (data, 0, &bad, stats) == -1, "predicted class 12 accepted");
    bad.n_labels = 5;
    CHECK (sc->score (data, 0, &bad, stats) == -1, "a 5-pixel label map accepted");
    sc->free (data);
    free (pred);
    free (probs);
    free (stats);
    (void) lab;
}

/* Small deterministic generator for hand-made label maps. */
static uint32_t
lcg (uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/*  Pooled metrics do not depend on sharding: per-image confusion rows of 9
    made-up 40x30 label maps (prediction = label with 30% of pixels
    changed, void pixels included) give bit-identical metrics whether the
    rows come in order, permuted, or as a few per-shard sums, and equal the
    metrics of the confusion matrix pooled directly over all pixels. */
static void
test_sharding (void)
{
    enum { N = 9, PIX = 40 * 30 };
    const ofr_suite_class *sc = &ofr_suite_camvid;
    uint8_t lab[N][PIX], pred[N][PIX];
    double rows[N * 144] = { 0 }, all[144] = { 0 };
    uint32_t seed = 7;
    for (int e = 0; e < N; e++) {
        for (int p = 0; p < PIX; p++) {
            /* Blocks of classes, with 10% void and some classes rare. */
            lab[e][p] = lcg (&seed) % 10 == 0 ? 11 : (uint8_t) ((p / 40 / 5 + p % 40 / 8 + e) % 11);
            pred[e][p] = lcg (&seed) % 10 < 3 ? (uint8_t) (lcg (&seed) % 12) : lab[e][p];
        }
        ofr_camvid_confusion_add (rows + 144 * e, lab[e], pred[e], PIX);
        ofr_camvid_confusion_add (all, lab[e], pred[e], PIX);
    }
    ofr_metric in_order[16], permuted[16], sharded[16], pooled[16];
    int n1 = sc->metrics (rows, N, in_order, 16);
    double perm[N * 144];
    for (int e = 0; e < N; e++)   /* rows in the order 4 7 1 8 5 2 0 6 3 */
        memcpy (perm + 144 * e, rows + 144 * ((e * 4 + 4) % N), 144 * sizeof *perm);
    int n2 = sc->metrics (perm, N, permuted, 16);
    /* Shards {0,1,2,3}, {4}, {5,6,7,8} summed into one row each. */
    double shards[3 * 144] = { 0 };
    for (int e = 0; e < N; e++)
        for (int j = 0; j < 144; j++)
            shards[144 * (e < 4 ? 0 : e == 4 ? 1 : 2) + j] += rows[144 * e + j];
    int n3 = sc->metrics (shards, 3, sharded, 16);
    int n4 = sc->metrics (all, 1, pooled, 16);
    CHECK (n1 == 14 && n2 == 14 && n3 == 14 && n4 == 14, "%d %d %d %d metrics", n1, n2, n3, n4);
    for (int i = 0; i < 14 && n1 == 14; i++)
        CHECK (in_order[i].value == permuted[i].value && in_order[i].value == sharded[i].value
               && in_order[i].value == pooled[i].value, "%s: %.17g %.17g %.17g %.17g",
               in_order[i].name, in_order[i].value, permuted[i].value, sharded[i].value,
               pooled[i].value);
    /* And mIoU from scratch: mean over classes 0..10 of TP / (row + col - TP). */
    double miou = 0;
    for (int c = 0; c < 11; c++) {
        double tp = 0, row = 0, col = 0;
        for (int e = 0; e < N; e++)
            for (int p = 0; p < PIX; p++) {
                tp += lab[e][p] == c && pred[e][p] == c;
                row += lab[e][p] == c;
                col += pred[e][p] == c;
            }
        miou += 100.0 * tp / (row + col - tp) / 11;
    }
    CHECK (fabs (in_order[0].value - miou) < 1e-9, "mIoU %.10g, by hand %.10g",
           in_order[0].value, miou);
    /* A per-image mean of mIoU would differ: pooled is not averaged. */
    double per_image = 0;
    for (int e = 0; e < N; e++) {
        ofr_metric one[16];
        sc->metrics (rows + 144 * e, 1, one, 16);
        per_image += one[0].value / N;
    }
    CHECK (fabs (per_image - in_order[0].value) > 1e-6, "per-image mean equals pooled mIoU");
}

static void
test_real_data (uint8_t *lab, float *chw)
{
    const char *src = getenv ("OFR_SOURCE_DIR");
    char dir[4200];
    snprintf (dir, sizeof dir, "%s/../shared/data/segmentation/camvid", src ? src : ".");
    struct stat st;
    if (stat (dir, &st) != 0) {
        printf ("test_camvid: (real CamVid absent at %s: skipping that part)\n", dir);
        return;
    }
    char err[OFR_ERRLEN];
    ofr_camvid *cv = NULL;
    int rc = ofr_camvid_open (dir, "test", &cv, err, sizeof err);
    CHECK (rc == 0 && ofr_camvid_count (cv) == 233, "%s", err);
    if (rc != 0)
        return;
    CHECK (ofr_camvid_load_image (cv, 0, chw, err, sizeof err) == 0, "%s", err);
    CHECK (ofr_camvid_load_labels (cv, 0, lab, err, sizeof err) == 0, "%s", err);
    CHECK (strcmp (ofr_camvid_id (cv, 0), "0001TP_008550") == 0, "%s", ofr_camvid_id (cv, 0));
    ofr_camvid_destroy (&cv);
}

static void
remove_dataset (void)
{
    const char *files[] = { "test/a.png", "test/b.png", "testannot/a.png", "testannot/b.png",
                            "test.txt", "bad.txt", "test", "testannot" };
    char path[4500];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_in (path, sizeof path, files[i]);
        remove (path);
    }
    rmdir (s_dir);
    snprintf (path, sizeof path, "%s/segmentation", s_root);
    rmdir (path);
    rmdir (s_root);
}

int
main (void)
{
    const char *build = getenv ("OFR_BUILD_DIR");
    snprintf (s_root, sizeof s_root, "%s/tmp-test-camvid-XXXXXX", build ? build : "/tmp");
    if (!mkdtemp (s_root)) {
        perror (s_root);
        return 1;
    }
    uint8_t *rgb = malloc (3 * NPIX), *lab = malloc (NPIX);
    float *chw = malloc (3 * NPIX * sizeof *chw);
    if (!rgb || !lab || !chw)
        return 1;
    make_dataset (rgb, lab);
    test_reader (rgb, chw, lab);
    test_metric ();
    test_suite_class (lab);
    test_sharding ();
    test_real_data (lab, chw);
    remove_dataset ();
    free (rgb);
    free (lab);
    free (chw);
    if (s_failures) {
        fprintf (stderr, "test_camvid: %d failure(s)\n", s_failures);
        return 1;
    }
    printf ("test_camvid: ok\n");
    return 0;
}
