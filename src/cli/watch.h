/* A child of ours to wait for and signal: the daemon `start` waits on for
 * readiness, or the PROGRAM a supervisor runs. See watch.c. */
#ifndef DAEMONCTX_CLI_WATCH_H
#define DAEMONCTX_CLI_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct child_watch {
    pid_t pid;  /* 0: none, or reaped */
    int fd;     /* poll() it for POLLIN: the pidfd, or a signalfd of SIGCHLD; -1: none */
    bool pidfd; /* whether fd is a pidfd */
};

#define CHILD_WATCH_NONE ((struct child_watch){.pid = 0, .fd = -1, .pidfd = false})

/* Watch PID, our child, not yet reaped. Through a pidfd, or, when pidfd_open
 * fails with ENOSYS or EPERM, through SIGCHLD (VERBOSE: said once per
 * process). Returns 0, or -1 with errno; W names PID either way, so that
 * child_watch_kill() can still end it. */
int child_watch_open(struct child_watch *w, pid_t pid, bool verbose);
/* After POLLIN on W's fd: 1 the child has ended (still unreaped, or reaped
 * by somebody else), 0 it runs, -1 with errno. Consumes the wakeup: without a
 * pidfd the fd is not readable again until the next SIGCHLD, so act on a 1
 * at once. */
int child_watch_ended(struct child_watch *w);
/* Until DEADLINE (monotonic ms, < 0: none): 1 ended, 0 not by then, -1. */
int child_watch_wait(struct child_watch *w, long long deadline_ms);
/* Signal the child; -1 with ESRCH once it was reaped. */
int child_watch_signal(const struct child_watch *w, int signo);
/* Wait for the end and reap. 0 with SI filled (si_pid 0: reaped by somebody
 * else, status unknown), or -errno. Then W names nobody. */
int child_watch_reap(struct child_watch *w, siginfo_t *si);
/* SIGKILL to the child and its process group (unless that is ours), reap. */
void child_watch_kill(struct child_watch *w, siginfo_t *si);
void child_watch_close(struct child_watch *w);

#endif
