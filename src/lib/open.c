/* daemonctx_open(): the open sequence.
 *
 * First, in the calling process, everything that can be resolved or refused
 * before forking (so the common failures are reported at once): the target
 * identity, the directories, /dev/null, the pidfile lock, the fds to keep.
 * Then the detach, and in the daemon the steps of PEP 3143 in its order, each
 * a function of its own concept file. A failure there is sent back to the
 * caller (report.c) and the daemon exits. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int compare_fds(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The fds the closing step keeps: the caller's, the stdio sources, and the
 * library's own (/dev/null, the report channel, the pidfile and its
 * directory). Sorted and unique, built here because the daemon side must not
 * allocate. */
static int plan_keep(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    size_t max = ctx->n_preserve + 3 + 4;
    plan->keep = malloc(max * sizeof *plan->keep);
    if (!plan->keep)
        return dcx_fail(err, DAEMONCTX_STEP_CLOSE_FDS, ENOMEM, "cannot plan the fds to keep: %m");
    size_t n = 0;
    for (size_t i = 0; i < ctx->n_preserve; i++)
        plan->keep[n++] = ctx->files_preserve[i];
    for (int i = 0; i < 3; i++)
        if (ctx->stdio[i] >= 0)
            plan->keep[n++] = ctx->stdio[i];
    if (plan->devnull >= 0)
        plan->keep[n++] = plan->devnull;
    if (plan->report[1] >= 0)
        plan->keep[n++] = plan->report[1];
    if (ctx->pidfile) {
        int fds[2];
        int k = dcx_pidfile_fds(ctx->pidfile, fds);
        for (int i = 0; i < k; i++)
            plan->keep[n++] = fds[i];
    }
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
    if ((r = dcx_plan_privileges(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_plan_root(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_plan_stdio(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_notify_prepare(err)) < 0)
        return r;
    /* Before forking: "already running" is then reported at once, naming the
     * holder, and the daemon inherits the lock. */
    if (ctx->pidfile && (r = dcx_pidfile_lock(ctx->pidfile, err)) < 0)
        return r;
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
    if ((r = dcx_chroot(ctx, err)) < 0)
        return r;
    if ((r = dcx_prevent_core(ctx, err)) < 0)
        return r;
    dcx_set_umask(ctx);
    if ((r = dcx_chdir(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_drop_privileges(ctx, plan, err)) < 0)
        return r;
    if ((r = dcx_apply_signal_map(ctx, plan->exec != NULL, err)) < 0)
        return r;
    if ((r = dcx_unblock_all_signals(err)) < 0)
        return r;
    if ((r = dcx_close_fds(plan->keep, plan->n_keep, err)) < 0)
        return r;
    if ((r = dcx_redirect_stdio(ctx, plan, err)) < 0)
        return r;
    if (ctx->pidfile && (r = dcx_pidfile_write(ctx->pidfile, err)) < 0)
        return r;
    return 0;
}

static void plan_free(struct dcx_plan *plan)
{
    free(plan->groups);
    free(plan->user_name);
    free(plan->root_cwd);
    free(plan->keep);
    for (int i = 0; i < 2; i++)
        if (plan->report[i] >= 0)
            dcx_close(plan->report[i]);
    if (plan->devnull >= 0)
        dcx_close(plan->devnull);
}

/* The end of daemonctx_open_execve() in the daemon: BEFORE_EXEC, tell the
 * original process (if any) that the exec comes, exec. Returns the failure. */
static int run_exec(const struct dcx_exec *x, int report_fd, daemonctx_error *err)
{
    int r;
    if (x->hook && (r = x->hook(x->arg, err)) < 0)
        return r;
    if (report_fd >= 0 && (r = dcx_report_send(report_fd, DCX_REC_EXEC, getpid(), NULL)) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone", (int)getpid());
    execve(x->path, x->argv, x->envp);
    return dcx_fail(err, DAEMONCTX_STEP_EXEC, errno, "cannot execute %s: %m", x->path);
}

/* The caller waits suspended while an exec'ing daemon sets itself up (it
 * shares its memory): the deadline is kept by a timer that kills us, which
 * the exec removes. Without one (timer_create refused), the deadline counts
 * from the exec. */
static void arm_deadline(long long deadline)
{
    if (deadline < 0)
        return;
    long long left = deadline - dcx_now_ms();
    if (left < 1)
        left = 1;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGKILL;
    timer_t timer;
    struct itimerspec when = {.it_value = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L}};
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0)
        (void)timer_settime(timer, 0, &when, NULL);
}

void dcx_daemon_exec(daemonctx *ctx, const struct dcx_plan *shared, long long deadline)
{
    daemonctx_error e;
    /* The steps write to the plan (a closed fd is forgotten): a copy of our
     * own, as the caller's may be in the memory we share with it. */
    struct dcx_plan plan = *shared;
    int fd = plan.report[1];
    arm_deadline(deadline);
    /* The invoker is gone (killed while it waited): nobody asked for this
     * daemon any more. */
    if (dcx_report_send(fd, DCX_REC_PID, getpid(), NULL) < 0)
        _exit(1);
    if (become_daemon(ctx, &plan, &e) < 0 || run_exec(plan.exec, fd, &e) < 0)
        dcx_report_fatal(fd, &e);
    _exit(1);
}

static int open_sequence(daemonctx *ctx, const struct dcx_exec *exec, daemonctx_error *err)
{
    struct dcx_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.devnull = plan.report[0] = plan.report[1] = -1;
    plan.fork = dcx_detach_decide(ctx, NULL) == 1;
    plan.exec = exec;

    int r = prepare(ctx, &plan, err);
    if (r < 0)
        goto fail;

    if (plan.fork) {
        r = dcx_detach(ctx, &plan, err);
        if (r < 0)
            goto fail;
        if (r > 0) { /* the original process: the daemon is up */
            if (ctx->pidfile)
                dcx_pidfile_abandon(ctx->pidfile);
            plan_free(&plan);
            if (!ctx->parent_returns)
                _exit(0);
            return 1;
        }
    }

    r = become_daemon(ctx, &plan, err);
    if (r < 0) {
        if (plan.fork)
            dcx_report_fatal(plan.report[1], err);
        goto fail;
    }
    if (exec) { /* not detached: this process runs PATH */
        r = run_exec(exec, -1, err);
        (void)daemonctx_pidfile_release(ctx->pidfile, NULL);
        goto fail;
    }
    ctx->is_open = true;
    ctx->daemon_pid = getpid();
    if (ctx->ready_mode == DAEMONCTX_READY_OPEN) {
        /* If the invoker is gone (killed while it waited), this start failed
         * for whoever ran it: the daemon is told, so as not to linger as a
         * daemon nobody asked for. */
        if (plan.fork && (r = dcx_report_send(plan.report[1], DCX_REC_DONE, getpid(), NULL)) < 0) {
            dcx_fail(err, DAEMONCTX_STEP_REPORT, -r, "the process that started daemon PID %d is gone", (int)getpid());
            ctx->is_open = false;
            (void)daemonctx_pidfile_release(ctx->pidfile, NULL);
            plan_free(&plan);
            return r;
        }
        /* A service manager that waits for READY=1 learns it here; failing
         * to tell it is not a reason to undo the daemon. */
        (void)dcx_notify_ready(NULL);
    } else if (plan.fork) {
        ctx->report_fd = plan.report[1];
        plan.report[1] = -1;
    }
    plan_free(&plan);
    return 0;

fail:
    if (ctx->pidfile)
        dcx_pidfile_remove_unowned(ctx->pidfile);
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
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_open_execve() needs a context, a path, an argv and an envp");
    if (ctx->is_open)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EBUSY, "the context is already open");
    const struct dcx_exec exec = {.path = path, .argv = argv, .envp = envp, .hook = before_exec, .arg = arg};
    return open_sequence(ctx, &exec, err);
}
