/*
 * test_cli_ready.c - `daemonctx start --ready=exec|fd:N|notify` without a
 * supervisor: start returns once PROGRAM is ready, fails at once when it dies
 * first, fails at the deadline when it never is, and leaves nothing behind.
 */
#include "cli_common.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Failing readiness waits are bounded by this, far below --timeout=30. */
#define AT_ONCE_MS (tu_timeout_ms() / 3) /* "at once", not at a timeout of 30 s */

static void ready_cmd(tu_cmd *c, const char *pf, const char *ready)
{
    cli_cmd(c, "start");
    tu_cmd_arg(c, "--pidfile=%s", pf);
    tu_cmd_arg(c, "--ready=%s", ready);
    tu_cmd_arg(c, "--keep-fd=%d", EVENT_FD);
}

static void program(tu_cmd *c)
{
    tu_cmd_arg(c, "--");
    tu_cmd_arg(c, "%s", prog_path());
}

static void expect_nothing_left(const char *pf)
{
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pf), "pidfile %s was left behind", pf);
}

TU_TEST(cli_ready_exec_is_the_default)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "-p");
    tu_cmd_arg(&c, "%s", pf);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    /* start returned after the exec: the daemon already is PROGRAM */
    TU_ASSERT_PROC_IS(pid, "exe", prog_path());
}

TU_TEST(cli_ready_fd_returns_once_program_writes_newline)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "event:%d:started", EVENT_FD);
    tu_cmd_arg(&c, "delay:300");
    tu_cmd_arg(&c, "ready-fd:4");
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_MSG(r.elapsed_ms >= 300, "start returned after %lld ms, before the program was ready",
                  (long long)r.elapsed_ms);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "started"), pid);
    int fds[16];
    size_t n = tu_fd_list(pid, fds, 16);
    const int want[] = {0, 1, 2, 3, 4, EVENT_FD};
    TU_ASSERT_INT_EQ(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_INT_EQ(fds[i], want[i]);
}

TU_TEST(cli_ready_fd_death_before_ready_fails_at_once)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "delay:100");
    tu_cmd_arg(&c, "exit:3");
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "status 3", prog_path(), (char *)NULL);
    TU_ASSERT_MSG(r.elapsed_ms < AT_ONCE_MS, "the death was reported after %lld ms", (long long)r.elapsed_ms);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_fd_closed_without_newline_fails)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "close:4");
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "closed fd 4", (char *)NULL);
    TU_ASSERT(r.elapsed_ms < AT_ONCE_MS);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_fd_never_ready_times_out)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=0.5");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 9, "0.5 seconds", (char *)NULL);
    TU_ASSERT_MSG(r.elapsed_ms >= 500 && r.elapsed_ms < AT_ONCE_MS, "timed out after %lld ms",
                  (long long)r.elapsed_ms);
    expect_nothing_left(pf);
}

/* What PROGRAM forked goes with it. PROGRAM gives up once its child is
 * there (it closes the readiness fd, which the child does not hold): a
 * failure at a known moment, not at a timeout that might come before the
 * child on a loaded machine. (The child here does not keep the pidfile lock
 * either: see the next test for one that does.) */
TU_TEST(cli_ready_failure_kills_what_program_forked)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "fork-sleeper-closing:%d:3,4", EVENT_FD);
    tu_cmd_arg(&c, "close:4");
    tu_proc *p = tu_spawn(&c);
    pid_t child = expect_event(p, "child");
    cli_result r = cli_finish(p, tu_now_ms());
    expect_error(&r, 8, "closed fd 4 before it was ready", (char *)NULL);
    /* killed by start: it ends (it may still be on its way out now) */
    TU_ASSERT_MSG(tu_wait_gone(child, tu_timeout_ms()), "PROGRAM's child %d survived the failed start", (int)child);
    expect_nothing_left(pf);
}

/* A child of PROGRAM that inherited the pidfile lock is killed with it, and
 * may still be dying (64 MB to free) when start gives up: the failed start
 * must not leave the pidfile all the same. (It did when start removed the
 * pidfile only once it could take the lock again; now the invoking process
 * keeps its own lock from before the fork and removes the file it made.) */
TU_TEST(cli_ready_failure_removes_the_pidfile_a_dying_child_of_program_held)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "fork-hog:%d:64:4", EVENT_FD);
    tu_cmd_arg(&c, "close:4");
    tu_proc *p = tu_spawn(&c);
    pid_t child = expect_event(p, "child");
    TU_ASSERT(fd_points_to(child, 3, pf));
    cli_result r = cli_finish(p, tu_now_ms());
    expect_error(&r, 8, "closed fd 4 before it was ready", (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_notify_returns_on_ready_line)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "notify");
    program(&c);
    tu_cmd_arg(&c, "event:%d:started", EVENT_FD);
    tu_cmd_arg(&c, "delay:300");
    tu_cmd_arg(&c, "notify:STATUS=warming up|READY=1|MAINPID=1");
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT(r.elapsed_ms >= 300);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "started"), pid);
    const char *sock = proc_env(pid, "NOTIFY_SOCKET");
    TU_ASSERT_MSG(sock && sock[0] == '@', "PROGRAM has no abstract NOTIFY_SOCKET in its environment");
}

TU_TEST(cli_ready_notify_substring_is_not_ready)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "notify");
    tu_cmd_arg(&c, "--timeout=0.5");
    program(&c);
    tu_cmd_arg(&c, "notify:READY=10|NOTREADY=1");
    cli_result r = cli_run(&c);
    expect_error(&r, 9, (char *)NULL);
    expect_nothing_left(pf);
}

/* Somebody outside PROGRAM's process tree sending READY=1 does not count. */
TU_TEST(cli_ready_notify_ignores_senders_outside_program_tree)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "notify");
    tu_cmd_arg(&c, "--timeout=1");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    int64_t t0 = tu_now_ms();
    pid_t pid = expect_event(p, "up");
    const char *name = proc_env(pid, "NOTIFY_SOCKET");
    TU_ASSERT(name && name[0] == '@');
    name++;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, name, strlen(name));
    int fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    TU_SYS(sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&addr,
                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))));
    close(fd);
    cli_result r = cli_finish(p, t0);
    expect_error(&r, 9, (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_notify_death_before_ready_fails_at_once)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "notify");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "delay:100");
    tu_cmd_arg(&c, "raise:%d", SIGSEGV);
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "signal SEGV", (char *)NULL);
    TU_ASSERT(r.elapsed_ms < AT_ONCE_MS);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_notify_never_ready_times_out)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "notify");
    tu_cmd_arg(&c, "--timeout=0.5");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 9, (char *)NULL);
    TU_ASSERT(r.elapsed_ms >= 500 && r.elapsed_ms < AT_ONCE_MS);
    expect_nothing_left(pf);
}

TU_TEST(cli_ready_interrupted_start_leaves_nothing)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    ready_cmd(&c, pf, "fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    int64_t t0 = tu_now_ms();
    expect_event(p, "up");
    TU_SYS(kill(p->pid, SIGINT));
    cli_result r = cli_finish(p, t0);
    TU_ASSERT_INT_EQ(r.code, 128 + SIGINT);
    TU_ASSERT_CONTAINS(r.err, "interrupted by SIGINT");
    expect_nothing_left(pf);
}

TU_MAIN
