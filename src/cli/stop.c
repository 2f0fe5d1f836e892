/* `daemonctx stop`: signal the daemon a pidfile names, wait for it to end,
 * escalate along a schedule, end what is left of its process tree (its
 * cgroup, or its descendants, process group and session), remove the
 * pidfile and the runtime directory its start made.
 *
 * Before signalling: the pidfile must be locked (a live instance), and the
 * process it names must have that very file open (so a PID reused by an
 * unrelated process is never signalled); the checks are made on a pidfd taken
 * first and still alive afterwards, so they are about the process we signal.
 * Waiting is a poll() on the pidfd (readable once the process has exited, a
 * zombie included), or without pidfds a blocking wait for the pidfile's lock:
 * no sleep loop. */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SCHEDULE_MAX 32
/* How long the rest of the tree has to go once SIGKILLed. */
#define TREE_KILL_MS 5000

struct step {
    int signo;       /* > 0: send it */
    unsigned ms;     /* else: wait this long */
};

struct stop_opts {
    const char *path;
    int signo;
    unsigned timeout_ms;
    const char *retry;
    bool verbose;
    struct step schedule[SCHEDULE_MAX];
    size_t n;
    size_t repeat_from; /* "forever": the steps from here repeat; n: none */
};

/* start-stop-daemon's --retry: "TIMEOUT" alone means SIG/TIMEOUT/KILL/TIMEOUT;
 * otherwise items separated by '/', each a signal ("TERM", "-TERM", "15",
 * "-15"), a number of seconds to wait, or "forever" (once): the items after
 * it repeat until the process ends. */
static int parse_schedule(struct stop_opts *so)
{
    unsigned ms;
    so->n = 0;
    so->repeat_from = SIZE_MAX;
    if (parse_seconds(so->retry, &ms) == 0) {
        so->schedule[0] = (struct step){so->signo, 0};
        so->schedule[1] = (struct step){0, ms};
        so->schedule[2] = (struct step){SIGKILL, 0};
        so->schedule[3] = (struct step){0, ms};
        so->n = so->repeat_from = 4;
        return 0;
    }
    char item[64];
    const char *p = so->retry;
    bool any_signal = false;
    for (;;) {
        const char *slash = strchrnul(p, '/');
        size_t len = (size_t)(slash - p);
        if (len == 0 || len >= sizeof item || so->n == SCHEDULE_MAX)
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        int signo;
        if (strcmp(item, "forever") == 0) {
            if (so->repeat_from != SIZE_MAX)
                return -1;
            so->repeat_from = so->n;
        } else if (item[0] != '-' && parse_seconds(item, &ms) == 0) {
            so->schedule[so->n++] = (struct step){0, ms};
        } else if (parse_signal(item[0] == '-' ? item + 1 : item, &signo) == 0) {
            so->schedule[so->n++] = (struct step){signo, 0};
            any_signal = true;
        } else {
            return -1;
        }
        if (!*slash)
            break;
        p = slash + 1;
    }
    if (so->repeat_from == SIZE_MAX) {
        so->repeat_from = so->n;
        return any_signal ? 0 : -1;
    }
    /* What repeats must wait (or it would spin) and could end the process. */
    bool waits = false;
    for (size_t i = so->repeat_from; i < so->n; i++)
        waits |= so->schedule[i].signo == 0 && so->schedule[i].ms > 0;
    return any_signal && waits ? 0 : -1;
}

/* --retry's schedule, or the one --signal and --timeout make: the signal,
 * the timeout, SIGKILL, 5 s. */
static int take_schedule(struct stop_opts *so)
{
    if (so->retry && parse_schedule(so) < 0) {
        usage_error("invalid value '%s' for --retry: SIG/SECONDS/SIG/SECONDS... (forever: repeat what follows), "
                    "or SECONDS",
                    so->retry);
        return -1;
    }
    if (so->retry)
        return 0;
    so->schedule[0] = (struct step){so->signo, 0};
    so->schedule[1] = (struct step){0, so->timeout_ms};
    so->schedule[2] = (struct step){SIGKILL, 0};
    so->schedule[3] = (struct step){0, 5000};
    so->n = so->repeat_from = so->signo == SIGKILL ? 2 : 4;
    return 0;
}

