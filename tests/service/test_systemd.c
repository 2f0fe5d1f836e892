/*
 * systemd without systemd: the notification protocol and the example units.
 *
 * systemd does not run here, so the tests play its part: they bind the
 * NOTIFY_SOCKET datagram socket (a filesystem path or an "@" abstract name,
 * with SO_PASSCRED so that every message carries the sender's pid/uid/gid as
 * the kernel saw them), set INVOCATION_ID as systemd does for every service,
 * and start the daemon. They check the exact datagrams (READY=1, MAINPID=,
 * STOPPING=1), who sent them, and that the library did not fork: the PID
 * systemd started is the daemon's.
 *
 * The units in examples/systemd are run from their own ExecStart=/ExecStop=
 * lines, only the installed paths replaced by the build's.
 */
#include <daemonctx.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Whatever service manager runs the test suite, the daemons see only ours. */
static void clean_env(tu_cmd *c)
{
    tu_cmd_env(c, "NOTIFY_SOCKET");
    tu_cmd_env(c, "INVOCATION_ID");
    tu_cmd_env(c, "LISTEN_PID");
    tu_cmd_env(c, "LISTEN_FDS");
    tu_cmd_env(c, "LISTEN_FDNAMES");
}

static const char *invocation_id(void)
{
    return "INVOCATION_ID=0123456789abcdef0123456789abcdef";
}

/* The NOTIFY_SOCKET name for this test: a path in a fresh directory, or an
 * abstract name unique to this process. */
static const char *notify_name(bool abstract)
{
    if (abstract)
        return tu_fmt("@eco-notify-%d-%lld", (int)getpid(), (long long)tu_now_ms());
    return tu_fmt("%s/notify", tu_tmpdir());
}

static void expect_message(int sock, const char *want, pid_t sender)
{
    tu_notify_msg m;
    TU_ASSERT_MSG(tu_notify_recv(sock, tu_timeout_ms(), &m), "no datagram \"%s\" within %d ms", want,
                   tu_timeout_ms());
    TU_ASSERT_STR_EQ(m.text, want);
    TU_ASSERT_MSG(m.has_cred, "the datagram came without SCM_CREDENTIALS");
    TU_ASSERT_INT_EQ(m.pid, sender);
    TU_ASSERT_INT_EQ(m.uid, getuid());
    TU_ASSERT_INT_EQ(m.gid, getgid());
}

static void expect_nothing_pending(int sock, const char *when)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n > 0) {
        tu_notify_msg m;
        (void)tu_notify_recv(sock, 0, &m);
        TU_FAIL("%s, a datagram was already there: \"%s\"", when, m.text);
    }
}

/* Connect to the example daemon's socket and read its one line. */
static char *ask_example(const char *path)
{
    int fd = (int)TU_SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    TU_ASSERT(strlen(path) < sizeof addr.sun_path);
    strcpy(addr.sun_path, path);
    TU_SYS(connect(fd, (struct sockaddr *)&addr, sizeof addr));
    char *line = tu_read_line(fd, tu_timeout_ms());
    (void)close(fd);
    return line;
}

/* The example daemon under a NOTIFY_SOCKET: READY=1 and MAINPID from the PID
 * the "service manager" started, sent once its socket listens. */
static void example_reports_ready(bool abstract)
{
    const char *dir = tu_tmpdir();
    const char *name = notify_name(abstract);
    const char *socket_path = tu_fmt("%s/socket", dir);
    int sock = tu_notify_bind(name);

    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("NOTIFY_EXAMPLE"), "-s", socket_path, (const char *)NULL);
    clean_env(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_env(&c, invocation_id());
    c.inherit_output = true;
    pid_t pid = tu_spawn(&c)->pid;

    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    /* Ready means ready: the socket answers now, from the same process. */
    TU_ASSERT_STR_EQ(ask_example(socket_path), tu_fmt("dcx-notify-example %d", (int)pid));
    TU_ASSERT_INT_EQ(tu_parent_of(pid), getpid());

    TU_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the example %s", tu_describe_status(st));
}

TU_TEST(notify_socket_path_gets_ready_mainpid_from_the_daemon)
{
    example_reports_ready(false);
}

TU_TEST(notify_socket_abstract_gets_ready_mainpid_from_the_daemon)
{
    example_reports_ready(true);
}

