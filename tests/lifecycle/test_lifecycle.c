/*
 * Concurrency and lifecycle: many starts at once on one pidfile, start
 * racing stop, stop racing the daemon's own exit, a stale pidfile naming a
 * reused PID, a zombie holder, and kill -9 of the daemon and of the invoker
 * at every step of a start (the fault shim stops or kills the process at the
 * chosen call: events, not sleeps).
 *
 * The invariant checked after each: either nothing runs and the pidfile is
 * absent or unlocked (stale), or exactly one daemon runs, named by the
 * pidfile and holding its lock; and the next start behaves accordingly.
 */
#include "cli_common.h"
#include "fault_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static tu_result cli(const char *cmd, const char *pidfile, const char *a1, const char *a2)
{
    tu_cmd c;
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "%s", cmd);
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    if (a1)
        tu_cmd_arg(&c, "%s", a1);
    if (a2)
        tu_cmd_arg(&c, "%s", a2);
    return tu_run(&c);
}

static void start_cmd(tu_cmd *c, const char *pidfile, bool lib, int event_fd)
{
    if (lib) {
        tu_cmd_init_command(c, tu_helper_path(), (const char *)NULL);
        c->new_session = true;
        tu_cmd_arg(c, "--report-fd=%d", EVENT_FD);
        tu_cmd_arg(c, "--detach=yes");
        tu_cmd_arg(c, "--pidfile=%s", pidfile);
    } else {
        tu_cmd_init_command(c, cli_path(), (const char *)NULL);
        c->new_session = true;
        tu_cmd_arg(c, "start");
        tu_cmd_arg(c, "--pidfile=%s", pidfile);
        if (event_fd >= 0)
            tu_cmd_arg(c, "--keep-fd=%d", EVENT_FD);
        tu_cmd_arg(c, "--");
        tu_cmd_arg(c, "%s", prog_path());
        if (event_fd >= 0)
            tu_cmd_arg(c, "event:%d:up", EVENT_FD);
    }
    if (event_fd >= 0)
        tu_cmd_fd(c, EVENT_FD, event_fd);
}

/* The live processes below the test but ALLOWED (the dead: zombies,
 * exiting, SIGKILL pending, run and hold nothing); the array is the
 * harness's. */
static tu_desc *live_ones(const pid_t *allowed, size_t nallowed, size_t *live)
{
    size_t n;
    tu_desc *d = tu_descendants(&n);
    *live = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = d[i].dead;
        for (size_t j = 0; j < nallowed; j++)
            ok |= d[i].pid == allowed[j];
        if (!ok)
            d[(*live)++] = d[i];
    }
    return d;
}

/* The state after the dust settled: nothing (pidfile absent or unlocked)
 * or one daemon named by the pidfile and holding it. Returns the daemon or
 * 0. */
static pid_t consistent(const char *pidfile, const pid_t *allowed, size_t nallowed, const char *context)
{
    size_t live;
    tu_desc *procs = live_ones(allowed, nallowed, &live);
    /* The intermediate child of an exec'ing start waits (vfork) for the
     * daemon's exec and only then exits: it may still be on its way out
     * when the program announced itself. It goes by itself (its pidfd
     * says so), or not at all by the deadline. */
    for (int64_t deadline = tu_now_ms() + tu_timeout_ms(); live > 1 && tu_now_ms() < deadline;) {
        pid_t named = tu_pidfile_pid(pidfile), other = procs[0].pid == named ? procs[1].pid : procs[0].pid;
        (void)tu_wait_gone(other, tu_left_ms(deadline));
        procs = live_ones(allowed, nallowed, &live);
    }
    pid_t daemon = live ? procs[0].pid : 0;
    tu_result st = cli("status", pidfile, NULL, NULL);
    if (live == 0) {
        if (st.code != 3 && st.code != 1)
            TU_FAIL("%s: nothing runs but status says %d \"%s%s\"", context, st.code, st.out, st.err);
        if (tu_flock_holder(pidfile) > 0)
            TU_FAIL("%s: nothing runs but %s is locked", context, pidfile);
        return 0;
    }
    if (live > 1)
        TU_FAIL("%s: %zu processes run", context, live);
    pid_t named = tu_pidfile_pid(pidfile);
    if (named != daemon || st.code != 0) {
        tu_dump_pidfile_state(daemon, pidfile);
        TU_FAIL("%s: process %d runs, the pidfile names %d, status says %d \"%s%s\"", context, (int)daemon,
                (int)named, st.code, st.out, st.err);
    }
    return daemon;
}

