/*
 * The fallback paths, each forced for real.
 *
 * dcx-seccomp installs a seccomp filter that makes chosen system calls fail
 * with ENOSYS (an old kernel) or EPERM (a container profile), then execs the
 * daemon; the filter is inherited by every process the daemon forks. A
 * chroot without /proc takes away the second way of finding open fds. Each
 * test then checks from outside, in /proc/PID/fd, that the daemon holds
 * exactly the fds it should (stdio on /dev/null, the kept ones, the pidfile
 * lock), that the decoys are gone, and that the daemon works: the pidfile
 * names it, its lock is held, SIGTERM removes it.
 *
 * How the path taken shows: a decoy above the soft RLIMIT_NOFILE is closed by
 * close_range and by the /proc/self/fd walk, but a loop to the soft limit
 * cannot reach it.
 *
 * The library uses flock() for its pidfile, not OFD locks, so there is no
 * "no OFD locks" fallback to force.
 */
#include <daemonctx.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define REPORT_FD 9
#define KEEP_FD 6
#define SOFT_NOFILE 256
#define ABOVE_SOFT 600
static const int decoys_below[] = {3, 4, 5, 7, 8, 20, 200, SOFT_NOFILE - 1};

enum close_path { CLOSE_RANGE, PROC_WALK, RLIMIT_LOOP };

struct run {
    const char *dir, *pidfile, *kept_path, *jail;
    int report;     /* our end of the daemon's report pipe */
    pid_t invoker;
    pid_t daemon;
    int status;     /* the invoker's */
    const char *err; /* the invoker's stderr */
};

/* "dcx-seccomp --deny=... -- fb-daemon ARGS..." (no dcx-seccomp without DENY). */
static void fb_command(tu_cmd *c, const char *const *deny)
{
    tu_cmd_init_command(c, (const char *)NULL, (const char *)NULL);
    if (deny && deny[0]) {
        tu_cmd_arg(c, "%s", tu_env("DCX_SECCOMP"));
        for (const char *const *d = deny; *d; d++)
            tu_cmd_arg(c, "%s", tu_fmt("--deny=%s", *d));
        tu_cmd_arg(c, "%s", "--");
    }
    tu_cmd_arg(c, "%s", tu_env("FB_DAEMON"));
    tu_cmd_env(c, "NOTIFY_SOCKET");
    tu_cmd_env(c, "INVOCATION_ID");
    tu_cmd_env(c, "LISTEN_PID");
}

/* Start fb-daemon in MODE under DENY; returns once the invoker has ended. */
static void start(struct run *r, const char *const *deny, const char *mode, bool jail, const char *extra)
{
    memset(r, 0, sizeof *r);
    r->dir = tu_tmpdir();
    r->pidfile = tu_fmt("%s/fb.pid", r->dir);
    r->kept_path = tu_fmt("%s/kept", r->dir);
    tu_write_file(r->kept_path, "kept\n", 0644);
    int kept = (int)TU_SYS(open(r->kept_path, O_RDONLY | O_CLOEXEC));
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    r->report = p[0];

    tu_cmd c;
    fb_command(&c, deny);
    tu_cmd_arg(&c, "%s", tu_fmt("--pidfile=%s", r->pidfile));
    tu_cmd_arg(&c, "%s", tu_fmt("--report=%d", REPORT_FD));
    tu_cmd_arg(&c, "%s", tu_fmt("--keep=%d", KEEP_FD));
    tu_cmd_arg(&c, "%s", tu_fmt("--mode=%s", mode));
    for (size_t i = 0; i < sizeof decoys_below / sizeof decoys_below[0]; i++)
        tu_cmd_arg(&c, "%s", tu_fmt("--decoy=%d", decoys_below[i]));
    tu_cmd_arg(&c, "%s", tu_fmt("--decoy=%d", ABOVE_SOFT));
    tu_cmd_arg(&c, "%s", tu_fmt("--nofile=%d", SOFT_NOFILE));
    if (jail) {
        if (!tu_is_root())
            tu_skip("a chroot needs root");
        /* An empty directory: no /proc, no /dev (the library opens /dev/null
         * before the chroot). */
        r->jail = tu_fmt("%s/jail", r->dir);
        TU_SYS(mkdir(r->jail, 0755));
        tu_cmd_arg(&c, "%s", tu_fmt("--chroot=%s", r->jail));
    }
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    tu_cmd_fd(&c, REPORT_FD, p[1]);
    tu_cmd_fd(&c, KEEP_FD, kept);
    tu_proc *inv = tu_spawn(&c);
    r->invoker = inv->pid;
    (void)close(p[1]);
    (void)close(kept);
    tu_result res = tu_finish(inv, tu_now_ms() + tu_timeout_ms());
    r->status = res.status;
    r->err = res.err;
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == TU_SKIP_CODE)
        tu_skip("%s", r->err);
}

