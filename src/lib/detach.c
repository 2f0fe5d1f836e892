/* Deciding whether to detach, and the double fork.
 *
 * The original process waits: it learns the daemon's PID, then "open done",
 * "ready" or an error over the report channel (report.c), and only then
 * leaves. While it waits it is a child subreaper, so the daemon, orphaned by
 * the intermediate child, becomes its child and a death before ready comes
 * with an exit status. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#include <sys/single_threaded.h>
#endif
#include <unistd.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define DCX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DCX_ASAN 1
#endif
#endif
#ifdef DCX_ASAN
#include <sanitizer/asan_interface.h>
#endif

static bool stdin_is_socket(void)
{
    int type;
    socklen_t len = sizeof type;
    /* A closed fd 0 (EBADF) or a file/tty (ENOTSOCK) is "not a socket". */
    return getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* systemd tells its services apart by these; a Type=notify or Type=simple
 * service that forks is a service systemd loses track of. */
static bool under_service_manager(void)
{
    const char *listen_pid = getenv("LISTEN_PID");
    if (getenv("NOTIFY_SOCKET") || getenv("INVOCATION_ID"))
        return true;
    return listen_pid && strtol(listen_pid, NULL, 10) == (long)getpid();
}

int dcx_detach_decide(const daemonctx *ctx, const char **reason)
{
    const char *why;
    int fork_it;
    switch (ctx->detach) {
    case DAEMONCTX_DETACH_YES:
        why = "detach_process is set: double fork";
        fork_it = 1;
        break;
    case DAEMONCTX_DETACH_NO:
        why = "detach_process is off: no fork";
        fork_it = 0;
        break;
    default:
        if (getpid() == 1) {
            why = "the process is PID 1 (a container's init): forking and exiting would end it, no fork";
            fork_it = 0;
        } else if (getppid() == 1) {
            why = "the parent is init: already detached, no fork";
            fork_it = 0;
        } else if (under_service_manager()) {
            why = "started by a service manager (NOTIFY_SOCKET, INVOCATION_ID or LISTEN_PID set): no fork";
            fork_it = 0;
        } else if (stdin_is_socket()) {
            why = "stdin is a socket (started by inetd or a socket-activating manager): no fork";
            fork_it = 0;
        } else {
            why = "started by a process that may wait for it: double fork";
            fork_it = 1;
        }
    }
    if (reason)
        *reason = why;
    return fork_it;
}

struct invoker_state {
    struct sigaction sigchld;
    int subreaper;
};

/* SIGCHLD at its default so the children can be waited for (SIG_IGN would
 * make waitpid fail with ECHILD, a handler could reap them first). */
static int invoker_prepare(struct invoker_state *st, daemonctx_error *err)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (prctl(PR_GET_CHILD_SUBREAPER, &st->subreaper, 0, 0, 0) < 0)
        return dcx_fail(err, "fork", errno, "cannot read the child-subreaper flag: %m");
    if (sigaction(SIGCHLD, &dfl, &st->sigchld) < 0)
        return dcx_fail(err, "fork", errno, "cannot reset SIGCHLD: %m");
    if (!st->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        int e = errno;
        (void)sigaction(SIGCHLD, &st->sigchld, NULL);
        return dcx_fail(err, "fork", e, "cannot become a child subreaper: %m");
    }
    return 0;
}