static void start_must_succeed_then_stop(const char *pidfile, const pid_t *allowed, size_t nallowed,
                                         const char *context)
{
    tu_cmd c;
    start_cmd(&c, pidfile, false, -1);
    tu_result r = tu_run(&c);
    if (r.code != 0)
        TU_FAIL("%s: the next start failed: exit %d: %s", context, r.code, r.err);
    pid_t d = tu_pidfile_pid(pidfile);
    r = cli("stop", pidfile, NULL, NULL);
    if (r.code != 0)
        TU_FAIL("%s: stopping the next start's daemon: %d %s", context, r.code, r.err);
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    tu_kill_all_except(allowed, nallowed);
}

/* Calls of a start of the CLI (or of dcx-helper) at DEPTH, from a trace. */
/* The invoker's wait looks at its children and its channel as events come:
 * how many times it calls these depends on timing, so only their first call
 * is sure to come again in a replay. */
static bool timing_dependent(const fault_event *e)
{
    static const char *const looks[] = {"waitid", "wait4", "poll", "recv", "recvmsg", "read"};
    if (e->depth != 0 || e->nth <= 1)
        return false;
    for (size_t i = 0; i < sizeof looks / sizeof looks[0]; i++)
        if (strcmp(e->func, looks[i]) == 0)
            return true;
    return false;
}

static fault_event *trace_start(const char *pidfile, bool lib, int min_depth, int max_depth, size_t *n)
{
    fault_chan ch;
    fault_chan_open(&ch);
    tu_cmd c;
    int ev[2];
    TU_SYS(pipe2(ev, O_CLOEXEC));
    start_cmd(&c, pidfile, lib, ev[1]);
    fault_env(&c, &ch, NULL, true, false);
    tu_proc *p = tu_spawn(&c);
    close(ev[1]);
    tu_result r = tu_finish_watching(p, tu_now_ms() + tu_timeout_ms(), ch.fd, fault_chan_drain_cb, &ch, false);
    TU_ASSERT_MSG(r.code == 0, "traced start: %d %s", r.code, r.err);
    char *up = tu_read_line(ev[0], tu_timeout_ms()); /* the daemon is through */
    TU_ASSERT_MSG(up != NULL, "no up line from the traced start");
    close(ev[0]);
    fault_chan_drain(&ch);
    fault_event *t = calloc(ch.n + 1, sizeof *t);
    TU_ASSERT(t != NULL);
    *n = 0;
    for (size_t i = 0; i < ch.n; i++)
        if (strcmp(ch.ev[i].kind, "trace") == 0 && ch.ev[i].depth >= min_depth && ch.ev[i].depth <= max_depth &&
            !timing_dependent(&ch.ev[i]))
            t[(*n)++] = ch.ev[i];
    fault_chan_close(&ch);
    tu_kill_all_except(NULL, 0);
    (void)unlink(pidfile);
    return t;
}

/* -------------------------------------------------- concurrent starts */

/* ROUNDS of STARTERS starts at once on one pidfile. LEAK_CHECK: the starts
 * of the first round run LeakSanitizer at exit in a sanitized build (two
 * thirds of a start's time under ASan); the later rounds take the same
 * paths. */
