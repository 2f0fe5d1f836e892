/*
 * Failures reported through the detach to the invoker (right step, one line,
 * nothing left behind), the context after open (setters -EBUSY, open again a
 * no-op, close a no-op), and parent_returns.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TU_TEST(error_missing_chroot_directory_reported_step_chroot) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/no-such-jail", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chroot");
    TU_ASSERT_CONTAINS(f.message, jail);
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    tu_assert_no_descendants();
}

TU_TEST(error_chroot_to_a_file_reported_step_chroot) {
    const char *dir = tu_tmpdir();
    const char *file = tu_fmt("%s/file", dir);
    tu_write_file(file, "x", 0644);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--chroot=%s", file);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chroot");
    TU_ASSERT_CONTAINS(f.message, file);
    TU_ASSERT_INT_EQ(f.errnum, ENOTDIR);
    tu_assert_no_descendants();
}

TU_TEST(error_missing_working_directory_reported_step_chdir) {
    const char *dir = tu_tmpdir();
    const char *wd = tu_fmt("%s/missing", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--workdir=%s", wd);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chdir");
    TU_ASSERT_CONTAINS(f.message, wd);
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    tu_assert_no_descendants();
}

TU_TEST(error_workdir_missing_only_inside_chroot_reported_step_chdir) {
    /* DIR/outside exists on the host; the jail has no such directory */
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir), *outside = tu_fmt("%s/outside", dir);
    TU_SYS(mkdir(jail, 0755));
    TU_SYS(mkdir(outside, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=%s", outside);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chdir");
    TU_ASSERT_MSG(strstr(f.message, outside) != NULL, "the message does not name %s: %s", outside, f.line);
    TU_ASSERT_INT_EQ(f.errnum, ENOENT);
    tu_assert_no_descendants();
}

TU_TEST(error_workdir_not_a_directory_reported_step_chdir) {
    const char *dir = tu_tmpdir();
    const char *file = tu_fmt("%s/file", dir);
    tu_write_file(file, "x", 0644);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--workdir=%s", file);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chdir");
    TU_ASSERT_CONTAINS(f.message, file);
    TU_ASSERT_INT_EQ(f.errnum, ENOTDIR);
    tu_assert_no_descendants();
}

TU_TEST(error_with_detach_no_is_returned_to_the_caller) {
    /* without a fork, the failing process is the caller: open() returns the
     * error to it (it prints and exits 1), nothing else was started */
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--detach=no");
    tu_cmd_arg(&c, "--workdir=%s/missing", dir);
    tu_proc *p = tu_spawn(&c);
    tu_expect_open_failure(p, "chdir");
    tu_assert_no_descendants();
}

TU_TEST(error_failure_keeps_invoker_stderr_to_one_line) {
    /* the invoker's stderr is a pipe to the test: the daemon side must not
     * write anything on it (it would be a second line) */
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    TU_SYS(mkdir(jail, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=/nowhere");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chdir");
    TU_ASSERT_CONTAINS(f.message, "nowhere");
    tu_assert_no_descendants();
}

/* ----------------------------------------------------- after open() */

TU_TEST(setters_after_open_return_ebusy_and_open_again_is_noop) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--check-busy");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_STR_EQ(line, "busy ok");
    TU_ASSERT(tu_alive(d));
    tu_assert_no_descendants_except(&d, 1);
}

TU_TEST(close_is_noop_pidfile_kept) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--close");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "closed 0");
    tu_assert_pidfile_holds(pidfile, d);
    /* still locked: a second instance is refused */
    tu_cmd c2;
    tu_cmd_init(&c2);
    tu_cmd_arg(&c2, "--pidfile=%s", pidfile);
    tu_proc *p2 = tu_spawn(&c2);
    tu_expect_open_failure(p2, "pidfile");
}

TU_TEST(parent_returns_gives_daemon_pid_to_the_invoker) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--parent-returns");
    tu_proc *p = tu_spawn(&c);
    int pp = 0, pd = 0, up = 0;
    pid_t d = 0;
    for (int i = 0; i < 2; i++) {
        char *line = tu_read_line(p->report, tu_timeout_ms());
        TU_ASSERT_MSG(line != NULL, "EOF; stderr %s", tu_proc_stderr(p));
        int a, b, o;
        if (sscanf(line, "parent %d %d", &a, &b) == 2) {
            pp = a;
            pd = b;
        } else if (sscanf(line, "up %d %d %d", &a, &b, &o) == 3) {
            up = 1;
            d = a;
            tu_track_pid(d);
        } else {
            TU_FAIL("unexpected line \"%s\"", line);
        }
    }
    TU_ASSERT(up);
    TU_ASSERT_INT_EQ(pp, p->pid);
    TU_ASSERT_INT_EQ(pd, d);
    tu_expect_exit_code(p, 0);
    TU_ASSERT(tu_alive(d));
}

TU_TEST(parent_returns_invoker_exit_keeps_the_daemons_pidfile) {
    /* the invoker took the lock before forking, then frees its pidfile
     * object and exit()s: neither may remove the daemon's pidfile */
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--parent-returns");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_proc *p = tu_spawn(&c);
    tu_expect_exit_code(p, 0);
    pid_t d = 0;
    for (int i = 0; i < 2 && !d; i++) {
        char *line = tu_read_line(p->report, tu_timeout_ms());
        TU_ASSERT(line != NULL);
        int a, b, o;
        if (sscanf(line, "up %d %d %d", &a, &b, &o) == 3)
            d = a;
    }
    TU_ASSERT(d > 0);
    tu_track_pid(d);
    tu_assert_pidfile_holds(pidfile, d);
    daemonctx_error err;
    pid_t held = 0;
    TU_ASSERT_INT_EQ(daemonctx_pidfile_inspect(pidfile, &held, &err), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(held, d);
}

TU_TEST(parent_returns_failure_still_returns_the_error) {
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--parent-returns");
    tu_cmd_arg(&c, "--workdir=%s/missing", dir);
    tu_proc *p = tu_spawn(&c);
    tu_expect_open_failure(p, "chdir");
    tu_assert_no_descendants();
}

TU_MAIN
