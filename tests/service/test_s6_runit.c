/*
 * A daemonctx-started program under Debian's real s6 and runit supervisors.
 *
 * The service directory's run script is the one an admin would write:
 *   exec daemonctx start --detach=no [--ready=fd:3] --pidfile=... -- PROGRAM
 * --detach=no because the supervisor must stay PROGRAM's parent; with
 * --ready=fd:3 and s6's notification-fd file, the fd s6 gave the run script
 * is passed through to PROGRAM, which writes its newline there.
 *
 * Synchronisation is on events only: PROGRAM announces "PID\n" on a FIFO the
 * test holds open (each run, so restarts are seen as they happen), and s6's
 * own s6-svwait / s6-svlisten1 wait on s6's event fifodir. The test process
 * is a child subreaper; s6-supervise/runsv and everything below them are
 * stopped through the supervisors, then killed by PID if anything is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

struct service {
    const char *dir;     /* the service directory */
    const char *pidfile; /* daemonctx's */
    const char *fifo;    /* where PROGRAM announces itself */
    int ann;             /* our end of it */
    pid_t supervisor;
};

static bool have(const char *tool)
{
    const char *dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (access(tu_fmt("%s/%s", dirs[i], tool), X_OK) == 0)
            return true;
    return false;
}

static const char *tool(const char *name)
{
    const char *dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        const char *p = tu_fmt("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return p;
    }
    TU_FAIL("%s not found", name);
}

/* A service directory whose run script starts svc-prog through daemonctx. */
static void make_service(struct service *s, bool s6_readiness)
{
    const char *tmp = tu_tmpdir();
    s->dir = tu_fmt("%s/svc", tmp);
    s->pidfile = tu_fmt("%s/svc.pid", tmp);
    s->fifo = tu_fmt("%s/announce", tmp);
    TU_SYS(mkdir(s->dir, 0755));
    TU_SYS(mkfifo(s->fifo, 0600));
    /* Read-write: never EOF between two runs of PROGRAM. */
    s->ann = (int)TU_SYS(open(s->fifo, O_RDWR | O_CLOEXEC));
    const char *ready = s6_readiness ? " --ready=fd:3" : "";
    const char *ready_prog = s6_readiness ? " --ready-fd=3" : "";
    tu_write_file(tu_fmt("%s/run", s->dir),
                   tu_fmt("#!/bin/sh\n"
                           "exec 2>&1\n"
                           "exec %s start --detach=no%s --pidfile=%s -- %s --announce=%s%s\n",
                           tu_env("DAEMONCTX"), ready, s->pidfile, tu_env("SVC_PROG"), s->fifo, ready_prog),
                   0755);
    if (s6_readiness)
        tu_write_file(tu_fmt("%s/notification-fd", s->dir), "3\n", 0644);
}

static pid_t next_run(struct service *s)
{
    char *line = tu_read_line(s->ann, tu_timeout_ms());
    TU_ASSERT_MSG(line, "the announce FIFO closed");
    pid_t pid = (pid_t)atoi(line);
    TU_ASSERT(pid > 0);
    return pid;
}

static void start_supervisor(struct service *s, const char *name)
{
    tu_cmd c;
    tu_cmd_init_command(&c, tool(name), s->dir, (const char *)NULL);
    tu_cmd_env(&c, "NOTIFY_SOCKET");
    tu_cmd_env(&c, "INVOCATION_ID");
    c.inherit_output = true;
    s->supervisor = tu_spawn(&c)->pid;
}

/* Run a tool to completion; its exit code must be 0. Returns its stdout. */
static const char *run_ok(const char *what, const char *arg0, ...)
{
    tu_cmd c;
    tu_cmd_init_command(&c, (const char *)NULL, (const char *)NULL);
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *))
        tu_cmd_arg(&c, "%s", a);
    va_end(ap);
    tu_result r = tu_run(&c);
    TU_ASSERT_MSG(TU_EXITED(r.status, 0), "%s: %s %s (stdout \"%s\", stderr \"%s\")", what, arg0,
                  tu_describe_status(r.status), r.out, r.err);
    return r.out;
}

