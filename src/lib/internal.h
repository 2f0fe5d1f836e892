/* Internal interfaces of libdaemonctx. Functions return 0 or -errno. */
#ifndef DAEMONCTX_INTERNAL_H
#define DAEMONCTX_INTERNAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <limits.h>
#include <sys/stat.h>

#include "daemonctx.h"

#include "toolkit.h"

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

struct dcx_rlimit_entry {
    bool set;
    rlim_t soft, hard;
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
    struct dcx_rlimit_entry rlimits[RLIMIT_NLIMITS];
    bool set_nice;
    int nice;
    bool set_oom_score_adj;
    int oom_score_adj;
    bool clear_env;    /* the daemon's environment starts empty */
    bool identity_env; /* HOME, USER, LOGNAME, SHELL of uid */
    bool runtime_owner_set;
    char **env;        /* daemonctx_setenv(): "NAME=VALUE", or "NAME" to remove */
    size_t n_env;
    char *runtime_dir; /* normalized absolute path, or NULL */
    mode_t runtime_dir_mode;
    uid_t runtime_uid; /* with runtime_owner_set, else the daemon's uid and gid own it */
    gid_t runtime_gid;
    enum daemonctx_cgroup cgroup_mode;
    char *cgroup_parent; /* DAEMONCTX_CGROUP_PARENT's */
    enum daemonctx_ready_mode ready_mode;
    int ready_fd; /* N of DAEMONCTX_READY_FD */
    unsigned int timeout_ms;
    bool parent_returns;

    /* state */
    bool is_open;
    pid_t daemon_pid;
    char *cgroup_dir; /* the cgroup open() put the daemon in, or NULL */
    int tree_fd;      /* in a daemon of open() tracking its tree: its cgroup
                         directory, or /proc; -1 */
    int report_fd; /* daemon side of the report channel, -1 when closed */
    daemonctx_error last_error;
};

/* The runtime directory of a start (rundir.c). */
struct dcx_rundir {
    int fd;     /* the directory, until the pidfile is locked; -1 */
    bool made;  /* this start created it: a failed start removes it */
    bool ours;  /* made by a start of this pidfile: marked for stop */
    char *top;  /* the first missing parent this start created, or NULL */
    dev_t dev;
    ino_t ino;
};

