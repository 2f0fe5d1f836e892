/*
 * test_cli_service.c - what makes PROGRAM a service: resource limits, nice,
 * oom_score_adj (--limit, --nice, --oom-score-adjust), checked from outside
 * in /proc/PID/limits, /proc/PID/stat and /proc/PID/oom_score_adj, and what
 * the process may not do, refused before anything starts; its environment
 * (--user's identity, --env, --env-file, --clear-env) in /proc/PID/environ;
 * its runtime directory (--runtime-dir): owner, mode, what a failed start
 * and stop leave.
 */
#include "cli_common.h"

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A started daemon running dcx-cli-prog, with the extra options OPTS
 * (NULL-terminated); returns its PID. */
static pid_t start_with(const char *pf, const char *const *opts, cli_result *out)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    for (size_t i = 0; opts && opts[i]; i++)
        tu_cmd_arg(&c, "%s", opts[i]);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    if (out)
        *out = r;
    return pid;
}

/* "daemonctx start OPTS -- prog" as user nobody, expected to fail. */
static cli_result start_as_nobody(const char *pf, const char *const *opts)
{
    tu_cmd c;
    cli_cmd_as_nobody(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    for (size_t i = 0; opts[i]; i++)
        tu_cmd_arg(&c, "%s", opts[i]);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    return cli_run(&c);
}

/* A directory nobody may write, for a pidfile of a start as nobody. */
static const char *nobody_dir(void)
{
    const char *d = tu_fmt("%s/nobody", tu_tmpdir());
    TU_SYS(mkdir(d, 0755));
    TU_SYS(chown(d, 65534, 65534));
    return d;
}

static int nice_of(pid_t pid)
{
    char *stat = tu_read_file(tu_fmt("/proc/%d/stat", (int)pid));
    TU_ASSERT(stat != NULL);
    const char *p = strrchr(stat, ')');
    TU_ASSERT(p != NULL);
    /* fields after ") ": state(3) ... nice is field 19 */
    int field = 2;
    for (; *p && field < 19; p++)
        if (*p == ' ')
            field++;
    return atoi(p);
}

static void nothing_left(const char *pf)
{
    TU_ASSERT_MSG(!tu_path_exists(pf), "the failed start left its pidfile %s", pf);
    tu_assert_no_descendants();
}

/* ------------------------------------------------------------------ limits */

TU_TEST(cli_start_limit_sets_soft_and_hard_limits_in_proc_limits)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--limit=nofile=512:1024", "--limit", "stack=4194304", "--limit=cpu=unlimited", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max open files"), "512 1024");
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max stack size"), "4194304 4194304");
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max cpu time"), "unlimited unlimited");
}

/* prlimit's forms: "S:" keeps the hard limit, ":H" the soft one. */
TU_TEST(cli_start_limit_keeps_the_value_it_is_not_given)
{
    struct rlimit nofile, nproc;
    TU_SYS(getrlimit(RLIMIT_NOFILE, &nofile));
    TU_SYS(getrlimit(RLIMIT_NPROC, &nproc));
    TU_ASSERT(nofile.rlim_max > 300);
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *want_nproc = nproc.rlim_cur == RLIM_INFINITY ? "unlimited" : tu_fmt("%llu", (unsigned long long)nproc.rlim_cur);
    const char *opts[] = {"--limit=nofile=300:", "--limit=nproc=:unlimited", NULL};
    if (nproc.rlim_max != RLIM_INFINITY)
        opts[1] = NULL; /* not ours to raise here */
    pid_t pid = start_with(pf, opts, NULL);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max open files"), tu_fmt("300 %llu", (unsigned long long)nofile.rlim_max));
    if (opts[1])
        TU_ASSERT_STR_EQ(tu_limit(pid, "Max processes"), tu_fmt("%s unlimited", want_nproc));
}

/* An explicit core limit replaces core dump prevention (soft and hard 0). */
TU_TEST(cli_start_limit_core_replaces_core_dump_prevention)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--limit=core=1048576:unlimited", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max core file size"), "1048576 unlimited");
}

