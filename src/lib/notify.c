/* systemd's notification protocol, both ends, without libsystemd.
 *
 * Sending: one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET
 * ("@name" is the abstract namespace): READY=1 and MAINPID when the daemon is
 * ready, STOPPING=1 from the terminate action. The address is read before
 * the fork, so that a signal handler can send without getenv().
 *
 * Receiving (the readiness source of ready.c): a socket autobound in the
 * abstract namespace, which needs no file (so it works from inside a chroot
 * and leaves nothing behind) and whose name cannot collide. Senders are told
 * apart with SO_PASSCRED: only the daemon's process tree counts, and only a
 * whole "READY=1" line (not a substring). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static struct {
    struct sockaddr_un addr;
    socklen_t len;
    char name[sizeof ((struct sockaddr_un *)0)->sun_path];
} target;

int dcx_notify_prepare(const char *address, daemonctx_error *err)
{
    target.len = 0;
    if (!address || !*address)
        return 0;
    size_t len = strlen(address);
    if ((address[0] != '/' && address[0] != '@') || len >= sizeof target.addr.sun_path)
        return dcx_fail(err, DAEMONCTX_STEP_READY, EINVAL, "NOTIFY_SOCKET %s is not an AF_UNIX socket path",
                        address);
    memset(&target.addr, 0, sizeof target.addr);
    target.addr.sun_family = AF_UNIX;
    memcpy(target.addr.sun_path, address, len);
    memcpy(target.name, address, len + 1);
    if (address[0] == '@')
        target.addr.sun_path[0] = '\0';
    target.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    return 0;
}

int dcx_notify(const char *message, daemonctx_error *err)
{
    if (target.len == 0)
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_READY, errno, "cannot create a socket for NOTIFY_SOCKET: %m");
    ssize_t n;
    do
        n = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (const struct sockaddr *)&target.addr, target.len);
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (n < 0)
        return dcx_fail(err, DAEMONCTX_STEP_READY, e, "cannot notify NOTIFY_SOCKET %s: %m", target.name);
    return 0;
}

int dcx_notify_ready(daemonctx_error *err)
{
    char message[48];
    (void)dcx_format(message, sizeof message, "READY=1\nMAINPID=%d", (int)getpid());
    return dcx_notify(message, err);
}

int dcx_notify_listen(char *name, size_t size)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1, e = 0;
    struct sockaddr_un addr;
    socklen_t len = sizeof(sa_family_t);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    /* Binding just the family autobinds a unique abstract name. */
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 || bind(fd, (struct sockaddr *)&addr, len) < 0)
        e = errno;
    len = sizeof addr;
    if (!e && getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        e = errno;
    size_t n = e ? 0 : len - offsetof(struct sockaddr_un, sun_path);
    if (!e && (n < 2 || addr.sun_path[0] != '\0' || n >= size))
        e = EPROTO;
    if (e) {
        dcx_close(fd);
        return -e;
    }
    name[0] = '@';
    memcpy(name + 1, addr.sun_path + 1, n - 1);
    name[n] = '\0';
    return fd;
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

/* One datagram: 1 READY=1 from ROOT's tree, 0 anything else, -1 drained. */
static int receive_one(int fd, pid_t root)
{
    char buf[4096];
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space};
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    const struct ucred *cred = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
            cred = (const struct ucred *)(void *)CMSG_DATA(c);
    if (!cred || (msg.msg_flags & MSG_TRUNC) || root <= 0 || !dcx_proc_in_tree(cred->pid, root))
        return 0;
    return has_ready_line(buf, (size_t)n);
}

bool dcx_notify_got_ready(int fd, pid_t root)
{
    for (;;) {
        int r = receive_one(fd, root);
        if (r != 0)
            return r > 0;
    }
}