static pid_t read_daemon_pid(struct run *r)
{
    char *line = tu_read_line(r->report, tu_timeout_ms());
    TU_ASSERT_MSG(line, "the daemon never reported its PID (invoker %s: %s)", tu_describe_status(r->status), r->err);
    r->daemon = (pid_t)atoi(line);
    TU_ASSERT(r->daemon > 0);
    return r->daemon;
}

static void expect_up(struct run *r)
{
    TU_ASSERT_MSG(TU_EXITED(r->status, 0), "the invoker %s: %s", tu_describe_status(r->status), r->err);
    (void)read_daemon_pid(r);
    TU_ASSERT(tu_alive(r->daemon));
}

static const char *dirname_of(const char *path)
{
    char *d = tu_fmt("%s", path);
    *strrchr(d, '/') = '\0';
    return d;
}

/* /proc/PID/fd: stdio on /dev/null, the report pipe, the kept file, the
 * pidfile's lock (and its directory), nothing else. */
static void expect_exact_fds(const struct run *r, enum close_path path)
{
    tu_fdtable l;
    TU_ASSERT_MSG(tu_fd_table(r->daemon, &l), "the daemon %d is gone", (int)r->daemon);
    size_t pidfile_fds = 0;
    for (size_t i = 0; i < l.n; i++) {
        int fd = l.ent[i].fd;
        const char *t = l.ent[i].target, *link = tu_fmt("fd/%d", fd);
        tu_log("daemon fd %d -> %s", fd, t);
        if (fd <= 2) {
            TU_ASSERT_PROC_IS(r->daemon, link, "/dev/null");
        } else if (fd == REPORT_FD) {
            TU_ASSERT_MSG(strncmp(t, "pipe:", 5) == 0, "fd %d -> %s, expected the report pipe", fd, t);
        } else if (fd == KEEP_FD) {
            TU_ASSERT_PROC_IS(r->daemon, link, r->kept_path);
        } else if (tu_proc_is(r->daemon, link, r->pidfile) || tu_proc_is(r->daemon, link, dirname_of(r->pidfile))) {
            pidfile_fds++;
        } else if (fd == ABOVE_SOFT && path == RLIMIT_LOOP) {
            /* Out of the loop's reach: the mark that the loop ran. */
            tu_log("fd %d above the soft limit %d stayed open: the RLIMIT_NOFILE loop ran", fd, SOFT_NOFILE);
        } else {
            TU_FAIL("the daemon still holds fd %d -> %s", fd, t);
        }
    }
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_MSG(tu_fd_target(&l, fd), "fd %d is closed", fd);
    TU_ASSERT_MSG(tu_fd_target(&l, REPORT_FD), "the kept report fd %d was closed", REPORT_FD);
    TU_ASSERT_MSG(tu_fd_target(&l, KEEP_FD), "the kept fd %d was closed", KEEP_FD);
    TU_ASSERT_MSG(pidfile_fds >= 1 && pidfile_fds <= 2, "%zu fds on the pidfile and its directory", pidfile_fds);
    if (path == RLIMIT_LOOP)
        TU_ASSERT_MSG(tu_fd_target(&l, ABOVE_SOFT),
                       "fd %d (above the soft limit) was closed: the loop did not run, close_range or /proc did",
                       ABOVE_SOFT);
}

/* The daemon works: its pidfile names it and is locked; SIGTERM ends it
 * through the terminate action, which removes the pidfile (from inside a
 * chroot too). */
static void expect_working_then_stop(struct run *r)
{
    TU_ASSERT_STR_EQ(tu_read_file(r->pidfile), tu_fmt("%d\n", (int)r->daemon));
    pid_t pid = 0;
    daemonctx_error err;
    TU_ASSERT_INT_EQ(daemonctx_pidfile_inspect(r->pidfile, &pid, &err), DAEMONCTX_PIDFILE_RUNNING);
    TU_ASSERT_INT_EQ(pid, r->daemon);
    TU_ASSERT_INT_EQ(tu_parent_of(r->daemon), getpid()); /* our child: we are the subreaper */
    TU_SYS(kill(r->daemon, SIGTERM));
    int st = tu_wait_pid(r->daemon, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", tu_describe_status(st));
    TU_ASSERT_MSG(!tu_path_exists(r->pidfile), "pidfile %s left behind", r->pidfile);
}

static void close_fds_case(const char *deny_spec, bool jail, enum close_path path)
{
    const char *deny[] = {deny_spec, NULL};
    struct run r;
    start(&r, deny, "open", jail, NULL);
    expect_up(&r);
    expect_exact_fds(&r, path);
    expect_working_then_stop(&r);
}

TU_TEST(seccomp_filter_makes_calls_fail_with_enosys_and_eperm)
{
    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("DCX_SECCOMP"), "--deny=close_range:ENOSYS", "--deny=pidfd_open:EPERM", "--probe",
                 (const char *)NULL);
    tu_result res = tu_run(&c);
    int st = res.status;
    const char *out = res.out, *err = res.err;
    if (TU_EXITED(st, TU_SKIP_CODE))
        tu_skip("%s", err);
    TU_ASSERT_MSG(TU_EXITED(st, 0), "dcx-seccomp %s: %s", tu_describe_status(st), err);
    TU_ASSERT_STR_EQ(out, "close_range=ENOSYS\npidfd_open=EPERM\n");
}