TU_TEST(cli_start_nice_and_oom_score_adjust_are_the_programs)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--nice=7", "--oom-score-adjust=345", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    TU_ASSERT_INT_EQ(nice_of(pid), 7);
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("/proc/%d/oom_score_adj", (int)pid)), "345\n");
}

/* Applied before the privilege drop, kept after it. */
TU_TEST(cli_start_limits_hold_after_the_drop_to_another_user)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--user=nobody", "--limit=nofile=64:128", "--nice=3", "--oom-score-adjust=200", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    long ids[4];
    tu_status_ids(pid, "Uid", ids);
    TU_ASSERT_INT_EQ(ids[0], 65534);
    TU_ASSERT_STR_EQ(tu_limit(pid, "Max open files"), "64 128");
    TU_ASSERT_INT_EQ(nice_of(pid), 3);
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("/proc/%d/oom_score_adj", (int)pid)), "200\n");
}

/* Without CAP_SYS_RESOURCE (here: as nobody) the hard limit cannot be raised:
 * refused before anything starts, naming the resource. */
TU_TEST(cli_start_refuses_a_hard_limit_it_may_not_raise_naming_the_resource)
{
    need_root();
    struct rlimit nofile;
    TU_SYS(getrlimit(RLIMIT_NOFILE, &nofile));
    if (nofile.rlim_max == RLIM_INFINITY)
        tu_skip("RLIMIT_NOFILE has no hard limit here");
    const char *pf = tu_fmt("%s/d.pid", nobody_dir());
    const char *opts[] = {tu_fmt("--limit=nofile=%llu", (unsigned long long)nofile.rlim_max + 1), NULL};
    cli_result r = start_as_nobody(pf, opts);
    expect_error(&r, 1, "nofile", "CAP_SYS_RESOURCE", (char *)NULL);
    nothing_left(pf);
}

/* Above fs.nr_open no process may set RLIMIT_NOFILE, whatever its
 * capabilities. */
TU_TEST(cli_start_refuses_nofile_above_nr_open)
{
    char *nr = tu_read_file("/proc/sys/fs/nr_open");
    TU_ASSERT(nr != NULL);
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--limit=nofile=%llu", strtoull(nr, NULL, 10) + 1);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 1, "nofile", "fs.nr_open", (char *)NULL);
    nothing_left(pf);
}

TU_TEST(cli_start_refuses_a_lower_nice_without_cap_sys_nice)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", nobody_dir());
    const char *opts[] = {"--nice=-5", NULL};
    cli_result r = start_as_nobody(pf, opts);
    expect_error(&r, 1, "nice", "CAP_SYS_NICE", (char *)NULL);
    nothing_left(pf);
}

TU_TEST(cli_start_refuses_a_lower_oom_score_adjust_without_cap_sys_resource)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", nobody_dir());
    const char *opts[] = {"--oom-score-adjust=-100", NULL};
    cli_result r = start_as_nobody(pf, opts);
    expect_error(&r, 1, "oom_score_adj", "CAP_SYS_RESOURCE", (char *)NULL);
    nothing_left(pf);
}

TU_TEST(cli_start_limit_with_an_unknown_resource_is_a_usage_error)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--limit=files=10");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'files=10' for --limit");
}

TU_TEST(cli_start_limit_with_soft_above_hard_is_a_usage_error)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--limit=nofile=20:10");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'nofile=20:10' for --limit");
}

/* "S:" with S above the current hard limit: the library names both. */
TU_TEST(cli_start_limit_soft_above_the_kept_hard_limit_names_both)
{
    struct rlimit nofile;
    TU_SYS(getrlimit(RLIMIT_NOFILE, &nofile));
    if (nofile.rlim_max == RLIM_INFINITY)
        tu_skip("RLIMIT_NOFILE has no hard limit here");
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--limit=nofile=%llu:", (unsigned long long)nofile.rlim_max + 1);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 2, "nofile", "above the hard limit", (char *)NULL);
}

TU_TEST(cli_start_nice_out_of_range_is_a_usage_error)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--nice=20");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'20' for --nice");
}

