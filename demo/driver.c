/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Calls the hooks through the C ABI the way patched libxl does (dlopen, dlsym,
 * ABI check, libxl's xenstore handle and xentoollog logger), for `make demo`.
 *
 *   driver LIB save    DOMID FORMAT OUT   FORMAT: kv | legacy
 *   driver LIB restore DOMID IN
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>
#include <xentoollog.h>

#include "physmap_hooks.h"

typedef int save_fn(uint32_t, const struct physmap_hook_opts *, uint8_t **,
                    uint32_t *);
typedef int restore_fn(uint32_t, const struct physmap_hook_opts *,
                       const uint8_t *, uint32_t);

int main(int argc, char **argv)
{
    struct physmap_hook_opts opts = { .abi_version = PHYSMAP_ABI_VERSION };
    xentoollog_logger_stdiostream *lg;
    uint32_t (*abi)(void);
    const char *(*why)(int);
    uint8_t *buf = NULL;
    uint32_t len = 0;
    void *lib;
    FILE *f;
    int rc;

    if (argc < 5 || (strcmp(argv[2], "save") && strcmp(argv[2], "restore"))) {
        fprintf(stderr, "usage: %s LIB save DOMID kv|legacy OUT | "
                "LIB restore DOMID IN\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&abi = dlsym(lib, "physmap_abi_version");
    *(void **)&why = dlsym(lib, "physmap_strerror");
    if (!abi || !why || abi() != PHYSMAP_ABI_VERSION) {
        fprintf(stderr, "not a physmap-hooks ABI %d library\n",
                PHYSMAP_ABI_VERSION);
        return 1;
    }
    opts.xs_handle = xs_open(0);
    lg = xtl_createlogger_stdiostream(stderr, XTL_DEBUG, 0);
    opts.logger = lg;
    if (!opts.xs_handle || !lg) {
        perror("xs_open");
        return 1;
    }

    if (!strcmp(argv[2], "save")) {
        save_fn *save;

        *(void **)&save = dlsym(lib, "physmap_save_hook");
        opts.format = strcmp(argv[4], "legacy") ? PHYSMAP_FORMAT_XENSTORE_KV
                                                : PHYSMAP_FORMAT_LEGACY_V1;
        rc = save ? save(atoi(argv[3]), &opts, &buf, &len) : -1;
        if (!rc && argc > 5 && (f = fopen(argv[5], "wb"))) {
            if (len)
                fwrite(buf, 1, len, f);
            fclose(f);
        }
        free(buf);
    } else {
        restore_fn *restore;
        static uint8_t in[(1 << 20) + 1]; /* one more than a section may have */

        *(void **)&restore = dlsym(lib, "physmap_restore_hook");
        f = fopen(argv[4], "rb");
        len = f ? fread(in, 1, sizeof(in), f) : 0;
        if (f)
            fclose(f);
        rc = restore ? restore(atoi(argv[3]), &opts, in, len) : -1;
    }
    if (rc)
        fprintf(stderr, "%s failed: %s\n", argv[2], why(rc));
    xtl_logger_destroy((xentoollog_logger *)lg);
    xs_close(opts.xs_handle);
    dlclose(lib);
    return rc ? 1 : 0;
}
