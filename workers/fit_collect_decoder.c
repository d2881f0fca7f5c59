/*  fit_collect_decoder.c -- fitting data of a decoder LM (see
    fit_collect_decoder.h). Any decoder the decoder driver runs
    (ofr_decoder_model_parts: llama2c, hf-llama, hf-gpt2, hf-gpt-neox),
    prompts encoded as the driver does (BOS first when the tokenizer has
    one), so the fitted states are the ones the plugin sees at run time. */
#include "fit_collect_decoder.h"
#include "models/decoder.h"
#include "models/llama_model.h"
#include "text/dec_tok.h"
#include "../suites/lm_suite.h"
#include "../common/ofr_common.h"
#include "engine/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float  *feat;
    int    *labels;
    size_t  n, cap_f, cap_l;
} grow_buf;

/* One example: prompt tokens tok[0..np), then greedy. */
static int
one (ofr_decoder *d, const int *tok, int np, grow_buf *g, char *err, size_t errlen)
{
    const ofr_llama *m = ofr_decoder_model (d);
    int L = ofr_llama_n_layers (m), dim = ofr_llama_dim (m), V = ofr_llama_vocab_size (m);
    int row = 0, token = tok[0], n_gen = 0, max_seq = ofr_decoder_max_seq (d);
    size_t per = (size_t) L * dim;
    ofr_decoder_reset (d, row);
    for (int p = 0; p < max_seq; p++) {
        if (ofr_grow ((void **) &g->feat, &g->cap_f, (g->n + 1) * per, sizeof (float)) != 0
            || ofr_grow ((void **) &g->labels, &g->cap_l, g->n + 1, sizeof (int)) != 0)
            return ofr_errf (err, errlen, "fit: out of memory for %zu positions of %d "
                             "layers x %d", g->n + 1, L, dim);
        if (ofr_decoder_begin (d, &row, &token, 1, err, errlen) != 0)
            return -1;
        float *f = g->feat + g->n * per;
        for (int l = 0; l < L; l++) {
            if (ofr_decoder_layer (d, l, &row, 1, err, errlen) != 0)
                return -1;
            memcpy (f + (size_t) l * dim, ofr_decoder_hidden (d, row),
                    (size_t) dim * sizeof (float));
        }
        int next;
        if (p + 1 < np)
            next = tok[p + 1];
        else {
            if (ofr_decoder_head (d, &row, 1, err, errlen) != 0)
                return -1;
            next = ofr_argmax (ofr_decoder_logits (d, row), V);
            n_gen++;
        }
        g->labels[g->n++] = next;
        if (p + 1 >= np && (ofr_llama_is_stop (m, next) || n_gen == OFR_FIT_DEC_MAX_NEW))
            break;
        token = next;
    }
    return 0;
}

int
ofr_fit_collect_decoder (ofr_model *model, const ofr_suite_class *suite, void *suite_data,
                         int n, bool progress, ofr_fit_data *out, char *err, size_t errlen)
{
    *out = (ofr_fit_data) { 0 };
    const ofr_llama *m = NULL;
    const ofr_dec_tok *tok = NULL;
    const ofr_lm_suite *lm = ofr_lm_suite_of (suite);
    if (ofr_decoder_model_parts (model, &m, &tok, err, errlen) != 0)
        return -1;
    if (!lm)
        return ofr_errf (err, errlen, "suite %s is not a decoder-LM suite", suite->name);
    ofr_decoder *d = NULL;
    if (ofr_decoder_new (m, 1, 0, &d, err, errlen) != 0)
        return -1;
    grow_buf g = { 0 };
    int rc = 0;
    double t0 = ofr_now_ms (), last = t0;
    for (int i = 0; i < n && rc == 0; i++) {
        ofr_lm_task t;
        int *ids = NULL, nid = 0;
        if (lm->task (suite_data, i, &t) != 0)
            rc = ofr_errf (err, errlen, "suite %s: no example %d", suite->name, i);
        else if (ofr_dec_tok_encode (tok, t.prompt, true, &ids, &nid, err, errlen) != 0)
            rc = -1;
        else if (nid < 1 || nid >= ofr_decoder_max_seq (d))
            rc = ofr_errf (err, errlen, "suite %s example %d: prompt of %d tokens (the "
                           "model holds %d)", suite->name, i, nid, ofr_decoder_max_seq (d));
        else
            rc = one (d, ids, nid, &g, err, errlen);
        free (ids);
        if (progress && ofr_now_ms () - last > 3000) {
            last = ofr_now_ms ();
            fprintf (stderr, "offramp fit: %d/%d sequences, %zu positions\n", i + 1, n, g.n);
        }
    }
    ofr_decoder_destroy (&d);
    if (rc != 0) {
        free (g.feat);
        free (g.labels);
        return -1;
    }
    *out = (ofr_fit_data) { .n = (int) g.n, .n_layers = ofr_llama_n_layers (m),
                            .n_outputs = 0, .feat_dim = ofr_llama_dim (m), .probs = NULL,
                            .features = g.feat, .labels = g.labels, .raw_state = false };
    return 0;
}
