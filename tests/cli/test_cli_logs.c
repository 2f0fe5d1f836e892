/*
 * Supervised output files (`start --supervise` and `run` with -o/-e):
 * PROGRAM writes to a pipe, the supervisor appends whole lines to the file it
 * owns, and `daemonctx reopen` makes it reopen the file by its path, as
 * logrotate's postrotate wants: no line lost, duplicated or split.
 */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define GATE_FD 8

static void program(tu_cmd *c)
{
    tu_cmd_arg(c, "--");
    tu_cmd_arg(c, "%s", prog_path());
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* `daemonctx reopen -p PF`. */
static cli_result reopen(const char *pf)
{
    tu_cmd c;
    cli_cmd(&c, "reopen");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    return cli_run(&c);
}

/* Count, in TEXT, the lines "line K" (K from 1 to N, in order, each whole),
 * after an optional timestamp; fails on anything else. Returns the next K
 * expected. */
static int check_lines(const char *text, int next, int n, bool stamped)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        TU_ASSERT_MSG(nl != NULL, "a line without its newline: \"%.40s\"", p);
        if (stamped) {
            /* "2026-12-04T16:30:00.123+0000 " */
            TU_ASSERT_MSG(nl - p > 30 && p[4] == '-' && p[10] == 'T' && p[19] == '.' && p[28] == ' ',
                          "no timestamp on \"%.*s\"", (int)(nl - p), p);
            p += 29;
        }
        int k;
        char end;
        TU_ASSERT_MSG(sscanf(p, "line %d%c", &k, &end) == 2 && end == '\n',
                      "not a whole line: \"%.*s\"", (int)(nl - p), p);
        TU_ASSERT_MSG(k == next, "line %d where line %d was expected (lost or duplicated)", k, next);
        next = next == n ? 1 : next + 1;
        p = nl + 1;
    }
    return next;
}

/* PROGRAM writes N lines, waits at its gate, writes N more; the file is
 * renamed and reopened while the first batch is being written. */
static void rename_and_reopen(bool run, bool stamped)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir), *log = tu_fmt("%s/out.log", dir);
    const int n = 20000;
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_cmd c;
    cli_cmd(&c, run ? "run" : "start");
    if (!run)
        tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--stdout=%s", log);
    if (stamped)
        tu_cmd_arg(&c, "--log-timestamps");
    tu_cmd_fd(&c, GATE_FD, gate[0]);
    tu_cmd_arg(&c, "--keep-fd=%d", GATE_FD);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "lines:%d", n);
    tu_cmd_arg(&c, "event:%d:written", EVENT_FD);
    tu_cmd_arg(&c, "gate:%d", GATE_FD);
    tu_cmd_arg(&c, "lines:%d", n);
    tu_cmd_arg(&c, "event:%d:done", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    close(gate[0]);
    /* Some of the first batch is there: move the file away, as logrotate does. */
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    while (size_of(log) < 16 * 1024 && tu_now_ms() < deadline)
        (void)poll(NULL, 0, 1);
    TU_SYS(rename(log, tu_fmt("%s.1", log)));
    cli_result r = reopen(pf);
    TU_ASSERT_MSG(r.code == 0, "reopen exited %d: %s", r.code, r.err);
    expect_event(p, "written");
    TU_SYS(write(gate[1], "g", 1));
    expect_event(p, "done");
    pid_t sup = pidfile_pid(pf);
    TU_SYS(kill(sup, SIGTERM)); /* the supervisor drains PROGRAM's pipe before it exits */
    TU_ASSERT(tu_pid_exits_within(sup, tu_timeout_ms()));
    const char *before = tu_read_file(tu_fmt("%s.1", log)), *after = tu_read_file(log);
    TU_ASSERT(before && after);
    int next = check_lines(before, 1, n, stamped);
    TU_ASSERT_MSG(*after != '\0', "nothing was written to the reopened file");
    next = check_lines(after, next, n, stamped);
    TU_ASSERT_MSG(next == 1, "the last batch ended at line %d", next - 1);
    TU_ASSERT(strlen(before) + strlen(after) > 0);
    if (run)
        (void)tu_wait(p, tu_timeout_ms());
}

TU_TEST(reopen_after_rename_loses_no_line_under_a_fast_writer_supervise)
{
    rename_and_reopen(false, false);
}

TU_TEST(reopen_after_rename_loses_no_line_under_a_fast_writer_run)
{
    rename_and_reopen(true, false);
}

