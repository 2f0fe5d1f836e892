/* Redirecting the standard streams: to the fds the caller gave, else to
 * /dev/null, opened before any chroot so a jail without /dev still works.
 * A standard fd the caller listed in files_preserve, with no stream given for
 * it, stays as inherited. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

static const char *const stream_names[3] = {"stdin", "stdout", "stderr"};

static bool preserved(const daemonctx *ctx, int fd)
{
    for (size_t i = 0; i < ctx->n_preserve; i++)
        if (ctx->files_preserve[i] == fd)
            return true;
    return false;
}

int dcx_fd_above(int fd, int min)
{
    if (fd < 0 || fd >= min)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
    int e = errno;
    dcx_close(fd);
    errno = e;
    return moved;
}

int dcx_plan_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    bool need_null = false;
    for (int i = 0; i < 3; i++) {
        if (ctx->stdio[i] >= 0 && fcntl(ctx->stdio[i], F_GETFD) < 0)
            return dcx_fail(err, DAEMONCTX_STEP_STDIO, errno, "%s: fd %d: %m", stream_names[i], ctx->stdio[i]);
        /* A preserved standard fd that is closed gets /dev/null all the same:
         * the daemon's next open() would otherwise become its stdout. */
        plan->to_devnull[i] = ctx->stdio[i] < 0 && (!preserved(ctx, i) || fcntl(i, F_GETFD) < 0);
        need_null |= plan->to_devnull[i];
    }
    if (!need_null)
        return 0;
    int fd;
    do
        fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    /* With fds 0-2 closed in the caller, /dev/null would land on one of them
     * and be closed as a source once the streams are redirected. */
    fd = dcx_fd_above(fd, 3);
    if (fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_DEVNULL, errno, "cannot open /dev/null: %m");
    plan->devnull = fd;
    return 0;
}

static int dup_onto(int from, int to)
{
    int r;
    do
        r = dup2(from, to);
    while (r < 0 && (errno == EINTR || errno == EBUSY));
    return r < 0 ? -errno : 0;
}

/* SRC onto the standard stream I. */
static int put_stream(int i, int src, daemonctx_error *err)
{
    if (src == i) {
        /* dup2 onto itself keeps FD_CLOEXEC, and a program the daemon execs
         * must inherit its standard streams. */
        if (fcntl(i, F_SETFD, 0) < 0)
            return dcx_fail(err, DAEMONCTX_STEP_STDIO, errno, "%s: fd %d: %m", stream_names[i], i);
        return 0;
    }
    int e = dup_onto(src, i);
    if (e < 0)
        return dcx_fail(err, DAEMONCTX_STEP_STDIO, -e, "cannot redirect %s to fd %d: %m", stream_names[i], src);
    return 0;
}

/* The originals served their purpose, unless the caller keeps them: each
 * closed once, however many streams it served. */
static void close_originals(const daemonctx *ctx)
{
    for (int i = 0; i < 3; i++) {
        bool again = false;
        for (int j = 0; j < i; j++)
            again |= ctx->stdio[j] == ctx->stdio[i];
        if (ctx->stdio[i] >= 3 && !again && !preserved(ctx, ctx->stdio[i]))
            dcx_close(ctx->stdio[i]);
    }
}

int dcx_redirect_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    int src[3];
    int moved[3] = {-1, -1, -1};
    int r = 0;
    for (int i = 0; i < 3; i++) {
        src[i] = ctx->stdio[i] >= 0 ? ctx->stdio[i] : plan->to_devnull[i] ? plan->devnull : i;
        /* A source among 0-2 other than its own slot would be overwritten by
         * an earlier redirection: move it out of the way first. */
        if (src[i] < 3 && src[i] != i) {
            moved[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (moved[i] < 0) {
                r = dcx_fail(err, DAEMONCTX_STEP_STDIO, errno, "%s: cannot duplicate fd %d: %m", stream_names[i], src[i]);
                goto out;
            }
            src[i] = moved[i];
        }
    }
    for (int i = 0; i < 3; i++)
        if ((r = put_stream(i, src[i], err)) < 0)
            goto out;
    close_originals(ctx);
out:
    for (int i = 0; i < 3; i++)
        if (moved[i] >= 0)
            dcx_close(moved[i]);
    if (plan->devnull >= 0) {
        dcx_close(plan->devnull);
        plan->devnull = -1;
    }
    return r;
}
