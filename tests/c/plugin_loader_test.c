/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * plugin_loader_test: runs libxl's physmap plugin code on prepared files.
 *
 *   plugin_loader_test DIR           all cases below
 *   plugin_loader_test --secure DIR  only the "secure" case; run it from
 *                                    a setgid copy of this program
 *
 * DIR holds (the Makefile prepares it):
 *
 *   good.so              the real libphysmap_hooks.so, mode 0755
 *   broken_abi.so        broken_plugin.c -DBROKEN_ABI (ABI 999)
 *   missing_symbol.so    broken_plugin.c -DMISSING_SYMBOL
 *   null_strerror.so     broken_plugin.c -DNULL_STRERROR: ABI 1, hooks
 *                        that fail, physmap_strerror() returning NULL
 *   group_writable.so    a copy of good.so, mode 0775
 *   world_writable.so    a copy of good.so, mode 0757
 *   foreign_owner.so     a copy of good.so owned by another user
 *                        (optional: only root can make it)
 *
 * For each case it sets LIBXL_PHYSMAP_PLUGIN, as an administrator would,
 * and runs the code with a fresh context:
 *
 *   good              libxl__physmap_plugin_prepare() loads it; ABI 1;
 *                     later loads in the context reuse it without
 *                     dlopen(), even with the variable changed (point 1
 *                     of issue 13: the hooks do not load during
 *                     downtime); unloading clears it
 *   broken-abi, missing-symbol
 *                     prepare fails: ERROR_FAIL, one ERROR line, no
 *                     plugin kept; the save hook fails the same way
 *   group-writable, world-writable, foreign-owner
 *                     refused before dlopen(): one ERROR line that says
 *                     why (issue 13, point 2)
 *   null-strerror     loads; the save and restore hooks fail, and the
 *                     ERROR lines say "no description" instead of
 *                     passing NULL to %s (point 3)
 *   nonexistent       "not installed": 0, no plugin, one DEBUG line
 *   empty             LIBXL_PHYSMAP_PLUGIN="": 0, no plugin, one DEBUG
 *   relative          a relative path: ERROR_INVAL, one ERROR line
 *   directory, fifo   refused as "not a regular file" (the FIFO is
 *                     opened without blocking)
 *   same-file         libxl__dlopen_fd() loads the file that is open,
 *                     not the one the path names by then: good.so is
 *                     opened, a plugin with ABI 999 is renamed over its
 *                     path, and the loaded object still says ABI 1
 *   secure            (--secure) in a setgid program (AT_SECURE set),
 *                     LIBXL_PHYSMAP_PLUGIN=good.so is ignored with one
 *                     WARN line, and the build-time default (here a path
 *                     where nothing is) counts: "not installed" (point 2);
 *                     a second load in the same context warns no more;
 *                     SKIP if this program is on a nosuid mount
 *
 * Prints one line per case and then "N passed, N failed"; exits 0 only
 * if all are as expected.  libxl's log lines go to stderr.
 *
 * The code between BEGIN COPY and END COPY is copied verbatim from
 * xl-patches/<series>/0001-*.patch, the same in every series: the Linux
 * functions the loader calls, from tools/libs/light/libxl_linux.c, and
 * the loader itself, tools/libs/light/libxl_physmap_plugin.c from
 * "#define PHYSMAP_ABI_VERSION" to the end of
 * libxl__physmap_plugin_restore, so that this test runs exactly the
 * code that libxl runs.  Keep them identical: `make check` compares
 * them.  libxl_shim.h, and what comes before the copies, is a minimal
 * stand-in for the parts of libxl they use (ctx, gc, lock, allocation,
 * logging).
 */

#include "libxl_shim.h"

#include <sys/auxv.h>
#include <sys/statvfs.h>

/* ---- the rest of the stand-in for libxl ----------------------------- */

/* The build-time default: nothing is ever installed there. */
#define LIBXL_PHYSMAP_PLUGIN_PATH "/nonexistent/libphysmap_hooks.so.1"

/* libxl's log lines of the current case. */
static char case_log[16384];

