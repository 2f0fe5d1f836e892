/*
 * EINTR changes nothing observable: on every blocking call of the invoker
 * (and of the daemon's start), of `stop` and of `status`.
 *
 * Two ways. The fault shim makes each traced blocking call fail once with
 * EINTR (the exact call, every one in turn). And a real signal storm: a
 * sibling process sends SIGUSR1 (for which the shim installed a handler
 * without SA_RESTART, so blocking calls really are interrupted), SIGCHLD,
 * SIGWINCH and SIGSTOP+SIGCONT to the command through a pidfd for as long
 * as it runs. Either way the exit code and output must be those of an
 * undisturbed run, and the daemon, the pidfile and the bystander as they
 * would have been.
 */
#include "fault_world.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The calls that can block, and so be interrupted (write is left out: it
 * only carries the test programs' own messages). */
static bool can_block(const char *f)
{
    static const char *const calls[] = {"poll", "recv", "recvmsg", "waitpid", "waitid", "read", "pread", "flock",
                                        "open", "openat", "connect", "send", "sendto", "pwrite",
                                        "dup2", "openat2"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (strcmp(calls[i], f) == 0)
            return true;
    return false;
}

/* procfs answers at once: an open there is never interrupted. */
static bool on_procfs(const fault_event *e)
{
    if (strncmp(e->extra, "/proc/", 6) == 0)
        return true;
    if (strcmp(e->func, "openat") != 0)
        return false;
    for (const char *p = e->extra; *p; p++) /* /proc/PID/fdinfo/N, by its dirfd */
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static fault_event *traced(const fault_chan *ch, size_t *n)
{
    fault_event *t = calloc(ch->n + 1, sizeof *t);
    TU_ASSERT(t != NULL);
    *n = 0;
    for (size_t i = 0; i < ch->n; i++)
        if (strcmp(ch->ev[i].kind, "trace") == 0 && can_block(ch->ev[i].func) && !on_procfs(&ch->ev[i]))
            t[(*n)++] = ch->ev[i];
    return t;
}

/* ------------------------------------------------ EINTR once, per call */

static void eintr_start(enum fw_kind kind, enum fw_config cfg)
{
    fw_world w;
    fw_init(&w, kind);
    fw_outcome base = fw_run(&w, cfg, "", true);
    TU_ASSERT_MSG(base.r.code == 0, "baseline start: exit %d: %s", base.r.code, base.r.err);
    size_t n;
    fault_event *calls = traced(&w.ch, &n);
    fw_check(&w, &base, false, 0, NULL, "baseline");
    TU_ASSERT_MSG(n >= 3, "only %zu blocking calls traced", n);
    size_t injected = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &calls[i];
        const char *rule = tu_fmt("func=%s,depth=%d,nth=%u,errno=EINTR", e->func, e->depth, e->nth);
        const char *context =
            tu_fmt("%s %s, EINTR once from %s #%u at depth %d", kind == FW_CLI ? "daemonctx start" : "dcx-helper",
                   fw_config_name(cfg), e->func, e->nth, e->depth);
        tu_context = context;
        fw_outcome o = fw_run(&w, cfg, rule, false);
        injected += o.hits;
        if (o.r.code != 0)
            TU_FAIL("%s: the start failed (exit %d): %s", context, o.r.code, o.r.err);
        fw_check(&w, &o, false, 0, NULL, context);
    }
    free(calls);
    tu_log("%zu blocking calls interrupted once each, every start unchanged", injected);
    tu_count("EINTR injected", (long)injected);
    tu_print_counts();
}

TU_TEST(eintr_cli_start_every_blocking_call_once)
{
    eintr_start(FW_CLI, FW_PLAIN);
}
TU_TEST(eintr_cli_start_ready_fd_every_blocking_call_once)
{
    eintr_start(FW_CLI, FW_READY_FD);
}
TU_TEST(eintr_cli_start_notify_every_blocking_call_once)
{
    eintr_start(FW_CLI, FW_NOTIFY);
}
TU_TEST(eintr_cli_start_supervise_every_blocking_call_once)
{
    eintr_start(FW_CLI, FW_SUPERVISE);
}
TU_TEST(eintr_lib_open_every_blocking_call_once)
{
    eintr_start(FW_LIB, FW_PLAIN);
}
TU_TEST(eintr_lib_open_notify_exec_every_blocking_call_once)
{
    eintr_start(FW_LIB, FW_NOTIFY);
}

/* A command of the CLI (stop, status) on PIDFILE, under RULES. */
static tu_result run_cli(fault_chan *ch, const char *cmd, const char *pidfile, const char *rules, bool trace,
                          const char *extra)
{
    tu_cmd c;
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "%s", cmd);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    if (extra)
        tu_cmd_arg(&c, "%s", extra);
    fault_env(&c, ch, rules, trace, false);
    fault_chan_reset(ch);
    tu_proc *p = tu_spawn(&c);
    tu_result r = tu_finish_watching(p, tu_now_ms() + tu_timeout_ms(), ch->fd, fault_chan_drain_cb, ch, false);
    fault_chan_drain(ch);
    return r;
}

