/* `daemonctx start`: check everything that can be checked, daemonize with the
 * library, and report success only once PROGRAM runs (and is ready).
 *
 * The fds PROGRAM inherits are fixed before anything else is opened:
 *   - the --ready=fd:N pipe's write end is put on fd N;
 *   - without --supervise, the pidfile lock goes to the lowest fd >= 3 that is
 *     neither a --keep-fd nor N (so usually fd 3). The library's lock fd is
 *     close-on-exec; the daemon dup2()s it onto that reserved number just
 *     before exec, so PROGRAM holds the lock for its lifetime.
 * Reserving the numbers first means no fd of ours or of the library (the
 * report channel, /dev/null, the pidfile) can sit there when the daemon
 * dup2()s onto them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

/* How much longer the library waits for a supervisor than the supervisor
 * waits for PROGRAM: the supervisor reports the timeout itself, after killing
 * PROGRAM, so PROGRAM never outlives a failed start. */
#define SUPERVISOR_MARGIN_MS 5000

/* --detach=auto, as daemonctx(1) documents it: no fork when we are PID 1 (a
 * container's init: forking and exiting would end it), when our parent is
 * init (already detached), or when stdin is a socket (inetd). Decided here
 * rather than by the library's auto, which also reads service-manager
 * variables: systemd sets INVOCATION_ID for Type=forking units too, and those
 * expect the fork. */
