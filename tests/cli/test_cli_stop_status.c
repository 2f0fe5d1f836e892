/*
 * test_cli_stop_status.c - `daemonctx stop` (pidfd signalling, escalation,
 * PID reuse, zombies, pidfile removal) and `daemonctx status` (from the lock,
 * LSB exit codes, --json).
 */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A daemon running PROGRAM with ACTION, then "up" (then AFTER_UP); the
 * events come in that order. */
static pid_t start_prog_then(const char *pf, const char *action, const char *after_up, cli_result *r)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    if (action)
        tu_cmd_arg(&c, "%s", action);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    if (after_up)
        tu_cmd_arg(&c, "%s", after_up);
    cli_result local;
    if (!r)
        r = &local;
    pid_t pid = start_daemon(&c, pf, r);
    TU_ASSERT_INT_EQ(expect_event(r->proc, "up"), pid);
    return pid;
}

static pid_t start_prog(const char *pf, const char *action, cli_result *r)
{
    return start_prog_then(pf, action, NULL, r);
}

static cli_result run(const char *cmd, const char *pf, const char *a1, const char *a2)
{
    tu_cmd c;
    cli_cmd(&c, cmd);
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    if (a1)
        tu_cmd_arg(&c, "%s", a1);
    if (a2)
        tu_cmd_arg(&c, "%s", a2);
    return cli_run(&c);
}

/* An unrelated live process (our child), for PID-reuse cases. */
static pid_t bystander(void)
{
    tu_cmd c;
    tu_cmd_init_program(&c, prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    return expect_event(p, "up");
}

/* ------------------------------------------------------------------ stop */

TU_TEST(cli_stop_terminates_daemon_and_removes_pidfile)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, NULL, NULL);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_STR_EQ(r.err, "");
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "daemon: %s", tu_describe_status(st));
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
}

TU_TEST(cli_stop_escalates_to_kill_when_term_is_ignored)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, tu_fmt("ignore:%d", SIGTERM), NULL);
    cli_result r = run("stop", pf, "--retry=TERM/0.5/KILL/5", "-v");
    expect_success(&r);
    TU_ASSERT_MSG(r.elapsed_ms >= 500 && r.elapsed_ms < tu_timeout_ms() / 3, "stopped after %lld ms",
                  (long long)r.elapsed_ms);
    TU_ASSERT_CONTAINS(r.err, "SIGKILL");
    /* the daemon is our unreaped child: a zombie, which counts as stopped */
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "daemon: %s", tu_describe_status(st));
    TU_ASSERT(!tu_path_exists(pf));
}

TU_TEST(cli_stop_timeout_option_then_kill)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, tu_fmt("ignore:%d", SIGTERM), NULL);
    cli_result r = run("stop", pf, "--timeout=0.3", NULL);
    expect_success(&r);
    TU_ASSERT(r.elapsed_ms >= 300);
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

TU_TEST(cli_stop_still_running_after_schedule_exits_1)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, tu_fmt("ignore:%d", SIGTERM), NULL);
    cli_result r = run("stop", pf, "--retry=-TERM/0.3", NULL);
    expect_error(&r, 1, tu_fmt("%d", (int)pid), pf, (char *)NULL);
    TU_ASSERT(tu_alive(pid));
    tu_assert_pidfile_holds(pf, pid);
}

/* start-stop-daemon's "forever": the steps after it repeat until the process
 * ends (here on the third SIGUSR1; the schedule alone has two). */
TU_TEST(cli_stop_retry_forever_repeats_the_steps_after_it_until_the_program_ends)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result started;
    pid_t pid = start_prog(pf, tu_fmt("trap-nth:%d:3:%d:0", SIGUSR1, EVENT_FD), &started);
    cli_result r = run("stop", pf, "--retry=USR1/0.05/forever/USR1/0.05", NULL);
    expect_success(&r);
    TU_ASSERT_INT_EQ(expect_event(started.proc, tu_fmt("saw %d", SIGUSR1)), pid);
    TU_ASSERT_INT_EQ(expect_event(started.proc, tu_fmt("saw %d", SIGUSR1)), pid);
    TU_ASSERT_INT_EQ(expect_event(started.proc, tu_fmt("got %d", SIGUSR1)), pid);
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
}

