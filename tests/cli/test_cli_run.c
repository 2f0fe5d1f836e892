/*
 * `daemonctx run`: PROGRAM in the foreground under a supervisor that is a
 * correct init. Most tests run it as PID 1 of a fresh PID namespace, as a
 * container does (the harness's TU_PIDNS_PID1: p->pid is a forwarder that
 * exits with run's status; run is its child, PROGRAM run's child). Their
 * PIDs outside the namespace are found through /proc, once PROGRAM said it
 * started. The events PROGRAM writes on fd 5 carry its PID inside the
 * namespace.
 */
#include "cli_common.h"

#include <dirent.h>
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

static void run_cmd(tu_cmd *c, bool pid1)
{
    cli_cmd(c, "run");
    if (pid1)
        c->pidns = TU_PIDNS_PID1;
    tu_cmd_arg(c, "--keep-fd=%d", EVENT_FD);
}

static void program(tu_cmd *c)
{
    tu_cmd_arg(c, "--");
    tu_cmd_arg(c, "%s", prog_path());
}

/* The first child of PARENT in /proc; 0 when it has none. */
static pid_t child_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    TU_ASSERT(d != NULL);
    pid_t found = 0;
    const struct dirent *e;
    while (!found && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        tu_pstat st;
        if (pid > 0 && tu_proc_stat(pid, &st) && st.ppid == parent && st.state != 'Z')
            found = pid;
    }
    closedir(d);
    return found;
}

/* How many zombies PARENT has. */
static int zombies_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    TU_ASSERT(d != NULL);
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        tu_pstat st;
        if (pid > 0 && tu_proc_stat(pid, &st) && st.ppid == parent && st.state == 'Z')
            n++;
    }
    closedir(d);
    return n;
}

static int exit_code(tu_proc *p)
{
    int st = tu_wait(p, tu_timeout_ms());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------ exit status */

/* Every code takes the same exit path: its leaks are checked on the first
 * (LeakSanitizer is most of a run's time under ASan). */
static void exit_codes(int from, int to)
{
    for (int code = from; code <= to; code++) {
        tu_cmd c;
        run_cmd(&c, true);
        c.no_leak_check = code != from;
        program(&c);
        tu_cmd_arg(&c, "exit:%d", code);
        tu_proc *p = tu_spawn(&c);
        int got = exit_code(p);
        TU_ASSERT_MSG(got == code, "PROGRAM exited %d, run (PID 1) %d: %s", code, got, tu_proc_stderr(p));
    }
}

TU_TEST(run_as_pid1_passes_exit_codes_0_to_99)
{
    exit_codes(0, 99);
}

TU_TEST(run_as_pid1_passes_exit_codes_100_to_199)
{
    exit_codes(100, 199);
}

TU_TEST(run_as_pid1_passes_exit_codes_200_to_255)
{
    exit_codes(200, 255);
}

TU_TEST(run_as_pid1_exits_128_plus_n_when_program_dies_of_signal_n)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGFPE, SIGKILL, SIGUSR1,
                               SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGXCPU, SIGSYS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        tu_cmd c;
        run_cmd(&c, true);
        program(&c);
        tu_cmd_arg(&c, "raise:%d", sigs[i]);
        tu_proc *p = tu_spawn(&c);
        TU_ASSERT_INT_EQ(exit_code(p), 128 + sigs[i]);
    }
}

/* ---------------------------------------------------------------- orphans */