static void eintr_stop(void)
{
    fw_world w;
    fw_init(&w, FW_CLI);
    pid_t d = cli_start_plain(w.pidfile);
    tu_result base = run_cli(&w.ch, "stop", w.pidfile, "", true, NULL);
    TU_ASSERT_MSG(base.code == 0, "baseline stop: exit %d: %s", base.code, base.err);
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    size_t n;
    fault_event *calls = traced(&w.ch, &n);
    TU_ASSERT_MSG(n >= 2, "only %zu blocking calls traced in stop", n);
    size_t injected = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &calls[i];
        d = cli_start_plain(w.pidfile);
        const char *rule = tu_fmt("func=%s,depth=%d,nth=%u,errno=EINTR", e->func, e->depth, e->nth);
        const char *context = tu_fmt("daemonctx stop, EINTR once from %s #%u", e->func, e->nth);
        tu_result r = run_cli(&w.ch, "stop", w.pidfile, rule, false, NULL);
        injected += fault_chan_hits(&w.ch);
        if (r.code != base.code || strcmp(r.out, base.out) != 0 || strcmp(r.err, base.err) != 0)
            TU_FAIL("%s: exit %d, out \"%s\", err \"%s\" (undisturbed: %d, \"%s\", \"%s\")", context, r.code, r.out,
                    r.err, base.code, base.out, base.err);
        TU_ASSERT_MSG(tu_wait_gone(d, tu_timeout_ms()), "%s: daemon %d still running", context, (int)d);
        TU_ASSERT_MSG(!tu_path_exists(w.pidfile), "%s: the pidfile was not removed", context);
        pid_t keep = w.bystander;
        tu_assert_nothing_left(&keep, 1, context);
    }
    free(calls);
    tu_assert_unchanged(&w.bystander_snap, w.bystander_pidfile);
    tu_log("%zu blocking calls of stop interrupted once each, every stop unchanged", injected);
    tu_count("EINTR injected", (long)injected);
    tu_print_counts();
}

TU_TEST(eintr_cli_stop_every_blocking_call_once)
{
    eintr_stop();
}

static void eintr_status(bool stale)
{
    fw_world w;
    fw_init(&w, FW_CLI);
    pid_t d = cli_start_plain(w.pidfile);
    if (stale) {
        (void)kill(d, SIGKILL);
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    }
    tu_result base = run_cli(&w.ch, "status", w.pidfile, "", true, "--json");
    TU_ASSERT_MSG(base.code == (stale ? 1 : 0), "baseline status: exit %d: %s %s", base.code, base.out, base.err);
    size_t n;
    fault_event *calls = traced(&w.ch, &n);
    TU_ASSERT_MSG(n >= 1, "only %zu blocking calls traced in status", n);
    size_t injected = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &calls[i];
        const char *rule = tu_fmt("func=%s,depth=%d,nth=%u,errno=EINTR", e->func, e->depth, e->nth);
        tu_result r = run_cli(&w.ch, "status", w.pidfile, rule, false, "--json");
        injected += fault_chan_hits(&w.ch);
        if (r.code != base.code || strcmp(r.out, base.out) != 0 || strcmp(r.err, base.err) != 0)
            TU_FAIL("status, EINTR once from %s #%u: exit %d, out \"%s\", err \"%s\" (undisturbed: %d, \"%s\", "
                    "\"%s\")",
                    e->func, e->nth, r.code, r.out, r.err, base.code, base.out, base.err);
    }
    free(calls);
    if (!stale)
        TU_ASSERT(tu_state_of(d) == 'S' || tu_state_of(d) == 'R');
    tu_count("EINTR injected", (long)injected);
    tu_print_counts();
}

TU_TEST(eintr_cli_status_running_every_blocking_call_once)
{
    eintr_status(false);
}
TU_TEST(eintr_cli_status_stale_every_blocking_call_once)
{
    eintr_status(true);
}

/* ------------------------------------------------------ signal storms */

typedef struct storm {
    pid_t pid;
    int result;    /* read end: the number of signals sent, at the end */
    int threshold; /* read end: one byte once THRESHOLD signals were sent */
} storm;

