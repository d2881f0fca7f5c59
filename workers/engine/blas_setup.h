/*  blas_setup.h -- choose OpenBLAS kernels and threads for this process.

    OpenBLAS built with DYNAMIC_ARCH picks its kernels in a library
    constructor, before main(), and some VMs make it pick a core far below
    what the CPU can do (Prescott kernels on an AVX-512 CPU: 5x slower
    sgemm). The only fix is OPENBLAS_CORETYPE in the environment *before*
    the library loads, so ofr_blas_setup re-executes the program once with
    it set.

    Environment, strongest first:
      OFFRAMP_BLAS_CORE=auto|none|<core>  user override: detect from cpuid,
                                          leave OpenBLAS alone, or force <core>
      OPENBLAS_CORETYPE=<core>            respected as is
      (neither)                           detect from cpuid */
#ifndef OFR_BLAS_SETUP_H
#define OFR_BLAS_SETUP_H

#include <stddef.h>

/* The OpenBLAS core this CPU deserves according to cpuid and the OS's
   saved register state (xgetbv): "SkylakeX", "Haswell", "Sandybridge", or
   NULL (no opinion). Returns a static string. */
const char *ofr_blas_wanted_core (void);

/* Call first thing in main(), before any thread exists. May replace the
   process (execv of /proc/self/exe with the same argv, at most once) so
   that OpenBLAS loads the wanted kernels; sets the BLAS thread count when
   threads > 0. Writes one line saying what was chosen into msg (for the
   caller to log). Returns 0, or -1 when an explicit OFFRAMP_BLAS_CORE
   request is malformed or could not be honoured (msg says why; OpenBLAS
   stays usable with whatever core it has). */
int ofr_blas_setup (int argc, char **argv, int threads, char *msg, size_t msglen);

/* The core name OpenBLAS is running with ("SkylakeX"). Static string. */
const char *ofr_blas_core (void);

/* Number of threads OpenBLAS will use for one call. */
int ofr_blas_threads (void);

/* Set the number of OpenBLAS threads (ignored when threads <= 0). Process
   wide: call from main or a task child, not while BLAS calls run. */
void ofr_blas_set_threads (int threads);

#endif
