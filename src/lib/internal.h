/* Internal interfaces of libdaemonctx. Functions return 0 or -errno. */
#ifndef DAEMONCTX_INTERNAL_H
#define DAEMONCTX_INTERNAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>

#include "daemonctx.h"

/* ---------------------------------------------------------------- error.c */

/* Fill ERR: a printf-like subset that is async-signal-safe (no malloc, no
 * locale): %s %d %ld %u %o and %m (the text of ERRNUM). Returns -ERRNUM, or
 * -EINVAL when ERRNUM is 0, so callers can `return dcx_fail(...)`. */
int dcx_fail(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int dcx_vfail(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void dcx_clear(daemonctx_error *err);
const char *dcx_errtext(int errnum);

/* -------------------------------------------------------------- context.c */

struct dcx_signal_entry {
    enum daemonctx_signal_action action;
    void (*handler)(int);
};

struct daemonctx {
    /* the seed's options */
    char *chroot_directory; /* NULL: none */
    char *working_directory;
    mode_t umask;
    uid_t uid;
    gid_t gid;
    bool prevent_core;
    enum daemonctx_detach detach;
    int *files_preserve;
    size_t n_preserve;
    daemonctx_pidfile *pidfile;
    int stdio[3]; /* -1: /dev/null */
    struct dcx_signal_entry signal_map[NSIG];

    /* ours */
    enum daemonctx_ready_mode ready_mode;
    unsigned int timeout_ms;
    bool parent_returns;

    /* state */
    bool is_open;
    pid_t daemon_pid;
    int report_fd; /* daemon side of the report channel, -1 when closed */
    daemonctx_error last_error;
};

/* Everything open() prepares in the original process, so that the daemon side
 * only runs async-signal-safe system calls on memory that is already there. */
struct dcx_plan {
    bool fork;
    bool change_ids;
    bool set_groups;
    gid_t *groups;
    size_t n_groups;
    char *user_name; /* the uid's passwd name, NULL when it has none */
    char *root_cwd; /* working directory inside the new root */
    int devnull;    /* -1 when no stdio stream goes to /dev/null */
    bool to_devnull[3];
    int report[2];  /* report pipe, -1 when not detaching */
    int *keep;      /* sorted, unique fds the fd-closing step keeps */
    size_t n_keep;
    int interrupted_by; /* the signal that ended the invoker's wait, or 0 */
    const struct dcx_exec *exec; /* daemonctx_open_execve(): the daemon execs */
};

struct dcx_exec {
    const char *path;
    char *const *argv;
    char *const *envp;
    daemonctx_exec_hook hook;
    void *arg;
};

/* ---------------------------------------------------------- the open steps */

/* detach.c */
int dcx_detach_decide(const daemonctx *ctx, const char **reason);
int dcx_detach(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* open.c: the daemon of daemonctx_open_execve(), made by dcx_detach(); it
 * may share the caller's memory, and never returns. */
__attribute__((noreturn)) void dcx_daemon_exec(daemonctx *ctx, const struct dcx_plan *plan, long long deadline);

/* root.c */
int dcx_normalize_path(const char *in, char *out, size_t size);
int dcx_plan_root(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_chroot(const daemonctx *ctx, daemonctx_error *err);
int dcx_chdir(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err);

/* core.c */
int dcx_prevent_core(const daemonctx *ctx, daemonctx_error *err);
void dcx_set_umask(const daemonctx *ctx);

/* privileges.c */
int dcx_plan_privileges(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_drop_privileges(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err);

/* signals.c */
int dcx_apply_signal_map(daemonctx *ctx, bool for_exec, daemonctx_error *err);
int dcx_unblock_all_signals(daemonctx_error *err);

/* closefds.c */
int dcx_close_fds(const int *keep, size_t n_keep, daemonctx_error *err);

/* stdio.c */
/* Move an fd the library opened off 0-2 (closed in the caller, they are the
 * first numbers open() hands out), close-on-exec. Returns the fd or -1. */
int dcx_fd_above_stdio(int fd);
int dcx_plan_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_redirect_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);

/* pidfile.c */
/* "PID\n" (the newline optional) -> PID; 0 for anything else. */
pid_t dcx_parse_pid(const char *s, size_t n);
int dcx_pidfile_lock(daemonctx_pidfile *pf, daemonctx_error *err);
int dcx_pidfile_write(daemonctx_pidfile *pf, daemonctx_error *err);
void dcx_pidfile_abandon(daemonctx_pidfile *pf);
void dcx_pidfile_remove_unowned(daemonctx_pidfile *pf);
int dcx_pidfile_fds(const daemonctx_pidfile *pf, int fds[2]);
void dcx_pidfile_release_signal_safe(daemonctx_pidfile *pf);

/* report.c: the record the daemon side sends to the original process. */
enum dcx_record_type {
    DCX_REC_PID = 1,   /* the daemon's PID */
    DCX_REC_DONE = 2,  /* open() finished in the daemon */
    DCX_REC_READY = 3, /* daemonctx_ready() */
    DCX_REC_EXEC = 4,  /* about to exec: EOF afterwards means it succeeded */
    DCX_REC_ERROR = 5
};
struct dcx_record {
    uint32_t type;
    int32_t pid;
    daemonctx_error err;
};
int dcx_report_open(struct dcx_plan *plan, daemonctx_error *err);
int dcx_report_send(int fd, enum dcx_record_type type, pid_t pid, const daemonctx_error *err);
/* Abort a daemon-side step: report ERR when there is a channel, then _exit. */
__attribute__((noreturn)) void dcx_report_fatal(int fd, const daemonctx_error *err);
/* CLOCK_MONOTONIC in ms. */
long long dcx_now_ms(void);
/* Now + the context's timeout, in CLOCK_MONOTONIC ms; -1 without one. */
long long dcx_deadline(const daemonctx *ctx);
/* Add the signals that end a start (those not ignored) to SET. */
void dcx_stop_signals_add(sigset_t *set);
/* In the original process, the intermediate CHILD reaped and the signals
 * STOPS blocked: wait for the daemon's reports until DEADLINE, then put the
 * signal mask RESTORE back. */
int dcx_wait_daemon(daemonctx *ctx, struct dcx_plan *plan, pid_t child, long long deadline, const sigset_t *stops,
                    const sigset_t *restore, daemonctx_error *err);
int dcx_notify_prepare(daemonctx_error *err);
int dcx_notify(const char *message, daemonctx_error *err);
int dcx_notify_ready(daemonctx_error *err);

/* ------------------------------------------------------------------ misc */

/* close() is not retried on EINTR: on Linux the fd is released either way,
 * and a retry could close an fd another thread just got. */
void dcx_close(int fd);

#endif