static int parse_stop_options(int argc, char **argv, struct stop_opts *so)
{
    static const struct option options[] = {
        {"pidfile", required_argument, NULL, 'p'}, {"signal", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"retry", required_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(so, 0, sizeof *so);
    so->signo = SIGTERM;
    so->timeout_ms = 30000;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "+:p:s:t:R:v", options, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            so->path = optarg;
            break;
        case 's':
            if (parse_signal(optarg, &so->signo) < 0) {
                usage_error("invalid value '%s' for --signal: a signal name or number, e.g. TERM", optarg);
                return -1;
            }
            break;
        case 't':
            if (parse_seconds(optarg, &so->timeout_ms) < 0) {
                usage_error("invalid value '%s' for --timeout: a number of seconds", optarg);
                return -1;
            }
            break;
        case 'R':
            so->retry = optarg;
            break;
        case 'v':
            so->verbose = true;
            break;
        case 'h':
            return print_help() == 0 ? 1 : -1;
        default: /* '?' or ':' */
            getopt_usage_error(c, argv);
            return -1;
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!so->path) {
        usage_error("stop needs --pidfile=PATH");
        return -1;
    }
    return take_schedule(so);
}

/* Block until the pidfile holds a PID (it is locked before the daemon forks
 * and written at the end of its start), watching it with inotify. */
static int wait_until_written(const char *path, long long deadline)
{
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in < 0)
        return -errno;
    int r = 0;
    if (inotify_add_watch(in, path, IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        r = errno == ENOENT ? 0 : -errno;
        goto out;
    }
    for (;;) {
        pid_t pid;
        daemonctx_error err;
        if (daemonctx_pidfile_inspect(path, &pid, &err) != DAEMONCTX_PIDFILE_STARTING)
            break;
        int n = dcx_poll_one(in, POLLIN, deadline);
        if (n <= 0) {
            r = n == 0 ? -ETIMEDOUT : n;
            break;
        }
        char buf[4096];
        while (read(in, buf, sizeof buf) > 0)
            ;
    }
out:
    dcx_close(in);
    return r;
}

/* The process to stop: through a pidfd when the kernel has them; without
 * (kernel < 5.3, a seccomp filter) through its PID, and its end is the
 * release of the pidfile's lock (a dead process, a zombie included, holds
 * no lock). */
struct target {
    pid_t pid;
    int pidfd; /* -1: no pidfd */
    const char *path;
    bool lock_free; /* seen released, the process not ended (no pidfd) */
};

static int target_signal(const struct target *t, int signo)
{
    return t->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, t->pidfd, signo, NULL, 0) : kill(t->pid, signo);
}

static void on_alarm(int signo)
{
    (void)signo; /* only there to interrupt flock() */
}

/* 1 the lock on PATH is free (or PATH is gone), 0 still held at DEADLINE,
 * -errno. A blocking flock() bounded by a timer: an event, not a poll loop. */
static int wait_lock_released(const char *path, long long deadline)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : -errno;
    struct sigaction alarm_action, old_action;
    memset(&alarm_action, 0, sizeof alarm_action);
    alarm_action.sa_handler = on_alarm; /* no SA_RESTART: flock() returns EINTR */
    struct itimerval old_timer, none = {{0, 0}, {0, 0}};
    int r;
    if (sigaction(SIGALRM, &alarm_action, &old_action) < 0) {
        r = -errno;
        goto out;
    }
    for (;;) {
        long long left = deadline - dcx_now_ms();
        int op = LOCK_SH | (left > 0 ? 0 : LOCK_NB);
        if (left > 0) {
            struct itimerval t = {{0, 0}, {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000}};
            if (setitimer(ITIMER_REAL, &t, &old_timer) < 0) {
                r = -errno;
                break;
            }
        }
        int l = flock(fd, op);
        int e = errno;
        if (left > 0)
            (void)setitimer(ITIMER_REAL, &none, NULL);
        if (l == 0) {
            (void)flock(fd, LOCK_UN);
            r = 1;
            break;
        }
        if (e == EWOULDBLOCK || (e == EINTR && dcx_now_ms() >= deadline)) {
            r = 0;
            break;
        }
        if (e != EINTR) {
            r = -e;
            break;
        }
    }
    (void)sigaction(SIGALRM, &old_action, NULL);
