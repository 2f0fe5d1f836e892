/* --supervise: the daemon stays PROGRAM's parent.
 *
 * It is what the pidfile names and it holds the lock (PROGRAM can neither drop
 * nor leak it); it forwards every catchable signal to PROGRAM, waits for each
 * run's readiness with the library's readiness sources (the first lets the
 * invoker go: daemonctx_ready), removes the pidfile when PROGRAM ends and
 * exits with PROGRAM's status (dying of the same signal when PROGRAM was
 * killed). With --restart it starts PROGRAM again after an abnormal end, or a
 * run not ready in time, with an exponential back-off.
 *
 * One poll() loop over a signalfd, PROGRAM's watch (a pidfd, or SIGCHLD
 * without pidfds), the readiness source and the --syslog pipes: no signal
 * handlers, no SIGCHLD races, no sleeping. */
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
    struct dcx_ready source; /* --ready=fd:N: a pipe per run; notify: one socket */
    struct log_stream out, err;
    pid_t child;
    struct dcx_watch watch; /* PROGRAM's, while child is not 0 */
    long long started_ms;
    long long ready_by; /* this run's readiness deadline; -1: none */
    bool run_ready;     /* this run of PROGRAM is ready */
    bool announced;     /* the first readiness was told: the invoker is gone */
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

/* Fail before the first readiness: tell the invoker (or, not detached,
 * print), exit; exit() removes the pidfile. */
static void fail_with(struct supervisor *s, const daemonctx_error *err) __attribute__((noreturn));
static void fail_with(struct supervisor *s, const daemonctx_error *err)
{
    report_failure(s->l, err);
    exit(exit_code_for(err));
}

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
    fail_with(s, &err);
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
    if (!e)
        e = -dcx_ready_child_setup(&s->source);
    if (!e)
        e = -reset_signals(&o->ignore);
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

/* The pipes of one run: the exec report, --syslog's output, --ready=fd:N's.
 * None lands on 0-2 (open in the supervisor) or on N (reserved). */
static int make_pipes(struct supervisor *s, int report[2], int out[2], int err[2])
{
    daemonctx_error e;
    if (pipe2(report, O_CLOEXEC) < 0)
        return -errno;
    if (s->l->syslog_fd >= 0 && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0))
        return -errno;
    if (s->o->ready == READY_FD) {
        dcx_ready_close(&s->source);
        int r = dcx_ready_open(&s->source, DCX_READY_FD, s->o->ready_fd, &e);
        if (r < 0)
            return r;
    }
    return 0;
}

/* After the fork: our ends only, and PROGRAM watched. */
static void adopt(struct supervisor *s, pid_t pid, const int out[2], const int err[2])
{
    dcx_close(out[1]);
    dcx_close(err[1]);
    dcx_ready_forget_child_end(&s->source);
    int r = dcx_watch_open(&s->watch, pid);
    if (r < 0) { /* unsupervised, it must not run */
        siginfo_t si;
        dcx_watch_kill(&s->watch, &si);
        fail(s, DAEMONCTX_STEP_WAIT, -r, "cannot watch program '%s' (PID %d): %s", s->o->argv[0], (int)pid,
             strerror(-r));
    }
    if (s->watch.no_pidfd && s->started_ms == 0)
        print_verbose(s->o->verbose, "no pidfd (%s): watching PID %d through SIGCHLD", strerror(s->watch.no_pidfd),
                      (int)pid);
    s->child = s->source.main_pid = pid;
    s->out.fd = out[0];
    s->err.fd = err[0];
    s->out.len = s->err.len = 0;
    if (s->out.fd >= 0) {
        (void)fcntl(s->out.fd, F_SETFL, O_NONBLOCK);
        (void)fcntl(s->err.fd, F_SETFL, O_NONBLOCK);
    }
}

/* Start PROGRAM. Returns 0, or -errno when it could not be started (a failed
 * exec gives its errno; the child was reaped). */
