/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * LD_PRELOAD stand-in for the four libxenctrl functions that the `domain-checks`
 * build of libphysmap_hooks calls, so that its tests run without a hypervisor.
 * Every answer is read from the environment at call time:
 *
 *   PHYSMAP_FAKE_DOMAINS       the domains that exist, comma-separated, each
 *                              DOMID:hvm|pv[:OPTION]... with OPTIONs
 *                                dying, shutdown    set that XEN_DOMINF_* flag
 *                                maxgpfn=N          xc_domain_maximum_gpfn's answer
 *                                                   (strtoull base 0; default 0xfffff)
 *                                gpfn_errno=N       xc_domain_maximum_gpfn fails, errno N
 *                              e.g. "5:hvm:maxgpfn=0xfffff,6:pv,7:hvm:dying"
 *   PHYSMAP_FAKE_OPEN_ERRNO    xc_interface_open fails with this errno
 *   PHYSMAP_FAKE_GETINFO_ERRNO xc_domain_getinfolist fails with this errno
 *   PHYSMAP_FAKE_XC_LOG        file that gets one line per call:
 *                              "<pid> open", "<pid> close",
 *                              "<pid> getinfolist <first> <max>", "<pid> maximum_gpfn <domid>"
 *
 * xc_domain_getinfolist answers like Xen: the existing domains with the lowest ids
 * >= first_domain (truncated to a 16-bit domid_t, as the sysctl does), at most
 * max_domains of them, in ascending order. A handle is used by the process that opened
 * it only (libxenctrl forbids using one after fork): any other use aborts.
 *
 * gcc -shared -fPIC -Wall -Wextra -Werror -O2 -o fake-xenctrl.so fake-xenctrl.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenctrl.h>

#define FAKE_MAGIC 0x66616b65u /* "fake" */
#define MAX_FAKE_DOMAINS 64
#define DEFAULT_MAX_GPFN 0xfffffUL

struct xc_interface_core {
    unsigned int magic;
    pid_t pid;
};

struct fake_domain {
    unsigned int domid;
    unsigned int flags;
    unsigned long max_gpfn;
    int gpfn_errno;
};

static void trace(const char *fmt, ...)
{
    const char *path = getenv("PHYSMAP_FAKE_XC_LOG");
    char line[160];
    int n, fd;
    va_list ap;

    if (!path || !*path)
        return;
    n = snprintf(line, sizeof(line), "%ld ", (long)getpid());
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line, n) != n) {
        fprintf(stderr, "fake-xenctrl: cannot write %s\n", path);
        abort();
    }
    close(fd);
}

static void fail_config(const char *what, const char *text)
{
    fprintf(stderr, "fake-xenctrl: bad %s: \"%s\"\n", what, text);
    abort();
}

/* Failure errno configured in `var`, or 0. */
static int configured_errno(const char *var)
{
    const char *text = getenv(var);
    char *end;
    long v;

    if (!text || !*text)
        return 0;
    v = strtol(text, &end, 0);
    if (*end || v <= 0)
        fail_config(var, text);
    return (int)v;
}