TU_TEST(cli_start_dry_run_shows_limits_and_refuses_what_start_would)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--limit=nofile=100:200");
    tu_cmd_arg(&c, "--nice=4");
    tu_cmd_arg(&c, "--oom-score-adjust=12");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "limits: nofile=100:200\n");
    TU_ASSERT_CONTAINS(r.out, "nice: 4\n");
    TU_ASSERT_CONTAINS(r.out, "oom score adjust: 12\n");

    char *nr = tu_read_file("/proc/sys/fs/nr_open");
    TU_ASSERT(nr != NULL);
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--limit=nofile=%llu", strtoull(nr, NULL, 10) + 1);
    tu_cmd_arg(&c, "%s", prog_path());
    r = cli_run(&c);
    expect_error(&r, 1, "nofile", (char *)NULL);
    TU_ASSERT_STR_EQ(r.out, "");
}

/* ------------------------------------------------------------- environment */

/* PID's environment as "A=1\nB=2\n", in its order. */
static const char *environment_of(pid_t pid)
{
    size_t len;
    const char *env = proc_strings(pid, "environ", &len);
    char *out = tu_fmt("%*s", (int)len + 1, "");
    size_t k = 0;
    for (const char *e = env; e < env + len; e += strlen(e) + 1)
        k += (size_t)sprintf(out + k, "%s\n", e);
    out[k] = '\0';
    return out;
}

static void expect_env(pid_t pid, const char *name, const char *want)
{
    const char *got = proc_env(pid, name);
    if (!want) {
        TU_ASSERT_MSG(!got, "%s=%s in the environment of %d, expected none", name, got, (int)pid);
        return;
    }
    TU_ASSERT_MSG(got != NULL, "no %s in the environment of %d", name, (int)pid);
    TU_ASSERT_STR_EQ(got, want);
}

/* As login(1) does: HOME, USER, LOGNAME and SHELL are the user's, not the
 * invoker's. */
TU_TEST(cli_start_user_gives_the_program_home_user_logname_and_shell_of_the_user)
{
    need_root();
    struct passwd *pw = getpwnam("nobody");
    TU_ASSERT(pw != NULL);
    const char *home = tu_strdup(pw->pw_dir), *shell = tu_strdup(*pw->pw_shell ? pw->pw_shell : "/bin/sh");
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_env(&c, "HOME=/root");
    tu_cmd_env(&c, "USER=root");
    tu_cmd_env(&c, "LOGNAME=root");
    tu_cmd_env(&c, "SHELL=/bin/invoker-shell");
    tu_cmd_env(&c, "DCX_INHERITED=yes");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    expect_env(pid, "HOME", home);
    expect_env(pid, "USER", "nobody");
    expect_env(pid, "LOGNAME", "nobody");
    expect_env(pid, "SHELL", shell);
    expect_env(pid, "DCX_INHERITED", "yes");
}

/* Without --user nothing of the invoker's identity changes. */
TU_TEST(cli_start_without_user_keeps_the_invokers_environment)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_env(&c, "HOME=/somewhere");
    tu_cmd_env(&c, "USER=someone");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    expect_env(pid, "HOME", "/somewhere");
    expect_env(pid, "USER", "someone");
}

/* --env and --env-file apply in the order given, the last of a name
 * winning; an explicit HOME wins over the user's. */
