/* The signal map, the terminate action, and the signal mask.
 *
 * The terminate action runs in a signal handler: it only calls
 * async-signal-safe functions (fstatat, unlinkat, close, sigaction,
 * sigprocmask, raise, _exit). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The context whose pidfile the terminate action removes. One per process:
 * PEP 3143 has one DaemonContext per daemon. */
static daemonctx *volatile terminating_ctx;

static void terminate_handler(int signo)
{
    daemonctx_terminate(terminating_ctx, signo);
}

void daemonctx_terminate(daemonctx *ctx, int signo)
{
    (void)dcx_notify("STOPPING=1", NULL);
    if (ctx && ctx->pidfile)
        dcx_pidfile_release_signal_safe(ctx->pidfile);
    if (signo > 0 && signo < NSIG) {
        /* Die of the signal itself so the exit status reports it. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigset_t only;
        if (sigaction(signo, &dfl, NULL) == 0 && sigemptyset(&only) == 0 && sigaddset(&only, signo) == 0 &&
            sigprocmask(SIG_UNBLOCK, &only, NULL) == 0)
            raise(signo);
    }
    /* The signal's default action does not kill (SIGCHLD, SIGWINCH...), or it
     * could not be delivered: the shell convention for "ended by a signal". */
    _exit(128 + (signo > 0 && signo < NSIG ? signo : 0));
}

/* A daemon that execs keeps no handler: exec would reset them anyway, and
 * until then they would run the caller's code in the caller's memory (it is
 * shared: open.c, detach.c). The map's ignores and defaults still apply. */
static enum daemonctx_signal_action exec_action(int signo, enum daemonctx_signal_action action)
{
    if (action == DAEMONCTX_SIGNAL_TERMINATE || action == DAEMONCTX_SIGNAL_HANDLER)
        return DAEMONCTX_SIGNAL_DEFAULT;
    if (action == DAEMONCTX_SIGNAL_UNCHANGED) {
        struct sigaction now;
        /* EINVAL: reserved by the C library, not ours to reset. */
        if (sigaction(signo, NULL, &now) == 0 && now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN)
            return DAEMONCTX_SIGNAL_DEFAULT;
    }
    return action;
}

int dcx_apply_signal_map(daemonctx *ctx, bool for_exec, daemonctx_error *err)
{
    for (int signo = 1; signo < NSIG; signo++) {
        const struct dcx_signal_entry *e = &ctx->signal_map[signo];
        enum daemonctx_signal_action action = for_exec ? exec_action(signo, e->action) : e->action;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        switch (action) {
        case DAEMONCTX_SIGNAL_UNCHANGED:
            continue;
        case DAEMONCTX_SIGNAL_IGNORE:
            sa.sa_handler = SIG_IGN;
            break;
        case DAEMONCTX_SIGNAL_DEFAULT:
            sa.sa_handler = SIG_DFL;
            break;
        case DAEMONCTX_SIGNAL_TERMINATE:
            terminating_ctx = ctx;
            sa.sa_handler = terminate_handler;
            /* Nothing else may interrupt the pidfile removal. */
            if (sigfillset(&sa.sa_mask) < 0)
                return dcx_fail(err, DAEMONCTX_STEP_SIGNALS, errno, "sigfillset: %m");
            break;
        case DAEMONCTX_SIGNAL_HANDLER:
            sa.sa_handler = e->handler;
            sa.sa_flags = SA_RESTART;
            break;
        }
        if (sigaction(signo, &sa, NULL) < 0)
            return dcx_fail(err, DAEMONCTX_STEP_SIGNALS, errno, "cannot set the action of signal %d: %m", signo);
    }
    return 0;
}

int dcx_unblock_all_signals(daemonctx_error *err)
{
    sigset_t none;
    /* The blocked mask survives fork and exec: a daemon started from a
     * program that blocked SIGTERM would otherwise be unstoppable. */
    if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_SIGNALS, errno, "cannot empty the blocked-signal mask: %m");
    return 0;
}
