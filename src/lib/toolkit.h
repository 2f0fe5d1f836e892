/* The library's internal pieces that its own command (src/cli), linked with
 * the static library, uses too: one clock, one child watch, one kind of
 * readiness source, the /proc and pidfile probes. Not part of the API: the
 * names are not exported from libdaemonctx.so. Functions return 0 or -errno
 * unless said otherwise. */
#ifndef DAEMONCTX_TOOLKIT_H
#define DAEMONCTX_TOOLKIT_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "daemonctx.h"

/* ---------------------------------------------------------------- clock.c */

/* CLOCK_MONOTONIC in ms. */
long long dcx_now_ms(void);
/* Now + MS; -1 (no deadline) when MS is 0. */
long long dcx_deadline_after(unsigned ms);
/* What is left before DEADLINE for poll(): -1 when DEADLINE < 0 (none). */
int dcx_remaining_ms(long long deadline);
/* poll() one fd until DEADLINE, through EINTR: 1 ready, 0 timed out, -errno. */
int dcx_poll_one(int fd, short events, long long deadline);
/* "2", "0.5", "1.250": ms as a user writes seconds. */
const char *dcx_format_seconds(unsigned ms, char *buf, size_t size);

/* ---------------------------------------------------------------- error.c */

/* snprintf's job with the error formatter's subset (%s %d %ld %u %o; a %s
 * over 160 bytes shortened in its middle), async-signal-safe; at most
 * DAEMONCTX_MESSAGE_MAX - 1 bytes. Returns the length written. */
size_t dcx_format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --------------------------------------------------------------- fd helpers */

/* close() is not retried on EINTR: on Linux the fd is released either way,
 * and a retry could close an fd another thread just got. Keeps errno. */
void dcx_close(int fd);
/* FD moved to a number >= MIN, close-on-exec (FD itself is closed); FD when
 * it is there already. -1 with errno. */
int dcx_fd_above(int fd, int min);

/* ---------------------------------------------------------------- signals.c */

/* "TERM" for SIGTERM; NULL for a number without a name. */
const char *dcx_signal_name(int signo);
/* "TERM", "SIGTERM", "term" or "15" -> the number; -EINVAL. */
int dcx_signal_number(const char *name);

/* ---------------------------------------------------------------- cgroup.c */

/* The cgroup2 mount point and the hierarchy path of its root: 0, -ENOENT. */
int dcx_cgroup_mount(char *mnt, size_t size, char *root, size_t rsize);
/* PID's (0: ours) path in the cgroup v2 hierarchy ("0::" of /proc/PID/cgroup). */
int dcx_cgroup_of(pid_t pid, char *path, size_t size);
/* The name of the cgroup of the pidfile at canonical PIDFILE: length, -errno. */
int dcx_cgroup_name(const char *pidfile, char *name, size_t size);
/* Every process of the cgroup DIR (and below) killed, until DEADLINE for it
 * to empty, then removed; 0 also when it is gone already. */
int dcx_cgroup_end(const char *dir, long long deadline, daemonctx_error *err);

/* --------------------------------------------------------------- environ.c */

/* NAME (LEN bytes) is letters, digits and underscores, not starting with a
 * digit: what daemonctx_setenv() accepts. */
bool dcx_env_name_valid(const char *name, size_t len);

/* ---------------------------------------------------------------- limits.c */

/* prlimit(1)'s name of RESOURCE ("nofile"), or NULL. */
const char *dcx_rlimit_name(int resource);
/* "nofile" -> RLIMIT_NOFILE; -EINVAL. */
int dcx_rlimit_number(const char *name);
/* "1024", "unlimited". */
const char *dcx_format_rlim(rlim_t v, char *buf, size_t size);

/* ------------------------------------------------------------------ proc.c */

/* PID's state letter, parent, process group and session from
 * /proc/PID/stat; -ESRCH when it is gone. */
struct dcx_proc {
    char state;
    pid_t ppid, pgrp, session;
};
int dcx_proc_stat(pid_t pid, struct dcx_proc *st);
/* Whether PID is gone or a zombie. */
bool dcx_proc_ended(pid_t pid);
/* Whether PID is ROOT or one of its descendants (walking up from PID). */
bool dcx_proc_in_tree(pid_t pid, pid_t root);

/* ---------------------------------------------------------------- watch.c */

/* A child of ours to wait for and signal, until it is reaped: through a
 * pidfd, or where pidfd_open is refused (ENOSYS, EPERM), through SIGCHLD
 * read from a signalfd, with waitid(WNOWAIT) looks. Either way the child is
 * reaped only by dcx_watch_reap(): until then its PID and process group
 * cannot be reused, so signalling by PID is safe. */
struct dcx_watch {
    pid_t pid;  /* 0: none, or reaped */
    int fd;     /* poll() it for POLLIN: the pidfd, or the SIGCHLD signalfd; -1 */
    bool pidfd; /* fd is a pidfd */
    int no_pidfd; /* why not: pidfd_open's errno (ENOSYS, EPERM), or 0 */
};
#define DCX_WATCH_NONE ((struct dcx_watch){.pid = 0, .fd = -1, .pidfd = false, .no_pidfd = 0})

/* Watch PID (our child, not reaped). W names PID even on failure, so that
 * dcx_watch_kill() can still end it. */
