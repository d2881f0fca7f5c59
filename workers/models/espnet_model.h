/*  espnet_model.h -- the ESPNet runtime (espnet.h) as an ofr_model of kind
    OFR_KIND_CNN, so that `offramp run` drives it block by block.

    Layers are the runtime's blocks (p + q + 6: level1, level2_0, the p
    residual ESP blocks level2.i, level3_0, the q blocks level3.i, then the
    decoder stages decoder.l3, decoder.l2, decoder.l1). A method may SKIP
    the residual ESP blocks (their output is then their input); skipping any
    other block is an error. Exits exist at the three decoder stages: their
    exit distribution is a per-pixel softmax, n_outputs = classes x H x W
    floats in [class][y][x] order at the input resolution (the 1/4 and 1/2
    stages are upsampled by pixel repetition), and the prediction is the
    per-pixel argmax label map (ops->exit_labels). The exit head costs
    nothing extra: the decoder convolutions are charged as the layer.

    The input resolution is fixed per model, because n_outputs must be
    known before a batch: config.json "input_size": [H, W] (multiples of 8),
    480x360 (H 360, W 480, the CamVid training size) if absent. Examples
    carry their preprocessed input as features, [3][H][W] floats (the
    camvid suite does that). Each batch row holds its own activations
    (~70 MB at 480x360), kept across batches: small batch sizes (1..4)
    are the sensible choice for this model. RUN_LOWP runs at full
    precision (lowp_cost 1). */
#ifndef OFR_ESPNET_MODEL_H
#define OFR_ESPNET_MODEL_H

#include "../model.h"

#include <stdbool.h>
#include <stddef.h>

/* Open an imported model directory (config.json with "architecture":
   "espnet" + model.safetensors, see docs/IMPORT.md). The model's name is
   the directory's last component. Returns 0, or -1 naming the file. */
int ofr_espnet_model_open (const char *dir, ofr_model **out, char *err, size_t errlen);

/* True if m was opened by ofr_espnet_model_open. */
bool ofr_espnet_model_is (const ofr_model *m);

#endif
