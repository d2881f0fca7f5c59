/*  token_host.c -- the host-table entries shared by the token drivers
    (token_host.h). */
#include "token_host.h"
#include "artifacts.h"
#include "../common/ofr_common.h"

#include <stdarg.h>
#include <stdio.h>

static const ofr_runner_ctx *
ctx_of (void *host_ctx)
{
    return host_ctx ? *(const ofr_runner_ctx *const *) host_ctx : NULL;
}

void
ofr_token_host_log (void *host_ctx, int level, const char *fmt, ...)
{
    const ofr_runner_ctx *ctx = ctx_of (host_ctx);
    char line[768];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    ofr_log (level, "plugin %s: %s", ctx ? ctx->method->name : "?", line);
}

int
ofr_token_host_artifact_save (void *host_ctx, const char *name, const void *data, size_t size)
{
    const ofr_runner_ctx *ctx = ctx_of (host_ctx);
    if (!ctx || !ctx->artifacts) {
        ofr_token_host_log (host_ctx, OFR_WARN, "artifact '%s': no artifact store for this cell",
                            name ? name : "?");
        return -1;
    }
    return ofr_artifacts_save (ctx->artifacts, name, data, size);
}

const void *
ofr_token_host_artifact_load (void *host_ctx, const char *name, size_t *size)
{
    const ofr_runner_ctx *ctx = ctx_of (host_ctx);
    if (size)
        *size = 0;
    if (!ctx || !ctx->artifacts)
        return NULL;
    return ofr_artifacts_load (ctx->artifacts, name, size);
}

const float *
ofr_token_host_model_tensor (void *host_ctx, const char *name, size_t *n)
{
    (void) host_ctx, (void) name;
    if (n)
        *n = 0;
    return NULL;
}

int
ofr_token_host_oracle_try (void *host_ctx, int i, const uint8_t *skip, int exit_layer,
                           double *stats, int max_stats)
{
    (void) host_ctx, (void) i, (void) skip, (void) exit_layer, (void) stats,
    (void) max_stats;
    return -1;     /* dense prediction only */
}