static const char *daemonctx_status(const struct service *s, int expect_code)
{
    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("DAEMONCTX"), "status", "-p", s->pidfile, (const char *)NULL);
    tu_result r = tu_run(&c);
    TU_ASSERT_MSG(TU_EXITED(r.status, expect_code), "daemonctx status %s, expected exit %d: %s%s",
                  tu_describe_status(r.status), expect_code, r.out, r.err);
    return r.out;
}

static const char *timeout_ms_arg(void)
{
    return tu_fmt("%d", tu_timeout_ms());
}

static const char *timeout_s_arg(void)
{
    return tu_fmt("%d", tu_timeout_ms() / 1000);
}

/* s6-svc -dx: down, then s6-supervise exits; both must happen. */
static void s6_teardown(struct service *s, pid_t program)
{
    (void)run_ok("s6-svc -dx", tool("s6-svc"), "-dx", s->dir, (const char *)NULL);
    int st = tu_wait_pid(s->supervisor, tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(st, 0), "s6-supervise %s", tu_describe_status(st));
    TU_ASSERT_MSG(tu_wait_gone(program, tu_timeout_ms()), "PID %d outlived s6-supervise", (int)program);
}

static pid_t s6_up_and_ready(struct service *s)
{
    if (!have("s6-supervise"))
        tu_skip("s6 is not installed (Debian: apt-get install s6)");
    make_service(s, true);
    start_supervisor(s, "s6-supervise");
    pid_t pid = next_run(s);
    /* s6's own view: up and ready, as PROGRAM told it on notification-fd. */
    (void)run_ok("s6-svwait -U", tool("s6-svwait"), "-U", "-t", timeout_ms_arg(), s->dir, (const char *)NULL);
    const char *st = run_ok("s6-svstat", tool("s6-svstat"), "-o", "up,ready,pid", s->dir, (const char *)NULL);
    TU_ASSERT_STR_EQ(st, tu_fmt("true true %d\n", (int)pid));
    /* No fork: the process s6 started is PROGRAM, and it holds the pidfile. */
    TU_ASSERT_INT_EQ(tu_parent_of(pid), s->supervisor);
    TU_ASSERT_STR_EQ(daemonctx_status(s, 0), tu_fmt("running PID %d\n", (int)pid));
    return pid;
}

TU_TEST(s6_supervise_sees_daemonctx_program_ready_on_notification_fd)
{
    struct service s;
    pid_t pid = s6_up_and_ready(&s);
    s6_teardown(&s, pid);
}

TU_TEST(s6_supervise_restarts_killed_daemonctx_program_ready_again)
{
    struct service s;
    pid_t first = s6_up_and_ready(&s);
    /* s6-svlisten1 subscribes to the service's events, then runs the kill,
     * then waits for "restarted and ready". */
    (void)run_ok("s6-svlisten1 -R", tool("s6-svlisten1"), "-R", "-t", timeout_ms_arg(), s.dir, "/bin/sh", "-c",
                 tu_fmt("kill -KILL %d", (int)first), (const char *)NULL);
    pid_t second = next_run(&s);
    TU_ASSERT(second != first);
    TU_ASSERT(!tu_alive(first));
    const char *st = run_ok("s6-svstat", tool("s6-svstat"), "-o", "up,ready,pid", s.dir, (const char *)NULL);
    TU_ASSERT_STR_EQ(st, tu_fmt("true true %d\n", (int)second));
    /* The killed run left its pidfile unlocked: the new one took it over. */
    TU_ASSERT_STR_EQ(daemonctx_status(&s, 0), tu_fmt("running PID %d\n", (int)second));
    s6_teardown(&s, second);
}

