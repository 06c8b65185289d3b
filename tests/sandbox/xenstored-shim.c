/*
 * LD_PRELOAD shim that lets Debian's xenstore daemons (12: Xen 4.17, 13:
 * Xen 4.20; the C xenstored and the OCaml oxenstored) run without a
 * hypervisor, so tests talk to the real daemon over its unix socket. Built
 * against the xenctrl.h of the Xen whose daemons it serves.
 *
 * xenstored cannot start unless it introduces dom0 (-D leaves the store
 * uninitialised and the first request crashes it).  Introducing dom0 needs
 * libxenctrl, libxengnttab, libxenevtchn and two /proc/xen files; this shim
 * answers exactly the calls xenstored 4.17 and 4.20 import (`nm -D xenstored`).
 * Every process gets its own state (memfds, eventfd): no shared paths, so
 * any number of daemons can run side by side.
 *
 * gcc -shared -fPIC -Wall -Wextra -Werror -O2 -o shim.so xenstored-shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

/* Any non-NULL pointer will do: xenstored only passes handles back to us. */
static int dummy_handle;

/* --- libxenctrl: domain_init() opens it; get_domain_info() asks whether a
 * domain exists.  Say yes, running, for any asked domid (dom0 at start-up,
 * domids named in permission lists later).  Fill exactly one xc_dominfo_t:
 * the caller's buffer is a single struct on its stack. */
xc_interface *xc_interface_open(xentoollog_logger *l, xentoollog_logger *dl,
                                unsigned flags)
{ (void)l; (void)dl; (void)flags; return (xc_interface *)&dummy_handle; }

int xc_interface_close(xc_interface *xch) { (void)xch; return 0; }

#if __XEN_LATEST_INTERFACE_VERSION__ <= 0x00040e00
/* Xen 4.17 (interface 0x00040e00): xenstored asks with xc_domain_getinfo(). */
int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
                      unsigned int max_doms, xc_dominfo_t *info)
{
    (void)xch;
    if (max_doms == 0)
        return 0;
    memset(info, 0, sizeof(*info));
    info->domid = first_domid;
    info->running = 1;
    return 1;
}
#else
/* Xen 4.18 and later (4.20: interface 0x00041300) removed xc_domain_getinfo() and
 * xc_dominfo_t; both daemons ask for one domain with xc_domain_getinfo_single(),
 * which returns 0 and fills one xc_domaininfo_t. */
int xc_domain_getinfo_single(xc_interface *xch, uint32_t domid,
                             xc_domaininfo_t *info)
{
    (void)xch;
    memset(info, 0, sizeof(*info));
    info->domain = domid;
    info->flags = XEN_DOMINF_running;
    return 0;
}
#endif

/* oxenstored asks through the list call (to notice dying domains); the same
 * answer: the asked domain exists and runs. */
int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
                          unsigned int max_domains, xc_domaininfo_t *info)
{
    (void)xch;
    if (max_domains == 0)
        return 0;
    memset(info, 0, sizeof(*info));
    info->domain = first_domain;
    info->flags = XEN_DOMINF_running;
    return 1;
}

/* --- libxengnttab: opened at start-up; mapping a guest's ring page only
 * happens for introduced guests, which never exist here, so refuse it. */
xengnttab_handle *xengnttab_open(xentoollog_logger *l, unsigned flags)
{ (void)l; (void)flags; return (xengnttab_handle *)&dummy_handle; }
int xengnttab_close(xengnttab_handle *h) { (void)h; return 0; }
int xengnttab_set_max_grants(xengnttab_handle *h, uint32_t n)
{ (void)h; (void)n; return 0; }
void *xengnttab_map_grant_ref(xengnttab_handle *h, uint32_t domid,
                              uint32_t ref, int prot)
{ (void)h; (void)domid; (void)ref; (void)prot; return NULL; }
int xengnttab_unmap(xengnttab_handle *h, void *addr, uint32_t count)
{ (void)h; (void)addr; (void)count; return 0; }

/* --- libxenevtchn: xenstored poll()s xenevtchn_fd().  An eventfd that is
 * never signalled is a valid fd that never becomes readable, so
 * xenevtchn_pending() is never reached; answer -1 if it is anyway. */
static int evtchn_fd = -1;
static evtchn_port_t next_port = 1;

xenevtchn_handle *xenevtchn_open(xentoollog_logger *l, unsigned flags)
{
    (void)l; (void)flags;
    if (evtchn_fd < 0)
        evtchn_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return evtchn_fd < 0 ? NULL : (xenevtchn_handle *)&evtchn_fd;
}
/* Live update hands the fd over to the new binary; adopt it. */
xenevtchn_handle *xenevtchn_fdopen(xentoollog_logger *l, int fd, unsigned flags)
{ (void)l; (void)flags; evtchn_fd = fd; return (xenevtchn_handle *)&evtchn_fd; }
int xenevtchn_fd(xenevtchn_handle *h) { (void)h; return evtchn_fd; }
int xenevtchn_close(xenevtchn_handle *h) { (void)h; return 0; }
int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t p)
{ (void)h; (void)p; return 0; }
xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *h,
                                              unsigned int virq)
{ (void)h; (void)virq; return next_port++; }
xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h,
        uint32_t domid, evtchn_port_t remote)
{ (void)h; (void)domid; (void)remote; return next_port++; }
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h)
{ (void)h; return -1; }
int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t p)
{ (void)h; (void)p; return 0; }
int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t p)
{ (void)h; (void)p; return 0; }

