/*  check.h -- the assertion macro of the unit tests: CHECK (cond, fmt, ...)
    reports file:line, the condition and a message, counts the failure and
    goes on, so one run shows every broken check. main() returns
    s_failures != 0. One header, included once per test program. */
#ifndef OFR_TEST_CHECK_H
#define OFR_TEST_CHECK_H

#include <stdio.h>

static int s_failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf (stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);    \
            fprintf (stderr, __VA_ARGS__);                                      \
            fprintf (stderr, "\n");                                             \
            s_failures++;                                                       \
        }                                                                       \
    } while (0)

#endif
