/*
 * test_cli_start.c - `daemonctx start`: every option, the program's clean
 * context, and every failure class (exit code, one line, nothing left).
 */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* "daemonctx start --pidfile=PF" (PF may be NULL); then the caller adds
 * options, and program() the program with its actions. */
static void start_cmd(tu_cmd *c, const char *pf)
{
    cli_cmd(c, "start");
    if (pf)
        tu_cmd_arg(c, "--pidfile=%s", pf);
}

static void program(tu_cmd *c)
{
    tu_cmd_arg(c, "--");
    tu_cmd_arg(c, "%s", prog_path());
}

static void expect_nothing_left(const char *pf)
{
    tu_assert_no_descendants();
    if (pf)
        TU_ASSERT_MSG(!tu_path_exists(pf), "pidfile %s was left behind", pf);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    int in = TU_FD(open(from, O_RDONLY | O_CLOEXEC));
    int out = TU_FD(open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        TU_ASSERT(write(out, buf, (size_t)n) == n);
    TU_SYS(n);
    TU_SYS(fchmod(out, mode));
    close(in);
    close(out);
}

/* ------------------------------------------------------------ the basics */

TU_TEST(cli_help_prints_usage_and_exits_0)
{
    tu_cmd c;
    cli_cmd(&c, "--help");
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "Usage: daemonctx start");
    TU_ASSERT_CONTAINS(r.out, "daemonctx stop");
    TU_ASSERT_CONTAINS(r.out, "daemonctx status");
    TU_ASSERT_STR_EQ(r.err, "");
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--help");
    r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "--pidfile");
}

TU_TEST(cli_help_lists_every_option)
{
    static const char *const options[] = {
        "--pidfile",  "--chdir",   "--chroot",  "--umask",   "--user",    "--group",         "--allow-core",
        "--detach",   "--keep-fd", "--stdin",   "--stdout",  "--stderr",  "--syslog",        "--supervise",
        "--restart",  "--ready",   "--timeout", "--dry-run", "--verbose", "--ignore-signal", "--signal",
        "--retry",    "--json",    "--restart-delay", "--restart-max-delay", "--version",
    };
    tu_cmd c;
    cli_cmd(&c, "--help");
    cli_result r = cli_run(&c);
    expect_success(&r);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i], "--version") != 0)
            TU_ASSERT_CONTAINS(r.out, options[i]);
}

TU_TEST(cli_version_prints_version)
{
    tu_cmd c;
    cli_cmd(&c, "--version");
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_MSG(strncmp(r.out, "daemonctx ", 10) == 0, "--version printed \"%s\"", r.out);
}

TU_TEST(cli_usage_errors_are_one_line_with_hint)
{
    static const struct {
        const char *args[6];
        const char *needle;
    } cases[] = {
        {{NULL}, "command"},
        {{"frobnicate"}, "'frobnicate'"},
        {{"start", "--bogus", "--", "x"}, "'--bogus'"},
        {{"start"}, "PROGRAM"},
        {{"start", "--pidfile"}, "'--pidfile'"},
        {{"start", "--umask=999", "--", "x"}, "'999'"},
        {{"start", "--detach=maybe", "--", "x"}, "'maybe'"},
        {{"start", "--ready=fd:2", "--", "x"}, "'fd:2'"},
        {{"start", "--ready=fd:2147483647", "--", "x"}, "RLIMIT_NOFILE"},
        {{"start", "--ready=later", "--", "x"}, "'later'"},
        {{"start", "--timeout=soon", "--", "x"}, "'soon'"},
        {{"start", "--keep-fd=x", "--", "x"}, "'x'"},
        {{"start", "--keep-fd=77", "--", "x"}, "77"},
        {{"start", "--ignore-signal=KILL", "--", "x"}, "'KILL'"},
        {{"start", "--syslog", "--", "x"}, "--syslog"},
        {{"start", "--syslog=daemon.loud", "--supervise", "--", "x"}, "'daemon.loud'"},
        {{"start", "--restart", "--", "x"}, "--restart"},
        {{"stop"}, "--pidfile"},
        {{"stop", "-p", "x", "--retry=TERM/soon"}, "'TERM/soon'"},
        {{"stop", "-p", "x", "--retry=TERM/5/forever"}, "'TERM/5/forever'"},
        {{"stop", "-p", "x", "--retry=TERM/5/forever/KILL"}, "'TERM/5/forever/KILL'"},
        {{"stop", "-p", "x", "--retry=TERM/forever/5/forever/5"}, "'TERM/forever/5/forever/5'"},
        {{"stop", "-p", "x", "--signal=NOPE"}, "'NOPE'"},
        {{"status"}, "--pidfile"},
        {{"status", "--bogus"}, "'--bogus'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_cmd c;
        cli_cmd(&c, NULL);
        for (size_t j = 0; cases[i].args[j]; j++)
            tu_cmd_arg(&c, "%s", cases[i].args[j]);
        cli_result r = cli_run(&c);
        expect_usage_error(&r, cases[i].needle);
    }
    tu_assert_no_descendants();
}

/* ----------------------------------------------------- the running daemon */

TU_TEST(cli_start_detaches_program_and_writes_pidfile)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    tu_cmd_arg(&c, "delay:1");
    pid_t pid = start_daemon(&c, pf, NULL);
    tu_pstat st, me;
    TU_ASSERT(tu_proc_stat(pid, &st));
    TU_ASSERT(tu_proc_stat(getpid(), &me));
    TU_ASSERT_INT_EQ(st.tty_nr, 0);
    TU_ASSERT_INT_NE(st.session, me.session);
    TU_ASSERT_INT_NE(st.session, pid); /* double fork: not a session leader */
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "exe"), prog_path());
    size_t len;
    const char *cmdline = proc_strings(pid, "cmdline", &len);
    TU_ASSERT_STR_EQ(cmdline, prog_path());
    TU_ASSERT_STR_EQ(cmdline + strlen(cmdline) + 1, "delay:1");
    /* stdio on /dev/null */
    for (int fd = 0; fd < 3; fd++)
        TU_ASSERT_MSG(fd_points_to(pid, fd, "/dev/null"), "fd %d is not /dev/null", fd);
}

