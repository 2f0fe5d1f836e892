/*
 * files_preserve and fd closing: the daemon's fd table from /proc/PID/fd
 * holds 0, 1, 2, the preserved fds and the pidfile lock, nothing else.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *fd_table(const int *fds, size_t n) {
    char *s = tu_fmt("%s", "");
    for (size_t i = 0; i < n; i++)
        s = tu_fmt("%s%s%d", s, i ? " " : "", fds[i]);
    return s;
}

/* The fd table of D minus the fd(s) on PIDFILE must be exactly WANT. Returns
 * the pidfile's fd (or -1). */
static int expect_fd_table(pid_t d, const char *pidfile, const int *want, size_t nwant) {
    int fds[256];
    size_t n = tu_fd_list(d, fds, 256);
    int others[256], pidfd = -1, npid = 0, ndir = 0;
    size_t no = 0;
    char *piddir = NULL;
    if (pidfile) {
        piddir = tu_strdup(pidfile);
        *strrchr(piddir, '/') = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *target = tu_proc_link(d, tu_fmt("fd/%d", fds[i]));
        if (pidfile && strcmp(target, pidfile) == 0) {
            pidfd = fds[i];
            npid++;
            continue;
        }
        /* the pidfile object's handle on its directory (for unlinkat),
         * close-on-exec, is part of the pidfile */
        if (pidfile && fds[i] > 2 && strcmp(target, piddir) == 0 && (tu_fd_flags(d, fds[i]) & O_CLOEXEC)) {
            ndir++;
            continue;
        }
        others[no++] = fds[i];
    }
    tu_log("daemon fd table: %s (pidfile fd %d, %d directory fd)", fd_table(fds, n), pidfd, ndir);
    TU_ASSERT_MSG(ndir <= 1, "%d fds on the pidfile's directory", ndir);
    if (pidfile)
        TU_ASSERT_MSG(npid == 1, "%d fds on the pidfile %s, expected 1", npid, pidfile);
    bool same = no == nwant;
    for (size_t i = 0; same && i < no; i++)
        same = others[i] == want[i];
    TU_ASSERT_MSG(same, "daemon fds (besides the pidfile): %s, expected %s", fd_table(others, no),
                  fd_table(want, nwant));
    return pidfd;
}

