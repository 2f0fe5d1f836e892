/* The original process's wait for its daemon: the one wait of a start.
 *
 * One poll() over the report channel (report.c), the readiness source
 * (ready.c), the watch of the child that matters now (watch.c: first the
 * intermediate child, then the daemon, which becomes our child when the
 * intermediate is gone, as we are a child subreaper meanwhile), and a
 * signalfd of the signals that end an interactive start (Ctrl-C, a hangup,
 * kill), all under the deadline. It ends when the daemon is ready, or with
 * the failure: an error the daemon reported, its death before it was ready
 * (with its status), readiness not come in time, or an interruption; then
 * nothing of this start is left (open.c removes the pidfile). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

struct waiter {
    daemonctx *ctx;
    struct dcx_plan *plan;
    const char *program; /* what the daemon execs, for messages; NULL */
    pid_t intermediate;  /* 0 once reaped */
    pid_t group;         /* the intermediate's process group and session */
    pid_t daemon;        /* 0 until its PID record */
    struct dcx_watch watch; /* the intermediate's, then the daemon's */
    int sigfd;
    long long deadline;
    bool channel_open;
    bool exec_pending; /* EXEC came: EOF means the exec succeeded */
    bool up;           /* set up and running: only readiness is awaited */
};

/* READY, or the failure: the daemon REPORTED its error (and exits by
 * itself), it ENDED (reaped), or the wait was ABORTED (kill what runs). */
enum outcome { PENDING, READY, REPORTED, ENDED, ABORTED };

/* The daemon is our child once the intermediate child is gone. */
static int watch_daemon(struct waiter *w, daemonctx_error *err)
{
    if (w->intermediate > 0 || w->daemon <= 0 || w->watch.pid == w->daemon)
        return 0;
    dcx_watch_close(&w->watch);
    int r = dcx_watch_open(&w->watch, w->daemon);
    return r < 0 ? dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot watch daemon PID %d: %m", (int)w->daemon) : 0;
}

static int reap_intermediate(struct waiter *w, daemonctx_error *err)
{
    siginfo_t si;
    if (w->intermediate <= 0)
        return 0;
    pid_t pid = w->intermediate;
    int r = dcx_watch_reap(&w->watch, &si);
    dcx_watch_close(&w->watch);
    w->intermediate = 0;
    if (r < 0 && r != -ECHILD)
        return dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot wait for the intermediate child PID %d: %m", (int)pid);
    return watch_daemon(w, err);
}

static bool has_source(const struct waiter *w)
{
    return w->plan->ready.kind != DCX_READY_NONE;
}

static enum outcome on_record(struct waiter *w, const struct dcx_record *rec, daemonctx_error *err)
{
    switch (rec->type) {
    case DCX_REC_PID:
        w->daemon = w->plan->ready.main_pid = rec->pid;
        w->ctx->daemon_pid = rec->pid;
        return watch_daemon(w, err) < 0 ? ABORTED : PENDING;
    case DCX_REC_READY:
        return READY;
    case DCX_REC_DONE:
        w->up = true;
        return has_source(w) ? PENDING : READY;
    case DCX_REC_EXEC:
        w->exec_pending = true;
        return PENDING;
    case DCX_REC_ERROR:
        if (err)
            *err = rec->err;
        return REPORTED;
    default:
        dcx_fail(err, DAEMONCTX_STEP_REPORT, EPROTO, "unknown report %u from the daemon", (unsigned)rec->type);
        return ABORTED;
    }
}

/* The channel closed before the daemon was up: it died (its status tells),
 * or it closed the channel some other way (an exec without EXEC). */
static enum outcome on_early_eof(struct waiter *w, daemonctx_error *err)
{
    siginfo_t si;
    if (reap_intermediate(w, err) < 0)
        return ABORTED;
    if (w->daemon <= 0) {
        dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "the daemon ended before it was ready");
        return ABORTED;
    }
    if (dcx_watch_wait(&w->watch, dcx_now_ms() + DCX_EXIT_AFTER_EOF_MS) == 1 && dcx_watch_reap(&w->watch, &si) == 0) {
        dcx_fail_died(err, w->program, w->daemon, &si);
        return ENDED;
    }
    dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "daemon PID %d closed its report channel before it was ready; it was killed",
             (int)w->daemon);
    return ABORTED;
}

