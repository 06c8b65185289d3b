/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The `domain-checks` build of libphysmap_hooks, from C as patched libxl uses it:
 * dlopen() the library and restore records on a real xenstored (XENSTORED_PATH points
 * at a sandbox daemon, see tests/sandbox/), with libxenctrl answered by
 * tests/sandbox/fake-xenctrl.so in LD_PRELOAD. The fake reads its answers from the
 * environment at call time, so this program changes them between calls.
 *
 * Each refused restore must return its own code and leave the whole store as it was
 * (`xenstore-ls -f -p /` before and after). Also checked: one xc_interface per process,
 * and a forked child opening its own instead of using its parent's.
 *
 * Usage: LD_PRELOAD=fake-xenctrl.so domain_checks_test <domain-checks libphysmap_hooks.so>
 * Exit status 0 when every check passed; each failure prints one line.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenstore.h>

#include "physmap_hooks.h"
#include "check.h"


static int (*restore_hook)(uint32_t, const struct physmap_hook_opts *,
                           const uint8_t *, uint32_t);
static const char *(*strerror_fn)(int);

/* The VGA framebuffer: guest range [0xf1000000, 0xf1800000), last frame 0xf17ff. */
static const char vram_kv[] =
    "physmap/f0000000/start_addr\0f1000000\0"
    "physmap/f0000000/size\0800000\0"
    "physmap/f0000000/name\0vga.vram\0";
#define VRAM_KV_LEN (sizeof(vram_kv) - 1)

#define GUEST 5
#define PHYSMAP_DIR "/local/domain/0/device-model/5/physmap"

static char xc_log[] = "/tmp/physmap-fake-xc-XXXXXX";

/* The whole store, as `xenstore-ls -f -p /` prints it; the caller frees it. */
static char *dump(void)
{
    FILE *p = popen("xenstore-ls -f -p /", "r");
    char *text = NULL;
    size_t size = 0, n;
    FILE *out = open_memstream(&text, &size);
    char chunk[4096];

    if (!p || !out) {
        perror("dump");
        exit(1);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        fwrite(chunk, 1, n, out);
    CHECK(pclose(p) == 0);
    fclose(out);
    return text;
}

static int node_equals(struct xs_handle *xs, const char *node,
                       const char *expected)
{
    char path[256];
    unsigned int len;
    char *value;
    int same;

    snprintf(path, sizeof(path), "%s/%s", PHYSMAP_DIR, node);
    value = xs_read(xs, XBT_NULL, path, &len);
    if (!value)
        return expected == NULL;
    same = expected && len == strlen(expected) && !memcmp(value, expected, len);
    free(value);
    return same;
}

static void seed(struct xs_handle *xs)
{
    CHECK(xs_write(xs, XBT_NULL, PHYSMAP_DIR "/1000/start_addr", "a0000", 5));
    CHECK(xs_write(xs, XBT_NULL, PHYSMAP_DIR "/1000/size", "20000", 5));
}

static int restore(struct xs_handle *xs, uint32_t domid)
{
    struct physmap_hook_opts o;

    memset(&o, 0, sizeof(o));
    o.abi_version = PHYSMAP_ABI_VERSION;
    o.format = PHYSMAP_FORMAT_AUTO;
    o.xs_handle = xs;
    return restore_hook(domid, &o, (const uint8_t *)vram_kv, VRAM_KV_LEN);
}

/* One refused case: the fake's domains, the expected code, nothing written. */
static void refused(struct xs_handle *xs, const char *line, const char *domains,
                    uint32_t domid, int code)
{
    char *before, *after;
    int rc;

    setenv("PHYSMAP_FAKE_DOMAINS", domains, 1);
    seed(xs);
    before = dump();
    rc = restore(xs, domid);
    after = dump();
    checks++;
    if (rc != code || strcmp(before, after)) {
        fprintf(stderr, "%s: domains \"%s\", domid %u: rc %d (%s), expected %d; "
                "store %s\n", line, domains, domid, rc, strerror_fn(rc), code,
                strcmp(before, after) ? "CHANGED" : "unchanged");
        failures++;
    }
    free(before);
    free(after);
}

static void accepted(struct xs_handle *xs, const char *domains)
{
    int rc;

    setenv("PHYSMAP_FAKE_DOMAINS", domains, 1);
    seed(xs);
    rc = restore(xs, GUEST);
    CHECK(rc == PHYSMAP_OK);
    CHECK(node_equals(xs, "f0000000/start_addr", "f1000000"));
    CHECK(node_equals(xs, "f0000000/size", "800000"));
    CHECK(node_equals(xs, "f0000000/name", "vga.vram"));
    CHECK(node_equals(xs, "1000/size", NULL));
}

/* Lines of the fake's log from process `pid` that are `what`. */
static int count_calls(pid_t pid, const char *what)
{
    FILE *f = fopen(xc_log, "r");
    char line[200], want[200];
    int n = 0;

    if (!f)
        return 0;
    snprintf(want, sizeof(want), "%ld %s\n", (long)pid, what);
    while (fgets(line, sizeof(line), f))
        n += !strcmp(line, want);
    fclose(f);
    return n;
}

/* After fork(), the child must not use the parent's xc_interface (the fake aborts if
 * it does): it opens its own, for that call, and closes it. */
static void forked_child(void)
{
    pid_t child;
    int status = 0;

    fflush(NULL);
    child = fork();
    if (child == 0) {
        struct xs_handle *xs = xs_open(0);
        int rc = xs ? restore(xs, GUEST) : -100;

        if (xs)
            xs_close(xs);
        _exit(rc == PHYSMAP_OK ? 0 : 1);
    }
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count_calls(child, "open") == 1);
    CHECK(count_calls(child, "close") == 1);
}

