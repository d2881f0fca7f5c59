/*  runner.h -- the classifier driver: runs one cell's examples through a
    layered model batch by batch, calling the method plugin before and after
    every layer, compacting exited rows out of the active set, charging FLOPs
    and attributing wall time, and emitting one record per example. It also
    implements the plugin host table (ofr_host) on top of the model. */
#ifndef OFR_RUNNER_H
#define OFR_RUNNER_H

#include "../common/ofr_types.h"
#include "../plugins/offramp_plugin.h"
#include "../suites/suite.h"
#include "model.h"
#include "artifacts.h"

/* Called once per finished example; return 0 to go on, -1 to abort. The
   record is only valid during the call. */
typedef int (ofr_emit_fn) (void *arg, const ofr_record *record);

typedef struct {
    ofr_model             *model;
    const ofr_suite_class *suite;
    void                  *suite_data;
    const ofr_method      *method;
    void                  *method_state;   /* from method->create            */
    const ofr_cell        *cell;
    ofr_artifacts         *artifacts;      /* fitted artifacts of the cell, or
                                              NULL (artifact_* then fail)    */
} ofr_runner_ctx;

/* Run the listed examples (suite indices). Returns 0, or -1 with a message
   (model error, plugin callback error, emit abort). */
int ofr_runner_run (const ofr_runner_ctx *ctx, const int32_t *examples, int n,
                    ofr_emit_fn *emit, void *arg, char *err, size_t errlen);

/* Call the method's fit() on features collected from a fitting split
   (fit->host_ctx is set here: artifact_save goes to ctx->artifacts; the
   per-row host functions see no rows). Returns 0, or -1 with a message. */
int ofr_runner_fit (const ofr_runner_ctx *ctx, ofr_fit_ctx *fit,
                    char *err, size_t errlen);

/* The host table plugins receive (static, valid for the process). */
const ofr_host *ofr_runner_host (void);

#endif
