/*
 * test_cli_tree.c - the daemon's whole process tree: the cgroup `start`
 * makes for it, `stop` ending every process of it (a grandchild that left
 * the session, an orphan) through the cgroup and without one, `status
 * --json` listing it, the supervisor as subreaper, and what a start made
 * (cgroup, runtime directory) removed by stop and by a failed start, and
 * nothing else. Black-box, through /proc and the cgroup v2 filesystem; the
 * cgroup tests skip where this process cannot make cgroups.
 */
#include "cli_common.h"

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

/* A private copy: it may run as nobody (see prog_path). */
static const char *tree_prog(void)
{
    return tu_exec_copy(tu_env("DCX_TREE_PROG"));
}

/* The cgroup a start with pidfile PF would make (its dry run says), or NULL. */
static const char *planned_cgroup(const char *pf, const char *extra)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    const char *line = strstr(r.out, "\ntree: cgroup ");
    if (!line)
        return NULL;
    line += strlen("\ntree: cgroup ");
    return tu_fmt("%.*s", (int)strcspn(line, " \n"), line);
}

/* Skip unless a start from here gets a cgroup; returns the one PF gets. */
static const char *need_cgroup(const char *pf)
{
    const char *dir = planned_cgroup(pf, NULL);
    if (!dir)
        tu_skip("no cgroup v2 hierarchy this test may make cgroups in");
    return dir;
}

/* The directory of PID's cgroup (v2). */
static const char *cgroup_dir_of(pid_t pid)
{
    char *mountinfo = tu_read_file("/proc/self/mountinfo");
    TU_ASSERT(mountinfo != NULL);
    const char *mnt = NULL;
    for (char *line = strtok(mountinfo, "\n"); line && !mnt; line = strtok(NULL, "\n"))
        if (strstr(line, " - cgroup2 ")) {
            char root[PATH_MAX], point[PATH_MAX];
            if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) == 2 && strcmp(root, "/") == 0)
                mnt = tu_strdup(point);
        }
    TU_ASSERT_MSG(mnt != NULL, "no cgroup2 mount");
    char *cg = tu_read_file(tu_fmt("/proc/%d/cgroup", (int)pid));
    TU_ASSERT(cg != NULL);
    char *h = strstr(cg, "0::");
    TU_ASSERT(h != NULL);
    h += 3;
    h[strcspn(h, "\n")] = '\0';
    return tu_fmt("%s%s", mnt, strcmp(h, "/") == 0 ? "" : h);
}

/* Whether PID is listed in the cgroup.procs of DIR. */
static bool in_cgroup(const char *dir, pid_t pid)
{
    char *procs = tu_read_file(tu_fmt("%s/cgroup.procs", dir));
    TU_ASSERT_MSG(procs != NULL, "%s/cgroup.procs: %s", dir, strerror(errno));
    for (char *l = strtok(procs, "\n"); l; l = strtok(NULL, "\n"))
        if (atoi(l) == pid)
            return true;
    return false;
}

static void expect_gone(pid_t pid, const char *what)
{
    TU_ASSERT_MSG(tu_pid_exits_within(pid, tu_timeout_ms()), "%s (PID %d) survived", what, (int)pid);
}

struct tree {
    pid_t daemon, program, setsid_child, setsid_orphan, orphan;
    cli_result started;
};

