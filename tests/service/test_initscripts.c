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

#include "testutil.h"

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
    const char *src = tu_env("DCX_SOURCE_DIR");
    s->openrc = openrc;
    s->path = openrc ? tu_fmt("%s/examples/openrc/dcx-example", src)
                     : tu_fmt("%s/examples/sysvinit/dcx-example", src);
    s->rundir = tu_fmt("%s/run", tu_tmpdir());
    s->pidfile = tu_fmt("%s/dcx-example.pid", s->rundir);
    if (openrc) {
        s->env[s->nenv++] = tu_fmt("daemonctx=%s", tu_env("DAEMONCTX"));
        s->env[s->nenv++] = tu_fmt("command=%s", tu_env("NOTIFY_EXAMPLE"));
        s->env[s->nenv++] = tu_fmt("rundir=%s", s->rundir);
    } else {
        s->env[s->nenv++] = tu_fmt("DAEMONCTX=%s", tu_env("DAEMONCTX"));
        s->env[s->nenv++] = tu_fmt("DAEMON=%s", tu_env("NOTIFY_EXAMPLE"));
        s->env[s->nenv++] = tu_fmt("RUNDIR=%s", s->rundir);
    }
}

/* `SCRIPT ACTION` (through the shim for OpenRC), with EXTRA in the
 * environment; returns the exit code. */
static int action(const struct script *s, const char *act, const char *extra, const char **out, const char **err)
{
    tu_cmd c;
    if (s->openrc)
        tu_cmd_init_command(&c, "/bin/sh",
                     tu_fmt("%s/tests/service/openrc-shim.sh", tu_env("DCX_SOURCE_DIR")), s->path, act,
                     (const char *)NULL);
    else
        tu_cmd_init_command(&c, "/bin/sh", s->path, act, (const char *)NULL);
    tu_cmd_env(&c, "NOTIFY_SOCKET");
    tu_cmd_env(&c, "INVOCATION_ID");
    for (size_t i = 0; i < s->nenv; i++)
        tu_cmd_env(&c, s->env[i]);
    if (extra)
        tu_cmd_env(&c, extra);
    tu_result r = tu_run(&c);
    TU_ASSERT_MSG(WIFEXITED(r.status), "%s %s %s", s->path, act, tu_describe_status(r.status));
    tu_log("%s %s -> %d; stdout: %s; stderr: %s", s->openrc ? "openrc" : "sysv", act, r.code, r.out, r.err);
    if (out)
        *out = r.out;
    if (err)
        *err = r.err;
    return r.code;
}

static pid_t pidfile_pid(const struct script *s)
{
    char *text = tu_read_file(s->pidfile);
    TU_ASSERT_MSG(text, "no pidfile %s: %s", s->pidfile, strerror(errno));
    pid_t pid = (pid_t)atoi(text);
    TU_ASSERT_STR_EQ(text, tu_fmt("%d\n", (int)pid));
    return pid;
}

/* The daemon answers on its socket the moment start has returned: start
 * waited for READY=1, sent once the socket listens. */
static pid_t expect_answering(const struct script *s, pid_t supervisor)
{
    int fd = (int)TU_SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    (void)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/socket", s->rundir);
    TU_SYS(connect(fd, (struct sockaddr *)&addr, sizeof addr));
    char *line = tu_read_line(fd, tu_timeout_ms());
    (void)close(fd);
    int pid = 0;
    TU_ASSERT_MSG(line && sscanf(line, "dcx-notify-example %d", &pid) == 1, "the daemon answered \"%s\"",
                   line ? line : "(EOF)");
    /* --supervise: the pidfile names the supervisor, the daemon is its child. */
    TU_ASSERT_INT_EQ(tu_parent_of(pid), supervisor);
    return (pid_t)pid;
}

static void valid_sh(const char *rel)
{
    const char *path = tu_fmt("%s/%s", tu_env("DCX_SOURCE_DIR"), rel);
    const char *shells[] = {"/bin/sh", "/bin/dash", "/bin/bash"};
    for (size_t i = 0; i < 3; i++) {
        if (access(shells[i], X_OK) != 0)
            continue;
        tu_cmd c;
        if (strcmp(shells[i], "/bin/bash") == 0)
            tu_cmd_init_command(&c, shells[i], "--posix", "-n", path, (const char *)NULL);
        else
            tu_cmd_init_command(&c, shells[i], "-n", path, (const char *)NULL);
        tu_result r = tu_run(&c);
        TU_ASSERT_MSG(TU_EXITED(r.status, 0), "%s -n %s: %s", shells[i], path, r.err);
    }
    struct stat st;
    TU_SYS(stat(path, &st));
    TU_ASSERT_MSG(st.st_mode & S_IXUSR, "%s is not executable", path);
}

