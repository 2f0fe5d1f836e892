/*
 * fb-daemon - a libdaemonctx daemon for the fallback tests.
 *
 *   fb-daemon [--pidfile=PATH] [--chroot=DIR] [--keep=N]... [--decoy=N]...
 *             [--nofile=SOFT] [--report=N] [--timeout-ms=MS]
 *             [--mode=open|die-before-ready|never-ready|error-before-ready]
 *
 * Before daemonctx_open() it fills fds with decoys (a file, dup2()ed onto
 * each --decoy number, above the soft RLIMIT_NOFILE too when asked) and then
 * lowers the soft limit to --nofile. The daemon keeps the --keep fds and the
 * --report fd (always double-forked: detach yes). In the daemon:
 *   open                 READY_OPEN; writes "PID\n" on --report, then waits
 *                        for signals (SIGTERM: the terminate action)
 *   die-before-ready     READY_NOTIFY; writes "PID\n", then _exit(7)
 *   never-ready          READY_NOTIFY; writes "PID\n", then waits forever
 *   error-before-ready   READY_NOTIFY; writes "PID\n", reports an error
 *                        (step "application", EADDRINUSE) and exits 3
 * The invoker prints "fb-daemon: STEP: MESSAGE" and exits 1 when open()
 * fails, and exits 0 (the library's _exit) once the daemon is up.
 */
#include <daemonctx.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX 32

static int number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1 << 20) {
        (void)fprintf(stderr, "fb-daemon: bad number '%s'\n", s);
        exit(2);
    }
    return (int)v;
}

static void report_pid(int fd)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (fd >= 0 && write(fd, line, (size_t)n) != n)
        _exit(4);
}

int main(int argc, char **argv)
{
    const char *pidfile_path = NULL, *chroot_dir = NULL, *mode = "open";
    int keep[MAX], decoys[MAX], nkeep = 0, ndecoy = 0, report = -1, nofile = -1, timeout_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--pidfile=", 10) == 0)
            pidfile_path = a + 10;
        else if (strncmp(a, "--chroot=", 9) == 0)
            chroot_dir = a + 9;
        else if (strncmp(a, "--keep=", 7) == 0 && nkeep < MAX - 1)
            keep[nkeep++] = number(a + 7);
        else if (strncmp(a, "--decoy=", 8) == 0 && ndecoy < MAX)
            decoys[ndecoy++] = number(a + 8);
        else if (strncmp(a, "--nofile=", 9) == 0)
            nofile = number(a + 9);
        else if (strncmp(a, "--report=", 9) == 0)
            report = number(a + 9);
        else if (strncmp(a, "--timeout-ms=", 13) == 0)
            timeout_ms = number(a + 13);
        else if (strncmp(a, "--mode=", 7) == 0)
            mode = a + 7;
        else {
            (void)fprintf(stderr, "fb-daemon: unknown argument '%s'\n", a);
            return 2;
        }
    }

    /* The decoys: room for them first, then the soft limit lowered below
     * the highest if asked (fds above it stay open). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1;
    int highest = 0;
    for (int i = 0; i < ndecoy; i++)
        highest = decoys[i] > highest ? decoys[i] : highest;
    if (highest >= 0 && (rlim_t)highest >= rl.rlim_cur) {
        if ((rlim_t)highest >= rl.rlim_max) {
            (void)fprintf(stderr, "fb-daemon: decoy %d is above the hard RLIMIT_NOFILE\n", highest);
            return 77;
        }
        rl.rlim_cur = (rlim_t)highest + 1;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return 1;
    }
    int src = open("/dev/zero", O_RDONLY);
    if (src < 0)
        return 1;
    for (int i = 0; i < ndecoy; i++)
        if (dup2(src, decoys[i]) < 0) {
            (void)fprintf(stderr, "fb-daemon: dup2 onto %d: %s\n", decoys[i], strerror(errno));
            return 1;
        }
    (void)close(src);
    if (nofile > 0) {
        rl.rlim_cur = (rlim_t)nofile;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return 1;
    }

    daemonctx *ctx = daemonctx_new();
    daemonctx_pidfile *pf = pidfile_path ? daemonctx_pidfile_new(pidfile_path) : NULL;
    if (!ctx || (pidfile_path && !pf))
        return 1;
    if (report >= 0)
        keep[nkeep++] = report;
    int r = daemonctx_set_files_preserve(ctx, keep, (size_t)nkeep);
    if (r == 0 && pf)
        r = daemonctx_set_pidfile(ctx, pf);
    if (r == 0 && chroot_dir)
        r = daemonctx_set_chroot_directory(ctx, chroot_dir);
    if (r == 0)
        r = daemonctx_set_detach_process(ctx, DAEMONCTX_DETACH_YES);
    if (r == 0)
        r = daemonctx_set_ready_mode(ctx, strcmp(mode, "open") == 0 ? DAEMONCTX_READY_OPEN : DAEMONCTX_READY_NOTIFY);
    if (r == 0 && timeout_ms >= 0)
        r = daemonctx_set_timeout_ms(ctx, (unsigned)timeout_ms);
    if (r < 0) {
        (void)fprintf(stderr, "fb-daemon: %s\n", daemonctx_last_error(ctx)->message);
        daemonctx_free(ctx);
        daemonctx_pidfile_free(pf);
        return 2;
    }

    daemonctx_error err;
    if (daemonctx_open(ctx, &err) < 0) {
        (void)fprintf(stderr, "fb-daemon: %s: %s\n", daemonctx_step_name(err.step), err.message);
        daemonctx_free(ctx);
        daemonctx_pidfile_free(pf);
        return 1;
    }
    /* The daemon. */
    report_pid(report);
    if (strcmp(mode, "die-before-ready") == 0)
        _exit(7);
    if (strcmp(mode, "error-before-ready") == 0) {
        memset(&err, 0, sizeof err);
        err.errnum = EADDRINUSE;
        err.step = DAEMONCTX_STEP_APPLICATION;
        (void)snprintf(err.message, sizeof err.message, "fb-daemon %d: the port is taken", (int)getpid());
        (void)daemonctx_report_error(ctx, &err);
        _exit(3);
    }
    for (;;)
        pause();
}
