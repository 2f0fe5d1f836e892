/* --dry-run: the plan `start` would carry out, one "key: value" per line. */
#include <signal.h>
#include <stdio.h>

#include "cli.h"

static const char *ready_text(const struct start_opts *o, char *buf, size_t size)
{
    switch (o->ready) {
    case READY_FD:
        (void)snprintf(buf, size, "fd:%d", o->ready_fd);
        return buf;
    case READY_NOTIFY:
        return "notify";
    default:
        return "exec";
    }
}

void print_plan(const struct start_opts *o, const struct launch *l)
{
    char buf[64], seconds[32];
    (void)printf("program: %s\n", l->program);
    (void)fputs("arguments:", stdout);
    for (char **a = o->argv; *a; a++)
        (void)printf(" %s", *a);
    (void)printf("\npidfile: %s\n", o->pidfile ? o->pidfile : "none");
    (void)printf("detach: %s (%s)\n", l->forks ? "yes" : "no", l->detach_reason);
    (void)printf("chroot: %s\n", l->root ? l->root : "none");
    (void)printf("chdir: %s\n", l->cwd);
    (void)printf("umask: %04o\n", (unsigned)o->umask);
    if (l->set_uid)
        (void)printf("user: %s (uid %u)\n", o->user, (unsigned)l->uid);
    else
        (void)fputs("user: unchanged\n", stdout);
    if (l->set_gid)
        (void)printf("group: %s (gid %u)\n", o->group ? o->group : "primary group of the user", (unsigned)l->gid);
    else
        (void)fputs("group: unchanged\n", stdout);
    (void)printf("core dumps: %s\n", o->allow_core ? "allowed" : o->limits[RLIMIT_CORE].set ? "as --limit=core says" : "prevented");
    (void)fputs("keep fds:", stdout);
    for (size_t i = 0; i < o->n_keep; i++)
        (void)printf(" %d", o->keep_fds[i]);
    (void)printf("%s\n", o->n_keep ? "" : " none");
    static const char *const streams[3] = {"stdin", "stdout", "stderr"};
    for (int i = 0; i < 3; i++)
        (void)printf("%s: %s\n", streams[i],
                     o->stdio_path[i] ? o->stdio_path[i] : o->syslog && i > 0 ? "syslog" : "/dev/null");
    (void)fputs("ignored signals:", stdout);
    bool any = false;
    for (int signo = 1; signo < NSIG; signo++)
        if (sigismember(&o->ignore, signo) == 1) {
            const char *name = dcx_signal_name(signo);
            if (name)
                (void)printf(" %s", name);
            else
                (void)printf(" %d", signo);
            any = true;
        }
    (void)printf("%s\n", any ? "" : " none");
    (void)printf("ready: %s\n", ready_text(o, buf, sizeof buf));
    (void)printf("timeout: %s\n", o->timeout_ms ? dcx_format_seconds(o->timeout_ms, seconds, sizeof seconds) : "none");
    (void)printf("supervise: %s\n", !o->supervise ? "no" : o->restart ? "yes, restart on failure" : "yes");
    print_service_plan(o, l);
}
