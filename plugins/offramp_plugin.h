/*  offramp_plugin.h -- THE plugin ABI of offramp (v1.3).

    A method plugin is one C file compiled into a shared object that exports a
    single symbol:

        const ofr_method *ofr_method_entry (const ofr_host *host);

    The host calls it once after dlopen. Returning NULL refuses to load (the
    plugin may call host->log first to say why). The returned descriptor must
    stay valid until dlclose.

    Versioning follows SQLite's loadable extensions: every struct starts with
    its size, the host table and the method descriptor are only ever appended
    to, and a plugin built against ABI major M minor m loads into a host with
    the same major and a minor >= m. A plugin must check host->struct_size
    before touching host fields newer than the minor it was built for.

    Execution model. The runtime processes a batch of rows (sequences, images)
    layer by layer. Per decision step (once for classifiers and CNNs, once per
    token position for decoders) it calls, for every layer l = 0..n_layers-1:

        before_layer (l, actions[row] in {RUN, SKIP, RUN_LOWP})
        <the runtime runs layer l on the rows marked RUN / RUN_LOWP>
        after_layer  (l, actions[row] in {CONTINUE, EXIT})

    Only active rows are passed (rows that exited are compacted away), so
    `batch->n_rows` shrinks and `batch->row_ids[i]` maps position i to the
    row's stable index in [0, batch->batch_size). Per-row plugin state should
    be indexed by row_ids. A row still active after the last layer exits there.
    Actions arrays come pre-filled with RUN / CONTINUE.

    Everything a plugin may ask of the host goes through ofr_host. Work the
    host does on request (exit head evaluation) is charged to the row's FLOPs
    automatically; a plugin's own arithmetic (a gate MLP) must be charged with
    host->charge_flops, or the reported savings are a lie.

    Threading: callbacks of one method state are never called concurrently.
*/
#ifndef OFFRAMP_PLUGIN_H
#define OFFRAMP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OFR_ABI_MAJOR 1
#define OFR_ABI_MINOR 3

#define OFR_ENTRY_SYMBOL "ofr_method_entry"

/* Model kinds a method supports (bit set in ofr_method.kinds). */
#define OFR_KIND_ENCODER  0x1u   /* sequence classifier / regressor, exit per layer  */
#define OFR_KIND_DECODER  0x2u   /* decoder-only LM, decisions per token and layer   */
#define OFR_KIND_SEQ2SEQ  0x4u   /* encoder-decoder, decisions per decoder token     */
#define OFR_KIND_CNN      0x8u   /* dense prediction, decisions per image and block  */
#define OFR_KIND_ALL      0xfu

/* Method flags (ofr_method.flags). */
#define OFR_METHOD_ORACLE     0x1u  /* reads labels: an upper bound, reported as such */
#define OFR_METHOD_NEEDS_FIT  0x2u  /* cannot run before fit() produced an artifact   */

/* Per-row actions before a layer. */
enum {
    OFR_RUN      = 0,   /* run the layer in full precision                        */
    OFR_SKIP     = 1,   /* pass the hidden state through unchanged (identity)      */
    OFR_RUN_LOWP = 2    /* run the layer in reduced precision, charged accordingly */
};

/* Per-row actions after a layer. */
enum {
    OFR_CONTINUE = 0,
    OFR_EXIT     = 1    /* predict from this layer's exit head; the row leaves     */
};

/* What happens to the key/value entries of layers a token did not run
   (decoders only). Declared by the method; each policy is charged. */
enum {
    OFR_KV_COPY_UP   = 0,  /* CALM state propagation: exited state feeds upper KV  */
    OFR_KV_RECOMPUTE = 1,  /* compute missing KV lazily when a later token needs it */
    OFR_KV_MASK      = 2   /* later tokens do not attend to the missing entries     */
};

/* Log levels for host->log. */
enum { OFR_LOG_DEBUG = 0, OFR_LOG_INFO = 1, OFR_LOG_WARN = 2, OFR_LOG_ERROR = 3 };

