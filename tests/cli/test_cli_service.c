/*
 * test_cli_service.c - what makes PROGRAM a service: resource limits, nice,
 * oom_score_adj (--limit, --nice, --oom-score-adjust), checked from outside
 * in /proc/PID/limits, /proc/PID/stat and /proc/PID/oom_score_adj; and what
 * the process may not do, refused before anything starts.
 */
#include "cli_common.h"

#include <errno.h>
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
    cli_cmd(&c, "start");
    c.set_ids = true;
    c.ruid = c.euid = 65534;
    c.rgid = c.egid = 65534;
    c.no_leak_check = true;
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

TU_MAIN
