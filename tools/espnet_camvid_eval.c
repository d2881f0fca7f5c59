/*  espnet_camvid_eval.c -- run an imported ESPNet over a CamVid split with
    the C runtime and print mIoU, per-class IoU, pixel accuracy, ms/image
    and GFLOP/s. The measurement behind docs and reports; not a ctest
    (all 233 test images take tens of seconds).

    usage: espnet_camvid_eval --model DIR [--data CAMVID_DIR] [--split test]
                              [--limit N] [--skip NAME,NAME] [--exit NAME]
                              [--profile]
    Time with OPENBLAS_CORETYPE=SkylakeX set (OpenBLAS misdetects the CPU). */
#include "../common/ofr_common.h"
#include "../common/ofr_paths.h"
#include "../suites/camvid.h"
#include "../workers/models/espnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *model, *data, *split, *skip, *exit_at;
    int         limit;
    bool        profile;       /* print time per block */
} options;

static int
parse (int argc, char **argv, options *o)
{
    *o = (options) { NULL, NULL, "test", NULL, NULL, 0, false };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (strcmp (a, "--profile") == 0) {
            o->profile = true;
            continue;
        }
        if (!v) {
            fprintf (stderr, "espnet_camvid_eval: %s needs a value\n", a);
            return -1;
        }
        if (strcmp (a, "--model") == 0) o->model = v;
        else if (strcmp (a, "--data") == 0) o->data = v;
        else if (strcmp (a, "--split") == 0) o->split = v;
        else if (strcmp (a, "--skip") == 0) o->skip = v;
        else if (strcmp (a, "--exit") == 0) o->exit_at = v;
        else if (strcmp (a, "--limit") == 0 && ofr_parse_int (v, &n) == 0 && n > 0 && n < 1000000)
            o->limit = (int) n;
        else {
            fprintf (stderr, "espnet_camvid_eval: bad argument '%s'\n", a);
            return -1;
        }
        i++;
    }
    if (!o->model) {
        fprintf (stderr, "usage: espnet_camvid_eval --model DIR [--data CAMVID_DIR] "
                 "[--split test] [--limit N] [--skip NAME,NAME] [--exit NAME] [--profile]\n");
        return -1;
    }
    return 0;
}

static int
block_by_name (const ofr_espnet *m, const char *name, size_t len)
{
    for (int b = 0; b < ofr_espnet_n_blocks (m); b++) {
        const char *bn = ofr_espnet_block_name (m, b);
        if (strlen (bn) == len && strncmp (bn, name, len) == 0)
            return b;
    }
    return -1;
}

/* skip[b] = 1 for each name in the comma-separated list. */
static int
parse_skips (const ofr_espnet *m, const char *list, bool *skip)
{
    for (const char *s = list; s && *s;) {
        size_t len = strcspn (s, ",");
        int b = block_by_name (m, s, len);
        if (b < 0 || !ofr_espnet_block_skippable (m, b)) {
            fprintf (stderr, "espnet_camvid_eval: '%.*s' is not a skippable block\n",
                     (int) len, s);
            return -1;
        }
        skip[b] = true;
        s += len + (s[len] == ',');
    }
    return 0;
}

