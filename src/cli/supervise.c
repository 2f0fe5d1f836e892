/* The supervisor (`start --supervise`, `run`): it stays PROGRAM's parent.
 *
 * It is what the pidfile names and it holds the lock (PROGRAM can neither drop
 * nor leak it); it forwards every catchable signal to PROGRAM, waits for each
 * run's readiness with the library's readiness sources (the first lets the
 * invoker go, or tells NOTIFY_SOCKET: daemonctx_ready), writes PROGRAM's
 * output lines to the files it owns or to syslog, removes the pidfile when
 * PROGRAM ends and ends the way PROGRAM did. With --restart it starts
 * PROGRAM again after an abnormal end, or a run not ready in time, with an
 * exponential back-off.
 *
 * One poll() loop over a signalfd, PROGRAM's watch (a pidfd, or SIGCHLD
 * without pidfds), the readiness source, PROGRAM's output pipes and the
 * control socket: no signal handlers, no SIGCHLD races, no sleeping. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervise.h"

extern char **environ;

/* An exit status meaning "my configuration is wrong" (sysexits.h EX_CONFIG):
 * restarting cannot help. */
#define EXIT_NO_RESTART 78
/* Uptime after which PROGRAM counts as healthy and the back-off starts over. */
#define HEALTHY_UPTIME_MS 10000

/* Fail before the first readiness: tell the invoker (or, not detached,
 * print), exit; exit() removes the pidfile. */
static void fail_with(struct supervisor *s, const daemonctx_error *err) __attribute__((noreturn));
static void fail_with(struct supervisor *s, const daemonctx_error *err)
{
    report_failure(s->l, err);
    exit(exit_code_for(err));
}

void supervisor_fail(struct supervisor *s, enum daemonctx_step step, int errnum, const char *fmt, ...)
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

/* PROGRAM's output goes to a pipe of ours for each stream with a sink. */
static int output_pipes(struct supervisor *s)
{
    for (int i = 0; i < 2; i++) {
        struct log_stream *ls = &s->streams[i];
        dcx_close(ls->fd); /* a previous run's: only its orphans could still write */
        ls->fd = -1;
        ls->len = 0;
        s->run.std[i + 1] = i + 1;
        if (!ls->sink)
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        ls->fd = p[0];
        s->run.std[i + 1] = p[1];
        (void)fcntl(ls->fd, F_SETFL, O_NONBLOCK);
    }
    return 0;
}

static void close_child_ends(struct supervisor *s)
{
    for (int i = 1; i < 3; i++)
        if (s->run.std[i] > 2)
            dcx_close(s->run.std[i]);
    dcx_ready_forget_child_end(&s->source);
}

