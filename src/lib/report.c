/* The report channel: how a failure after the fork reaches the process that
 * called open(), and how it learns the daemon is up.
 *
 * An AF_UNIX SOCK_SEQPACKET pair, close-on-exec, made before the first fork:
 * one fixed-size record per message (step, errno, message), EOF when every
 * daemon-side copy is closed, and send(MSG_NOSIGNAL) so a daemon whose invoker
 * was killed gets EPIPE instead of dying of SIGPIPE. The sequence the invoker
 * reads: PID, then DONE (READY_OPEN), READY or EXEC+EOF (READY_NOTIFY), or
 * ERROR. EOF before any of those means the daemon died. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int dcx_report_open(struct dcx_plan *plan, daemonctx_error *err)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, plan->report) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIPE, errno, "cannot create the report channel: %m");
    for (int i = 0; i < 2; i++)
        if ((plan->report[i] = dcx_fd_above_stdio(plan->report[i])) < 0)
            return dcx_fail(err, DAEMONCTX_STEP_PIPE, errno, "cannot move the report channel above fd 2: %m");
    return 0;
}

int dcx_report_send(int fd, enum dcx_record_type type, pid_t pid, const daemonctx_error *err)
{
    struct dcx_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = type;
    rec.pid = pid;
    if (err)
        rec.err = *err;
    ssize_t n;
    do
        n = send(fd, &rec, sizeof rec, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof rec ? 0 : -(n < 0 ? errno : EPIPE);
}

void dcx_report_fatal(int fd, const daemonctx_error *err)
{
    if (fd >= 0)
        (void)dcx_report_send(fd, DCX_REC_ERROR, getpid(), err);
    _exit(1);
}

long long dcx_now_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer; were it
     * to, every poll() would get the whole timeout, which still ends the
     * wait. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before DEADLINE (-1: none), for poll(). */
static int remaining(long long deadline)
{
    if (deadline < 0)
        return -1;
    long long left = deadline - dcx_now_ms();
    return left <= 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

static int reap(pid_t pid, int *status, int options)
{
    pid_t r;
    do
        r = waitpid(pid, status, options);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == ECHILD ? 1 : -errno; /* already reaped by someone */
    return r == pid;
}

/* Wait for PID (our child) to end before DEADLINE; 1 reaped, 0 timed out. */
static int wait_exit(pid_t pid, long long deadline, int *status)
{
    *status = -1;
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int n;
        do
            n = poll(&p, 1, remaining(deadline));
        while (n < 0 && errno == EINTR);
        dcx_close(pidfd);
        if (n == 0)
            return 0;
    }
#endif
    /* No pidfd (kernel < 5.3, or refused by seccomp): without a deadline a
     * blocking wait; with one, SIGCHLD (at its default action during open:
     * invoker_prepare) is blocked and waited for, reaping at each one. */
    if (deadline < 0)
        return reap(pid, status, 0) > 0;
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, &old) < 0)
        return reap(pid, status, 0) > 0;
    int r;
    for (;;) {
        r = reap(pid, status, WNOHANG);
        int left = remaining(deadline);
        if (r != 0 || left == 0)
            break;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
        if (sigtimedwait(&chld, NULL, &ts) < 0 && errno != EAGAIN && errno != EINTR)
            break;
    }
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    return r > 0;
}

static int died(pid_t pid, int status, daemonctx_error *err)
{
    if (status == -1)
        return dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "daemon PID %d ended before it was ready", (int)pid);
    if (WIFSIGNALED(status))
        return dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "daemon PID %d was killed by signal %d before it was ready", (int)pid,
                        WTERMSIG(status));
    return dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "daemon PID %d exited with status %d before it was ready", (int)pid,
                    WEXITSTATUS(status));
}

/* The signals that end an interactive start (Ctrl-C, a hangup, kill). While
 * the invoker waits they are blocked and read from a signalfd, so that an
 * interrupted start kills its daemon before the invoker dies of the signal
 * (re-raised by open() once the pidfile is cleaned up). Best effort: without
 * a signalfd the signals act as they did before. */
struct stop_signals {
    sigset_t set, old;
    int fd;
};

void dcx_stop_signals_add(sigset_t *set)
{
    static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
        struct sigaction now;
        if (sigaction(caught[i], NULL, &now) == 0 && now.sa_handler != SIG_IGN)
            sigaddset(set, caught[i]);
    }
}

