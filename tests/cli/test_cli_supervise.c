/*
 * test_cli_supervise.c - `daemonctx start --supervise [--restart]`: the
 * supervisor holds the pidfile, forwards signals, passes PROGRAM's exit
 * status through, observes readiness, restarts with a bounded back-off.
 */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define AT_ONCE_MS (tu_timeout_ms() / 3) /* "at once", not at a timeout of 30 s */

static void supervise_cmd(tu_cmd *c, const char *pf)
{
    cli_cmd(c, "start");
    tu_cmd_arg(c, "--pidfile=%s", pf);
    tu_cmd_arg(c, "--supervise");
    tu_cmd_arg(c, "--keep-fd=%d", EVENT_FD);
}

static void program(tu_cmd *c)
{
    tu_cmd_arg(c, "--");
    tu_cmd_arg(c, "%s", prog_path());
}

/* Start; returns the supervisor (the pidfile's PID) and PROGRAM (*prog, from
 * its "up" event). */
static pid_t start_supervised(tu_cmd *c, const char *pf, pid_t *prog, cli_result *r)
{
    cli_result local;
    if (!r)
        r = &local;
    pid_t sup = start_daemon(c, pf, r);
    *prog = expect_event(r->proc, "up");
    tu_track_pid(*prog);
    return sup;
}

static void expect_nothing_left(const char *pf)
{
    tu_assert_no_descendants();
    TU_ASSERT_MSG(!tu_path_exists(pf), "pidfile %s was left behind", pf);
}

TU_TEST(cli_supervise_pidfile_names_supervisor_holding_lock)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    sigaddset(&c.ignore, SIGHUP);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    pid_t sup = start_supervised(&c, pf, &prog, NULL);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(prog, &st));
    TU_ASSERT_INT_EQ(st.ppid, sup);
    TU_ASSERT_INT_EQ(st.pgrp, prog); /* a process group of its own */
    /* the supervisor holds the lock; PROGRAM has only stdio and the kept fd */
    int fds[32];
    size_t n = tu_fd_list(sup, fds, 32);
    bool holds = false;
    for (size_t i = 0; i < n; i++)
        holds |= fd_points_to(sup, fds[i], pf);
    TU_ASSERT_MSG(holds, "the supervisor does not hold the pidfile open");
    n = tu_fd_list(prog, fds, 32);
    const int want[] = {0, 1, 2, EVENT_FD};
    TU_ASSERT_INT_EQ(n, 4);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_INT_EQ(fds[i], want[i]);
    TU_ASSERT_INT_EQ(tu_status_mask(prog, "SigBlk"), 0);
    TU_ASSERT_INT_EQ(tu_status_mask(prog, "SigIgn"), 0);
}

TU_TEST(cli_supervise_forwards_signals)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "trap:%d:%d:0", SIGUSR1, EVENT_FD);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    cli_result r;
    pid_t sup = start_supervised(&c, pf, &prog, &r);
    TU_SYS(kill(sup, SIGUSR1));
    TU_ASSERT_INT_EQ(expect_event(r.proc, tu_fmt("got %d", SIGUSR1)), prog);
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor: %s", tu_describe_status(st));
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_passes_exit_status)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "trap:%d:%d:42", SIGTERM, EVENT_FD);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    cli_result r;
    pid_t sup = start_supervised(&c, pf, &prog, &r);
    TU_SYS(kill(sup, SIGTERM));
    TU_ASSERT_INT_EQ(expect_event(r.proc, tu_fmt("got %d", SIGTERM)), prog);
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 42, "supervisor: %s", tu_describe_status(st));
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_dies_of_the_signal_that_killed_program)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    pid_t sup = start_supervised(&c, pf, &prog, NULL);
    TU_SYS(kill(prog, SIGUSR2));
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR2, "supervisor: %s", tu_describe_status(st));
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_program_dies_with_killed_supervisor)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    pid_t sup = start_supervised(&c, pf, &prog, NULL);
    tu_kill_and_wait(sup, SIGKILL);
    int st = tu_wait_pid(prog, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "program: %s", tu_describe_status(st));
    tu_assert_no_descendants();
}

