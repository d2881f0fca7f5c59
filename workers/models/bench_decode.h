/*  bench_decode.h -- `offramp bench decode`: greedy decoding tokens/s at
    batch 1 (workers/models/decoder.c) against the memory-bandwidth bound
    of the weights it reads per token, the bandwidth measured in the same
    run.

    Each generated token reads every layer's weights (wqkv, wo, w13, w2,
    two RMSNorms), the final norm, the classifier [vocab][dim] and one
    embedding row: W bytes, whatever the position. Batch-1 decoding is a
    chain of matrix-vector products, so once W exceeds the caches it can
    not beat bandwidth / W tokens/s. The bandwidth is a streaming read of
    a buffer much larger than the last-level cache (default 512 MB) by as
    many threads as BLAS uses, best of N. The KV cache read at the mean
    position is reported too (a second, tighter bound with W + KV). The
    model: a llama2.c or Hugging Face Llama directory (default stories260K
    on the models path, which fits in cache: its ratio can exceed 1), or a
    generated shape with random weights (tiny 2x64, small 6x288 = the
    stories15M shape, base 12x768 with hidden 2048 and vocab 32000, about
    440 MB of F32 weights). */
#ifndef OFR_BENCH_DECODE_H
#define OFR_BENCH_DECODE_H

#include "llama.h"

#include <stddef.h>

/* Entry of `offramp bench decode` (argv[0] = "decode"), registered in
   workers/engine/cmd_bench.c. Returns 0, 1 (failure) or 2 (usage). */
int    ofr_bench_decode_cmd (int argc, char **argv);

/* Bytes of weights one batch-1 decoding step reads (see above). */
double ofr_bench_decode_weight_bytes (const ofr_llama *m);

/* Best GB/s (1e9 bytes/s) of `repeat` streaming reads of a buffer of mb
   megabytes by `threads` threads (>= 1); *median gets the median when not
   NULL. Returns 0 or -1 with a message (out of memory, thread failure). */
int    ofr_bench_bandwidth (size_t mb, int threads, int repeat, double *best,
                            double *median, char *err, size_t errlen);

#endif