static void concurrent_starts(int rounds, int starters, bool leak_check)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    tu_proc **starts = calloc((size_t)starters, sizeof *starts);
    TU_ASSERT(starts != NULL);
    int64_t t0 = tu_now_ms();
    long runs = 0;
    for (int round = 0; round < rounds; round++) {
        /* All wait at the gate, then exec at once. */
        int gate[2];
        TU_SYS(pipe2(gate, O_CLOEXEC));
        for (int i = 0; i < starters; i++) {
            tu_cmd c;
            tu_cmd_init_command(&c, cli_path(), "start", tu_fmt("--pidfile=%s", pidfile), "--", prog_path(),
                                (const char *)NULL);
            c.new_session = true;
            c.gate = gate[0];
            c.no_leak_check = !leak_check || round > 0;
            starts[i] = tu_spawn(&c);
        }
        close(gate[0]);
        close(gate[1]); /* go */
        int64_t deadline = tu_now_ms() + tu_timeout_ms();
        int winners = 0;
        for (int i = 0; i < starters; i++) {
            tu_result r = tu_finish(starts[i], deadline);
            runs++;
            if (r.code == 0) {
                winners++;
                TU_ASSERT_MSG(r.err[0] == 0, "round %d: the winner printed \"%s\"", round, r.err);
            } else if (r.code != 3 || !tu_one_line(r.err) || !strstr(r.err, "locked by PID")) {
                TU_FAIL("round %d: a losing start exited %d with \"%s\" (expected 3, \"locked by PID\")", round,
                        r.code, r.err);
            }
        }
        TU_ASSERT_MSG(winners == 1, "round %d: %d of %d concurrent starts succeeded", round, winners, starters);
        pid_t d = consistent(pidfile, NULL, 0, tu_fmt("round %d", round));
        TU_ASSERT_MSG(d > 0, "round %d: no daemon runs after a successful start", round);
        /* Leave a stale pidfile behind for the next round to take over. */
        TU_SYS(kill(d, SIGKILL));
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    }
    free(starts);
    tu_log("%d rounds of %d concurrent starts: %ld runs, one daemon each round, %lld ms", rounds, starters, runs,
           (long long)(tu_now_ms() - t0));
    tu_count("concurrent starts", runs);
    tu_print_counts();
}

TU_TEST(lifecycle_50_concurrent_starts_one_daemon)
{
    concurrent_starts(10, 50, true);
}

/* The full figure: 5000 starts. Their leaks are checked in the test above
 * (50 of the same starts); here the race is what counts. */
TU_TEST(lifecycle_50_concurrent_starts_one_daemon_100_rounds)
{
    concurrent_starts(100, 50, false);
}

/* ----------------------------------------------------- start vs stop */

/* Pause the daemon at each step of its start, run stop meanwhile, let the
 * daemon go on: stop must succeed, and the end state be consistent. */
