/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * hook_timing: how long the plugin's work takes inside libxl, measured
 * with the real library on a real xenstored (XENSTORED_PATH, e.g. the
 * sandbox of tests/sandbox/xenstored-sandbox.sh).  `make hook-timing`
 * runs it.
 *
 *   hook_timing LIB [ITERATIONS]
 *
 * It calls the library as patched libxl does (dlopen, the ABI check and
 * five dlsym; then the hooks with one shared xenstore handle, format
 * XENSTORE_KV, dm_domid 0) and prints, in milliseconds:
 *
 *   load      stat + dlopen + dlsym + physmap_abi_version(), each in a
 *             fresh child process, as in a new `xl save` or `xl restore`:
 *             what libxl__physmap_plugin_prepare() does before the guest
 *             stops
 *   save      physmap_save_hook + physmap_free of 2 records (QEMU's
 *             VGA RAM and a second one): what the save adds to downtime
 *   restore   physmap_restore_hook of those records into another domain
 *
 * each with no other xenstore client, then with a second process that
 * writes as fast as it can (own connection, no transaction):
 *
 *   sibling   .../device-model/<domid>/state of both domains, as QEMU
 *             does during its life: different nodes, same directory
 *   physmap   .../physmap/f0000000/size of both domains, the very nodes
 *             the hooks read and replace: every transaction can conflict
 *
 * libxl runs the hooks under its ctx lock, so the "max" column of save
 * and restore is the longest time a hook holds that lock.  A failed
 * call (conflict retries exhausted) is counted and timed too.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "physmap_hooks.h"

#define SAVE_DOMID 7
#define RESTORE_DOMID 8

/* Resolved with dlsym, as libxl does. */
static int (*save_hook)(uint32_t, const struct physmap_hook_opts *,
                        uint8_t **, uint32_t *);
static int (*restore_hook)(uint32_t, const struct physmap_hook_opts *,
                           const uint8_t *, uint32_t);
static void (*free_buf)(void *);

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void report(const char *what, double *t, int n, int failures)
{
    qsort(t, n, sizeof(*t), cmp_double);
    printf("%-22s n=%-4d min %7.3f  median %7.3f  p99 %7.3f  max %7.3f"
           "  failed %d\n", what, n, t[0], t[n / 2], t[n * 99 / 100],
           t[n - 1], failures);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void dm_write(struct xs_handle *xs, unsigned int domid,
                     const char *rest, const char *value)
{
    char path[256];

    snprintf(path, sizeof(path), "/local/domain/0/device-model/%u%s",
             domid, rest);
    if (!xs_write(xs, XBT_NULL, path, value, strlen(value)))
        die("xs_write");
}

/* One load as libxl__physmap_plugin_prepare() does it, in a child. */
static double time_first_load(const char *lib)
{
    static const char *const syms[] = {
        "physmap_save_hook", "physmap_restore_hook", "physmap_free",
        "physmap_strerror",
    };
    int pipefd[2], status;
    double t = -1;
    pid_t pid;

    if (pipe(pipefd)) die("pipe");
    pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        double start = now_ms();
        uint32_t (*abi)(void);
        struct stat st;
        void *h;
        size_t i;

        if (stat(lib, &st)) _exit(1);
        h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) _exit(1);
        abi = (uint32_t (*)(void))dlsym(h, "physmap_abi_version");
        if (!abi || abi() != PHYSMAP_ABI_VERSION) _exit(1);
        for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
            if (!dlsym(h, syms[i])) _exit(1);
        t = now_ms() - start;
        if (write(pipefd[1], &t, sizeof(t)) != sizeof(t)) _exit(1);
        _exit(0);
    }
    close(pipefd[1]);
    if (read(pipefd[0], &t, sizeof(t)) != sizeof(t)) t = -1;
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    if (t < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        die("load in child");
    return t;
}

