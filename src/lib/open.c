/* daemonctx_open(): the open sequence.
 *
 * First, in the calling process, everything that can be resolved or refused
 * before forking (so the common failures are reported at once): the target
 * identity, the directories, the readiness source, /dev/null, the pidfile
 * lock, the fds to keep. Then the detach (detach.c) and the wait for the
 * daemon (wait.c), and in the daemon the steps of PEP 3143 in its order,
 * each a function of its own concept file. A failure there is sent back to
 * the caller (report.c) and the daemon exits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int compare_fds(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The fds the closing step keeps: the caller's, the stdio sources, and the
 * library's own (/dev/null, the report channel, the readiness pipe, the
 * pidfile and its directory); not detaching, a readiness fd N someone gave
 * us. Sorted and unique, built here because the daemon side must not
 * allocate. */
static int plan_keep(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    size_t max = ctx->n_preserve + 3 + 9;
    plan->keep = malloc(max * sizeof *plan->keep);
    if (!plan->keep)
        return dcx_fail(err, DAEMONCTX_STEP_CLOSE_FDS, ENOMEM, "cannot plan the fds to keep: %m");
    size_t n = 0;
    for (size_t i = 0; i < ctx->n_preserve; i++)
        plan->keep[n++] = ctx->files_preserve[i];
    for (int i = 0; i < 3; i++)
        if (ctx->stdio[i] >= 0)
            plan->keep[n++] = ctx->stdio[i];
    int fds[2], k = ctx->pidfile ? dcx_pidfile_fds(ctx->pidfile, fds) : 0;
    for (int i = 0; i < k; i++)
        plan->keep[n++] = fds[i];
    const int own[] = {plan->devnull, plan->report[1], plan->ready.child_fd,
                       !plan->fork && ctx->ready_mode == DAEMONCTX_READY_FD ? ctx->ready_fd : -1, plan->proc_fd,
                       plan->cgroup.procs, plan->cgroup.home, plan->tree_fd};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i] >= 0)
            plan->keep[n++] = own[i];
    qsort(plan->keep, n, sizeof *plan->keep, compare_fds);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || plan->keep[u - 1] != plan->keep[i])
            plan->keep[u++] = plan->keep[i];
    plan->n_keep = u;
    return 0;
}

