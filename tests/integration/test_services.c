/*
 * test_services.c - the library's service API through real processes
 * (dcx-svc-helper opens a context with daemonctx_open()): the daemon's
 * environment in its environ (the caller's left alone), resource limits,
 * nice and oom_score_adj, its cgroup (daemonctx_cgroup in the caller, /proc
 * in the daemon), the tree API ending it from outside and
 * daemonctx_end_others from inside, the runtime directory, and a failed
 * open() removing what it made.
 */
#include "testutil.h"
#include "daemonctx.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void need_root(void)
{
    if (geteuid() != 0)
        tu_skip("needs root");
}

struct run {
    tu_proc *p;
    pid_t daemon;
    const char *cgroup; /* "-" for none */
    const char *caller_home;
    char *early[8]; /* the daemon's lines that came before the caller's */
    int n_early, next_early;
};

/* The daemon's next line after "up". */
static char *next_line(struct run *r)
{
    if (r->next_early < r->n_early)
        return r->early[r->next_early++];
    return tu_read_line(r->p->report, tu_timeout_ms());
}

static void helper(tu_cmd *c)
{
    tu_cmd_init_program(c, DCX_SVC_HELPER);
}

/* Spawn C, expect "parent ..." and "up PID" (in either order). */
static struct run open_daemon(tu_cmd *c)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.p = tu_spawn(c);
    while (!r.cgroup || !r.daemon) {
        char *line = tu_read_line(r.p->report, tu_timeout_ms());
        TU_ASSERT_MSG(line, "no report (stderr: %s)", tu_proc_stderr(r.p));
        int pid, daemon;
        char cg[4096], home[4096];
        if (sscanf(line, "parent %d %d %4095s %4095s", &pid, &daemon, cg, home) == 4) {
            r.cgroup = tu_strdup(cg);
            r.caller_home = tu_strdup(home);
            tu_track_pid(daemon);
        } else if (sscanf(line, "up %d", &daemon) == 1) {
            r.daemon = daemon;
            tu_track_pid(daemon);
        } else if (r.daemon && r.n_early < 8) {
            r.early[r.n_early++] = line;
        } else {
            TU_FAIL("unexpected report \"%s\"", line);
        }
    }
    tu_expect_exit_code(r.p, 0);
    return r;
}

/* The "env ..." lines the daemon reports (one per --print-env, in order):
 * NAME's value, or NULL. */
static const char *next_env(struct run *r, const char *name)
{
    char *line = next_line(r);
    TU_ASSERT_MSG(line && strncmp(line, "env ", 4) == 0, "got \"%s\"", line ? line : "EOF");
    size_t nl = strlen(name);
    TU_ASSERT_MSG(strncmp(line + 4, name, nl) == 0, "got \"%s\", expected %s", line, name);
    return line[4 + nl] == '=' ? tu_strdup(line + 4 + nl + 1) : NULL;
}

/* Skip unless a daemon with a pidfile under TMP would get a cgroup. */
static void need_cgroup(const char *tmp)
{
    daemonctx *ctx = daemonctx_new();
    daemonctx_pidfile *pf = daemonctx_pidfile_new(tu_fmt("%s/probe.pid", tmp));
    TU_ASSERT(ctx && pf);
    TU_ASSERT_INT_EQ(daemonctx_set_pidfile(ctx, pf), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_AUTO, NULL), 0);
    char dir[4096];
    const char *why;
    int r = daemonctx_cgroup_decision(ctx, dir, sizeof dir, &why);
    daemonctx_free(ctx);
    daemonctx_pidfile_free(pf);
    if (r != 1)
        tu_skip("no cgroup here: %s", why);
}

TU_TEST(lib_open_gives_the_daemon_its_users_identity_in_environ_not_the_caller)
{
    need_root();
    struct passwd *pw = getpwnam("nobody");
    TU_ASSERT(pw != NULL);
    const char *home = tu_strdup(pw->pw_dir);
    tu_cmd c;
    helper(&c);
    c.no_leak_check = true;
    tu_cmd_env(&c, "HOME=/root");
    tu_cmd_env(&c, "USER=root");
    tu_cmd_arg(&c, "--uid=%u", (unsigned)pw->pw_uid);
    tu_cmd_arg(&c, "--gid=%u", (unsigned)pw->pw_gid);
    tu_cmd_arg(&c, "--identity");
    tu_cmd_arg(&c, "--print-env=HOME");
    tu_cmd_arg(&c, "--print-env=USER");
    tu_cmd_arg(&c, "--print-env=LOGNAME");
    struct run r = open_daemon(&c);
    TU_ASSERT_STR_EQ(next_env(&r, "HOME"), home);
    TU_ASSERT_STR_EQ(next_env(&r, "USER"), "nobody");
    TU_ASSERT_STR_EQ(next_env(&r, "LOGNAME"), "nobody");
    TU_ASSERT_STR_EQ(r.caller_home, "HOME=/root"); /* the caller's own: untouched */
}

