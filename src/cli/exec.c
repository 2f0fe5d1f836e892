/* The daemon's last steps before PROGRAM runs, and how failures reach the
 * user: the exit code table. What runs between fork and exec here keeps to
 * async-signal-safe calls, no allocation, no stdio. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"

/* The exit code of each failing step: daemonctx(1) documents this table. */
static const unsigned char exit_codes[DAEMONCTX_STEP_COUNT] = {
    [DAEMONCTX_STEP_OPTIONS] = EXIT_USAGE,         [DAEMONCTX_STEP_USER] = EXIT_USER,
    [DAEMONCTX_STEP_SETGROUPS] = EXIT_USER,        [DAEMONCTX_STEP_SETGID] = EXIT_USER,
    [DAEMONCTX_STEP_SETUID] = EXIT_USER,           [DAEMONCTX_STEP_VERIFY_DROP] = EXIT_USER,
    [DAEMONCTX_STEP_PIDFILE] = EXIT_PIDFILE,       [DAEMONCTX_STEP_PIDFILE_WRITE] = EXIT_PIDFILE,
    [DAEMONCTX_STEP_DEVNULL] = EXIT_FILE,          [DAEMONCTX_STEP_STDIO] = EXIT_FILE,
    [DAEMONCTX_STEP_CHROOT] = EXIT_DIRECTORY,      [DAEMONCTX_STEP_CHDIR] = EXIT_DIRECTORY,
    [DAEMONCTX_STEP_DIED] = EXIT_DIED,             [DAEMONCTX_STEP_TIMEOUT] = EXIT_TIMEOUT,
    [DAEMONCTX_STEP_EXEC] = EXIT_NOEXEC,           [DAEMONCTX_STEP_LIMITS] = EXIT_SYSTEM,
    [DAEMONCTX_STEP_RUNTIME_DIR] = EXIT_DIRECTORY, [DAEMONCTX_STEP_CGROUP] = EXIT_SYSTEM,
};

int exit_code_for(const daemonctx_error *err)
{
    /* Two steps tell their cases apart by errno, as the table in
     * daemonctx(1) does: held vs unusable, not found vs not executable. */
    if (err->step == DAEMONCTX_STEP_PIDFILE && err->errnum == EAGAIN)
        return EXIT_RUNNING;
    if (err->step == DAEMONCTX_STEP_EXEC && (err->errnum == ENOENT || err->errnum == ENOTDIR))
        return EXIT_NOTFOUND;
    /* Out of memory while setting up is not the caller's mistake. */
    if (err->step == DAEMONCTX_STEP_OPTIONS && err->errnum == ENOMEM)
        return EXIT_SYSTEM;
    unsigned step = (unsigned)err->step;
    return step < DAEMONCTX_STEP_COUNT && exit_codes[step] ? exit_codes[step] : EXIT_SYSTEM;
}

/* A failure of the supervisor before PROGRAM is ready. Detached, the error
 * goes to the invoker, whose open() returns it (it prints it and removes the
 * pidfile); without a fork we are the invoker: print it to the stderr we
 * saved before the library redirected ours. Async-signal-safe. */
void report_failure(const struct launch *l, const daemonctx_error *err)
{
    if (l->forks) {
        (void)daemonctx_report_error(l->ctx, err);
        return;
    }
    if (l->err_fd >= 0) {
        struct iovec iov[3] = {
            {.iov_base = (void *)(uintptr_t)"daemonctx: ", .iov_len = 11},
            {.iov_base = (void *)(uintptr_t)err->message, .iov_len = strlen(err->message)},
            {.iov_base = (void *)(uintptr_t)"\n", .iov_len = 1},
        };
        ssize_t n;
        do
            n = writev(l->err_fd, iov, 3);
        while (n < 0 && errno == EINTR);
        /* A failure to say it has nowhere left to be said. */
    }
}

/* Fill ERR without snprintf (not async-signal-safe): "WHAT: errno text". */
void daemon_error(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *what)
{
    size_t n = 0;
    memset(err, 0, sizeof *err);
    err->errnum = errnum;
    err->step = step;
#ifdef HAVE_STRERRORDESC_NP
    const char *parts[3] = {what, ": ", strerrordesc_np(errnum)};
#else /* musl: its strerror is a table lookup */
    const char *parts[3] = {what, ": ", strerror(errnum)};
#endif
    for (int i = 0; i < 3 && parts[i]; i++)
        for (const char *s = parts[i]; *s && n + 1 < sizeof err->message; s++)
            err->message[n++] = *s;
}

/* SIG_IGN survives execve, so an ignore inherited from whoever started us
 * (nohup, a shell, a careless init script) would silently leak into PROGRAM.
 * Only what the user asked for stays ignored. The blocked mask survives exec
 * too: PROGRAM starts with an empty one. */
int reset_signals(const sigset_t *ignore)
{
    struct sigaction dfl, ign, cur;
    memset(&dfl, 0, sizeof dfl);
    memset(&ign, 0, sizeof ign);
    dfl.sa_handler = SIG_DFL;
    ign.sa_handler = SIG_IGN;
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo == SIGKILL || signo == SIGSTOP)
            continue;
        if (sigismember(ignore, signo) == 1) {
            if (sigaction(signo, &ign, NULL) < 0)
                return -errno;
            continue;
        }
        if (sigaction(signo, NULL, &cur) < 0) {
            if (errno == EINVAL) /* reserved by the C library */
                continue;
            return -errno;
        }
        if (cur.sa_handler == SIG_IGN && sigaction(signo, &dfl, NULL) < 0)
            return -errno;
    }
    sigset_t none;
    if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        return -errno;
    return 0;
}

/* daemonctx_open_execve()'s hook, in the daemon after the library's steps:
 * hand the pidfile lock to PROGRAM. It runs in the memory of the
 * intermediate child, suspended meanwhile: it writes nothing but its
 * locals. 0, or -errno with ERR filled. */
int prepare_program(void *arg, daemonctx_error *err)
{
    const struct program_start *ps = arg;
    const struct launch *l = ps->l;
    int r;
    if (l->lock_fd < 0)
        return 0;
    /* The library's lock fd is close-on-exec; PROGRAM holds the lock on the
     * fd reserved for it before open() (see start.c). */
    do
        r = dup2(daemonctx_pidfile_fd(l->pidfile), l->lock_fd);
    while (r < 0 && (errno == EINTR || errno == EBUSY));
    if (r < 0) {
        daemon_error(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot pass the pidfile lock to PROGRAM");
        return -err->errnum;
    }
    return 0;
}
