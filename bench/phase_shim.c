/* LD_PRELOAD shim for the phase breakdown (bench/harness --phases; never in
 * the timed tables): records CLOCK_MONOTONIC when the program starts (this
 * constructor: after exec and the dynamic loader), when a process calls
 * fork() or clone() (libdaemonctx's intermediate child), when the child of
 * that fork first runs, and when a write() or
 * pwrite() to an fd above 2 returns (the pidfile write: the floor write()s,
 * libdaemonctx pwrite()s), each with the process's minor page faults so far,
 * into the shared file
 * named by BENCH_PHASE_FILE. The forked children inherit the shim in memory;
 * LD_PRELOAD is taken out of the environment so an exec'd payload runs
 * without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct event {
    int pid, kind; /* 'C' start, 'F' fork called, 'R' fork returned in the child, 'W' a write to fd > 2 returned */
    double t;
    long minflt; /* the process's minor page faults so far */
};
struct phases {
    int n;
    int pad;
    struct event ev[64];
};
static struct phases *ph;

static void record(int kind)
{
    if (!ph)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int i = __atomic_fetch_add(&ph->n, 1, __ATOMIC_RELAXED);
    if (i < 64) {
        ph->ev[i].pid = (int)syscall(SYS_getpid);
        ph->ev[i].kind = kind;
        ph->ev[i].t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
        struct rusage ru;
        ph->ev[i].minflt = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
    }
}

__attribute__((constructor)) static void phase_init(void)
{
    const char *path = getenv("BENCH_PHASE_FILE");
    if (path && *path) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            void *p = mmap(NULL, sizeof *ph, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED)
                ph = p;
            syscall(SYS_close, fd);
        }
    }
    unsetenv("BENCH_PHASE_FILE");
    unsetenv("LD_PRELOAD");
    record('C');
}

/* the pidfile write: the floor write()s, the library pwrite()s */
ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t r = (ssize_t)syscall(SYS_write, fd, buf, n);
    if (fd > 2)
        record('W');
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r = (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
    if (fd > 2)
        record('W');
    return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));

pid_t fork(void)
{
    static pid_t (*real_fork)(void);
    if (!real_fork)
        real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
    record('F');
    pid_t p = real_fork();
    if (p == 0)
        record('R');
    return p;
}

/* The child of a clone(CLONE_VM | CLONE_VFORK) runs in our memory while we
 * wait: one pending call at a time. */
static int (*clone_fn)(void *);
static void *clone_arg;

static int clone_child(void *unused)
{
    (void)unused;
    record('R');
    return clone_fn(clone_arg);
}

int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    static int (*real_clone)(int (*)(void *), void *, int, void *, ...);
    if (!real_clone)
        real_clone = (int (*)(int (*)(void *), void *, int, void *, ...))dlsym(RTLD_NEXT, "clone");
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    record('F');
    if ((flags & (CLONE_VM | CLONE_VFORK)) != (CLONE_VM | CLONE_VFORK))
        return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
    clone_fn = fn;
    clone_arg = arg;
    return real_clone(clone_child, stack, flags, NULL, ptid, tls, ctid);
}
