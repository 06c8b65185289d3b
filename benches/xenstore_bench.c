/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libphysmap_hooks against the code libxl 4.17 runs without it, on a real xenstored.
 *
 *   xenstore_bench LIB TIMING_SOCKET COUNT_SOCKET TRACE_FILE >results.md
 *
 * TIMING_SOCKET is an untraced sandbox daemon: every wall and CPU time comes from it.
 * COUNT_SOCKET is a second daemon started with `-T TRACE_FILE`: the requests per
 * operation and the failed commits are counted from its trace (a traced daemon spends
 * time writing the trace, so it is never timed). Run by benches/run.sh, which starts
 * both daemons and wraps the Markdown written to stdout into BENCHMARKS.md. Progress
 * goes to stderr.
 *
 * What is compared, for N = 1, 4, 64 and 1024 (BENCH_MAX_N) records of one domain:
 *   built-in  libxl 4.17's own code, re-implemented here: save is one directory listing
 *             of physmap/ then one read per start_addr, size and name, no transaction,
 *             appending key\0value\0 to a growing buffer; restore splits the key\0value\0
 *             pairs and writes each one, no transaction;
 *   plugin    physmap_save_hook / physmap_restore_hook (format XENSTORE_KV), dlopen()ed,
 *             given the program's xs_open(0) handle and a xentoollog logger, as the
 *             patched libxl calls them;
 *   own conn  the same with xs_handle NULL: the library opens and closes a connection;
 *   replay    the plugin's request sequence (transaction start, ..., commit) issued from
 *             C with each step timed: protocol cost without the library's own code.
 * The variants run interleaved (one of each per round, in rotating order) so that a
 * change of machine load affects all of them alike. Before every restore the domain's
 * physmap directory is removed, outside the timed region, so every variant writes into
 * the same state. Then 64 domains save (and restore) at once, one thread and one
 * connection per domain, started by a barrier, as `xl` processes evacuating a host do.
 *
 * The library's own CPU time is measured with libxenstore replaced by an in-process stub
 * (see "libxenstore, interposed" below).
 *
 * Environment: BENCH_CELL_SECONDS (time budget of one N/operation cell, default 5),
 * BENCH_MIN_REPS (least rounds of a cell, default 100), BENCH_MIN_REPS_1024 (the same
 * for N = 1024, default 5), BENCH_MAX_REPS (default 3000), BENCH_CONC_RUNS (concurrent
 * batches per configuration, default 20), BENCH_MAX_N (the largest N, default 1024),
 * BENCH_DAEMON (xenstored or oxenstored: the format of TRACE_FILE; oxenstored's is its
 * access log). Last, the restore `xl restore` makes, into a device-model directory that
 * does not exist yet, is timed and counted. BENCH_PROFILE=save|restore:N[:SECONDS] only
 * calls the plugin against the stub in a loop, for `perf record` (the last two arguments
 * are then unused).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>
#include <xentoollog.h>

#include "physmap_hooks.h"

/* ------------------------------------------------------------------ basics */

static int (*save_hook)(uint32_t, const struct physmap_hook_opts *, uint8_t **,
                        uint32_t *);
static int (*restore_hook)(uint32_t, const struct physmap_hook_opts *,
                           const uint8_t *, uint32_t);
static void (*free_buf)(void *);
static const char *(*strerror_fn)(int);

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("xenstore_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);

    return v && *v ? atoi(v) : def;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median (mean of the two middle values for an even count) of n values; sorts them. */
static double median(double *v, int n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* 99th percentile, nearest rank; sorts the values. With n < 100 it is the maximum. */
static double p99(double *v, int n)
{
    int rank = (99 * n + 99) / 100;     /* ceil(0.99 n) */

    qsort(v, n, sizeof(*v), cmp_double);
    return v[(rank < 1 ? 1 : rank) - 1];
}

/* A duration in ns, formatted for a table; rotating static buffers. */
static const char *fmt_t(double ns)
{
    static char bufs[16][32];
    static int next;
    char *b = bufs[next++ % 16];

    if (ns < 10e3)
        snprintf(b, 32, "%.2f µs", ns / 1e3);
    else if (ns < 1e6)
        snprintf(b, 32, "%.1f µs", ns / 1e3);
    else
        snprintf(b, 32, "%.2f ms", ns / 1e6);
    return b;
}

/* ------------------------------------------------------------------ records */

#define DM_DOMID 0
static const char *const fields[3] = { "start_addr", "size", "name" };

static void dm_dir(char *out, size_t n, unsigned domid)
{
    snprintf(out, n, "/local/domain/%u/device-model/%u", DM_DOMID, domid);
}

/* Record i: page-aligned, non-overlapping guest ranges, a 13-byte name. */
static void record_values(unsigned i, char vals[3][32], char off[32])
{
    snprintf(off, 32, "%" PRIx64, (uint64_t)0xf0000000 + (uint64_t)i * 0x100000);
    snprintf(vals[0], 32, "%" PRIx64, (uint64_t)0x100000000 + (uint64_t)i * 0x200000);
    snprintf(vals[1], 32, "%" PRIx64, (uint64_t)0x1000 * (1 + i % 256));
    snprintf(vals[2], 32, "vga.vram.%04u", i);
}

/* Writes n records for domid as QEMU does: one xs_write per node, no transaction. */
static void populate(struct xs_handle *xs, unsigned domid, unsigned n)
{
    char dir[96], path[192], vals[3][32], off[32];

    dm_dir(dir, sizeof(dir), domid);
    snprintf(path, sizeof(path), "%s/physmap", dir);
    xs_rm(xs, XBT_NULL, path);
    if (!xs_mkdir(xs, XBT_NULL, dir))
        die("mkdir %s: %s", dir, strerror(errno));
    for (unsigned i = 0; i < n; i++) {
        record_values(i, vals, off);
        for (int f = 0; f < 3; f++) {
            snprintf(path, sizeof(path), "%s/physmap/%s/%s", dir, off, fields[f]);
            if (!xs_write(xs, XBT_NULL, path, vals[f], strlen(vals[f])))
                die("write %s: %s", path, strerror(errno));
        }
    }
}

/* An empty device-model directory, as libxl creates it when it builds the domain. */
static void prepare_restore_domain(struct xs_handle *xs, unsigned domid)
{
    char dir[96];

    dm_dir(dir, sizeof(dir), domid);
    xs_rm(xs, XBT_NULL, dir);
    if (!xs_mkdir(xs, XBT_NULL, dir))
        die("mkdir %s: %s", dir, strerror(errno));
}

/* Removes the domain's physmap directory (before each restore, not timed). */
static void wipe(struct xs_handle *xs, unsigned domid)
{
    char path[128];

    dm_dir(path, sizeof(path), domid);
    strcat(path, "/physmap");
    if (!xs_rm(xs, XBT_NULL, path))
        die("rm %s: %s", path, strerror(errno));
}

/* ----------------------------------------------- libxenstore, interposed */

/*
 * This program defines the libxenstore functions that the library and the code below
 * call. The dynamic linker binds the dlopen()ed library's references to these
 * definitions (the executable comes first in the global scope), so every call of every
 * variant passes here. Normally each one just calls libxenstore (one indirect call, the
 * same for every variant). In stub mode they answer from memory, without a daemon:
 * then the CPU time of a call is that of the caller's own code plus a small, equal
 * stub cost, which replaying the same calls from C measures and subtracts.
 */
static bool stub_mode;
static unsigned stub_records;   /* the physmap directory has this many entries */
static unsigned long stub_calls;

static struct {
    char **(*directory)(struct xs_handle *, xs_transaction_t, const char *, unsigned int *);
    void *(*read)(struct xs_handle *, xs_transaction_t, const char *, unsigned int *);
    bool (*write)(struct xs_handle *, xs_transaction_t, const char *, const void *,
                  unsigned int);
    bool (*mkdir)(struct xs_handle *, xs_transaction_t, const char *);
    bool (*rm)(struct xs_handle *, xs_transaction_t, const char *);
    bool (*set_permissions)(struct xs_handle *, xs_transaction_t, const char *,
                            struct xs_permissions *, unsigned int);
    struct xs_permissions *(*get_permissions)(struct xs_handle *, xs_transaction_t,
                                              const char *, unsigned int *);
    xs_transaction_t (*transaction_start)(struct xs_handle *);
    bool (*transaction_end)(struct xs_handle *, xs_transaction_t, bool);
} real;

static void *real_symbol(const char *name)
{
    void *sym = dlvsym(RTLD_NEXT, name, "VERS_4.0");

    if (!sym)
        sym = dlsym(RTLD_NEXT, name);
    if (!sym)
        die("libxenstore has no %s", name);
    return sym;
}

static void resolve_libxenstore(void)
{
    real.directory = real_symbol("xs_directory");
    real.read = real_symbol("xs_read");
    real.write = real_symbol("xs_write");
    real.mkdir = real_symbol("xs_mkdir");
    real.rm = real_symbol("xs_rm");
    real.set_permissions = real_symbol("xs_set_permissions");
    real.get_permissions = real_symbol("xs_get_permissions");
    real.transaction_start = real_symbol("xs_transaction_start");
    real.transaction_end = real_symbol("xs_transaction_end");
}

static void record_values(unsigned i, char vals[3][32], char off[32]);

/* The stub's directory: stub_records entries, in one malloc'ed block as libxenstore
 * returns it (pointers, then the strings). */
static char **stub_directory(const char *path, unsigned int *num)
{
    static char *strings;
    static size_t strings_len;
    static unsigned built_for = ~0u;
    char **ret, *p;

    if (!strstr(path, "/physmap")) {
        errno = ENOENT;
        return NULL;
    }
    if (built_for != stub_records) {
        char vals[3][32], off[32];

        free(strings);
        strings = NULL;
        strings_len = 0;
        for (unsigned i = 0; i < stub_records; i++) {
            size_t l;

            record_values(i, vals, off);
            l = strlen(off) + 1;
            strings = realloc(strings, strings_len + l);
            memcpy(strings + strings_len, off, l);
            strings_len += l;
        }
        built_for = stub_records;
    }
    ret = malloc(stub_records * sizeof(char *) + strings_len + 1);
    if (!ret)
        die("out of memory");
    p = memcpy(&ret[stub_records], strings, strings_len);
    for (unsigned i = 0; i < stub_records; i++, p += strlen(p) + 1)
        ret[i] = p;
    *num = stub_records;
    return ret;
}

/* The stub's nodes: .../physmap/<off>/<field> of record (off - 0xf0000000) / 1 MiB, and
 * the device-model directory itself (empty value). */
static void *stub_read(const char *path, unsigned int *len)
{
    const char *field = strrchr(path, '/'), *phys = strstr(path, "/physmap/");
    char vals[3][32], off[32], *copy;
    const char *value = NULL;

    if (!phys && !strstr(path, "/physmap")) {
        value = "";     /* the device-model directory */
    } else if (phys && field) {
        uint64_t o = strtoull(phys + 9, NULL, 16);
        unsigned i = (unsigned)((o - 0xf0000000) / 0x100000);

        record_values(i, vals, off);
        for (int f = 0; f < 3; f++)
            if (!strcmp(field + 1, (const char *[]){ "start_addr", "size", "name" }[f]))
                value = vals[f];
    }
    if (!value) {
        errno = ENOENT;
        return NULL;
    }
    copy = strdup(value);
    if (len)
        *len = strlen(value);
    return copy;
}

char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
                    unsigned int *num)
{
    if (!stub_mode)
        return real.directory(h, t, path, num);
    stub_calls++;
    return stub_directory(path, num);
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
              unsigned int *len)
{
    if (!stub_mode)
        return real.read(h, t, path, len);
    stub_calls++;
    return stub_read(path, len);
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
              const void *data, unsigned int len)
{
    if (!stub_mode)
        return real.write(h, t, path, data, len);
    stub_calls++;
    return path && (data || !len);
}

bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    if (!stub_mode)
        return real.mkdir(h, t, path);
    stub_calls++;
    return path != NULL;
}

bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    if (!stub_mode)
        return real.rm(h, t, path);
    stub_calls++;
    return path != NULL;
}

bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
                        struct xs_permissions *perms, unsigned int num_perms)
{
    if (!stub_mode)
        return real.set_permissions(h, t, path, perms, num_perms);
    stub_calls++;
    return path && perms && num_perms;
}

/* The stub's permissions: the device-model directory exists (owned by dom0); nothing
 * else is asked. */
struct xs_permissions *xs_get_permissions(struct xs_handle *h, xs_transaction_t t,
                                          const char *path, unsigned int *num)
{
    struct xs_permissions *p;

    if (!stub_mode)
        return real.get_permissions(h, t, path, num);
    stub_calls++;
    if (strstr(path, "/physmap")) {
        errno = ENOENT;
        return NULL;
    }
    p = malloc(sizeof(*p));
    if (!p)
        die("out of memory");
    *p = (struct xs_permissions){ 0, XS_PERM_NONE };
    *num = 1;
    return p;
}

xs_transaction_t xs_transaction_start(struct xs_handle *h)
{
    if (!stub_mode)
        return real.transaction_start(h);
    stub_calls++;
    return 1;
}

bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
    if (!stub_mode)
        return real.transaction_end(h, t, abort);
    stub_calls++;
    return true;
}

/* ------------------------------------------- libxl 4.17's built-in code, re-done */

/* Appends str and its NUL, growing the buffer by exactly that much each time. */
static void append_str(char **buf, uint32_t *len, const char *str)
{
    size_t add = strlen(str) + 1;
    char *grown = realloc(*buf, *len + add);

    if (!grown)
        die("out of memory");
    memcpy(grown + *len, str, add);
    *buf = grown;
    *len += add;
}

/* Save: list physmap/, read the three nodes of every entry, no transaction. */
static int builtin_save(struct xs_handle *xs, unsigned domid, char **out,
                        uint32_t *out_len)
{
    char root[96], path[256], key[160];
    unsigned int count = 0;
    char **entries, *buf = NULL;
    uint32_t len = 0;

    dm_dir(root, sizeof(root), domid);
    snprintf(path, sizeof(path), "%s/physmap", root);
    entries = xs_directory(xs, XBT_NULL, path, &count);
    if (entries && count) {
        for (unsigned int i = 0; i < count; i++) {
            for (int f = 0; f < 3; f++) {
                char *value;

                snprintf(key, sizeof(key), "physmap/%s/%s", entries[i], fields[f]);
                snprintf(path, sizeof(path), "%s/%s", root, key);
                value = xs_read(xs, XBT_NULL, path, NULL);
                if (!value) {
                    free(buf);
                    free(entries);
                    return -1;
                }
                append_str(&buf, &len, key);
                append_str(&buf, &len, value);
                free(value);
            }
        }
    }
    free(entries);
    *out = buf;
    *out_len = len;
    return 0;
}

/* The next string after the NUL-terminated one at start, or NULL if unterminated. */
static const char *after_string(const char *start, const char *end)
{
    size_t left, len;

    if (start >= end)
        return NULL;
    left = end - start;
    len = strnlen(start, left);
    return len == left ? NULL : start + len + 1;
}

/* Restore: one write per key/value pair, no transaction. libxl ignores a failed write;
 * here it counts as a failure, so that every variant is known to do the whole job. */
static int builtin_restore(struct xs_handle *xs, unsigned domid, const uint8_t *sec,
                           uint32_t sec_len)
{
    const char *p = (const char *)sec, *end = p + sec_len;
    char root[96], path[256];
    int failed = 0;

    dm_dir(root, sizeof(root), domid);
    while (p < end) {
        const char *key = p, *value;

        p = after_string(p, end);
        if (!p || key[0] == '\0' || key[0] == '/')
            return -1;
        value = p;
        p = after_string(p, end);
        if (!p)
            return -1;
        snprintf(path, sizeof(path), "%s/%s", root, key);
        if (!xs_write(xs, XBT_NULL, path, value, strlen(value)))
            failed = -1;
    }
    return failed;
}

/* ----------------------------------------- the plugin's requests, replayed, timed */

/*
 * The plugin's xenstore requests, in its order (src/hooks.rs), with a timestamp after each
 * step. Each step is of one kind: the main transaction's start and commit (TX), requests
 * the built-in code does not make (EXTRA), or the requests both make (COMMON). If the
 * library's sequence changes, the request counts of the replay and of the plugin differ
 * and the report says that the breakdown no longer applies.
 */
enum { K_TX, K_EXTRA, K_COMMON };
/* K_EXTRA steps that the replacement semantics do not need (see the report). */
struct step_desc {
    const char *name;
    int kind;
    bool removable;     /* an extra request the library could do without */
};
#define MAX_STEPS 6
static const struct step_desc save_steps[] = {
    { "TRANSACTION_START", K_TX, false },
    { "DIRECTORY", K_COMMON, false },
    { "3N READs", K_COMMON, false },
    { "commit", K_TX, false },
};
static const struct step_desc restore_steps[] = {
    { "GET_PERMS of the device-model directory, outside the transaction (does it exist?)",
      K_EXTRA, false },
    { "TRANSACTION_START", K_TX, false },
    { "RM of the physmap directory", K_EXTRA, false },
    { "3N WRITEs", K_COMMON, false },
    { "commit", K_TX, false },
};
static const struct step_desc *const steps_of[2] = { save_steps, restore_steps };
static const int nsteps_of[2] = {
    sizeof(save_steps) / sizeof(save_steps[0]),
    sizeof(restore_steps) / sizeof(restore_steps[0]),
};

static int replay_save(struct xs_handle *xs, unsigned domid, double *step)
{
    char root[96], path[256];
    unsigned int count = 0;
    double t[5];
    xs_transaction_t tx;
    char **entries;

    dm_dir(root, sizeof(root), domid);
    t[0] = mono_ns();
    tx = xs_transaction_start(xs);
    if (tx == XBT_NULL)
        return -1;
    t[1] = mono_ns();
    snprintf(path, sizeof(path), "%s/physmap", root);
    entries = xs_directory(xs, tx, path, &count);
    t[2] = mono_ns();
    for (unsigned int i = 0; entries && i < count; i++) {
        for (int f = 0; f < 3; f++) {
            snprintf(path, sizeof(path), "%s/physmap/%s/%s", root, entries[i], fields[f]);
            free(xs_read(xs, tx, path, NULL));
        }
    }
    free(entries);
    t[3] = mono_ns();
    if (!xs_transaction_end(xs, tx, false))
        return -1;
    t[4] = mono_ns();
    for (int i = 0; i < 4; i++)
        step[i] = t[i + 1] - t[i];
    return 0;
}

/* The nodes of a section, split once (outside the timed region). */
struct kvlist {
    unsigned n;
    const char **key, **value;
};

static void kv_split(const uint8_t *sec, uint32_t len, struct kvlist *kv)
{
    const char *p = (const char *)sec, *end = p + len;

    kv->n = 0;
    kv->key = calloc(len / 2 + 1, sizeof(char *));
    kv->value = calloc(len / 2 + 1, sizeof(char *));
    while (p < end) {
        kv->key[kv->n] = p;
        p = after_string(p, end);
        kv->value[kv->n++] = p;
        p = after_string(p, end);
        if (!p)
            die("bad section");
    }
}

