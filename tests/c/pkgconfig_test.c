/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Built with `pkg-config --cflags --libs physmap-hooks` against an installed
 * copy (make check installs into a temporary DESTDIR): links the library
 * directly, through its soname, and calls the functions that need no xenstore.
 */
#include <stdio.h>
#include <string.h>

#include <physmap_hooks.h>

int main(void)
{
    if (physmap_abi_version() != PHYSMAP_ABI_VERSION) {
        fprintf(stderr, "ABI version %u\n", physmap_abi_version());
        return 1;
    }
    if (strcmp(physmap_strerror(PHYSMAP_E_MALFORMED),
               "malformed physmap section")) {
        fprintf(stderr, "strerror: %s\n", physmap_strerror(PHYSMAP_E_MALFORMED));
        return 1;
    }
    /* An empty section restores without touching xenstore. */
    if (physmap_restore_hook(1, NULL, NULL, 0) != PHYSMAP_OK)
        return 1;
    physmap_free(NULL);
    printf("pkgconfig_test: linked against ABI %u\n", physmap_abi_version());
    return 0;
}
