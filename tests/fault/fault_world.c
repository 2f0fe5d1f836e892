/* fault_world.c - see fault_world.h. */
#include "fault_world.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void copy_file(const char *from, const char *to, mode_t mode)
{
    int in = TU_FD(open(from, O_RDONLY | O_CLOEXEC));
    int out = TU_FD(open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            TU_FAIL("copying %s: %s", from, strerror(errno));
    close(in);
    TU_SYS(fchmod(out, mode));
    close(out);
}

void fw_init(fw_world *w, enum fw_kind kind)
{
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->dir = tu_tmpdir();
    w->pidfile = tu_fmt("%s/d.pid", w->dir);
    w->jail = tu_fmt("%s/jail", w->dir);
    w->out = tu_fmt("%s/out.log", w->dir);
    w->err = tu_fmt("%s/err.log", w->dir);
    TU_SYS(mkdir(w->jail, 0755));
    copy_file(prog_path(), tu_fmt("%s/prog", w->jail), 0755);
    w->bystander_pidfile = tu_fmt("%s/bystander.pid", w->dir);
    w->bystander = cli_start_plain(w->bystander_pidfile);
    w->bystander_snap = tu_snapshot(w->bystander_pidfile);
    w->instance = 0;
    fault_chan_open(&w->ch);
}

void fw_add_instance(fw_world *w)
{
    w->instance = cli_start_plain(w->pidfile);
    w->instance_snap = tu_snapshot(w->pidfile);
}

void fw_add_stale(fw_world *w, const char *content, mode_t mode)
{
    tu_write_file(w->pidfile, content, mode);
    w->stale_snap = tu_snapshot(w->pidfile);
}

bool fw_config_needs_root(enum fw_config cfg)
{
    return cfg == FW_JAIL_USER;
}

bool fw_config_exists(enum fw_kind kind, enum fw_config cfg)
{
    return kind == FW_CLI || cfg == FW_PLAIN || cfg == FW_JAIL_USER || cfg == FW_NOTIFY;
}

const char *fw_config_name(enum fw_config cfg)
{
    static const char *const names[] = {"plain", "jail+user", "supervise", "notify", "ready-fd"};
    return names[cfg];
}

void fw_build(const fw_world *w, enum fw_config cfg, tu_cmd *c, const char *rules, bool trace, int event_fd)
{
    if (w->kind == FW_CLI) {
        tu_cmd_init_command(c, cli_path(), (const char *)NULL);
        c->new_session = true;
        tu_cmd_arg(c, "start");
        tu_cmd_arg(c, "--pidfile=%s", w->pidfile);
        /* A start that loses track of its daemon ends by this deadline. */
        tu_cmd_arg(c, "--timeout=3");
        switch (cfg) {
        case FW_PLAIN:
            break;
        case FW_JAIL_USER:
            tu_cmd_arg(c, "--user=nobody");
            tu_cmd_arg(c, "--chroot=%s", w->jail);
            tu_cmd_arg(c, "--chdir=/");
            tu_cmd_arg(c, "--stdout=%s", w->out);
            tu_cmd_arg(c, "--stderr=%s", w->err);
            tu_cmd_arg(c, "--umask=027");
            break;
        case FW_SUPERVISE:
            tu_cmd_arg(c, "--supervise");
            break;
        case FW_NOTIFY:
            tu_cmd_arg(c, "--ready=notify");
            break;
        case FW_READY_FD:
            tu_cmd_arg(c, "--ready=fd:4");
            break;
        default:
            break;
        }
        tu_cmd_arg(c, "--");
        tu_cmd_arg(c, "%s", cfg == FW_JAIL_USER ? "/prog" : prog_path());
        if (cfg == FW_NOTIFY)
            tu_cmd_arg(c, "notify:READY=1");
        if (cfg == FW_READY_FD)
            tu_cmd_arg(c, "ready-fd:4");
    } else {
        tu_cmd_init_command(c, tu_helper_path(), (const char *)NULL);
        c->new_session = true;
        tu_cmd_arg(c, "--report-fd=%d", EVENT_FD);
        tu_cmd_arg(c, "--detach=yes");
        tu_cmd_arg(c, "--pidfile=%s", w->pidfile);
        tu_cmd_arg(c, "--timeout-ms=3000");
        if (cfg == FW_JAIL_USER) {
            tu_cmd_arg(c, "--uid=65534");
            tu_cmd_arg(c, "--gid=65534");
            tu_cmd_arg(c, "--chroot=%s", w->jail);
            tu_cmd_arg(c, "--workdir=/");
        }
        if (cfg == FW_NOTIFY) {
            tu_cmd_arg(c, "--ready-mode=notify");
            tu_cmd_arg(c, "--exec");
            tu_cmd_arg(c, "%s", prog_path());
        }
        if (event_fd >= 0)
            tu_cmd_fd(c, EVENT_FD, event_fd);
    }
    fault_env(c, &w->ch, rules, trace, false);
}

static int event_pipe[2] = {-1, -1};

fw_outcome fw_run(fw_world *w, enum fw_config cfg, const char *rules, bool trace)
{
    fw_outcome o;
    memset(&o, 0, sizeof o);
    fault_chan_reset(&w->ch);
    if (event_pipe[0] >= 0)
        close(event_pipe[0]);
    event_pipe[0] = event_pipe[1] = -1;
    if (w->kind == FW_LIB)
        TU_SYS(pipe2(event_pipe, O_CLOEXEC));
    tu_cmd c;
    fw_build(w, cfg, &c, rules, trace, event_pipe[1]);
    tu_proc *p = tu_spawn(&c);
    if (event_pipe[1] >= 0) {
        close(event_pipe[1]);
        event_pipe[1] = -1;
    }
    /* A hung start is killed and judged (soft) at two thirds of the harness
     * deadline (10 s unscaled). */
    o.r = tu_finish_watching(p, tu_now_ms() + (w->soft_timeouts ? tu_timeout_ms() * 2 / 3 : tu_timeout_ms()),
                             w->ch.fd, fault_chan_drain_cb, &w->ch, w->soft_timeouts);
    fault_chan_drain(&w->ch);
    /* A fault in the daemon after it said it is up may come after the
     * invoker is gone (the supervisor's loop). */
    if (o.r.code == 0 && rules && *rules && fault_chan_hits(&w->ch) == 0)
        (void)fault_chan_wait(&w->ch, "hit", tu_now_ms() + 2000);
    o.hits = fault_chan_hits(&w->ch);
    o.hit_depth = -1;
    for (size_t i = 0; i < w->ch.n && o.hit_depth < 0; i++)
        if (strcmp(w->ch.ev[i].kind, "hit") == 0)
            o.hit_depth = w->ch.ev[i].depth;
    o.succeeded = o.r.code == 0;
    return o;
}

bool fw_documented_start_code(int code)
{
    return (code >= 1 && code <= 9) || code == 126 || code == 127;
}

static const char *judge_bystanders(fw_world *w)
{
    if (tu_state_of(w->bystander) == 0 || tu_state_of(w->bystander) == 'Z')
        return tu_fmt("the bystander daemon %d is gone", (int)w->bystander);
    tu_snap now = tu_snapshot(w->bystander_pidfile);
    if (!now.exists || now.ino != w->bystander_snap.ino || now.mtime_ns != w->bystander_snap.mtime_ns ||
        !now.content || strcmp(now.content, w->bystander_snap.content) != 0)
        return "the bystander's pidfile was modified";
    if (w->instance) {
        if (tu_state_of(w->instance) == 0 || tu_state_of(w->instance) == 'Z')
            return tu_fmt("the running instance %d is gone", (int)w->instance);
        now = tu_snapshot(w->pidfile);
        if (!now.exists || now.ino != w->instance_snap.ino || now.mtime_ns != w->instance_snap.mtime_ns ||
            !now.content || strcmp(now.content, w->instance_snap.content) != 0)
            return "the running instance's pidfile was modified";
        if (tu_flock_holder(w->pidfile) <= 0)
            return "the running instance's pidfile is no longer locked";
    }
    return NULL;
}

static const char *status_of(const char *pidfile, int *code)
{
    tu_cmd c;
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "status");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_result r = tu_run(&c);
    *code = r.code;
    return r.out;
}

