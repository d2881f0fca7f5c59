/*  seq2seq.h -- a Transformer encoder-decoder (CTranslate2 "Transformer"
    specs: pre-norm, sinusoidal or learned positions, fused QKV) run one
    decoder layer at a time, so that a dynamic-inference driver can decide
    between layers for every generated token.

        ofr_seq2seq_open (dir)                    model.bin + vocabularies
        ofr_s2s_state_new (m, rows, ...)          buffers for `rows` beams
        ofr_s2s_encode (st, src, n)               encoder once; caches the
                                                  cross-attention K/V per layer
        per token:
            ofr_s2s_begin (st, rows, tokens, n)   embed + position
            ofr_s2s_layer (st, l, rows, n)        self-attn, cross-attn, FFN
            ofr_s2s_head (st, rows, n)            final norm + projection
        ofr_s2s_reorder (st, parents, n)          beam search: row i takes the
                                                  history of row parents[i]

    Every decoder layer must run for every position of a row: a skipped
    layer would leave a stale self-attention K/V entry (layer skipping and
    early exit with KV propagation are not implemented yet; the LM head may
    be applied after any layer, ofr_s2s_head).

    One source sentence per state; rows are its beams (or independent
    hypotheses). Every matmul, attention products included, is an OpenBLAS
    sgemm. No allocation after ofr_s2s_state_new. Not thread safe. */
#ifndef OFR_SEQ2SEQ_H
#define OFR_SEQ2SEQ_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ofr_seq2seq ofr_seq2seq;
typedef struct ofr_s2s_state ofr_s2s_state;

/* Longest source accepted, in tokens (CTranslate2's default
   max_input_length; it truncates, offramp refuses with an error). */
#define OFR_S2S_MAX_INPUT 1024

/* Open a CTranslate2 model directory: model.bin, source_vocabulary.txt +
   target_vocabulary.txt (or shared_vocabulary.txt), optional config.json.
   Returns 0 and *out, or -1 with a message naming the file. */
int  ofr_seq2seq_open (const char *dir, ofr_seq2seq **out, char *err, size_t errlen);
void ofr_seq2seq_destroy (ofr_seq2seq **m);

int  ofr_seq2seq_enc_layers (const ofr_seq2seq *m);
int  ofr_seq2seq_dec_layers (const ofr_seq2seq *m);
int  ofr_seq2seq_dim (const ofr_seq2seq *m);
int  ofr_seq2seq_tgt_vocab (const ofr_seq2seq *m);
int  ofr_seq2seq_bos (const ofr_seq2seq *m);     /* decoder start token */
int  ofr_seq2seq_eos (const ofr_seq2seq *m);
/* Parameter count (float tensors of model.bin). */
size_t ofr_seq2seq_params (const ofr_seq2seq *m);

/* Source token ids of tokens[0..n) (unknown tokens map to <unk>; the
   optional source BOS/EOS of config.json are added): ids needs n + 2.
   Returns the id count; *n_unk counts unknown tokens. */
int  ofr_seq2seq_src_ids (const ofr_seq2seq *m, const char *const *tokens, int n,
                          int *ids, int *n_unk);
/* Target token string of id (NULL if out of range). */
const char *ofr_seq2seq_tgt_token (const ofr_seq2seq *m, int id);

/* A state for `rows` rows, sources up to max_src tokens and max_tgt
   decoder positions per row. Returns 0 or -1 (bad sizes, out of memory). */
int  ofr_s2s_state_new (const ofr_seq2seq *m, int rows, int max_src, int max_tgt,
                        ofr_s2s_state **out, char *err, size_t errlen);
void ofr_s2s_state_destroy (ofr_s2s_state **st);
int  ofr_s2s_rows (const ofr_s2s_state *st);
const ofr_seq2seq *ofr_s2s_model (const ofr_s2s_state *st);
int  ofr_s2s_max_tgt (const ofr_s2s_state *st);

/* Run the encoder on src[0..n) (1 <= n <= max_src) and reset every row.
   Returns 0 or -1 (too long: the message gives both lengths; bad id). */
int  ofr_s2s_encode (ofr_s2s_state *st, const int *src, int n, char *err, size_t errlen);

/* Start a position in rows[0..n) (distinct) with the given tokens. */
int  ofr_s2s_begin (ofr_s2s_state *st, const int *rows, const int *tokens, int n,
                    char *err, size_t errlen);
/* Decoder layer l on the token in flight of rows[0..n). */
int  ofr_s2s_layer (ofr_s2s_state *st, int l, const int *rows, int n, char *err, size_t errlen);
/* Final norm + output projection into each row's logits. */
int  ofr_s2s_head (ofr_s2s_state *st, const int *rows, int n, char *err, size_t errlen);
const float *ofr_s2s_logits (const ofr_s2s_state *st, int row);   /* [tgt_vocab] */
/* Positions held by row (the token in flight included). */
int  ofr_s2s_length (const ofr_s2s_state *st, int row);

/* Rows 0..n-1 take the decoder history (caches, length, hidden state) of
   rows parents[0..n) (any repetition). Returns 0 or -1. */
int  ofr_s2s_reorder (ofr_s2s_state *st, const int *parents, int n, char *err, size_t errlen);

/* ---- search (s2s_search.c), following CTranslate2's decoding.cc ------- */

typedef struct {
    int   beam;            /* 1 = greedy search; default 2 (CTranslate2's)   */
    float length_penalty;  /* score / length^lp; 1                          */
    int   max_length;      /* decoding steps; 256                           */
    int   min_length;      /* EOS forbidden before this step; 1             */
} ofr_s2s_opts;

ofr_s2s_opts ofr_s2s_default_opts (void);

/* Translate src[0..n_src): best hypothesis (EOS not included) into
   out[0..cap), its length in *n_out and its length-normalised log
   probability in *score. The state needs rows >= beam and max_tgt >=
   max_length. Returns 0 or -1. */
int  ofr_s2s_translate (ofr_s2s_state *st, const int *src, int n_src, const ofr_s2s_opts *o,
                        int *out, int cap, int *n_out, float *score,
                        char *err, size_t errlen);

/* Teacher-forced scoring: log p(tgt[j] | ...) for tgt[0..n_tgt) and then
   EOS, n_tgt + 1 values into logprobs (CTranslate2's score_batch). */
int  ofr_s2s_score (ofr_s2s_state *st, const int *src, int n_src, const int *tgt, int n_tgt,
                    float *logprobs, char *err, size_t errlen);

#endif