TU_TEST(cli_stop_signal_option_sends_that_signal)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result started;
    pid_t pid = start_prog(pf, tu_fmt("trap:%d:%d:0", SIGUSR1, EVENT_FD), &started);
    cli_result r = run("stop", pf, "--signal=USR1", NULL);
    expect_success(&r);
    TU_ASSERT_INT_EQ(expect_event(started.proc, tu_fmt("got %d", SIGUSR1)), pid);
    TU_ASSERT(!tu_path_exists(pf));
}

TU_TEST(cli_stop_not_running_exits_0)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_STR_EQ(r.err, "");
}

/* The pidfile names a PID now used by an unrelated process, and nobody holds
 * its lock: that process must not be signalled. */
TU_TEST(cli_stop_stale_pidfile_naming_reused_pid_signals_nobody)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t other = bystander();
    tu_write_file(pf, tu_fmt("%d\n", (int)other), 0644);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_MSG(tu_alive(other), "an unrelated process was signalled");
    TU_ASSERT(!tu_path_exists(pf));
}

/* Locked, but the PID in it is not the process holding it (reused): refused. */
TU_TEST(cli_stop_locked_pidfile_naming_other_process_is_refused)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t other = bystander();
    tu_write_file(pf, tu_fmt("%d\n", (int)other), 0644);
    int fd = TU_FD(open(pf, O_RDONLY | O_CLOEXEC));
    TU_SYS(flock(fd, LOCK_EX));
    cli_result r = run("stop", pf, NULL, NULL);
    expect_error(&r, 4, tu_fmt("%d", (int)other), pf, (char *)NULL);
    TU_ASSERT(tu_alive(other));
    TU_ASSERT(tu_path_exists(pf));
    close(fd);
}

TU_TEST(cli_stop_counts_zombie_as_stopped)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, NULL, NULL);
    TU_SYS(kill(pid, SIGKILL));
    TU_ASSERT(tu_pid_exits_within(pid, tu_timeout_ms())); /* a zombie: we do not reap it */
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(pid, &st) && st.state == 'Z');
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_MSG(r.elapsed_ms < tu_timeout_ms() / 3, "stop waited %lld ms for a zombie", (long long)r.elapsed_ms);
    TU_ASSERT(!tu_path_exists(pf));
}

/* PROGRAM died but a child of it inherited the lock fd: nobody to signal,
 * and the pidfile is not stale either. */
TU_TEST(cli_stop_lock_outliving_program_is_reported)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result started;
    /* "up" first, then the child's event: one writer after the other */
    pid_t pid = start_prog_then(pf, NULL, tu_fmt("fork-sleeper:%d", EVENT_FD), &started);
    pid_t child = expect_event(started.proc, "child");
    tu_kill_and_wait(pid, SIGKILL);
    TU_ASSERT(fd_points_to(child, 3, pf));
    cli_result r = run("stop", pf, NULL, NULL);
    expect_error(&r, 4, tu_fmt("%d", (int)pid), pf, (char *)NULL);
    TU_ASSERT(tu_alive(child));
    r = run("status", pf, NULL, NULL);
    expect_error(&r, 4, pf, (char *)NULL);
}

TU_TEST(cli_stop_starting_pidfile_without_pid_fails_after_timeout)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_write_file(pf, "", 0644);
    int fd = TU_FD(open(pf, O_RDONLY | O_CLOEXEC));
    TU_SYS(flock(fd, LOCK_EX));
    cli_result r = run("stop", pf, "--timeout=0.3", NULL);
    expect_error(&r, 4, pf, (char *)NULL);
    TU_ASSERT(r.elapsed_ms >= 300);
    close(fd);
}

