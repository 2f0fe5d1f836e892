/* What `run` adds to the supervisor, to be a correct init for a container
 * (what tini and dumb-init do), or a foreground supervisor on a terminal:
 *   - as PID 1, or with --subreaper, orphans come to us: every one is reaped
 *     at each SIGCHLD (signals merge: one may stand for many ends);
 *   - signals go to PROGRAM, or to its process group (--signal-group); on a
 *     terminal PROGRAM shares our group, so what the terminal sends reaches
 *     it directly and is not sent twice, and a stop signal stops us too, so
 *     that the shell sees the job stop;
 *   - when PROGRAM is over, what it left gets SIGTERM, then SIGKILL after
 *     --grace, and we exit with PROGRAM's status, or 128+N for signal N.
 * The kernel delivers to PID 1 only the signals it handles or blocks: they
 * are all blocked and read from the signalfd. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "supervise.h"

/* The signals passed on to PROGRAM: all catchable ones but SIGCHLD (ours) and
 * those the kernel raises on a fault, which must keep killing the supervisor
 * if it ever faults. A reaper takes SIGCHLD through the signalfd too. */
int init_prepare(struct supervisor *s)
{
    static const int own[] = {SIGCHLD, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
    (void)sigfillset(&s->forwarded);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        (void)sigdelset(&s->forwarded, own[i]);
    if (!s->o->run) {
        /* start --supervise without a cgroup: what PROGRAM orphans, also
         * after leaving its session, stays among the descendants of the PID
         * the pidfile names, where stop finds it. */
        s->reaper = !daemonctx_cgroup(s->l->ctx) && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
        if (s->reaper)
            (void)sigaddset(&s->forwarded, SIGCHLD);
        return 0;
    }
    if (s->o->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return -errno;
    s->reaper = getpid() == 1 || s->o->subreaper;
    if (s->reaper)
        (void)sigaddset(&s->forwarded, SIGCHLD);
    /* In the foreground of a terminal: PROGRAM stays in our process group. */
    s->terminal = !s->o->signal_group && isatty(0) && tcgetpgrp(0) == getpgrp();
    print_verbose(s->o->verbose, "%s%s", s->reaper ? "reaping orphans" : "not reaping orphans (not PID 1, no --subreaper)",
                  s->terminal ? "; on a terminal: PROGRAM in our process group" : "");
    return 0;
}

void init_end_others(struct supervisor *s)
{
    daemonctx_error err;
    if (!s->o->run && daemonctx_end_others(s->l->ctx, 5000, &err) < 0)
        print_verbose(s->o->verbose, "supervisor: %s", err.message);
}

bool init_reap(const struct supervisor *s, siginfo_t *program)
{
    bool ended = false;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
            return ended;
        if (si.si_pid == s->child && !ended) {
            *program = si;
            ended = true;
        }
    }
}

void init_forward(struct supervisor *s, int signo, bool from_kernel)
{
    /* What the terminal sent went to its whole foreground group, PROGRAM
     * included. */
    if (!(s->terminal && from_kernel)) {
        if (s->o->signal_group && s->child)
            (void)kill(-s->child, signo);
        else
            (void)dcx_watch_signal(&s->watch, signo);
    }
    if (s->terminal && getpid() != 1 && (signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU))
        (void)raise(SIGSTOP);
}

/* ---------------------------------------------------------- leftovers */

/* Whether /proc shows our own PID namespace: a PID read there is one kill()
 * can be given (after unshare(CLONE_NEWPID) without a /proc of its own, it
 * shows another namespace's numbers). */
static bool proc_is_ours(void)
{
    char link[32], want[32];
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    if (n <= 0)
        return false;
    link[n] = '\0';
    (void)snprintf(want, sizeof want, "%d", (int)getpid());
    return strcmp(link, want) == 0;
}

/* The live processes (zombies are over) whose parent is PARENT or whose
 * process group is GROUP (0: neither): signalled with SIGNO (0: counted). */
static size_t signal_live(pid_t parent, pid_t group, int signo)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    const struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        struct dcx_proc st;
        if (pid <= 1 || dcx_proc_stat(pid, &st) < 0 || st.state == 'Z' || st.state == 'X')
            continue;
        if ((parent && st.ppid == parent) || (group && st.pgrp == group)) {
            n++;
            if (signo)
                (void)kill(pid, signo);
        }
    }
    (void)closedir(d);
    return n;
}

/* What PROGRAM left: as PID 1 every other process of the namespace (kill(-1)
 * spares only us), as a subreaper our children, and the members of
 * PROGRAM's own process group. */
static void signal_leftovers(const struct supervisor *s, int signo)
{
    if (getpid() == 1)
        (void)kill(-1, signo);
    else if (s->reaper && proc_is_ours())
        (void)signal_live(getpid(), 0, signo);
    if (s->group > 1)
        (void)kill(-s->group, signo);
}

/* Whether PROGRAM's group has live members (its zombies are over), which
 * are not our children: /proc tells, or else kill() (zombies included). */
static bool group_alive(pid_t group)
{
    if (group <= 1)
        return false;
    if (proc_is_ours())
        return signal_live(0, group, 0) > 0;
    return kill(-group, 0) == 0;
}

/* Whether any is left, our children reaped first. A reaper is left with no
 * child only once every process PROGRAM left has ended: the orphans come to
 * it. */
static bool leftovers(const struct supervisor *s)
{
    bool children = false;
    if (s->reaper) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
            memset(&si, 0, sizeof si);
        children = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
    }
    return children || group_alive(s->group);
}

/* Until DEADLINE or until none is left: woken by our children's ends
 * (SIGCHLD), or, for the group's members that are not our children, by a
 * look every 20 ms. */
static void wait_leftovers(const struct supervisor *s, long long deadline)
{
    while (leftovers(s) && dcx_remaining_ms(deadline) > 0) {
        struct pollfd p = {.fd = s->reaper ? s->sigfd : -1, .events = POLLIN};
        int left = dcx_remaining_ms(deadline);
        if (poll(&p, 1, left < 20 ? left : 20) > 0) {
            struct signalfd_siginfo info; /* SIGCHLD, or a signal for nobody now */
            while (read(s->sigfd, &info, sizeof info) == (ssize_t)sizeof info)
                ;
        }
    }
}

void init_exit(struct supervisor *s, const siginfo_t *si)
{
    int code = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
    long long deadline = dcx_now_ms() + s->o->grace_ms;
    /* A service manager waiting on NOTIFY_SOCKET learns we are going. */
    (void)dcx_notify("STOPPING=1", NULL);
    if (leftovers(s)) {
        print_verbose(s->o->verbose, "leftovers of program '%s' get SIGTERM, then SIGKILL in %u ms", s->o->argv[0],
                      s->o->grace_ms);
        signal_leftovers(s, SIGTERM);
        wait_leftovers(s, deadline);
        /* The grace is over: what is left is killed, and not waited for
         * (as PID 1, our exit ends the namespace anyway). */
        if (leftovers(s))
            signal_leftovers(s, SIGKILL);
    }
    exit(code);
}
