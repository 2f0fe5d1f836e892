/* Readiness: when PROGRAM says it is ready, and how we notice that it died or
 * gave up first.
 *   fd:N    (s6, OpenRC) PROGRAM writes a newline on fd N; EOF before it means
 *           it died or closed the fd without becoming ready.
 *   notify  (systemd) PROGRAM sends a datagram with a line "READY=1" to the
 *           AF_UNIX socket in $NOTIFY_SOCKET. Ours is autobound in the abstract
 *           namespace: it needs no file (so it works from inside a chroot and
 *           leaves nothing behind) and its name cannot collide. Senders are
 *           identified with SO_PASSCRED; only PROGRAM's process tree counts,
 *           and only a whole "READY=1" line (not a substring).
 * The invoker's side of the wait is here too; the supervisor's is in
 * supervise.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "watch.h"

int ready_open(struct ready_source *rs, enum ready_kind kind)
{
    memset(rs, 0, sizeof *rs);
    rs->kind = kind;
    rs->fd = rs->child_fd = -1;
    if (kind == READY_FD) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        rs->fd = p[0];
        rs->child_fd = p[1];
        return 0;
    }
    if (kind != READY_NOTIFY)
        return 0;
    rs->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (rs->fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_un addr;
    socklen_t len = sizeof(sa_family_t);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    /* Binding just the family autobinds a unique abstract name. */
    if (setsockopt(rs->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
        bind(rs->fd, (struct sockaddr *)&addr, len) < 0)
        goto fail;
    len = sizeof addr;
    if (getsockname(rs->fd, (struct sockaddr *)&addr, &len) < 0)
        goto fail;
    size_t name_len = len - offsetof(struct sockaddr_un, sun_path);
    if (name_len < 2 || addr.sun_path[0] != '\0') {
        errno = EPROTO;
        goto fail;
    }
    static const char prefix[] = "NOTIFY_SOCKET=@";
    rs->env_entry = malloc(sizeof prefix + name_len - 1);
    if (!rs->env_entry)
        goto fail;
    memcpy(rs->env_entry, prefix, sizeof prefix - 1);
    memcpy(rs->env_entry + sizeof prefix - 1, addr.sun_path + 1, name_len - 1);
    rs->env_entry[sizeof prefix - 1 + name_len - 1] = '\0';
    return 0;
fail:;
    int e = errno;
    close_fd(rs->fd);
    rs->fd = -1;
    return -e;
}

/* A copy of our environment for PROGRAM, with ENTRY ("NOTIFY_SOCKET=...")
 * instead of any NOTIFY_SOCKET of ours. Ours is left alone: the library reads
 * it (to notify our own service manager). */
char **environment_with(const char *entry)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = malloc((n + 2) * sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0)
            envp[k++] = environ[i];
    envp[k++] = (char *)(uintptr_t)entry;
    envp[k] = NULL;
    return envp;
}

/* PID's parent, from /proc/PID/stat ("pid (comm) state ppid ..."; comm may
 * hold spaces and parentheses, so parse after the last ')'). 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
    char path[32], buf[512];
    (void)snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return 0;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close_fd(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    char state;
    int ppid;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return 0;
    return ppid;
}

static bool in_tree(pid_t pid, pid_t root)
{
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
        if (pid == root)
            return true;
        pid = parent_of(pid);
    }
    return false;
}

static bool has_ready_line(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if ((size_t)(line_end - p) == 7 && memcmp(p, "READY=1", 7) == 0)
            return true;
        p = line_end + 1;
    }
    return false;
}

static enum ready_event handle_notify(struct ready_source *rs)
{
    for (;;) {
        char buf[4096];
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
        ssize_t n = recvmsg(rs->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) /* drained (EAGAIN), or nothing usable this time */
            return READY_PENDING;
        const struct ucred *cred = NULL;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                cred = (const struct ucred *)(void *)CMSG_DATA(c);
        if (!cred || (msg.msg_flags & MSG_TRUNC) || !in_tree(cred->pid, rs->main_pid))
            continue;
        if (has_ready_line(buf, (size_t)n))
            return READY_DONE;
    }
}