TU_TEST(cli_start_program_holds_pidfile_lock_on_fd_3)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_MSG(fd_points_to(pid, 3, pf), "fd 3 of the daemon is not the pidfile");
    TU_ASSERT_INT_EQ(tu_fd_flags(pid, 3) & O_CLOEXEC, 0);
    int fd = TU_FD(open(pf, O_RDONLY | O_CLOEXEC));
    TU_ASSERT_MSG(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the pidfile is not locked");
    tu_kill_and_wait(pid, SIGKILL);
    TU_SYS(flock(fd, LOCK_EX | LOCK_NB)); /* the lock died with the program */
    close(fd);
}

TU_TEST(cli_start_lock_fd_skips_kept_fds)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    int null = TU_FD(open("/dev/null", O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_fd(&c, 3, null);
    tu_cmd_arg(&c, "--keep-fd=3");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT(fd_points_to(pid, 3, "/dev/null"));
    TU_ASSERT_MSG(fd_points_to(pid, 4, pf), "the lock is not on fd 4 when fd 3 is kept");
}

TU_TEST(cli_start_closes_every_fd_but_stdio_lock_and_kept)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    int null = TU_FD(open("/dev/null", O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_fd(&c, 7, null);
    tu_cmd_fd(&c, 9, null);
    tu_cmd_fd(&c, 12, null);
    tu_cmd_arg(&c, "--keep-fd=9");
    tu_cmd_arg(&c, "-k");
    tu_cmd_arg(&c, "12");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    int fds[32];
    size_t n = tu_fd_list(pid, fds, 32);
    const int want[] = {0, 1, 2, 3, 9, 12};
    TU_ASSERT_INT_EQ(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_INT_EQ(fds[i], want[i]);
}

TU_TEST(cli_start_default_umask_is_022)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    c.umask = 077;
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_status_field(pid, "Umask"), "0022");
}

TU_TEST(cli_start_umask_option_sets_umask)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--umask=027");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_status_field(pid, "Umask"), "0027");
}

TU_TEST(cli_start_default_chdir_is_root)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    c.cwd = dir;
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "cwd"), "/");
}

TU_TEST(cli_start_chdir_option_sets_cwd)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_mkdir_p(tu_fmt("%s/work", dir), 0755);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--chdir=%s/work", dir);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "cwd"), tu_fmt("%s/work", dir));
}

/* A jail with nothing but the (static) program: no /dev, no /etc. */
static const char *make_jail(const char *dir)
{
    const char *jail = tu_fmt("%s/jail", dir);
    tu_mkdir_p(tu_fmt("%s/bin", jail), 0755);
    tu_mkdir_p(tu_fmt("%s/work", jail), 0755);
    copy_file(prog_path(), tu_fmt("%s/bin/prog", jail), 0755);
    return jail;
}