/* Every record there is: a daemon that reports and exits at once must be
 * heard before its death is. */
static enum outcome on_channel(struct waiter *w, daemonctx_error *err)
{
    struct dcx_record rec;
    int r = 0;
    enum outcome got = PENDING;
    while (got == PENDING && (r = dcx_report_recv(w->plan->report[0], &rec)) > 0)
        got = on_record(w, &rec, err);
    if (got != PENDING || r == -EAGAIN)
        return got;
    if (r < 0) {
        dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "cannot read the daemon's report: %m");
        return ABORTED;
    }
    /* EOF: every daemon-side end is closed, the intermediate child's too
     * (it is exiting). */
    w->channel_open = false;
    if (w->exec_pending)
        w->up = true;
    if (w->up)
        return has_source(w) ? PENDING : READY;
    return on_early_eof(w, err);
}

/* The readiness pipe closed: dead (its status tells) or given up. */
static enum outcome on_source_eof(struct waiter *w, daemonctx_error *err)
{
    siginfo_t si;
    if (reap_intermediate(w, err) < 0)
        return ABORTED;
    if (w->watch.pid != w->daemon || w->daemon <= 0) {
        dcx_fail_gave_up(err, w->program, w->daemon, w->plan->ready.target);
        return ABORTED;
    }
    if (dcx_watch_wait(&w->watch, dcx_now_ms() + DCX_EXIT_AFTER_EOF_MS) == 1 && dcx_watch_reap(&w->watch, &si) == 0) {
        dcx_fail_died(err, w->program, w->daemon, &si);
        return ENDED;
    }
    dcx_fail_gave_up(err, w->program, w->daemon, w->plan->ready.target);
    return ABORTED;
}

static enum outcome on_source(struct waiter *w, daemonctx_error *err)
{
    switch (dcx_ready_read(&w->plan->ready)) {
    case DCX_READY_DONE:
        return READY;
    case DCX_READY_EOF:
        return on_source_eof(w, err);
    default:
        return PENDING;
    }
}

static enum outcome on_child(struct waiter *w, daemonctx_error *err)
{
    enum outcome said = w->channel_open ? on_channel(w, err) : PENDING;
    if (said != PENDING)
        return said;
    int r = dcx_watch_ended(&w->watch);
    if (r == 0)
        return PENDING;
    if (r < 0) {
        dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot watch the daemon's start: %m");
        return ABORTED;
    }
    if (w->intermediate > 0)
        return reap_intermediate(w, err) < 0 ? ABORTED : PENDING;
    siginfo_t si;
    if (dcx_watch_reap(&w->watch, &si) < 0)
        memset(&si, 0, sizeof si);
    dcx_fail_died(err, w->program, w->daemon, &si);
    return ENDED;
}

static enum outcome on_signal(struct waiter *w, daemonctx_error *err)
{
    struct signalfd_siginfo info;
    ssize_t n;
    do
        n = read(w->sigfd, &info, sizeof info);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof info)
        return PENDING;
    int signo = (int)info.ssi_signo;
    const char *name = dcx_signal_name(signo);
    w->plan->interrupted_by = signo;
    if (w->daemon > 0 && w->program)
        dcx_fail(err, DAEMONCTX_STEP_INTERRUPTED, EINTR,
                 "interrupted by SIG%s before program '%s' (PID %d) was ready; it was killed", name ? name : "?",
                 w->program, (int)w->daemon);
    else
        dcx_fail(err, DAEMONCTX_STEP_INTERRUPTED, EINTR, "interrupted by SIG%s before daemon PID %d was ready; it was killed",
                 name ? name : "?", (int)w->daemon);
    return ABORTED;
}

/* One wakeup, in the order that settles a tie right: what the daemon said
 * before its death (a program that says ready and exits at once was ready),
 * its death before a signal that came with it. */
static enum outcome on_wakeup(struct waiter *w, const struct pollfd *p, daemonctx_error *err)
{
    enum outcome got = PENDING;
    if (p[0].revents)
        got = on_channel(w, err);
    if (got == PENDING && p[1].revents)
        got = on_source(w, err);
    if (got == PENDING && p[2].revents)
        got = on_child(w, err);
    if (got == PENDING && p[3].revents)
        got = on_signal(w, err);
    return got;
}