int
main (int argc, char **argv)
{
    options o;
    if (parse (argc, argv, &o) != 0)
        return 2;
    char err[OFR_ERRLEN];
    char *found = NULL;
    if (!o.data) {
        char *path = ofr_default_data_path ();
        int rc = ofr_path_find (path, "segmentation/camvid", &found, err, sizeof err);
        free (path);
        if (rc != 0) {
            fprintf (stderr, "espnet_camvid_eval: %s\n", err);
            return 1;
        }
        o.data = found;
    }
    ofr_espnet *m = NULL;
    ofr_camvid *cv = NULL;
    ofr_espnet_run *run = NULL;
    const int H = OFR_CAMVID_HEIGHT, W = OFR_CAMVID_WIDTH;
    size_t npix = (size_t) H * W;
    uint8_t *labels = malloc (npix), *pred = malloc (npix);
    bool *skip = NULL;
    double *t_block = NULL;
    int status = 1;
    if (!labels || !pred) {
        fprintf (stderr, "espnet_camvid_eval: out of memory\n");
        goto done;
    }
    if (ofr_espnet_load (o.model, &m, err, sizeof err) != 0
        || ofr_camvid_open (o.data, o.split, &cv, err, sizeof err) != 0
        || ofr_espnet_run_new (m, H, W, &run, err, sizeof err) != 0) {
        fprintf (stderr, "espnet_camvid_eval: %s\n", err);
        goto done;
    }
    int nb = ofr_espnet_n_blocks (m), exit_b = nb - 1;
    skip = ofr_calloc ((size_t) nb, sizeof *skip);
    t_block = ofr_calloc ((size_t) nb, sizeof *t_block);
    if (!skip || !t_block || parse_skips (m, o.skip, skip) != 0)
        goto done;
    if (o.exit_at && (exit_b = block_by_name (m, o.exit_at, strlen (o.exit_at))) < 0) {
        fprintf (stderr, "espnet_camvid_eval: no block '%s'\n", o.exit_at);
        goto done;
    }
    double flops = 0;
    for (int b = 0; b <= exit_b; b++)
        flops += skip[b] ? 0.0 : ofr_espnet_block_flops (m, b, H, W);
    int n = ofr_camvid_count (cv);
    if (o.limit && o.limit < n)
        n = o.limit;
    double conf[OFR_CAMVID_CLASSES * OFR_CAMVID_CLASSES] = { 0 };
    double t_fwd = 0, t0 = ofr_now_ms ();
    for (int i = 0; i < n; i++) {
        if (ofr_camvid_load_image (cv, i, ofr_espnet_run_input (run), err, sizeof err) != 0
            || ofr_camvid_load_labels (cv, i, labels, err, sizeof err) != 0) {
            fprintf (stderr, "espnet_camvid_eval: %s\n", err);
            goto done;
        }
        double t = ofr_now_ms ();
        for (int b = 0; b <= exit_b; b++) {
            double tb = ofr_now_ms ();
            if (ofr_espnet_run_block (run, b, skip[b], err, sizeof err) != 0) {
                fprintf (stderr, "espnet_camvid_eval: %s\n", err);
                goto done;
            }
            t_block[b] += ofr_now_ms () - tb;
        }
        if (ofr_espnet_labels (run, exit_b, pred, err, sizeof err) != 0) {
            fprintf (stderr, "espnet_camvid_eval: %s\n", err);
            goto done;
        }
        t_fwd += ofr_now_ms () - t;
        ofr_camvid_confusion_add (conf, labels, pred, npix);
    }
    double t_all = ofr_now_ms () - t0;
    ofr_camvid_scores s;
    ofr_camvid_scores_of (conf, &s);
    printf ("model %s, %s split: %d images (%dx%d), exit at %s\n", o.model, o.split, n, W, H,
            ofr_espnet_block_name (m, exit_b));
    for (int c = 0; c < OFR_CAMVID_CLASSES; c++)
        printf ("  IoU %-11s %6.2f%s\n", ofr_camvid_class_name (c), s.iou[c],
                c == OFR_CAMVID_VOID ? "   (not in mIoU)" : "");
    printf ("mIoU (classes 0..10) %.2f   mIoU (all 12) %.2f   pixel accuracy %.2f\n",
            s.miou, s.miou_all, s.pixel_acc);
    printf ("%.3f GFLOPs/image (convolutions), forward %.1f ms/image, %.1f GFLOP/s; "
            "with PNG decoding %.1f ms/image\n", flops / 1e9, t_fwd / n,
            flops / 1e9 / (t_fwd / n / 1e3), t_all / n);
    for (int b = 0; o.profile && b <= exit_b; b++) {
        double gf = ofr_espnet_block_flops (m, b, H, W) / 1e9;
        printf ("  %-11s %7.3f GFLOPs %7.2f ms %6.1f GFLOP/s%s\n", ofr_espnet_block_name (m, b),
                gf, t_block[b] / n, skip[b] ? 0.0 : gf / (t_block[b] / n / 1e3),
                skip[b] ? "  (skipped)" : "");
    }
    status = 0;
done:
    free (t_block);
    free (skip);
    free (labels);
    free (pred);
    free (found);
    ofr_espnet_run_destroy (&run);
    ofr_camvid_destroy (&cv);
    ofr_espnet_destroy (&m);
    return status;
}