/* SIGTERM, the library's terminate action: STOPPING=1 from the daemon, the
 * pidfile removed, death by SIGTERM. */
static void stopping_on_sigterm(bool abstract)
{
    const char *dir = tu_tmpdir();
    const char *name = notify_name(abstract);
    const char *pidfile = tu_fmt("%s/example.pid", dir);
    int sock = tu_notify_bind(name);

    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("NOTIFY_EXAMPLE"), "-p", pidfile, "-s", tu_fmt("%s/socket", dir),
                 (const char *)NULL);
    clean_env(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_env(&c, invocation_id());
    c.inherit_output = true;
    pid_t pid = tu_spawn(&c)->pid;
    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    TU_ASSERT_STR_EQ(tu_read_file(pidfile), tu_fmt("%d\n", (int)pid));

    TU_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", tu_describe_status(st));
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "pidfile %s left behind", pidfile);
    expect_nothing_pending(sock, "after STOPPING=1");
}

TU_TEST(notify_socket_path_gets_stopping_on_sigterm)
{
    stopping_on_sigterm(false);
}

TU_TEST(notify_socket_abstract_gets_stopping_on_sigterm)
{
    stopping_on_sigterm(true);
}

/* READY_OPEN, the default mode: READY=1 at the end of daemonctx_open(), when
 * the pidfile already holds the PID. */
TU_TEST(notify_ready_open_mode_sends_ready_when_open_is_done)
{
    const char *dir = tu_tmpdir();
    const char *name = notify_name(false);
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    int sock = tu_notify_bind(name);
    int ann[2];
    TU_SYS(pipe2(ann, O_CLOEXEC));

    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("SVC_PROG"), "--lib=open", tu_fmt("--pidfile=%s", pidfile), "--announce=fd:5",
                 (const char *)NULL);
    clean_env(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_fd(&c, 5, ann[1]);
    c.inherit_output = true;
    pid_t pid = tu_spawn(&c)->pid;
    (void)close(ann[1]);

    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    TU_ASSERT_STR_EQ(tu_read_file(pidfile), tu_fmt("%d\n", (int)pid));
    TU_ASSERT_STR_EQ(tu_read_line(ann[0], tu_timeout_ms()), tu_fmt("%d", (int)pid));
    TU_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    (void)tu_wait_pid(pid, tu_timeout_ms());
}

/* READY_NOTIFY: nothing reaches the manager when open() is done, READY=1 only
 * at daemonctx_ready(). */