/* The control: nothing denied, close_range closes all but the kept fds. */
TU_TEST(close_fds_with_close_range_closes_all_not_kept)
{
    close_fds_case(NULL, false, CLOSE_RANGE);
}

TU_TEST(close_fds_walks_proc_when_close_range_is_enosys)
{
    close_fds_case("close_range:ENOSYS", false, PROC_WALK);
}

TU_TEST(close_fds_walks_proc_when_close_range_is_eperm)
{
    close_fds_case("close_range:EPERM", false, PROC_WALK);
}

TU_TEST(close_fds_loops_to_rlimit_when_close_range_is_enosys_and_no_proc)
{
    close_fds_case("close_range:ENOSYS", true, RLIMIT_LOOP);
}

TU_TEST(close_fds_loops_to_rlimit_when_close_range_is_eperm_and_no_proc)
{
    close_fds_case("close_range:EPERM", true, RLIMIT_LOOP);
}

/* No pidfd: a daemon that dies before it is ready is still reported with
 * its exit status (the invoker's blocking waitpid), and nothing is left. */
static void death_without_pidfd(const char *deny_spec)
{
    const char *deny[] = {deny_spec, NULL};
    struct run r;
    start(&r, deny, "die-before-ready", false, NULL);
    TU_ASSERT_MSG(TU_EXITED(r.status, 1), "the invoker %s: %s", tu_describe_status(r.status), r.err);
    pid_t pid = read_daemon_pid(&r);
    TU_ASSERT_STR_EQ(r.err, tu_fmt("fb-daemon: died: daemon PID %d exited with status 7 before it was ready\n",
                                     (int)pid));
    TU_ASSERT_MSG(!tu_path_exists(r.pidfile), "pidfile left behind");
    TU_ASSERT(!tu_alive(pid));
}

TU_TEST(invoker_reports_death_before_ready_with_pidfd)
{
    death_without_pidfd(NULL);
}

TU_TEST(invoker_reports_death_before_ready_when_pidfd_open_is_enosys)
{
    death_without_pidfd("pidfd_open:ENOSYS");
}

TU_TEST(invoker_reports_death_before_ready_when_pidfd_open_is_eperm)
{
    death_without_pidfd("pidfd_open:EPERM");
}

/* No pidfd: the daemon's own error still comes back, the daemon is reaped. */
TU_TEST(invoker_reports_daemon_error_when_pidfd_open_is_enosys)
{
    const char *deny[] = {"pidfd_open:ENOSYS", NULL};
    struct run r;
    start(&r, deny, "error-before-ready", false, NULL);
    TU_ASSERT_MSG(TU_EXITED(r.status, 1), "the invoker %s: %s", tu_describe_status(r.status), r.err);
    pid_t pid = read_daemon_pid(&r);
    TU_ASSERT_STR_EQ(r.err, tu_fmt("fb-daemon: application: fb-daemon %d: the port is taken\n", (int)pid));
    TU_ASSERT_MSG(!tu_path_exists(r.pidfile), "pidfile left behind");
    TU_ASSERT(!tu_alive(pid));
}

/* A daemon that never gets ready is killed at the timeout, and open() fails
 * then - with or without a pidfd to wait on. The invoker must end within
 * the timeout plus a margin, not whenever the daemon chooses to. */
static void timeout_kills(const char *deny_spec)
{
    const char *deny[] = {deny_spec, NULL};
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/fb.pid", dir);
    tu_cmd c;
    fb_command(&c, deny);
    tu_cmd_arg(&c, "%s", tu_fmt("--pidfile=%s", pidfile));
    tu_cmd_arg(&c, "%s", tu_fmt("--report=%d", REPORT_FD));
    tu_cmd_arg(&c, "%s", "--mode=never-ready");
    tu_cmd_arg(&c, "%s", "--timeout-ms=300");
    tu_cmd_fd(&c, REPORT_FD, p[1]);
    int64_t t0 = tu_now_ms();
    tu_proc *invoker = tu_spawn(&c);
    (void)close(p[1]);
    char *line = tu_read_line(p[0], tu_timeout_ms());
    TU_ASSERT(line);
    pid_t daemon = (pid_t)atoi(line);
    /* 300 ms of timeout; 5 s (times the time scale) is plenty for the kill
     * and the reap, and far from "whenever the daemon chooses". */
    int margin = tu_timeout_ms() / 3;
    TU_ASSERT_MSG(tu_wait_gone(invoker->pid, margin),
                  "open() did not return within %d ms of a 300 ms timeout (daemon PID %d still %s)", margin,
                  (int)daemon, tu_alive(daemon) ? "alive: nobody killed it" : "gone");
    tu_result res = tu_finish(invoker, tu_now_ms() + tu_timeout_ms());
    const char *err = res.err;
    tu_log("invoker ended after %lld ms: %s", (long long)(tu_now_ms() - t0), err);
    TU_ASSERT_MSG(TU_EXITED(res.status, 1), "the invoker %s: %s", tu_describe_status(res.status), err);
    TU_ASSERT_CONTAINS(err, tu_fmt("daemon PID %d was not ready within 0.3 seconds; it was killed", (int)daemon));
    TU_ASSERT_MSG(!tu_alive(daemon), "the unready daemon PID %d was left running", (int)daemon);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "pidfile left behind");
}

