/*
 * The SysV and OpenRC example scripts (examples/sysvinit, examples/openrc):
 * valid sh, and driven for real through start/status/stop with the build's
 * daemonctx and example daemon. OpenRC itself is not installed (it would
 * replace Debian's init); its helper functions are emulated by
 * openrc-shim.sh, and the script's own start/stop/status run unchanged.
 */
#include <errno.h>
#include <fcntl.h>
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

struct script {
    const char *path;
    bool openrc;
    const char *rundir, *pidfile;
    const char *env[4];
    size_t nenv;
};

static void setup(struct script *s, bool openrc)
{
    memset(s, 0, sizeof *s);
    const char *src = eco_env("ECO_SOURCE_DIR");
    s->openrc = openrc;
    s->path = openrc ? eco_fmt("%s/examples/openrc/dcx-example", src)
                     : eco_fmt("%s/examples/sysvinit/dcx-example", src);
    s->rundir = eco_fmt("%s/run", eco_tmpdir());
    s->pidfile = eco_fmt("%s/dcx-example.pid", s->rundir);
    if (openrc) {
        s->env[s->nenv++] = eco_fmt("daemonctx=%s", eco_env("DAEMONCTX"));
        s->env[s->nenv++] = eco_fmt("command=%s", eco_env("NOTIFY_EXAMPLE"));
        s->env[s->nenv++] = eco_fmt("rundir=%s", s->rundir);
    } else {
        s->env[s->nenv++] = eco_fmt("DAEMONCTX=%s", eco_env("DAEMONCTX"));
        s->env[s->nenv++] = eco_fmt("DAEMON=%s", eco_env("NOTIFY_EXAMPLE"));
        s->env[s->nenv++] = eco_fmt("RUNDIR=%s", s->rundir);
    }
}

/* `SCRIPT ACTION` (through the shim for OpenRC), with EXTRA in the
 * environment; returns the exit code. */
static int action(const struct script *s, const char *act, const char *extra, char **out, char **err)
{
    eco_cmd c;
    if (s->openrc)
        eco_cmd_init(&c, "/bin/sh",
                     eco_fmt("%s/tests/service/openrc-shim.sh", eco_env("ECO_SOURCE_DIR")), s->path, act,
                     (const char *)NULL);
    else
        eco_cmd_init(&c, "/bin/sh", s->path, act, (const char *)NULL);
    eco_cmd_env(&c, "NOTIFY_SOCKET");
    eco_cmd_env(&c, "INVOCATION_ID");
    for (size_t i = 0; i < s->nenv; i++)
        eco_cmd_env(&c, s->env[i]);
    if (extra)
        eco_cmd_env(&c, extra);
    char *o, *e;
    int st = eco_run(&c, &o, &e);
    ECO_ASSERT_MSG(WIFEXITED(st), "%s %s %s", s->path, act, eco_status_text(st));
    eco_log("%s %s -> %d; stdout: %s; stderr: %s", s->openrc ? "openrc" : "sysv", act, WEXITSTATUS(st), o, e);
    if (out)
        *out = o;
    if (err)
        *err = e;
    return WEXITSTATUS(st);
}

static pid_t pidfile_pid(const struct script *s)
{
    char *text = eco_read_file(s->pidfile);
    ECO_ASSERT_MSG(text, "no pidfile %s: %s", s->pidfile, strerror(errno));
    pid_t pid = (pid_t)atoi(text);
    ECO_ASSERT_STR_EQ(text, eco_fmt("%d\n", (int)pid));
    return pid;
}

/* The daemon answers on its socket the moment start has returned: start
 * waited for READY=1, sent once the socket listens. */
static pid_t expect_answering(const struct script *s, pid_t supervisor)
{
    int fd = (int)ECO_SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    (void)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/socket", s->rundir);
    ECO_SYS(connect(fd, (struct sockaddr *)&addr, sizeof addr));
    char *line = eco_read_line(fd, eco_timeout_ms());
    (void)close(fd);
    int pid = 0;
    ECO_ASSERT_MSG(line && sscanf(line, "dcx-notify-example %d", &pid) == 1, "the daemon answered \"%s\"",
                   line ? line : "(EOF)");
    /* --supervise: the pidfile names the supervisor, the daemon is its child. */
    ECO_ASSERT_INT_EQ(eco_ppid(pid), supervisor);
    return (pid_t)pid;
}

static void valid_sh(const char *rel)
{
    const char *path = eco_fmt("%s/%s", eco_env("ECO_SOURCE_DIR"), rel);
    const char *shells[] = {"/bin/sh", "/bin/dash", "/bin/bash"};
    for (size_t i = 0; i < 3; i++) {
        if (access(shells[i], X_OK) != 0)
            continue;
        eco_cmd c;
        if (strcmp(shells[i], "/bin/bash") == 0)
            eco_cmd_init(&c, shells[i], "--posix", "-n", path, (const char *)NULL);
        else
            eco_cmd_init(&c, shells[i], "-n", path, (const char *)NULL);
        char *err;
        int st = eco_run(&c, NULL, &err);
        ECO_ASSERT_MSG(ECO_EXITED(st, 0), "%s -n %s: %s", shells[i], path, err);
    }
    struct stat st;
    ECO_SYS(stat(path, &st));
    ECO_ASSERT_MSG(st.st_mode & S_IXUSR, "%s is not executable", path);
}

