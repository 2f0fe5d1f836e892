/*
 * The PEP 3143 options and their defaults, observed on the daemon from
 * /proc: umask, working directory, chroot (and the prefix rule applied to the
 * real cwd), core dump prevention, stdio redirection.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cwd of D must be WANT, and must lie inside D's root. */
static void expect_cwd_inside_root(pid_t d, const char *want) {
    const char *cwd = tu_proc_link(d, "cwd");
    const char *root = tu_proc_link(d, "root");
    tu_log("daemon %d: root %s cwd %s", (int)d, root, cwd);
    TU_ASSERT_PROC_IS(d, "cwd", want);
    TU_ASSERT_MSG(tu_dir_is_inside(tu_fmt("/proc/%d/cwd", (int)d), tu_fmt("/proc/%d/root", (int)d)),
                  "cwd %s is outside the daemon's root %s", cwd, root);
}

static const char *read_workdir_line(tu_proc *p) {
    char *line = tu_read_line(p->report, tu_timeout_ms());
    TU_ASSERT_MSG(line != NULL, "no workdir line; stderr: %s", tu_proc_stderr(p));
    TU_ASSERT_MSG(strncmp(line, "workdir ", 8) == 0, "expected \"workdir PATH\", got \"%s\"", line);
    return line + 8;
}

/* ------------------------------------------------------------------ umask */

TU_TEST(option_default_umask_is_zero) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.umask = 077; /* inherited; the default must replace it */
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_STR_EQ(tu_status_field(d, "Umask"), "0000");
}

TU_TEST(option_umask_applied) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.umask = 0;
    tu_cmd_arg(&c, "--umask=027");
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_STR_EQ(tu_status_field(d, "Umask"), "0027");
}

/* ------------------------------------------------------ working directory */

TU_TEST(option_default_working_directory_is_root) {
    const char *dir = tu_tmpdir();
    tu_cmd c;
    tu_cmd_init(&c);
    c.cwd = dir; /* the invoker's cwd must not be kept */
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "cwd", "/");
}

TU_TEST(option_working_directory_applied) {
    const char *dir = tu_tmpdir();
    const char *sub = tu_fmt("%s/work", dir);
    TU_SYS(mkdir(sub, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_arg(&c, "--workdir=%s", sub);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "cwd", sub);
}

TU_TEST(option_default_root_directory_unchanged) {
    tu_cmd c;
    tu_cmd_init(&c);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "root", "/");
}

/* ----------------------------------------------------------------- chroot */

TU_TEST(chroot_sets_root_and_cwd_to_jail) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    TU_SYS(mkdir(jail, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "root", jail);
    expect_cwd_inside_root(d, jail);
}

TU_TEST(chroot_jail_without_dev_gets_dev_null_stdio) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir); /* empty: no /dev inside */
    TU_SYS(mkdir(jail, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    pid_t d = tu_start_daemon(&c, NULL);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
    TU_ASSERT_MSG(!tu_path_exists(tu_fmt("%s/dev", jail)), "something created %s/dev", jail);
}

TU_TEST(chroot_workdir_outside_jail_is_prefixed) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    tu_mkdir_p(tu_fmt("%s/var/lib", jail), 0755);
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=/var/lib");
    tu_cmd_arg(&c, "--print-workdir");
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_STR_EQ(read_workdir_line(p), tu_fmt("%s/var/lib", jail));
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    expect_cwd_inside_root(d, tu_fmt("%s/var/lib", jail));
}

TU_TEST(chroot_workdir_under_jail_is_not_prefixed) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    tu_mkdir_p(tu_fmt("%s/sub", jail), 0755);
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=%s/sub", jail);
    tu_cmd_arg(&c, "--print-workdir");
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_STR_EQ(read_workdir_line(p), tu_fmt("%s/sub", jail));
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    expect_cwd_inside_root(d, tu_fmt("%s/sub", jail));
}

