/*
 * Unit tests of the service API, in-process: every setter's bad input
 * (rlimits, nice, oom_score_adj, the environment, the runtime directory,
 * the cgroup) refused with -EINVAL and a last error naming the culprit, and
 * daemonctx_check() refusing, before anything forks, what open() would.
 * Nothing here opens a context.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static daemonctx *g_ctx;
static void free_ctx(void)
{
    daemonctx_free(g_ctx);
    g_ctx = NULL;
}
static daemonctx *ctx_for_test(void)
{
    g_ctx = daemonctx_new();
    TU_ASSERT_MSG(g_ctx != NULL, "daemonctx_new: %s", strerror(errno));
    atexit(free_ctx);
    return g_ctx;
}

/* RC is -ERR and the last error says ERR, step "options", naming WHAT. */
static void expect_refused(daemonctx *ctx, int rc, int err, const char *what)
{
    TU_ASSERT_INT_EQ(rc, -err);
    const daemonctx_error *e = daemonctx_last_error(ctx);
    TU_ASSERT_INT_EQ(e->errnum, err);
    TU_ASSERT_STR_EQ(daemonctx_step_name(e->step), "options");
    TU_ASSERT_CONTAINS(e->message, what);
}

TU_TEST(set_rlimit_refuses_an_unknown_resource_and_soft_above_hard)
{
    daemonctx *ctx = ctx_for_test();
    expect_refused(ctx, daemonctx_set_rlimit(ctx, -1, 1, 1), EINVAL, "-1 is not a resource limit");
    expect_refused(ctx, daemonctx_set_rlimit(ctx, 999, 1, 1), EINVAL, "999");
    expect_refused(ctx, daemonctx_set_rlimit(ctx, RLIMIT_NOFILE, 20, 10), EINVAL, "nofile");
    expect_refused(ctx, daemonctx_set_rlimit(ctx, RLIMIT_CORE, RLIM_INFINITY, 0), EINVAL, "unlimited");
    TU_ASSERT_INT_EQ(daemonctx_set_rlimit(ctx, RLIMIT_NOFILE, 10, 20), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_rlimit(ctx, RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY), 0);
    TU_ASSERT_INT_EQ(daemonctx_last_error(ctx)->errnum, 0);
}

TU_TEST(set_nice_and_oom_score_adj_refuse_values_out_of_range)
{
    daemonctx *ctx = ctx_for_test();
    expect_refused(ctx, daemonctx_set_nice(ctx, -21), EINVAL, "nice -21");
    expect_refused(ctx, daemonctx_set_nice(ctx, 20), EINVAL, "nice 20");
    expect_refused(ctx, daemonctx_set_oom_score_adj(ctx, 1001), EINVAL, "oom_score_adj 1001");
    expect_refused(ctx, daemonctx_set_oom_score_adj(ctx, -1001), EINVAL, "oom_score_adj -1001");
    TU_ASSERT_INT_EQ(daemonctx_set_nice(ctx, 19), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_oom_score_adj(ctx, -1000), 0);
}

TU_TEST(setenv_refuses_names_that_are_not_variable_names)
{
    daemonctx *ctx = ctx_for_test();
    expect_refused(ctx, daemonctx_setenv(ctx, "", "x"), EINVAL, "\"\" is not a variable name");
    expect_refused(ctx, daemonctx_setenv(ctx, "1X", "x"), EINVAL, "\"1X\"");
    expect_refused(ctx, daemonctx_setenv(ctx, "A=B", "x"), EINVAL, "\"A=B\"");
    expect_refused(ctx, daemonctx_setenv(ctx, "WITH-DASH", "x"), EINVAL, "WITH-DASH");
    expect_refused(ctx, daemonctx_setenv(ctx, NULL, "x"), EINVAL, "(null)");
    TU_ASSERT_INT_EQ(daemonctx_setenv(ctx, "_OK_9", "any = value\nwith newline"), 0);
    TU_ASSERT_INT_EQ(daemonctx_setenv(ctx, "_OK_9", NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_clear_environment(ctx, true), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_identity_environment(ctx, true), 0);
}

TU_TEST(set_runtime_directory_refuses_relative_root_and_bad_modes)
{
    daemonctx *ctx = ctx_for_test();
    expect_refused(ctx, daemonctx_set_runtime_directory(ctx, "run/x", 0755), EINVAL, "run/x");
    expect_refused(ctx, daemonctx_set_runtime_directory(ctx, "/", 0755), EINVAL, "\"/\"");
    expect_refused(ctx, daemonctx_set_runtime_directory(ctx, "/x/..", 0755), EINVAL, "\"/\"");
    expect_refused(ctx, daemonctx_set_runtime_directory(ctx, "/run/x", 010000), EINVAL, "10000");
    TU_ASSERT_INT_EQ(daemonctx_set_runtime_directory(ctx, "/run/x", 0750), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_runtime_directory(ctx, NULL, 0), 0);
}

TU_TEST(set_cgroup_refuses_a_parent_without_parent_mode_and_the_reverse)
{
    daemonctx *ctx = ctx_for_test();
    expect_refused(ctx, daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_PARENT, NULL), EINVAL, "needs a parent");
    expect_refused(ctx, daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_AUTO, "/x"), EINVAL, "needs the mode PARENT");
    expect_refused(ctx, daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_PARENT, "relative"), EINVAL, "relative");
    expect_refused(ctx, daemonctx_set_cgroup(ctx, (enum daemonctx_cgroup)7, NULL), EINVAL, "cgroup mode 7");
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_PARENT, "/daemons"), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_NONE, NULL), 0);
    TU_ASSERT(daemonctx_cgroup(ctx) == NULL);
}