ECO_TEST(sysv_init_script_is_valid_sh)
{
    valid_sh("examples/sysvinit/dcx-example");
    char *text = eco_read_file(eco_fmt("%s/examples/sysvinit/dcx-example", eco_env("ECO_SOURCE_DIR")));
    ECO_ASSERT_CONTAINS(text, "### BEGIN INIT INFO\n");
    ECO_ASSERT_CONTAINS(text, "### END INIT INFO\n");
}

ECO_TEST(openrc_script_is_valid_sh)
{
    valid_sh("examples/openrc/dcx-example");
    char *text = eco_read_file(eco_fmt("%s/examples/openrc/dcx-example", eco_env("ECO_SOURCE_DIR")));
    ECO_ASSERT_MSG(strncmp(text, "#!/sbin/openrc-run\n", 19) == 0, "not an openrc-run script");
}

static void start_status_stop(bool openrc)
{
    struct script s;
    setup(&s, openrc);
    char *out;
    ECO_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
    ECO_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    pid_t pid = pidfile_pid(&s);
    ECO_ASSERT(eco_alive(pid));
    pid_t daemon = expect_answering(&s, pid);

    ECO_ASSERT_INT_EQ(action(&s, "status", NULL, &out, NULL), 0);
    ECO_ASSERT_CONTAINS(out, eco_fmt("running PID %d\n", (int)pid));

    /* A second start: refused by the lock, reported as success (LSB), and
     * the first daemon is the only one. */
    ECO_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    ECO_ASSERT_INT_EQ(pidfile_pid(&s), pid);
    ECO_ASSERT(eco_alive(pid));

    ECO_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0);
    ECO_ASSERT_MSG(!eco_alive(pid), "PID %d survived stop", (int)pid);
    ECO_ASSERT_MSG(!eco_alive(daemon), "the daemon PID %d survived stop", (int)daemon);
    ECO_ASSERT_MSG(!eco_exists(s.pidfile), "stop left %s", s.pidfile);
    ECO_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
    ECO_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0); /* not running: still success */
}

ECO_TEST(sysv_init_script_start_status_stop)
{
    start_status_stop(false);
}

ECO_TEST(openrc_script_start_status_stop)
{
    start_status_stop(true);
}

ECO_TEST(sysv_init_script_restart_replaces_the_daemon)
{
    struct script s;
    setup(&s, false);
    ECO_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    pid_t first = pidfile_pid(&s);
    ECO_ASSERT_INT_EQ(action(&s, "restart", NULL, NULL, NULL), 0);
    pid_t second = pidfile_pid(&s);
    ECO_ASSERT(second != first);
    ECO_ASSERT(!eco_alive(first));
    expect_answering(&s, second);
    ECO_ASSERT_INT_EQ(action(&s, "try-restart", NULL, NULL, NULL), 0);
    pid_t third = pidfile_pid(&s);
    ECO_ASSERT(third != second);
    ECO_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0);
    ECO_ASSERT(!eco_alive(third));
}

/* The daemon fails after the fork (its socket directory does not exist):
 * start says so and fails, and nothing is left. */
static void start_failure(bool openrc)
{
    struct script s;
    setup(&s, openrc);
    const char *bad = openrc ? "command_args=-s /nonexistent-eco-dir/socket" : "DAEMON_ARGS=-s /nonexistent-eco-dir/socket";
    char *err;
    int rc = action(&s, "start", bad, NULL, &err);
    /* LSB's "generic failure" for the SysV script; OpenRC passes daemonctx's
     * code on (8: PROGRAM ended before it was ready). */
    ECO_ASSERT_INT_EQ(rc, openrc ? 8 : 1);
    ECO_ASSERT_CONTAINS(err, "exited with status 1 before it was ready");
    ECO_ASSERT_MSG(!eco_exists(s.pidfile), "a failed start left %s", s.pidfile);
    ECO_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
}

ECO_TEST(sysv_init_script_start_failure_leaves_nothing)
{
    start_failure(false);
}

ECO_TEST(openrc_script_start_failure_leaves_nothing)
{
    start_failure(true);
}

ECO_TEST(sysv_init_script_missing_program_exits_5)
{
    struct script s;
    setup(&s, false);
    ECO_ASSERT_INT_EQ(action(&s, "start", "DAEMON=/nonexistent-eco/daemon", NULL, NULL), 5);
    ECO_ASSERT(!eco_exists(s.pidfile));
}

ECO_MAIN
