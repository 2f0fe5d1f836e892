/* The floor: the least a correct double-fork daemonizer must do, nothing else.
 *   floor PIDFILE            the daemon pause()s (the payload)
 *   floor PIDFILE PROG ARGS  the daemon execs PROG (the lock survives exec)
 * fork, setsid, fork, close_range, /dev/null dup2 x3, chdir, umask, pidfile
 * open+flock+write. Fire-and-forget: the first parent exits at once.
 * Built with -DONE_FORK (floor1): without the second fork, as daemon(3) and
 * the tools built on it do (the daemon then leads its session).
 * Built with -DVM_INTERMEDIATE (floorvm): the first fork is a clone(CLONE_VM |
 * CLONE_VFORK) that copies no memory, the technique daemonctx's detach uses;
 * the daemon is still the second fork's child. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int g_argc;
static char **g_argv;

static void daemon_body(void)
{
    syscall(SYS_close_range, 3U, ~0U, 0U);
    int n = open("/dev/null", O_RDWR);
    if (n < 0)
        _exit(1);
    dup2(n, 0);
    dup2(n, 1);
    dup2(n, 2);
    if (n > 2)
        close(n);
    if (chdir("/") < 0)
        _exit(1);
    umask(022);
    /* Not close-on-exec: with a PROG, the lock lives on in it. */
    int fd = open(g_argv[1], O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || ftruncate(fd, 0) < 0)
        _exit(1);
    char buf[16];
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (write(fd, buf, (size_t)len) != len)
        _exit(1);
    if (g_argc > 2) {
        execv(g_argv[2], g_argv + 2);
        _exit(127);
    }
    for (;;)
        pause();
}

static int intermediate(void *unused)
{
    (void)unused;
    if (setsid() < 0)
        _exit(1);
#ifndef ONE_FORK
    pid_t p = fork();
    if (p < 0)
        _exit(1);
    if (p > 0)
        _exit(0);
#endif
    daemon_body();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    g_argc = argc;
    g_argv = argv;
#ifdef VM_INTERMEDIATE
    static char stack[64 * 1024];
    pid_t p = clone(intermediate, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    return p < 0;
#else
    pid_t p = fork();
    if (p < 0)
        return 1;
    if (p > 0)
        _exit(0);
    return intermediate(NULL);
#endif
}
