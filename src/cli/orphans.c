/* --supervise and the rest of PROGRAM's tree.
 *
 * With a cgroup, it holds the whole tree. Without one (no cgroup v2,
 * --cgroup=none, systemd without delegation), the supervisor is the child
 * subreaper of PROGRAM's tree: what PROGRAM orphans, also after leaving its
 * session, comes to the supervisor instead of init, so that it stays among
 * the descendants of the PID the pidfile names (stop finds it there); the
 * supervisor reaps those as they end (a SIGCHLD signalfd in its loop, unless
 * PROGRAM's own watch takes SIGCHLD, without pidfds: then at PROGRAM's end).
 * Either way, when PROGRAM ends the supervisor ends what is left of its tree
 * (daemonctx_end_others) before it exits or restarts PROGRAM. */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

void orphans_prepare(struct launch *l)
{
    l->orphans_fd = -1;
    if (daemonctx_cgroup(l->ctx))
        return;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return;
    int probe = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (probe < 0) /* PROGRAM's watch takes SIGCHLD: ours would steal it */
        return;
    dcx_close(probe);
    sigset_t chld;
    if (sigemptyset(&chld) < 0 || sigaddset(&chld, SIGCHLD) < 0 || sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
        return;
    l->orphans_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
}

void orphans_reap(struct launch *l, pid_t program)
{
    struct signalfd_siginfo info;
    while (read(l->orphans_fd, &info, sizeof info) == (ssize_t)sizeof info)
        ;
    /* Looked at without reaping first: PROGRAM's status is its watch's. */
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0 || si.si_pid == program)
            return;
        (void)waitpid(si.si_pid, NULL, WNOHANG);
    }
}

void orphans_end(struct launch *l)
{
    daemonctx_error err;
    if (daemonctx_end_others(l->ctx, 5000, &err) < 0)
        print_verbose(l->verbose, "supervisor: %s", err.message);
}