/* ---- Declared parameters ------------------------------------------------ */

typedef enum {
    OFR_PARAM_INT    = 1,
    OFR_PARAM_FLOAT  = 2,
    OFR_PARAM_BOOL   = 3,
    OFR_PARAM_STRING = 4
} ofr_param_type;

/* One declared parameter. The host parses user values ("threshold=0.3"),
   checks type and [min, max] (numeric types; ignored when min > max), fills
   defaults and hands create() one ofr_value per declared parameter, in
   declaration order. Unknown parameter names are errors, never ignored. */
typedef struct {
    const char     *name;
    ofr_param_type  type;
    const char     *default_value;   /* textual, parsed like user input        */
    double          min, max;        /* inclusive range for INT and FLOAT      */
    const char     *help;            /* one line for `offramp plugins`        */
} ofr_param_decl;

typedef union {
    int64_t     i;                   /* INT and BOOL (0 / 1)                   */
    double      f;                   /* FLOAT                                  */
    const char *s;                   /* STRING, owned by the host, valid until destroy */
} ofr_value;

/* ---- The batch a method sees --------------------------------------------- */

typedef struct ofr_batch {
    size_t       struct_size;
    unsigned     kind;         /* one OFR_KIND_* bit: the model being run             */
    int          batch_size;   /* rows the batch began with (row_ids < batch_size)    */
    int          n_rows;       /* rows still active in this call                      */
    const int   *row_ids;      /* [n_rows] stable row index of each active row        */
    int          n_layers;     /* decision units: layers or blocks                    */
    int          n_outputs;    /* width of one exit distribution (classes, vocab)     */
    int          step;         /* token position for decoders, 0 otherwise            */
    void        *host_ctx;     /* opaque; pass to host functions                      */
} ofr_batch;

/* ---- Fitting (optional) --------------------------------------------------- */

/* Features collected by the host on a fitting split: for every example and
   every layer, the exit distribution (and optionally a feature vector), plus
   the label. Never built from the evaluated split. */
typedef struct ofr_fit_ctx {
    size_t        struct_size;
    int           n_examples;
    int           n_layers;
    int           n_outputs;    /* classes                                        */
    const float  *probs;        /* [n_examples][n_layers][n_outputs]              */
    const int    *labels;       /* [n_examples], -1 for regression / unknown       */
    int           feat_dim;     /* 0 if no features were collected                */
    const float  *features;     /* [n_examples][n_layers][feat_dim] or NULL       */
    const char   *split_desc;   /* "sst2/train[0:2000]": recorded in the artifact */
    void         *host_ctx;
} ofr_fit_ctx;

/* ---- The host table (append-only) ----------------------------------------- */

