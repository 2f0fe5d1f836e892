/*
 * cli_common.h - what the black-box tests of the daemonctx command share.
 *
 * The command under test is $DAEMONCTX, the program it starts is
 * $DCX_CLI_PROG (cli_prog.c). Tests run through the project's harness
 * (tests/helpers/testutil.h): the test process is a child subreaper, so the
 * daemons `daemonctx start` leaves behind become its children, are inspected
 * through /proc and killed at the end. The report pipe the harness gives
 * every command as fd 5 (TU_REPORT_FD) is the event channel: a test passes
 * --keep-fd=5 and the program writes its events there.
 */
#ifndef DCX_CLI_COMMON_H
#define DCX_CLI_COMMON_H

#include "testutil.h"

#define EVENT_FD TU_REPORT_FD

/* $DAEMONCTX: the command under test (from the build tree: it runs as root). */
const char *cli_path(void);
/* Skip the test (exit 77) unless we are root: chroot, privilege drops. */
void need_root(void);
/* $DCX_CLI_PROG's private copy (tu_exec_copy): it may run as nobody. */
const char *prog_path(void);

/* A command "daemonctx ARG..."; add more with tu_cmd_arg. */
void cli_cmd(tu_cmd *c, const char *first_arg);
/* The same, run as nobody:nogroup from a private copy of the command. */
void cli_cmd_as_nobody(tu_cmd *c, const char *first_arg);

typedef struct cli_result {
    int code; /* exit status, or 128 + signal */
    const char *out;
    const char *err;
    tu_proc *proc;
    int64_t elapsed_ms;
} cli_result;

/* Spawn C and wait for it to exit (within the harness deadline). */
cli_result cli_run(tu_cmd *c);
/* Only wait for an already spawned command. */
cli_result cli_finish(tu_proc *p, int64_t started_ms);

/* Exit code CODE and exactly one stderr line "daemonctx: ..." containing
 * every NEEDLE (NULL-terminated list). */
void expect_error(const cli_result *r, int code, ...) __attribute__((sentinel));
/* Exit code 2, one line naming NEEDLE, then the "Try" hint; no help text. */
void expect_usage_error(const cli_result *r, const char *needle);
void expect_success(const cli_result *r);

/* The PID in PATH ("PID\n"), tracked for cleanup; fails otherwise. */
pid_t pidfile_pid(const char *path);
/* Start a daemon: the command must succeed, the pidfile must name a live
 * process that becomes our child. Returns its PID. */
pid_t start_daemon(tu_cmd *c, const char *pidfile, cli_result *out);

/* A line "WORD PID" from the event channel of P; returns PID. */
pid_t expect_event(tu_proc *p, const char *word);
/* A line "WORD PID US" (PROGRAM's stamp:FD:WORD): returns PID, *US the
 * CLOCK_MONOTONIC time PROGRAM took when it wrote the line. */
pid_t expect_stamp(tu_proc *p, const char *word, int64_t *us);
/* Start `daemonctx start --pidfile=PATH` of PROGRAM (waiting), a daemon
 * reparented to the test; returns its PID. */
pid_t cli_start_plain(const char *pidfile);

/* Whether fd FD of PID points at PATH. */
bool fd_points_to(pid_t pid, int fd, const char *path);
/* /proc/PID/WHAT (NUL-separated strings: cmdline, environ), *len bytes. */
const char *proc_strings(pid_t pid, const char *what, size_t *len);
/* $NAME in PID's environment, or NULL. */
const char *proc_env(pid_t pid, const char *name);

#endif