out:
    dcx_close(fd);
    return r;
}

/* 1 the process ended, 0 not by DEADLINE, -errno. */
static int target_wait(struct target *t, long long deadline)
{
    if (t->pidfd >= 0)
        return dcx_poll_one(t->pidfd, POLLIN, deadline);
    if (!t->lock_free) {
        int r = wait_lock_released(t->path, deadline);
        if (r <= 0)
            return r;
        /* The lock goes when the dying process closes its files, a moment
         * before it becomes a zombie: wait out that moment, which no event
         * marks without a pidfd. */
        for (long long spin_end = dcx_now_ms() + 100; !dcx_proc_ended(t->pid);) {
            if (dcx_now_ms() >= spin_end) {
                t->lock_free = true;
                return 0;
            }
            (void)sched_yield();
        }
        return 1;
    }
    /* Still there after it dropped its lock some other way: no event will
     * tell its end, so it is looked at every 10 ms until DEADLINE. */
    for (;;) {
        if (dcx_proc_ended(t->pid))
            return 1;
        long long left = deadline - dcx_now_ms();
        if (left <= 0)
            return 0;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = (left < 10 ? left : 10) * 1000000L};
        (void)nanosleep(&pause, NULL);
    }
}

/* 1 the process ended, 0 still running at the end of the schedule, -errno. */
/* After step I: the next one, or past the last, again from "forever". */
static size_t next_step(const struct stop_opts *so, size_t i)
{
    return i + 1 == so->n && so->repeat_from < so->n ? so->repeat_from : i + 1;
}

static int run_schedule(const struct stop_opts *so, struct target *t)
{
    for (size_t i = 0; i < so->n; i = next_step(so, i)) {
        const struct step *st = &so->schedule[i];
        if (st->signo > 0) {
            if (target_signal(t, st->signo) < 0)
                return errno == ESRCH ? 1 : -errno;
            const char *name = dcx_signal_name(st->signo);
            print_verbose(so->verbose, "sent SIG%s to PID %d", name ? name : "?", (int)t->pid);
            continue;
        }
        int n = target_wait(t, dcx_now_ms() + st->ms);
        if (n != 0)
            return n > 0 ? 1 : n;
    }
    return target_wait(t, dcx_now_ms()) > 0;
}

enum outcome { STOPPED, LOOK_AGAIN, STILL_RUNNING, FAILED };

/* --verbose: how the tree is known. */
static void say_tree(const struct stop_opts *so, daemonctx_tree *tree, pid_t pid)
{
    if (!so->verbose)
        return;
    daemonctx_error err;
    int n = daemonctx_tree_pids(tree, NULL, 0, &err);
    const char *cgroup = daemonctx_tree_cgroup(tree);
    if (cgroup)
        print_verbose(true, "tree: cgroup %s (%d processes)", cgroup, n);
    else if (pid > 0)
        print_verbose(true, "tree: no cgroup: PID %d's descendants, process group and session (%d processes)",
                      (int)pid, n);
    const char *dir = daemonctx_tree_runtime_directory(tree);
    if (dir)
        print_verbose(true, "runtime directory %s: made by its start", dir);
}

/* Once the daemon is gone: what is left of its tree, ended. */
static enum outcome end_tree(const struct stop_opts *so, daemonctx_tree *tree)
{
    daemonctx_error err;
    int left = so->verbose ? daemonctx_tree_pids(tree, NULL, 0, &err) : 0;
    const char *cgroup = daemonctx_tree_cgroup(tree);
    if (daemonctx_tree_kill(tree, TREE_KILL_MS, &err) < 0) {
        print_error("%s", err.message);
        return err.errnum == ETIMEDOUT ? STILL_RUNNING : FAILED;
    }
    if (left > 0)
        print_verbose(so->verbose, "ended the %d processes left of the tree", left);
    if (cgroup)
        print_verbose(so->verbose, "removed cgroup %s", cgroup);
    return STOPPED;
}