TU_TEST(invoker_kills_unready_daemon_at_timeout_with_pidfd)
{
    timeout_kills(NULL);
}

TU_TEST(invoker_kills_unready_daemon_at_timeout_when_pidfd_open_is_enosys)
{
    timeout_kills("pidfd_open:ENOSYS");
}

/* The command, black-box, without close_range: PROGRAM gets stdio, the
 * pidfile lock and nothing else of what daemonctx inherited. */
static void cli_without_close_range(const char *deny_spec)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/cli.pid", dir);
    const char *fifo = tu_fmt("%s/announce", dir);
    TU_SYS(mkfifo(fifo, 0600));
    int ann = (int)TU_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    int decoy = (int)TU_SYS(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("DCX_SECCOMP"), tu_fmt("--deny=%s", deny_spec), "--", tu_env("DAEMONCTX"), "start",
                 tu_fmt("--pidfile=%s", pidfile), "--", tu_env("SVC_PROG"), tu_fmt("--announce=%s", fifo),
                 (const char *)NULL);
    tu_cmd_env(&c, "NOTIFY_SOCKET");
    tu_cmd_env(&c, "INVOCATION_ID");
    const int decoys[] = {4, 5, 7, 33, 250};
    for (size_t i = 0; i < sizeof decoys / sizeof decoys[0]; i++)
        tu_cmd_fd(&c, decoys[i], decoy);
    tu_result res = tu_run(&c);
    int st = res.status;
    const char *err = res.err;
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx start %s: %s", tu_describe_status(st), err);
    char *line = tu_read_line(ann, tu_timeout_ms());
    TU_ASSERT(line);
    pid_t pid = (pid_t)atoi(line);
    tu_fdtable l;
    TU_ASSERT_MSG(tu_fd_table(pid, &l), "PROGRAM %d is gone", (int)pid);
    bool lock = false;
    for (size_t i = 0; i < l.n; i++) {
        const char *link = tu_fmt("fd/%d", l.ent[i].fd);
        tu_log("program fd %d -> %s", l.ent[i].fd, l.ent[i].target);
        if (l.ent[i].fd <= 2)
            TU_ASSERT_PROC_IS(pid, link, "/dev/null");
        else if (tu_proc_is(pid, link, pidfile))
            lock = true;
        else if (tu_proc_is(pid, link, fifo))
            continue; /* svc-prog's own, opened after exec */
        else
            TU_FAIL("PROGRAM inherited fd %d -> %s", l.ent[i].fd, l.ent[i].target);
    }
    TU_ASSERT_MSG(lock, "PROGRAM does not hold the pidfile lock");
    tu_cmd s;
    tu_cmd_init_command(&s, tu_env("DAEMONCTX"), "stop", tu_fmt("--pidfile=%s", pidfile), (const char *)NULL);
    res = tu_run(&s);
    st = res.status;
    err = res.err;
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx stop %s: %s", tu_describe_status(st), err);
    TU_ASSERT_MSG(tu_wait_gone(pid, tu_timeout_ms()), "PROGRAM %d outlived stop", (int)pid);
}

TU_TEST(cli_start_closes_inherited_fds_when_close_range_is_enosys)
{
    cli_without_close_range("close_range:ENOSYS");
}

TU_TEST(cli_start_closes_inherited_fds_when_close_range_is_eperm)
{
    cli_without_close_range("close_range:EPERM");
}

/* `daemonctx stop` without pidfds: it signals the PID (after the same
 * checks) and learns of the end from the pidfile's lock, released by the
 * dying program, not from a sleep loop. */