/* ---------------------------------------------------------------- status */

TU_TEST(cli_status_running_prints_pid_token_and_exits_0)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, NULL, NULL);
    cli_result r = run("status", pf, NULL, NULL);
    TU_ASSERT_INT_EQ(r.code, 0);
    TU_ASSERT_STR_EQ(r.out, tu_fmt("running PID %d\n", (int)pid));
    TU_ASSERT_STR_EQ(r.err, "");
}

TU_TEST(cli_status_stale_pidfile_exits_1)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, NULL, NULL);
    tu_kill_and_wait(pid, SIGKILL);
    cli_result r = run("status", pf, NULL, NULL);
    TU_ASSERT_INT_EQ(r.code, 1);
    TU_ASSERT_STR_EQ(r.out, tu_fmt("stale PID %d\n", (int)pid));
}

/* Liveness from the lock, not kill(pid, 0): a live PID in an unlocked file is
 * still "not running". */
TU_TEST(cli_status_decides_from_lock_not_pid)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_write_file(pf, tu_fmt("%d\n", (int)getpid()), 0644);
    cli_result r = run("status", pf, NULL, NULL);
    TU_ASSERT_INT_EQ(r.code, 1);
}

TU_TEST(cli_status_no_pidfile_exits_3)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result r = run("status", pf, NULL, NULL);
    TU_ASSERT_INT_EQ(r.code, 3);
    TU_ASSERT_STR_EQ(r.out, "not running\n");
}

TU_TEST(cli_status_unusable_pidfile_exits_4)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_mkdir_p(pf, 0755);
    cli_result r = run("status", pf, NULL, NULL);
    expect_error(&r, 4, pf, (char *)NULL);
    const char *garbage = tu_fmt("%s/garbage.pid", dir);
    tu_write_file(garbage, "not a pid\n", 0644);
    int fd = TU_FD(open(garbage, O_RDONLY | O_CLOEXEC));
    TU_SYS(flock(fd, LOCK_EX));
    r = run("status", garbage, NULL, NULL);
    expect_error(&r, 4, garbage, (char *)NULL);
    close(fd);
}

TU_TEST(cli_status_reports_starting)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_write_file(pf, "", 0644);
    int fd = TU_FD(open(pf, O_RDONLY | O_CLOEXEC));
    TU_SYS(flock(fd, LOCK_EX));
    cli_result r = run("status", pf, NULL, NULL);
    TU_ASSERT_INT_EQ(r.code, 0);
    TU_ASSERT_MSG(strncmp(r.out, "starting", 8) == 0, "status printed \"%s\"", r.out);
    close(fd);
}

TU_TEST(cli_status_json_reports_state_and_pid)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    pid_t pid = start_prog(pf, NULL, NULL);
    cli_result r = run("status", pf, "--json", NULL);
    TU_ASSERT_INT_EQ(r.code, 0);
    /* (then the tree: test_cli_tree.c) */
    const char *head = tu_fmt("{\"pidfile\":\"%s\",\"state\":\"running\",\"pid\":%d,\"exit\":0,", pf, (int)pid);
    TU_ASSERT_MSG(strncmp(r.out, head, strlen(head)) == 0, "status printed \"%s\"", r.out);
    tu_kill_and_wait(pid, SIGKILL);
    TU_SYS(unlink(pf));
    r = run("status", pf, "--json", NULL);
    TU_ASSERT_INT_EQ(r.code, 3);
    head = tu_fmt("{\"pidfile\":\"%s\",\"state\":\"not-running\",\"pid\":null,\"exit\":3,", pf);
    TU_ASSERT_MSG(strncmp(r.out, head, strlen(head)) == 0, "status printed \"%s\"", r.out);
}

TU_MAIN