/* start OPTS -- dcx-tree-prog ACTIONS... event:up; the events read back. */
static void start_tree(struct tree *t, const char *pf, const char *const *opts, const char *const *actions)
{
    memset(t, 0, sizeof *t);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    for (size_t i = 0; opts && opts[i]; i++)
        tu_cmd_arg(&c, "%s", opts[i]);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", tree_prog());
    for (size_t i = 0; actions && actions[i]; i++)
        tu_cmd_arg(&c, "%s:%d", actions[i], EVENT_FD);
    tu_cmd_arg(&c, "event:%d:up", EVENT_FD);
    t->daemon = start_daemon(&c, pf, &t->started);
    for (size_t i = 0; actions && actions[i]; i++) {
        pid_t pid = expect_event(t->started.proc, actions[i]);
        tu_track_pid(pid);
        if (strcmp(actions[i], "setsid-child") == 0)
            t->setsid_child = pid;
        else if (strcmp(actions[i], "setsid-orphan") == 0)
            t->setsid_orphan = pid;
        else if (strcmp(actions[i], "orphan") == 0)
            t->orphan = pid;
    }
    t->program = expect_event(t->started.proc, "up");
    tu_track_pid(t->program);
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

/* S as a JSON string's inside (backslashes and quotes escaped). */
static const char *json_escaped(const char *s)
{
    char *out = tu_fmt("%*s", (int)strlen(s) * 2 + 1, "");
    size_t k = 0;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = '\0';
    return out;
}

/* "tree":[...] of status --json has every PID given (0s skipped). */
static void expect_listed(const char *json, const pid_t *pids, size_t n)
{
    const char *tree = strstr(json, "\"tree\":[");
    TU_ASSERT_MSG(tree != NULL, "no tree in %s", json);
    const char *end = strchr(tree, ']');
    TU_ASSERT(end != NULL);
    char *list = tu_fmt(",%.*s,", (int)(end - tree - 8), tree + 8);
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0)
            TU_ASSERT_MSG(strstr(list, tu_fmt(",%d,", (int)pids[i])), "PID %d not in the tree of %s", (int)pids[i],
                          json);
}

/* ------------------------------------------------------ ending the tree */

TU_TEST(cli_stop_ends_a_setsid_grandchild_and_an_orphan_through_the_cgroup)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = need_cgroup(pf);
    const char *actions[] = {"setsid-child", "setsid-orphan", "orphan", NULL};
    struct tree t;
    start_tree(&t, pf, NULL, actions);
    TU_ASSERT_STR_EQ(cgroup_dir_of(t.daemon), dir);
    const pid_t all[] = {t.daemon, t.setsid_child, t.setsid_orphan, t.orphan};
    for (size_t i = 0; i < 4; i++) {
        TU_ASSERT_MSG(tu_alive(all[i]), "PID %d is not running", (int)all[i]);
        TU_ASSERT_MSG(in_cgroup(dir, all[i]), "PID %d is not in %s", (int)all[i], dir);
    }
    /* They did leave: another session, another parent. */
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(t.setsid_orphan, &st));
    TU_ASSERT_INT_NE(st.session, t.daemon);
    TU_ASSERT_INT_NE(st.ppid, t.daemon);

    cli_result s = run("status", pf, "--json", NULL);
    TU_ASSERT_INT_EQ(s.code, 0);
    TU_ASSERT_CONTAINS(s.out, tu_fmt("\"cgroup\":\"%s\"", json_escaped(dir)));
    expect_listed(s.out, all, 4);

    cli_result r = run("stop", pf, "-v", NULL);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.err, tu_fmt("tree: cgroup %s", dir));
    for (size_t i = 0; i < 4; i++)
        expect_gone(all[i], "a process of the tree");
    TU_ASSERT_MSG(!tu_path_exists(dir), "stop left the cgroup %s", dir);
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
}

/* Without a cgroup: the daemon's descendants (a child that left the
 * session is still one) and its session (an orphan stays in it). */
TU_TEST(cli_stop_ends_a_setsid_child_and_an_orphan_without_a_cgroup)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--cgroup=none", NULL};
    const char *actions[] = {"setsid-child", "orphan", NULL};
    struct tree t;
    start_tree(&t, pf, opts, actions);
    const pid_t all[] = {t.daemon, t.setsid_child, t.orphan};
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(t.orphan, &st));
    TU_ASSERT_INT_NE(st.ppid, t.daemon);

    cli_result s = run("status", pf, "--json", NULL);
    TU_ASSERT_CONTAINS(s.out, "\"cgroup\":null");
    expect_listed(s.out, all, 3);

    cli_result r = run("stop", pf, "-v", NULL);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.err, "tree: no cgroup");
    for (size_t i = 0; i < 3; i++)
        expect_gone(all[i], "a process of the tree");
    tu_assert_no_descendants();
}

/* Without a cgroup, a supervised program's grandchild that leaves the
 * session and is orphaned comes to the supervisor (its subreaper): stop
 * finds it among the supervisor's descendants. */
