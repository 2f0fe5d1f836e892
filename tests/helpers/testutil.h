/*
 * testutil.h - the one harness every daemonctx test binary uses.
 *
 * One test binary per area; each test is a named function registered with
 * TU_TEST(name) and run alone in its own process (argv[1] is the name), so
 * CTest sees one test per behaviour. The harness makes the test process a
 * child subreaper, so every daemon the test starts (through the helper
 * program, the CLI or any other command) ends up as its descendant: it can
 * be inspected from /proc, reaped, and killed at the end even when an
 * assertion failed. Every wait has a deadline; nothing sleeps to
 * synchronise.
 *
 * Plain C and Linux system calls (pidfds through syscall(2)): it builds and
 * runs against glibc and musl alike. Nothing is capped: a test may start as
 * many processes, temporary directories and tracked PIDs as it needs.
 *
 * Runs from anywhere: the programs a test starts that may run under a
 * dropped identity (dcx-helper, dcx-cli-prog) are run from private copies in
 * a 0755 directory of their own (tu_exec_copy), so a checkout under a 0700
 * home works; /proc is compared by device and inode, not by path string.
 */
#ifndef DCX_TESTUTIL_H
#define DCX_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <signal.h>

/* ----------------------------------------------------------------- harness */

typedef void (*tu_fn)(void);
void tu_register(const char *name, tu_fn fn);
int tu_main(int argc, char **argv);

#define TU_TEST(name)                                                                                             \
    static void name(void);                                                                                       \
    __attribute__((constructor)) static void tu_reg_##name(void) { tu_register(#name, name); }                    \
    static void name(void)

#define TU_MAIN                                                                                                   \
    int main(int argc, char **argv) { return tu_main(argc, argv); }

