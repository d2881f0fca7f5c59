/*  testnet.h -- the harness's test double: a tiny deterministic multi-layer
    classifier ("testnet") and the generated suite it is evaluated on
    ("synthetic"). Weights and examples come from fixed seeds, so every
    process that builds them gets the same numbers. Not a product feature:
    it exists so that the harness can be exercised end to end before (and
    without) real checkpoints.

    The generated task: x ~ N(0, I_16), label = argmax(T x) for a fixed
    teacher T (2 classes). testnet layer l (of 6) refines a residual state
    h <- h + 0.5 tanh(A_l h); the exit head of layer l is (T + noise_l) h with
    noise shrinking with depth, so deeper exits are more accurate and easy
    examples (large margin) are right early -- the shape early exit needs. */
#ifndef OFR_TESTNET_H
#define OFR_TESTNET_H

#include "../../workers/model.h"

#define OFR_TESTNET_DIM      16
#define OFR_TESTNET_CLASSES  2

/* Open "testnet" or "testnet-L<layers>" (1..64 layers). */
int ofr_testnet_open (const char *name, ofr_model **out, char *err, size_t errlen);

/* Deterministic teacher matrix entry (shared by model and suite). */
float ofr_testnet_teacher (int cls, int j);

#endif
