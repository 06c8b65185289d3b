/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * loader_oracle: the physmap plugin loader of xl-patches/4.17/0001,
 * verbatim, for the tests of `physmap-inspect host`
 * (physmap-inspect/tests/host_cli.rs).
 *
 *   -DLOADER_COPY='"file"'   the patch's code: the added lines of
 *                            libxl_physmap_plugin.c from "#define
 *                            PHYSMAP_ABI_VERSION 1" to the end of
 *                            libxl__physmap_plugin_restore (the cut of the
 *                            Makefile's LOADER_COPY)
 *   -DLINUX_COPY='"file"'    the patch's part of libxl_linux.c, from
 *                            libxl__secure_getenv to the end of
 *                            libxl__dlopen_fd (the cut of LINUX_PART and
 *                            LINUX_COPY); v4 only: v3's loader had no
 *                            OS-specific functions, so leave it undefined
 *   -DLIBXL_PHYSMAP_PLUGIN_PATH='"/path"'
 *                            the build-time default, as configure's
 *                            --with-physmap-plugin sets it in config.h
 *
 * Built as a program, it runs libxl__physmap_plugin_prepare() once, with
 * LIBXL_PHYSMAP_PLUGIN from its environment as libxl reads it, and prints
 * one line: what libxl did, and the log line that says why:
 *
 *   loaded                         returned 0 and kept the plugin
 *   builtin <DEBUG line>           returned 0 without a plugin: built-in code
 *   refused ERROR_FAIL <ERROR line>    returned ERROR_FAIL
 *   refused ERROR_INVAL <ERROR line>   returned ERROR_INVAL (v4: a bad
 *                                      configuration, a relative path)
 *
 * Built with -shared -DORACLE_LIBRARY, it is a stand-in for a patched
 * libxenlight: a shared object that carries the loader's code, its strings
 * and its default path, which is what `physmap-inspect host` reads.
 *
 * libxl_shim.h is the stand-in for the parts of libxl the copies use, as
 * for plugin_loader_test.c.
 */

#include "libxl_shim.h"

#if !defined(LOADER_COPY) || !defined(LIBXL_PHYSMAP_PLUGIN_PATH)
#error "define LOADER_COPY and LIBXL_PHYSMAP_PLUGIN_PATH"
#endif

/* The last lines are in the ctx; nothing else is needed. */
static void shim_logged(libxl__gc *gc, int level, uint32_t domid,
                        const char *line)
{
    (void)gc, (void)level, (void)domid, (void)line;
}

#ifdef LINUX_COPY
/* libxl builds without -Wextra: the Linux code leaves gc and path unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include LINUX_COPY
#pragma GCC diagnostic pop
#endif

#include LOADER_COPY

#ifndef ORACLE_LIBRARY
int main(void)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    int rc = libxl__physmap_plugin_prepare(gc, 1);

    if (rc == 0 && CTX->physmap_plugin)
        printf("loaded\n");
    else if (rc == 0)
        printf("builtin %s\n", CTX->last_debug);
    else if (rc == ERROR_FAIL)
        printf("refused ERROR_FAIL %s\n", CTX->last_error);
    else if (rc == ERROR_INVAL)
        printf("refused ERROR_INVAL %s\n", CTX->last_error);
    else
        printf("unexpected rc %d\n", rc);
    libxl__physmap_plugin_unload(gc);
    shim_gc_free();
    return 0;
}
#endif
