/*
 * dcx-notify-example - a daemon that tells its service manager when it is
 * really ready, with libdaemonctx and without libsystemd.
 *
 *   dcx-notify-example [-p PIDFILE] -s SOCKET
 *
 * It listens on the AF_UNIX stream socket SOCKET and answers every connection
 * with one line, "dcx-notify-example PID\n". It is "ready" once that socket
 * listens, not merely once it runs.
 *
 * Under systemd (Type=notify, see dcx-notify-example.service) NOTIFY_SOCKET
 * and INVOCATION_ID are set: daemonctx_open() does not fork (systemd already
 * runs the service in the background and tracks this very process),
 * daemonctx_ready() sends "READY=1\nMAINPID=<pid>" to NOTIFY_SOCKET, and
 * SIGTERM (the library's default terminate action) sends "STOPPING=1",
 * removes the pidfile and ends the process.
 *
 * Started from a shell, the same binary double-forks, and the command returns
 * only once the daemon is ready - or fails with the daemon's own error
 * message (say, the socket path is not writable) and leaves nothing behind.
 */
#include <daemonctx.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(void)
{
    (void)fprintf(stderr, "usage: dcx-notify-example [-p PIDFILE] -s SOCKET\n");
    exit(2);
}

/* The daemon's own initialization: a listening socket at PATH. */
static int listen_at(const char *path, daemonctx_error *err)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        err->errnum = ENAMETOOLONG;
        (void)snprintf(err->message, sizeof err->message, "socket path %s is too long", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        (void)unlink(path); /* a socket left by a previous run */
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(fd, 16) == 0)
            return fd;
    }
    err->errnum = errno;
    (void)snprintf(err->message, sizeof err->message, "cannot listen on %s: %s", path, strerror(errno));
    if (fd >= 0)
        (void)close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *pidfile_path = NULL, *socket_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:s:")) != -1) {
        if (opt == 'p')
            pidfile_path = optarg;
        else if (opt == 's')
            socket_path = optarg;
        else
            usage();
    }
    if (!socket_path || optind != argc)
        usage();

    daemonctx *ctx = daemonctx_new();
    daemonctx_pidfile *pidfile = pidfile_path ? daemonctx_pidfile_new(pidfile_path) : NULL;
    if (!ctx || (pidfile_path && !pidfile)) {
        perror("dcx-notify-example");
        return 1;
    }
    if (pidfile)
        (void)daemonctx_set_pidfile(ctx, pidfile);
    (void)daemonctx_set_umask(ctx, 022);
    /* The invoker (or systemd) learns we are up from daemonctx_ready(), once
     * the socket listens, not when open() is done. */
    (void)daemonctx_set_ready_mode(ctx, DAEMONCTX_READY_NOTIFY);
    /* Under a service manager there is no fork and nobody to send errors to:
     * keep stderr (systemd's journal) rather than /dev/null. */
    const char *why;
    bool forks = daemonctx_detach_decision(ctx, &why) == 1;
    if (!forks)
        (void)daemonctx_set_stderr(ctx, 2);

    daemonctx_error err;
    if (daemonctx_open(ctx, &err) < 0) {
        /* Nothing was left behind: no daemon, no pidfile. */
        (void)fprintf(stderr, "dcx-notify-example: %s\n", err.message);
        daemonctx_free(ctx);
        daemonctx_pidfile_free(pidfile);
        return 1;
    }

    /* The daemon. */
    memset(&err, 0, sizeof err);
    int sock = listen_at(socket_path, &err);
    if (sock < 0) {
        err.step = DAEMONCTX_STEP_APPLICATION;
        /* Detached: the invoker prints it and removes the pidfile. Under a
         * service manager: our stderr is the journal. */
        if (daemonctx_report_error(ctx, &err) < 0)
            (void)fprintf(stderr, "dcx-notify-example: %s\n", err.message);
        return 1;
    }
    if (daemonctx_ready(ctx, &err) < 0) /* READY=1 could not be sent */
        (void)fprintf(stderr, "dcx-notify-example: %s\n", err.message);

    char line[64];
    int n = snprintf(line, sizeof line, "dcx-notify-example %d\n", (int)getpid());
    for (;;) {
        int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
            continue; /* EINTR, a client that went away */
        (void)!write(conn, line, (size_t)n);
        (void)close(conn);
    }
}