TU_TEST(lifecycle_start_racing_stop)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    size_t n;
    fault_event *steps = trace_start(pidfile, false, 0, 2, &n);
    fault_chan ch;
    fault_chan_open(&ch);
    size_t races = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &steps[i];
        const char *context = tu_fmt("stop while the start is at %s #%u (depth %d)", e->func, e->nth, e->depth);
        tu_context = context;
        tu_cmd c;
        int ev[2];
        TU_SYS(pipe2(ev, O_CLOEXEC));
        start_cmd(&c, pidfile, false, ev[1]); /* as traced */
        fault_env(&c, &ch, tu_fmt("func=%s,depth=%d,nth=%u,action=pause", e->func, e->depth, e->nth), false,
                      false);
        fault_chan_reset(&ch);
        tu_proc *starter = tu_spawn(&c);
        close(ev[1]); /* ev[0] stays open: PROGRAM writes "up" there */
        const fault_event *paused = fault_chan_wait(&ch, "pause", tu_now_ms() + tu_timeout_ms());
        TU_ASSERT_MSG(paused, "%s: the start never got there", context);
        pid_t who = paused->pid;
        tu_cmd s;
        tu_cmd_init_command(&s, cli_path(), (const char *)NULL);
        s.new_session = true;
        tu_cmd_arg(&s, "stop");
        tu_cmd_arg(&s, "--pidfile=%s", pidfile);
        tu_cmd_arg(&s, "--timeout=5");
        tu_proc *stopper = tu_spawn(&s);
        fault_resume(&ch, who);
        tu_result rs = tu_finish(stopper, tu_now_ms() + tu_timeout_ms());
        tu_result rst = tu_finish(starter, tu_now_ms() + tu_timeout_ms());
        if (rs.code != 0)
            TU_FAIL("%s: stop exited %d: %s", context, rs.code, rs.err);
        if (rst.code != 0 && (rst.code != 8 || !tu_one_line(rst.err)))
            TU_FAIL("%s: start exited %d: %s", context, rst.code, rst.err);
        consistent(pidfile, NULL, 0, context);
        tu_kill_all_except(NULL, 0);
        close(ev[0]);
        (void)unlink(pidfile);
        races++;
    }
    /* And plain races, stop launched right behind start. */
    for (int i = 0; i < 20; i++) {
        tu_cmd c;
        start_cmd(&c, pidfile, false, -1);
        tu_proc *starter = tu_spawn(&c);
        tu_cmd s;
        tu_cmd_init_command(&s, cli_path(), (const char *)NULL);
        s.new_session = true;
        tu_cmd_arg(&s, "stop");
        tu_cmd_arg(&s, "--pidfile=%s", pidfile);
        tu_cmd_arg(&s, "--timeout=5");
        tu_proc *stopper = tu_spawn(&s);
        tu_result rs = tu_finish(stopper, tu_now_ms() + tu_timeout_ms());
        tu_result rst = tu_finish(starter, tu_now_ms() + tu_timeout_ms());
        TU_ASSERT_MSG(rs.code == 0, "race %d: stop exited %d: %s", i, rs.code, rs.err);
        TU_ASSERT_MSG(rst.code == 0 || rst.code == 8, "race %d: start exited %d: %s", i, rst.code, rst.err);
        consistent(pidfile, NULL, 0, tu_fmt("race %d", i));
        tu_kill_all_except(NULL, 0);
        (void)unlink(pidfile);
        races++;
    }
    free(steps);
    fault_chan_close(&ch);
    tu_count("start/stop races", (long)races);
    tu_print_counts();
}

/* ------------------------------------------- stop vs the daemon's exit */