TU_TEST(cli_stop_ends_a_setsid_orphan_of_a_supervised_program_without_a_cgroup)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--cgroup=none", "--supervise", NULL};
    const char *actions[] = {"setsid-child", "setsid-orphan", "orphan", NULL};
    struct tree t;
    start_tree(&t, pf, opts, actions);
    TU_ASSERT_INT_NE(t.program, t.daemon);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(t.setsid_orphan, &st));
    TU_ASSERT_INT_EQ(st.ppid, t.daemon); /* adopted by the supervisor */
    const pid_t all[] = {t.daemon, t.program, t.setsid_child, t.setsid_orphan, t.orphan};
    cli_result s = run("status", pf, "--json", NULL);
    expect_listed(s.out, all, 5);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    for (size_t i = 0; i < 5; i++)
        expect_gone(all[i], "a process of the tree");
    tu_assert_no_descendants();
}

/* PROGRAM ends by itself: the supervisor ends what it left before exiting. */
static void supervisor_ends_leftovers(const char *cgroup_opt)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *opts[] = {"--supervise", cgroup_opt, NULL};
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    for (size_t i = 0; opts[i]; i++)
        tu_cmd_arg(&c, "%s", opts[i]);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", tree_prog());
    tu_cmd_arg(&c, "setsid-orphan:%d", EVENT_FD);
    tu_cmd_arg(&c, "setsid-child:%d", EVENT_FD);
    tu_cmd_arg(&c, "exit:0");
    cli_result r = cli_run(&c);
    expect_success(&r);
    pid_t orphan = expect_event(r.proc, "setsid-orphan"), child = expect_event(r.proc, "setsid-child");
    tu_track_pid(orphan);
    tu_track_pid(child);
    expect_gone(orphan, "the orphan PROGRAM left");
    expect_gone(child, "the child PROGRAM left");
    tu_assert_no_descendants();
    TU_ASSERT(!tu_path_exists(pf));
}

TU_TEST(cli_supervisor_ends_what_program_left_in_its_cgroup)
{
    need_cgroup(tu_fmt("%s/d.pid", tu_tmpdir()));
    supervisor_ends_leftovers("--cgroup=auto");
}

TU_TEST(cli_supervisor_ends_what_program_left_without_a_cgroup)
{
    supervisor_ends_leftovers("--cgroup=none");
}

/* Before Linux 5.14 (no cgroup.kill, emulated by a preloaded library): the
 * cgroup is frozen, each process killed, thawed. */
TU_TEST(cli_stop_freezes_and_kills_each_where_there_is_no_cgroup_kill)
{
    const char *tmp = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", tmp), *log = tu_fmt("%s/nokill.log", tmp);
    const char *dir = need_cgroup(pf);
    const char *actions[] = {"setsid-child", "setsid-orphan", NULL};
    struct tree t;
    start_tree(&t, pf, NULL, actions);
    tu_cmd c;
    cli_cmd(&c, "stop");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    const char *shim = getenv("DCX_NOKILL_SHIM");
    TU_ASSERT(shim != NULL);
    tu_cmd_env(&c, tu_fmt("LD_PRELOAD=%s", shim));
    tu_cmd_env(&c, tu_fmt("DCX_NOKILL_LOG=%s", log));
    tu_cmd_env(&c, "ASAN_OPTIONS=verify_asan_link_order=0");
    cli_result r = cli_run(&c);
    expect_success(&r);
    char *denied = tu_read_file(log);
    TU_ASSERT_MSG(denied && strstr(denied, "cgroup.kill"), "stop never tried cgroup.kill (the shim was not loaded?)");
    expect_gone(t.daemon, "the daemon");
    expect_gone(t.setsid_child, "the setsid child");
    expect_gone(t.setsid_orphan, "the setsid orphan");
    TU_ASSERT_MSG(!tu_path_exists(dir), "stop left the cgroup %s", dir);
}

/* A cgroup with the right name that daemonctx did not make (no mark) is
 * never ended: the processes in it are someone else's. */
