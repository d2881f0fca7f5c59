/*  seq2seq.h -- a Transformer encoder-decoder (CTranslate2 "Transformer"
    specs: pre-norm, sinusoidal or learned positions, fused QKV; and the
    Hugging Face Marian / T5 layouts, hf_s2s.h: post-norm, RMS norms,
    relative position biases, gated FFNs) run one
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

    A decoder layer a position does not run (skipped, or above an early
    exit) must still leave its self-attention K/V entry for that position:
    ofr_s2s_skip (st, l, rows, n, fill) projects the current state through
    the layer's K/V (OFR_S2S_KV_PROPAGATE, CALM's state propagation) or
    masks the entry out of later positions' attention (OFR_S2S_KV_MASK);
    the state passes through unchanged (identity). The head may be applied
    after any layer (ofr_s2s_head).

    One source sentence per state, rows its beams (or independent
    hypotheses); or several sources (ofr_s2s_encode_slots), each row bound
    to one of them (ofr_s2s_bind), so a batch of sentences shares every
    decoder sgemm. Every matmul, attention products included, is an OpenBLAS
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
/* Longest source in ids (the source BOS/EOS the model adds included, of
   which there are ofr_seq2seq_source_specials) and the most decoder
   positions the model takes: OFR_S2S_MAX_INPUT tokens, learned position
   tables, max_position_embeddings (s2s_limits.c). */
int  ofr_seq2seq_max_source (const ofr_seq2seq *m);
int  ofr_seq2seq_source_specials (const ofr_seq2seq *m);
int  ofr_seq2seq_max_target (const ofr_seq2seq *m);
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

/* Several sources in one state (a batch of sentences, each with its beams):
   `slots` sources of up to max_src tokens each, src_total tokens together.
   ofr_s2s_state_new is the one-slot case (src_total = max_src). */
int  ofr_s2s_state_new_slots (const ofr_seq2seq *m, int rows, int slots, int max_src,
                              int src_total, int max_tgt, ofr_s2s_state **out,
                              char *err, size_t errlen);
/* Encode src[k][0..n[k]) into slot k, k < n_slots (n[k] = 0: an empty slot
   no row may read), each source on its own (the same sgemms as
   ofr_s2s_encode, so a sentence's numbers do not depend on its batch);
   every row is reset and reads slot 0. */
int  ofr_s2s_encode_slots (ofr_s2s_state *st, const int *const *src, const int *n,
                           int n_slots, char *err, size_t errlen);
/* Rows rows[0..n) are emptied and read slot slots[i] from now on (ofr_s2s_reorder
   carries a row's slot with its history). */
int  ofr_s2s_bind (ofr_s2s_state *st, const int *rows, const int *slots, int n,
                   char *err, size_t errlen);

/* Start a position in rows[0..n) (distinct) with the given tokens. */
int  ofr_s2s_begin (ofr_s2s_state *st, const int *rows, const int *tokens, int n,
                    char *err, size_t errlen);
/* Decoder layer l on the token in flight of rows[0..n). */
int  ofr_s2s_layer (ofr_s2s_state *st, int l, const int *rows, int n, char *err, size_t errlen);
/* Layer l not run for the token in flight of rows[0..n): the state passes
   through, the layer's self-attention K/V entry of the position is filled
   per `fill`. Returns 0 or -1. */
typedef enum { OFR_S2S_KV_PROPAGATE = 0, OFR_S2S_KV_MASK = 1 } ofr_s2s_kv_fill;
int  ofr_s2s_skip (ofr_s2s_state *st, int l, const int *rows, int n, ofr_s2s_kv_fill fill,
                   char *err, size_t errlen);
/* Encoder output of the last ofr_s2s_encode: [*n][*d] (before a hybrid's
   projection), read-only. */
const float *ofr_s2s_memory (const ofr_s2s_state *st, int *n, int *d);
/* Current decoder state of row ([dim], read-only; NULL if out of range). */
const float *ofr_s2s_hidden (const ofr_s2s_state *st, int row);
/* Final norm + output projection into each row's logits. */
int  ofr_s2s_head (ofr_s2s_state *st, const int *rows, int n, char *err, size_t errlen);
const float *ofr_s2s_logits (const ofr_s2s_state *st, int row);   /* [tgt_vocab] */
/* Positions held by row (the token in flight included). */
int  ofr_s2s_length (const ofr_s2s_state *st, int row);

/* Rows 0..n-1 take the decoder history (caches, length, hidden state) of
   rows parents[0..n) (any repetition). Returns 0 or -1. */
int  ofr_s2s_reorder (ofr_s2s_state *st, const int *parents, int n, char *err, size_t errlen);

/* ---- analytic FLOPs (s2s_flops.c; docs/FLOPS.md conventions) ----------

   d model width, F FFN width, H heads, V target vocabulary, N source
   tokens, T attended target positions (the position in flight included),
   L_dec decoder layers; act = 1 per element for ReLU, 8 GELU, 5 SiLU.
   (Hybrid models: the encoder terms use its own width, heads and FFN, and
   the encoder adds the projection to the decoder width, 2 N d_enc d + N d.
   Gated FFNs (T5) add 2dF + F per token; T5's relative bias additions,
   RMS vs LayerNorm and Marian's missing final norms are not told apart.)
   encoder (once):   N (2d embedding sum) + per layer [2 LN 16Nd, QKV 6Nd^2
                     + 3Nd, attention 4N^2 d + softmax 5HN^2, out 2Nd^2 + Nd,
                     FFN 4NdF + NF + Nd + act NF, residuals 2Nd] + final LN
                     8Nd + cross K/V of every decoder layer L_dec (4Nd^2 + 2Nd)
   decoder layer:    3 LN 24d, QKV 6d^2 + 3d, self-attention 4Td + 5HT,
                     out 2d^2 + d, cross Q 2d^2 + d, cross-attention 4Nd +
                     5HN, cross out 2d^2 + d, FFN 4dF + F + d + act F,
                     residuals 3d
   token embedding:  2d (scale and position sum; per position)
   head:             LN 8d + 2dV + V (+ softmax 5V)
   KV fill (copy-up of one skipped / exited layer): LN 8d + 4d^2 + 2d */
double ofr_s2s_encoder_flops (const ofr_seq2seq *m, int n_src);
double ofr_s2s_layer_flops (const ofr_seq2seq *m, int t_len, int n_src);
double ofr_s2s_embed_flops (const ofr_seq2seq *m);
double ofr_s2s_head_flops (const ofr_seq2seq *m, bool with_softmax);
double ofr_s2s_kv_fill_flops (const ofr_seq2seq *m);

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