TU_TEST(cli_start_chroot_runs_program_inside_root)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *jail = make_jail(dir);
    const char *pf = tu_fmt("%s/d.pid", dir); /* the invoker's view */
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--chdir=/work");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "/bin/prog"); /* does not exist outside the jail */
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "root"), jail);
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "cwd"), tu_fmt("%s/work", jail));
    TU_ASSERT(fd_points_to(pid, 0, "/dev/null")); /* opened before the chroot */
}

TU_TEST(cli_start_chroot_searches_path_inside_root)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *jail = make_jail(dir);
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_env(&c, "PATH=/nonexistent:/bin");
    tu_cmd_arg(&c, "-r");
    tu_cmd_arg(&c, "%s", jail);
    tu_cmd_arg(&c, "-d");
    tu_cmd_arg(&c, "work"); /* relative: inside the new root */
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "prog");
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "cwd"), tu_fmt("%s/work", jail));
    TU_ASSERT_STR_EQ(tu_proc_link(pid, "exe"), tu_fmt("%s/bin/prog", jail));
}

TU_TEST(cli_start_user_and_group_drop_privileges)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    gid_t extra[] = {4, 27};
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_groups(&c, extra, 2); /* the invoker's groups must not leak */
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--group=nogroup");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    long ids[4];
    tu_status_ids(pid, "Uid", ids);
    for (int i = 0; i < 4; i++)
        TU_ASSERT_INT_EQ(ids[i], 65534);
    tu_status_ids(pid, "Gid", ids);
    for (int i = 0; i < 4; i++)
        TU_ASSERT_INT_EQ(ids[i], 65534);
    TU_ASSERT_STR_EQ(tu_status_field(pid, "Groups"), "65534");
    /* root created the pidfile before the drop: it still holds the PID */
    tu_assert_pidfile_holds(pf, pid);
}

TU_TEST(cli_start_user_default_group_is_primary_group)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "-u");
    tu_cmd_arg(&c, "65534");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    long ids[4];
    tu_status_ids(pid, "Gid", ids);
    TU_ASSERT_INT_EQ(ids[0], 65534);
    TU_ASSERT_INT_EQ(ids[2], 65534);
}

TU_TEST(cli_start_prevents_core_dumps_by_default)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max core file size"), "0 0");
}

TU_TEST(cli_start_allow_core_keeps_core_limit)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--allow-core");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max core file size"), "unlimited unlimited");
}

TU_TEST(cli_start_stdio_files_are_appended_and_created_0640)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *in = tu_fmt("%s/in", dir), *out = tu_fmt("%s/out", dir), *err = tu_fmt("%s/err", dir);
    tu_write_file(in, "input\n", 0644);
    tu_write_file(out, "old\n", 0600);
    tu_cmd c;
    start_cmd(&c, pf);
    c.umask = 077;
    tu_cmd_arg(&c, "--stdin=%s", in);
    tu_cmd_arg(&c, "-o");
    tu_cmd_arg(&c, "%s", out);
    tu_cmd_arg(&c, "--stderr=%s", err);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "print");
    tu_cmd_arg(&c, "event:%d:printed", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "printed"), pid);
    TU_ASSERT_STR_EQ(tu_read_file(out), "old\nout-line\n");
    TU_ASSERT_STR_EQ(tu_read_file(err), "err-line\n");
    struct stat st;
    TU_SYS(stat(err, &st));
    TU_ASSERT_INT_EQ(st.st_mode & 07777, 0640);
    TU_ASSERT(fd_points_to(pid, 0, in));
    TU_ASSERT_MSG(tu_fd_flags(pid, 1) & O_APPEND, "stdout is not in append mode");
}

TU_TEST(cli_start_resets_inherited_signal_state)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    sigaddset(&c.ignore, SIGHUP);
    sigaddset(&c.ignore, SIGUSR1);
    sigaddset(&c.ignore, SIGTSTP);
    sigaddset(&c.ignore, SIGPIPE);
    sigaddset(&c.block, SIGUSR2);
    sigaddset(&c.block, SIGTERM);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_INT_EQ(tu_status_mask(pid, "SigIgn"), 0);
    TU_ASSERT_INT_EQ(tu_status_mask(pid, "SigBlk"), 0);
    TU_ASSERT_INT_EQ(tu_status_mask(pid, "SigCgt"), 0);
}

