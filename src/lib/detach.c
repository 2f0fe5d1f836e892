/* Detaching: whether to, and the double fork.
 *
 * fork, setsid, fork, as PEP 3143 and daemon(7) describe it: the
 * intermediate child starts a new session without a controlling terminal,
 * forks the daemon (which, not a session leader, can never acquire a
 * terminal again) and exits. A daemon that only execs is made by the
 * intermediate child like posix_spawn makes a child (spawn.c), without
 * copying memory. The original process waits (wait.c) as a child
 * subreaper, so that the daemon, orphaned by the intermediate child,
 * becomes its child and a death before ready comes with an exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static bool stdin_is_socket(void)
{
    int type;
    socklen_t len = sizeof type;
    /* A closed fd 0 (EBADF) or a file/tty (ENOTSOCK) is "not a socket". */
    return getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

static bool socket_activated(void)
{
    const char *listen_pid = getenv("LISTEN_PID");
    return listen_pid && strtol(listen_pid, NULL, 10) == (long)getpid();
}

/* The automatic decision, in this order:
 *   - PID 1 (a container's init): forking and exiting would end it;
 *   - NOTIFY_SOCKET (systemd Type=notify) or our own LISTEN_PID (socket
 *     activation): the manager tracks this very process;
 *   - stdin a socket: started by inetd;
 *   - INVOCATION_ID without those (systemd Type=forking): systemd waits for
 *     the start to exit and reads the PID file, so fork although the parent
 *     is PID 1;
 *   - the parent is init otherwise (inittab, a container's shell): already
 *     detached. */
static int decide_auto(const char **why)
{
    if (getpid() == 1)
        *why = "the process is PID 1 (a container's init): forking and exiting would end it, no fork";
    else if (getenv("NOTIFY_SOCKET") || socket_activated())
        *why = "started by a service manager that tracks this process (NOTIFY_SOCKET or LISTEN_PID set): no fork";
    else if (stdin_is_socket())
        *why = "stdin is a socket (started by inetd or a socket-activating manager): no fork";
    else if (getenv("INVOCATION_ID"))
        *why = "started by systemd without NOTIFY_SOCKET (Type=forking): double fork";
    else if (getppid() == 1)
        *why = "the parent is init: already detached, no fork";
    else
        *why = "started by a process that may wait for it: double fork";
    return strstr(*why, "double fork") != NULL;
}

int dcx_detach_decide(const daemonctx *ctx, const char **reason)
{
    const char *why;
    int fork_it;
    if (ctx->detach == DAEMONCTX_DETACH_YES) {
        why = "detach_process is set: double fork";
        fork_it = 1;
    } else if (ctx->detach == DAEMONCTX_DETACH_NO) {
        why = "detach_process is off: no fork";
        fork_it = 0;
    } else {
        fork_it = decide_auto(&why);
    }
    if (reason)
        *reason = why;
    return fork_it;
}

int dcx_invoker_begin(struct dcx_invoker *inv, daemonctx_error *err)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* SIGCHLD at its default, so that our children can be waited for (SIG_IGN
     * would have the kernel reap them, a handler could reap them first). */
    /* Initialized: valgrind does not know the kernel writes it. */
    inv->subreaper = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &inv->subreaper, 0, 0, 0) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot read the child-subreaper flag: %m");
    if (sigaction(SIGCHLD, &dfl, &inv->sigchld) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot reset SIGCHLD: %m");
    int e = 0;
    if (!inv->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        e = errno;
    /* Or what stdio buffered is written twice, by us and by the daemon, or
     * lost with our _exit. Before signals are blocked: a stdout that blocks
     * must not make the start unkillable. */
    (void)fflush(NULL);
    sigset_t all;
    sigfillset(&all);
    /* Until the daemon has its own signal dispositions, no handler of ours
     * runs in it. */
    if (!e && sigprocmask(SIG_SETMASK, &all, &inv->mask) < 0)
        e = errno;
    if (e) {
        (void)sigaction(SIGCHLD, &inv->sigchld, NULL);
        if (!inv->subreaper)
            (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
        return dcx_fail(err, DAEMONCTX_STEP_FORK, e, "cannot prepare the original process to wait: %m");
    }
    return 0;
}

void dcx_invoker_end(const struct dcx_invoker *inv, bool in_daemon)
{
    (void)sigaction(SIGCHLD, &inv->sigchld, NULL);
    (void)sigprocmask(SIG_SETMASK, &inv->mask, NULL);
    /* A fork child does not inherit the flag. */
    if (!in_daemon && !inv->subreaper)
        (void)prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

struct intermediate {
    const struct dcx_plan *plan;
    int (*body)(void *);
    void *arg;
};

/* The intermediate child: a new session, and in it the daemon. Returns in
 * the daemon it forks; exits otherwise. */
static void intermediate_main(const struct intermediate *im)
{
    daemonctx_error e;
    /* In our fd table only: once the original process is gone, the daemon's
     * first report must fail, and nothing may hold that end open. */
    dcx_close(im->plan->report[0]);
    if (setsid() < 0) {
        dcx_fail(&e, DAEMONCTX_STEP_SETSID, errno, "cannot create a new session: %m");
        dcx_report_fatal(im->plan->report[1], &e);
    }
    pid_t daemon = im->body ? dcx_spawn(im->body, im->arg) : fork();
    if (daemon == -1 && !im->body)
        daemon = -errno;
    if (daemon < 0) {
        dcx_fail(&e, DAEMONCTX_STEP_FORK, -daemon, "cannot fork the daemon: %m");
        dcx_report_fatal(im->plan->report[1], &e);
    }
    if (daemon > 0)
        _exit(0);
}

pid_t dcx_detach(struct dcx_plan *plan, int (*body)(void *), void *arg, daemonctx_error *err)
{
    const struct intermediate im = {.plan = plan, .body = body, .arg = arg};
    pid_t child = fork();
    if (child < 0)
        return dcx_fail(err, DAEMONCTX_STEP_FORK, errno, "cannot fork: %m");
    if (child > 0) {
        dcx_ready_forget_child_end(&plan->ready);
        dcx_close(plan->report[1]);
        plan->report[1] = -1;
        if (plan->ready_placeholder >= 0)
            dcx_close(plan->ready_placeholder);
        plan->ready_placeholder = -1;
        return child;
    }
    intermediate_main(&im);
    /* The daemon. It tells the original process who it is first: if that
     * fails, the original process is gone (killed while it waited) and
     * nobody asked for this daemon any more. */
    plan->report[0] = -1; /* closed by the intermediate child */
    plan->ready_placeholder = -1; /* fd N is the readiness pipe's soon */
    if (dcx_report_send(plan->report[1], DCX_REC_PID, getpid(), NULL) < 0)
        _exit(1);
    return 0;
}
