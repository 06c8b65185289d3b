/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * plugin_loader_test: runs libxl's physmap plugin loader on given paths.
 *
 *   plugin_loader_test GOOD BROKEN_ABI MISSING_SYMBOL NONEXISTENT
 *
 * GOOD is the real libphysmap_hooks.so, BROKEN_ABI and MISSING_SYMBOL
 * are builds of broken_plugin.c, NONEXISTENT is a path where nothing is.
 * For each path it sets LIBXL_PHYSMAP_PLUGIN, as an administrator would,
 * and runs the loader with a fresh context.  Expected outcomes:
 *
 *   GOOD            loaded; physmap_abi_version() == 1 and
 *                   physmap_strerror(-1) != NULL; a second load in the
 *                   same context reuses it; unloading clears it
 *   BROKEN_ABI      rejected as broken: ERROR_FAIL and an ERROR line
 *   MISSING_SYMBOL  rejected as broken: ERROR_FAIL and an ERROR line
 *   NONEXISTENT     "not installed": 0, no plugin, one DEBUG line, so
 *                   libxl runs its built-in code
 *
 * Prints one line per case and then "N passed, N failed"; exits 0 only
 * if all four are as expected.  libxl's log lines go to stderr.
 *
 * The code between BEGIN COPY and END COPY is copied verbatim from
 * tools/libs/light/libxl_physmap_plugin.c as added by
 * xl-patches/4.17/0001-*.patch and xl-patches/master/0001-*.patch (from
 * "#define PHYSMAP_ABI_VERSION" to the end of
 * libxl__physmap_plugin_unload), so that this test runs exactly the
 * dlopen / dlsym / ABI check sequence that libxl runs.  Keep them
 * identical: `make check` compares the two.  What comes before BEGIN
 * COPY is a minimal stand-in for the parts of libxl the copy uses (ctx,
 * gc, allocation, logging).
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
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

/* ---- stand-in for libxl ---------------------------------------------- */

/* Never used: every case sets LIBXL_PHYSMAP_PLUGIN. */
#define LIBXL_PHYSMAP_PLUGIN_PATH "/nonexistent/libphysmap_hooks.so.1"

#define ERROR_FAIL -3 /* libxl_types.idl */

typedef struct libxl__physmap_plugin libxl__physmap_plugin;

typedef struct {
    libxl__physmap_plugin *physmap_plugin; /* as in struct libxl__ctx */
    int n_debug, n_error;                  /* log lines seen */
} libxl_ctx;

typedef struct {
    libxl_ctx *owner;
} libxl__gc;

enum { XTL_DEBUG, XTL_ERROR };

