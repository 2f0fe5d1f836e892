/*
 * READY_NOTIFY mode: the invoker waits for daemonctx_ready() (or a reported
 * error, the daemon's death, a timeout, a successful exec), and
 * NOTIFY_SOCKET gets READY=1 and MAINPID.
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
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TU_TEST(ready_invoker_waits_for_daemonctx_ready) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 8, gate[0]);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--ready-gate-fd=8");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    close(gate[0]);
    pid_t d = tu_expect_up(p);
    /* open() is done in the daemon, ready() not called: the invoker waits */
    int st;
    TU_ASSERT_MSG(!tu_exits_within(p, 500, &st), "the invoker exited (%s) before the daemon was ready",
                  tu_describe_status(st));
    TU_ASSERT(tu_alive(d));
    TU_SYS(write(gate[1], "g", 1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "ready 0");
    tu_expect_exit_code(p, 0);
    tu_assert_pidfile_holds(pidfile, d);
    tu_wait_reparented(d);
    TU_ASSERT(tu_alive(d));
}

TU_TEST(ready_daemon_fd_table_clean_after_ready) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "ready 0");
    tu_expect_exit_code(p, 0);
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    char list[256] = "";
    size_t len = 0;
    int extra = 0;
    for (size_t i = 0; i < n; i++) {
        const char *target = tu_proc_link(d, tu_fmt("fd/%d", fds[i]));
        len += (size_t)snprintf(list + len, sizeof list - len, " %d:%s", fds[i], target);
        if (fds[i] <= 2 || fds[i] == TU_REPORT_FD || strcmp(target, pidfile) == 0)
            continue;
        /* the pidfile object's directory handle (close-on-exec) */
        if (strcmp(target, dir) == 0 && (tu_fd_flags(d, fds[i]) & O_CLOEXEC))
            continue;
        extra++;
    }
    TU_ASSERT_MSG(extra == 0, "after ready() the daemon still has fds besides stdio, preserved and pidfile:%s",
                  list);
}

TU_TEST(ready_reported_error_is_returned_by_the_invoker) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--fail-after-open");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "application");
    TU_ASSERT_STR_EQ(f.message, "injected by --fail-after-open");
    TU_ASSERT_INT_EQ(f.errnum, EIO);
    TU_ASSERT_INT_EQ(f.rc, -EIO);
    tu_assert_no_descendants();
}

TU_TEST(ready_daemon_dying_before_ready_reports_its_exit_status) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--die-before-ready=93");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "died");
    TU_ASSERT_INT_EQ(f.errnum, ECHILD);
    TU_ASSERT_MSG(tu_contains_number(f.message, 93), "the message does not give exit status 93: %s", f.line);
    tu_assert_no_descendants();
}

TU_TEST(ready_daemon_killed_before_ready_reports_the_signal) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--never-ready");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    TU_SYS(kill(d, SIGKILL));
    tu_failure f = tu_expect_open_failure(p, "died");
    TU_ASSERT_MSG(tu_contains_number(f.message, SIGKILL) || strstr(f.message, "KILL") || strstr(f.message, "Killed"),
                  "the message does not name SIGKILL: %s", f.line);
    tu_assert_no_descendants();
}

TU_TEST(ready_never_ready_times_out_and_daemon_is_killed) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--never-ready");
    tu_cmd_arg(&c, "--timeout-ms=300");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    int64_t t0 = tu_now_ms();
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    tu_failure f = tu_expect_open_failure(p, "timeout");
    int64_t elapsed = tu_now_ms() - t0;
    tu_log("timed out after %lld ms", (long long)elapsed);
    TU_ASSERT_MSG(elapsed >= 300, "gave up after %lld ms, before the 300 ms timeout", (long long)elapsed);
    TU_ASSERT_INT_EQ(f.errnum, ETIMEDOUT);
    TU_ASSERT_MSG(tu_contains_number(f.message, d), "the message does not name the daemon %d: %s", (int)d, f.line);
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_alive(d), "the daemon %d survived the timeout", (int)d);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the timed-out attempt left its pidfile");
}

TU_TEST(ready_exec_success_counts_as_ready) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--exec");
    tu_cmd_arg(&c, "%s", tu_helper_path());
    tu_cmd_arg(&c, "--report-fd=%d", TU_REPORT_FD);
    tu_cmd_arg(&c, "--probe");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), tu_fmt("probe %d", (int)d));
    tu_expect_exit_code(p, 0);
    /* the exec'd program inherited stdio on /dev/null (not close-on-exec) */
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
    /* and no report channel leaked into it */
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_MSG(fds[i] <= 2 || fds[i] == TU_REPORT_FD, "fd %d (%s) leaked into the exec'd program", fds[i],
                      tu_proc_link(d, tu_fmt("fd/%d", fds[i])));
}

