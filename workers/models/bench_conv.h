/*  bench_conv.h -- `offramp bench conv`: GFLOP/s of the ESPNet runtime's
    convolutions (workers/engine/conv.h: im2col/col2im + cblas_sgemm) per
    layer type -- 3x3 dilated, 3x3 dense, 1x1, grouped, transposed -- on
    the shapes ESPNet (p=2, q=8) runs at 480x360, against the OpenBLAS
    sgemm peak measured in the same run (bench.h). `--tiny` divides every
    spatial size by 8 for a quick check. */
#ifndef OFR_BENCH_CONV_H
#define OFR_BENCH_CONV_H

/* Entry of `offramp bench conv` (argv[0] = "conv"), registered in
   workers/engine/cmd_bench.c. Returns 0, 1 (failure) or 2 (usage). */
int ofr_bench_conv_cmd (int argc, char **argv);

#endif