TU_TEST(cli_stop_leaves_a_cgroup_daemonctx_did_not_make)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = need_cgroup(pf);
    TU_SYS(mkdir(dir, 0755)); /* the very name, no mark */
    tu_cmd b;
    tu_cmd_init_program(&b, prog_path());
    tu_cmd_arg(&b, "event:%d:up", EVENT_FD);
    tu_proc *bp = tu_spawn(&b);
    pid_t bystander = expect_event(bp, "up");
    tu_write_file(tu_fmt("%s/cgroup.procs", dir), tu_fmt("%d\n", (int)bystander), 0644);
    TU_ASSERT(in_cgroup(dir, bystander));

    /* start refuses to take it over... */
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--cgroup=%s", tu_fmt("%.*s", (int)(strrchr(dir, '/') - dir), dir));
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 1, dir, "not one daemonctx made", (char *)NULL);
    TU_ASSERT(!tu_path_exists(pf));

    /* ...and stop of a daemon of that pidfile leaves it alone. */
    const char *opts[] = {"--cgroup=none", NULL};
    struct tree t;
    start_tree(&t, pf, opts, NULL);
    r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    expect_gone(t.daemon, "the daemon");
    TU_ASSERT(tu_alive(bystander));
    TU_ASSERT(in_cgroup(dir, bystander));
    tu_kill_and_wait(bystander, SIGKILL);
    TU_SYS(rmdir(dir));
}

/* ------------------------------------------------------- the cgroup itself */

TU_TEST(cli_start_puts_the_daemon_in_a_cgroup_named_after_the_pidfile)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = need_cgroup(pf);
    const char *base = strrchr(dir, '/') + 1;
    TU_ASSERT_MSG(strncmp(base, "daemonctx-", 10) == 0, "cgroup %s", dir);
    /* the pidfile's path, escaped as systemd-escape --path does */
    TU_ASSERT_MSG(strstr(base, "dcx\\x2dtest\\x2d") && strstr(base, "-d.pid"), "cgroup %s", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "-v");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result started = cli_run(&c);
    expect_success(&started);
    pid_t daemon = pidfile_pid(pf);
    TU_ASSERT_CONTAINS(started.err, tu_fmt("tree: cgroup %s", dir));
    TU_ASSERT_CONTAINS(started.err, tu_fmt("daemon PID %d is in cgroup %s", (int)daemon, dir));
    TU_ASSERT_STR_EQ(cgroup_dir_of(daemon), dir);
    /* no controller enabled */
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("%s/cgroup.subtree_control", dir)), "");
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT(!tu_path_exists(dir));
}

TU_TEST(cli_start_under_a_cgroup_parent_it_is_given)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *auto_dir = need_cgroup(pf);
    const char *parent = tu_fmt("%.*s/dcx-parent-%d", (int)(strrchr(auto_dir, '/') - auto_dir), auto_dir, (int)getpid());
    TU_SYS(mkdir(parent, 0755));
    const char *dir = planned_cgroup(pf, tu_fmt("--cgroup=%s", parent));
    TU_ASSERT_MSG(dir && strncmp(dir, parent, strlen(parent)) == 0, "planned %s", dir ? dir : "(none)");
    struct tree t;
    start_tree(&t, pf, (const char *const[]){tu_fmt("--cgroup=%s", parent), NULL}, (const char *const[]){"setsid-orphan", NULL});
    TU_ASSERT_STR_EQ(cgroup_dir_of(t.daemon), dir);
    TU_ASSERT_STR_EQ(cgroup_dir_of(t.setsid_orphan), dir);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    expect_gone(t.setsid_orphan, "the setsid orphan");
    TU_ASSERT(!tu_path_exists(dir));
    TU_SYS(rmdir(parent));
}

/* A cgroup parent the invoker may not write: one line naming it, exit 1,
 * nothing made. */
TU_TEST(cli_start_refuses_a_cgroup_parent_that_is_not_writable_leaving_nothing)
{
    need_root();
    const char *tmp = tu_tmpdir();
    const char *dir = need_cgroup(tu_fmt("%s/probe.pid", tmp));
    const char *parent = tu_fmt("%.*s", (int)(strrchr(dir, '/') - dir), dir);
    const char *home = tu_fmt("%s/nobody", tmp);
    TU_SYS(mkdir(home, 0755));
    TU_SYS(chown(home, 65534, 65534));
    const char *pf = tu_fmt("%s/d.pid", home);
    tu_cmd c;
    cli_cmd_as_nobody(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--cgroup=%s", parent);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 1, parent, "not writable", (char *)NULL);
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
    /* Without --cgroup: where it cannot make one, it goes without. */
    cli_cmd_as_nobody(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "%s", prog_path());
    r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "tree: process group, session and descendants (no cgroup: ");
}

