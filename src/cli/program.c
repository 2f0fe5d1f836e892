/* PROGRAM under a supervisor (`start --supervise`, `run`).
 *
 * The supervisor keeps its own identity and root (it reopens log files and
 * ends what PROGRAM leaves behind); PROGRAM gets the clean context the
 * options ask for: the library applies it in a child of the supervisor
 * (daemonctx_open_execve() without a detach: chroot, directory, umask,
 * identity, core, fds, signal dispositions) and execs PROGRAM there. A
 * failure of any step comes back over a close-on-exec pipe as the library's
 * error; EOF means PROGRAM runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* PROGRAM's dispositions as the library's signal map: every one at its
 * default but those the user asked to ignore (an inherited SIG_IGN would
 * survive exec). The C library's own real-time signals, below SIGRTMIN,
 * are not ours. */
int program_signal_map(daemonctx *ctx, const sigset_t *ignore)
{
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP || (signo >= 32 && signo < SIGRTMIN))
            continue;
        int r = daemonctx_set_signal(ctx, signo,
                                     sigismember(ignore, signo) == 1 ? DAEMONCTX_SIGNAL_IGNORE
                                                                     : DAEMONCTX_SIGNAL_DEFAULT,
                                     NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

/* What PROGRAM gets whoever makes it: the daemon itself (start) or a child
 * of the supervisor (here). */
int program_settings(const struct start_opts *o, const struct launch *l, daemonctx *ctx)
{
    /* The library takes the working directory as seen from outside the jail
     * and strips the chroot prefix itself. */
    char *wd = l->root ? join_path(l->root, l->cwd) : NULL;
    int r = l->root && !wd ? -ENOMEM : 0;
    if (r >= 0)
        r = daemonctx_set_chroot_directory(ctx, l->root);
    if (r >= 0)
        r = daemonctx_set_working_directory(ctx, wd ? wd : l->cwd);
    if (r >= 0)
        r = daemonctx_set_umask(ctx, o->umask);
    if (r >= 0 && l->set_uid)
        r = daemonctx_set_uid(ctx, l->uid);
    if (r >= 0 && l->set_gid)
        r = daemonctx_set_gid(ctx, l->gid);
    if (r >= 0)
        r = daemonctx_set_prevent_core(ctx, !o->allow_core);
    if (r >= 0)
        r = daemonctx_clear_signal_map(ctx);
    if (r >= 0)
        r = program_signal_map(ctx, &o->ignore);
    free(wd);
    return r;
}

/* The context of every run of PROGRAM, made once by the supervisor. */
int program_context(const struct start_opts *o, struct launch *l)
{
    l->program_ctx = daemonctx_new();
    if (!l->program_ctx)
        return -ENOMEM;
    int r = program_settings(o, l, l->program_ctx);
    if (r >= 0)
        r = daemonctx_set_detach_process(l->program_ctx, DAEMONCTX_DETACH_NO);
    return r;
}

/* The fds PROGRAM keeps besides 0-2: --keep-fd, fd N of --ready=fd:N, and
 * the report pipe (close-on-exec: its end tells the exec happened); its
 * standard streams. */
static int child_fds(const struct program_run *run)
{
    const struct start_opts *o = run->o;
    int *fds = malloc((o->n_keep + 2) * sizeof *fds);
    if (!fds)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < o->n_keep; i++)
        fds[n++] = o->keep_fds[i];
    if (run->source->kind == DCX_READY_FD)
        fds[n++] = o->ready_fd;
    fds[n++] = run->report;
    int r = daemonctx_set_files_preserve(run->ctx, fds, n);
    free(fds);
    if (r >= 0)
        r = daemonctx_set_stdin(run->ctx, run->std[0]);
    if (r >= 0)
        r = daemonctx_set_stdout(run->ctx, run->std[1]);
    if (r >= 0)
        r = daemonctx_set_stderr(run->ctx, run->std[2]);
    return r;
}

/* In the child: its process group, its readiness fd, then the library makes
 * it PROGRAM. Returns only on failure, with ERR filled. */
static void child_main(const struct program_run *run, pid_t parent, daemonctx_error *err)
{
    int e = 0;
    /* PROGRAM must not outlive a supervisor killed with SIGKILL: nobody would
     * hold its lock or reap it any more. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        e = errno ? errno : ESRCH;
    /* Its own process group (that a failed start or --signal-group can
     * signal whole), or, on a terminal, the supervisor's (job control). */
    if (!e && run->own_group && setpgid(0, 0) < 0)
        e = errno;
    if (!e)
        e = -dcx_ready_child_setup(run->source);
    if (e) {
        daemon_error(err, DAEMONCTX_STEP_FORK, e, "cannot prepare the child for PROGRAM");
        return;
    }
    int r = child_fds(run);
    if (r < 0) {
        const daemonctx_error *last = daemonctx_last_error(run->ctx);
        if (last->errnum)
            *err = *last;
        else
            daemon_error(err, DAEMONCTX_STEP_OPTIONS, -r, "cannot give PROGRAM its fds");
        return;
    }
    (void)daemonctx_open_execve(run->ctx, run->program, run->argv, run->envp, NULL, NULL, err);
}

/* The child's word: nothing (EOF: PROGRAM runs), or its error. */
static int child_result(int fd, daemonctx_error *err)
{
    ssize_t n;
    do
        n = read(fd, err, sizeof *err);
    while (n < 0 && errno == EINTR);
    dcx_close(fd);
    if (n <= 0)
        return 0;
    if (n != (ssize_t)sizeof *err)
        daemon_error(err, DAEMONCTX_STEP_EXEC, EPROTO, "PROGRAM's start reported nonsense");
    err->message[sizeof err->message - 1] = '\0';
    return -1;
}

pid_t program_spawn(struct program_run *run, daemonctx_error *err)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        daemon_error(err, DAEMONCTX_STEP_PIPE, errno, "cannot create the pipe to PROGRAM's start");
        return -1;
    }
    run->report = report[1];
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        dcx_close(report[0]);
        child_main(run, parent, err);
        ssize_t n;
        do
            n = write(report[1], err, sizeof *err);
        while (n < 0 && errno == EINTR);
        _exit(EXIT_NOTFOUND);
    }
    int e = errno;
    dcx_close(report[1]);
    if (pid < 0) {
        dcx_close(report[0]);
        daemon_error(err, DAEMONCTX_STEP_FORK, e, "cannot fork PROGRAM");
        return -1;
    }
    /* A group leader from both sides: no window where a group signal would
     * miss it. */
    if (run->own_group)
        (void)setpgid(pid, pid);
    if (child_result(report[0], err) == 0)
        return pid;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return -1;
}