TU_TEST(lifecycle_stop_racing_the_daemons_own_exit)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    fault_chan ch;
    fault_chan_open(&ch);
    /* The calls of stop, from a trace. */
    pid_t d = cli_start_plain(pidfile);
    tu_cmd s;
    tu_cmd_init_command(&s, cli_path(), (const char *)NULL);
    s.new_session = true;
    tu_cmd_arg(&s, "stop");
    tu_cmd_arg(&s, "--pidfile=%s", pidfile);
    fault_env(&s, &ch, NULL, true, false);
    tu_proc *p = tu_spawn(&s);
    tu_result r = tu_finish_watching(p, tu_now_ms() + tu_timeout_ms(), ch.fd, fault_chan_drain_cb, &ch, false);
    TU_ASSERT_MSG(r.code == 0, "traced stop: %s", r.err);
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    size_t n = 0;
    fault_event *calls = calloc(ch.n + 1, sizeof *calls);
    TU_ASSERT(calls != NULL);
    for (size_t i = 0; i < ch.n; i++)
        if (strcmp(ch.ev[i].kind, "trace") == 0)
            calls[n++] = ch.ev[i];
    size_t races = 0, problems = 0;
    for (size_t i = 0; i < n; i++) {
        /* A daemon that exits by itself on SIGUSR1. */
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "start");
        tu_cmd_arg(&c, "--pidfile=%s", pidfile);
        tu_cmd_arg(&c, "--");
        tu_cmd_arg(&c, "%s", prog_path());
        tu_cmd_arg(&c, "trap:%d:1:0", SIGUSR1);
        r = tu_run(&c);
        TU_ASSERT_MSG(r.code == 0, "start: %s", r.err);
        d = tu_pidfile_pid(pidfile);
        const char *context = tu_fmt("the daemon exits while stop is at %s #%u", calls[i].func, calls[i].nth);
        tu_context = context;
        tu_cmd_init_command(&s, cli_path(), (const char *)NULL);
        s.new_session = true;
        tu_cmd_arg(&s, "stop");
        tu_cmd_arg(&s, "--pidfile=%s", pidfile);
        fault_env(&s, &ch, tu_fmt("func=%s,depth=0,nth=%u,action=pause", calls[i].func, calls[i].nth), false,
                      false);
        fault_chan_reset(&ch);
        p = tu_spawn(&s);
        const fault_event *paused = fault_chan_wait(&ch, "pause", tu_now_ms() + tu_timeout_ms());
        if (paused) {
            TU_SYS(kill(d, SIGUSR1));
            TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
            fault_resume(&ch, p->pid);
        }
        r = tu_finish(p, tu_now_ms() + tu_timeout_ms());
        if (r.code != 0 || r.err[0]) {
            problems++;
            tu_log("PROBLEM: %s: stop exited %d: %.*s", context, r.code, (int)strcspn(r.err, "\n"), r.err);
        }
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
        consistent(pidfile, NULL, 0, context);
        tu_kill_all_except(NULL, 0);
        (void)unlink(pidfile);
        races++;
    }
    /* And unpaused: the exit signal and stop at the same time. */
    for (int i = 0; i < 20; i++) {
        tu_cmd c;
        tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
        c.new_session = true;
        tu_cmd_arg(&c, "start");
        tu_cmd_arg(&c, "--pidfile=%s", pidfile);
        tu_cmd_arg(&c, "--");
        tu_cmd_arg(&c, "%s", prog_path());
        tu_cmd_arg(&c, "trap:%d:1:0", SIGUSR1);
        r = tu_run(&c);
        TU_ASSERT_MSG(r.code == 0, "start: %s", r.err);
        d = tu_pidfile_pid(pidfile);
        tu_cmd_init_command(&s, cli_path(), (const char *)NULL);
        s.new_session = true;
        tu_cmd_arg(&s, "stop");
        tu_cmd_arg(&s, "--pidfile=%s", pidfile);
        if (i % 2)
            TU_SYS(kill(d, SIGUSR1));
        p = tu_spawn(&s);
        if (!(i % 2))
            TU_SYS(kill(d, SIGUSR1));
        r = tu_finish(p, tu_now_ms() + tu_timeout_ms());
        TU_ASSERT_MSG(r.code == 0 && !r.err[0], "race %d: stop exited %d: %s", i, r.code, r.err);
        TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
        consistent(pidfile, NULL, 0, tu_fmt("race %d", i));
        tu_kill_all_except(NULL, 0);
        (void)unlink(pidfile);
        races++;
    }
    free(calls);
    fault_chan_close(&ch);
    tu_count("stop/exit races", (long)races);
    tu_print_counts();
    TU_ASSERT_MSG(problems == 0, "stop failed in %zu races with the daemon's exit (see PROBLEM lines)", problems);
}

/* ----------------------------------------------- reused PID, zombies */

static pid_t blocked_process(void)
{
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork");
    if (pid == 0) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (write(p[1], "x", 1) < 0)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ch;
    TU_ASSERT(read(p[0], &ch, 1) == 1);
    close(p[0]);
    tu_track_pid(pid);
    return pid;
}

/* A daemon died without removing its pidfile, and its PID now belongs to
 * someone else (here: a process that blocks every signal, so that any sent
 * to it would show as pending). */