static void cli_stop_without_pidfd(const char *deny_spec)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/stop.pid", dir);
    const char *fifo = tu_fmt("%s/announce", dir);
    TU_SYS(mkfifo(fifo, 0600));
    int ann = (int)TU_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("DAEMONCTX"), "start", tu_fmt("--pidfile=%s", pidfile), "--", tu_env("SVC_PROG"),
                 tu_fmt("--announce=%s", fifo), (const char *)NULL);
    tu_cmd_env(&c, "NOTIFY_SOCKET");
    tu_cmd_env(&c, "INVOCATION_ID");
    tu_result res = tu_run(&c);
    int st = res.status;
    const char *err = res.err;
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx start %s: %s", tu_describe_status(st), err);
    char *line = tu_read_line(ann, tu_timeout_ms());
    TU_ASSERT(line);
    pid_t pid = (pid_t)atoi(line);
    TU_ASSERT(tu_alive(pid));

    tu_cmd s;
    tu_cmd_init_command(&s, tu_env("DCX_SECCOMP"), tu_fmt("--deny=%s", deny_spec), "--", tu_env("DAEMONCTX"), "stop",
                 "--verbose", tu_fmt("--pidfile=%s", pidfile), (const char *)NULL);
    res = tu_run(&s);
    st = res.status;
    err = res.err;
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx stop %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, "no pidfd");
    TU_ASSERT_CONTAINS(err, "stopped");
    /* stop learnt of the end from the lock, which the daemon lets go while
     * it exits, a moment before it has exited */
    TU_ASSERT_MSG(tu_wait_gone(pid, tu_timeout_ms()), "the daemon %d outlived stop", (int)pid);
    TU_ASSERT(!tu_path_exists(pidfile));
}

TU_TEST(cli_stop_without_pidfd_waits_on_the_lock_when_pidfd_open_is_enosys)
{
    cli_stop_without_pidfd("pidfd_open:ENOSYS");
}

TU_TEST(cli_stop_without_pidfd_waits_on_the_lock_when_pidfd_open_is_eperm)
{
    cli_stop_without_pidfd("pidfd_open:EPERM");
}

/* ------------------------------------------- the command's waits without pidfds
 *
 * `start --ready=fd:N|notify` (the invoker waits for the daemon, its child as
 * the subreaper) and `start --supervise` (the supervisor watches PROGRAM, its
 * child) take SIGCHLD through a signalfd instead of a pidfd. PROGRAM is
 * svc-prog, which announces "PID\n" on a FIFO before it says it is ready. */

/* `dcx-seccomp --deny=DENY -- daemonctx start --verbose --pidfile=PIDFILE`;
 * the caller adds the rest. */
static void cli_start(tu_cmd *c, const char *deny_spec, const char *pidfile)
{
    tu_cmd_init_command(c, tu_env("DCX_SECCOMP"), tu_fmt("--deny=%s", deny_spec), "--", tu_env("DAEMONCTX"), "start",
                 "--verbose", tu_fmt("--pidfile=%s", pidfile), (const char *)NULL);
    tu_cmd_env(c, "NOTIFY_SOCKET");
    tu_cmd_env(c, "INVOCATION_ID");
}

/* "-- svc-prog --announce=FIFO [ARG]" */
static void svc_prog(tu_cmd *c, const char *fifo, const char *arg)
{
    tu_cmd_arg(c, "%s", "--");
    tu_cmd_arg(c, "%s", tu_env("SVC_PROG"));
    tu_cmd_arg(c, "%s", tu_fmt("--announce=%s", fifo));
    if (arg)
        tu_cmd_arg(c, "%s", arg);
}

/* A FIFO for --announce, held open by us for reading and writing: svc-prog's
 * open never blocks and its lines wait until we read them. */
static int announce_fifo(const char *path)
{
    TU_SYS(mkfifo(path, 0600));
    return (int)TU_SYS(open(path, O_RDWR | O_CLOEXEC));
}

static pid_t read_pid(int fd)
{
    char *line = tu_read_line(fd, tu_timeout_ms());
    TU_ASSERT_MSG(line, "PROGRAM never announced itself");
    pid_t pid = (pid_t)atoi(line);
    TU_ASSERT(pid > 0);
    return pid;
}

static int finish(tu_proc *p, const char **err)
{
    tu_result r = tu_finish(p, tu_now_ms() + tu_timeout_ms());
    *err = r.err;
    if (TU_EXITED(r.status, TU_SKIP_CODE))
        tu_skip("%s", r.err);
    return r.status;
}

static int run(tu_cmd *c, const char **err)
{
    return finish(tu_spawn(c), err);
}

/* Reaped: no /proc entry left, not even a zombie's. */
static bool reaped(pid_t pid)
{
    return !tu_path_exists(tu_fmt("/proc/%d", (int)pid));
}

static pid_t pidfile_pid(const char *pidfile)
{
    char *content = tu_read_file(pidfile);
    TU_ASSERT_MSG(content, "pidfile %s: %s", pidfile, strerror(errno));
    pid_t pid = (pid_t)atoi(content);
    TU_ASSERT_STR_EQ(content, tu_fmt("%d\n", (int)pid));
    return pid;
}

/* Nothing left running below us: we are a subreaper, every orphan is ours. */
static void expect_no_children(void)
{
    DIR *d = opendir("/proc");
    TU_ASSERT(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || tu_parent_of((pid_t)pid) != getpid())
            continue;
        char *comm = tu_read_file(tu_fmt("/proc/%ld/comm", pid));
        (void)closedir(d);
        TU_FAIL("PID %ld (%s) was left behind", pid, comm ? comm : "?");
    }
    (void)closedir(d);
}