TU_TEST(cli_supervise_stop_ends_program_and_removes_pidfile)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    pid_t sup = start_supervised(&c, pf, &prog, NULL);
    cli_cmd(&c, "stop");
    tu_cmd_arg(&c, "-p");
    tu_cmd_arg(&c, "%s", pf);
    cli_result r = cli_run(&c);
    expect_success(&r);
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "supervisor: %s", tu_describe_status(st));
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_detach_no_exits_with_program_status)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--detach=no");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_cmd_arg(&c, "exit:7");
    tu_proc *p = tu_spawn(&c);
    pid_t prog = expect_event(p, "up");
    TU_ASSERT_INT_NE(prog, p->pid);
    cli_result r = cli_finish(p, tu_now_ms());
    TU_ASSERT_INT_EQ(r.code, 7);
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_ready_fd_waits_for_newline)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--ready=fd:3");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_cmd_arg(&c, "delay:300");
    tu_cmd_arg(&c, "ready-fd:3");
    pid_t prog;
    cli_result r;
    start_supervised(&c, pf, &prog, &r);
    TU_ASSERT_MSG(r.elapsed_ms >= 300, "start returned after %lld ms", (long long)r.elapsed_ms);
}

TU_TEST(cli_supervise_ready_notify_waits_for_ready_line)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--ready=notify");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_cmd_arg(&c, "delay:300");
    tu_cmd_arg(&c, "notify:READY=1");
    pid_t prog;
    cli_result r;
    start_supervised(&c, pf, &prog, &r);
    TU_ASSERT(r.elapsed_ms >= 300);
}

TU_TEST(cli_supervise_death_before_ready_fails_at_once)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--ready=notify");
    tu_cmd_arg(&c, "--timeout=30");
    program(&c);
    tu_cmd_arg(&c, "delay:100");
    tu_cmd_arg(&c, "exit:3");
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "status 3", (char *)NULL);
    TU_ASSERT(r.elapsed_ms < AT_ONCE_MS);
    expect_nothing_left(pf);
}

/* Ctrl-C while the library waits for the supervisor's readiness: everything
 * this start made goes (supervisor, program, pidfile, the output file it
 * created), then start dies of the signal, as an interrupted command should. */
TU_TEST(cli_supervise_interrupted_start_dies_of_the_signal_leaving_nothing)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir), *out = tu_fmt("%s/out.log", dir);
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--ready=fd:4");
    tu_cmd_arg(&c, "--timeout=30");
    tu_cmd_arg(&c, "--stdout=%s", out);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    int64_t t0 = tu_now_ms();
    expect_event(p, "up");
    TU_SYS(kill(p->pid, SIGINT));
    cli_result r = cli_finish(p, t0);
    TU_ASSERT_INT_EQ(r.code, 128 + SIGINT);
    TU_ASSERT_CONTAINS(r.err, "interrupted");
    TU_ASSERT_MSG(!tu_path_exists(out), "the output file this start created was left behind");
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_never_ready_times_out)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--ready=fd:4");
    tu_cmd_arg(&c, "--timeout=0.5");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 9, (char *)NULL);
    TU_ASSERT(r.elapsed_ms >= 500 && r.elapsed_ms < AT_ONCE_MS);
    expect_nothing_left(pf);
}

TU_TEST(cli_supervise_exec_failure_exits_126)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *bogus = tu_fmt("%s/bogus", dir);
    tu_write_file(bogus, "\177ELF not really\n", 0755);
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", bogus);
    cli_result r = cli_run(&c);
    expect_error(&r, 126, bogus, (char *)NULL);
    expect_nothing_left(pf);
}

/* A private /dev (tmpfs, with null) in a mount namespace of our own, where
 * the test can listen on /dev/log. Skips where namespaces are not allowed. */