TU_TEST(cli_start_env_and_env_file_apply_in_order_the_last_winning)
{
    need_root();
    const char *dir = tu_tmpdir();
    const char *file = tu_fmt("%s/service.env", dir);
    tu_write_file(file, "A=from-file\nB=from-file\nHOME=/srv/home\n", 0644);
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *opts[] = {"--user=nobody", "--env=A=first", tu_fmt("--env-file=%s", file), "--env", "B=last",
                          "--env=C=x=y", "--env=EMPTY=", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    expect_env(pid, "A", "from-file");
    expect_env(pid, "B", "last");
    expect_env(pid, "C", "x=y");
    expect_env(pid, "EMPTY", "");
    expect_env(pid, "HOME", "/srv/home");
    expect_env(pid, "USER", "nobody");
}

/* systemd's EnvironmentFile= syntax, every feature, read back exactly. */
TU_TEST(cli_start_env_file_follows_systemds_syntax)
{
    const char *dir = tu_tmpdir();
    const char *file = tu_fmt("%s/service.env", dir);
    tu_write_file(file,
                  "# a comment\n"
                  "; another comment\n"
                  "\n"
                  "   \t\n"
                  "PLAIN=value\n"
                  "  SPACED  =   two  words   \n"
                  "SQ='single $quoted \\n kept'\n"
                  "DQ=\"a \\\"b\\\" \\$c \\\\ \\`d\\` \\e\"\n"
                  "MULTI='line one\n"
                  "line two'\n"
                  "CONT=first \\\n"
                  "second\n"
                  "ESC=a\\ b\\\\c\n"
                  "HASH=#not-a-comment\n"
                  "CRLF=dos\r\n"
                  "EMPTY=\n"
                  "QUOTED_EMPTY=\"\"\n"
                  "LAST=no-newline",
                  0644);
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *opts[] = {tu_fmt("--env-file=%s", file), NULL};
    pid_t pid = start_with(pf, opts, NULL);
    expect_env(pid, "PLAIN", "value");
    expect_env(pid, "SPACED", "two  words");
    expect_env(pid, "SQ", "single $quoted \\n kept");
    expect_env(pid, "DQ", "a \"b\" $c \\ `d` \\e");
    expect_env(pid, "MULTI", "line one\nline two");
    expect_env(pid, "CONT", "first second");
    expect_env(pid, "ESC", "a b\\c");
    expect_env(pid, "HASH", "#not-a-comment");
    expect_env(pid, "CRLF", "dos");
    expect_env(pid, "EMPTY", "");
    expect_env(pid, "QUOTED_EMPTY", "");
    expect_env(pid, "LAST", "no-newline");
}

static void expect_bad_env_file(const char *content, unsigned line, const char *needle)
{
    const char *dir = tu_tmpdir();
    const char *file = tu_fmt("%s/bad%u.env", dir, line);
    tu_write_file(file, content, 0644);
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--env-file=%s", file);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 2, tu_fmt("%s:%u: ", file, line), needle, (char *)NULL);
    nothing_left(pf);
}

/* Where systemd would skip a line, start stops and names FILE:LINE. */
TU_TEST(cli_start_env_file_bad_line_is_a_usage_error_naming_file_and_line)
{
    expect_bad_env_file("A=1\n# fine\nJUST TEXT\nB=2\n", 3, "no '='");
    expect_bad_env_file("A=1\n\n1BAD=x\n", 3, "not a variable name");
    expect_bad_env_file("A=1\nB='open\nstill open\n", 2, "no closing single quote");
    expect_bad_env_file("A=\"x\" y\n", 1, "after the closing quote");
    expect_bad_env_file("=value\n", 1, "no variable name");
}

TU_TEST(cli_start_env_file_that_cannot_be_read_is_a_usage_error)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--env-file=%s/missing.env", dir);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 2, tu_fmt("'%s/missing.env'", dir), strerror(ENOENT), (char *)NULL);
    nothing_left(pf);
}

TU_TEST(cli_start_env_without_a_valid_name_is_a_usage_error)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--env=NO-DASHES=1");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'NO-DASHES=1' for --env");
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--env=NOVALUE");
    tu_cmd_arg(&c, "%s", prog_path());
    r = cli_run(&c);
    expect_usage_error(&r, "'NOVALUE' for --env");
}

/* --clear-env: nothing of the invoker's; a default PATH and the identity
 * variables, then --env. */
TU_TEST(cli_start_clear_env_starts_from_path_and_the_identity_only)
{
    struct passwd *pw = getpwuid(geteuid());
    TU_ASSERT(pw != NULL);
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_env(&c, "DCX_INVOKERS=not-for-the-program");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--clear-env");
    tu_cmd_arg(&c, "--env=ADDED=1");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    TU_ASSERT_STR_EQ(environment_of(pid),
                     tu_fmt("HOME=%s\nUSER=%s\nLOGNAME=%s\nSHELL=%s\n"
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nADDED=1\n",
                            *pw->pw_dir ? pw->pw_dir : "/", pw->pw_name, pw->pw_name,
                            *pw->pw_shell ? pw->pw_shell : "/bin/sh"));
}