/* STOPS are blocked already (dcx_detach); RESTORE is the mask to go back to. */
static void stop_signals_catch(struct stop_signals *s, const sigset_t *stops, const sigset_t *restore)
{
    s->old = *restore;
    s->set = *stops;
    s->fd = signalfd(-1, &s->set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int stop_signals_take(const struct stop_signals *s)
{
    struct signalfd_siginfo si;
    ssize_t n;
    do
        n = read(s->fd, &si, sizeof si);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}

static void stop_signals_release(struct stop_signals *s)
{
    if (s->fd >= 0)
        dcx_close(s->fd);
    (void)sigprocmask(SIG_SETMASK, &s->old, NULL);
}

/* What the invoker learned from the channel: the daemon is up; it reported
 * an error (and exits by itself); the wait was aborted (timeout, signal,
 * broken channel: the daemon is killed); the channel closed early. */
enum outcome { UP, REPORTED, ABORTED, CLOSED };

static enum outcome interrupted(struct dcx_plan *plan, int signo, pid_t daemon, daemonctx_error *err, int *r)
{
    plan->interrupted_by = signo;
    *r = dcx_fail(err, DAEMONCTX_STEP_INTERRUPTED, EINTR, "interrupted by signal %d while waiting for daemon PID %d; it was killed",
                  signo, (int)daemon);
    return ABORTED;
}

static enum outcome read_reports(daemonctx *ctx, struct dcx_plan *plan, const struct stop_signals *sig,
                                 long long deadline, pid_t *daemon, daemonctx_error *err, int *r)
{
    bool exec_pending = false;
    /* A signal that came before the wait, while the daemon was being made
     * (an exec'ing one sets itself up while we are suspended), interrupts
     * the start as soon as the daemon is known, whatever it reports. */
    int early = sig->fd >= 0 ? stop_signals_take(sig) : 0;
    for (;;) {
        if (early && *daemon > 0)
            return interrupted(plan, early, *daemon, err, r);
        struct pollfd p[2] = {{.fd = plan->report[0], .events = POLLIN}, {.fd = sig->fd, .events = POLLIN}};
        int n = poll(p, sig->fd >= 0 ? 2 : 1, remaining(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *r = dcx_fail(err, DAEMONCTX_STEP_REPORT, errno, "cannot wait for the daemon: %m");
            return ABORTED;
        }
        if (n == 0) {
            *r = dcx_fail(err, DAEMONCTX_STEP_TIMEOUT, ETIMEDOUT, "daemon PID %d was not ready within %u ms; it was killed",
                          (int)*daemon, ctx->timeout_ms);
            return ABORTED;
        }
        /* What the daemon said first: a signal that comes with the news
         * that the daemon is up no longer interrupts its start. */
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            int signo = sig->fd >= 0 && (p[1].revents & POLLIN) ? stop_signals_take(sig) : 0;
            if (signo > 0)
                return interrupted(plan, signo, *daemon, err, r);
            continue;
        }
        struct dcx_record rec;
        ssize_t got = recv(plan->report[0], &rec, sizeof rec, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *r = dcx_fail(err, DAEMONCTX_STEP_REPORT, errno, "cannot read the daemon's report: %m");
            return ABORTED;
        }
        if (got == 0) /* every daemon-side end is closed: exec'd, or dead */
            return exec_pending ? UP : CLOSED;
        if (got != (ssize_t)sizeof rec) {
            *r = dcx_fail(err, DAEMONCTX_STEP_REPORT, EPROTO, "malformed report from the daemon (%d bytes)", (int)got);
            return ABORTED;
        }
        switch (rec.type) {
        case DCX_REC_PID:
            *daemon = rec.pid;
            ctx->daemon_pid = rec.pid;
            break;
        case DCX_REC_DONE:
        case DCX_REC_READY:
            return UP;
        case DCX_REC_EXEC:
            exec_pending = true;
            break;
        case DCX_REC_ERROR:
            if ((unsigned)rec.err.step >= DAEMONCTX_STEP_COUNT)
                rec.err.step = DAEMONCTX_STEP_REPORT;
            rec.err.message[DAEMONCTX_MESSAGE_MAX - 1] = '\0';
            if (err)
                *err = rec.err;
            *r = rec.err.errnum ? -rec.err.errnum : -EINVAL;
            return REPORTED;
        default:
            *r = dcx_fail(err, DAEMONCTX_STEP_REPORT, EPROTO, "unknown report %u from the daemon", (unsigned)rec.type);
            return ABORTED;
        }
    }
}

long long dcx_deadline(const daemonctx *ctx)
{
    return ctx->timeout_ms ? dcx_now_ms() + ctx->timeout_ms : -1;
}

int dcx_wait_daemon(daemonctx *ctx, struct dcx_plan *plan, pid_t child, long long deadline, const sigset_t *stops,
                    const sigset_t *restore, daemonctx_error *err)
{
    int status, r = 0;
    pid_t daemon = 0;

    /* The intermediate child is reaped (dcx_detach): the daemon is our child
     * (we are a subreaper). */
    struct stop_signals sig;
    stop_signals_catch(&sig, stops, restore);
    enum outcome got = read_reports(ctx, plan, &sig, deadline, &daemon, err, &r);
    stop_signals_release(&sig);
    if (got == UP)
        return 0;

    bool reaped = false;
    if (got == CLOSED) {
        reaped = daemon > 0 && wait_exit(daemon, deadline, &status);
        /* An exec'ing daemon's own timer killed it at the deadline. */
        if (deadline >= 0 && dcx_now_ms() >= deadline)
            r = dcx_fail(err, DAEMONCTX_STEP_TIMEOUT, ETIMEDOUT, "daemon PID %d was not ready within %u ms; it was killed",
                         (int)daemon, ctx->timeout_ms);
        else
            r = reaped ? died(daemon, status, err)
                       : dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD,
                                  "daemon PID %d closed its report channel before it was ready", (int)daemon);
    }
    /* Leave nothing behind: a daemon that reported an error exits by itself
     * (it gets a few seconds); one that is not ready in time, or whose start
     * was interrupted, is killed at once with its whole process group. */
    long long grace = got == REPORTED ? 5000 : 0;
    if (daemon > 0 && !reaped && !wait_exit(daemon, dcx_now_ms() + grace, &status)) {
        (void)kill(-child, SIGKILL);
        (void)kill(daemon, SIGKILL);
        (void)reap(daemon, &status, 0);
    } else if (daemon <= 0 && got == ABORTED) {
        /* Aborted before the daemon said who it is: it is still in the
         * intermediate child's process group, and our child by now. */
        if (kill(-child, SIGKILL) == 0) {
            pid_t w;
            do
                w = waitpid(-child, &status, 0);
            while (w > 0 || (w < 0 && errno == EINTR));
        }
    }
    ctx->daemon_pid = 0;
    return r;
}

/* systemd's notification protocol, without libsystemd: one datagram to the
 * AF_UNIX socket named by $NOTIFY_SOCKET ("@name" is the abstract namespace).
 * The address is read once, at open, so that the terminate action can send
 * STOPPING=1 from a signal handler without getenv(). */
static struct {
    struct sockaddr_un addr;
    socklen_t len;
    char name[sizeof ((struct sockaddr_un *)0)->sun_path];
} notify_target;

int dcx_notify_prepare(daemonctx_error *err)
{
    const char *path = getenv("NOTIFY_SOCKET");
    notify_target.len = 0;
    if (!path || !*path)
        return 0;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof notify_target.addr.sun_path)
        return dcx_fail(err, DAEMONCTX_STEP_READY, EINVAL, "NOTIFY_SOCKET %s is not an AF_UNIX socket path", path);
    memset(&notify_target.addr, 0, sizeof notify_target.addr);
    notify_target.addr.sun_family = AF_UNIX;
    memcpy(notify_target.addr.sun_path, path, len);
    memcpy(notify_target.name, path, len + 1);
    if (path[0] == '@')
        notify_target.addr.sun_path[0] = '\0';
    notify_target.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    return 0;
}

