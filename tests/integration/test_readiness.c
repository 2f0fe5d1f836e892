/*
 * Readiness sources of the library: DAEMONCTX_READY_FD (a newline on fd N)
 * and DAEMONCTX_READY_SD_NOTIFY (READY=1 on the socket the library listens
 * on). open() and open_execve() return only once the daemon is ready, or
 * with the failure (death with its status, fd N closed, not ready in time,
 * interrupted), and then nothing of the start is left.
 *
 * The daemon execs dcx-cli-prog (DCX_CLI_PROG), whose actions say on the
 * report fd what it does; gate:8 holds it until the test writes a byte.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_FD 7
#define GATE_FD 8

static const char *prog(void)
{
    const char *p = getenv("DCX_CLI_PROG");
    TU_ASSERT_MSG(p && *p, "DCX_CLI_PROG is not set");
    return p;
}

/* dcx-helper --pidfile=P --ready-mode=MODE [EXTRA] --open-execve dcx-cli-prog
 * event:5:start gate:8 ACTIONS...; *GATE is the test's end of the gate. */
static tu_proc *start_gated(const char *pidfile, const char *mode, const char *extra, const char *actions, int *gate)
{
    int g[2];
    TU_SYS(pipe2(g, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, GATE_FD, g[0]);
    tu_cmd_arg(&c, "--preserve=%d", GATE_FD);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--ready-mode=%s", mode);
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    tu_cmd_arg(&c, "--open-execve");
    tu_cmd_arg(&c, "%s", prog());
    tu_cmd_arg(&c, "event:%d:start", TU_REPORT_FD);
    tu_cmd_arg(&c, "gate:%d", GATE_FD);
    for (char *copy = tu_strdup(actions), *save = NULL, *a = strtok_r(copy, " ", &save); a;
         a = strtok_r(NULL, " ", &save))
        tu_cmd_arg(&c, "%s", a);
    tu_proc *p = tu_spawn(&c);
    close(g[0]);
    *gate = g[1];
    return p;
}

static pid_t expect_event(tu_proc *p, const char *word)
{
    char *line = tu_read_line(p->report, tu_timeout_ms());
    char got[64];
    int pid;
    TU_ASSERT_MSG(line && sscanf(line, "%63s %d", got, &pid) == 2 && strcmp(got, word) == 0,
                  "expected \"%s PID\", got \"%s\"; stderr: %s", word, line ? line : "EOF", tu_proc_stderr(p));
    return (pid_t)pid;
}

/* The invoker is still waiting while PROGRAM, started, is held at its gate. */
static pid_t expect_waiting(tu_proc *p)
{
    pid_t d = expect_event(p, "start");
    int st;
    TU_ASSERT_MSG(!tu_exits_within(p, 300, &st), "the invoker exited (%s) before the program was ready",
                  tu_describe_status(st));
    TU_ASSERT(tu_alive(d));
    return d;
}

/* Whether PID's environment has a variable starting with PREFIX. */
static bool environ_has(pid_t pid, const char *prefix)
{
    char buf[65536];
    int fd = TU_FD(open(tu_fmt("/proc/%d/environ", (int)pid), O_RDONLY | O_CLOEXEC));
    ssize_t n, len = 0;
    while ((n = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    buf[len] = '\0';
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
        if (strncmp(buf + i, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static void expect_nothing_left(const char *pidfile, pid_t d)
{
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed start left its pidfile");
    TU_ASSERT_MSG(!tu_alive(d), "program PID %d outlived the failed start", (int)d);
    tu_assert_no_descendants();
}

TU_TEST(ready_fd_open_execve_returns_once_the_program_wrote_the_newline)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "fd:7", NULL, "ready-fd:7 event:5:ready", &gate);
    pid_t d = expect_waiting(p);
    TU_SYS(write(gate, "g", 1));
    tu_expect_exit_code(p, 0);
    TU_ASSERT_INT_EQ(expect_event(p, "ready"), d);
    tu_assert_pidfile_holds(pidfile, d);
    tu_wait_reparented(d);
    TU_ASSERT(tu_alive(d));
    /* fd 7 was the readiness pipe's write end, open in PROGRAM, nowhere else */
    TU_ASSERT_CONTAINS(tu_proc_link(d, "fd/7"), "pipe:");
    TU_ASSERT_INT_EQ(tu_fd_flags(d, 7) & O_CLOEXEC, 0);
}

TU_TEST(ready_fd_closed_before_ready_fails_at_once_and_leaves_nothing)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "fd:7", "--timeout-ms=60000", "close:7", &gate);
    pid_t d = expect_waiting(p);
    int64_t t0 = tu_now_ms();
    TU_SYS(write(gate, "g", 1));
    tu_failure f = tu_expect_open_failure(p, "died");
    TU_ASSERT_CONTAINS(f.message, tu_fmt("(PID %d) closed fd 7 before it was ready; it was killed", (int)d));
    TU_ASSERT_MSG(tu_now_ms() - t0 < 10000, "the failure came only at the timeout");
    expect_nothing_left(pidfile, d);
}

TU_TEST(ready_fd_program_exiting_before_ready_reports_its_status)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "fd:7", NULL, "exit:3", &gate);
    pid_t d = expect_waiting(p);
    TU_SYS(write(gate, "g", 1));
    tu_failure f = tu_expect_open_failure(p, "died");
    TU_ASSERT_CONTAINS(f.message, tu_fmt("(PID %d) exited with status 3 before it was ready", (int)d));
    expect_nothing_left(pidfile, d);
}