TU_TEST(run_as_pid1_reaps_an_orphan_storm_leaving_no_zombie)
{
    tu_cmd c;
    run_cmd(&c, true);
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "orphans:500");
    tu_cmd_arg(&c, "event:%d:stormed", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    expect_event(p, "start");
    pid_t init = child_of(p->pid);
    TU_ASSERT_MSG(init > 0, "no run process under the forwarder %d", (int)p->pid);
    expect_event(p, "stormed");
    /* 500 orphans came to PID 1; each is reaped as its SIGCHLD comes. */
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    int z;
    while ((z = zombies_of(init)) > 0 && tu_now_ms() < deadline)
        (void)poll(NULL, 0, 10);
    TU_ASSERT_MSG(z == 0, "%d zombies under run (PID %d) after the storm", z, (int)init);
    TU_SYS(kill(init, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
}

TU_TEST(run_subreaper_reaps_orphans_outside_a_namespace)
{
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--subreaper");
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "orphans:100");
    tu_cmd_arg(&c, "event:%d:stormed", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    pid_t prog = expect_event(p, "start");
    expect_event(p, "stormed");
    TU_ASSERT_STR_EQ(tu_status_field(p->pid, "PPid"), tu_fmt("%d", (int)getpid()));
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    int z;
    while ((z = zombies_of(p->pid)) > 0 && tu_now_ms() < deadline)
        (void)poll(NULL, 0, 10);
    TU_ASSERT_MSG(z == 0, "%d zombies under run (PID %d)", z, (int)p->pid);
    TU_SYS(kill(p->pid, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
    TU_ASSERT(!tu_alive(prog));
}

/* ---------------------------------------------------------------- signals */

TU_TEST(run_as_pid1_forwards_each_signal_to_program)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGWINCH, SIGURG};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        tu_cmd c;
        run_cmd(&c, true);
        program(&c);
        tu_cmd_arg(&c, "trap:%d:%d:42", sigs[i], EVENT_FD);
        tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
        tu_proc *p = tu_spawn(&c);
        expect_event(p, "start");
        pid_t init = child_of(p->pid);
        TU_ASSERT(init > 0);
        TU_SYS(kill(init, sigs[i])); /* as docker stop or docker kill -s would */
        char *line = tu_read_line(p->report, tu_timeout_ms());
        TU_ASSERT_MSG(line && strncmp(line, tu_fmt("got %d ", sigs[i]), strlen(tu_fmt("got %d ", sigs[i]))) == 0,
                      "signal %d: PROGRAM said \"%s\"", sigs[i], line ? line : "EOF");
        TU_ASSERT_INT_EQ(exit_code(p), 42);
    }
}

/* PROGRAM and a child of its own, in PROGRAM's process group. */
static tu_proc *start_with_child(bool group, pid_t *prog, pid_t *child)
{
    tu_cmd c;
    run_cmd(&c, false);
    if (group)
        tu_cmd_arg(&c, "--signal-group");
    program(&c);
    tu_cmd_arg(&c, "fork-sleeper:%d", EVENT_FD); /* the child keeps SIGUSR1's default */
    tu_cmd_arg(&c, "trap:%d:%d:0", SIGUSR1, EVENT_FD);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    /* Two processes write these: either may come first. */
    *child = *prog = 0;
    for (int i = 0; i < 2; i++) {
        char *line = tu_read_line(p->report, tu_timeout_ms());
        int pid;
        char word[16];
        TU_ASSERT_MSG(line && sscanf(line, "%15s %d", word, &pid) == 2, "event \"%s\"", line ? line : "EOF");
        *(strcmp(word, "child") == 0 ? child : prog) = (pid_t)pid;
    }
    TU_ASSERT_MSG(*child > 0 && *prog > 0, "expected the events \"child PID\" and \"start PID\"");
    tu_track_pid(*child);
    return p;
}

TU_TEST(run_signal_group_sends_signals_to_programs_process_group)
{
    pid_t prog, child;
    tu_proc *p = start_with_child(true, &prog, &child);
    TU_SYS(kill(p->pid, SIGUSR1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), tu_fmt("got %d %d", SIGUSR1, (int)prog));
    TU_ASSERT_MSG(tu_pid_exits_within(child, tu_timeout_ms()), "PROGRAM's child %d did not get SIGUSR1", (int)child);
    TU_ASSERT_INT_EQ(exit_code(p), 0);
}

TU_TEST(run_without_signal_group_signals_program_only)
{
    pid_t prog, child;
    tu_proc *p = start_with_child(false, &prog, &child);
    TU_SYS(kill(p->pid, SIGUSR1));
    TU_ASSERT_STR_EQ(tu_read_line(p->report, tu_timeout_ms()), tu_fmt("got %d %d", SIGUSR1, (int)prog));
    TU_ASSERT_INT_EQ(exit_code(p), 0);
    /* PROGRAM's child was left: it got run's SIGTERM at the end, not USR1 */
    TU_ASSERT(!tu_alive(child));
}

/* -------------------------------------------------------------- leftovers */

TU_TEST(run_leftovers_get_sigterm_and_end_before_the_grace)
{
    tu_cmd c;
    run_cmd(&c, true);
    tu_cmd_arg(&c, "--grace=30");
    program(&c);
    tu_cmd_arg(&c, "fork-sleeper:%d", EVENT_FD);
    tu_cmd_arg(&c, "exit:3");
    int64_t t0 = tu_now_ms();
    tu_proc *p = tu_spawn(&c);
    TU_ASSERT_INT_EQ(exit_code(p), 3);
    TU_ASSERT_MSG(tu_now_ms() - t0 < 10000, "run waited for its grace although SIGTERM ended the leftover");
}

TU_TEST(run_leftovers_ignoring_sigterm_are_killed_after_the_grace)
{
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--subreaper");
    tu_cmd_arg(&c, "--grace=0.5");
    program(&c);
    tu_cmd_arg(&c, "ignore:%d", SIGTERM);
    tu_cmd_arg(&c, "fork-sleeper:%d", EVENT_FD);
    tu_cmd_arg(&c, "exit:0");
    tu_proc *p = tu_spawn(&c);
    pid_t child = expect_event(p, "child");
    tu_track_pid(child);
    int64_t t0 = tu_now_ms();
    TU_ASSERT_INT_EQ(exit_code(p), 0);
    int64_t took = tu_now_ms() - t0;
    TU_ASSERT_MSG(took >= 400, "run exited after %lld ms, before the grace of 500 ms", (long long)took);
    TU_ASSERT_MSG(tu_pid_exits_within(child, tu_timeout_ms()), "the leftover %d outlived run", (int)child);
}

/* --------------------------------------------------------- restart, ready */

TU_TEST(run_restart_starts_program_again_after_a_failure)
{
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--restart");
    tu_cmd_arg(&c, "--restart-delay=0.1");
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "exit:1");
    tu_proc *p = tu_spawn(&c);
    pid_t first = expect_event(p, "start"), second = expect_event(p, "start");
    TU_ASSERT_INT_NE(first, second);
    TU_SYS(kill(p->pid, SIGTERM));
    int code = exit_code(p);
    TU_ASSERT_MSG(code == 1 || code == 128 + SIGTERM, "run exited %d", code);
}