/* Signal TARGET (through a pidfd, so a reused PID is never hit) until it
 * exits. */
static storm storm_start(pid_t target, long threshold)
{
    int res[2], thr[2];
    TU_SYS(pipe2(res, O_CLOEXEC));
    TU_SYS(pipe2(thr, O_CLOEXEC));
    int pidfd = TU_FD(tu_pidfd_open(target));
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        long sent = 0;
        static const int sigs[] = {SIGUSR1, SIGCHLD, SIGUSR1, SIGWINCH, SIGUSR1};
        for (unsigned i = 0;; i++) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            if (poll(&p, 1, 0) != 0)
                break;
            int sig = sigs[i % (sizeof sigs / sizeof sigs[0])];
            if (tu_pidfd_send_signal(pidfd, sig) == 0)
                sent++;
            if (i % 64 == 63 && tu_pidfd_send_signal(pidfd, SIGSTOP) == 0) {
                sent++;
                if (tu_pidfd_send_signal(pidfd, SIGCONT) == 0)
                    sent++;
            }
            if (sent >= threshold && thr[1] >= 0) {
                if (write(thr[1], "x", 1) < 0) {
                    /* the test is gone */
                }
                close(thr[1]);
                thr[1] = -1;
            }
        }
        if (write(res[1], &sent, sizeof sent) < 0) {
            /* the test is gone */
        }
        _exit(0);
    }
    close(pidfd);
    close(res[1]);
    close(thr[1]);
    return (storm){pid, res[0], thr[0]};
}

static long storm_end(storm *s)
{
    long sent = 0;
    ssize_t n;
    do
        n = read(s->result, &sent, sizeof sent);
    while (n < 0 && errno == EINTR);
    close(s->result);
    close(s->threshold);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof sent ? sent : 0;
}

/* The shim says it installed its SIGUSR1 handler: storms may begin. */
static void await_handler(fault_chan *ch, pid_t pid)
{
    const fault_event *e = fault_chan_wait(ch, "usr1", tu_now_ms() + tu_timeout_ms());
    TU_ASSERT_MSG(e && e->pid == pid, "the shim in %d did not install its SIGUSR1 handler", (int)pid);
}

/* Start a command under a storm; returns its result and counts signals. */
static tu_result stormy(tu_cmd *c, fault_chan *ch, long threshold, int gate_fd, long *sent)
{
    fault_env(c, ch, NULL, false, true);
    fault_chan_reset(ch);
    tu_proc *p = tu_spawn(c);
    await_handler(ch, p->pid);
    storm s = storm_start(p->pid, threshold);
    if (gate_fd >= 0) {
        /* Let the daemon become ready only once the storm is raging. */
        TU_ASSERT_MSG(tu_readable_within(s.threshold, tu_timeout_ms()), "the storm did not get going");
        TU_SYS(write(gate_fd, "g", 1));
    }
    tu_result r = tu_finish(p, tu_now_ms() + tu_timeout_ms());
    *sent = storm_end(&s);
    return r;
}

TU_TEST(eintr_cli_start_under_signal_storm)
{
    fw_world w;
    fw_init(&w, FW_CLI);
    long total = 0;
    for (int round = 0; round < 5; round++) {
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "start");
        tu_cmd_arg(&c, "--pidfile=%s", w.pidfile);
        tu_cmd_arg(&c, "--ready=fd:4");
        tu_cmd_arg(&c, "--");
        tu_cmd_arg(&c, "%s", prog_path());
        tu_cmd_arg(&c, "delay:300");
        tu_cmd_arg(&c, "ready-fd:4");
        long sent;
        tu_result r = stormy(&c, &w.ch, 0, -1, &sent);
        total += sent;
        if (r.code != 0 || r.err[0] || r.out[0])
            TU_FAIL("start under a storm of %ld signals: exit %d, out \"%s\", err \"%s\"", sent, r.code, r.out, r.err);
        TU_ASSERT_MSG(r.elapsed_ms >= 300, "start returned after %lld ms, before its program was ready",
                      (long long)r.elapsed_ms);
        pid_t d = tu_pidfile_pid(w.pidfile);
        TU_ASSERT_MSG(d > 0 && tu_parent_of(d) == getpid(), "no daemon after the start");
        fw_clean(&w);
    }
    tu_assert_unchanged(&w.bystander_snap, w.bystander_pidfile);
    tu_log("5 starts under a storm of %ld signals in all", total);
    tu_count("storm signals", total);
    tu_print_counts();
}

