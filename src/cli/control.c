/* The supervisor's control socket, and `daemonctx reopen`, which talks to it.
 *
 * A datagram socket in the abstract namespace, named after the supervisor's
 * PID and its PID namespace ("@daemonctx/supervisor/NSINODE/PID": every
 * container's init is PID 1, and the containers of a pod share their
 * network namespace, where abstract names live): it needs no file (and
 * works whatever the chroot or the pidfile's directory), and the pidfile
 * tells the name.
 * Both ends pass their credentials (SO_PASSCRED): the supervisor serves only
 * root and its own user; `reopen` believes only an answer from the PID the
 * pidfile names, so a socket squatted under that name can at most refuse. A
 * request never blocks the supervisor: one datagram in, one out
 * (MSG_DONTWAIT). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "supervise.h"

#define REQUEST_REOPEN "reopen"

/* PID's control socket address: its PID namespace's inode (0 when /proc
 * cannot tell) and PID. */
static socklen_t control_address(pid_t pid, struct sockaddr_un *addr)
{
    char ns[64];
    struct stat st;
    if (pid == getpid()) /* our own, whatever PID namespace /proc shows */
        (void)snprintf(ns, sizeof ns, "/proc/self/ns/pid");
    else
        (void)snprintf(ns, sizeof ns, "/proc/%d/ns/pid", (int)pid);
    unsigned long long ino = stat(ns, &st) == 0 ? (unsigned long long)st.st_ino : 0;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int n = snprintf(addr->sun_path + 1, sizeof addr->sun_path - 1, "daemonctx/supervisor/%llu/%d", ino, (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int credentialed_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        int e = errno;
        dcx_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int control_open(struct supervisor *s)
{
    struct sockaddr_un addr;
    socklen_t len = control_address(getpid(), &addr);
    s->control = credentialed_socket();
    if (s->control < 0)
        return -1;
    if (bind(s->control, (struct sockaddr *)&addr, len) < 0) {
        int e = errno;
        dcx_close(s->control);
        s->control = -1;
        errno = e;
        return -1;
    }
    return 0;
}

/* One datagram with its sender's credentials: its length, or -1. */
static ssize_t receive(int fd, char *buf, size_t size, struct ucred *cred, struct sockaddr_un *from,
                       socklen_t *from_len)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
    struct msghdr msg = {.msg_name = from, .msg_namelen = from ? sizeof *from : 0, .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space, .msg_controllen = sizeof control.space};
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    if (from_len)
        *from_len = msg.msg_namelen;
    memset(cred, 0, sizeof *cred);
    cred->pid = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
            memcpy(cred, CMSG_DATA(c), sizeof *cred);
    return n;
}

/* Reopen every file PROGRAM's output goes to: "ok", or "error: WHY". */
static void reopen_logs(const struct supervisor *s, char *answer, size_t size)
{
    bool any = false;
    (void)snprintf(answer, size, "ok");
    for (int i = 0; i < 2; i++) {
        const struct log_sink *sink = &s->sinks[i];
        char why[400];
        if (sink->kind != SINK_FILE || !sink->path)
            continue;
        any = true;
        if (log_reopen(sink, why, sizeof why) < 0) {
            (void)snprintf(answer, size, "error: %s", why);
            return;
        }
    }
    if (!any)
        (void)snprintf(answer, size, "error: supervisor PID %d writes no log file (no --stdout or --stderr FILE)",
                       (int)getpid());
}

void control_serve(struct supervisor *s)
{
    char buf[64], answer[512];
    struct ucred cred;
    struct sockaddr_un from;
    socklen_t from_len;
    while (receive(s->control, buf, sizeof buf, &cred, &from, &from_len) >= 0) {
        if (from_len <= offsetof(struct sockaddr_un, sun_path))
            continue; /* an unnamed sender cannot be answered */
        if (cred.pid < 0 || (cred.uid != 0 && cred.uid != geteuid()))
            (void)snprintf(answer, sizeof answer, "error: uid %u may not control supervisor PID %d",
                           (unsigned)cred.uid, (int)getpid());
        else if (strcmp(buf, REQUEST_REOPEN) == 0)
            reopen_logs(s, answer, sizeof answer);
        else
            (void)snprintf(answer, sizeof answer, "error: unknown request");
        (void)sendto(s->control, answer, strlen(answer), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&from,
                     from_len);
    }
}

/* ------------------------------------------------------- `daemonctx reopen` */

struct reopen_opts {
    const char *path;
    unsigned timeout_ms;
    bool verbose;
};

static int parse_reopen_options(int argc, char **argv, struct reopen_opts *ro)
{
    static const struct option options[] = {
        {"pidfile", required_argument, NULL, 'p'}, {"timeout", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(ro, 0, sizeof *ro);
    ro->timeout_ms = 5000;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:p:t:v", options, NULL)) != -1) {
        if (c == 'p') {
            ro->path = optarg;
        } else if (c == 't') {
            if (parse_seconds(optarg, &ro->timeout_ms) < 0 || ro->timeout_ms == 0) {
                usage_error("invalid value '%s' for --timeout: a positive number of seconds", optarg);
                return -1;
            }
        } else if (c == 'v') {
            ro->verbose = true;
        } else if (c == 'h') {
            return print_help() == 0 ? 1 : -1;
        } else {
            getopt_usage_error(c, argv);
            return -1;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    else if (!ro->path)
        usage_error("reopen needs --pidfile=PATH");
    return optind < argc || !ro->path ? -1 : 0;
}

/* The supervisor's answer (from PID itself), within the deadline. */
static int await_answer(int fd, pid_t pid, long long deadline, char *answer, size_t size)
{
    for (;;) {
        int r = dcx_poll_one(fd, POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
        struct ucred cred;
        ssize_t n = receive(fd, answer, size, &cred, NULL, NULL);
        if (n >= 0 && cred.pid == pid)
            return 0;
    }
}

static int ask(const struct reopen_opts *ro, pid_t pid)
{
    struct sockaddr_un addr, self = {.sun_family = AF_UNIX};
    socklen_t len = control_address(pid, &addr);
    char answer[512];
    int fd = credentialed_socket();
    /* Binding the family alone autobinds a name the answer can come to. */
    if (fd < 0 || bind(fd, (struct sockaddr *)&self, sizeof(sa_family_t)) < 0) {
        print_error("cannot create a socket to ask PID %d: %s", (int)pid, strerror(errno));
        return STOP_ERROR;
    }
    if (sendto(fd, REQUEST_REOPEN, strlen(REQUEST_REOPEN), MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0) {
        print_error("PID %d named by pidfile '%s' is not a daemonctx supervisor (started without --supervise, or not "
                    "by run): nothing to reopen",
                    (int)pid, ro->path);
        return STOP_ERROR;
    }
    int r = await_answer(fd, pid, dcx_deadline_after(ro->timeout_ms), answer, sizeof answer);
    dcx_close(fd);
    if (r < 0) {
        print_error("supervisor PID %d named by pidfile '%s' did not answer: %s", (int)pid, ro->path, strerror(-r));
        return STOP_ERROR;
    }
    if (strcmp(answer, "ok") != 0) {
        print_error("supervisor PID %d: %s", (int)pid, strncmp(answer, "error: ", 7) == 0 ? answer + 7 : answer);
        return 1;
    }
    print_verbose(ro->verbose, "supervisor PID %d reopened its log files", (int)pid);
    return 0;
}

int cmd_reopen(int argc, char **argv)
{
    struct reopen_opts ro;
    int r = parse_reopen_options(argc, argv, &ro);
    if (r)
        return r > 0 ? 0 : EXIT_USAGE;
    daemonctx_error err;
    pid_t pid;
    int state = daemonctx_pidfile_inspect(ro.path, &pid, &err);
    if (state < 0) {
        print_error("%s", err.message);
        return STOP_ERROR;
    }
    if (state != DAEMONCTX_PIDFILE_RUNNING) {
        print_error("pidfile '%s': %s", ro.path, state == DAEMONCTX_PIDFILE_STARTING ? "still starting" : "not running");
        return 3;
    }
    return ask(&ro, pid);
}
