/*  fit_collect_decoder.h -- the fitting data of a decoder LM (the decoder
    half of fit_collect.h): for each example of a decoder-LM suite's train
    split, the prompt and the full model's greedy continuation (up to
    OFR_FIT_DEC_MAX_NEW tokens: the model's own text after held-out
    openings), run at full depth; every position is one fitting example
    whose features are the hidden state after each layer (the last layer's
    = the final pre-norm state, what a tuned-lens translator targets) and
    whose label is the next token. A vocabulary-wide distribution per
    position and layer would not fit in memory: probs is NULL and
    n_outputs 0. */
#ifndef OFR_FIT_COLLECT_DECODER_H
#define OFR_FIT_COLLECT_DECODER_H

#include "fit_collect.h"

#define OFR_FIT_DEC_MAX_NEW 128

int ofr_fit_collect_decoder (ofr_model *model, const ofr_suite_class *suite,
                             void *suite_data, int n, bool progress, ofr_fit_data *out,
                             char *err, size_t errlen);

#endif