static void private_dev(void)
{
    if (unshare(CLONE_NEWNS) < 0)
        tu_skip("unshare(CLONE_NEWNS): %s", strerror(errno));
    if (tu_make_mounts_private("/dev") < 0)
        tu_skip("no mount point at or above /dev to make private: %s", strerror(errno));
    TU_SYS(mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755"));
    TU_SYS(mknod("/dev/null", S_IFCHR | 0666, makedev(1, 3)));
    TU_SYS(chmod("/dev/null", 0666));
}

TU_TEST(cli_supervise_syslog_forwards_output_lines)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    private_dev();
    int log = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, "/dev/log");
    TU_SYS(bind(log, (struct sockaddr *)&addr, sizeof addr));
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--syslog=local3.info");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_cmd_arg(&c, "print");
    pid_t prog;
    start_supervised(&c, pf, &prog, NULL);
    bool out = false, err = false;
    char *prefix = tu_fmt("<%d>", (19 << 3) | 6);
    char *tag = tu_fmt("dcx-cli-prog[%d]: ", (int)prog);
    while (!out || !err) {
        TU_ASSERT_MSG(tu_readable_within(log, tu_timeout_ms()), "no syslog message");
        char buf[1024];
        ssize_t n = TU_SYS(recv(log, buf, sizeof buf - 1, 0));
        buf[n] = 0;
        tu_log("syslog: %s", buf);
        TU_ASSERT_MSG(strncmp(buf, prefix, strlen(prefix)) == 0, "priority is not local3.info: %s", buf);
        TU_ASSERT_CONTAINS(buf, tag);
        out |= strstr(buf, ": out-line") != NULL;
        err |= strstr(buf, ": err-line") != NULL;
    }
}

TU_TEST(cli_supervise_syslog_unavailable_fails_naming_it)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    private_dev(); /* no /dev/log in it */
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--syslog");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 6, "'/dev/log'", (char *)NULL);
    expect_nothing_left(pf);
}

/* ------------------------------------------------------------- restarts */

/* Start a supervised PROGRAM that reports "start PID US" (US: the time it
 * started, its own clock reading) and exits with CODE; returns the command's
 * process (its event channel) and the supervisor's PID (*sup, from the
 * verbose output: the pidfile may already be gone). */
static tu_proc *start_failing(const char *pf, int code, const char *delay, const char *max, pid_t *sup)
{
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "-v");
    tu_cmd_arg(&c, "--restart");
    if (delay)
        tu_cmd_arg(&c, "--restart-delay=%s", delay);
    if (max)
        tu_cmd_arg(&c, "--restart-max-delay=%s", max);
    program(&c);
    tu_cmd_arg(&c, "stamp:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "exit:%d", code);
    tu_proc *p = tu_spawn(&c);
    cli_result r = cli_finish(p, tu_now_ms());
    expect_success(&r);
    const char *line = strstr(r.err, "daemon PID ");
    TU_ASSERT_MSG(line, "no \"daemon PID\" in the verbose output: %s", r.err);
    *sup = (pid_t)atoi(line + 11);
    tu_track_pid(*sup);
    return p;
}

/* The delay before a restart runs from PROGRAM's end. Each run stamps its
 * start with its own clock and exits at once: run N+1 starts at least the
 * delay after run N's end, so after its stamp. The stamps are the events'
 * own times; when the test reads them (late, on a loaded machine, or after
 * the sanitized start command's exit) does not matter. The upper bounds
 * leave 900 ms for the exit, the wakeup and the fork and exec, yet tell each
 * delay from the doubled one: the back-off doubles (1 s, then 2 s) and is
 * capped (2 s, 2 s). */
TU_TEST(cli_restart_backoff_timing_bounds)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t sup;
    tu_proc *p = start_failing(pf, 1, "1", "2", &sup);
    const int expected[] = {1000, 2000, 2000, 2000};
    int64_t last = 0;
    pid_t prev = 0;
    for (int i = 0; i <= 4; i++) {
        int64_t at;
        pid_t pid = expect_stamp(p, "start", &at);
        TU_ASSERT_INT_NE(pid, prev);
        if (i > 0) {
            int64_t gap = (at - last) / 1000;
            tu_log("restart %d %lld ms after the previous start (delay %d ms)", i, (long long)gap, expected[i - 1]);
            /* -1: the supervisor counts whole milliseconds */
            TU_ASSERT_MSG(gap >= expected[i - 1] - 1 && gap < expected[i - 1] + 900,
                          "restart %d came %lld ms after the previous start, whose end starts a delay of %d ms", i,
                          (long long)gap, expected[i - 1]);
        }
        last = at;
        prev = pid;
    }
}

TU_TEST(cli_restart_default_first_delay_is_one_second)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t sup;
    tu_proc *p = start_failing(pf, 1, NULL, NULL, &sup);
    int64_t first, second;
    expect_stamp(p, "start", &first);
    expect_stamp(p, "start", &second);
    int64_t gap = (second - first) / 1000;
    tu_log("the first restart came %lld ms after the first start", (long long)gap);
    TU_ASSERT_MSG(gap >= 999 && gap < 1900, "first restart %lld ms after the first start (ended at once)",
                  (long long)gap);
}

