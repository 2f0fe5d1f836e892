/* Internal interfaces of the daemonctx command. It is built on the library:
 * the public API, and the library's internal toolkit (clock, child watch,
 * readiness sources, /proc and pidfile probes) it links statically. */
#ifndef DAEMONCTX_CLI_H
#define DAEMONCTX_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemonctx.h"
#include "toolkit.h"

/* Exit codes of `start` (and of usage errors everywhere). Each failure class
 * has its own code so a script can tell them apart; daemonctx(1) documents
 * this table, keep both in step. */
enum {
    EXIT_OK = 0,
    EXIT_SYSTEM = 1,    /* a system call failed (fork, pipe, socket...) */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_RUNNING = 3,   /* the pidfile is locked: already running */
    EXIT_PIDFILE = 4,   /* the pidfile cannot be created, locked or written */
    EXIT_USER = 5,      /* unknown user or group, or the privilege drop failed */
    EXIT_FILE = 6,      /* a --stdin/--stdout/--stderr file, /dev/null or syslog */
    EXIT_DIRECTORY = 7, /* the --chroot or --chdir directory */
    EXIT_DIED = 8,      /* PROGRAM ended (or gave up) before it was ready */
    EXIT_TIMEOUT = 9,   /* PROGRAM was not ready in time; it was killed */
    EXIT_NOEXEC = 126,  /* PROGRAM found but cannot be executed */
    EXIT_NOTFOUND = 127 /* PROGRAM not found */
};

/* `status` follows LSB init scripts. */
enum {
    STATUS_RUNNING = 0,
    STATUS_STALE = 1,
    STATUS_NOT_RUNNING = 3,
    STATUS_UNKNOWN = 4
};

/* `stop`. */
enum {
    STOP_OK = 0,          /* stopped, or was not running */
    STOP_STILL_RUNNING = 1,
    STOP_ERROR = 4        /* the state cannot be told, or signalling failed */
};

enum ready_kind { READY_EXEC, READY_FD, READY_NOTIFY };

/* --env NAME=VALUE or --env-file FILE, in the order given. */
struct env_option {
    bool file;
    const char *text;
};

/* --limit RESOURCE=SOFT[:HARD]: a value not given keeps the current one. */
struct start_limit {
    bool set, soft_set, hard_set;
    rlim_t soft, hard;
};

struct start_opts {
    const char *pidfile;
    const char *chdir;
    const char *chroot;
    mode_t umask;
    const char *user;
    const char *group;
    bool allow_core;
    enum daemonctx_detach detach;
    int *keep_fds;
    size_t n_keep;
    const char *stdio_path[3];
    bool syslog;
    int syslog_priority; /* facility | level */
    bool supervise;
    bool restart;
    unsigned restart_delay_ms;
    unsigned restart_max_ms;
    enum ready_kind ready;
    int ready_fd;
    unsigned timeout_ms; /* 0: no limit */
    bool dry_run;
    bool verbose;
    sigset_t ignore; /* --ignore-signal */
    struct start_limit limits[RLIMIT_NLIMITS]; /* --limit */
    bool set_nice;   /* --nice */
    int nice;
    bool set_oom_score_adj; /* --oom-score-adjust */
    int oom_score_adj;
    enum daemonctx_cgroup cgroup; /* --cgroup: AUTO by default */
    const char *cgroup_parent;
    const char *runtime_dir; /* --runtime-dir */
    mode_t runtime_dir_mode;
    bool clear_env;  /* --clear-env */
    struct env_option *env; /* --env, --env-file */
    size_t n_env;
    char **argv;     /* PROGRAM ARG... */
};

/* What `start` resolved before daemonizing. */
struct launch {
    uid_t uid;
    gid_t gid;
    bool set_uid;
    bool set_gid;
    char *root;     /* absolute, symlink-free chroot directory, or NULL */
    char *cwd;      /* working directory inside the new root */
    char *program;  /* what to pass to execve, inside the new root */
    int stdio_fd[3];
    bool stdio_created[3]; /* this start created the output file */
    int syslog_fd;  /* connected to /dev/log, or -1 */
    int lock_fd;    /* where PROGRAM inherits the pidfile lock, or -1 */
    int err_fd;     /* the invoker's stderr, for errors after the library redirected it; or -1 */
    int die_signal; /* the interruption to die of once cleaned up, or 0 */
    int orphans_fd; /* the supervisor's SIGCHLD signalfd for adopted orphans, or -1 */
    bool verbose;
    bool forks;
    const char *detach_reason;
    daemonctx_pidfile *pidfile;
    daemonctx *ctx;
};