/* Start PROGRAM: 0, or -1 with ERR (nothing runs). */
static int spawn(struct supervisor *s, daemonctx_error *err)
{
    int r = output_pipes(s);
    if (r >= 0 && s->o->ready == READY_FD) {
        dcx_ready_close(&s->source);
        r = dcx_ready_open(&s->source, DCX_READY_FD, s->o->ready_fd, err);
    } else if (r < 0) {
        daemon_error(err, DAEMONCTX_STEP_PIPE, -r, "cannot create the pipes for PROGRAM's output");
    }
    pid_t pid = r < 0 ? -1 : program_spawn(&s->run, err);
    close_child_ends(s);
    if (pid < 0)
        return -1;
    r = dcx_watch_open(&s->watch, pid);
    if (r < 0) { /* unsupervised, it must not run */
        siginfo_t si;
        dcx_watch_kill(&s->watch, &si);
        daemon_error(err, DAEMONCTX_STEP_WAIT, -r, "cannot watch PROGRAM");
        return -1;
    }
    if (s->watch.no_pidfd && s->started_ms == 0)
        print_verbose(s->o->verbose, "no pidfd (%s): watching PID %d through SIGCHLD", strerror(s->watch.no_pidfd),
                      (int)pid);
    s->child = s->source.main_pid = pid;
    s->group = s->run.own_group ? pid : 0;
    s->started_ms = dcx_now_ms();
    s->run_ready = s->o->ready == READY_EXEC;
    s->ready_by = s->run_ready ? -1 : dcx_deadline_after(s->o->timeout_ms);
    return 0;
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

/* PROGRAM ended with SI, for good: end the same way. `start`: its exit code
 * through exit() (which removes the pidfile), a signal through the library's
 * terminate action; `run`: init.c. */
static void finish(struct supervisor *s, const siginfo_t *si) __attribute__((noreturn));
static void finish(struct supervisor *s, const siginfo_t *si)
{
    if (s->o->run)
        init_exit(s, si);
    daemonctx_error err;
    if (daemonctx_leave_cgroup(s->l->ctx, &err) < 0)
        print_verbose(s->o->verbose, "supervisor: %s", err.message);
    if (si->si_code == CLD_EXITED)
        exit(si->si_status);
    /* Die of the signal, but without dumping the supervisor's core. */
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    daemonctx_terminate(s->l->ctx, si->si_status);
}

/* What PROGRAM wrote, out to the sinks; a pipe at EOF is closed. */
static void drain_logs(struct supervisor *s)
{
    for (int i = 0; i < 2; i++) {
        struct log_stream *ls = &s->streams[i];
        if (ls->fd >= 0 && log_drain(ls, s->child) == 1) {
            dcx_close(ls->fd);
            ls->fd = -1;
        }
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

/* PROGRAM (reaped, SI) ended. */
static void supervisor_run_ended(struct supervisor *s, const siginfo_t *si, const daemonctx_error *err)
{
    pid_t pid = s->child;
    dcx_watch_close(&s->watch);
    drain_logs(s);
    s->child = 0;
    init_end_others(s);
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
    supervisor_run_ended(s, &si, NULL);
}

/* SIGCHLD as a reaper: orphans reaped, PROGRAM's end handled. */
static void reap(struct supervisor *s)
{
    siginfo_t si;
    if (init_reap(s, &si))
        supervisor_run_ended(s, &si, NULL);
}

/* This run failed to become ready (ERR says how): killed, and ended. */
static void not_ready(struct supervisor *s, const daemonctx_error *err)
{
    siginfo_t si;
    dcx_watch_kill(&s->watch, &si);
    supervisor_run_ended(s, &si, err);
}

static void on_signals(struct supervisor *s)
{
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(s->sigfd, &info, sizeof info);
        if (n != (ssize_t)sizeof info)
            return;
        int signo = (int)info.ssi_signo;
        if (signo == SIGCHLD) {
            reap(s);
            continue;
        }
        if (signo == SIGTERM || signo == SIGINT || signo == SIGQUIT) {
            s->stopping = true;
            if (!s->child) { /* waiting to restart: nothing to pass it to */
                s->stop_signal = signo;
                if (s->o->run) {
                    siginfo_t si = {.si_code = CLD_KILLED, .si_status = signo};
                    init_exit(s, &si);
                }
                daemonctx_terminate(s->l->ctx, signo);
            }
        }
        init_forward(s, signo, info.ssi_code == SI_KERNEL);
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

/* PROGRAM's output: each stream with a sink gets a pipe, in PROGRAM's
 * place; the sinks are the supervisor's own stdout and stderr (where the
 * library put the -o/-e files), or syslog. */
static void prepare_output(struct supervisor *s)
{
    struct log_sink *out = &s->sinks[0], *err = &s->sinks[1];
    const struct launch *l = s->l;
    if (l->syslog_fd >= 0) {
        *out = (struct log_sink){.kind = SINK_SYSLOG, .fd = l->syslog_fd, .also = -1, .ident = s->ident};
        out->priority = s->o->syslog_priority;
        s->streams[0].sink = s->streams[1].sink = out;
    }
    struct stat st1, st2;
    bool same = l->log_path[1] && l->log_path[2] && fstat(1, &st1) == 0 && fstat(2, &st2) == 0 &&
                st1.st_dev == st2.st_dev && st1.st_ino == st2.st_ino;
    if (l->log_path[1]) {
        *out = (struct log_sink){.kind = SINK_FILE, .fd = 1, .also = same ? 2 : -1, .path = l->log_path[1]};
        s->streams[0].sink = out;
    }
    if (l->log_path[2] && !same)
        *err = (struct log_sink){.kind = SINK_FILE, .fd = 2, .also = -1, .path = l->log_path[2]};
    if (l->log_path[2])
        s->streams[1].sink = same ? out : err;
    for (int i = 0; i < 2; i++) {
        out[i].timestamps = s->o->log_timestamps;
        if (s->streams[i].sink && !(s->streams[i].buf = malloc(LOG_LINE_MAX)))
            supervisor_fail(s, DAEMONCTX_STEP_STDIO, ENOMEM, "supervisor: out of memory");
    }
}

/* Set up before the first run: signals taken through a signalfd, fd N
 * reserved (no pipe of ours may land there), the notification socket,
 * PROGRAM's environment and output. */
static void prepare(struct supervisor *s)
{
    daemonctx_error err;
    int e = init_prepare(s);
    if (e < 0)
        supervisor_fail(s, DAEMONCTX_STEP_FORK, -e, "cannot become a child subreaper: %s", strerror(-e));
    if (sigprocmask(SIG_BLOCK, &s->forwarded, NULL) < 0 ||
        (s->sigfd = signalfd(-1, &s->forwarded, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        supervisor_fail(s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: cannot set up signal forwarding: %s",
                        strerror(errno));
    /* A close-on-exec placeholder on N; each child dup2()s its pipe there. */
    if (s->o->ready == READY_FD && fcntl(s->o->ready_fd, F_GETFD) < 0 &&
        dup3(s->sigfd, s->o->ready_fd, O_CLOEXEC) < 0)
        supervisor_fail(s, DAEMONCTX_STEP_PIPE, errno, "supervisor: cannot reserve fd %d: %s", s->o->ready_fd,
                        strerror(errno));
    if (s->o->ready == READY_NOTIFY && dcx_ready_open(&s->source, DCX_READY_NOTIFY, -1, &err) < 0)
        fail_with(s, &err);
    /* PROGRAM's readiness is ours to see: it does not get our NOTIFY_SOCKET. */
    s->run.envp = dcx_environ_with(environ, s->source.kind == DCX_READY_NOTIFY ? s->source.env : NULL);
    if (!s->run.envp)
        supervisor_fail(s, DAEMONCTX_STEP_READY, ENOMEM, "supervisor: out of memory");
    prepare_output(s);
    if (control_open(s) < 0)
        supervisor_fail(s, DAEMONCTX_STEP_PIPE, errno, "supervisor: cannot open its control socket: %s",
                        strerror(errno));
}

/* A restart that cannot start PROGRAM (it ran before): the end, with the
 * exit code of the start that failed. */
static void restart_failed(struct supervisor *s, const daemonctx_error *err) __attribute__((noreturn));
static void restart_failed(struct supervisor *s, const daemonctx_error *err)
{
    print_error("%s", err->message);
    siginfo_t si = {.si_code = CLD_EXITED, .si_status = exit_code_for(err)};
    finish(s, &si);
}

/* The deadline of this wait passed: readiness, or a restart. */
static void on_timeout(struct supervisor *s)
{
    daemonctx_error err;
    if (s->child) {
        ready_timeout(s);
        return;
    }
    s->restart_at = -1;
    if (spawn(s, &err) < 0)
        restart_failed(s, &err);
}

/* One wakeup, in the order that settles a tie right: readiness before death
 * ("ready, then exited at once" was ready), death before signals (a SIGTERM
 * that comes with PROGRAM's end then finds the supervisor waiting to
 * restart, and stops it). */
static void on_wakeup(struct supervisor *s, const struct pollfd *p)
{
    if (p[2].revents && s->child)
        source_event(s);
    if (p[3].revents || p[4].revents)
        drain_logs(s);
    if (p[1].revents && s->child) {
        int ended = dcx_watch_ended(&s->watch);
        if (ended < 0)
            supervisor_fail(s, DAEMONCTX_STEP_WAIT, -ended, "cannot watch program '%s': %s", s->o->argv[0],
                            strerror(-ended));
        if (ended)
            child_ended(s);
        else if (s->reaper) /* its SIGCHLD may have been an orphan's */
            reap(s);
    }
    if (p[0].revents)
        on_signals(s);
    if (p[5].revents)
        control_serve(s);
}

static void wait_once(struct supervisor *s)
{
    /* The source is drained after readiness too: a chatty sender must not
     * block. */
    struct pollfd p[6] = {
        {.fd = s->sigfd, .events = POLLIN},
        {.fd = s->watch.fd, .events = POLLIN},
        {.fd = s->child ? s->source.fd : -1, .events = POLLIN},
        {.fd = s->streams[0].fd, .events = POLLIN},
        {.fd = s->streams[1].fd, .events = POLLIN},
        {.fd = s->control, .events = POLLIN},
    };
    int k = poll(p, 6, dcx_remaining_ms(s->child ? s->ready_by : s->restart_at));
    if (k < 0 && errno != EINTR)
        supervisor_fail(s, DAEMONCTX_STEP_SIGNALS, errno, "supervisor: poll: %s", strerror(errno));
    if (k == 0)
        on_timeout(s);
    else if (k > 0)
        on_wakeup(s, p);
}

void supervise(const struct start_opts *o, struct launch *l)
{
    static struct supervisor s; /* one per process, and its buffers not on the stack */
    daemonctx_error err;
    s.o = o;
    s.l = l;
    s.watch = DCX_WATCH_NONE;
    s.source = DCX_READY_CLOSED;
    s.streams[0].fd = s.streams[1].fd = s.control = -1;
    s.next_delay_ms = o->restart_delay_ms;
    s.restart_at = s.ready_by = -1;
    const char *slash = strrchr(o->argv[0], '/');
    s.ident = slash ? slash + 1 : o->argv[0];
    s.run = (struct program_run){
        .o = o, .ctx = l->program_ctx, .program = l->program, .argv = o->argv, .source = &s.source, .std = {0, 1, 2}};
    prepare(&s);
    s.run.own_group = !s.terminal;
    if (spawn(&s, &err) < 0)
        fail_with(&s, &err);
    if (s.run_ready)
        run_is_ready(&s);
    /* poll() is ours too in a static build. */
    const void *const loop[] = {(const void *)(uintptr_t)supervise, (const void *)(uintptr_t)wait_once,
                                (const void *)(uintptr_t)dcx_remaining_ms, (const void *)(uintptr_t)poll};
    idle_give_back(loop, 4);
    for (;;)
        wait_once(&s);
}