TU_TEST(cli_start_ignore_signal_option_keeps_only_that_ignored)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    sigaddset(&c.ignore, SIGUSR1);
    tu_cmd_arg(&c, "--ignore-signal=HUP");
    tu_cmd_arg(&c, "--ignore-signal=SIGPIPE");
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_INT_EQ(tu_status_mask(pid, "SigIgn"), TU_SIGBIT(SIGHUP) | TU_SIGBIT(SIGPIPE));
}

TU_TEST(cli_start_detach_no_execs_in_place)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--detach=no");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_INT_EQ(expect_event(p, "up"), p->pid); /* no fork: the same process */
    tu_assert_pidfile_holds(pf, p->pid);
    TU_ASSERT(fd_points_to(p->pid, 1, "/dev/null"));
    TU_ASSERT_STR_EQ(tu_proc_stderr(p), "");
}

TU_TEST(cli_start_detach_auto_with_socket_stdin_does_not_fork)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    int sv[2];
    TU_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_fd(&c, 0, sv[0]);
    tu_cmd_arg(&c, "--verbose");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_INT_EQ(expect_event(p, "up"), p->pid);
    TU_ASSERT_CONTAINS(tu_proc_stderr(p), "stdin is a socket");
}

TU_TEST(cli_start_detach_yes_forks_even_with_socket_stdin)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    int sv[2];
    TU_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_fd(&c, 0, sv[0]);
    tu_cmd_arg(&c, "--detach=yes");
    program(&c);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_NE(pid, r.proc->pid);
    TU_ASSERT(fd_points_to(pid, 0, "/dev/null"));
}

TU_TEST(cli_start_keep_fd_1_passes_stdout_through)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--keep-fd=1");
    program(&c);
    tu_proc *p = tu_spawn(&c);
    int st = tu_wait(p, tu_timeout_ms());
    TU_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "start: %s", tu_describe_status(st));
    pid_t pid = pidfile_pid(pf);
    TU_ASSERT_MSG(strncmp(tu_proc_link(pid, "fd/1"), "pipe:", 5) == 0, "stdout was not passed through");
    TU_ASSERT(fd_points_to(pid, 2, "/dev/null"));
    tu_kill_and_wait(pid, SIGKILL); /* it holds our pipe: end it before reading */
}

TU_TEST(cli_start_verbose_says_why_it_forks)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "-v");
    program(&c);
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.err, "double fork");
    pid_t pid = pidfile_pid(pf);
    TU_ASSERT_MSG(tu_contains_number(r.err, pid), "verbose output does not name PID %d: %s", (int)pid, r.err);
}

TU_TEST(cli_start_dry_run_checks_and_starts_nothing)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--user=nobody");
    program(&c);
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, tu_fmt("program: %s", prog_path()));
    TU_ASSERT_CONTAINS(r.out, "user: nobody (uid 65534)");
    TU_ASSERT_CONTAINS(r.out, "detach: yes");
    TU_ASSERT_CONTAINS(r.out, tu_fmt("pidfile: %s", pf));
    expect_nothing_left(pf);
}

/* Under systemd every ExecStart's parent is PID 1: with INVOCATION_ID and no
 * NOTIFY_SOCKET (Type=forking) --detach=auto forks; under another init
 * (inittab, a container's shell) it does not. */
static const char *dry_run_under_init(const char *env)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    c.pidns = TU_PIDNS_PARENT_INIT;
    if (env)
        tu_cmd_env(&c, env);
    tu_cmd_arg(&c, "--dry-run");
    program(&c);
    cli_result r = cli_run(&c);
    expect_success(&r);
    return r.out;
}

TU_TEST(cli_start_auto_forks_under_systemd_type_forking_although_the_parent_is_init)
{
    const char *out = dry_run_under_init("INVOCATION_ID=0123456789abcdef0123456789abcdef");
    TU_ASSERT_CONTAINS(out, "detach: yes (started by systemd without NOTIFY_SOCKET (Type=forking): double fork)");
}

TU_TEST(cli_start_auto_does_not_fork_under_another_init)
{
    TU_ASSERT_CONTAINS(dry_run_under_init(NULL), "detach: no (the parent is init: already detached, no fork)");
}

TU_TEST(cli_start_dry_run_reports_held_pidfile)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--dry-run");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 3, pf, tu_fmt("%d", (int)pid), (char *)NULL);
    tu_assert_no_descendants_except(&pid, 1);
}

/* ------------------------------------------------------- failure classes */