TU_TEST(lifecycle_stale_pidfile_naming_a_reused_pid)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    pid_t other = blocked_process();
    pid_t keep[1] = {other};
    const pid_t names[2] = {other, getpid()};
    for (int k = 0; k < 2; k++) {
        tu_write_file(pidfile, tu_fmt("%d\n", (int)names[k]), 0644);
        tu_result r = cli("status", pidfile, NULL, NULL);
        TU_ASSERT_MSG(r.code == 1 && strcmp(r.out, tu_fmt("stale PID %d\n", (int)names[k])) == 0,
                      "status: %d \"%s\" \"%s\"", r.code, r.out, r.err);
        r = cli("stop", pidfile, NULL, NULL);
        TU_ASSERT_MSG(r.code == 0 && !r.err[0], "stop: %d %s", r.code, r.err);
        TU_ASSERT_MSG(!tu_path_exists(pidfile), "stop left the stale pidfile");
        const char *pnd = tu_status_field(other, "SigPnd"), *shd = tu_status_field(other, "ShdPnd");
        TU_ASSERT_MSG(strtoull(pnd, NULL, 16) == 0 && strtoull(shd, NULL, 16) == 0,
                      "the process with the reused PID was signalled (%s, %s)", pnd, shd);
        tu_write_file(pidfile, tu_fmt("%d\n", (int)names[k]), 0644);
        start_must_succeed_then_stop(pidfile, keep, 1, "start over a reused PID");
        TU_ASSERT(tu_state_of(other) == 'S');
    }
}

/* The daemon died and its parent never reaps it: a zombie exists under the
 * PID the pidfile names (kill(pid, 0) says it is alive), but a dead process
 * holds no lock. */
TU_TEST(lifecycle_zombie_holder)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    int go[2], ev[2];
    TU_SYS(pipe2(go, O_CLOEXEC));
    TU_SYS(pipe2(ev, O_CLOEXEC));
    pid_t parent = fork();
    if (parent < 0)
        TU_FAIL("fork");
    if (parent == 0) {
        /* Starts the daemon in the foreground (it becomes PROGRAM, holding
         * the lock) and never reaps it. */
        pid_t child = fork();
        if (child == 0) {
            dup2(ev[1], EVENT_FD);
            execl(cli_path(), cli_path(), "start", "--detach=no", tu_fmt("--pidfile=%s", pidfile),
                  tu_fmt("--keep-fd=%d", EVENT_FD), "--", prog_path(), tu_fmt("event:%d:up", EVENT_FD),
                  (char *)NULL);
            _exit(127);
        }
        close(go[1]);
        char ch;
        while (read(go[0], &ch, 1) < 0 && errno == EINTR) /* until the test is done */
            ;
        _exit(0);
    }
    close(go[0]);
    close(ev[1]);
    tu_track_pid(parent);
    char *up = tu_read_line(ev[0], tu_timeout_ms());
    close(ev[0]);
    int upid = 0;
    TU_ASSERT_MSG(up && sscanf(up, "up %d", &upid) == 1, "the foreground daemon did not come up");
    pid_t d = upid;
    TU_ASSERT(tu_pidfile_pid(pidfile) == d);
    TU_ASSERT(tu_parent_of(d) == parent);
    TU_SYS(kill(d, SIGKILL));
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms())); /* exited: a zombie, never reaped */
    TU_ASSERT_MSG(tu_state_of(d) == 'Z', "the daemon is not a zombie");
    TU_ASSERT_MSG(kill(d, 0) == 0, "kill(pid, 0) should say the zombie exists");
    pid_t keep[2] = {parent, d};
    tu_result r = cli("status", pidfile, NULL, NULL);
    TU_ASSERT_MSG(r.code == 1 && strcmp(r.out, tu_fmt("stale PID %d\n", (int)d)) == 0, "status: %d \"%s\" \"%s\"",
                  r.code, r.out, r.err);
    start_must_succeed_then_stop(pidfile, keep, 2, "start over a zombie's pidfile");
    tu_write_file(pidfile, tu_fmt("%d\n", (int)d), 0644);
    r = cli("stop", pidfile, NULL, NULL);
    TU_ASSERT_MSG(r.code == 0 && !r.err[0], "stop: %d %s", r.code, r.err);
    TU_ASSERT(!tu_path_exists(pidfile));
    TU_ASSERT(tu_state_of(d) == 'Z');
    close(go[1]);
    TU_ASSERT(tu_wait_gone(parent, tu_timeout_ms()));
}