/* After the pidfile: the runtime directory its start made. */
static enum outcome remove_runtime_directory(const struct stop_opts *so, daemonctx_tree *tree)
{
    daemonctx_error err;
    const char *dir = daemonctx_tree_runtime_directory(tree);
    if (!dir)
        return STOPPED;
    char *copy = strdup(dir);
    if (daemonctx_tree_remove_runtime_directory(tree, &err) < 0) {
        print_error("%s", err.message);
        free(copy);
        return FAILED;
    }
    print_verbose(so->verbose, "removed runtime directory %s", copy ? copy : "");
    free(copy);
    return STOPPED;
}

/* T: the daemon PID named by the pidfile (*ST its stat), watched, and
 * checked to hold the pidfile's lock. -1 when not, with *OUT. */
static int watch_daemon(const struct stop_opts *so, pid_t pid, struct stat *st, struct target *t, enum outcome *out)
{
    *out = LOOK_AGAIN;
    if (lstat(so->path, st) < 0) {
        if (errno == ENOENT) /* gone meanwhile */
            return -1;
        print_error("pidfile '%s': %s", so->path, strerror(errno));
        *out = FAILED;
        return -1;
    }
    *t = (struct target){.pid = pid, .pidfd = (int)syscall(SYS_pidfd_open, pid, 0), .path = so->path};
    if (t->pidfd < 0) {
        if (errno == ESRCH)
            return -1;
        if (errno != ENOSYS && errno != EPERM) {
            print_error("cannot watch PID %d named by pidfile '%s': %s", (int)pid, so->path, strerror(errno));
            *out = FAILED;
            return -1;
        }
        print_verbose(so->verbose, "no pidfd (%s): signalling PID %d, waiting on the pidfile lock", strerror(errno),
                      (int)pid);
    }
    /* < 0: /proc cannot tell (another user's process): the lock and the PID
     * are all we have, and the kernel decides whether we may signal. */
    int r = dcx_pid_holds_lock(pid, st->st_dev, st->st_ino);
    if (r == 0 && target_wait(t, dcx_now_ms()) == 0) {
        print_error("PID %d named by pidfile '%s' does not hold its lock; not signalling it", (int)pid, so->path);
        *out = FAILED;
        return -1;
    }
    if (r == 0 || target_signal(t, 0) < 0) /* it ended meanwhile */
        return -1;
    return 0;
}

/* The schedule's signals to T, the daemon; then the rest of its TREE ended,
 * the pidfile (of stat ST) and the runtime directory removed. */
static enum outcome stop_daemon(const struct stop_opts *so, struct target *t, const struct stat *st,
                                daemonctx_tree *tree)
{
    int r = run_schedule(so, t);
    if (r < 0) {
        print_error("cannot signal PID %d named by pidfile '%s': %s", (int)t->pid, so->path, strerror(-r));
        return FAILED;
    }
    if (r == 0) {
        print_error("PID %d named by pidfile '%s' is still running after the whole schedule", (int)t->pid, so->path);
        return STILL_RUNNING;
    }
    print_verbose(so->verbose, "PID %d stopped", (int)t->pid);
    enum outcome out = end_tree(so, tree);
    if (out != STOPPED)
        return out;
    int removed = dcx_pidfile_remove_dead(so->path, true, st->st_dev, st->st_ino);
    if (removed < 0)
        print_verbose(so->verbose, "cannot remove pidfile '%s': %s", so->path, strerror(-removed));
    return remove_runtime_directory(so, tree);
}

static enum outcome stop_running(const struct stop_opts *so, pid_t pid)
{
    struct stat st;
    struct target t = {.pidfd = -1};
    enum outcome out;
    if (watch_daemon(so, pid, &st, &t, &out) == 0) {
        /* Before the first signal: the daemon's descendants are still its own. */
        daemonctx_error err;
        daemonctx_tree *tree = daemonctx_tree_open(so->path, pid, &err);
        if (!tree) {
            print_error("%s", err.message);
            out = FAILED;
        } else {
            say_tree(so, tree, pid);
            out = stop_daemon(so, &t, &st, tree);
            daemonctx_tree_free(tree);
        }
    }
    if (t.pidfd >= 0)
        dcx_close(t.pidfd);
    return out;
}

/* A stale pidfile's marks name what its daemon left: the rest of the tree
 * ended, then the pidfile and the runtime directory removed. */
