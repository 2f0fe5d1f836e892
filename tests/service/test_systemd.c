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

#include "eco.h"

/* Whatever service manager runs the test suite, the daemons see only ours. */
static void clean_env(eco_cmd *c)
{
    eco_cmd_env(c, "NOTIFY_SOCKET");
    eco_cmd_env(c, "INVOCATION_ID");
    eco_cmd_env(c, "LISTEN_PID");
    eco_cmd_env(c, "LISTEN_FDS");
    eco_cmd_env(c, "LISTEN_FDNAMES");
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
        return eco_fmt("@eco-notify-%d-%lld", (int)getpid(), (long long)eco_now_ms());
    return eco_fmt("%s/notify", eco_tmpdir());
}

static void expect_message(int sock, const char *want, pid_t sender)
{
    eco_notify_msg m;
    ECO_ASSERT_MSG(eco_notify_recv(sock, eco_timeout_ms(), &m), "no datagram \"%s\" within %d ms", want,
                   eco_timeout_ms());
    ECO_ASSERT_STR_EQ(m.text, want);
    ECO_ASSERT_MSG(m.has_cred, "the datagram came without SCM_CREDENTIALS");
    ECO_ASSERT_INT_EQ(m.pid, sender);
    ECO_ASSERT_INT_EQ(m.uid, getuid());
    ECO_ASSERT_INT_EQ(m.gid, getgid());
}

static void expect_nothing_pending(int sock, const char *when)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int n = poll(&p, 1, 0);
    if (n > 0) {
        eco_notify_msg m;
        (void)eco_notify_recv(sock, 0, &m);
        ECO_FAIL("%s, a datagram was already there: \"%s\"", when, m.text);
    }
}

/* Connect to the example daemon's socket and read its one line. */
static char *ask_example(const char *path)
{
    int fd = (int)ECO_SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    ECO_ASSERT(strlen(path) < sizeof addr.sun_path);
    strcpy(addr.sun_path, path);
    ECO_SYS(connect(fd, (struct sockaddr *)&addr, sizeof addr));
    char *line = eco_read_line(fd, eco_timeout_ms());
    (void)close(fd);
    return line;
}

/* The example daemon under a NOTIFY_SOCKET: READY=1 and MAINPID from the PID
 * the "service manager" started, sent once its socket listens. */
static void example_reports_ready(bool abstract)
{
    const char *dir = eco_tmpdir();
    const char *name = notify_name(abstract);
    const char *socket_path = eco_fmt("%s/socket", dir);
    int sock = eco_notify_bind(name);

    eco_cmd c;
    eco_cmd_init(&c, eco_env("NOTIFY_EXAMPLE"), "-s", socket_path, (const char *)NULL);
    clean_env(&c);
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_env(&c, invocation_id());
    c.capture = false;
    pid_t pid = eco_spawn(&c);

    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    /* Ready means ready: the socket answers now, from the same process. */
    ECO_ASSERT_STR_EQ(ask_example(socket_path), eco_fmt("dcx-notify-example %d", (int)pid));
    ECO_ASSERT_INT_EQ(eco_ppid(pid), getpid());

    ECO_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    int st = eco_reap(pid, eco_timeout_ms());
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the example %s", eco_status_text(st));
}

ECO_TEST(notify_socket_path_gets_ready_mainpid_from_the_daemon)
{
    example_reports_ready(false);
}

ECO_TEST(notify_socket_abstract_gets_ready_mainpid_from_the_daemon)
{
    example_reports_ready(true);
}

/* SIGTERM, the library's terminate action: STOPPING=1 from the daemon, the
 * pidfile removed, death by SIGTERM. */
static void stopping_on_sigterm(bool abstract)
{
    const char *dir = eco_tmpdir();
    const char *name = notify_name(abstract);
    const char *pidfile = eco_fmt("%s/example.pid", dir);
    int sock = eco_notify_bind(name);

    eco_cmd c;
    eco_cmd_init(&c, eco_env("NOTIFY_EXAMPLE"), "-p", pidfile, "-s", eco_fmt("%s/socket", dir),
                 (const char *)NULL);
    clean_env(&c);
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_env(&c, invocation_id());
    c.capture = false;
    pid_t pid = eco_spawn(&c);
    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    ECO_ASSERT_STR_EQ(eco_read_file(pidfile), eco_fmt("%d\n", (int)pid));

    ECO_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    int st = eco_reap(pid, eco_timeout_ms());
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", eco_status_text(st));
    ECO_ASSERT_MSG(!eco_exists(pidfile), "pidfile %s left behind", pidfile);
    expect_nothing_pending(sock, "after STOPPING=1");
}

