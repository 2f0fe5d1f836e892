/* `daemonctx start` (and what `run` shares with it, run.c): check everything
 * that can be checked, daemonize with the library, and report success only
 * once PROGRAM runs and is ready.
 *
 * The library makes the daemon, waits for its readiness (the exec, fd N or
 * sd_notify) and returns the failure of any step; this file configures it
 * and maps its result to the exit-code table (exec.c). With --supervise (and
 * in `run`) the daemon is the supervisor (supervise.c), which keeps its own
 * identity and runs PROGRAM in the context the options ask for
 * (program.c).
 *
 * Without --supervise, the pidfile lock goes to PROGRAM on the lowest fd >= 3
 * that is neither a --keep-fd nor N (so usually fd 3), reserved before
 * anything else is opened so that no fd of ours or of the library can sit
 * there when the daemon dup2()s the lock onto it just before exec. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

/* How much longer the library waits for a supervisor than the supervisor
 * waits for PROGRAM: the supervisor reports the timeout itself, after killing
 * PROGRAM, so PROGRAM never outlives a failed start. */
#define SUPERVISOR_MARGIN_MS 5000

/* The library decides --detach=auto (daemonctx_detach_decision); an
 * explicit --detach is said in the user's words. */
static void decide_detach(const struct start_opts *o, struct launch *l)
{
    (void)daemonctx_set_detach_process(l->ctx, o->run ? DAEMONCTX_DETACH_NO : o->detach);
    l->forks = daemonctx_detach_decision(l->ctx, &l->detach_reason) == 1;
    if (o->detach != DAEMONCTX_DETACH_AUTO)
        l->detach_reason = l->forks ? "--detach=yes: double fork" : "--detach=no: no fork";
}

static bool keeps(const struct start_opts *o, int fd)
{
    for (size_t i = 0; i < o->n_keep; i++)
        if (o->keep_fds[i] == fd)
            return true;
    return false;
}

/* Occupy fd TARGET with a close-on-exec placeholder. */
static int reserve_fd(int target)
{
    int fd;
    do
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 || fd == target)
        return fd < 0 ? -1 : 0;
    int r = dup3(fd, target, O_CLOEXEC);
    dcx_close(fd);
    return r < 0 ? -1 : 0;
}

static int check_keep_fds(const struct start_opts *o)
{
    for (size_t i = 0; i < o->n_keep; i++)
        if (fcntl(o->keep_fds[i], F_GETFD) < 0) {
            usage_error("--keep-fd=%d: fd %d is not open", o->keep_fds[i], o->keep_fds[i]);
            return EXIT_USAGE;
        }
    return 0;
}

/* The fixed fd numbers (see the top of this file): the pidfile lock's, and,
 * without a fork, a copy of our stderr for the errors that come after the
 * library redirected it. */
static int reserve_fds(const struct start_opts *o, struct launch *l)
{
    if (o->pidfile && !o->supervise) {
        int t = 3;
        while (keeps(o, t) || (o->ready == READY_FD && t == o->ready_fd))
            t++;
        if (reserve_fd(t) < 0) {
            print_error("cannot reserve fd %d for the pidfile lock: %s", t, strerror(errno));
            return EXIT_SYSTEM;
        }
        l->lock_fd = t;
    }
    if (!l->forks)
        l->err_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    return 0;
}

/* The fds the library keeps open in the daemon. */
static int preserve_fds(const struct start_opts *o, struct launch *l)
{
    int *fds = malloc((o->n_keep + 3) * sizeof *fds);
    size_t n = 0;
    if (!fds)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_keep; i++)
        fds[n++] = o->keep_fds[i];
    const int own[] = {l->lock_fd, l->err_fd, l->syslog_fd};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i] >= 0)
            fds[n++] = own[i];
    int r = daemonctx_set_files_preserve(l->ctx, fds, n);
    free(fds);
    return r;
}

/* When the library lets us go. A supervisor says so itself (daemonctx_ready)
 * once PROGRAM is ready; a daemon that is PROGRAM is ready once exec'd, or as
 * --ready says. */