static int replay_restore(struct xs_handle *xs, unsigned domid, const struct kvlist *kv,
                          double *step)
{
    char root[96], path[256];
    double t[6];
    xs_transaction_t tx;

    dm_dir(root, sizeof(root), domid);
    t[0] = mono_ns();
    {
        unsigned int n;     /* it exists: no mkdir */

        free(xs_get_permissions(xs, XBT_NULL, root, &n));
    }
    t[1] = mono_ns();
    tx = xs_transaction_start(xs);
    if (tx == XBT_NULL)
        return -1;
    t[2] = mono_ns();
    snprintf(path, sizeof(path), "%s/physmap", root);
    if (!xs_rm(xs, tx, path))
        return -1;
    t[3] = mono_ns();
    for (unsigned i = 0; i < kv->n; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, kv->key[i]);
        if (!xs_write(xs, tx, path, kv->value[i], strlen(kv->value[i])))
            return -1;
    }
    t[4] = mono_ns();
    if (!xs_transaction_end(xs, tx, false))
        return -1;
    t[5] = mono_ns();
    for (int i = 0; i < 5; i++)
        step[i] = t[i + 1] - t[i];
    return 0;
}

/* ------------------------------------------------------------------ one operation */

enum { V_BUILTIN, V_PLUGIN, V_OWN, V_REPLAY, NV };
enum { OP_SAVE, OP_RESTORE };
static const char *const op_name[] = { "save", "restore" };

struct job {
    int op;
    unsigned domid;
    const uint8_t *sec;         /* restore input; save: the expected output */
    uint32_t sec_len;
    const struct kvlist *kv;    /* replay restore */
};

/* One operation of variant v. xs: the caller's handle (ignored by V_OWN); lg: logger
 * passed to the plugin. step: per-step durations of V_REPLAY, or NULL.
 * A save's output is compared with job->sec (outside any timing: after t_end). */
static int run_op(int v, const struct job *j, struct xs_handle *xs,
                  xentoollog_logger *lg, double *step, double *t_end)
{
    struct physmap_hook_opts o = {
        .abi_version = PHYSMAP_ABI_VERSION,
        .dm_domid = DM_DOMID,
        .format = PHYSMAP_FORMAT_XENSTORE_KV,
        .flags = 0,
        .xs_handle = v == V_OWN ? NULL : xs,
        .logger = lg,
    };
    double scratch[MAX_STEPS];
    uint8_t *out = NULL;
    uint32_t out_len = 0;
    int rc;

    if (j->op == OP_SAVE) {
        switch (v) {
        case V_BUILTIN:
            rc = builtin_save(xs, j->domid, (char **)&out, &out_len);
            break;
        case V_REPLAY:
            rc = replay_save(xs, j->domid, step ? step : scratch);
            out = NULL;
            out_len = j->sec_len;
            break;
        default:
            rc = save_hook(j->domid, &o, &out, &out_len);
            break;
        }
        if (t_end)
            *t_end = mono_ns();
        if (rc == 0 && v != V_REPLAY &&
            (out_len != j->sec_len || (out_len && memcmp(out, j->sec, out_len))))
            rc = -100;          /* not the bytes libxl produces */
        if (v == V_PLUGIN || v == V_OWN)
            free_buf(out);
        else
            free(out);
        return rc;
    }
    switch (v) {
    case V_BUILTIN:
        rc = builtin_restore(xs, j->domid, j->sec, j->sec_len);
        break;
    case V_REPLAY:
        rc = replay_restore(xs, j->domid, j->kv, step ? step : scratch);
        break;
    default:
        rc = restore_hook(j->domid, &o, j->sec, j->sec_len);
        break;
    }
    if (t_end)
        *t_end = mono_ns();
    return rc;
}

static void check_rc(int rc, int v, const struct job *j)
{
    if (rc == -100)
        die("variant %d %s of domain %u: output differs from libxl's", v,
            op_name[j->op], j->domid);
    if (rc)
        die("variant %d %s of domain %u failed: %d (%s)", v, op_name[j->op], j->domid,
            rc, rc < 0 && rc > -100 ? strerror_fn(rc) : strerror(errno));
}

/* After a restore: the store holds exactly the section (read back the built-in way). */
static void verify_restored(struct xs_handle *xs, const struct job *j, int v)
{
    char *got = NULL;
    uint32_t len = 0;

    if (builtin_save(xs, j->domid, &got, &len) || len != j->sec_len ||
        memcmp(got, j->sec, len))
        die("variant %d: restore of %u records left different content", v, j->domid);
    free(got);
}

/* ------------------------------------------------------------------ trace counting */

/* Request types counted from IN lines of the trace. */
static const char *const req_types[] = {
    "TRANSACTION_START", "DIRECTORY", "DIRECTORY_PART", "READ", "GET_PERMS", "RM", "MKDIR",
    "SET_PERMS", "WRITE", "TRANSACTION_END", "other",
};
#define NTYPES (sizeof(req_types) / sizeof(req_types[0]))

struct counts {
    double type[NTYPES];
    double total;       /* IN lines */
    double conns;       /* CREATE connection lines */
    double eagain;      /* replies ERROR (EAGAIN) */
};

static FILE *trace;
static unsigned mark_seq;
/* The traced daemon's log format: C xenstored's -T trace, or oxenstored's access log
 * (BENCH_DAEMON=oxenstored), read into the C trace's names. */
static bool access_log;

enum { L_OTHER, L_REQUEST, L_CONNECTION, L_EAGAIN };

/* What one line of the request log is; for a request, its type (C's name) and its
 * arguments (the path first).
 * C:          "IN 0x55e0... 20240101 12:00:00 READ (/a )", "CREATE connection ...",
 *             "OUT 0x... ERROR (EAGAIN )".
 * oxenstored: "[20240101T12:00:00.000Z]  A3.1         read      /a ", "... newconn",
 *             "... error     EAGAIN". */
static int classify(const char *line, char *type, size_t tlen, const char **args)
{
    static const char *const ox[][2] = {
        { "read", "READ" }, { "write", "WRITE" }, { "directory", "DIRECTORY" },
        { "mkdir", "MKDIR" }, { "rm", "RM" }, { "getperms", "GET_PERMS" },
        { "setperms", "SET_PERMS" }, { "t start", "TRANSACTION_START" },
        { "t end", "TRANSACTION_END" }, { "watch", "WATCH" }, { "unwatch", "UNWATCH" },
    };
    char op[16];
    const char *p;
    size_t n;

    *args = "";
    if (!access_log) {
        if (!strncmp(line, "CREATE connection", 17))
            return L_CONNECTION;
        if (!strncmp(line, "OUT ", 4) && strstr(line, " ERROR (EAGAIN"))
            return L_EAGAIN;
        if (strncmp(line, "IN ", 3) || sscanf(line, "IN %*s %*s %*s %63s", type) != 1)
            return L_OTHER;
        p = strchr(line, '(');
        *args = p ? p + 1 : "";
        (void)tlen;
        return L_REQUEST;
    }
    p = strstr(line, "]  ");
    if (!p)
        return L_OTHER;
    p += 3;
    p += strcspn(p, " ");          /* the connection, A3 or A3.1 */
    p += strspn(p, " ");
    n = strlen(p);
    if (n > 10)
        n = 10;                     /* the operation is padded to 10 columns */
    memcpy(op, p, n);
    while (n && (op[n - 1] == ' ' || op[n - 1] == '\n'))
        n--;
    op[n] = '\0';
    if (!strcmp(op, "newconn"))
        return L_CONNECTION;
    if (!strcmp(op, "error"))
        return strstr(p, "EAGAIN") ? L_EAGAIN : L_OTHER;
    for (size_t i = 0; i < sizeof(ox) / sizeof(ox[0]); i++)
        if (!strcmp(op, ox[i][0])) {
            snprintf(type, tlen, "%s", ox[i][1]);
            *args = strlen(p) > 10 ? p + 10 : "";
            return L_REQUEST;
        }
    return L_OTHER;
}

/* A request that can be found in the trace: a read of a node that does not exist. */
static unsigned mark(struct xs_handle *xs)
{
    char path[64];

    snprintf(path, sizeof(path), "/physmap-bench-mark/%u", ++mark_seq);
    free(xs_read(xs, XBT_NULL, path, NULL));
    return mark_seq;
}

static bool is_mark(const char *line, unsigned id)
{
    char want[80], type[64];
    const char *args;
    size_t l;

    if (classify(line, type, sizeof(type), &args) != L_REQUEST || strcmp(type, "READ"))
        return false;
    l = (size_t)snprintf(want, sizeof(want), "/physmap-bench-mark/%u", id);
    return !strncmp(args, want, l) && (args[l] == ' ' || args[l] == '\n' || !args[l]);
}

/* Adds what the trace holds between marks `from` and `to` to c (scaled by 1/div).
 * xenstored writes an IN line when it reads a request, before it answers, so when the
 * client holds the answer to mark `to`, everything up to it is in the file. */