TU_TEST(chroot_workdir_sibling_with_common_prefix_stays_in_jail) {
    /* chroot DIR/jail, working directory DIR/jail2/x: a string-prefix test
     * would call it "under the jail" and chdir outside the new root. */
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    const char *sibling = tu_fmt("%s/jail2/x", dir);
    tu_mkdir_p(sibling, 0755);
    const char *inside = tu_fmt("%s%s", jail, sibling); /* the prefixed path */
    tu_mkdir_p(inside, 0755);
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=%s", sibling);
    tu_cmd_arg(&c, "--print-workdir");
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_STR_EQ(read_workdir_line(p), inside);
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    expect_cwd_inside_root(d, inside);
}

TU_TEST(chroot_workdir_dotdot_stays_inside_root) {
    /* DIR/jail/../outside is DIR/outside, not under the jail: the rule
     * (after lexical normalization) makes it DIR/jail/DIR/outside */
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    const char *inside = tu_fmt("%s%s/outside", jail, dir);
    tu_mkdir_p(tu_fmt("%s/outside", dir), 0755);
    tu_mkdir_p(tu_fmt("%s/outside", jail), 0755);
    tu_mkdir_p(inside, 0755);
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--workdir=%s/../outside", jail);
    tu_cmd_arg(&c, "--print-workdir");
    tu_proc *p = tu_spawn(&c);
    char *line = tu_read_line(p->report, tu_timeout_ms());
    if (line && strncmp(line, "setter-error", 12) == 0) {
        tu_log("the setter refused the \"..\" path: %s; %s", line, tu_proc_stderr(p));
        tu_expect_exit_code(p, 2);
        tu_assert_no_descendants();
        return;
    }
    TU_ASSERT_MSG(line && strncmp(line, "workdir ", 8) == 0, "got \"%s\"", line ? line : "EOF");
    TU_ASSERT_STR_EQ(line + 8, inside);
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    expect_cwd_inside_root(d, inside);
}

/* ------------------------------------------------------------ core dumps */

TU_TEST(option_default_prevent_core_sets_soft_and_hard_limit_zero) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.core_unlimited = true; /* inherited: unlimited unlimited */
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_STR_EQ(tu_limit(d, "Max core file size"), "0 0");
}

TU_TEST(option_no_prevent_core_keeps_core_limit) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.core_unlimited = true;
    tu_cmd_arg(&c, "--no-prevent-core");
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_STR_EQ(tu_limit(d, "Max core file size"), "unlimited unlimited");
}

/* ------------------------------------------------------------------ stdio */

TU_TEST(stdio_default_is_dev_null) {
    const char *dir = tu_tmpdir();
    const char *in = tu_fmt("%s/in", dir);
    tu_write_file(in, "x\n", 0644);
    int infd = TU_FD(open(in, O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init(&c); /* stdout and stderr are pipes to the test */
    tu_cmd_fd(&c, 0, infd);
    pid_t d = tu_start_daemon(&c, NULL);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
}

TU_TEST(stdio_fds_are_not_close_on_exec) {
    tu_cmd c;
    tu_cmd_init(&c);
    pid_t d = tu_start_daemon(&c, NULL);
    for (int fd = 0; fd <= 2; fd++) {
        long flags = tu_fd_flags(d, fd);
        TU_ASSERT_MSG((flags & O_CLOEXEC) == 0, "fd %d of the daemon is close-on-exec (flags 0%lo)", fd, flags);
    }
}

TU_TEST(stdio_redirected_to_given_fds) {
    const char *dir = tu_tmpdir();
    const char *in = tu_fmt("%s/in.txt", dir), *out = tu_fmt("%s/out.log", dir), *err = tu_fmt("%s/err.log", dir);
    tu_write_file(in, "input-line\n", 0644);
    int infd = TU_FD(open(in, O_RDONLY | O_CLOEXEC));
    int outfd = TU_FD(open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    int errfd = TU_FD(open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 7, infd);
    tu_cmd_fd(&c, 8, outfd);
    tu_cmd_fd(&c, 9, errfd);
    tu_cmd_arg(&c, "--stdin-fd=7");
    tu_cmd_arg(&c, "--stdout-fd=8");
    tu_cmd_arg(&c, "--stderr-fd=9");
    tu_cmd_arg(&c, "--write-stdio");
    tu_cmd_arg(&c, "--read-stdin");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "wrote 10 10");
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "stdin input-line");
    TU_ASSERT_PROC_IS(d, "fd/0", in);
    TU_ASSERT_PROC_IS(d, "fd/1", out);
    TU_ASSERT_PROC_IS(d, "fd/2", err);
    TU_ASSERT_STR_EQ(tu_read_file(out), "to-stdout\n");
    TU_ASSERT_STR_EQ(tu_read_file(err), "to-stderr\n");
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_MSG((tu_fd_flags(d, fd) & O_CLOEXEC) == 0, "fd %d is close-on-exec", fd);
    /* the given fds (7, 8, 9) are closed once duplicated: not preserved */
    int fds[64];
    size_t n = tu_fd_list(d, fds, 64);
    TU_ASSERT_MSG(n == 4 && fds[3] == TU_REPORT_FD, "the daemon has %zu fds, expected 0 1 2 %d (the given fds "
                  "stay open?)", n, TU_REPORT_FD);
}

TU_TEST(stdio_stdout_and_stderr_share_one_fd) {
    const char *dir = tu_tmpdir();
    const char *log = tu_fmt("%s/both.log", dir);
    int fd = TU_FD(open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 8, fd);
    tu_cmd_arg(&c, "--stdout-fd=8");
    tu_cmd_arg(&c, "--stderr-fd=8");
    tu_cmd_arg(&c, "--write-stdio");
    tu_proc *p;
    pid_t d = tu_start_daemon(&c, &p);
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "wrote 10 10");
    TU_ASSERT_STR_EQ(tu_proc_link(d, "fd/0"), "/dev/null");
    TU_ASSERT_PROC_IS(d, "fd/1", log);
    TU_ASSERT_PROC_IS(d, "fd/2", log);
    TU_ASSERT_STR_EQ(tu_read_file(log), "to-stdout\nto-stderr\n");
}