ECO_TEST(notify_socket_path_gets_stopping_on_sigterm)
{
    stopping_on_sigterm(false);
}

ECO_TEST(notify_socket_abstract_gets_stopping_on_sigterm)
{
    stopping_on_sigterm(true);
}

/* READY_OPEN, the default mode: READY=1 at the end of daemonctx_open(), when
 * the pidfile already holds the PID. */
ECO_TEST(notify_ready_open_mode_sends_ready_when_open_is_done)
{
    const char *dir = eco_tmpdir();
    const char *name = notify_name(false);
    const char *pidfile = eco_fmt("%s/d.pid", dir);
    int sock = eco_notify_bind(name);
    int ann[2];
    ECO_SYS(pipe2(ann, O_CLOEXEC));

    eco_cmd c;
    eco_cmd_init(&c, eco_env("SVC_PROG"), "--lib=open", eco_fmt("--pidfile=%s", pidfile), "--announce=fd:5",
                 (const char *)NULL);
    clean_env(&c);
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_fd(&c, 5, ann[1]);
    c.capture = false;
    pid_t pid = eco_spawn(&c);
    (void)close(ann[1]);

    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    ECO_ASSERT_STR_EQ(eco_read_file(pidfile), eco_fmt("%d\n", (int)pid));
    ECO_ASSERT_STR_EQ(eco_read_line(ann[0], eco_timeout_ms()), eco_fmt("%d", (int)pid));
    ECO_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    (void)eco_reap(pid, eco_timeout_ms());
}

/* READY_NOTIFY: nothing reaches the manager when open() is done, READY=1 only
 * at daemonctx_ready(). */
ECO_TEST(notify_ready_notify_mode_waits_for_daemonctx_ready)
{
    const char *name = notify_name(true);
    int sock = eco_notify_bind(name);
    int ann[2], trig[2];
    ECO_SYS(pipe2(ann, O_CLOEXEC));
    ECO_SYS(pipe2(trig, O_CLOEXEC));

    eco_cmd c;
    eco_cmd_init(&c, eco_env("SVC_PROG"), "--lib=notify", "--announce=fd:5", "--trigger=6", (const char *)NULL);
    clean_env(&c);
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_fd(&c, 5, ann[1]);
    eco_cmd_fd(&c, 6, trig[0]);
    c.capture = false;
    pid_t pid = eco_spawn(&c);
    (void)close(ann[1]);
    (void)close(trig[0]);

    /* open() is done: the daemon said so on our pipe, after it returned. */
    ECO_ASSERT_STR_EQ(eco_read_line(ann[0], eco_timeout_ms()), eco_fmt("opened %d", (int)pid));
    expect_nothing_pending(sock, "after open() in READY_NOTIFY mode, before daemonctx_ready()");
    ECO_SYS(write(trig[1], "x", 1));
    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    ECO_ASSERT_STR_EQ(eco_read_line(ann[0], eco_timeout_ms()), eco_fmt("ready %d", (int)pid));
    ECO_SYS(kill(pid, SIGTERM));
    expect_message(sock, "STOPPING=1", pid);
    (void)eco_reap(pid, eco_timeout_ms());
}

/* Started with ENV (one of the service-manager variables, or none): does the
 * process we started become the daemon itself? Returns the daemon's PID. */
static pid_t start_lib_daemon(const char *env, pid_t *started)
{
    int ann[2];
    ECO_SYS(pipe2(ann, O_CLOEXEC));
    eco_cmd c;
    if (env && strncmp(env, "LISTEN_PID", 10) == 0) {
        /* LISTEN_PID must name the process itself: let a shell set its own
         * PID and exec the daemon in place. */
        eco_cmd_init(&c, "/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=0 exec \"$0\" --lib=open --announce=fd:5",
                     eco_env("SVC_PROG"), (const char *)NULL);
        clean_env(&c);
    } else {
        eco_cmd_init(&c, eco_env("SVC_PROG"), "--lib=open", "--announce=fd:5", (const char *)NULL);
        clean_env(&c);
        if (env)
            eco_cmd_env(&c, env);
    }
    eco_cmd_fd(&c, 5, ann[1]);
    c.capture = false;
    *started = eco_spawn(&c);
    (void)close(ann[1]);
    char *line = eco_read_line(ann[0], eco_timeout_ms());
    ECO_ASSERT_MSG(line, "the daemon never announced itself");
    (void)close(ann[0]);
    return (pid_t)atoi(line);
}

