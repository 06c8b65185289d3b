/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CHECK(cond): count and report a failed check without stopping, so that one
 * run of a C test program lists every failure. main() returns failures != 0
 * and ends with CHECK_SUMMARY's line, which make check adds to its totals.
 */
#ifndef PHYSMAP_TEST_CHECK_H
#define PHYSMAP_TEST_CHECK_H

#include <stdio.h>

static int checks, failures;

#define CHECK(cond) do {                                                \
        checks++;                                                       \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n",                \
                    __FILE__, __LINE__, #cond);                         \
            failures++;                                                 \
        }                                                               \
    } while (0)

/* "<program>: N passed, M failed" (checks), the form make check counts. */
#define CHECK_SUMMARY(program)                                          \
    printf("%s: %d passed, %d failed\n", (program), checks - failures, failures)

#endif