__attribute__((format(printf, 1, 2)))
static void log_append(const char *fmt, ...)
{
    size_t used = strlen(case_log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(case_log + used, sizeof(case_log) - used, fmt, ap);
    va_end(ap);
}

/* Kept for the case's verdict: shown only if the case fails (the refusals
 * the cases provoke are expected, and asserted). */
static void shim_logged(libxl__gc *gc, int level, uint32_t domid,
                        const char *line)
{
    static const char *const names[] = { "debug", "warn", "error" };

    (void)gc;
    log_append("    libxl: %s: Domain %"PRIu32":%s\n", names[level], domid,
               line);
}

/* libxl builds without -Wextra: the Linux code leaves gc and path unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
/* ---- BEGIN COPY (tools/libs/light/libxl_linux.c) -------------------- */
const char *libxl__secure_getenv(const char *name)
{
    return secure_getenv(name);
}

/* The very file open at fd, even if path names another one by now. */
void *libxl__dlopen_fd(libxl__gc *gc, int fd, const char *path, int flags)
{
    return dlopen(GCSPRINTF("/proc/self/fd/%d", fd), flags);
}
/* ---- END COPY -------------------------------------------------------- */
#pragma GCC diagnostic pop

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

/* The plugin's description of rc: never NULL, whatever it returns. */
static const char *physmap_plugin_strerror(const libxl__physmap_plugin *p,
                                           int rc)
{
    const char *text = p->describe(rc);

    return text ? text : "no description";
}

/*
 * Makes sure CTX->physmap_plugin is loaded if a plugin is installed.
 * Returns 0 with CTX->physmap_plugin set if it is loaded, 0 with it
 * NULL if no plugin is installed, ERROR_INVAL if the path is not
 * absolute, or ERROR_FAIL if a plugin is installed but unusable.  Call
 * with the ctx lock held.
 */
static int physmap_plugin_load(libxl__gc *gc, uint32_t domid)
{
    libxl__physmap_plugin *p = NULL;
    physmap_abi_version_fn *abi_version;
    const char *path;
    struct stat st;
    uint32_t abi;
    int fd = -1, r, rc;

    if (CTX->physmap_plugin) { rc = 0; goto out; }

    /* NULL in a setuid, setgid or file-capability program */
    path = libxl__secure_getenv("LIBXL_PHYSMAP_PLUGIN");
    if (!path && getenv("LIBXL_PHYSMAP_PLUGIN") &&
        !CTX->physmap_plugin_env_ignored) {
        LOGD(WARN, domid, "ignoring LIBXL_PHYSMAP_PLUGIN in a setuid,"
             " setgid or file-capability program");
        CTX->physmap_plugin_env_ignored = true;
    }
    if (!path)
        path = LIBXL_PHYSMAP_PLUGIN_PATH;
    if (!*path) {
        LOGD(DEBUG, domid, "physmap plugin path is empty,"
             " using built-in physmap code");
        rc = 0;
        goto out;
    }
    if (path[0] != '/') {
        LOGD(ERROR, domid, "physmap plugin path %s is not absolute", path);
        rc = ERROR_INVAL;
        goto out;
    }

    /*
     * Check the file that is open and load that one, not whatever the
     * path names by then.  O_NONBLOCK: opening a FIFO must not block.
     */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        LOGD(DEBUG, domid, "physmap plugin %s not installed,"
             " using built-in code", path);
        rc = 0;
        goto out;
    }
    if (fd < 0) {
        LOGED(ERROR, domid, "cannot open physmap plugin %s", path);
        rc = ERROR_FAIL;
        goto out;
    }
    r = fstat(fd, &st);
    if (r) {
        LOGED(ERROR, domid, "cannot stat physmap plugin %s", path);
        rc = ERROR_FAIL;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        LOGD(ERROR, domid, "physmap plugin %s is not a regular file,"
             " not loading it", path);
        rc = ERROR_FAIL;
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        LOGD(ERROR, domid, "physmap plugin %s is writable by group or"
             " others (mode %04o), not loading it", path,
             (unsigned int)(st.st_mode & 07777));
        rc = ERROR_FAIL;
        goto out;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        LOGD(ERROR, domid, "physmap plugin %s is owned by uid %lu, not by"
             " root or the user running libxl, not loading it", path,
             (unsigned long)st.st_uid);
        rc = ERROR_FAIL;
        goto out;
    }

    p = libxl__zalloc(NOGC, sizeof(*p));
    p->path = libxl__strdup(NOGC, path);
    p->dlh = libxl__dlopen_fd(gc, fd, path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dlh) {
        LOGD(ERROR, domid, "cannot load physmap plugin %s: %s", path,
             dlerror());
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
    if (fd >= 0) close(fd);
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

int libxl__physmap_plugin_prepare(libxl__gc *gc, uint32_t domid)
{
    int rc;

    CTX_LOCK;
    rc = physmap_plugin_load(gc, domid);
    CTX_UNLOCK;
    return rc;
}

/*
 * Every hook call gets libxl's own xenstore handle and logger, and runs
 * with the ctx lock held (on a restore, while the new domain is being
 * built).  A plugin must therefore:
 *  - return in bounded time and never sleep or wait for another
 *    process: a transaction on CTX->xsh that fails with EAGAIN is
 *    retried at once, as libxl's own transactions are, and only a
 *    bounded number of times;
 *  - use CTX->xsh only for transactions, reads, writes, removals and
 *    permission changes: no watches, no xs_fileno(), no xs_close(), and
 *    no directory listing of nodes a guest or device model can fill
 *    (a reply over XENSTORE_PAYLOAD_MAX drops the connection);
 *  - keep neither CTX->xsh nor CTX->lg after the call;
 *  - never call back into libxl, and leave no thread, signal handler
 *    or atexit() handler behind: libxl_ctx_free() dlclose()s it.
 */
static void physmap_hook_opts_init(libxl__gc *gc,
                                   struct physmap_hook_opts *opts,
                                   uint32_t dm_domid)
{
    FILLZERO(*opts); /* flags: none in ABI version 1 */
    opts->abi_version = PHYSMAP_ABI_VERSION;
    opts->dm_domid = dm_domid;
    opts->format = PHYSMAP_FORMAT_XENSTORE_KV;
    opts->xs_handle = CTX->xsh;
    opts->logger = CTX->lg;
}

int libxl__physmap_plugin_save(libxl__gc *gc, uint32_t domid,
                               uint32_t dm_domid, bool *handled_r,
                               char **buf_r, unsigned int *len_r)
{
    struct physmap_hook_opts opts;
    libxl__physmap_plugin *p = NULL;
    uint8_t *buf = NULL;
    uint32_t len = 0;
    int r, rc;

    *handled_r = false;

    CTX_LOCK;
    rc = physmap_plugin_load(gc, domid);
    if (rc) goto out;
    p = CTX->physmap_plugin;
    if (!p) goto out;

    physmap_hook_opts_init(gc, &opts, dm_domid);
    r = p->save_hook(domid, &opts, &buf, &len);
    if (r) {
        LOGD(ERROR, domid, "physmap plugin %s: save failed: %s (%d)",
             p->path, physmap_plugin_strerror(p, r), r);
        rc = ERROR_FAIL;
        goto out;
    }
    if (len && !buf) {
        LOGD(ERROR, domid, "physmap plugin %s: save returned no buffer",
             p->path);
        rc = ERROR_FAIL;
        goto out;
    }

    *buf_r = NULL;
    if (len) {
        *buf_r = libxl__malloc(gc, len);
        memcpy(*buf_r, buf, len);
    }
    *len_r = len;
    *handled_r = true;

 out:
    if (buf) p->free_buf(buf);
    CTX_UNLOCK;
    return rc;
}

int libxl__physmap_plugin_restore(libxl__gc *gc, uint32_t domid,
                                  uint32_t dm_domid, bool *handled_r,
                                  const char *buf, uint32_t len)
{
    struct physmap_hook_opts opts;
    libxl__physmap_plugin *p;
    int r, rc;

    *handled_r = false;

    CTX_LOCK;
    rc = physmap_plugin_load(gc, domid);
    if (rc) goto out;
    p = CTX->physmap_plugin;
    if (!p) goto out;

    physmap_hook_opts_init(gc, &opts, dm_domid);
    r = p->restore_hook(domid, &opts, (const uint8_t *)buf, len);
    if (r) {
        LOGD(ERROR, domid, "physmap plugin %s: restore failed: %s (%d)",
             p->path, physmap_plugin_strerror(p, r), r);
        rc = ERROR_FAIL;
        goto out;
    }

    *handled_r = true;

 out:
    CTX_UNLOCK;
    return rc;
}
/* ---- END COPY -------------------------------------------------------- */

#define TEST_DOMID 1

static int passed, failed;

static void result(const char *name, const char *problem, const char *what)
{
    if (problem) {
        failed++;
        printf("FAIL %s: %s\n", name, problem);
        printf("%s", case_log[0] ? case_log : "    (libxl logged nothing)\n");
    } else {
        passed++;
        printf("PASS %s: %s\n", name, what);
    }
    case_log[0] = '\0';
}

static char *plugin_path(const char *dir, const char *file)
{
    char *path;

    if (asprintf(&path, "%s/%s", dir, file) < 0) abort();
    return path;
}

static bool lock_ok(libxl__gc *gc)
{
    return CTX->lock_depth == 0;
}

/* Prepare must load the plugin; the copy must then never dlopen again. */
static void case_good(const char *dir)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    char *path = plugin_path(dir, "good.so");
    physmap_abi_version_fn *abi_version;
    libxl__physmap_plugin *p;
    const char *problem = NULL;
    char what[256];
    int rc;

    if (setenv("LIBXL_PHYSMAP_PLUGIN", path, 1)) abort();
    rc = libxl__physmap_plugin_prepare(gc, TEST_DOMID);
    p = CTX->physmap_plugin;
    if (rc || !p) {
        problem = "prepare did not load it";
        goto out;
    }
    if (ctx.n_error || ctx.n_debug != 1 || !lock_ok(gc)) {
        problem = "expected one DEBUG line, no ERROR, lock released";
        goto out;
    }
    abi_version = dlsym(p->dlh, "physmap_abi_version");
    if (!abi_version || abi_version() != PHYSMAP_ABI_VERSION) {
        problem = "physmap_abi_version() != 1";
        goto out;
    }
    snprintf(what, sizeof(what), "%s loaded by prepare, ABI %"PRIu32
             ", physmap_strerror(-1) = \"%s\"", path, abi_version(),
             physmap_plugin_strerror(p, -1));

    /* What the hooks do first: must reuse it, whatever the environment. */
    if (setenv("LIBXL_PHYSMAP_PLUGIN", "/nonexistent/other.so", 1))
        abort();
    rc = physmap_plugin_load(gc, TEST_DOMID);
    if (rc || CTX->physmap_plugin != p || ctx.n_debug != 1) {
        problem = "a later load in the same context did not reuse it";
        goto out;
    }
    rc = libxl__physmap_plugin_prepare(gc, TEST_DOMID);
    if (rc || CTX->physmap_plugin != p || !lock_ok(gc)) {
        problem = "a second prepare did not reuse it";
        goto out;
    }
    libxl__physmap_plugin_unload(gc);
    if (CTX->physmap_plugin) {
        problem = "unload left the plugin in the context";
        goto out;
    }
    strncat(what, "; reused by later loads; unloaded",
            sizeof(what) - strlen(what) - 1);

 out:
    result("good", problem, what);
    libxl__physmap_plugin_unload(gc);
    free(path);
}

/*
 * A plugin that must be refused: prepare fails with 'want_rc' and one
 * ERROR line that contains 'reason'; a save hook afterwards fails the
 * same way.
 */
static void case_refused_rc(const char *name, const char *path,
                            const char *reason, int want_rc)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    const char *problem = NULL;
    char what[700];
    bool handled = true;
    char *buf = NULL;
    unsigned int len = 0;
    int rc;

    if (setenv("LIBXL_PHYSMAP_PLUGIN", path, 1)) abort();
    rc = libxl__physmap_plugin_prepare(gc, TEST_DOMID);
    snprintf(what, sizeof(what), "%s: refused: \"%s\"", path,
             ctx.last_error);
    if (rc != want_rc || CTX->physmap_plugin || ctx.n_error != 1 ||
        !lock_ok(gc)) {
        problem = "prepare did not fail with its code and one ERROR line";
    } else if (!strstr(ctx.last_error, reason)) {
        problem = "the ERROR line does not say why";
    } else {
        rc = libxl__physmap_plugin_save(gc, TEST_DOMID, 0, &handled,
                                        &buf, &len);
        if (rc != want_rc || handled || CTX->physmap_plugin ||
            ctx.n_error != 2 || !lock_ok(gc))
            problem = "the save hook did not fail the same way";
    }
    if (problem) fprintf(stderr, "    (%s)\n", what);
    result(name, problem, what);
    libxl__physmap_plugin_unload(gc);
}