TU_TEST(lib_open_environment_inherits_sets_and_removes)
{
    tu_cmd c;
    helper(&c);
    tu_cmd_env(&c, "DCX_A=inherited");
    tu_cmd_env(&c, "DCX_B=inherited");
    tu_cmd_env(&c, "DCX_C=inherited");
    tu_cmd_arg(&c, "--setenv=DCX_A=set");
    tu_cmd_arg(&c, "--unsetenv=DCX_B");
    tu_cmd_arg(&c, "--setenv=DCX_D=new");
    const char *names[] = {"DCX_A", "DCX_B", "DCX_C", "DCX_D"};
    for (int i = 0; i < 4; i++)
        tu_cmd_arg(&c, "--print-env=%s", names[i]);
    struct run r = open_daemon(&c);
    TU_ASSERT_STR_EQ(next_env(&r, "DCX_A"), "set");
    TU_ASSERT(next_env(&r, "DCX_B") == NULL);
    TU_ASSERT_STR_EQ(next_env(&r, "DCX_C"), "inherited");
    TU_ASSERT_STR_EQ(next_env(&r, "DCX_D"), "new");
}

TU_TEST(lib_open_cleared_environment_has_path_and_what_was_set)
{
    tu_cmd c;
    helper(&c);
    tu_cmd_env(&c, "DCX_A=inherited");
    tu_cmd_arg(&c, "--clear-env");
    tu_cmd_arg(&c, "--setenv=X=1");
    const char *names[] = {"DCX_A", "HOME", "PATH", "X"};
    for (int i = 0; i < 4; i++)
        tu_cmd_arg(&c, "--print-env=%s", names[i]);
    struct run r = open_daemon(&c);
    TU_ASSERT(next_env(&r, "DCX_A") == NULL);
    TU_ASSERT(next_env(&r, "HOME") == NULL);
    TU_ASSERT_STR_EQ(next_env(&r, "PATH"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    TU_ASSERT_STR_EQ(next_env(&r, "X"), "1");
}

TU_TEST(lib_open_applies_limits_nice_and_oom_score_adj)
{
    tu_cmd c;
    helper(&c);
    tu_cmd_arg(&c, "--rlimit=%d:64:128", RLIMIT_NOFILE);
    tu_cmd_arg(&c, "--rlimit=%d:0:1048576", RLIMIT_CORE);
    tu_cmd_arg(&c, "--nice=6");
    tu_cmd_arg(&c, "--oom=250");
    struct run r = open_daemon(&c);
    TU_ASSERT_STR_EQ(tu_limit(r.daemon, "Max open files"), "64 128");
    TU_ASSERT_STR_EQ(tu_limit(r.daemon, "Max core file size"), "0 1048576"); /* instead of prevent_core's 0 0 */
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("/proc/%d/oom_score_adj", (int)r.daemon)), "250\n");
    errno = 0;
    TU_ASSERT_INT_EQ(getpriority(PRIO_PROCESS, (id_t)r.daemon), 6);
}