TU_TEST(cli_start_refuses_a_cgroup_parent_that_is_not_a_cgroup)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    need_cgroup(pf);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--cgroup=/dcx-no-such-parent-%d", (int)getpid());
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 1, tu_fmt("dcx-no-such-parent-%d", (int)getpid()), "not a cgroup v2 directory", (char *)NULL);
    TU_ASSERT(!tu_path_exists(pf));
}

TU_TEST(cli_start_cgroup_option_takes_auto_none_or_an_absolute_path)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--cgroup=relative");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_usage_error(&r, "'relative' for --cgroup");
}

/* A start that fails after the fork ends the cgroup it made: also what
 * PROGRAM forked that left its session, which no process group kill finds. */
TU_TEST(cli_start_that_fails_ends_and_removes_the_cgroup_it_made)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = need_cgroup(pf);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--ready=fd:4");
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", tree_prog());
    tu_cmd_arg(&c, "setsid-orphan:%d", EVENT_FD);
    tu_cmd_arg(&c, "exit:3");
    cli_result r = cli_run(&c);
    expect_error(&r, 8, "status 3", (char *)NULL);
    pid_t orphan = expect_event(r.proc, "setsid-orphan");
    tu_track_pid(orphan);
    expect_gone(orphan, "the orphan of the failed start");
    TU_ASSERT_MSG(!tu_path_exists(dir), "the failed start left its cgroup %s", dir);
    TU_ASSERT(!tu_path_exists(pf));
    tu_assert_no_descendants();
}

/* A daemon that ended without stop leaves an empty cgroup; the next stop of
 * a daemon next to it removes it. */
TU_TEST(cli_stop_removes_the_empty_cgroups_of_daemons_that_are_gone)
{
    const char *tmp = tu_tmpdir();
    const char *pf1 = tu_fmt("%s/one.pid", tmp), *pf2 = tu_fmt("%s/two.pid", tmp);
    const char *dir1 = need_cgroup(pf1);
    struct tree t;
    start_tree(&t, pf1, NULL, NULL);
    tu_kill_and_wait(t.daemon, SIGKILL);
    TU_ASSERT(tu_path_exists(dir1)); /* its (stale) pidfile is still there */
    TU_ASSERT(unlink(pf1) == 0);
    struct tree t2;
    start_tree(&t2, pf2, NULL, NULL);
    /* (any stop next to it removes it: another test's may have already) */
    cli_result r = run("stop", pf2, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_MSG(!tu_path_exists(dir1), "the empty cgroup %s of a daemon that is gone stays", dir1);
}

/* A start killed between making the cgroup and marking it leaves it empty
 * and unmarked: the next start of that pidfile takes it over. */
TU_TEST(cli_start_takes_over_an_empty_unmarked_cgroup_of_its_pidfile)
{
    need_root();
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = need_cgroup(pf);
    TU_SYS(mkdir(dir, 0755));
    struct tree t;
    start_tree(&t, pf, NULL, NULL);
    TU_ASSERT_STR_EQ(cgroup_dir_of(t.daemon), dir);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT(!tu_path_exists(dir));
}

/* ---------------------------------------------------- the runtime directory */

/* Stop removes the runtime directory its start made, with what the daemon
 * (as nobody) put in it, the pidfile included. */
TU_TEST(cli_stop_removes_the_runtime_dir_its_start_made)
{
    need_root();
    const char *tmp = tu_tmpdir();
    const char *dir = tu_fmt("%s/run/svc", tmp);
    const char *pf = tu_fmt("%s/svc.pid", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--ready=fd:4");
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "/bin/sh");
    tu_cmd_arg(&c, "-c");
    tu_cmd_arg(&c, "mkdir \"$0/sub\" && echo x >\"$0/sub/file\" && ln -s /etc/passwd \"$0/link\" && echo >&4 && "
                   "exec sleep 100000");
    tu_cmd_arg(&c, "%s", dir);
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT(tu_path_exists(tu_fmt("%s/sub/file", dir)));
    cli_result r = run("stop", pf, "-v", NULL);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.err, tu_fmt("removed runtime directory %s", dir));
    expect_gone(pid, "the daemon");
    TU_ASSERT_MSG(!tu_path_exists(dir), "stop left %s", dir);
    TU_ASSERT(tu_path_exists("/etc/passwd"));
    TU_ASSERT(tu_path_exists(tu_fmt("%s/run", tmp))); /* the parent stays */
}