static void case_refused(const char *name, const char *path,
                         const char *reason)
{
    case_refused_rc(name, path, reason, ERROR_FAIL);
}

/* An ABI version through a handle, or 0 if there is none. */
static uint32_t abi_of(void *dlh)
{
    physmap_abi_version_fn *abi_version;

    if (!dlh) return 0;
    abi_version = dlsym(dlh, "physmap_abi_version");
    return abi_version ? abi_version() : 0;
}

/*
 * Files that are not regular, and the file that libxl__dlopen_fd()
 * loads, in a directory of their own under dir.
 */
static void cases_open_file(const char *dir)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    char *tmp = plugin_path(dir, "open-file.XXXXXX");
    char *good = plugin_path(dir, "good.so");
    char *broken = plugin_path(dir, "broken_abi.so");
    char *fifo, *path, *other;
    const char *problem = NULL;
    char what[256] = "";
    void *by_fd = NULL, *by_path = NULL;
    int fd = -1;

    if (!mkdtemp(tmp)) abort();
    fifo = plugin_path(tmp, "fifo.so");
    path = plugin_path(tmp, "plugin.so");
    other = plugin_path(tmp, "other.so");

    case_refused("directory", tmp, "is not a regular file");
    if (mkfifo(fifo, 0644)) abort();
    case_refused("fifo", fifo, "is not a regular file");

    /* good.so at path, opened; then broken_abi.so renamed over path. */
    if (link(good, path) || link(broken, other)) abort();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) abort();
    if (rename(other, path)) abort();
    by_fd = libxl__dlopen_fd(gc, fd, path, RTLD_NOW | RTLD_LOCAL);
    by_path = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    snprintf(what, sizeof(what), "the file open at fd says ABI %"PRIu32
             ", the one now at its path ABI %"PRIu32,
             abi_of(by_fd), abi_of(by_path));
    if (abi_of(by_path) != 999)
        problem = "the path does not name the ABI 999 plugin (no swap)";
    else if (abi_of(by_fd) != PHYSMAP_ABI_VERSION)
        problem = "libxl__dlopen_fd() did not load the file open at fd";
    result("same-file", problem, what);

    if (by_fd) dlclose(by_fd);
    if (by_path) dlclose(by_path);
    close(fd);
    unlink(path);
    unlink(fifo);
    rmdir(tmp);
    free(other);
    free(path);
    free(fifo);
    free(broken);
    free(good);
    free(tmp);
}

