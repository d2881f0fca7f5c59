/*  blas_probe.c -- helper of test_blas_setup: runs ofr_blas_setup the way
    main() does and reports what happened, one "key=value" per line. Each
    process image prints "start" first, so a re-exec shows up as two. */
#include "workers/engine/blas_setup.h"

#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char **argv)
{
    printf ("start\n");
    fflush (stdout);
    char msg[256] = "";
    int rc = ofr_blas_setup (argc, argv, 1, msg, sizeof msg);
    printf ("rc=%d\ncore=%s\nthreads=%d\nmsg=%s\nmarker=%d\nargs=", rc, ofr_blas_core (),
            ofr_blas_threads (), msg, getenv ("OFR_BLAS_REEXECED") != NULL);
    for (int i = 1; i < argc; i++)
        printf ("%s%s", i > 1 ? "|" : "", argv[i]);
    printf ("\n");
    return rc == 0 ? 0 : 1;
}
