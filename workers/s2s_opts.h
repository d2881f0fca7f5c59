/*  s2s_opts.h -- decoding options of seq2seq cells. They are written as
    parameters of the cell's method (`{name: calm, params: {lambda: 0.7,
    beam: 4}}`, `--method full:beam=4,length_penalty=0.6`), so they sweep
    and show in reports like any parameter, but they belong to the seq2seq
    driver, not the plugin: for a seq2seq suite the coordinator and the
    task child take them out before checking the rest against the plugin's
    declarations.

        beam            1..64, default 1 (greedy search)
        length_penalty  0..10, default 1: a finished hypothesis scores
                        log p / length^length_penalty (CTranslate2's, as in
                        `offramp translate --length-penalty`)
        max_length      1..256, default 256: decoding steps (CTranslate2's
                        max_decoding_length, `offramp translate --max-length`) */
#ifndef OFR_S2S_OPTS_H
#define OFR_S2S_OPTS_H

#include "../common/ofr_types.h"
#include <stdbool.h>
#include <stddef.h>

/* The cell's beam and length penalty (defaults when absent). Returns 0, or
   -1 naming the bad key and value. */
int ofr_seq2seq_decode_opts (const ofr_cell *cell, int *beam, float *length_penalty,
                             char *err, size_t errlen);

/* The cell's max_length (256 when absent; checked by decode_opts). */
int ofr_seq2seq_max_length (const ofr_cell *cell);

/* The plugin's parameter set of a cell, as the coordinator checks it and
   the task child runs it: for a seq2seq cell the decoding options are
   checked here and left out, the rest (all of them otherwise) are checked
   against method's declarations. Returns 0 and *params (caller destroys),
   or -1 naming the bad key. */
typedef struct ofr_method ofr_method;
typedef struct ofr_params ofr_params;
int ofr_cell_method_params (const ofr_method *method, const ofr_cell *cell, bool seq2seq,
                            ofr_params **params, char *err, size_t errlen);

#endif