/* A second xenstore client writing 'rest' of both domains in a loop. */
static pid_t start_writer(const char *rest, const char *value)
{
    pid_t pid = fork();

    if (pid < 0) die("fork");
    if (pid == 0) {
        struct xs_handle *xs = xs_open(0);

        if (!xs) die("xs_open (writer)");
        for (;;) {
            dm_write(xs, SAVE_DOMID, rest, value);
            dm_write(xs, RESTORE_DOMID, rest, value);
        }
    }
    usleep(100 * 1000); /* let it get going */
    return pid;
}

static void stop_writer(pid_t pid)
{
    int status;

    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

static void run_hooks(const char *label, const struct physmap_hook_opts *o,
                      int iterations, double *t)
{
    char what[64];
    int i, failures = 0;

    for (i = 0; i < iterations; i++) {
        uint8_t *buf = NULL;
        uint32_t len = 0;
        double start = now_ms();
        int rc = save_hook(SAVE_DOMID, o, &buf, &len);

        free_buf(buf);
        t[i] = now_ms() - start;
        if (rc) failures++;
    }
    snprintf(what, sizeof(what), "save, %s", label);
    report(what, t, iterations, failures);

    failures = 0;
    {
        uint8_t *section = NULL;
        uint32_t section_len = 0;

        /* The section to restore, taken with no writer running. */
        static uint8_t *saved;
        static uint32_t saved_len;

        if (!saved) {
            if (save_hook(SAVE_DOMID, o, &section, &section_len))
                die("save of the section to restore");
            saved = section;
            saved_len = section_len;
        }
        for (i = 0; i < iterations; i++) {
            double start = now_ms();
            int rc = restore_hook(RESTORE_DOMID, o, saved, saved_len);

            t[i] = now_ms() - start;
            if (rc) failures++;
        }
    }
    snprintf(what, sizeof(what), "restore, %s", label);
    report(what, t, iterations, failures);
}

int main(int argc, char **argv)
{
    int i, iterations = argc > 2 ? atoi(argv[2]) : 200;
    struct physmap_hook_opts o = {
        .abi_version = PHYSMAP_ABI_VERSION,
        .dm_domid = 0,
        .format = PHYSMAP_FORMAT_XENSTORE_KV,
        .flags = 0,
    };
    struct xs_handle *xs;
    double *t;
    pid_t writer;
    void *h;

    if (argc < 2 || iterations < 1) {
        fprintf(stderr, "usage: %s LIB [ITERATIONS]\n", argv[0]);
        return 2;
    }
    t = calloc(iterations, sizeof(*t));
    if (!t) die("calloc");

    for (i = 0; i < iterations && i < 50; i++)
        t[i] = time_first_load(argv[1]);
    report("load (new process)", t, i, 0);

    h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    *(void **)&save_hook = dlsym(h, "physmap_save_hook");
    *(void **)&restore_hook = dlsym(h, "physmap_restore_hook");
    *(void **)&free_buf = dlsym(h, "physmap_free");
    if (!save_hook || !restore_hook || !free_buf) die("dlsym");

    xs = xs_open(0);
    if (!xs) die("xs_open");
    o.xs_handle = xs;
    dm_write(xs, SAVE_DOMID, "/physmap/f0000000/start_addr", "f1000000");
    dm_write(xs, SAVE_DOMID, "/physmap/f0000000/size", "800000");
    dm_write(xs, SAVE_DOMID, "/physmap/f0000000/name", "vga.vram");
    dm_write(xs, SAVE_DOMID, "/physmap/1000/start_addr", "a0000");
    dm_write(xs, SAVE_DOMID, "/physmap/1000/size", "20000");

    run_hooks("no other client", &o, iterations, t);

    writer = start_writer("/state", "running");
    run_hooks("sibling writer", &o, iterations, t);
    stop_writer(writer);

    writer = start_writer("/physmap/f0000000/size", "800000");
    run_hooks("physmap writer", &o, iterations, t);
    stop_writer(writer);

    xs_close(xs);
    dlclose(h);
    free(t);
    return 0;
}