static void scan(unsigned from, unsigned to, struct counts *c, double div)
{
    char *line = NULL;
    size_t cap = 0;
    bool inside = false;
    int idle = 0;

    for (;;) {
        if (getline(&line, &cap, trace) < 0) {
            if (++idle > 5000)
                die("trace: mark %u not found", to);
            clearerr(trace);
            usleep(1000);
            continue;
        }
        if (!inside) {
            inside = is_mark(line, from);
            continue;
        }
        if (is_mark(line, to))
            break;
        {
            char type[64] = "";
            const char *args;
            size_t t;

            switch (classify(line, type, sizeof(type), &args)) {
            case L_REQUEST:
                for (t = 0; t < NTYPES - 1 && strcmp(type, req_types[t]); t++)
                    ;
                c->type[t] += 1 / div;
                c->total += 1 / div;
                break;
            case L_CONNECTION:
                c->conns += 1 / div;
                break;
            case L_EAGAIN:
                c->eagain += 1 / div;
                break;
            }
        }
    }
    free(line);
}

/* "TRANSACTION_START 1, READ 3, ..." for the nonzero types of c. */
static const char *fmt_types(const struct counts *c, const struct counts *minus)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    size_t used = 0;

    b[0] = '\0';
    for (size_t t = 0; t < NTYPES; t++) {
        double n = c->type[t] - (minus ? minus->type[t] : 0);

        if (n > 0.001 || n < -0.001)
            used += snprintf(b + used, 256 - used, "%s%s %s%g", used ? ", " : "",
                             req_types[t], minus && n > 0 ? "+" : "", n);
    }
    if (!used)
        snprintf(b, 256, "none");
    return b;
}

/* ------------------------------------------------------------------ single domain */

/* The largest N is BENCH_MAX_N (default 1024, the library's limit). oxenstored 4.17
 * cannot list 1024 of these records in one reply (see README): run.sh gives it 256. */
