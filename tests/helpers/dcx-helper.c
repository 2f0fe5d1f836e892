/*
 * dcx-helper - the program the daemonctx tests start. It configures a
 * daemonctx context from its options (one option per setter), calls
 * daemonctx_open() and, in the daemon, reports on a pipe the test gave it,
 * then waits for signals. The test inspects the daemon from /proc.
 *
 * Invoker side: on an open() failure it prints exactly one line
 * "STEP: MESSAGE" on stderr, writes "error RC ERRNUM STEP" on the report fd
 * and exits 1. A setter failure prints "STEP: MESSAGE" too, writes
 * "setter-error NAME RC ERRNUM" and exits 2. With --parent-returns it writes
 * "parent PID DAEMONPID" and exits 0 (through exit(), atexit handlers run).
 *
 * Daemon side: writes "up PID DAEMONPID IS_OPEN" on the report fd (after
 * --fork-child-exit: after its child called exit() and was reaped), then
 * behaves as the options ask, then pause()s forever (SIGTERM's default
 * action in the map is terminate).
 *
 * Options:
 *   --report-fd=N            report fd (also added to files_preserve)
 *   --no-preserve-report     do not add the report fd to files_preserve
 *   --chroot=PATH | --no-chroot
 *   --workdir=PATH  --umask=OCTAL  --uid=N  --gid=N
 *   --no-prevent-core | --prevent-core
 *   --detach=auto|yes|no
 *   --preserve=N             repeatable
 *   --pidfile=PATH
 *   --stdin-fd=N --stdout-fd=N --stderr-fd=N   (-1: /dev/null)
 *   --signal=SIG:ignore|default|terminate|handler|unchanged
 *   --clear-signal-map
 *   --ready-mode=open|notify|fd:N|sd-notify  --timeout-ms=N  --parent-returns
 *   --start-gate-fd=N        read one byte (or EOF) from N before anything
 *   --print-decision         "decision D REASON" before open
 *   --print-workdir          "workdir PATH" before open
 *   --print-before-open=TXT  TXT on stdout (buffered, not flushed) before open
 * In the daemon:
 *   --fork-child-exit        fork a child that calls exit(0); reap it first
 *   --fork-child-stay        fork a child that pauses: "child PID" (after "up")
 *   --check-busy             every setter must give -EBUSY, open() again 0:
 *                            "busy ok" or "busy fail NAME RC"
 *   --close                  daemonctx_close(): "closed RC"
 *   --write-stdio            write "to-stdout\n" on fd 1, "to-stderr\n" on fd 2
 *   --read-stdin             read a line from fd 0: "stdin TEXT"
 *   --exit-after-signal      after a handled signal, exit(0)
 *   notify mode: --ready-gate-fd=N (read a byte before daemonctx_ready()),
 *     --fail-after-open (daemonctx_report_error(step "application") then exit(3)),
 *     --never-ready, --die-before-ready=STATUS (exit(STATUS)),
 *     --die-before-ready-now=STATUS (_exit(STATUS): no atexit handlers),
 *     --exec PROGRAM ARGS... (daemonctx_execv; the rest of argv)
 *   After daemonctx_ready(): "ready RC".
 *   --probe                  not a daemonctx run: write "probe PID" and pause
 *                            (the program --exec runs)
 *   --open-execve PROGRAM ARGS...  daemonctx_open_execve() instead of open():
 *                            the daemon execs PROGRAM (the rest of argv);
 *     --hook-fail=ERRNO      (before it) the hook fails with ERRNO, step "application"
 *     --hook-keep-lock       (before it) the hook passes the pidfile lock on
 *                            (clears close-on-exec on the pidfile's fd)
 *     --threaded             (before it) start a thread before opening
 *     --hook-sleep-ms=N      (before it) the hook writes "hook PID" on the
 *                            report fd, then sleeps N ms
 *     --caller-handler       (before it) a SIGUSR1 handler in the caller; the
 *                            hook fails (step "application", EEXIST) if the daemon
 *                            still has it
 *   --print-dumpable         with --parent-returns: "dumpable N" after open
 *   --check-rseq             in the daemon: "rseq registered|missing|none|
 *                            error ERRNO" (whether glibc's rseq area is
 *                            registered with the kernel)
 */