/* Hooks of a plugin whose physmap_strerror() returns NULL. */
static void case_null_strerror(const char *dir)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    char *path = plugin_path(dir, "null_strerror.so");
    const char *problem = NULL;
    char what[1200] = "";
    bool handled = true;
    char *buf = NULL;
    unsigned int len = 0;
    int rc;

    if (setenv("LIBXL_PHYSMAP_PLUGIN", path, 1)) abort();
    rc = libxl__physmap_plugin_prepare(gc, TEST_DOMID);
    if (rc || !CTX->physmap_plugin) {
        problem = "prepare did not load it";
        goto out;
    }
    rc = libxl__physmap_plugin_save(gc, TEST_DOMID, 0, &handled,
                                    &buf, &len);
    if (rc != ERROR_FAIL || handled || ctx.n_error != 1 || !lock_ok(gc) ||
        !strstr(ctx.last_error, "save failed: no description (-1)")) {
        problem = "save: expected ERROR_FAIL and \"no description\"";
        goto out;
    }
    snprintf(what, sizeof(what), "\"%s\"", ctx.last_error);
    rc = libxl__physmap_plugin_restore(gc, TEST_DOMID, 0, &handled,
                                       "", 0);
    if (rc != ERROR_FAIL || handled || ctx.n_error != 2 || !lock_ok(gc) ||
        !strstr(ctx.last_error, "restore failed: no description (-1)")) {
        problem = "restore: expected ERROR_FAIL and \"no description\"";
        goto out;
    }
    strncat(what, ", \"", sizeof(what) - strlen(what) - 1);
    strncat(what, ctx.last_error, sizeof(what) - strlen(what) - 1);
    strncat(what, "\"", sizeof(what) - strlen(what) - 1);

 out:
    result("null-strerror", problem, what);
    libxl__physmap_plugin_unload(gc);
    free(path);
}

