/*
 * daemonctx_open_execve(): the daemon runs nothing of the caller but the hook
 * and execs; the invoker returns once the exec happened, or with the failure
 * of a step, of the hook or of the exec, leaving nothing behind.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* dcx-helper ARGS... --open-execve dcx-helper --report-fd=N --probe */
static tu_proc *start_probe(const char *pidfile, const char *extra, const char *extra2)
{
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    if (extra2)
        tu_cmd_arg(&c, "%s", extra2);
    tu_cmd_arg(&c, "--open-execve");
    tu_cmd_arg(&c, "%s", tu_helper_path());
    tu_cmd_arg(&c, "--report-fd=%d", TU_REPORT_FD);
    tu_cmd_arg(&c, "--probe");
    return tu_spawn(&c);
}

static pid_t expect_probe(tu_proc *p)
{
    char *line = tu_read_line(p->report, tu_timeout_ms());
    int pid;
    TU_ASSERT_MSG(line && sscanf(line, "probe %d", &pid) == 1, "expected \"probe PID\", got \"%s\"; stderr: %s",
                  line ? line : "EOF", tu_proc_stderr(p));
    return (pid_t)pid;
}

static bool pidfile_locked(const char *path)
{
    int fd = TU_FD(open(path, O_RDONLY | O_CLOEXEC));
    bool locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return locked;
}

/* The exec'd program is a daemon like any other: reparented, its own
 * session without leading it, no tty, stdio on /dev/null, no fd leaked. */
static void expect_detached_program(tu_proc *p, const char *pidfile)
{
    pid_t d = expect_probe(p);
    tu_expect_exit_code(p, 0);
    TU_ASSERT_MSG(d != p->pid, "the invoker itself ran the program");
    tu_assert_pidfile_holds(pidfile, d);
    tu_wait_reparented(d);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(d, &st));
    TU_ASSERT_MSG(st.session != d && st.session != getsid(0), "session %d of daemon %d", (int)st.session, (int)d);
    TU_ASSERT_INT_EQ(st.tty_nr, 0);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_MSG(fds[i] <= 2 || fds[i] == TU_REPORT_FD, "fd %d (%s) leaked into the exec'd program", fds[i],
                      tu_proc_link(d, tu_fmt("fd/%d", fds[i])));
    TU_ASSERT_MSG(!pidfile_locked(pidfile), "the lock outlived the exec without the hook passing it on");
}

TU_TEST(open_execve_execs_the_program_as_the_daemon_and_returns_once_executed)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    expect_detached_program(start_probe(pidfile, NULL, NULL), pidfile);
}

/* A threaded caller's daemon is forked rather than sharing its memory: the
 * same daemon comes out. */
TU_TEST(open_execve_from_a_threaded_caller_execs_the_program_as_the_daemon)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    expect_detached_program(start_probe(pidfile, "--threaded", NULL), pidfile);
}

TU_TEST(open_execve_hook_can_pass_the_pidfile_lock_to_the_program)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_proc *p = start_probe(pidfile, "--hook-keep-lock", NULL);
    pid_t d = expect_probe(p);
    tu_expect_exit_code(p, 0);
    tu_assert_pidfile_holds(pidfile, d);
    TU_ASSERT_MSG(pidfile_locked(pidfile), "the program does not hold the pidfile lock");
}

TU_TEST(open_execve_hook_failure_is_returned_and_nothing_is_left)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_proc *p = start_probe(pidfile, "--hook-fail=13", NULL);
    tu_failure f = tu_expect_open_failure(p, "application");
    TU_ASSERT_INT_EQ(f.errnum, EACCES);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed start left its pidfile");
    tu_assert_no_descendants();
}

TU_TEST(open_execve_exec_failure_is_returned_with_step_exec_and_nothing_is_left)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir), *missing = tu_fmt("%s/no-such-program", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--open-execve");
    tu_cmd_arg(&c, "%s", missing);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "exec");
    TU_ASSERT_CONTAINS(f.message, missing);
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed start left its pidfile");
    tu_assert_no_descendants();
}

TU_TEST(open_execve_without_detach_execs_in_the_calling_process)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_proc *p = start_probe(pidfile, "--detach=no", NULL);
    pid_t d = expect_probe(p);
    TU_ASSERT_INT_EQ(d, p->pid);
    tu_assert_pidfile_holds(pidfile, d);
    TU_ASSERT_STR_EQ(tu_proc_link(d, "fd/1"), "/dev/null");
}