static void expect_nothing_left(const char *pidfile, pid_t program)
{
    TU_ASSERT_MSG(reaped(program), "PROGRAM PID %d was left behind", (int)program);
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "pidfile %s was left behind", pidfile);
    expect_no_children();
}

/* `daemonctx stop` (without pidfds too) ends the daemon, our child since the
 * invoker left, with SIGTERM. */
static void stop_daemon(const char *deny_spec, const char *pidfile, pid_t daemon)
{
    tu_cmd s;
    tu_cmd_init_command(&s, tu_env("DCX_SECCOMP"), tu_fmt("--deny=%s", deny_spec), "--", tu_env("DAEMONCTX"), "stop",
                 "--verbose", tu_fmt("--pidfile=%s", pidfile), (const char *)NULL);
    const char *err;
    int st = run(&s, &err);
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx stop %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, "no pidfd");
    st = tu_wait_pid(daemon, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", tu_describe_status(st));
}

/* --ready=READY: start exits 0 only once PROGRAM is ready. svc-prog opens its
 * --announce FIFO before it says it is ready, and that open blocks until we
 * open the FIFO too: the gate. Once the invoker says it waits without a pidfd
 * it must still be waiting, however long the gate stays shut. */
static void cli_ready_waits(const char *deny_spec, const char *ready)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/ready.pid", dir);
    const char *gate = tu_fmt("%s/gate", dir);
    TU_SYS(mkfifo(gate, 0600));
    tu_cmd c;
    cli_start(&c, deny_spec, pidfile);
    tu_cmd_arg(&c, "%s", tu_fmt("--ready=%s", ready));
    tu_cmd_arg(&c, "%s", "--timeout=30");
    svc_prog(&c, gate, strcmp(ready, "notify") == 0 ? "--sd-notify" : tu_fmt("--ready-fd=%s", ready + 3));
    tu_proc *p = tu_spawn(&c);
    pid_t invoker = p->pid;
    const char *err;
    for (;;) {
        char *line = tu_read_line(p->err, tu_timeout_ms());
        if (!line) {
            int st = finish(p, &err);
            TU_FAIL("daemonctx start %s without saying \"no pidfd\": %s", tu_describe_status(st), err);
        }
        tu_log("daemonctx start: %s", line);
        if (strstr(line, "no pidfd"))
            break;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    TU_SYS(waitid(P_PID, (id_t)invoker, &si, WEXITED | WNOHANG | WNOWAIT));
    TU_ASSERT_MSG(si.si_pid == 0, "daemonctx start ended while PROGRAM could not be ready yet");

    int ann = (int)TU_SYS(open(gate, O_RDWR | O_CLOEXEC));
    pid_t pid = read_pid(ann);
    int st = finish(p, &err);
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx start %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, tu_fmt("(PID %d) is ready", (int)pid));
    TU_ASSERT_MSG(tu_alive(pid), "the ready PROGRAM PID %d is not running", (int)pid);
    TU_ASSERT_INT_EQ(tu_parent_of(pid), getpid()); /* detached: orphaned to us, the subreaper */
    TU_ASSERT_INT_EQ(pidfile_pid(pidfile), pid);

    stop_daemon(deny_spec, pidfile, pid);
    expect_nothing_left(pidfile, pid);
}

TU_TEST(cli_ready_fd_without_pidfd_waits_for_readiness_when_pidfd_open_is_enosys)
{
    cli_ready_waits("pidfd_open:ENOSYS", "fd:5");
}

TU_TEST(cli_ready_fd_without_pidfd_waits_for_readiness_when_pidfd_open_is_eperm)
{
    cli_ready_waits("pidfd_open:EPERM", "fd:5");
}

TU_TEST(cli_ready_notify_without_pidfd_waits_for_readiness_when_pidfd_open_is_enosys)
{
    cli_ready_waits("pidfd_open:ENOSYS", "notify");
}

TU_TEST(cli_ready_notify_without_pidfd_waits_for_readiness_when_pidfd_open_is_eperm)
{
    cli_ready_waits("pidfd_open:EPERM", "notify");
}

/* PROGRAM exits 3 before it is ready: exit 8 with its status, at once (the
 * harness allows 15 s, --timeout is 30), nothing left. With notify only
 * SIGCHLD can tell; with fd:N the end of file comes first, then the wait for
 * the exit. */
static void cli_ready_death(const char *deny_spec, const char *ready)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/death.pid", dir);
    const char *fifo = tu_fmt("%s/announce", dir);
    int ann = announce_fifo(fifo);
    tu_cmd c;
    cli_start(&c, deny_spec, pidfile);
    tu_cmd_arg(&c, "%s", tu_fmt("--ready=%s", ready));
    tu_cmd_arg(&c, "%s", "--timeout=30");
    svc_prog(&c, fifo, "--exit-after-ready=3");
    const char *err;
    int st = run(&c, &err);
    pid_t pid = read_pid(ann);
    TU_ASSERT_MSG(TU_EXITED(st, 8), "daemonctx start %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, "no pidfd");
    TU_ASSERT_CONTAINS(err, tu_fmt("(PID %d) exited with status 3 before it was ready", (int)pid));
    expect_nothing_left(pidfile, pid);
}