TU_TEST(cli_stop_leaves_a_runtime_dir_that_was_there_before_start)
{
    const char *dir = tu_fmt("%s/existing", tu_tmpdir());
    TU_SYS(mkdir(dir, 0755));
    tu_write_file(tu_fmt("%s/keep", dir), "kept\n", 0644);
    const char *pf = tu_fmt("%s/d.pid", dir);
    struct tree t;
    start_tree(&t, pf, (const char *const[]){tu_fmt("--runtime-dir=%s", dir), NULL}, NULL);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("%s/keep", dir)), "kept\n");
    TU_ASSERT(!tu_path_exists(pf));
}

/* What the daemon's user does not own stays, and so does the runtime
 * directory: one line says so, exit 4. */
TU_TEST(cli_stop_leaves_what_the_daemons_user_does_not_own_in_the_runtime_dir)
{
    need_root();
    const char *dir = tu_fmt("%s/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    struct tree t;
    start_tree(&t, pf, (const char *const[]){tu_fmt("--runtime-dir=%s", dir), "--user=nobody", NULL}, NULL);
    const char *foreign = tu_fmt("%s/roots", dir);
    TU_SYS(mkdir(foreign, 0755)); /* root's, as if moved there */
    tu_write_file(tu_fmt("%s/file", foreign), "root's\n", 0644);
    tu_write_file(tu_fmt("%s/nobodys", dir), "x\n", 0644);
    TU_SYS(chown(tu_fmt("%s/nobodys", dir), 65534, 65534));
    cli_result r = run("stop", pf, NULL, NULL);
    expect_error(&r, 4, dir, "not empty", (char *)NULL);
    expect_gone(t.daemon, "the daemon");
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("%s/file", foreign)), "root's\n");
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/nobodys", dir)));
}

/* The daemon is gone (SIGKILL: nothing cleaned up), its pidfile stale:
 * stop ends what it left and removes the runtime directory. (Supervised:
 * without, PROGRAM's children inherit its lock and keep the pidfile locked.) */
TU_TEST(cli_stop_of_a_stale_pidfile_ends_the_leftovers_and_removes_the_runtime_dir)
{
    const char *tmp = tu_tmpdir();
    const char *dir = tu_fmt("%s/svc", tmp);
    const char *pf = tu_fmt("%s/d.pid", dir);
    need_cgroup(tu_fmt("%s/probe.pid", tmp));
    struct tree t;
    start_tree(&t, pf, (const char *const[]){tu_fmt("--runtime-dir=%s", dir), "--supervise", NULL},
               (const char *const[]){"setsid-orphan", NULL});
    tu_kill_and_wait(t.daemon, SIGKILL);
    cli_result s = run("status", pf, "--json", NULL);
    TU_ASSERT_INT_EQ(s.code, 1); /* stale */
    expect_listed(s.out, &t.setsid_orphan, 1);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    expect_gone(t.setsid_orphan, "the orphan of the dead daemon");
    TU_ASSERT_MSG(!tu_path_exists(dir), "stop left %s", dir);
}

/* The runtime directory of a daemon that died stays; the next start of the
 * same pidfile takes it on (owner and mode again), and its stop removes it. */
TU_TEST(cli_start_adopts_the_runtime_dir_an_earlier_start_of_the_pidfile_made)
{
    need_root();
    const char *dir = tu_fmt("%s/svc", tu_tmpdir());
    const char *pf = tu_fmt("%s/d.pid", dir);
    struct tree t;
    start_tree(&t, pf, (const char *const[]){tu_fmt("--runtime-dir=%s", dir), "--user=nobody", NULL}, NULL);
    tu_kill_and_wait(t.daemon, SIGKILL);
    struct tree t2;
    start_tree(&t2, pf, (const char *const[]){tu_fmt("--runtime-dir=%s", dir), "--runtime-dir-mode=0700", NULL}, NULL);
    struct stat st;
    TU_SYS(stat(dir, &st));
    TU_ASSERT_INT_EQ(st.st_uid, 0);
    TU_ASSERT_INT_EQ(st.st_mode & 07777, 0700);
    cli_result r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    TU_ASSERT_MSG(!tu_path_exists(dir), "stop left %s", dir);
}