static void invoker_restore(const struct invoker_state *st, bool in_child)
{
    (void)sigaction(SIGCHLD, &st->sigchld, NULL);
    if (!in_child && !st->subreaper)
        (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

/* The intermediate child: a new session, and in it the daemon.
 *
 * It is cloned with CLONE_VM | CLONE_VFORK: it runs in our memory, on a stack
 * carved out of ours, while we are suspended until it exits. So it costs no
 * copy of the address space (about half of a start's fork cost); the one copy
 * a daemon needs is made by its fork(), from which the daemon resumes our own
 * stack frames by longjmp(), as if our clone() had returned to it. A daemon
 * that only execs (daemonctx_open_execve) needs no copy at all: it is cloned
 * the same way in turn, and the intermediate child waits for its exec.
 *
 * Between clone and fork it writes nothing we read later (its fds and signal
 * dispositions are its own; errno, which it shares with us, is read here only
 * when clone() itself failed; all signals are blocked, so no handler of ours
 * runs on its stack in our memory) and its fork() is the C library's, so the
 * daemon gets the library's and the program's atfork handling like any fork
 * child. The exec'ing daemon works on a copy of the plan; what else it
 * writes in our memory (errno, the pidfile object's owner PID, the terminate
 * handler's context) is nothing we take for our own. Where CLONE_VM is
 * refused (a seccomp profile, an emulator) a plain fork() runs the same
 * function. */
struct intermediate {
    jmp_buf daemon_resumes;
    int invoker_end, report_fd;
    /* for the daemon of daemonctx_open_execve */
    daemonctx *ctx;
    const struct dcx_plan *plan;
    const struct invoker_state *invoker;
    const sigset_t *mask;
};

/* FN(ARG) in a child cloned with CLONE_VM | CLONE_VFORK onto STACK; where
 * that is refused, in a fork() child. */
static pid_t clone_vm(int (*fn)(void *), void *arg, char *stack, size_t size)
{
    pid_t pid = clone(fn, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    if (pid < 0 && (errno == EPERM || errno == ENOSYS || errno == EINVAL)) {
        pid = fork();
        if (pid == 0)
            _exit(fn(arg));
    }
    return pid;
}

/* The C library's set*id() wrappers, which the daemon calls, must not believe
 * they run in a multithreaded process (they would signal its threads) while
 * they share its memory: only a process known to be single-threaded gets an
 * exec'ing daemon that shares its memory. */
static bool single_threaded(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    return __libc_single_threaded;
#else
    return false;
#endif
}

static int daemon_exec_main(void *arg)
{
    const struct intermediate *im = arg;
    invoker_restore(im->invoker, true);
    (void)sigprocmask(SIG_SETMASK, im->mask, NULL);
    dcx_daemon_exec(im->ctx, im->plan);
}

static __attribute__((noinline)) pid_t start_exec_daemon(struct intermediate *im)
{
    _Alignas(16) char stack[32 * 1024];
    if (single_threaded())
        return clone_vm(daemon_exec_main, im, stack, sizeof stack);
    pid_t pid = fork();
    if (pid == 0)
        daemon_exec_main(im);
    return pid;
}

static int intermediate_main(void *arg)
{
    struct intermediate *im = arg;
    daemonctx_error e;
    /* In our fd table only (the child has its own): once the invoker is
     * gone, the daemon's first report must fail, and nothing may hold the
     * invoker's end open meanwhile. */
    dcx_close(im->invoker_end);
    /* A new session without a controlling terminal... */
    if (setsid() < 0) {
        dcx_fail(&e, "setsid", errno, "cannot create a new session: %m");
        dcx_report_fatal(im->report_fd, &e);
    }
    /* ...and a second fork so the daemon, not a session leader, can never
     * acquire one again by opening a tty. */
    pid_t daemon = im->plan->exec ? start_exec_daemon(im) : fork();
    if (daemon < 0) {
        dcx_fail(&e, "fork", errno, "cannot fork the daemon: %m");
        dcx_report_fatal(im->report_fd, &e);
    }
    if (daemon > 0)
        _exit(0);
    longjmp(im->daemon_resumes, 1);
}

/* Below the caller's frame, so the daemon's longjmp() goes up its stack. */
#define INTERMEDIATE_STACK (64 * 1024)

static __attribute__((noinline)) pid_t start_intermediate(struct intermediate *im)
{
    _Alignas(16) char stack[INTERMEDIATE_STACK];
    pid_t pid = clone_vm(intermediate_main, im, stack, sizeof stack);
#ifdef DCX_ASAN
    /* The children's frames poisoned their part of STACK in the shadow memory
     * they share with us, and may have been killed before unpoisoning it. */
    int e = errno;
    ASAN_UNPOISON_MEMORY_REGION(stack, sizeof stack);
    errno = e;
#endif
    return pid;
}

int dcx_detach(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct invoker_state st;
    int r = invoker_prepare(&st, err);
    if (r < 0)
        return r;
    sigset_t all, old;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) < 0) {
        r = dcx_fail(err, "fork", errno, "cannot block signals around the fork: %m");
        invoker_restore(&st, false);
        return r;
    }
    /* Or whatever stdio buffered is written twice, by the parent and the
     * daemon, or lost with the parent's _exit. */
    (void)fflush(NULL);
    struct intermediate im = {.invoker_end = plan->report[0],
                              .report_fd = plan->report[1],
                              .ctx = ctx,
                              .plan = plan,
                              .invoker = &st,
                              .mask = &old};
    if (setjmp(im.daemon_resumes)) {
        /* The daemon. */
        invoker_restore(&st, true);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        plan->report[0] = -1; /* closed by the intermediate child */
        /* The invoker is gone (killed while it waited): nobody asked for
         * this daemon any more. */
        if (dcx_report_send(plan->report[1], DCX_REC_PID, getpid(), NULL) < 0)
            _exit(1);
        return 0;
    }
    pid_t child = start_intermediate(&im);
    int fork_errno = errno;
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (child < 0) {
        r = dcx_fail(err, "fork", fork_errno, "cannot fork: %m");
        invoker_restore(&st, false);
        return r;
    }
    dcx_close(plan->report[1]);
    plan->report[1] = -1;
    r = dcx_wait_daemon(ctx, plan, child, err);
    invoker_restore(&st, false);
    return r < 0 ? r : 1;
}