TU_TEST(cli_start_unknown_user_fails_naming_it)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--user=no-such-user-dcx");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 5, "'no-such-user-dcx'", (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_unknown_group_fails_naming_it)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--group=no-such-group-dcx");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 5, "'no-such-group-dcx'", (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_numeric_user_without_entry_needs_group)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--user=54321");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 5, "'54321'", "--group", (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_missing_chdir_fails_naming_it)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *missing = tu_fmt("%s/missing-dir", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--chdir=%s", missing);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 7, tu_fmt("'%s'", missing), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_missing_chroot_fails_naming_it)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *missing = tu_fmt("%s/no-jail", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--chroot=%s", missing);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 7, tu_fmt("'%s'", missing), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_program_not_found_exits_127)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "no-such-program-dcx");
    cli_result r = cli_run(&c);
    expect_error(&r, 127, "'no-such-program-dcx'", (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_program_not_found_inside_chroot_exits_127)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *jail = make_jail(dir);
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path()); /* exists outside only */
    cli_result r = cli_run(&c);
    expect_error(&r, 127, tu_fmt("'%s'", prog_path()), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_program_not_executable_exits_126)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *script = tu_fmt("%s/not-executable", dir);
    tu_write_file(script, "#!/bin/sh\n", 0644);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", script);
    cli_result r = cli_run(&c);
    expect_error(&r, 126, tu_fmt("'%s'", script), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_exec_failure_in_daemon_exits_126)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *bogus = tu_fmt("%s/bogus-binary", dir);
    tu_write_file(bogus, "\177ELF but not really\n", 0755); /* execve: ENOEXEC */
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", bogus);
    cli_result r = cli_run(&c);
    expect_error(&r, 126, bogus, (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_program_unexecutable_by_user_exits_126)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *root_only = tu_fmt("%s/root-only", dir);
    copy_file(prog_path(), root_only, 0700);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", root_only);
    cli_result r = cli_run(&c);
    expect_error(&r, 126, root_only, (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_held_pidfile_exits_nonzero_naming_holder)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    pid_t pid = start_daemon(&c, pf, NULL);
    start_cmd(&c, pf);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 3, pf, (char *)NULL);
    TU_ASSERT_MSG(tu_contains_number(r.err, pid), "the message does not name the holder %d", (int)pid);
    tu_assert_pidfile_holds(pf, pid);
    TU_ASSERT(tu_alive(pid));
    tu_assert_no_descendants_except(&pid, 1);
}

TU_TEST(cli_start_unopenable_stdout_fails_naming_it)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *out = tu_fmt("%s/no-dir/out.log", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "--stdout=%s", out);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 6, tu_fmt("'%s'", out), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_missing_stdin_fails_naming_it)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *in = tu_fmt("%s/no-input", dir);
    tu_cmd c;
    start_cmd(&c, pf);
    tu_cmd_arg(&c, "-i");
    tu_cmd_arg(&c, "%s", in);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 6, tu_fmt("'%s'", in), (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_pidfile_symlink_is_refused)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *sentinel = tu_fmt("%s/sentinel", dir);
    tu_write_file(sentinel, "precious\n", 0644);
    TU_SYS(symlink(sentinel, pf));
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 4, pf, (char *)NULL);
    TU_ASSERT_STR_EQ(tu_read_file(sentinel), "precious\n");
    struct stat st;
    TU_SYS(lstat(pf, &st));
    TU_ASSERT(S_ISLNK(st.st_mode));
    tu_assert_no_descendants();
}

TU_TEST(cli_start_pidfile_in_missing_directory_fails_naming_it)
{
    const char *pf = tu_fmt("%s/no-dir/d.pid", tu_tmpdir());
    tu_cmd c;
    start_cmd(&c, pf);
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 4, pf, (char *)NULL);
    expect_nothing_left(pf);
}

TU_TEST(cli_start_20_concurrent_starts_make_exactly_one_daemon)
{
    enum { N = 20 };
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_proc *procs[N];
    int64_t t0 = tu_now_ms();
    for (int i = 0; i < N; i++) {
        tu_cmd c;
        start_cmd(&c, pf);
        program(&c);
        procs[i] = tu_spawn(&c);
    }
    int winners = 0;
    for (int i = 0; i < N; i++) {
        cli_result r = cli_finish(procs[i], t0);
        if (r.code == 0) {
            winners++;
            continue;
        }
        expect_error(&r, 3, pf, (char *)NULL);
    }
    TU_ASSERT_INT_EQ(winners, 1);
    pid_t pid = pidfile_pid(pf);
    TU_ASSERT(tu_alive(pid));
    pid_t live[64];
    TU_ASSERT_INT_EQ(tu_live_children(live, 64), 1);
    TU_ASSERT_INT_EQ(live[0], pid);
}

TU_MAIN