TU_TEST(fds_only_stdio_preserved_and_pidfile_remain) {
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    const char *keep = tu_fmt("%s/keep", dir), *drop = tu_fmt("%s/drop", dir);
    tu_write_file(keep, "k", 0644);
    tu_write_file(drop, "d", 0644);
    int kfd = TU_FD(open(keep, O_RDONLY | O_CLOEXEC));
    int dfd = TU_FD(open(drop, O_RDONLY | O_CLOEXEC));
    int pp[2];
    TU_SYS(pipe2(pp, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 3, dfd);
    tu_cmd_fd(&c, 4, dfd);
    tu_cmd_fd(&c, 6, kfd);
    tu_cmd_fd(&c, 7, pp[0]);
    tu_cmd_fd(&c, 12, pp[1]);
    tu_cmd_fd(&c, 300, dfd);
    tu_cmd_arg(&c, "--preserve=6");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    pid_t d = tu_start_daemon(&c, NULL);
    int want[] = {0, 1, 2, TU_REPORT_FD, 6};
    int pidfd = expect_fd_table(d, pidfile, want, sizeof want / sizeof want[0]);
    TU_ASSERT_PROC_IS(d, "fd/6", keep);
    TU_ASSERT_MSG((tu_fd_flags(d, pidfd) & O_CLOEXEC) != 0, "the pidfile lock fd %d is not close-on-exec", pidfd);
}

TU_TEST(fds_without_preserve_only_stdio_remain) {
    const char *dir = tu_tmpdir();
    const char *drop = tu_fmt("%s/drop", dir);
    tu_write_file(drop, "d", 0644);
    int dfd = TU_FD(open(drop, O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 3, dfd);
    tu_cmd_fd(&c, 9, dfd);
    pid_t d = tu_start_daemon(&c, NULL);
    int want[] = {0, 1, 2, TU_REPORT_FD};
    expect_fd_table(d, NULL, want, sizeof want / sizeof want[0]);
}

TU_TEST(fds_preserved_fd_is_the_same_open_file) {
    const char *dir = tu_tmpdir();
    const char *keep = tu_fmt("%s/keep", dir);
    tu_write_file(keep, "k", 0644);
    int kfd = TU_FD(open(keep, O_RDWR | O_CLOEXEC));
    TU_SYS(lseek(kfd, 1, SEEK_SET));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 6, kfd);
    tu_cmd_arg(&c, "--preserve=6");
    pid_t d = tu_start_daemon(&c, NULL);
    struct stat a, b;
    TU_SYS(fstat(kfd, &a));
    TU_SYS(stat(tu_fmt("/proc/%d/fd/6", (int)d), &b));
    TU_ASSERT(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    /* same open file description: the offset we set is shared */
    char *info = tu_read_file(tu_fmt("/proc/%d/fdinfo/6", (int)d));
    TU_ASSERT(info != NULL);
    TU_ASSERT_CONTAINS(info, "pos:\t1\n");
    TU_ASSERT_MSG((tu_fd_flags(d, 6) & O_ACCMODE) == O_RDWR, "access mode changed");
}

TU_TEST(fds_high_numbered_fd_is_closed) {
    struct rlimit rl;
    TU_SYS(getrlimit(RLIMIT_NOFILE, &rl));
    int high = rl.rlim_cur > 4096 ? (int)rl.rlim_cur - 64 : 4000; /* room for the spawn's own dups */
    if ((rlim_t)high >= rl.rlim_cur)
        tu_skip("RLIMIT_NOFILE too low (%ld)", (long)rl.rlim_cur);
    int pp[2];
    TU_SYS(pipe2(pp, O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, high, pp[1]);
    tu_cmd_fd(&c, high - 1, pp[0]);
    tu_cmd_arg(&c, "--preserve=%d", high - 1);
    pid_t d = tu_start_daemon(&c, NULL);
    int want[] = {0, 1, 2, TU_REPORT_FD, high - 1};
    expect_fd_table(d, NULL, want, sizeof want / sizeof want[0]);
    /* the pipe's write end is gone from the daemon: with ours closed, EOF */
    close(pp[1]);
    TU_ASSERT_MSG(tu_readable_within(pp[0], tu_timeout_ms()), "no EOF on the pipe");
}

TU_TEST(fds_duplicate_preserve_entries_accepted) {
    const char *dir = tu_tmpdir();
    const char *keep = tu_fmt("%s/keep", dir);
    tu_write_file(keep, "k", 0644);
    int kfd = TU_FD(open(keep, O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 6, kfd);
    tu_cmd_arg(&c, "--preserve=6");
    tu_cmd_arg(&c, "--preserve=6");
    tu_cmd_arg(&c, "--preserve=%d", TU_REPORT_FD);
    pid_t d = tu_start_daemon(&c, NULL);
    int want[] = {0, 1, 2, TU_REPORT_FD, 6};
    expect_fd_table(d, NULL, want, sizeof want / sizeof want[0]);
}

TU_TEST(fds_preserved_stdio_numbers_do_not_break_redirection) {
    /* fds 0-2 in files_preserve: open() still succeeds and 0-2 stay open */
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--preserve=0");
    tu_cmd_arg(&c, "--preserve=1");
    tu_cmd_arg(&c, "--preserve=2");
    pid_t d = tu_start_daemon(&c, NULL);
    int want[] = {0, 1, 2, TU_REPORT_FD};
    expect_fd_table(d, NULL, want, sizeof want / sizeof want[0]);
}

TU_TEST(fds_stdout_fd_not_open_is_reported) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--stdout-fd=57");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "stdio");
    TU_ASSERT_INT_EQ(f.errnum, EBADF);
    TU_ASSERT_MSG(tu_contains_number(f.message, 57), "the message does not name fd 57: %s", f.line);
    tu_assert_no_descendants();
}

TU_TEST(fds_stdin_fd_not_open_is_reported) {
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--stdin-fd=58");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "stdio");
    TU_ASSERT_INT_EQ(f.errnum, EBADF);
    TU_ASSERT_MSG(tu_contains_number(f.message, 58), "the message does not name fd 58: %s", f.line);
    tu_assert_no_descendants();
}

TU_TEST(fds_preserved_stdout_is_not_redirected) {
    /* stdout listed in files_preserve, no stream given: left as inherited
     * (the test's pipe), while stdin and stderr go to /dev/null */
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--preserve=1");
    tu_cmd_arg(&c, "--write-stdio");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "wrote 10 10");
    TU_ASSERT_STR_EQ(tu_proc_link(d, "fd/0"), "/dev/null");
    TU_ASSERT_STR_EQ(tu_proc_link(d, "fd/2"), "/dev/null");
    TU_ASSERT_MSG(strncmp(tu_proc_link(d, "fd/1"), "pipe:", 5) == 0, "stdout is %s, not the inherited pipe",
                  tu_proc_link(d, "fd/1"));
    TU_ASSERT_STR_EQ(tu_read_line(p->out, tu_timeout_ms()), "to-stdout");
}

TU_MAIN