static void expect_no_fork(const char *env)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(env, &started);
    ECO_ASSERT_MSG(daemon == started, "with %s the library forked: started PID %d, daemon PID %d", env,
                   (int)started, (int)daemon);
    ECO_ASSERT_INT_EQ(eco_ppid(daemon), getpid());
    ECO_ASSERT(eco_alive(daemon));
    ECO_SYS(kill(daemon, SIGTERM));
    int st = eco_reap(daemon, eco_timeout_ms());
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", eco_status_text(st));
}

ECO_TEST(no_fork_under_notify_socket)
{
    const char *name = notify_name(false);
    (void)eco_notify_bind(name);
    expect_no_fork(eco_fmt("NOTIFY_SOCKET=%s", name));
}

/* Type=forking: systemd sets INVOCATION_ID and waits for the start to exit. */
ECO_TEST(forks_under_invocation_id_without_notify_socket)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(invocation_id(), &started);
    ECO_ASSERT_MSG(daemon != started, "with %s the library did not fork (PID %d)", invocation_id(), (int)daemon);
    int st = eco_reap(started, eco_timeout_ms());
    ECO_ASSERT_MSG(ECO_EXITED(st, 0), "the invoker %s", eco_status_text(st));
    ECO_SYS(kill(daemon, SIGTERM));
    st = eco_reap(daemon, eco_timeout_ms());
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the daemon %s", eco_status_text(st));
}

ECO_TEST(no_fork_under_listen_pid)
{
    expect_no_fork("LISTEN_PID");
}

/* The control: without those variables the same daemon double-forks. */
ECO_TEST(forks_without_service_manager_variables)
{
    pid_t started;
    pid_t daemon = start_lib_daemon(NULL, &started);
    ECO_ASSERT_MSG(daemon != started, "no fork without a service manager (daemon PID %d)", (int)daemon);
    int st = eco_reap(started, eco_timeout_ms());
    ECO_ASSERT_MSG(ECO_EXITED(st, 0), "the invoker %s", eco_status_text(st));
    /* The daemon is in a session of its own, and came to us, the subreaper. */
    ECO_ASSERT(eco_alive(daemon));
    ECO_ASSERT(getsid(daemon) != getsid(0));
    ECO_SYS(kill(daemon, SIGTERM));
    (void)eco_reap(daemon, eco_timeout_ms());
}

/* ---------------------------------------------------------- the unit files */

struct subst {
    const char *from, *to;
};

/* The words of KEY= in UNIT (no quoting in our examples), each replaced by
 * its substitute when it starts with one of SUBS' "from" strings. */
static void unit_command(const char *unit, const char *key, const struct subst *subs, eco_cmd *c)
{
    char *text = eco_read_file(unit);
    ECO_ASSERT_MSG(text, "cannot read %s", unit);
    size_t klen = strlen(key);
    char *line = NULL;
    for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            line = p + klen + 1;
            break;
        }
    ECO_ASSERT_MSG(line, "%s has no %s=", unit, key);
    char *end = strchr(line, '\n');
    if (end)
        *end = '\0';
    ECO_ASSERT_MSG(!strpbrk(line, "\"'\\$%"), "%s=%s: quoting or specifiers the test cannot run", key, line);
    eco_cmd_init(c, (const char *)NULL);
    for (char *w = strtok(line, " \t"); w; w = strtok(NULL, " \t")) {
        const char *word = w;
        for (const struct subst *s = subs; s->from; s++) {
            const char *hit = strstr(w, s->from);
            if (hit) {
                word = eco_fmt("%.*s%s%s", (int)(hit - w), w, s->to, hit + strlen(s->from));
                break;
            }
        }
        eco_cmd_arg(c, word);
    }
    clean_env(c);
}

static void expect_unit_setting(const char *unit, const char *line)
{
    char *text = eco_read_file(unit);
    ECO_ASSERT_MSG(text, "cannot read %s", unit);
    size_t len = strlen(line);
    for (const char *hit = strstr(text, line); hit; hit = strstr(hit + 1, line))
        if ((hit == text || hit[-1] == '\n') && hit[len] == '\n')
            return;
    ECO_FAIL("%s lacks the line \"%s\"", unit, line);
}

