/* The report channel: how a failure after the fork reaches the process that
 * called open(), and how it learns the daemon is up.
 *
 * An AF_UNIX SOCK_SEQPACKET pair, close-on-exec, made before the first fork:
 * one fixed-size record per message (step, errno, message), EOF when every
 * daemon-side copy is closed, and send(MSG_NOSIGNAL) so a daemon whose
 * original process was killed gets EPIPE instead of dying of SIGPIPE. The
 * sequence the original process reads: PID, then DONE (open() finished),
 * READY (daemonctx_ready()) or EXEC and EOF (the exec succeeded), or ERROR.
 * EOF before any of those means the daemon died. wait.c reads it. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

int dcx_report_open(struct dcx_plan *plan, daemonctx_error *err)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, plan->report) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIPE, errno, "cannot create the report channel: %m");
    /* With fds 0-2 closed in the caller, the channel would land there and
     * be overwritten by the stdio redirection. */
    for (int i = 0; i < 2; i++)
        if ((plan->report[i] = dcx_fd_above(plan->report[i], 3)) < 0)
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

int dcx_report_recv(int fd, struct dcx_record *rec)
{
    ssize_t n;
    do
        n = recv(fd, rec, sizeof *rec, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof *rec)
        return -EPROTO;
    rec->err.message[DAEMONCTX_MESSAGE_MAX - 1] = '\0';
    if ((unsigned)rec->err.step >= DAEMONCTX_STEP_COUNT)
        rec->err.step = DAEMONCTX_STEP_REPORT;
    return 1;
}

void dcx_report_fatal(int fd, const daemonctx_error *err)
{
    if (fd >= 0)
        (void)dcx_report_send(fd, DCX_REC_ERROR, getpid(), err);
    _exit(1);
}
