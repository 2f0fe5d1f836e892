/*
 * eco.h - the small harness of the ecosystem tests (tests/service,
 * tests/fallback): service managers, init scripts, forced fallback paths.
 *
 * One binary per area; every test is a function registered with
 * ECO_TEST(name) and run alone, in its own process, as "BINARY name", so that
 * CTest sees one test per behaviour. The test process is a child subreaper:
 * daemons, supervisors and whatever they fork end up as its descendants, and
 * at the end of the test every process still left is killed by PID and
 * reaped, pass or fail. Waits are on events (pipes, pidfds, sockets) under a
 * deadline, never on sleeps.
 *
 * Plain C and Linux system calls only (no glibc-only wrappers), so that the
 * tests also build and run against musl.
 */
#ifndef ECO_H
#define ECO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ----------------------------------------------------------------- harness */

typedef void (*eco_fn)(void);
void eco_register(const char *name, eco_fn fn);
int eco_main(int argc, char **argv);

#define ECO_TEST(name)                                                                                            \
    static void name(void);                                                                                       \
    __attribute__((constructor)) static void eco_reg_##name(void) { eco_register(#name, name); }                  \
    static void name(void)

#define ECO_MAIN                                                                                                  \
    int main(int argc, char **argv) { return eco_main(argc, argv); }

#define ECO_SKIP_CODE 77