void fw_clean(fw_world *w)
{
    pid_t keep[2] = {w->bystander, w->instance};
    tu_kill_all_except(keep, w->instance ? 2 : 1);
    if (!w->instance)
        (void)unlink(w->pidfile);
    if (w->stale_snap.exists) {
        tu_write_file(w->pidfile, w->stale_snap.content, w->stale_snap.mode & 07777);
        w->stale_snap = tu_snapshot(w->pidfile);
    }
    (void)unlink(w->out);
    (void)unlink(w->err);
    if (event_pipe[0] >= 0)
        close(event_pipe[0]);
    event_pipe[0] = -1;
}

/* Live descendants but ALLOWED; the dead (zombies, exiting, SIGKILL pending:
 * the death signal of a supervisor just killed) run and hold nothing. */
static const char *left_behind(const pid_t *allowed, size_t nallowed)
{
    size_t n;
    tu_desc *d = tu_descendants(&n);
    char *list = NULL;
    for (size_t i = 0; i < n; i++) {
        bool ok = d[i].dead;
        for (size_t j = 0; j < nallowed; j++)
            ok |= d[i].pid == allowed[j];
        if (ok)
            continue;
        char *cmd = tu_read_file(tu_fmt("/proc/%d/cmdline", (int)d[i].pid));
        list = tu_fmt("%s %d[%c](%s uid %ld)", list ? list : "", (int)d[i].pid, d[i].state, cmd ? cmd : "?",
                      tu_uid_of(d[i].pid));
    }
    return list;
}