/* RS's fd is readable: did PROGRAM become ready, give up, or neither yet? */
enum ready_event ready_handle(struct ready_source *rs)
{
    if (rs->kind == READY_NOTIFY)
        return handle_notify(rs);
    char buf[256];
    ssize_t n = read(rs->fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? READY_PENDING : READY_ABANDONED;
    if (n == 0)
        return READY_ABANDONED;
    return memchr(buf, '\n', (size_t)n) ? READY_DONE : READY_PENDING;
}

/* "exited with status 3" / "was killed by signal TERM", for messages. */
void describe_status(const siginfo_t *si, char *buf, size_t size)
{
    if (si->si_pid == 0) { /* not ours to reap: somebody else saw the status */
        (void)snprintf(buf, size, "ended");
        return;
    }
    if (si->si_code == CLD_EXITED) {
        (void)snprintf(buf, size, "exited with status %d", si->si_status);
        return;
    }
    const char *name = signal_name(si->si_status);
    if (name)
        (void)snprintf(buf, size, "was killed by signal %s", name);
    else
        (void)snprintf(buf, size, "was killed by signal %d", si->si_status);
}

/* While the invoker waits, the user may give up (Ctrl-C, a killed script):
 * then too PROGRAM must not be left behind half-started. The signals that
 * would end us (unless we were told to ignore them) are blocked before
 * daemonctx_open() (the library empties the daemon's mask) and taken through
 * a signalfd. Returns the signalfd, or -1. */
int catch_interrupts(sigset_t *set)
{
    static const int ending[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    (void)sigemptyset(set);
    for (size_t i = 0; i < sizeof ending / sizeof ending[0]; i++) {
        struct sigaction cur;
        if (sigaction(ending[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
            (void)sigaddset(set, ending[i]);
    }
    if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
        return -1;
    int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        (void)sigprocmask(SIG_UNBLOCK, set, NULL);
        errno = e;
    }
    return fd;
}

/* Die of SIGNO, as an interrupted program should (the shell then knows). */
int die_of(int signo)
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

/* Not detached by a supervisor: the invoker waits here, after daemonctx_open()
 * returned once PROGRAM was exec'd. On failure PROGRAM is killed and its
 * pidfile removed, so nothing is left behind. */
int invoker_wait_ready(const struct start_opts *o, struct launch *l, struct ready_source *rs, long long deadline)
{
    const char *prog = o->argv[0];
    const char *pidfile = l->pidfile ? daemonctx_pidfile_path(l->pidfile) : NULL;
    pid_t pid = daemonctx_daemon_pid(l->ctx);
    struct stat pst;
    bool have_pidfile = pidfile && lstat(pidfile, &pst) == 0;
    rs->main_pid = pid;
    /* Our copy of the write end would keep EOF from ever coming. */
    close_fd(rs->child_fd);
    rs->child_fd = -1;

    enum { WAITING, GAVE_UP, ENDED, TIMED_OUT, INTERRUPTED, FAILED } outcome = WAITING;
    int wait_errno = 0, signo = 0;
    int sigfd = l->interrupt_fd;
    /* daemonctx_open() returned after reaping the intermediate child, so
     * PROGRAM has been reparented to us (the library made us its subreaper):
     * it is our unreaped child, and no ECHILD can mean "not ours yet". */
    struct child_watch w;
    if (child_watch_open(&w, pid, o->verbose) < 0) {
        wait_errno = errno;
        outcome = FAILED;
    }
    while (outcome == WAITING) {
        struct pollfd p[3] = {
            {.fd = rs->fd, .events = POLLIN}, {.fd = w.fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        int n = poll(p, 3, remaining_ms(deadline));
        if (n < 0) {
            if (errno != EINTR) {
                wait_errno = errno;
                outcome = FAILED;
            }
            continue;
        }
        if (n == 0) {
            outcome = TIMED_OUT;
            continue;
        }
        /* Readiness first: a program that says ready and then exits at once
         * was ready. */
        if (p[0].revents) {
            enum ready_event ev = ready_handle(rs);
            if (ev == READY_DONE) {
                child_watch_close(&w);
                print_verbose(o->verbose, "program '%s' (PID %d) is ready", prog, (int)pid);
                return EXIT_OK;
            }
            if (ev == READY_ABANDONED)
                outcome = child_watch_wait(&w, monotonic_ms() + EXIT_AFTER_EOF_MS) == 1 ? ENDED : GAVE_UP;
        }
        if (p[1].revents) {
            int ended = child_watch_ended(&w);
            if (ended < 0) {
                wait_errno = errno;
                outcome = FAILED;
            } else if (ended) {
                outcome = ENDED;
            }
        }
        struct signalfd_siginfo info;
        if (p[2].revents && read(sigfd, &info, sizeof info) == (ssize_t)sizeof info) {
            signo = (int)info.ssi_signo;
            outcome = INTERRUPTED;
        }
    }

    siginfo_t si;
    char seconds[32];
    child_watch_kill(&w, &si);
    child_watch_close(&w);
    if (have_pidfile)
        (void)remove_dead_pidfile(pidfile, true, pst.st_dev, pst.st_ino);
    switch (outcome) {
    case GAVE_UP:
        print_error("program '%s' (PID %d) closed fd %d before it was ready; it was killed", prog, (int)pid,
                    o->ready_fd);
        return EXIT_DIED;
    case ENDED: {
        char status[64];
        describe_status(&si, status, sizeof status);
        print_error("program '%s' (PID %d) %s before it was ready", prog, (int)pid, status);
        return EXIT_DIED;
    }
    case TIMED_OUT:
        print_error("program '%s' (PID %d) was not ready within %s seconds; it was killed", prog, (int)pid,
                    format_seconds(o->timeout_ms, seconds, sizeof seconds));
        return EXIT_TIMEOUT;
    case INTERRUPTED:
        print_error("interrupted by SIG%s before program '%s' (PID %d) was ready; it was killed",
                    signal_name(signo) ? signal_name(signo) : "?", prog, (int)pid);
        l->die_signal = signo;
        return 128 + signo;
    default:
        print_error("cannot wait for program '%s' to be ready: %s", prog, strerror(wait_errno));
        return EXIT_SYSTEM;
    }
}