TU_TEST(stdio_given_fd_numbers_below_three_are_handled) {
    /* stdout target given as fd 2 (the invoker's stderr) and stderr as fd 1:
     * a swap that naive dup2 ordering gets wrong */
    const char *dir = tu_tmpdir();
    const char *a = tu_fmt("%s/a.log", dir), *b = tu_fmt("%s/b.log", dir);
    int fa = TU_FD(open(a, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    int fb = TU_FD(open(b, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    tu_cmd c;
    tu_cmd_init(&c);
    tu_cmd_fd(&c, 1, fa);
    tu_cmd_fd(&c, 2, fb);
    tu_cmd_arg(&c, "--stdout-fd=2");
    tu_cmd_arg(&c, "--stderr-fd=1");
    tu_cmd_arg(&c, "--write-stdio");
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    int st = tu_wait(p, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "invoker: %s", tu_describe_status(st));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), "wrote 10 10");
    TU_ASSERT_PROC_IS(d, "fd/1", b);
    TU_ASSERT_PROC_IS(d, "fd/2", a);
    TU_ASSERT_STR_EQ(tu_read_file(b), "to-stdout\n");
    TU_ASSERT_STR_EQ(tu_read_file(a), "to-stderr\n");
}

static void expect_stdio_dev_null_with_closed(const int *closed, size_t n) {
    tu_cmd c;
    tu_cmd_init(&c);
    for (size_t i = 0; i < n; i++)
        tu_cmd_fd(&c, closed[i], -1);
    tu_proc *p = tu_spawn(&c);
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    int fds[64];
    size_t nfds = tu_fd_list(d, fds, 64);
    char *table = tu_fmt("%s", "");
    for (size_t i = 0; i < nfds; i++)
        table = tu_fmt("%s %d:%s", table, fds[i], tu_proc_link(d, tu_fmt("fd/%d", fds[i])));
    tu_log("daemon fds:%s", table);
    TU_ASSERT_MSG(nfds >= 3 && fds[0] == 0 && fds[1] == 1 && fds[2] == 2, "fds 0-2 not all open:%s", table);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
}

TU_TEST(stdio_closed_stdout_in_invoker_becomes_dev_null) {
    int closed[] = {1};
    expect_stdio_dev_null_with_closed(closed, 1);
}

TU_TEST(stdio_all_three_closed_in_invoker_become_dev_null) {
    int closed[] = {0, 1, 2};
    expect_stdio_dev_null_with_closed(closed, 3);
}

TU_MAIN
