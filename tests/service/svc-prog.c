/*
 * svc-prog - the service program of the ecosystem tests.
 *
 *   svc-prog [--lib=open|notify] [--detach=auto|yes|no] [--pidfile=PATH]
 *            [--announce=PATH|fd:N] [--trigger=N] [--ready-fd=N] [--sd-notify]
 *            [--exit-after-ready=CODE]
 *
 * Without --lib it is a plain foreground program for the CLI and the service
 * managers: it announces itself ("PID\n" on --announce, a FIFO or a file
 * opened for appending, or an inherited fd), says it is ready (a newline on
 * --ready-fd, as s6 and `daemonctx start --ready=fd:N` want; or READY=1 on
 * $NOTIFY_SOCKET with --sd-notify), then waits for a signal with the default
 * dispositions.
 *
 * With --lib it becomes a daemon through libdaemonctx first: READY_OPEN mode
 * (open) or READY_NOTIFY mode (notify: after open it announces "opened PID",
 * waits for a byte on the --trigger fd, then calls daemonctx_ready() and
 * announces "ready PID"). The announce fd is kept through open.
 */
#include <daemonctx.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int announce_fd = -1;

static void die(const char *what)
{
    (void)fprintf(stderr, "svc-prog: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void announce(const char *word)
{
    if (announce_fd < 0)
        return;
    char line[64];
    int n = word ? snprintf(line, sizeof line, "%s %d\n", word, (int)getpid())
                 : snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (write(announce_fd, line, (size_t)n) != n)
        die("announce");
}

static int parse_fd(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 100000) {
        (void)fprintf(stderr, "svc-prog: bad fd '%s'\n", s);
        exit(2);
    }
    return (int)v;
}

/* READY=1 by hand, as any sd_notify() user would send it. */
static void sd_notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) {
        (void)fprintf(stderr, "svc-prog: --sd-notify without NOTIFY_SOCKET\n");
        exit(1);
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path)
        exit(1);
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&addr,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        die("sendto NOTIFY_SOCKET");
    (void)close(fd);
}

int main(int argc, char **argv)
{
    const char *lib = NULL, *pidfile_path = NULL;
    enum daemonctx_detach detach = DAEMONCTX_DETACH_AUTO;
    int trigger = -1, ready_fd = -1, exit_after_ready = -1;
    bool sd_notify = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--lib=", 6) == 0)
            lib = a + 6;
        else if (strcmp(a, "--detach=yes") == 0)
            detach = DAEMONCTX_DETACH_YES;
        else if (strcmp(a, "--detach=no") == 0)
            detach = DAEMONCTX_DETACH_NO;
        else if (strcmp(a, "--detach=auto") == 0)
            detach = DAEMONCTX_DETACH_AUTO;
        else if (strncmp(a, "--pidfile=", 10) == 0)
            pidfile_path = a + 10;
        else if (strncmp(a, "--announce=fd:", 14) == 0)
            announce_fd = parse_fd(a + 14);
        else if (strncmp(a, "--announce=", 11) == 0) {
            if ((announce_fd = open(a + 11, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
                die(a + 11);
        } else if (strncmp(a, "--trigger=", 10) == 0)
            trigger = parse_fd(a + 10);
        else if (strncmp(a, "--ready-fd=", 11) == 0)
            ready_fd = parse_fd(a + 11);
        else if (strcmp(a, "--sd-notify") == 0)
            sd_notify = true;
        else if (strncmp(a, "--exit-after-ready=", 19) == 0)
            exit_after_ready = parse_fd(a + 19);
        else {
            (void)fprintf(stderr, "svc-prog: unknown argument '%s'\n", a);
            return 2;
        }
    }

    daemonctx *ctx = NULL;
    if (lib) {
        ctx = daemonctx_new();
        daemonctx_pidfile *pf = pidfile_path ? daemonctx_pidfile_new(pidfile_path) : NULL;
        if (!ctx || (pidfile_path && !pf))
            die("daemonctx_new");
        int keep[2], nkeep = 0;
        if (announce_fd >= 0)
            keep[nkeep++] = announce_fd;
        if (trigger >= 0)
            keep[nkeep++] = trigger;
        if (pf)
            (void)daemonctx_set_pidfile(ctx, pf);
        (void)daemonctx_set_files_preserve(ctx, keep, (size_t)nkeep);
        (void)daemonctx_set_detach_process(ctx, detach);
        (void)daemonctx_set_ready_mode(ctx, strcmp(lib, "notify") == 0 ? DAEMONCTX_READY_NOTIFY
                                                                        : DAEMONCTX_READY_OPEN);
        daemonctx_error err;
        if (daemonctx_open(ctx, &err) < 0) {
            (void)fprintf(stderr, "svc-prog: open: %s: %s\n", daemonctx_step_name(err.step), err.message);
            daemonctx_free(ctx);
            daemonctx_pidfile_free(pf);
            return 1;
        }
        if (strcmp(lib, "notify") == 0) {
            announce("opened");
            if (trigger >= 0) {
                char c;
                ssize_t n;
                do
                    n = read(trigger, &c, 1);
                while (n < 0 && errno == EINTR);
            }
            if (daemonctx_ready(ctx, &err) < 0) {
                (void)fprintf(stderr, "svc-prog: ready: %s\n", err.message);
                return 1;
            }
            announce("ready");
        } else {
            announce(NULL);
        }
    } else {
        announce(NULL);
    }

    if (ready_fd >= 0) {
        if (write(ready_fd, "\n", 1) != 1)
            die("--ready-fd");
        (void)close(ready_fd);
    }
    if (sd_notify)
        sd_notify_ready();
    if (exit_after_ready >= 0)
        return exit_after_ready;
    for (;;)
        pause();
}