static unsigned sizes[] = { 1, 4, 64, 1024 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

struct cell {
    unsigned n;
    struct job job;
    int reps;
    double *wall[NV], *cpu[NV], *step[MAX_STEPS];
    double stub_cpu[NV];                /* CPU per call with the stub (ns) */
    double stub_cpu_nolog;              /* the plugin with the stub and no logger */
    /* results */
    double wall_med[NV], wall_p99[NV], cpu_med[NV], step_med[MAX_STEPS];
    struct counts cnt[NV];
};

static struct cell cells[NSIZES][2];
static xentoollog_logger *quiet_logger;   /* xl's default level, to /dev/null */

static unsigned save_domid(unsigned i) { return 10 + i; }
static unsigned restore_domid(unsigned i) { return 20 + i; }

/* Populates the store for every cell and fills in each job's section. */
static void setup_cells(struct xs_handle *xs, bool first)
{
    for (unsigned i = 0; i < NSIZES; i++) {
        struct job *s = &cells[i][OP_SAVE].job, *r = &cells[i][OP_RESTORE].job;
        char *sec = NULL;
        uint32_t len = 0;

        populate(xs, save_domid(i), sizes[i]);
        prepare_restore_domain(xs, restore_domid(i));
        if (builtin_save(xs, save_domid(i), &sec, &len))
            die("built-in save of %u records failed", sizes[i]);
        if (first) {
            struct kvlist *kv = calloc(1, sizeof(*kv));

            kv_split((uint8_t *)sec, len, kv);
            *s = (struct job){ OP_SAVE, save_domid(i), (uint8_t *)sec, len, kv };
            *r = (struct job){ OP_RESTORE, restore_domid(i), (uint8_t *)sec, len, kv };
            cells[i][OP_SAVE].n = cells[i][OP_RESTORE].n = sizes[i];
        } else {
            if (len != s->sec_len || memcmp(sec, s->sec, len))
                die("the two daemons hold different records");
            free(sec);
        }
        /* Every variant produces libxl's bytes and restores the same content. */
        for (int v = 0; v < NV; v++) {
            check_rc(run_op(v, s, xs, quiet_logger, NULL, NULL), v, s);
            wipe(xs, r->domid);
            check_rc(run_op(v, r, xs, quiet_logger, NULL, NULL), v, r);
            verify_restored(xs, r, v);
        }
    }
}

/* One round: every variant once, starting with variant `first`. */
static void round_of(struct cell *c, struct xs_handle *xs, int first, int rep)
{
    for (int k = 0; k < NV; k++) {
        int v = (first + k) % NV;
        double step[MAX_STEPS], t0, t1, c0, c1;
        int rc;

        if (c->job.op == OP_RESTORE)
            wipe(xs, c->job.domid);
        c0 = thread_cpu_ns();
        t0 = mono_ns();
        rc = run_op(v, &c->job, xs, quiet_logger, step, &t1);
        c1 = thread_cpu_ns();
        check_rc(rc, v, &c->job);
        if (rep < 0)
            continue;   /* warm-up */
        c->wall[v][rep] = t1 - t0;
        c->cpu[v][rep] = c1 - c0;
        if (v == V_REPLAY)
            for (int s = 0; s < MAX_STEPS; s++)
                c->step[s][rep] = step[s];
    }
}

/* Rounds until the time budget is spent, at least min_reps and at most max_reps. */
static void time_cell(struct cell *c, struct xs_handle *xs, double budget_s, int min_reps,
                      int max_reps)
{
    double end;
    int reps;

    for (int v = 0; v < NV; v++) {
        c->wall[v] = calloc(max_reps, sizeof(double));
        c->cpu[v] = calloc(max_reps, sizeof(double));
    }
    for (int s = 0; s < MAX_STEPS; s++)
        c->step[s] = calloc(max_reps, sizeof(double));
    for (int i = 0; i < NV; i++)
        round_of(c, xs, i, -1);         /* warm-up */
    end = mono_ns() + budget_s * 1e9;
    for (reps = 0; reps < max_reps && (reps < min_reps || mono_ns() < end); reps++)
        round_of(c, xs, reps % NV, reps);
    c->reps = reps;
    for (int v = 0; v < NV; v++) {
        c->wall_med[v] = median(c->wall[v], reps);
        c->wall_p99[v] = p99(c->wall[v], reps);
        c->cpu_med[v] = median(c->cpu[v], reps);
    }
    for (int s = 0; s < MAX_STEPS; s++)
        c->step_med[s] = median(c->step[s], reps);
}

/* Requests of K operations per variant, counted on the traced daemon. */
static void count_cell(struct cell *c, struct xs_handle *xs, int k)
{
    for (int v = 0; v < NV; v++) {
        for (int i = 0; i < k; i++) {
            unsigned from, to;

            if (c->job.op == OP_RESTORE)
                wipe(xs, c->job.domid);
            from = mark(xs);
            check_rc(run_op(v, &c->job, xs, quiet_logger, NULL, NULL), v, &c->job);
            to = mark(xs);
            scan(from, to, &c->cnt[v], k);
        }
    }
}

/* CPU per call of the built-in code, the plugin and the replay with the stub instead of
 * libxenstore: batches of calls timed together, the median batch, per call. */
static void stub_cpu_cells(struct xs_handle *xs)
{
    /* NV: the plugin without a logger (its stderr default filters info messages). */
    static const int variants[] = { V_BUILTIN, V_PLUGIN, V_REPLAY, NV };
    enum { NVAR = sizeof(variants) / sizeof(variants[0]), BATCHES = 31 };

    stub_mode = true;
    for (unsigned i = 0; i < NSIZES; i++)
        for (int op = 0; op < 2; op++) {
            struct cell *c = &cells[i][op];
            int per_batch = 4000 / c->n > 0 ? 4000 / c->n : 1;
            double batch[NVAR][BATCHES];
            unsigned long calls = stub_calls;

            stub_records = c->n;
            /* One batch of each variant per round, interleaved; round -1 warms up. */
            for (int b = -1; b < BATCHES; b++)
                for (size_t k = 0; k < NVAR; k++) {
                    int v = variants[k];
                    double c0 = thread_cpu_ns();

                    for (int r = 0; r < per_batch; r++)
                        check_rc(run_op(v == NV ? V_PLUGIN : v, &c->job, xs,
                                        v == NV ? NULL : quiet_logger, NULL, NULL),
                                 v, &c->job);
                    if (b >= 0)
                        batch[k][b] = (thread_cpu_ns() - c0) / per_batch;
                }
            if (stub_calls == calls)
                die("the stub was not called: interposition failed");
            for (size_t k = 0; k < NVAR; k++) {
                double m = median(batch[k], BATCHES);

                if (variants[k] == NV)
                    c->stub_cpu_nolog = m;
                else
                    c->stub_cpu[variants[k]] = m;
            }
        }
    stub_mode = false;
}

/* BENCH_PROFILE=save|restore:N[:SECONDS]: only call the plugin against the stub in a
 * loop (default 10 s), for `perf record`; then exit. */
static void profile_stub(struct xs_handle *xs, const char *spec)
{
    char opname[16] = "";
    unsigned n = 0, i;
    double seconds = 10, end;
    long calls = 0;
    int op;

    if (sscanf(spec, "%15[a-z]:%u:%lf", opname, &n, &seconds) < 2)
        die("BENCH_PROFILE=save|restore:N[:SECONDS]");
    op = strcmp(opname, "save") ? OP_RESTORE : OP_SAVE;
    for (i = 0; i < NSIZES && sizes[i] != n; i++)
        ;
    if (i == NSIZES)
        die("BENCH_PROFILE: N must be 1, 4, 64 or 1024");
    stub_mode = true;
    stub_records = n;
    end = mono_ns() + seconds * 1e9;
    while (mono_ns() < end) {
        for (int k = 0; k < 100; k++)
            check_rc(run_op(V_PLUGIN, &cells[i][op].job, xs, quiet_logger, NULL, NULL),
                     V_PLUGIN, &cells[i][op].job);
        calls += 100;
    }
    stub_mode = false;
    fprintf(stderr, "%ld calls, %.2f µs per call\n", calls, seconds * 1e6 / calls);
}

/* ------------------------------------------------------------------ 64 at once */

#define CONC_DOMAINS 64
static const unsigned conc_sizes[] = { 1, 4 };
#define NCONC (sizeof(conc_sizes) / sizeof(conc_sizes[0]))
enum { C_BUILTIN, C_PLUGIN, C_OWN, NCV };
static const int conc_variant[NCV] = { V_BUILTIN, V_PLUGIN, V_OWN };

struct worker {
    pthread_t thread;
    pthread_barrier_t *barrier;
    int v;
    struct job job;
    struct xs_handle *xs;
    xentoollog_logger *logger;
    FILE *log;
    double t0, t1;
    int rc;
};

struct conc {
    int runs;
    double *wall;
    double wall_med, wall_p99, op_med;
    long ops, conflicts, ops_conflicted, failures;
    struct counts cnt;  /* per domain, traced daemon */
};

static struct conc conc[NCONC][2][NCV];
static struct job conc_job[NCONC][2];

static unsigned conc_domid(unsigned m, int op, unsigned t)
{
    return 1000 + 200 * m + 100 * op + t;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    pthread_barrier_wait(w->barrier);
    w->t0 = mono_ns();
    w->rc = run_op(w->v, &w->job, w->xs, w->logger, NULL, &w->t1);
    return NULL;
}

/* Sums the conflicts of the plugin's summary lines (debug level) in a worker's log:
 * "... N transaction conflicts)" (older libraries: "... N + M transaction conflicts)"). */
static void count_conflicts(struct worker *w, struct conc *r)
{
    char line[1024];

    rewind(w->log);
    while (fgets(line, sizeof(line), w->log)) {
        char *end = strstr(line, " transaction conflicts"), *p;
        long n = 0;

        if (!end)
            continue;
        for (p = end; p > line && (strchr("0123456789 +", p[-1])); p--)
            ;
        while (p < end) {
            char *next;
            long v = strtol(p, &next, 10);

            if (next == p) {
                p++;
                continue;
            }
            n += v;
            p = next;
        }
        r->conflicts += n;
        r->ops_conflicted += n > 0;
    }
}

static void setup_conc(struct xs_handle *xs, bool first)
{
    for (unsigned m = 0; m < NCONC; m++) {
        for (unsigned t = 0; t < CONC_DOMAINS; t++) {
            populate(xs, conc_domid(m, OP_SAVE, t), conc_sizes[m]);
            prepare_restore_domain(xs, conc_domid(m, OP_RESTORE, t));
        }
        if (first) {
            char *sec = NULL;
            uint32_t len = 0;

            if (builtin_save(xs, conc_domid(m, OP_SAVE, 0), &sec, &len))
                die("built-in save failed");
            conc_job[m][OP_SAVE] = (struct job){ OP_SAVE, 0, (uint8_t *)sec, len, NULL };
            conc_job[m][OP_RESTORE] = (struct job){ OP_RESTORE, 0, (uint8_t *)sec, len,
                                                    NULL };
        }
    }
}

/* One batch: 64 threads, each saving (restoring) its own domain, released together.
 * Returns the wall time from the first thread's start to the last one's end. */
static double conc_batch(unsigned m, int op, int cv, struct xs_handle **handles,
                         struct conc *r)
{
    struct worker w[CONC_DOMAINS];
    pthread_barrier_t barrier;
    double start = 0, end = 0;

    pthread_barrier_init(&barrier, NULL, CONC_DOMAINS);
    for (unsigned t = 0; t < CONC_DOMAINS; t++) {
        w[t] = (struct worker){ .barrier = &barrier, .v = conc_variant[cv],
                                .job = conc_job[m][op], .xs = handles[t] };
        w[t].job.domid = conc_domid(m, op, t);
        if (cv != C_BUILTIN) {
            w[t].log = tmpfile();
            if (!w[t].log)
                die("tmpfile: %s", strerror(errno));
            /* XTL_DEBUG: the summary line with the conflict count is a debug message. */
            w[t].logger = (xentoollog_logger *)xtl_createlogger_stdiostream(
                w[t].log, XTL_DEBUG, 0);
        }
    }
    for (unsigned t = 0; t < CONC_DOMAINS; t++)
        if (pthread_create(&w[t].thread, NULL, worker_main, &w[t]))
            die("pthread_create failed");
    for (unsigned t = 0; t < CONC_DOMAINS; t++) {
        pthread_join(w[t].thread, NULL);
        if (w[t].rc)
            r->failures++;
        if (!t || w[t].t0 < start)
            start = w[t].t0;
        if (!t || w[t].t1 > end)
            end = w[t].t1;
        r->ops++;
        if (w[t].log) {
            count_conflicts(&w[t], r);
            xtl_logger_destroy(w[t].logger);
            fclose(w[t].log);
        }
    }
    pthread_barrier_destroy(&barrier);
    return end - start;
}

/* Before a restore batch (not timed, not counted): remove the 64 physmap dirs. */
static void conc_prepare(unsigned m, int op, struct xs_handle *xs)
{
    if (op == OP_RESTORE)
        for (unsigned t = 0; t < CONC_DOMAINS; t++)
            wipe(xs, conc_domid(m, op, t));
}

static void open_handles(struct xs_handle **h, bool open)
{
    for (unsigned t = 0; t < CONC_DOMAINS; t++) {
        if (open) {
            h[t] = xs_open(0);
            if (!h[t])
                die("xs_open: %s", strerror(errno));
        } else {
            xs_close(h[t]);
        }
    }
}

static void time_conc(struct xs_handle *xs, int runs)
{
    struct xs_handle *h[CONC_DOMAINS];

    open_handles(h, true);
    for (unsigned m = 0; m < NCONC; m++)
        for (int op = 0; op < 2; op++) {
            for (int cv = 0; cv < NCV; cv++) {
                conc[m][op][cv].runs = runs;
                conc[m][op][cv].wall = calloc(runs, sizeof(double));
            }
            /* Warm-up, then the variants interleaved. */
            for (int cv = 0; cv < NCV; cv++) {
                struct conc scratch = { 0 };

                conc_prepare(m, op, xs);
                conc_batch(m, op, cv, h, &scratch);
            }
            for (int i = 0; i < runs; i++)
                for (int k = 0; k < NCV; k++) {
                    int cv = (i + k) % NCV;
                    struct conc *r = &conc[m][op][cv];

                    conc_prepare(m, op, xs);
                    r->wall[i] = conc_batch(m, op, cv, h, r);
                }
            for (int cv = 0; cv < NCV; cv++) {
                struct conc *r = &conc[m][op][cv];

                r->wall_med = median(r->wall, runs);
                r->wall_p99 = p99(r->wall, runs);
            }
        }
    open_handles(h, false);
}

static void count_conc(struct xs_handle *xs, int k)
{
    struct xs_handle *h[CONC_DOMAINS];

    open_handles(h, true);
    for (unsigned m = 0; m < NCONC; m++)
        for (int op = 0; op < 2; op++)
            for (int cv = 0; cv < NCV; cv++)
                for (int i = 0; i < k; i++) {
                    struct conc scratch = { 0 };
                    unsigned from, to;

                    conc_prepare(m, op, xs);
                    from = mark(xs);
                    conc_batch(m, op, cv, h, &scratch);
                    to = mark(xs);
                    /* Per domain. Retries here (traced daemon) are not added to the
                     * timed batches' count; failures are. */
                    scan(from, to, &conc[m][op][cv].cnt, (double)k * CONC_DOMAINS);
                    conc[m][op][cv].failures += scratch.failures;
                }
    open_handles(h, false);
}

/* ------------------------------------------------------------------ first restore */

/* The restore `xl restore` makes: the domain's device-model directory does not exist yet
 * (libxl creates it when it starts QEMU, after the stream has been read), while
 * `device-model` itself does (other guests ran on the host). 3 records; the built-in
 * code and the plugin with libxl's handle, interleaved; before each call the domain's
 * device-model directory is removed (not timed). */
#define FIRST_N 3
#define FIRST_SRC 88
#define FIRST_DOMID 89
static const int first_variants[2] = { V_BUILTIN, V_PLUGIN };
static struct {
    struct job job;
    double *wall[2];
    int reps;
    double med[2], p99v[2];
    struct counts cnt[2];
} first;

static void first_prepare(struct xs_handle *xs)
{
    char dir[96];

    dm_dir(dir, sizeof(dir), FIRST_DOMID);
    xs_rm(xs, XBT_NULL, dir);
    if (!xs_mkdir(xs, XBT_NULL, "/local/domain/0/device-model"))
        die("mkdir device-model: %s", strerror(errno));
}

static void setup_first(struct xs_handle *xs, bool first_time)
{
    char *sec = NULL;
    uint32_t len = 0;

    populate(xs, FIRST_SRC, FIRST_N);
    if (builtin_save(xs, FIRST_SRC, &sec, &len))
        die("built-in save of %u records failed", FIRST_N);
    if (first_time) {
        struct kvlist *kv = calloc(1, sizeof(*kv));

        kv_split((uint8_t *)sec, len, kv);
        first.job = (struct job){ OP_RESTORE, FIRST_DOMID, (uint8_t *)sec, len, kv };
    } else {
        free(sec);
    }
    for (int k = 0; k < 2; k++) {
        first_prepare(xs);
        check_rc(run_op(first_variants[k], &first.job, xs, quiet_logger, NULL, NULL),
                 first_variants[k], &first.job);
        verify_restored(xs, &first.job, first_variants[k]);
    }
}

static void time_first(struct xs_handle *xs, int reps)
{
    for (int k = 0; k < 2; k++)
        first.wall[k] = calloc(reps, sizeof(double));
    for (int r = -2; r < reps; r++)
        for (int i = 0; i < 2; i++) {
            int k = (i + (r & 1)) % 2;
            double t0, t1;

            first_prepare(xs);
            t0 = mono_ns();
            check_rc(run_op(first_variants[k], &first.job, xs, quiet_logger, NULL, &t1),
                     first_variants[k], &first.job);
            if (r >= 0)
                first.wall[k][r] = t1 - t0;
        }
    first.reps = reps;
    for (int k = 0; k < 2; k++) {
        first.med[k] = median(first.wall[k], reps);
        first.p99v[k] = p99(first.wall[k], reps);
    }
}

static void count_first(struct xs_handle *xs, int n)
{
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < n; i++) {
            unsigned from, to;

            first_prepare(xs);
            from = mark(xs);
            check_rc(run_op(first_variants[k], &first.job, xs, quiet_logger, NULL, NULL),
                     first_variants[k], &first.job);
            to = mark(xs);
            scan(from, to, &first.cnt[k], n);
        }
}