TU_TEST(cli_ready_fd_without_pidfd_reports_death_before_ready_when_pidfd_open_is_enosys)
{
    cli_ready_death("pidfd_open:ENOSYS", "fd:5");
}

TU_TEST(cli_ready_fd_without_pidfd_reports_death_before_ready_when_pidfd_open_is_eperm)
{
    cli_ready_death("pidfd_open:EPERM", "fd:5");
}

TU_TEST(cli_ready_notify_without_pidfd_reports_death_before_ready_when_pidfd_open_is_enosys)
{
    cli_ready_death("pidfd_open:ENOSYS", "notify");
}

TU_TEST(cli_ready_notify_without_pidfd_reports_death_before_ready_when_pidfd_open_is_eperm)
{
    cli_ready_death("pidfd_open:EPERM", "notify");
}

/* PROGRAM never says it is ready: exit 9 at --timeout, PROGRAM killed. */
static void cli_ready_timeout(const char *deny_spec)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/timeout.pid", dir);
    const char *fifo = tu_fmt("%s/announce", dir);
    int ann = announce_fifo(fifo);
    tu_cmd c;
    cli_start(&c, deny_spec, pidfile);
    tu_cmd_arg(&c, "%s", "--ready=fd:5");
    tu_cmd_arg(&c, "%s", "--timeout=0.5");
    svc_prog(&c, fifo, NULL);
    tu_proc *p = tu_spawn(&c);
    pid_t pid = read_pid(ann);
    const char *err;
    int st = finish(p, &err);
    TU_ASSERT_MSG(TU_EXITED(st, 9), "daemonctx start %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, "no pidfd");
    TU_ASSERT_CONTAINS(err, tu_fmt("(PID %d) was not ready within 0.5 seconds; it was killed", (int)pid));
    expect_nothing_left(pidfile, pid);
}

TU_TEST(cli_ready_fd_without_pidfd_kills_program_at_timeout_when_pidfd_open_is_enosys)
{
    cli_ready_timeout("pidfd_open:ENOSYS");
}

TU_TEST(cli_ready_fd_without_pidfd_kills_program_at_timeout_when_pidfd_open_is_eperm)
{
    cli_ready_timeout("pidfd_open:EPERM");
}

struct supervised {
    const char *pidfile, *log;
    int ann;
    pid_t supervisor, program;
};

/* `start --supervise ARGS... -- svc-prog`, exit 0; the supervisor says on its
 * stderr (LOG) that it watches PROGRAM without a pidfd. */
static void start_supervised(struct supervised *s, const char *deny_spec, const char *const *args)
{
    const char *dir = tu_tmpdir();
    const char *fifo = tu_fmt("%s/announce", dir);
    s->pidfile = tu_fmt("%s/sup.pid", dir);
    s->log = tu_fmt("%s/sup.err", dir);
    s->ann = announce_fifo(fifo);
    tu_cmd c;
    cli_start(&c, deny_spec, s->pidfile);
    tu_cmd_arg(&c, "%s", tu_fmt("--stderr=%s", s->log));
    tu_cmd_arg(&c, "%s", "--supervise");
    for (const char *const *a = args; *a; a++)
        tu_cmd_arg(&c, "%s", *a);
    svc_prog(&c, fifo, NULL);
    const char *err;
    int st = run(&c, &err);
    TU_ASSERT_MSG(TU_EXITED(st, 0), "daemonctx start %s: %s", tu_describe_status(st), err);
    s->program = read_pid(s->ann);
    s->supervisor = pidfile_pid(s->pidfile);
    TU_ASSERT(s->supervisor != s->program);
    TU_ASSERT_INT_EQ(tu_parent_of(s->program), s->supervisor);
    TU_ASSERT_INT_EQ(tu_parent_of(s->supervisor), getpid());
    TU_ASSERT_CONTAINS(tu_read_file(s->log), tu_fmt("no pidfd (%s): watching PID %d through SIGCHLD",
                                                       strstr(deny_spec, "ENOSYS") ? strerror(ENOSYS)
                                                                                   : strerror(EPERM),
                                                       (int)s->program));
}

/* A killed PROGRAM is restarted (a new PID, the same supervisor in the
 * pidfile); SIGTERM to the supervisor is passed on and ends both, no
 * restart after it. */