__attribute__((noreturn, format(printf, 3, 4))) void tu_fail_at(const char *file, int line, const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void tu_log(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void tu_skip(const char *fmt, ...);
#define TU_SKIP_CODE 77

/* What the running test is doing (a loop's iteration, a fault rule...):
 * when set, failure messages end with "(while CONTEXT)". */
extern const char *tu_context;

#define TU_FAIL(...) tu_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define TU_ASSERT(c)                                                                                              \
    do {                                                                                                          \
        if (!(c))                                                                                                 \
            TU_FAIL("assertion failed: %s", #c);                                                                  \
    } while (0)
#define TU_ASSERT_MSG(c, ...)                                                                                     \
    do {                                                                                                          \
        if (!(c))                                                                                                 \
            TU_FAIL(__VA_ARGS__);                                                                                 \
    } while (0)
#define TU_ASSERT_INT_EQ(a, b)                                                                                    \
    do {                                                                                                          \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                                 \
        if (tu_a_ != tu_b_)                                                                                       \
            TU_FAIL("%s == %s: got %lld, expected %lld", #a, #b, tu_a_, tu_b_);                                   \
    } while (0)
#define TU_ASSERT_INT_NE(a, b)                                                                                    \
    do {                                                                                                          \
        long long tu_a_ = (long long)(a), tu_b_ = (long long)(b);                                                 \
        if (tu_a_ == tu_b_)                                                                                       \
            TU_FAIL("%s != %s: both are %lld", #a, #b, tu_a_);                                                    \
    } while (0)
#define TU_ASSERT_STR_EQ(a, b) tu_assert_str_eq(__FILE__, __LINE__, #a, (a), (b))
#define TU_ASSERT_CONTAINS(hay, needle) tu_assert_contains(__FILE__, __LINE__, #hay, (hay), (needle))
/* A system call returning -1 on failure: fail with errno text. */
#define TU_SYS(expr) tu_sys_at((long)(expr), __FILE__, __LINE__, #expr)
#define TU_FD(expr) ((int)tu_sys_at((long)(expr), __FILE__, __LINE__, #expr))

void tu_assert_str_eq(const char *file, int line, const char *expr, const char *got, const char *want);
void tu_assert_contains(const char *file, int line, const char *expr, const char *hay, const char *needle);
long tu_sys_at(long r, const char *file, int line, const char *expr);

/* ----------------------------------------------------------- time, strings */

/* Deadline for events that must happen: 15 s, times $DCX_TEST_TIME_SCALE (set
 * by CMake: more under sanitizers), or $DCX_TEST_TIMEOUT_MS. */
int tu_timeout_ms(void);
int64_t tu_now_ms(void);
/* Milliseconds left until DEADLINE (tu_now_ms() clock), for poll(): never
 * negative. */
int tu_left_ms(int64_t deadline);
/* printf into memory freed at the end of the test. */
__attribute__((format(printf, 1, 2))) char *tu_fmt(const char *fmt, ...);
char *tu_strdup(const char *s);
/* Whether the line/string contains the decimal representation of N as a
 * whole number (not as part of a longer number). */
bool tu_contains_number(const char *hay, long long n);
/* Exactly one line: non-empty, ending in its only '\n'. */
bool tu_one_line(const char *s);
/* "ENOENT" for ENOENT (the number as text when unknown), and back. */
const char *tu_errno_name(int e);
int tu_errno_value(const char *name);

/* ------------------------------------------------------------- environment */

bool tu_is_root(void);
/* $NAME, which CTest sets (the programs under test, the source tree); fails
 * the test when it is unset. */
const char *tu_env(const char *name);

/* ------------------------------------------------------------------- files */

/* A fresh directory under /tmp (mode 0755), removed at the end of the test. */
const char *tu_tmpdir(void);
void tu_write_file(const char *path, const char *content, mode_t mode);
/* Whole file, or NULL (errno set) when it cannot be read. */
char *tu_read_file(const char *path);
bool tu_path_exists(const char *path); /* lstat */
void tu_mkdir_p(const char *path, mode_t mode);
/* Whether A and B name the same file (stat: device and inode; character and
 * block devices: the same device number). False when either is missing. */
bool tu_same_file(const char *a, const char *b);

/* Whether directory DIR is TOP or lies below it, walking up through ".."
 * and comparing device and inode (DIR may be /proc/PID/cwd, TOP
 * /proc/PID/root). */
bool tu_dir_is_inside(const char *dir, const char *top);

/* In a mount namespace of the caller's own (after unshare(CLONE_NEWNS)):
 * make the mount that holds PATH, and those below it, private, so that what
 * is mounted there does not propagate out. The mount point is found by
 * walking up from PATH: "/" is not always one (a chroot's root may be a
 * plain directory). 0, or -1 and errno (EINVAL: no mount point at or above
 * PATH inside our root). */
int tu_make_mounts_private(const char *path);

/* A private copy of the executable PATH, runnable by any user: in a 0755
 * directory of its own under /tmp, mode 0755. The build tree may sit under
 * a 0700 home, where a program that dropped to nobody cannot even be
 * executed. One copy per program per test; removed at the end of the test.
 * (tu_helper_path()'s copy has libdaemonctx, $DCX_LIBDAEMONCTX, beside it,
 * and runs with LD_LIBRARY_PATH naming it.) */
const char *tu_exec_copy(const char *path);

/* ----------------------------------------------------------------- spawning */

#define TU_MAX_ARGS 96
#define TU_MAX_FDS 24
#define TU_MAX_ENV 32
#define TU_REPORT_FD 5 /* the helper's report fd number in the helper */

enum tu_pidns { TU_PIDNS_NONE = 0, TU_PIDNS_PID1 = 1, TU_PIDNS_PARENT_INIT = 2 };

typedef struct tu_cmd {
    const char *argv[TU_MAX_ARGS + 1];
    size_t argc;
    struct {
        int child, parent; /* parent == -1: closed in the child */
    } fds[TU_MAX_FDS];
    size_t nfds;
    bool report;         /* create the report pipe as child fd TU_REPORT_FD (default on;
                            not when the command maps fd TU_REPORT_FD itself) */
    bool capture_stdout; /* stdout to a pipe (default on) */
    sigset_t ignore;     /* dispositions set to SIG_IGN (others SIG_DFL) */
    sigset_t block;      /* the child's signal mask */
    mode_t umask;        /* default 022 */
    bool core_unlimited; /* RLIMIT_CORE soft and hard infinity (default on) */
    bool set_ids;
    uid_t ruid, euid;
    gid_t rgid, egid;
    int ctty; /* fd of a tty slave: setsid and make it the controlling tty */
    enum tu_pidns pidns;
    const char *cwd;
    /* "NAME=VALUE" to set, "NAME" to remove (after the service-manager
     * variables NOTIFY_SOCKET, INVOCATION_ID, LISTEN_* are removed) */
    const char *env[TU_MAX_ENV];
    size_t nenv;
    bool no_leak_check; /* ASAN_OPTIONS detect_leaks=0 (chroot / uid drop) */
    bool listen_pid_self; /* LISTEN_PID=<the helper's own pid> */
    gid_t groups[8];    /* supplementary groups (when ngroups > 0) */
    size_t ngroups;
    bool new_session;    /* setsid(): a command that signals its process group
                            (kill(0, ...)) cannot reach the test */
    bool inherit_output; /* stdout and stderr go to the test's stderr (its log),
                            not to pipes (for long-lived supervisors) */
    int gate;            /* >= 0: the child waits for EOF on this fd of ours before
                            it executes; tu_spawn returns without waiting (default -1) */
} tu_cmd;

typedef struct tu_proc {
    pid_t pid;
    int report; /* read end of the report pipe, or -1 */
    int out;    /* read end of the stdout pipe, or -1 */
    int err;    /* read end of the stderr pipe */
    bool reaped;
    int status;
    char *errtext; /* stderr read to EOF (tu_proc_stderr) or collected (tu_finish) */
    char *outtext; /* stdout collected by tu_finish */
    int64_t started_ms;
    int exe; /* gated commands: the exec-failure pipe, checked by tu_finish */
    const char *name; /* argv[0], for messages */
} tu_proc;

/* A command running the helper program (argv[0] = helper). */
void tu_cmd_init(tu_cmd *c);
/* A command running PROGRAM (NULL: the first argument added is the program). */
void tu_cmd_init_program(tu_cmd *c, const char *program);
__attribute__((format(printf, 2, 3))) void tu_cmd_arg(tu_cmd *c, const char *fmt, ...);
/* A command running any program, with the arguments listed (up to a NULL);
 * no report pipe (a program other than the helper may use fd 5 itself) and
 * the test's own RLIMIT_CORE.
 * PROGRAM NULL: the first argument added later is the program. */
__attribute__((sentinel)) void tu_cmd_init_command(tu_cmd *c, const char *program, ...);
/* Arguments taken as they are, up to a NULL. */
__attribute__((sentinel)) void tu_cmd_args(tu_cmd *c, const char *arg, ...);
void tu_cmd_fd(tu_cmd *c, int child_fd, int parent_fd);
void tu_cmd_env(tu_cmd *c, const char *assignment);
tu_proc *tu_spawn(tu_cmd *c);
/* The helper program (a private copy: see tu_exec_copy). */
const char *tu_helper_path(void);

/* Wait for P (a direct child) to exit, within the deadline; returns the wait status. */
int tu_wait(tu_proc *p, int timeout_ms);
/* Whether P exits within MS; if so *status is set and P reaped. */
bool tu_exits_within(tu_proc *p, int ms, int *status);
/* Exit status checks with a readable failure: the wait status, stderr. */
void tu_expect_exit_code(tu_proc *p, int code);
/* stderr of P read to EOF (within the deadline). */
const char *tu_proc_stderr(tu_proc *p);
const char *tu_proc_stdout(tu_proc *p);

/* What a command did, once it ended. */
typedef struct tu_result {
    int status;         /* wait status */
    int code;           /* exit status, or 128 + signal number */
    const char *out;    /* what it wrote on stdout and stderr (captured ones) */
    const char *err;
    int64_t elapsed_ms; /* from tu_spawn to its end */
    bool timed_out;     /* tu_finish_watching(..., soft): killed at the deadline */
} tu_result;

/* Wait for P to end before DEADLINE_MS (absolute, tu_now_ms() clock),
 * collecting its stdout and stderr meanwhile, then reap it and take what is
 * left in its pipes without waiting for other holders of them (a daemon it
 * left behind). Fails the test at the deadline, with what it said so far. */
tu_result tu_finish(tu_proc *p, int64_t deadline_ms);
/* The same, calling ON_READABLE(ARG) whenever FD (if >= 0) is readable while
 * waiting, and once more at the end; with SOFT, a command still running at
 * the deadline is killed and reported (timed_out, code 128 + SIGKILL)
 * instead of failing the test. */
tu_result tu_finish_watching(tu_proc *p, int64_t deadline_ms, int fd, void (*on_readable)(void *), void *arg,
                             bool soft);
/* tu_spawn + tu_finish within the harness deadline. */
tu_result tu_run(tu_cmd *c);
/* "exit status 3", "killed by signal 15 (Terminated)" */
const char *tu_describe_status(int status);
#define TU_EXITED(st, c) (WIFEXITED(st) && WEXITSTATUS(st) == (c))

/* One line (without '\n') from FD within MS; NULL at EOF. Fails on timeout.
 * Reads one byte at a time: nothing after the line is consumed. */
char *tu_read_line(int fd, int ms);
/* Whether FD has data or EOF within MS (poll). */
bool tu_readable_within(int fd, int ms);
char *tu_read_all(int fd, int ms);

/* Reads the "up PID DAEMONPID OPEN" line the helper's daemon writes and
 * checks it; returns the daemon's PID (tracked for cleanup). */
pid_t tu_expect_up(tu_proc *p);
/* Remember a PID to kill at the end (daemons that are not our children yet). */
void tu_track_pid(pid_t pid);

/* ---------------------------------------------------------------- processes */

/* pidfds through syscall(2) (musl has no wrappers): -1 and errno on failure. */
int tu_pidfd_open(pid_t pid);
int tu_pidfd_send_signal(int pidfd, int sig);

/* Wait for an arbitrary process (a reparented daemon, our child) to die;
 * returns its wait status; fails after the deadline. */
int tu_wait_pid(pid_t pid, int ms);
/* Whether PID (any process) has ended within MS, waiting on its pidfd; a
 * child of ours is reaped (tu_wait_pid still gets its status later). */
bool tu_wait_gone(pid_t pid, int ms);
/* Whether PID has ended within MS (pidfd poll); reaps nothing: a child of
 * ours stays a zombie. */
bool tu_pid_exits_within(pid_t pid, int ms);

/* Everything we started is dead (zombies are reaped) within the deadline,
 * except the listed PIDs. */
void tu_assert_no_descendants_except(const pid_t *allowed, size_t n);
#define tu_assert_no_descendants() tu_assert_no_descendants_except(NULL, 0)
/* The live children of the test process (after reparenting). */
size_t tu_live_children(pid_t *out, size_t max);

/* Every process below the test process, zombies included, in an array the
 * harness frees; *n gets the count. DEAD marks those that run nothing any
 * more: zombies, processes whose memory is gone (exiting) and processes
 * with SIGKILL pending. */
typedef struct tu_desc {
    pid_t pid;
    char state;
    bool dead;
} tu_desc;
tu_desc *tu_descendants(size_t *n);
/* Fail unless every live descendant is one of ALLOWED, now: reaps nothing,
 * waits for nothing. CONTEXT starts the message. */
void tu_assert_nothing_left(const pid_t *allowed, size_t n, const char *context);
/* Kill and reap every descendant except ALLOWED (between the runs of a
 * campaign); fails when they do not go within the deadline. */
void tu_kill_all_except(const pid_t *allowed, size_t n);

/* -------------------------------------------------------------------- /proc */

/* Readers of /proc: a process (or an fd) may vanish while it is read. */
typedef struct tu_pstat {
    char state;
    pid_t ppid, pgrp, session;
    int tty_nr;
} tu_pstat;

bool tu_proc_stat(pid_t pid, tu_pstat *st);
bool tu_alive(pid_t pid); /* exists and not a zombie */
pid_t tu_parent_of(pid_t pid); /* 0 when gone */
char tu_state_of(pid_t pid);   /* 0 when gone */
long tu_uid_of(pid_t pid);     /* real uid, -1 when gone */
/* A /proc/PID/status field's value, trimmed; fails when absent. */
const char *tu_status_field(pid_t pid, const char *name);
uint64_t tu_status_mask(pid_t pid, const char *name);
/* Uid:/Gid: lines: real, effective, saved, fs. */
void tu_status_ids(pid_t pid, const char *name, long ids[4]);
/* "Max core file size" -> "SOFT HARD" (e.g. "0 0", "unlimited unlimited"). */
const char *tu_limit(pid_t pid, const char *name);
/* Open fds of PID, sorted; returns the count. */
size_t tu_fd_list(pid_t pid, int *fds, size_t max);
/* PID's open fds and what they point at (an fd closed while listed is left
 * out); false when PID is gone. */
typedef struct tu_fdent {
    int fd;
    const char *target; /* readlink of /proc/PID/fd/N: "/dev/null", "pipe:[123]"... */
} tu_fdent;
typedef struct tu_fdtable {
    size_t n;
    tu_fdent *ent; /* sorted by fd */
} tu_fdtable;
bool tu_fd_table(pid_t pid, tu_fdtable *t);
const char *tu_fd_target(const tu_fdtable *t, int fd); /* NULL when not open */
/* readlink("/proc/PID/WHAT"), for messages: a path string depends on the
 * reader's root and mounts; compare files with tu_proc_is(). */
const char *tu_proc_link(pid_t pid, const char *what);
/* Whether /proc/PID/WHAT ("cwd", "root", "exe", "fd/N") is the file PATH
 * (tu_same_file: device and inode, not the path string). */
bool tu_proc_is(pid_t pid, const char *what, const char *path);
#define TU_ASSERT_PROC_IS(pid, what, path) tu_assert_proc_is(__FILE__, __LINE__, (pid), (what), (path))
void tu_assert_proc_is(const char *file, int line, pid_t pid, const char *what, const char *path);
/* flags of /proc/PID/fdinfo/FD (octal in the file). */
long tu_fd_flags(pid_t pid, int fd);
/* The pidfile-holder check from outside: content "PID\n". */
void tu_assert_pidfile_holds(const char *path, pid_t pid);
/* Bit for signal SIG in a /proc mask. */
#define TU_SIGBIT(sig) (UINT64_C(1) << ((sig)-1))

/* ---------------------------------------------------------------- pidfiles */

/* "PID\n" in PATH -> PID, else 0 (-1 when PATH does not exist). */
pid_t tu_pidfile_pid(const char *path);
/* The holder of an flock on PATH's inode, from /proc/locks: > 0 its PID,
 * 0 not locked, -1 no such file. */
pid_t tu_flock_holder(const char *path);
/* A process (our child) that holds an flock on PATH after writing CONTENT
 * there (NULL: left as it is), until it is killed; returns its PID. */
pid_t tu_hold_lock(const char *path, const char *content);
/* Log PATH's inode and content, /proc/locks and PID's fds (when PID > 0). */
void tu_dump_pidfile_state(pid_t pid, const char *path);
/* A snapshot of a file, for "byte-for-byte unchanged". */
typedef struct tu_snap {
    bool exists;
    mode_t mode;
    dev_t dev;
    ino_t ino;
    nlink_t nlink;
    uid_t uid;
    off_t size;
    int64_t mtime_ns;
    char *content; /* regular files only */
} tu_snap;
tu_snap tu_snapshot(const char *path);
void tu_assert_unchanged(const tu_snap *before, const char *path);
/* Names in DIR, sorted, each followed by '\n' ("nothing left behind"). */
char *tu_dir_listing(const char *dir);

/* ----------------------------------------------------------- NOTIFY_SOCKET */

/* An AF_UNIX datagram socket with SO_PASSCRED, bound at NAME (a path, or
 * "@name" in the abstract namespace), as a service manager's notification
 * socket. */
int tu_notify_bind(const char *name);
typedef struct tu_notify_msg {
    char text[4096];
    size_t len;
    bool has_cred;
    pid_t pid;
    uid_t uid;
    gid_t gid;
} tu_notify_msg;
/* One datagram within MS; false on timeout. */
bool tu_notify_recv(int fd, int ms, tu_notify_msg *m);

/* ----------------------------------------------------------------- figures */

/* A campaign counts what it did ("EINTR injected", N); tu_print_counts()
 * logs them as one "# figures: ..." line. */
void tu_count(const char *what, long n);
void tu_print_counts(void);

/* ------------------------------------------------------- helper protocol */

/* What the helper reported for a failed daemonctx_open(). */
typedef struct tu_failure {
    const char *step;    /* err.step, from the stderr line */
    const char *message; /* err.message, from the stderr line */
    const char *line;    /* the whole stderr line */
    int rc;              /* open()'s return value */
    int errnum;          /* err.errnum */
} tu_failure;

/* The helper must exit 1 after a failed open(), with exactly one line
 * "STEP: MESSAGE" on stderr, consistent with its report line. STEP may be
 * NULL (any step). */
tu_failure tu_expect_open_failure(tu_proc *p, const char *step);

/* Extra supplementary groups for a spawned command. */
void tu_cmd_groups(tu_cmd *c, const gid_t *groups, size_t n);

/* Wait until PID (a daemon) has the test process as its parent. */
void tu_wait_reparented(pid_t pid);
/* The same, as a question: whether it happened within MS. */
bool tu_reparented_within(pid_t pid, int ms);
/* Spawn C, read its "up" line, expect the invoker to exit 0 and the daemon
 * to be reparented to the test; returns the daemon PID (*invoker if wanted). */
pid_t tu_start_daemon(tu_cmd *c, tu_proc **invoker);
/* Send SIG to PID (our child) and return its wait status. */
int tu_kill_and_wait(pid_t pid, int sig);

#endif