static enum outcome wait_loop(struct waiter *w, daemonctx_error *err)
{
    for (;;) {
        bool source = has_source(w) && w->up && w->daemon > 0;
        struct pollfd p[4] = {
            {.fd = w->channel_open ? w->plan->report[0] : -1, .events = POLLIN},
            {.fd = source ? w->plan->ready.fd : -1, .events = POLLIN},
            {.fd = w->watch.fd, .events = POLLIN},
            {.fd = w->sigfd, .events = POLLIN},
        };
        int n = poll(p, 4, dcx_remaining_ms(w->deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            dcx_fail(err, DAEMONCTX_STEP_WAIT, errno, "cannot wait for the daemon: %m");
            return ABORTED;
        }
        if (n == 0) {
            dcx_fail_timeout(err, w->program, w->daemon, w->ctx->timeout_ms);
            return ABORTED;
        }
        enum outcome got = on_wakeup(w, p, err);
        if (got != PENDING)
            return got;
    }
}

/* Nothing of a failed start stays: the intermediate child first (so that it
 * forks nothing more), then its whole session's process group, which holds
 * the daemon and what it forked; each reaped. A daemon that reported an
 * error gets a moment to exit by itself. */
static void leave_nothing(struct waiter *w, enum outcome got)
{
    siginfo_t si;
    pid_t group = w->group;
    if (got == REPORTED) {
        long long until = dcx_now_ms() + 5000;
        if (w->intermediate > 0 && dcx_watch_wait(&w->watch, until) == 1)
            (void)reap_intermediate(w, NULL);
        if (w->intermediate <= 0 && w->watch.pid > 0)
            (void)dcx_watch_wait(&w->watch, until);
    }
    if (w->intermediate > 0) {
        (void)kill(w->intermediate, SIGKILL);
        (void)reap_intermediate(w, NULL);
    }
    if (group > 1 && group != getpgrp())
        (void)kill(-group, SIGKILL);
    if (w->watch.pid > 0)
        dcx_watch_kill(&w->watch, &si);
    dcx_watch_close(&w->watch);
    /* What else of that group came to us (the daemon before its PID record,
     * its children): reaped until none is left. */
    int status;
    while (group > 1 && group != getpgrp() && (waitpid(-group, &status, 0) > 0 || errno == EINTR))
        ;
}

static int stops_open(sigset_t *stops, const sigset_t *restore)
{
    sigset_t waiting;
    sigemptyset(stops);
    dcx_stop_signals_add(stops);
    sigorset(&waiting, restore, stops);
    if (sigprocmask(SIG_SETMASK, &waiting, NULL) < 0)
        return -errno;
    /* Best effort: without a signalfd the signals act as they would. */
    int fd = signalfd(-1, stops, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -1 : fd;
}

int dcx_wait_daemon(daemonctx *ctx, struct dcx_plan *plan, pid_t intermediate, const sigset_t *restore,
                    daemonctx_error *err)
{
    struct waiter w = {.ctx = ctx,
                       .plan = plan,
                       .program = plan->exec ? plan->exec->path : NULL,
                       .intermediate = intermediate,
                       .group = intermediate,
                       .watch = DCX_WATCH_NONE,
                       .deadline = dcx_deadline_after(ctx->timeout_ms),
                       .channel_open = true};
    sigset_t stops;
    w.sigfd = stops_open(&stops, restore);
    enum outcome got = ABORTED;
    int r = dcx_watch_open(&w.watch, intermediate);
    if (r < 0)
        dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot watch the intermediate child PID %d: %m", (int)intermediate);
    else
        got = wait_loop(&w, err);
    if (got == READY)
        (void)reap_intermediate(&w, NULL);
    else
        leave_nothing(&w, got);
    dcx_watch_close(&w.watch);
    if (w.sigfd >= 0)
        dcx_close(w.sigfd);
    (void)sigprocmask(SIG_SETMASK, restore, NULL);
    if (got == READY)
        return 0;
    ctx->daemon_pid = 0;
    return err && err->errnum ? -err->errnum : -ECHILD;
}
