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
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "supervise.h"

/* The signals passed on to PROGRAM: all catchable ones but SIGCHLD (ours) and
 * those the kernel raises on a fault, which must keep killing the supervisor
 * if it ever faults. A reaper takes SIGCHLD through the signalfd too. */
void init_prepare(struct supervisor *s)
{
    static const int own[] = {SIGCHLD, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
    (void)sigfillset(&s->forwarded);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        (void)sigdelset(&s->forwarded, own[i]);
    if (!s->o->run)
        return;
    if (s->o->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        supervisor_fail(s, DAEMONCTX_STEP_FORK, errno, "cannot become a child subreaper: %s", strerror(errno));
    s->reaper = getpid() == 1 || s->o->subreaper;
    if (s->reaper)
        (void)sigaddset(&s->forwarded, SIGCHLD);
    /* In the foreground of a terminal: PROGRAM stays in our process group. */
    s->terminal = !s->o->signal_group && isatty(0) && tcgetpgrp(0) == getpgrp();
    print_verbose(s->o->verbose, "%s%s", s->reaper ? "reaping orphans" : "not reaping orphans (not PID 1, no --subreaper)",
                  s->terminal ? "; on a terminal: PROGRAM in our process group" : "");
}

void init_reap(struct supervisor *s)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
            return;
        if (si.si_pid == s->child)
            supervisor_run_ended(s, &si, NULL);
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

#define LEFTOVERS_MAX 256

/* What PROGRAM left: as PID 1 every other process of the namespace; as a
 * subreaper our children; and the members of PROGRAM's own process group.
 * Up to MAX of them in PIDS; the count. */
static size_t find_leftovers(const struct supervisor *s, pid_t *pids, size_t max)
{
    pid_t self = getpid(), group = s->group;
    DIR *d = opendir("/proc");
    size_t n = 0;
    if (!d)
        return 0;
    const struct dirent *e;
    while (n < max && (e = readdir(d))) {
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        struct dcx_proc st;
        if (pid <= 1 || pid == self || dcx_proc_stat(pid, &st) < 0 || st.state == 'Z')
            continue;
        if (self == 1 || (s->reaper && st.ppid == self) || (group > 1 && st.pgrp == group))
            pids[n++] = pid;
    }
    (void)closedir(d);
    return n;
}

/* Signal what is left; 0 when nothing is. */
static size_t signal_leftovers(const struct supervisor *s, int signo)
{
    pid_t pids[LEFTOVERS_MAX];
    size_t n = find_leftovers(s, pids, LEFTOVERS_MAX);
    for (size_t i = 0; i < n; i++)
        (void)kill(pids[i], signo);
    return n;
}

/* Until DEADLINE or until none is left: woken by our children's ends
 * (SIGCHLD, reaped) or, for the others, by a look every 20 ms. */
static void wait_leftovers(const struct supervisor *s, long long deadline)
{
    pid_t pids[LEFTOVERS_MAX];
    while (find_leftovers(s, pids, LEFTOVERS_MAX) > 0 && dcx_remaining_ms(deadline) > 0) {
        struct pollfd p = {.fd = s->reaper ? s->sigfd : -1, .events = POLLIN};
        int left = dcx_remaining_ms(deadline);
        (void)poll(&p, 1, left < 20 ? left : 20);
        if (s->reaper) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            while (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 && si.si_pid != 0)
                memset(&si, 0, sizeof si);
        }
    }
}

void init_exit(struct supervisor *s, const siginfo_t *si)
{
    int code = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
    long long deadline = dcx_now_ms() + s->o->grace_ms;
    if (signal_leftovers(s, SIGTERM) > 0) {
        print_verbose(s->o->verbose, "leftovers of program '%s' get SIGTERM, then SIGKILL in %u ms", s->o->argv[0],
                      s->o->grace_ms);
        wait_leftovers(s, deadline);
        /* The grace is over: what is left is killed, and not waited for
         * (as PID 1, our exit ends the namespace anyway). */
        (void)signal_leftovers(s, SIGKILL);
    }
    exit(code);
}