/* Wait (pidfds, bounded) until every process left but the bystanders has
 * ended: for a daemon that a fault ends right after it said it is up. */
static void settle(const pid_t *allowed, size_t nallowed)
{
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    while (tu_now_ms() < deadline) {
        size_t n;
        tu_desc *d = tu_descendants(&n);
        pid_t wait_for = 0;
        for (size_t i = 0; i < n && !wait_for; i++) {
            bool ok = d[i].dead;
            for (size_t j = 0; j < nallowed; j++)
                ok |= d[i].pid == allowed[j];
            if (!ok)
                wait_for = d[i].pid;
        }
        if (!wait_for)
            return;
        (void)tu_wait_gone(wait_for, tu_left_ms(deadline));
    }
}

static const char *chomp(const char *s)
{
    size_t n = strlen(s);
    return n && s[n - 1] == '\n' ? tu_fmt("%.*s", (int)n - 1, s) : s;
}

static const char *judge(fw_world *w, const fw_outcome *o, bool must_fail, int code, const char *const *needles)
{
    const tu_result *r = &o->r;
    pid_t keep[2] = {w->bystander, w->instance};
    if (r->timed_out)
        return tu_fmt("the start hung (killed after %lld ms); stderr \"%s\"", (long long)r->elapsed_ms, chomp(r->err));
    if (r->code == 0) {
        if (must_fail)
            return tu_fmt("the start succeeded (stderr \"%s\")", chomp(r->err));
        if (w->kind == FW_CLI && r->err[0])
            return tu_fmt("a successful start printed \"%s\"", chomp(r->err));
        pid_t daemon;
        if (w->kind == FW_LIB) {
            if (!tu_readable_within(event_pipe[0], tu_timeout_ms()))
                return "succeeded but no \"up\" line from the daemon";
            char *line = tu_read_line(event_pipe[0], tu_timeout_ms());
            int pid = 0, dpid, open_flag;
            if (!line || sscanf(line, "up %d %d %d", &pid, &dpid, &open_flag) != 3)
                return tu_fmt("succeeded but the daemon said \"%s\"", line ? line : "EOF");
            daemon = pid;
            if (tu_pidfile_pid(w->pidfile) != daemon)
                return tu_fmt("succeeded but the pidfile does not name daemon %d", (int)daemon);
        } else {
            daemon = tu_pidfile_pid(w->pidfile);
            /* A fault in the daemon after it was ready (the supervisor's
             * loop) may end it right after a successful start: then it must
             * have ended cleanly, its pidfile gone or unlocked. */
            if (daemon <= 0 && o->hit_depth >= 2) {
                settle(keep, w->instance ? 2 : 1);
                if (tu_flock_holder(w->pidfile) <= 0)
                    return judge_bystanders(w);
            }
            if (daemon <= 0)
                return "succeeded but the pidfile holds no PID";
            int sc;
            const char *out = status_of(w->pidfile, &sc);
            /* A fault in the daemon after it was ready (the supervisor's
             * loop) may end it right after a successful start: then it must
             * have ended cleanly. */
            if (sc != 0 && o->hit_depth >= 2) {
                settle(keep, w->instance ? 2 : 1);
                if (tu_flock_holder(w->pidfile) <= 0)
                    return judge_bystanders(w);
            }
            if (sc != 0 || strcmp(out, tu_fmt("running PID %d\n", (int)daemon)) != 0)
                return tu_fmt("succeeded but status says %d \"%s\"", sc, chomp(out));
        }
        /* A fault that made the start skip its wait for the intermediate
         * child (waitpid failing) lets it leave while that child is still
         * exiting: the daemon comes to us once the child is gone. */
        if (!tu_reparented_within(daemon, tu_timeout_ms()))
            return tu_fmt("succeeded but daemon %d is not running under the test", (int)daemon);
        return judge_bystanders(w);
    }
    if (!fw_documented_start_code(r->code) || (code >= 0 && r->code != code))
        return tu_fmt("exit status %d (expected %d); stderr \"%s\"", r->code, code, chomp(r->err));
    if (!tu_one_line(r->err))
        return tu_fmt("expected one line on stderr, got \"%s\"", chomp(r->err));
    if (w->kind == FW_CLI && strncmp(r->err, "daemonctx: ", 11) != 0)
        return tu_fmt("stderr does not start with \"daemonctx: \": \"%s\"", chomp(r->err));
    for (size_t i = 0; needles && needles[i]; i++)
        if (!strstr(r->err, needles[i]))
            return tu_fmt("stderr \"%s\" does not contain \"%s\"", r->err, needles[i]);
    /* Nothing may be left: no process (we are the subreaper of all), and no
     * pidfile of this attempt. */
    const char *left = left_behind(keep, w->instance ? 2 : 1);
    if (left)
        return tu_fmt("processes left behind:%s (stderr \"%s\")", left, chomp(r->err));
    if (w->stale_snap.exists && tu_path_exists(w->pidfile)) {
        tu_snap now = tu_snapshot(w->pidfile);
        if (now.ino != w->stale_snap.ino || !now.content || strcmp(now.content, w->stale_snap.content) != 0 ||
            tu_flock_holder(w->pidfile) > 0)
            return tu_fmt("the stale pidfile was changed (\"%s\") (stderr \"%s\")", now.content ? now.content : "?",
                          chomp(r->err));
    } else if (!w->instance && tu_path_exists(w->pidfile)) {
        const char *content = tu_read_file(w->pidfile);
        return tu_fmt("the failed start left its pidfile (\"%s\", %s) (stderr \"%s\")", content ? content : "?",
                      tu_flock_holder(w->pidfile) > 0 ? "locked" : "unlocked", chomp(r->err));
    }
    return judge_bystanders(w);
}