TU_TEST(eintr_lib_open_under_signal_storm)
{
    fw_world w;
    fw_init(&w, FW_LIB);
    long total = 0;
    for (int round = 0; round < 5; round++) {
        int gate[2], ev[2];
        TU_SYS(pipe2(gate, O_CLOEXEC));
        TU_SYS(pipe2(ev, O_CLOEXEC));
        tu_cmd c;
        tu_cmd_init_command(&c, tu_helper_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "--report-fd=%d", EVENT_FD);
        tu_cmd_arg(&c, "--detach=yes");
        tu_cmd_arg(&c, "--pidfile=%s", w.pidfile);
        tu_cmd_arg(&c, "--ready-mode=notify");
        tu_cmd_arg(&c, "--ready-gate-fd=7");
        tu_cmd_fd(&c, EVENT_FD, ev[1]);
        tu_cmd_fd(&c, 7, gate[0]);
        long sent;
        tu_result r = stormy(&c, &w.ch, 2000, gate[1], &sent);
        close(gate[0]);
        close(gate[1]);
        close(ev[1]);
        total += sent;
        if (r.code != 0 || r.err[0])
            TU_FAIL("open() under a storm of %ld signals: exit %d, err \"%s\"", sent, r.code, r.err);
        char *line = tu_read_line(ev[0], tu_timeout_ms());
        int pid = 0, dpid, open_flag;
        TU_ASSERT_MSG(line && sscanf(line, "up %d %d %d", &pid, &dpid, &open_flag) == 3, "no up line: %s",
                      line ? line : "EOF");
        TU_ASSERT_MSG(tu_pidfile_pid(w.pidfile) == pid, "the pidfile does not name the daemon %d", pid);
        close(ev[0]);
        fw_clean(&w);
    }
    tu_assert_unchanged(&w.bystander_snap, w.bystander_pidfile);
    tu_log("5 opens under a storm of %ld signals in all", total);
    tu_count("storm signals", total);
    tu_print_counts();
}

TU_TEST(eintr_cli_stop_under_signal_storm)
{
    fw_world w;
    fw_init(&w, FW_CLI);
    long total = 0;
    for (int round = 0; round < 3; round++) {
        /* A daemon that ignores SIGTERM: stop waits its whole 0.4 s step in
         * poll(), storm or not, then escalates. */
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "start");
        tu_cmd_arg(&c, "--pidfile=%s", w.pidfile);
        tu_cmd_arg(&c, "--");
        tu_cmd_arg(&c, "%s", prog_path());
        tu_cmd_arg(&c, "ignore:15");
        tu_result r = tu_run(&c);
        TU_ASSERT_MSG(r.code == 0, "start: %s", r.err);
        pid_t d = tu_pidfile_pid(w.pidfile);
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "stop");
        tu_cmd_arg(&c, "--pidfile=%s", w.pidfile);
        tu_cmd_arg(&c, "--retry=TERM/0.4/KILL/5");
        long sent;
        r = stormy(&c, &w.ch, 0, -1, &sent);
        total += sent;
        if (r.code != 0 || r.err[0] || r.out[0])
            TU_FAIL("stop under a storm of %ld signals: exit %d, out \"%s\", err \"%s\"", sent, r.code, r.out, r.err);
        TU_ASSERT_MSG(r.elapsed_ms >= 400, "stop escalated after %lld ms, before the 0.4 s step was over",
                      (long long)r.elapsed_ms);
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
        TU_ASSERT_MSG(!tu_path_exists(w.pidfile), "the pidfile survived the stop");
    }
    tu_assert_unchanged(&w.bystander_snap, w.bystander_pidfile);
    tu_log("3 stops under a storm of %ld signals in all", total);
    tu_count("storm signals", total);
    tu_print_counts();
}

TU_TEST(eintr_cli_status_under_signal_storm)
{
    fw_world w;
    fw_init(&w, FW_CLI);
    pid_t d = cli_start_plain(w.pidfile);
    long total = 0;
    const char *want = tu_fmt("running PID %d\n", (int)d);
    for (int round = 0; round < 30; round++) {
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "status");
        tu_cmd_arg(&c, "--pidfile=%s", w.pidfile);
        long sent;
        tu_result r = stormy(&c, &w.ch, 0, -1, &sent);
        total += sent;
        if (r.code != 0 || strcmp(r.out, want) != 0 || r.err[0])
            TU_FAIL("status under a storm of %ld signals: exit %d, out \"%s\", err \"%s\"", sent, r.code, r.out,
                    r.err);
    }
    TU_ASSERT(tu_state_of(d) == 'S');
    tu_log("30 status runs under a storm of %ld signals in all", total);
    tu_count("storm signals", total);
    tu_print_counts();
}

TU_MAIN