static void report_first(void)
{
    printf("\n## The restore `xl restore` makes: a new device-model directory\n\n");
    printf("%u records restored into a domain whose device-model directory does not exist "
           "yet (libxl creates it only when it starts QEMU, after reading the stream), "
           "while `/local/domain/0/device-model` exists; the directory is removed before "
           "each call (not timed). %d rounds, the two variants interleaved. Requests from "
           "the traced daemon's log.\n\n", FIRST_N, first.reps);
    printf("| variant | median / p99 | ratio | requests | request types |\n");
    printf("|---|---|---:|---:|---|\n");
    for (int k = 0; k < 2; k++)
        printf("| %s | %s / %s | %.2fx | %g | %s |\n",
               k ? "plugin, libxl's handle" : "built-in", fmt_t(first.med[k]),
               fmt_t(first.p99v[k]), first.med[k] / first.med[0], first.cnt[k].total,
               fmt_types(&first.cnt[k], NULL));
    printf("\nThe plugin: GET_PERMS of the domain's directory (missing) and of "
           "`device-model` (the nearest existing ancestor: what a failed restore would "
           "have to remove again, and the permissions a new node inherits), one MKDIR "
           "outside any transaction (so that first restores of different domains do not "
           "conflict), then one transaction with the %u writes. Before issue 12 the same "
           "restore made 18 requests (a READ, a creation transaction of 5, the main "
           "transaction with an RM).\n", 3 * FIRST_N);
}

/* ------------------------------------------------------------------ report */

static double target_for(unsigned n)
{
    return n == 1 ? 1.5 : n >= 16 ? 1.1 : 0;
}

#define CPU_TARGET_NS 2000.0

static double ratio_of(const struct cell *c)
{
    return c->wall_med[V_PLUGIN] / c->wall_med[V_BUILTIN];
}

/* The library's own CPU time per call: plugin − replay, both against the stub. */
static double own_cpu(const struct cell *c)
{
    return c->stub_cpu[V_PLUGIN] - c->stub_cpu[V_REPLAY];
}

/* Replay: the sum of the step medians of one kind. */
static double steps_of_kind(const struct cell *c, int kind)
{
    double sum = 0;

    for (int i = 0; i < nsteps_of[c->job.op]; i++)
        if (steps_of[c->job.op][i].kind == kind)
            sum += c->step_med[i];
    return sum;
}

static double tx_pair(const struct cell *c)
{
    return steps_of_kind(c, K_TX);
}

static double common_steps(const struct cell *c)
{
    return steps_of_kind(c, K_COMMON);
}

/* Whether the replay made exactly the plugin's requests (on the traced daemon). */
static bool replay_matches(const struct cell *c)
{
    for (size_t t = 0; t < NTYPES; t++)
        if (c->cnt[V_REPLAY].type[t] != c->cnt[V_PLUGIN].type[t])
            return false;
    return true;
}

/* What the common requests cost more inside the transaction than the built-in code's
 * same requests outside one, per request. */
static double in_tx_extra_per_request(const struct cell *c)
{
    return (common_steps(c) - c->wall_med[V_BUILTIN]) / c->cnt[V_BUILTIN].total;
}

static void list_add(char *list, size_t size, const char *fmt, ...)
{
    size_t used = strlen(list);
    va_list ap;

    if (used)
        used += snprintf(list + used, size - used, ", ");
    va_start(ap, fmt);
    vsnprintf(list + used, size - used, fmt, ap);
    va_end(ap);
}