TU_TEST(log_timestamps_prefix_every_line_across_a_reopen)
{
    rename_and_reopen(true, true);
}

TU_TEST(supervise_output_goes_through_a_pipe_to_the_file)
{
    const char *dir = tu_tmpdir();
    const char *pf = tu_fmt("%s/d.pid", dir), *log = tu_fmt("%s/both.log", dir);
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--stdout=%s", log);
    tu_cmd_arg(&c, "--stderr=%s", log);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "print");
    tu_cmd_arg(&c, "event:%d:printed", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    cli_result r = cli_finish(p, tu_now_ms());
    expect_success(&r);
    pid_t prog = expect_event(p, "printed");
    TU_ASSERT_CONTAINS(tu_proc_link(prog, "fd/1"), "pipe:");
    TU_ASSERT_CONTAINS(tu_proc_link(prog, "fd/2"), "pipe:");
    pid_t sup = pidfile_pid(pf);
    TU_SYS(kill(sup, SIGTERM));
    TU_ASSERT(tu_pid_exits_within(sup, tu_timeout_ms()));
    const char *text = tu_read_file(log);
    TU_ASSERT_CONTAINS(text, "out-line\n");
    TU_ASSERT_CONTAINS(text, "err-line\n");
    struct stat st;
    TU_SYS(stat(log, &st));
    TU_ASSERT_INT_EQ(st.st_mode & 07777, 0640);
}

TU_TEST(reopen_keeps_the_old_file_when_the_new_one_cannot_be_opened)
{
    const char *dir = tu_tmpdir();
    const char *sub = tu_fmt("%s/logs", dir), *pf = tu_fmt("%s/d.pid", dir), *log = tu_fmt("%s/logs/out.log", dir);
    tu_mkdir_p(sub, 0755);
    int gate[2];
    TU_SYS(pipe2(gate, O_CLOEXEC));
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    tu_cmd_arg(&c, "--stdout=%s", log);
    tu_cmd_fd(&c, GATE_FD, gate[0]);
    tu_cmd_arg(&c, "--keep-fd=%d", GATE_FD);
    tu_cmd_arg(&c, "--keep-fd=%d", EVENT_FD);
    program(&c);
    tu_cmd_arg(&c, "gate:%d", GATE_FD);
    tu_cmd_arg(&c, "print");
    tu_cmd_arg(&c, "event:%d:printed", EVENT_FD);
    tu_proc *p = tu_spawn(&c);
    close(gate[0]);
    cli_result started = cli_finish(p, tu_now_ms());
    expect_success(&started);
    /* The directory goes away: the path cannot be opened any more. */
    TU_SYS(rename(sub, tu_fmt("%s/moved", dir)));
    cli_result r = reopen(pf);
    expect_error(&r, 1, log, "still writing", (char *)NULL);
    TU_SYS(write(gate[1], "g", 1));
    expect_event(p, "printed");
    pid_t sup = pidfile_pid(pf);
    TU_SYS(kill(sup, SIGTERM));
    TU_ASSERT(tu_pid_exits_within(sup, tu_timeout_ms()));
    TU_ASSERT_STR_EQ(tu_read_file(tu_fmt("%s/moved/out.log", dir)), "out-line\n");
}

TU_TEST(reopen_without_supervise_is_refused_naming_the_pid)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    program(&c);
    cli_result r = cli_run(&c);
    expect_success(&r);
    pid_t pid = pidfile_pid(pf);
    r = reopen(pf);
    expect_error(&r, 4, tu_fmt("PID %d", (int)pid), "--supervise", (char *)NULL);
}

TU_TEST(reopen_of_a_pidfile_nobody_holds_says_not_running)
{
    cli_result r = reopen(tu_fmt("%s/absent.pid", tu_tmpdir()));
    expect_error(&r, 3, "not running", (char *)NULL);
}

TU_TEST(reopen_of_a_supervisor_without_output_files_says_so)
{
    const char *pf = tu_fmt("%s/d.pid", tu_tmpdir());
    tu_cmd c;
    cli_cmd(&c, "start");
    tu_cmd_arg(&c, "--supervise");
    tu_cmd_arg(&c, "--pidfile=%s", pf);
    program(&c);
    cli_result r = cli_run(&c);
    expect_success(&r);
    r = reopen(pf);
    expect_error(&r, 1, "no log file", (char *)NULL);
}

TU_MAIN