/* No plugin: 0, nothing loaded, 'debug' DEBUG and 'warn' WARN lines. */
static void case_none(const char *name, const char *value, int debug,
                      int warn)
{
    libxl_ctx ctx = { 0 };
    libxl__gc gc_buf = { &ctx }, *gc = &gc_buf;
    const char *problem = NULL;
    bool handled = true;
    char *buf = NULL;
    unsigned int len = 0;
    int rc;

    if (setenv("LIBXL_PHYSMAP_PLUGIN", value, 1)) abort();
    rc = libxl__physmap_plugin_prepare(gc, TEST_DOMID);
    if (rc || CTX->physmap_plugin || ctx.n_error ||
        ctx.n_debug != debug || ctx.n_warn != warn || !lock_ok(gc)) {
        problem = "expected 0, no plugin, no ERROR, and the log lines";
    } else {
        rc = libxl__physmap_plugin_save(gc, TEST_DOMID, 0, &handled,
                                        &buf, &len);
        if (rc || handled || CTX->physmap_plugin)
            problem = "the save hook did not leave it to libxl";
        else if (ctx.n_warn != warn)
            problem = "the save warned again (once per context)";
    }
    result(name, problem, "not installed: built-in code");
    libxl__physmap_plugin_unload(gc);
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX];
    struct stat st;
    char *path;

    /* libxl takes only absolute paths. */
    if (argc < 2 || !realpath(argv[argc - 1], dir)) {
        fprintf(stderr, "usage: %s [--secure] DIR\n", argv[0]);
        return 2;
    }

    if (argc == 3 && !strcmp(argv[1], "--secure")) {
        if (!getauxval(AT_SECURE)) {
            struct statvfs fs;

            if (statvfs("/proc/self/exe", &fs) == 0 &&
                (fs.f_flag & ST_NOSUID)) {
                printf("SKIP secure: this program is on a nosuid mount\n");
                return 0;
            }
            printf("FAIL secure: AT_SECURE is not set:"
                   " run a setgid copy of this program\n");
            return 1;
        }
        path = plugin_path(dir, "good.so");
        case_none("secure (setgid, LIBXL_PHYSMAP_PLUGIN ignored)", path,
                  1, 1);
        free(path);
    } else if (argc == 2) {
        case_good(dir);

        path = plugin_path(dir, "broken_abi.so");
        case_refused("broken-abi", path, "has ABI version 999");
        free(path);
        path = plugin_path(dir, "missing_symbol.so");
        case_refused("missing-symbol", path,
                     "lacks symbol physmap_restore_hook");
        free(path);
        path = plugin_path(dir, "group_writable.so");
        case_refused("group-writable", path,
                     "writable by group or others (mode 0775)");
        free(path);
        path = plugin_path(dir, "world_writable.so");
        case_refused("world-writable", path,
                     "writable by group or others (mode 0757)");
        free(path);
        path = plugin_path(dir, "foreign_owner.so");
        if (stat(path, &st) == 0) {
            case_refused("foreign-owner", path, "is owned by uid");
        } else {
            printf("SKIP foreign-owner: no %s (only root can make it)\n",
                   path);
        }
        free(path);
        case_null_strerror(dir);

        path = plugin_path(dir, "nonexistent/libphysmap_hooks.so.1");
        case_none("nonexistent", path, 1, 0);
        free(path);
        case_none("empty", "", 1, 0);
        case_refused_rc("relative", "relative/libphysmap_hooks.so.1",
                        "is not absolute", ERROR_INVAL);
        cases_open_file(dir);
    } else {
        fprintf(stderr, "usage: %s [--secure] DIR\n", argv[0]);
        return 2;
    }

    shim_gc_free();
    printf("plugin_loader_test: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