/* Parses PHYSMAP_FAKE_DOMAINS into `out`, sorted by domid; returns the count. */
static int fake_domains(struct fake_domain *out)
{
    const char *env = getenv("PHYSMAP_FAKE_DOMAINS");
    char *copy, *entry, *save_entry;
    int n = 0;

    if (!env || !*env)
        return 0;
    copy = strdup(env);
    if (!copy)
        abort();
    for (entry = strtok_r(copy, ",", &save_entry); entry;
         entry = strtok_r(NULL, ",", &save_entry)) {
        struct fake_domain d = { .max_gpfn = DEFAULT_MAX_GPFN };
        char *field, *save_field, *end;
        int i;

        if (n == MAX_FAKE_DOMAINS)
            fail_config("PHYSMAP_FAKE_DOMAINS (too many)", env);
        field = strtok_r(entry, ":", &save_field);
        d.domid = (unsigned int)strtoul(field ? field : "", &end, 0);
        if (!field || !*field || *end || d.domid > 0x7fef)
            fail_config("domid", field ? field : "");
        field = strtok_r(NULL, ":", &save_field);
        if (field && !strcmp(field, "hvm"))
            d.flags |= XEN_DOMINF_hvm_guest | XEN_DOMINF_paused;
        else if (field && !strcmp(field, "pv"))
            d.flags |= XEN_DOMINF_paused;
        else
            fail_config("domain type (hvm or pv)", field ? field : "");
        while ((field = strtok_r(NULL, ":", &save_field))) {
            if (!strcmp(field, "dying"))
                d.flags |= XEN_DOMINF_dying;
            else if (!strcmp(field, "shutdown"))
                d.flags |= XEN_DOMINF_shutdown;
            else if (!strncmp(field, "maxgpfn=", 8)) {
                d.max_gpfn = strtoul(field + 8, &end, 0);
                if (!field[8] || *end)
                    fail_config("maxgpfn", field);
            } else if (!strncmp(field, "gpfn_errno=", 11)) {
                d.gpfn_errno = (int)strtol(field + 11, &end, 0);
                if (!field[11] || *end || d.gpfn_errno <= 0)
                    fail_config("gpfn_errno", field);
            } else
                fail_config("domain option", field);
        }
        /* Insertion sort by domid; a domid given twice is a mistake. */
        for (i = n; i > 0 && out[i - 1].domid >= d.domid; i--) {
            if (out[i - 1].domid == d.domid)
                fail_config("PHYSMAP_FAKE_DOMAINS (domid twice)", env);
            out[i] = out[i - 1];
        }
        out[i] = d;
        n++;
    }
    free(copy);
    return n;
}

static void check_handle(xc_interface *xch, const char *fn)
{
    if (!xch || xch->magic != FAKE_MAGIC) {
        fprintf(stderr, "fake-xenctrl: %s called with a handle not from "
                "xc_interface_open\n", fn);
        abort();
    }
    if (xch->pid != getpid()) {
        fprintf(stderr, "fake-xenctrl: %s: pid %ld uses the handle pid %ld "
                "opened (forbidden after fork)\n", fn, (long)getpid(),
                (long)xch->pid);
        abort();
    }
}

xc_interface *xc_interface_open(xentoollog_logger *logger,
                                xentoollog_logger *dombuild_logger,
                                unsigned open_flags)
{
    int err = configured_errno("PHYSMAP_FAKE_OPEN_ERRNO");
    xc_interface *xch;

    (void)logger; (void)dombuild_logger; (void)open_flags;
    trace("open");
    if (err) {
        errno = err;
        return NULL;
    }
    xch = malloc(sizeof(*xch));
    if (!xch) {
        errno = ENOMEM;
        return NULL;
    }
    xch->magic = FAKE_MAGIC;
    xch->pid = getpid();
    return xch;
}

int xc_interface_close(xc_interface *xch)
{
    if (!xch)
        return 0;
    check_handle(xch, "xc_interface_close");
    trace("close");
    xch->magic = 0;
    free(xch);
    return 0;
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
                          unsigned int max_domains, xc_domaininfo_t *info)
{
    struct fake_domain doms[MAX_FAKE_DOMAINS];
    int n, i, filled = 0, err;
    domid_t first = (domid_t)first_domain;

    check_handle(xch, "xc_domain_getinfolist");
    trace("getinfolist %u %u", first_domain, max_domains);
    err = configured_errno("PHYSMAP_FAKE_GETINFO_ERRNO");
    if (err) {
        errno = err;
        return -1;
    }
    n = fake_domains(doms);
    for (i = 0; i < n && (unsigned int)filled < max_domains; i++) {
        if (doms[i].domid < first)
            continue;
        memset(&info[filled], 0, sizeof(info[filled]));
        info[filled].domain = (domid_t)doms[i].domid;
        info[filled].flags = doms[i].flags;
        info[filled].max_vcpu_id = 0;
        info[filled].nr_online_vcpus = 1;
        filled++;
    }
    return filled;
}

int xc_domain_maximum_gpfn(xc_interface *xch, uint32_t domid, xen_pfn_t *gpfns)
{
    struct fake_domain doms[MAX_FAKE_DOMAINS];
    int n, i;

    check_handle(xch, "xc_domain_maximum_gpfn");
    trace("maximum_gpfn %u", domid);
    n = fake_domains(doms);
    for (i = 0; i < n; i++) {
        if (doms[i].domid != domid)
            continue;
        if (doms[i].gpfn_errno) {
            errno = doms[i].gpfn_errno;
            return -1;
        }
        *gpfns = doms[i].max_gpfn;
        return 0;
    }
    errno = ESRCH;
    return -1;
}