const char *fw_judge(fw_world *w, const fw_outcome *o, bool must_fail, int code, const char *const *needles)
{
    const char *problem = judge(w, o, must_fail, code, needles);
    fw_clean(w);
    return problem;
}

void fw_check(fw_world *w, const fw_outcome *o, bool must_fail, int code, const char *const *needles,
              const char *context)
{
    const char *problem = fw_judge(w, o, must_fail, code, needles);
    if (problem)
        TU_FAIL("%s: %s", context, problem);
}

/* What each call realistically fails with; 0: a failure that cannot
 * happen (F_GETFD on an open fd) or that would only test the kernel. */
int fw_errno_for(const char *f, const char *extra)
{
    static const struct {
        const char *func;
        int err;
    } table[] = {
        {"clone", EPERM},          {"fork", EAGAIN},          {"setsid", EPERM},          {"chroot", EACCES},        {"chdir", EACCES},
        {"setgroups", EPERM},      {"setresgid", EPERM},       {"setresuid", EAGAIN},     {"setpgid", EPERM},
        {"prctl", EINVAL},         {"setrlimit", EPERM},       {"execv", EACCES},         {"execve", EACCES},
        {"kill", EPERM},           {"waitpid", ECHILD},        {"waitid", ECHILD},        {"signalfd", EMFILE},
        {"open", EMFILE},          {"openat", EMFILE},         {"dup2", EMFILE},          {"dup3", EMFILE},
        {"flock", ENOLCK},         {"pwrite", ENOSPC},         {"pread", EIO},            {"ftruncate", EIO},
        {"fchmod", EIO},           {"unlink", EROFS},          {"unlinkat", EROFS},       {"inotify_init1", EMFILE},
        {"inotify_add_watch", ENOSPC},
        {"pipe2", EMFILE},         {"socketpair", EMFILE},     {"socket", EMFILE},        {"bind", EADDRINUSE},
        {"connect", ECONNREFUSED}, {"send", ENOBUFS},          {"sendto", ENOBUFS},       {"recv", ENOMEM},
        {"recvmsg", ENOMEM},       {"setsockopt", ENOMEM},     {"poll", ENOMEM},          {"getpwnam", EIO},
        {"getgrnam", EIO},         {"getpwuid_r", EIO},        {"pidfd_open", EMFILE},
        {"pidfd_send_signal", EPERM}, {"close_range", ENOSYS}, {"getdents64", EIO},       {"openat2", ENOSYS},
    };
    /* read and write only move the tests' own messages and readiness bytes
     * (pipes, signalfds), which fail with nothing but EINTR/EAGAIN: those are
     * the EINTR tests' business. */
    if (strcmp(f, "read") == 0 || strcmp(f, "write") == 0)
        return 0;
    if (strcmp(f, "fcntl") == 0) /* only the dup commands can run out of fds */
        return extra && (strcmp(extra, "cmd=0") == 0 || strcmp(extra, "cmd=1030") == 0) ? EMFILE : 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].func, f) == 0)
            return table[i].err;
    return 0;
}

const char *fw_strerror(int e)
{
    return tu_strdup(strerror(e));
}