static const char *example_unit(const char *name)
{
    return eco_fmt("%s/examples/systemd/%s", eco_env("ECO_SOURCE_DIR"), name);
}

/* dcx-notify-example.service, run as systemd runs a Type=notify unit. */
ECO_TEST(systemd_notify_example_unit_reports_ready_and_stopping)
{
    const char *unit = example_unit("dcx-notify-example.service");
    expect_unit_setting(unit, "Type=notify");
    expect_unit_setting(unit, "NotifyAccess=main");
    const char *dir = eco_tmpdir();
    const char *name = notify_name(false);
    int sock = eco_notify_bind(name);
    const struct subst subs[] = {{"/usr/local/bin/dcx-notify-example", eco_env("NOTIFY_EXAMPLE")},
                                 {"/run/dcx-notify-example", dir},
                                 {NULL, NULL}};
    eco_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_env(&c, invocation_id());
    c.capture = false;
    pid_t pid = eco_spawn(&c);
    /* NotifyAccess=main: the message must come from the main PID. */
    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)pid), pid);
    ECO_ASSERT_STR_EQ(ask_example(eco_fmt("%s/socket", dir)), eco_fmt("dcx-notify-example %d", (int)pid));
    ECO_SYS(kill(pid, SIGTERM)); /* systemctl stop */
    expect_message(sock, "STOPPING=1", pid);
    int st = eco_reap(pid, eco_timeout_ms());
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the service %s", eco_status_text(st));
}

/* daemonctx-supervise.service: the daemonctx process is the main PID; it
 * relays PROGRAM's fd readiness as READY=1 with its own PID, and a SIGTERM
 * to it stops PROGRAM and then itself. */
ECO_TEST(systemd_cli_supervise_unit_relays_readiness)
{
    const char *unit = example_unit("daemonctx-supervise.service");
    expect_unit_setting(unit, "Type=notify");
    expect_unit_setting(unit, "KillMode=mixed");
    const char *dir = eco_tmpdir();
    const char *name = notify_name(true);
    const char *fifo = eco_fmt("%s/announce", dir);
    ECO_SYS(mkfifo(fifo, 0600));
    int ann = (int)ECO_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    int sock = eco_notify_bind(name);
    const struct subst subs[] = {{"/usr/bin/daemonctx", eco_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", eco_env("SVC_PROG")},
                                 {NULL, NULL}};
    eco_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    eco_cmd_arg(&c, eco_fmt("--announce=%s", fifo));
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_env(&c, invocation_id());
    c.capture = false;
    pid_t main_pid = eco_spawn(&c);

    char *line = eco_read_line(ann, eco_timeout_ms());
    ECO_ASSERT(line);
    pid_t program = (pid_t)atoi(line);
    ECO_ASSERT_MSG(program != main_pid, "PROGRAM runs as the supervisor's PID");
    ECO_ASSERT_INT_EQ(eco_ppid(program), main_pid);
    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)main_pid), main_pid);

    ECO_SYS(kill(main_pid, SIGTERM)); /* KillMode=mixed: the main process only */
    ECO_ASSERT_MSG(eco_wait_gone(program, eco_timeout_ms()), "PROGRAM survived the stop");
    int st = eco_reap(main_pid, eco_timeout_ms());
    /* PROGRAM died of SIGTERM; the supervisor ends the same way. */
    ECO_ASSERT_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the supervisor %s", eco_status_text(st));
    /* It died through the library's terminate action, which tells the
     * manager first. */
    expect_message(sock, "STOPPING=1", main_pid);
}

/* daemonctx-run.service: run is the main PID, PROGRAM its child; READY=1
 * comes once PROGRAM is ready, ExecReload reopens the log, and a SIGTERM to
 * run ends PROGRAM and then run, with PROGRAM's status. */