static void report(void)
{
    char met[512] = "", missed[512] = "", cpu_met[512] = "", cpu_missed[512] = "";
    char own_met[512] = "", own_missed[512] = "";
    long retries = 0, conc_calls = 0, conc_failures = 0;

    /* ---- summary */
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct cell *c = &cells[i][op];
            double tgt = target_for(c->n);

            if (tgt > 0)
                list_add(ratio_of(c) <= tgt ? met : missed, sizeof(met),
                         "%s N = %u (%.2fx)", op_name[op], c->n, ratio_of(c));
            list_add(c->cpu_med[V_PLUGIN] / c->n < CPU_TARGET_NS ? cpu_met : cpu_missed,
                     sizeof(cpu_met), "%s N = %u", op_name[op], c->n);
            list_add(own_cpu(c) / c->n < CPU_TARGET_NS ? own_met : own_missed,
                     sizeof(own_met), "%s N = %u", op_name[op], c->n);
        }
    for (unsigned m = 0; m < NCONC; m++)
        for (int op = 0; op < 2; op++)
            for (int cv = C_PLUGIN; cv < NCV; cv++) {
                retries += conc[m][op][cv].conflicts;
                conc_calls += conc[m][op][cv].ops;
            }
    for (unsigned m = 0; m < NCONC; m++)
        for (int op = 0; op < 2; op++)
            for (int cv = 0; cv < NCV; cv++)
                conc_failures += conc[m][op][cv].failures;
    printf("## Targets\n\n");
    printf("* Plugin within 1.5x of the built-in code at N = 1 and within 1.1x at "
           "N ≥ 16 (median wall time, libxl's handle): met for %s; missed for %s.\n",
           *met ? met : "none", *missed ? missed : "none");
    printf("* Plugin CPU time below 2 µs per record, measured around the call on the real "
           "daemon (libxenstore and the kernel included): met for %s; missed for %s.\n",
           *cpu_met ? cpu_met : "none", *cpu_missed ? cpu_missed : "none");
    printf("* The library's own code below 2 µs of CPU per record (libxenstore replaced "
           "by an in-process stub, the stub's cost subtracted): met for %s; missed for "
           "%s.\n", *own_met ? own_met : "none", *own_missed ? own_missed : "none");
    printf("* 64 domains at once: %ld transaction retries in %ld plugin calls; %ld failed "
           "calls (all variants).\n", retries, conc_calls, conc_failures);

    /* ---- wall time */
    printf("\n## One domain: wall time\n\n");
    printf("One call, median and 99th percentile over the rounds (with fewer than 100 "
           "rounds the p99 is the maximum). *ratio* = plugin ÷ built-in, of the medians "
           "(of the p99s in brackets).\n\n");
    printf("| operation | N | rounds | built-in median / p99 | plugin median / p99 | "
           "ratio | target | own connection median / p99 | ratio |\n");
    printf("|---|---:|---:|---|---|---|---|---|---|\n");
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct cell *c = &cells[i][op];
            double tgt = target_for(c->n);
            char verdict[48];

            if (tgt == 0)
                snprintf(verdict, sizeof(verdict), "—");
            else
                snprintf(verdict, sizeof(verdict), "≤ %.1fx: %s", tgt,
                         ratio_of(c) <= tgt ? "met" : "**missed**");
            printf("| %s | %u | %d | %s / %s | %s / %s | %.2fx (%.2fx) | %s | %s / %s | "
                   "%.2fx |\n",
                   op_name[op], c->n, c->reps, fmt_t(c->wall_med[V_BUILTIN]),
                   fmt_t(c->wall_p99[V_BUILTIN]), fmt_t(c->wall_med[V_PLUGIN]),
                   fmt_t(c->wall_p99[V_PLUGIN]), ratio_of(c),
                   c->wall_p99[V_PLUGIN] / c->wall_p99[V_BUILTIN], verdict,
                   fmt_t(c->wall_med[V_OWN]), fmt_t(c->wall_p99[V_OWN]),
                   c->wall_med[V_OWN] / c->wall_med[V_BUILTIN]);
        }

    /* ---- requests */
    printf("\n## One domain: requests per call (traced daemon)\n\n");
    printf("Requests in the traced daemon's log (C: `IN` lines of the `xenstored -T` "
           "trace; oxenstored: its access log with read and transaction operations) "
           "between two marker requests around each call, averaged over the calls; "
           "connections are `CREATE connection` (oxenstored: `newconn`) lines. A save "
           "through libxl's handle opens one connection of its own: it lists `physmap`, "
           "which the device model fills, and never does that on the caller's handle "
           "(see README).\n\n");
    printf("| operation | N | built-in | plugin | plugin's extra requests | "
           "own connection: requests, connections |\n");
    printf("|---|---:|---:|---:|---|---|\n");
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct cell *c = &cells[i][op];

            printf("| %s | %u | %g | %g | %s | %g, %g |\n", op_name[op], c->n,
                   c->cnt[V_BUILTIN].total, c->cnt[V_PLUGIN].total,
                   fmt_types(&c->cnt[V_PLUGIN], &c->cnt[V_BUILTIN]),
                   c->cnt[V_OWN].total, c->cnt[V_OWN].conns);
        }
    printf("\nAt N = 1: built-in save %s; plugin save %s; built-in restore %s; plugin "
           "restore %s. Failed commits (`ERROR (EAGAIN)`) in all single-domain calls: %g.\n",
           fmt_types(&cells[0][OP_SAVE].cnt[V_BUILTIN], NULL),
           fmt_types(&cells[0][OP_SAVE].cnt[V_PLUGIN], NULL),
           fmt_types(&cells[0][OP_RESTORE].cnt[V_BUILTIN], NULL),
           fmt_types(&cells[0][OP_RESTORE].cnt[V_PLUGIN], NULL),
           cells[0][0].cnt[V_PLUGIN].eagain + cells[0][1].cnt[V_PLUGIN].eagain);

    /* ---- CPU */
    printf("\n## One domain: CPU time per record\n\n");
    printf("*Real daemon*: `CLOCK_THREAD_CPUTIME_ID` of the calling thread around each "
           "timed call (median ÷ N), user and kernel time, so libxenstore and its socket "
           "system calls are in it, for both sides. *Stub*: the same calls with "
           "libxenstore replaced in-process by a stub that answers from memory (batches "
           "of calls, median batch); *library's own* = plugin − replay with the stub, "
           "i.e. decode, validation, encoding, paths, allocation, logging and the FFI, "
           "without any xenstore cost.\n\n");
    printf("| operation | N | plugin, real daemon | built-in, real daemon | plugin, stub | "
           "replay, stub | **library's own** | built-in, stub |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct cell *c = &cells[i][op];

            printf("| %s | %u | %s | %s | %s | %s | **%s** | %s |\n", op_name[op], c->n,
                   fmt_t(c->cpu_med[V_PLUGIN] / c->n), fmt_t(c->cpu_med[V_BUILTIN] / c->n),
                   fmt_t(c->stub_cpu[V_PLUGIN] / c->n), fmt_t(c->stub_cpu[V_REPLAY] / c->n),
                   fmt_t(own_cpu(c) / c->n), fmt_t(c->stub_cpu[V_BUILTIN] / c->n));
        }

    /* ---- concurrency */
    printf("\n## 64 domains at once (host evacuation)\n\n");
    printf("64 threads, each with its own domain and its own connection (opened "
           "beforehand, as every `xl` process has its own), released by one barrier; "
           "total = first thread's start to last thread's end, over %d batches per row. "
           "Retries: the plugin's \"N transaction conflicts\" log lines (a xentoollog "
           "logger per thread at XTL_DEBUG) over the timed batches; failed commits: "
           "`ERROR (EAGAIN)` replies in the traced daemon's batches. The built-in code "
           "uses no transaction, so it has no retries by construction (and no "
           "consistent snapshot).\n\n",
           conc[0][0][0].runs);
    printf("| operation | records per domain | variant | total median / p99 | "
           "vs built-in | requests per domain | retries (calls that retried) | "
           "failed commits per batch | failed calls |\n");
    printf("|---|---:|---|---|---:|---:|---|---:|---:|\n");
    for (int op = 0; op < 2; op++)
        for (unsigned m = 0; m < NCONC; m++)
            for (int cv = 0; cv < NCV; cv++) {
                struct conc *r = &conc[m][op][cv];
                static const char *const names[] = {
                    "built-in", "plugin, caller's handle", "plugin, own connection",
                };
                char retry[64];

                if (cv == C_BUILTIN)
                    snprintf(retry, sizeof(retry), "0 (no transaction)");
                else
                    snprintf(retry, sizeof(retry), "%ld (%ld of %ld)", r->conflicts,
                             r->ops_conflicted, r->ops);
                printf("| %s | %u | %s | %s / %s | %.2fx | %g | %s | %g | %ld |\n",
                       op_name[op], conc_sizes[m], names[cv], fmt_t(r->wall_med),
                       fmt_t(r->wall_p99), r->wall_med / conc[m][op][C_BUILTIN].wall_med,
                       r->cnt.total, retry, r->cnt.eagain * CONC_DOMAINS, r->failures);
            }

    /* ---- where the time goes */
    printf("\n## Where the plugin's extra time goes\n\n");
    printf("*Replay* issues the plugin's request sequence from C on the untraced daemon, "
           "with a timestamp after each step (medians). Columns: the gap (plugin − "
           "built-in, medians); the main transaction's start and commit; the requests "
           "the built-in code does not make; what the requests both make cost more "
           "inside the transaction than the built-in code's outside one (in all, and per "
           "request); the library's own CPU per call (stub, above). Medians of parts do "
           "not add up exactly to the median of the whole.\n\n");
    printf("| operation | N | gap | start + commit | requests the built-in code does not "
           "make | same requests in a transaction: extra (per request) | library's own |\n");
    printf("|---|---:|---:|---:|---|---|---:|\n");
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct cell *c = &cells[i][op];
            char extra[256] = "";

            for (int k = 0; k < nsteps_of[op]; k++)
                if (steps_of[op][k].kind == K_EXTRA)
                    list_add(extra, sizeof(extra), "%s", fmt_t(c->step_med[k]));
            printf("| %s | %u | %s | %s | %s | %s (%s) | %s |\n", op_name[op], c->n,
                   fmt_t(c->wall_med[V_PLUGIN] - c->wall_med[V_BUILTIN]),
                   fmt_t(tx_pair(c)), *extra ? extra : "—",
                   fmt_t(common_steps(c) - c->wall_med[V_BUILTIN]),
                   fmt_t(in_tx_extra_per_request(c)), fmt_t(own_cpu(c)));
        }
    printf("\nThe restore's extra requests, in this column's order: ");
    {
        int first = 1;

        for (int k = 0; k < nsteps_of[OP_RESTORE]; k++)
            if (restore_steps[k].kind == K_EXTRA) {
                printf("%s%s", first ? "" : "; ", restore_steps[k].name);
                first = 0;
            }
    }
    printf(".\n");
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < NSIZES; i++)
            if (!replay_matches(&cells[i][op]))
                printf("\n**Warning: the replay of %s at N = %u made other requests (%s) "
                       "than the plugin (%s): the library's request sequence has changed "
                       "and the breakdown above does not describe it; update "
                       "`replay_%s` in benches/xenstore_bench.c.**\n",
                       op_name[op], cells[i][op].n, fmt_types(&cells[i][op].cnt[V_REPLAY], NULL),
                       fmt_types(&cells[i][op].cnt[V_PLUGIN], NULL), op_name[op]);

    printf("\n### Each missed target\n\n");
    if (!*missed) {
        printf("None: every wall-time target was met.\n");
    } else {
        bool any_growth = false;

        printf("*At best with one transaction*: the built-in code's requests plus the "
               "transaction's start and commit, first counted in requests, then as "
               "measured (replay: start + commit + the common requests inside the "
               "transaction), i.e. what a library with no other request and no cost of "
               "its own would reach. *Removable* (†): the plugin's extra requests that a "
               "restore does not need (below); *library's own*: its CPU time per call "
               "(stub) as a share of the gap.\n\n");
        printf("| operation | N | plugin ÷ built-in | target | requests: built-in → plugin "
               "| at best with one transaction: requests / measured | without the "
               "removable requests (†) | library's own, share of the gap | what would "
               "close the gap |\n");
        printf("|---|---:|---:|---:|---|---|---:|---:|---|\n");
        for (int op = 0; op < 2; op++)
            for (unsigned i = 0; i < NSIZES; i++) {
                struct cell *c = &cells[i][op];
                double base = c->wall_med[V_BUILTIN], plug = c->wall_med[V_PLUGIN];
                double tgt = target_for(c->n), removable = 0;
                double req_floor = (c->cnt[V_BUILTIN].total + 2) / c->cnt[V_BUILTIN].total;
                double floor_ratio = (tx_pair(c) + common_steps(c)) / base;
                double ref = i > 0 ? in_tx_extra_per_request(&cells[i - 1][op]) : 0;
                bool growth = c->n >= 64 && ref > 0 && in_tx_extra_per_request(c) > 2 * ref;
                char without[32] = "—", closes[256];

                if (tgt == 0 || ratio_of(c) <= tgt)
                    continue;
                for (int k = 0; k < nsteps_of[op]; k++)
                    if (steps_of[op][k].removable)
                        removable += c->step_med[k];
                if (removable > 0)
                    snprintf(without, sizeof(without), "%.2fx", (plug - removable) / base);
                if (floor_ratio > tgt && growth)
                    snprintf(closes, sizeof(closes), "nothing in the library: xenstored's "
                             "cost per request inside a transaction grows with its size (‡)");
                else if (floor_ratio > tgt)
                    snprintf(closes, sizeof(closes), "nothing in the library while it uses "
                             "one transaction: start, commit and the in-transaction cost "
                             "exceed what the target allows");
                else if (removable > 0 && (plug - removable) / base <= tgt)
                    snprintf(closes, sizeof(closes), "dropping the removable requests (†)");
                else if (own_cpu(c) > 0.1 * (plug - base))
                    snprintf(closes, sizeof(closes), "less work in the library's own code");
                else
                    snprintf(closes, sizeof(closes), "fewer requests");
                if (floor_ratio > tgt && removable >= 0.05 * base)
                    strncat(closes, "; the removable requests (†) narrow it",
                            sizeof(closes) - strlen(closes) - 1);
                any_growth |= growth;
                printf("| %s | %u | %.2fx | %.1fx | %g → %g | %.2fx / %.2fx | %s | %s, "
                       "%.1f%% | %s |\n", op_name[op], c->n, ratio_of(c), tgt,
                       c->cnt[V_BUILTIN].total, c->cnt[V_PLUGIN].total, req_floor,
                       floor_ratio, without, fmt_t(own_cpu(c)),
                       100 * own_cpu(c) / (plug - base), closes);
            }
        {
            struct cell *r1 = &cells[0][OP_RESTORE];

            printf("\n(†) The restore makes %g requests where the built-in code makes %g. "
                   "Replayed at N = 1 (built-in restore: %s): ",
                   r1->cnt[V_PLUGIN].total, r1->cnt[V_BUILTIN].total,
                   fmt_t(r1->wall_med[V_BUILTIN]));
            for (int k = 0, first = 1; k < nsteps_of[OP_RESTORE]; k++)
                if (restore_steps[k].kind == K_EXTRA) {
                    printf("%sthe %s takes %s%s", first ? "" : "; ", restore_steps[k].name,
                           fmt_t(r1->step_med[k]),
                           restore_steps[k].removable ? " (removable)" : "");
                    first = 0;
                }
            printf(". The RM is what makes a restore a replacement. The GET_PERMS tells "
                   "whether the device-model directory exists; this table measures the case "
                   "where it does. When it does not (what `xl restore` of a guest with QEMU "
                   "in dom0 always hits), the library probes the nearest existing ancestor, "
                   "creates the directory with one MKDIR outside any transaction and needs "
                   "no RM: see the last section. (Code: `restore_section` and `CreatedDir` "
                   "in `src/hooks.rs`.)\n");
        }
        if (any_growth) {
            printf("\n(‡) What the requests both make cost more inside a transaction, per "
                   "request:");
            for (int op = 0; op < 2; op++) {
                printf(" %s", op_name[op]);
                for (unsigned i = 0; i < NSIZES; i++)
                    printf("%s %s at N = %u", i ? "," : "",
                           fmt_t(in_tx_extra_per_request(&cells[i][op])), cells[i][op].n);
                printf(op ? "." : ";");
            }
            printf(" It grows with the number of nodes the transaction has touched: "
                   "xenstored 4.17 looks every node a request touches up in a linked list "
                   "of the transaction's accessed nodes (`find_accessed_node` in "
                   "`tools/xenstore/xenstored_transaction.c`, unchanged in Xen master) and "
                   "copies every node read in a transaction into the transaction's part of "
                   "the database, so one transaction over n nodes costs O(n²). Only "
                   "xenstored (a hashed lookup), or giving up the single snapshot (several "
                   "smaller transactions), closes this part. Real guests have one or two "
                   "records.\n");
        }
    }

    printf("\n### Other costs\n\n");
    printf("* **Own connection** (`xs_handle` NULL): the same requests plus one "
           "connection per call (`CREATE connection` above). A save opens one whatever "
           "the caller passes (it lists a directory, which it never does on the caller's "
           "handle), so for a save the two variants differ only by noise (%s at N = 1, "
           "%.2fx the built-in code in all); what the save's own connection costs is part "
           "of the plugin's gap to the replay above. For a restore, which uses libxl's "
           "handle, opening and closing one adds %s at N = 1 (%.2fx). libxl always passes "
           "its handle; this concerns other callers (`physmap-inspect`).\n",
           fmt_t(cells[0][OP_SAVE].wall_med[V_OWN] - cells[0][OP_SAVE].wall_med[V_PLUGIN]),
           cells[0][OP_SAVE].wall_med[V_OWN] / cells[0][OP_SAVE].wall_med[V_BUILTIN],
           fmt_t(cells[0][OP_RESTORE].wall_med[V_OWN] -
                 cells[0][OP_RESTORE].wall_med[V_PLUGIN]),
           cells[0][OP_RESTORE].wall_med[V_OWN] / cells[0][OP_RESTORE].wall_med[V_BUILTIN]);
    for (int op = 0; op < 2; op++) {
        struct cell *c = &cells[NSIZES - 1][op], *c1 = &cells[0][op];
        double plug = c->cpu_med[V_PLUGIN] / c->n, base = c->cpu_med[V_BUILTIN] / c->n;
        double own = own_cpu(c) / c->n;

        printf("* **CPU, %s**: at N = %u the plugin's thread spends %s per record on the "
               "real daemon and the built-in code %s; the library's own code %s per record "
               "(%s per call at N = 1, of which %s is the summary line it formats on every "
               "call for the caller's xentoollog logger, which drops it at xl's default "
               "level: the same call without a logger costs that much less). ", op_name[op], c->n, fmt_t(plug), fmt_t(base),
               fmt_t(own), fmt_t(own_cpu(c1)),
               fmt_t(c1->stub_cpu[V_PLUGIN] - c1->stub_cpu_nolog));
        if (plug < CPU_TARGET_NS)
            printf("Within the 2 µs target.\n");
        else if (own < CPU_TARGET_NS)
            printf("The target is missed only because of the xenstore requests, which "
                   "cost the built-in code %s per record as well; the library's own code "
                   "is within it.\n", fmt_t(base));
        else
            printf("The library's own code alone is over the 2 µs target.\n");
    }
}

