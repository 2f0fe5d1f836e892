/* Readiness: when the original process may go.
 *
 * The daemon is ready when open() has finished in it (READY_OPEN), when it
 * calls daemonctx_ready() or has exec'd (READY_NOTIFY, and always for a daemon
 * made by daemonctx_open_execve), or when it says so through a readiness
 * source the library makes before forking:
 *   fd N     (s6, OpenRC): a pipe; the daemon (or the program it runs) writes
 *            a newline on fd N; EOF first means it died or gave up;
 *   sd_notify (systemd): a datagram socket of ours, named to the daemon by
 *            NOTIFY_SOCKET; a line READY=1 from its process tree (notify.c).
 * The same sources serve the command's supervisor for each program it runs.
 * wait.c waits on them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int dcx_ready_open(struct dcx_ready *r, enum dcx_ready_kind kind, int target, daemonctx_error *err)
{
    *r = DCX_READY_CLOSED;
    r->kind = kind;
    r->target = target;
    if (kind == DCX_READY_FD) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return dcx_fail(err, DAEMONCTX_STEP_PIPE, errno, "cannot create the pipe for readiness fd %d: %m",
                            target);
        r->fd = p[0];
        r->child_fd = p[1];
        return 0;
    }
    if (kind != DCX_READY_NOTIFY)
        return 0;
    static const char prefix[] = "NOTIFY_SOCKET=";
    memcpy(r->env, prefix, sizeof prefix - 1);
    r->fd = dcx_notify_listen(r->env + sizeof prefix - 1, sizeof r->env - (sizeof prefix - 1));
    if (r->fd < 0) {
        int e = -r->fd;
        r->fd = -1;
        return dcx_fail(err, DAEMONCTX_STEP_PIPE, e, "cannot create the notification socket: %m");
    }
    return 0;
}

int dcx_ready_child_setup(const struct dcx_ready *r)
{
    if (r->kind != DCX_READY_FD || r->child_fd < 0)
        return 0;
    int n;
    if (r->child_fd == r->target)
        n = fcntl(r->target, F_SETFD, 0);
    else
        do /* dup2 clears close-on-exec on the copy */
            n = dup2(r->child_fd, r->target);
        while (n < 0 && (errno == EINTR || errno == EBUSY));
    return n < 0 ? -errno : 0;
}

void dcx_ready_forget_child_end(struct dcx_ready *r)
{
    if (r->child_fd >= 0)
        dcx_close(r->child_fd);
    r->child_fd = -1;
}

enum dcx_ready_event dcx_ready_read(struct dcx_ready *r)
{
    if (r->kind == DCX_READY_NOTIFY)
        return dcx_notify_got_ready(r->fd, r->main_pid) ? DCX_READY_DONE : DCX_READY_PENDING;
    char buf[256];
    ssize_t n = read(r->fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? DCX_READY_PENDING : DCX_READY_EOF;
    if (n == 0)
        return DCX_READY_EOF;
    return memchr(buf, '\n', (size_t)n) ? DCX_READY_DONE : DCX_READY_PENDING;
}

void dcx_ready_close(struct dcx_ready *r)
{
    dcx_ready_forget_child_end(r);
    if (r->fd >= 0)
        dcx_close(r->fd);
    r->fd = -1;
    r->kind = DCX_READY_NONE;
}

char **dcx_environ_with(char *const envp[], const char *entry)
{
    size_t n = 0;
    while (envp[n])
        n++;
    char **out = malloc((n + 2) * sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], "NOTIFY_SOCKET=", 14) != 0)
            out[k++] = envp[i];
    /* The strings stay the caller's; exec copies them. */
    if (entry)
        memcpy(&out[k++], &entry, sizeof entry);
    out[k] = NULL;
    return out;
}

/* "program 'x' (PID 12)" or "daemon PID 12". */
static void name_child(char *buf, size_t size, const char *program, pid_t pid)
{
    if (program)
        (void)dcx_format(buf, size, "program '%s' (PID %d)", program, (int)pid);
    else
        (void)dcx_format(buf, size, "daemon PID %d", (int)pid);
}

int dcx_fail_died(daemonctx_error *err, const char *program, pid_t pid, const siginfo_t *si)
{
    char who[256], how[64];
    name_child(who, sizeof who, program, pid);
    dcx_describe_exit(si, how, sizeof how);
    return dcx_fail(err, DAEMONCTX_STEP_DIED, ECHILD, "%s %s before it was ready", who, how);
}

int dcx_fail_gave_up(daemonctx_error *err, const char *program, pid_t pid, int fd)
{
    char who[256];
    name_child(who, sizeof who, program, pid);
    return dcx_fail(err, DAEMONCTX_STEP_DIED, EPIPE, "%s closed fd %d before it was ready; it was killed", who, fd);
}

int dcx_fail_timeout(daemonctx_error *err, const char *program, pid_t pid, unsigned ms)
{
    char who[256], seconds[32];
    name_child(who, sizeof who, program, pid);
    return dcx_fail(err, DAEMONCTX_STEP_TIMEOUT, ETIMEDOUT, "%s was not ready within %s seconds; it was killed", who,
                    dcx_format_seconds(ms, seconds, sizeof seconds));
}