TU_TEST(cli_status_json_of_no_daemon_has_an_empty_tree)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    cli_result r = run("status", pf, "--json", NULL);
    TU_ASSERT_INT_EQ(r.code, 3);
    TU_ASSERT_STR_EQ(r.out, tu_fmt("{\"pidfile\":\"%s\",\"state\":\"not-running\",\"pid\":null,\"exit\":3,"
                                   "\"cgroup\":null,\"tree\":[]}\n",
                                   pf));
}

TU_TEST(cli_start_dry_run_and_verbose_say_how_the_tree_is_tracked)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = planned_cgroup(pf, NULL);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--cgroup=none");
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    TU_ASSERT_CONTAINS(r.out, "tree: process group, session and descendants, the supervisor a subreaper of what "
                              "PROGRAM orphans (no cgroup: --cgroup=none)\n");
    if (dir) {
        cli_cmd(&c, "start");
        tu_cmd_arg(&c, "--dry-run");
        tu_cmd_arg(&c, "--pidfile=%s", pf);
        tu_cmd_arg(&c, "%s", prog_path());
        r = cli_run(&c);
        TU_ASSERT_CONTAINS(r.out, tu_fmt("tree: cgroup %s (a cgroup of its own under this process's cgroup)\n", dir));
        TU_ASSERT(!tu_path_exists(dir));
    }
}

/* Under systemd without Delegate=yes the unit's cgroup already tracks the
 * tree: nothing is made there, the daemon stays in the invoker's cgroup,
 * stop goes without. */
TU_TEST(cli_start_under_systemd_without_delegation_makes_no_cgroup)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    const char *dir = planned_cgroup(pf, NULL);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_env(&c, "INVOCATION_ID=0123456789abcdef0123456789abcdef");
    tu_cmd_arg(&c, "--dry-run");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_success(&r);
    if (dir) /* (where no cgroup could be made anyway, another reason wins) */
        TU_ASSERT_CONTAINS(r.out, "(no cgroup: under systemd without Delegate=yes: the unit's cgroup tracks the tree)");
    cli_cmd(&c, "start");
    tu_cmd_env(&c, "INVOCATION_ID=0123456789abcdef0123456789abcdef");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "%s", prog_path());
    pid_t pid = start_daemon(&c, pf, NULL);
    TU_ASSERT_STR_EQ(cgroup_dir_of(pid), cgroup_dir_of(getpid()));
    if (dir)
        TU_ASSERT(!tu_path_exists(dir));
    r = run("stop", pf, NULL, NULL);
    expect_success(&r);
    expect_gone(pid, "the daemon");
}

/* A log that cannot be created (as nobody, in root's directory): one line
 * naming it, and nothing made: no runtime directory, no pidfile, no cgroup. */
TU_TEST(cli_start_with_an_unwritable_log_directory_leaves_nothing)
{
    need_root();
    const char *tmp = tu_tmpdir();
    const char *home = tu_fmt("%s/nobody", tmp), *logs = tu_fmt("%s/logs", tmp);
    TU_SYS(mkdir(home, 0755));
    TU_SYS(chown(home, 65534, 65534));
    TU_SYS(mkdir(logs, 0755));
    const char *pf = tu_fmt("%s/run/d.pid", home);
    tu_cmd c;
    cli_cmd_as_nobody(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--runtime-dir=%s/run", home);
    tu_cmd_arg(&c, "--stdout=%s/out.log", logs);
    tu_cmd_arg(&c, "%s", prog_path());
    cli_result r = cli_run(&c);
    expect_error(&r, 6, tu_fmt("%s/out.log", logs), strerror(EACCES), (char *)NULL);
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/run", home)));
    TU_ASSERT(!tu_path_exists(tu_fmt("%s/out.log", logs)));
    tu_assert_no_descendants();
}

TU_MAIN
