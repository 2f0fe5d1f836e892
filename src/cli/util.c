/* Small system helpers shared by the commands: time, fds, pidfds, and the
 * careful removal of a pidfile whose daemon is gone. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

long long monotonic_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before DEADLINE for poll(): -1 when DEADLINE is < 0 (none). */
int remaining_ms(long long deadline_ms)
{
    if (deadline_ms < 0)
        return -1;
    long long left = deadline_ms - monotonic_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* "2", "0.5", "1.250": milliseconds as the user would write seconds. */
const char *format_seconds(unsigned ms, char *buf, size_t size)
{
    if (ms % 1000 == 0)
        (void)snprintf(buf, size, "%u", ms / 1000);
    else if (ms % 100 == 0)
        (void)snprintf(buf, size, "%u.%u", ms / 1000, ms % 1000 / 100);
    else
        (void)snprintf(buf, size, "%u.%03u", ms / 1000, ms % 1000);
    return buf;
}

/* Never retried on EINTR: Linux releases the fd whatever close() returns. */
void close_fd(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}

int pidfd_open_pid(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int pidfd_signal(int pidfd, int signo)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

/* poll() one fd until DEADLINE (< 0: none), through EINTR. Returns 1 ready,
 * 0 timed out, -1 with errno. */
int poll_one(int fd, short events, long long deadline_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, remaining_ms(deadline_ms));
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -1;
    }
}

/* Move FD to a number >= MIN (close-on-exec), so that later dup2()s onto
 * fixed numbers below MIN cannot clobber it. */
int move_fd_above(int fd, int min)
{
    if (fd >= min)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
    int e = errno;
    close_fd(fd);
    errno = e;
    return moved;
}

/* Remove PATH if nobody holds its lock and, when MATCH_INODE, it is still
 * the file DEV:INO. Taking the lock first keeps a starter that is creating a
 * new daemon from losing its pidfile: we only unlink what we hold, and a
 * starter re-checks after locking that its inode is still at PATH.
 * Returns 1 removed, 0 left (absent, replaced or locked), -errno. */
int remove_dead_pidfile(const char *path, bool match_inode, dev_t dev, ino_t ino)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int r = 0;
    struct stat st, now;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (match_inode && (st.st_dev != dev || st.st_ino != ino)))
        goto out;
    /* start never makes or takes over a pidfile with other names (nor does
     * the library): removing this name would leave the file, and the name
     * may be a link planted to another file. */
    if (st.st_nlink != 1) {
        r = -EMLINK;
        goto out;
    }
    int l;
    do
        l = flock(fd, LOCK_EX | LOCK_NB);
    while (l < 0 && errno == EINTR);
    if (l < 0) {
        r = errno == EWOULDBLOCK ? 0 : -errno;
        goto out;
    }
    if (lstat(path, &now) < 0) {
        r = errno == ENOENT ? 0 : -errno;
        goto out;
    }
    if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        goto out;
    r = unlink(path) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
out:
    close_fd(fd);
    return r;
}
