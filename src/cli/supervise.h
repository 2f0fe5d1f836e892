/* The supervisor's state, shared by its files: supervise.c (the loop,
 * readiness, restarts), init.c (what `run` adds: reaping, leftovers, job
 * control, the exit status) and control.c (requests such as reopen). */
#ifndef DAEMONCTX_CLI_SUPERVISE_H
#define DAEMONCTX_CLI_SUPERVISE_H

#include "cli.h"

struct supervisor {
    const struct start_opts *o;
    struct launch *l;
    const char *ident; /* PROGRAM's name, for syslog and messages */
    int sigfd;
    sigset_t forwarded;
    struct dcx_ready source; /* --ready=fd:N: a pipe per run; notify: one socket */
    struct program_run run;
    struct log_sink sinks[2];
    struct log_stream streams[2]; /* PROGRAM's stdout, stderr */
    int control;                  /* the socket `daemonctx reopen` talks to; -1 */
    pid_t child;
    pid_t group;            /* PROGRAM's process group, when its own; 0 */
    struct dcx_watch watch; /* PROGRAM's, while child is not 0 */
    long long started_ms;
    long long ready_by; /* this run's readiness deadline; -1: none */
    bool run_ready;     /* this run of PROGRAM is ready */
    bool announced;     /* the first readiness was told: the invoker is gone */
    bool stopping;
    unsigned next_delay_ms;
    long long restart_at; /* -1: no restart pending */
    bool reaper; /* orphans come to us: run as PID 1 or --subreaper; start
                  * --supervise without a cgroup */
    /* run */
    bool terminal; /* on a terminal, in its foreground: PROGRAM shares our group */
    int stop_signal; /* what stopped us while waiting to restart; 0 */
};

/* supervise.c */
void supervisor_fail(struct supervisor *s, enum daemonctx_step step, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

/* init.c */
/* 0, or -errno: cannot become a child subreaper. */
int init_prepare(struct supervisor *s);
/* PROGRAM ended, under start --supervise: the rest of its tree too (its
 * cgroup, or the descendants the library finds). */
void init_end_others(struct supervisor *s);
/* SIGCHLD: reap every child that ended; true when PROGRAM was one (its
 * status in *PROGRAM), for the caller to handle. */
bool init_reap(const struct supervisor *s, siginfo_t *program);
/* A signal for PROGRAM: to it, or to its group; on a terminal, a stop
 * signal stops us too. FROM_KERNEL: the terminal sent it. */
void init_forward(struct supervisor *s, int signo, bool from_kernel);
/* `run` is over: end what PROGRAM left (SIGTERM, then SIGKILL after the
 * grace period) and exit with PROGRAM's status, or 128+N. */
void init_exit(struct supervisor *s, const siginfo_t *si) __attribute__((noreturn));

/* control.c */
int control_open(struct supervisor *s);
void control_serve(struct supervisor *s);

#endif