/* The supervisor passes the environment on to PROGRAM. */
TU_TEST(cli_start_supervised_program_gets_the_environment)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--env=SUPERVISED=1");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t supervisor = start_daemon(&c, pf, &r);
    pid_t program = expect_event(r.proc, "up");
    TU_ASSERT_INT_NE(program, supervisor);
    tu_track_pid(program);
    expect_env(program, "SUPERVISED", "1");
    expect_env(program, "USER", "nobody");
    expect_env(program, "LOGNAME", "nobody");
}

/* --ready=notify names the library's socket even in a cleared environment. */
TU_TEST(cli_start_clear_env_keeps_the_notify_socket_of_ready_notify)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--clear-env");
    tu_cmd_arg(&c, "--ready=notify");
    tu_cmd_arg(&c, "--timeout=%d", tu_timeout_ms() / 1000);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "notify:READY=1");
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    const char *sock = proc_env(pid, "NOTIFY_SOCKET");
    TU_ASSERT_MSG(sock && sock[0] == '@', "NOTIFY_SOCKET is \"%s\"", sock ? sock : "(none)");
    expect_env(pid, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

TU_TEST(cli_start_dry_run_shows_the_environment_plan)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--clear-env");
    tu_cmd_arg(&c, "--env=A=1");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "environment: empty, HOME USER LOGNAME SHELL of the user, set A=1\n");
}

/* --------------------------------------------------------- runtime directory */

static void expect_dir(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
    struct stat st;
    TU_ASSERT_MSG(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    TU_ASSERT_MSG(S_ISDIR(st.st_mode), "%s is not a directory", path);
    TU_ASSERT_INT_EQ(st.st_uid, uid);
    TU_ASSERT_INT_EQ(st.st_gid, gid);
    TU_ASSERT_MSG((st.st_mode & 07777) == mode, "%s has mode %04o, expected %04o", path,
                  (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

/* Made with its missing parents (0755 whatever the umask), owned by the
 * user, with its mode; the pidfile lives in it. */
TU_TEST(cli_start_runtime_dir_is_made_owned_by_the_user_with_its_mode)
{
    need_root();
    const char *tmp = tu_tmpdir();
    const char *dir = tu_fmt("%s/run/a/svc", tmp);
    const char *pf = tu_fmt("%s/svc.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    c.umask = 077;
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--runtime-dir-mode=0750");
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t pid = start_daemon(&c, pf, &r);
    TU_ASSERT_INT_EQ(expect_event(r.proc, "up"), pid);
    expect_dir(dir, 65534, 65534, 0750);
    expect_dir(tu_fmt("%s/run", tmp), 0, 0, 0755);
    expect_dir(tu_fmt("%s/run/a", tmp), 0, 0, 0755);
    tu_assert_pidfile_holds(pf, pid);
}

TU_TEST(cli_start_runtime_dir_defaults_to_mode_0755_and_the_invokers_ids)
{
    const char *dir = tu_fmt("%s/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {tu_fmt("--runtime-dir=%s", dir), NULL};
    start_with(pf, opts, NULL);
    expect_dir(dir, geteuid(), getegid(), 0755);
}

static void expect_refused_runtime_dir(const char *dir, const char *needle)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 7, dir, needle, (char *)NULL);
    nothing_left(pf);
}

TU_TEST(cli_start_runtime_dir_that_exists_as_a_file_is_refused_leaving_nothing)
{
    const char *file = tu_fmt("%s/taken", tu_tmpdir());
    tu_write_file(file, "not a directory\n", 0644);
    expect_refused_runtime_dir(file, "is not a directory");
    TU_ASSERT_STR_EQ(tu_read_file(file), "not a directory\n");
    /* a file on the way: nothing made before it either */
    expect_refused_runtime_dir(tu_fmt("%s/sub/dir", file), "is not a directory");
}

TU_TEST(cli_start_runtime_dir_that_is_a_symlink_is_refused)
{
    const char *tmp = tu_tmpdir();
    const char *target = tu_fmt("%s/target", tmp), *link = tu_fmt("%s/link", tmp);
    TU_SYS(mkdir(target, 0700));
    TU_SYS(symlink(target, link));
    expect_refused_runtime_dir(link, "symbolic link");
    expect_dir(target, geteuid(), getegid(), 0700);
}

/* A start that fails after the fork removes the directory it made, what the
 * program put in it, and the parents it made. */
TU_TEST(cli_start_that_fails_removes_the_runtime_dir_it_made)
{
    need_root();
    const char *top = tu_fmt("%s/made", tu_tmpdir());
    const char *dir = tu_fmt("%s/run", top);
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--ready=fd:4");
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "/bin/sh");
    tu_cmd_arg(&c, "-c");
    tu_cmd_arg(&c, "mkdir \"$0/sub\" && echo x >\"$0/sub/file\" && echo y >\"$0/file\" && exit 3");
    tu_cmd_arg(&c, "%s", dir);
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "status 3", (char *)NULL);
    TU_ASSERT_MSG(!tu_path_exists(top), "the failed start left %s", top);
    tu_assert_no_descendants();
}

/* One that was there stays as it was, owner and mode. */
TU_TEST(cli_start_runtime_dir_that_exists_is_used_as_it_is)
{
    need_root();
    const char *dir = tu_fmt("%s/existing", tu_tmpdir());
    TU_SYS(mkdir(dir, 0711));
    TU_SYS(chmod(dir, 0711));
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {tu_fmt("--runtime-dir=%s", dir), "--user=nobody", NULL};
    start_with(pf, opts, NULL);
    expect_dir(dir, 0, 0, 0711);
}

/* A second start of a running daemon touches nothing of the first's. */
TU_TEST(cli_start_already_running_leaves_the_runtime_dir_alone)
{
    need_root();
    const char *dir = tu_fmt("%s/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", dir);
    const char *opts[] = {tu_fmt("--runtime-dir=%s", dir), "--user=nobody", NULL};
    pid_t pid = start_with(pf, opts, NULL);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--runtime-dir-mode=0700");
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 3, tu_fmt("%d", (int)pid), (char *)NULL);
    expect_dir(dir, 65534, 65534, 0755);
    tu_assert_pidfile_holds(pf, pid);
}

TU_TEST(cli_start_runtime_dir_must_be_absolute)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--runtime-dir=relative/dir");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'relative/dir' for --runtime-dir");
}

