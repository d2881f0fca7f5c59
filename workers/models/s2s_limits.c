/*  s2s_limits.c -- the longest source and target a model takes (see
    seq2seq.h): the runtime's OFR_S2S_MAX_INPUT, learned position tables,
    and a Hugging Face max_position_embeddings. */
#include "s2s_impl.h"

static int
min_pos (int n, const ofr_seq2seq *m, bool learned, int n_learned)
{
    if (learned && n_learned < n)
        n = n_learned;
    if (m->max_pos > 0 && m->max_pos < n)
        n = m->max_pos;
    return n;
}

int
ofr_seq2seq_source_specials (const ofr_seq2seq *m)
{
    return (int) m->add_src_bos + (int) m->add_src_eos;
}

int
ofr_seq2seq_max_source (const ofr_seq2seq *m)
{
    return min_pos (OFR_S2S_MAX_INPUT + ofr_seq2seq_source_specials (m), m,
                    m->src_pos != NULL, m->n_src_pos);
}

int
ofr_seq2seq_max_target (const ofr_seq2seq *m)
{
    return min_pos (65536, m, m->tgt_pos != NULL, m->n_tgt_pos);
}