TU_TEST(notify_ready_notify_mode_waits_for_daemonctx_ready)
{
    const char *name = notify_name(true);
    int sock = tu_notify_bind(name);
    int ann[2], trig[2];
    TU_SYS(pipe2(ann, O_CLOEXEC));
    TU_SYS(pipe2(trig, O_CLOEXEC));

    tu_cmd c;
    tu_cmd_init_command(&c, tu_env("SVC_PROG"), "--lib=notify", "--announce=fd:5", "--trigger=6", (const char *)NULL);
    clean_env(&c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_fd(&c, 5, ann[1]);
    tu_cmd_fd(&c, 6, trig[0]);
    c.inherit_output = true;
    pid_t pid = tu_spawn(&c)->pid;
    (void)close(ann[1]);
    (void)close(trig[0]);

    /* open() is done: the daemon said so on our pipe, after it returned. */
    TU_ASSERT_STR_EQ(tu_read_line(ann[0], tu_timeout_ms()), tu_fmt("opened %d", (int)pid));
    expect_nothing_pending(sock, "after open() in READY_NOTIFY mode, before daemonctx_ready()");
    TU_SYS(write(trig[1], "x", 1));
    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    TU_ASSERT_STR_EQ(tu_read_line(ann[0], tu_timeout_ms()), tu_fmt("ready %d", (int)pid));
    TU_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    (void)tu_wait_pid(pid, tu_timeout_ms());
}

/* Started with ENV (one of the service-manager variables, or none): does the
 * process we started become the daemon itself? Returns the daemon's PID. */
static pid_t start_lib_daemon(const char *env, pid_t *started)
{
    int ann[2];
    TU_SYS(pipe2(ann, O_CLOEXEC));
    tu_cmd c;
    if (env && strncmp(env, "LISTEN_PID", 10) == 0) {
        /* LISTEN_PID must name the process itself: let a shell set its own
         * PID and exec the daemon in place. */
        tu_cmd_init_command(&c, "/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=0 exec \"$0\" --lib=open --announce=fd:5",
                     tu_env("SVC_PROG"), (const char *)NULL);
        clean_env(&c);
    } else {
        tu_cmd_init_command(&c, tu_env("SVC_PROG"), "--lib=open", "--announce=fd:5", (const char *)NULL);
        clean_env(&c);
        if (env)
            tu_cmd_env(&c, env);
    }
    tu_cmd_fd(&c, 5, ann[1]);
    c.inherit_output = true;
    *started = tu_spawn(&c)->pid;
    (void)close(ann[1]);
    char *line = tu_read_line(ann[0], tu_timeout_ms());
    TU_ASSERT_MSG(line, "the daemon never announced itself");
    (void)close(ann[0]);
    return (pid_t)atoi(line);
}

static void expect_no_fork(const char *env)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(env, &started);
    TU_ASSERT_MSG(daemon == started, "with %s the library forked: started PID %d, daemon PID %d", env,
                   (int)started, (int)daemon);
    TU_ASSERT_INT_EQ(tu_parent_of(daemon), getpid());
    TU_ASSERT(tu_alive(daemon));
    TU_SYS(kill(daemon, SIGTERM));
    int st = tu_wait_pid(daemon, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", tu_describe_status(st));
}

TU_TEST(no_fork_under_notify_socket)
{
    const char *name = notify_name(false);
    (void)tu_notify_bind(name);
    expect_no_fork(tu_fmt("NOTIFY_SOCKET=%s", name));
}

/* Type=forking: systemd sets INVOCATION_ID and waits for the start to exit. */
TU_TEST(forks_under_invocation_id_without_notify_socket)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(invocation_id(), &started);
    TU_ASSERT_MSG(daemon != started, "with %s the library did not fork (PID %d)", invocation_id(), (int)daemon);
    int st = tu_wait_pid(started, tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(st, 0), "the invoker %s", tu_describe_status(st));
    TU_SYS(kill(daemon, SIGTERM));
    st = tu_wait_pid(daemon, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", tu_describe_status(st));
}

TU_TEST(no_fork_under_listen_pid)
{
    expect_no_fork("LISTEN_PID");
}

/* The control: without those variables the same daemon double-forks. */
TU_TEST(forks_without_service_manager_variables)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(NULL, &started);
    TU_ASSERT_MSG(daemon != started, "no fork without a service manager (daemon PID %d)", (int)daemon);
    int st = tu_wait_pid(started, tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(st, 0), "the invoker %s", tu_describe_status(st));
    /* The daemon is in a session of its own, and came to us, the subreaper. */
    TU_ASSERT(tu_alive(daemon));
    TU_ASSERT(getsid(daemon) != getsid(0));
    TU_SYS(kill(daemon, SIGTERM));
    (void)tu_wait_pid(daemon, tu_timeout_ms());
}

/* ---------------------------------------------------------- the unit files */

struct subst {
    const char *from, *to;
};

/* The words of KEY= in UNIT (no quoting in our examples), each replaced by
 * its substitute when it starts with one of SUBS' "from" strings. */
static void unit_command(const char *unit, const char *key, const struct subst *subs, tu_cmd *c)
{
    char *text = tu_read_file(unit);
    TU_ASSERT_MSG(text, "cannot read %s", unit);
    size_t klen = strlen(key);
    char *line = NULL;
    for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            line = p + klen + 1;
            break;
        }
    TU_ASSERT_MSG(line, "%s has no %s=", unit, key);
    char *end = strchr(line, '\n');
    if (end)
        *end = '\0';
    TU_ASSERT_MSG(!strpbrk(line, "\"'\\$%"), "%s=%s: quoting or specifiers the test cannot run", key, line);
    tu_cmd_init_command(c, (const char *)NULL, (const char *)NULL);
    for (char *w = strtok(line, " \t"); w; w = strtok(NULL, " \t")) {
        const char *word = w;
        for (const struct subst *s = subs; s->from; s++) {
            const char *hit = strstr(w, s->from);
            if (hit) {
                word = tu_fmt("%.*s%s%s", (int)(hit - w), w, s->to, hit + strlen(s->from));
                break;
            }
        }
        tu_cmd_arg(c, "%s", word);
    }
    clean_env(c);
}