TU_TEST(sysv_init_script_is_valid_sh)
{
    valid_sh("examples/sysvinit/dcx-example");
    char *text = tu_read_file(tu_fmt("%s/examples/sysvinit/dcx-example", tu_env("DCX_SOURCE_DIR")));
    TU_ASSERT_CONTAINS(text, "### BEGIN INIT INFO\n");
    TU_ASSERT_CONTAINS(text, "### END INIT INFO\n");
}

TU_TEST(openrc_script_is_valid_sh)
{
    valid_sh("examples/openrc/dcx-example");
    char *text = tu_read_file(tu_fmt("%s/examples/openrc/dcx-example", tu_env("DCX_SOURCE_DIR")));
    TU_ASSERT_MSG(strncmp(text, "#!/sbin/openrc-run\n", 19) == 0, "not an openrc-run script");
}

static void start_status_stop(bool openrc)
{
    struct script s;
    setup(&s, openrc);
    const char *out;
    TU_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
    TU_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    pid_t pid = pidfile_pid(&s);
    TU_ASSERT(tu_alive(pid));
    pid_t daemon = expect_answering(&s, pid);

    TU_ASSERT_INT_EQ(action(&s, "status", NULL, &out, NULL), 0);
    TU_ASSERT_CONTAINS(out, tu_fmt("running PID %d\n", (int)pid));

    /* A second start: refused by the lock, reported as success (LSB), and
     * the first daemon is the only one. */
    TU_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    TU_ASSERT_INT_EQ(pidfile_pid(&s), pid);
    TU_ASSERT(tu_alive(pid));

    TU_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0);
    TU_ASSERT_MSG(!tu_alive(pid), "PID %d survived stop", (int)pid);
    TU_ASSERT_MSG(!tu_alive(daemon), "the daemon PID %d survived stop", (int)daemon);
    TU_ASSERT_MSG(!tu_path_exists(s.pidfile), "stop left %s", s.pidfile);
    TU_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
    TU_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0); /* not running: still success */
}

TU_TEST(sysv_init_script_start_status_stop)
{
    start_status_stop(false);
}

TU_TEST(openrc_script_start_status_stop)
{
    start_status_stop(true);
}

TU_TEST(sysv_init_script_restart_replaces_the_daemon)
{
    struct script s;
    setup(&s, false);
    TU_ASSERT_INT_EQ(action(&s, "start", NULL, NULL, NULL), 0);
    pid_t first = pidfile_pid(&s);
    TU_ASSERT_INT_EQ(action(&s, "restart", NULL, NULL, NULL), 0);
    pid_t second = pidfile_pid(&s);
    TU_ASSERT(second != first);
    TU_ASSERT(!tu_alive(first));
    expect_answering(&s, second);
    TU_ASSERT_INT_EQ(action(&s, "try-restart", NULL, NULL, NULL), 0);
    pid_t third = pidfile_pid(&s);
    TU_ASSERT(third != second);
    TU_ASSERT_INT_EQ(action(&s, "stop", NULL, NULL, NULL), 0);
    TU_ASSERT(!tu_alive(third));
}

/* The daemon fails after the fork (its socket directory does not exist):
 * start says so and fails, and nothing is left. */
static void start_failure(bool openrc)
{
    struct script s;
    setup(&s, openrc);
    const char *bad = openrc ? "command_args=-s /nonexistent-eco-dir/socket" : "DAEMON_ARGS=-s /nonexistent-eco-dir/socket";
    const char *err;
    int rc = action(&s, "start", bad, NULL, &err);
    /* LSB's "generic failure" for the SysV script; OpenRC passes daemonctx's
     * code on (8: PROGRAM ended before it was ready). */
    TU_ASSERT_INT_EQ(rc, openrc ? 8 : 1);
    TU_ASSERT_CONTAINS(err, "exited with status 1 before it was ready");
    TU_ASSERT_MSG(!tu_path_exists(s.pidfile), "a failed start left %s", s.pidfile);
    TU_ASSERT_INT_EQ(action(&s, "status", NULL, NULL, NULL), 3);
}

TU_TEST(sysv_init_script_start_failure_leaves_nothing)
{
    start_failure(false);
}

TU_TEST(openrc_script_start_failure_leaves_nothing)
{
    start_failure(true);
}

TU_TEST(sysv_init_script_missing_program_exits_5)
{
    struct script s;
    setup(&s, false);
    TU_ASSERT_INT_EQ(action(&s, "start", "DAEMON=/nonexistent-eco/daemon", NULL, NULL), 5);
    TU_ASSERT(!tu_path_exists(s.pidfile));
}

TU_MAIN