int dcx_watch_open(struct dcx_watch *w, pid_t pid);
/* After POLLIN on W's fd: 1 ended (not reaped yet, or reaped by someone
 * else), 0 runs, -errno. Without a pidfd the fd is readable again only at
 * the next SIGCHLD: act on a 1 at once. */
int dcx_watch_ended(struct dcx_watch *w);
/* Until DEADLINE (< 0: none): 1 ended, 0 not by then, -errno. */
int dcx_watch_wait(struct dcx_watch *w, long long deadline);
/* Send SIGNO; -ESRCH once reaped. */
int dcx_watch_signal(const struct dcx_watch *w, int signo);
/* Wait for the end and reap: 0 with SI filled (si_pid 0: reaped by someone
 * else, status unknown), -errno. Then W names nobody. */
int dcx_watch_reap(struct dcx_watch *w, siginfo_t *si);
/* SIGKILL to the child and to its process group (unless that is ours),
 * then reap. */
void dcx_watch_kill(struct dcx_watch *w, siginfo_t *si);
void dcx_watch_close(struct dcx_watch *w);

/* "exited with status 3", "was killed by signal TERM", "ended". */
void dcx_describe_exit(const siginfo_t *si, char *buf, size_t size);

/* ----------------------------------------------------------------- ready.c */

/* Where readiness comes from, in the process that waits for it:
 *   DCX_READY_FD:     a pipe; the child gets its write end as fd TARGET and
 *                     writes a newline there once ready (s6, OpenRC); EOF
 *                     first means it died or gave up;
 *   DCX_READY_NOTIFY: an autobound abstract AF_UNIX datagram socket with
 *                     SO_PASSCRED, named to the child by ENV
 *                     ("NOTIFY_SOCKET=@..."): a whole line "READY=1" from
 *                     the child's process tree (systemd's protocol). */
enum dcx_ready_kind { DCX_READY_NONE = 0, DCX_READY_FD, DCX_READY_NOTIFY };
struct dcx_ready {
    enum dcx_ready_kind kind;
    int fd;         /* ours: the pipe's read end or the socket; -1 */
    int child_fd;   /* the pipe's write end until the child has it; -1 */
    int target;     /* fd N in the child */
    pid_t main_pid; /* whose tree may notify */
    char env[40];   /* "NOTIFY_SOCKET=@name" */
};
#define DCX_READY_CLOSED ((struct dcx_ready){.kind = DCX_READY_NONE, .fd = -1, .child_fd = -1, .target = -1})
enum dcx_ready_event { DCX_READY_PENDING, DCX_READY_DONE, DCX_READY_EOF };

/* Make the source; its fds are close-on-exec and above TARGET (so the
 * child's dup2 onto TARGET cannot clobber them). ERR names the step "pipe". */
int dcx_ready_open(struct dcx_ready *r, enum dcx_ready_kind kind, int target, daemonctx_error *err);
/* In the child, before exec (async-signal-safe): the write end onto fd
 * TARGET, inherited across exec. */
int dcx_ready_child_setup(const struct dcx_ready *r);
/* In the waiting process once the child is made: our copy of the write end
 * would keep EOF from ever coming. */
void dcx_ready_forget_child_end(struct dcx_ready *r);
/* R's fd is readable: ready, EOF (gave up or died), or not yet. */
enum dcx_ready_event dcx_ready_read(struct dcx_ready *r);
void dcx_ready_close(struct dcx_ready *r);
/* ENVP with NOTIFY_SOCKET replaced by ENTRY, or removed when ENTRY is NULL
 * (the strings are shared, the array is new; free() it). NULL with errno
 * ENOMEM. */
char **dcx_environ_with(char *const envp[], const char *entry);

/* An exiting process closes its fds a moment before its exit can be waited
 * for: after EOF on a readiness pipe, how long its end may take to show
 * before we decide it closed the fd and lives on. */
#define DCX_EXIT_AFTER_EOF_MS 250

/* The error for a child (WHO: "daemon", "program 'x'") that did not become
 * ready: it died (SI), closed readiness fd FD, or was not ready within MS. */
int dcx_fail_died(daemonctx_error *err, const char *who, pid_t pid, const siginfo_t *si);
int dcx_fail_gave_up(daemonctx_error *err, const char *who, pid_t pid, int fd);
int dcx_fail_timeout(daemonctx_error *err, const char *who, pid_t pid, unsigned ms);

/* ---------------------------------------------------------------- notify.c */

/* Send MESSAGE to the service manager's $NOTIFY_SOCKET (as read by
 * dcx_notify_prepare); 0 when there is none. Async-signal-safe. */
int dcx_notify(const char *message, daemonctx_error *err);
/* "READY=1\nMAINPID=<our PID>". */
int dcx_notify_ready(daemonctx_error *err);

/* --------------------------------------------------------------- pidfile.c */

/* Whether process PID holds an flock on DEV:INO through one of its fds:
 * 1 yes, 0 no (or no such process), -errno when /proc cannot tell. */
int dcx_pid_holds_lock(pid_t pid, dev_t dev, ino_t ino);
/* Remove the pidfile PATH if nobody holds its lock and, when MATCH_INODE, it
 * is still DEV:INO; never a file with other hard links (-EMLINK). Taken
 * under its lock, so a starter creating a new daemon keeps its file.
 * 1 removed, 0 left (absent, replaced or locked), -errno. */
int dcx_pidfile_remove_dead(const char *path, bool match_inode, dev_t dev, ino_t ino);

#endif