#include "daemonctx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
#include <sys/rseq.h>
#endif

static int report_fd = -1;
static volatile sig_atomic_t got_signal;
/* Globals so that sanitizers count them as reachable in a daemon that never
 * frees them. */
static daemonctx *g_ctx;
static daemonctx_pidfile *g_pidfile;
static int g_preserve[64];
static size_t g_npreserve;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
    if (report_fd < 0)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    if (write(report_fd, buf, len) < 0) {
        /* the test is gone: nothing to do */
    }
}

static void on_signal(int signo) {
    /* async-signal-safe: format "sig N\n" by hand */
    char buf[16];
    size_t len = 0;
    buf[len++] = 's';
    buf[len++] = 'i';
    buf[len++] = 'g';
    buf[len++] = ' ';
    char digits[8];
    size_t nd = 0;
    int v = signo;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && nd < sizeof digits);
    while (nd)
        buf[len++] = digits[--nd];
    buf[len++] = '\n';
    if (report_fd >= 0 && write(report_fd, buf, len) < 0) {
        /* ignore */
    }
    got_signal = signo;
}

__attribute__((noreturn)) static void usage(const char *what) {
    fprintf(stderr, "dcx-helper: bad usage: %s\n", what);
    exit(64);
}

static long parse_long(const char *s, int base, const char *opt) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, base);
    if (errno || end == s || *end)
        usage(opt);
    return v;
}

static const struct {
    const char *name;
    int signo;
} signames[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"TERM", SIGTERM}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"CHLD", SIGCHLD},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"KILL", SIGKILL}, {"STOP", SIGSTOP}, {"CONT", SIGCONT},
    {"WINCH", SIGWINCH},
};

static int parse_signal(const char *s) {
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
        if (strcmp(s, signames[i].name) == 0)
            return signames[i].signo;
    return (int)parse_long(s, 10, "--signal number");
}

__attribute__((noreturn)) static void setter_failed(const char *name, int rc) {
    const daemonctx_error *e = daemonctx_last_error(g_ctx);
    fprintf(stderr, "%s: %s\n", daemonctx_step_name(e->step), e->message);
    say("setter-error %s %d %d\n", name, rc, e->errnum);
    exit(2);
}

#define SETTER(name, call)                                                                                        \
    do {                                                                                                          \
        int rc_ = (call);                                                                                         \
        if (rc_ != 0)                                                                                             \
            setter_failed(name, rc_);                                                                             \
    } while (0)