typedef struct ofr_host {
    size_t struct_size;
    int    abi_major;
    int    abi_minor;

    /* v1.0 ---------------------------------------------------------------- */

    /* Exit distribution of an active row (position i in the current call) at
       `layer` (0-based, <= the layer just run). Returns a host-owned array of
       `n_outputs * *n_positions` floats (softmax probabilities; positions = 1
       for classifiers and tokens, pixels for CNNs), valid until the next host
       call for this batch, or NULL on error. Charged to the row's FLOPs.
       (CNNs: batch->n_outputs is already classes x pixels, the array is
       [class][pixel] with n_outputs floats in all and *n_positions = pixels,
       so classes = n_outputs / *n_positions.) */
    const float *(*exit_probs)(void *host_ctx, int i, int layer, int *n_positions);

    /* Current hidden state of active row i (last token for decoders). Host
       owned, read-only, `*dim` floats. Free of charge. */
    const float *(*hidden_state)(void *host_ctx, int i, int *dim);

    /* Charge `flops` (2 per multiply-add) of the plugin's own work to row i. */
    void (*charge_flops)(void *host_ctx, int i, double flops);

    /* Label of active row i; only for methods flagged OFR_METHOD_ORACLE
       (returns -1 otherwise). For oracles on generated text, see exit_agrees. */
    int (*oracle_label)(void *host_ctx, int i);

    /* Analytic FLOPs of running `layer` once for row i (full precision). */
    double (*layer_flops)(void *host_ctx, int i, int layer);

    /* Uniform random double in [0, 1) from the host's seeded per-task RNG. */
    double (*rng_uniform)(void *host_ctx);

    /* Log a line attributed to the plugin. host_ctx may be NULL. */
    void (*log)(void *host_ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    /* Fitting helpers (OpenBLAS on the host side). Return 0 or -1.
       Multinomial logistic regression: X [n][d] rows, y [n] in [0,k); writes
       W [k][d] and b [k]. l2 is the ridge penalty on W. */
    int (*fit_softmax)(const float *X, const int *y, int n, int d, int k,
                       double l2, int max_iter, float *W, float *b);
    /* Ridge regression Y ~ X W + b in closed form: X [n][d], Y [n][m],
       W [d][m], b [m]. */
    int (*fit_ridge)(const float *X, const float *Y, int n, int d, int m,
                     double l2, float *W, float *b);

    /* Store / load a fitted artifact blob under `name` for this cell. The
       host records what it was fitted on (split_desc). Return 0 or -1;
       load returns a host-owned buffer valid until destroy. */
    int (*artifact_save)(void *host_ctx, const char *name,
                         const void *data, size_t size);
    const void *(*artifact_load)(void *host_ctx, const char *name, size_t *size);

    /* A named auxiliary tensor shipped with the model for a method (e.g.
       "palbert.lambda.3.weight", "berxit.lte.weight"; see
       docs/CHECKPOINTS.md), read-only, *n = element count; NULL if the
       model has none of that name. */
    const float *(*model_tensor)(void *host_ctx, const char *name, size_t *n);

    /* v1.1 ---------------------------------------------------------------- */

    /* Raw state of active row i at the layer just run, before any exit
       head: the first-token ([CLS]) state for encoders. For methods that
       bring their own exit modules (JEI-DNN). Host owned, read-only, `*dim`
       floats, free of charge; NULL if the model has no such state. */
    const float *(*token_state)(void *host_ctx, int i, int *dim);

    /* Make active row i predict from `probs` (n_outputs floats, copied) if
       it exits after `layer` (the layer just run), instead of from the
       model's exit head, which is then not run nor charged; exit_probs for
       that row and layer returns these. The plugin charges its own module.
       Returns 0 or -1. */
    int (*set_exit_probs)(void *host_ctx, int i, int layer, const float *probs);

    /* v1.2 ---------------------------------------------------------------- */

    /* Oracles only (OFR_METHOD_ORACLE; -1 otherwise): score a configuration
       of active row i without running it on the row: the layers with
       skip[l] != 0 (skip has n_layers entries, NULL = none) skipped, exit
       after exit_layer. Writes the suite's per-example statistics for that
       prediction (n_stats doubles: for camvid the image's 12x12 confusion
       matrix against its ground truth) into stats[0..max_stats) and returns
       how many, or -1. Runs on scratch state, free of charge; trying exits
       of one skip pattern in increasing order reuses the computation.
       Dense-prediction models (OFR_KIND_CNN) only. */
    int (*oracle_try)(void *host_ctx, int i, const uint8_t *skip, int exit_layer,
                      double *stats, int max_stats);

    /* Decoders (OFR_KIND_DECODER). A batch is one attempt at its rows'
       sequences: begin, then per token position (batch->step) the layer
       calls, then end. The two below are for oracles only (-1 otherwise)
       and are called from end(). */

    /* Whether row i's attempt that just ended produced the full model's
       output (generation: the same tokens; scoring: the full model's argmax
       at every scored position): 1 yes, 0 no, -1 unknown. */
    int (*sequence_agrees)(void *host_ctx, int i);

    /* Discard row i's attempt and run its sequence again (a new begin ..
       end with the same row ids) once end() returns. The discarded
       attempts' FLOPs are reported as search cost, apart from the row's.
       Returns the attempts made so far, or -1 (too many: 4096). */
    int (*retry_sequence)(void *host_ctx, int i);
} ofr_host;

/* ---- The method descriptor ------------------------------------------------ */

typedef struct ofr_method {
    size_t                struct_size;   /* sizeof(ofr_method) as built          */
    int                   abi_major;     /* OFR_ABI_MAJOR as built               */
    int                   abi_minor;     /* OFR_ABI_MINOR as built               */
    const char           *name;          /* [a-z0-9_]+, unique among plugins     */
    const char           *version;       /* the plugin's own version             */
    const char           *summary;       /* one line, names the paper/rule       */
    unsigned              kinds;         /* OFR_KIND_* it supports               */
    unsigned              flags;         /* OFR_METHOD_*                          */
    int                   kv_policy;     /* OFR_KV_*, decoders                   */
    const ofr_param_decl *params;        /* [n_params]                            */
    int                   n_params;

    /* Per-cell state. `values` has one entry per declared parameter. On
       failure write a message to err and return -1. */
    int  (*create)(const ofr_host *host, const ofr_value *values,
                   void **state, char *err, size_t errlen);
    void (*destroy)(void *state);

    /* Optional (NULL): learn thresholds/heads/gates, save with artifact_save. */
    int  (*fit)(void *state, const ofr_fit_ctx *ctx, char *err, size_t errlen);

    /* Per batch; begin may allocate per-row state for batch->batch_size rows.
       Optional (NULL). Return 0 or -1. */
    int  (*begin)(void *state, const ofr_batch *batch);
    void (*end)(void *state, const ofr_batch *batch);

    /* Optional (NULL = all RUN). actions[i] for active row i. */
    int  (*before_layer)(void *state, const ofr_batch *batch, int layer,
                         uint8_t *actions);
    /* Optional (NULL = all CONTINUE). */
    int  (*after_layer)(void *state, const ofr_batch *batch, int layer,
                        uint8_t *actions);

    /* v1.3 ---------------------------------------------------------------- */

    /* Optional (NULL), decoder-only methods (kinds == OFR_KIND_DECODER):
       the method decodes self-speculatively (LayerSkip) instead of
       deciding per layer. Called after begin() for each sequence; sets
       *draft_layers (k in [1, n_layers)) and *draft_len (d in [1, 64]).
       The driver then drafts d tokens greedily with the first k layers +
       final norm + LM head, verifies them with the full model in one
       multi-position forward and keeps the longest agreeing prefix plus
       the full model's next token: the output is full-model greedy.
       before_layer / after_layer are not called; the driver charges the
       draft layers and heads of every drafted token and the whole
       verification (rejected positions included) and reports the
       acceptance rate. Scoring suites run at full depth. Return 0 or -1. */
    int  (*speculate)(void *state, const ofr_batch *batch, int *draft_layers,
                      int *draft_len);

    /* Optional (NULL = kv_policy for every cell): the OFR_KV_* policy of
       this cell's state, for methods that take it as a parameter (calm's
       kv=copy_up|recompute|mask). Decoders. */
    int  (*cell_kv_policy)(void *state);
} ofr_method;

typedef const ofr_method *(*ofr_method_entry_fn)(const ofr_host *host);

/* Convenience for plugin authors: fill the fixed header of a descriptor. */
#define OFR_METHOD_HEADER \
    .struct_size = sizeof(ofr_method), \
    .abi_major = OFR_ABI_MAJOR, .abi_minor = OFR_ABI_MINOR

#if defined(_WIN32)
#  define OFR_EXPORT __declspec(dllexport)
#else
#  define OFR_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
}
#endif
#endif