TU_TEST(cli_start_dry_run_checks_the_runtime_dir_and_makes_nothing)
{
    const char *tmp = tu_tmpdir();
    const char *dir = tu_fmt("%s/run/svc", tmp);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, tu_fmt("runtime directory: %s (to be made, mode 0755", dir));
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/run", tmp)));
    const char *file = tu_fmt("%s/file", tmp);
    tu_write_file(file, "", 0644);
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--runtime-dir=%s", file);
    tu_cmd_arg(&c, "%s", prog_path());
    r = cli_run(&c);
    expect_error(&r, 7, file, "not a directory", (char *)NULL);
}

TU_MAIN

/* Under a supervisor, the limits, the environment and the runtime directory
 * are PROGRAM's: the supervisor keeps its own limits and environment (it
 * stays root, and must be able to reopen logs and end the tree), and the
 * directory goes to PROGRAM's user. */
TU_TEST(cli_start_supervised_program_gets_limits_env_and_runtime_dir_the_supervisor_keeps_its_own)
{
    need_root();
    const char *dir = tu_fmt("%s/run/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--limit=nofile=512:1024");
    tu_cmd_arg(&c, "--env=SUPERVISED=1");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    cli_result r;
    pid_t supervisor = start_daemon(&c, pf, &r);
    pid_t program = expect_event(r.proc, "up");
    tu_track_pid(program);
    expect_dir(dir, 65534, 65534, 0755);
    TU_ASSERT_STR_EQ(tu_limit(program, "Max open files"), "512 1024");
    TU_ASSERT_MSG(strcmp(tu_limit(supervisor, "Max open files"), "512 1024") != 0,
                  "the supervisor got PROGRAM's --limit");
    expect_env(program, "SUPERVISED", "1");
    expect_env(program, "USER", "nobody");
    expect_env(supervisor, "SUPERVISED", NULL);
}