static void check_busy(void) {
    struct {
        const char *name;
        int rc;
    } r[20];
    size_t n = 0;
#define BUSY(nm, call)                                                                                            \
    do {                                                                                                          \
        r[n].name = nm;                                                                                           \
        r[n].rc = (call);                                                                                         \
        if (r[n].rc == -EBUSY && daemonctx_last_error(g_ctx)->errnum != EBUSY)                                    \
            r[n].rc = -10000; /* last_error does not say EBUSY */                                                 \
        n++;                                                                                                      \
    } while (0)
    int fds[1] = {0};
    BUSY("chroot_directory", daemonctx_set_chroot_directory(g_ctx, NULL));
    BUSY("working_directory", daemonctx_set_working_directory(g_ctx, "/"));
    BUSY("umask", daemonctx_set_umask(g_ctx, 022));
    BUSY("uid", daemonctx_set_uid(g_ctx, getuid()));
    BUSY("gid", daemonctx_set_gid(g_ctx, getgid()));
    BUSY("prevent_core", daemonctx_set_prevent_core(g_ctx, true));
    BUSY("detach_process", daemonctx_set_detach_process(g_ctx, DAEMONCTX_DETACH_YES));
    BUSY("files_preserve", daemonctx_set_files_preserve(g_ctx, fds, 1));
    BUSY("pidfile", daemonctx_set_pidfile(g_ctx, NULL));
    BUSY("stdin", daemonctx_set_stdin(g_ctx, -1));
    BUSY("stdout", daemonctx_set_stdout(g_ctx, -1));
    BUSY("stderr", daemonctx_set_stderr(g_ctx, -1));
    BUSY("signal", daemonctx_set_signal(g_ctx, SIGUSR2, DAEMONCTX_SIGNAL_IGNORE, NULL));
    BUSY("clear_signal_map", daemonctx_clear_signal_map(g_ctx));
    BUSY("ready_mode", daemonctx_set_ready_mode(g_ctx, DAEMONCTX_READY_OPEN));
    BUSY("timeout_ms", daemonctx_set_timeout_ms(g_ctx, 1000));
    BUSY("parent_returns", daemonctx_set_parent_returns(g_ctx, false));
#undef BUSY
    for (size_t i = 0; i < n; i++) {
        if (r[i].rc != -EBUSY) {
            say("busy fail %s %d\n", r[i].name, r[i].rc);
            return;
        }
    }
    pid_t before = getpid();
    daemonctx_error err;
    memset(&err, 0, sizeof err);
    int rc = daemonctx_open(g_ctx, &err);
    if (rc != 0 || getpid() != before || daemonctx_daemon_pid(g_ctx) != before || !daemonctx_is_open(g_ctx)) {
        say("busy fail reopen %d\n", rc);
        return;
    }
    say("busy ok\n");
}

static int hook_errno;
static bool hook_keep_lock, caller_handler;
static long hook_sleep_ms = -1;
static volatile sig_atomic_t caller_handler_ran;

static void on_usr1(int sig)
{
    (void)sig;
    caller_handler_ran = 1;
}

static int hook_fail(daemonctx_error *err, int errnum, const char *message)
{
    memset(err, 0, sizeof *err);
    err->errnum = errnum;
    err->step = DAEMONCTX_STEP_APPLICATION;
    memcpy(err->message, message, strlen(message) + 1);
    return -errnum;
}

/* daemonctx_open_execve()'s hook: it may run in our memory (no stdio, no
 * writes but its locals and ERR). */
