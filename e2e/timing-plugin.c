/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * A pass-through physmap plugin for `make e2e`'s timing scenario: libxl
 * loads it as LIBXL_PHYSMAP_PLUGIN, it loads the real library named by
 * E2E_REAL_PLUGIN, forwards all five functions to it, and prints how long
 * each hook call took, as libxl sees it, on stderr:
 *
 *   e2e-timing: load <path> <us> us
 *   e2e-timing: physmap_save_hook domid <d> rc <rc> len <n> <us> us
 *   e2e-timing: physmap_restore_hook domid <d> rc <rc> len <n> <us> us
 *
 * Test scaffolding only; never installed.
 */

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

struct physmap_hook_opts;

static uint32_t (*real_abi_version)(void);
static int (*real_save)(uint32_t, const struct physmap_hook_opts *,
                        uint8_t **, uint32_t *);
static int (*real_restore)(uint32_t, const struct physmap_hook_opts *,
                           const uint8_t *, uint32_t);
static void (*real_free)(void *);
static const char *(*real_strerror)(int);

static long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* Any failure leaves real_abi_version NULL: the plugin then reports ABI 0
 * and libxl refuses it, so a broken set-up cannot pass for a timing. */
__attribute__((constructor)) static void load_real(void)
{
    const char *path = getenv("E2E_REAL_PLUGIN");
    void *h;
    long t0;

    if (!path) {
        fprintf(stderr, "e2e-timing: E2E_REAL_PLUGIN is not set\n");
        return;
    }
    t0 = now_us();
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "e2e-timing: %s\n", dlerror());
        return;
    }
    real_save = (int (*)(uint32_t, const struct physmap_hook_opts *,
                         uint8_t **, uint32_t *))dlsym(h, "physmap_save_hook");
    real_restore = (int (*)(uint32_t, const struct physmap_hook_opts *,
                            const uint8_t *, uint32_t))
        dlsym(h, "physmap_restore_hook");
    real_free = (void (*)(void *))dlsym(h, "physmap_free");
    real_strerror = (const char *(*)(int))dlsym(h, "physmap_strerror");
    if (real_save && real_restore && real_free && real_strerror)
        real_abi_version = (uint32_t (*)(void))
            dlsym(h, "physmap_abi_version");
    fprintf(stderr, "e2e-timing: load %s %ld us\n", path, now_us() - t0);
}

EXPORT uint32_t physmap_abi_version(void)
{
    return real_abi_version ? real_abi_version() : 0;
}

EXPORT int physmap_save_hook(uint32_t domid,
                             const struct physmap_hook_opts *opts,
                             uint8_t **buf, uint32_t *len)
{
    long t0 = now_us();
    int rc = real_save(domid, opts, buf, len);

    fprintf(stderr,
            "e2e-timing: physmap_save_hook domid %u rc %d len %u %ld us\n",
            domid, rc, rc ? 0 : *len, now_us() - t0);
    return rc;
}

EXPORT int physmap_restore_hook(uint32_t domid,
                                const struct physmap_hook_opts *opts,
                                const uint8_t *buf, uint32_t len)
{
    long t0 = now_us();
    int rc = real_restore(domid, opts, buf, len);

    fprintf(stderr,
            "e2e-timing: physmap_restore_hook domid %u rc %d len %u %ld us\n",
            domid, rc, len, now_us() - t0);
    return rc;
}

EXPORT void physmap_free(void *buf)
{
    real_free(buf);
}

EXPORT const char *physmap_strerror(int rc)
{
    return real_strerror(rc);
}