static int spawn(struct supervisor *s)
{
    int report[2], out[2] = {-1, -1}, err[2] = {-1, -1};
    /* A previous run's output pipes: only its orphans could still write. */
    dcx_close(s->out.fd);
    dcx_close(s->err.fd);
    s->out.fd = s->err.fd = -1;
    int r = make_pipes(s, report, out, err);
    if (r < 0)
        return r;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        child_exec(s, parent, report[1], out, err);
    dcx_close(report[1]);
    adopt(s, pid, out, err);
    /* EOF: the exec succeeded (the pipe is close-on-exec). */
    int e = 0;
    ssize_t n;
    do
        n = read(report[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    dcx_close(report[0]);
    s->started_ms = dcx_now_ms();
    s->run_ready = s->o->ready == READY_EXEC;
    s->ready_by = s->run_ready ? -1 : dcx_deadline_after(s->o->timeout_ms);
    if (n <= 0)
        return 0;
    siginfo_t si;
    (void)dcx_watch_reap(&s->watch, &si);
    dcx_watch_close(&s->watch);
    s->child = 0;
    return -e;
}

/* This run is ready; the first time, the invoker goes, and a service manager
 * waiting on NOTIFY_SOCKET hears READY=1 (a failure there does not concern
 * PROGRAM). */
static void run_is_ready(struct supervisor *s)
{
    daemonctx_error err;
    s->run_ready = true;
    s->ready_by = -1;
    if (s->announced)
        return;
    s->announced = true;
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
            dcx_close(streams[i]->fd);
            streams[i]->fd = -1;
        }
}

/* After an abnormal end: the next start, later each time, sooner again after
 * a healthy run. */
static void schedule_restart(struct supervisor *s)
{
    long long now = dcx_now_ms();
    if (now - s->started_ms >= HEALTHY_UPTIME_MS)
        s->next_delay_ms = s->o->restart_delay_ms;
    s->restart_at = now + s->next_delay_ms;
    s->next_delay_ms = s->next_delay_ms > s->o->restart_max_ms / 2 ? s->o->restart_max_ms : s->next_delay_ms * 2;
}

/* PROGRAM (reaped, SI) ended: before the first readiness the start failed
 * (ERR, when the library worded why); later, finish or restart. */
static void run_ended(struct supervisor *s, const siginfo_t *si, const daemonctx_error *err)
{
    pid_t pid = s->child;
    dcx_watch_close(&s->watch);
    drain_logs(s);
    s->child = 0;
    orphans_end(s->l);
    if (!s->announced) {
        daemonctx_error died;
        fail_with(s, err ? err : (dcx_fail_died(&died, s->o->argv[0], pid, si), &died));
    }
    bool abnormal = si->si_code != CLD_EXITED || si->si_status != 0 || !s->run_ready;
    if (!s->o->restart || s->stopping || !abnormal || (si->si_code == CLD_EXITED && si->si_status == EXIT_NO_RESTART))
        finish(s, si);
    schedule_restart(s);
}

static void child_ended(struct supervisor *s)
{
    siginfo_t si;
    if (dcx_watch_reap(&s->watch, &si) < 0) {
        memset(&si, 0, sizeof si);
        si.si_code = CLD_EXITED;
        si.si_status = EXIT_SYSTEM;
    }
    run_ended(s, &si, NULL);
}

/* This run failed to become ready (ERR says how): killed, and ended. */
static void not_ready(struct supervisor *s, const daemonctx_error *err)
{
    siginfo_t si;
    dcx_watch_kill(&s->watch, &si);
    run_ended(s, &si, err);
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
        (void)dcx_watch_signal(&s->watch, signo);
    }
}

static void source_event(struct supervisor *s)
{
    daemonctx_error err;
    enum dcx_ready_event ev = dcx_ready_read(&s->source);
    if (ev == DCX_READY_DONE && !s->run_ready)
        run_is_ready(s);
    if (ev != DCX_READY_EOF)
        return;
    /* Drained to EOF (a writer must never get SIGPIPE), then no longer
     * watched. Before readiness, EOF from a live PROGRAM means it gave up;
     * EOF and then its end is a death before readiness. */
    dcx_ready_close(&s->source);
    if (s->run_ready || !s->child)
        return;
    if (dcx_watch_wait(&s->watch, dcx_now_ms() + DCX_EXIT_AFTER_EOF_MS) > 0) {
        child_ended(s);
        return;
    }
    dcx_fail_gave_up(&err, s->o->argv[0], s->child, s->o->ready_fd);
    not_ready(s, &err);
}

static void ready_timeout(struct supervisor *s)
{
    daemonctx_error err;
    dcx_fail_timeout(&err, s->o->argv[0], s->child, s->o->timeout_ms);
    not_ready(s, &err);
}