static int execve_hook(void *arg, daemonctx_error *err)
{
    (void)arg;
    if (hook_keep_lock && fcntl(daemonctx_pidfile_fd(g_pidfile), F_SETFD, 0) < 0)
        return -errno;
    if (caller_handler) {
        struct sigaction now;
        if (sigaction(SIGUSR1, NULL, &now) < 0 || now.sa_handler == on_usr1)
            return hook_fail(err, EEXIST, "the caller's SIGUSR1 handler is still installed");
    }
    if (hook_sleep_ms >= 0) {
        char line[32];
        int n = 0;
        char digits[16];
        int d = 0;
        for (unsigned v = (unsigned)getpid(); v || !d; v /= 10)
            digits[d++] = (char)('0' + v % 10);
        memcpy(line, "hook ", 5);
        n = 5;
        while (d)
            line[n++] = digits[--d];
        line[n++] = '\n';
        if (write(report_fd, line, (size_t)n) < 0)
            return -errno;
        struct timespec ts = {.tv_sec = hook_sleep_ms / 1000, .tv_nsec = (hook_sleep_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
    if (hook_errno)
        return hook_fail(err, hook_errno, "the hook refused");
    return 0;
}

/* Registering glibc's area again tells whether the kernel has it: EBUSY
 * when it does, success when the registration was lost. */
static const char *rseq_state(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
    if (__rseq_size == 0)
        return "rseq none";
    if (syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset, 32, 0, RSEQ_SIG) == 0)
        return "rseq missing";
    static char buf[32];
    if (errno == EBUSY)
        return "rseq registered";
    (void)snprintf(buf, sizeof buf, "rseq error %d", errno);
    return buf;
#else
    return "rseq none";
#endif
}

static void *idle_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv) {
    bool preserve_report = true, print_decision = false, print_workdir = false;
    bool fork_child_exit = false, fork_child_stay = false, do_check_busy = false, do_close = false, write_stdio = false;
    bool read_stdin = false, exit_after_signal = false, fail_after_open = false, never_ready = false;
    bool notify = false;
    int die_before_ready = -1, die_now = -1, ready_gate_fd = -1, start_gate_fd = -1;
    const char *print_before_open = NULL;
    char **exec_argv = NULL;
    char **execve_argv = NULL;
    bool print_dumpable = false, check_rseq = false;

    /* Options before --exec (or --open-execve) are ours; the rest is the
     * program to exec. */
    int own = 1;
    while (own < argc && strcmp(argv[own], "--exec") != 0 && strcmp(argv[own], "--open-execve") != 0)
        own++;
    /* The probe: what --exec runs. */
    for (int i = 1; i < own; i++) {
        if (strncmp(argv[i], "--report-fd=", 12) == 0)
            report_fd = (int)parse_long(argv[i] + 12, 10, argv[i]);
    }
    for (int i = 1; i < own; i++) {
        if (strcmp(argv[i], "--probe") == 0) {
            say("probe %d\n", (int)getpid());
            for (;;)
                pause();
        }
    }
    for (int i = 1; i < own; i++) {
        if (strncmp(argv[i], "--start-gate-fd=", 16) == 0)
            start_gate_fd = (int)parse_long(argv[i] + 16, 10, argv[i]);
    }
    if (start_gate_fd >= 0) {
        char ch;
        while (read(start_gate_fd, &ch, 1) < 0 && errno == EINTR) {
        }
        close(start_gate_fd);
    }

    g_ctx = daemonctx_new();
    if (!g_ctx) {
        fprintf(stderr, "new: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = strchr(a, '=');
        v = v ? v + 1 : "";
#define OPT(name) (strncmp(a, name "=", sizeof name) == 0)
        if (OPT("--report-fd") || OPT("--start-gate-fd")) {
            /* handled above */
        } else if (strcmp(a, "--no-preserve-report") == 0) {
            preserve_report = false;
        } else if (OPT("--chroot")) {
            SETTER("chroot_directory", daemonctx_set_chroot_directory(g_ctx, v));
        } else if (strcmp(a, "--no-chroot") == 0) {
            SETTER("chroot_directory", daemonctx_set_chroot_directory(g_ctx, NULL));
        } else if (OPT("--workdir")) {
            SETTER("working_directory", daemonctx_set_working_directory(g_ctx, v));
        } else if (OPT("--umask")) {
            SETTER("umask", daemonctx_set_umask(g_ctx, (mode_t)parse_long(v, 8, a)));
        } else if (OPT("--uid")) {
            SETTER("uid", daemonctx_set_uid(g_ctx, (uid_t)parse_long(v, 10, a)));
        } else if (OPT("--gid")) {
            SETTER("gid", daemonctx_set_gid(g_ctx, (gid_t)parse_long(v, 10, a)));
        } else if (strcmp(a, "--no-prevent-core") == 0) {
            SETTER("prevent_core", daemonctx_set_prevent_core(g_ctx, false));
        } else if (strcmp(a, "--prevent-core") == 0) {
            SETTER("prevent_core", daemonctx_set_prevent_core(g_ctx, true));
        } else if (OPT("--detach")) {
            enum daemonctx_detach d;
            if (strcmp(v, "auto") == 0)
                d = DAEMONCTX_DETACH_AUTO;
            else if (strcmp(v, "yes") == 0)
                d = DAEMONCTX_DETACH_YES;
            else if (strcmp(v, "no") == 0)
                d = DAEMONCTX_DETACH_NO;
            else
                d = (enum daemonctx_detach)parse_long(v, 10, a);
            SETTER("detach_process", daemonctx_set_detach_process(g_ctx, d));
        } else if (OPT("--preserve")) {
            if (g_npreserve == sizeof g_preserve / sizeof g_preserve[0])
                usage("too many --preserve");
            g_preserve[g_npreserve++] = (int)parse_long(v, 10, a);
        } else if (OPT("--pidfile")) {
            g_pidfile = daemonctx_pidfile_new(v);
            if (!g_pidfile) {
                fprintf(stderr, "pidfile: daemonctx_pidfile_new(%s): %s\n", v, strerror(errno));
                return 2;
            }
            SETTER("pidfile", daemonctx_set_pidfile(g_ctx, g_pidfile));
        } else if (OPT("--stdin-fd")) {
            SETTER("stdin", daemonctx_set_stdin(g_ctx, (int)parse_long(v, 10, a)));
        } else if (OPT("--stdout-fd")) {
            SETTER("stdout", daemonctx_set_stdout(g_ctx, (int)parse_long(v, 10, a)));
        } else if (OPT("--stderr-fd")) {
            SETTER("stderr", daemonctx_set_stderr(g_ctx, (int)parse_long(v, 10, a)));
        } else if (OPT("--signal")) {
            char name[32];
            const char *colon = strchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof name)
                usage(a);
            memcpy(name, v, (size_t)(colon - v));
            name[colon - v] = 0;
            int signo = parse_signal(name);
            const char *act = colon + 1;
            enum daemonctx_signal_action action;
            void (*handler)(int) = NULL;
            if (strcmp(act, "ignore") == 0)
                action = DAEMONCTX_SIGNAL_IGNORE;
            else if (strcmp(act, "default") == 0)
                action = DAEMONCTX_SIGNAL_DEFAULT;
            else if (strcmp(act, "terminate") == 0)
                action = DAEMONCTX_SIGNAL_TERMINATE;
            else if (strcmp(act, "handler") == 0) {
                action = DAEMONCTX_SIGNAL_HANDLER;
                handler = on_signal;
            } else if (strcmp(act, "unchanged") == 0)
                action = DAEMONCTX_SIGNAL_UNCHANGED;
            else
                usage(a);
            SETTER("signal", daemonctx_set_signal(g_ctx, signo, action, handler));
        } else if (strcmp(a, "--clear-signal-map") == 0) {
            SETTER("clear_signal_map", daemonctx_clear_signal_map(g_ctx));
        } else if (OPT("--ready-mode")) {
            enum daemonctx_ready_mode mode = DAEMONCTX_READY_OPEN;
            if (strncmp(v, "fd:", 3) == 0) {
                mode = DAEMONCTX_READY_FD;
                SETTER("ready_fd", daemonctx_set_ready_fd(g_ctx, (int)parse_long(v + 3, 10, a)));
            } else if (strcmp(v, "sd-notify") == 0) {
                mode = DAEMONCTX_READY_SD_NOTIFY;
            } else if (strcmp(v, "notify") == 0) {
                mode = DAEMONCTX_READY_NOTIFY;
            } else if (strcmp(v, "open") != 0) {
                usage(a);
            }
            /* Every mode but open: the daemon says when it is ready. */
            notify = mode != DAEMONCTX_READY_OPEN;
            SETTER("ready_mode", daemonctx_set_ready_mode(g_ctx, mode));
        } else if (OPT("--timeout-ms")) {
            SETTER("timeout_ms", daemonctx_set_timeout_ms(g_ctx, (unsigned int)parse_long(v, 10, a)));
        } else if (strcmp(a, "--parent-returns") == 0) {
            SETTER("parent_returns", daemonctx_set_parent_returns(g_ctx, true));
        } else if (strcmp(a, "--print-decision") == 0) {
            print_decision = true;
        } else if (strcmp(a, "--print-workdir") == 0) {
            print_workdir = true;
        } else if (OPT("--print-before-open")) {
            print_before_open = v;
        } else if (strcmp(a, "--fork-child-exit") == 0) {
            fork_child_exit = true;
        } else if (strcmp(a, "--fork-child-stay") == 0) {
            fork_child_stay = true;
        } else if (OPT("--die-before-ready-now")) {
            die_now = (int)parse_long(v, 10, a);
        } else if (strcmp(a, "--check-busy") == 0) {
            do_check_busy = true;
        } else if (strcmp(a, "--close") == 0) {
            do_close = true;
        } else if (strcmp(a, "--write-stdio") == 0) {
            write_stdio = true;
        } else if (strcmp(a, "--read-stdin") == 0) {
            read_stdin = true;
        } else if (strcmp(a, "--exit-after-signal") == 0) {
            exit_after_signal = true;
        } else if (OPT("--ready-gate-fd")) {
            ready_gate_fd = (int)parse_long(v, 10, a);
        } else if (strcmp(a, "--fail-after-open") == 0) {
            fail_after_open = true;
        } else if (strcmp(a, "--never-ready") == 0) {
            never_ready = true;
        } else if (OPT("--die-before-ready")) {
            die_before_ready = (int)parse_long(v, 10, a);
        } else if (OPT("--hook-fail")) {
            hook_errno = (int)parse_long(v, 10, a);
        } else if (OPT("--hook-sleep-ms")) {
            hook_sleep_ms = parse_long(v, 10, a);
        } else if (strcmp(a, "--caller-handler") == 0) {
            caller_handler = true;
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_usr1;
            if (sigaction(SIGUSR1, &sa, NULL) < 0)
                usage("--caller-handler: sigaction failed");
        } else if (strcmp(a, "--print-dumpable") == 0) {
            print_dumpable = true;
        } else if (strcmp(a, "--check-rseq") == 0) {
            check_rseq = true;
        } else if (strcmp(a, "--hook-keep-lock") == 0) {
            hook_keep_lock = true;
        } else if (strcmp(a, "--threaded") == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, idle_thread, NULL) != 0)
                usage("--threaded: pthread_create failed");
        } else if (strcmp(a, "--open-execve") == 0) {
            if (i + 1 >= argc)
                usage("--open-execve needs a program");
            execve_argv = &argv[i + 1];
            break;
        } else if (strcmp(a, "--exec") == 0) {
            if (i + 1 >= argc)
                usage("--exec needs a program");
            exec_argv = &argv[i + 1];
            break;
        } else {
            usage(a);
        }
#undef OPT
    }
    if (report_fd >= 0 && preserve_report) {
        if (g_npreserve == sizeof g_preserve / sizeof g_preserve[0])
            usage("too many --preserve");
        g_preserve[g_npreserve++] = report_fd;
    }
    if (ready_gate_fd >= 0) {
        if (g_npreserve == sizeof g_preserve / sizeof g_preserve[0])
            usage("too many --preserve");
        g_preserve[g_npreserve++] = ready_gate_fd;
    }
    if (g_npreserve)
        SETTER("files_preserve", daemonctx_set_files_preserve(g_ctx, g_preserve, g_npreserve));

    if (print_decision) {
        const char *reason = NULL;
        int d = daemonctx_detach_decision(g_ctx, &reason);
        say("decision %d %s\n", d, reason ? reason : "(null)");
    }
    if (print_workdir) {
        char buf[PATH_MAX];
        int n = daemonctx_get_working_directory(g_ctx, buf, sizeof buf);
        if (n < 0)
            say("workdir-error %d\n", n);
        else
            say("workdir %s\n", buf);
    }
    if (print_before_open)
        fputs(print_before_open, stdout); /* deliberately not flushed */

    daemonctx_error err;
    memset(&err, 0, sizeof err);
    extern char **environ;
    int rc = execve_argv ? daemonctx_open_execve(g_ctx, execve_argv[0], execve_argv, environ, execve_hook, NULL, &err)
                         : daemonctx_open(g_ctx, &err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", daemonctx_step_name(err.step), err.message);
        say("error %d %d %s\n", rc, err.errnum, daemonctx_step_name(err.step));
        daemonctx_free(g_ctx);
        daemonctx_pidfile_free(g_pidfile);
        return 1;
    }
    if (rc == 1) {
        say("parent %d %d\n", (int)getpid(), (int)daemonctx_daemon_pid(g_ctx));
        if (print_dumpable)
            say("dumpable %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
        daemonctx_free(g_ctx);
        daemonctx_pidfile_free(g_pidfile);
        return 0;
    }
    if (rc != 0) {
        say("open-returned %d\n", rc);
        return 5;
    }

    /* ---- the daemon ---- */
    if (fork_child_exit) {
        pid_t child = fork();
        if (child < 0) {
            say("fork-failed %d\n", errno);
        } else if (child == 0) {
            exit(0); /* runs atexit handlers: must not remove the daemon's pidfile */
        } else {
            int st;
            while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
            }
            say("child-exited %d\n", (int)child);
        }
    }
    say("up %d %d %d\n", (int)getpid(), (int)daemonctx_daemon_pid(g_ctx), daemonctx_is_open(g_ctx) ? 1 : 0);
    if (check_rseq)
        say("%s\n", rseq_state());
    if (fork_child_stay) {
        pid_t child = fork();
        if (child < 0) {
            say("fork-failed %d\n", errno);
        } else if (child == 0) {
            for (;;)
                pause();
        } else {
            say("child %d\n", (int)child);
        }
    }
    if (do_check_busy)
        check_busy();
    if (do_close)
        say("closed %d\n", daemonctx_close(g_ctx));
    if (write_stdio) {
        static const char o[] = "to-stdout\n", e[] = "to-stderr\n";
        ssize_t w1 = write(1, o, sizeof o - 1), w2 = write(2, e, sizeof e - 1);
        say("wrote %zd %zd\n", w1, w2);
    }
    if (read_stdin) {
        char buf[256];
        size_t len = 0;
        while (len < sizeof buf - 1) {
            ssize_t n = read(0, buf + len, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || buf[len] == '\n')
                break;
            len++;
        }
        buf[len] = 0;
        say("stdin %s\n", buf);
    }
    if (notify) {
        if (fail_after_open) {
            daemonctx_error e;
            memset(&e, 0, sizeof e);
            e.errnum = EIO;
            e.step = DAEMONCTX_STEP_APPLICATION;
            snprintf(e.message, sizeof e.message, "injected by --fail-after-open");
            int r = daemonctx_report_error(g_ctx, &e);
            say("reported %d\n", r);
            exit(3);
        }
        if (die_before_ready >= 0)
            exit(die_before_ready);
        if (die_now >= 0)
            _exit(die_now);
        if (never_ready) {
            for (;;)
                pause();
        }
        if (ready_gate_fd >= 0) {
            char ch;
            while (read(ready_gate_fd, &ch, 1) < 0 && errno == EINTR) {
            }
        }
        if (exec_argv) {
            memset(&err, 0, sizeof err);
            int r = daemonctx_execv(g_ctx, exec_argv[0], exec_argv, &err);
            say("exec-failed %d %d %s\n", r, err.errnum, daemonctx_step_name(err.step));
            exit(4);
        }
        memset(&err, 0, sizeof err);
        int r = daemonctx_ready(g_ctx, &err);
        say("ready %d\n", r);
    }
    if (exit_after_signal) {
        /* Signals blocked between the check and the wait, so that one
         * arriving just before it is not lost (sigsuspend unblocks them
         * atomically). */
        sigset_t all, waiting;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &waiting);
        while (!got_signal)
            sigsuspend(&waiting);
        exit(0);
    }
    for (;;)
        pause();
}
