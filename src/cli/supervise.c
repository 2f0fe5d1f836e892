/* --supervise: the daemon stays PROGRAM's parent.
 *
 * It is what the pidfile names and it holds the lock (PROGRAM can neither drop
 * nor leak it); it forwards every catchable signal to PROGRAM, observes
 * readiness and only then lets the invoker go (daemonctx_ready), removes the
 * pidfile when PROGRAM ends and exits with PROGRAM's status (dying of the
 * same signal when PROGRAM was killed). With --restart it starts PROGRAM
 * again after an abnormal end, with an exponential back-off.
 *
 * One poll() loop over a signalfd, PROGRAM's watch (watch.c: a pidfd, or a
 * signalfd of SIGCHLD without pidfds), the readiness source and the --syslog
 * pipes: no signal handlers, no SIGCHLD races, no sleeping. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "watch.h"

extern char **environ;

/* An exit status meaning "my configuration is wrong" (sysexits.h EX_CONFIG):
 * restarting cannot help. */
#define EXIT_NO_RESTART 78
/* Uptime after which PROGRAM counts as healthy and the back-off starts over. */
#define HEALTHY_UPTIME_MS 10000

struct supervisor {
    const struct start_opts *o;
    struct launch *l;
    const char *ident; /* PROGRAM's name, for syslog and messages */
    char **envp;
    int sigfd;
    struct ready_source notify; /* --ready=notify: one socket for every run */
    struct ready_source fdready; /* --ready=fd:N: a pipe per run */
    struct log_stream out, err;
    pid_t child;
    struct child_watch watch; /* PROGRAM's, while child is not 0 */
    long long started_ms;
    bool ready;
    bool stopping;
    unsigned next_delay_ms;
    long long restart_at; /* -1: no restart pending */
};

/* The signals passed on to PROGRAM: all catchable ones but SIGCHLD (ours) and
 * those the kernel raises on a fault, which must keep killing the supervisor
 * if it ever faults. */