/* The daemon's cgroup (cgroup.c). */
struct dcx_cgroup_plan {
    char *dir;  /* its directory, or NULL: none */
    bool made;  /* this start made it: a failed start removes it */
    int procs;  /* its cgroup.procs, which the daemon writes itself into; -1 */
    int home;   /* without a fork: the caller's own cgroup.procs, to go back; -1 */
};
struct dcx_cgroup_choice {
    const char *why;
    char parent[PATH_MAX];
    char dir[PATH_MAX];
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
    int report[2];  /* report channel: [0] the original process's end; -1 when not detaching */
    struct dcx_ready ready; /* the readiness source, when detaching with one */
    int ready_placeholder;  /* what holds fd N in the original process until the fork; -1 */
    char **envp;    /* the daemon's environment (environ.c), one allocation; NULL: unchanged */
    int *keep;      /* sorted, unique fds the fd-closing step keeps */
    size_t n_keep;
    int interrupted_by; /* the signal that ended the original process's wait, or 0 */
    int proc_fd;    /* /proc, for the daemon's own oom_score_adj; -1 */
    struct dcx_rundir rundir;
    struct dcx_cgroup_plan cgroup;
    int tree_fd;    /* what becomes ctx->tree_fd in the daemon; -1 */
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

/* detach.c: the decision, and the double fork. dcx_detach() returns the
 * intermediate child's PID in the original process and 0 in the daemon; a
 * daemon that only execs is BODY(ARG), made without copying memory
 * (spawn.c), and never returns. */
int dcx_detach_decide(const daemonctx *ctx, const char **reason);
/* The original process while it detaches and waits: a child subreaper,
 * SIGCHLD at its default, every signal blocked (MASK: as it was). */
struct dcx_invoker {
    struct sigaction sigchld;
    int subreaper;
    sigset_t mask;
};
int dcx_invoker_begin(struct dcx_invoker *inv, daemonctx_error *err);
/* Back as it was; IN_DAEMON: in the forked daemon (which has no flag). */
void dcx_invoker_end(const struct dcx_invoker *inv, bool in_daemon);
pid_t dcx_detach(struct dcx_plan *plan, int (*body)(void *), void *arg, daemonctx_error *err);
/* spawn.c: FN(ARG) in a child that shares our memory while we are suspended
 * (CLONE_VM | CLONE_VFORK, as posix_spawn makes one); FN must exec or _exit.
 * A plain fork() where that is refused. Returns the child's PID or -errno. */
pid_t dcx_spawn(int (*fn)(void *), void *arg);

/* root.c */
int dcx_normalize_path(const char *in, char *out, size_t size);
int dcx_plan_root(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_chroot(const daemonctx *ctx, daemonctx_error *err);
int dcx_chdir(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err);

/* core.c */
int dcx_prevent_core(const daemonctx *ctx, daemonctx_error *err);
void dcx_set_umask(const daemonctx *ctx);

/* limits.c: resource limits, nice, oom_score_adj. */
int dcx_check_limits(const daemonctx *ctx, daemonctx_error *err);
/* The fd the daemon needs (after the readiness fd N is reserved). */
int dcx_plan_limits(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* In the daemon, before the privilege drop (async-signal-safe). */
int dcx_apply_limits(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err);

/* environ.c: the daemon's environment, into plan->envp (after the
 * readiness source is made: it may name it). */
int dcx_plan_environment(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
void dcx_environment_free(daemonctx *ctx);

/* mark.c: daemonctx's extended attributes (trusted.*, or user.* without
 * CAP_SYS_ADMIN). FD is a real fd (not O_PATH). get: the length, -ENODATA. */
int dcx_mark_set(int fd, const char *key, const char *value);
int dcx_mark_get(int fd, const char *key, char *buf, size_t size);
int dcx_mark_remove(int fd, const char *key);
int dcx_mark_get_path(const char *path, const char *key, char *buf, size_t size);

/* rundir.c: the runtime directory. */
int dcx_check_rundir(const daemonctx *ctx, daemonctx_error *err);
/* Before the pidfile is locked (it may live there): made if missing. */
int dcx_plan_rundir(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* Once it is locked: adopted if an earlier start of this pidfile made it;
 * the marks. */
int dcx_rundir_after_lock(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* A failed start: what it made goes. */
void dcx_rundir_undo(const daemonctx *ctx, struct dcx_plan *plan);
/* PATH, if still the directory DEV:INO, emptied with its owner's rights
 * and removed; 0 also when it is gone already. */
int dcx_remove_directory(const char *path, dev_t dev, ino_t ino, daemonctx_error *err);
/* The runtime directory the pidfile open as FD is marked with: 1 (PATH, DEV,
 * INO filled), 0 none, -errno. */
int dcx_rundir_marked(const char *pidfile, char *path, size_t size, dev_t *dev, ino_t *ino);

/* cgroup.c */
int dcx_cgroup_decide(const daemonctx *ctx, struct dcx_cgroup_choice *c, daemonctx_error *err);
int dcx_check_cgroup(const daemonctx *ctx, daemonctx_error *err);
/* After the pidfile is locked: made (or found, marked for this pidfile). */
int dcx_plan_cgroup(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* The daemon's first step (async-signal-safe). */
int dcx_cgroup_enter(const struct dcx_plan *plan, daemonctx_error *err);
/* A failed start: back to our own cgroup, and the one it made ended. */
void dcx_cgroup_undo(struct dcx_plan *plan);
/* FN(ARG, PID) for each process of the cgroup DIR and those below it. */
int dcx_cgroup_each_process(const char *dir, void (*fn)(void *, pid_t), void *arg);
int dcx_cgroup_fd_each_process(int dirfd, void (*fn)(void *, pid_t), void *arg);
/* Whether the cgroup open as DIRFD bears the mark of PIDFILE: 1, 0, -errno. */
int dcx_cgroup_marked(int dirfd, const char *pidfile);
int dcx_cgroup_marked_path(const char *dir, const char *pidfile);

/* privileges.c */
/* Whether CAP (CAP_SYS_ADMIN...) is in our effective set. */
bool dcx_capable(int cap);
/* UID's passwd entry into PW, its strings in *BUF (free it): 1 found, 0 no
 * entry (*BUF NULL), -errno (ERR, step "user"). */
struct passwd;
int dcx_lookup_user(uid_t uid, struct passwd *pw, char **buf, daemonctx_error *err);
int dcx_plan_privileges(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_drop_privileges(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err);

/* signals.c */
int dcx_apply_signal_map(daemonctx *ctx, bool for_exec, daemonctx_error *err);
int dcx_unblock_all_signals(daemonctx_error *err);
/* Add the signals that end a start (INT, TERM, HUP, QUIT, unless ignored). */
void dcx_stop_signals_add(sigset_t *set);

/* closefds.c */
int dcx_close_fds(const int *keep, size_t n_keep, daemonctx_error *err);

/* stdio.c */
int dcx_plan_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
int dcx_redirect_stdio(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);

/* ready.c: the readiness source of a detaching open(). */
int dcx_plan_ready(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err);
/* In the daemon, after the fds are closed: fd N for the program. */
int dcx_daemon_ready_fd(const struct dcx_plan *plan, daemonctx_error *err);

/* pidfile.c */
/* "PID\n" (the newline optional) -> PID; 0 for anything else. */
pid_t dcx_parse_pid(const char *s, size_t n);
int dcx_pidfile_lock(daemonctx_pidfile *pf, daemonctx_error *err);
/* PATH with its directory's symbolic links resolved (lexically normalized
 * when that directory does not exist yet): how a pidfile names its cgroup
 * and marks. Length, or -errno. */
int dcx_canonical_path(const char *path, char *out, size_t size);
int dcx_pidfile_canonical(const daemonctx_pidfile *pf, char *out, size_t size);
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
/* Read one record: 1 got one, 0 EOF, -errno (-EPROTO: malformed). */
int dcx_report_recv(int fd, struct dcx_record *rec);
/* Abort a daemon-side step: report ERR when there is a channel, then _exit. */
__attribute__((noreturn)) void dcx_report_fatal(int fd, const daemonctx_error *err);

/* wait.c: in the original process, with the intermediate child INTERMEDIATE
 * made and every signal blocked (the mask before that in RESTORE): wait until
 * the daemon is ready, or it failed (ERR; nothing left behind). */
int dcx_wait_daemon(daemonctx *ctx, struct dcx_plan *plan, pid_t intermediate, const sigset_t *restore,
                    daemonctx_error *err);

/* notify.c */
/* Where dcx_notify() sends: ADDRESS ("/path" or "@abstract"), or nowhere
 * when NULL or empty. Read once, so that the terminate action can notify
 * from a signal handler without getenv(). */
int dcx_notify_prepare(const char *address, daemonctx_error *err);
/* A datagram socket for the protocol's receiving end (SO_PASSCRED,
 * autobound in the abstract namespace); its name, "@xxxxx", in NAME. */
int dcx_notify_listen(char *name, size_t size);
/* Drain FD: whether a whole "READY=1" line came from ROOT's process tree. */
bool dcx_notify_got_ready(int fd, pid_t root);

#endif
