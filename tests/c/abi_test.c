/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * The C ABI of libphysmap_hooks, exercised from C the way patched libxl uses it:
 * dlopen() the library, dlsym() every function, check the ABI version, then save
 * and restore QEMU-style records on a real xenstored (XENSTORED_PATH points at a
 * sandbox daemon, see tests/sandbox/), and call every function with bad input.
 *
 * Usage: abi_test <path to libphysmap_hooks.so>
 * Exit status 0 when every check passed; each failure prints one line.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>
#include <xentoollog.h>

#include "physmap_hooks.h"
#include "check.h"


/* The library's entry points, resolved with dlsym() as libxl does. */
static int (*save_hook)(uint32_t, const struct physmap_hook_opts *,
                        uint8_t **, uint32_t *);
static int (*restore_hook)(uint32_t, const struct physmap_hook_opts *,
                           const uint8_t *, uint32_t);
static void (*free_buf)(void *);
static const char *(*strerror_fn)(int);
static uint32_t (*abi_version)(void);

/* Golden encodings, written by hand from the format rules (README). */
static const char kv_golden[] =
    "physmap/1000/start_addr\0a0000\0physmap/1000/size\0" "20000\0"
    "physmap/f0000000/start_addr\0f1000000\0"
    "physmap/f0000000/size\0800000\0"
    "physmap/f0000000/name\0vga.vram\0";
#define KV_GOLDEN_LEN (sizeof(kv_golden) - 1)

static const uint8_t legacy_golden[] = {
    1, 0, 0, 0, 2, 0, 0, 0,                   /* version 1, count 2 */
    0, 0x10, 0, 0, 0, 0, 0, 0,                /* phys_offset 0x1000 */
    0, 0, 0x0a, 0, 0, 0, 0, 0,                /* start_addr 0xa0000 */
    0, 0, 0x02, 0, 0, 0, 0, 0,                /* size 0x20000 */
    0, 0, 0, 0, 0, 0, 0, 0,                   /* namelen 0, padding */
    0, 0, 0, 0xf0, 0, 0, 0, 0,                /* phys_offset 0xf0000000 */
    0, 0, 0, 0xf1, 0, 0, 0, 0,                /* start_addr 0xf1000000 */
    0, 0, 0x80, 0, 0, 0, 0, 0,                /* size 0x800000 */
    9, 0, 0, 0, 'v', 'g', 'a', '.', 'v', 'r', 'a', 'm', 0,
    0, 0, 0, 0,                               /* padding */
};

static void *resolve(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);

    if (!sym)
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
    return sym;
}

static char *dm_path(unsigned int domid, const char *rest)
{
    static char path[256];

    snprintf(path, sizeof(path), "/local/domain/0/device-model/%u%s",
             domid, rest);
    return path;
}

/* As QEMU writes them: one xs_write per node, outside any transaction. */
static void qemu_write(struct xs_handle *xs, unsigned int domid,
                       const char *node, const char *value)
{
    char rest[128];

    snprintf(rest, sizeof(rest), "/physmap/%s", node);
    CHECK(xs_write(xs, XBT_NULL, dm_path(domid, rest), value,
                   strlen(value)));
}

static void write_qemu_records(struct xs_handle *xs, unsigned int domid)
{
    qemu_write(xs, domid, "f0000000/start_addr", "f1000000");
    qemu_write(xs, domid, "f0000000/size", "800000");
    qemu_write(xs, domid, "f0000000/name", "vga.vram");
    qemu_write(xs, domid, "1000/start_addr", "a0000");
    qemu_write(xs, domid, "1000/size", "20000");
}

static int node_equals(struct xs_handle *xs, unsigned int domid,
                       const char *node, const char *expected)
{
    char rest[128];
    unsigned int len;
    char *value;
    int same;

    snprintf(rest, sizeof(rest), "/physmap/%s", node);
    value = xs_read(xs, XBT_NULL, dm_path(domid, rest), &len);
    if (!value)
        return expected == NULL;
    same = expected && len == strlen(expected) && !memcmp(value, expected, len);
    free(value);
    return same;
}