static int configure_readiness(const struct start_opts *o, daemonctx *ctx)
{
    static const enum daemonctx_ready_mode modes[] = {
        [READY_EXEC] = DAEMONCTX_READY_NOTIFY, [READY_FD] = DAEMONCTX_READY_FD, [READY_NOTIFY] = DAEMONCTX_READY_SD_NOTIFY};
    unsigned timeout = o->supervise && o->timeout_ms ? o->timeout_ms + SUPERVISOR_MARGIN_MS : o->timeout_ms;
    int r = daemonctx_set_ready_mode(ctx, o->supervise ? DAEMONCTX_READY_NOTIFY : modes[o->ready]);
    if (r >= 0 && !o->supervise && o->ready == READY_FD)
        r = daemonctx_set_ready_fd(ctx, o->ready_fd);
    if (r >= 0)
        r = daemonctx_set_timeout_ms(ctx, timeout);
    return r;
}

/* A standard stream of ours PROGRAM's supervisor keeps (`run` inherits
 * them): -1 (/dev/null) when it is closed. */
static int inherited(int fd)
{
    return fcntl(fd, F_GETFD) < 0 ? -1 : fd;
}

/* The daemon's context: PROGRAM's own settings when the daemon is PROGRAM;
 * the supervisor's, which keeps its identity, when it supervises. */
static int configure(const struct start_opts *o, struct launch *l)
{
    daemonctx *ctx = l->ctx;
    int r = o->supervise ? daemonctx_set_umask(ctx, o->umask) : program_settings(o, l, ctx);
    for (int i = 0; r >= 0 && i < 3; i++) {
        int fd = l->stdio_fd[i] >= 0 ? l->stdio_fd[i] : o->run ? inherited(i) : -1;
        r = i == 0 ? daemonctx_set_stdin(ctx, fd) : i == 1 ? daemonctx_set_stdout(ctx, fd) : daemonctx_set_stderr(ctx, fd);
    }
    if (r >= 0 && o->supervise)
        r = daemonctx_clear_signal_map(ctx);
    if (r >= 0)
        r = preserve_fds(o, l);
    if (r >= 0)
        r = daemonctx_set_pidfile(ctx, l->pidfile);
    if (r >= 0)
        r = configure_readiness(o, ctx);
    if (r >= 0)
        r = daemonctx_set_parent_returns(ctx, true);
    if (r < 0) {
        const daemonctx_error *e = daemonctx_last_error(l->program_ctx && r != -ENOMEM ? l->program_ctx : ctx);
        print_error("%s", e->errnum ? e->message : strerror(-r));
        return EXIT_USAGE;
    }
    return 0;
}

/* --dry-run on the pidfile: refused as a start would refuse it, created
 * nowhere. */
static int dry_run_pidfile(const char *path)
{
    daemonctx_error err;
    pid_t pid;
    int state = daemonctx_pidfile_inspect(path, &pid, &err);
    if (state < 0) {
        print_error("%s", err.message);
        return EXIT_PIDFILE;
    }
    if (state == DAEMONCTX_PIDFILE_RUNNING || state == DAEMONCTX_PIDFILE_STARTING) {
        print_error("pidfile '%s' is locked by PID %d: already running", path, (int)pid);
        return EXIT_RUNNING;
    }
    if (state != DAEMONCTX_PIDFILE_ABSENT)
        return 0;
    char *dir = strdup(path);
    if (!dir) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    char *slash = strrchr(dir, '/');
    const char *d = !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
    int ok = access(d, W_OK | X_OK);
    int e = errno;
    free(dir);
    if (ok < 0) {
        print_error("cannot create pidfile '%s': %s", path, strerror(e));
        return EXIT_PIDFILE;
    }
    return 0;
}

/* What the library would refuse before forking (limits, nice, oom score). */
static int dry_run_library(const struct start_opts *o, struct launch *l)
{
    int r = configure(o, l);
    if (r)
        return r;
    daemonctx_error err;
    if (daemonctx_check(l->ctx, &err) < 0 || (l->program_ctx && daemonctx_check(l->program_ctx, &err) < 0)) {
        print_error("%s", err.message);
        return exit_code_for(&err);
    }
    return 0;
}

