/*  hf_s2s_impl.h -- shared by hf_s2s.c and the per-family loaders. */
#ifndef OFR_HF_S2S_IMPL_H
#define OFR_HF_S2S_IMPL_H

#include "hf_s2s.h"
#include "s2s_impl.h"
#include "jsonlite.h"
#include "safetensors.h"

struct ofr_hf_s2s {
    ofr_safetensors *st;
    float          **own;       /* copies made at load (fused projections) */
    size_t           n_own, cap_own;
};

/* A loader's view of the directory. */
typedef struct {
    const char         *dir, *cfg_path;
    const ofr_jsonlite *cfg;
    ofr_seq2seq        *m;
    char               *err;
    size_t              errlen;
} hf_ctx;

/* config.json integer key (>= lo; dflt < lo means required). */
int   hf_int (hf_ctx *c, const char *key, long dflt, long lo, long *out);
/* config.json bool / number / string key or the default. */
bool  hf_bool (hf_ctx *c, const char *key, bool dflt);
double hf_num (hf_ctx *c, const char *key, double dflt);
const char *hf_str (hf_ctx *c, const char *key, const char *dflt);
/* Tensor of exactly this shape (rank 1 or 2; d1 0 for rank 1). */
int   hf_tensor (hf_ctx *c, const char *name, long d0, long d1, const float **out);
/* A new owned float buffer of n elements (NULL and an error on OOM). */
float *hf_alloc (hf_ctx *c, size_t n);
/* w = rows of the tensors a, b (and c when non-NULL), each [d][in],
   stacked into an owned [k d][in] (biases likewise, [d] each). */
int   hf_fuse (hf_ctx *c, const char *const *names, int k, long d, long in, bool bias,
               s2s_lin *out);
/* vocab.json {piece: id} into m->src and m->tgt, rows entries exactly. */
int   hf_vocab_json (hf_ctx *c, int rows);

int   ofr_hf_marian_load (hf_ctx *c);                 /* hf_marian.c */
int   ofr_hf_t5_load (hf_ctx *c);                     /* hf_t5.c */

#endif