static int prepare(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    int r;
    if ((r = dcx_plan_privileges(ctx, plan, err)) < 0 || (r = dcx_plan_root(ctx, plan, err)) < 0 ||
        (r = dcx_check_limits(ctx, err)) < 0)
        return r;
    /* Before any other fd is made: it reserves fd N. */
    if ((r = dcx_plan_ready(ctx, plan, err)) < 0 || (r = dcx_plan_rundir(ctx, plan, err)) < 0 ||
        (r = dcx_plan_stdio(ctx, plan, err)) < 0 || (r = dcx_plan_environment(ctx, plan, err)) < 0 ||
        (r = dcx_plan_limits(ctx, plan, err)) < 0)
        return r;
    /* Before forking: "already running" is then reported at once, naming the
     * holder, and the daemon inherits the lock. After the runtime directory:
     * the pidfile may live there. */
    if (ctx->pidfile && (r = dcx_pidfile_lock(ctx->pidfile, err)) < 0)
        return r;
    if ((r = dcx_rundir_after_lock(ctx, plan, err)) < 0 || (r = dcx_plan_cgroup(ctx, plan, err)) < 0)
        return r;
    /* A daemon that stays (not one that execs) and tracks its tree keeps a
     * way to it past any chroot, for daemonctx_end_others(). */
    if (!plan->exec && ctx->cgroup_mode != DAEMONCTX_CGROUP_NONE) {
        do
            plan->tree_fd = open(plan->cgroup.dir ? plan->cgroup.dir : "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        while (plan->tree_fd < 0 && errno == EINTR);
    }
    if (plan->fork && (r = dcx_report_open(plan, err)) < 0)
        return r;
    return plan_keep(ctx, plan, err);
}

/* PEP 3143's steps, in the daemon (or in the only process when not
 * detaching). Async-signal-safe system calls only: the caller may have had
 * threads when it forked. */
static int become_daemon(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    int r;
    /* First: whatever the daemon does from here on is in its cgroup. */
    if ((r = dcx_cgroup_enter(plan, err)) < 0)
        return r;
    if ((r = dcx_chroot(ctx, err)) < 0 || (r = dcx_prevent_core(ctx, err)) < 0 ||
        (r = dcx_apply_limits(ctx, plan, err)) < 0)
        return r;
    dcx_set_umask(ctx);
    if ((r = dcx_chdir(ctx, plan, err)) < 0 || (r = dcx_drop_privileges(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_apply_signal_map(ctx, plan->exec != NULL, err)) < 0 || (r = dcx_unblock_all_signals(err)) < 0)
        return r;
    if ((r = dcx_close_fds(plan->keep, plan->n_keep, err)) < 0 || (r = dcx_redirect_stdio(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_daemon_ready_fd(plan, err)) < 0)
        return r;
    if (ctx->pidfile && (r = dcx_pidfile_write(ctx->pidfile, err)) < 0)
        return r;
    return 0;
}

static void plan_free(struct dcx_plan *plan)
{
    free(plan->cgroup.dir);
    if (plan->tree_fd >= 0)
        dcx_close(plan->tree_fd);
    if (plan->cgroup.procs >= 0)
        dcx_close(plan->cgroup.procs);
    if (plan->cgroup.home >= 0)
        dcx_close(plan->cgroup.home);
    free(plan->rundir.top);
    if (plan->rundir.fd >= 0)
        dcx_close(plan->rundir.fd);
    free(plan->groups);
    free(plan->user_name);
    free(plan->root_cwd);
    free(plan->keep);
    free(plan->envp);
    for (int i = 0; i < 2; i++)
        if (plan->report[i] >= 0)
            dcx_close(plan->report[i]);
    if (plan->devnull >= 0)
        dcx_close(plan->devnull);
    if (plan->ready_placeholder >= 0)
        dcx_close(plan->ready_placeholder);
    if (plan->proc_fd >= 0)
        dcx_close(plan->proc_fd);
    dcx_ready_close(&plan->ready);
}

/* The end of daemonctx_open_execve() in the daemon: BEFORE_EXEC, tell the
 * original process (if any) that the exec comes, exec. Returns the failure. */
static int run_exec(const struct dcx_plan *plan, int report_fd, daemonctx_error *err)
{
    const struct dcx_exec *x = plan->exec;
    int r;
    if (x->hook && (r = x->hook(x->arg, err)) < 0)
        return r;
    if (report_fd >= 0 && (r = dcx_report_send(report_fd, DCX_REC_EXEC, getpid(), NULL)) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone",
                        (int)getpid());
    execve(x->path, x->argv, plan->envp ? plan->envp : x->envp);
    return dcx_fail(err, DAEMONCTX_STEP_EXEC, errno, "cannot execute %s: %m", x->path);
}

struct exec_daemon {
    daemonctx *ctx;
    struct dcx_plan *plan;
    const struct dcx_invoker *inv;
};

/* The daemon of daemonctx_open_execve(), made by the intermediate child
 * (spawn.c): it shares that child's memory, and never returns. */
static int exec_daemon(void *arg)
{
    const struct exec_daemon *x = arg;
    daemonctx_error e;
    int fd = x->plan->report[1];
    /* The caller's SIGCHLD, as the signal map expects to find it. */
    (void)sigaction(SIGCHLD, &x->inv->sigchld, NULL);
    if (dcx_report_send(fd, DCX_REC_PID, getpid(), NULL) < 0)
        _exit(1); /* the original process is gone: nobody wants this daemon */
    if (become_daemon(x->ctx, x->plan, &e) < 0 || run_exec(x->plan, fd, &e) < 0)
        dcx_report_fatal(fd, &e);
    _exit(1);
}

/* In the daemon, open() done: tell the original process (which, in
 * READY_OPEN mode without a readiness source, may then go), or keep the
 * channel for daemonctx_ready(). */
static int daemon_opened(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    if (!plan->fork) {
        /* A service manager that waits for READY=1 learns it here; failing
         * to tell it is not a reason to undo the daemon. */
        if (ctx->ready_mode == DAEMONCTX_READY_OPEN)
            (void)dcx_notify_ready(NULL);
        return 0;
    }
    if (ctx->ready_mode != DAEMONCTX_READY_NOTIFY) {
        int r = dcx_report_send(plan->report[1], DCX_REC_DONE, getpid(), NULL);
        /* The original process is gone (killed while it waited): this start
         * failed for whoever ran it, and the daemon is told so. */
        if (r < 0)
            return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone",
                            (int)getpid());
    }
    if (ctx->ready_mode == DAEMONCTX_READY_OPEN) {
        (void)dcx_notify_ready(NULL);
        return 0;
    }
    ctx->report_fd = plan->report[1];
    plan->report[1] = -1;
    return 0;
}

/* In the daemon, or the only process: the steps, then run PATH or return. */
static int run_daemon(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    int r = become_daemon(ctx, plan, err);
    if (r < 0) {
        if (plan->fork)
            dcx_report_fatal(plan->report[1], err);
        return r;
    }
    if (plan->exec) { /* not detached: this process runs PATH */
        r = run_exec(plan, -1, err);
        (void)daemonctx_pidfile_release(ctx->pidfile, NULL);
        return r;
    }
    if (plan->envp) { /* assigned, not setenv(): this may be a fork child of threads */
        extern char **environ;
        environ = plan->envp;
        plan->envp = NULL;
    }
    ctx->is_open = true;
    ctx->daemon_pid = getpid();
    if ((r = daemon_opened(ctx, plan, err)) < 0) {
        ctx->is_open = false;
        (void)daemonctx_pidfile_release(ctx->pidfile, NULL);
    }
    return r;
}

/* In the original process, once the daemon is made: wait for it. 1 when it
 * is ready (this process leaves or returns), or the failure. */
static int detach_and_wait(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct dcx_invoker inv;
    int r = dcx_invoker_begin(&inv, err);
    if (r < 0)
        return r;
    struct exec_daemon x = {.ctx = ctx, .plan = plan, .inv = &inv};
    pid_t child = dcx_detach(plan, plan->exec ? exec_daemon : NULL, &x, err);
    if (child == 0) {
        dcx_invoker_end(&inv, true);
        return 0;
    }
    r = child < 0 ? child : dcx_wait_daemon(ctx, plan, child, &inv.mask, err);
    dcx_invoker_end(&inv, false);
    (void)dcx_notify_prepare(getenv("NOTIFY_SOCKET"), NULL);
    return r < 0 ? r : 1;
}

/* The daemon's cgroup, for daemonctx_cgroup(). */
static void keep_cgroup(daemonctx *ctx, struct dcx_plan *plan)
{
    free(ctx->cgroup_dir);
    ctx->cgroup_dir = plan->cgroup.dir;
    plan->cgroup.dir = NULL;
}

static int open_sequence(daemonctx *ctx, const struct dcx_exec *exec, daemonctx_error *err)
{
    struct dcx_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.devnull = plan.report[0] = plan.report[1] = plan.ready_placeholder = plan.proc_fd = -1;
    plan.ready = DCX_READY_CLOSED;
    plan.rundir.fd = plan.cgroup.procs = plan.cgroup.home = plan.tree_fd = -1;
    plan.fork = dcx_detach_decide(ctx, NULL) == 1;
    plan.exec = exec;

    int r = prepare(ctx, &plan, err);
    if (r >= 0 && plan.fork)
        r = detach_and_wait(ctx, &plan, err);
    if (r == 1) { /* the original process: the daemon is ready */
        if (ctx->pidfile)
            dcx_pidfile_abandon(ctx->pidfile);
        keep_cgroup(ctx, &plan);
        plan_free(&plan);
        if (!ctx->parent_returns)
            _exit(0);
        return 1;
    }
    if (r == 0 && (r = run_daemon(ctx, &plan, err)) == 0) {
        keep_cgroup(ctx, &plan);
        ctx->tree_fd = plan.tree_fd;
        plan.tree_fd = -1;
        plan_free(&plan);
        return 0;
    }
    dcx_cgroup_undo(&plan);
    if (ctx->pidfile)
        dcx_pidfile_remove_unowned(ctx->pidfile);
    dcx_rundir_undo(ctx, &plan);
    plan_free(&plan);
    /* The start was interrupted: now that nothing is left behind, let the
     * signal do what it would have done. */
    if (plan.interrupted_by)
        raise(plan.interrupted_by);
    return r;
}

int daemonctx_open(daemonctx *ctx, daemonctx_error *err)
{
    daemonctx_error local;
    if (!err)
        err = &local;
    dcx_clear(err);
    if (!ctx)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_open() needs a context");
    if (ctx->is_open)
        return 0;
    return open_sequence(ctx, NULL, err);
}

int daemonctx_open_execve(daemonctx *ctx, const char *path, char *const argv[], char *const envp[],
                          daemonctx_exec_hook before_exec, void *arg, daemonctx_error *err)
{
    daemonctx_error local;
    if (!err)
        err = &local;
    dcx_clear(err);
    if (!ctx || !path || !argv || !envp)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "daemonctx_open_execve() needs a context, a path, an argv and an envp");
    if (ctx->is_open)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EBUSY, "the context is already open");
    const struct dcx_exec exec = {.path = path, .argv = argv, .envp = envp, .hook = before_exec, .arg = arg};
    return open_sequence(ctx, &exec, err);
}

int daemonctx_check(const daemonctx *ctx, daemonctx_error *err)
{
    daemonctx_error local;
    if (!err)
        err = &local;
    dcx_clear(err);
    if (!ctx)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_check() needs a context");
    int r = dcx_check_limits(ctx, err);
    if (r >= 0)
        r = dcx_check_rundir(ctx, err);
    if (r >= 0)
        r = dcx_check_cgroup(ctx, err);
    return r;
}