static void cli_supervise_restarts(const char *deny_spec)
{
    const char *const args[] = {"--restart", "--restart-delay=0.1", NULL};
    struct supervised s;
    start_supervised(&s, deny_spec, args);
    TU_SYS(kill(s.program, SIGKILL));
    pid_t again = read_pid(s.ann);
    TU_ASSERT(again != s.program);
    TU_ASSERT_MSG(reaped(s.program), "the killed PROGRAM PID %d was not reaped", (int)s.program);
    TU_ASSERT_INT_EQ(tu_parent_of(again), s.supervisor);
    TU_ASSERT_INT_EQ(pidfile_pid(s.pidfile), s.supervisor);
    /* Said once, not at every start. */
    const char *log = tu_read_file(s.log);
    TU_ASSERT_MSG(!strstr(strstr(log, "no pidfd") + 1, "no pidfd"), "said more than once: %s", log);

    TU_SYS(kill(s.supervisor, SIGTERM));
    int st = tu_wait_pid(s.supervisor, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the supervisor %s", tu_describe_status(st));
    expect_nothing_left(s.pidfile, again);
}

TU_TEST(cli_supervise_without_pidfd_restarts_killed_program_when_pidfd_open_is_enosys)
{
    cli_supervise_restarts("pidfd_open:ENOSYS");
}

TU_TEST(cli_supervise_without_pidfd_restarts_killed_program_when_pidfd_open_is_eperm)
{
    cli_supervise_restarts("pidfd_open:EPERM");
}

/* `daemonctx stop` names the supervisor; it forwards SIGTERM, PROGRAM dies
 * of it, the supervisor too; nothing is left. */
static void cli_stop_supervised(const char *deny_spec)
{
    const char *const args[] = {NULL};
    struct supervised s;
    start_supervised(&s, deny_spec, args);
    stop_daemon(deny_spec, s.pidfile, s.supervisor);
    expect_nothing_left(s.pidfile, s.program);
}

TU_TEST(cli_stop_without_pidfd_stops_supervisor_and_program_when_pidfd_open_is_enosys)
{
    cli_stop_supervised("pidfd_open:ENOSYS");
}

TU_TEST(cli_stop_without_pidfd_stops_supervisor_and_program_when_pidfd_open_is_eperm)
{
    cli_stop_supervised("pidfd_open:EPERM");
}

/* The supervisor's own readiness waits: PROGRAM exits 3 before it is ready
 * (--ready=fd:N: end of file, then the exit), or never says it is ready
 * (--ready=notify, --timeout). */
static void cli_supervise_not_ready(const char *deny_spec, const char *ready, const char *timeout,
                                    const char *prog_arg, int code, const char *message)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/sup.pid", dir);
    const char *log = tu_fmt("%s/sup.err", dir);
    const char *fifo = tu_fmt("%s/announce", dir);
    int ann = announce_fifo(fifo);
    tu_cmd c;
    cli_start(&c, deny_spec, pidfile);
    tu_cmd_arg(&c, "%s", tu_fmt("--stderr=%s", log));
    tu_cmd_arg(&c, "%s", "--supervise");
    tu_cmd_arg(&c, "%s", tu_fmt("--ready=%s", ready));
    tu_cmd_arg(&c, "%s", tu_fmt("--timeout=%s", timeout));
    svc_prog(&c, fifo, prog_arg);
    tu_proc *p = tu_spawn(&c);
    pid_t pid = read_pid(ann);
    const char *err;
    int st = finish(p, &err);
    TU_ASSERT_MSG(TU_EXITED(st, code), "daemonctx start %s: %s", tu_describe_status(st), err);
    TU_ASSERT_CONTAINS(err, tu_fmt("(PID %d) %s", (int)pid, message));
    TU_ASSERT_CONTAINS(tu_read_file(log), "no pidfd");
    expect_nothing_left(pidfile, pid);
}

TU_TEST(cli_supervise_ready_fd_without_pidfd_reports_death_before_ready_when_pidfd_open_is_enosys)
{
    cli_supervise_not_ready("pidfd_open:ENOSYS", "fd:5", "30", "--exit-after-ready=3", 8,
                            "exited with status 3 before it was ready");
}

TU_TEST(cli_supervise_ready_fd_without_pidfd_reports_death_before_ready_when_pidfd_open_is_eperm)
{
    cli_supervise_not_ready("pidfd_open:EPERM", "fd:5", "30", "--exit-after-ready=3", 8,
                            "exited with status 3 before it was ready");
}

TU_TEST(cli_supervise_ready_notify_without_pidfd_kills_program_at_timeout_when_pidfd_open_is_enosys)
{
    cli_supervise_not_ready("pidfd_open:ENOSYS", "notify", "0.5", NULL, 9,
                            "was not ready within 0.5 seconds; it was killed");
}

TU_TEST(cli_supervise_ready_notify_without_pidfd_kills_program_at_timeout_when_pidfd_open_is_eperm)
{
    cli_supervise_not_ready("pidfd_open:EPERM", "notify", "0.5", NULL, 9,
                            "was not ready within 0.5 seconds; it was killed");
}

TU_MAIN