TU_TEST(ready_exec_failure_is_reported_with_step_exec) {
    const char *dir = tu_tmpdir();
    const char *missing = tu_fmt("%s/no-such-program", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--exec");
    tu_cmd_arg(&c, "%s", missing);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "exec");
    TU_ASSERT_CONTAINS(f.message, missing);
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    tu_assert_no_descendants();
}

static int notify_socket(const char *path) {
    int s = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    TU_ASSERT(strlen(path) < sizeof sa.sun_path);
    socklen_t len;
    if (path[0] == '@') {
        memcpy(sa.sun_path + 1, path + 1, strlen(path) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    } else {
        strcpy(sa.sun_path, path);
        len = (socklen_t)sizeof sa;
    }
    TU_SYS(bind(s, (struct sockaddr *)&sa, len));
    return s;
}

static void expect_ready_datagram(int s, pid_t d) {
    TU_ASSERT_MSG(tu_readable_within(s, tu_timeout_ms()), "no datagram on NOTIFY_SOCKET");
    char buf[1024];
    ssize_t n = TU_SYS(recv(s, buf, sizeof buf - 1, 0));
    buf[n] = 0;
    tu_log("NOTIFY_SOCKET got: %s", buf);
    bool ready = false, mainpid = false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        ready |= strcmp(line, "READY=1") == 0;
        mainpid |= strcmp(line, tu_fmt("MAINPID=%d", (int)d)) == 0;
    }
    TU_ASSERT_MSG(ready, "no READY=1 line");
    TU_ASSERT_MSG(mainpid, "no MAINPID=%d line", (int)d);
}

TU_TEST(ready_sends_ready_and_mainpid_to_notify_socket) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/notify.sock", dir);
    int s = notify_socket(path);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", path));
    tu_cmd_arg(&c, "--detach=yes"); /* NOTIFY_SOCKET alone means no fork */
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    expect_ready_datagram(s, d);
    tu_expect_exit_code(p, 0);
}

TU_TEST(ready_sends_to_abstract_notify_socket) {
    const char *path = tu_fmt("@dcx-test-notify-%d", (int)getpid());
    int s = notify_socket(path);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", path));
    tu_cmd_arg(&c, "--detach=yes"); /* NOTIFY_SOCKET alone means no fork */
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    expect_ready_datagram(s, d);
    tu_expect_exit_code(p, 0);
}

TU_TEST(ready_open_mode_sends_ready_and_mainpid_to_notify_socket) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/notify.sock", dir);
    int s = notify_socket(path);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", path));
    tu_cmd_arg(&c, "--detach=yes");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    expect_ready_datagram(s, d);
    tu_expect_exit_code(p, 0);
}

TU_TEST(ready_notify_socket_without_fork_names_the_process_itself) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/notify.sock", dir);
    int s = notify_socket(path);
    tu_cmd c;
    tu_cmd_init(&c); /* detach auto: a service manager started it, no fork */
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", path));
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    TU_ASSERT_INT_EQ(d, p->pid);
    expect_ready_datagram(s, d);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "ready 0");
}

TU_TEST(ready_terminate_action_sends_stopping_to_notify_socket) {
    const char *dir = tu_tmpdir();
    const char *path = tu_fmt("%s/notify.sock", dir);
    int s = notify_socket(path);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", path));
    tu_cmd_arg(&c, "--detach=yes");
    tu_cmd_arg(&c, "--pidfile=%s/d.pid", dir);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ready_datagram(s, d);
    int st = tu_kill_and_wait(d, SIGTERM);
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "daemon: %s", tu_describe_status(st));
    TU_ASSERT_MSG(tu_readable_within(s, tu_timeout_ms()), "no STOPPING=1 datagram");
    char buf[512];
    ssize_t n = TU_SYS(recv(s, buf, sizeof buf - 1, 0));
    buf[n] = 0;
    bool stopping = false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        stopping |= strcmp(line, "STOPPING=1") == 0;
    TU_ASSERT_MSG(stopping, "datagram after SIGTERM: \"%s\"", buf);
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/d.pid", dir)));
}

TU_TEST(ready_death_status_reported_when_invoker_ignores_sigchld) {
    /* SIG_IGN for SIGCHLD makes the kernel discard exit statuses */
    tu_cmd c;
    tu_cmd_init(&c);
    sigaddset(&c.ignore, SIGCHLD);
    tu_cmd_arg(&c, "--ready-mode=notify");
    tu_cmd_arg(&c, "--die-before-ready=93");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, NULL);
    TU_ASSERT_MSG(tu_contains_number(f.message, 93), "the message does not give exit status 93: %s", f.line);
    tu_assert_no_descendants();
}

TU_MAIN