/* --- /proc/xen: dom0_init() reads dom0's event channel from xsd_port and
 * mmap()s dom0's ring page from xsd_kva.  Serve both from memfds: "1", and
 * one zeroed page (an empty ring: dom0 never sends anything over it). */
static int fake_proc_xen(const char *path)
{
    int fd;

    if (strcmp(path, "/proc/xen/xsd_port") == 0) {
        fd = memfd_create("xsd_port", MFD_CLOEXEC);
        if (fd >= 0 && (write(fd, "1", 1) != 1 || lseek(fd, 0, SEEK_SET)))
            return close(fd), -1;
        return fd;
    }
    if (strcmp(path, "/proc/xen/xsd_kva") == 0) {
        fd = memfd_create("xsd_kva", MFD_CLOEXEC);
        if (fd >= 0 && ftruncate(fd, getpagesize()))
            return close(fd), -1;
        return fd;
    }
    return -2; /* not ours */
}

/* --- oxenstored's run directory is compiled in (/var/run/xenstored, where
 * it binds its socket): no option, variable or config key moves it.  Move it
 * here instead, into $XENSTORED_RUNDIR (the variable the C daemon reads), so
 * that sandboxes of either daemon can run side by side.  `path` is returned
 * unchanged unless it lies in one of those directories. */
static const char *sandboxed(const char *path, char *buf, size_t len)
{
    static const char *const fixed[] = { "/var/run/xenstored", "/run/xenstored" };
    const char *rundir = getenv("XENSTORED_RUNDIR");
    size_t i, n;

    if (!path || !rundir)
        return path;
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        n = strlen(fixed[i]);
        if (strncmp(path, fixed[i], n) == 0 &&
            (path[n] == '\0' || path[n] == '/')) {
            if ((size_t)snprintf(buf, len, "%s%s", rundir, path + n) >= len)
                return path;
            return buf;
        }
    }
    return path;
}

/* The next definition of the function being wrapped (libc's). */
#define REAL(name)                                                           \
    static __typeof__(name) *real;                                           \
    if (!real)                                                               \
        real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int unlink(const char *path)
{
    char buf[PATH_MAX];
    REAL(unlink);
    return real(sandboxed(path, buf, sizeof(buf)));
}

int mkdir(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    REAL(mkdir);
    return real(sandboxed(path, buf, sizeof(buf)), mode);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sockaddr_un un;
    char buf[sizeof(un.sun_path)];
    const char *path;
    REAL(bind);

    if (addr->sa_family != AF_UNIX || len > sizeof(un))
        return real(fd, addr, len);
    memset(&un, 0, sizeof(un));
    memcpy(&un, addr, len);
    path = sandboxed(un.sun_path, buf, sizeof(buf));
    if (path == un.sun_path)
        return real(fd, addr, len);
    strcpy(un.sun_path, path);
    return real(fd, (struct sockaddr *)&un, sizeof(un));
}

/* oxenstored raises RLIMIT_NOFILE to /proc/sys/fs/nr_open, which needs
 * CAP_SYS_RESOURCE (EPERM kills it at start-up).  Clamp to the hard limit. */
int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
    struct rlimit clamped;
    REAL(setrlimit);

    if (resource == RLIMIT_NOFILE && getrlimit(RLIMIT_NOFILE, &clamped) == 0) {
        if (rl->rlim_cur < clamped.rlim_max)
            clamped.rlim_cur = rl->rlim_cur;
        else
            clamped.rlim_cur = clamped.rlim_max;
        if (rl->rlim_max < clamped.rlim_max)
            clamped.rlim_max = rl->rlim_max;
        return real(resource, &clamped);
    }
    return real(resource, rl);
}

/* The daemons import open() or open64(); both are caught.  Everything else
 * goes to the real libc function. */
#define WRAP_OPEN(name)                                                      \
    int name(const char *path, int flags, ...)                               \
    {                                                                        \
        static int (*real)(const char *, int, ...);                          \
        char buf[PATH_MAX];                                                  \
        mode_t mode = 0;                                                     \
        int fd = fake_proc_xen(path);                                        \
        if (fd != -2)                                                        \
            return fd;                                                       \
        path = sandboxed(path, buf, sizeof(buf));                            \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {         \
            va_list ap;                                                      \
            va_start(ap, flags);                                             \
            mode = va_arg(ap, mode_t);                                       \
            va_end(ap);                                                      \
        }                                                                    \
        if (!real)                                                           \
            real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
        return real(path, flags, mode);                                      \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)