/* The cgroup from both sides, then ended and removed through the tree API. */
TU_TEST(lib_open_puts_the_daemon_in_its_cgroup_and_the_tree_api_ends_it)
{
    const char *tmp = tu_tmpdir();
    need_cgroup(tmp);
    const char *pf = tu_fmt("%s/d.pid", tmp);
    tu_cmd c;
    helper(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--cgroup=auto");
    tu_cmd_arg(&c, "--setsid-child");
    struct run r = open_daemon(&c);
    char *line = next_line(&r);
    int child;
    TU_ASSERT(line && sscanf(line, "child %d", &child) == 1);
    tu_track_pid(child);
    TU_ASSERT_MSG(strcmp(r.cgroup, "-") != 0, "daemonctx_cgroup() says none");
    TU_ASSERT_CONTAINS(r.cgroup, "/daemonctx-");
    TU_ASSERT(tu_path_exists(r.cgroup));

    daemonctx_error err;
    daemonctx_tree *t = daemonctx_tree_open(pf, r.daemon, &err);
    TU_ASSERT_MSG(t, "%s", err.message);
    TU_ASSERT_STR_EQ(daemonctx_tree_cgroup(t), r.cgroup);
    pid_t pids[8];
    int n = daemonctx_tree_pids(t, pids, 8, &err);
    TU_ASSERT_INT_EQ(n, 2);
    TU_ASSERT((pids[0] == r.daemon && pids[1] == child) || (pids[1] == r.daemon && pids[0] == child));
    TU_ASSERT_INT_EQ(daemonctx_tree_kill(t, 5000, &err), 0);
    daemonctx_tree_free(t);
    TU_ASSERT(tu_pid_exits_within(r.daemon, tu_timeout_ms()));
    TU_ASSERT(tu_pid_exits_within(child, tu_timeout_ms()));
    TU_ASSERT(!tu_path_exists(r.cgroup));
}

static void end_others_from_inside(const char *cgroup)
{
    const char *tmp = tu_tmpdir();
    if (strcmp(cgroup, "auto") == 0)
        need_cgroup(tmp);
    tu_cmd c;
    helper(&c);
    tu_cmd_arg(&c, "--pidfile=%s/d.pid", tmp);
    tu_cmd_arg(&c, "--cgroup=%s", cgroup);
    tu_cmd_arg(&c, "--setsid-child");
    tu_cmd_arg(&c, "--end-others");
    struct run r = open_daemon(&c);
    char *line = next_line(&r);
    int child, rc;
    TU_ASSERT(line && sscanf(line, "child %d", &child) == 1);
    tu_track_pid(child);
    line = next_line(&r);
    TU_ASSERT_MSG(line && sscanf(line, "ended %d", &rc) == 1, "got \"%s\"", line ? line : "EOF");
    TU_ASSERT_INT_EQ(rc, 0);
    TU_ASSERT(!tu_alive(child));
    TU_ASSERT(tu_alive(r.daemon));
}

TU_TEST(lib_end_others_ends_the_rest_of_the_cgroup_from_inside)
{
    end_others_from_inside("auto");
}

/* Without a cgroup, through a /proc fd opened before any chroot: its
 * descendants. (The setsid child is one: it reaps it too.) */
TU_TEST(lib_end_others_ends_its_descendants_without_a_cgroup)
{
    end_others_from_inside("none");
}

TU_TEST(lib_runtime_directory_is_given_to_the_user_and_removed_through_the_tree)
{
    need_root();
    const char *dir = tu_fmt("%s/run/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    helper(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s:0700", dir);
    tu_cmd_arg(&c, "--uid=65534");
    tu_cmd_arg(&c, "--gid=65534");
    struct run r = open_daemon(&c);
    struct stat st;
    TU_SYS(stat(dir, &st));
    TU_ASSERT_INT_EQ(st.st_uid, 65534);
    TU_ASSERT_INT_EQ(st.st_mode & 07777, 0700);
    daemonctx_error err;
    daemonctx_tree *t = daemonctx_tree_open(pf, r.daemon, &err);
    TU_ASSERT(t != NULL);
    TU_ASSERT_STR_EQ(daemonctx_tree_runtime_directory(t), dir);
    tu_kill_and_wait(r.daemon, SIGKILL);
    TU_ASSERT_INT_EQ(daemonctx_tree_remove_runtime_directory(t, &err), 0);
    TU_ASSERT(daemonctx_tree_runtime_directory(t) == NULL);
    daemonctx_tree_free(t);
    TU_ASSERT(!tu_path_exists(dir));
}

/* The daemon fails a step (chdir): its original process removes the
 * runtime directory and the cgroup this open() made. */
TU_TEST(lib_failed_open_removes_the_runtime_directory_and_cgroup_it_made)
{
    const char *tmp = tu_tmpdir();
    const char *dir = tu_fmt("%s/made/run", tmp);
    const char *pf = tu_fmt("%s/d.pid", dir);
    tu_cmd c;
    helper(&c);
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--cgroup=auto");
    tu_cmd_arg(&c, "--workdir=%s/no/such/dir", tmp);
    tu_proc *p = tu_spawn(&c);
    tu_expect_exit_code(p, 1);
    TU_ASSERT_MSG(strncmp(tu_proc_stderr(p), "chdir: ", 7) == 0, "stderr: %s", tu_proc_stderr(p));
    TU_ASSERT_MSG(!tu_path_exists(tu_fmt("%s/made", tmp)), "the failed open left %s", dir);
    tu_assert_no_descendants();
}

TU_MAIN