/* diag.c: the one-line messages every command prints. */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage error for what getopt_long() returned as C ('?' or ':'). */
void getopt_usage_error(int c, char **argv);
void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, on FD (the saved stderr of a start that no longer has its own). */
void print_error_to(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void print_verbose(bool verbose, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* help.c */
int print_help(void);
int print_version(void);

/* parse.c: option values. Each returns 0 or -1 (never prints). */
int parse_int(const char *s, long min, long max, long *out);
int parse_seconds(const char *s, unsigned *ms);
int parse_octal_mode(const char *s, mode_t *out);
int parse_signal(const char *s, int *signo);
int parse_syslog(const char *s, int *priority);
int parse_limit(const char *s, int *resource, struct start_limit *lim);

/* options.c */
int parse_start_options(int argc, char **argv, struct start_opts *o);
/* What parse_start_options() allocated (O itself is the caller's). */
void free_start_options(struct start_opts *o);

/* service.c: the options that make PROGRAM a service (limits, nice,
 * oom_score_adj...), set on the library's context for any launch path
 * (start, run). 0, or the exit code after printing why. */
int configure_service(const struct start_opts *o, struct launch *l);
/* envfile.c: systemd's EnvironmentFile= syntax. FN gets each assignment
 * (with the line it starts on); a negative return stops the parse with it.
 * 0, or -1 with E saying where and what (E->what NULL: FN's failure). */
struct env_file_error {
    unsigned line;
    const char *what;
};
typedef int (*env_file_assign)(void *arg, const char *name, const char *value, unsigned line);
int env_file_parse(const char *data, size_t len, env_file_assign fn, void *arg, struct env_file_error *e);

/* --dry-run: the service's lines of the plan. */
void print_service_plan(const struct start_opts *o, const struct launch *l);
/* --verbose: how the daemon's tree will be tracked. */
void say_tree_tracking(const struct start_opts *o, const struct launch *l);

/* resolve.c: checks done before forking, so failures are reported at once. */
int resolve_identity(const struct start_opts *o, struct launch *l);
int resolve_directories(const struct start_opts *o, struct launch *l);
int resolve_program(const struct start_opts *o, struct launch *l);
/* After a failed start: remove the output files it created, if still empty
 * (a file the program wrote to says why it failed, and stays). */
void remove_created_outputs(const struct start_opts *o, const struct launch *l);
int open_stdio_files(const struct start_opts *o, struct launch *l);
int check_stdio_files(const struct start_opts *o);
char *join_path(const char *a, const char *b);

/* start.c, plan.c */
int cmd_start(int argc, char **argv);
void print_plan(const struct start_opts *o, const struct launch *l);

/* exec.c: the last steps before PROGRAM runs (async-signal-safe). */
int exit_code_for(const daemonctx_error *err);
void report_failure(const struct launch *l, const daemonctx_error *err);
void daemon_error(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *what);
int reset_signals(const sigset_t *ignore);
struct program_start {
    const struct start_opts *o;
    const struct launch *l;
};
int prepare_program(void *arg, daemonctx_error *err);

/* supervise.c */
void supervise(const struct start_opts *o, struct launch *l) __attribute__((noreturn));

/* orphans.c: the supervisor and the rest of PROGRAM's tree. After open():
 * without a cgroup, the subreaper of PROGRAM's tree (l->orphans_fd: poll it,
 * then orphans_reap); orphans_end once PROGRAM was reaped. */
void orphans_prepare(struct launch *l);
void orphans_reap(struct launch *l, pid_t program);
void orphans_end(struct launch *l);

/* syslog.c */
int syslog_connect(void);
struct log_stream {
    int fd;
    size_t len;
    char buf[1024];
};
int syslog_pump(int sock, struct log_stream *ls, int priority, const char *ident, pid_t pid);

/* stop.c, status.c */
int cmd_stop(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
