/*
 * rel_common.h - what the reliability tests (tests/fault, tests/hostile,
 * tests/lifecycle) share on top of the project's harness (testutil.h).
 *
 * The harness's tu_spawn() keeps at most 128 processes per test; these tests
 * start thousands (every call of the start path failed in turn, 50 x 100
 * concurrent starts), so they spawn through rel_spawn(), whose records are
 * freed. The test process is still the harness's child subreaper: whatever a
 * command leaves behind becomes its child, and rel_descendants() sees it.
 *
 * Programs under test come from the environment CTest sets:
 *   DAEMONCTX (the CLI), DCX_CLI_PROG (the static PROGRAM of the CLI tests),
 *   DCX_HELPER (dcx-helper), DCX_FAULTSHIM (faultshim.so).
 */
#ifndef DCX_REL_COMMON_H
#define DCX_REL_COMMON_H

#include "testutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REL_EVENT_FD 5 /* the PROGRAM's event channel, as in tests/cli */

const char *rel_cli(void);
const char *rel_prog(void);
const char *rel_helper(void);
const char *rel_shim(void); /* NULL when not built */
bool rel_is_root(void);
/* pidfds through syscall(2): musl has no wrappers. */
int rel_pidfd_open(pid_t pid);
int rel_pidfd_signal(int pidfd, int signo);

/* ------------------------------------------------------------ commands */

typedef struct rel_cmd {
    const char *argv[64];
    size_t argc;
    const char *env[16];
    size_t nenv;
    int event_fd;   /* parent fd to give the child as fd 5, or -1 */
    int extra_fd;   /* parent fd to give the child as fd extra_fd_num, or -1 */
    int extra_fd_num;
} rel_cmd;

void rel_cmd_init(rel_cmd *c, const char *program);
__attribute__((format(printf, 2, 3))) void rel_arg(rel_cmd *c, const char *fmt, ...);
void rel_env(rel_cmd *c, const char *assignment);

typedef struct rel_proc {
    pid_t pid;
    int pidfd;
    int out, err; /* read ends, -1 once collected */
    int64_t started_ms;
} rel_proc;

typedef struct rel_result {
    int code; /* exit status, or 128 + signal */
    char *out;
    char *err;
    int64_t elapsed_ms;
    bool timed_out; /* only with rel_soft_timeouts: killed at the deadline */
} rel_result;

/* What the running test is doing, for messages; and whether a command that
 * does not exit by its deadline fails the test at once (the default) or is
 * killed and reported in its result (timed_out, code 137). */
extern const char *rel_context;
extern bool rel_soft_timeouts;

/* fork + exec C: stdin /dev/null, stdout and stderr to pipes, fd 5 (and the
 * extra fd) as asked, every other fd closed, default signal dispositions and
 * an empty mask, NOTIFY_SOCKET & co. removed from the environment. */
rel_proc rel_spawn(const rel_cmd *c);
/* Wait for P to exit before DEADLINE_MS (absolute, tu_now_ms() clock),
 * calling POLL_FN(ARG) whenever FD (if >= 0) is readable meanwhile; then
 * collect what it wrote (without waiting for other holders of its pipes).
 * Fails the test on timeout. */
rel_result rel_finish(rel_proc *p, int64_t deadline_ms, int fd, void (*poll_fn)(void *), void *arg);
rel_result rel_run(const rel_cmd *c);
/* Strings of a result live in the harness arena (freed at the end). */

bool rel_one_line(const char *s);

/* --------------------------------------------------------- processes */

typedef struct rel_desc {
    pid_t pid;
    char state;
} rel_desc;
/* Every process whose ancestry leads to the test process, zombies included. */
size_t rel_descendants(rel_desc *out, size_t max);
/* Fail unless every descendant (live or zombie) is one of ALLOWED; reaps
 * nothing, waits for nothing: what is there now is what was left behind. */
void rel_assert_nothing_left(const pid_t *allowed, size_t n, const char *context);
/* Kill and reap every descendant except ALLOWED (cleanup between runs). */
void rel_kill_all_except(const pid_t *allowed, size_t n);
/* Wait (pidfd) for PID to exit and reap it if it is our child. */
bool rel_wait_gone(pid_t pid, int ms);
pid_t rel_parent_of(pid_t pid);
char rel_state_of(pid_t pid); /* 0 when gone */
/* Real uid of PID from /proc (-1 when gone). */
long rel_uid_of(pid_t pid);

/* ----------------------------------------------------------- pidfiles */

/* The holder of an flock on PATH's inode from /proc/locks: >0 its PID, 0 not
 * locked, -1 no such file. */
pid_t rel_flock_holder(const char *path);
/* Log the pidfile's inode and contents, /proc/locks and PID's fds. */
void rel_dump_state(pid_t pid, const char *path);
/* "PID\n" in PATH -> PID, else 0 (-1 when absent). */
pid_t rel_pidfile_pid(const char *path);
/* A snapshot of a file for "byte-for-byte unchanged". */
typedef struct rel_snap {
    bool exists;
    mode_t mode;
    dev_t dev;
    ino_t ino;
    nlink_t nlink;
    uid_t uid;
    off_t size;
    int64_t mtime_ns;
    char *content; /* regular files only */
} rel_snap;
rel_snap rel_snapshot(const char *path);
void rel_assert_unchanged(const rel_snap *before, const char *path);
/* Names in DIR, sorted and joined with '\n' ("nothing left behind"). */
char *rel_dir_listing(const char *dir);

/* A running daemon of the CLI on PIDFILE (PROGRAM dcx-cli-prog, waiting);
 * returns its PID, reparented to the test. */
pid_t rel_start_cli_daemon(const char *pidfile);
/* Hold an flock on PATH in a child process that writes CONTENT first (NULL:
 * leave it) and then waits; returns its PID. */
pid_t rel_hold_lock(const char *path, const char *content);

/* ------------------------------------------------- the fault channel */

typedef struct rel_event {
    char kind[8]; /* trace, hit, pause */
    pid_t pid;
    int depth;
    char func[24];
    unsigned nth;
    char extra[160];
} rel_event;

typedef struct rel_chan {
    int fd;
    char name[64];
    rel_event *ev;
    size_t n, cap;
    unsigned slot;
} rel_chan;

void rel_chan_open(rel_chan *ch);
void rel_chan_close(rel_chan *ch);
void rel_chan_reset(rel_chan *ch);
/* Read every queued message (non-blocking). */
void rel_chan_drain(rel_chan *ch);
void rel_chan_drain_cb(void *ch);
/* Wait for a message of KIND until DEADLINE; NULL on timeout. */
const rel_event *rel_chan_wait(rel_chan *ch, const char *kind, int64_t deadline_ms);
/* Add LD_PRELOAD, DCX_FAULT=RULES, the channel, tracing, SIGUSR1 handler. */
void rel_fault_env(rel_cmd *c, const rel_chan *ch, const char *rules, bool trace, bool usr1);
/* Let a process held by action=pause go on. */
void rel_resume(const rel_chan *ch, pid_t pid);
/* How many "hit" events the channel got. */
size_t rel_chan_hits(const rel_chan *ch);

/* ------------------------------------------------------------ misc */

const char *rel_errno_name(int e);
int rel_errno_value(const char *name);

/* Every fault campaign counts what it did; the figures are printed as one
 * "# figures: ..." line at the end of a test. */
void rel_count(const char *what, long n);
void rel_print_counts(void);

#endif
