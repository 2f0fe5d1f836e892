/* Closing every fd the daemon does not keep, at a cost that follows the number
 * of open fds, not RLIMIT_NOFILE (a close() loop to a limit of 1,048,576 costs
 * a quarter of a second). Runs after fork: no allocation, stack buffers only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

void dcx_close(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    (void)close(fd);
    errno = saved;
}

static bool kept(const int *keep, size_t n, int fd)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keep[mid] == fd)
            return true;
        if (keep[mid] < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int close_range_gaps(const int *keep, size_t n_keep)
{
#ifdef SYS_close_range
    unsigned lo = 3;
    for (size_t i = 0; i < n_keep; i++) {
        unsigned k = (unsigned)keep[i];
        if (k < lo)
            continue;
        if (k > lo && syscall(SYS_close_range, lo, k - 1, 0) < 0)
            return -errno;
        lo = k + 1;
    }
    if (syscall(SYS_close_range, lo, ~0U, 0) < 0)
        return -errno;
    return 0;
#else
    (void)keep;
    (void)n_keep;
    return -ENOSYS;
#endif
}

struct linux_dirent64 {
    ino64_t d_ino;
    off64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int parse_fd(const char *s)
{
    int v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* Walks /proc/self/fd with getdents64 into a stack buffer (opendir would
 * allocate). The fd numbers are the directory positions, so closing while
 * walking skips nothing. */
static int close_listed(const int *keep, size_t n_keep)
{
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -errno;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            dcx_close(dir);
            return -e;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            const struct linux_dirent64 *d = (const void *)(buf + off);
            int fd = parse_fd(d->d_name);
            if (fd >= 3 && fd != dir && !kept(keep, n_keep, fd))
                dcx_close(fd);
            off += d->d_reclen;
        }
    }
    dcx_close(dir);
    return 0;
}

static int close_loop(const int *keep, size_t n_keep)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    int max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX : (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++)
        if (!kept(keep, n_keep, fd))
            dcx_close(fd);
    return 0;
}

int dcx_close_fds(const int *keep, size_t n_keep, daemonctx_error *err)
{
    /* close_range refused (kernel < 5.9: ENOSYS; a seccomp filter: EPERM),
     * then /proc (absent inside most jails), then the loop. */
    if (close_range_gaps(keep, n_keep) == 0)
        return 0;
    if (close_listed(keep, n_keep) == 0)
        return 0;
    int r = close_loop(keep, n_keep);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_CLOSE_FDS, -r, "cannot read RLIMIT_NOFILE to close fds: %m");
    return 0;
}