/* ------------------------------------------------------------------ main */

static void *resolve(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);

    if (!sym)
        die("dlsym %s: %s", name, dlerror());
    return sym;
}

static struct xs_handle *connect_to(const char *socket)
{
    struct xs_handle *xs;

    /* xs_open(0) and the library's own connections follow XENSTORED_PATH. */
    setenv("XENSTORED_PATH", socket, 1);
    xs = xs_open(0);
    if (!xs)
        die("xs_open %s: %s", socket, strerror(errno));
    return xs;
}

int main(int argc, char **argv)
{
    double budget = env_int("BENCH_CELL_SECONDS", 5);
    int min_reps = env_int("BENCH_MIN_REPS", 100), max_reps = env_int("BENCH_MAX_REPS", 3000);
    int min_reps_1024 = env_int("BENCH_MIN_REPS_1024", 5);
    int conc_runs = env_int("BENCH_CONC_RUNS", 20);
    struct xs_handle *xs;
    FILE *devnull;
    void *lib;
    double t0 = mono_ns();

    if (argc != 5)
        die("usage: xenstore_bench LIB TIMING_SOCKET COUNT_SOCKET TRACE_FILE");
    sizes[NSIZES - 1] = (unsigned)env_int("BENCH_MAX_N", 1024);
    access_log = getenv("BENCH_DAEMON") && !strcmp(getenv("BENCH_DAEMON"), "oxenstored");
    resolve_libxenstore();
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        die("dlopen: %s", dlerror());
    save_hook = resolve(lib, "physmap_save_hook");
    restore_hook = resolve(lib, "physmap_restore_hook");
    free_buf = resolve(lib, "physmap_free");
    strerror_fn = resolve(lib, "physmap_strerror");
    /* As xl sets up libxl's logger by default (XTL_PROGRESS): the plugin formats its debug
     * summary line and the logger drops it. */
    devnull = fopen("/dev/null", "w");
    quiet_logger = (xentoollog_logger *)xtl_createlogger_stdiostream(devnull, XTL_PROGRESS, 0);

    /* Phase 1: timing, untraced daemon. */
    xs = connect_to(argv[2]);
    setup_cells(xs, true);
    if (getenv("BENCH_PROFILE")) {
        profile_stub(xs, getenv("BENCH_PROFILE"));
        return 0;
    }
    for (unsigned i = 0; i < NSIZES; i++)
        for (int op = 0; op < 2; op++) {
            fprintf(stderr, "[%3.0f s] timing %s, N = %u\n", (mono_ns() - t0) / 1e9,
                    op_name[op], sizes[i]);
            time_cell(&cells[i][op], xs, budget, i == NSIZES - 1 ? min_reps_1024 : min_reps,
                      max_reps);
        }
    fprintf(stderr, "[%3.0f s] CPU time with the stub\n", (mono_ns() - t0) / 1e9);
    stub_cpu_cells(xs);
    setup_conc(xs, true);
    fprintf(stderr, "[%3.0f s] timing 64 domains at once\n", (mono_ns() - t0) / 1e9);
    time_conc(xs, conc_runs);
    fprintf(stderr, "[%3.0f s] timing first restores\n", (mono_ns() - t0) / 1e9);
    setup_first(xs, true);
    time_first(xs, min_reps > 300 ? min_reps : 300);
    xs_close(xs);

    /* Phase 2: request counts, traced daemon. */
    trace = fopen(argv[4], "r");
    if (!trace)
        die("%s: %s", argv[4], strerror(errno));
    xs = connect_to(argv[3]);
    fprintf(stderr, "[%3.0f s] counting requests on the traced daemon\n",
            (mono_ns() - t0) / 1e9);
    setup_cells(xs, false);
    for (unsigned i = 0; i < NSIZES; i++)
        for (int op = 0; op < 2; op++)
            count_cell(&cells[i][op], xs, i == NSIZES - 1 ? 1 : 3);
    setup_conc(xs, false);
    count_conc(xs, 1);
    setup_first(xs, false);
    count_first(xs, 3);
    xs_close(xs);

    report();
    report_first();
    fprintf(stderr, "done in %.0f s\n", (mono_ns() - t0) / 1e9);
    printf("\n<!-- measurement took %.0f s -->\n", (mono_ns() - t0) / 1e9);
    xtl_logger_destroy(quiet_logger);
    fclose(devnull);
    return 0;
}