/* Set up before the first run: signals taken through a signalfd, fd N
 * reserved (no pipe of ours may land there), the notification socket. */
static void prepare(struct supervisor *s)
{
    daemonctx_error err;
    sigset_t set;
    forwarded_set(&set);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* SIGCHLD ignored (inherited) would reap PROGRAM before we see its status. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || sigaction(SIGCHLD, &dfl, NULL) < 0 ||
        (s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        fail(s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: cannot set up signal forwarding: %s", strerror(errno));
    /* A close-on-exec placeholder on N; each child dup2()s its pipe there. */
    if (s->o->ready == READY_FD && fcntl(s->o->ready_fd, F_GETFD) < 0 &&
        dup3(s->sigfd, s->o->ready_fd, O_CLOEXEC) < 0)
        fail(s, DAEMONCTX_STEP_PIPE, errno, "supervisor: cannot reserve fd %d: %s", s->o->ready_fd, strerror(errno));
    if (s->o->ready == READY_NOTIFY && dcx_ready_open(&s->source, DCX_READY_NOTIFY, -1, &err) < 0)
        fail_with(s, &err);
    s->envp = s->source.kind == DCX_READY_NOTIFY ? dcx_environ_with(environ, s->source.env) : environ;
    if (!s->envp)
        fail(s, DAEMONCTX_STEP_READY, ENOMEM, "supervisor: out of memory");
    orphans_prepare(s->l);
}

/* The one poll() of the loop; returns after handling what woke it. */
static void wait_once(struct supervisor *s)
{
    /* Drained after readiness too: a chatty sender must not block. */
    bool source = s->child && s->source.fd >= 0;
    struct pollfd p[6] = {
        {.fd = s->sigfd, .events = POLLIN}, {.fd = s->watch.fd, .events = POLLIN},
        {.fd = source ? s->source.fd : -1, .events = POLLIN}, {.fd = s->out.fd, .events = POLLIN},
        {.fd = s->err.fd, .events = POLLIN}, {.fd = s->l->orphans_fd, .events = POLLIN}};
    long long wake = s->child ? s->ready_by : s->restart_at;
    int k = poll(p, 6, dcx_remaining_ms(wake));
    if (k < 0 && errno != EINTR)
        fail(s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: poll: %s", strerror(errno));
    if (k == 0 && s->child) {
        ready_timeout(s);
    } else if (k == 0) {
        s->restart_at = -1;
        int r = spawn(s);
        if (r < 0) /* it ran before: the same program cannot be found now */
            exit(-r == ENOENT || -r == ENOTDIR ? EXIT_NOTFOUND : EXIT_NOEXEC);
    }
    if (k <= 0)
        return;
    /* Readiness before death: "ready, then exited at once" was ready. Death
     * before signals: a SIGTERM that comes with PROGRAM's end then finds the
     * supervisor waiting to restart, and stops it. */
    if (p[2].revents && s->child)
        source_event(s);
    if (p[3].revents || p[4].revents)
        drain_logs(s);
    if (p[1].revents && s->child) {
        int ended = dcx_watch_ended(&s->watch);
        if (ended < 0)
            fail(s, DAEMONCTX_STEP_WAIT, -ended, "cannot watch program '%s': %s", s->o->argv[0], strerror(-ended));
        if (ended)
            child_ended(s);
    }
    if (p[0].revents)
        forward_signals(s);
    if (p[5].revents)
        orphans_reap(s->l, s->child);
}

void supervise(const struct start_opts *o, struct launch *l)
{
    struct supervisor s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.l = l;
    s.watch = DCX_WATCH_NONE;
    s.source = DCX_READY_CLOSED;
    s.out.fd = s.err.fd = -1;
    s.next_delay_ms = o->restart_delay_ms;
    s.restart_at = s.ready_by = -1;
    const char *slash = strrchr(o->argv[0], '/');
    s.ident = slash ? slash + 1 : o->argv[0];
    prepare(&s);
    int r = spawn(&s);
    if (r < 0)
        fail(&s, DAEMONCTX_STEP_EXEC, -r, "cannot execute program '%s': %s", o->argv[0], strerror(-r));
    if (s.run_ready)
        run_is_ready(&s);
    for (;;)
        wait_once(&s);
}
