/*  fuzz_util.h -- shared by the fuzz targets (tests/fuzz/fuzz_*.c): the
    loaders under test take a path, so each input is written to a memfd
    and handed over as /proc/self/fd/N. One file per process, reused. */
#ifndef OFR_FUZZ_UTIL_H
#define OFR_FUZZ_UTIL_H

#include "common/ofr_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The loaders' warnings would drown the fuzzer's output. */
__attribute__((constructor)) static void
ofr_fuzz_quiet (void)
{
    ofr_log_setup ("fuzz", OFR_ERROR + 1);
}

static inline const char *
ofr_fuzz_file (const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create ("ofr-fuzz", 0);
        if (fd < 0) {
            perror ("memfd_create");
            abort ();
        }
        snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate (fd, 0) != 0 || (size && pwrite (fd, data, size, 0) != (ssize_t) size)) {
        perror ("memfd write");
        abort ();
    }
    return path;
}

/* A property the target checks failed: crash so the fuzzer keeps the input. */
#define OFR_FUZZ_ASSERT(cond) do {                                          \
        if (!(cond)) {                                                      \
            fprintf (stderr, "%s:%d: property failed: %s\n", __FILE__,      \
                     __LINE__, #cond);                                      \
            abort ();                                                       \
        }                                                                   \
    } while (0)

#endif