#define CTX ((gc)->owner)
#define NOGC NULL
#define libxl__zalloc(gc_opt, size) test_zalloc(size)
#define libxl__strdup(gc_opt, s) test_strdup(s)
#define LOGD(l, d, f, ...) \
    test_log(gc, XTL_##l, (d), 0, (f), ##__VA_ARGS__)
#define LOGED(l, d, f, ...) \
    test_log(gc, XTL_##l, (d), errno, (f), ##__VA_ARGS__)

static void *test_zalloc(size_t size)
{
    void *p = calloc(1, size);

    if (!p) abort();
    return p;
}

static char *test_strdup(const char *s)
{
    char *p = strdup(s);

    if (!p) abort();
    return p;
}

__attribute__((format(printf, 5, 6)))
static void test_log(libxl__gc *gc, int level, uint32_t domid, int errnoval,
                     const char *fmt, ...)
{
    va_list ap;

    if (level == XTL_ERROR)
        CTX->n_error++;
    else
        CTX->n_debug++;

    fprintf(stderr, "    libxl: %s: Domain %"PRIu32":",
            level == XTL_ERROR ? "error" : "debug", domid);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (errnoval)
        fprintf(stderr, ": %s", strerror(errnoval));
    fputc('\n', stderr);
}

void libxl__physmap_plugin_unload(libxl__gc *gc);

/* ---- BEGIN COPY (tools/libs/light/libxl_physmap_plugin.c) ------------ */
#define PHYSMAP_ABI_VERSION 1
#define PHYSMAP_FORMAT_XENSTORE_KV 1

struct physmap_hook_opts {
    uint32_t abi_version;
    uint32_t dm_domid;
    uint32_t format;
    uint32_t flags;
    void *xs_handle;
    void *logger;
};

typedef uint32_t physmap_abi_version_fn(void);
typedef int physmap_save_hook_fn(uint32_t domid,
                                 const struct physmap_hook_opts *opts,
                                 uint8_t **buf, uint32_t *len);
typedef int physmap_restore_hook_fn(uint32_t domid,
                                    const struct physmap_hook_opts *opts,
                                    const uint8_t *buf, uint32_t len);
typedef void physmap_free_fn(void *buf);
typedef const char *physmap_strerror_fn(int rc);

struct libxl__physmap_plugin {
    char *path;
    void *dlh;
    physmap_save_hook_fn *save_hook;
    physmap_restore_hook_fn *restore_hook;
    physmap_free_fn *free_buf;
    physmap_strerror_fn *describe;
};

static void *physmap_plugin_sym(libxl__gc *gc, uint32_t domid,
                                const libxl__physmap_plugin *p,
                                const char *name)
{
    void *sym = dlsym(p->dlh, name);

    if (!sym)
        LOGD(ERROR, domid, "physmap plugin %s lacks symbol %s",
             p->path, name);
    return sym;
}

/*
 * Makes sure CTX->physmap_plugin is loaded if a plugin is installed.
 * Returns 0 with CTX->physmap_plugin set if it is loaded, 0 with it
 * NULL if no plugin is installed, or ERROR_FAIL if a plugin is
 * installed but unusable.  Call with the ctx lock held.
 */
static int physmap_plugin_load(libxl__gc *gc, uint32_t domid)
{
    libxl__physmap_plugin *p = NULL;
    physmap_abi_version_fn *abi_version;
    const char *path;
    struct stat st;
    uint32_t abi;
    int r, rc;

    if (CTX->physmap_plugin) { rc = 0; goto out; }

    path = getenv("LIBXL_PHYSMAP_PLUGIN");
    if (!path)
        path = LIBXL_PHYSMAP_PLUGIN_PATH;
    if (!*path) {
        LOGD(DEBUG, domid, "LIBXL_PHYSMAP_PLUGIN is empty,"
             " using built-in physmap code");
        rc = 0;
        goto out;
    }
    if (path[0] != '/') {
        LOGD(ERROR, domid, "physmap plugin path %s is not absolute", path);
        rc = ERROR_FAIL;
        goto out;
    }

    r = stat(path, &st);
    if (r && (errno == ENOENT || errno == ENOTDIR)) {
        LOGD(DEBUG, domid, "physmap plugin %s not installed,"
             " using built-in code", path);
        rc = 0;
        goto out;
    }
    if (r) {
        LOGED(ERROR, domid, "cannot stat physmap plugin %s", path);
        rc = ERROR_FAIL;
        goto out;
    }

    p = libxl__zalloc(NOGC, sizeof(*p));
    p->path = libxl__strdup(NOGC, path);
    p->dlh = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dlh) {
        LOGD(ERROR, domid, "cannot load physmap plugin: %s", dlerror());
        rc = ERROR_FAIL;
        goto out;
    }

    abi_version = physmap_plugin_sym(gc, domid, p, "physmap_abi_version");
    if (!abi_version) { rc = ERROR_FAIL; goto out; }
    abi = abi_version();
    if (abi != PHYSMAP_ABI_VERSION) {
        LOGD(ERROR, domid, "physmap plugin %s has ABI version %"PRIu32
             ", libxl needs %d", path, abi, PHYSMAP_ABI_VERSION);
        rc = ERROR_FAIL;
        goto out;
    }

    p->save_hook = physmap_plugin_sym(gc, domid, p, "physmap_save_hook");
    if (!p->save_hook) { rc = ERROR_FAIL; goto out; }
    p->restore_hook = physmap_plugin_sym(gc, domid, p,
                                         "physmap_restore_hook");
    if (!p->restore_hook) { rc = ERROR_FAIL; goto out; }
    p->free_buf = physmap_plugin_sym(gc, domid, p, "physmap_free");
    if (!p->free_buf) { rc = ERROR_FAIL; goto out; }
    p->describe = physmap_plugin_sym(gc, domid, p, "physmap_strerror");
    if (!p->describe) { rc = ERROR_FAIL; goto out; }

    LOGD(DEBUG, domid, "loaded physmap plugin %s", path);
    CTX->physmap_plugin = p;
    p = NULL;
    rc = 0;

 out:
    if (p) {
        if (p->dlh) dlclose(p->dlh);
        free(p->path);
        free(p);
    }
    return rc;
}

void libxl__physmap_plugin_unload(libxl__gc *gc)
{
    libxl__physmap_plugin *p = CTX->physmap_plugin;

    if (!p) return;

    dlclose(p->dlh);
    free(p->path);
    free(p);
    CTX->physmap_plugin = NULL;
}
/* ---- END COPY -------------------------------------------------------- */

#define TEST_DOMID 1

enum outcome { LOADED, NOT_INSTALLED, BROKEN };

static const char *const outcome_name[] = {
    [LOADED] = "loaded",
    [NOT_INSTALLED] = "not installed (built-in code)",
    [BROKEN] = "rejected as broken",
};

/* A relative path becomes absolute, as libxl only takes absolute ones. */
static char *absolute(const char *path)
{
    char cwd[PATH_MAX];
    char *abs;

    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return test_strdup(path);
    if (asprintf(&abs, "%s/%s", cwd, path) < 0) abort();
    return abs;
}

/*
 * Extra checks on a loaded plugin; returns NULL if all is well, else what
 * went wrong.
 */
static const char *check_loaded(libxl__gc *gc, char *detail, size_t size)
{
    libxl__physmap_plugin *p = CTX->physmap_plugin;
    physmap_abi_version_fn *abi_version;
    const char *text;
    int rc;

    if (CTX->n_error) return "an ERROR line was logged";

    abi_version = dlsym(p->dlh, "physmap_abi_version");
    if (!abi_version) return "physmap_abi_version vanished";
    if (abi_version() != PHYSMAP_ABI_VERSION)
        return "physmap_abi_version() != 1";
    text = p->describe(-1);
    if (!text) return "physmap_strerror(-1) is NULL";
    snprintf(detail, size, ", ABI %"PRIu32", physmap_strerror(-1) = \"%s\"",
             abi_version(), text);

    rc = physmap_plugin_load(gc, TEST_DOMID);
    if (rc || CTX->physmap_plugin != p)
        return "second load in the same context did not reuse the plugin";

    libxl__physmap_plugin_unload(gc);
    if (CTX->physmap_plugin) return "unload left the plugin in the context";
    return NULL;
}

static bool run_case(const char *name, const char *arg, enum outcome want)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    char *path = absolute(arg);
    char detail[512] = "";
    const char *problem = NULL;
    enum outcome got;
    int rc;

    if (setenv("LIBXL_PHYSMAP_PLUGIN", path, 1)) abort();
    rc = physmap_plugin_load(gc, TEST_DOMID);

    if (rc == 0 && CTX->physmap_plugin) {
        got = LOADED;
        problem = check_loaded(gc, detail, sizeof(detail));
    } else if (rc == 0) {
        got = NOT_INSTALLED;
        if (CTX->n_error || CTX->n_debug != 1)
            problem = "expected exactly one DEBUG line and no ERROR";
    } else if (rc == ERROR_FAIL && !CTX->physmap_plugin) {
        got = BROKEN;
        if (CTX->n_error != 1) problem = "expected exactly one ERROR line";
    } else {
        printf("FAIL %s: %s: rc %d with plugin %p\n", name, path, rc,
               (void *)CTX->physmap_plugin);
        free(path);
        return false;
    }

    if (got != want && !problem) problem = "unexpected outcome";
    printf("%s %s: %s: %s%s%s%s (expected: %s)\n",
           problem ? "FAIL" : "PASS", name, path, outcome_name[got], detail,
           problem ? ": " : "", problem ? problem : "", outcome_name[want]);

    libxl__physmap_plugin_unload(gc);
    free(path);
    return !problem;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        enum outcome want;
    } cases[] = {
        { "good", LOADED },
        { "broken-abi", BROKEN },
        { "missing-symbol", BROKEN },
        { "nonexistent", NOT_INSTALLED },
    };
    int i, passed = 0, failed = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: %s GOOD_LIB BROKEN_ABI_LIB"
                " MISSING_SYMBOL_LIB NONEXISTENT_PATH\n", argv[0]);
        return 2;
    }

    for (i = 0; i < 4; i++) {
        if (run_case(cases[i].name, argv[i + 1], cases[i].want))
            passed++;
        else
            failed++;
    }

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