/* No pidfile, no cgroup: the decision says why; NONE says so too. */
TU_TEST(cgroup_decision_without_a_pidfile_is_none)
{
    daemonctx *ctx = ctx_for_test();
    const char *why = NULL;
    char path[4096];
    TU_ASSERT_INT_EQ(daemonctx_cgroup_decision(ctx, path, sizeof path, &why), 0);
    TU_ASSERT_CONTAINS(why, "no cgroup asked for");
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_AUTO, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_cgroup_decision(ctx, path, sizeof path, &why), 0);
    TU_ASSERT_CONTAINS(why, "no pidfile");
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_PARENT, "/daemons"), 0);
    TU_ASSERT(daemonctx_cgroup_decision(ctx, path, sizeof path, &why) < 0);
    daemonctx_error err;
    TU_ASSERT_INT_EQ(daemonctx_check(ctx, &err), -EINVAL);
    TU_ASSERT_STR_EQ(daemonctx_step_name(err.step), "cgroup");
    TU_ASSERT_CONTAINS(err.message, "needs a pidfile");
}

/* What open() would refuse, refused by daemonctx_check() naming it. */
TU_TEST(check_refuses_what_open_would_naming_the_culprit)
{
    daemonctx *ctx = ctx_for_test();
    daemonctx_error err;
    TU_ASSERT_INT_EQ(daemonctx_check(ctx, &err), 0);

    char *nr = tu_read_file("/proc/sys/fs/nr_open");
    TU_ASSERT(nr != NULL);
    rlim_t above = (rlim_t)strtoull(nr, NULL, 10) + 1;
    TU_ASSERT_INT_EQ(daemonctx_set_rlimit(ctx, RLIMIT_NOFILE, above, above), 0);
    TU_ASSERT_INT_EQ(daemonctx_check(ctx, &err), -EPERM);
    TU_ASSERT_STR_EQ(daemonctx_step_name(err.step), "limits");
    TU_ASSERT_CONTAINS(err.message, "fs.nr_open");
    struct rlimit cur;
    TU_SYS(getrlimit(RLIMIT_NOFILE, &cur));
    TU_ASSERT_INT_EQ(daemonctx_set_rlimit(ctx, RLIMIT_NOFILE, cur.rlim_cur, cur.rlim_max), 0);

    const char *file = tu_fmt("%s/file", tu_tmpdir());
    tu_write_file(file, "", 0644);
    TU_ASSERT_INT_EQ(daemonctx_set_runtime_directory(ctx, file, 0755), 0);
    TU_ASSERT_INT_EQ(daemonctx_check(ctx, &err), -ENOTDIR);
    TU_ASSERT_STR_EQ(daemonctx_step_name(err.step), "runtime-dir");
    TU_ASSERT_CONTAINS(err.message, file);
    TU_ASSERT_INT_EQ(daemonctx_set_runtime_directory(ctx, tu_fmt("%s/sub/dir", file), 0755), 0);
    TU_ASSERT_INT_EQ(daemonctx_check(ctx, &err), -ENOTDIR);
    TU_ASSERT_INT_EQ(daemonctx_set_runtime_directory(ctx, NULL, 0), 0);

    daemonctx_pidfile *pf = daemonctx_pidfile_new(tu_fmt("%s/d.pid", tu_tmpdir()));
    TU_ASSERT(pf != NULL);
    TU_ASSERT_INT_EQ(daemonctx_set_pidfile(ctx, pf), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_cgroup(ctx, DAEMONCTX_CGROUP_PARENT, tu_fmt("/dcx-no-such-%d", (int)getpid())), 0);
    TU_ASSERT(daemonctx_check(ctx, &err) < 0);
    TU_ASSERT_STR_EQ(daemonctx_step_name(err.step), "cgroup");
    TU_ASSERT_CONTAINS(err.message, tu_fmt("dcx-no-such-%d", (int)getpid()));
    TU_ASSERT_INT_EQ(daemonctx_set_pidfile(ctx, NULL), 0);
    daemonctx_pidfile_free(pf);
}

/* The new steps are named, at the end of the enum. */
TU_TEST(service_steps_are_named)
{
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_LIMITS), "limits");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_RUNTIME_DIR), "runtime-dir");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_CGROUP), "cgroup");
    TU_ASSERT(DAEMONCTX_STEP_LIMITS > DAEMONCTX_STEP_APPLICATION);
    TU_ASSERT_INT_EQ(DAEMONCTX_STEP_CGROUP + 1, DAEMONCTX_STEP_COUNT);
}

TU_TEST(tree_open_refuses_no_pidfile_and_a_negative_pid)
{
    daemonctx_error err;
    TU_ASSERT(daemonctx_tree_open(NULL, 0, &err) == NULL);
    TU_ASSERT_INT_EQ(errno, EINVAL);
    TU_ASSERT(daemonctx_tree_open("/x.pid", -1, &err) == NULL);
    TU_ASSERT_INT_EQ(errno, EINVAL);
    /* Nothing there: an empty tree, nothing to kill or remove. */
    daemonctx_tree *t = daemonctx_tree_open(tu_fmt("%s/none.pid", tu_tmpdir()), 0, &err);
    TU_ASSERT(t != NULL);
    TU_ASSERT(daemonctx_tree_cgroup(t) == NULL);
    TU_ASSERT(daemonctx_tree_runtime_directory(t) == NULL);
    TU_ASSERT_INT_EQ(daemonctx_tree_pids(t, NULL, 0, &err), 0);
    TU_ASSERT_INT_EQ(daemonctx_tree_kill(t, 100, &err), 0);
    TU_ASSERT_INT_EQ(daemonctx_tree_remove_runtime_directory(t, &err), 0);
    daemonctx_tree_free(t);
    daemonctx_tree_free(NULL);
}

TU_MAIN