/* ------------------------------------------------------- the open() side */

/* Occupy fd N until the fork (with a close-on-exec placeholder when it is
 * free), so that none of the fds the daemon keeps can be there when it puts
 * the write end on N. */
static int reserve_target(int target, int *placeholder)
{
    *placeholder = -1;
    if (fcntl(target, F_GETFD) >= 0)
        return 0;
    int fd;
    do
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    if (fd != target && dup3(fd, target, O_CLOEXEC) < 0) {
        int e = errno;
        dcx_close(fd);
        return -e;
    }
    if (fd != target)
        dcx_close(fd);
    *placeholder = target;
    return 0;
}

static int conflicts(const daemonctx *ctx, int target)
{
    for (size_t i = 0; i < ctx->n_preserve; i++)
        if (ctx->files_preserve[i] == target)
            return 1;
    for (int i = 0; i < 3; i++)
        if (ctx->stdio[i] == target)
            return 1;
    return 0;
}

int dcx_plan_ready(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    if (ctx->ready_mode == DAEMONCTX_READY_FD && ctx->ready_fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "ready_mode FD needs a readiness fd (daemonctx_set_ready_fd)");
    if (!plan->fork || (ctx->ready_mode != DAEMONCTX_READY_FD && ctx->ready_mode != DAEMONCTX_READY_SD_NOTIFY))
        return dcx_notify_prepare(getenv("NOTIFY_SOCKET"), err);
    if (ctx->ready_mode == DAEMONCTX_READY_SD_NOTIFY) {
        /* The daemon's environment names it (environ.c). */
        int r = dcx_ready_open(&plan->ready, DCX_READY_NOTIFY, -1, err);
        if (r < 0)
            return r;
        /* daemonctx_ready() in the daemon speaks to our socket. */
        return dcx_notify_prepare(plan->ready.env + strlen("NOTIFY_SOCKET="), err);
    }
    int target = ctx->ready_fd;
    if (conflicts(ctx, target))
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "readiness fd %d is also a preserved file or a standard stream", target);
    int r = reserve_target(target, &plan->ready_placeholder);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIPE, -r, "cannot reserve readiness fd %d: %m", target);
    if ((r = dcx_ready_open(&plan->ready, DCX_READY_FD, target, err)) < 0)
        return r;
    return dcx_notify_prepare(getenv("NOTIFY_SOCKET"), err);
}

int dcx_daemon_ready_fd(const struct dcx_plan *plan, daemonctx_error *err)
{
    int r = dcx_ready_child_setup(&plan->ready);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_READY, -r, "cannot put the readiness pipe on fd %d: %m",
                        plan->ready.target);
    return 0;
}

/* ------------------------------------------------------ the daemon side */

static void close_report(daemonctx *ctx)
{
    if (ctx->report_fd >= 0) {
        dcx_close(ctx->report_fd);
        ctx->report_fd = -1;
    }
}

/* fd N: the newline, then close it, as s6 expects. */
static int write_ready_fd(int fd, daemonctx_error *err)
{
    ssize_t n;
    do
        n = write(fd, "\n", 1);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EBADF)
        return dcx_fail(err, DAEMONCTX_STEP_READY, errno, "cannot write to readiness fd %d: %m", fd);
    if (n == 1)
        dcx_close(fd);
    return 0;
}

/* Detached, the original process waits: it is told over the channel, and
 * the readiness source the library made (fd N's pipe, its NOTIFY_SOCKET) is
 * dropped unused (a write to a pipe whose reader just left would kill us
 * with SIGPIPE). Not detached, whoever started us is told as it asked: a
 * newline on its fd N, READY=1 on its NOTIFY_SOCKET. */
int daemonctx_ready(daemonctx *ctx, daemonctx_error *err)
{
    dcx_clear(err);
    if (!ctx || !ctx->is_open)
        return dcx_fail(err, DAEMONCTX_STEP_READY, EINVAL, "daemonctx_ready() called before daemonctx_open()");
    if (ctx->report_fd >= 0) {
        int r = dcx_report_send(ctx->report_fd, DCX_REC_READY, getpid(), NULL);
        close_report(ctx);
        if (ctx->ready_mode == DAEMONCTX_READY_FD)
            dcx_close(ctx->ready_fd);
        if (r < 0)
            return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone",
                            (int)getpid());
        if (ctx->ready_mode == DAEMONCTX_READY_SD_NOTIFY)
            return dcx_notify_prepare(NULL, err);
        return dcx_notify_ready(err);
    }
    if (ctx->ready_mode == DAEMONCTX_READY_FD) {
        int r = write_ready_fd(ctx->ready_fd, err);
        if (r < 0)
            return r;
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
        if (r < 0) { /* the original process is gone: this start failed for whoever ran it */
            close_report(ctx);
            return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone",
                            (int)getpid());
        }
    }
    execv(path, argv);
    int r = dcx_fail(err, DAEMONCTX_STEP_EXEC, errno, "cannot execute %s: %m", path);
    if (ctx->report_fd >= 0)
        (void)daemonctx_report_error(ctx, err);
    return r;
}
