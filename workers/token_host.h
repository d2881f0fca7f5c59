/*  token_host.h -- host-table entries the token-level drivers share
    (decoder_runner.c, seq2seq_runner.c). Each takes a host_ctx whose FIRST
    member is the driver's `const ofr_runner_ctx *ctx` (both drivers check
    that with a static assertion), so one function serves either driver. */
#ifndef OFR_TOKEN_HOST_H
#define OFR_TOKEN_HOST_H

#include "runner.h"

void ofr_token_host_log (void *host_ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int  ofr_token_host_artifact_save (void *host_ctx, const char *name,
                                   const void *data, size_t size);
const void *ofr_token_host_artifact_load (void *host_ctx, const char *name, size_t *size);
/* No auxiliary model tensors and no dense-prediction oracle for token models. */
const float *ofr_token_host_model_tensor (void *host_ctx, const char *name, size_t *n);
int  ofr_token_host_oracle_try (void *host_ctx, int i, const uint8_t *skip,
                                int exit_layer, double *stats, int max_stats);

#endif