static void forwarded_set(sigset_t *set)
{
    static const int own[] = {SIGCHLD, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
    (void)sigfillset(set);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        (void)sigdelset(set, own[i]);
}

/* Fail before readiness: tell the invoker (or, not detached, print), exit;
 * exit() removes the pidfile. STEP decides the exit code (exit_code_for). */
static void fail(struct supervisor *s, enum daemonctx_step step, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void fail(struct supervisor *s, enum daemonctx_step step, int errnum, const char *fmt, ...)
{
    daemonctx_error err;
    va_list ap;
    memset(&err, 0, sizeof err);
    err.errnum = errnum;
    err.step = step;
    va_start(ap, fmt);
    (void)vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    report_failure(s->l, &err);
    exit(exit_code_for(&err));
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(const struct supervisor *s, pid_t parent, int report, const int out[2], const int err[2])
{
    const struct start_opts *o = s->o;
    int e = 0;
    /* PROGRAM must not outlive a supervisor killed with SIGKILL: nobody would
     * hold its lock any more. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        e = errno ? errno : ESRCH;
    /* Its own process group, so that a failed start can kill all it forked. */
    if (!e && setpgid(0, 0) < 0)
        e = errno;
    if (!e && out[1] >= 0 && (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0))
        e = errno;
    if (!e && s->fdready.child_fd >= 0) {
        if (s->fdready.child_fd == o->ready_fd ? fcntl(o->ready_fd, F_SETFD, 0) < 0
                                               : dup2(s->fdready.child_fd, o->ready_fd) < 0)
            e = errno;
    }
    if (!e) {
        int r = reset_signals(&o->ignore);
        e = r < 0 ? -r : 0;
    }
    if (!e) {
        execve(s->l->program, o->argv, s->envp);
        e = errno;
    }
    ssize_t n;
    do
        n = write(report, &e, sizeof e);
    while (n < 0 && errno == EINTR);
    _exit(EXIT_NOTFOUND);
}

/* PROGRAM (PID) cannot be watched: unsupervised, it must not run. */
static void unwatchable(struct supervisor *s, pid_t pid, int errnum) __attribute__((noreturn));
static void unwatchable(struct supervisor *s, pid_t pid, int errnum)
{
    siginfo_t si;
    child_watch_kill(&s->watch, &si);
    fail(s, DAEMONCTX_STEP_WAIT, errnum, "cannot watch program '%s' (PID %d): %s", s->o->argv[0], (int)pid,
         strerror(errnum));
}

/* Start PROGRAM. Returns 0, or -errno when it could not be started (a failed
 * exec gives its errno; the child was reaped). */
static int spawn(struct supervisor *s)
{
    const struct start_opts *o = s->o;
    /* Every fd the child still needs before exec sits above the numbers it
     * dup2()s onto (1, 2 and N), so those dup2()s cannot clobber it. */
    int above = (o->ready == READY_FD ? o->ready_fd : 2) + 1;
    int report[2], out[2] = {-1, -1}, err[2] = {-1, -1};
    /* A previous run's output pipes: only its orphans could still write. */
    close_fd(s->out.fd);
    close_fd(s->err.fd);
    s->out.fd = s->err.fd = -1;
    if (pipe2(report, O_CLOEXEC) < 0 || (report[1] = move_fd_above(report[1], above)) < 0)
        return -errno;
    if (s->l->syslog_fd >= 0 &&
        (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (out[1] = move_fd_above(out[1], above)) < 0 ||
         (err[1] = move_fd_above(err[1], above)) < 0))
        return -errno;
    if (o->ready == READY_FD && !s->ready) {
        int r = ready_open(&s->fdready, READY_FD);
        if (r < 0)
            return r;
        if (s->fdready.child_fd != o->ready_fd &&
            (s->fdready.child_fd = move_fd_above(s->fdready.child_fd, above)) < 0)
            return -errno;
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        child_exec(s, parent, report[1], out, err);

    close_fd(report[1]);
    close_fd(out[1]);
    close_fd(err[1]);
    close_fd(s->fdready.child_fd);
    s->fdready.child_fd = -1;
    if (child_watch_open(&s->watch, pid, o->verbose) < 0)
        unwatchable(s, pid, errno);
    s->child = pid;
    s->out.fd = out[0];
    s->err.fd = err[0];
    s->out.len = s->err.len = 0;
    s->notify.main_pid = s->fdready.main_pid = pid;
    if (s->out.fd >= 0 && (fcntl(s->out.fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(s->err.fd, F_SETFL, O_NONBLOCK) < 0))
        return -errno;

    /* EOF: the exec succeeded (the pipe is close-on-exec). */
    int e = 0;
    ssize_t n;
    do
        n = read(report[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close_fd(report[0]);
    s->started_ms = monotonic_ms();
    if (n <= 0)
        return 0;
    siginfo_t si;
    (void)child_watch_reap(&s->watch, &si);
    child_watch_close(&s->watch);
    s->child = 0;
    return -e;
}

static void become_ready(struct supervisor *s)
{
    daemonctx_error err;
    s->ready = true;
    /* The invoker leaves now; a failure here (no NOTIFY_SOCKET listener) does
     * not concern PROGRAM. */
    (void)daemonctx_ready(s->l->ctx, &err);
}

/* PROGRAM ended with SI: end the same way. Exit code through exit() (which
 * removes the pidfile), a signal through the library's terminate action. */
static void finish(struct supervisor *s, const siginfo_t *si) __attribute__((noreturn));
static void finish(struct supervisor *s, const siginfo_t *si)
{
    if (si->si_code == CLD_EXITED)
        exit(si->si_status);
    /* Die of the signal, but without dumping the supervisor's core. */
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    daemonctx_terminate(s->l->ctx, si->si_status);
}

static void drain_logs(struct supervisor *s)
{
    struct log_stream *streams[2] = {&s->out, &s->err};
    for (int i = 0; i < 2; i++)
        if (streams[i]->fd >= 0 && syslog_pump(s->l->syslog_fd, streams[i], s->o->syslog_priority, s->ident,
                                               s->child) != 0) {
            close_fd(streams[i]->fd);
            streams[i]->fd = -1;
        }
}

static void child_ended(struct supervisor *s)
{
    siginfo_t si;
    pid_t pid = s->child;
    if (child_watch_reap(&s->watch, &si) < 0) {
        memset(&si, 0, sizeof si);
        si.si_code = CLD_EXITED;
        si.si_status = EXIT_SYSTEM;
    }
    child_watch_close(&s->watch);
    drain_logs(s);
    if (!s->ready) {
        char status[64];
        describe_status(&si, status, sizeof status);
        fail(s, DAEMONCTX_STEP_DIED, ECHILD, "program '%s' (PID %d) %s before it was ready", s->o->argv[0], (int)pid,
             status);
    }
    s->child = 0;
    bool abnormal = si.si_code != CLD_EXITED || si.si_status != 0;
    if (!s->o->restart || s->stopping || !abnormal || (si.si_code == CLD_EXITED && si.si_status == EXIT_NO_RESTART))
        finish(s, &si);
    long long now = monotonic_ms();
    if (now - s->started_ms >= HEALTHY_UPTIME_MS)
        s->next_delay_ms = s->o->restart_delay_ms;
    s->restart_at = now + s->next_delay_ms;
    s->next_delay_ms = s->next_delay_ms > s->o->restart_max_ms / 2 ? s->o->restart_max_ms : s->next_delay_ms * 2;
}

static void forward_signals(struct supervisor *s)
{
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(s->sigfd, &info, sizeof info);
        if (n != (ssize_t)sizeof info)
            return;
        int signo = (int)info.ssi_signo;
        if (signo == SIGTERM || signo == SIGINT || signo == SIGQUIT) {
            s->stopping = true;
            if (!s->child) /* waiting to restart: nothing to pass it to */
                daemonctx_terminate(s->l->ctx, signo);
        }
        (void)child_watch_signal(&s->watch, signo);
    }
}

static void not_ready_in_time(struct supervisor *s)
{
    siginfo_t si;
    char seconds[32];
    pid_t pid = s->child;
    child_watch_kill(&s->watch, &si);
    fail(s, DAEMONCTX_STEP_TIMEOUT, ETIMEDOUT, "program '%s' (PID %d) was not ready within %s seconds; it was killed",
         s->o->argv[0], (int)pid, format_seconds(s->o->timeout_ms, seconds, sizeof seconds));
}

static void ready_event(struct supervisor *s, struct ready_source *rs)
{
    enum ready_event ev = ready_handle(rs);
    if (ev == READY_DONE && !s->ready)
        become_ready(s);
    if (ev != READY_ABANDONED)
        return;
    /* Keep draining until EOF (a writer must never get SIGPIPE), then stop
     * watching. Before readiness, EOF from a live PROGRAM means it gave up;
     * EOF and then its end is a death before readiness, reported at once (the
     * wait took the wakeup the main loop would have had). */
    close_fd(rs->fd);
    rs->fd = -1;
    if (s->ready || !s->child)
        return;
    /* Ended: reported with its status (child_ended does not return before
     * readiness); running, or not to be told (-1): killed below. */
    if (child_watch_wait(&s->watch, monotonic_ms() + EXIT_AFTER_EOF_MS) > 0)
        child_ended(s);
    siginfo_t si;
    pid_t pid = s->child;
    child_watch_kill(&s->watch, &si);
    fail(s, DAEMONCTX_STEP_DIED, 0, "program '%s' (PID %d) closed fd %d before it was ready; it was killed", s->o->argv[0],
         (int)pid, s->o->ready_fd);
}

void supervise(const struct start_opts *o, struct launch *l)
{
    struct supervisor s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.l = l;
    s.watch = CHILD_WATCH_NONE;
    s.out.fd = s.err.fd = -1;
    s.notify.fd = s.notify.child_fd = s.fdready.fd = s.fdready.child_fd = -1;
    s.next_delay_ms = o->restart_delay_ms;
    s.restart_at = -1;
    const char *slash = strrchr(o->argv[0], '/');
    s.ident = slash ? slash + 1 : o->argv[0];
    long long deadline = o->timeout_ms ? monotonic_ms() + o->timeout_ms : -1;

    sigset_t set;
    forwarded_set(&set);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* SIGCHLD ignored (inherited) would reap PROGRAM before we see its status. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || sigaction(SIGCHLD, &dfl, NULL) < 0 ||
        (s.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        fail(&s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: cannot set up signal forwarding: %s", strerror(errno));
    int r = o->ready == READY_NOTIFY ? ready_open(&s.notify, READY_NOTIFY) : 0;
    if (r < 0)
        fail(&s, DAEMONCTX_STEP_READY, -r, "supervisor: cannot create the notification socket: %s", strerror(-r));
    s.envp = s.notify.env_entry ? environment_with(s.notify.env_entry) : environ;
    if (!s.envp)
        fail(&s, DAEMONCTX_STEP_READY, ENOMEM, "supervisor: out of memory");

    r = spawn(&s);
    if (r < 0) {
        int e = -r;
        fail(&s, DAEMONCTX_STEP_EXEC, e, "cannot execute program '%s': %s", o->argv[0], strerror(e));
    }
    if (o->ready == READY_EXEC)
        become_ready(&s);

    for (;;) {
        struct pollfd p[6];
        struct ready_source *sources[2] = {&s.notify, &s.fdready};
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = s.sigfd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s.watch.fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s.notify.fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s.fdready.fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s.out.fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s.err.fd, .events = POLLIN};
        long long wake = !s.ready ? deadline : s.restart_at;
        int k = poll(p, n, remaining_ms(wake));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            fail(&s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: poll: %s", strerror(errno));
        }
        if (k == 0) {
            if (!s.ready)
                not_ready_in_time(&s);
            s.restart_at = -1;
            r = spawn(&s);
            if (r < 0) /* it ran before: the same program cannot be found now */
                exit(-r == ENOENT || -r == ENOTDIR ? EXIT_NOTFOUND : EXIT_NOEXEC);
            continue;
        }
        /* Readiness before death: "ready, then exited at once" was ready.
         * Death before signals: a SIGTERM that comes with PROGRAM's end
         * then finds the supervisor waiting to restart, and stops it. */
        for (int i = 0; i < 2; i++)
            if (p[2 + i].revents && sources[i]->fd >= 0)
                ready_event(&s, sources[i]);
        if (p[4].revents || p[5].revents)
            drain_logs(&s);
        if (p[1].revents && s.child) {
            int ended = child_watch_ended(&s.watch);
            if (ended < 0)
                unwatchable(&s, s.child, errno);
            if (ended)
                child_ended(&s);
        }
        if (p[0].revents)
            forward_signals(&s);
    }
}
