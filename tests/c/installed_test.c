/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Loads the installed library the way patched libxl does: dlopen() of the path given
 * (libxl's default: $(libdir)/libphysmap_hooks.so.1), then each of the five functions
 * with dlsym(). Calls the ones that need no xenstore. Run by scripts/test-deb.sh inside
 * a Debian root where the packages are installed.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <physmap_hooks.h>

int main(int argc, char **argv)
{
    static const char *const names[] = {
        "physmap_save_hook", "physmap_restore_hook", "physmap_free",
        "physmap_strerror", "physmap_abi_version",
    };
    void *lib, *fn[5];
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    for (i = 0; i < 5; i++) {
        fn[i] = dlsym(lib, names[i]);
        if (!fn[i]) {
            fprintf(stderr, "dlsym %s: %s\n", names[i], dlerror());
            return 1;
        }
    }
    if (((uint32_t (*)(void))fn[4])() != PHYSMAP_ABI_VERSION) {
        fprintf(stderr, "ABI version differs\n");
        return 1;
    }
    if (strcmp(((const char *(*)(int))fn[3])(PHYSMAP_E_MALFORMED),
               "malformed physmap section")) {
        fprintf(stderr, "physmap_strerror differs\n");
        return 1;
    }
    if (((int (*)(uint32_t, const struct physmap_hook_opts *, const uint8_t *,
                  uint32_t))fn[1])(1, NULL, NULL, 0) != PHYSMAP_OK) {
        fprintf(stderr, "restore of an empty section failed\n");
        return 1;
    }
    printf("installed_test: dlopen(%s): 5 functions, ABI %u\n", argv[1],
           PHYSMAP_ABI_VERSION);
    dlclose(lib);
    return 0;
}
