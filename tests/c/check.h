/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * CHECK(cond): count and report a failed check without stopping, so that one
 * run of a C test program lists every failure. main() returns failures != 0.
 */
#ifndef PHYSMAP_TEST_CHECK_H
#define PHYSMAP_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond) do {                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n",                \
                    __FILE__, __LINE__, #cond);                         \
            failures++;                                                 \
        }                                                               \
    } while (0)

#endif