TU_TEST(open_execve_without_detach_removes_its_pidfile_when_the_exec_fails)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir), *missing = tu_fmt("%s/no-such-program", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--detach=no");
    tu_cmd_arg(&c, "--stderr-fd=2");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--open-execve");
    tu_cmd_arg(&c, "%s", missing);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "exec");
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the failed exec left its pidfile");
}

/* The daemon shares the caller's memory until its exec: none of the caller's
 * handlers may run there (they would write the caller's data). */
TU_TEST(open_execve_daemon_keeps_none_of_the_callers_signal_handlers)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    expect_detached_program(start_probe(pidfile, "--caller-handler", NULL), pidfile);
}

/* The caller waits suspended while the daemon sets itself up: the timeout
 * still ends a daemon that never gets to its exec. */
TU_TEST(open_execve_timeout_kills_a_daemon_stuck_before_its_exec)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    int64_t t0 = tu_now_ms();
    tu_proc *p = start_probe(pidfile, "--timeout-ms=300", "--hook-sleep-ms=20000");
    TU_ASSERT(strncmp(tu_read_line(p->report, tu_timeout_ms()), "hook ", 5) == 0);
    tu_failure f = tu_expect_open_failure(p, "timeout");
    TU_ASSERT_INT_EQ(f.errnum, ETIMEDOUT);
    /* 300 ms of timeout, not the hook's 20 s */
    TU_ASSERT_MSG(tu_now_ms() - t0 < tu_timeout_ms() * 2 / 3, "the start took %lld ms", (long long)(tu_now_ms() - t0));
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the timed-out start left its pidfile");
    tu_assert_no_descendants();
}

/* Ctrl-C while the daemon sets itself up (the caller is suspended then):
 * the start is interrupted once the caller resumes, its program killed. */
TU_TEST(open_execve_interrupted_while_the_daemon_sets_up_leaves_nothing)
{
    const char *pidfile = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_proc *p = start_probe(pidfile, "--hook-sleep-ms=300", NULL);
    TU_ASSERT(strncmp(tu_read_line(p->report, tu_timeout_ms()), "hook ", 5) == 0);
    TU_SYS(kill(p->pid, SIGINT));
    int st = tu_wait(p, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "the interrupted caller: %s", tu_describe_status(st));
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "the interrupted start left its pidfile");
    tu_assert_no_descendants();
}

/* setresuid() in a daemon sharing the caller's address space marks that
 * space non-dumpable: the caller gets its flag back. */
TU_TEST(open_execve_with_a_user_change_leaves_the_caller_dumpable)
{
    if (geteuid() != 0)
        tu_skip("needs root");
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--uid=65534");
    tu_cmd_arg(&c, "--gid=65534");
    tu_cmd_arg(&c, "--parent-returns");
    tu_cmd_arg(&c, "--print-dumpable");
    tu_cmd_arg(&c, "--workdir=%s", dir);
    tu_cmd_arg(&c, "--open-execve");
    tu_cmd_arg(&c, "%s", tu_helper_path());
    tu_cmd_arg(&c, "--report-fd=%d", TU_REPORT_FD);
    tu_cmd_arg(&c, "--probe");
    tu_proc *p = tu_spawn(&c);
    /* the program's "probe" and the caller's two lines, in any order */
    int d = 0, dumpable = -1, parent = 0;
    for (int i = 0; i < 3; i++) {
        const char *line = tu_read_line(p->report, tu_timeout_ms());
        TU_ASSERT_MSG(line, "EOF after %d lines; stderr: %s", i, tu_proc_stderr(p));
        if (sscanf(line, "probe %d", &d) != 1 && sscanf(line, "dumpable %d", &dumpable) != 1 &&
            sscanf(line, "parent %d", &parent) != 1)
            TU_FAIL("unexpected line \"%s\"", line);
    }
    TU_ASSERT_MSG(d > 0 && parent > 0, "no probe or no parent line");
    TU_ASSERT_INT_EQ(dumpable, 1);
    tu_expect_exit_code(p, 0);
    long ids[4];
    tu_status_ids((pid_t)d, "Uid", ids);
    TU_ASSERT_INT_EQ(ids[0], 65534);
}

TU_MAIN
