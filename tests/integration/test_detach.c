/*
 * detach_process: the double fork, the new session, the controlling
 * terminal, and the auto-detection (socket on stdin, PID 1, parent init),
 * observed from /proc on real processes started through dcx-helper.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect_decision(tu_proc *p, int want) {
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_MSG(line != NULL, "no decision line; stderr: %s", tu_proc_stderr(p));
    int d;
    int off = 0;
    TU_ASSERT_MSG(sscanf(line, "decision %d %n", &d, &off) == 1 && off > 0, "bad line \"%s\"", line);
    tu_log("detach decision: %s", line);
    TU_ASSERT_MSG(d == want, "daemonctx_detach_decision() = %d, expected %d (%s)", d, want, line);
    TU_ASSERT_MSG(line[off] != 0 && strcmp(line + off, "(null)") != 0, "no reason given: \"%s\"", line);
}

TU_TEST(detach_daemon_is_in_new_session_but_not_its_leader) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(d, &st));
    tu_log("daemon %d: ppid %d pgrp %d session %d tty_nr %d; test session %d", (int)d, (int)st.ppid,
           (int)st.pgrp, (int)st.session, st.tty_nr, (int)getsid(0));
    TU_ASSERT_MSG(st.session != d, "the daemon %d is a session leader (double fork missing)", (int)d);
    TU_ASSERT_MSG(st.session != getsid(0), "the daemon stayed in the invoker's session %d", (int)st.session);
    TU_ASSERT_MSG(st.pgrp == st.session, "process group %d is not the new session's %d", (int)st.pgrp,
                  (int)st.session);
    TU_ASSERT_MSG(st.pgrp != getpgrp(), "the daemon stayed in the invoker's process group");
    TU_ASSERT_INT_EQ(st.tty_nr, 0);
    TU_ASSERT_INT_EQ(st.ppid, getpid());
    TU_ASSERT_MSG(!tu_alive(st.session), "the session leader %d (intermediate child) is still alive",
                  (int)st.session);
}

static void open_pty(int *master, int *slave) {
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        tu_skip("no pseudo-terminal: %s", strerror(errno));
    TU_SYS(grantpt(*master));
    TU_SYS(unlockpt(*master));
    char *name = ptsname(*master);
    TU_ASSERT(name != NULL);
    *slave = TU_FD(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
}

TU_TEST(detach_daemon_has_no_controlling_terminal) {
    int master, slave;
    open_pty(&master, &slave);
    tu_cmd c;
    tu_cmd_init(&c);
    c.ctty = slave; /* the invoker is a session leader with this controlling tty */
    tu_cmd_fd(&c, 0, slave);
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(d, &st));
    TU_ASSERT_MSG(st.tty_nr == 0, "daemon has controlling tty %d", st.tty_nr);
    TU_ASSERT_MSG(st.session != p->pid, "daemon is in the invoker's session");
    tu_expect_exit_code(p, 0);
    close(master);
    close(slave);
}

TU_TEST(detach_daemon_survives_terminal_hangup) {
    int master, slave;
    open_pty(&master, &slave);
    tu_cmd c;
    tu_cmd_init(&c);
    c.ctty = slave;
    tu_cmd_fd(&c, 0, slave);
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    /* The invoker (session leader, controlling process) has exited: the
     * kernel hung up its session. Closing the master hangs up the tty too. */
    close(master);
    close(slave);
    TU_ASSERT_MSG(tu_alive(d), "the daemon died with its invoker's terminal");
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "daemon ended with %s, expected SIGTERM",
                  tu_describe_status(st));
}

TU_TEST(detach_yes_forks_a_new_process) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--detach=yes");
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
}

TU_TEST(detach_yes_forks_even_with_socket_stdin) {
    int sv[2];
    TU_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 0, sv[1]);
    tu_cmd_arg(&c, "--detach=yes");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
}

TU_TEST(detach_no_keeps_the_pid) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--detach=no");
    tu_cmd_arg(&c, "--print-decision");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 0);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_EQ(d, p->pid);
    tu_assert_pidfile_holds(pidfile, d);
    TU_ASSERT_MSG(!tu_exits_within(p, 0, NULL), "the process exited although it is the daemon");
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(d, &st));
    TU_ASSERT_INT_EQ(st.ppid, getpid());
}

TU_TEST(detach_auto_forks_with_ordinary_stdin) {
    tu_cmd c;
    tu_cmd_init(&c); /* stdin /dev/null, parent is the test: not init */
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
}

TU_TEST(detach_auto_socket_on_stdin_does_not_fork) {
    int sv[2];
    TU_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 0, sv[1]);
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 0);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_MSG(d == p->pid, "forked (daemon %d, started %d) although stdin is a socket", (int)d, (int)p->pid);
    TU_ASSERT_MSG(!tu_exits_within(p, 0, NULL), "the process exited although it is the daemon");
}

TU_TEST(detach_auto_closed_stdin_forks_without_crash) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 0, -1); /* fd 0 closed */
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    char *table = tu_fmt("%s", "");
    for (size_t i = 0; i < n; i++)
        table = tu_fmt("%s %d:%s", table, fds[i], tu_proc_link(d, tu_fmt("fd/%d", fds[i])));
    TU_ASSERT_MSG(n > 0 && fds[0] == 0, "the daemon has no fd 0 (stdin not redirected to /dev/null); fds:%s", table);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
}