static void check_restored(struct xs_handle *xs, unsigned int domid)
{
    unsigned int num = 0;
    char **entries = xs_directory(xs, XBT_NULL, dm_path(domid, "/physmap"),
                                  &num);

    CHECK(entries && num == 2);
    free(entries);
    CHECK(node_equals(xs, domid, "f0000000/start_addr", "f1000000"));
    CHECK(node_equals(xs, domid, "f0000000/size", "800000"));
    CHECK(node_equals(xs, domid, "f0000000/name", "vga.vram"));
    CHECK(node_equals(xs, domid, "1000/start_addr", "a0000"));
    CHECK(node_equals(xs, domid, "1000/size", "20000"));
    CHECK(node_equals(xs, domid, "1000/name", NULL));
}

static struct physmap_hook_opts opts_with(struct xs_handle *xs,
                                          uint32_t format)
{
    struct physmap_hook_opts o;

    memset(&o, 0, sizeof(o));
    o.abi_version = PHYSMAP_ABI_VERSION;
    o.format = format;
    o.xs_handle = xs;
    return o;
}

static void save_and_restore(struct xs_handle *xs)
{
    struct physmap_hook_opts o;
    uint8_t *buf = NULL;
    uint32_t len = 0;
    int rc;

    write_qemu_records(xs, 3);

    /* Defaults: own connection (XENSTORED_PATH), XENSTORE_KV, stderr. */
    rc = save_hook(3, NULL, &buf, &len);
    CHECK(rc == PHYSMAP_OK);
    CHECK(buf && len == KV_GOLDEN_LEN && !memcmp(buf, kv_golden, len));
    free_buf(buf);

    /* libxl's way: a borrowed handle; the buffer released with free(). */
    o = opts_with(xs, PHYSMAP_FORMAT_LEGACY_V1);
    buf = NULL;
    rc = save_hook(3, &o, &buf, &len);
    CHECK(rc == PHYSMAP_OK);
    CHECK(buf && len == sizeof(legacy_golden) &&
          !memcmp(buf, legacy_golden, len));
    free(buf);

    /* Wipe the guest's device-model tree, restore, compare. */
    CHECK(xs_rm(xs, XBT_NULL, dm_path(3, "")));
    CHECK(node_equals(xs, 3, "f0000000/start_addr", NULL));
    o = opts_with(xs, PHYSMAP_FORMAT_AUTO);
    rc = restore_hook(3, &o, (const uint8_t *)kv_golden, KV_GOLDEN_LEN);
    CHECK(rc == PHYSMAP_OK);
    check_restored(xs, 3);

    /* The legacy encoding restores the same records (format detected). */
    rc = restore_hook(4, &o, legacy_golden, sizeof(legacy_golden));
    CHECK(rc == PHYSMAP_OK);
    check_restored(xs, 4);

    /* No records: success, NULL buffer, length 0. */
    buf = (uint8_t *)1;
    len = 99;
    rc = save_hook(8, &o, &buf, &len);
    CHECK(rc == PHYSMAP_OK && buf == NULL && len == 0);
}