static void expect_unit_setting(const char *unit, const char *line)
{
    char *text = tu_read_file(unit);
    TU_ASSERT_MSG(text, "cannot read %s", unit);
    size_t len = strlen(line);
    for (const char *hit = strstr(text, line); hit; hit = strstr(hit + 1, line))
        if ((hit == text || hit[-1] == '\n') && hit[len] == '\n')
            return;
    TU_FAIL("%s lacks the line \"%s\"", unit, line);
}

static const char *example_unit(const char *name)
{
    return tu_fmt("%s/examples/systemd/%s", tu_env("DCX_SOURCE_DIR"), name);
}

/* dcx-notify-example.service, run as systemd runs a Type=notify unit. */
TU_TEST(systemd_notify_example_unit_reports_ready_and_stopping)
{
    const char *unit = example_unit("dcx-notify-example.service");
    expect_unit_setting(unit, "Type=notify");
    expect_unit_setting(unit, "NotifyAccess=main");
    const char *dir = tu_tmpdir();
    const char *name = notify_name(false);
    int sock = tu_notify_bind(name);
    const struct subst subs[] = {{"/usr/local/bin/dcx-notify-example", tu_env("NOTIFY_EXAMPLE")},
                                 {"/run/dcx-notify-example", dir},
                                 {NULL, NULL}};
    tu_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_env(&c, invocation_id());
    c.inherit_output = true;
    pid_t pid = tu_spawn(&c)->pid;
    /* NotifyAccess=main: the message must come from the main PID. */
    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    TU_ASSERT_STR_EQ(ask_example(tu_fmt("%s/socket", dir)), tu_fmt("dcx-notify-example %d", (int)pid));
    TU_SYS(kill(pid, SIGTERM)); /* systemctl stop */
    expect_message(sock, "STOPPING=1", pid);
    int st = tu_wait_pid(pid, tu_timeout_ms());
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the service %s", tu_describe_status(st));
}

/* daemonctx-supervise.service: the daemonctx process is the main PID; it
 * relays PROGRAM's fd readiness as READY=1 with its own PID, and a SIGTERM
 * to it stops PROGRAM and then itself. */
TU_TEST(systemd_cli_supervise_unit_relays_readiness)
{
    const char *unit = example_unit("daemonctx-supervise.service");
    expect_unit_setting(unit, "Type=notify");
    expect_unit_setting(unit, "KillMode=mixed");
    const char *dir = tu_tmpdir();
    const char *name = notify_name(true);
    const char *fifo = tu_fmt("%s/announce", dir);
    TU_SYS(mkfifo(fifo, 0600));
    int ann = (int)TU_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    int sock = tu_notify_bind(name);
    const struct subst subs[] = {{"/usr/bin/daemonctx", tu_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", tu_env("SVC_PROG")},
                                 {NULL, NULL}};
    tu_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    tu_cmd_arg(&c, "%s", tu_fmt("--announce=%s", fifo));
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_env(&c, invocation_id());
    c.inherit_output = true;
    pid_t main_pid = tu_spawn(&c)->pid;

    char *line = tu_read_line(ann, tu_timeout_ms());
    TU_ASSERT(line);
    pid_t program = (pid_t)atoi(line);
    TU_ASSERT_MSG(program != main_pid, "PROGRAM runs as the supervisor's PID");
    TU_ASSERT_INT_EQ(tu_parent_of(program), main_pid);
    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)main_pid), main_pid);

    TU_SYS(kill(main_pid, SIGTERM)); /* KillMode=mixed: the main process only */
    TU_ASSERT_MSG(tu_wait_gone(program, tu_timeout_ms()), "PROGRAM survived the stop");
    int st = tu_wait_pid(main_pid, tu_timeout_ms());
    /* PROGRAM died of SIGTERM; the supervisor ends the same way. */
    TU_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the supervisor %s", tu_describe_status(st));
    /* It died through the library's terminate action, which tells the
     * manager first. */
    expect_message(sock, "STOPPING=1", main_pid);
}

/* daemonctx-run.service: run is the main PID, PROGRAM its child; READY=1
 * comes once PROGRAM is ready, ExecReload reopens the log, and a SIGTERM to
 * run ends PROGRAM and then run, with PROGRAM's status. */