static enum outcome end_stale(const struct stop_opts *so)
{
    daemonctx_error err;
    daemonctx_tree *tree = daemonctx_tree_open(so->path, 0, &err);
    if (!tree) {
        print_error("%s", err.message);
        return FAILED;
    }
    say_tree(so, tree, 0);
    enum outcome out = daemonctx_tree_cgroup(tree) ? end_tree(so, tree) : STOPPED;
    if (out == STOPPED && unlink(so->path) < 0 && errno != ENOENT) {
        print_error("cannot remove stale pidfile '%s': %s", so->path, strerror(errno));
        out = FAILED;
    } else if (out == STOPPED) {
        print_verbose(so->verbose, "not running: removed stale pidfile '%s'", so->path);
        out = remove_runtime_directory(so, tree);
    }
    daemonctx_tree_free(tree);
    return out;
}

/* A stale pidfile: its daemon is gone, but what it left may not be. Under
 * the pidfile's lock (a start racing us then fails, "already running",
 * rather than have its new daemon's cgroup ended). */
static enum outcome stop_stale(const struct stop_opts *so)
{
    int fd = open(so->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return LOOK_AGAIN;
        print_error("cannot open stale pidfile '%s': %s", so->path, strerror(errno));
        return FAILED;
    }
    struct stat held, there;
    enum outcome out;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &held) < 0 || lstat(so->path, &there) < 0 ||
        held.st_dev != there.st_dev || held.st_ino != there.st_ino) {
        out = LOOK_AGAIN; /* locked again, or replaced, meanwhile */
    } else if (!S_ISREG(held.st_mode) || held.st_nlink != 1) {
        print_error("stale pidfile '%s' has other hard links: not removed", so->path);
        out = FAILED;
    } else if (held.st_size == 0 && flistxattr(fd, NULL, 0) <= 0) {
        /* Empty and unmarked (no cgroup, no runtime directory in its
         * extended attributes): no tree to look up. Held for as short a time
         * as the unlink: a start that made it and is about to lock it must
         * not find it locked by us ("already running"). */
        out = unlink(so->path) < 0 && errno != ENOENT ? FAILED : STOPPED;
        if (out == FAILED)
            print_error("cannot remove stale pidfile '%s': %s", so->path, strerror(errno));
        dcx_close(fd);
        if (out == STOPPED)
            print_verbose(so->verbose, "not running: removed stale pidfile '%s'", so->path);
        return out;
    } else {
        out = end_stale(so);
    }
    dcx_close(fd);
    return out;
}

/* The exit status OUT ends stop with; -1: look at the pidfile again. */
static int exit_of(enum outcome out)
{
    switch (out) {
    case STOPPED:
        return STOP_OK;
    case STILL_RUNNING:
        return STOP_STILL_RUNNING;
    case FAILED:
        return STOP_ERROR;
    default:
        return -1;
    }
}

int cmd_stop(int argc, char **argv)
{
    struct stop_opts so;
    int r = parse_stop_options(argc, argv, &so);
    if (r)
        return r > 0 ? STOP_OK : EXIT_USAGE;

    /* The file can change under us (the daemon exits, another starts): look
     * again a few times rather than act on a stale reading. */
    for (int attempt = 0; attempt < 5; attempt++) {
        pid_t pid;
        daemonctx_error err;
        int state = daemonctx_pidfile_inspect(so.path, &pid, &err);
        switch (state) {
        case DAEMONCTX_PIDFILE_ABSENT:
            print_verbose(so.verbose, "not running: no pidfile '%s'", so.path);
            return STOP_OK;
        case DAEMONCTX_PIDFILE_STALE:
        case DAEMONCTX_PIDFILE_RUNNING:
            r = exit_of(state == DAEMONCTX_PIDFILE_STALE ? stop_stale(&so) : stop_running(&so, pid));
            if (r >= 0)
                return r;
            continue;
        case DAEMONCTX_PIDFILE_STARTING:
            r = wait_until_written(so.path, dcx_now_ms() + so.timeout_ms);
            if (r < 0) {
                print_error("pidfile '%s' is locked but holds no PID: %s", so.path, strerror(-r));
                return STOP_ERROR;
            }
            continue;
        default:
            print_error("%s", err.message);
            return STOP_ERROR;
        }
    }
    print_error("pidfile '%s' keeps changing; giving up", so.path);
    return STOP_ERROR;
}