static void bad_arguments(struct xs_handle *xs)
{
    static const char truncated[] = "physmap/1000/size\0" "2000";
    struct physmap_hook_opts o = opts_with(xs, PHYSMAP_FORMAT_AUTO);
    uint8_t *buf = (uint8_t *)0x5a;
    uint32_t len = 0x5a;
    int codes[] = {
        PHYSMAP_OK, PHYSMAP_E_INVALID_ARGUMENT, PHYSMAP_E_MALFORMED,
        PHYSMAP_E_LIMIT, PHYSMAP_E_XENSTORE, PHYSMAP_E_CONFLICT,
        PHYSMAP_E_NOMEM, PHYSMAP_E_ABI, PHYSMAP_E_INTERNAL, 1, -1000,
    };
    size_t i;

    CHECK(save_hook(3, &o, NULL, &len) == PHYSMAP_E_INVALID_ARGUMENT);
    CHECK(save_hook(3, &o, &buf, NULL) == PHYSMAP_E_INVALID_ARGUMENT);
    CHECK(restore_hook(3, &o, NULL, 1) == PHYSMAP_E_INVALID_ARGUMENT);
    CHECK(restore_hook(3, &o, NULL, 0) == PHYSMAP_OK);

    o.format = PHYSMAP_FORMAT_LEGACY_V1_32;      /* restore only */
    CHECK(save_hook(3, &o, &buf, &len) == PHYSMAP_E_INVALID_ARGUMENT);
    o.format = 42;
    CHECK(save_hook(3, &o, &buf, &len) == PHYSMAP_E_INVALID_ARGUMENT);
    CHECK(restore_hook(3, &o, legacy_golden, sizeof(legacy_golden)) ==
          PHYSMAP_E_INVALID_ARGUMENT);
    o.format = PHYSMAP_FORMAT_AUTO;
    o.flags = 1;
    CHECK(save_hook(3, &o, &buf, &len) == PHYSMAP_E_INVALID_ARGUMENT);
    o.flags = 0;
    o.abi_version = PHYSMAP_ABI_VERSION + 1;
    CHECK(save_hook(3, &o, &buf, &len) == PHYSMAP_E_ABI);
    CHECK(restore_hook(3, &o, NULL, 0) == PHYSMAP_E_ABI);
    o.abi_version = PHYSMAP_ABI_VERSION;
    /* Outputs are untouched by every failure above. */
    CHECK(buf == (uint8_t *)0x5a && len == 0x5a);

    /* A malformed section is refused and writes nothing. */
    CHECK(restore_hook(6, &o, (const uint8_t *)truncated,
                       sizeof(truncated) - 1) == PHYSMAP_E_MALFORMED);
    CHECK(node_equals(xs, 6, "1000/size", NULL));

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *text = strerror_fn(codes[i]);

        CHECK(text && text[0]);
    }
    free_buf(NULL);
}

/* Messages reach a caller's xentoollog logger, tagged "physmap" and the domid. */
static void logger(struct xs_handle *xs)
{
    static const char bad[] = "physmap/1000/size\0" "0x2000\0";
    char text[4096];
    struct physmap_hook_opts o = opts_with(xs, PHYSMAP_FORMAT_AUTO);
    xentoollog_logger_stdiostream *lg;
    FILE *f = tmpfile();
    size_t n;

    CHECK(f != NULL);
    if (!f)
        return;
    lg = xtl_createlogger_stdiostream(f, XTL_DEBUG, 0);
    CHECK(lg != NULL);
    if (!lg)
        return;
    o.logger = lg;
    CHECK(restore_hook(11, &o, (const uint8_t *)bad, sizeof(bad) - 1) ==
          PHYSMAP_E_MALFORMED);
    CHECK(restore_hook(12, &o, legacy_golden, sizeof(legacy_golden)) ==
          PHYSMAP_OK);
    xtl_logger_destroy((xentoollog_logger *)lg);
    rewind(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    CHECK(strstr(text, "physmap: error: domain 11: restore failed: byte offset 18 "
                       "(key `physmap/1000/size`): size is \"0x2000\"") != NULL);
    CHECK(strstr(text, "physmap: debug: domain 12: restored 2 physmap records "
                       "from legacy") != NULL);
    if (failures)
        fprintf(stderr, "logger output was:\n%s", text);
}

int main(int argc, char **argv)
{
    struct xs_handle *xs;
    void *lib;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <libphysmap_hooks.so>\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&save_hook = resolve(lib, "physmap_save_hook");
    *(void **)&restore_hook = resolve(lib, "physmap_restore_hook");
    *(void **)&free_buf = resolve(lib, "physmap_free");
    *(void **)&strerror_fn = resolve(lib, "physmap_strerror");
    *(void **)&abi_version = resolve(lib, "physmap_abi_version");
    if (!save_hook || !restore_hook || !free_buf || !strerror_fn ||
        !abi_version)
        return 1;
    CHECK(abi_version() == PHYSMAP_ABI_VERSION);

    xs = xs_open(0);
    if (!xs) {
        perror("xs_open (is XENSTORED_PATH set?)");
        return 1;
    }
    save_and_restore(xs);
    bad_arguments(xs);
    logger(xs);
    xs_close(xs);
    dlclose(lib);

    CHECK_SUMMARY("abi_test");
    return failures ? 1 : 0;
}
