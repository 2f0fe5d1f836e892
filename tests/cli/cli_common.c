/* cli_common.c - see cli_common.h. */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *cli_path(void)
{
    return tu_env("DAEMONCTX");
}

/* A private copy: PROGRAM may run as nobody, who cannot reach a build tree
 * under a 0700 home. */
const char *prog_path(void)
{
    return tu_exec_copy(tu_env("DCX_CLI_PROG"));
}

void need_root(void)
{
    if (geteuid() != 0)
        tu_skip("needs root");
}

void cli_cmd(tu_cmd *c, const char *first_arg)
{
    tu_cmd_init_program(c, cli_path());
    if (first_arg)
        tu_cmd_arg(c, "%s", first_arg);
}

/* The command run as nobody: from a private copy, which nobody can reach
 * wherever the build tree lives. */
void cli_cmd_as_nobody(tu_cmd *c, const char *first_arg)
{
    tu_cmd_init_program(c, tu_exec_copy(cli_path()));
    if (first_arg)
        tu_cmd_arg(c, "%s", first_arg);
    c->set_ids = true;
    c->ruid = c->euid = 65534;
    c->rgid = c->egid = 65534;
    c->no_leak_check = true;
}

cli_result cli_finish(tu_proc *p, int64_t started_ms)
{
    cli_result r;
    tu_result t = tu_finish(p, tu_now_ms() + tu_timeout_ms());
    r.elapsed_ms = t.elapsed_ms - (started_ms - p->started_ms);
    r.code = t.code;
    r.out = t.out;
    r.err = t.err;
    r.proc = p;
    return r;
}

cli_result cli_run(tu_cmd *c)
{
    int64_t t0 = tu_now_ms();
    return cli_finish(tu_spawn(c), t0);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

void expect_error(const cli_result *r, int code, ...)
{
    if (r->code != code)
        TU_FAIL("exit status %d, expected %d; stderr: \"%s\"", r->code, code, r->err);
    size_t len = strlen(r->err);
    if (count_lines(r->err) != 1 || r->err[len - 1] != '\n')
        TU_FAIL("expected exactly one line on stderr, got \"%s\"", r->err);
    TU_ASSERT_MSG(strncmp(r->err, "daemonctx: ", 11) == 0, "stderr does not start with \"daemonctx: \": %s", r->err);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        TU_ASSERT_CONTAINS(r->err, needle);
    va_end(ap);
    tu_log("failed as expected (%d): %s", r->code, r->err);
}

void expect_usage_error(const cli_result *r, const char *needle)
{
    if (r->code != 2)
        TU_FAIL("exit status %d, expected 2 (usage); stderr: \"%s\"", r->code, r->err);
    if (count_lines(r->err) != 2)
        TU_FAIL("expected one line plus the hint on stderr, got \"%s\"", r->err);
    TU_ASSERT_CONTAINS(r->err, needle);
    const char *second = strchr(r->err, '\n') + 1;
    TU_ASSERT_STR_EQ(second, "Try 'daemonctx --help'.\n");
    TU_ASSERT_MSG(strstr(r->err, "Usage") == NULL, "usage error printed the help: %s", r->err);
    TU_ASSERT_STR_EQ(r->out, "");
}

void expect_success(const cli_result *r)
{
    if (r->code != 0)
        TU_FAIL("exit status %d, expected 0; stderr: \"%s\"", r->code, r->err);
}

pid_t pidfile_pid(const char *path)
{
    char *s = tu_read_file(path);
    if (!s)
        TU_FAIL("pidfile %s cannot be read: %s", path, strerror(errno));
    char *end;
    long pid = strtol(s, &end, 10);
    if (pid <= 0 || strcmp(end, "\n") != 0)
        TU_FAIL("pidfile %s holds \"%s\", not \"PID\\n\"", path, s);
    tu_track_pid((pid_t)pid);
    return (pid_t)pid;
}

pid_t start_daemon(tu_cmd *c, const char *pidfile, cli_result *out)
{
    cli_result r = cli_run(c);
    expect_success(&r);
    TU_ASSERT_STR_EQ(r.err, "");
    pid_t pid = pidfile_pid(pidfile);
    TU_ASSERT_MSG(tu_alive(pid), "the daemon %d named by %s is not running", (int)pid, pidfile);
    tu_wait_reparented(pid);
    if (out)
        *out = r;
    return pid;
}

pid_t expect_event(tu_proc *p, const char *word)
{
    char *line = tu_read_line(p->report, tu_timeout_ms());
    if (!line)
        TU_FAIL("EOF on the event channel, expected \"%s PID\"", word);
    size_t wl = strlen(word);
    TU_ASSERT_MSG(strncmp(line, word, wl) == 0 && line[wl] == ' ', "event \"%s\", expected \"%s PID\"", line, word);
    return (pid_t)atoi(line + wl + 1);
}

pid_t expect_stamp(tu_proc *p, const char *word, int64_t *us)
{
    char *line = tu_read_line(p->report, tu_timeout_ms());
    if (!line)
        TU_FAIL("EOF on the event channel, expected \"%s PID US\"", word);
    size_t wl = strlen(word);
    int pid = 0;
    long long t = 0;
    TU_ASSERT_MSG(strncmp(line, word, wl) == 0 && sscanf(line + wl, " %d %lld", &pid, &t) == 2,
                  "event \"%s\", expected \"%s PID US\"", line, word);
    *us = t;
    return (pid_t)pid;
}

pid_t cli_start_plain(const char *pidfile)
{
    tu_cmd c;
    cli_cmd(&c, "start");
    c.report = false;
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_result r = tu_run(&c);
    if (r.code != 0)
        TU_FAIL("starting a daemon on %s: exit %d: %s", pidfile, r.code, r.err);
    pid_t pid = tu_pidfile_pid(pidfile);
    TU_ASSERT_MSG(pid > 0, "no PID in %s after a start", pidfile);
    tu_track_pid(pid);
    tu_wait_reparented(pid);
    return pid;
}

bool fd_points_to(pid_t pid, int fd, const char *path)
{
    return tu_proc_is(pid, tu_fmt("fd/%d", fd), path);
}

const char *proc_strings(pid_t pid, const char *what, size_t *len)
{
    char *path = tu_fmt("/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        TU_FAIL("open %s: %s", path, strerror(errno));
    static char buf[65536];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 2 && (k = read(fd, buf + n, sizeof buf - 2 - n)) > 0)
        n += (size_t)k;
    close(fd);
    buf[n] = buf[n + 1] = 0;
    char *copy = tu_fmt("%*s", (int)n + 1, ""); /* n + 2 bytes the harness frees */
    memcpy(copy, buf, n + 2);
    *len = n;
    return copy;
}

const char *proc_env(pid_t pid, const char *name)
{
    size_t len, nl = strlen(name);
    const char *env = proc_strings(pid, "environ", &len);
    for (const char *e = env; e < env + len; e += strlen(e) + 1)
        if (strncmp(e, name, nl) == 0 && e[nl] == '=')
            return e + nl + 1;
    return NULL;
}