/* Each restarted PROGRAM is awaited as the first one was: a run that does
 * not become ready within --timeout is killed and counts as a failure, so
 * the supervisor starts it again. The first run (no marker yet) is ready and
 * exits 1; the later ones stop before saying ready. */
TU_TEST(cli_restart_waits_for_readiness_on_every_run)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--restart");
    tu_cmd_arg(&c, "--restart-delay=0.1");
    tu_cmd_arg(&c, "--ready=fd:6");
    tu_cmd_arg(&c, "--timeout=0.5");
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "first:%s/marker", dir);
    tu_cmd_arg(&c, "ready-fd:6");
    tu_cmd_arg(&c, "event:%d:ready", EVENT_FD);
    tu_cmd_arg(&c, "exit:1");
    tu_proc *p = tu_spawn(&c);
    cli_result r = cli_finish(p, tu_now_ms());
    expect_success(&r);
    pid_t first = expect_event(p, "start");
    TU_ASSERT_INT_EQ(expect_event(p, "ready"), first);
    pid_t second = expect_event(p, "start");
    TU_ASSERT_INT_NE(second, first);
    /* never ready: killed at its timeout, then started again */
    pid_t third = expect_event(p, "start");
    TU_ASSERT_INT_NE(third, second);
    TU_ASSERT_MSG(!tu_alive(second), "the run that was never ready (PID %d) still runs", (int)second);
    TU_ASSERT(tu_alive(pidfile_pid(pf)));
}

TU_TEST(cli_restart_not_on_exit_78)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t sup;
    tu_proc *p = start_failing(pf, 78, "0.1", NULL, &sup);
    int64_t at;
    expect_stamp(p, "start", &at);
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 78, "supervisor: %s", tu_describe_status(st));
    TU_ASSERT_MSG(tu_read_line(p->report, tu_timeout_ms()) == NULL, "restarted after exit 78");
    tu_assert_no_descendants();
}

TU_TEST(cli_restart_not_after_clean_exit)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t sup;
    tu_proc *p = start_failing(pf, 0, "0.1", NULL, &sup);
    int64_t at;
    expect_stamp(p, "start", &at);
    int st = tu_wait_pid(sup, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor: %s", tu_describe_status(st));
    TU_ASSERT_MSG(tu_read_line(p->report, tu_timeout_ms()) == NULL, "restarted after exit 0");
}

TU_TEST(cli_restart_sigterm_during_delay_stops_at_once)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t sup;
    tu_proc *p = start_failing(pf, 1, "30", "60", &sup);
    int64_t at;
    pid_t prog = expect_stamp(p, "start", &at);
    TU_ASSERT(tu_pid_exits_within(prog, tu_timeout_ms())); /* now in its 30 s delay */
    int64_t t0 = tu_now_ms();
    TU_SYS(kill(sup, SIGTERM));
    int st = tu_wait_pid(sup, AT_ONCE_MS);
    TU_ASSERT_MSG(tu_now_ms() - t0 < AT_ONCE_MS, "SIGTERM was not honoured during the delay");
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "supervisor: %s", tu_describe_status(st));
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
}

TU_TEST(cli_restart_after_program_is_killed)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    supervise_cmd(&c, pf);
    tu_cmd_arg(&c, "--restart");
    tu_cmd_arg(&c, "--restart-delay=0.1");
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    pid_t prog;
    cli_result r;
    pid_t sup = start_supervised(&c, pf, &prog, &r);
    TU_SYS(kill(prog, SIGKILL));
    pid_t again = expect_event(r.proc, "up");
    TU_ASSERT_INT_NE(again, prog);
    tu_assert_pidfile_holds(pf, sup);
    /* stop: SIGTERM is forwarded, and a stopping supervisor does not restart */
    cli_cmd(&c, "stop");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    cli_result s = cli_run(&c);
    expect_success(&s);
    TU_ASSERT_MSG(tu_read_line(r.proc->report, tu_timeout_ms()) == NULL, "restarted after stop");
    tu_assert_no_descendants();
    TU_ASSERT(!tu_path_exists(pf));
}

TU_MAIN