/* -------------------------------------------------------------- kill -9 */

/* Kill the daemon (or the intermediate child) at each step of its start. */
static void kill_daemon_at_every_step(bool lib)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    size_t n;
    fault_event *steps = trace_start(pidfile, lib, 1, 2, &n);
    fault_chan ch;
    fault_chan_open(&ch);
    size_t last_send = 0;
    for (size_t i = 0; i < n; i++)
        if (steps[i].depth == 2 && strcmp(steps[i].func, "send") == 0)
            last_send = i;
    size_t kills = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &steps[i];
        const char *context = tu_fmt("%s: kill -9 at %s #%u (depth %d)", lib ? "dcx-helper" : "daemonctx start",
                                     e->func, e->nth, e->depth);
        bool confirmed = i > last_send; /* killed after it told the invoker it is up */
        tu_cmd c;
        start_cmd(&c, pidfile, lib, -1);
        fault_env(&c, &ch, tu_fmt("func=%s,depth=%d,nth=%u,action=kill", e->func, e->depth, e->nth), false,
                      false);
        fault_chan_reset(&ch);
        tu_proc *p = tu_spawn(&c);
        tu_result r = tu_finish_watching(p, tu_now_ms() + tu_timeout_ms(), ch.fd, fault_chan_drain_cb, &ch, false);
        /* After the daemon said it is up, the invoker may be gone before the
         * daemon reaches the step: wait for it. */
        if (fault_chan_hits(&ch) == 0)
            (void)fault_chan_wait(&ch, "hit", tu_now_ms() + tu_timeout_ms());
        TU_ASSERT_MSG(fault_chan_hits(&ch) == 1, "%s: the kill did not happen", context);
        for (size_t k = 0; k < ch.n; k++) /* the killed process is gone, not going */
            if (strcmp(ch.ev[k].kind, "hit") == 0)
                TU_ASSERT(tu_wait_gone(ch.ev[k].pid, tu_timeout_ms()));
        if (r.code == 0 && (confirmed || strncmp(e->func, "exec", 4) == 0)) {
            /* Killed between "about to exec" and the exec: to the invoker that
             * is an exec that succeeded (EOF after the EXEC record). */
            tu_log("NOTE: %s: reported as started; the daemon died at once", context);
            consistent(pidfile, NULL, 0, context);
            tu_kill_all_except(NULL, 0);
            (void)unlink(pidfile);
            start_must_succeed_then_stop(pidfile, NULL, 0, context);
            kills++;
            continue;
        }
        if (r.code == 0 || !tu_one_line(r.err))
            TU_FAIL("%s: the start exited %d: \"%s\"", context, r.code, r.err);
        if (!lib && r.code != 8 && r.code != 1)
            TU_FAIL("%s: exit %d, expected 8 (died) or 1: %s", context, r.code, r.err);
        tu_assert_nothing_left(NULL, 0, context);
        TU_ASSERT_MSG(!tu_path_exists(pidfile), "%s: the pidfile was left", context);
        start_must_succeed_then_stop(pidfile, NULL, 0, context);
        kills++;
    }
    free(steps);
    fault_chan_close(&ch);
    tu_count("kill -9 of the daemon", (long)kills);
    tu_print_counts();
}

TU_TEST(lifecycle_kill9_of_the_daemon_at_every_start_step_cli)
{
    kill_daemon_at_every_step(false);
}
TU_TEST(lifecycle_kill9_of_the_daemon_at_every_start_step_lib)
{
    kill_daemon_at_every_step(true);
}

/* Kill the invoker: at each of its own steps, and while the daemon is held
 * at each of its steps (then let the daemon go on). Nobody asked for a
 * daemon any more: no pidfile may be left locked by one, and the next start
 * must succeed. */