TU_TEST(detach_auto_as_pid_1_does_not_fork) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.pidns = TU_PIDNS_PID1;
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 0);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_MSG(line != NULL, "no up line; stderr: %s", tu_proc_stderr(p));
    TU_ASSERT_MSG(strcmp(line, "up 1 1 1") == 0, "expected \"up 1 1 1\" (PID 1 stays PID 1), got \"%s\"", line);
    TU_ASSERT_MSG(!tu_exits_within(p, 0, NULL), "the namespace's init exited");
}

TU_TEST(detach_auto_parent_is_init_does_not_fork) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.pidns = TU_PIDNS_PARENT_INIT; /* the helper is PID 2, its parent PID 1 */
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 0);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_MSG(line != NULL, "no up line; stderr: %s", tu_proc_stderr(p));
    TU_ASSERT_MSG(strcmp(line, "up 2 2 1") == 0, "expected \"up 2 2 1\" (no fork under init), got \"%s\"", line);
}

TU_TEST(open_invoker_exits_only_after_pidfile_holds_daemon_pid) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    tu_expect_exit_code(p, 0);
    /* read the pidfile right after the invoker's exit, before the up line */
    char *content = tu_read_file(pidfile);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_MSG(content != NULL, "no pidfile when the invoker exited");
    TU_ASSERT_STR_EQ(content, tu_fmt("%d\n", (int)d));
}

TU_TEST(open_flushes_stdio_before_forking) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--print-before-open=buffered-text-once");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    const char *out = tu_proc_stdout(p); /* EOF: invoker gone, daemon's stdout is /dev/null */
    TU_ASSERT_MSG(strcmp(out, "buffered-text-once") == 0,
                  "stdout buffered before open() came out as \"%s\" (lost or duplicated)", out);
    TU_ASSERT(tu_alive(d));
}

TU_TEST(open_daemon_reparented_and_invoker_exit_status_zero) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    int st;
    TU_ASSERT(tu_exits_within(p, 0, &st));
    TU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    TU_ASSERT(tu_alive(d));
    /* no other process than the daemon is left (the intermediate is gone) */
    tu_assert_no_descendants_except(&d, 1);
}

TU_TEST(open_succeeds_when_invoker_ignores_sigchld) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGCHLD);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    tu_assert_pidfile_holds(pidfile, d);
    tu_assert_no_descendants_except(&d, 1);
}

TU_TEST(open_failure_reported_when_invoker_ignores_sigchld) {
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGCHLD);
    tu_cmd_arg(&c, "--workdir=%s/missing", dir);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chdir");
    TU_ASSERT_CONTAINS(f.message, tu_fmt("%s/missing", dir));
    tu_assert_no_descendants();
}

/* ------------------------------------------------ service managers */

static void expect_no_fork(tu_cmd *c) {
    tu_cmd_arg(c, "--print-decision");
    tu_proc *p = tu_spawn(c);
    expect_decision(p, 0);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_MSG(d == p->pid, "forked (daemon %d, started %d)", (int)d, (int)p->pid);
    TU_ASSERT_MSG(!tu_exits_within(p, 0, NULL), "the process exited although it is the daemon");
}

TU_TEST(detach_auto_notify_socket_does_not_fork) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s/absent.sock", tu_tmpdir()));
    expect_no_fork(&c);
}

/* systemd Type=forking: INVOCATION_ID without NOTIFY_SOCKET, and systemd
 * waits for the start to exit. */
TU_TEST(detach_auto_invocation_id_without_notify_socket_forks) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, "INVOCATION_ID=0123456789abcdef0123456789abcdef");
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
}

TU_TEST(detach_auto_invocation_id_with_notify_socket_does_not_fork) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, "INVOCATION_ID=0123456789abcdef0123456789abcdef");
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s/absent.sock", tu_tmpdir()));
    expect_no_fork(&c);
}

/* Under systemd the parent is PID 1 too: INVOCATION_ID wins over "the parent
 * is init" (Type=forking needs the fork). */
TU_TEST(detach_auto_parent_init_with_invocation_id_forks) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.pidns = TU_PIDNS_PARENT_INIT; /* the helper is PID 2, its parent PID 1 */
    tu_cmd_env(&c, "INVOCATION_ID=0123456789abcdef0123456789abcdef");
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
}

TU_TEST(detach_auto_listen_pid_naming_the_process_does_not_fork) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.listen_pid_self = true;
    tu_cmd_env(&c, "LISTEN_FDS=0");
    expect_no_fork(&c);
}

TU_TEST(detach_auto_listen_pid_naming_another_process_forks) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, "LISTEN_PID=1");
    tu_cmd_env(&c, "LISTEN_FDS=0");
    tu_cmd_arg(&c, "--print-decision");
    tu_proc *p = tu_spawn(&c);
    expect_decision(p, 1);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_NE(d, p->pid);
    tu_expect_exit_code(p, 0);
}

/* The intermediate child shares the caller's memory and has no rseq
 * registration of its own: the daemon, its fork child, must still have the
 * one its C library believes in (sched_getcpu, per-CPU data). */
TU_TEST(detach_daemon_keeps_the_rseq_registration_of_its_c_library)
{
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--check-rseq");
    tu_proc *p = tu_spawn(&c);
    tu_expect_up(p);
    const char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT(line != NULL);
    if (strcmp(line, "rseq none") == 0)
        tu_skip("the C library registers no rseq area here");
    TU_ASSERT_STR_EQ(line, "rseq registered");
}

TU_MAIN