static int dry_run(const struct start_opts *o, struct launch *l)
{
    int r = check_stdio_files(o);
    if (!r && o->pidfile)
        r = dry_run_pidfile(o->pidfile);
    if (!r)
        r = dry_run_library(o, l);
    if (!r)
        print_plan(o, l);
    return r;
}

/* The signals that end an interactive start (those not ignored), blocked:
 * the library reads them while it waits, cleans up and raises the one it
 * got, which then stays pending until what we created is removed too. */
static int block_interrupts(sigset_t *set)
{
    static const int ending[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    (void)sigemptyset(set);
    for (size_t i = 0; i < sizeof ending / sizeof ending[0]; i++) {
        struct sigaction cur;
        if (sigaction(ending[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
            (void)sigaddset(set, ending[i]);
    }
    return sigprocmask(SIG_BLOCK, set, NULL);
}

/* The first signal of SET pending for us, or 0. */
static int pending_in(const sigset_t *set)
{
    sigset_t pending;
    if (sigpending(&pending) < 0)
        return 0;
    for (int signo = 1; signo < NSIG; signo++)
        if (sigismember(set, signo) == 1 && sigismember(&pending, signo) == 1)
            return signo;
    return 0;
}

/* Die of SIGNO, as an interrupted program should (the shell then knows). */
static int die_of(int signo)
{
    struct sigaction dfl;
    sigset_t only;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    if (sigaction(signo, &dfl, NULL) == 0 && sigemptyset(&only) == 0 && sigaddset(&only, signo) == 0 &&
        sigprocmask(SIG_UNBLOCK, &only, NULL) == 0)
        (void)raise(signo);
    return 128 + signo;
}

/* What the library returned, said once, on the stderr we started with. */
static int failed(const struct start_opts *o, struct launch *l, const daemonctx_error *err, const sigset_t *interrupts)
{
    int fd = l->err_fd >= 0 ? l->err_fd : 2;
    if (err->step == DAEMONCTX_STEP_INTERRUPTED)
        l->die_signal = pending_in(interrupts);
    /* Name the pidfile as the user wrote it, also when the library's
     * message is about its directory. */
    if (err->step == DAEMONCTX_STEP_PIDFILE && !strstr(err->message, o->pidfile))
        print_error_to(fd, "pidfile '%s': %s", o->pidfile, err->message);
    else
        print_error_to(fd, "%s", err->message);
    return exit_code_for(err);
}

/* Everything opened before daemonizing: the files and sockets PROGRAM gets.
 * An inherited SIG_IGN on SIGCHLD would have the kernel reap our children by
 * itself (a supervisor could then lose PROGRAM's status); PROGRAM gets its
 * own dispositions back. */
static int open_resources(const struct start_opts *o, struct launch *l)
{
    int r;
    if (signal(SIGCHLD, SIG_DFL) == SIG_ERR) {
        print_error("cannot reset SIGCHLD: %s", strerror(errno));
        return EXIT_SYSTEM;
    }
    if ((r = open_stdio_files(o, l)))
        return r;
    if (o->syslog && (l->syslog_fd = syslog_connect()) < 0) {
        print_error("cannot connect to syslog at '/dev/log': %s", strerror(errno));
        return EXIT_FILE;
    }
    return configure(o, l);
}

/* --verbose: how the waits will watch the daemon and PROGRAM (the library
 * falls back to SIGCHLD where pidfd_open is refused; a probe tells). */
static void say_watch_method(const struct start_opts *o)
{
    if (!o->verbose)
        return;
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd >= 0)
        dcx_close(fd);
    else if (errno == ENOSYS || errno == EPERM)
        print_verbose(true, "no pidfd (%s): watching the daemon and PROGRAM through SIGCHLD", strerror(errno));
}

/* Daemonize: 0 once PROGRAM runs and is ready; a failure's exit code. */
static int daemonize(const struct start_opts *o, struct launch *l)
{
    extern char **environ;
    sigset_t interrupts;
    say_watch_method(o);
    say_tree_tracking(o, l);
    if (block_interrupts(&interrupts) < 0) {
        print_error("cannot block the signals that interrupt a start: %s", strerror(errno));
        return EXIT_SYSTEM;
    }
    daemonctx_error err;
    const struct program_start ps = {.o = o, .l = l};
    int r = o->supervise ? daemonctx_open(l->ctx, &err)
                         : daemonctx_open_execve(l->ctx, l->program, o->argv, environ, prepare_program,
                                                 (void *)(uintptr_t)&ps, &err);
    if (r < 0)
        return failed(o, l, &err, &interrupts);
    if (r == 0) /* the supervisor: the daemon, or this very process */
        supervise(o, l);
    pid_t pid = daemonctx_daemon_pid(l->ctx);
    if (daemonctx_cgroup(l->ctx))
        print_verbose(o->verbose, "daemon PID %d is in cgroup %s", (int)pid, daemonctx_cgroup(l->ctx));
    if (o->supervise)
        print_verbose(o->verbose, "daemon PID %d started: the supervisor; program '%s' is ready", (int)pid,
                      o->argv[0]);
    else
        print_verbose(o->verbose, "daemon PID %d started: program '%s' (PID %d) is ready", (int)pid, o->argv[0],
                      (int)pid);
    return EXIT_OK;
}

static int launch(const struct start_opts *o, struct launch *l)
{
    int r;
    l->ctx = daemonctx_new();
    if (!l->ctx) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    decide_detach(o, l);
    if (!o->run)
        print_verbose(o->verbose, "%s", l->detach_reason);
    if ((r = check_keep_fds(o)) || (!o->dry_run && (r = reserve_fds(o, l))) || (r = resolve_identity(o, l)) ||
        (r = resolve_directories(o, l)) || (r = resolve_program(o, l)))
        return r;
    print_verbose(o->verbose, "program '%s' resolved to '%s'%s%s", o->argv[0], l->program,
                  l->root ? " inside " : "", l->root ? l->root : "");
    if (o->pidfile && !(l->pidfile = daemonctx_pidfile_new(o->pidfile))) {
        print_error("pidfile '%s': %s", o->pidfile, strerror(errno));
        return EXIT_PIDFILE;
    }
    if (o->supervise && (r = program_context(o, l)) < 0) {
        print_error("%s", r == -ENOMEM ? strerror(ENOMEM) : daemonctx_last_error(l->program_ctx)->message);
        return r == -ENOMEM ? EXIT_SYSTEM : EXIT_USAGE;
    }
    if ((r = configure_service(o, l)))
        return r;
    if (o->dry_run)
        return dry_run(o, l);
    if ((r = open_resources(o, l)))
        return r;
    return daemonize(o, l);
}

int launch_command(int argc, char **argv, bool run)
{
    struct start_opts o;
    struct launch l;
    memset(&l, 0, sizeof l);
    l.stdio_fd[0] = l.stdio_fd[1] = l.stdio_fd[2] = -1;
    l.syslog_fd = l.lock_fd = l.err_fd = -1;

    int r = parse_start_options(argc, argv, &o, run);
    r = r == 0 ? launch(&o, &l) : r > 0 ? EXIT_OK : r == -1 ? EXIT_USAGE : EXIT_SYSTEM;
    if (r != EXIT_OK)
        remove_created_outputs(&o, &l);

    /* The invoker is done (the daemon never gets here). The pidfile object
     * was abandoned by a successful open() or cleaned up by a failed one, so
     * freeing it removes nothing. Fds go with exit. */
    daemonctx_free(l.ctx);
    daemonctx_free(l.program_ctx);
    daemonctx_pidfile_free(l.pidfile);
    free(l.root);
    free(l.cwd);
    free(l.program);
    for (int i = 0; i < 3; i++)
        free(l.log_path[i]);
    free_start_options(&o);
    return l.die_signal ? die_of(l.die_signal) : r;
}

int cmd_start(int argc, char **argv)
{
    return launch_command(argc, argv, false);
}
