/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxl_shim.h: a minimal stand-in for the parts of libxl that the physmap
 * plugin code of xl-patches/<series>/0001 uses (ctx, gc, lock, allocation,
 * logging), so that the test programs can compile that code verbatim:
 * plugin_loader_test.c and loader_oracle.c.
 *
 * The includer defines, after including this header,
 *
 *   static void shim_logged(libxl__gc *gc, int level, uint32_t domid,
 *                           const char *line);
 *
 * which is called with every line libxl would log (the level is XTL_DEBUG,
 * XTL_WARN or XTL_ERROR; for LOGED the line ends in ": strerror(errno)",
 * as libxl's logger writes it), after the ctx's counters and last lines
 * have been updated.
 */
#ifndef LIBXL_SHIM_H
#define LIBXL_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERROR_FAIL -3 /* libxl_types.idl */
#define ERROR_INVAL -6

typedef struct libxl__physmap_plugin libxl__physmap_plugin;

enum { XTL_DEBUG, XTL_WARN, XTL_ERROR };

typedef struct {
    libxl__physmap_plugin *physmap_plugin; /* as in struct libxl__ctx */
    bool physmap_plugin_env_ignored;       /* likewise (v4) */
    void *xsh, *lg;                        /* what the hooks get */
    int lock_depth;                        /* CTX_LOCK nesting */
    int n_debug, n_warn, n_error;          /* log lines seen */
    char last_debug[600], last_error[600]; /* the last of each */
} libxl_ctx;

typedef struct {
    libxl_ctx *owner;
} libxl__gc;

#define CTX ((gc)->owner)
#define NOGC NULL
#define CTX_LOCK (CTX->lock_depth++)
#define CTX_UNLOCK (CTX->lock_depth--)
#define libxl__zalloc(gc_opt, size) shim_zalloc(size)
#define libxl__strdup(gc_opt, s) shim_strdup(s)
#define libxl__malloc(gc_opt, size) shim_gc_malloc(size)
#define GCSPRINTF(f, ...) shim_gcsprintf((f), __VA_ARGS__)
#define FILLZERO(object) memset(&(object), 0, sizeof(object))
#define LOGD(l, d, f, ...) \
    shim_log(gc, XTL_##l, (d), 0, (f), ##__VA_ARGS__)
#define LOGED(l, d, f, ...) \
    shim_log(gc, XTL_##l, (d), errno, (f), ##__VA_ARGS__)

/* The functions of the copies (the Linux helpers are v4's). */
const char *libxl__secure_getenv(const char *name);
void *libxl__dlopen_fd(libxl__gc *gc, int fd, const char *path, int flags);
void libxl__physmap_plugin_unload(libxl__gc *gc);
int libxl__physmap_plugin_prepare(libxl__gc *gc, uint32_t domid);
int libxl__physmap_plugin_save(libxl__gc *gc, uint32_t domid,
                               uint32_t dm_domid, bool *handled_r,
                               char **buf_r, unsigned int *len_r);
int libxl__physmap_plugin_restore(libxl__gc *gc, uint32_t domid,
                                  uint32_t dm_domid, bool *handled_r,
                                  const char *buf, uint32_t len);

/* Defined by the includer (see the top of this file). */
static void shim_logged(libxl__gc *gc, int level, uint32_t domid,
                        const char *line);

/* static inline: a copy that does not use one of these is no warning. */
static inline void *shim_zalloc(size_t size)
{
    void *p = calloc(1, size);

    if (!p) abort();
    return p;
}

static inline char *shim_strdup(const char *s)
{
    char *p = strdup(s);

    if (!p) abort();
    return p;
}

/*
 * The "gc": one block at a time, the previous one freed (the callers
 * here never hold two); shim_gc_free() at exit.
 */
static void *shim_gc_block;

static inline void *shim_gc_malloc(size_t size)
{
    free(shim_gc_block);
    shim_gc_block = shim_zalloc(size);
    return shim_gc_block;
}

static inline void shim_gc_free(void)
{
    free(shim_gc_block);
    shim_gc_block = NULL;
}

/* The "gc" of GCSPRINTF: one string at a time is enough here. */
__attribute__((format(printf, 1, 2)))
static inline char *shim_gcsprintf(const char *fmt, ...)
{
    static char text[PATH_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return text;
}

/* libxl's LOGED appends ": strerror(errno)" to the message. */
__attribute__((format(printf, 5, 6)))
static inline void shim_log(libxl__gc *gc, int level, uint32_t domid,
                            int errnoval, const char *fmt, ...)
{
    char text[512], line[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s%s%.80s", text, errnoval ? ": " : "",
             errnoval ? strerror(errnoval) : "");
    if (level == XTL_ERROR) {
        CTX->n_error++;
        memcpy(CTX->last_error, line, sizeof(line));
    } else if (level == XTL_WARN) {
        CTX->n_warn++;
    } else {
        CTX->n_debug++;
        memcpy(CTX->last_debug, line, sizeof(line));
    }
    shim_logged(gc, level, domid, line);
}

#endif /* LIBXL_SHIM_H */
