/*
 * dcx-svc-helper - the program the service-API tests start: it configures a
 * context with the library's service options (one option per setter),
 * opens it with daemonctx_open() (the parent returns), and reports on fd 5.
 *
 * Invoker: "parent PID DAEMONPID CGROUP|- HOME=...|HOME-unset" then exit 0;
 * on failure one line "STEP: MESSAGE" on stderr, exit 1.
 * Daemon: "up PID", "env NAME=VALUE" (or "env NAME-unset") for each
 * --print-env=NAME, then, as asked, forks a child that leaves the session
 * ("child PID"), ends the rest of its tree ("ended RC", with
 * daemonctx_end_others), then waits for signals.
 *
 * Options: --pidfile=P --cgroup=auto|none|PARENT --runtime-dir=D[:MODE]
 *   --setenv=NAME=VALUE --unsetenv=NAME --clear-env --identity --uid=N
 *   --gid=N --rlimit=RESOURCE:SOFT:HARD --nice=N --oom=N --detach=yes|no
 *   --workdir=DIR
 *   then, in the daemon: --setsid-child --end-others
 */
#include "daemonctx.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define REPORT_FD 5

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0 && write(REPORT_FD, line, (size_t)n) < 0)
        _exit(90);
}

static void setter(daemonctx *ctx, int r, const char *what)
{
    if (r < 0) {
        const daemonctx_error *e = daemonctx_last_error(ctx);
        fprintf(stderr, "%s: %s (%s)\n", daemonctx_step_name(e->step), e->message, what);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    daemonctx *ctx = daemonctx_new();
    daemonctx_pidfile *pf = NULL;
    bool setsid_child = false, end_others = false;
    const char *print_env[16];
    int n_print = 0;
    if (!ctx)
        return 3;
    setter(ctx, daemonctx_set_parent_returns(ctx, true), "parent_returns");
    setter(ctx, daemonctx_set_files_preserve(ctx, (int[]){REPORT_FD}, 1), "files_preserve");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = strchr(a, '=');
        v = v ? v + 1 : NULL;
        if (strncmp(a, "--pidfile=", 10) == 0) {
            pf = daemonctx_pidfile_new(v);
            setter(ctx, pf ? daemonctx_set_pidfile(ctx, pf) : -errno, a);
        } else if (strncmp(a, "--cgroup=", 9) == 0) {
            enum daemonctx_cgroup m = strcmp(v, "auto") == 0   ? DAEMONCTX_CGROUP_AUTO
                                      : strcmp(v, "none") == 0 ? DAEMONCTX_CGROUP_NONE
                                                               : DAEMONCTX_CGROUP_PARENT;
            setter(ctx, daemonctx_set_cgroup(ctx, m, m == DAEMONCTX_CGROUP_PARENT ? v : NULL), a);
        } else if (strncmp(a, "--runtime-dir=", 14) == 0) {
            char *colon = strchr(v, ':');
            mode_t mode = colon ? (mode_t)strtoul(colon + 1, NULL, 8) : 0755;
            if (colon)
                *colon = '\0';
            setter(ctx, daemonctx_set_runtime_directory(ctx, v, mode), a);
        } else if (strncmp(a, "--setenv=", 9) == 0) {
            char *eq = strchr(v, '=');
            *eq = '\0';
            setter(ctx, daemonctx_setenv(ctx, v, eq + 1), a);
        } else if (strncmp(a, "--unsetenv=", 11) == 0) {
            setter(ctx, daemonctx_setenv(ctx, v, NULL), a);
        } else if (strcmp(a, "--clear-env") == 0) {
            setter(ctx, daemonctx_clear_environment(ctx, true), a);
        } else if (strcmp(a, "--identity") == 0) {
            setter(ctx, daemonctx_set_identity_environment(ctx, true), a);
        } else if (strncmp(a, "--uid=", 6) == 0) {
            setter(ctx, daemonctx_set_uid(ctx, (uid_t)atol(v)), a);
        } else if (strncmp(a, "--gid=", 6) == 0) {
            setter(ctx, daemonctx_set_gid(ctx, (gid_t)atol(v)), a);
        } else if (strncmp(a, "--rlimit=", 9) == 0) {
            int res;
            unsigned long long soft, hard;
            if (sscanf(v, "%d:%llu:%llu", &res, &soft, &hard) != 3)
                return 4;
            setter(ctx, daemonctx_set_rlimit(ctx, res, (rlim_t)soft, (rlim_t)hard), a);
        } else if (strncmp(a, "--workdir=", 10) == 0) {
            setter(ctx, daemonctx_set_working_directory(ctx, v), a);
        } else if (strncmp(a, "--nice=", 7) == 0) {
            setter(ctx, daemonctx_set_nice(ctx, atoi(v)), a);
        } else if (strncmp(a, "--oom=", 6) == 0) {
            setter(ctx, daemonctx_set_oom_score_adj(ctx, atoi(v)), a);
        } else if (strncmp(a, "--detach=", 9) == 0) {
            setter(ctx, daemonctx_set_detach_process(ctx, strcmp(v, "yes") == 0 ? DAEMONCTX_DETACH_YES : DAEMONCTX_DETACH_NO), a);
        } else if (strncmp(a, "--print-env=", 12) == 0 && n_print < 16) {
            print_env[n_print++] = v;
        } else if (strcmp(a, "--setsid-child") == 0) {
            setsid_child = true;
        } else if (strcmp(a, "--end-others") == 0) {
            end_others = true;
        } else {
            fprintf(stderr, "options: unknown %s\n", a);
            return 4;
        }
    }
    daemonctx_error err;
    int r = daemonctx_open(ctx, &err);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", daemonctx_step_name(err.step), err.message);
        daemonctx_free(ctx);
        daemonctx_pidfile_free(pf);
        return 1;
    }
    if (r == 1) {
        const char *home = getenv("HOME");
        report("parent %d %d %s HOME%s%s\n", (int)getpid(), (int)daemonctx_daemon_pid(ctx),
               daemonctx_cgroup(ctx) ? daemonctx_cgroup(ctx) : "-", home ? "=" : "-unset", home ? home : "");
        daemonctx_free(ctx);
        daemonctx_pidfile_free(pf); /* abandoned by open(): removes nothing */
        return 0;
    }
    report("up %d\n", (int)getpid());
    /* The daemon's environ (not /proc/PID/environ, which stays what the
     * process was exec'd with). */
    for (int i = 0; i < n_print; i++) {
        const char *val = getenv(print_env[i]);
        report("env %s%s%s\n", print_env[i], val ? "=" : "-unset", val ? val : "");
    }
    if (setsid_child) {
        int gate[2];
        if (pipe(gate) < 0)
            _exit(5);
        pid_t pid = fork();
        if (pid == 0) {
            close(gate[0]);
            if (setsid() < 0)
                _exit(6);
            report("child %d\n", (int)getpid());
            close(gate[1]);
            for (;;)
                pause();
        }
        close(gate[1]);
        char c;
        while (read(gate[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(gate[0]);
    }
    if (end_others)
        report("ended %d\n", daemonctx_end_others(ctx, 5000, &err));
    for (;;)
        pause();
}
