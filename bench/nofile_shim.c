/* LD_PRELOAD shim: make RLIMIT_NOFILE look like BENCH_NOFILE (1,048,576) to a
 * tool, where the real hard limit cannot be raised that far (no
 * CAP_SYS_RESOURCE).
 *
 * getrlimit/getrlimit64/prlimit/prlimit64 (RLIMIT_NOFILE, read), sysconf
 * (_SC_OPEN_MAX) and getdtablesize report the emulated value for soft and hard.
 * close() is NOT intercepted: a tool that loops close() up to the limit makes
 * exactly as many close() system calls as it would under a real limit of
 * BENCH_NOFILE, and each costs what it would there (an fd above the fd table's
 * size fails with EBADF at the same check in the kernel, whatever the limit).
 *
 * The constructor takes LD_PRELOAD and BENCH_NOFILE out of the environment, so
 * the program the tool execs (the payload) runs without the shim.
 *
 * Built a second time with -DBENCH_COUNT (the calibration pass, never timed):
 * then close() and close_range() are wrapped and counted, with the limit
 * queries, in a shared file named by BENCH_COUNT_FILE, across every process
 * of the tool. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static rlim_t emulated;          /* 0: not emulating */
static rlim_t emu_cur, emu_max;  /* what the tool believes, after its own setrlimit */

#ifdef BENCH_COUNT
struct counters {
    long queries;     /* RLIMIT_NOFILE / _SC_OPEN_MAX / getdtablesize reads */
    long closes;      /* close() calls */
    long close_ebadf; /* of which failed with EBADF */
    long close_ranges;
};
static struct counters *counters;
#endif

__attribute__((constructor)) static void shim_init(void)
{
    const char *v = getenv("BENCH_NOFILE");
    if (v && *v)
        emulated = emu_cur = emu_max = (rlim_t)strtoull(v, NULL, 10);
#ifdef BENCH_COUNT
    const char *path = getenv("BENCH_COUNT_FILE");
    if (path && *path) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            void *p = mmap(NULL, sizeof *counters, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED)
                counters = p;
            syscall(SYS_close, fd);
        }
    }
    unsetenv("BENCH_COUNT_FILE");
#endif
    unsetenv("LD_PRELOAD");
    unsetenv("BENCH_NOFILE");
}

static void counted_query(void)
{
#ifdef BENCH_COUNT
    if (counters)
        __atomic_fetch_add(&counters->queries, 1, __ATOMIC_RELAXED);
#endif
}

static int real_prlimit(pid_t pid, int resource, const struct rlimit *new, struct rlimit *old)
{
    return (int)syscall(SYS_prlimit64, pid, resource, new, old);
}

static int is_self(pid_t pid)
{
    return pid == 0 || pid == getpid();
}

/* A read of our own RLIMIT_NOFILE: report the emulated limit. A change:
 * applied for real (capped at the real hard limit), remembered as asked. */
static int emulate(pid_t pid, const struct rlimit *new, struct rlimit *old)
{
    if (new) {
        if (new->rlim_cur > new->rlim_max || new->rlim_max > emu_max)
            return real_prlimit(pid, RLIMIT_NOFILE, new, old); /* let the kernel say no */
        struct rlimit real;
        if (real_prlimit(pid, RLIMIT_NOFILE, NULL, &real) < 0)
            return -1;
        struct rlimit capped = {new->rlim_cur < real.rlim_max ? new->rlim_cur : real.rlim_max,
                                new->rlim_max < real.rlim_max ? new->rlim_max : real.rlim_max};
        if (real_prlimit(pid, RLIMIT_NOFILE, &capped, NULL) < 0)
            return -1;
    }
    if (old) {
        counted_query();
        old->rlim_cur = emu_cur;
        old->rlim_max = emu_max;
    }
    if (new) {
        emu_cur = new->rlim_cur;
        emu_max = new->rlim_max;
    }
    return 0;
}

int getrlimit(__rlimit_resource_t resource, struct rlimit *rl)
{
    if (emulated && resource == RLIMIT_NOFILE)
        return emulate(0, NULL, rl);
    return real_prlimit(0, resource, NULL, rl);
}

int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *rl)
{
    return getrlimit(resource, (struct rlimit *)rl);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
    if (emulated && resource == RLIMIT_NOFILE)
        return emulate(0, rl, NULL);
    return real_prlimit(0, resource, rl, NULL);
}

int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rl)
{
    return setrlimit(resource, (const struct rlimit *)rl);
}

int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *new, struct rlimit *old)
{
    if (emulated && resource == RLIMIT_NOFILE && is_self(pid))
        return emulate(pid, new, old);
    return real_prlimit(pid, resource, new, old);
}

int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *new, struct rlimit64 *old)
{
    return prlimit(pid, resource, (const struct rlimit *)new, (struct rlimit *)old);
}

long sysconf(int name)
{
    static long (*real_sysconf)(int);
    if (emulated && name == _SC_OPEN_MAX) {
        counted_query();
        return emu_cur > (rlim_t)LONG_MAX ? -1 : (long)emu_cur;
    }
    if (!real_sysconf)
        real_sysconf = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
    return real_sysconf(name);
}

int getdtablesize(void)
{
    if (emulated) {
        counted_query();
        return emu_cur > (rlim_t)INT_MAX ? INT_MAX : (int)emu_cur;
    }
    struct rlimit rl;
    if (real_prlimit(0, RLIMIT_NOFILE, NULL, &rl) < 0)
        return 256;
    return rl.rlim_cur > (rlim_t)INT_MAX ? INT_MAX : (int)rl.rlim_cur;
}

#ifdef BENCH_COUNT
int close(int fd)
{
    long r = syscall(SYS_close, fd);
    if (counters) {
        __atomic_fetch_add(&counters->closes, 1, __ATOMIC_RELAXED);
        if (r < 0 && errno == EBADF)
            __atomic_fetch_add(&counters->close_ebadf, 1, __ATOMIC_RELAXED);
    }
    return (int)r;
}

int close_range(unsigned int first, unsigned int last, int flags)
{
    if (counters)
        __atomic_fetch_add(&counters->close_ranges, 1, __ATOMIC_RELAXED);
    return (int)syscall(SYS_close_range, first, last, flags);
}
#endif