TU_TEST(ready_fd_not_ready_in_time_is_killed_and_leaves_nothing)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "fd:7", "--timeout-ms=400", "", &gate);
    pid_t d = expect_event(p, "start");
    tu_failure f = tu_expect_open_failure(p, "timeout");
    TU_ASSERT_INT_EQ(f.errnum, ETIMEDOUT);
    TU_ASSERT_CONTAINS(f.message, tu_fmt("(PID %d) was not ready within 0.4 seconds; it was killed", (int)d));
    expect_nothing_left(pidfile, d);
    close(gate);
}

TU_TEST(ready_sd_notify_returns_on_ready_1_from_the_program)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "sd-notify", NULL, "notify:STATUS=up|READY=1 event:5:ready", &gate);
    pid_t d = expect_waiting(p);
    TU_ASSERT_MSG(environ_has(d, "NOTIFY_SOCKET=@"), "the program got no NOTIFY_SOCKET of the library's");
    TU_SYS(write(gate, "g", 1));
    tu_expect_exit_code(p, 0);
    TU_ASSERT_INT_EQ(expect_event(p, "ready"), d);
    tu_assert_pidfile_holds(pidfile, d);
}

TU_TEST(ready_sd_notify_without_ready_line_is_not_ready)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "sd-notify", "--timeout-ms=500", "notify:READY=10|XREADY=1", &gate);
    pid_t d = expect_event(p, "start");
    TU_SYS(write(gate, "g", 1));
    tu_expect_open_failure(p, "timeout");
    expect_nothing_left(pidfile, d);
}

/* A daemon of daemonctx_open() in READY_FD mode: daemonctx_ready() lets the
 * original process go and closes fd N (the library's pipe). */
TU_TEST(ready_fd_daemonctx_ready_lets_the_invoker_go_and_closes_fd_n)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, GATE_FD, gate[0]);
    tu_cmd_arg(&c, "--ready-mode=fd:7");
    tu_cmd_arg(&c, "--ready-gate-fd=%d", GATE_FD);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    close(gate[0]);
    pid_t d = tu_expect_up(p);
    int st;
    TU_ASSERT_MSG(!tu_exits_within(p, 300, &st), "the invoker exited (%s) before daemonctx_ready()",
                  tu_describe_status(st));
    TU_SYS(write(gate[1], "g", 1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "ready 0");
    tu_expect_exit_code(p, 0);
    tu_assert_pidfile_holds(pidfile, d);
    tu_wait_reparented(d);
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_MSG(fds[i] != 7, "fd 7 is still open in the daemon after daemonctx_ready()");
}

/* Not detached (under s6, say), fd N is whoever started us: daemonctx_ready()
 * writes the newline there and closes it, as s6's notification-fd wants. */
TU_TEST(ready_fd_not_detached_daemonctx_ready_writes_the_newline_on_the_given_fd)
{
    int n[2];
    TU_SYS(pipe2(n, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, READY_FD, n[1]);
    tu_cmd_arg(&c, "--detach=no");
    tu_cmd_arg(&c, "--ready-mode=fd:7");
    tu_proc *p = tu_spawn(&c);
    close(n[1]);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_EQ(d, p->pid);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "ready 0");
    TU_ASSERT_STR_EQ(tu_read_line(n[0], tu_timeout_ms()), "");
    TU_ASSERT_MSG(tu_read_line(n[0], tu_timeout_ms()) == NULL, "fd 7 stayed open after the newline");
    close(n[0]);
}

TU_TEST(ready_fd_interrupted_by_sigint_leaves_nothing_and_dies_of_it)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int gate;
    tu_proc *p = start_gated(pidfile, "fd:7", NULL, "ready-fd:7", &gate);
    pid_t d = expect_waiting(p);
    TU_SYS(kill(p->pid, SIGINT));
    int st = tu_wait(p, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "the invoker %s, expected death by SIGINT",
                  tu_describe_status(st));
    expect_nothing_left(pidfile, d);
    close(gate);
}

TU_TEST(ready_fd_that_is_also_preserved_is_refused_before_forking)
{
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--preserve=7");
    tu_cmd_arg(&c, "--ready-mode=fd:7");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "options");
    TU_ASSERT_INT_EQ(f.errnum, EINVAL);
    TU_ASSERT_CONTAINS(f.message, "readiness fd 7");
    tu_assert_no_descendants();
}

TU_TEST(ready_fd_below_3_is_refused_by_the_setter)
{
    daemonctx *ctx = daemonctx_new();
    TU_ASSERT(ctx != NULL);
    TU_ASSERT_INT_EQ(daemonctx_set_ready_fd(ctx, 2), -EINVAL);
    TU_ASSERT_CONTAINS(daemonctx_last_error(ctx)->message, "ready_fd 2");
    TU_ASSERT_INT_EQ(daemonctx_set_ready_fd(ctx, 3), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_ready_mode(ctx, (enum daemonctx_ready_mode)9), -EINVAL);
    daemonctx_free(ctx);
}

TU_MAIN
