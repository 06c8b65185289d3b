/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A deliberately broken physmap plugin, for plugin_loader_test.c.
 *
 * Build it as a shared object with exactly one of:
 *
 *   -DBROKEN_ABI      exports all five functions of ABI 1, but
 *                     physmap_abi_version() returns 999: libxl must
 *                     reject it as "present but broken".
 *   -DMISSING_SYMBOL  reports ABI version 1 but has no
 *                     physmap_restore_hook: libxl must reject it too.
 *   -DNULL_STRERROR   a complete ABI 1 plugin whose hooks fail and whose
 *                     physmap_strerror() returns NULL: libxl loads it,
 *                     and must not pass that NULL to printf's %s.
 *
 *   gcc -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -DBROKEN_ABI \
 *       -o broken_abi.so tests/c/broken_plugin.c
 *
 * None of the hooks does anything but fail: with the first two, the
 * loader must never get as far as calling them.  Deliberately self-contained (no physmap_hooks.h), so
 * that it can be built before, and independently of, the real library.
 */

#include <stdint.h>
#include <stdlib.h>

#if defined(BROKEN_ABI) + defined(MISSING_SYMBOL) + \
    defined(NULL_STRERROR) != 1
#error "define exactly one of BROKEN_ABI, MISSING_SYMBOL and NULL_STRERROR"
#endif

#define EXPORT __attribute__((visibility("default")))

struct physmap_hook_opts;

#ifdef BROKEN_ABI
#define ABI_VERSION 999
#else
#define ABI_VERSION 1
#endif

EXPORT uint32_t physmap_abi_version(void)
{
    return ABI_VERSION;
}

EXPORT int physmap_save_hook(uint32_t domid,
                             const struct physmap_hook_opts *opts,
                             uint8_t **buf, uint32_t *len)
{
    (void)domid;
    (void)opts;
    (void)buf;
    (void)len;
    return -1;
}

#ifndef MISSING_SYMBOL
EXPORT int physmap_restore_hook(uint32_t domid,
                                const struct physmap_hook_opts *opts,
                                const uint8_t *buf, uint32_t len)
{
    (void)domid;
    (void)opts;
    (void)buf;
    (void)len;
    return -1;
}
#endif

EXPORT void physmap_free(void *buf)
{
    free(buf);
}

EXPORT const char *physmap_strerror(int rc)
{
    (void)rc;
#ifdef NULL_STRERROR
    return NULL;
#else
    return "broken test plugin";
#endif
}