ECO_TEST(systemd_cli_run_unit_relays_readiness_and_reloads)
{
    const char *unit = example_unit("daemonctx-run.service");
    expect_unit_setting(unit, "Type=notify");
    const char *dir = eco_tmpdir();
    const char *name = notify_name(true), *fifo = eco_fmt("%s/announce", dir), *log = eco_fmt("%s/my.log", dir);
    ECO_SYS(mkfifo(fifo, 0600));
    int ann = (int)ECO_SYS(open(fifo, O_RDWR | O_CLOEXEC));
    int sock = eco_notify_bind(name);
    const struct subst subs[] = {{"/usr/bin/daemonctx", eco_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", eco_env("SVC_PROG")},
                                 {"/run/mydaemon.pid", eco_fmt("%s/my.pid", dir)},
                                 {"/var/log/mydaemon.log", log},
                                 {NULL, NULL}};
    eco_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    eco_cmd_arg(&c, eco_fmt("--announce=%s", fifo));
    eco_cmd_env(&c, eco_fmt("NOTIFY_SOCKET=%s", name));
    eco_cmd_env(&c, invocation_id());
    c.capture = false;
    pid_t main_pid = eco_spawn(&c);
    char *line = eco_read_line(ann, eco_timeout_ms());
    ECO_ASSERT(line);
    pid_t program = (pid_t)atoi(line);
    ECO_ASSERT_INT_EQ(eco_ppid(program), main_pid);
    expect_message(sock, eco_fmt("READY=1\nMAINPID=%d", (int)main_pid), main_pid);
    ECO_SYS(rename(log, eco_fmt("%s.1", log)));
    unit_command(unit, "ExecReload", subs, &c);
    char *out, *err;
    int st = eco_run(&c, &out, &err);
    ECO_ASSERT_MSG(ECO_EXITED(st, 0), "ExecReload %s: %s", eco_status_text(st), err);
    ECO_ASSERT_MSG(eco_exists(log), "ExecReload did not reopen %s", log);
    ECO_SYS(kill(main_pid, SIGTERM));
    ECO_ASSERT_MSG(eco_wait_gone(program, eco_timeout_ms()), "PROGRAM survived the stop");
    st = eco_reap(main_pid, eco_timeout_ms());
    ECO_ASSERT_MSG(ECO_EXITED(st, 128 + SIGTERM), "run %s", eco_status_text(st));
    expect_message(sock, "STOPPING=1", main_pid);
}

/* daemonctx-forking.service: ExecStart returns once PROGRAM runs, PIDFile=
 * names it (not the starter), ExecStop stops it and removes the file. */
ECO_TEST(systemd_cli_forking_unit_starts_and_stops_through_pidfile)
{
    const char *unit = example_unit("daemonctx-forking.service");
    expect_unit_setting(unit, "Type=forking");
    expect_unit_setting(unit, "PIDFile=/run/mydaemon.pid");
    const char *dir = eco_tmpdir();
    const char *pidfile = eco_fmt("%s/mydaemon.pid", dir);
    const struct subst subs[] = {{"/usr/bin/daemonctx", eco_env("DAEMONCTX")},
                                 {"/usr/local/bin/mydaemon", eco_env("SVC_PROG")},
                                 {"/run/mydaemon.pid", pidfile},
                                 {NULL, NULL}};
    eco_cmd c;
    unit_command(unit, "ExecStart", subs, &c);
    eco_cmd_env(&c, invocation_id());
    char *out, *err;
    int st = eco_run(&c, &out, &err);
    ECO_ASSERT_MSG(ECO_EXITED(st, 0), "ExecStart %s: %s", eco_status_text(st), err);
    char *text = eco_read_file(pidfile);
    ECO_ASSERT_MSG(text, "no PIDFile after ExecStart returned");
    pid_t pid = (pid_t)atoi(text);
    ECO_ASSERT_STR_EQ(text, eco_fmt("%d\n", (int)pid));
    ECO_ASSERT(pid != c.pid);
    ECO_ASSERT(eco_alive(pid));
    char exe[64], target[4096];
    (void)snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe, target, sizeof target - 1);
    ECO_SYS(n);
    target[n] = '\0';
    char want[4096];
    ECO_ASSERT(realpath(eco_env("SVC_PROG"), want));
    ECO_ASSERT_STR_EQ(target, want);

    unit_command(unit, "ExecStop", subs, &c);
    st = eco_run(&c, &out, &err);
    ECO_ASSERT_MSG(ECO_EXITED(st, 0), "ExecStop %s: %s", eco_status_text(st), err);
    ECO_ASSERT(!eco_alive(pid));
    ECO_ASSERT_MSG(!eco_exists(pidfile), "ExecStop left %s", pidfile);
}

ECO_MAIN