static bool decide_detach(enum daemonctx_detach asked, const char **reason)
{
    int type;
    socklen_t len = sizeof type;
    if (asked != DAEMONCTX_DETACH_AUTO) {
        *reason = asked == DAEMONCTX_DETACH_YES ? "--detach=yes: double fork" : "--detach=no: no fork";
        return asked == DAEMONCTX_DETACH_YES;
    }
    if (getpid() == 1)
        *reason = "we are PID 1 (a container's init): forking and exiting would end it, no fork";
    else if (getppid() == 1)
        *reason = "the parent is init: already detached, no fork";
    else if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
        *reason = "stdin is a socket (started by inetd or a socket-activating manager): no fork";
    else {
        *reason = "started by a process that may wait for it: double fork";
        return true;
    }
    return false;
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
    int e = errno;
    close_fd(fd);
    errno = e;
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

/* The daemon is PROGRAM itself (not a supervisor, and detached): the
 * library makes it with daemonctx_open_execve(). */
static bool daemon_is_program(const struct start_opts *o, const struct launch *l)
{
    return l->forks && !o->supervise;
}

/* The fixed fd numbers of PROGRAM (see the top of this file). */
static int reserve_fds(const struct start_opts *o, struct launch *l, struct ready_source *rs)
{
    bool invoker_fd_ready = daemon_is_program(o, l) && o->ready == READY_FD;
    if (invoker_fd_ready && reserve_fd(o->ready_fd) < 0) {
        print_error("cannot use fd %d for --ready=fd:%d: %s", o->ready_fd, o->ready_fd, strerror(errno));
        return EXIT_SYSTEM;
    }
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
    if (!l->forks) {
        /* Errors after open() can no longer go through stdio. */
        l->err_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    }
    if (invoker_fd_ready) {
        int r = ready_open(rs, READY_FD);
        if (r < 0 || dup3(rs->child_fd, o->ready_fd, O_CLOEXEC) < 0) {
            print_error("cannot create the --ready=fd:%d pipe: %s", o->ready_fd, strerror(r < 0 ? -r : errno));
            return EXIT_SYSTEM;
        }
        close_fd(rs->child_fd);
        rs->child_fd = o->ready_fd;
    }
    return 0;
}

/* The fds the library keeps open in the daemon. */
static int preserve_fds(const struct start_opts *o, struct launch *l)
{
    int *fds = malloc((o->n_keep + 4) * sizeof *fds);
    size_t n = 0;
    if (!fds)
        return -ENOMEM;
    for (size_t i = 0; i < o->n_keep; i++)
        fds[n++] = o->keep_fds[i];
    if (o->ready == READY_FD && !o->supervise && (l->forks || fcntl(o->ready_fd, F_GETFD) >= 0))
        fds[n++] = o->ready_fd;
    if (l->lock_fd >= 0)
        fds[n++] = l->lock_fd;
    if (l->err_fd >= 0)
        fds[n++] = l->err_fd;
    if (l->syslog_fd >= 0)
        fds[n++] = l->syslog_fd;
    int r = daemonctx_set_files_preserve(l->ctx, fds, n);
    free(fds);
    return r;
}

/* PROGRAM's dispositions as the library's signal map, which the daemon
 * applies in its one pass over the signals: every one at its default but
 * those the user asked to ignore (an inherited SIG_IGN would survive exec).
 * The C library's own real-time signals, below SIGRTMIN, are not ours. */
static int program_signal_map(daemonctx *ctx, const sigset_t *ignore)
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

static int configure(const struct start_opts *o, struct launch *l)
{
    daemonctx *ctx = l->ctx;
    /* The library takes the working directory as seen from outside the jail
     * and strips the chroot prefix itself. */
    char *wd = l->root ? join_path(l->root, l->cwd) : NULL;
    unsigned timeout = o->supervise && o->timeout_ms ? o->timeout_ms + SUPERVISOR_MARGIN_MS : o->timeout_ms;
    int r = l->root && !wd ? -ENOMEM : 0;
#define SET(call)                                                                                                  \
    do {                                                                                                           \
        if (r >= 0)                                                                                                \
            r = (call);                                                                                            \
    } while (0)
    SET(daemonctx_set_chroot_directory(ctx, l->root));
    SET(daemonctx_set_working_directory(ctx, wd ? wd : l->cwd));
    SET(daemonctx_set_umask(ctx, o->umask));
    if (l->set_uid)
        SET(daemonctx_set_uid(ctx, l->uid));
    if (l->set_gid)
        SET(daemonctx_set_gid(ctx, l->gid));
    SET(daemonctx_set_prevent_core(ctx, !o->allow_core));
    SET(preserve_fds(o, l));
    SET(daemonctx_set_pidfile(ctx, l->pidfile));
    SET(daemonctx_set_stdin(ctx, l->stdio_fd[0]));
    SET(daemonctx_set_stdout(ctx, l->stdio_fd[1]));
    SET(daemonctx_set_stderr(ctx, l->stdio_fd[2]));
    /* Not the library's default map: PROGRAM gets its dispositions reset
     * (by the map when the daemon is PROGRAM, else before its exec), and
     * the supervisor handles its signals itself. */
    SET(daemonctx_clear_signal_map(ctx));
    if (daemon_is_program(o, l))
        SET(program_signal_map(ctx, &o->ignore));
    SET(daemonctx_set_ready_mode(ctx, DAEMONCTX_READY_NOTIFY));
    SET(daemonctx_set_timeout_ms(ctx, timeout));
    SET(daemonctx_set_parent_returns(ctx, true));
#undef SET
    free(wd);
    if (r < 0) {
        const daemonctx_error *e = daemonctx_last_error(ctx);
        print_error("%s", e->errnum ? e->message : strerror(-r));
        return EXIT_USAGE;
    }
    return 0;
}

static int dry_run(const struct start_opts *o, struct launch *l)
{
    int r = check_stdio_files(o);
    if (r)
        return r;
    if (o->pidfile) {
        daemonctx_error err;
        pid_t pid;
        int state = daemonctx_pidfile_inspect(o->pidfile, &pid, &err);
        if (state < 0) {
            print_error("%s", err.message);
            return EXIT_PIDFILE;
        }
        if (state == DAEMONCTX_PIDFILE_RUNNING || state == DAEMONCTX_PIDFILE_STARTING) {
            print_error("pidfile '%s' is locked by PID %d: already running", o->pidfile, (int)pid);
            return EXIT_RUNNING;
        }
        if (state == DAEMONCTX_PIDFILE_ABSENT) {
            char *dir = strdup(o->pidfile);
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
                print_error("cannot create pidfile '%s': %s", o->pidfile, strerror(e));
                return EXIT_PIDFILE;
            }
        }
    }
    print_plan(o, l);
    return EXIT_OK;
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

static int start(const struct start_opts *o, struct launch *l, struct ready_source *rs)
{
    long long deadline = o->timeout_ms ? monotonic_ms() + o->timeout_ms : -1;
    int r;
    l->ctx = daemonctx_new();
    if (!l->ctx) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    l->forks = decide_detach(o->detach, &l->detach_reason);
    (void)daemonctx_set_detach_process(l->ctx, l->forks ? DAEMONCTX_DETACH_YES : DAEMONCTX_DETACH_NO);
    print_verbose(o->verbose, "%s", l->detach_reason);

    if ((r = check_keep_fds(o)) || (!o->dry_run && (r = reserve_fds(o, l, rs))) || (r = resolve_identity(o, l)) ||
        (r = resolve_directories(o, l)) || (r = resolve_program(o, l)))
        return r;
    print_verbose(o->verbose, "program '%s' resolved to '%s'%s%s", o->argv[0], l->program,
                  l->root ? " inside " : "", l->root ? l->root : "");
    if (o->pidfile && !(l->pidfile = daemonctx_pidfile_new(o->pidfile))) {
        print_error("pidfile '%s': %s", o->pidfile, strerror(errno));
        return EXIT_PIDFILE;
    }
    if (o->dry_run)
        return dry_run(o, l);

    /* An inherited SIG_IGN on SIGCHLD has the kernel reap our children by
     * itself: PROGRAM, which we wait on or supervise by PID where there are
     * no pidfds, could end and its PID be reused before we look. PROGRAM
     * gets its own dispositions back before exec (reset_signals). */
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
    if (daemon_is_program(o, l) && o->ready == READY_NOTIFY) {
        if ((r = ready_open(rs, READY_NOTIFY)) < 0 || !(l->envp = environment_with(rs->env_entry))) {
            print_error("cannot create the notification socket: %s", strerror(r < 0 ? -r : ENOMEM));
            return EXIT_SYSTEM;
        }
        print_verbose(o->verbose, "waiting for READY=1 on %s", rs->env_entry);
    }
    if ((r = configure(o, l)))
        return r;
    /* Caught from here on, in the library's wait too (it re-raises the
     * signal it was interrupted by, which then stays pending): we die of it
     * only once what this start created is removed (cmd_start). */
    sigset_t interrupts;
    if ((l->interrupt_fd = catch_interrupts(&interrupts)) < 0) {
        /* Needed to wait for readiness; otherwise the signals just act as
         * they would (the library cleans up before it re-raises them). */
        if (rs->fd >= 0) {
            print_error("cannot watch for interruptions: %s", strerror(errno));
            return EXIT_SYSTEM;
        }
        (void)sigemptyset(&interrupts);
    }

    daemonctx_error err;
    if (daemon_is_program(o, l)) {
        /* The daemon only execs PROGRAM: the library can make it without
         * copying our memory. */
        extern char **environ;
        const struct program_start ps = {.o = o, .l = l, .dispositions_set = true};
        r = daemonctx_open_execve(l->ctx, l->program, o->argv, l->envp ? l->envp : environ, prepare_program,
                                  (void *)(uintptr_t)&ps, &err);
    } else {
        r = daemonctx_open(l->ctx, &err);
    }
    if (r < 0) {
        if (err.step == DAEMONCTX_STEP_INTERRUPTED)
            l->die_signal = pending_in(&interrupts);
        /* Name the pidfile as the user wrote it, also when the library's
         * message is about its directory; an interruption in the words of
         * one during our own readiness wait (which of the two waits it hits
         * is a matter of timing). */
        if (err.step == DAEMONCTX_STEP_PIDFILE && !strstr(err.message, o->pidfile))
            print_error("pidfile '%s': %s", o->pidfile, err.message);
        else if (l->die_signal)
            print_error("interrupted by SIG%s before program '%s' was ready; it was killed",
                        signal_name(l->die_signal) ? signal_name(l->die_signal) : "?", o->argv[0]);
        else
            print_error("%s", err.message);
        return exit_code_for(&err);
    }
    if (r == 0) { /* the daemon, or the only process when not detaching */
        if (o->supervise)
            supervise(o, l);
        exec_program(o, l);
    }
    print_verbose(o->verbose, "daemon PID %d started", (int)daemonctx_daemon_pid(l->ctx));
    if (rs->fd >= 0)
        return invoker_wait_ready(o, l, rs, deadline);
    return EXIT_OK;
}

int cmd_start(int argc, char **argv)
{
    struct start_opts o;
    struct launch l;
    struct ready_source rs = {.kind = READY_EXEC, .fd = -1, .child_fd = -1};
    memset(&l, 0, sizeof l);
    l.stdio_fd[0] = l.stdio_fd[1] = l.stdio_fd[2] = -1;
    l.syslog_fd = l.lock_fd = l.err_fd = l.interrupt_fd = -1;

    int r = parse_start_options(argc, argv, &o);
    r = r == 0 ? start(&o, &l, &rs) : r > 0 ? EXIT_OK : r == -1 ? EXIT_USAGE : EXIT_SYSTEM;
    if (r != EXIT_OK)
        remove_created_outputs(&o, &l);

    /* The invoker is done (the daemon never gets here). The pidfile object
     * was abandoned by a successful open() or cleaned up by a failed one, so
     * freeing it removes nothing. Fds go with exit. */
    daemonctx_free(l.ctx);
    daemonctx_pidfile_free(l.pidfile);
    free(l.root);
    free(l.cwd);
    free(l.program);
    free(l.envp);
    free(rs.env_entry);
    free(o.keep_fds);
    return l.die_signal ? die_of(l.die_signal) : r;
}