/* A listener for run's NOTIFY_SOCKET, as systemd's Type=notify has one. */
static int notify_listener(const char **env)
{
    int fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    TU_SYS(bind(fd, (struct sockaddr *)&addr, sizeof(sa_family_t))); /* autobind */
    socklen_t len = sizeof addr;
    TU_SYS(getsockname(fd, (struct sockaddr *)&addr, &len));
    *env = tu_fmt("NOTIFY_SOCKET=@%.*s", (int)(len - sizeof(sa_family_t) - 1), addr.sun_path + 1);
    return fd;
}

TU_TEST(run_sends_ready_to_notify_socket_only_once_program_is_ready)
{
    const char *env;
    int sock = notify_listener(&env);
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_cmd c;
    run_cmd(&c, true);
    tu_cmd_env(&c, env);
    tu_cmd_fd(&c, 8, gate[0]);
    tu_cmd_arg(&c, "--keep-fd=8");
    tu_cmd_arg(&c, "--ready=fd:6");
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_cmd_arg(&c, "gate:8");
    tu_cmd_arg(&c, "ready-fd:6");
    tu_proc *p = tu_spawn(&c);
    close(gate[0]);
    expect_event(p, "start");
    TU_ASSERT_MSG(!tu_readable_within(sock, 300), "READY=1 came before PROGRAM was ready");
    TU_SYS(write(gate[1], "g", 1));
    TU_ASSERT_MSG(tu_readable_within(sock, tu_timeout_ms()), "no READY=1 once PROGRAM was ready");
    char buf[256];
    ssize_t n = TU_SYS(recv(sock, buf, sizeof buf - 1, 0));
    buf[n] = '\0';
    TU_ASSERT_CONTAINS(buf, "READY=1");
    TU_ASSERT_CONTAINS(buf, "MAINPID=1"); /* run itself, PID 1 of its namespace */
    pid_t init = child_of(p->pid);
    TU_SYS(kill(init, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
    close(sock);
}

/* -------------------------------------------------------------- stdio, errors */

TU_TEST(run_program_inherits_stdio_outside_a_namespace)
{
    tu_cmd c;
    run_cmd(&c, false);
    program(&c);
    tu_cmd_arg(&c, "print");
    tu_cmd_arg(&c, "exit:0");
    cli_result r = cli_run(&c);
    TU_ASSERT_INT_EQ(r.code, 0);
    TU_ASSERT_STR_EQ(r.out, "out-line\n");
    TU_ASSERT_STR_EQ(r.err, "err-line\n");
}

TU_TEST(run_program_starts_in_the_current_directory)
{
    const char *dir = tu_tmpdir();
    tu_cmd c;
    run_cmd(&c, false);
    c.cwd = dir;
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    pid_t prog = expect_event(p, "start");
    struct stat want, got;
    TU_SYS(stat(dir, &want));
    TU_SYS(stat(tu_fmt("/proc/%d/cwd", (int)prog), &got));
    TU_ASSERT_MSG(want.st_dev == got.st_dev && want.st_ino == got.st_ino, "PROGRAM is not in %s", dir);
    TU_SYS(kill(p->pid, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
}

/* The service options are run's too: PROGRAM gets its user's identity
 * variables, --env, --limit, and a runtime directory its user owns. */
TU_TEST(run_gives_program_the_service_environment_limits_and_runtime_dir)
{
    if (geteuid() != 0)
        tu_skip("needs root (--user)");
    const char *dir = tu_fmt("%s/run/svc", tu_tmpdir());
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--user=nobody");
    tu_cmd_arg(&c, "--env=RUN_SERVICE=1");
    tu_cmd_arg(&c, "--limit=nofile=512:1024");
    tu_cmd_arg(&c, "--runtime-dir=%s", dir);
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    pid_t prog = expect_event(p, "start");
    char *env = tu_read_file(tu_fmt("/proc/%d/environ", (int)prog));
    TU_ASSERT(env != NULL);
    size_t n = 0;
    const char *want[] = {"RUN_SERVICE=1", "USER=nobody", "LOGNAME=nobody"};
    for (const char *e = env; *e; e += strlen(e) + 1)
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            n += strcmp(e, want[i]) == 0;
    TU_ASSERT_INT_EQ(n, 3);
    TU_ASSERT_STR_EQ(tu_limit(prog, "Max open files"), "512 1024");
    struct stat st;
    TU_SYS(stat(dir, &st));
    TU_ASSERT_INT_EQ(st.st_uid, 65534);
    TU_SYS(kill(p->pid, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
}

TU_TEST(run_errors_before_program_starts_use_the_start_exit_codes)
{
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--user=no-such-user-dcx");
    program(&c);
    cli_result r = cli_run(&c);
    expect_error(&r, 5, "no-such-user-dcx", (char *)NULL);
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "/no/such/program");
    r = cli_run(&c);
    expect_error(&r, 127, "/no/such/program", (char *)NULL);
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--detach=no");
    program(&c);
    r = cli_run(&c);
    expect_usage_error(&r, "--detach");
}

TU_TEST(run_pidfile_holds_runs_own_pid_while_it_runs)
{
    const char *pf = tu_fmt("%s/run.pid", tu_tmpdir());
    tu_cmd c;
    run_cmd(&c, false);
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    program(&c);
    tu_cmd_arg(&c, "event:%d:start", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    expect_event(p, "start");
    TU_ASSERT_INT_EQ(pidfile_pid(pf), p->pid);
    TU_SYS(kill(p->pid, SIGTERM));
    TU_ASSERT_INT_EQ(exit_code(p), 128 + SIGTERM);
    TU_ASSERT_MSG(!tu_path_exists(pf), "run left its pidfile");
}

/* ----------------------------------------------------------- terminal */

/* The state letter of PID from /proc. */
static char state_of(pid_t pid)
{
    tu_pstat st;
    return tu_proc_stat(pid, &st) ? st.state : '?';
}

static bool wait_state(pid_t pid, char want)
{
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    while (state_of(pid) != want && tu_now_ms() < deadline)
        (void)poll(NULL, 0, 5);
    return state_of(pid) == want;
}

/* Under an interactive shell on a terminal (bash, with job control), run is
 * a foreground job: a stop signal to the job stops run and PROGRAM, so the
 * shell sees the job stop; SIGCONT resumes both. */
TU_TEST(run_on_a_terminal_stops_with_its_program_and_continues)
{
    int master = TU_FD(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    TU_SYS(grantpt(master));
    TU_SYS(unlockpt(master));
    int slave = TU_FD(open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC));
    tu_cmd c;
    tu_cmd_init_program(&c, "/bin/bash");
    c.ctty = slave;
    tu_cmd_fd(&c, 0, slave);
    tu_cmd_fd(&c, 1, slave);
    tu_cmd_fd(&c, 2, slave);
    c.capture_stdout = false;
    tu_cmd_arg(&c, "--norc");
    tu_cmd_arg(&c, "--noprofile");
    tu_cmd_arg(&c, "-i");
    tu_cmd_arg(&c, "-c");
    tu_cmd_arg(&c, "%s run --keep-fd=%d -- %s event:%d:start; read line", cli_path(), EVENT_FD, prog_path(),
               EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    close(slave);
    pid_t prog = expect_event(p, "start");
    pid_t run = child_of(p->pid);
    TU_ASSERT_MSG(run > 0, "no run under bash %d", (int)p->pid);
    tu_pstat st;
    TU_ASSERT(tu_proc_stat(run, &st));
    pid_t job = st.pgrp;
    TU_ASSERT_MSG(job != getpgid(p->pid), "bash did not make run a job of its own (no job control)");
    TU_SYS(kill(-job, SIGTSTP)); /* Ctrl-Z, as the terminal sends it to the foreground job */
    TU_ASSERT_MSG(wait_state(run, 'T'), "run did not stop (state %c)", state_of(run));
    TU_ASSERT_MSG(wait_state(prog, 'T'), "PROGRAM did not stop (state %c)", state_of(prog));
    TU_SYS(kill(-job, SIGCONT)); /* fg */
    TU_ASSERT_MSG(wait_state(prog, 'S'), "PROGRAM did not continue (state %c)", state_of(prog));
    TU_ASSERT_MSG(state_of(run) != 'T', "run did not continue");
    TU_SYS(kill(run, SIGTERM));
    TU_ASSERT(tu_pid_exits_within(prog, tu_timeout_ms()));
    TU_SYS(kill(p->pid, SIGKILL));
    (void)tu_wait(p, tu_timeout_ms());
    close(master);
}

TU_MAIN