TU_TEST(s6_svc_down_stops_daemonctx_program)
{
    struct service s;
    pid_t pid = s6_up_and_ready(&s);
    (void)run_ok("s6-svc -wD -d", tool("s6-svc"), "-wD", "-T", timeout_ms_arg(), "-d", s.dir, (const char *)NULL);
    TU_ASSERT_MSG(tu_wait_gone(pid, tu_timeout_ms()), "PID %d still runs after s6-svc -d", (int)pid);
    const char *st = run_ok("s6-svstat", tool("s6-svstat"), "-o", "up,wantedup", s.dir, (const char *)NULL);
    TU_ASSERT_STR_EQ(st, "false false\n");
    /* PROGRAM ran without --supervise: its lock is gone with it (the file
     * itself stays until the next start takes it over). */
    const char *status = daemonctx_status(&s, 1);
    TU_ASSERT_STR_EQ(status, tu_fmt("stale PID %d\n", (int)pid));
    s6_teardown(&s, pid);
}

/* ------------------------------------------------------------------- runit */

static void runit_teardown(struct service *s, pid_t program)
{
    (void)run_ok("sv exit", tool("sv"), "exit", s->dir, (const char *)NULL);
    int st = tu_wait_pid(s->supervisor, tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(st, 0), "runsv %s", tu_describe_status(st));
    TU_ASSERT_MSG(tu_wait_gone(program, tu_timeout_ms()), "PID %d outlived runsv", (int)program);
}

static pid_t runit_up(struct service *s)
{
    if (!have("runsv"))
        tu_skip("runit is not installed (Debian: apt-get install runit)");
    make_service(s, false);
    start_supervisor(s, "runsv");
    pid_t pid = next_run(s);
    TU_ASSERT_INT_EQ(tu_parent_of(pid), s->supervisor);
    /* runsv writes "run" into its status file only after the fork, so
     * PROGRAM can announce itself before runsv's own view catches up: let
     * runit's sv wait for it (runit has no event interface to subscribe to). */
    (void)run_ok("sv -w up", tool("sv"), "-w", timeout_s_arg(), "up", s->dir, (const char *)NULL);
    const char *st = run_ok("sv status", tool("sv"), "status", s->dir, (const char *)NULL);
    TU_ASSERT_MSG(strncmp(st, "run: ", 5) == 0 && strstr(st, tu_fmt("(pid %d)", (int)pid)),
                   "sv status: \"%s\", expected PID %d running", st, (int)pid);
    TU_ASSERT_STR_EQ(daemonctx_status(s, 0), tu_fmt("running PID %d\n", (int)pid));
    return pid;
}

TU_TEST(runsv_restarts_killed_daemonctx_program)
{
    struct service s;
    pid_t first = runit_up(&s);
    TU_SYS(kill(first, SIGKILL));
    pid_t second = next_run(&s);
    TU_ASSERT(second != first);
    TU_ASSERT_INT_EQ(tu_parent_of(second), s.supervisor);
    (void)run_ok("sv -w up", tool("sv"), "-w", timeout_s_arg(), "up", s.dir, (const char *)NULL);
    const char *st = run_ok("sv status", tool("sv"), "status", s.dir, (const char *)NULL);
    TU_ASSERT_MSG(strstr(st, tu_fmt("(pid %d)", (int)second)), "sv status: \"%s\"", st);
    TU_ASSERT_STR_EQ(daemonctx_status(&s, 0), tu_fmt("running PID %d\n", (int)second));
    runit_teardown(&s, second);
}

TU_TEST(runit_sv_down_stops_daemonctx_program)
{
    struct service s;
    pid_t pid = runit_up(&s);
    (void)run_ok("sv -w down", tool("sv"), "-w", timeout_s_arg(), "down", s.dir, (const char *)NULL);
    TU_ASSERT_MSG(tu_wait_gone(pid, tu_timeout_ms()), "PID %d still runs after sv down", (int)pid);
    const char *st = run_ok("sv status", tool("sv"), "status", s.dir, (const char *)NULL);
    TU_ASSERT_MSG(strncmp(st, "down: ", 6) == 0, "sv status: \"%s\"", st);
    runit_teardown(&s, pid);
}

TU_MAIN