static void kill_invoker_at_every_step(bool lib)
{
    const char *dir = tu_tmpdir();
    const char *pidfile = tu_fmt("%s/d.pid", dir);
    size_t n;
    fault_event *steps = trace_start(pidfile, lib, 0, 2, &n);
    fault_chan ch;
    fault_chan_open(&ch);
    /* The daemon's last message to the invoker (EXEC for the CLI, DONE for
     * the helper): until it is sent, the daemon can tell that nobody waits
     * for it any more. Held at a later step, or with the invoker killed at a
     * step of its own (the daemon runs on concurrently), it may have been
     * confirmed already: then it legitimately runs. */
    size_t last_send = 0;
    for (size_t i = 0; i < n; i++)
        if (steps[i].depth == 2 && strcmp(steps[i].func, "send") == 0)
            last_send = i;
    size_t kills = 0, problems = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_event *e = &steps[i];
        bool must_end = e->depth > 0 && i <= last_send;
        const char *context = tu_fmt("%s: kill -9 of the invoker while %s is at %s #%u",
                                     lib ? "dcx-helper" : "daemonctx start",
                                     e->depth == 0 ? "it" : e->depth == 1 ? "the intermediate child" : "the daemon",
                                     e->func, e->nth);
        int ev[2];
        TU_SYS(pipe2(ev, O_CLOEXEC));
        tu_cmd c;
        start_cmd(&c, pidfile, lib, ev[1]);
        const char *action = e->depth == 0 ? "kill" : "pause";
        fault_env(&c, &ch, tu_fmt("func=%s,depth=%d,nth=%u,action=%s", e->func, e->depth, e->nth, action),
                      false, false);
        fault_chan_reset(&ch);
        tu_proc *p = tu_spawn(&c);
        close(ev[1]);
        if (e->depth > 0) {
            const fault_event *paused = fault_chan_wait(&ch, "pause", tu_now_ms() + tu_timeout_ms());
            TU_ASSERT_MSG(paused, "%s: never got there", context);
            pid_t held = paused->pid;
            TU_SYS(kill(p->pid, SIGKILL));
            (void)tu_finish(p, tu_now_ms() + tu_timeout_ms());
            fault_resume(&ch, held);
        } else {
            (void)tu_finish_watching(p, tu_now_ms() + tu_timeout_ms(), ch.fd, fault_chan_drain_cb, &ch, false);
        }
        /* The daemon goes its way: it reaches PROGRAM or the end of open()
         * ("up"), or it ends (EOF). */
        char *up = NULL;
        for (;;) {
            char *line = tu_read_line(ev[0], tu_timeout_ms());
            if (!line || strncmp(line, "up ", 3) == 0) {
                up = line;
                break;
            }
        }
        close(ev[0]);
        pid_t d = consistent(pidfile, NULL, 0, context);
        if (d > 0 && must_end) {
            problems++;
            tu_log("PROBLEM: %s: the daemon %d runs on (%s) although nobody waited for it any more", context, (int)d,
                   up ? up : "");
        } else if (d > 0) {
            /* Confirmed before the invoker died: a start finds it running. */
            tu_cmd again;
            start_cmd(&again, pidfile, false, -1);
            tu_result r = tu_run(&again);
            if (r.code != 3 || !tu_one_line(r.err))
                TU_FAIL("%s: a start next to the running daemon exited %d: %s", context, r.code, r.err);
        } else {
            start_must_succeed_then_stop(pidfile, NULL, 0, context);
        }
        tu_kill_all_except(NULL, 0);
        (void)unlink(pidfile);
        kills++;
    }
    free(steps);
    fault_chan_close(&ch);
    tu_count("kill -9 of the invoker", (long)kills);
    tu_print_counts();
    TU_ASSERT_MSG(problems == 0, "%zu daemons outlived their killed invoker (see PROBLEM lines)", problems);
}

TU_TEST(lifecycle_kill9_of_the_invoker_at_every_start_step_cli)
{
    kill_invoker_at_every_step(false);
}
TU_TEST(lifecycle_kill9_of_the_invoker_at_every_start_step_lib)
{
    kill_invoker_at_every_step(true);
}

TU_MAIN