TU_TEST(systemd_cli_run_unit_relays_readiness_and_reloads)
{
    const char *unit = example_unit("daemonctx-run.service");
    expect_unit_setting(unit, "Type=notify");
    const char *dir = tu_tmpdir();
    const char *name = notify_name(true), *fifo = tu_fmt("%s/announce", dir), *log = tu_fmt("%s/my.log", dir);
    TU_SYS(mkfifo(fifo, 0600));
    int ann = (int)TU_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    int sock = tu_notify_bind(name);
    const struct subst subs[] = {{"/usr/bin/daemonctx", tu_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", tu_env("SVC_PROG")},
                                 {"/run/mydaemon.pid", tu_fmt("%s/my.pid", dir)},
                                 {"/var/log/mydaemon.log", log},
                                 {NULL, NULL}};
    tu_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    tu_cmd_arg(&c, "%s", tu_fmt("--announce=%s", fifo));
    tu_cmd_env(&c, tu_fmt("NOTIFY_SOCKET=%s", name));
    tu_cmd_env(&c, invocation_id());
    c.inherit_output = true;
    pid_t main_pid = tu_spawn(&c)->pid;
    char *line = tu_read_line(ann, tu_timeout_ms());
    TU_ASSERT(line);
    pid_t program = (pid_t)atoi(line);
    TU_ASSERT_INT_EQ(tu_parent_of(program), main_pid);
    expect_message(sock, tu_fmt("READY=1\nMAINPID=%d", (int)main_pid), main_pid);
    TU_SYS(rename(log, tu_fmt("%s.1", log)));
    unit_command(unit, "ExecReload", subs, &c);
    tu_result r = tu_run(&c);
    TU_ASSERT_MSG(TU_EXITED(r.status, 0), "ExecReload %s: %s", tu_describe_status(r.status), r.err);
    TU_ASSERT_MSG(tu_path_exists(log), "ExecReload did not reopen %s", log);
    TU_SYS(kill(main_pid, SIGTERM));
    TU_ASSERT_MSG(tu_wait_gone(program, tu_timeout_ms()), "PROGRAM survived the stop");
    int st = tu_wait_pid(main_pid, tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(st, 128 + SIGTERM), "run %s", tu_describe_status(st));
    expect_message(sock, "STOPPING=1", main_pid);
}

/* daemonctx-forking.service: ExecStart returns once PROGRAM runs, PIDFile=
 * names it (not the starter), ExecStop stops it and removes the file. */
TU_TEST(systemd_cli_forking_unit_starts_and_stops_through_pidfile)
{
    const char *unit = example_unit("daemonctx-forking.service");
    expect_unit_setting(unit, "Type=forking");
    expect_unit_setting(unit, "PIDFile=/run/mydaemon.pid");
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/mydaemon.pid", dir);
    const struct subst subs[] = {{"/usr/bin/daemonctx", tu_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", tu_env("SVC_PROG")},
                                 {"/run/mydaemon.pid", pidfile},
                                 {NULL, NULL}};
    tu_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    tu_cmd_env(&c, invocation_id());
    tu_proc *starter = tu_spawn(&c);
    tu_result r = tu_finish(starter, tu_now_ms() + tu_timeout_ms());
    TU_ASSERT_MSG(TU_EXITED(r.status, 0), "ExecStart %s: %s", tu_describe_status(r.status), r.err);
    char *text = tu_read_file(pidfile);
    TU_ASSERT_MSG(text, "no PIDFile after ExecStart returned");
    pid_t pid = (pid_t)atoi(text);
    TU_ASSERT_STR_EQ(text, tu_fmt("%d\n", (int)pid));
    TU_ASSERT(pid != starter->pid);
    TU_ASSERT(tu_alive(pid));
    TU_ASSERT_PROC_IS(pid, "exe", tu_env("SVC_PROG"));

    unit_command(unit, "ExecStop", subs, &c);
    r = tu_run(&c);
    TU_ASSERT_MSG(TU_EXITED(r.status, 0), "ExecStop %s: %s", tu_describe_status(r.status), r.err);
    TU_ASSERT(!tu_alive(pid));
    TU_ASSERT_MSG(!tu_path_exists(pidfile), "ExecStop left %s", pidfile);
}

TU_MAIN
