/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * loader_oracle: the physmap plugin loader of xl-patches/4.17/0001, verbatim,
 * for the tests of `physmap-inspect host` (physmap-inspect/tests/host_cli.rs).
 *
 *   -DLOADER_COPY='"file"'   the patch's code: the added lines of
 *                            libxl_physmap_plugin.c from "#define
 *                            PHYSMAP_ABI_VERSION 1" to the end of
 *                            libxl__physmap_plugin_restore (as the Makefile's
 *                            LOADER_COPY extracts them for plugin_loader_test)
 *   -DLIBXL_PHYSMAP_PLUGIN_PATH='"/path"'
 *                            the build-time default, as configure's
 *                            --with-physmap-plugin sets it in config.h
 *
 * Built as a program, it runs libxl__physmap_plugin_prepare() once, with
 * LIBXL_PHYSMAP_PLUGIN from its environment as libxl reads it, and prints
 * one line: what libxl did, and the log line that says why:
 *
 *   loaded                  returned 0 and kept the plugin
 *   builtin <DEBUG line>    returned 0 without a plugin: built-in code
 *   refused <ERROR line>    returned ERROR_FAIL
 *
 * Built with -shared -DORACLE_LIBRARY, it is a stand-in for a patched
 * libxenlight: a shared object that carries the loader's code, its strings
 * and its default path, which is what `physmap-inspect host` reads.
 *
 * What comes before the #include is a minimal stand-in for the parts of
 * libxl the copy uses (as in plugin_loader_test.c).
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(LOADER_COPY) || !defined(LIBXL_PHYSMAP_PLUGIN_PATH)
#error "define LOADER_COPY and LIBXL_PHYSMAP_PLUGIN_PATH"
#endif

#define ERROR_FAIL -3 /* libxl_types.idl */

typedef struct libxl__physmap_plugin libxl__physmap_plugin;

typedef struct {
    libxl__physmap_plugin *physmap_plugin;
    void *xsh, *lg;
    char last[2][1024]; /* the last DEBUG and ERROR lines */
} libxl_ctx;

typedef struct {
    libxl_ctx *owner;
} libxl__gc;

enum { XTL_DEBUG, XTL_WARN, XTL_ERROR };

#define CTX ((gc)->owner)
#define NOGC NULL
#define CTX_LOCK ((void)0)
#define CTX_UNLOCK ((void)0)
#define libxl__zalloc(gc_opt, size) oracle_zalloc(size)
#define libxl__strdup(gc_opt, s) oracle_strdup(s)
#define libxl__malloc(gc_opt, size) oracle_zalloc(size)
#define LOGD(l, d, f, ...) \
    oracle_log(gc, XTL_##l, (d), 0, (f), ##__VA_ARGS__)
#define LOGED(l, d, f, ...) \
    oracle_log(gc, XTL_##l, (d), errno, (f), ##__VA_ARGS__)

static void *oracle_zalloc(size_t size)
{
    void *p = calloc(1, size);

    if (!p) abort();
    return p;
}

static char *oracle_strdup(const char *s)
{
    char *p = strdup(s);

    if (!p) abort();
    return p;
}

/* libxl's LOGED appends ": strerror(errno)" to the message. */
__attribute__((format(printf, 5, 6)))
static void oracle_log(libxl__gc *gc, int level, uint32_t domid, int errnoval,
                       const char *fmt, ...)
{
    char text[512];
    va_list ap;

    (void)domid;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (level == XTL_WARN) return;
    snprintf(CTX->last[level == XTL_ERROR], sizeof(CTX->last[0]), "%s%s%s",
             text, errnoval ? ": " : "", errnoval ? strerror(errnoval) : "");
}

void libxl__physmap_plugin_unload(libxl__gc *gc);
int libxl__physmap_plugin_prepare(libxl__gc *gc, uint32_t domid);
int libxl__physmap_plugin_save(libxl__gc *gc, uint32_t domid,
                               uint32_t dm_domid, bool *handled_r,
                               char **buf_r, unsigned int *len_r);
int libxl__physmap_plugin_restore(libxl__gc *gc, uint32_t domid,
                                  uint32_t dm_domid, bool *handled_r,
                                  const char *buf, uint32_t len);

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
        printf("builtin %s\n", CTX->last[0]);
    else if (rc == ERROR_FAIL)
        printf("refused %s\n", CTX->last[1]);
    else
        printf("unexpected rc %d\n", rc);
    libxl__physmap_plugin_unload(gc);
    return 0;
}
#endif
