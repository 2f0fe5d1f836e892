/* Watching a child of ours: the daemon the original process waits on (it is
 * our child: open() makes us its subreaper), or the program a supervisor
 * forked.
 *
 * Through a pidfd where the kernel has them. Without (Linux < 5.3, or a
 * seccomp profile answering pidfd_open with ENOSYS or EPERM), through
 * SIGCHLD: blocked and read from a signalfd, and at each one a look with
 * waitid(WNOHANG | WNOWAIT), which leaves an ended child a zombie.
 *
 * Either way the child is reaped only by dcx_watch_reap(), which then
 * forgets its PID. Until then the PID, a zombie's included, cannot be given
 * to another process, nor its process group id: that is what makes
 * signalling by PID as safe as through a pidfd here, and why the SIGCHLD
 * path is only for our own children. The SIGCHLD changes (default action,
 * blocked) are the caller's to undo. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static int open_sigchld_fd(void)
{
    sigset_t chld;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (sigemptyset(&chld) < 0 || sigaddset(&chld, SIGCHLD) < 0)
        return -errno;
    /* Ignored (inherited), SIGCHLD would have the kernel reap the child by
     * itself and send no signal at all. */
    if (sigaction(SIGCHLD, &dfl, NULL) < 0 || sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    /* The child may have ended before SIGCHLD was blocked, its signal
     * discarded (ignored by default): one of our own makes the first poll()
     * look. */
    if (raise(SIGCHLD) != 0) {
        int e = errno;
        dcx_close(fd);
        return -e;
    }
    return fd;
}

int dcx_watch_open(struct dcx_watch *w, pid_t pid)
{
    *w = DCX_WATCH_NONE;
    w->pid = pid;
    w->fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (w->fd >= 0) {
        w->pidfd = true;
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM)
        return -errno;
    w->no_pidfd = errno;
    w->fd = open_sigchld_fd();
    return w->fd < 0 ? w->fd : 0;
}

/* Drained before the look, so that a SIGCHLD coming after it stays pending
 * and wakes the next poll(). */
static int drain_sigchld(int fd)
{
    struct signalfd_siginfo info;
    ssize_t n;
    do
        n = read(fd, &info, sizeof info);
    while (n == (ssize_t)sizeof info || (n < 0 && errno == EINTR));
    return n < 0 && errno != EAGAIN ? -errno : 0;
}

int dcx_watch_ended(struct dcx_watch *w)
{
    int r;
    if (w->pid <= 0)
        return 1;
    if (!w->pidfd && (r = drain_sigchld(w->fd)) < 0)
        return r;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    do
        r = waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == ECHILD) {
        /* Reaped already: ended, and its PID may be another process's by
         * now, so W names nobody any more. */
        w->pid = 0;
        return 1;
    }
    if (r < 0)
        return -errno;
    return si.si_pid != 0;
}

int dcx_watch_wait(struct dcx_watch *w, long long deadline)
{
    for (;;) {
        int r = dcx_watch_ended(w);
        if (r != 0)
            return r;
        r = dcx_poll_one(w->fd, POLLIN, deadline);
        if (r <= 0)
            return r;
    }
}

int dcx_watch_signal(const struct dcx_watch *w, int signo)
{
    if (w->pid <= 0) /* kill(0) would be our own process group */
        return -ESRCH;
    long r = w->pidfd ? syscall(SYS_pidfd_send_signal, w->fd, signo, NULL, 0) : kill(w->pid, signo);
    return r < 0 ? -errno : 0;
}

int dcx_watch_reap(struct dcx_watch *w, siginfo_t *si)
{
    memset(si, 0, sizeof si[0]);
    if (w->pid <= 0)
        return -ECHILD;
    int r;
    do
        r = waitid(P_PID, (id_t)w->pid, si, WEXITED);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno != ECHILD)
        return -errno;
    if (r < 0) /* reaped by somebody else: gone, its status unknown */
        memset(si, 0, sizeof si[0]);
    w->pid = 0;
    return 0;
}

void dcx_watch_kill(struct dcx_watch *w, siginfo_t *si)
{
    if (w->pid > 0) {
        pid_t group = getpgid(w->pid);
        if (group > 1 && group != getpgrp())
            (void)kill(-group, SIGKILL);
        (void)dcx_watch_signal(w, SIGKILL);
    }
    (void)dcx_watch_reap(w, si);
}

void dcx_watch_close(struct dcx_watch *w)
{
    if (w->fd >= 0)
        dcx_close(w->fd);
    w->fd = -1;
    w->pidfd = false;
}

void dcx_describe_exit(const siginfo_t *si, char *buf, size_t size)
{
    const char *name = si->si_code == CLD_EXITED ? NULL : dcx_signal_name(si->si_status);
    if (si->si_pid == 0) /* not ours to reap: somebody else saw the status */
        (void)dcx_format(buf, size, "ended");
    else if (si->si_code == CLD_EXITED)
        (void)dcx_format(buf, size, "exited with status %d", si->si_status);
    else if (name)
        (void)dcx_format(buf, size, "was killed by signal %s", name);
    else
        (void)dcx_format(buf, size, "was killed by signal %d", si->si_status);
}