int main(int argc, char **argv)
{
    static const int codes[] = {
        PHYSMAP_E_NO_DOMAIN, PHYSMAP_E_NOT_HVM, PHYSMAP_E_DOMAIN_DYING,
        PHYSMAP_E_OUT_OF_RANGE, PHYSMAP_E_XENCTRL,
    };
    struct xs_handle *xs;
    void *lib;
    size_t i, j;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: LD_PRELOAD=fake-xenctrl.so %s <libphysmap_hooks.so>\n",
                argv[0]);
        return 2;
    }
    if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "fake-xenctrl")) {
        fprintf(stderr, "%s: run with LD_PRELOAD=.../fake-xenctrl.so\n", argv[0]);
        return 2;
    }
    fd = mkstemp(xc_log);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    setenv("PHYSMAP_FAKE_XC_LOG", xc_log, 1);
    unsetenv("PHYSMAP_FAKE_GETINFO_ERRNO");

    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&restore_hook = dlsym(lib, "physmap_restore_hook");
    *(void **)&strerror_fn = dlsym(lib, "physmap_strerror");
    if (!restore_hook || !strerror_fn) {
        fprintf(stderr, "dlsym: %s\n", dlerror());
        return 1;
    }
    xs = xs_open(0);
    if (!xs) {
        perror("xs_open (is XENSTORED_PATH set?)");
        return 1;
    }

    /* No hypervisor interface: refused; the failed open is not kept. */
    setenv("PHYSMAP_FAKE_OPEN_ERRNO", "2", 1);
    refused(xs, "open fails", "5:hvm", GUEST, PHYSMAP_E_XENCTRL);
    unsetenv("PHYSMAP_FAKE_OPEN_ERRNO");

    refused(xs, "missing, next one up exists", "4:hvm,6:hvm", GUEST,
            PHYSMAP_E_NO_DOMAIN);
    refused(xs, "missing, none above", "1:hvm", GUEST, PHYSMAP_E_NO_DOMAIN);
    refused(xs, "domid past domid_t", "5:hvm", 0x10005, PHYSMAP_E_NO_DOMAIN);
    refused(xs, "PV", "5:pv", GUEST, PHYSMAP_E_NOT_HVM);
    refused(xs, "dying", "5:hvm:dying", GUEST, PHYSMAP_E_DOMAIN_DYING);
    refused(xs, "one frame short", "5:hvm:maxgpfn=0xf17fe", GUEST,
            PHYSMAP_E_OUT_OF_RANGE);
    refused(xs, "small guest", "5:hvm:maxgpfn=0x3ffff", GUEST,
            PHYSMAP_E_OUT_OF_RANGE);
    refused(xs, "max gpfn query fails", "5:hvm:gpfn_errno=22", GUEST,
            PHYSMAP_E_XENCTRL);
    setenv("PHYSMAP_FAKE_GETINFO_ERRNO", "1", 1);
    refused(xs, "getinfolist fails", "5:hvm", GUEST, PHYSMAP_E_XENCTRL);
    unsetenv("PHYSMAP_FAKE_GETINFO_ERRNO");

    accepted(xs, "5:hvm:maxgpfn=0xf17ff");      /* ends exactly at the last frame */
    accepted(xs, "0:pv,5:hvm:maxgpfn=0x10ffff,6:pv");

    /* Two opens in this process: the failed one, then the one kept for every call. */
    CHECK(count_calls(getpid(), "open") == 2);
    CHECK(count_calls(getpid(), "close") == 0);
    CHECK(count_calls(getpid(), "getinfolist 5 1") == 10);

    forked_child();
    CHECK(count_calls(getpid(), "open") == 2);

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        CHECK(strcmp(strerror_fn(codes[i]), "unknown physmap-hooks error code"));
        for (j = 0; j < i; j++)
            CHECK(strcmp(strerror_fn(codes[i]), strerror_fn(codes[j])));
    }

    xs_close(xs);
    dlclose(lib);
    unlink(xc_log);
    CHECK_SUMMARY("domain_checks_test");
    return failures ? 1 : 0;
}
