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
    bool run;           /* `run`: PROGRAM in the foreground, we its supervisor */
    bool signal_group;  /* run --signal-group: signals go to PROGRAM's process group */
    bool subreaper;     /* run --subreaper */
    unsigned grace_ms;  /* run --grace: leftovers get SIGTERM, then SIGKILL */
    bool log_timestamps;
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
    char *log_path[3];     /* the output files' absolute paths, for reopening */
    int syslog_fd;  /* connected to /dev/log, or -1 */
    int lock_fd;    /* where PROGRAM inherits the pidfile lock, or -1 */
    int err_fd;     /* the invoker's stderr, for errors after the library redirected it; or -1 */
    int die_signal; /* the interruption to die of once cleaned up, or 0 */
    bool forks;
    const char *detach_reason;
    daemonctx_pidfile *pidfile;
    daemonctx *ctx;         /* the daemon's (the supervisor's when supervising) */
    daemonctx *program_ctx; /* PROGRAM's, made by a supervisor; NULL */
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
int parse_start_options(int argc, char **argv, struct start_opts *o, bool run);
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

/* start.c, run.c, plan.c */
int cmd_start(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* `start` and `run` alike: parse, check, launch; the exit code. */
int launch_command(int argc, char **argv, bool run);
void print_plan(const struct start_opts *o, const struct launch *l);

/* control.c */
int cmd_reopen(int argc, char **argv);

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

/* program.c: PROGRAM under a supervisor, in a child the library gives its
 * context. */
int program_signal_map(daemonctx *ctx, const sigset_t *ignore);
int program_settings(const struct start_opts *o, const struct launch *l, daemonctx *ctx);
int program_context(const struct start_opts *o, struct launch *l);
struct program_run {
    const struct start_opts *o;
    daemonctx *ctx; /* PROGRAM's context */
    const char *program;
    char **argv;
    char **envp;
    const struct dcx_ready *source;
    int std[3];     /* PROGRAM's stdin, stdout, stderr: an fd, or -1 for /dev/null */
    bool own_group; /* PROGRAM leads a process group of its own */
    int report;
};
/* PROGRAM started: its PID; or -1 with ERR (the child reaped). */
pid_t program_spawn(struct program_run *run, daemonctx_error *err);

/* supervise.c */
void supervise(const struct start_opts *o, struct launch *l) __attribute__((noreturn));
/* idle.c: before a supervisor sleeps, what its start touched goes back,
 * but the pages of CODE (N addresses of the functions that run from the
 * call to the sleep, up to 8). */
void idle_give_back(const void *const *code, size_t n);

/* log.c: PROGRAM's output lines, to a file the supervisor owns or syslog. */
enum sink_kind { SINK_FILE, SINK_SYSLOG };
struct log_sink {
    enum sink_kind kind;
    int fd;           /* SINK_FILE: 1 or 2, the supervisor's own stream; SINK_SYSLOG: the socket */
    int also;         /* SINK_FILE: 2 when stdout and stderr are the same file; -1 */
    const char *path; /* SINK_FILE: reopened by this path */
    int priority;     /* SINK_SYSLOG */
    const char *ident;
    bool timestamps;
};
#define LOG_LINE_MAX 16384
struct log_stream {
    int fd; /* the read end of PROGRAM's pipe; -1 */
    const struct log_sink *sink;
    size_t len;
    char *buf; /* LOG_LINE_MAX bytes */
};
int log_open_file(const char *path, bool *created);
/* The pipe is readable: every whole line out. 0 read some, -1 nothing there
 * now, 1 at EOF (the caller closes). */
int log_pump(struct log_stream *ls, pid_t pid);
/* Everything there now: -1 or 1 as log_pump. */
int log_drain(struct log_stream *ls, pid_t pid);
/* 0, or -1 with WHY: still writing to the old file. */
int log_reopen(const struct log_sink *sink, char *why, size_t size);

/* syslog.c */
int syslog_connect(void);
void syslog_send_line(int sock, int priority, const char *ident, pid_t pid, const char *line, size_t len);

/* stop.c, status.c */
int cmd_stop(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
