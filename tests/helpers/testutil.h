/*
 * testutil.h - the minimal harness the daemonctx tests share.
 *
 * One test binary per area; each test is a named function registered with
 * TU_TEST(name) and run alone in its own process (argv[1] is the name), so
 * CTest sees one test per behaviour. The harness makes the test process a
 * child subreaper, so every daemon the test starts (through the helper
 * program) ends up as its child: it can be inspected from /proc, reaped, and
 * killed at the end even when an assertion failed. Every wait has a deadline;
 * nothing sleeps to synchronise.
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

/* Deadline for events that must happen: 15 s, times $DCX_TEST_TIME_SCALE, or
 * $DCX_TEST_TIMEOUT_MS. */
int tu_timeout_ms(void);
int64_t tu_now_ms(void);
/* printf into memory freed at the end of the test. */
__attribute__((format(printf, 1, 2))) char *tu_fmt(const char *fmt, ...);
char *tu_strdup(const char *s);
/* Whether the line/string contains the decimal representation of N as a
 * whole number (not as part of a longer number). */
bool tu_contains_number(const char *hay, long long n);

/* ------------------------------------------------------------------- files */

/* A fresh directory under /tmp (mode 0755), removed at the end of the test. */
const char *tu_tmpdir(void);
void tu_write_file(const char *path, const char *content, mode_t mode);
/* Whole file, or NULL (errno set) when it cannot be read. */
char *tu_read_file(const char *path);
bool tu_path_exists(const char *path); /* lstat */
void tu_mkdir_p(const char *path, mode_t mode);

/* ----------------------------------------------------------------- spawning */

#define TU_MAX_ARGS 96
#define TU_MAX_FDS 24
#define TU_REPORT_FD 5 /* the helper's report fd number in the helper */

enum tu_pidns { TU_PIDNS_NONE = 0, TU_PIDNS_PID1 = 1, TU_PIDNS_PARENT_INIT = 2 };

typedef struct tu_cmd {
    const char *argv[TU_MAX_ARGS + 1];
    size_t argc;
    struct {
        int child, parent; /* parent == -1: closed in the child */
    } fds[TU_MAX_FDS];
    size_t nfds;
    bool report;         /* create the report pipe as child fd TU_REPORT_FD (default on) */
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
    const char *env[16];
    size_t nenv;
    bool no_leak_check; /* ASAN_OPTIONS detect_leaks=0 (chroot / uid drop) */
    bool listen_pid_self; /* LISTEN_PID=<the helper's own pid> */
    gid_t groups[8];    /* supplementary groups (when ngroups > 0) */
    size_t ngroups;
} tu_cmd;

typedef struct tu_proc {
    pid_t pid;
    int report; /* read end of the report pipe, or -1 */
    int out;    /* read end of the stdout pipe, or -1 */
    int err;    /* read end of the stderr pipe */
    bool reaped;
    int status;
    char *errtext; /* stderr read to EOF (tu_proc_stderr) */
} tu_proc;

/* A command running the helper program (argv[0] = helper). */
void tu_cmd_init(tu_cmd *c);
/* A command running PROGRAM. */
void tu_cmd_init_program(tu_cmd *c, const char *program);
__attribute__((format(printf, 2, 3))) void tu_cmd_arg(tu_cmd *c, const char *fmt, ...);
void tu_cmd_fd(tu_cmd *c, int child_fd, int parent_fd);
void tu_cmd_env(tu_cmd *c, const char *assignment);
tu_proc *tu_spawn(tu_cmd *c);
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

/* One line (without '\n') from FD within MS; NULL at EOF. Fails on timeout. */
char *tu_read_line(int fd, int ms);
/* Whether FD has data or EOF within MS (poll). */
bool tu_readable_within(int fd, int ms);
char *tu_read_all(int fd, int ms);

/* Reads the "up PID DAEMONPID OPEN" line the helper's daemon writes and
 * checks it; returns the daemon's PID (tracked for cleanup). */
pid_t tu_expect_up(tu_proc *p);
/* Remember a PID to kill at the end (daemons that are not our children yet). */
void tu_track_pid(pid_t pid);

/* Wait for an arbitrary process (a reparented daemon, our child) to die;
 * returns its wait status; fails after the deadline. */
int tu_wait_pid(pid_t pid, int ms);
/* Whether PID exits within MS (pidfd poll); reaps it if it is our child. */
bool tu_pid_exits_within(pid_t pid, int ms);

/* Everything we started is dead (zombies are reaped) within the deadline,
 * except the listed PIDs. */
void tu_assert_no_descendants_except(const pid_t *allowed, size_t n);
#define tu_assert_no_descendants() tu_assert_no_descendants_except(NULL, 0)
/* The live children of the test process (after reparenting). */
size_t tu_live_children(pid_t *out, size_t max);

/* -------------------------------------------------------------------- /proc */

typedef struct tu_pstat {
    char state;
    pid_t ppid, pgrp, session;
    int tty_nr;
} tu_pstat;

bool tu_proc_stat(pid_t pid, tu_pstat *st);
bool tu_alive(pid_t pid); /* exists and not a zombie */
/* A /proc/PID/status field's value, trimmed; fails when absent. */
const char *tu_status_field(pid_t pid, const char *name);
uint64_t tu_status_mask(pid_t pid, const char *name);
/* Uid:/Gid: lines: real, effective, saved, fs. */
void tu_status_ids(pid_t pid, const char *name, long ids[4]);
/* "Max core file size" -> "SOFT HARD" (e.g. "0 0", "unlimited unlimited"). */
const char *tu_limit(pid_t pid, const char *name);
/* Open fds of PID, sorted; returns the count. */
size_t tu_fd_list(pid_t pid, int *fds, size_t max);
/* readlink("/proc/PID/WHAT") */
const char *tu_proc_link(pid_t pid, const char *what);
/* flags of /proc/PID/fdinfo/FD (octal in the file). */
long tu_fd_flags(pid_t pid, int fd);
/* The pidfile-holder check from outside: content "PID\n". */
void tu_assert_pidfile_holds(const char *path, pid_t pid);
/* Bit for signal SIG in a /proc mask. */
#define TU_SIGBIT(sig) (UINT64_C(1) << ((sig)-1))

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
/* Spawn C, read its "up" line, expect the invoker to exit 0 and the daemon
 * to be reparented to the test; returns the daemon PID (*invoker if wanted). */
pid_t tu_start_daemon(tu_cmd *c, tu_proc **invoker);
/* Send SIG to PID (our child) and return its wait status. */
int tu_kill_and_wait(pid_t pid, int sig);
const char *tu_describe_status(int status);

#endif