__attribute__((noreturn, format(printf, 3, 4))) void eco_fail_at(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void eco_skip(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void eco_log(const char *fmt, ...);

#define ECO_FAIL(...) eco_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define ECO_ASSERT(c)                                                                                             \
    do {                                                                                                          \
        if (!(c))                                                                                                 \
            ECO_FAIL("assertion failed: %s", #c);                                                                 \
    } while (0)
#define ECO_ASSERT_MSG(c, ...)                                                                                    \
    do {                                                                                                          \
        if (!(c))                                                                                                 \
            ECO_FAIL(__VA_ARGS__);                                                                                \
    } while (0)
#define ECO_ASSERT_INT_EQ(a, b)                                                                                   \
    do {                                                                                                          \
        long long eco_a_ = (long long)(a), eco_b_ = (long long)(b);                                               \
        if (eco_a_ != eco_b_)                                                                                     \
            ECO_FAIL("%s == %s: got %lld, expected %lld", #a, #b, eco_a_, eco_b_);                                \
    } while (0)
#define ECO_ASSERT_STR_EQ(a, b)                                                                                   \
    do {                                                                                                          \
        const char *eco_a_ = (a), *eco_b_ = (b);                                                                  \
        if (!eco_a_ || strcmp(eco_a_, eco_b_) != 0)                                                               \
            ECO_FAIL("%s: got \"%s\", expected \"%s\"", #a, eco_a_ ? eco_a_ : "(null)", eco_b_);                  \
    } while (0)
#define ECO_ASSERT_CONTAINS(hay, needle)                                                                          \
    do {                                                                                                          \
        const char *eco_h_ = (hay), *eco_n_ = (needle);                                                           \
        if (!eco_h_ || !strstr(eco_h_, eco_n_))                                                                   \
            ECO_FAIL("%s: \"%s\" does not contain \"%s\"", #hay, eco_h_ ? eco_h_ : "(null)", eco_n_);             \
    } while (0)
/* A call returning -1 with errno on failure. */
#define ECO_SYS(expr) eco_sys_at((long)(expr), __FILE__, __LINE__, #expr)
long eco_sys_at(long r, const char *file, int line, const char *expr);

/* ------------------------------------------------------ time, memory, files */

/* How long an event that must happen may take: 15 s (times
 * $ECO_TIME_SCALE, for slow machines and sanitizers). */
int eco_timeout_ms(void);
int64_t eco_now_ms(void);
/* Milliseconds left until DEADLINE for poll(), never negative. */
int eco_left_ms(int64_t deadline);
/* printf into memory freed when the test process ends. */
__attribute__((format(printf, 1, 2))) char *eco_fmt(const char *fmt, ...);
/* A fresh directory under /tmp, removed at the end of the test. */
const char *eco_tmpdir(void);
void eco_write_file(const char *path, const char *content, mode_t mode);
/* The whole file, or NULL (errno set). */
char *eco_read_file(const char *path);
bool eco_exists(const char *path);
/* Source and build paths handed over by CMake in the environment. */
const char *eco_env(const char *name);

/* ---------------------------------------------------------------- processes */

#define ECO_MAX_ARGS 64
#define ECO_MAX_ENV 16
#define ECO_MAX_FDS 16

typedef struct eco_cmd {
    const char *argv[ECO_MAX_ARGS + 1];
    /* "NAME=VALUE" to set, or "NAME" to remove, on top of our environment */
    const char *env[ECO_MAX_ENV];
    size_t nenv;
    /* fds the child gets: child number <- our fd (-1: closed). Every other fd
     * of ours but 0-2 is closed in the child. */
    struct {
        int child, parent;
    } fds[ECO_MAX_FDS];
    size_t nfds;
    bool capture;      /* stdout and stderr to pipes (default on) */
    const char *chdir; /* NULL: unchanged */
    /* results */
    pid_t pid;
    int pidfd;
    int out_fd, err_fd;
} eco_cmd;

void eco_cmd_init(eco_cmd *c, const char *arg0, ...); /* NULL-terminated argv */
void eco_cmd_arg(eco_cmd *c, const char *arg);
void eco_cmd_env(eco_cmd *c, const char *entry);
void eco_cmd_fd(eco_cmd *c, int child, int parent);
/* fork + exec (the exec failure ends the test); the child has SIG_DFL
 * dispositions and an empty mask. Registers the PID for the final cleanup. */
pid_t eco_spawn(eco_cmd *c);
/* Read the captured streams to EOF and reap, all before the deadline.
 * Returns the wait status; OUT/ERR (optional) receive the output. */
int eco_finish(eco_cmd *c, char **out, char **err);
/* eco_spawn + eco_finish. */
int eco_run(eco_cmd *c, char **out, char **err);
/* Wait for PID (our child or not) to end before the deadline: 1 ended, 0 not. */
bool eco_wait_gone(pid_t pid, int ms);
/* Reap our child PID before the deadline; fails the test otherwise. */
int eco_reap(pid_t pid, int ms);
int eco_pidfd_open(pid_t pid);
/* The parent of PID (from /proc), 0 when it is gone. */
pid_t eco_ppid(pid_t pid);
bool eco_alive(pid_t pid); /* exists and is not a zombie */
/* A line from FD (a pipe or FIFO), without its newline, before the deadline;
 * NULL on EOF. Reads one byte at a time: nothing after the line is consumed. */
char *eco_read_line(int fd, int ms);
/* "exited 3", "killed by signal 15" */
const char *eco_status_text(int status);
#define ECO_EXITED(st, code) ((st) >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == (code))

/* /proc/PID/fd: the open fd numbers (sorted) and their link targets. */
typedef struct eco_fdlist {
    size_t n;
    int fd[256];
    char target[256][256];
} eco_fdlist;
void eco_proc_fds(pid_t pid, eco_fdlist *l);
const char *eco_fd_target(const eco_fdlist *l, int fd); /* NULL when not open */

/* ------------------------------------------------------------ NOTIFY_SOCKET */

/* An AF_UNIX datagram socket with SO_PASSCRED, bound at NAME (a path, or
 * "@name" in the abstract namespace), as systemd's notification socket. */
int eco_notify_bind(const char *name);
typedef struct eco_notify_msg {
    char text[4096];
    size_t len;
    bool has_cred;
    pid_t pid;
    uid_t uid;
    gid_t gid;
} eco_notify_msg;
/* One datagram before the deadline; false on timeout. */
bool eco_notify_recv(int fd, int ms, eco_notify_msg *m);

/* Whether we run as root (chroot, seccomp without no_new_privs, ...). */
bool eco_is_root(void);

#endif