/* Async-signal-safe. */
int dcx_notify(const char *message, daemonctx_error *err)
{
    if (notify_target.len == 0)
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_READY, errno, "cannot create a socket for NOTIFY_SOCKET: %m");
    ssize_t n;
    do
        n = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (const struct sockaddr *)&notify_target.addr,
                   notify_target.len);
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (n < 0)
        return dcx_fail(err, DAEMONCTX_STEP_READY, e, "cannot notify NOTIFY_SOCKET %s: %m", notify_target.name);
    return 0;
}

int dcx_notify_ready(daemonctx_error *err)
{
    daemonctx_error scratch;
    dcx_fail(&scratch, DAEMONCTX_STEP_NONE, 0, "READY=1\nMAINPID=%d", (int)getpid());
    return dcx_notify(scratch.message, err);
}

static void close_report(daemonctx *ctx)
{
    if (ctx->report_fd >= 0) {
        dcx_close(ctx->report_fd);
        ctx->report_fd = -1;
    }
}

int daemonctx_ready(daemonctx *ctx, daemonctx_error *err)
{
    dcx_clear(err);
    if (!ctx || !ctx->is_open)
        return dcx_fail(err, DAEMONCTX_STEP_READY, EINVAL, "daemonctx_ready() called before daemonctx_open()");
    if (ctx->report_fd >= 0) {
        int r = dcx_report_send(ctx->report_fd, DCX_REC_READY, getpid(), NULL);
        close_report(ctx);
        if (r < 0)
            return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone", (int)getpid());
    }
    return dcx_notify_ready(err);
}

int daemonctx_report_error(daemonctx *ctx, const daemonctx_error *err)
{
    if (!ctx || !err)
        return -EINVAL;
    if (ctx->report_fd < 0)
        return -ENOTCONN;
    int r = dcx_report_send(ctx->report_fd, DCX_REC_ERROR, getpid(), err);
    close_report(ctx);
    return r;
}

int daemonctx_execv(daemonctx *ctx, const char *path, char *const argv[], daemonctx_error *err)
{
    dcx_clear(err);
    if (!ctx || !path || !argv)
        return dcx_fail(err, DAEMONCTX_STEP_EXEC, EINVAL, "daemonctx_execv() needs a context, a path and an argv");
    if (ctx->report_fd >= 0) {
        int r = dcx_report_send(ctx->report_fd, DCX_REC_EXEC, getpid(), NULL);
        if (r < 0) { /* the invoker is gone: this start failed for whoever ran it */
            close_report(ctx);
            return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone", (int)getpid());
        }
    }
    execv(path, argv);
    int r = dcx_fail(err, DAEMONCTX_STEP_EXEC, errno, "cannot execute %s: %m", path);
    if (ctx->report_fd >= 0)
        (void)daemonctx_report_error(ctx, err);
    return r;
}
