/* --syslog: PROGRAM's stdout and stderr lines (log.c), sent to the system
 * logger by the supervisor. The socket to /dev/log is connected by the invoker, before
 * any chroot (the jail has no /dev/log) and kept through daemonctx_open();
 * the messages are formatted here (RFC 3164, as syslog(3) writes them) because
 * syslog(3) opens its own socket by path, which a chrooted supervisor cannot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int syslog_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, "/dev/log", sizeof "/dev/log");
    int r;
    do
        r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        dcx_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void syslog_send_line(int sock, int priority, const char *ident, pid_t pid, const char *line, size_t len)
{
    char msg[1200], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm) || strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm) == 0)
        stamp[0] = '\0';
    int n = snprintf(msg, sizeof msg, "<%d>%s %s[%d]: %.*s", priority, stamp, ident, (int)pid, (int)len, line);
    if (n < 0)
        return;
    size_t size = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    /* A logger that is down or full loses the line rather than stalling the
     * supervisor, which must keep forwarding signals. */
    (void)send(sock, msg, size, MSG_DONTWAIT | MSG_NOSIGNAL);
}
