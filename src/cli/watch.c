/* Watching a child of ours: the daemon the invoker waits on for readiness
 * (it is our child: the library made us its subreaper), or the PROGRAM a
 * supervisor forked.
 *
 * Through a pidfd where the kernel has them. Without (Linux < 5.3, or a
 * seccomp profile that answers pidfd_open with ENOSYS or EPERM), through
 * SIGCHLD: blocked and read from a signalfd, and at each one a look with
 * waitid(WNOHANG | WNOWAIT), which leaves an ended child a zombie.
 *
 * Either way the child is reaped only by child_watch_reap(), which then
 * forgets its PID. Until then the PID, a zombie's included, cannot be given
 * to another process, nor its process group id: that is what makes
 * signalling by PID as safe as through a pidfd here, and it is why the
 * SIGCHLD path is only for our own children.
 *
 * The changes to SIGCHLD (default action, blocked) are not undone: the
 * invoker leaves once its wait is over, the supervisor never returns. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "watch.h"

static int open_sigchld_fd(void)
{
    sigset_t chld;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (sigemptyset(&chld) < 0 || sigaddset(&chld, SIGCHLD) < 0)
        return -1;
    /* Ignored (inherited), SIGCHLD would have the kernel reap the child by
     * itself and send no signal at all. */
    if (sigaction(SIGCHLD, &dfl, NULL) < 0 || sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
        return -1;
    int fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return -1;
    /* The child may have ended before SIGCHLD was blocked, and its SIGCHLD
     * (ignored by default) was discarded: one of our own makes the first
     * poll() look. */
    if (raise(SIGCHLD) != 0) {
        int e = errno;
        close_fd(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int child_watch_open(struct child_watch *w, pid_t pid, bool verbose)
{
    static bool said;
    *w = CHILD_WATCH_NONE;
    w->pid = pid;
    w->fd = pidfd_open_pid(pid);
    if (w->fd >= 0) {
        w->pidfd = true;
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM)
        return -1;
    int e = errno;
    w->fd = open_sigchld_fd();
    if (w->fd < 0)
        return -1;
    if (verbose && !said) {
        said = true;
        print_verbose(verbose, "no pidfd (%s): watching PID %d through SIGCHLD", strerror(e), (int)pid);
    }
    return 0;
}

int child_watch_ended(struct child_watch *w)
{
    if (!w->pidfd) {
        /* Drained before the look, so that a SIGCHLD coming after it stays
         * pending and wakes the next poll(). */
        struct signalfd_siginfo info;
        ssize_t n;
        do
            n = read(w->fd, &info, sizeof info);
        while (n == (ssize_t)sizeof info || (n < 0 && errno == EINTR));
        if (n < 0 && errno != EAGAIN)
            return -1;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do
        r = waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == ECHILD) {
        /* Reaped already, so ended; its PID may belong to another process
         * by now: W names nobody any more. */
        w->pid = 0;
        return 1;
    }
    if (r < 0)
        return -1;
    return si.si_pid != 0;
}

int child_watch_wait(struct child_watch *w, long long deadline_ms)
{
    for (;;) {
        int r = child_watch_ended(w);
        if (r != 0)
            return r;
        r = poll_one(w->fd, POLLIN, deadline_ms);
        if (r <= 0)
            return r;
    }
}

int child_watch_signal(const struct child_watch *w, int signo)
{
    if (w->pid <= 0) { /* kill(0) would be our own process group */
        errno = ESRCH;
        return -1;
    }
    return w->pidfd ? pidfd_signal(w->fd, signo) : kill(w->pid, signo);
}

int child_watch_reap(struct child_watch *w, siginfo_t *si)
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

void child_watch_kill(struct child_watch *w, siginfo_t *si)
{
    if (w->pid > 0) {
        pid_t group = getpgid(w->pid);
        if (group > 1 && group != getpgrp())
            (void)kill(-group, SIGKILL);
        (void)child_watch_signal(w, SIGKILL);
    }
    (void)child_watch_reap(w, si);
}

void child_watch_close(struct child_watch *w)
{
    close_fd(w->fd);
    w->fd = -1;
    w->pidfd = false;
}
