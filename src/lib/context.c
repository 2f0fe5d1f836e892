/* The context object: PEP 3143's options, their defaults, and setters that
 * validate before anything is stored. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

daemonctx *daemonctx_new(void)
{
    daemonctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->working_directory = strdup("/");
    if (!ctx->working_directory) {
        free(ctx);
        errno = ENOMEM;
        return NULL;
    }
    ctx->umask = 0;
    ctx->uid = getuid();
    ctx->gid = getgid();
    ctx->prevent_core = true;
    ctx->detach = DAEMONCTX_DETACH_AUTO;
    ctx->stdio[0] = ctx->stdio[1] = ctx->stdio[2] = -1;
    ctx->signal_map[SIGTSTP].action = DAEMONCTX_SIGNAL_IGNORE;
    ctx->signal_map[SIGTTIN].action = DAEMONCTX_SIGNAL_IGNORE;
    ctx->signal_map[SIGTTOU].action = DAEMONCTX_SIGNAL_IGNORE;
    ctx->signal_map[SIGTERM].action = DAEMONCTX_SIGNAL_TERMINATE;
    ctx->ready_mode = DAEMONCTX_READY_OPEN;
    ctx->ready_fd = -1;
    ctx->timeout_ms = 60000;
    ctx->report_fd = -1;
    ctx->tree_fd = -1;
    return ctx;
}

void daemonctx_free(daemonctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->chroot_directory);
    free(ctx->working_directory);
    free(ctx->files_preserve);
    dcx_environment_free(ctx);
    free(ctx->runtime_dir);
    free(ctx->cgroup_parent);
    free(ctx->cgroup_dir);
    if (ctx->report_fd >= 0)
        dcx_close(ctx->report_fd);
    if (ctx->tree_fd >= 0)
        dcx_close(ctx->tree_fd);
    free(ctx);
}

static int settable(daemonctx *ctx, const char *option)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set %s: the context is already open, changes would have no effect", option);
    dcx_clear(&ctx->last_error);
    return 0;
}

static int set_path(daemonctx *ctx, char **slot, const char *option, const char *path, bool nullable)
{
    int r = settable(ctx, option);
    if (r < 0)
        return r;
    if (!path) {
        if (!nullable)
            return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "%s must not be NULL", option);
        free(*slot);
        *slot = NULL;
        return 0;
    }
    if (path[0] != '/')
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "%s \"%s\" is not an absolute path", option, path);
    if (strlen(path) >= PATH_MAX)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENAMETOOLONG, "%s is longer than %d bytes", option, PATH_MAX - 1);
    char *copy = strdup(path);
    if (!copy)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "%s: %m", option);
    free(*slot);
    *slot = copy;
    return 0;
}

int daemonctx_set_chroot_directory(daemonctx *ctx, const char *path)
{
    return set_path(ctx, ctx ? &ctx->chroot_directory : NULL, "chroot_directory", path, true);
}

int daemonctx_set_working_directory(daemonctx *ctx, const char *path)
{
    return set_path(ctx, ctx ? &ctx->working_directory : NULL, "working_directory", path, false);
}

int daemonctx_set_umask(daemonctx *ctx, mode_t mask)
{
    int r = settable(ctx, "umask");
    if (r < 0)
        return r;
    if (mask > 0777)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "umask %o is out of range (0 to 777 octal)",
                        (unsigned)mask);
    ctx->umask = mask;
    return 0;
}

int daemonctx_set_uid(daemonctx *ctx, uid_t uid)
{
    int r = settable(ctx, "uid");
    if (r < 0)
        return r;
    if (uid == (uid_t)-1)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "uid %u is not a valid user id", (unsigned)uid);
    ctx->uid = uid;
    return 0;
}

int daemonctx_set_gid(daemonctx *ctx, gid_t gid)
{
    int r = settable(ctx, "gid");
    if (r < 0)
        return r;
    if (gid == (gid_t)-1)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "gid %u is not a valid group id", (unsigned)gid);
    ctx->gid = gid;
    return 0;
}

int daemonctx_set_prevent_core(daemonctx *ctx, bool prevent)
{
    int r = settable(ctx, "prevent_core");
    if (r < 0)
        return r;
    ctx->prevent_core = prevent;
    return 0;
}

int daemonctx_set_detach_process(daemonctx *ctx, enum daemonctx_detach detach)
{
    int r = settable(ctx, "detach_process");
    if (r < 0)
        return r;
    if (detach != DAEMONCTX_DETACH_AUTO && detach != DAEMONCTX_DETACH_YES && detach != DAEMONCTX_DETACH_NO)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "detach_process %d is not AUTO, YES or NO", (int)detach);
    ctx->detach = detach;
    return 0;
}

int daemonctx_set_files_preserve(daemonctx *ctx, const int *fds, size_t n)
{
    int r = settable(ctx, "files_preserve");
    if (r < 0)
        return r;
    if (n > 0 && !fds)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "files_preserve: NULL list of %d fds", (int)n);
    for (size_t i = 0; i < n; i++)
        if (fds[i] < 0)
            return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "files_preserve: fd %d is negative", fds[i]);
    int *copy = NULL;
    if (n > 0) {
        copy = malloc(n * sizeof *copy);
        if (!copy)
            return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "files_preserve: %m");
        memcpy(copy, fds, n * sizeof *copy);
    }
    free(ctx->files_preserve);
    ctx->files_preserve = copy;
    ctx->n_preserve = n;
    return 0;
}

int daemonctx_set_pidfile(daemonctx *ctx, daemonctx_pidfile *pf)
{
    int r = settable(ctx, "pidfile");
    if (r < 0)
        return r;
    ctx->pidfile = pf;
    return 0;
}

static int set_stream(daemonctx *ctx, int which, const char *name, int fd)
{
    int r = settable(ctx, name);
    if (r < 0)
        return r;
    if (fd < -1)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "%s: fd %d is negative (use -1 for /dev/null)", name,
                        fd);
    ctx->stdio[which] = fd;
    return 0;
}

int daemonctx_set_stdin(daemonctx *ctx, int fd)
{
    return set_stream(ctx, 0, "stdin", fd);
}

int daemonctx_set_stdout(daemonctx *ctx, int fd)
{
    return set_stream(ctx, 1, "stdout", fd);
}

int daemonctx_set_stderr(daemonctx *ctx, int fd)
{
    return set_stream(ctx, 2, "stderr", fd);
}

int daemonctx_set_signal(daemonctx *ctx, int signo, enum daemonctx_signal_action action, void (*handler)(int))
{
    int r = settable(ctx, "signal_map");
    if (r < 0)
        return r;
    if (signo <= 0 || signo >= NSIG)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "signal_map: %d is not a signal number (1 to %d)",
                        signo, NSIG - 1);
    if (signo == SIGKILL || signo == SIGSTOP)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "signal_map: %s cannot be caught or ignored",
                        signo == SIGKILL ? "SIGKILL" : "SIGSTOP");
    if (action < DAEMONCTX_SIGNAL_UNCHANGED || action > DAEMONCTX_SIGNAL_HANDLER)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "signal_map: unknown action %d for signal %d",
                        (int)action, signo);
    if ((action == DAEMONCTX_SIGNAL_HANDLER) != (handler != NULL))
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        action == DAEMONCTX_SIGNAL_HANDLER ? "signal_map: signal %d: HANDLER needs a handler"
                                                           : "signal_map: signal %d: a handler needs HANDLER",
                        signo);
    ctx->signal_map[signo].action = action;
    ctx->signal_map[signo].handler = handler;
    return 0;
}

int daemonctx_clear_signal_map(daemonctx *ctx)
{
    int r = settable(ctx, "signal_map");
    if (r < 0)
        return r;
    memset(ctx->signal_map, 0, sizeof ctx->signal_map);
    return 0;
}

int daemonctx_set_ready_mode(daemonctx *ctx, enum daemonctx_ready_mode mode)
{
    int r = settable(ctx, "ready_mode");
    if (r < 0)
        return r;
    if (mode < DAEMONCTX_READY_OPEN || mode > DAEMONCTX_READY_SD_NOTIFY)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "ready_mode %d is not OPEN, NOTIFY, FD or SD_NOTIFY", (int)mode);
    ctx->ready_mode = mode;
    return 0;
}

int daemonctx_set_ready_fd(daemonctx *ctx, int fd)
{
    int r = settable(ctx, "ready_fd");
    if (r < 0)
        return r;
    /* 0-2 are the standard streams, which the daemon redirects. */
    if (fd < 3)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "ready_fd %d: the readiness fd must be 3 or above", fd);
    ctx->ready_fd = fd;
    return 0;
}

int daemonctx_set_timeout_ms(daemonctx *ctx, unsigned int ms)
{
    int r = settable(ctx, "timeout");
    if (r < 0)
        return r;
    ctx->timeout_ms = ms;
    return 0;
}

int daemonctx_set_parent_returns(daemonctx *ctx, bool returns)
{
    int r = settable(ctx, "parent_returns");
    if (r < 0)
        return r;
    ctx->parent_returns = returns;
    return 0;
}

const daemonctx_error *daemonctx_last_error(const daemonctx *ctx)
{
    return ctx ? &ctx->last_error : NULL;
}

bool daemonctx_is_open(const daemonctx *ctx)
{
    return ctx && ctx->is_open;
}

pid_t daemonctx_daemon_pid(const daemonctx *ctx)
{
    return ctx ? ctx->daemon_pid : 0;
}

int daemonctx_close(daemonctx *ctx)
{
    (void)ctx;
    return 0;
}

int daemonctx_detach_decision(const daemonctx *ctx, const char **reason)
{
    if (!ctx)
        return -EINVAL;
    return dcx_detach_decide(ctx, reason);
}
