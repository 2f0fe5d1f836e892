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

void dcx_stop_signals_add(sigset_t *set)
{
    static const int ending[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof ending / sizeof ending[0]; i++) {
        struct sigaction now;
        if (sigaction(ending[i], NULL, &now) == 0 && now.sa_handler != SIG_IGN)
            sigaddset(set, ending[i]);
    }
}

static const struct {
    const char *name;
    int signo;
} names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},     {"BUS", SIGBUS},       {"FPE", SIGFPE},       {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},     {"WINCH", SIGWINCH},   {"IO", SIGIO},       {"PWR", SIGPWR},
    {"SYS", SIGSYS},       {"IOT", SIGIOT},       {"POLL", SIGPOLL},     {"CLD", SIGCHLD},
};

const char *dcx_signal_name(int signo)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].signo == signo)
            return names[i].name;
    return NULL;
}

static bool same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if ((*a >= 'a' && *a <= 'z' ? *a - 32 : *a) != *b)
            return false;
    return *a == *b;
}

int dcx_signal_number(const char *s)
{
    if (!s || !*s)
        return -EINVAL;
    if (*s >= '0' && *s <= '9') {
        long v = 0;
        for (const char *p = s; *p; p++) {
            if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) >= NSIG)
                return -EINVAL;
        }
        return v >= 1 ? (int)v : -EINVAL;
    }
    if ((s[0] == 'S' || s[0] == 's') && (s[1] == 'I' || s[1] == 'i') && (s[2] == 'G' || s[2] == 'g'))
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (same_name(s, names[i].name))
            return names[i].signo;
    return -EINVAL;
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
