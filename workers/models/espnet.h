/*  espnet.h -- ESPNet (Mehta et al., ECCV 2018) semantic segmentation on
    the CPU, loaded from a directory written by `offramp import`
    (config.json + model.safetensors, see docs/IMPORT.md).

    The network is the training-time definition of sacmehta/ESPNet
    (train/Model.py: ESPNet with p ESP blocks at 1/4 and q at 1/8 of the
    input, and the light decoder whose final 3x3 CBR takes 19 + classes
    channels). It runs block by block so that a method can skip residual
    ESP blocks or stop at a coarser decoder stage:

      0            level1     CBR 3->16 /2, input pyramid, BR(19)     1/2
      1            level2_0   DownSampler 19->64                      1/4
      2..p+1       level2.i   residual ESP 64->64    (skippable)      1/4
      p+2          level3_0   BR(131) of [level2, level2_0, input/4],
                              DownSampler 131->128                     1/8
      p+3..p+q+2   level3.i   residual ESP 128->128  (skippable)      1/8
      p+q+3        decoder.l3 BR(256), 1x1 classifier + BN, up x2      1/4
      p+q+4        decoder.l2 1x1 of level-2 features, BR + ESP, up x2 1/2
      p+q+5        decoder.l1 CBR(19+classes -> classes), up x2        1/1

    Decoder block outputs are class scores (classes channels), so each is
    a possible exit. Batch norms are folded into the preceding convolution
    where one exists. Input: CHW float, height and width multiples of 8. */
#ifndef OFR_ESPNET_H
#define OFR_ESPNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ofr_espnet ofr_espnet;
typedef struct ofr_espnet_run ofr_espnet_run;

/* A read-only CHW feature map. */
typedef struct {
    const float *data;
    int          c, h, w;
} ofr_fmap;

/* Load DIR/config.json (architecture "espnet", p, q, classes) and
   DIR/model.safetensors. Returns 0, or -1 naming the file and tensor. The
   model keeps its own copies of the weights. */
int ofr_espnet_load (const char *dir, ofr_espnet **out, char *err, size_t errlen);

/* Free the model and set *self to NULL. NULL-safe. Destroy runs first. */
void ofr_espnet_destroy (ofr_espnet **self);

/* Output classes, and the number of residual ESP blocks at 1/4 (p) and
   1/8 (q) of the input resolution, as read from config.json. */
int ofr_espnet_classes (const ofr_espnet *self);
int ofr_espnet_p (const ofr_espnet *self);
int ofr_espnet_q (const ofr_espnet *self);

/* Number of blocks (p + q + 6) and the name of block b ("level3.4"). */
int ofr_espnet_n_blocks (const ofr_espnet *self);
const char *ofr_espnet_block_name (const ofr_espnet *self, int b);

/* True for the residual ESP blocks of levels 2 and 3. Such a block is
   out = BR(x + ESP(x)) (BR: batch norm + PReLU after the residual add);
   skipping it drops the branch ESP(x) and keeps the identity path and the
   BR: out = BR(x). */
bool ofr_espnet_block_skippable (const ofr_espnet *self, int b);

/* Convolution FLOPs (2 per multiply-accumulate, transposed convolutions
   included; pooling, batch norm, PReLU and additions not counted) of
   block b for an h x w input. */
double ofr_espnet_block_flops (const ofr_espnet *self, int b, int h, int w);

/* FLOPs of skipped block b (skippable blocks; 0 for others): its BR alone,
   3 per element of its output (batch-norm affine 2, PReLU 1). A method
   that skips the block charges this itself (the host charges nothing for
   a skipped layer; plugins/seg_skip.c, seg_oracle.c). */
double ofr_espnet_block_skip_flops (const ofr_espnet *self, int b, int h, int w);

/* Activations and scratch for h x w inputs (multiples of 8), allocated
   once here; running blocks allocates nothing. The model must outlive the
   run. Returns 0, or -1 for a bad size or no memory. */
int ofr_espnet_run_new (const ofr_espnet *m, int h, int w, ofr_espnet_run **out,
                        char *err, size_t errlen);

/* Free a run and set *self to NULL. NULL-safe. */
void ofr_espnet_run_destroy (ofr_espnet_run **self);

/* The input buffer, [3][h][w] floats, filled by the caller (owned by run). */
float *ofr_espnet_run_input (ofr_espnet_run *self);

/* Run block b on the current state. Blocks run in order; b = 0 starts a
   new image. With skip (skippable blocks only) the block's output is
   BR(input): its convolutions are not run (see ofr_espnet_block_skippable).
   Returns 0, or -1 if b is out of order or not skippable. */
int ofr_espnet_run_block (ofr_espnet_run *self, int b, bool skip,
                          char *err, size_t errlen);

/* Run every block, skipping none. */
int ofr_espnet_forward (ofr_espnet_run *self, char *err, size_t errlen);

/* Output of block b (valid once it ran, until the next image). */
ofr_fmap ofr_espnet_block_output (const ofr_espnet_run *self, int b);

/* Per-pixel labels [h][w] from decoder block b (the last block gives the
   model's prediction; earlier decoder blocks are coarser exits, their
   argmax upsampled by pixel repetition). Returns 0, or -1 if b has not run
   or is not a decoder block. */
int ofr_espnet_labels (const ofr_espnet_run *self, int b, uint8_t *labels,
                       char *err, size_t errlen);

#endif
